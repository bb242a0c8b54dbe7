"""kazoo's own upstream test suite (kazoo 2.10.0, kazoo/tests, unchanged)
against a 3-server ensemble of zkstorm or Apache ZooKeeper on loopback.

    python3 compat/kazoo_suite.py --server zkstorm [--out DIR] [-- PYTEST ARGS]
    python3 compat/kazoo_suite.py --server zookeeper
    python3 compat/kazoo_suite.py --compare     (both; tests failing only on zkstorm)

Installs kazoo 2.10.0, pytest, pytest-timeout and kazoo's test dependencies
in a venv (target/kazoo-venv), starts the ensemble with the zoo.cfg entries
kazoo's harness writes for ZooKeeper >= 3.5, and runs pytest on the
installed kazoo/tests with compat/kazoo_plugin.py pointing kazoo's harness
at it. Writes junit-KIND.xml and summary-KIND.json (one line) under --out
(default target/kazoo-suite). Exit status: nonzero iff a test fails (in
--compare: iff one fails only on zkstorm). `--tests
kazoo/tests/test_lock.py` runs a part.
"""

import argparse
import ctypes
import json
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from ensemble import Ensemble  # noqa: E402

# kazoo's "test" extra (less pytest-cov) and pytest-timeout: kazoo.testing
# imports OpenSSL and jks, test_cache objgraph; with gevent and eventlet the
# handler tests run kazoo's client tests again over those event loops.
PACKAGES = ["kazoo==2.10.0", "pytest", "pytest-timeout", "pyopenssl", "pyjks",
            "objgraph", "gevent", "eventlet"]
BASES = {"zkstorm": 23100, "zookeeper": 23400}
# kazoo/testing/harness.py's entries for ZooKeeper >= 3.5 (local sessions
# off: kazoo's default), plus maxClientCnxns=0 from its base zoo.cfg: one
# ensemble serves every test's clients from 127.0.0.1.
CFG = [
    "reconfigEnabled=true",
    "localSessionsEnabled=false",
    "localSessionsUpgradingEnabled=false",
    "maxClientCnxns=0",
]
JAVA_PROPS = [
    # The super user's password is "test" (harness.py).
    "-Dzookeeper.DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=",
    # Digest credentials are UTF-8 on kazoo's side (harness.py does the same).
    "-Dfile.encoding=UTF-8",
]
TICK_MS = 2000  # kazoo's harness: session timeouts 4 s .. 40 s


def adopt_orphans():
    """Servers the tests restart are pytest's children; once pytest exits,
    make them ours rather than init's (which may never reap them)."""
    try:
        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def reap():
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return


def venv(path):
    """The venv's python, created and filled on first use."""
    python = os.path.join(path, "bin", "python")
    probe = ("import pytest, pytest_timeout, OpenSSL, jks, objgraph, gevent, eventlet,"
             " kazoo.version as v;"
             "assert v.__version__ == '2.10.0'")
    if os.path.exists(python) and subprocess.run(
        [python, "-c", probe], capture_output=True
    ).returncode == 0:
        return python
    subprocess.run([sys.executable, "-m", "venv", path], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", *PACKAGES], check=True)
    return python


def site_packages(python):
    out = subprocess.run(
        [python, "-c", "import kazoo, os; print(os.path.dirname(os.path.dirname(kazoo.__file__)))"],
        capture_output=True, text=True, check=True,
    )
    return out.stdout.strip()


def test_id(case):
    """pytest's node id back from a JUnit testcase: the classname is the
    node id's path (dots for slashes, no .py) then its class."""
    parts = case.get("classname", "").split(".")
    k = next((j for j, p in enumerate(parts) if p.startswith("test_")), len(parts) - 1)
    return "::".join(["/".join(parts[: k + 1]) + ".py", *parts[k + 1:], case.get("name", "")])


def read_junit(path):
    """{node id: (outcome, message)}, outcome "passed", "failed", "error" or
    "skipped", message the failure's first line."""
    outcomes = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for child in case:
            tag = {"failure": "failed", "error": "error", "skipped": "skipped"}.get(child.tag)
            if tag:
                outcome, message = tag, (child.get("message") or "").split("\n")[0][:160]
                break
        tid = test_id(case)
        # A teardown error after a failure is one more record for the same id.
        if outcomes.get(tid, ("passed",))[0] == "passed":
            outcomes[tid] = (outcome, message)
    return outcomes


def run(kind, args, python, site):
    extra = list(CFG)
    ens = Ensemble(kind, n=3, base=BASES[kind], tick_ms=TICK_MS, extra=extra,
                   whitelist="*", java_props=JAVA_PROPS if kind == "zookeeper" else ())
    os.makedirs(args.out, exist_ok=True)
    junit = os.path.join(args.out, f"junit-{kind}.xml")
    ini = os.path.join(args.out, "pytest.ini")
    with open(ini, "w") as f:
        f.write("[pytest]\n")  # keeps pytest from finding any other config
    env = {k: v for k, v in os.environ.items()
           if k != "CI" and not k.startswith("ZOOKEEPER_") and k != "KRB5_TEST_ENV"}
    env["PYTHONPATH"] = HERE
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    cmd = [python, "-m", "pytest", "-c", ini, "--rootdir", site, "-p", "kazoo_plugin",
           "-p", "no:cacheprovider", f"--timeout={args.timeout}", "-ra", "-q", "--tb=short",
           f"--junitxml={junit}", f"--durations={args.durations}",
           *(os.path.join(site, t) for t in args.tests or ["kazoo/tests"]), *args.pytest_args]
    if os.path.exists(junit):
        os.remove(junit)  # a crashed pytest must not leave the last run's results
    started = time.time()
    print(f"== {kind}: starting a 3-server ensemble on {ens.hosts}", flush=True)
    try:
        ens.start()
        env["KAZOO_SUITE_ENSEMBLE"] = ens.spec()
        print("== " + " ".join(cmd), flush=True)
        t0 = time.time()
        rc = subprocess.run(cmd, env=env, cwd=args.out).returncode
        pytest_s = time.time() - t0
    finally:
        for i in range(1, ens.n + 1):  # the servers' logs outlive the ensemble
            log = os.path.join(ens.dir, f"server{i}.log")
            if os.path.exists(log):
                shutil.copy(log, os.path.join(args.out, f"{kind}-server{i}.log"))
        # Servers the tests restarted are not our children: find them by pid file.
        Ensemble.attach(ens.spec()).stop()
        ens.stop()
        reap()
    details = read_junit(junit) if os.path.exists(junit) else {}
    outcomes = {t: o for t, (o, _) in details.items()}
    counts = {o: sum(1 for v in outcomes.values() if v == o)
              for o in ("passed", "failed", "error", "skipped")}
    failing = sorted(t for t, o in outcomes.items() if o in ("failed", "error"))
    summary = {"server": kind, **counts, "failing": {t: details[t][1] for t in failing},
               "pytest_rc": rc,
               "pytest_seconds": round(pytest_s, 1),
               "wall_seconds": round(time.time() - started, 1), "junit": junit}
    with open(os.path.join(args.out, f"summary-{kind}.json"), "w") as f:
        f.write(json.dumps(summary) + "\n")
    print(f"== {kind}: {counts['passed']} passed, {counts['failed']} failed, "
          f"{counts['error']} errors, {counts['skipped']} skipped "
          f"in {summary['wall_seconds']} s (pytest {summary['pytest_seconds']} s)")
    for t in failing:
        print(f"   {outcomes[t]}: {t}\n      {details[t][1]}")
    if rc not in (0, 1) or not outcomes:
        # Usage error, crash or no tests at all: never report that as a pass.
        failing.append(f"<pytest exit {rc}>")
    return outcomes, failing, summary


def passes_alone(tests, args, python, site, runs=2):
    """The tests among `tests` that pass on zkstorm `runs` times when run
    again by themselves. Some of kazoo's tests race with themselves (its
    test_rw_lock assumes the reader thread it starts first also queues
    first; it fails that way on Apache ZooKeeper too): a failure that does
    not come back is reported as flaky, not as zkstorm's."""
    if not tests or len(tests) > 5:
        return []  # many failures are not a race
    again = argparse.Namespace(**vars(args))
    again.tests, again.out = list(tests), os.path.join(args.out, "rerun")
    passing = set(tests)
    for _ in range(runs):
        outcomes, _, _ = run("zkstorm", again, python, site)
        passing &= {t for t, o in outcomes.items() if o == "passed"}
    return sorted(passing)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", choices=sorted(BASES), default="zkstorm")
    ap.add_argument("--compare", action="store_true",
                    help="run both kinds, report the tests failing only on zkstorm")
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "kazoo-suite"),
                    help="directory for junit-KIND.xml and summary-KIND.json")
    ap.add_argument("--venv", default=os.path.join(ROOT, "target", "kazoo-venv"))
    ap.add_argument("--timeout", type=int, default=60, help="seconds per test")
    ap.add_argument("--durations", type=int, default=15, help="slowest tests to list")
    ap.add_argument("--tests", action="append", metavar="NODEID",
                    help="only these (e.g. kazoo/tests/test_lock.py::TestSemaphore)")
    ap.add_argument("pytest_args", nargs="*", help="after --: passed to pytest")
    args = ap.parse_args()
    args.out, args.venv = os.path.abspath(args.out), os.path.abspath(args.venv)

    adopt_orphans()
    python = venv(args.venv)
    site = site_packages(python)
    if not args.compare:
        _, failing, _ = run(args.server, args, python, site)
        return 1 if failing else 0

    theirs, _, zk = run("zookeeper", args, python, site)
    ours, _, us = run("zkstorm", args, python, site)
    bad = ("failed", "error")
    only_ours = sorted(t for t, o in ours.items() if o in bad and theirs.get(t) not in bad)
    only_theirs = sorted(t for t, o in theirs.items() if o in bad and ours.get(t) not in bad)
    both = sorted(t for t, o in ours.items() if o in bad and theirs.get(t) in bad)
    flaky = passes_alone(only_ours, args, python, site)
    only_ours = [t for t in only_ours if t not in flaky]
    print("\n== compare (wall s): zookeeper %s, zkstorm %s" % (zk["wall_seconds"], us["wall_seconds"]))
    for title, ids in (("failing only on zkstorm", only_ours),
                       ("failing only on zkstorm, then passing alone twice (flaky)", flaky),
                       ("failing on both", both),
                       ("failing only on zookeeper", only_theirs)):
        print(f"{title}: {len(ids)}")
        for t in ids:
            why = us["failing"].get(t) or zk["failing"].get(t, "")
            print(f"   {t} (zkstorm {ours.get(t)}, zookeeper {theirs.get(t)})\n      {why}")
    with open(os.path.join(args.out, "summary-compare.json"), "w") as f:
        f.write(json.dumps({"zkstorm_only": {t: us["failing"][t] for t in only_ours},
                            "flaky": {t: us["failing"][t] for t in flaky}, "both": both,
                            "zookeeper_only": only_theirs}) + "\n")
    broken = not ours or not theirs or {zk["pytest_rc"], us["pytest_rc"]} - {0, 1}
    return 1 if only_ours or broken else 0


if __name__ == "__main__":
    sys.exit(main())

"""The same kazoo script against Apache ZooKeeper 3.8 (Debian's
`zookeeper` package, standalone, started here) and a zkstorm server, each
case's observations compared: results, errors, the Stat fields that do not
depend on time, sequential names, ACLs and watch events. Zxids are compared
by order (each is replaced by its rank among the zxids the case saw), since
the two servers number their txns from different starts.
Null data, ZooKeeper's own /zookeeper subtree and every four-letter word
(each answer's layout and the figures the case controls) are cases too.

    python3 compat/differential.py      prints `N passed, M failed`; exit 1 on any difference
"""

import os
import sys
import traceback

from kazoo.client import KazooClient
from kazoo.security import OPEN_ACL_UNSAFE, make_acl, make_digest_acl

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ensemble import Ensemble, Events, four_letter  # noqa: E402

ROOT = "/diff"


class Recorder:
    """What one case saw, with zxids turned into ranks."""

    def __init__(self, session_ids):
        self.lines = []
        self.zxids = {}
        self.sessions = session_ids

    def zxid(self, z):
        if z not in self.zxids:
            self.zxids[z] = len(self.zxids)
        return f"z{self.zxids[z]}"

    def stat(self, s):
        if s is None:
            return None
        owner = s.ephemeralOwner
        owner = self.sessions.get(owner, "other") if owner else 0
        return (
            f"czxid={self.zxid(s.czxid)} mzxid={self.zxid(s.mzxid)} pzxid={self.zxid(s.pzxid)} "
            f"version={s.version} cversion={s.cversion} aversion={s.aversion} "
            f"owner={owner} dataLength={s.dataLength} numChildren={s.numChildren}"
        )

    def value(self, v):
        if hasattr(v, "czxid"):
            return self.stat(v)
        if isinstance(v, tuple):
            return tuple(self.value(x) for x in v)
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if isinstance(v, Exception):
            return type(v).__name__
        return v

    def do(self, label, fn, *args, **kw):
        try:
            out = self.value(fn(*args, **kw))
        except Exception as e:  # the error is the observation
            out = "raises " + type(e).__name__
        self.lines.append(f"{label}: {out!r}")
        return out


def case_znodes(zk, other, r):
    p = ROOT + "/z"
    r.do("create", zk.create, p, b"one")
    r.do("create again", zk.create, p, b"x")
    r.do("create under missing", zk.create, p + "/missing/kid")
    r.do("get", zk.get, p)
    r.do("set v0", zk.set, p, b"two", version=0)
    r.do("set stale", zk.set, p, b"x", version=0)
    r.do("exists", zk.exists, p)
    r.do("exists missing", zk.exists, p + "/nope")
    r.do("get missing", zk.get, p + "/nope")
    r.do("create2", zk.create, p + "/kid", b"k", include_data=True)
    r.do("delete non-empty", zk.delete, p)
    r.do("delete bad version", zk.delete, p + "/kid", version=5)
    r.do("children", zk.get_children, p)
    r.do("children2", zk.get_children, p, include_data=True)
    r.do("delete kid", zk.delete, p + "/kid", version=0)
    r.do("delete", zk.delete, p)
    r.do("get deleted", zk.get, p)
    r.do("big data", zk.create, p + "-big", b"x" * (1024 * 1024 + 1))


def case_sequential_and_ephemeral(zk, other, r):
    p = ROOT + "/seq"
    r.do("parent", zk.create, p)
    for i in range(3):
        r.do(f"seq {i}", zk.create, p + "/n-", b"", sequence=True)
    r.do("eph seq", other.create, p + "/e-", b"", ephemeral=True, sequence=True)
    r.do("ephemeral", other.create, p + "/eph", b"e", ephemeral=True)
    r.do("stat of ephemeral", zk.exists, p + "/eph")
    r.do("child of ephemeral", other.create, p + "/eph/kid")
    r.do("children", lambda: sorted(zk.get_children(p)))
    r.do("delete seq", zk.delete, p + "/n-0000000001")
    r.do("parent after delete", zk.exists, p)
    r.do("seq after delete", zk.create, p + "/n-", b"", sequence=True)
    r.do("root-level sequential", zk.create, ROOT + "/s-", b"", sequence=True)


def case_multi(zk, other, r):
    p = ROOT + "/m"
    r.do("parent", zk.create, p, b"0")

    def commit(ops):
        tx = zk.transaction()
        for op in ops:
            op(tx)
        return tx.commit()

    r.do(
        "ok",
        commit,
        [
            lambda t: t.create(p + "/a", b"a"),
            lambda t: t.check(p, 0),
            lambda t: t.set_data(p, b"1"),
            lambda t: t.delete(p + "/a"),
            lambda t: t.create(p + "/s-", b"", sequence=True),
        ],
    )
    r.do(
        "fails at 1",
        commit,
        [
            lambda t: t.create(p + "/b"),
            lambda t: t.check(p, 7),
            lambda t: t.delete(p),
        ],
    )
    r.do(
        "fails at 0",
        commit,
        [lambda t: t.delete(p + "/none"), lambda t: t.create(p + "/c")],
    )
    r.do("nothing applied", zk.get_children, p)
    r.do("parent after", zk.get, p)


def seen(events):
    """A watcher's first event(s) as (type, path)."""
    return [(e.type, e.path) for e in events.wait(1, timeout=5)]


def case_watches(zk, other, r):
    p = ROOT + "/w"
    r.do("create", zk.create, p, b"0")
    data, exist, kids, gone = Events(), Events(), Events(), Events()
    r.do("get+watch", zk.get, p, watch=data)
    r.do("exists+watch missing", zk.exists, p + "/new", watch=exist)
    r.do("children+watch", zk.get_children, p, watch=kids)
    r.do("set by other", other.set, p, b"1")
    r.do("create by other", other.create, p + "/new")
    r.do("set again", other.set, p, b"2")
    r.lines.append(f"data events: {seen(data)}")
    r.lines.append(f"exist events: {seen(exist)}")
    r.lines.append(f"child events: {seen(kids)}")
    r.do("get+watch kid", zk.get, p + "/new", watch=gone)
    r.do("delete kid", other.delete, p + "/new")
    r.lines.append(f"delete events: {seen(gone)}")


def case_acls(zk, other, r):
    p = ROOT + "/acl"
    alice = make_digest_acl("alice", "pw", all=True)
    r.do("create digest", zk.create, p, b"s", acl=[alice])
    r.do("get no auth", zk.get, p)
    r.do("exists no auth", zk.exists, p)
    r.do("getAcl no auth", zk.get_acls, p)
    r.do("create kid no auth", zk.create, p + "/kid")
    r.do("auth", other.add_auth, "digest", "alice:pw")
    r.do("get with auth", other.get, p)
    r.do("getAcl with auth", other.get_acls, p)
    r.do("setAcl bad version", other.set_acls, p, [alice], version=3)
    r.do(
        "setAcl",
        other.set_acls,
        p,
        [alice, make_acl("world", "anyone", read=True)],
        version=0,
    )
    r.do("getAcl without admin", zk.get_acls, p)
    r.do("get world read", zk.get, p)
    r.do("set no auth", zk.set, p, b"x")
    r.do("auth acl without identity", zk.create, p + "-bad", acl=[make_acl("auth", "", all=True)])
    r.do("unknown scheme acl", zk.create, p + "-bad", acl=[make_acl("nosuch", "x", all=True)])
    r.do("empty acl", zk.create, p + "-bad", acl=[])
    r.do("auth acl", other.create, p + "-auth", acl=[make_acl("auth", "", all=True)])
    r.do("its acl", other.get_acls, p + "-auth")
    r.do("open", zk.create, p + "-open", acl=OPEN_ACL_UNSAFE)
    r.do("open acl", zk.get_acls, p + "-open")


def case_sync_and_versions(zk, other, r):
    p = ROOT + "/v"
    r.do("create", zk.create, p)
    for i in range(3):
        r.do(f"set {i}", zk.set, p, str(i).encode())
    r.do("sync", other.sync, p)
    r.do("get via other", other.get, p)

    def check(version):
        tx = zk.transaction()
        tx.check(p, version)
        return tx.commit()

    r.do("check stale", check, 1)
    r.do("check current", check, 3)


def case_null_data(zk, other, r):
    p = ROOT + "/null"
    r.do("create null", zk.create, p, None)
    r.do("get null", zk.get, p)
    r.do("get null via other", other.get, p)
    r.do("set empty", zk.set, p, b"")
    r.do("get empty", zk.get, p)
    r.do("set null", zk.set, p, None)
    r.do("get null again", zk.get, p)
    r.do("create empty", zk.create, p + "-empty", b"")
    r.do("get empty node", zk.get, p + "-empty")


def case_zookeeper_subtree(zk, other, r):
    r.do("root children", zk.get_children, "/")
    r.do("root", zk.get, "/")
    r.do("/zookeeper children", zk.get_children, "/zookeeper")
    for p in ("/zookeeper", "/zookeeper/quota", "/zookeeper/config"):
        r.do(f"get {p}", zk.get, p)
        r.do(f"acl {p}", zk.get_acls, p)
        r.do(f"delete {p}", zk.delete, p)
    r.do("delete /", zk.delete, "/")
    r.do("set config", zk.set, "/zookeeper/config", b"x")
    r.do("set /zookeeper", zk.set, "/zookeeper", b"x")
    r.do("create under /zookeeper", zk.create, "/zookeeper/diff")
    r.do("/zookeeper after", zk.get, "/zookeeper")
    r.do("delete it", zk.delete, "/zookeeper/diff")
    r.do("set /zookeeper back", zk.set, "/zookeeper", b"")
    r.do("create under quota", zk.create, "/zookeeper/quota/diff")
    r.do("delete it too", zk.delete, "/zookeeper/quota/diff")


def blocks(text):
    """`wchc`/`wchp`: each heading with its tab-indented lines, sorted."""
    out = {}
    for line in text.splitlines():
        if line.startswith("\t"):
            out[head].append(line[1:])
        elif line:
            head = line
            out[head] = []
    return sorted((h, sorted(items)) for h, items in out.items())


def words_shape(zk, other):
    """Each four-letter word's answer, reduced to what both servers must
    share: the layout and the figures the case controls, session ids named."""
    port = zk._connection._socket.getpeername()[1]
    names = {"0x%x" % zk.client_id[0]: "<zk>", "0x%x" % other.client_id[0]: "<other>"}

    def ask(word):
        text = four_letter(port, word) or ""
        for sid, name in names.items():
            text = text.replace(sid, name)
        return text

    def labels(text):
        return [l.split(":")[0] for l in text.splitlines() if ": " in l and not l.startswith(" /")]

    envi = ask("envi").splitlines()
    mntr = dict(l.split("\t", 1) for l in ask("mntr").splitlines() if "\t" in l)
    cons = [l for l in ask("cons").splitlines() if l.strip()]
    dump = ask("dump")
    return {
        "ruok": ask("ruok"),
        "srvr": labels(ask("srvr")),
        "stat": labels(ask("stat")),
        "stat clients": ask("stat").split("\n")[1],
        "envi": (envi[0], envi[1].split("=")[1][:3]),
        "conf": [l.split("=")[0] for l in ask("conf").splitlines()],
        "cons": all(l.startswith(" /127.0.0.1:") and "(queued=" in l for l in cons),
        "cons sessions": sorted(n for n in names.values() if any(f"sid={n}" in l for l in cons)),
        "dump": (dump.splitlines()[0], dump[dump.index("ephemeral nodes dump:"):].split("Connections dump:")[0]),
        "wchs": ask("wchs"),
        # ZooKeeper lists these in hash order: compare them sorted.
        "wchc": blocks(ask("wchc")),
        "wchp": blocks(ask("wchp")),
        "isro": ask("isro"),
        "dirs": [l.split(":")[0] for l in ask("dirs").splitlines()],
        "crst": ask("crst"),
        "srst": ask("srst"),
        "gtmk": ask("gtmk"),
        "stmk": ask("stmk"),
        "mntr": {k: mntr.get(k) for k in (
            "zk_server_state", "zk_ephemerals_count", "zk_watch_count",
            "zk_global_sessions", "zk_znode_count", "zk_outstanding_requests")},
        "mntr keys": sorted(k for k in ("zk_version", "zk_avg_latency", "zk_max_latency",
                                        "zk_min_latency", "zk_packets_received", "zk_packets_sent",
                                        "zk_num_alive_connections", "zk_approximate_data_size",
                                        "zk_uptime", "zk_local_sessions") if k in mntr),
    }


def case_four_letter_words(zk, other, r):
    p = ROOT + "/4lw"
    r.do("create", zk.create, p, b"x")
    r.do("ephemeral", zk.create, p + "/e", b"", ephemeral=True)
    r.do("get+watch", zk.get, p, watch=Events())
    r.do("exists+watch", zk.exists, p + "/nothere", watch=Events())
    r.do("children+watch", zk.get_children, p, watch=Events())
    r.do("other get+watch", other.get, p, watch=Events())
    for word, shape in words_shape(zk, other).items():
        r.lines.append(f"{word}: {shape!r}")


CASES = [
    case_znodes,
    case_sequential_and_ephemeral,
    case_multi,
    case_watches,
    case_acls,
    case_sync_and_versions,
    case_null_data,
    case_zookeeper_subtree,
    case_four_letter_words,
]


def run_cases(hosts):
    """Each case on fresh clients: {case name: [observations]}."""
    out = {}
    for case in CASES:
        zk = KazooClient(hosts=hosts, timeout=10)
        other = KazooClient(hosts=hosts, timeout=10)
        zk.start(timeout=20)
        other.start(timeout=20)
        sessions = {zk.client_id[0]: "zk", other.client_id[0]: "other"}
        r = Recorder(sessions)
        try:
            zk.ensure_path(ROOT)
            case(zk, other, r)
        except Exception:
            r.lines.append("case crashed: " + traceback.format_exc().splitlines()[-1])
        finally:
            for c in (zk, other):
                c.stop()
                c.close()
        cleanup = KazooClient(hosts=hosts, timeout=10)
        cleanup.start(timeout=20)
        cleanup.add_auth("digest", "alice:pw")
        cleanup.delete(ROOT, recursive=True)
        cleanup.stop()
        cleanup.close()
        out[case.__name__] = r.lines
    return out


def main():
    with Ensemble("zookeeper", n=1, base=25180, whitelist="*") as zk:
        want = run_cases(zk.hosts)
    with Ensemble("zkstorm", n=1, base=24180, whitelist="*") as ours:
        got = run_cases(ours.hosts)
    passed = failed = 0
    for name in want:
        w, g = want[name], got.get(name, [])
        steps = max(len(w), len(g))
        for i in range(steps):
            a = w[i] if i < len(w) else "<missing>"
            b = g[i] if i < len(g) else "<missing>"
            if a == b:
                passed += 1
            else:
                failed += 1
                print(f"DIFF {name} step {i}:\n  zookeeper: {a}\n  zkstorm:   {b}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

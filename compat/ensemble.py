"""Start and stop ensembles on loopback for the compatibility tests: zkstorm
servers (`zkstorm server --config zoo.cfg`, the real build) or Apache
ZooKeeper from Debian's `zookeeper` package, each from its own zoo.cfg."""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ZK_JAR = "/usr/share/java/zookeeper.jar"


def zkstorm_bin():
    """The real-mode zkstorm binary (ZKSTORM_BIN, else the real build)."""
    if os.environ.get("ZKSTORM_BIN"):
        return os.environ["ZKSTORM_BIN"]
    for profile in ("release", "debug"):
        path = os.path.join(ROOT, "target", "real", profile, "zkstorm")
        if os.path.exists(path):
            return path
    raise SystemExit(
        "no real-mode zkstorm: RUSTFLAGS= cargo build -p zkstorm-sim --target-dir target/real"
    )


def four_letter(port, word, timeout=2.0):
    """A four-letter word's answer, or None if the port does not answer."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(word.encode())
            chunks = []
            while True:
                data = s.recv(4096)
                if not data:
                    break
                chunks.append(data)
            return b"".join(chunks).decode(errors="replace")
    except OSError:
        return None


class PidProcess:
    """A server process this Python process did not start (so cannot wait
    for): enough of Popen's interface for `Ensemble.kill` and `stop`."""

    def __init__(self, pid):
        self.pid = pid

    def poll(self):
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return -1
        # A zombie has exited; its parent just has not reaped it yet.
        return -1 if state == "Z" else None

    def send_signal(self, sig):
        if self.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self):
        self.send_signal(signal.SIGKILL)

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.time() + timeout
        while self.poll() is None:
            if deadline is not None and time.time() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            time.sleep(0.05)
        return -1


class Ensemble:
    """`n` servers of `kind` ("zkstorm" or "zookeeper") on ports from `base`:
    client ports base+i, peer ports base+100+i, election base+200+i.
    `extra` zoo.cfg lines, `whitelist` the 4lw words, `java_props` JVM
    options (Apache ZooKeeper only); `workdir` reuses an ensemble's directory."""

    def __init__(self, kind, n=3, base=22180, tick_ms=200, extra=(),
                 whitelist="ruok,srvr,stat,mntr", java_props=(), workdir=None):
        self.kind, self.n, self.base, self.tick_ms = kind, n, base, tick_ms
        self.extra = list(extra)
        self.whitelist = whitelist
        self.java_props = list(java_props)
        self.dir = workdir or tempfile.mkdtemp(prefix=f"{kind}-")
        self.procs = {}

    def spec(self):
        """What `attach` needs to drive this ensemble from another process."""
        return json.dumps({
            "kind": self.kind, "n": self.n, "base": self.base,
            "tick_ms": self.tick_ms, "extra": self.extra,
            "whitelist": self.whitelist, "java_props": self.java_props,
            "workdir": self.dir,
        })

    @classmethod
    def attach(cls, spec):
        """The ensemble `spec` describes, its servers found by their pid files
        (another process started them), so it can kill and restart them."""
        ens = cls(**json.loads(spec))
        for i in range(1, ens.n + 1):
            try:
                with open(ens.pid_file(i)) as f:
                    ens.procs[i] = PidProcess(int(f.read()))
            except (OSError, ValueError):
                pass
        return ens

    def pid_file(self, i):
        return os.path.join(self.dir, f"server{i}.pid")

    def port(self, i):
        return self.base + i

    @property
    def hosts(self):
        return ",".join(f"127.0.0.1:{self.port(i)}" for i in range(1, self.n + 1))

    def config(self, i):
        data = os.path.join(self.dir, f"data{i}")
        os.makedirs(data, exist_ok=True)
        with open(os.path.join(data, "myid"), "w") as f:
            f.write(f"{i}\n")
        lines = [
            f"tickTime={self.tick_ms}",
            "initLimit=10",
            "syncLimit=5",
            f"dataDir={data}",
            f"clientPort={self.port(i)}",
            "clientPortAddress=127.0.0.1",
            f"4lw.commands.whitelist={self.whitelist}",
            "admin.enableServer=false",
        ] + self.extra
        if self.n > 1:
            lines += [
                f"server.{j}=127.0.0.1:{self.base + 100 + j}:{self.base + 200 + j}"
                for j in range(1, self.n + 1)
            ]
        path = os.path.join(self.dir, f"zoo{i}.cfg")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def command(self, i):
        cfg = self.config(i)
        if self.kind == "zkstorm":
            return [zkstorm_bin(), "server", "--config", cfg]
        main = (
            "org.apache.zookeeper.server.quorum.QuorumPeerMain"
            if self.n > 1
            else "org.apache.zookeeper.server.ZooKeeperServerMain"
        )
        return ["java", "-Xmx256m", *self.java_props, "-cp", ZK_JAR, main, cfg]

    def start_one(self, i):
        with open(os.path.join(self.dir, f"server{i}.log"), "ab") as log:
            self.procs[i] = subprocess.Popen(
                self.command(i), stdout=log, stderr=subprocess.STDOUT
            )
        with open(self.pid_file(i), "w") as f:
            f.write(f"{self.procs[i].pid}\n")

    def running(self, i):
        p = self.procs.get(i)
        return p is not None and p.poll() is None

    def restart(self, i, timeout=60):
        """Kill server i if it runs, start it again, wait until it serves."""
        self.kill(i)
        self.start_one(i)
        self.wait_serving(timeout, only=[i])

    def start(self, timeout=60):
        for i in range(1, self.n + 1):
            self.start_one(i)
        self.wait_serving(timeout)
        return self

    def serving(self, i):
        answer = four_letter(self.port(i), "srvr")
        return answer is not None and "Mode: " in answer

    def wait_serving(self, timeout=60, only=None):
        ids = only or [i for i in self.procs if self.procs[i].poll() is None]
        deadline = time.time() + timeout
        while time.time() < deadline:
            if all(self.serving(i) for i in ids):
                return
            if any(not self.running(i) for i in ids):
                break  # exited (a refused zoo.cfg, a taken port): say so now
            time.sleep(0.2)
        raise RuntimeError(f"{self.kind} ensemble not serving: {self.logs()}")

    def mode(self, i):
        answer = four_letter(self.port(i), "srvr") or ""
        for line in answer.splitlines():
            if line.startswith("Mode: "):
                return line[len("Mode: "):]
        return None

    def kill(self, i):
        """SIGKILL: a crash."""
        p = self.procs.get(i)
        if p and p.poll() is None:
            p.kill()
            p.wait()

    def stop(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def logs(self, tail=20):
        out = []
        for i in sorted(self.procs):
            path = os.path.join(self.dir, f"server{i}.log")
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    lines = f.readlines()[-tail:]
                out.append(f"--- server {i}\n" + "".join(lines))
        return "\n".join(out)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Events:
    """Collects watch events; `wait(n)` until n have come."""

    def __init__(self):
        self.events = []
        self.cond = threading.Condition()

    def __call__(self, event):
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def wait(self, n=1, timeout=10):
        with self.cond:
            self.cond.wait_for(lambda: len(self.events) >= n, timeout)
            return list(self.events)

"""Start and stop ensembles on loopback for the compatibility tests: zkstorm
servers (`zkstorm server --config zoo.cfg`, the real build) or Apache
ZooKeeper from Debian's `zookeeper` package, each from its own zoo.cfg."""

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


class Ensemble:
    """`n` servers of `kind` ("zkstorm" or "zookeeper") on ports from `base`:
    client ports base+i, peer ports base+100+i, election base+200+i."""

    def __init__(self, kind, n=3, base=22180, tick_ms=200, extra=()):
        self.kind, self.n, self.base, self.tick_ms = kind, n, base, tick_ms
        self.extra = list(extra)
        self.dir = tempfile.mkdtemp(prefix=f"{kind}-")
        self.procs = {}

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
            "4lw.commands.whitelist=ruok,srvr,stat,mntr",
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
        return ["java", "-Xmx256m", "-cp", ZK_JAR, main, cfg]

    def start_one(self, i):
        with open(os.path.join(self.dir, f"server{i}.log"), "ab") as log:
            self.procs[i] = subprocess.Popen(
                self.command(i), stdout=log, stderr=subprocess.STDOUT
            )

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
            time.sleep(0.2)
        raise RuntimeError(f"{self.kind} ensemble not serving after {timeout}s: {self.logs()}")

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

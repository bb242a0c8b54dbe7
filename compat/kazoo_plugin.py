"""pytest plugin: kazoo's own test suite (kazoo/tests, unchanged) against an
ensemble that is already running, instead of the cluster kazoo's harness
would start itself. `compat/kazoo_suite.py` starts the ensemble and loads
this plugin (`-p kazoo_plugin`) with the ensemble in KAZOO_SUITE_ENSEMBLE
(`Ensemble.spec()`), so tests can stop and restart its servers."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ensemble import Ensemble  # noqa: E402

# What an external ensemble cannot serve, by node id (relative to the
# site-packages directory holding kazoo), with the reason.
SASL = "SASL/JAAS: kazoo's harness restarts its own cluster with a JAAS config"
TLS = "TLS: needs kazoo's harness-generated certificates and a secure client port"
RECONFIG = "dynamic reconfiguration: server feature tracked separately"
READ_ONLY = "read-only mode: server feature tracked separately"
SKIPS = {
    "kazoo/tests/test_sasl.py::TestLegacySASLDigestAuthentication::test_connect_sasl_auth": SASL,
    "kazoo/tests/test_sasl.py::TestLegacySASLDigestAuthentication::test_invalid_sasl_auth": SASL,
    "kazoo/tests/test_sasl.py::TestSASLDigestAuthentication::test_connect_sasl_auth": SASL,
    "kazoo/tests/test_sasl.py::TestSASLDigestAuthentication::test_invalid_sasl_auth": SASL,
    "kazoo/tests/test_sasl.py::TestSASLGSSAPIAuthentication::test_connect_gssapi_auth": SASL,
    "kazoo/tests/test_sasl.py::TestSASLGSSAPIAuthentication::test_invalid_gssapi_auth": SASL,
    "kazoo/tests/test_client.py::TestSSLClient::test_create": TLS,
    "kazoo/tests/test_client.py::TestReconfig::test_no_super_auth": RECONFIG,
    "kazoo/tests/test_client.py::TestReconfig::test_add_remove_observer": RECONFIG,
    "kazoo/tests/test_client.py::TestReconfig::test_bad_input": RECONFIG,
    "kazoo/tests/test_connection.py::TestReadOnlyMode::test_read_only": READ_ONLY,
}


class Server:
    """One server as kazoo's tests use it (`ManagedZooKeeper`'s surface)."""

    def __init__(self, ensemble, i):
        self.ensemble, self.i = ensemble, i

    @property
    def address(self):
        return f"127.0.0.1:{self.ensemble.port(self.i)}"

    @property
    def secure_address(self):
        # No TLS port: only the (skipped) TLS tests would use it.
        return self.address

    @property
    def running(self):
        return self.ensemble.running(self.i)

    def stop(self):
        self.ensemble.kill(self.i)

    def run(self):
        # kazoo's own run() returns at once; waiting until the server serves
        # keeps tests that reconnect within seconds from racing its start.
        if not self.running:
            self.ensemble.restart(self.i)

    def get_logs(self, num_lines=100):
        path = os.path.join(self.ensemble.dir, f"server{self.i}.log")
        try:
            with open(path, errors="replace") as f:
                return f.readlines()[-num_lines:]
        except OSError:
            return []


class Cluster:
    """`ZookeeperCluster`'s surface over the running ensemble; one ensemble
    serves the whole run, so `terminate` (after every test class) keeps it."""

    def __init__(self, ensemble):
        self.servers = [Server(ensemble, i) for i in range(1, ensemble.n + 1)]

    def __getitem__(self, k):
        return self.servers[k]

    def __iter__(self):
        return iter(self.servers)

    def __len__(self):
        return len(self.servers)

    def start(self):
        for server in reversed(self.servers):
            server.run()

    def terminate(self):
        pass

    def get_logs(self):
        return [line for server in self.servers for line in server.get_logs()]


CLUSTER = None


def pytest_configure(config):
    global CLUSTER
    spec = os.environ.get("KAZOO_SUITE_ENSEMBLE")
    if not spec:
        raise pytest.UsageError("kazoo_plugin: KAZOO_SUITE_ENSEMBLE is not set")
    CLUSTER = Cluster(Ensemble.attach(spec))
    # The harness looks the function up in its module on every use.
    import kazoo.testing.harness

    kazoo.testing.harness.get_global_cluster = lambda: CLUSTER


def pytest_collection_modifyitems(config, items):
    seen = set()
    for item in items:
        reason = SKIPS.get(item.nodeid)
        if reason:
            seen.add(item.nodeid)
            item.add_marker(pytest.mark.skip(reason=reason))
    # A stale id would silently run a test meant to be skipped; check when
    # whole files are collected (no "::" selection, -k or -m).
    if any("::" in a for a in config.args) or config.option.keyword or config.option.markexpr:
        return
    files = {item.nodeid.split("::")[0] for item in items}
    missing = sorted(m for m in set(SKIPS) - seen if m.split("::")[0] in files)
    if missing:
        raise pytest.UsageError(f"kazoo_plugin: skip ids not collected: {missing}")

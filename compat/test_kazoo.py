"""kazoo, unchanged, against a 3-server zkstorm ensemble started by
`zkstorm server` on loopback: every opcode kazoo uses, watches, multi,
sequential nodes, auth, ACLs as they stand, and a failover where the
session's server is killed mid-session.

    python3 compat/test_kazoo.py        (needs python3-kazoo and the real build)
"""

import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

from kazoo.client import KazooClient
from kazoo.exceptions import (
    AuthFailedError,
    BadVersionError,
    InvalidACLError,
    NoAuthError,
    NoNodeError,
    NodeExistsError,
    NotEmptyError,
    NoChildrenForEphemeralsError,
    RolledBackError,
    RuntimeInconsistency,
)
from kazoo.protocol.states import EventType
from kazoo.security import OPEN_ACL_UNSAFE, make_acl, make_digest_acl

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ensemble import Ensemble, Events, four_letter  # noqa: E402
from jute_raw import Raw  # noqa: E402

ENSEMBLE = None


def setUpModule():
    global ENSEMBLE
    ENSEMBLE = Ensemble("zkstorm", n=3, base=22180, whitelist="*").start()


def tearDownModule():
    ENSEMBLE.stop()


def client(hosts=None, **kw):
    zk = KazooClient(hosts=hosts or ENSEMBLE.hosts, timeout=10, **kw)
    zk.start(timeout=15)
    return zk


class Base(unittest.TestCase):
    def setUp(self):
        self.zk = client()
        self.root = "/" + self.id().split(".")[-1]
        self.zk.ensure_path(self.root)

    def tearDown(self):
        self.zk.stop()
        self.zk.close()

    def p(self, name):
        return f"{self.root}/{name}"


class TheSeedExample(unittest.TestCase):
    def test_the_seed_documents_example_runs_unchanged(self):
        here = os.path.dirname(os.path.abspath(__file__))
        out = subprocess.run(
            [sys.executable, os.path.join(here, "seed_example.py"), ENSEMBLE.hosts],
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertTrue(out.stdout.startswith("(b'data', ZnodeStat("), out.stdout)
        # Its session closed: the ephemeral went with it.
        zk = client()
        try:
            self.assertIsNone(zk.exists("/data"))
        finally:
            zk.stop()


class Znodes(Base):
    def test_create_get_set_delete_and_their_errors(self):
        path = self.zk.create(self.p("a"), b"one")
        self.assertEqual(path, self.p("a"))
        data, stat = self.zk.get(path)
        self.assertEqual((data, stat.version, stat.data_length), (b"one", 0, 3))
        stat = self.zk.set(path, b"two", version=0)
        self.assertEqual(stat.version, 1)
        self.assertEqual(stat.mzxid > stat.czxid, True)
        with self.assertRaises(BadVersionError):
            self.zk.set(path, b"x", version=0)
        with self.assertRaises(NodeExistsError):
            self.zk.create(path)
        with self.assertRaises(NoNodeError):
            self.zk.create(self.p("missing/child"))
        with self.assertRaises(NoNodeError):
            self.zk.get(self.p("missing"))
        self.zk.create(self.p("a/kid"))
        with self.assertRaises(NotEmptyError):
            self.zk.delete(path)
        with self.assertRaises(BadVersionError):
            self.zk.delete(self.p("a/kid"), version=3)
        self.zk.delete(path, recursive=True)
        self.assertIsNone(self.zk.exists(path))

    def test_create2_and_get_children2_carry_a_stat(self):
        path, stat = self.zk.create(self.p("s"), b"xy", include_data=True)
        self.assertEqual((path, stat.data_length, stat.version), (self.p("s"), 2, 0))
        for name in ("c1", "c2"):
            self.zk.create(self.p(f"s/{name}"))
        kids, stat = self.zk.get_children(self.p("s"), include_data=True)
        self.assertEqual(sorted(kids), ["c1", "c2"])
        self.assertEqual((stat.numChildren, stat.cversion), (2, 2))

    def test_sequential_nodes_are_numbered_by_the_parents_creates(self):
        self.zk.create(self.p("q"))
        names = [self.zk.create(self.p("q/n-"), sequence=True) for _ in range(3)]
        self.assertEqual(names, [self.p(f"q/n-{i:010d}") for i in range(3)])
        eph = self.zk.create(self.p("q/e-"), ephemeral=True, sequence=True)
        self.assertEqual(eph, self.p("q/e-0000000003"))

    def test_ephemerals_belong_to_the_session_and_have_no_children(self):
        other = client()
        try:
            path = other.create(self.p("eph"), b"", ephemeral=True)
            _, stat = self.zk.get(path)
            self.assertEqual(stat.ephemeralOwner, other.client_id[0])
            with self.assertRaises(NoChildrenForEphemeralsError):
                other.create(self.p("eph/kid"))
        finally:
            other.stop()
            other.close()
        self.assertIsNone(self.zk.exists(self.p("eph")))

    def test_sync_then_read(self):
        self.zk.create(self.p("x"), b"v")
        self.zk.sync(self.p("x"))
        self.assertEqual(self.zk.get(self.p("x"))[0], b"v")


class Multi(Base):
    def test_a_transaction_applies_all_its_ops(self):
        self.zk.create(self.p("m"), b"0")
        tx = self.zk.transaction()
        tx.create(self.p("m/a"), b"a")
        tx.check(self.p("m"), 0)
        tx.set_data(self.p("m"), b"1")
        tx.delete(self.p("m/a"))
        results = tx.commit()
        self.assertEqual(results[0], self.p("m/a"))
        self.assertEqual(results[1], True)
        self.assertEqual(results[2].version, 1)
        self.assertEqual(results[3], True)

    def test_a_failed_transaction_reports_each_op_and_changes_nothing(self):
        self.zk.create(self.p("f"), b"0")
        tx = self.zk.transaction()
        tx.create(self.p("f/new"))
        tx.check(self.p("f"), 7)
        tx.delete(self.p("f"))
        results = tx.commit()
        # ZooKeeper's answer: ok (rolled back) before the failing op, its
        # error, RuntimeInconsistency after it.
        self.assertIsInstance(results[0], RolledBackError)
        self.assertIsInstance(results[1], BadVersionError)
        self.assertIsInstance(results[2], RuntimeInconsistency)
        self.assertIsNone(self.zk.exists(self.p("f/new")))


class Watches(Base):
    def test_data_exists_and_child_watches_fire_once(self):
        data, exists, kids = Events(), Events(), Events()
        self.zk.create(self.p("w"), b"0")
        self.zk.get(self.p("w"), watch=data)
        self.zk.exists(self.p("w/new"), watch=exists)
        self.zk.get_children(self.p("w"), watch=kids)
        other = client()
        try:
            other.set(self.p("w"), b"1")
            other.create(self.p("w/new"))
            other.set(self.p("w"), b"2")  # the data watch was one-shot
        finally:
            other.stop()
        self.assertEqual([e.type for e in data.wait()], [EventType.CHANGED])
        self.assertEqual([e.type for e in exists.wait()], [EventType.CREATED])
        self.assertEqual([e.type for e in kids.wait()], [EventType.CHILD])
        self.assertEqual(kids.events[0].path, self.p("w"))
        self.assertEqual(len(data.wait(2, timeout=1)), 1)

    def test_a_delete_fires_data_and_child_watches(self):
        events = Events()
        self.zk.create(self.p("d"))
        self.zk.get(self.p("d"), watch=events)
        self.zk.delete(self.p("d"))
        self.assertEqual([e.type for e in events.wait()], [EventType.DELETED])


class Auth(Base):
    def test_digest_auth_is_accepted_and_an_unknown_scheme_fails(self):
        self.zk.add_auth("digest", "user:secret")
        self.assertEqual(self.zk.exists("/"), self.zk.exists("/"))
        other = client()
        try:
            with self.assertRaises(AuthFailedError):
                other.add_auth("nosuchscheme", "x")
        finally:
            other.stop()

    def test_get_acls_reports_the_open_acl(self):
        self.zk.create(self.p("acl"))
        acls, stat = self.zk.get_acls(self.p("acl"))
        self.assertEqual([(a.perms, a.id.scheme, a.id.id) for a in acls], [(31, "world", "anyone")])
        self.assertEqual(stat.aversion, 0)


class Acls(Base):
    def test_a_digest_acl_admits_only_its_user(self):
        alice = make_digest_acl("alice", "pw", all=True)
        self.zk.create(self.p("secret"), b"s", acl=[alice])
        with self.assertRaises(NoAuthError):
            self.zk.get(self.p("secret"))
        with self.assertRaises(NoAuthError):
            self.zk.set(self.p("secret"), b"x")
        with self.assertRaises(NoAuthError):
            self.zk.create(self.p("secret/kid"))
        self.assertIsNotNone(self.zk.exists(self.p("secret")), "exists needs no permission")
        other = client(auth_data=[("digest", "alice:pw")])
        try:
            self.assertEqual(other.get(self.p("secret"))[0], b"s")
            other.create(self.p("secret/kid"))
            acls, _ = other.get_acls(self.p("secret"))
            self.assertEqual(acls, [alice])
        finally:
            other.stop()

    def test_read_only_for_the_world_write_for_the_owner(self):
        self.zk.add_auth("digest", "owner:pw")
        acl = [make_acl("auth", "", all=True), make_acl("world", "anyone", read=True)]
        self.zk.create(self.p("ro"), b"v", acl=acl)
        acls, _ = self.zk.get_acls(self.p("ro"))
        self.assertEqual(
            sorted((a.id.scheme, a.perms) for a in acls), [("digest", 31), ("world", 1)]
        )
        stranger = client()
        try:
            self.assertEqual(stranger.get(self.p("ro"))[0], b"v")
            with self.assertRaises(NoAuthError):
                stranger.set(self.p("ro"), b"x")
            with self.assertRaises(NoAuthError):
                stranger.delete(self.p("ro/none"))
            # Without ADMIN, getACL shows a digest id's user, not its hash.
            acls, _ = stranger.get_acls(self.p("ro"))
            self.assertIn("owner:x", [a.id.id for a in acls])
        finally:
            stranger.stop()
        self.zk.set(self.p("ro"), b"w")

    def test_set_acls_checks_the_acl_version_and_admin(self):
        self.zk.create(self.p("v"))
        stat = self.zk.set_acls(self.p("v"), [make_acl("world", "anyone", read=True, admin=True)], version=0)
        self.assertEqual(stat.aversion, 1)
        with self.assertRaises(BadVersionError):
            self.zk.set_acls(self.p("v"), OPEN_ACL_UNSAFE, version=0)
        self.zk.set_acls(self.p("v"), [make_acl("world", "anyone", read=True)], version=1)
        with self.assertRaises(NoAuthError):
            self.zk.set_acls(self.p("v"), OPEN_ACL_UNSAFE)

    def test_an_auth_acl_without_an_identity_is_invalid(self):
        with self.assertRaises(InvalidACLError):
            self.zk.create(self.p("bad"), acl=[make_acl("auth", "", all=True)])
        with self.assertRaises(InvalidACLError):
            self.zk.create(self.p("bad"), acl=[make_acl("nosuchscheme", "x", all=True)])


class FourLetterWords(unittest.TestCase):
    def test_every_word_answers_and_the_version_reads_as_3_8(self):
        zk = client()
        try:
            self.assertEqual(zk.server_version()[:2], (3, 8), "kazoo reads envi")
            zk.create("/wchs-e", b"x", ephemeral=True)
            zk.exists("/wchs-e", watch=lambda e: None)
            port = int(zk._connection._socket.getpeername()[1])
            session = "0x%x" % zk.client_id[0]
            self.assertIn(session, four_letter(port, "wchc"))
            self.assertIn(f"/wchs-e\n\t{session}", four_letter(port, "wchp"))
            self.assertIn(f"{session}:\n\t/wchs-e", four_letter(port, "dump"))
            self.assertIn(f"sid={session}", four_letter(port, "cons"))
            self.assertIn("watching", four_letter(port, "wchs"))
            self.assertEqual(four_letter(port, "isro"), "rw")
            self.assertIn(f"clientPort={port}", four_letter(port, "conf"))
            self.assertIn("datadir_size: ", four_letter(port, "dirs"))
            mntr = dict(l.split("\t", 1) for l in four_letter(port, "mntr").splitlines())
            self.assertGreaterEqual(int(mntr["zk_ephemerals_count"]), 1)
            self.assertGreaterEqual(int(mntr["zk_watch_count"]), 1)
            leader = [i for i in (1, 2, 3) if ENSEMBLE.mode(i) == "leader"][0]
            lm = dict(l.split("\t", 1) for l in four_letter(ENSEMBLE.port(leader), "mntr").splitlines())
            self.assertEqual((lm["zk_followers"], lm["zk_synced_followers"]), ("2", "2"))
        finally:
            zk.stop()

    def test_ruok_srvr_stat_mntr(self):
        port = ENSEMBLE.port(1)
        self.assertEqual(four_letter(port, "ruok"), "imok")
        self.assertIn("Mode: ", four_letter(port, "srvr"))
        self.assertIn("Clients:", four_letter(port, "stat"))
        self.assertIn("zk_server_state", four_letter(port, "mntr"))
        modes = sorted(ENSEMBLE.mode(i) for i in (1, 2, 3))
        self.assertEqual(modes, ["follower", "follower", "leader"])


class Failover(unittest.TestCase):
    """Kills the session's server mid-session, then starts it again."""

    def test_a_session_survives_the_loss_of_its_server_and_leader(self):
        # The session's server is the leader: killing it is a failover and
        # a leader change at once.
        modes = {i: ENSEMBLE.mode(i) for i in (1, 2, 3)}
        leader = next(i for i, m in modes.items() if m == "leader")
        order = [leader] + [i for i in (1, 2, 3) if i != leader]
        hosts = ",".join(f"127.0.0.1:{ENSEMBLE.port(i)}" for i in order)
        zk = client(hosts=hosts, randomize_hosts=False)
        try:
            session = zk.client_id
            zk.create("/failover-eph", b"mine", ephemeral=True)
            zk.create("/failover", b"0")
            host, port = zk._connection._socket.getpeername()
            victim = port - ENSEMBLE.base
            self.assertEqual(victim, leader)
            lost = threading.Event()
            zk.add_listener(lambda state: lost.set() if state == "SUSPENDED" else None)
            ENSEMBLE.kill(victim)
            self.assertTrue(lost.wait(15), "kazoo never noticed the server go")
            # The next call waits for the reconnect to another server.
            zk.set("/failover", b"1")
            self.assertEqual(zk.client_id, session, "same session, same password")
            self.assertNotEqual(zk._connection._socket.getpeername()[1], port)
            new_modes = [ENSEMBLE.mode(i) for i in order[1:]]
            self.assertIn("leader", new_modes, "another server leads")
            self.assertEqual(zk.get("/failover-eph")[0], b"mine")
            # Requests keep their order after the reconnect (kazoo's xids
            # restarted at 1 on the new connection).
            for i in range(20):
                zk.set("/failover", str(i).encode())
            self.assertEqual(zk.get("/failover")[0], b"19")
        finally:
            zk.stop()
            zk.close()
            ENSEMBLE.start_one(victim)
            ENSEMBLE.wait_serving(only=[victim])
        zk2 = client()
        try:
            self.assertIsNone(zk2.exists("/failover-eph"))
        finally:
            zk2.stop()

    def test_watches_survive_failover_through_set_watches(self):
        """Kazoo 2.8 never sends SetWatches; ZooKeeper's Java client does.
        A raw client does what it does: set watches on one server, lose
        it, resume the session on another and send SetWatches."""
        # A follower goes; the writer stays on the leader, so only the raw
        # client loses its server.
        modes = {i: ENSEMBLE.mode(i) for i in (1, 2, 3)}
        leader = next(i for i, m in modes.items() if m == "leader")
        victim = next(i for i, m in modes.items() if m == "follower")
        survivor = next(i for i in (1, 2, 3) if i not in (leader, victim))
        zk = client(hosts=f"127.0.0.1:{ENSEMBLE.port(leader)}")
        zk.create("/sw-data", b"0")
        raw = Raw(ENSEMBLE.port(victim))
        try:
            _, err, _ = raw.exists("/sw-created", watch=True)
            self.assertEqual(err, -101, "exists on a missing node: NoNode, watch set")
            seen, err, _ = raw.exists("/sw-data", watch=True)
            self.assertEqual(err, 0)
        finally:
            raw.close()
        ENSEMBLE.kill(victim)
        try:
            zk.set("/sw-data", b"changed while the client was away")
            # A server behind the client's last zxid refuses it (it closes
            # the connection): a client tries again, as this one does.
            for _ in range(50):
                try:
                    moved = Raw(ENSEMBLE.port(survivor), raw.session, raw.passwd, last_zxid=seen)
                    break
                except ConnectionError:
                    time.sleep(0.1)
            try:
                self.assertEqual(moved.session, raw.session, "the session resumed")
                _, err, _ = moved.set_watches(seen, data=["/sw-data"], exist=["/sw-created"])
                self.assertEqual(err, 0)
                # The change it missed fires at once; the watch not yet
                # triggered is armed again.
                self.assertEqual(moved.next_event(), (3, "/sw-data"))
                zk.create("/sw-created")
                self.assertEqual(moved.next_event(), (1, "/sw-created"))
            finally:
                moved.close()
        finally:
            zk.stop()
            zk.close()
            ENSEMBLE.start_one(victim)
            ENSEMBLE.wait_serving(only=[victim])


class Limits(unittest.TestCase):
    def test_max_client_cnxns_per_address(self):
        with Ensemble("zkstorm", n=1, base=26180, extra=["maxClientCnxns=2"]) as one:
            a, b = Raw(one.port(1)), Raw(one.port(1))
            try:
                third = socket.create_connection(("127.0.0.1", one.port(1)), timeout=5)
                self.assertEqual(third.recv(16), b"", "the third is closed at once")
                third.close()
                a.close()
                time.sleep(0.5)
                c = Raw(one.port(1))  # a closed connection freed its place
                _, err, _ = c.exists("/", watch=False)
                self.assertEqual(err, 0)
                c.close()
            finally:
                a.close()
                b.close()


class Sessions(unittest.TestCase):
    def test_a_ping_is_answered_with_the_servers_zxid(self):
        raw = Raw(ENSEMBLE.port(2))
        try:
            raw.send(struct.pack(">ii", -2, 11))  # xid -2, opcode ping
            zxid, err, _ = raw.reply(-2)
            self.assertEqual(err, 0)
            self.assertGreater(zxid, 0)
        finally:
            raw.close()

    def test_a_closed_session_or_a_wrong_password_is_answered_as_expired(self):
        zk = client()
        session, passwd = zk.client_id
        zk.stop()  # closes the session
        zk.close()
        gone = Raw(ENSEMBLE.port(1), session, passwd)
        self.assertEqual((gone.timeout_ms, gone.session), (0, 0), "ZooKeeper's expired answer")
        self.assertEqual(gone.sock.recv(16), b"", "then the connection closes")
        gone.close()
        live = client()
        try:
            session, passwd = live.client_id
            wrong = bytes(b ^ 0xFF for b in passwd)
            refused = Raw(ENSEMBLE.port(2), session, wrong)
            self.assertEqual((refused.timeout_ms, refused.session), (0, 0))
            refused.close()
            right = Raw(ENSEMBLE.port(2), session, passwd)
            self.assertEqual(right.session, session, "the right password resumes it")
            self.assertGreater(right.timeout_ms, 0)
            right.close()
        finally:
            live.stop()

    def test_a_session_closed_by_another_client_ends_its_connection_without_a_frame(self):
        # B resumes A's session on another server and closes it: A's
        # connection must end with nothing sent (ZooKeeper's way), not a
        # second ConnectResponse that kazoo reads as a reply to no request.
        a = client(hosts=f"127.0.0.1:{ENSEMBLE.port(1)}")
        states = []
        a.add_listener(states.append)
        session, passwd = a.client_id
        b = KazooClient(hosts=f"127.0.0.1:{ENSEMBLE.port(2)}", client_id=(session, passwd))
        b.start(timeout=15)
        b.stop()
        b.close()
        deadline = time.time() + 15
        while "LOST" not in states and time.time() < deadline:
            time.sleep(0.1)
        self.assertIn("LOST", states, "A hears its session expired")
        routine = a._connection._connection_routine
        self.assertTrue(routine is not None and routine.is_alive(), "A's connection loop lives on")
        a.stop()
        a.close()

    def test_sigterm_stops_a_server_and_nothing_acknowledged_is_lost(self):
        with Ensemble("zkstorm", n=1, base=26280) as one:
            zk = client(hosts=one.hosts)
            for i in range(50):
                zk.create(f"/kept-{i}", str(i).encode())
            zk.stop()
            proc = one.procs[1]
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(timeout=10), 0, "a clean exit")
            self.assertIn("SIGTERM: stopping", one.logs())
            one.start_one(1)
            one.wait_serving(only=[1])
            zk = client(hosts=one.hosts)
            try:
                self.assertEqual(zk.get("/kept-49")[0], b"49")
                self.assertEqual(len([c for c in zk.get_children("/") if c.startswith("kept-")]), 50)
            finally:
                zk.stop()


class BadFrames(unittest.TestCase):
    def test_a_frame_over_jute_maxbuffer_closes_the_connection(self):
        raw = Raw(ENSEMBLE.port(2))
        try:
            raw.sock.sendall(struct.pack(">i", 0xFFFFF + 1))
            self.assertEqual(raw.sock.recv(16), b"", "closed without a reply")
        finally:
            raw.close()
        # Up to the limit a frame is read (this one is a valid setData).
        zk = client()
        try:
            zk.create("/big", b"")
            zk.set("/big", b"x" * (0xFFFFF - 200))
            self.assertEqual(len(zk.get("/big")[0]), 0xFFFFF - 200)
        finally:
            zk.stop()

    def test_a_malformed_request_closes_only_its_connection(self):
        raw = Raw(ENSEMBLE.port(1))
        try:
            raw.send(struct.pack(">ii", 1, 4) + b"\x00\x00")  # getData, truncated path
            self.assertEqual(raw.sock.recv(16), b"")
        finally:
            raw.close()
        zk = client()
        try:
            self.assertIsNotNone(zk.exists("/"))
        finally:
            zk.stop()

    def test_an_unknown_opcode_is_unimplemented(self):
        raw = Raw(ENSEMBLE.port(1))
        try:
            _, err, _ = raw.request(999, b"")
            self.assertEqual(err, -6)
            _, err, _ = raw.exists("/", watch=False)
            self.assertEqual(err, 0, "the connection goes on")
        finally:
            raw.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)

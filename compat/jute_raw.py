"""A minimal ZooKeeper-protocol client on a raw socket, for what kazoo does
not do: SetWatches after a reconnect (Debian's kazoo 2.8 never sends it)
and frames no well-behaved client sends. Written from ZooKeeper's jute
layouts; only the records the tests need."""

import socket
import struct

CREATE, EXISTS, GET_DATA, SET_WATCHES = 1, 3, 4, 101
XID_NOTIFICATION, XID_SET_WATCHES = -1, -8


def _string(s):
    b = s.encode()
    return struct.pack(">i", len(b)) + b


def _buffer(b):
    return struct.pack(">i", len(b)) + b


def _strings(items):
    return struct.pack(">i", len(items)) + b"".join(_string(s) for s in items)


class Raw:
    def __init__(self, port, session=0, passwd=b"\0" * 16, last_zxid=0, timeout_ms=10000):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.xid = 0
        self.events = []
        body = (
            struct.pack(">iqiq", 0, last_zxid, timeout_ms, session)
            + _buffer(passwd)
            + b"\0"  # readOnly
        )
        self.send(body)
        resp = self.recv()
        _proto, self.timeout_ms, self.session = struct.unpack(">iiq", resp[:16])
        (plen,) = struct.unpack(">i", resp[16:20])
        self.passwd = resp[20 : 20 + plen]

    def send(self, body):
        self.sock.sendall(struct.pack(">i", len(body)) + body)

    def recv_exact(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("closed by the server")
            out += chunk
        return out

    def recv(self):
        (n,) = struct.unpack(">i", self.recv_exact(4))
        return self.recv_exact(n)

    def reply(self, xid):
        """The reply to `xid` as (zxid, err, body); notifications on the
        way are kept in `events` as (type, path)."""
        while True:
            frame = self.recv()
            rxid, zxid, err = struct.unpack(">iqi", frame[:16])
            if rxid == XID_NOTIFICATION:
                etype, _state, plen = struct.unpack(">iii", frame[16:28])
                self.events.append((etype, frame[28 : 28 + plen].decode()))
                continue
            if rxid == xid:
                return zxid, err, frame[16:]

    def request(self, opcode, body):
        self.xid += 1
        self.send(struct.pack(">ii", self.xid, opcode) + body)
        return self.reply(self.xid)

    def exists(self, path, watch):
        return self.request(EXISTS, _string(path) + (b"\1" if watch else b"\0"))

    def set_watches(self, relative_zxid, data=(), exist=(), child=()):
        body = struct.pack(">q", relative_zxid) + _strings(data) + _strings(exist) + _strings(child)
        self.send(struct.pack(">ii", XID_SET_WATCHES, SET_WATCHES) + body)
        return self.reply(XID_SET_WATCHES)

    def next_event(self):
        """Wait for a notification (type, path)."""
        while not self.events:
            frame = self.recv()
            rxid = struct.unpack(">i", frame[:4])[0]
            if rxid == XID_NOTIFICATION:
                etype, _state, plen = struct.unpack(">iii", frame[16:28])
                self.events.append((etype, frame[28 : 28 + plen].decode()))
        return self.events.pop(0)

    def close(self):
        self.sock.close()

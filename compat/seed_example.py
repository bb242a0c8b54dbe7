"""The seed document's example, with kazoo: create an ephemeral /data, read
it back and print it. Usage: seed_example.py [hosts] (default localhost:2181)."""

import sys

from kazoo.client import KazooClient

zk = KazooClient(hosts=sys.argv[1] if len(sys.argv) > 1 else "localhost:2181")
zk.start()

zk.create("/data", b"data", ephemeral=True)

data = zk.get("/data")

print(data)
zk.stop()

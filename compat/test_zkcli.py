"""ZooKeeper's own shell, zkCli (Debian's `zookeeper` package), scripted
against a 3-server zkstorm ensemble: create, ls, get, set, stat, getAcl,
delete, as a user types them.

    python3 compat/test_zkcli.py
"""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ensemble import ZK_JAR, Ensemble  # noqa: E402

SCRIPT = """\
create /zkcli hello
create /zkcli/kid
create -e -s /zkcli/eph- x
ls /zkcli
get /zkcli
set /zkcli world
get -s /zkcli
getAcl /zkcli
delete /zkcli/kid
ls /zkcli
quit
"""


def zkcli(hosts, script):
    cmd = ["java", "-cp", ZK_JAR, "org.apache.zookeeper.ZooKeeperMain", "-server", hosts]
    # zkCli prints "Created ..." on stderr, the rest on stdout.
    out = subprocess.run(
        cmd,
        input=script,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )
    return out.returncode, out.stdout


class ZkCli(unittest.TestCase):
    def test_a_scripted_session(self):
        with Ensemble("zkstorm", n=3, base=23180) as ens:
            code, out = zkcli(ens.hosts, SCRIPT)
        self.assertEqual(code, 0, out)
        lines = [l.strip() for l in out.splitlines() if l.strip()]
        for want in [
            "Created /zkcli",
            "Created /zkcli/kid",
            "Created /zkcli/eph-0000000001",
            "[eph-0000000001, kid]",
            "hello",
            "world",
            "dataVersion = 1",
            "numChildren = 2",
            "'world,'anyone",
            ": cdrwa",
            "[eph-0000000001]",
        ]:
            self.assertIn(want, lines, out)
        self.assertNotIn("Exception", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)

"""smtpprobe against bannerd: the injected banner delay seen from the
client side, give-up/retries ending in ndr, and --source giving bannerd
distinct peers. Skips itself when build/bin/bannerd is missing or does not
start. Stdlib only; bannerd is stopped by PID even when a test fails."""
import csv
import json
import os
import shutil
import re
import socket
import subprocess
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("BUILD", "build")
PROBE = os.path.join(ROOT, BUILD, "bin", "smtpprobe")
BANNERD = os.path.join(ROOT, BUILD, "bin", "bannerd")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    return None


@unittest.skipUnless(os.access(PROBE, os.X_OK), "smtpprobe not built")
class TestSmtpprobeBannerd(unittest.TestCase):
    def setUp(self):
        self.assertTrue(os.access(BANNERD, os.X_OK), "bannerd not built")
        self.dir = tempfile.mkdtemp(prefix="smtpprobe-bannerd-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.log = os.path.join(self.dir, "stderr")
        self.port = free_port()
        with open(self.log, "w") as err:
            self.proc = subprocess.Popen(
                [BANNERD, "-f", "-o", "listen.address=127.0.0.1:%d" % self.port,
                 "-o", "banner.delay=300ms", "-o", "log.protocol_log=minimum",
                 # tests talk to loopback only: no lookups at the system's DNS
                 "-o", "rdns.enabled=off"],
                stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT)
        self.addCleanup(self._stop)
        if not wait_for(lambda: "listening on 127.0.0.1:%d" % self.port in self._text()
                        or self.proc.poll() is not None, 5) or self.proc.poll() is not None:
            self.fail("bannerd did not start: %s" % self._text()[-300:])

    def _text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def _stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def probe(self, *args):
        r = subprocess.run([PROBE, "-q", "--json", "-"] + [str(a) for a in args]
                           + ["127.0.0.1:%d" % self.port],
                           capture_output=True, text=True, timeout=30, cwd=ROOT)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def test_banner_delay(self):
        j = self.probe("-n", 10, "-c", 5)
        self.assertEqual(j["outcome"]["ok"], 10)
        self.assertGreaterEqual(j["banner"]["p50"], 250000)
        self.assertLessEqual(j["banner"]["p50"], 1000000)
        self.assertLess(j["connect"]["p50"], 100000)

    def test_give_up_retries_ndr(self):
        path = os.path.join(self.dir, "tries.csv")
        j = self.probe("-n", 4, "-c", 4, "--give-up", "100ms", "--retries", 2,
                       "--retry-after", "50ms", "--csv", path)
        self.assertEqual(j["outcome"]["ndr"], 4)
        with open(path) as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(len(rows), 12)
        for a in range(1, 5):
            self.assertEqual(sorted(int(r["try"]) for r in rows if int(r["attempt"]) == a), [1, 2, 3])

    def test_source_distinct_peers(self):
        j = self.probe("-n", 14, "-c", 7, "--source", "127.0.1.0/28")
        self.assertEqual(j["outcome"]["ok"], 14)
        want = {"127.0.1.%d" % i for i in range(1, 15)}
        seen = wait_for(lambda: want <= set(re.findall(r"peer=\[?(127\.0\.1\.\d+)\]?:\d+", self._text()))
                        and want, 5)
        self.assertTrue(seen, "bannerd log lacks some peers: %s" % self._text()[-500:])


if __name__ == "__main__":
    unittest.main()

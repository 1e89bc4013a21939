"""slowrelay, the packet filter on the path: measured from both sides of
it, the server is fast and the client waits (KB Q286375: "perform telnet
tests from both sides of all routers")."""
import os
import re
import signal
import subprocess
import time

from harness import BannerdTest, Conversation, binary, duration_us, tmpdir, wait_for


class Relay:
    def __init__(self, test, upstream, *args):
        self.logpath = os.path.join(tmpdir(test), "slowrelay.log")
        self.log = open(self.logpath, "wb")
        self.proc = subprocess.Popen([binary("slowrelay"), "-l", "127.0.0.1:0", "-u", upstream]
                                     + list(args), stdout=self.log, stderr=self.log)
        test.addCleanup(self.stop)
        m = wait_for(lambda: re.search(r"listening on 127\.0\.0\.1:(\d+)", self.text()), 10,
                     "slowrelay to listen")
        self.port = int(m.group(1))

    def text(self):
        with open(self.logpath, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        self.log.close()
        return self.proc.returncode


class SlowrelayTest(BannerdTest):
    def timed(self, port):
        import socket
        t0 = time.monotonic()
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.addCleanup(s.close)
        c = Conversation(s)
        code, _ = c.reply()
        return code, time.monotonic() - t0, c

    def test_both_sides_of_the_filter(self):
        d = self.start("log.protocol_log=minimum")
        relay = Relay(self, "%s:%d" % (d.host, d.port), "--banner-delay", "500ms")
        code, direct, c = self.timed(d.port)
        self.assertEqual(code, 220)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        code, through, c = self.timed(relay.port)
        self.assertEqual(code, 220)
        self.assertEqual(c.cmd("QUIT")[0], 221)   # the dialogue passes both ways
        self.assertLess(direct, 0.3)
        self.assertTrue(0.45 <= through < 3, through)
        # bannerd's side: both banners went out at once
        for close in d.wait_event("close", count=2):
            self.assertLess(duration_us(close["banner"]), 300000)
        line = wait_for(lambda: re.search(r"released id=1 .*server_first_byte_us=(\d+) "
                                          r"client_first_byte_us=(\d+)", relay.text()), 5, "released")
        self.assertLess(int(line.group(1)), 300000)
        self.assertGreaterEqual(int(line.group(2)), 450000)
        self.assertEqual(relay.stop(), 0)

    def test_server_reply_during_the_hold_is_delivered(self):
        d = self.start()
        relay = Relay(self, "%s:%d" % (d.host, d.port), "--banner-delay", "300ms")
        import socket
        s = socket.create_connection(("127.0.0.1", relay.port), timeout=10)
        self.addCleanup(s.close)
        s.sendall(b"QUIT\r\n")           # the server answers and closes while held
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        self.assertRegex(data, rb"^220 .*\r\n221 ")

    def test_open_connections_at_exit_and_bad_usage(self):
        d = self.start()
        relay = Relay(self, "%s:%d" % (d.host, d.port), "--banner-delay", "5s")
        held = [self.timed_connect(relay.port) for _ in range(3)]
        wait_for(lambda: relay.text().count("accept id=") >= 3, 5, "three connections")
        self.assertEqual(relay.stop(), 0)
        self.assertIn("counts connections=3", relay.text())
        r = subprocess.run([binary("slowrelay"), "-b", "soon", "-u", "127.0.0.1:1"],
                           capture_output=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        r = subprocess.run([binary("slowrelay")], capture_output=True, timeout=10)
        self.assertEqual(r.returncode, 2)

    def timed_connect(self, port):
        import socket
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.addCleanup(s.close)
        return s

"""slowrelay, the packet filter on the path: measured from both sides of
it, the server is fast and the client waits (KB Q286375: "perform telnet
tests from both sides of all routers"). With --inspect it is the PIX or
ASA that inspected SMTP (Mailguard): real clients, real bytes."""
import csv
import glob
import io
import json
import os
import re
import signal
import smtplib
import socket
import stat
import subprocess
import threading
import time

from harness import (SANITIZER_MARKS, BannerdTest, Conversation, binary, control, duration_us, run,
                     tmpdir, wait_for)


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
        # under SANITIZE=1 a report fails the test (-fno-sanitize-recover
        # exits; ASan's leak report only shows here)
        text = self.text()
        if any(mark in text for mark in SANITIZER_MARKS):
            raise AssertionError("slowrelay sanitizer report:\n" + text[-6000:])
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


def masked(line):
    """The PIX 5.1+ rule: all but '2', '0', space, CR and LF become '*'."""
    return bytes(b if b in b"20 \r\n" else ord("*") for b in line)


class TinyServer:
    """A scripted SMTP server for what bannerd does not offer (STARTTLS):
    sends the greeting, answers EHLO with the given lines, 221 to QUIT."""

    def __init__(self, test, greeting, ehlo):
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(4)
        self.port = self.lsock.getsockname()[1]
        self.greeting, self.ehlo = greeting, ehlo
        self.seen = []
        t = threading.Thread(target=self.serve, daemon=True)
        t.start()
        test.addCleanup(self.lsock.close)

    def serve(self):
        try:
            s, _ = self.lsock.accept()
        except OSError:
            return
        with s:
            s.sendall(self.greeting)
            f = s.makefile("rb")
            for line in f:
                self.seen.append(line)
                verb = line[:4].upper()
                if verb == b"EHLO":
                    s.sendall(self.ehlo)
                elif verb == b"QUIT":
                    s.sendall(b"221 bye\r\n")
                    return
                else:
                    s.sendall(b"500 what\r\n")


class InspectTest(BannerdTest):
    def maildir_daemon(self, *extra):
        md = os.path.join(tmpdir(self, "bannerlab-md-"), "md")
        d = self.start("smtp.sink=maildir", "smtp.maildir=" + md, "log.protocol_log=medium",
                       "banner.hostname=mx0.example.test", *extra)
        return d, md

    def connect(self, port):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.addCleanup(s.close)
        return s

    def read_until(self, s, end, timeout=10):
        s.settimeout(timeout)
        data = b""
        while not data.endswith(end):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data

    def test_pix_masks_the_banner_to_the_byte(self):
        d, _ = self.maildir_daemon()
        relay = Relay(self, "%s:%d" % (d.host, d.port), "--inspect", "pix")
        direct = self.read_until(self.connect(d.port), b"\r\n")
        self.assertEqual(direct, b"220 mx0.example.test ESMTP bannerd\r\n")
        through = self.read_until(self.connect(relay.port), b"\r\n")
        self.assertEqual(through, b"220 **0************* ***** *******\r\n")
        self.assertEqual(through, masked(direct))
        wait_for(lambda: "action=banner-masked lines=1 bytes=%d" % len(direct) in relay.text(), 5,
                 "the masked banner logged")

    def test_pix44_masks_everything(self):
        d, _ = self.maildir_daemon()
        relay = Relay(self, "%s:%d" % (d.host, d.port), "--inspect", "pix44")
        through = self.read_until(self.connect(relay.port), b"\r\n")
        self.assertEqual(through, b"*" * 34 + b"\r\n")

    def test_smtplib_falls_back_to_helo_through_a_pix(self):
        d, md = self.maildir_daemon()
        relay = Relay(self, "%s:%d" % (d.host, d.port), "--inspect", "pix")
        body = b"Subject: through the pix\r\n\r\nEHLO in the body passes\r\n"
        with smtplib.SMTP("127.0.0.1", relay.port, local_hostname="client.test", timeout=10) as s:
            code, _ = s.ehlo()
            self.assertEqual(code, 500)      # the X's reached bannerd
            self.assertEqual(s.helo()[0], 250)
            self.assertEqual(s.sendmail("a@example.test", ["b@example.test"], body), {})
        files = wait_for(lambda: glob.glob(os.path.join(md, "new", "*")), 5, "a file in new/")
        with open(files[0], "rb") as f:
            self.assertEqual(f.read(), body)
        lines = [e["line"] for e in d.events("cmd")]
        self.assertIn("X" * len("EHLO client.test"), lines)
        self.assertIn("helo client.test", lines)   # smtplib writes it in lower case
        self.assertIn("action=command-rewritten verb=ehlo", relay.text())

    def test_sendmail_does_the_fallback_itself(self):
        d, md = self.maildir_daemon()
        relay = Relay(self, "%s:%d" % (d.host, d.port), "--inspect", "pix")
        with smtplib.SMTP("127.0.0.1", relay.port, local_hostname="client.test", timeout=10) as s:
            s.sendmail("a@example.test", ["b@example.test"], b"Subject: x\r\n\r\ny\r\n")
            self.assertFalse(s.does_esmtp)
        wait_for(lambda: glob.glob(os.path.join(md, "new", "*")), 5, "a file in new/")

    def test_byte_per_packet_gets_x_per_byte(self):
        d, _ = self.maildir_daemon()
        relay = Relay(self, "%s:%d" % (d.host, d.port), "--inspect", "pix")
        s = self.connect(relay.port)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.read_until(s, b"\r\n")
        for ch in b"VRFY root\r\n":           # a telnet client in character mode
            s.sendall(bytes([ch]))
            time.sleep(0.01)
        self.assertTrue(self.read_until(s, b"\r\n").startswith(b"500 "))
        self.assertIn("XXXXXXXXX", [e["line"] for e in d.events("cmd")])

    def test_swaks_through_an_asa_keeps_esmtp(self):
        d, md = self.maildir_daemon()
        relay = Relay(self, "%s:%d" % (d.host, d.port), "--inspect", "asa")
        r = run(["swaks", "--server", "127.0.0.1", "--port", str(relay.port), "--from", "s@example.test",
                 "--to", "r@example.test", "--helo", "swaks.test", "--body", "through the asa"])
        out = r.stdout.decode()
        self.assertEqual(r.returncode, 0, out + r.stderr.decode())
        self.assertIn("<-  220 **0************* ***** *******", out)
        for ext in ("PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES"):
            self.assertRegex(out, r"<-  250[- ]%s" % ext)
        self.assertNotIn("STARTTLS", out)
        files = wait_for(lambda: glob.glob(os.path.join(md, "new", "*")), 5, "a file in new/")
        with open(files[0], "rb") as f:
            self.assertIn(b"through the asa", f.read())

    def test_asa_removes_starttls_from_the_ehlo_reply(self):
        ehlo = b"250-tiny.test\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
        srv = TinyServer(self, b"220 tiny.test ESMTP\r\n", ehlo)
        relay = Relay(self, "127.0.0.1:%d" % srv.port, "--inspect", "asa")
        s = self.connect(relay.port)
        self.assertEqual(self.read_until(s, b"\r\n"), b"220 ********* *****\r\n")
        s.sendall(b"EHLO c.test\r\n")
        got = self.read_until(s, b"250 8BITMIME\r\n")
        self.assertEqual(got, b"250-tiny.test\r\n250-PIPELINING\r\n250-XXXXXXXX\r\n250 8BITMIME\r\n")
        self.assertEqual(len(got), len(ehlo))
        s.sendall(b"STARTTLS\r\n")           # not an allowed command either
        self.assertEqual(self.read_until(s, b"\r\n"), b"500 what\r\n")
        s.sendall(b"QUIT\r\n")
        self.assertEqual(self.read_until(s, b"\r\n"), b"221 bye\r\n")
        self.assertEqual(srv.seen, [b"EHLO c.test\r\n", b"XXXXXXXX\r\n", b"QUIT\r\n"])
        self.assertIn("action=starttls-removed", relay.text())

    def test_multiline_banner_never_completes(self):
        d, _ = self.maildir_daemon("banner.text=ESMTP lab\\nlab use only")
        direct = self.read_until(self.connect(d.port), b"220 lab use only\r\n")
        self.assertEqual(direct, b"220-mx0.example.test ESMTP lab\r\n220 lab use only\r\n")
        relay = Relay(self, "%s:%d" % (d.host, d.port), "--inspect", "pix")
        s = self.connect(relay.port)
        # a client waiting for the final "220 " line (as Postfix does, skipping
        # lines that are not replies) waits until its greeting timeout
        s.settimeout(1.5)
        data = b""
        with self.assertRaises(socket.timeout):
            while not re.search(rb"(^|\n)\d{3} ", data):
                chunk = s.recv(4096)
                self.assertTrue(chunk, "connection closed: %r" % data)
                data += chunk
        self.assertEqual(data, b"220-**0************* ***** ***\r\n" + b"*" * 16 + b"\r\n")

    def test_asa_drops_long_line_and_many_recipients(self):
        d, _ = self.maildir_daemon()
        relay = Relay(self, "%s:%d" % (d.host, d.port), "--inspect", "asa")
        c = Conversation(self.connect(relay.port))
        c.sock.settimeout(10)
        self.read_until(c.sock, b"\r\n")
        self.assertEqual(c.cmd("NOOP " + "a" * 505)[0], 250)   # 512 with its CRLF
        c.send("NOOP " + "a" * 506 + "\r\n")
        self.assertTrue(c.closed())
        wait_for(lambda: "action=dropped reason=command-line-over-512" in relay.text(), 5, "drop logged")
        c = Conversation(self.connect(relay.port))
        self.read_until(c.sock, b"\r\n")
        self.assertEqual(c.cmd("HELO c.test")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<a@example.test>")[0], 250)
        for i in range(100):
            self.assertIn(c.cmd("RCPT TO:<r%d@example.test>" % i)[0], (250, 452))
        c.send("RCPT TO:<one-more@example.test>\r\n")
        self.assertTrue(c.closed())
        wait_for(lambda: "action=dropped reason=rcpt-count-over-100" in relay.text(), 5, "drop logged")
        self.assertEqual(relay.stop(), 0)
        self.assertIn("counts connections=2 open=0 upstream_failures=0 inspect_drops=2", relay.text())

    def test_bad_inspect_mode(self):
        r = subprocess.run([binary("slowrelay"), "-u", "127.0.0.1:1", "--inspect", "checkpoint"],
                           capture_output=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"--inspect", r.stderr)


class ControlTest(BannerdTest):
    """--control PATH: the hold and the inspection change while the relay runs."""

    def relay(self, d, *args):
        self.sock = os.path.join(tmpdir(self), "relay.sock")
        return Relay(self, "%s:%d" % (d.host, d.port), "--control", self.sock, *args)

    def banner(self, port):
        t0 = time.monotonic()
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.addCleanup(s.close)
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data, time.monotonic() - t0

    def test_banner_delay_live_then_unset(self):
        d = self.start("banner.hostname=mx0.example.test")
        relay = self.relay(d)
        self.assertEqual(stat.S_IMODE(os.stat(self.sock).st_mode), 0o600)
        _, fast = self.banner(relay.port)
        self.assertLess(fast, 0.3)
        self.assertEqual(control(self.sock, "set banner-delay=500ms"), ([], "OK"))
        data, slow = self.banner(relay.port)
        self.assertTrue(data.startswith(b"220 mx0.example.test"), data)
        self.assertTrue(0.45 <= slow < 3, slow)
        self.assertRegex(relay.text(), r"slowrelay: control: set banner-delay=500ms "
                                       r"\(from socket uid=%d pid=\d+\)\n" % os.getuid())
        self.assertEqual(control(self.sock, "show banner-delay"),
                         (["banner-delay=500.0ms # from set"], "OK"))
        self.assertEqual(control(self.sock, "unset banner-delay"), ([], "OK"))
        _, fast = self.banner(relay.port)
        self.assertLess(fast, 0.3)
        self.assertEqual(control(self.sock, "show banner-delay"),
                         (["banner-delay=0 # from command line"], "OK"))

    def test_inspection_live_applies_to_new_connections(self):
        d = self.start("banner.hostname=mx0.example.test")
        relay = self.relay(d, "--banner-delay", "600ms")
        # accepted before the change: it keeps its hold and no inspection
        t0 = time.monotonic()
        old = socket.create_connection(("127.0.0.1", relay.port), timeout=10)
        self.addCleanup(old.close)
        wait_for(lambda: "accept id=1 " in relay.text(), 5, "the first connection")
        self.assertEqual(control(self.sock, "set inspect=pix banner-delay=0"), ([], "OK"))
        new, fast = self.banner(relay.port)
        self.assertEqual(new, b"220 **0************* ***** *******\r\n")
        self.assertLess(fast, 0.3)
        data = b""
        while not data.endswith(b"\r\n"):
            data += old.recv(4096)
        self.assertTrue(0.55 <= time.monotonic() - t0 < 3)
        self.assertEqual(data, b"220 mx0.example.test ESMTP bannerd\r\n")
        body, last = control(self.sock, "stats")
        self.assertEqual(last, "OK")
        self.assertRegex(body[0], r"^connections=2 open=\d+ upstream_failures=0 inspect_drops=0$")

    def test_bad_value_changes_nothing(self):
        d = self.start()
        relay = self.relay(d, "--banner-delay", "200ms")
        before = control(self.sock, "show")
        self.assertEqual(len(before[0]), 5)
        self.assertIn("listen=127.0.0.1:%d # from command line, restart needed to change" % relay.port,
                      before[0])
        for line, why in [("set inspect=asa banner-delay=8", 'banner-delay: "8" needs a unit'),
                          ("set inspect=checkpoint", 'inspect: pix, pix44, asa or off, not "checkpoint"'),
                          ("set upstream=127.0.0.1:1", "upstream: restart needed"),
                          ("set quiet", "'quiet': expected NAME=VALUE")]:
            with self.subTest(line=line):
                body, last = control(self.sock, line)
                self.assertEqual(body, [])
                self.assertTrue(last.startswith("ERR " + why), last)
                self.assertIn("slowrelay: control: rejected: %s (from socket" % line, relay.text())
        self.assertEqual(control(self.sock, "show"), before)
        data, t = self.banner(relay.port)
        self.assertTrue(data.startswith(b"220 "), data)       # not inspected
        self.assertTrue(0.15 <= t < 3, t)

    def test_bannerctl_drives_it(self):
        d = self.start("banner.hostname=mx0.example.test")
        relay = self.relay(d)
        ctl = [binary("bannerctl"), "-s", self.sock]
        r = run(ctl + ["set", "banner-delay=500ms", "inspect=pix"], timeout=10)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, b"", b""))
        data, slow = self.banner(relay.port)
        self.assertEqual(data, b"220 **0************* ***** *******\r\n")
        self.assertTrue(0.45 <= slow < 3, slow)
        r = run(ctl + ["set", "inspect=fw1"], timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, b'bannerctl: inspect: pix, pix44, asa or off, not "fw1"\n')
        r = run(ctl + ["unset", "banner-delay", "inspect"], timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        data, fast = self.banner(relay.port)
        self.assertEqual(data, b"220 mx0.example.test ESMTP bannerd\r\n")
        self.assertLess(fast, 0.3)
        r = run(ctl + ["stats"], timeout=10)
        self.assertRegex(r.stdout, rb"^connections=2 open=\d+ upstream_failures=0 inspect_drops=0\n$")

    def test_stale_socket_replaced(self):
        d = self.start()
        path = os.path.join(tmpdir(self), "relay.sock")
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(path)
        stale.close()
        relay = Relay(self, "%s:%d" % (d.host, d.port), "--control", path)
        self.assertEqual(control(path, "show quiet"), (["quiet=off # from command line"], "OK"))
        r = subprocess.run([binary("slowrelay"), "-l", "127.0.0.1:0", "-u", "127.0.0.1:1",
                            "--control", path], capture_output=True, timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"another process is listening", r.stderr)
        self.assertEqual(relay.stop(), 0)
        self.assertFalse(os.path.exists(path))


class ProbeThroughInspectTest(BannerdTest):
    """smtpprobe names what the firewall did: the masked banner, EHLO
    refused and the HELO fallback, the extensions overwritten."""
    maildir_daemon = InspectTest.maildir_daemon

    def probe(self, port, *args):
        r = subprocess.run([binary("smtpprobe")] + list(args) + ["127.0.0.1:%d" % port],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_banner_mode_reports_the_masked_banner(self):
        d, _ = self.maildir_daemon()
        relay = Relay(self, "%s:%d" % (d.host, d.port), "--inspect", "pix")
        j = json.loads(self.probe(relay.port, "-q", "-n", "3", "--json", "-"))
        self.assertEqual((j["outcome"]["ok"], j["banner_masked"], j["ehlo_refused"]), (3, 3, 0))
        self.assertIn("banner masked: 3 of 3 tries", self.probe(relay.port, "-n", "3"))
        rows = list(csv.DictReader(io.StringIO(self.probe(relay.port, "-q", "-n", "2", "--csv", "-"))))
        self.assertEqual([r["banner_masked"] for r in rows], ["1", "1"])
        j = json.loads(self.probe(d.port, "-q", "-n", "2", "--json", "-"))   # direct: not masked
        self.assertEqual(j["banner_masked"], 0)

    def test_session_falls_back_to_helo_through_a_pix(self):
        d, md = self.maildir_daemon()
        relay = Relay(self, "%s:%d" % (d.host, d.port), "--inspect", "pix")
        out = self.probe(relay.port, "-m", "session", "-n", "2")
        self.assertIn("EHLO refused, fell back to HELO: 2 tries", out)
        j = json.loads(self.probe(relay.port, "-q", "-m", "session", "-n", "2", "--json", "-"))
        self.assertEqual((j["outcome"]["ok"], j["ehlo_refused"], j["banner_masked"]), (2, 2, 2))
        self.assertEqual(len(glob.glob(os.path.join(md, "new", "*"))), 4)
        self.assertEqual(sum(1 for e in d.events("cmd") if e["line"].startswith("HELO")), 4)
        rows = list(csv.DictReader(io.StringIO(
            self.probe(relay.port, "-q", "-m", "session", "-n", "1", "--csv", "-"))))
        self.assertEqual((rows[0]["ehlo_refused"], rows[0]["outcome"]), ("1", "ok"))

    def test_session_through_an_asa_names_the_masked_extension(self):
        ehlo = b"250-tiny.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
        srv = TinyServer(self, b"220 tiny.test ESMTP\r\n", ehlo)
        relay = Relay(self, "127.0.0.1:%d" % srv.port, "--inspect", "asa")
        rows = list(csv.DictReader(io.StringIO(
            self.probe(relay.port, "-q", "-m", "session", "-n", "1", "--csv", "-"))))
        # the tiny server refuses MAIL: what matters is what EHLO left
        self.assertEqual((rows[0]["banner_masked"], rows[0]["ehlo_refused"], rows[0]["masked_extensions"]),
                         ("1", "0", "1"))

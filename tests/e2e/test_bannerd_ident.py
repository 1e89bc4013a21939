"""The ident stage (RFC 1413) against a real TCP ident server in this
process: what each reply does to the banner, the log and the metrics; a
silent server costs ident.timeout and no more, a closed port nothing; a
hostile reply is bounded, escaped and not trusted; the lookup and the
ident query run at once."""
import socket
import threading
import time

from harness import (BannerdTest, Conversation, Slowdns, binary, duration_us, prom_value, run, scrape,
                     wait_for)


class IdentServer:
    """An ident server on a free loopback port. reply(client_port,
    server_port) -> bytes to send (None: say nothing and hold the
    connection). Records each query it got."""

    def __init__(self, test, reply):
        self.reply = reply
        self.queries = []
        self.held = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()
        test.addCleanup(self.stop)

    def serve(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.one, args=(c,), daemon=True).start()

    def one(self, c):
        q = b""
        c.settimeout(10)
        try:
            while b"\n" not in q and len(q) < 100:
                d = c.recv(100)
                if not d:
                    return
                q += d
        except OSError:
            return
        self.queries.append(q)
        a, b = [int(x) for x in q.decode().strip().split(",")]
        out = self.reply(a, b)
        if out is None:
            self.held.append(c)
            return
        try:
            c.sendall(out)
        finally:
            c.close()

    def stop(self):
        self.stopping = True
        self.sock.close()
        for c in self.held:
            c.close()


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class IdentTest(BannerdTest):
    def daemon(self, port, *extra, **kw):
        return self.start("ident.enabled=on", "ident.port=%d" % port, "rdns.enabled=off",
                          "log.protocol_log=minimum", *extra, **kw)

    def banner(self, d):
        t0 = time.monotonic()
        c = Conversation(d.connect())
        code, lines = c.reply(timeout=20)
        self.assertEqual(code, 220, lines)
        return c, time.monotonic() - t0

    def test_userid_is_logged_escaped_with_the_query_of_this_connection(self):
        ident = IdentServer(self, lambda a, b: b"%d , %d : USERID : UNIX : al\x1bice\r\n" % (a, b))
        d = self.daemon(ident.port, "metrics.listen=127.0.0.1:0", "ident.timeout=5s")
        c, _ = self.banner(d)
        client_port = c.sock.getsockname()[1]
        c.cmd("QUIT")
        # RFC 1413: their port first, then ours
        self.assertEqual(ident.queries, [b"%d , %d\r\n" % (client_port, d.port)])
        r = d.wait_event("ident")[0]
        self.assertEqual((r["result"], r["user"], r["opsys"]), ("ok", "al\x1bice", "UNIX"))
        self.assertIn('user="al\\x1bice"', d.log_text())	# the escape byte never raw in the log
        close = d.wait_event("close")[0]
        self.assertEqual(close["ident_result"], "ok")
        self.assertIn("ident", close)
        m = scrape("http://%s/metrics" % d.wait_log(r"metrics on http://(\S+)/metrics")[0].group(1))
        self.assertEqual(prom_value(m, "bannerd_ident_total", result="ok"), 1)
        self.assertEqual(prom_value(m, "bannerd_ident_total", result="timeout"), 0)
        self.assertEqual(prom_value(m, "bannerd_stage_seconds_count", stage="ident"), 1)

    def test_silent_server_costs_the_timeout_and_no_more(self):
        ident = IdentServer(self, lambda a, b: None)
        d = self.daemon(ident.port, "ident.timeout=300ms")
        c, elapsed = self.banner(d)
        self.assertTrue(0.25 <= elapsed < 3, elapsed)
        c.cmd("QUIT")
        self.assertEqual(d.wait_event("ident")[0]["result"], "timeout")
        close = d.wait_event("close")[0]
        self.assertEqual(close["ident_result"], "timeout")
        self.assertGreaterEqual(duration_us(close["ident"]), 250000)
        self.assertEqual(close["rdns"], "-")

    def test_closed_port_is_refused_at_once(self):
        d = self.daemon(closed_port(), "ident.timeout=5s")
        c, elapsed = self.banner(d)
        self.assertLess(elapsed, 2.5)
        c.cmd("QUIT")
        self.assertEqual(d.wait_event("ident")[0]["result"], "refused")

    def test_hostile_replies_are_bounded_and_not_trusted(self):
        cases = [
            (lambda a, b: b"%d , %d : USERID : UNIX : mallory\r\n" % (a + 1, b), "bad",
             "the ports of another connection"),
            (lambda a, b: b"x" * 5000, "bad", "no line end within 1000 bytes"),
            (lambda a, b: b"%d , %d : USERID : UNIX : " % (a, b) + b"u" * 600 + b"\r\n", "bad",
             "user id over 512 octets"),
            (lambda a, b: b"%d , %d : ERROR : NO-USER\r\n" % (a, b), "error", "NO-USER"),
            (lambda a, b: b"%d , %d : USERID" % (a, b), "bad", "closed without a whole reply line"),
        ]
        for reply, result, detail in cases:
            with self.subTest(detail=detail):
                ident = IdentServer(self, reply)
                d = self.daemon(ident.port, "ident.timeout=5s")
                c, elapsed = self.banner(d)
                self.assertLess(elapsed, 2.5)
                c.cmd("QUIT")
                r = d.wait_event("ident")[0]
                self.assertEqual((r["result"], r["detail"]), (result, detail))
                self.assertNotIn("user", r)
                d.stop()

    def test_lookup_and_ident_run_at_once(self):
        # a 1 s lookup and a 1 s ident timeout: one second, not two
        dns = Slowdns(self, "--delay", "1s")
        ident = IdentServer(self, lambda a, b: None)
        d = self.start("ident.enabled=on", "ident.port=%d" % ident.port, "ident.timeout=1s",
                       "rdns.enabled=on", "rdns.servers=" + dns.address, "rdns.timeout=5s",
                       "log.protocol_log=minimum")
        c, elapsed = self.banner(d)
        self.assertTrue(0.9 <= elapsed < 1.8, elapsed)
        c.cmd("QUIT")
        close = d.wait_event("close")[0]
        self.assertEqual((close["rdns_result"], close["ident_result"]), ("ok", "timeout"))
        # the stages still add up: ident's own share is what it added
        # past the lookup, a few milliseconds at most here
        self.assertLess(duration_us(close["ident"]), 200000)
        self.assertGreaterEqual(duration_us(close["rdns"]), 900000)

    def test_client_leaving_during_ident_closes_cleanly(self):
        ident = IdentServer(self, lambda a, b: None)
        d = self.daemon(ident.port, "ident.timeout=10s")
        s = d.connect()
        wait_for(lambda: len(ident.queries) == 1 or None, 10, "the ident query")
        s.close()
        close = d.wait_event("close")[0]
        self.assertEqual((close["outcome"], close["ident_result"], close["state"]),
                         ("abandoned", "pending", "IDENT"))
        # and the daemon goes on serving
        ident2 = IdentServer(self, lambda a, b: b"%d , %d : ERROR : HIDDEN-USER\r\n" % (a, b))
        d2 = self.daemon(ident2.port)
        c, _ = self.banner(d2)
        c.cmd("QUIT")
        self.assertEqual(d2.wait_event("ident")[0]["detail"], "HIDDEN-USER")

    def test_limits_of_the_keys(self):
        for bad in ("ident.port=0", "ident.port=65536", "ident.timeout=0", "ident.timeout=61s",
                    "ident.enabled=maybe"):
            with self.subTest(bad=bad):
                r = run([binary("bannerd"), "-t", "-o", bad])
                self.assertEqual(r.returncode, 2)
                self.assertIn(bad.split("=")[0], r.stderr.decode())
        for good in ("ident.port=1", "ident.port=65535", "ident.timeout=1ms", "ident.timeout=60s"):
            with self.subTest(good=good):
                r = run([binary("bannerd"), "-t", "-o", good])
                self.assertEqual(r.returncode, 0, r.stderr)

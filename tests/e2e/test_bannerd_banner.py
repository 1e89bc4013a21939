"""The banner path: injected delay, pregreet, abandoned sessions, the
inbound session limit and the RFC 5321 timeouts."""
import socket
import time

from harness import BannerdTest, Conversation, duration_us


class BannerTest(BannerdTest):
    def test_banner_delay_is_held_on_the_event_loop(self):
        d = self.start("banner.delay=300ms", "log.protocol_log=minimum", "pool.workers=1")
        # several clients at once: a sleep would serialise them
        socks = []
        t0 = time.monotonic()
        for _ in range(5):
            socks.append(Conversation(d.connect()))
        for c in socks:
            self.assertEqual(c.reply()[0], 220)
        elapsed = time.monotonic() - t0
        self.assertGreaterEqual(elapsed, 0.25)
        self.assertLess(elapsed, 3.0)
        for c in socks:
            c.cmd("QUIT")
        closes = d.wait_event("close", count=5)
        for e in closes:
            self.assertGreaterEqual(duration_us(e["delay"]), 300000)
            self.assertGreaterEqual(duration_us(e["banner"]), 300000)
            self.assertLess(duration_us(e["banner"]), 3000000)

    def test_jitter_spreads_the_delay(self):
        d = self.start("banner.delay=100ms", "banner.delay_jitter=400ms")
        for _ in range(8):
            c = Conversation(d.connect())
            self.assertEqual(c.reply()[0], 220)
            c.cmd("QUIT")
        delays = [duration_us(e["delay"]) for e in d.wait_event("close", count=8)]
        # 100 ms + up to 400 ms, plus what a loaded machine adds to a timer
        self.assertTrue(all(100000 <= x <= 1500000 for x in delays), delays)
        self.assertGreater(len(set(delays)), 1)

    def test_pregreet_allow_runs_early_commands_after_the_banner(self):
        d = self.start("banner.delay=300ms", "banner.pregreet=allow")
        c = Conversation(d.connect())
        c.send("EHLO early.test\r\n")
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.reply()[0], 250)
        pre = d.wait_event("pregreet")[0]
        self.assertEqual(pre["state"], "DELAYING")
        c.cmd("QUIT")
        self.assertIn("pregreet", d.wait_event("close")[0])

    def test_pregreet_reject_answers_554_after_the_banner(self):
        d = self.start("banner.delay=300ms", "banner.pregreet=reject")
        c = Conversation(d.connect())
        c.send("EHLO early.test\r\n")
        self.assertEqual(c.reply()[0], 220)
        code, lines = c.reply()
        self.assertEqual(code, 554)
        self.assertIn("5.5.0", lines[0])
        self.assertTrue(c.closed())
        self.assertEqual(d.wait_event("close")[0]["outcome"], "pregreet")

    def test_client_that_leaves_before_the_banner_is_abandoned(self):
        d = self.start("banner.delay=2s")
        s = d.connect()
        d.wait_event("connect")
        t0 = time.monotonic()
        s.close()
        close = d.wait_event("close", timeout=5)[0]
        self.assertLess(time.monotonic() - t0, 1.5)   # noticed at once, not at 2 s
        self.assertEqual(close["outcome"], "abandoned")
        self.assertEqual(close["banner"], "-")
        self.assertIn("waited", close)

    def test_max_sessions_gives_421(self):
        d = self.start("listen.max_sessions=3")
        held = [self.greet(d) for _ in range(3)]
        c = Conversation(d.connect())
        code, lines = c.reply()
        self.assertEqual(code, 421)
        self.assertIn("4.3.2", lines[0])
        self.assertIn("Too many connections", lines[0])
        self.assertTrue(c.closed())
        self.assertEqual(d.wait_event("reject")[0]["reason"], "max_sessions")
        held[0].cmd("QUIT")
        self.assertTrue(held[0].closed())
        d.wait_event("close")
        self.assertEqual(self.greet(d).cmd("QUIT")[0], 221)   # a slot is free again

    def test_command_timeout(self):
        d = self.start("smtp.timeout_command=300ms")
        c = self.greet(d)
        t0 = time.monotonic()
        code, lines = c.reply(timeout=5)
        self.assertEqual(code, 421)
        self.assertIn("4.4.2", lines[0])
        self.assertTrue(0.25 <= time.monotonic() - t0 < 3)
        self.assertTrue(c.closed())
        self.assertEqual(d.wait_event("close")[0]["outcome"], "timeout")

    def test_data_timeout(self):
        d = self.start("smtp.timeout_data=300ms", "smtp.timeout_command=10s")
        c = self.greet(d)
        c.cmd("EHLO x.test")
        c.cmd("MAIL FROM:<a@b.test>")
        c.cmd("RCPT TO:<c@d.test>")
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send("partial line")
        t0 = time.monotonic()
        code, _ = c.reply(timeout=5)
        self.assertEqual(code, 421)
        self.assertTrue(0.25 <= time.monotonic() - t0 < 3)
        self.assertEqual(d.wait_event("close")[0]["state"], "DATA")   # where it was cut off

    def test_ipv6_and_ipv4_listeners(self):
        try:
            socket.create_server(("::1", 0), family=socket.AF_INET6).close()
        except OSError:
            self.skipTest("no IPv6 loopback here")
        d = self.start(address="127.0.0.1:0, [::1]:0")
        self.assertEqual(len(d.ports), 2)
        host, port = d.ports[1]
        s = socket.create_connection((host, port), timeout=5)
        self.addCleanup(s.close)
        c = Conversation(s)
        self.assertEqual(c.reply()[0], 220)
        c.cmd("QUIT")
        self.assertTrue(d.wait_event("close")[0]["peer"].startswith("[::1]:"))

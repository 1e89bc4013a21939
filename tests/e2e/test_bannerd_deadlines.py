"""Deadlines against slow clients (matrix rows 18 and 29): a command line
must be whole smtp.command_deadline after its first byte, and the DATA
phase has a budget that only smtp.min_data_rate keeps topped up. A
per-read timeout alone lets a client that sends a byte now and then keep
its slot for ever."""
import time

from harness import BannerdTest, Conversation, drip




class DeadlineTest(BannerdTest):
    def transaction(self, c):
        self.assertEqual(c.cmd("EHLO x.test")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<a@b.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<c@d.test>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)

    def test_row29_byte_every_second_is_cut_at_command_deadline(self):
        d = self.start("smtp.timeout_command=3s", "smtp.command_deadline=4s")
        c = self.greet(d)
        t0 = time.monotonic()
        stop, t = drip(c.sock, [bytes([b]) for b in b"EHLO slow.example.test\r\n"], 1.0)
        self.addCleanup(stop.set)
        code, lines = c.reply(timeout=20)
        elapsed = time.monotonic() - t0
        self.assertEqual(code, 421)
        self.assertIn("4.4.2", lines[0])
        self.assertIn("timeout", lines[0])
        # first byte at ~1 s, deadline 4 s later; the idle timeout (3 s)
        # never fires, and the line would need 24 s
        self.assertTrue(4.0 <= elapsed < 12.0, elapsed)
        self.assertTrue(c.closed())
        close = d.wait_event("close")[0]
        self.assertEqual(close["outcome"], "timeout")
        self.assertEqual(close["reason"], "command_deadline")

    def test_row18_slow_body_is_cut_by_the_data_deadline(self):
        d = self.start("smtp.timeout_command=10s", "smtp.timeout_data=3s",
                       "smtp.min_data_rate=1000")
        c = self.greet(d)
        self.transaction(c)
        t0 = time.monotonic()
        # 10 bytes every 0.5 s: 20 bytes/s, far below 1000, yet never idle
        # for as long as timeout_data; and no end of data, ever
        stop, t = drip(c.sock, [b"x" * 8 + b"\r\n"] * 1000, 0.5)
        self.addCleanup(stop.set)
        code, lines = c.reply(timeout=20)
        elapsed = time.monotonic() - t0
        self.assertEqual(code, 421)
        self.assertIn("4.4.2", lines[0])
        self.assertTrue(2.5 <= elapsed < 10.0, elapsed)
        self.assertTrue(c.closed())
        close = d.wait_event("close")[0]
        self.assertEqual(close["outcome"], "timeout")
        self.assertEqual(close["reason"], "data_deadline")

    def test_body_at_the_minimum_rate_outlives_the_data_timeout(self):
        d = self.start("smtp.timeout_data=2s", "smtp.min_data_rate=100")
        c = self.greet(d)
        self.transaction(c)
        t0 = time.monotonic()
        # 100 bytes every 0.25 s (400 bytes/s) for ~4 s: each chunk earns
        # 1 s, capped at 2 s, so the budget never runs out
        body = [b"y" * 98 + b"\r\n"] * 16 + [b".\r\n"]
        stop, t = drip(c.sock, body, 0.25)
        self.addCleanup(stop.set)
        code, lines = c.reply(timeout=20)
        self.assertEqual(code, 250, lines)
        self.assertGreater(time.monotonic() - t0, 2.0)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        self.assertEqual(d.wait_event("close")[0]["outcome"], "normal")

    def test_normal_client_is_unaffected_by_tight_deadlines(self):
        d = self.start("smtp.timeout_command=5s", "smtp.command_deadline=1ms",
                       "smtp.timeout_data=2s", "smtp.min_data_rate=1")
        c = self.greet(d)
        # the idle wait before a command is not the line's: 1.5 s of
        # silence, then a whole line at once
        time.sleep(1.5)
        self.transaction(c)
        c.send(b"Subject: fast\r\n\r\n" + b"z" * 78 + b"\r\n" * 1 + (b"z" * 78 + b"\r\n") * 3000 + b".\r\n")
        self.assertEqual(c.reply()[0], 250)
        # pipelined commands, each line whole in one segment
        c.send("RSET\r\nNOOP\r\nNOOP\r\n")
        for _ in range(3):
            self.assertEqual(c.reply()[0], 250)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        close = d.wait_event("close")[0]
        self.assertEqual(close["outcome"], "normal")
        self.assertNotIn("reason", close)

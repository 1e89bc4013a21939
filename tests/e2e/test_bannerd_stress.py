"""Stress mode (matrix row 28): past smtp.stress_threshold of
listen.max_sessions the idle timeouts shrink to smtp.stress_timeout_*,
and they are restored when the load falls; each change is logged once and
shown by the bannerd_stress gauge."""
import socket
import time

from harness import BannerdTest, prom_value, scrape


class StressTest(BannerdTest):
    def start_stress(self, *extra):
        d = self.start("metrics.listen=127.0.0.1:0", "smtp.timeout_command=30s",
                       "smtp.stress_timeout_command=1s", *extra)
        url = "http://%s/metrics" % d.wait_log(r"metrics on http://(\S+)/metrics")[0].group(1)
        return d, url

    def gauge(self, url):
        return prom_value(scrape(url), "bannerd_stress")

    def test_row28_enters_shrinks_new_timeouts_and_leaves(self):
        d, url = self.start_stress("listen.max_sessions=5", "smtp.stress_threshold=60%")
        held = [self.greet(d) for _ in range(2)]
        self.assertEqual(self.gauge(url), 0)
        self.assertNotIn("stress=", d.log_text())
        # the third of five is 60%: stress, and the session that tipped it
        # over waits for its command with the stress timeout
        third = self.greet(d)
        t0 = time.monotonic()
        d.wait_log(r"stress=on sessions=3 threshold=3 max_sessions=5")
        self.assertEqual(self.gauge(url), 1)
        code, lines = third.reply(timeout=15)
        self.assertEqual(code, 421)
        self.assertIn("4.4.2", lines[0])
        self.assertTrue(0.5 <= time.monotonic() - t0 < 8, time.monotonic() - t0)
        self.assertEqual(d.wait_event("close")[0]["outcome"], "timeout")
        # back to two: left, logged once, gauge down
        d.wait_log(r"stress=off sessions=2 threshold=3 max_sessions=5")
        self.assertEqual(self.gauge(url), 0)
        # the sessions held from before kept their 30 s timeout, and a new
        # one below the threshold gets it again
        self.assertEqual(held[0].cmd("QUIT")[0], 221)
        d.wait_event("close", count=2)
        fresh = self.greet(d)
        with self.assertRaises(socket.timeout):
            fresh.reply(timeout=2.5)
        self.assertEqual(fresh.cmd("NOOP")[0], 250)
        self.assertEqual(held[1].cmd("NOOP")[0], 250)
        self.assertEqual(fresh.cmd("QUIT")[0], 221)
        text = d.log_text()
        self.assertEqual(text.count("stress=on"), 1, text)
        self.assertEqual(text.count("stress=off"), 1, text)

    def test_threshold_100_percent_is_the_session_limit(self):
        d, url = self.start_stress("listen.max_sessions=2", "smtp.stress_threshold=100%")
        first = self.greet(d)
        self.assertEqual(self.gauge(url), 0)
        self.greet(d)
        d.wait_log(r"stress=on sessions=2 threshold=2 max_sessions=2")
        self.assertEqual(self.gauge(url), 1)
        first.cmd("QUIT")
        d.wait_log(r"stress=off sessions=1")

    def test_threshold_0_never_enters(self):
        d, url = self.start_stress("listen.max_sessions=2", "smtp.stress_threshold=0")
        held = [self.greet(d) for _ in range(2)]
        self.assertEqual(self.gauge(url), 0)
        with self.assertRaises(socket.timeout):
            held[1].reply(timeout=2)     # not the 1 s stress timeout
        self.assertNotIn("stress=", d.log_text())

    def test_hysteresis_leaves_only_at_the_leave_threshold(self):
        # on at 5 of 10 (50%), off only at 2 (20%): a load hovering at the
        # threshold does not flip it with every connection
        d, url = self.start_stress("listen.max_sessions=10", "smtp.stress_threshold=50%",
                                   "smtp.stress_leave_threshold=20%", "smtp.stress_timeout_command=30s")
        held = [self.greet(d) for _ in range(5)]
        d.wait_log(r"stress=on sessions=5 threshold=5 max_sessions=10 leave_at=2")
        closed = 0
        for _ in range(3):	# hover: 5 -> 4 -> 5, three times
            self.assertEqual(held.pop().cmd("QUIT")[0], 221)
            closed += 1
            d.wait_event("close", count=closed)
            self.assertEqual(self.gauge(url), 1)
            held.append(self.greet(d))
        for _ in range(2):	# 5 -> 3: still on
            self.assertEqual(held.pop().cmd("QUIT")[0], 221)
            closed += 1
            d.wait_event("close", count=closed)
        self.assertEqual(self.gauge(url), 1)
        self.assertNotIn("stress=off", d.log_text())
        self.assertEqual(held.pop().cmd("QUIT")[0], 221)	# 2: off
        d.wait_log(r"stress=off sessions=2 threshold=5 max_sessions=10 leave_at=2")
        self.assertEqual(self.gauge(url), 0)
        text = d.log_text()
        self.assertEqual(text.count("stress=on"), 1, text)
        self.assertEqual(text.count("stress=off"), 1, text)

    def test_leave_threshold_above_the_threshold_means_no_hysteresis(self):
        d, url = self.start_stress("listen.max_sessions=4", "smtp.stress_threshold=50%",
                                   "smtp.stress_leave_threshold=90%", "smtp.stress_timeout_command=30s")
        held = [self.greet(d) for _ in range(2)]
        d.wait_log(r"stress=on sessions=2 threshold=2 max_sessions=4 leave_at=1")
        held[0].cmd("QUIT")
        d.wait_log(r"stress=off sessions=1 ")

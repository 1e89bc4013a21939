"""Limits on what clients may take: descriptor exhaustion logged once per
episode (fault matrix row 32), per-client session and connection-rate
limits, answered before any session exists (row 31)."""
import os
import re
import signal
import socket
import subprocess
import time

from harness import (PROMTOOL, BannerdTest, Conversation, prom_value, scrape, tmpdir, wait_for,
                     write)

PAUSE = r"pausing accept for \d+ ms"
RESUMED = r"accept on \S+ resumed \((\d+) further errors while paused\)"


class ExhaustionTest(BannerdTest):
    def hold(self, d, n):
        """Opens n connections, more than the daemon has descriptors; the
        ones the kernel queues but bannerd cannot accept are held too."""
        held = []
        for _ in range(n):
            try:
                held.append(socket.create_connection((d.host, d.port), timeout=1))
            except OSError:
                break
        self.addCleanup(lambda: [s.close() for s in held])
        return held

    def banner(self, d):
        try:
            with socket.create_connection((d.host, d.port), timeout=2) as s:
                return Conversation(s).reply(timeout=2)[0] == 220
        except (OSError, EOFError):
            return False

    def test_accept_errors_logged_once_per_episode(self):
        d = self.start("listen.accept_retry=100ms", "pool.workers=1", "log.protocol_log=none",
                       rlimit_nofile=64)
        for episode in (1, 2):
            held = self.hold(d, 200)
            d.wait_log(PAUSE, count=episode)
            # About ten retries of 100 ms, every one failing again.
            t0 = time.monotonic()
            wait_for(lambda: time.monotonic() - t0 > 1.0, 2, "a second of wall time")
            self.assertEqual(len(re.findall(PAUSE, d.log_text())), episode, d.log_text()[-3000:])
            for s in held:
                s.close()
            wait_for(lambda: self.banner(d), 10, "a banner after recovery", interval=0.2)
            resumed = d.wait_log(RESUMED, count=episode)
            self.assertGreaterEqual(int(resumed[episode - 1].group(1)), 3, d.log_text()[-3000:])
        self.assertEqual(len(re.findall(PAUSE, d.log_text())), 2)
        self.assertEqual(d.stop(), 0)


def connect_from(d, source, timeout=5):
    """A connection to d from a given loopback address (all of 127/8 is
    the loopback's)."""
    s = socket.create_connection((d.host, d.port), timeout=timeout, source_address=(source, 0))
    d.test.addCleanup(s.close)
    return Conversation(s)


class PerClientTest(BannerdTest):
    def start_limited(self, *overrides):
        d = self.start("log.protocol_log=minimum", "metrics.listen=127.0.0.1:0", *overrides)
        d.url = "http://%s/metrics" % d.wait_log(r"metrics on http://(\S+)/metrics")[0].group(1)
        return d

    def assert_refused(self, c, addr):
        code, lines = c.reply()
        self.assertEqual(code, 421, lines)
        self.assertRegex(lines[0], r"^421 4\.7\.0 \S+ Error: too many connections from %s$"
                         % re.escape(addr))
        self.assertTrue(c.closed())

    def assert_served(self, c):
        code, lines = c.reply()
        self.assertEqual(code, 220, lines)

    def test_max_sessions_per_client_at_the_limit(self):
        d = self.start_limited("listen.max_sessions_per_client=2")
        first, second = connect_from(d, "127.0.0.1"), connect_from(d, "127.0.0.1")
        self.assert_served(first)
        self.assert_served(second)
        self.assert_refused(connect_from(d, "127.0.0.1"), "127.0.0.1")
        self.assert_served(connect_from(d, "127.0.0.2"))
        e = d.wait_event("reject", reason="per_client_sessions")[0]
        self.assertEqual(e["code"], "421")
        self.assertTrue(e["peer"].startswith("127.0.0.1:"), e)
        # The count goes down when a session closes: room for one more.
        self.assertEqual(first.cmd("QUIT")[0], 221)
        d.wait_event("close", outcome="normal")
        self.assert_served(connect_from(d, "127.0.0.1"))
        self.assert_refused(connect_from(d, "127.0.0.1"), "127.0.0.1")
        text = scrape(d.url)
        self.assertEqual(prom_value(text, "bannerd_rejected_total", reason="per_client_sessions"), 2)
        self.assertEqual(prom_value(text, "bannerd_rejected_total", reason="per_client_rate"), 0)
        self.assert_promtool(text)
        self.assertEqual(d.stop(), 0)

    def test_max_connect_rate_per_client_at_the_limit(self):
        d = self.start_limited("listen.max_connect_rate_per_client=3")
        for _ in range(3):
            c = connect_from(d, "127.0.0.1")
            self.assert_served(c)
            self.assertEqual(c.cmd("QUIT")[0], 221)
        self.assert_refused(connect_from(d, "127.0.0.1"), "127.0.0.1")
        self.assert_served(connect_from(d, "127.0.0.2"))
        d.wait_event("reject", reason="per_client_rate")
        text = scrape(d.url)
        self.assertEqual(prom_value(text, "bannerd_rejected_total", reason="per_client_rate"), 1)
        self.assertEqual(d.stop(), 0)

    def test_client_prefix_v4_counts_a_network_as_one_client(self):
        d = self.start_limited("listen.max_sessions_per_client=1", "listen.client_prefix_v4=24")
        self.assert_served(connect_from(d, "127.0.0.1"))
        self.assert_refused(connect_from(d, "127.0.0.2"), "127.0.0.2")
        self.assert_served(connect_from(d, "127.0.1.1"))
        self.assertEqual(d.stop(), 0)

    def test_client_prefix_v4_at_its_limits(self):
        # 32: every address is its own client; 1: all of 127/8 is one.
        d = self.start_limited("listen.max_sessions_per_client=1", "listen.client_prefix_v4=32")
        self.assert_served(connect_from(d, "127.0.0.1"))
        self.assert_served(connect_from(d, "127.0.0.2"))
        d.stop()
        d = self.start_limited("listen.max_sessions_per_client=1", "listen.client_prefix_v4=1")
        self.assert_served(connect_from(d, "127.0.0.1"))
        self.assert_refused(connect_from(d, "127.9.8.7"), "127.9.8.7")
        self.assertEqual(d.stop(), 0)

    def test_client_prefix_v6_at_its_limits(self):
        if not socket.has_ipv6:
            self.skipTest("no IPv6")
        for prefix in ("128", "1"):
            try:
                d = self.start("listen.max_sessions_per_client=1", "log.protocol_log=minimum",
                               "listen.client_prefix_v6=" + prefix, address="[::1]:0")
            except AssertionError as e:
                self.skipTest("cannot listen on ::1: %s" % e)
            self.assert_served(connect_from(d, "::1"))
            self.assert_refused(connect_from(d, "::1"), "::1")
            d.stop()

    def test_client_table_size_at_its_limit_never_refuses(self):
        d = self.start_limited("listen.max_sessions_per_client=1", "listen.client_table_size=16")
        for i in range(1, 17):     # 16 clients, each with its session open: the table is full
            self.assert_served(connect_from(d, "127.0.0.%d" % i))
        # a 17th client finds no room: let in, uncounted, rather than refused
        self.assert_served(connect_from(d, "127.0.0.17"))
        self.assert_served(connect_from(d, "127.0.0.17"))
        # the 16 counted ones are still held to their limit
        self.assert_refused(connect_from(d, "127.0.0.5"), "127.0.0.5")
        self.assertEqual(d.stop(), 0)

    def test_reload_applies_the_limit(self):
        conf = os.path.join(tmpdir(self), "b.conf")
        write(conf, "[listen]\nmax_sessions_per_client = 0\n")
        d = self.start("log.protocol_log=minimum", conf=conf)
        held = [connect_from(d, "127.0.0.1") for _ in range(3)]
        for c in held:
            self.assert_served(c)
        write(conf, "[listen]\nmax_sessions_per_client = 3\n")
        d.signal(signal.SIGHUP)
        d.wait_log("reload: configuration")
        # sessions open before the reload were counted all along
        self.assert_refused(connect_from(d, "127.0.0.1"), "127.0.0.1")
        self.assertEqual(d.stop(), 0)

    def assert_promtool(self, text):
        self.assertTrue(os.access(PROMTOOL, os.X_OK), "promtool missing: run scripts/install-deps")
        r = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                           capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout.decode() + r.stderr.decode())

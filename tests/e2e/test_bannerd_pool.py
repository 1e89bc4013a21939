"""The Perfwiz model: banner delays that emerge from queueing for session
slots and resolver threads, overflow policies, live retuning by SIGHUP,
and the Prometheus metrics that account for every second."""
import os
import signal
import subprocess

from harness import (PROMTOOL, ROOT, BannerdTest, Conversation, Slowdns, burst, duration_us,
                     prom_value, run, scrape, wait_for, tmpdir, write)


class QueueTest(BannerdTest):
    def test_one_slot_serialises_banners(self):
        d = self.start("pool.workers=1", "pool.sessions_per_worker=1", "banner.delay=200ms",
                       "log.protocol_log=minimum")
        times, lines = burst(d.host, d.port, 5)
        self.assertTrue(all(l and l.startswith("220 ") for l in lines), lines)
        times.sort()
        for i, t in enumerate(times):
            # about 0.2, 0.4, 0.6, 0.8, 1.0 s, with wide bounds
            self.assertGreaterEqual(t, 0.2 * (i + 1) - 0.05, times)
            self.assertLess(t, 0.2 * (i + 1) + 1.5, times)
        queues = sorted(duration_us(e["queue"]) for e in d.wait_event("close", count=5))
        self.assertLess(queues[0], 100000)
        for i in range(1, 5):
            self.assertGreater(queues[i], queues[i - 1])
            self.assertGreaterEqual(queues[i], 200000 * i - 50000)

    def test_overflow_reject_answers_421(self):
        d = self.start("pool.workers=1", "pool.sessions_per_worker=1", "pool.queue_max=2",
                       "pool.overflow=reject", "banner.delay=500ms")
        times, lines = burst(d.host, d.port, 6)
        ok = [l for l in lines if l and l.startswith("220 ")]
        busy = [l for l in lines if l and l.startswith("421 ")]
        self.assertEqual(len(ok), 3, lines)     # one in a slot, two queued
        self.assertEqual(len(busy), 3, lines)
        self.assertIn("4.3.2", busy[0])
        rejects = d.wait_event("reject", count=3)
        self.assertTrue(all(e["reason"] == "queue_full" for e in rejects))

    def test_overflow_wait_serves_everyone_later(self):
        d = self.start("pool.workers=1", "pool.sessions_per_worker=1", "pool.queue_max=1",
                       "pool.overflow=wait", "banner.delay=200ms")
        times, lines = burst(d.host, d.port, 4)
        self.assertTrue(all(l and l.startswith("220 ") for l in lines), lines)
        self.assertGreaterEqual(max(times), 0.75)
        d.wait_log("accept paused")
        d.wait_log("accept resumed")

    def test_sighup_grows_the_pool_and_drains_the_queue(self):
        conf = os.path.join(tmpdir(self), "b.conf")
        write(conf, "[pool]\nworkers = 1\nsessions_per_worker = 1\n[banner]\ndelay = 1s\n")
        d = self.start("log.protocol_log=minimum", conf=conf)
        first = self.greet(d)          # holds the only slot, established
        import threading
        result = {}
        t = threading.Thread(target=lambda: result.update(r=burst(d.host, d.port, 20, timeout=30)))
        t.start()
        wait_for(lambda: "queue_depth=20" in self.usr1(d), 10, "20 queued connections",
                 interval=0.1)
        write(conf, "[pool]\nworkers = 8\nsessions_per_worker = 1\n[banner]\ndelay = 1s\n")
        d.signal(signal.SIGHUP)
        d.wait_log("pool: workers 1 -> 8")
        t.join(40)
        times, lines = result["r"]
        self.assertTrue(all(l and l.startswith("220 ") for l in lines), lines)
        # without the reload the last would wait 20 s behind one slot
        self.assertLess(max(times), 12, sorted(times))
        self.assertEqual(first.cmd("NOOP")[0], 250)   # the established session survived
        self.assertEqual(first.cmd("QUIT")[0], 221)

    def test_sighup_shrinks_without_dropping_sessions(self):
        conf = os.path.join(tmpdir(self), "b.conf")
        write(conf, "[pool]\nworkers = 4\n")
        d = self.start(conf=conf)
        held = [self.greet(d) for _ in range(8)]
        write(conf, "[pool]\nworkers = 1\n")
        d.signal(signal.SIGHUP)
        d.wait_log("pool: workers 4 -> 1")
        for c in held:
            self.assertEqual(c.cmd("NOOP")[0], 250)
            self.assertEqual(c.cmd("QUIT")[0], 221)
        self.assertEqual(self.greet(d).cmd("QUIT")[0], 221)
        self.assertEqual(d.stop(), 0)

    def usr1(self, d):
        before = d.log_text().count("msg=\"metrics ")
        d.signal(signal.SIGUSR1)
        wait_for(lambda: d.log_text().count("msg=\"metrics ") > before, 5, "a metrics line")
        return [l for l in d.log_text().splitlines() if "msg=\"metrics " in l][-1]


class ResolverPoolTest(BannerdTest):
    def test_one_resolver_thread_serialises_lookups(self):
        dns = Slowdns(self, "--delay", "300ms", "-q")
        d = self.start("rdns.enabled=on", "rdns.mode=pool", "rdns.threads=1",
                       "rdns.servers=" + dns.address)
        times, lines = burst(d.host, d.port, 4)
        self.assertTrue(all(l and l.startswith("220 ") for l in lines), lines)
        times.sort()
        for i, t in enumerate(times):
            self.assertGreaterEqual(t, 0.3 * (i + 1) - 0.05, times)
            self.assertLess(t, 0.3 * (i + 1) + 1.5, times)
        closes = d.wait_event("close", count=4)
        waits = sorted(duration_us(e["rdns_wait"]) for e in closes)
        self.assertLess(waits[0], 100000)
        self.assertGreaterEqual(waits[3], 800000)
        for e in closes:   # the lookup itself stays about 300 ms
            self.assertLess(duration_us(e["rdns"]), 1000000)
            self.assertGreaterEqual(duration_us(e["rdns"]), 250000)

    def test_async_mode_resolves_in_parallel(self):
        dns = Slowdns(self, "--delay", "300ms", "-q")
        d = self.start("rdns.enabled=on", "rdns.mode=async", "rdns.servers=" + dns.address)
        times, lines = burst(d.host, d.port, 4)
        self.assertTrue(all(0.25 <= t < 1.2 for t in times), times)

    def test_sighup_adds_resolver_threads(self):
        dns = Slowdns(self, "--delay", "500ms", "-q")
        conf = os.path.join(tmpdir(self), "b.conf")
        write(conf, "[rdns]\nenabled = on\nmode = pool\nthreads = 1\nservers = %s\n" % dns.address)
        d = self.start(conf=conf)
        write(conf, "[rdns]\nenabled = on\nmode = pool\nthreads = 8\nservers = %s\n" % dns.address)
        d.signal(signal.SIGHUP)
        d.wait_log("resolver threads 1 -> 8")
        times, lines = burst(d.host, d.port, 8)
        self.assertTrue(all(l and l.startswith("220 ") for l in lines), lines)
        self.assertLess(max(times), 2.0, times)   # 8 x 500 ms would be 4 s on one thread


class MetricsTest(BannerdTest):
    def test_counts_match_what_was_sent_and_promtool_accepts(self):
        d = self.start("metrics.listen=127.0.0.1:0", "banner.delay=50ms", "pool.workers=2",
                       "log.protocol_log=minimum")
        url = "http://%s/metrics" % d.wait_log(r"metrics on http://(\S+)/metrics")[0].group(1)
        n = 25
        times, lines = burst(d.host, d.port, n)
        self.assertTrue(all(l and l.startswith("220 ") for l in lines))
        c = self.greet(d)
        c.cmd("EHLO m.test")
        c.cmd("MAIL FROM:<a@b.test>")
        c.cmd("RCPT TO:<c@d.test>")
        c.cmd("DATA")
        c.send("hi\r\n.\r\n")
        c.reply()
        c.cmd("QUIT")
        abandon = d.connect()
        abandon.close()
        d.wait_event("close", count=n + 2)
        text = scrape(url)
        self.assertEqual(prom_value(text, "bannerd_connections_total"), n + 2)
        self.assertEqual(prom_value(text, "bannerd_banners_total"), n + 1)
        self.assertEqual(prom_value(text, "bannerd_banner_seconds_count"), n + 1)
        self.assertEqual(prom_value(text, "bannerd_abandoned_total"), 1)
        self.assertEqual(prom_value(text, "bannerd_messages_total", result="accepted"), 1)
        self.assertEqual(prom_value(text, "bannerd_pool_workers"), 2)
        total = prom_value(text, "bannerd_banner_seconds_sum")
        stages = sum(prom_value(text, "bannerd_stage_seconds_sum", stage=s)
                     for s in ("queue", "rdns_wait", "rdns", "delay", "write"))
        self.assertGreaterEqual(total, 0.05 * (n + 1))
        # the stages add up to the banner time (a few us each of bookkeeping)
        self.assertAlmostEqual(stages, total, delta=0.001 * (n + 1))
        self.assertEqual(prom_value(text, "bannerd_stage_seconds_count", stage="delay"), n + 1)
        # 50 ms banners are all under the 0.1 s bucket and above 0.025 s
        self.assertEqual(prom_value(text, "bannerd_banner_seconds_bucket", le="0.1"), n + 1)
        self.assertEqual(prom_value(text, "bannerd_banner_seconds_bucket", le="0.025"), 0)
        self.assertGreaterEqual(prom_value(text, "bannerd_listen_backlog",
                                           address="%s:%d" % (d.host, d.port)), 1)
        self.assertTrue(os.access(PROMTOOL, os.X_OK), "promtool missing: run scripts/install-deps")
        r = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                           capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout.decode() + r.stderr.decode())

    def test_sigusr1_logs_the_figures(self):
        d = self.start()
        self.greet(d).cmd("QUIT")
        d.wait_event("close")
        d.signal(signal.SIGUSR1)
        m = d.wait_log(r"metrics connections=(\d+) banners=(\d+)")[0]
        self.assertEqual((m.group(1), m.group(2)), ("1", "1"))

    def test_rdns_results_are_counted(self):
        dns = Slowdns(self, "--nxdomain")
        d = self.start("metrics.listen=127.0.0.1:0", "rdns.enabled=on", "rdns.servers=" + dns.address)
        url = "http://%s/metrics" % d.wait_log(r"metrics on http://(\S+)/metrics")[0].group(1)
        burst(d.host, d.port, 3)
        d.wait_event("close", count=3)
        text = scrape(url)
        self.assertEqual(prom_value(text, "bannerd_rdns_total", result="nxdomain"), 3)
        self.assertEqual(prom_value(text, "bannerd_rdns_total", result="ok"), 0)

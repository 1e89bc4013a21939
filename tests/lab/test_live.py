"""The class session's running verdict (labanalysis.live): the window,
who would give up, the likely cause, the one line."""
import unittest

from labanalysis import live, records

S = 1000000
NOW = 1_800_000_100_000_000


def conn(seq, t_us, banner_us, outcome="banner", **stages):
    st = dict.fromkeys(live.STAGES, 0)
    st.update(stages)
    return {"seq": seq, "t": t_us / 1e6, "banner_us": banner_us, "outcome": outcome, "stages": st}


class Live(unittest.TestCase):
    def test_a_live_record_and_a_close_line_read_alike(self):
        a = live.from_live(conn(7, NOW, 3 * S, delay=3 * S - 100, write=100))
        self.assertEqual((a["seq"], a["banner_us"], a["banner"]), (7, 3 * S, True))
        self.assertEqual(a["stages"]["delay"], 3 * S - 100)
        line = ('2026-12-02T01:48:39.471032Z close sid=0000002a peer=127.0.0.1:40000 t_us=3000500 '
                'outcome=normal banner=3.000s queue=10us rdns=0us delay=2.999s write=90us')
        kind, when, rest = records.bannerd_line(line)
        self.assertEqual(kind, "close")
        b = live.from_close(records.close_record(when, rest))
        self.assertTrue(b["banner"])
        self.assertEqual(b["banner_us"], 3 * S)
        self.assertEqual(b["stages"]["delay"], 2999000)
        self.assertEqual(b["t_us"], when)

    def test_the_window_is_the_last_ten_seconds(self):
        recs = [live.from_live(conn(i, NOW - i * S, 100)) for i in range(30)]
        w = live.window(recs, NOW)
        self.assertEqual(len(w), 10)
        self.assertEqual(min(r["t_us"] for r in w), NOW - 9 * S)

    def test_healthy_is_no_cause(self):
        recs = [live.from_live(conn(i, NOW, 150, queue=50, write=100)) for i in range(50)]
        s = live.summary(recs, 10 * S)
        self.assertEqual((s["cause"], s["lever"], s["over"], s["share"]), ("none", "none", 0, 0))
        self.assertIn("likely cause: none", live.render(s, "impatient-10 (10s)"))

    def test_a_delay_past_the_threshold(self):
        recs = [live.from_live(conn(i, NOW, 12 * S, delay=12 * S - 100, write=100)) for i in range(10)]
        recs += [live.from_live(conn(10 + i, NOW, 100, write=100)) for i in range(10)]
        s = live.summary(recs, 10 * S)
        self.assertEqual((s["cause"], s["lever"], s["over"]), ("delay", "banner.delay", 10))
        self.assertAlmostEqual(s["share"], 0.5)
        line = live.render(s, "impatient-10 (10s)")
        self.assertIn("would give up on 50%", line)
        self.assertIn("likely cause: delay", line)
        self.assertIn("-> banner.delay", line)

    def test_left_without_a_banner_counts_as_given_up_and_refused_does_not(self):
        recs = [live.from_live(conn(1, NOW, 2 * S, outcome="abandoned", rdns=2 * S)),
                live.from_live(conn(2, NOW, 1000, outcome="rejected")),
                live.from_live(conn(3, NOW, 100, write=100))]
        s = live.summary(recs, 10 * S)
        self.assertEqual((s["banners"], s["no_banner"], s["rejected"], s["over"]), (1, 1, 1, 1))
        self.assertAlmostEqual(s["share"], 0.5)
        self.assertEqual(s["cause"], "rdns")

    def test_a_queue_of_resolver_waits_is_the_resolver_threads(self):
        recs = [live.from_live(conn(i, NOW, 6 * S, queue=3 * S, rdns_wait=2 * S, rdns=S)) for i in range(5)]
        s = live.summary(recs, 5 * S)
        self.assertEqual((s["cause"], s["lever"]), ("rdns_wait", "rdns.threads"))

    def test_a_queue_behind_busy_resolver_threads_is_theirs(self):
        # untuned: 40 lookups a second of 50 ms each keep 2 threads busy;
        # the sessions wait in the queue holding their slots, the waits
        # for a thread themselves are short
        recs = [live.from_live(conn(i, NOW - (i % 100) * S // 10, 700000, queue=640000, rdns_wait=10000,
                                    rdns=50000)) for i in range(400)]
        s = live.summary(recs, S // 2, threads=2)
        self.assertEqual((s["cause"], s["lever"]), ("rdns_wait", "rdns.threads"))
        # with plenty of threads the same queue is the workers'
        s = live.summary(recs, S // 2, threads=64)
        self.assertEqual((s["cause"], s["lever"]), ("queue", "pool.workers"))

    def test_the_cause_comes_before_the_gauges(self):
        recs = [live.from_live(conn(i, NOW, 3 * S, delay=3 * S)) for i in range(5)]
        line = live.render(live.summary(recs, 10 * S), "impatient-10 (10s)",
                           gauges={"sessions": 5, "queued": 0}, last_change="set banner.delay=3s (2s ago)")
        self.assertLess(line.index("likely cause"), line.index("open 5"))
        self.assertLess(line.index("open 5"), line.index("last change"))

    def test_no_connection_says_so(self):
        s = live.summary([], 10 * S)
        line = live.render(s, "impatient-10 (10s)", gauges={"sessions": 0, "queued": 0},
                           last_change="set banner.delay=3s (4s ago)")
        self.assertIn("no connection", line)
        self.assertIn("open 0, queued 0", line)
        self.assertIn("last change: set banner.delay=3s", line)
        self.assertNotIn("\r", line)
        self.assertNotIn("\n", line)

    def test_control_lines_of_all_three_daemons(self):
        self.assertEqual(records.control_change(
            "control: set log.protocol_log=maximum (from socket uid=0 pid=123)"),
            ("set log.protocol_log=maximum", "socket uid=0 pid=123"))
        self.assertEqual(records.control_change("slowdns: control: set delay=5s (from socket uid=0 pid=9)\n"),
                         ("set delay=5s", "socket uid=0 pid=9"))
        self.assertIsNone(records.control_change(
            "control: rejected: set banner.delay=x (from http 127.0.0.1): not a duration"))
        self.assertIsNone(records.control_change("reload: configuration re-read"))


if __name__ == "__main__":
    unittest.main()


class FollowTest(unittest.TestCase):
    """The watcher's reader of a growing log: whole lines only, each once."""

    def test_a_partial_line_waits_for_its_end(self):
        import os
        import tempfile
        from labanalysis import watch
        fd, path = tempfile.mkstemp()
        os.close(fd)
        try:
            f = watch.Follow(path)
            self.assertEqual(f.lines(), [])
            with open(path, "a") as w:
                w.write("slowdns: control: set delay=5s (from socket uid=0 pid=1)\nslowdns: con")
            self.assertEqual(f.lines(), ["slowdns: control: set delay=5s (from socket uid=0 pid=1)"])
            with open(path, "a") as w:
                w.write("trol: set drop=on (from socket uid=0 pid=2)\n")
            got = f.lines()
            self.assertEqual(got, ["slowdns: control: set drop=on (from socket uid=0 pid=2)"])
            self.assertEqual(records.control_change(got[0]), ("set drop=on", "socket uid=0 pid=2"))
            self.assertEqual(f.lines(), [])
        finally:
            os.remove(path)
        # a file that is not there (yet): nothing, no error
        self.assertEqual(watch.Follow(path).lines(), [])

"""A class session cut at each live change, a verdict per interval
(labanalysis.intervals), and the plot's marks from the same changes."""
import unittest

from labanalysis import intervals, plot, records, sessions
from synth import T0, capacity, pair

S = 1000000


def session(spec):
    """spec: [(start_us, stages)] -> rows, server records."""
    pairs = [pair(i, start, **stages) for i, (start, stages) in enumerate(spec)]
    rows, _ = sessions.join([p for p, _ in pairs], [r for _, r in pairs])
    return rows, [r for _, r in pairs]


def control(at_us, line):
    return {"wall_us": T0 + at_us, "key": "control", "old": None, "new": None, "line": line,
            "origin": "socket uid=0 pid=1"}


class Intervals(unittest.TestCase):
    def setUp(self):
        # 0-10 s healthy, 10-20 s a 3 s delay, 20-30 s a 5 s lookup
        spec = [(i * S, {"write": 100}) for i in range(10)]
        spec += [(i * S, {"delay": 3 * S}) for i in range(10, 20)]
        spec += [(i * S, {"rdns": 5 * S}) for i in range(20, 30)]
        self.rows, self.server = session(spec)
        self.t0 = sessions.load_t0_wall_us(self.rows)
        self.events = [control(10 * S - S // 2, "set banner.delay=3s"),
                       control(20 * S - S // 2, "set banner.delay=0 rdns.enabled=on")]

    def analyse(self, marks=(), events=None, threshold=4 * S):
        return intervals.analyse(self.rows, self.server, capacity(pool=False, spw=0), threshold,
                                 list(marks), self.events if events is None else events, self.t0)

    def test_each_interval_has_its_own_cause(self):
        got = self.analyse()
        self.assertEqual([s["cause"] for s in got], ["none", "delay", "rdns"])
        self.assertEqual([s["tries"] for s in got], [10, 10, 10])
        self.assertEqual([s["after"] for s in got],
                         [None, "set banner.delay=3s", "set banner.delay=0 rdns.enabled=on"])
        self.assertEqual([s["gave_up"] for s in got], [0, 0, 10])
        self.assertEqual(got[1]["lever"], "banner.delay")
        self.assertGreaterEqual(got[1]["p50_us"], 3 * S)

    def test_a_slowdns_mark_cuts_too(self):
        events = self.events[:1]
        marks = [{"wall_us": T0 + 20 * S - S // 2, "label": "slowdns: set delay=5s"}]
        got = self.analyse(marks, events)
        self.assertEqual([s["after"] for s in got], [None, "set banner.delay=3s", "slowdns: set delay=5s"])

    def test_no_change_is_one_interval(self):
        got = self.analyse(events=[])
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0]["tries"], 30)

    def test_a_change_before_any_try_opens_no_empty_interval(self):
        got = self.analyse(events=[control(-5 * S, "set banner.delay=3s")])
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0]["after"], "set banner.delay=3s")

    def test_render_names_the_change_and_the_cause(self):
        text = "\n".join(intervals.render(self.analyse(), self.t0, 4 * S, "impatient-5 (5 s)"))
        self.assertIn("2. ", text)
        self.assertIn("after: set banner.delay=3s", text)
        self.assertIn("cause: delay", text)
        self.assertIn("100% would give up at 4.00s (impatient-5 (5 s))", text)

    def test_a_reload_after_its_request_is_one_change(self):
        ev = [control(10 * S, "reload"), {"wall_us": T0 + 10 * S + 3000, "key": "reload", "old": None, "new": None},
              {"wall_us": T0 + 25 * S, "key": "reload", "old": None, "new": None}]
        self.assertEqual([l for _, l in intervals.changes([], ev)], ["reload", "bannerd reloaded (SIGHUP)"])
        # and the plot marks the same
        self.assertEqual(plot._fixes({"marks": [], "log": {"events": ev}}), intervals.changes([], ev))

    def test_the_log_reader_keeps_control_lines(self):
        import os
        import tempfile
        d = tempfile.mkdtemp()
        path = os.path.join(d, "bannerd.log")
        with open(path, "w") as f:
            f.write('2026-12-02T12:00:00.000000Z daemon msg="control: set banner.delay=3s '
                    '(from socket uid=0 pid=7)"\n'
                    '2026-12-02T12:00:01.000000Z daemon msg="control: rejected: set banner.delay=x '
                    '(from http 127.0.0.1): not a duration"\n')
        ev = records.read_bannerd_log(path)["events"]
        os.remove(path)
        os.rmdir(d)
        self.assertEqual([(e["key"], e["line"], e["origin"]) for e in ev],
                         [("control", "set banner.delay=3s", "socket uid=0 pid=7")])


if __name__ == "__main__":
    unittest.main()


class ClassPlot(unittest.TestCase):
    """Many changes on one plot: numbers on the lines, the words in the
    key (one mark keeps its label by the line, as retune-live's does)."""

    def script(self, marks):
        from labanalysis.plot_banner import banner_script
        from test_plot_axes import open_loop
        rows = open_loop([200] * 30 + [3 * S] * 30, S // 2)
        for r in rows:
            r["greeted"] = True
        return banner_script("/dev/null", {"name": "class-baseline", "threshold_us": 10 * S}, rows, marks)

    def test_three_changes_are_numbered(self):
        text = self.script([(5 * S, "set banner.delay=3s"), (15 * S, "slowdns: set delay=5s"),
                            (25 * S, "set rdns.enabled=off")])
        self.assertIn("set label 20 '1' at", text)
        self.assertIn("set label 22 '3' at", text)
        self.assertIn("title '1  at 5 s: set banner.delay=3s'", text)
        self.assertIn("title '3  at 25 s: set rdns.enabled=off'", text)
        self.assertEqual(text.count("set arrow"), 3)

    def test_one_change_keeps_its_label(self):
        text = self.script([(15 * S, "SIGHUP: tuned")])
        self.assertIn("'SIGHUP: tuned at 15 s'", text)
        self.assertNotIn("title '1  at", text)

"""The plots' decisions (pure: made-up rows in, choices out) and, with
gnuplot installed, that each kind of plot is drawn from a made-up run
folder."""
import csv
import os
import shutil
import tempfile
import unittest
from unittest import mock

from labanalysis import plot

MS, S = 1000, 1000000
T0 = 1_800_000_000_000_000


def row(attempt, start_us, client_us, outcome="ok", code=220, tries=1, connect_us=100):
    return {"attempt": attempt, "try": tries, "start_us": start_us, "connect_us": connect_us,
            "client_us": client_us, "arrival_us": start_us + connect_us + client_us,
            "outcome": outcome, "code": code, "source": "127.0.0.1:%d" % (40000 + attempt)}


def open_loop(waits, every_us):
    """One try every every_us, each waiting the given time."""
    return [row(i + 1, i * every_us, w) for i, w in enumerate(waits)]


def burst(waits):
    return [row(i + 1, 50 * i, w) for i, w in enumerate(waits)]


class Units(unittest.TestCase):
    def test_unit_keeps_tic_numbers_below_2000(self):
        self.assertEqual(plot.time_unit(900), ("µs", 1.0))
        self.assertEqual(plot.time_unit(1999), ("µs", 1.0))
        self.assertEqual(plot.time_unit(750 * MS), ("ms", 1000.0))
        self.assertEqual(plot.time_unit(int(1.5 * S)), ("ms", 1000.0))
        self.assertEqual(plot.time_unit(15 * S), ("s", 1000000.0))

    def test_tic_labels_carry_their_unit(self):
        self.assertEqual(plot.tick_label(1000), "1 ms")
        self.assertEqual(plot.tick_label(2.5 * S), "2.5 s")
        self.assertEqual(plot.tick_label(500), "500 µs")
        self.assertEqual(plot.tick_label(200 * MS), "200 ms")
        self.assertEqual(plot.fmt_us(10 * S), "10 s")

    def test_log_tics_decades_and_between(self):
        narrow = plot.log_tics(1 * MS, 1 * S)
        self.assertIn(2 * MS, narrow)
        self.assertIn(500 * MS, narrow)
        self.assertEqual(narrow[0], 1 * MS)
        self.assertEqual(plot.log_tics(1, 10 * S), [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000])


class YAxis(unittest.TestCase):
    def test_log_only_past_the_spread_rule(self):
        self.assertTrue(plot.use_log([1 * MS, 60 * MS]))
        self.assertFalse(plot.use_log([1 * MS, 40 * MS]))
        self.assertFalse(plot.use_log([0, 0, 30 * MS]))  # zeros do not count
        self.assertFalse(plot.use_log([]))

    def test_climb_past_the_threshold_is_linear_with_the_line(self):
        ya = plot.y_axis([50 * MS, 400 * MS, 750 * MS], 500 * MS)
        self.assertFalse(ya["log"])
        self.assertEqual(ya["unit"], "ms")
        self.assertEqual(ya["threshold"], "in")
        self.assertEqual(ya["lo"], 0)
        self.assertGreater(ya["hi"], 750)

    def test_data_far_below_the_threshold_is_not_squashed(self):
        ya = plot.y_axis([50 * MS, 56 * MS], 500 * MS)
        self.assertEqual(ya["threshold"], "above")
        self.assertLess(ya["hi"] * ya["div"], 100 * MS)

    def test_threshold_just_above_is_drawn(self):
        ya = plot.y_axis([300 * MS, 400 * MS], 500 * MS)
        self.assertEqual(ya["threshold"], "in")
        self.assertGreater(ya["hi"] * ya["div"], 500 * MS)

    def test_wide_spread_is_log_with_unit_tics(self):
        ya = plot.y_axis([1 * MS, 1.2 * MS, 1 * S], 500 * MS)
        self.assertTrue(ya["log"])
        self.assertEqual(ya["threshold"], "in")
        self.assertLess(ya["lo"], 1 * MS)
        self.assertGreater(ya["hi"], 1 * S)
        self.assertTrue(ya["tics"])

    def test_instant_refusals_do_not_make_it_log(self):
        waits = [1 * S, 5 * S, 15 * S, 100]
        ya = plot.y_axis(waits, 10 * S, spread_us=waits[:3])
        self.assertFalse(ya["log"])

    def test_nothing_waited_still_has_an_axis(self):
        ya = plot.y_axis([0, 0], None)
        self.assertGreater(ya["hi"], ya["lo"])
        self.assertEqual(ya["threshold"], "none")
        self.assertEqual(plot.y_axis([], 0)["threshold"], "none")

    def test_threshold_place(self):
        self.assertEqual(plot.threshold_place(0, 5 * S, False), "none")
        self.assertEqual(plot.threshold_place(None, 5 * S, False), "none")
        self.assertEqual(plot.threshold_place(10 * S, 5 * S, False), "in")
        self.assertEqual(plot.threshold_place(11 * S, 5 * S, False), "above")
        self.assertEqual(plot.threshold_place(40 * S, 5 * S, True), "in")
        self.assertEqual(plot.threshold_place(60 * S, 5 * S, True), "above")

    def test_threshold_words(self):
        self.assertEqual(plot.threshold_title(10 * S, "impatient-10 (10 s)"),
                         "give-up threshold: impatient-10 (10 s)")
        off = plot.threshold_title(500 * MS, "impatient-10 (10 s), x0.05", 50 * MS)
        self.assertIn("500 ms", off)
        self.assertIn("off the chart", off)
        self.assertIn("10x", off)


class XAxis(unittest.TestCase):
    def test_burst_when_all_start_within_a_tenth_of_the_wait(self):
        rows = burst([8 * S] * 20)
        self.assertTrue(plot.is_burst(rows))
        xa = plot.x_axis(rows)
        self.assertEqual(xa["mode"], "burst")
        self.assertEqual((xa["lo"], xa["hi"]), (0.5, 20.5))
        self.assertEqual(xa["span_us"], 50 * 19)

    def test_open_loop_is_a_timeline_of_arrivals(self):
        rows = open_loop([1 * S + i * 100 * MS for i in range(90)], 333 * MS)
        self.assertFalse(plot.is_burst(rows))
        xa = plot.x_axis(rows)
        self.assertEqual(xa["mode"], "time")
        self.assertEqual(xa["unit"], "s")
        self.assertEqual(xa["lo"], 0)
        last = max(r["arrival_us"] for r in rows)
        self.assertGreaterEqual(xa["hi"] * xa["div"], last)

    def test_a_mark_after_the_last_arrival_is_on_the_axis(self):
        rows = open_loop([50 * MS] * 10, 100 * MS)
        xa = plot.x_axis(rows, [3 * S])
        self.assertGreaterEqual(xa["hi"] * xa["div"], 3 * S)

    def test_one_try_and_zero_widths(self):
        self.assertTrue(plot.is_burst([row(1, 0, 5 * MS)]))
        xa = plot.time_axis([0, 0])
        self.assertGreater(xa["hi"], xa["lo"])
        self.assertTrue(plot.is_burst([row(1, 0, 0), row(2, 0, 0)]))

    def test_burst_axis_says_so(self):
        self.assertIn("all 20 started within 950 µs", plot.burst_label(20, 950))
        self.assertIn("at once", plot.burst_label(2, 0))
        self.assertEqual(plot.burst_label(1, 0), "attempt number (a single try)")

    def test_marks_need_time_zero(self):
        marks = [{"wall_us": T0 + 15 * S, "label": "SIGHUP: tuned"}]
        self.assertEqual(plot.mark_offsets(marks, T0), [(15 * S, "SIGHUP: tuned")])
        self.assertEqual(plot.mark_offsets(marks, None), [])

    def test_time_zero_from_sessions_in_order(self):
        rows = open_loop([1 * S] * 3, 1 * S)
        sessions = [{"sid": i + 1, "accept_wall_us": T0 + r["start_us"] + r["connect_us"]}
                    for i, r in enumerate(rows)]
        self.assertEqual(plot.estimate_t0(rows, sessions), T0)
        self.assertIsNone(plot.estimate_t0(rows, sessions[:2]))


class Colours(unittest.TestCase):
    def test_class_is_what_a_sender_with_the_threshold_does(self):
        thr = 10 * S
        self.assertEqual(plot.row_class(row(1, 0, 5 * S), thr), "in_time")
        self.assertEqual(plot.row_class(row(1, 0, 12 * S), thr), "late")
        # smtpprobe's outcome was ok, but that sender would have given up
        self.assertEqual(plot.row_class(row(1, 0, 12 * S, outcome="ok"), thr), "late")
        self.assertEqual(plot.row_class(row(1, 0, 12 * S), None), "in_time")

    def test_no_greeting_and_refusals(self):
        self.assertEqual(plot.row_class(row(1, 0, 10 * S, "gave_up", 0), 10 * S), "no_banner")
        self.assertEqual(plot.row_class(row(1, 0, 10 * S, "ndr", 0), 10 * S), "no_banner")
        self.assertEqual(plot.row_class(row(1, 0, 2 * S, "abandoned", 0), 10 * S), "no_banner")
        self.assertEqual(plot.row_class(row(1, 0, 150, "tempfail", 421), 10 * S), "other")
        self.assertEqual(plot.row_class(row(1, 0, 0, "error", 0), 10 * S), "other")


class Labels(unittest.TestCase):
    def test_stacked_tries_are_counted(self):
        pts = [(10.0, 10.0, {"try": 2})] * 10 + [(25.0, 5.0, {"try": 1})]
        groups = plot.clusters(pts, (0, 40), (0, 11))
        self.assertEqual(len(groups), 1)
        self.assertEqual(len(groups[0][2]), 10)
        self.assertEqual(plot.cluster_label(groups[0][2], retried=True), "10 × try 2")
        self.assertEqual(plot.cluster_label(groups[0][2]), "10 tries")
        self.assertEqual(plot.clusters([(i, i, None) for i in range(10)], (0, 10), (0, 10)), [])

    def test_labels_stay_inside(self):
        self.assertEqual(plot.label_side(1, 0, 10, chars=20), "left")
        self.assertEqual(plot.label_side(9.5, 0, 10, chars=20), "right")
        self.assertEqual(plot.label_centre(9.9, 0, 10, 20), "right")
        self.assertEqual(plot.label_centre(0.1, 0, 10, 20), "left")
        self.assertEqual(plot.label_centre(5, 0, 10, 20), "center")

    def test_mark_label_goes_where_no_point_is(self):
        # points crowd the top right of the line: the label goes top left
        crowd = [(0.55 + 0.01 * i, 0.95) for i in range(20)]
        self.assertEqual(plot.free_spot(0.5, 20, crowd), (0.95, "right"))
        self.assertEqual(plot.free_spot(0.5, 20, []), (0.95, "left"))


class Timeline(unittest.TestCase):
    def events(self):
        def pf(s, kind, text=""):
            return {"wall_us": T0 + s * S, "kind": kind, "text": text}
        postfix = [pf(0, "queued", "AAA: from=<labsender@x>, nrcpt=1"),
                   pf(2, "greeting_timeout", "AAA: status=deferred"),
                   pf(3, "queued", "AAA: from=<labsender@x>, nrcpt=1"),
                   pf(5, "greeting_timeout", "AAA: status=deferred"),
                   pf(5, "expired", "AAA: status=expired"),
                   pf(5, "queued", "BBB: from=<>, nrcpt=1"),
                   pf(5, "bounce_sent", "BBB: status=sent"),
                   pf(6, "queued", "CCC: from=<labsender@x>, nrcpt=1"),
                   pf(6, "delivered", "CCC: status=sent")]

        def sess(sid, a, b, outcome):
            return {"sid": sid, "accept_wall_us": T0 + a, "close_wall_us": T0 + b, "outcome": outcome}
        sessions = [sess(1, 400 * MS, 2400 * MS, "abandoned"), sess(2, 3450 * MS, 5480 * MS, "abandoned"),
                    sess(3, 6200 * MS, 6210 * MS, "normal")]
        return postfix, sessions

    def test_story_on_one_axis(self):
        postfix, sessions = self.events()
        ev = plot.timeline_events(postfix, sessions, [(T0 + 5680 * MS, "SIGHUP: rdns off")], 2 * S)
        self.assertEqual(ev["t0"], T0)
        self.assertEqual([x for x, _, _ in ev["submitted"]], [500 * MS, 6500 * MS])  # mid-second
        # the tries are bannerd's abandoned sessions: Postfix hung up at its timeout
        self.assertEqual(ev["try"][0][:2], (400 * MS, 2400 * MS))
        self.assertEqual(ev["deferred"][1], (5480 * MS, "4.4.2: no greeting in 2 s", True))
        self.assertEqual(ev["delivered"], [(6210 * MS, "delivered", True)])
        self.assertEqual(len(ev["expired"]), 1)
        self.assertEqual(len(ev["bounce_sent"]), 1)
        self.assertEqual(ev["fixes"], [(5680 * MS, "SIGHUP: rdns off")])

    def test_without_bannerd_the_postfix_seconds_are_used(self):
        postfix, _ = self.events()
        ev = plot.timeline_events(postfix, [], [], 2 * S)
        self.assertEqual(ev["try"][0][:2], (500 * MS, 2500 * MS))
        self.assertFalse(ev["deferred"][0][2])

    def test_nothing_logged(self):
        self.assertIsNone(plot.timeline_events([], [], [], 2 * S)["t0"])


def write_sessions_csv(folder, rows):
    cols = ["attempt", "try", "start_us", "connect_us", "client_us", "arrival_us", "outcome", "code",
            "source", "sid", "server_outcome", "queue_us", "rdns_wait_us", "rdns_us", "delay_us",
            "write_us", "path_us"]
    with open(os.path.join(folder, "sessions.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in rows:
            w.writerow([r.get(c, "") if c in r else (0 if c.endswith("_us") else "") for c in cols])


def is_png(path):
    with open(path, "rb") as f:
        return os.path.getsize(path) > 1000 and f.read(8) == b"\x89PNG\r\n\x1a\n"


class Drawn(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="test_plot.")
        self.addCleanup(shutil.rmtree, self.dir)

    def ctx(self, **kw):
        c = {"name": "made-up", "article": "a made-up run", "mode": "quick", "scale": 0.05,
             "threshold_us": 500 * MS, "threshold_label": "impatient-10 (10 s), x0.05"}
        c.update(kw)
        return c

    @unittest.skipUnless(plot.gnuplot_path(), "no gnuplot")
    def test_banner_png_from_a_sessions_csv(self):
        rows = open_loop([50 * MS + i * 10 * MS for i in range(70)], 20 * MS)
        rows.append(row(71, 1400 * MS, 150, "tempfail", 421))
        rows.append(row(72, 1400 * MS, 500 * MS, "gave_up", 0))
        write_sessions_csv(self.dir, rows)
        run = {"marks": [{"wall_us": T0 + 750 * MS, "label": "SIGHUP: tuned"}], "relay": [], "postfix": [],
               "log": {"sessions": [], "events": []}}
        made = plot.plots_for_run(self.dir, self.ctx(), run, T0)
        self.assertEqual(made, [os.path.join(self.dir, "banner.png")])
        self.assertTrue(is_png(made[0]))

    @unittest.skipUnless(plot.gnuplot_path(), "no gnuplot")
    def test_both_sides_and_timeline(self):
        rows = burst([400 * MS] * 5)
        relay = [{"id": i + 1, "client": r["source"], "via": "127.0.0.1:%d" % (50000 + i),
                  "server_first_byte_us": 300 + 10 * i, "client_first_byte_us": 400 * MS + i}
                 for i, r in enumerate(rows)]
        made = plot.plots_for_run(self.dir, self.ctx(rows=rows), {"relay": relay}, None)
        self.assertEqual([os.path.basename(p) for p in made], ["banner.png", "both-sides.png"])
        self.assertTrue(all(is_png(p) for p in made))
        postfix, sessions = Timeline().events()
        run = {"postfix": postfix, "log": {"sessions": sessions, "events": []},
               "marks": [{"wall_us": T0 + 5680 * MS, "label": "SIGHUP: rdns off"}]}
        made = plot.plots_for_run(self.dir, self.ctx(probe=None, rows=[], threshold_us=2 * S), run, None)
        self.assertEqual(made, [os.path.join(self.dir, "timeline.png")])
        self.assertTrue(is_png(made[0]))

    @unittest.skipUnless(plot.gnuplot_path(), "no gnuplot")
    def test_compare(self):
        a, b = os.path.join(self.dir, "untuned"), os.path.join(self.dir, "tuned")
        os.mkdir(a)
        os.mkdir(b)
        write_sessions_csv(a, open_loop([1 * S + i * 150 * MS for i in range(90)], 333 * MS))
        write_sessions_csv(b, open_loop([1 * S] * 90, 333 * MS))
        with open(os.path.join(a, "figures"), "w") as f:
            f.write("threshold 10000000\n")
        with mock.patch("sys.stdout"):
            self.assertEqual(plot.compare(a, b), 0)
        self.assertTrue(is_png(os.path.join(a, "compare-tuned.png")))
        with mock.patch("sys.stderr"):
            self.assertEqual(plot.compare(a, os.path.join(self.dir, "nothing")), 2)

    def test_no_gnuplot_no_plot(self):
        write_sessions_csv(self.dir, open_loop([50 * MS] * 5, 100 * MS))
        with mock.patch.object(plot, "gnuplot_path", return_value=None):
            self.assertEqual(plot.plots_for_run(self.dir, self.ctx(), {}, None), [])
        self.assertEqual(sorted(os.listdir(self.dir)), ["sessions.csv"])


if __name__ == "__main__":
    unittest.main()

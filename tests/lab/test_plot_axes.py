"""The plots' decisions (plot_axes: pure, made-up rows in, choices
out)."""
import unittest

from labanalysis import plot_axes

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
        self.assertEqual(plot_axes.time_unit(900), ("µs", 1.0))
        self.assertEqual(plot_axes.time_unit(1999), ("µs", 1.0))
        self.assertEqual(plot_axes.time_unit(750 * MS), ("ms", 1000.0))
        self.assertEqual(plot_axes.time_unit(int(1.5 * S)), ("ms", 1000.0))
        self.assertEqual(plot_axes.time_unit(15 * S), ("s", 1000000.0))

    def test_tic_labels_carry_their_unit(self):
        self.assertEqual(plot_axes.tick_label(1000), "1 ms")
        self.assertEqual(plot_axes.tick_label(2.5 * S), "2.5 s")
        self.assertEqual(plot_axes.tick_label(500), "500 µs")
        self.assertEqual(plot_axes.tick_label(200 * MS), "200 ms")
        self.assertEqual(plot_axes.fmt_us(10 * S), "10 s")

    def test_log_tics_decades_and_between(self):
        narrow = plot_axes.log_tics(1 * MS, 1 * S)
        self.assertIn(2 * MS, narrow)
        self.assertIn(500 * MS, narrow)
        self.assertEqual(narrow[0], 1 * MS)
        self.assertEqual(plot_axes.log_tics(1, 10 * S), [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000])


class YAxis(unittest.TestCase):
    def test_log_only_past_the_spread_rule(self):
        self.assertTrue(plot_axes.use_log([1 * MS, 60 * MS]))
        self.assertFalse(plot_axes.use_log([1 * MS, 40 * MS]))
        self.assertFalse(plot_axes.use_log([0, 0, 30 * MS]))  # zeros do not count
        self.assertFalse(plot_axes.use_log([]))

    def test_climb_past_the_threshold_is_linear_with_the_line(self):
        ya = plot_axes.y_axis([50 * MS, 400 * MS, 750 * MS], 500 * MS)
        self.assertFalse(ya["log"])
        self.assertEqual(ya["unit"], "ms")
        self.assertEqual(ya["threshold"], "in")
        self.assertEqual(ya["lo"], 0)
        self.assertGreater(ya["hi"], 750)

    def test_data_far_below_the_threshold_is_not_squashed(self):
        ya = plot_axes.y_axis([50 * MS, 56 * MS], 500 * MS)
        self.assertEqual(ya["threshold"], "above")
        self.assertLess(ya["hi"] * ya["div"], 100 * MS)

    def test_threshold_just_above_is_drawn(self):
        ya = plot_axes.y_axis([300 * MS, 400 * MS], 500 * MS)
        self.assertEqual(ya["threshold"], "in")
        self.assertGreater(ya["hi"] * ya["div"], 500 * MS)

    def test_wide_spread_is_log_with_unit_tics(self):
        ya = plot_axes.y_axis([1 * MS, 1.2 * MS, 1 * S], 500 * MS)
        self.assertTrue(ya["log"])
        self.assertEqual(ya["threshold"], "in")
        self.assertLess(ya["lo"], 1 * MS)
        self.assertGreater(ya["hi"], 1 * S)
        self.assertTrue(ya["tics"])

    def test_instant_refusals_do_not_make_it_log(self):
        waits = [1 * S, 5 * S, 15 * S, 100]
        ya = plot_axes.y_axis(waits, 10 * S, spread_us=waits[:3])
        self.assertFalse(ya["log"])

    def test_nothing_waited_still_has_an_axis(self):
        ya = plot_axes.y_axis([0, 0], None)
        self.assertGreater(ya["hi"], ya["lo"])
        self.assertEqual(ya["threshold"], "none")
        self.assertEqual(plot_axes.y_axis([], 0)["threshold"], "none")

    def test_threshold_place(self):
        self.assertEqual(plot_axes.threshold_place(0, 5 * S, False), "none")
        self.assertEqual(plot_axes.threshold_place(None, 5 * S, False), "none")
        self.assertEqual(plot_axes.threshold_place(10 * S, 5 * S, False), "in")
        self.assertEqual(plot_axes.threshold_place(11 * S, 5 * S, False), "above")
        self.assertEqual(plot_axes.threshold_place(40 * S, 5 * S, True), "in")
        self.assertEqual(plot_axes.threshold_place(60 * S, 5 * S, True), "above")

    def test_threshold_words(self):
        self.assertEqual(plot_axes.threshold_title(10 * S, "impatient-10 (10 s)"),
                         "give-up threshold: impatient-10 (10 s)")
        off = plot_axes.threshold_title(500 * MS, "impatient-10 (10 s), x0.05", 50 * MS)
        self.assertIn("500 ms", off)
        self.assertIn("off the chart", off)
        self.assertIn("10x", off)


class XAxis(unittest.TestCase):
    def test_burst_when_all_start_within_a_tenth_of_the_wait(self):
        rows = burst([8 * S] * 20)
        self.assertTrue(plot_axes.is_burst(rows))
        xa = plot_axes.x_axis(rows)
        self.assertEqual(xa["mode"], "burst")
        self.assertEqual((xa["lo"], xa["hi"]), (0.5, 20.5))
        self.assertEqual(xa["span_us"], 50 * 19)

    def test_open_loop_is_a_timeline_of_arrivals(self):
        rows = open_loop([1 * S + i * 100 * MS for i in range(90)], 333 * MS)
        self.assertFalse(plot_axes.is_burst(rows))
        xa = plot_axes.x_axis(rows)
        self.assertEqual(xa["mode"], "time")
        self.assertEqual(xa["unit"], "s")
        self.assertEqual(xa["lo"], 0)
        last = max(r["arrival_us"] for r in rows)
        self.assertGreaterEqual(xa["hi"] * xa["div"], last)

    def test_a_mark_after_the_last_arrival_is_on_the_axis(self):
        rows = open_loop([50 * MS] * 10, 100 * MS)
        xa = plot_axes.x_axis(rows, [3 * S])
        self.assertGreaterEqual(xa["hi"] * xa["div"], 3 * S)

    def test_one_try_and_zero_widths(self):
        self.assertTrue(plot_axes.is_burst([row(1, 0, 5 * MS)]))
        xa = plot_axes.time_axis([0, 0])
        self.assertGreater(xa["hi"], xa["lo"])
        self.assertTrue(plot_axes.is_burst([row(1, 0, 0), row(2, 0, 0)]))

    def test_burst_axis_says_so(self):
        self.assertIn("all 20 started within 950 µs", plot_axes.burst_label(20, 950))
        self.assertIn("at once", plot_axes.burst_label(2, 0))
        self.assertEqual(plot_axes.burst_label(1, 0), "attempt number (a single try)")

    def test_marks_need_time_zero(self):
        marks = [{"wall_us": T0 + 15 * S, "label": "SIGHUP: tuned"}]
        self.assertEqual(plot_axes.mark_offsets(marks, T0), [(15 * S, "SIGHUP: tuned")])
        self.assertEqual(plot_axes.mark_offsets(marks, None), [])

    def test_time_zero_from_sessions_in_order(self):
        rows = open_loop([1 * S] * 3, 1 * S)
        sessions = [{"sid": i + 1, "accept_wall_us": T0 + r["start_us"] + r["connect_us"]}
                    for i, r in enumerate(rows)]
        self.assertEqual(plot_axes.estimate_t0(rows, sessions), T0)
        self.assertIsNone(plot_axes.estimate_t0(rows, sessions[:2]))


class Colours(unittest.TestCase):
    def test_class_is_what_a_sender_with_the_threshold_does(self):
        thr = 10 * S
        self.assertEqual(plot_axes.row_class(row(1, 0, 5 * S), thr), "in_time")
        self.assertEqual(plot_axes.row_class(row(1, 0, 12 * S), thr), "late")
        # smtpprobe's outcome was ok, but that sender would have given up
        self.assertEqual(plot_axes.row_class(row(1, 0, 12 * S, outcome="ok"), thr), "late")
        self.assertEqual(plot_axes.row_class(row(1, 0, 12 * S), None), "in_time")

    def test_no_greeting_and_refusals(self):
        self.assertEqual(plot_axes.row_class(row(1, 0, 10 * S, "gave_up", 0), 10 * S), "no_banner")
        self.assertEqual(plot_axes.row_class(row(1, 0, 10 * S, "ndr", 0), 10 * S), "no_banner")
        self.assertEqual(plot_axes.row_class(row(1, 0, 2 * S, "abandoned", 0), 10 * S), "no_banner")
        self.assertEqual(plot_axes.row_class(row(1, 0, 150, "tempfail", 421), 10 * S), "other")
        self.assertEqual(plot_axes.row_class(row(1, 0, 0, "error", 0), 10 * S), "other")


class Labels(unittest.TestCase):
    def test_stacked_tries_are_counted(self):
        pts = [(10.0, 10.0, {"try": 2})] * 10 + [(25.0, 5.0, {"try": 1})]
        groups = plot_axes.clusters(pts, (0, 40), (0, 11))
        self.assertEqual(len(groups), 1)
        self.assertEqual(len(groups[0][2]), 10)
        self.assertEqual(plot_axes.cluster_label(groups[0][2], retried=True), "10 × try 2")
        self.assertEqual(plot_axes.cluster_label(groups[0][2]), "10 tries")
        self.assertEqual(plot_axes.clusters([(i, i, None) for i in range(10)], (0, 10), (0, 10)), [])

    def test_labels_stay_inside(self):
        self.assertEqual(plot_axes.label_side(1, 0, 10, chars=20), "left")
        self.assertEqual(plot_axes.label_side(9.5, 0, 10, chars=20), "right")
        self.assertEqual(plot_axes.label_centre(9.9, 0, 10, 20), "right")
        self.assertEqual(plot_axes.label_centre(0.1, 0, 10, 20), "left")
        self.assertEqual(plot_axes.label_centre(5, 0, 10, 20), "center")

    def test_mark_label_goes_where_no_point_is(self):
        # points crowd the top right of the line: the label goes top left
        crowd = [(0.55 + 0.01 * i, 0.95) for i in range(20)]
        self.assertEqual(plot_axes.free_spot(0.5, 20, crowd), (0.95, "right"))
        self.assertEqual(plot_axes.free_spot(0.5, 20, []), (0.95, "left"))


if __name__ == "__main__":
    unittest.main()


class HeldConnect(unittest.TestCase):
    """A connect the path held (a dropped SYN) is drawn as part of the
    wait: the greeting alone would show a healthy server."""

    def rows(self, held_us):
        out = burst([2 * MS] * 5)
        for r in out:
            r["connect_held_us"] = held_us
            r["wait_us"] = held_us + r["client_us"]
        return out

    def test_y_is_the_whole_wait_when_a_connect_was_held(self):
        from labanalysis.plot_banner import banner_script
        ctx = {"name": "syn", "threshold_us": 500 * MS, "threshold_label": "a 0.5 s sender"}
        s = banner_script("/tmp/x.png", ctx, self.rows(S), [])
        self.assertIn("time from connect() to the 220 greeting", s)
        self.assertIn("its connect included", s)
        self.assertIn("greeting later than 500 ms", s)		# a second past the line
        s = banner_script("/tmp/x.png", ctx, self.rows(0), [])
        self.assertNotIn("connect()", s)
        self.assertIn("greeting within 500 ms: 5", s)

"""The plots' entry points: with gnuplot installed, that each kind of
plot is drawn from a made-up run folder (plots_for_run, compare), and
that without it nothing is written. The decisions are tested in
test_plot_axes.py, the Postfix timeline's events in
test_plot_timeline.py."""
import csv
import os
import shutil
import tempfile
import unittest
from unittest import mock

from labanalysis import gnuplot, plot
from test_plot_axes import MS, S, T0, burst, open_loop, row
from test_plot_timeline import postfix_story


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

    @unittest.skipUnless(gnuplot.gnuplot_path(), "no gnuplot")
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

    @unittest.skipUnless(gnuplot.gnuplot_path(), "no gnuplot")
    def test_both_sides_and_timeline(self):
        rows = burst([400 * MS] * 5)
        relay = [{"id": i + 1, "client": r["source"], "via": "127.0.0.1:%d" % (50000 + i),
                  "server_first_byte_us": 300 + 10 * i, "client_first_byte_us": 400 * MS + i}
                 for i, r in enumerate(rows)]
        made = plot.plots_for_run(self.dir, self.ctx(rows=rows), {"relay": relay}, None)
        self.assertEqual([os.path.basename(p) for p in made], ["banner.png", "both-sides.png"])
        self.assertTrue(all(is_png(p) for p in made))
        postfix, sessions = postfix_story()
        run = {"postfix": postfix, "log": {"sessions": sessions, "events": []},
               "marks": [{"wall_us": T0 + 5680 * MS, "label": "SIGHUP: rdns off"}]}
        made = plot.plots_for_run(self.dir, self.ctx(probe=None, rows=[], threshold_us=2 * S), run, None)
        self.assertEqual(made, [os.path.join(self.dir, "timeline.png")])
        self.assertTrue(is_png(made[0]))

    @unittest.skipUnless(gnuplot.gnuplot_path(), "no gnuplot")
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
        with mock.patch.object(gnuplot, "gnuplot_path", return_value=None):
            self.assertEqual(plot.plots_for_run(self.dir, self.ctx(), {}, None), [])
        self.assertEqual(sorted(os.listdir(self.dir)), ["sessions.csv"])


if __name__ == "__main__":
    unittest.main()

"""The two-sided test: smtpprobe's JSON from each vantage, farthest
first, and the hop where the greeting's time appears."""
import contextlib
import io
import json
import os
import shutil
import tempfile
import unittest

from labanalysis import __main__ as cli
from labanalysis import pathtest

S = 1000000
MS = 1000


def probe(connect_us, banner_us, n=5, failed=None):
    """smtpprobe's --json for n tries that connected in connect_us and got
    the 220 banner_us later; failed='error' for n tries that did not."""
    def stat(v):
        return {"p50": v, "p90": v, "p99": v + v // 10, "p999": v + v // 10, "max": v + v // 10,
                "min": v, "mean": float(v), "count": n}
    outcome = dict.fromkeys(("ok", "gave_up", "ndr", "refused", "reset", "tempfail", "permfail", "error"), 0)
    if failed:
        outcome[failed] = n
        empty = {"count": 0}
        return {"attempts": n, "tries": n, "connect": empty, "banner": dict(empty), "total": dict(empty),
                "try_outcome": outcome, "outcome": dict(outcome)}
    outcome["ok"] = n
    return {"attempts": n, "tries": n, "connect": stat(connect_us), "banner": stat(banner_us),
            "total": stat(connect_us + banner_us + 300), "try_outcome": outcome, "outcome": dict(outcome)}


class PathtestCli(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="pathtest.")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def run_test(self, **vantages):
        """vantages in path order: name=probe dict, or None for no file."""
        args = []
        for name, p in vantages.items():
            path = os.path.join(self.dir, "pathtest-%s.json" % name)
            if p is not None:
                with open(path, "w") as f:
                    json.dump(p, f)
            args.append("%s=%s" % (name, path))
        out = os.path.join(self.dir, "out")
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            rc = cli.main(["pathtest", out] + args)
        self.assertEqual(rc, 0)
        with open(os.path.join(out, "pathtest.txt")) as f:
            self.assertEqual(f.read(), buf.getvalue())
        with open(os.path.join(out, "pathtest.json")) as f:
            res = json.load(f)
        self.assertEqual(buf.getvalue().splitlines()[-1], res["verdict"])
        return buf.getvalue(), res

    def test_a_dropped_syn_between_sender_and_filter(self):
        text, res = self.run_test(sender=probe(1010 * MS, 20), filter=probe(400, 30), mail=probe(300, 25))
        self.assertEqual(res["hop"], "sender-filter")
        self.assertEqual(res["verdict"], "pathtest: the time appears between sender and filter "
                                         "(sender p50 1.01s, filter p50 430us, mail p50 325us)")
        self.assertEqual([r["vantage"] for r in res["rows"]], ["sender", "filter", "mail"])
        self.assertEqual([r["slow"] for r in res["rows"]], [True, False, False])
        head, sender = text.splitlines()[:2]
        self.assertEqual(head.split(), ["vantage", "tries", "ok", "connect", "p50", "p99", "banner", "p50",
                                        "p99", "total", "p50", "p99"])
        self.assertEqual(sender.split(), ["sender", "5/5", "1.01s", "1.11s", "20us", "22us", "1.01s",
                                          "1.11s", "slow"])

    def test_between_filter_and_mail(self):
        # the filter's inside is slow too: whatever holds it is nearer
        _, res = self.run_test(sender=probe(3 * S, 40), filter=probe(3 * S, 30), mail=probe(300, 25))
        self.assertEqual(res["hop"], "filter-mail")
        self.assertTrue(res["verdict"].startswith("pathtest: the time appears between filter and mail ("))

    def test_inside_the_mail_host(self):
        # a 1 s lookup: slow from every side, by the same time
        _, res = self.run_test(sender=probe(500, S), filter=probe(300, S), mail=probe(100, S))
        self.assertEqual(res["hop"], "mail")
        self.assertTrue(res["verdict"].startswith("pathtest: the time appears inside the mail host ("))
        self.assertEqual(res["hops"], [])

    def test_inside_the_mail_host_and_more_on_the_path(self):
        _, res = self.run_test(sender=probe(3 * S, S), filter=probe(300, S), mail=probe(100, S))
        self.assertEqual(res["hop"], "mail")
        self.assertIn("inside the mail host; more between sender and filter (", res["verdict"])
        self.assertEqual(res["hops"], ["sender-filter"])

    def test_no_hop(self):
        # a busy machine's milliseconds are no hop
        _, res = self.run_test(sender=probe(3 * MS, 2 * MS), filter=probe(400, 30), mail=probe(300, 25))
        self.assertEqual(res["hop"], "none")
        self.assertTrue(res["verdict"].startswith("pathtest: no hop: the greeting is prompt from every side ("))

    def test_time_that_grows_at_every_hop_is_no_single_hop(self):
        _, res = self.run_test(a=probe(300 * MS, 0), b=probe(220 * MS, 0), c=probe(140 * MS, 0),
                               d=probe(60 * MS, 0))
        self.assertEqual(res["hop"], "none")
        self.assertTrue(res["verdict"].startswith("pathtest: no hop: slow from a, b, c, but no single hop "
                                                  "adds 100.0ms ("), res["verdict"])

    def test_a_missing_file_is_a_row_and_counts_as_slow(self):
        text, res = self.run_test(sender=None, filter=probe(400, 30), mail=probe(300, 25))
        self.assertEqual(res["hop"], "sender-filter")
        self.assertIn("(sender no result, filter p50 430us", res["verdict"])
        row = text.splitlines()[1]
        self.assertRegex(row, r"^sender +0/0 +- .* no result: \S+pathtest-sender.json missing$")
        self.assertTrue(res["rows"][0]["slow"])

    def test_tries_that_all_failed_count_as_slow(self):
        text, res = self.run_test(sender=probe(0, 0, failed="error"), filter=probe(400, 30),
                                  mail=probe(300, 25))
        self.assertEqual(res["hop"], "sender-filter")
        self.assertIn("(sender connection failed, filter", res["verdict"])
        self.assertRegex(text.splitlines()[1], r"^sender +0/5 .* connection failed: no try got the 220 \(5 error\)$")

    def test_some_tries_failed_is_said_in_the_row(self):
        p = probe(S, 50)
        p["try_outcome"].update(ok=3, error=2)
        text, res = self.run_test(sender=p, filter=probe(400, 30), mail=probe(300, 25))
        self.assertEqual(res["hop"], "sender-filter")
        self.assertRegex(text.splitlines()[1], r"^sender +3/5 .* slow; times of the tries that got the 220; "
                                               r"the others: 2 error$")

    def test_the_mail_host_failing_is_inside_it(self):
        _, res = self.run_test(sender=probe(0, 0, failed="refused"), filter=probe(0, 0, failed="refused"),
                               mail=probe(0, 0, failed="refused"))
        self.assertEqual(res["hop"], "mail")

    def test_two_vantages(self):
        _, res = self.run_test(outside=probe(S, 50), inside=probe(200, 40))
        self.assertEqual(res["hop"], "outside-inside")
        self.assertTrue(res["verdict"].startswith("pathtest: the time appears between outside and inside ("))
        _, res = self.run_test(outside=probe(S, 50), inside=probe(S, 40))
        self.assertEqual(res["hop"], "inside")
        self.assertIn("inside the inside host", res["verdict"])

    def test_more_vantages_name_the_farthest_hop_first(self):
        _, res = self.run_test(a=probe(4 * S, 50), b=probe(400, 40), c=probe(S, 40), d=probe(300, 40))
        self.assertEqual(res["hop"], "a-b")
        self.assertEqual(res["hops"], ["a-b", "c-d"])
        self.assertIn("between a and b; more between c and d (", res["verdict"])

    def test_a_vantage_without_its_path_is_refused(self):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            self.assertEqual(cli.main(["pathtest", self.dir, "sender"]), 2)
        self.assertIn("not VANTAGE=PROBE_JSON", err.getvalue())


class Rule(unittest.TestCase):
    def row(self, name, connect_us, banner_us):
        return pathtest.vantage_row(name, probe(connect_us, banner_us))

    def test_a_hop_adds_time_from_100ms_and_half_again(self):
        near = self.row("near", 300, 200)
        self.assertFalse(pathtest.adds_time(self.row("far", 90 * MS, 200), near))
        self.assertTrue(pathtest.adds_time(self.row("far", 110 * MS, 200), near))
        one_s = self.row("near", 100, S)
        self.assertFalse(pathtest.adds_time(self.row("far", 400 * MS, S), one_s))
        self.assertTrue(pathtest.adds_time(self.row("far", 600 * MS, S), one_s))


if __name__ == "__main__":
    unittest.main()

"""The words: how the DNS server answered, what a healthy run says."""
import unittest

from labanalysis import cause, explain, sessions
from synth import capacity, pair

S = 1000000
CONFIG = {"rdns_timeout_us": S, "rdns_worst_us": 15 * S, "rdns_why": "rdns.enabled = on"}


def rows_of(pairs):
    rows, _ = sessions.join([p for p, _ in pairs], [r for _, r in pairs])
    return rows


class DnsAnswers(unittest.TestCase):
    def test_dead(self):
        pairs = [pair(i, 0, rdns=15 * S) for i in range(10)]
        for _, r in pairs:
            r["rdns_result"] = "timeout"
        line = explain.dns_answers(rows_of(pairs), CONFIG)
        self.assertIn("10 lookups (10 timed out)", line)
        self.assertTrue(line.endswith("it never answered (the resolver gives up after 15.00s)"), line)

    def test_slow(self):
        line = explain.dns_answers(rows_of([pair(i, 0, rdns=5 * S) for i in range(4)]), CONFIG)
        self.assertIn("answered only after retries", line)

    def test_flaky(self):
        pairs = [pair(i, 0, rdns=(3 * S if i == 0 else 1000)) for i in range(50)]
        self.assertIn("some only after the resolver's retries", explain.dns_answers(rows_of(pairs), CONFIG))

    def test_fast_and_spread_is_no_retry(self):
        # p99 many times p50 but far under the timeout: no retry happened
        pairs = [pair(i, 0, rdns=(7000 if i < 3 else 1000)) for i in range(200)]
        line = explain.dns_answers(rows_of(pairs), CONFIG)
        self.assertNotIn("retries", line)


class Healthy(unittest.TestCase):
    def test_nothing_crosses_the_threshold_the_lever_is_optional(self):
        pairs = [pair(i, i * 333333, rdns=S) for i in range(30)]
        rows = rows_of(pairs)
        res = cause.analyse(rows, [r for _, r in pairs], capacity(threads=64, workers=16, spw=16),
                            10 * S, CONFIG)
        self.assertEqual(res["cause"], "rdns")
        self.assertIn("  lever, if the banner must be faster: rdns.enabled = off", "\n".join(res["lines"]))

    def test_past_the_threshold_the_lever_is_plain(self):
        pairs = [pair(i, i * 333333, rdns=12 * S) for i in range(30)]
        res = cause.analyse(rows_of(pairs), [r for _, r in pairs], capacity(threads=64, workers=16, spw=16),
                            10 * S, CONFIG)
        self.assertIn("of the time past the 10.00s threshold", res["lines"][0])
        self.assertIn("  lever: rdns.enabled = off", "\n".join(res["lines"]))


class SilentClients(unittest.TestCase):
    def test_the_banner_did_not_reach_them(self):
        from test_cause import delivered, left_silent
        recs = [left_silent(i + 1, i * 2 * S, S + 3000) for i in range(3)] + [delivered(4, 7 * S)]
        rows = sessions.server_only_rows(recs)
        res = cause.analyse(rows, recs, capacity(pool=False, spw=0), S, {})
        first, lever = res["lines"][:2]
        self.assertTrue(first.startswith("path: bannerd sent the banner within 350us (p99), yet the clients "
                                         "of 3 of 4 sessions left without a word after 1.00s (p50), at the "
                                         "1.00s threshold (their greeting timeout): the banner did not "
                                         "reach them"), first)
        self.assertIn("packet filter or firewall on the path", first)
        self.assertTrue(lever.startswith("  lever: nothing in bannerd"), lever)
        self.assertIn("scripts/lab pathtest", lever)

    def test_all_of_them_and_no_timeout_named_when_it_is_not_the_threshold(self):
        from test_cause import left_silent
        recs = [left_silent(i + 1, i * 6 * S, 5 * S) for i in range(2)]
        rows = sessions.server_only_rows(recs)
        res = cause.analyse(rows, recs, capacity(pool=False, spw=0), S, {})
        self.assertIn("yet 2 sessions' clients left without a word after 5.00s (p50): the banner",
                      res["lines"][0])


if __name__ == "__main__":
    unittest.main()

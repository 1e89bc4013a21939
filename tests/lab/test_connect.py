"""A connect the path held (dropped SYNs) is part of the wait, in 'path':
bannerd cannot see a connection before it accepts it."""
import unittest

from labanalysis import cause, figures, sessions, verdict
from synth import capacity, pair

S = 1000000
MS = 1000


def analyse(pairs, threshold_us, cap=None):
    rows, left = sessions.join([p for p, _ in pairs], [r for _, r in pairs])
    assert not left
    recs = [r for _, r in pairs]
    return rows, cause.analyse(rows, recs, cap or capacity(pool=False, spw=0), threshold_us, {})


def syn_dropped(n, connect_us=S, banner_write=200):
    # the filter dropped the first SYN: the kernel resent it after 1 s,
    # bannerd accepted then and greeted in 200 us
    return [pair(i, i * 1000, connect_us=connect_us + i, write=banner_write) for i in range(n)]


class HeldConnect(unittest.TestCase):
    def test_a_dropped_syn_is_the_path(self):
        for n in (1, 20):
            for threshold in (500 * MS, 10 * S):     # past the threshold, and a healthy run
                rows, res = analyse(syn_dropped(n), threshold)
                self.assertEqual((res["cause"], res["lever"]), ("path", "path"), (n, threshold))

    def test_the_wait_is_connect_plus_greeting_and_the_parts_add_up(self):
        (row,), _ = sessions.join(*[[x] for x in pair(1, 0, connect_us=S, write=200, path=50)])
        self.assertEqual(row["client_us"], 250)
        self.assertEqual(row["connect_held_us"], S)
        self.assertEqual(row["wait_us"], S + 250)
        self.assertEqual(row["parts"]["path"], S + 50)
        self.assertEqual(sum(row["parts"].values()), row["wait_us"])

    def test_an_unmatched_try_with_a_held_connect(self):
        p, _ = pair(1, 0, connect_us=3 * S, write=200)
        (row,), _ = sessions.join([p], [])
        self.assertEqual(row["parts"]["path"], 3 * S + 200)
        self.assertEqual(sum(row["parts"].values()), row["wait_us"])

    def test_a_loopback_connect_leaves_a_slow_lookup_the_cause(self):
        pairs = [pair(i, i * 10 * MS, connect_us=50, rdns=S) for i in range(20)]
        for threshold in (500 * MS, 10 * S):
            rows, res = analyse(pairs, threshold)
            self.assertEqual(res["cause"], "rdns", threshold)
            self.assertEqual(res["lever"], "rdns.enabled")
            self.assertTrue(all(r["connect_held_us"] == 0 for r in rows))

    def test_a_loaded_loopback_connect_is_noise_not_the_path(self):
        # 2 cores, 300 connections: the client's loop notices its connects
        # 1-5 ms late, longer than a protocol log's lookup and far longer
        # than a healthy banner
        lookups = [pair(i, i * 10 * MS, connect_us=4 * MS, rdns=1500, write=150) for i in range(50)]
        self.assertEqual(analyse(lookups, 2 * S)[1]["cause"], "rdns")
        quick = [pair(i, i * 10 * MS, connect_us=4 * MS, queue=100, write=60) for i in range(50)]
        self.assertEqual(analyse(quick, 2 * S)[1]["cause"], "none")

    def test_the_words_say_it_was_spent_connecting(self):
        _, res = analyse(syn_dropped(20), 500 * MS)
        first = res["lines"][0]
        self.assertRegex(first, r"^path: the client's connect took 1\.00s \(p50, p99 1\.00s\) before "
                                r"bannerd could accept it, then bannerd sent the banner within 200us \(p99\)")
        self.assertIn("100% of it connecting (SYN retries", first)
        self.assertIn("drops or holds the handshake", res["lines"][1])

    def test_a_short_hold_is_not_called_a_syn_retry(self):
        _, res = analyse(syn_dropped(20, connect_us=300 * MS), 100 * MS)
        self.assertEqual(res["cause"], "path")
        self.assertIn("(the handshake held: a filter delaying the SYN or its answer)", res["lines"][0])

    def test_a_held_banner_is_still_told_as_before(self):
        # slowrelay holding the 220: the connect is quick, the greeting late
        pairs = [pair(i, 0, path=8 * S) for i in range(20)]
        _, res = analyse(pairs, 5 * S)
        self.assertRegex(res["lines"][0], r"^path: bannerd sent the banner within .* is between them, a packet")
        self.assertNotIn("connecting", res["lines"][0])

    def test_the_stage_table_says_path_holds_the_connect(self):
        rows, res = analyse(syn_dropped(20), 500 * MS)
        lines = verdict.stage_table(res, rows, 500 * MS)
        self.assertIn("(path includes the client's connect on 20 of 20 tries, held on the path: mean 1.00s;",
                      lines[-1])
        rows, res = analyse([pair(i, 0, rdns=S) for i in range(5)], 500 * MS)
        self.assertNotIn("connect", "\n".join(verdict.stage_table(res, rows, 500 * MS)))

    def test_what_a_sender_would_give_up_on_is_still_the_greeting(self):
        # a greeting timeout starts once connected: a 1 s connect and a
        # prompt 220 is no give-up at 500 ms
        rows, _ = analyse(syn_dropped(20), 500 * MS)
        self.assertEqual(figures.give_up_counts(rows, 500 * MS), (0, 0))


class ConnectFigures(unittest.TestCase):
    def test_connect_and_total_figures_from_the_probe(self):
        stat = {"p50": 1008269, "p90": 1008269, "p99": 1008269, "p999": 1008269, "max": 1008269,
                "min": 1007696, "mean": 1007964.8, "count": 5}
        fig = figures.Figures()
        figures.add_probe(fig, {"connect": stat, "banner": dict(stat), "total": dict(stat)})
        for group in ("connect", "total"):
            for k in ("p50", "p90", "p99", "p999", "min", "max", "mean"):
                self.assertIn("%s.%s" % (group, k), fig.durations)
            self.assertEqual(fig.get(group + ".count"), 5)
        self.assertEqual(fig.get("connect.min"), 1007696)

    def test_held_connects_are_counted(self):
        rows, _ = analyse(syn_dropped(20), 500 * MS)
        fig = figures.Figures()
        figures.add_rows(fig, rows, 500 * MS)
        self.assertEqual(fig.get("connect.held"), 20)


if __name__ == "__main__":
    unittest.main()

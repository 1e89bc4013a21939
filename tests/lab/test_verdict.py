"""What the verdict says: what happened apart from what would have."""
import unittest

from labanalysis import cause, figures, sessions, verdict
from synth import capacity, pair

S = 1000000


def ctx_for(pairs, threshold_us, probe=None, scale=1):
    rows, _ = sessions.join([p for p, _ in pairs], [r for _, r in pairs])
    res = cause.analyse(rows, [r for _, r in pairs], capacity(pool=False, spw=0), threshold_us)
    fig = figures.Figures()
    figures.add_probe(fig, probe)
    figures.add_rows(fig, rows, threshold_us)
    return {"name": "t", "article": "a", "mode": "full" if scale == 1 else "quick", "scale": scale,
            "threshold_us": threshold_us, "threshold_label": "impatient-10", "probe": probe,
            "rows": rows, "attributed": cause.attributable(rows), "res": res, "figures": fig,
            "checks": [], "extra": []}


def gave_up_pairs(n, waited):
    out = []
    for i in range(n):
        p, r = pair(i, 0, rdns=waited, write=0)
        r.update(banner_us=None, waited_us=r["t_us"], outcome="abandoned")
        p.update(banner_us=0, code=0, outcome="gave_up", total_us=waited + 100)
        out.append((p, r))
    return out


class Verdict(unittest.TestCase):
    def test_no_banner_is_not_a_banner_of_zero(self):
        probe = {"outcome": {"gave_up": 10}, "tries": 10,
                 "banner": {"count": 0, "p50": 0, "p99": 0}}
        ctx = ctx_for(gave_up_pairs(10, 10 * S), 10 * S, probe)
        text = verdict.render(ctx)
        self.assertIn("banner:   no banner arrived", text)
        self.assertNotIn("p50 0us", text)
        self.assertNotIn("banner.p50", ctx["figures"].values)

    def test_the_proxy_row_only_when_a_session_had_the_stage(self):
        probe = {"outcome": {"ok": 10}, "tries": 10}
        without = verdict.render(ctx_for([pair(i, i * S, rdns=15 * S) for i in range(10)], 10 * S, probe))
        self.assertNotIn("  proxy ", without)
        self.assertIn("  rdns ", without)
        proxied = verdict.render(ctx_for([pair(i, i * S, rdns=15 * S, proxy=200) for i in range(10)],
                                         10 * S, probe))
        self.assertIn("  proxy ", proxied)

    def test_what_happened_and_what_if_are_apart(self):
        pairs = [pair(i, i * S, rdns=15 * S) for i in range(10)]
        probe = {"outcome": {"ok": 10}, "tries": 10}
        text = verdict.render(ctx_for(pairs, 10 * S, probe))
        self.assertIn("happened: 10 connections: 10 got the 220 banner\n", text)
        self.assertIn("what if:  a sender that gives up at 10.00s (impatient-10) would have given up "
                      "on 10 of 10 tries (100%)", text)

    def test_quick_runs_scale_the_senders_thresholds(self):
        pairs = [pair(i, i * 10000, rdns=600000) for i in range(10)]
        probe = {"outcome": {"ok": 10}, "tries": 10, "would_give_up_detail": {
            "impatient-10": {"threshold_us": 10 * S}, "postfix": {"threshold_us": 300 * S}}}
        text = verdict.render(ctx_for(pairs, 500000, probe, scale=0.05))
        self.assertIn("x0.05 like the run", text)
        self.assertRegex(text, r"500.0ms +100% +impatient-10")
        self.assertRegex(text, r"15.00s +0% +postfix")

    def test_gave_up_share_is_a_what_if_at_the_threshold(self):
        pairs = [pair(i, i * S, rdns=(12 * S if i < 3 else S)) for i in range(10)]
        fig = ctx_for(pairs, 10 * S)["figures"]
        self.assertEqual(fig.get("gave_up.count"), 3)
        self.assertEqual(fig.get("gave_up.share"), 0.3)


if __name__ == "__main__":
    unittest.main()


class Reloads(unittest.TestCase):
    def test_before_and_after_with_what_changed(self):
        pairs = [pair(i, i * S, queue=(6 * S if i < 5 else 0), rdns=S) for i in range(10)]
        rows, _ = sessions.join([p for p, _ in pairs], [r for _, r in pairs])
        t = pairs[5][1]["accept_wall_us"] - 1
        events = [{"wall_us": t - 10, "key": "rdns.threads", "old": 2, "new": 64},
                  {"wall_us": t - 5, "key": "rdns", "old": "on", "new": "on"},
                  {"wall_us": t, "key": "reload", "old": None, "new": None}]
        (line,) = verdict.reloads(events, rows, 5 * S)
        self.assertEqual(line, "reload (rdns.threads 2 -> 64): connections accepted before it: "
                               "banner p99 7.00s, 5 of 5 past 5.00s; after it: banner p99 1.00s, 0 of 5 past 5.00s")

    def test_unknown_when_every_try_gave_up_sooner(self):
        probe = {"outcome": {"ndr": 10}, "tries": 10, "banner": {"count": 0},
                 "would_give_up_detail": {"postfix": {"threshold_us": 300 * S}}}
        text = verdict.render(ctx_for(gave_up_pairs(10, 10 * S), 10 * S, probe))
        self.assertRegex(text, r"300.00s +unknown +postfix")


class ServerOnly(unittest.TestCase):
    def test_the_path_of_silent_clients_is_explained_under_the_table(self):
        from test_cause import delivered, left_silent
        recs = [left_silent(i + 1, i * 2 * S, S + 3000) for i in range(3)] + [delivered(4, 7 * S)]
        rows = sessions.server_only_rows(recs)
        res = cause.analyse(rows, recs, capacity(pool=False, spw=0), S, {})
        ctx = {"name": "ndr-postfix-path", "article": "a", "mode": "quick", "scale": 0.05,
               "threshold_us": S, "threshold_label": "Postfix smtp_helo_timeout", "probe": None,
               "rows": rows, "attributed": cause.attributable(rows), "res": res,
               "figures": figures.Figures(), "checks": [], "extra": []}
        text = verdict.render(ctx)
        self.assertIn("where the time went (4 sessions, from bannerd's log):", text)
        self.assertIn("  (path, for the 3 of 4 sessions whose client left without a word", text)
        self.assertIn("\ncause: path: bannerd sent the banner within", text)

"""The Postfix timeline's events (plot_timeline.timeline_events: pure,
made-up log lines in, the story on one time axis out)."""
import unittest

from labanalysis import plot_timeline
from test_plot_axes import MS, S, T0


def postfix_story():
    """Postfix's log lines and bannerd's sessions of a made-up ndr-postfix
    run: two greeting timeouts, the expiry and its NDR, a delivery."""
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


class Timeline(unittest.TestCase):
    def test_story_on_one_axis(self):
        postfix, sessions = postfix_story()
        ev = plot_timeline.timeline_events(postfix, sessions, [(T0 + 5680 * MS, "SIGHUP: rdns off")], 2 * S)
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
        postfix, _ = postfix_story()
        ev = plot_timeline.timeline_events(postfix, [], [], 2 * S)
        self.assertEqual(ev["try"][0][:2], (500 * MS, 2500 * MS))
        self.assertFalse(ev["deferred"][0][2])

    def test_silent_sessions_are_the_tries_a_filter_starved(self):
        # ndr-postfix-path: bannerd sent each 220 at once; the filter
        # dropped it and Postfix hung up at its timeout, without a word
        postfix, sessions = postfix_story()
        for s in sessions[:2]:
            s.update(outcome="disconnect", commands=0, banner_us=400)
        sessions[2].update(commands=5, banner_us=400)
        ev = plot_timeline.timeline_events(postfix, sessions, [(T0 - 3 * S, "filter: banner-drop 4"),
                                                               (T0 + 5680 * MS, "filter: none")], 2 * S)
        self.assertEqual(ev["try"][0][:2], (400 * MS, 2400 * MS))
        self.assertTrue(ev["deferred"][0][2])
        self.assertEqual([o for _, _, o in ev["session"]], ["silent", "silent", "greeted"])
        self.assertEqual(ev["fixes"][0], (-3 * S, "filter: banner-drop 4"))
        script = plot_timeline.timeline_script("/tmp/x.png", {"name": "t", "threshold_us": 2 * S}, ev)
        self.assertIn("$bar_silent", script)
        self.assertIn("whose 220 never reached the client (it left without a word)", script)
        self.assertIn("filter: banner-drop 4, before the mail", script)
        self.assertIn("filter: none at 5.68 s", script)

    def test_a_session_that_sent_its_220_is_greeted_however_it_ended(self):
        # mailguard: after its mail the client hung up without QUIT
        # (outcome=disconnect); a 421 before any banner ended it
        postfix, sessions = postfix_story()
        sessions[0].update(outcome="421", banner_us=None)
        sessions[2].update(outcome="disconnect", commands=4, banner_us=160)
        ev = plot_timeline.timeline_events(postfix, sessions, [], 2 * S)
        self.assertEqual([o for _, _, o in ev["session"]], ["421", "abandoned", "greeted"])
        script = plot_timeline.timeline_script("/tmp/x.png", {"name": "t", "threshold_us": 2 * S}, ev)
        self.assertIn("bannerd session that sent its 220", script)
        self.assertIn("ended before its 220", script)

    def test_nothing_logged(self):
        self.assertIsNone(plot_timeline.timeline_events([], [], [], 2 * S)["t0"])


if __name__ == "__main__":
    unittest.main()

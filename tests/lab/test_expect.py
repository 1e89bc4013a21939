import unittest

from labanalysis import expect
from labanalysis.figures import Figures


def figs():
    f = Figures()
    f.put("banner.p99", 40000, duration=True)
    f.put("outcome.ok", 300)
    f.put("cause", "rdns")
    f.put("gave_up.share", 0.25)
    return f


class Expectations(unittest.TestCase):
    def test_smtpprobe_grammar_with_and_without_spaces(self):
        self.assertTrue(expect.check("banner.p99<=50ms", figs())[0])
        self.assertTrue(expect.check("banner.p99 <= 50ms", figs())[0])
        self.assertFalse(expect.check("banner.p99 <= 30ms", figs())[0])
        self.assertTrue(expect.check("outcome.ok = 300", figs())[0])

    def test_bare_number_on_a_duration_is_microseconds(self):
        self.assertTrue(expect.check("banner.p99 == 40000", figs())[0])

    def test_unit_on_a_count_is_an_error(self):
        ok, msg = expect.check("outcome.ok >= 1s", figs())
        self.assertFalse(ok)
        self.assertIn("not a duration", msg)

    def test_words(self):
        self.assertTrue(expect.check("cause == rdns", figs())[0])
        ok, msg = expect.check("cause == path", figs())
        self.assertFalse(ok)
        self.assertEqual(msg, "FAIL cause == path (actual rdns)")
        self.assertTrue(expect.check("cause != path", figs())[0])

    def test_word_with_an_order_is_refused(self):
        self.assertFalse(expect.check("cause <= rdns", figs())[0])

    def test_unknown_figure_fails_with_the_reason(self):
        ok, msg = expect.check("nonesuch == 1", figs())
        self.assertFalse(ok)
        self.assertIn("no such figure", msg)

    def test_check_all_skips_comments_and_blank_lines(self):
        ok, out = expect.check_all(["# x", "", "outcome.ok == 300", "gave_up.share < 0.5"], figs())
        self.assertTrue(ok)
        self.assertEqual(len(out), 2)

    def test_unreadable_line(self):
        self.assertFalse(expect.check("banner p99 50", figs())[0])


if __name__ == "__main__":
    unittest.main()

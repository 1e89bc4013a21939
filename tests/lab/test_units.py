import unittest

from labanalysis.units import DurationError, fmt_duration, fmt_share, parse_duration


class Durations(unittest.TestCase):
    def test_units(self):
        self.assertEqual(parse_duration("250ms"), 250000)
        self.assertEqual(parse_duration("1.5s"), 1500000)
        self.assertEqual(parse_duration("300us"), 300)
        self.assertEqual(parse_duration("2m"), 120000000)

    def test_bare_number_needs_a_unit_except_zero(self):
        self.assertEqual(parse_duration("0"), 0)
        with self.assertRaises(DurationError):
            parse_duration("500")
        self.assertEqual(parse_duration("500", bare_unit="us"), 500)

    def test_a_stage_that_did_not_run(self):
        self.assertIsNone(parse_duration("-"))

    def test_garbage(self):
        for bad in ("fast", "1x", "ms", "1.2.3s"):
            with self.assertRaises(DurationError):
                parse_duration(bad)

    def test_format(self):
        self.assertEqual(fmt_duration(1234567), "1.23s")
        self.assertEqual(fmt_duration(45600), "45.6ms")
        self.assertEqual(fmt_duration(789), "789us")
        self.assertEqual(fmt_duration(None), "-")

    def test_small_shares_keep_a_digit(self):
        self.assertEqual(fmt_share(0.875), "88%")
        self.assertEqual(fmt_share(0.042), "4.2%")
        self.assertEqual(fmt_share(0.0004), "0.04%")
        self.assertEqual(fmt_share(0), "0%")


if __name__ == "__main__":
    unittest.main()

"""Every program reads durations with common/units: a number without a
unit (other than 0) is refused by all of them, so "--delay 5" can never
silently mean five seconds in one tool and be refused in another."""
import unittest

from harness import binary, run


class UnitlessDurationTest(unittest.TestCase):
    def refused(self, argv):
        r = run(argv, timeout=10)
        self.assertEqual(r.returncode, 2, "%s: %s" % (argv, r.stderr.decode()))
        return r.stderr.decode()

    def test_bannerd(self):
        err = self.refused([binary("bannerd"), "-t", "-o", "rdns.timeout=2"])
        self.assertIn('"2" needs a unit (us, ms, s, m, h): did you mean 2ms or 2s?', err)

    def test_slowdns(self):
        for opt in ("--delay", "--jitter"):
            err = self.refused([binary("slowdns"), "-l", "127.0.0.1:0", opt, "5"])
            self.assertIn(opt, err)
            self.assertIn("did you mean 5ms or 5s?", err)

    def test_smtpprobe(self):
        for opt in ("--give-up", "--hold", "--timeout", "--connect-timeout", "-d",
                    "--retry-after"):
            err = self.refused([binary("smtpprobe"), opt, "5", "127.0.0.1:9"])
            self.assertIn(opt.lstrip("-")[:4], err)
            if opt != "--retry-after":
                self.assertIn("did you mean 5ms or 5s?", err)

    def test_slowrelay(self):
        err = self.refused([binary("slowrelay"), "-l", "127.0.0.1:0", "-u", "127.0.0.1:9",
                            "--banner-delay", "5"])
        self.assertIn("banner-delay", err)
        self.assertIn("did you mean 5ms or 5s?", err)


if __name__ == "__main__":
    unittest.main()

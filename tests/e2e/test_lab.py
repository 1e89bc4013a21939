"""scripts/lab check --quick: every KB Q286375 scenario end to end, with its
expectations; and proof that the expectations are real: a scenario run on
the wrong server (a tuned pool for untuned, no lookup for slow-dns) turns
the check red."""
import os
import subprocess
import tempfile
import unittest

from harness import ROOT

LAB = os.path.join(ROOT, "scripts", "lab")


def lab(*args, env=None, timeout=170):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([LAB, *args], cwd=ROOT, env=e, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def can_run_postfix():
    return os.geteuid() == 0 and os.path.exists("/usr/sbin/postfix")


class LabTest(unittest.TestCase):
    def setUp(self):
        self.results = tempfile.mkdtemp(prefix="bannerlab-lab-")

    def tearDown(self):
        subprocess.run(["rm", "-rf", self.results])

    def scenarios(self):
        out = lab("list").stdout
        return [l.split()[0] for l in out.splitlines() if l and not l[0].isspace()]

    def test_check_quick_passes_every_scenario(self):
        names = self.scenarios()
        self.assertGreaterEqual(len(names), 10, names)
        r = lab("check", "--quick", env={"LAB_RESULTS": self.results})
        lines = r.stdout.splitlines()
        self.assertEqual(r.returncode, 0, r.stdout)
        for n in names:
            passed = [l for l in lines if l.startswith("PASS " + n + " (")]
            skipped = [l for l in lines if l.startswith("SKIP " + n + ":")]
            if n == "ndr-postfix" and not can_run_postfix():
                self.assertEqual(len(passed) + len(skipped), 1, r.stdout)
                continue
            self.assertEqual(len(passed), 1, "%s: %s" % (n, r.stdout))
        self.assertRegex(lines[-1], r"^lab check: \d+ passed, 0 failed")
        # what every run leaves behind
        for f in ("summary.json", "probe.csv", "bannerd.log", "metrics.txt", "banner.png", "verdict.txt"):
            self.assertTrue(os.path.getsize(os.path.join(self.results, "untuned", f)) > 0, f)

    def broken(self, scenario, args):
        r = lab("check", "--quick", env={"LAB_RESULTS": self.results, "LAB_ONLY": scenario,
                                         "LAB_BANNERD_ARGS": args})
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertTrue(r.stdout.startswith("FAIL " + scenario + " ("), r.stdout)
        return r.stdout

    def test_untuned_on_a_tuned_pool_fails(self):
        out = self.broken("untuned", "-o rdns.threads=64 -o pool.workers=16 "
                          "-o pool.sessions_per_worker=16 -o listen.max_sessions=500")
        self.assertIn("banner.trend", out)

    def test_slow_dns_without_the_lookup_fails(self):
        out = self.broken("slow-dns", "-o rdns.enabled=off")
        self.assertIn("dominant == rdns", out)


if __name__ == "__main__":
    unittest.main()

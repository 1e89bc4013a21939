"""smtpprobe merge against a real bannerd: two smtpprobe processes in
parallel, their --json merged; counts add up, the merged p99 lies between
the runs' own, the human summary and --expect use the merged figures, and
bad input (not smtpprobe's JSON, another histogram layout, no files) is an
error with exit 2. Stdlib only; everything is stopped by PID."""
import json
import os
import subprocess
import unittest

import harness
from harness import Bannerd, binary, tmpdir

PROBE = binary("smtpprobe")


def load(path):
    with open(path) as f:
        return json.load(f)


def read(path):
    with open(path) as f:
        return f.read()


@unittest.skipUnless(os.access(PROBE, os.X_OK) and os.access(binary("bannerd"), os.X_OK),
                     "smtpprobe or bannerd not built")
class TestSmtpprobeMerge(unittest.TestCase):
    def setUp(self):
        self.dir = tmpdir(self, "smtpprobe-merge-")

    def probe_pair(self):
        """Two probes at once against one bannerd whose banners are spread
        over 0..40 ms, so the two p99s differ."""
        d = Bannerd(self, ["banner.delay=2ms", "banner.delay_jitter=40ms"])
        target = "%s:%d" % (d.host, d.port)
        procs, paths = [], []
        for name, n in (("alice", 300), ("bob", 200)):
            path = os.path.join(self.dir, name + ".json")
            paths.append(path)
            procs.append(subprocess.Popen([PROBE, "-q", "-n", str(n), "-c", "8", "--client", name,
                                           "--json", path, target],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        for p in procs:
            out, err = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 0, err)
        return paths

    def merge(self, *args):
        return subprocess.run([PROBE, "merge"] + list(args), capture_output=True, text=True, timeout=30)

    def test_two_parallel_runs(self):
        a, b = self.probe_pair()
        m = os.path.join(self.dir, "merged.json")
        r = self.merge(a, b, "--json", m, "--expect", "attempts==500", "--expect", "banner.p99<=2s")
        self.assertEqual(r.returncode, 0, r.stderr)
        runs = [load(p) for p in (a, b)]
        merged = load(m)
        self.assertEqual(merged["attempts"], sum(x["attempts"] for x in runs))
        self.assertEqual(merged["tries"], sum(x["tries"] for x in runs))
        for o in merged["outcome"]:
            self.assertEqual(merged["outcome"][o], sum(x["outcome"][o] for x in runs), o)
        for stage in ("connect", "banner", "total"):
            self.assertEqual(merged[stage]["count"], sum(x[stage]["count"] for x in runs))
            self.assertEqual(merged["histograms"][stage]["sum"],
                             sum(x["histograms"][stage]["sum"] for x in runs))
        p99s = [x["banner"]["p99"] for x in runs]
        self.assertGreaterEqual(merged["banner"]["p99"], min(p99s))
        self.assertLessEqual(merged["banner"]["p99"], max(p99s))
        self.assertEqual(merged["banner"]["max"], max(x["banner"]["max"] for x in runs))
        self.assertEqual(merged["merged_runs"], 2)
        self.assertEqual([s["client"] for s in merged["sources"]], ["alice", "bob"])
        self.assertEqual([s["attempts"] for s in merged["sources"]], [300, 200])
        for k in ("would_give_up", "would_give_up_detail", "try_outcome", "rate", "elapsed_us"):
            self.assertIn(k, merged)
        # the human summary: merged figures and one row per run
        self.assertIn("smtpprobe merge of 2 run(s)", r.stdout)
        self.assertIn("attempts 500", r.stdout)
        self.assertRegex(r.stdout, r"alice\s+300")
        self.assertIn("expect attempts==500: pass", r.stdout)
        # --expect on the merged figures sets the exit code
        r = self.merge("-q", a, b, "--expect", "attempts<500")
        self.assertEqual(r.returncode, 1)
        self.assertIn("FAIL", r.stderr)
        # JSON to stdout, the summary to stderr
        r = self.merge(a, b, "--json", "-")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["attempts"], 500)
        self.assertIn("per run:", r.stderr)

    def bad(self, *args, says):
        r = self.merge(*args)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn(says, r.stderr)
        self.assertEqual(r.stdout, "")

    def test_bad_input(self):
        a = os.path.join(self.dir, "a.json")
        d = Bannerd(self)
        subprocess.run([PROBE, "-q", "-n", "5", "--json", a, "%s:%d" % (d.host, d.port)], check=True,
                       timeout=30)
        text = read(a)
        notjson = os.path.join(self.dir, "probe.csv")
        harness.write(notjson, "attempt,try\n1,1\n")
        other = os.path.join(self.dir, "other.json")
        harness.write(other, json.dumps({"ok": True}))
        layout = os.path.join(self.dir, "layout.json")
        harness.write(layout, text.replace('"sub_bits": 7', '"sub_bits": 5'))
        self.bad(says="give the --json files")
        self.bad(a, notjson, says=notjson + ": not JSON")
        self.bad(other, says="not smtpprobe --json output")
        self.bad(a, layout, says="histogram layout")
        self.bad(a, os.path.join(self.dir, "missing.json"), says="cannot read")
        self.bad("--expect", "nosuch<1", a, says="unknown figure")
        self.assertEqual(self.merge(a).returncode, 0)


if __name__ == "__main__":
    unittest.main()

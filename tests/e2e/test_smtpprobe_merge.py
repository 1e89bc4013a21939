"""smtpprobe merge against a real bannerd: two smtpprobe processes in
parallel, their --json merged; counts add up, the merged p99 lies between
the runs' own, the human summary and --expect use the merged figures, and
bad input (not smtpprobe's JSON, another histogram layout, no files) is an
error with exit 2. Stdlib only; everything is stopped by PID."""
import csv
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


LAB = os.path.join(harness.ROOT, "scripts", "lab")


@unittest.skipUnless(os.access(PROBE, os.X_OK) and os.access(binary("bannerd"), os.X_OK),
                     "smtpprobe or bannerd not built")
class TestLabClients(unittest.TestCase):
    """scripts/lab with LAB_CLIENTS=2: two smtpprobe processes share the
    scenario's load, probe.json is their merge, and the scenario's
    expectations (300 ok, every try joined with bannerd's log) still
    hold; without it one smtpprobe runs as before."""

    def run_lab(self, clients):
        results = tmpdir(self, "bannerlab-lab-")
        env = dict(os.environ, LAB_RESULTS=results, BUILD=os.environ.get("BUILD", "build"))
        env.pop("LAB_CLIENTS", None)
        if clients:
            env["LAB_CLIENTS"] = str(clients)
        r = subprocess.run([LAB, "run", "baseline", "--quick"], capture_output=True, text=True,
                           timeout=170, env=env, cwd=harness.ROOT)
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
        self.assertIn("expectations: 6 passed, 0 failed", r.stdout)
        return os.path.join(results, "baseline")

    def test_two_clients(self):
        out = self.run_lab(2)
        probe = load(os.path.join(out, "probe.json"))
        self.assertEqual(probe["merged_runs"], 2)
        self.assertEqual([s["attempts"] for s in probe["sources"]], [150, 150])
        self.assertEqual([s["client"] for s in probe["sources"]], ["lab-0", "lab-1"])
        self.assertEqual(probe["attempts"], 300)
        self.assertEqual(probe["outcome"]["ok"], 300)
        with open(os.path.join(out, "probe.csv")) as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(len(rows), 300)
        self.assertEqual(sorted(int(r["attempt"]) for r in rows), list(range(1, 301)))
        self.assertEqual(len({r["source"] for r in rows}), 300)
        self.assertIn("smtpprobe merge of 2 run(s)", read(os.path.join(out, "probe.txt")))
        self.assertIn("300 of 300 tries matched", read(os.path.join(out, "verdict.txt")))

    def test_one_client_as_before(self):
        out = self.run_lab(None)
        probe = load(os.path.join(out, "probe.json"))
        self.assertNotIn("merged_runs", probe)
        self.assertEqual(probe["attempts"], 300)
        self.assertFalse(os.path.exists(os.path.join(out, "probe.0.txt")))


if __name__ == "__main__":
    unittest.main()

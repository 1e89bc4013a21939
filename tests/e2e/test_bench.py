"""make bench still runs: scripts/bench in a tiny configuration (200
sessions a row, a burst of 200, 200 idle sessions, one round) writes its
JSON with every row, each either measured with sane figures or marked
unavailable with a reason. No figure is held to a speed: the bench is a
benchmark, and these are behaviour tests."""
import json
import os
import signal
import subprocess
import unittest

from harness import BUILD, ROOT, binary, tmpdir, wait_for

BENCH = os.path.join(ROOT, "scripts", "bench")
ROWS = ["floor", "bannerd", "bannerd-log", "smtp-sink", "aiosmtpd", "burst-rdns", "idle-10k",
        "message", "probe"]
TINY = {"BENCH_N": "200", "BENCH_C": "50", "BENCH_AIOSMTPD_N": "100", "BENCH_BURST_N": "200",
        "BENCH_IDLE_N": "200", "BENCH_MSG_N": "100", "BENCH_MSG_C": "20", "BENCH_STRACE_N": "100",
        "BENCH_ROUNDS": "1"}
# what every measured row of its kind must carry (cpu may be 0 in a tiny
# run: /proc counts CPU in clock ticks)
BANNER_KEYS = ["sessions", "sessions_per_s", "cpu_us_per_session", "banner_p50_us",
               "banner_p99_us", "rss_kib"]
ROW_KEYS = {
    "floor": BANNER_KEYS + ["ratio_to_floor"],
    "bannerd": BANNER_KEYS + ["ratio_to_floor"],
    "bannerd-log": BANNER_KEYS + ["ratio_to_floor"],
    "smtp-sink": BANNER_KEYS + ["ratio_to_floor"],
    "aiosmtpd": BANNER_KEYS + ["ratio_to_floor"],
    "burst-rdns": BANNER_KEYS + ["floor_banner_p99_us", "queue_p99_us", "rdns_timeouts",
                                 "rcvbuf_errors_before", "rcvbuf_errors_after", "slowdns_counts",
                                 "open_span_s", "target_p99_us"],
    "idle-10k": ["sessions", "rss_before_kib", "rss_open_kib", "rss_after_kib", "kib_per_session",
                 "after_over_before"],
    "message": ["sessions", "sessions_per_s", "cpu_us_per_message", "banner_p99_us", "rss_kib"],
    "probe": ["sessions", "sessions_per_s", "reference_sessions_per_s", "smtpprobe_over_reference",
              "client_cpu_us_per_session"],
}
# figures that are counts of something that happened, hence > 0
POSITIVE = {"sessions", "sessions_per_s", "banner_p99_us", "rss_kib", "rss_before_kib",
            "rss_open_kib", "rss_after_kib", "floor_banner_p99_us", "reference_sessions_per_s",
            "smtpprobe_over_reference", "target_p99_us"}


def bench_env(env_extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_")}
    env.update(TINY)
    env.update(env_extra)
    env["BUILD"] = os.path.basename(BUILD)
    return env


def children(pid):
    """{pid: comm} of the live processes whose parent is pid."""
    out = {}
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % e) as f:
                st = f.read()
        except OSError:
            continue
        fields = st.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out[int(e)] = st[st.index("(") + 1:st.rindex(")")]
    return out


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def run_bench(test, env_extra, timeout=120, args=()):
    out = os.path.join(tmpdir(test, "bench-test-"), "bench.json")
    env = bench_env(env_extra)
    r = subprocess.run([BENCH, "--json", out] + list(args), cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=timeout)
    doc = None
    if os.path.exists(out):
        with open(out) as f:
            doc = json.load(f)
    return r, doc


class BenchRuns(unittest.TestCase):
    def setUp(self):
        for prog in ("bannerd", "smtpprobe", "slowdns", "floor_server", "floor_client"):
            if not os.path.exists(binary(prog)):
                self.skipTest("no %s: run make" % binary(prog))

    def test_tiny_run_has_every_row_with_sane_figures(self):
        r, doc = run_bench(self, {})
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
        self.assertIsNotNone(doc, "no JSON written:\n" + r.stdout[-3000:])
        self.assertEqual(sorted(doc["rows"]), sorted(ROWS))
        self.assertEqual(doc["rounds_done"], 1)
        for name in ROWS:
            row = doc["rows"][name]
            with self.subTest(row=name):
                if not row["available"]:
                    self.assertTrue(row.get("reason", "").strip(), "%s: unavailable without a reason" % name)
                    self.assertRegex(r.stdout, r"(?m)^%s +not available: " % name)
                    continue
                for k in ROW_KEYS[name]:
                    self.assertIn(k, row, "%s lacks %s" % (name, k))
                    v = row[k]
                    if isinstance(v, dict) or (v is None and k.startswith("ratio")):
                        continue	# a ratio over less than one clock tick is none
                    self.assertIsInstance(v, (int, float), "%s.%s = %r" % (name, k, v))
                    if k in POSITIVE:
                        self.assertGreater(v, 0, "%s.%s" % (name, k))
                    else:
                        self.assertGreaterEqual(v, 0, "%s.%s" % (name, k))
                # a tiny run on loopback: every session ends well
                self.assertEqual(row.get("not_ok", 0), 0, "%s: attempts not ok" % name)
                # the syscall column: counted, or the reason it is not
                if name in ("floor", "bannerd", "bannerd-log", "smtp-sink", "aiosmtpd", "message"):
                    self.assertTrue(row.get("syscalls_per_session", 0) > 0 or row.get("syscalls_note"),
                                    "%s: neither syscalls nor a note" % name)
        burst = doc["rows"]["burst-rdns"]
        if burst["available"]:
            self.assertEqual(burst["sessions"], 200)
            self.assertEqual(burst["close_lines"], 200)
            self.assertGreaterEqual(burst["slowdns_counts"]["queries"], 200)
            # the DNS second is in every banner: slowdns delays each answer 1 s
            self.assertGreaterEqual(burst["rdns_p50_us"], 0.9e6)
        idle = doc["rows"]["idle-10k"]
        self.assertEqual((idle["sessions"], idle["closed"]), (200, 200))
        self.assertGreaterEqual(idle["rss_open_kib"], idle["rss_before_kib"])
        # the table names every row, and the header how the run was pinned
        for name in ROWS:
            self.assertRegex(r.stdout, r"(?m)^%s " % name)
        self.assertRegex(r.stdout, r"^bench: \d+ CPUs, (server pinned|not pinned)")
        self.assertIn("RLIMIT_NOFILE", r.stdout)

    def test_only_selects_rows_and_keeps_the_floor(self):
        r, doc = run_bench(self, {"BENCH_ONLY": "bannerd", "BENCH_STRACE_N": "0"})
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
        self.assertEqual(sorted(doc["rows"]), ["bannerd", "floor"])
        self.assertIn("ratio_to_floor", doc["rows"]["bannerd"])
        self.assertNotIn("syscalls_per_session", doc["rows"]["bannerd"])

    def test_unknown_row_is_a_usage_error_naming_the_rows(self):
        r, doc = run_bench(self, {"BENCH_ONLY": "bannerd,nosuch"}, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("nosuch", r.stderr)
        self.assertIn("burst-rdns", r.stderr)
        self.assertIsNone(doc)

    def test_a_missing_peer_is_a_row_not_a_failure(self):
        """smtp-sink's path pointed at nothing: the row says why, exit 0."""
        r, doc = run_bench(self, {"BENCH_ONLY": "smtp-sink", "BENCH_STRACE_N": "0",
                                  "BENCH_SMTP_SINK": "/nonexistent/smtp-sink"})
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
        row = doc["rows"]["smtp-sink"]
        self.assertFalse(row["available"])
        self.assertIn("/nonexistent/smtp-sink", row["reason"])
        self.assertRegex(r.stdout, r"(?m)^smtp-sink +not available: ")

    def test_ctrl_c_stops_every_process_it_started(self):
        """SIGINT in the middle of the burst (bannerd waiting on slowdns's
        1 s answers): the bench exits 130 and leaves none of its processes."""
        p = subprocess.Popen([BENCH], cwd=ROOT, env=bench_env({"BENCH_ONLY": "burst-rdns",
                                                                "BENCH_STRACE_N": "0"}),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait()))
        seen = {}

        def burst_running():
            kids = children(p.pid)
            seen.update(kids)
            return "slowdns" in kids.values() and "bannerd" in kids.values()
        wait_for(burst_running, 60, "the bench's burst (slowdns and bannerd)")
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 130, out[-2000:] + err[-2000:])
        self.assertIn("interrupted", err)
        left = {pid: comm for pid, comm in seen.items() if alive(pid)}
        self.assertEqual(left, {}, "processes of the bench still running")


if __name__ == "__main__":
    unittest.main()

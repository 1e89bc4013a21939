"""End-to-end tests of smtpprobe against servers made here: Python servers
in a thread of the test (silent, 421, reset, delayed, multi-line, stalling,
a small SMTP dialogue) and floor_server. Stdlib only; every process and
socket started here is stopped by the test, even when it fails."""
import csv
import heapq
import io
import json
import os
import pty
import re
import select
import selectors
import signal
import socket
import struct
import subprocess
import threading
import time
import unittest

from harness import SANITIZER_MARKS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("BUILD", "build")
PROBE = os.path.join(ROOT, BUILD, "bin", "smtpprobe")
FLOOR = os.path.join(ROOT, BUILD, "bin", "floor_server")


class Server(threading.Thread):
    """A one-thread selector server on 127.0.0.1.

    banner: bytes written after `delay` seconds, or None to never write.
    reset: close every connection at once with an RST (SO_LINGER 0).
    stall_every: block the whole loop for stall_for seconds every so
    often (from the first connection on), as an overloaded server does.
    Answers EHLO/MAIL/RCPT with 250, DATA with 354 and the dot with 250,
    QUIT with 221 and a close. Records every peer address."""

    def __init__(self, banner=b"220 test ESMTP\r\n", delay=0.0, reset=False,
                 stall_every=None, stall_for=1.0):
        super().__init__(daemon=True)
        self.banner, self.delay, self.reset = banner, delay, reset
        self.stall_every, self.stall_for = stall_every, stall_for
        self.peers = []
        self.stalls = 0
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(1024)
        self.lsock.setblocking(False)
        self.port = self.lsock.getsockname()[1]
        self.wake_r, self.wake_w = socket.socketpair()
        self.stopping = False
        self.conns = {}

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stopping = True
        self.wake_w.send(b"x")
        self.join(10)
        self.wake_w.close()

    def _accept(self, sel, due):
        while True:
            try:
                c, peer = self.lsock.accept()
            except BlockingIOError:
                return
            self.peers.append(peer[0])
            if self.stall_every and self.next_stall is None:
                self.next_stall = time.monotonic() + self.stall_every
            if self.reset:
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.close()
                continue
            c.setblocking(False)
            self.conns[c] = {"buf": b"", "data": False}
            sel.register(c, selectors.EVENT_READ)
            if self.banner is not None:
                heapq.heappush(due, (time.monotonic() + self.delay, id(c), c))

    def _drop(self, sel, c):
        sel.unregister(c)
        del self.conns[c]
        c.close()

    def _dialogue(self, sel, c):
        st = self.conns[c]
        try:
            data = c.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._drop(sel, c)
            return
        st["buf"] += data
        while True:
            if st["data"]:
                end = st["buf"].find(b"\r\n.\r\n")
                if end < 0:
                    st["buf"] = st["buf"][-4:]
                    return
                st["buf"], st["data"] = st["buf"][end + 5:], False
                c.send(b"250 2.0.0 queued\r\n")
                continue
            nl = st["buf"].find(b"\n")
            if nl < 0:
                return
            line, st["buf"] = st["buf"][:nl].strip().upper(), st["buf"][nl + 1:]
            if line.startswith(b"QUIT"):
                c.send(b"221 bye\r\n")
                self._drop(sel, c)
                return
            if line.startswith(b"DATA"):
                st["data"] = True
                c.send(b"354 go ahead\r\n")
            else:
                c.send(b"250 ok\r\n")

    def run(self):
        sel = selectors.DefaultSelector()
        sel.register(self.lsock, selectors.EVENT_READ)
        sel.register(self.wake_r, selectors.EVENT_READ)
        due = []
        self.next_stall = None
        while not self.stopping:
            now = time.monotonic()
            if self.next_stall is not None and now >= self.next_stall:
                time.sleep(self.stall_for)      # the stall: nothing is served
                self.stalls += 1
                self.next_stall = time.monotonic() + self.stall_every
            while due and due[0][0] <= time.monotonic():
                c = heapq.heappop(due)[2]
                if c in self.conns:
                    try:
                        c.send(self.banner)
                    except OSError:
                        self._drop(sel, c)
            timeout = 0.05 if not due else max(0.0, min(0.05, due[0][0] - time.monotonic()))
            for key, _ in sel.select(timeout):
                if key.fileobj is self.lsock:
                    self._accept(sel, due)
                elif key.fileobj is self.wake_r:
                    pass
                elif key.fileobj in self.conns:
                    self._dialogue(sel, key.fileobj)
        for c in list(self.conns):
            c.close()
        sel.close()
        self.lsock.close()
        self.wake_r.close()


def probe(*args, timeout=30):
    """Runs smtpprobe to completion (bounded) and returns the CompletedProcess."""
    return subprocess.run([PROBE] + [str(a) for a in args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def probe_json(test, *args, expect_rc=0, timeout=30):
    r = probe("-q", "--json", "-", *args, timeout=timeout)
    test.assertEqual(r.returncode, expect_rc, r.stderr)
    return json.loads(r.stdout)


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()           # nothing listens there now
    return port


@unittest.skipUnless(os.access(PROBE, os.X_OK), "smtpprobe not built")
class TestOutcomes(unittest.TestCase):
    def test_delayed_banner(self):
        with Server(delay=0.3) as srv:
            j = probe_json(self, "-n", 10, "-c", 5, "127.0.0.1:%d" % srv.port)
        self.assertEqual(j["outcome"]["ok"], 10)
        self.assertGreaterEqual(j["banner"]["p50"], 250000)
        self.assertLessEqual(j["banner"]["p50"], 1000000)
        self.assertLess(j["connect"]["p50"], 100000, "connect should be well under the banner")

    def test_give_up_retries_ndr(self):
        with Server(delay=0.3) as srv:
            csvpath = os.path.join(ROOT, BUILD, "e2e-probe-ndr.csv")
            self.addCleanup(lambda: os.path.exists(csvpath) and os.unlink(csvpath))
            j = probe_json(self, "-n", 4, "-c", 4, "--give-up", "100ms", "--retries", 2,
                           "--retry-after", "50ms", "--csv", csvpath, "127.0.0.1:%d" % srv.port)
            with open(csvpath) as f:
                rows = list(csv.DictReader(f))
        self.assertEqual(j["outcome"]["ndr"], 4)
        self.assertEqual(j["tries"], 12)
        self.assertEqual(len(rows), 12)
        for a in range(1, 5):
            tries = [r for r in rows if int(r["attempt"]) == a]
            self.assertEqual([int(r["try"]) for r in tries], [1, 2, 3])
            self.assertEqual([r["outcome"] for r in tries], ["gave_up", "gave_up", "ndr"])
            for r in tries:
                self.assertGreaterEqual(int(r["total_us"]), 95000)
                self.assertEqual(r["banner_us"], "0")

    def test_never_writes_gave_up(self):
        with Server(banner=None) as srv:
            j = probe_json(self, "-n", 3, "-c", 3, "--give-up", "200ms", "127.0.0.1:%d" % srv.port)
        self.assertEqual(j["outcome"]["gave_up"], 3)
        self.assertEqual(j["outcome"]["ndr"], 0)

    def test_closed_port_refused(self):
        r = probe("-q", "--json", "-", "--csv", os.path.join(ROOT, BUILD, "e2e-probe-refused.csv"),
                  "-n", 3, "127.0.0.1:%d" % closed_port())
        path = os.path.join(ROOT, BUILD, "e2e-probe-refused.csv")
        self.addCleanup(os.unlink, path)
        self.assertEqual(r.returncode, 0, r.stderr)
        j = json.loads(r.stdout)
        self.assertEqual(j["outcome"]["refused"], 3)
        self.assertEqual(j["connect"]["count"], 0)
        with open(path) as f:
            rows = list(csv.DictReader(f))
        # never connected: no source to match with a server log
        self.assertEqual([row["source"] for row in rows], ["", "", ""])

    def test_421_tempfail(self):
        with Server(banner=b"421 4.3.2 too busy\r\n") as srv:
            csvpath = os.path.join(ROOT, BUILD, "e2e-probe-421.csv")
            self.addCleanup(lambda: os.path.exists(csvpath) and os.unlink(csvpath))
            j = probe_json(self, "-n", 2, "--csv", csvpath, "127.0.0.1:%d" % srv.port)
            with open(csvpath) as f:
                rows = list(csv.DictReader(f))
        self.assertEqual(j["outcome"]["tempfail"], 2)
        self.assertEqual([r["code"] for r in rows], ["421", "421"])

    def test_554_permfail(self):
        with Server(banner=b"554 5.7.1 go away\r\n") as srv:
            j = probe_json(self, "-n", 1, "127.0.0.1:%d" % srv.port)
        self.assertEqual(j["outcome"]["permfail"], 1)

    def test_reset(self):
        with Server(reset=True) as srv:
            j = probe_json(self, "-n", 3, "127.0.0.1:%d" % srv.port)
        self.assertEqual(j["outcome"]["reset"], 3)

    def test_multiline_greeting(self):
        with Server(banner=b"220-mx.example first\r\n220-second\r\n220 last\r\n") as srv:
            j = probe_json(self, "-n", 3, "127.0.0.1:%d" % srv.port)
        self.assertEqual(j["outcome"]["ok"], 3)
        self.assertEqual(j["banner"]["count"], 3)

    def test_session_mode(self):
        with Server() as srv:
            j = probe_json(self, "-n", 4, "-c", 2, "-m", "session", "--size", "100k",
                           "127.0.0.1:%d" % srv.port)
        self.assertEqual(j["outcome"]["ok"], 4, j)
        for stage in ("ehlo", "mail", "rcpt", "data", "message"):
            self.assertEqual(j[stage]["count"], 4, stage)

    def test_idle_mode_holds(self):
        with Server() as srv:
            start = time.monotonic()
            j = probe_json(self, "-n", 2, "-c", 2, "-m", "idle", "--hold", "300ms",
                           "127.0.0.1:%d" % srv.port)
            self.assertGreaterEqual(time.monotonic() - start, 0.29)
        self.assertEqual(j["outcome"]["ok"], 2)
        self.assertGreaterEqual(j["total"]["min"], 290000)

    def test_source_cycling(self):
        with Server() as srv:
            j = probe_json(self, "-n", 28, "-c", 4, "--source", "127.0.1.0/28",
                           "127.0.0.1:%d" % srv.port)
            peers = set(srv.peers)
        self.assertEqual(j["outcome"]["ok"], 28)
        self.assertEqual(peers, {"127.0.1.%d" % i for i in range(1, 15)})


@unittest.skipUnless(os.access(PROBE, os.X_OK), "smtpprobe not built")
class TestCoordinatedOmission(unittest.TestCase):
    def test_open_loop_sees_the_stall(self):
        # Open loop: attempts keep their schedule during the stall, so the
        # ones due then wait up to the whole second and p99 shows it.
        with Server(stall_every=0.7, stall_for=1.0) as srv:
            j = probe_json(self, "-r", 200, "-d", "2s", "127.0.0.1:%d" % srv.port, timeout=30)
            self.assertGreaterEqual(srv.stalls, 1)
        self.assertEqual(j["outcome"]["ok"], j["attempts"])
        self.assertGreaterEqual(j["attempts"], 300)
        self.assertGreaterEqual(j["banner"]["p99"], 700000, j["banner"])

    def test_closed_loop_hides_the_stall(self):
        # Closed loop with one connection: the stall holds back one
        # attempt and the schedule with it, so it is one sample among many.
        with Server(stall_every=0.7, stall_for=1.0) as srv:
            j = probe_json(self, "-c", 1, "-d", "2s", "-n", 100000, "127.0.0.1:%d" % srv.port,
                           timeout=30)
            self.assertGreaterEqual(srv.stalls, 1)
        self.assertGreaterEqual(j["banner"]["max"], 700000, j["banner"])
        if j["attempts"] >= 300:   # enough samples for one stall to be under 1%
            self.assertLess(j["banner"]["p99"], 500000, j["banner"])


@unittest.skipUnless(os.access(PROBE, os.X_OK), "smtpprobe not built")
class TestOutputs(unittest.TestCase):
    def test_expect_exit_codes(self):
        with Server() as srv:
            t = "127.0.0.1:%d" % srv.port
            ok = probe("-q", "-n", 3, "--expect", "banner.p99<=5s", "--expect", "outcome.ok==3",
                       "--expect", "rate>0", t)
            self.assertEqual(ok.returncode, 0, ok.stderr)
            bad = probe("-q", "-n", 3, "--expect", "banner.p99<=5s", "--expect", "outcome.ok==4", t)
            self.assertEqual(bad.returncode, 1)
            self.assertIn("FAIL", bad.stderr)
            self.assertIn("outcome.ok==4", bad.stderr)
        self.assertEqual(probe("--expect", "banner.p99<=", "127.0.0.1:1").returncode, 2)
        self.assertEqual(probe("--expect", "banner.p42<=1ms", "127.0.0.1:1").returncode, 2)
        self.assertEqual(probe("--expect", "outcome.ok<=1ms", "127.0.0.1:1").returncode, 2)

    def test_json_has_all_figures(self):
        with Server() as srv:
            j = probe_json(self, "-n", 5, "-c", 2, "127.0.0.1:%d" % srv.port)
        for k in ("attempts", "tries", "rate", "elapsed_us", "mode", "loop"):
            self.assertIn(k, j)
        for stage in ("connect", "banner", "total"):
            for fig in ("p50", "p90", "p99", "p999", "max", "min", "mean", "count"):
                self.assertIsInstance(j[stage][fig], (int, float), (stage, fig))
        self.assertEqual(set(j["outcome"]), {"ok", "gave_up", "ndr", "refused", "reset",
                                             "tempfail", "permfail", "error"})
        self.assertEqual(j["attempts"], 5)
        self.assertGreater(j["rate"], 0)

    def test_csv_rows_equal_tries(self):
        with Server(delay=0.15) as srv:
            r = probe("-q", "--json", "-", "--csv", os.path.join(ROOT, BUILD, "e2e-probe.csv"),
                      "-n", 6, "-c", 3, "--give-up", "100ms", "--retries", 1,
                      "--retry-after", "10ms", "127.0.0.1:%d" % srv.port)
        path = os.path.join(ROOT, BUILD, "e2e-probe.csv")
        self.addCleanup(os.unlink, path)
        self.assertEqual(r.returncode, 0, r.stderr)
        j = json.loads(r.stdout)
        with open(path) as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(len(rows), j["tries"])
        # new columns come last: readers that count columns keep working
        self.assertEqual(list(rows[0].keys()), ["attempt", "try", "start_us", "connect_us",
                                                "banner_us", "total_us", "outcome", "code",
                                                "source", "banner_masked", "ehlo_refused",
                                                "masked_extensions"])
        # every try connected (those that gave up too): each has its own port
        ports = set()
        for row in rows:
            host, port = row["source"].rsplit(":", 1)
            self.assertEqual(host, "127.0.0.1", row)
            ports.add(int(port))
        self.assertEqual(len(ports), len(rows))

    def test_csv_to_stdout_summary_to_stderr(self):
        with Server() as srv:
            r = probe("--csv", "-", "-n", 2, "127.0.0.1:%d" % srv.port)
        self.assertEqual(r.returncode, 0)
        rows = list(csv.DictReader(io.StringIO(r.stdout)))
        self.assertEqual(len(rows), 2)
        self.assertIn("p99", r.stderr)
        self.assertIn("#", r.stderr)       # the text histogram

    def test_usage_errors(self):
        for args in ([], ["-n", "0", "127.0.0.1"], ["--give-up", "soon", "127.0.0.1"],
                     ["--retries", "2", "127.0.0.1"], ["--profile", "nonesuch", "127.0.0.1"],
                     ["--source", "127.0.0.1/40", "127.0.0.1"], ["localhost"],
                     ["-m", "chat", "127.0.0.1"], ["127.0.0.1", "127.0.0.2"], ["--bogus", "127.0.0.1"]):
            r = probe(*args)
            self.assertEqual(r.returncode, 2, args)
            self.assertTrue(r.stderr.strip(), args)

    def test_profile_list_and_use(self):
        r = probe("--profile", "list")
        self.assertEqual(r.returncode, 0)
        for name in ("rfc5321", "sendmail", "exim", "postfix", "qmail",
                     "impatient-60", "impatient-30", "impatient-10", "impatient-5"):
            self.assertIn(name, r.stdout)
        with Server(banner=None) as srv:
            # The profile's give-up, with the lab's own quick retry schedule.
            j = probe_json(self, "--profile", "impatient-5", "--give-up", "150ms",
                           "--retry-after", "10ms", "127.0.0.1:%d" % srv.port)
        self.assertEqual(j["retries"], 2)
        self.assertEqual(j["give_up_us"], 150000)
        self.assertEqual(j["outcome"]["ndr"], 1)
        self.assertEqual(j["tries"], 3)


@unittest.skipUnless(os.access(PROBE, os.X_OK) and os.access(FLOOR, os.X_OK),
                     "smtpprobe or floor_server not built")
class TestFloorServer(unittest.TestCase):
    def setUp(self):
        self.proc = subprocess.Popen([FLOOR, "0"], stderr=subprocess.PIPE, text=True)
        self.addCleanup(self._stop)
        line = self.proc.stderr.readline()      # blocks until it is ready
        self.assertIn("floor_server: listening on 127.0.0.1:", line)
        self.port = int(line.rsplit(":", 1)[1])

    def _stop(self):
        self.proc.kill()
        self.proc.wait(10)
        self.proc.stderr.close()

    def test_load_closed_loop(self):
        j = probe_json(self, "-n", 5000, "-c", 50, "127.0.0.1:%d" % self.port)
        self.assertEqual(j["outcome"]["ok"], 5000)
        self.assertEqual(j["banner"]["count"], 5000)

    def test_load_two_threads_open_loop(self):
        j = probe_json(self, "-n", 2000, "-r", 4000, "-t", 2, "127.0.0.1:%d" % self.port)
        self.assertEqual(j["outcome"]["ok"], 2000)
        self.assertEqual(j["threads"], 2)

    def test_floor_server_dialogue(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            self.assertEqual(s.recv(100), b"220 floor ESMTP\r\n")
            s.sendall(b"QUIT\r\n")
            self.assertEqual(s.recv(100), b"221 bye\r\n")
            self.assertEqual(s.recv(100), b"")


def wait_until(predicate, timeout, what):
    """Polls predicate until true; fails the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError("timed out waiting for " + what)


def read_pty(fd, proc, timeout):
    """Everything written to a pty until the process has exited and the
    pty is drained, within timeout seconds."""
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:         # EIO: the other end is closed
                break
            if not chunk:
                break
            data += chunk
        elif proc.poll() is not None:
            break
    return data


STATUS = re.compile(rb"\rattempts \d+  ok \d+  gave up \d+  p50 \S+  p99 \S+  rate [0-9.]+/s")


@unittest.skipUnless(os.access(PROBE, os.X_OK), "smtpprobe not built")
class TestStop(unittest.TestCase):
    """SIGINT/SIGTERM: no new attempts, the summary of what was done."""

    def start(self, *args, **kw):
        p = subprocess.Popen([PROBE] + [str(a) for a in args], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, **kw)
        self.addCleanup(lambda: (p.poll() is None and p.kill(), p.wait(10), p.stdout.close(),
                                 p.stderr.close()))
        return p

    def test_signal_mid_run_writes_the_results(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            with self.subTest(sig=sig), Server() as srv:
                out = os.path.join(self.tmp(), "run.json")
                csvpath = os.path.join(self.tmp(), "run.csv")
                p = self.start("-q", "-r", 50, "-d", "60s", "--json", out, "--csv", csvpath,
                               "127.0.0.1:%d" % srv.port)
                wait_until(lambda: len(srv.peers) >= 10, 20, "ten connections")
                t0 = time.monotonic()
                p.send_signal(sig)
                self.assertEqual(p.wait(10), 0, p.stderr.read())
                self.assertLess(time.monotonic() - t0, 3.0)
                self.assertEqual(p.stderr.read(), b"")
                with open(out) as f:
                    j = json.load(f)
                self.assertGreaterEqual(j["attempts"], 10)
                self.assertEqual(j["outcome"]["ok"], j["attempts"])
                self.assertEqual((j["stopped"], j["interrupted"]), ("signal", 0))
                self.assertLess(j["elapsed_us"], 30000000)
                with open(csvpath) as f:
                    self.assertEqual(len(list(csv.DictReader(f))), j["tries"])

    def test_in_flight_attempts_end_within_the_grace(self):
        with Server(delay=0.5) as srv:
            p = self.start("-q", "-r", 20, "-d", "60s", "--grace", "5s", "--json", "-",
                           "127.0.0.1:%d" % srv.port)
            wait_until(lambda: len(srv.peers) >= 5, 20, "five connections")
            p.send_signal(signal.SIGINT)
            out, err = p.communicate(timeout=10)
            self.assertEqual(p.returncode, 0, err)
            self.assertEqual(err, b"")
            j = json.loads(out)
            # every attempt started ended, with its banner; none was cut
            self.assertEqual(j["attempts"], len(srv.peers))
            self.assertEqual(j["outcome"]["ok"], j["attempts"])
            self.assertEqual(j["interrupted"], 0)
            self.assertGreaterEqual(j["banner"]["p50"], 450000)

    def test_attempts_past_the_grace_are_interrupted(self):
        with Server(banner=None) as srv:
            p = self.start("-r", 20, "-d", "60s", "--grace", "300ms", "--json", "-",
                           "127.0.0.1:%d" % srv.port)
            wait_until(lambda: len(srv.peers) >= 3, 20, "three connections")
            t0 = time.monotonic()
            p.send_signal(signal.SIGINT)
            out, err = p.communicate(timeout=10)
            self.assertTrue(0.25 <= time.monotonic() - t0 < 3.0)
            self.assertEqual(p.returncode, 0, err)
            # the connections left in flight are freed (a leak shows here under SANITIZE=1)
            self.assertFalse([m for m in SANITIZER_MARKS if m.encode() in err], err)
            j = json.loads(out)
            self.assertEqual(j["attempts"], 0)
            self.assertGreaterEqual(j["interrupted"], 3)
            self.assertEqual(j["stopped"], "signal")
            self.assertIn(b"stopped by a signal: %d attempt(s)" % j["interrupted"], err)

    def test_grace_zero_ends_at_once(self):
        with Server(banner=None) as srv:
            p = self.start("-q", "-r", 20, "-d", "60s", "--grace", "0", "--json", "-",
                           "127.0.0.1:%d" % srv.port)
            wait_until(lambda: len(srv.peers) >= 2, 20, "two connections")
            t0 = time.monotonic()
            p.send_signal(signal.SIGINT)
            out, err = p.communicate(timeout=10)
            self.assertLess(time.monotonic() - t0, 1.0)
            self.assertEqual(p.returncode, 0, err)
            self.assertGreaterEqual(json.loads(out)["interrupted"], 2)

    def test_expect_still_sets_the_exit_code(self):
        with Server() as srv:
            p = self.start("-q", "-r", 50, "-d", "60s", "--expect", "attempts>=1000000",
                           "127.0.0.1:%d" % srv.port)
            wait_until(lambda: len(srv.peers) >= 3, 20, "three connections")
            p.send_signal(signal.SIGINT)
            _, err = p.communicate(timeout=10)
            self.assertEqual(p.returncode, 1)
            self.assertIn(b"expect attempts>=1000000: FAIL", err)

    def test_second_signal_exits_at_once(self):
        with Server(banner=None) as srv:
            p = self.start("-q", "--progress", "-r", 20, "-d", "60s", "--grace", "30s", "--json", "-",
                           "127.0.0.1:%d" % srv.port)
            wait_until(lambda: len(srv.peers) >= 2, 20, "two connections")
            p.send_signal(signal.SIGINT)
            line = b""
            while b"smtpprobe: stopping" not in line:     # the first one is taken
                chunk = p.stderr.read1(4096)
                self.assertTrue(chunk, line)
                line += chunk
            t0 = time.monotonic()
            p.send_signal(signal.SIGINT)
            out, err = p.communicate(timeout=10)
            self.assertLess(time.monotonic() - t0, 3.0)
            self.assertEqual(p.returncode, 130)
            self.assertEqual(out, b"")             # no summary
            self.assertIn(b"second signal", err)

    def tmp(self):
        import tempfile
        d = tempfile.mkdtemp(prefix="smtpprobe-test-")
        self.addCleanup(lambda: __import__("shutil").rmtree(d, ignore_errors=True))
        return d


@unittest.skipUnless(os.access(PROBE, os.X_OK), "smtpprobe not built")
class TestProgress(unittest.TestCase):
    """The status line: on a terminal only, on standard error."""

    def run_on_pty(self, *args):
        master, slave = pty.openpty()
        p = subprocess.Popen([PROBE] + [str(a) for a in args], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=slave, stdin=subprocess.DEVNULL)
        os.close(slave)
        self.addCleanup(os.close, master)
        data = read_pty(master, p, 30)
        out = p.stdout.read()
        p.stdout.close()
        self.assertEqual(p.wait(10), 0, data)
        return out, data

    def test_terminal_gets_the_status_line(self):
        with Server(delay=0.02) as srv:
            out, tty = self.run_on_pty("-r", 20, "-d", "2500ms", "127.0.0.1:%d" % srv.port)
        lines = STATUS.findall(tty)
        self.assertGreaterEqual(len(lines), 2, tty)
        self.assertNotIn(b"\n", tty)                 # one line, rewritten in place
        self.assertTrue(tty.endswith(b"\r"), tty)     # and wiped before the summary
        self.assertRegex(tty, rb"ok [1-9]\d*  gave up 0  p50 [0-9.]+ms  p99 ")
        self.assertTrue(out.startswith(b"smtpprobe 127.0.0.1:"), out)
        self.assertNotIn(b"\r", out)
        # --no-progress: nothing on the terminal
        with Server() as srv:
            out, tty = self.run_on_pty("--no-progress", "-r", 20, "-d", "1500ms",
                                       "127.0.0.1:%d" % srv.port)
        self.assertEqual(tty, b"")
        self.assertTrue(out.startswith(b"smtpprobe 127.0.0.1:"), out)

    def test_pipes_and_files_see_no_change(self):
        with Server() as srv:
            r = subprocess.run([PROBE, "-q", "-r", "20", "-d", "2500ms", "--json", "-",
                                "127.0.0.1:%d" % srv.port], cwd=ROOT, capture_output=True,
                               timeout=30)
            self.assertEqual(r.returncode, 0)
            self.assertEqual(r.stderr, b"")
            self.assertNotIn(b"\r", r.stdout)
            self.assertEqual(json.loads(r.stdout)["attempts"], 50)   # nothing but the JSON
            r = subprocess.run([PROBE, "-r", "20", "-d", "1500ms", "127.0.0.1:%d" % srv.port],
                               cwd=ROOT, capture_output=True, timeout=30)
            self.assertEqual(r.returncode, 0)
            self.assertEqual(r.stderr, b"")
            self.assertNotIn(b"\r", r.stdout)
            self.assertTrue(r.stdout.startswith(b"smtpprobe 127.0.0.1:"), r.stdout)
            # forced on a pipe, it is there
            r = subprocess.run([PROBE, "-q", "--progress", "-r", "20", "-d", "1500ms",
                                "127.0.0.1:%d" % srv.port], cwd=ROOT, capture_output=True,
                               timeout=30)
            self.assertEqual(r.returncode, 0)
            self.assertRegex(r.stderr, STATUS)

    def test_bad_grace(self):
        r = probe("--grace", "5", "127.0.0.1")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--grace", r.stderr)


if __name__ == "__main__":
    unittest.main()

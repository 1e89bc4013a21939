"""Helpers for the end-to-end tests: start the real programs on loopback,
wait for events (a log line, a port, a file) with deadlines, parse the
protocol log, and stop everything a test started, by PID, even when the
test fails."""
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
# ThreadSanitizer slows the daemon several times over: bounds on how fast
# something must be (not on how slow) are multiplied by this.
TIME_SCALE = float(os.environ.get("TEST_TIME_SCALE") or (4 if "tsan" in BUILD else 1))
# A shell starts its background jobs with SIGINT ignored, and an ignored
# signal stays ignored across exec: the Ctrl-C tests' children could not
# be interrupted. A handled signal is reset to the default at exec.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "WARNING: ThreadSanitizer")


def tmpdir(test, prefix="bannerlab-test-"):
    """A temporary folder removed when the test ends (pass or fail);
    KEEP_TEST_FILES=1 keeps it for a post-mortem."""
    path = tempfile.mkdtemp(prefix=prefix)
    if not os.environ.get("KEEP_TEST_FILES"):
        test.addCleanup(shutil.rmtree, path, True)
    return path


def binary(name):
    return os.path.join(BUILD, "bin", name)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def free_port():
    """A loopback TCP port nobody listens on now (a test's own server
    binds it next; the race with another process is accepted)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def group_processes(pgid):
    """The live PIDs of a process group, from /proc: what a run started
    and left behind."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(d))
    return out


def control(path, line, timeout=5.0):
    """One request on a control socket (common/control.h), spoken raw:
    returns (body lines, last line)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(line.encode() + b"\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    lines = data.decode().splitlines()
    assert data.endswith(b"\n") and lines, data
    return lines[:-1], lines[-1]


def wait_for(predicate, timeout, what, interval=0.01):
    """Polls predicate until it returns something true; fails after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


_KV = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def drip(sock, pieces, every):
    """Sends pieces one every `every` seconds on a thread, until all are
    sent or the server closes: the slow client itself, not a wait.
    Returns the event that stops it early, and the thread."""
    import threading
    stop = threading.Event()

    def run():
        for piece in pieces:
            if stop.wait(every):
                return
            try:
                sock.sendall(piece)
            except OSError:
                return
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return stop, t


def parse_text_line(line):
    """A protocol log text line as a dict: event plus every key=value."""
    parts = line.rstrip("\n").split(" ", 2)
    if len(parts) < 2:
        return None
    rest = parts[2] if len(parts) > 2 else ""
    d = {"event": parts[1]}
    for k, v in _KV.findall(rest):
        if v.startswith('"'):
            v = bytes(v[1:-1], "ascii").decode("unicode_escape")
        d[k] = v
    return d


def duration_us(text):
    """'12us', '300.4ms', '4.100s' -> microseconds; '-' -> None."""
    if text == "-":
        return None
    m = re.fullmatch(r"([0-9.]+)(us|ms|s)", text)
    if not m:
        raise ValueError("not a duration: %r" % text)
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]


class Bannerd:
    """One bannerd process in the foreground, logging to a file."""

    def __init__(self, test, overrides=(), conf=None, args=(), rlimit_nofile=None,
                 address="127.0.0.1:0", wrapper=()):
        self.test = test
        self.dir = tmpdir(test, "bannerd-test-")
        self.stderrpath = os.path.join(self.dir, "bannerd.stderr")
        self.logpath = self.stderrpath
        for o in overrides:
            if o.startswith("log.target=") and o != "log.target=stderr":
                self.logpath = o.split("=", 1)[1]
        cmd = [binary("bannerd"), "-f"]
        if conf:
            cmd += ["-c", conf]
        # Reverse DNS is off unless a test turns it on: with the default
        # (auto, protocol log on) it would query resolv.conf's servers,
        # and tests talk to loopback only.
        cmd += ["-o", "listen.address=" + address, "-o", "server.shutdown_timeout=2s",
                "-o", "rdns.enabled=off"]
        for o in overrides:
            cmd += ["-o", o]
        cmd += list(args)
        # wrapper: a command that ends by exec'ing its arguments (so the
        # pid stays bannerd's), e.g. a private mount namespace
        cmd = list(wrapper) + cmd
        self.cmd = cmd
        preexec = None
        if rlimit_nofile:
            import resource
            preexec = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (rlimit_nofile, rlimit_nofile))
        self.logfile = open(self.stderrpath, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.logfile, stderr=self.logfile,
                                     stdin=subprocess.DEVNULL, preexec_fn=preexec)
        self.stopped = False
        test.addCleanup(self.cleanup)
        # "ready" comes after every listener's "listening on" line
        self.wait_log(r"ready to accept connections", timeout=10)
        lines = self.wait_log(r"listening on (\S+) backlog", timeout=1)
        self.ports = []
        for m in lines:
            host, port = m.group(1).rsplit(":", 1)
            self.ports.append((host.strip("[]"), int(port)))
        self.host, self.port = self.ports[0]

    # ---- the log ----
    def log_text(self):
        try:
            with open(self.logpath, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stderr_text(self):
        with open(self.stderrpath, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def events(self, event=None):
        out = []
        for line in self.log_text().splitlines():
            d = parse_text_line(line)
            if d and (event is None or d["event"] == event):
                out.append(d)
        return out

    def wait_log(self, pattern, timeout=10, count=1):
        rx = re.compile(pattern)

        def found():
            ms = list(rx.finditer(self.log_text()))
            if self.proc.poll() is not None and len(ms) < count:
                raise AssertionError("bannerd exited (%s) while waiting for %r:\n%s"
                                     % (self.proc.returncode, pattern, self.log_text()[-3000:]))
            return ms if len(ms) >= count else None
        return wait_for(found, timeout, "log pattern %r x%d" % (pattern, count))

    def wait_event(self, event, timeout=10, count=1, **match):
        def found():
            es = [e for e in self.events(event)
                  if all(e.get(k) == str(v) for k, v in match.items())]
            if self.proc.poll() is not None and len(es) < count:
                raise AssertionError("bannerd exited while waiting for %s" % event)
            return es if len(es) >= count else None
        return wait_for(found, timeout, "%d %s event(s) %r" % (count, event, match))

    # ---- clients ----
    def connect(self, timeout=10):
        s = socket.create_connection((self.host, self.port), timeout=timeout)
        self.test.addCleanup(s.close)
        return s

    # ---- life cycle ----
    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=15):
        """SIGTERM, wait for a clean exit, and check for sanitizer reports.
        A bannerd that does not stop is shown (every thread's stack, with
        gdb when there is one, and the log's end) before it is killed."""
        if self.stopped:
            return self.proc.returncode
        self.stopped = True
        timeout *= TIME_SCALE
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            stacks = ""
            if shutil.which("gdb"):
                try:
                    stacks = subprocess.run(["gdb", "-p", str(self.proc.pid), "-batch", "-ex",
                                             "thread apply all bt"], capture_output=True,
                                            timeout=60).stdout.decode("utf-8", "replace")
                except subprocess.TimeoutExpired:
                    stacks = "(gdb timed out)"
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("bannerd did not stop within %ss after SIGTERM\n%s\nlog end:\n%s"
                                 % (timeout, stacks[-6000:], self.log_text()[-3000:]))
        self.check_sanitizers()
        return rc

    def check_sanitizers(self):
        text = self.stderr_text() + self.log_text()
        for mark in SANITIZER_MARKS:
            if mark in text:
                raise AssertionError("sanitizer report in bannerd's log:\n" + text[-6000:])

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.logfile.close()
        if not self.stopped:
            # The test ended without stopping the daemon: still check it.
            self.check_sanitizers()


class Conversation:
    """A raw SMTP client that sees every byte: for what smtplib hides."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def reply(self, timeout=10):
        """Reads one complete (possibly multi-line) reply: (code, [lines])."""
        self.sock.settimeout(timeout)
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise EOFError("connection closed; partial %r" % self.buf)
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode("latin-1"))
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3]), lines

    def cmd(self, line, timeout=10):
        self.send(line + "\r\n")
        return self.reply(timeout)

    def closed(self, timeout=10):
        """True once the server has closed the connection."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except ConnectionResetError:
            return True


def run(cmd, timeout=60, **kw):
    return subprocess.run(cmd, capture_output=True, timeout=timeout, **kw)


class BannerdTest(unittest.TestCase):
    def start(self, *overrides, **kw):
        return Bannerd(self, overrides, **kw)

    def greet(self, d):
        c = Conversation(d.connect())
        code, lines = c.reply()
        self.assertEqual(code, 220, lines)
        return c


class Slowdns:
    """One slowdns process on a free UDP port of 127.0.0.1 (or of the
    address given), its output in a file: a pipe could fill up with
    per-query lines and block the server. address is "HOST:PORT" as
    slowdns says it listens, port the number alone."""

    def __init__(self, test, *args, address="127.0.0.1:0"):
        self.dir = tmpdir(test, "slowdns-test-")
        self.logpath = os.path.join(self.dir, "slowdns.log")
        self.logfile = open(self.logpath, "wb")
        self.proc = subprocess.Popen([binary("slowdns"), "-l", address] + list(args),
                                     stdout=self.logfile, stderr=self.logfile,
                                     stdin=subprocess.DEVNULL)
        test.addCleanup(self.cleanup)
        m = wait_for(lambda: self._listening(), 10, "slowdns to listen")
        self.address = m.group(1)
        self.port = int(self.address.rsplit(":", 1)[1])

    def _listening(self):
        m = re.search(r"listening on (\S+)", self.log_text())
        if m is None and self.proc.poll() is not None:
            raise AssertionError("slowdns exited %r before listening:\n%s"
                                 % (self.proc.returncode, self.log_text()))
        return m

    def log_text(self):
        with open(self.logpath, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_log(self, pattern, timeout, count=1):
        """The count-th match of pattern in the log, or None if it has not
        come within timeout seconds or the server has exited."""
        def nth():
            ms = list(re.finditer(pattern, self.log_text()))
            return ms[count - 1] if len(ms) >= count else None
        try:
            wait_for(lambda: nth() or self.proc.poll() is not None, timeout, pattern)
        except AssertionError:
            pass
        return nth()

    def _last_counts(self):
        lines = [l for l in self.log_text().splitlines() if l.startswith("slowdns: counts ")]
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", lines[-1])} if lines else None

    def queries(self, qtype=None):
        lines = [l for l in self.log_text().splitlines() if l.startswith("slowdns: query ")]
        if qtype:
            lines = [l for l in lines if " type=%s " % qtype in l]
        return lines

    def counts(self, timeout=5):
        """Asks for the counts line (SIGUSR1) and returns it as a dict."""
        before = self.log_text().count("slowdns: counts ")
        self.proc.send_signal(signal.SIGUSR1)
        wait_for(lambda: self.log_text().count("slowdns: counts ") > before, timeout, "counts line")
        return self._last_counts()

    def stop(self, sig=signal.SIGTERM):
        """Stops the server by its PID; returns its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def exit_counts(self):
        """Stops with SIGTERM, checks the clean exit, returns the last
        counts line (slowdns writes one as it exits)."""
        rc = self.stop()
        if rc != 0:
            raise AssertionError("slowdns exited %r:\n%s" % (rc, self.log_text()))
        counts = self._last_counts()
        if counts is None:
            raise AssertionError("no counts line on exit:\n" + self.log_text())
        return counts

    def cleanup(self):
        self.stop()
        self.logfile.close()


# promtool: as make check hands it over, else the one on PATH, else the
# copy scripts/install-deps --test unpacks
PROMTOOL = (os.environ.get("PROMTOOL") or shutil.which("promtool")
            or os.path.join(ROOT, ".deps", "prometheus", "usr", "bin", "promtool"))


def burst(host, port, n, timeout=30, quit=True):
    """Opens n connections at once; returns, in connection order, the
    seconds from the start of the burst to each complete first reply line,
    and that line (None if the connection closed first). With quit, QUIT is
    sent right after the reply, so the session frees its slot."""
    import selectors
    sel = selectors.DefaultSelector()
    t0 = time.monotonic()
    socks = []
    for i in range(n):
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        s.setblocking(False)
        s.connect_ex((host, port))
        socks.append(s)
        sel.register(s, selectors.EVENT_READ, i)
    times = [None] * n
    lines = [None] * n
    bufs = [b""] * n
    deadline = t0 + timeout
    pending = n
    try:
        while pending and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.5):
                i = key.data
                try:
                    chunk = key.fileobj.recv(4096)
                except OSError:
                    chunk = b""
                bufs[i] += chunk
                if b"\r\n" in bufs[i] or not chunk:
                    times[i] = time.monotonic() - t0
                    lines[i] = bufs[i].split(b"\r\n")[0].decode("latin-1") if b"\r\n" in bufs[i] else None
                    if quit and chunk:
                        try:
                            key.fileobj.send(b"QUIT\r\n")
                        except OSError:
                            pass
                    sel.unregister(key.fileobj)
                    pending -= 1
    finally:
        for s in socks:
            s.close()
    return times, lines


def scrape(url, timeout=10):
    import urllib.request
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def prom_value(text, name, **labels):
    """The value of one sample in a Prometheus text exposition."""
    want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, value = line.rsplit(" ", 1)
        if head == name and not want:
            return float(value)
        if head.startswith(name + "{"):
            got = ",".join(sorted(head[len(name) + 1:-1].split(",")))
            if got == want:
                return float(value)
    raise KeyError("%s%r not in the exposition" % (name, labels))

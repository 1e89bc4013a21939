#!/usr/bin/env python3
"""Durability torture for bannerd's Maildir sink (issue 11, "Proof that
stays"; rows 50-53 of the reliability matrix).

1. Kill cycles. bannerd runs with smtp.sink = maildir while SENDERS
   threads send messages over loopback, each with a unique id and a body
   that is a deterministic function of that id (multi-line, dot lines that
   need stuffing, lines of 998 to 20000 bytes, 8-bit bytes, empty bodies,
   bodies of up to 120 KB that span many reads). After a random delay
   (seeded: --seed replays the delays, the session lengths and the
   messages, not the threads' interleaving) bannerd gets
   SIGKILL, and is started again on the same Maildir: it must remove the
   tmp/ files its dead predecessor left, before the first client. A sender
   whose connection died retries its message, same id, as a real client
   would; a message whose end of data was sent but whose reply never came
   is "in doubt" and may end up stored twice (at-least-once). After the
   last cycle one more bannerd lets every sender finish its message and is
   stopped with SIGTERM. Then new/ is read: every message that got a 250
   must be there byte for byte (the bytes after dot-unstuffing, which is
   exactly what bannerd writes: it adds no header), in the file that
   carries the 250's queue id; every file must be a whole message; no
   message may have more copies than it had 250s and lost replies; cur/
   and tmp/ must be empty.

2. Fault injection (row 53): bannerd under an LD_PRELOAD shim
   (tests/shims/, built by make) whose fsync of the file, fsync of new/,
   or rename into new/ fails with EIO. Each message gets 451 4.3.0,
   nothing is left in new/ or tmp/, no descriptor leaks, the session goes
   on (NOOP, another client), and with the fault turned off the same
   session stores a message.

Prints the figures and exits 0, or 1 with what failed. Every wait has a
deadline; processes are stopped by their pid; the work directory is
removed at the end, on failure too (--keep keeps it).

Usage: torture.py [--cycles 100] [--senders 8] [--seed N] [--build build]
                  [--min-delay 0.05] [--max-delay 1.2] [--no-inject]
                  [--inject-only] [--keep]
"""
import argparse
import hashlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from harness import SANITIZER_MARKS, Conversation, wait_for  # noqa: E402

HOST = "torture.bannerlab.test"
REPLY_451 = "451 4.3.0 Error: local error in processing"
# Under ASan a start-up and a reply take longer; these are deadlines, not
# expectations.
START_TIMEOUT = 30
REPLY_TIMEOUT = 30


class TortureFailure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise TortureFailure(what)


# ---- the messages ----

def pattern(mid, i, n):
    """Line i of message mid: n printable bytes that depend on both."""
    block = hashlib.sha256(("%s:%d" % (mid, i)).encode()).hexdigest().encode()
    return (block * (n // len(block) + 1))[:n]


def body_lines(kind, rng, mid):
    if kind == "short":
        return [pattern(mid, i, rng.randint(1, 76)) for i in range(rng.randint(1, 3))]
    if kind == "dots":
        # Lines that start with a dot are sent stuffed (RFC 5321 4.5.2);
        # "." alone and ".." are the ones that would end or corrupt the
        # message if bannerd got the unstuffing wrong.
        dots = [b".", b"..", b"...", b". ", b".\t.", b".end", b"..\x2e"]
        out = []
        for i in range(rng.randint(3, 30)):
            r = rng.random()
            if r < 0.4:
                out.append(rng.choice(dots))
            elif r < 0.6:
                out.append(b"." + pattern(mid, i, rng.randint(1, 70)))
            elif r < 0.7:
                out.append(b"")
            else:
                out.append(pattern(mid, i, rng.randint(1, 76)))
        return out
    if kind == "long":
        # 998 is RFC 5321's line limit; bannerd keeps longer lines whole.
        return [pattern(mid, 0, 998), pattern(mid, 1, 1000), b"." + pattern(mid, 2, 1500),
                pattern(mid, 3, rng.randint(2000, 20000)), b"tail"]
    if kind == "large":
        # Many 16 KiB reads (DATA_CHUNK): a kill lands mid-write.
        return [pattern(mid, i, 76) for i in range(rng.randint(300, 1500))]
    if kind == "8bit":
        out = []
        for i in range(rng.randint(1, 10)):
            raw = bytes(rng.randint(0x80, 0xff) for _ in range(rng.randint(1, 60)))
            out.append((b"." if rng.random() < 0.3 else b"") + raw + pattern(mid, i, 8))
        return out
    return []	# "empty": the headers and the blank line only


KINDS = ("short", "dots", "long", "large", "8bit", "empty")
WEIGHTS = (40, 25, 8, 4, 15, 8)


def message(run, sender, seq):
    """The message as bannerd must store it: CRLF lines, unstuffed, ending
    in CRLF. A function of (run, sender, seq) alone, so the check can
    rebuild it from the id in the file."""
    mid = "%s.%d.%d" % (run, sender, seq)
    rng = random.Random(mid)
    kind = rng.choices(KINDS, WEIGHTS)[0]
    body = b"".join(line + b"\r\n" for line in body_lines(kind, rng, mid))
    head = ("Message-ID: <%s@%s>\r\nX-Torture-Id: %s\r\nX-Torture-Kind: %s\r\n"
            "X-Torture-Body: %d bytes sha256 %s\r\nSubject: torture %s\r\n\r\n"
            % (mid, HOST, mid, kind, len(body), hashlib.sha256(body).hexdigest(), mid))
    return mid, head.encode() + body


def wire(msg):
    """The DATA bytes for msg: dot-stuffed, then the end of data."""
    lines = msg[:-2].split(b"\r\n")
    return b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in lines) + b".\r\n"


ID_RX = re.compile(rb"\r\nX-Torture-Id: ([0-9]+)\.([0-9]+)\.([0-9]+)\r\n")


# ---- bannerd ----

class Life:
    """One bannerd process on the Maildir; its log in its own file."""

    def __init__(self, n, bannerd, maildir, workdir, env=None, name=None):
        self.n = n
        self.logpath = os.path.join(workdir, "%s.log" % (name or "life-%03d" % n))
        cmd = [bannerd, "-f", "-o", "listen.address=127.0.0.1:0", "-o", "rdns.enabled=off",
               "-o", "smtp.sink=maildir", "-o", "smtp.maildir=" + maildir,
               "-o", "banner.hostname=" + HOST, "-o", "banner.text=ESMTP torture life %d" % n,
               "-o", "server.shutdown_timeout=2s", "-o", "log.protocol_log=minimum"]
        self.log = open(self.logpath, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL, env=env)
        self.pid = self.proc.pid
        try:
            wait_for(lambda: self._seen("ready to accept connections"), START_TIMEOUT,
                     "bannerd (life %d) ready" % n)
        except AssertionError:
            self.kill()
            raise TortureFailure("bannerd life %d did not start:\n%s" % (n, self.tail()))
        m = re.search(r"listening on 127\.0\.0\.1:(\d+) ", self.text())
        self.port = int(m.group(1))
        m = re.search(r"maildir dir=\S+ removed_tmp=(\d+)", self.text())
        self.removed_tmp = int(m.group(1)) if m else None

    def text(self):
        with open(self.logpath, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def tail(self, n=3000):
        return self.text()[-n:]

    def _seen(self, what):
        if what in self.text():
            return True
        if self.proc.poll() is not None:
            raise AssertionError("exited %s" % self.proc.returncode)
        return False

    def kill(self):
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        self.proc.wait(30)
        self.log.close()

    def stop(self):
        """SIGTERM and a clean exit, within a deadline."""
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
        try:
            rc = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()
            raise TortureFailure("bannerd (life %d) did not stop after SIGTERM" % self.n)
        self.log.close()
        return rc

    def sanitizer_report(self):
        text = self.text()
        return next((m for m in SANITIZER_MARKS if m in text), None)


# ---- the senders ----

class Gate:
    """Which bannerd the senders may talk to. The controller closes it
    before each SIGKILL, so a connection that fails while its life is
    still open is a fault of bannerd's, not the experiment."""

    def __init__(self):
        self.cond = threading.Condition()
        self.life = None
        self.final = False
        self.stopping = False

    def open(self, life, final=False):
        with self.cond:
            self.life, self.final = life, final
            self.cond.notify_all()

    def close(self):
        with self.cond:
            self.life = None

    def stop(self):
        with self.cond:
            self.stopping = True
            self.cond.notify_all()

    def wait(self, not_this, timeout=60):
        """The open life, other than not_this; None when stopping or after
        timeout seconds without one."""
        with self.cond:
            self.cond.wait_for(lambda: self.stopping or
                               (self.life is not None and self.life is not not_this), timeout)
            return None if self.stopping else self.life

    def is_open(self, life):
        return self.life is life


class Sender(threading.Thread):
    """Sends messages in sessions of 1 to 20, retrying the one a dead
    bannerd interrupted until it gets a 250."""

    def __init__(self, idx, run, gate, seed):
        super().__init__(name="sender-%d" % idx, daemon=True)
        self.idx, self.run_id, self.gate = idx, run, gate
        self.rng = random.Random("%s:sender:%d" % (seed, idx))
        self.seq = 0
        self.pending = None		# (mid, bytes) not yet acknowledged
        self.acked = {}			# mid -> (life n, bannerd pid, queue id)
        self.in_doubt = {}		# mid -> times its end of data was sent and
					# no reply came: each may have been stored
        self.faults = []		# what must never happen
        self.sessions = 0

    def run(self):
        try:
            self.loop()
        except Exception as e:	# a bug here must fail the run, not hang it
            self.faults.append("sender %d crashed: %r" % (self.idx, e))

    def loop(self):
        last = None
        while True:
            life = self.gate.wait(last)
            if life is None:
                if not self.gate.stopping:
                    self.faults.append("sender %d: no bannerd to talk to for 60 s" % self.idx)
                return
            if self.gate.final and self.pending is None:
                return
            ok = self.session(life)
            last = None if ok else life		# after a failure, wait for the next life

    def next_message(self):
        if self.pending is None:
            self.seq += 1
            self.pending = message(self.run_id, self.idx, self.seq)
        return self.pending

    def fault(self, life, what):
        if self.gate.is_open(life):
            self.faults.append("life %d (pid %d): %s" % (life.n, life.pid, what))

    def session(self, life):
        """One connection: True if it ended with QUIT, False if it broke."""
        stage = "connect"
        try:
            sock = socket.create_connection(("127.0.0.1", life.port), REPLY_TIMEOUT)
        except OSError as e:
            self.fault(life, "connect: %s" % e)
            return False
        self.sessions += 1
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c = Conversation(sock)
            stage = "banner"
            code, lines = c.reply(REPLY_TIMEOUT)
            if code != 220 or not lines[0].endswith("life %d" % life.n):
                self.fault(life, "banner %r" % lines)
                return False
            stage = "EHLO"
            if c.cmd("EHLO sender%d.%s" % (self.idx, HOST), REPLY_TIMEOUT)[0] != 250:
                self.fault(life, "EHLO refused")
                return False
            for _ in range(self.rng.randint(1, 20)):
                if self.gate.final and self.pending is None:
                    break
                mid, msg = self.next_message()
                stage = "envelope"
                for line, want in (("MAIL FROM:<s%d@%s>" % (self.idx, HOST), 250),
                                   ("RCPT TO:<torture@%s>" % HOST, 250), ("DATA", 354)):
                    code, lines = c.cmd(line, REPLY_TIMEOUT)
                    if code != want:
                        self.fault(life, "%s: %r" % (line, lines))
                        return False
                stage = "data"
                c.send(wire(msg))
                stage = "reply"
                code, lines = c.reply(REPLY_TIMEOUT)
                m = re.fullmatch(r"250 2\.0\.0 Ok: queued as ([0-9A-F]+)", lines[-1])
                if code != 250 or m is None:
                    self.fault(life, "end of data of %s: %r" % (mid, lines))
                    return False
                self.acked[mid] = (life.n, life.pid, m.group(1))
                self.pending = None
            stage = "QUIT"
            c.cmd("QUIT", REPLY_TIMEOUT)
            return True
        except (OSError, EOFError, ValueError) as e:
            if stage == "reply":
                self.in_doubt[mid] = self.in_doubt.get(mid, 0) + 1
            self.fault(life, "%s: %r" % (stage, e))
            return False
        finally:
            sock.close()


# ---- the Maildir ----

def listdir(md, sub):
    return sorted(os.listdir(os.path.join(md, sub)))


def tmp_writer(name):
    m = re.match(r"\d+\.M\d+P(\d+)Q", name)
    return int(m.group(1)) if m else None


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_restart(life, left, md, warnings):
    """At start-up bannerd removed every tmp/ file its dead predecessors
    left (left: the names after the SIGKILL), before any client came."""
    now = listdir(md, "tmp")
    stayed = [n for n in now if n in left]
    reused = [n for n in stayed if pid_alive(tmp_writer(n) or 0)]
    if reused:
        # The pid was taken by another process since: bannerd must (and
        # does) leave a live process's file alone. Not a failure.
        warnings.append("life %d: %d tmp/ file(s) kept, writer pid reused" % (life.n, len(reused)))
    check(len(stayed) == len(reused),
          "life %d (pid %d) did not remove the tmp/ files of dead writers: %s" % (life.n, life.pid, stayed))
    check(all(n in left for n in now), "life %d: unexpected files in tmp/ at start-up: %s"
          % (life.n, [n for n in now if n not in left]))
    check(life.removed_tmp == len(left) - len(reused),
          "life %d logged removed_tmp=%s, %d were left" % (life.n, life.removed_tmp, len(left)))


def verify(md, run, senders):
    """Reads new/: returns the figures, raises on loss or a bad file."""
    acked = {}
    doubt = {}
    started = {}
    for s in senders:
        acked.update(s.acked)
        doubt.update(s.in_doubt)
        started[s.idx] = s.seq
    copies = {}
    bad = []
    for name in listdir(md, "new"):
        with open(os.path.join(md, "new", name), "rb") as f:
            data = f.read()
        m = ID_RX.search(data, 0, 4096)
        if m is None or m.group(1).decode() != run or \
                not 1 <= int(m.group(3)) <= started.get(int(m.group(2)), 0):
            bad.append("%s: no id of this run (%d bytes)" % (name, len(data)))
            continue
        mid, want = message(run, int(m.group(2)), int(m.group(3)))
        if data != want:
            what = "a prefix of" if want.startswith(data) else "different from"
            bad.append("%s: %d bytes, %s the %d sent as %s" % (name, len(data), what, len(want), mid))
            continue
        copies.setdefault(mid, []).append(name)
    lost = sorted(mid for mid in acked if mid not in copies)
    # Each 250 is one copy, each end of data whose reply was lost at most
    # one more: anything beyond is a copy bannerd made on its own.
    extra = sorted(mid for mid, names in copies.items()
                   if len(names) > (mid in acked) + doubt.get(mid, 0))
    wrong_file = sorted(mid for mid, (_, pid, qid) in acked.items() if mid in copies and
                        not any("P%dQ%s." % (pid, qid) in n for n in copies[mid]))
    figures = {
        "acknowledged": len(acked),
        "found": len(acked) - len(lost),
        "lost": len(lost),
        "duplicates": sum(len(v) - 1 for v in copies.values()),
        "in_doubt": sum(doubt.values()),
        "stored_unacked": sum(1 for mid in copies if mid not in acked),
        "files": sum(len(v) for v in copies.values()) + len(bad),
    }
    problems = []
    if lost:
        problems.append("%d acknowledged message(s) lost, e.g. %s (250 from life %d, queue id %s)"
                        % (len(lost), lost[0], acked[lost[0]][0], acked[lost[0]][2]))
    if bad:
        problems.append("%d bad file(s) in new/: %s" % (len(bad), "; ".join(bad[:5])))
    if extra:
        problems.append("%d message(s) stored more often than sent, e.g. %s %r"
                        % (len(extra), extra[0], copies[extra[0]]))
    if wrong_file:
        problems.append("%d message(s) not in the file of their 250's queue id, e.g. %s %r"
                        % (len(wrong_file), wrong_file[0], copies[wrong_file[0]]))
    for sub in ("tmp", "cur"):
        if listdir(md, sub):
            problems.append("%s/ not empty at the end: %s" % (sub, listdir(md, sub)[:5]))
    return figures, problems


# ---- 1. kill cycles ----

def kill_cycles(args, bannerd, workdir, out):
    md = os.path.join(workdir, "Maildir")
    run = str(args.seed)
    rng = random.Random(args.seed)
    gate = Gate()
    senders = [Sender(i, run, gate, args.seed) for i in range(args.senders)]
    warnings = []
    life = None
    left = []
    tmp_removed = 0
    t0 = time.monotonic()
    try:
        for s in senders:
            s.start()
        for n in range(1, args.cycles + 2):
            final = n == args.cycles + 1
            life = Life(n, bannerd, md, workdir)
            check_restart(life, left, md, warnings)
            tmp_removed += life.removed_tmp
            gate.open(life, final)
            if final:
                break
            delay = rng.uniform(args.min_delay, args.max_delay)
            time.sleep(delay)		# the experiment: a random moment
            check(life.proc.poll() is None, "bannerd (life %d) exited by itself (%s):\n%s"
                  % (n, life.proc.returncode, life.tail()))
            gate.close()
            life.kill()
            left = listdir(md, "tmp")
            report = life.sanitizer_report()
            check(report is None, "life %d: %s:\n%s" % (n, report, life.tail(6000)))
            if args.verbose or n % max(1, args.cycles // 10) == 0 or n == args.cycles:
                out("cycle %d/%d: SIGKILL after %.3f s, %d acknowledged so far, %d left in tmp/"
                    % (n, args.cycles, delay, sum(len(s.acked) for s in senders), len(left)))
        # The last life: every sender finishes the message it had, then
        # bannerd must stop cleanly.
        for s in senders:
            s.join(max(5.0, REPLY_TIMEOUT * 2))
        check(not any(s.is_alive() for s in senders), "a sender did not finish in the last life")
        rc = life.stop()
        check(rc == 0, "the last bannerd exited %s:\n%s" % (rc, life.tail()))
        report = life.sanitizer_report()
        check(report is None, "last life: %s:\n%s" % (report, life.tail(6000)))
        life = None
    finally:
        gate.stop()
        if life is not None:
            life.kill()
        for s in senders:
            s.join(REPLY_TIMEOUT + 5)
    elapsed = time.monotonic() - t0
    faults = [f for s in senders for f in s.faults]
    figures, problems = verify(md, run, senders)
    figures.update(cycles=args.cycles, senders=args.senders, seconds=elapsed,
                   sessions=sum(s.sessions for s in senders), tmp_removed=tmp_removed)
    out("torture: %(cycles)d cycles, %(senders)d senders, %(sessions)d sessions: "
        "%(acknowledged)d acknowledged, %(found)d found, %(lost)d lost, "
        "%(duplicates)d duplicates (of %(in_doubt)d sent again after a kill took the reply), "
        "%(files)d files in new/, %(tmp_removed)d tmp/ files of killed "
        "writers removed at restart, %(seconds).1f s" % figures)
    for w in warnings:
        out("warning: " + w)
    problems = faults[:10] + problems
    if len(faults) > 10:
        problems.append("... and %d more sender faults" % (len(faults) - 10))
    return figures, problems


# ---- 2. fault injection ----

INJECTIONS = (
    # (name, shim, environment, what the log says)
    ("fsync of the file", "fail_fsync.so", {}, "Input/output error"),
    ("fsync of new/", "fail_fsync.so", {"FAIL_FSYNC_WHAT": "dir"}, "Input/output error"),
    ("rename into new/", "fail_rename.so", {}, "Input/output error"),
)


def send_one(c, msg, timeout=REPLY_TIMEOUT):
    for line, want in (("MAIL FROM:<inject@%s>" % HOST, 250), ("RCPT TO:<t@%s>" % HOST, 250),
                       ("DATA", 354)):
        code, lines = c.cmd(line, timeout)
        check(code == want, "%s: %r" % (line, lines))
    c.send(wire(msg))
    return c.reply(timeout)


def connect(life):
    c = Conversation(socket.create_connection(("127.0.0.1", life.port), REPLY_TIMEOUT))
    check(c.reply(REPLY_TIMEOUT)[0] == 220, "no banner")
    check(c.cmd("EHLO inject.%s" % HOST, REPLY_TIMEOUT)[0] == 250, "EHLO refused")
    return c


def inject(bannerd, workdir, name, shim, extra, logged, out):
    """bannerd under SHIM: 451 4.3.0 for every message while the fault is
    on, nothing in new/ or tmp/, no descriptor leaked, the session and the
    daemon still serving; then the fault off, and a 250."""
    shim_path = os.path.join(os.path.dirname(os.path.dirname(bannerd)), "tests", "shims", shim)
    check(os.path.exists(shim_path), "%s is not built (make builds tests/shims/)" % shim_path)
    tag = re.sub(r"\W+", "-", name).strip("-")
    md = os.path.join(workdir, "inject-" + tag)
    flag = os.path.join(workdir, "inject-%s.on" % tag)
    open(flag, "w").close()
    env = dict(os.environ, LD_PRELOAD=shim_path, FAIL_FSYNC_WHILE=flag, FAIL_RENAME_WHILE=flag,
               # ASan wants to be first in the link order; the shim only
               # wraps what it names.
               ASAN_OPTIONS=(os.environ.get("ASAN_OPTIONS", "") +
                             ":verify_asan_link_order=0").lstrip(":"), **extra)
    life = Life(0, bannerd, md, workdir, env=env, name="inject-" + tag)
    a = b = None
    try:
        a = connect(life)
        fds = len(os.listdir("/proc/%d/fd" % life.pid))
        for i in range(3):
            _, msg = message("inject", 0, i)
            code, lines = send_one(a, msg)
            check((code, lines) == (451, [REPLY_451]), "%s: message %d got %r" % (name, i, lines))
            check(listdir(md, "new") == [], "%s: new/ has %s after a 451" % (name, listdir(md, "new")))
            check(listdir(md, "tmp") == [], "%s: tmp/ has %s after a 451" % (name, listdir(md, "tmp")))
        check(a.cmd("NOOP", REPLY_TIMEOUT)[0] == 250, "%s: NOOP after the 451s" % name)
        b = connect(life)
        _, msg = message("inject", 1, 0)
        check(send_one(b, msg)[0] == 451, "%s: a second client did not get 451" % name)
        check(len(os.listdir("/proc/%d/fd" % life.pid)) == fds + 1,
              "%s: descriptors leaked (%d, then %d with one more client)"
              % (name, fds, len(os.listdir("/proc/%d/fd" % life.pid))))
        os.unlink(flag)		# the disk heals
        _, msg = message("inject", 0, 9)
        code, lines = send_one(a, msg)
        check(code == 250, "%s: no 250 once the fault is off: %r" % (name, lines))
        names = listdir(md, "new")
        check(len(names) == 1, "%s: new/ has %s" % (name, names))
        with open(os.path.join(md, "new", names[0]), "rb") as f:
            check(f.read() == msg, "%s: the message stored after the fault is not byte-exact" % name)
        check(listdir(md, "tmp") == [], "%s: tmp/ not empty" % name)
        for c in (a, b):
            check(c.cmd("QUIT", REPLY_TIMEOUT)[0] == 221, "%s: QUIT" % name)
        failed = life.text().count("maildir write failed: " + logged)
        check(failed == 4, "%s: %d 'maildir write failed' lines, 4 expected" % (name, failed))
        rc = life.stop()
        check(rc == 0, "%s: bannerd exited %s:\n%s" % (name, rc, life.tail()))
        report = life.sanitizer_report()
        check(report is None, "%s: %s:\n%s" % (name, report, life.tail(6000)))
        out("inject %s: 4 x 451 4.3.0, new/ and tmp/ empty, no descriptor leaked, "
            "session and daemon kept serving, 250 once healed" % name)
    finally:
        for c in (a, b):
            if c is not None:
                c.sock.close()
        if life.proc.poll() is None:
            life.kill()


def remove_tree(path):
    """shutil.rmtree, but the files unlinked from 16 threads: on a file
    system mounted with discard, one unlink at a time of tens of thousands
    of fsynced files takes minutes, 16 at a time seconds."""
    files = [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs]

    def unlink(f):
        try:
            os.unlink(f)
        except OSError:
            pass
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(unlink, files, chunksize=64))
    shutil.rmtree(path, True)


# ---- main ----

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cycles", type=int, default=int(os.environ.get("TORTURE_CYCLES") or 100))
    p.add_argument("--senders", type=int, default=8)
    p.add_argument("--seed", type=int, default=None, help="replays a run's delays and messages")
    p.add_argument("--build", default=os.environ.get("BUILD", "build"))
    p.add_argument("--min-delay", type=float, default=0.05, help="seconds before a kill, at least")
    p.add_argument("--max-delay", type=float, default=1.2, help="seconds before a kill, at most")
    p.add_argument("--no-inject", action="store_true", help="skip the fault injection")
    p.add_argument("--inject-only", action="store_true", help="only the fault injection")
    p.add_argument("--keep", action="store_true", default=bool(os.environ.get("KEEP_TEST_FILES")),
                   help="keep the work directory (the Maildir and every bannerd log)")
    p.add_argument("-v", "--verbose", action="store_true", help="a line per cycle")
    a = p.parse_args(argv)
    if a.seed is None:
        a.seed = int.from_bytes(os.urandom(4), "big")
    if a.cycles < 1 or a.senders < 1 or not 0 <= a.min_delay <= a.max_delay <= 60:
        p.error("--cycles and --senders must be >= 1, 0 <= --min-delay <= --max-delay <= 60")
    return a


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    build = args.build if os.path.isabs(args.build) else os.path.join(ROOT, args.build)
    bannerd = os.path.join(build, "bin", "bannerd")

    def out(line):
        print(line, flush=True)

    if not os.access(bannerd, os.X_OK):
        out("torture: %s is not built (run make)" % bannerd)
        return 1
    out("torture: seed %d (replay: %s --seed %d --cycles %d --senders %d --build %s)"
        % (args.seed, os.path.relpath(__file__, ROOT), args.seed, args.cycles, args.senders,
           args.build))
    t0 = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="bannerlab-torture-")
    problems = []
    try:
        if not args.inject_only:
            _, problems = kill_cycles(args, bannerd, workdir, out)
        if not args.no_inject and not problems:
            for name, shim, extra, logged in INJECTIONS:
                inject(bannerd, workdir, name, shim, extra, logged, out)
    except TortureFailure as e:
        problems.append(str(e))
    finally:
        if args.keep:
            out("torture: work directory kept: %s" % workdir)
        else:
            remove_tree(workdir)
    for p in problems:
        out("FAIL: " + p)
    out("torture: %s (seed %d, %.1f s)" % ("FAILED" if problems else "passed", args.seed,
                                           time.monotonic() - t0))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

"""The bad-input and fault matrix of ../shared/research/reliability-anchors.md,
section (a), one test per row, named by the row number, each asserting the
"correct behaviour" column against the built bannerd: reply codes and texts,
the bytes on the wire, the Maildir (new/ and tmp/), the protocol log and,
where the row is about a count, the metrics.

Rows that do not apply are in NOT_APPLICABLE below with the reason, and
are skipped tests so the count shows them.

Sections share one bannerd where rows do not interfere (setUpClass); each
test then finds its own session in the shared log by its peer address and
its own message by its queue id, checks that the daemon is still alive
and has no sanitizer report when it ends, and so fails on its own when its
behaviour breaks. The DNS rows use slowdns, or TinyDns below (a DNS
server in the test, on 127.0.0.1 only) for answers slowdns cannot craft:
raw labels, TC with a TCP port, wrong ids, pointer loops.

Rows 50-53 (kill -9, fsync and rename failures) are covered at length by
`make torture` (tests/torture/); here they have light tests.
"""
import os
import random
import re
import selectors
import signal
import socket
import struct
import subprocess
import threading
import time
import unittest
import unittest.mock

from harness import (BUILD, Bannerd, Conversation, Slowdns, binary, burst, duration_us,
                     prom_value, scrape, tmpdir, wait_for, write)

HOST = "mx.matrix.test"

NOT_APPLICABLE = {
    9: "STARTTLS plaintext injection (CVE-2011-0411): bannerd has no STARTTLS; EHLO "
       "does not advertise it (row 8's test checks the list) and the verb is "
       "500 5.5.2 command not recognized",
}


# ---------------------------------------------------------------- helpers

class _ClassScope:
    """Lets the harness's Bannerd and tmpdir, which register cleanups on a
    test, live as long as a test class (unittest's class cleanups)."""

    def __init__(self, cls):
        self.cls = cls

    def addCleanup(self, fn, *args, **kw):
        self.cls.addClassCleanup(fn, *args, **kw)


def peer_of(c):
    host, port = c.sock.getsockname()[:2]
    return ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sanitized():
    return os.path.basename(BUILD).startswith("build-san")


def drip(sock, pieces, every):
    """Sends pieces one every `every` seconds on a thread until all are
    sent or the server closes: the slow client itself, not a wait."""
    stop = threading.Event()

    def run():
        for piece in pieces:
            if stop.wait(every):
                return
            try:
                sock.sendall(piece)
            except OSError:
                return
    threading.Thread(target=run, daemon=True).start()
    return stop


class MatrixCase(unittest.TestCase):
    """A test class whose rows share one bannerd, started by setUpClass
    with OVERRIDES ({md} is the class's Maildir)."""

    OVERRIDES = None

    @classmethod
    def setUpClass(cls):
        if cls.OVERRIDES is None:
            return
        scope = _ClassScope(cls)
        cls.md = os.path.join(tmpdir(scope, "matrix-md-"), "md")
        cls.d = Bannerd(scope, [o.format(md=cls.md) for o in cls.OVERRIDES])
        m = re.search(r"metrics on http://(\S+)/metrics", cls.d.log_text())
        cls.url = "http://%s/metrics" % m.group(1) if m else None

    @classmethod
    def tearDownClass(cls):
        if cls.OVERRIDES is not None and cls.d.proc.poll() is None:
            rc = cls.d.stop()
            if rc != 0:
                raise AssertionError("the shared bannerd exited %r" % rc)

    def tearDown(self):
        d = getattr(type(self), "d", None)
        if d is not None and type(self).OVERRIDES is not None:
            d.check_sanitizers()
            self.assertIsNone(d.proc.poll(), "the shared bannerd died:\n" + d.log_text()[-3000:])

    # ---- sessions ----
    def conn(self, d=None, source=None, timeout=10):
        d = d or self.d
        s = socket.create_connection((d.host, d.port), timeout=timeout,
                                     source_address=(source, 0) if source else None)
        self.addCleanup(s.close)
        c = Conversation(s)
        c.peer = peer_of(c)
        return c

    def session(self, d=None):
        c = self.conn(d)
        code, lines = c.reply()
        self.assertEqual(code, 220, lines)
        return c

    def ready(self, d=None, helo="client.matrix.test"):
        c = self.session(d)
        self.assertEqual(c.cmd("EHLO " + helo)[0], 250)
        return c

    def transaction(self, c, rcpts=1):
        self.assertEqual(c.cmd("MAIL FROM:<a@sender.test>"), (250, ["250 2.1.0 Ok"]))
        for i in range(rcpts):
            self.assertEqual(c.cmd("RCPT TO:<r%d@rcpt.test>" % i), (250, ["250 2.1.5 Ok"]))
        self.assertEqual(c.cmd("DATA"), (354, ["354 End data with <CR><LF>.<CR><LF>"]))

    def deliver(self, c, body):
        """After a 354: sends body (bytes) and the end of data; returns
        the queue id of the 250."""
        c.send(body + b".\r\n")
        code, lines = c.reply(timeout=30)
        self.assertEqual(code, 250, lines)
        m = re.fullmatch(r"250 2\.0\.0 Ok: queued as (\S+)", lines[0])
        self.assertTrue(m, lines)
        return m.group(1)

    # ---- what the daemon wrote ----
    def events(self, c, event, d=None):
        return [e for e in (d or self.d).events(event) if e.get("peer") == c.peer]

    def wait_event(self, c, event, d=None, timeout=10, **match):
        return (d or self.d).wait_event(event, peer=c.peer, timeout=timeout, **match)[0]

    def files(self, sub, queue_id=None, md=None):
        names = os.listdir(os.path.join(md or self.md, sub))
        return sorted(n for n in names if queue_id is None or ("Q%s." % queue_id) in n)

    def stored(self, queue_id, md=None):
        names = self.files("new", queue_id, md)
        self.assertEqual(len(names), 1, "queue id %s in new/: %r" % (queue_id, names))
        with open(os.path.join(md or self.md, "new", names[0]), "rb") as f:
            return f.read()

    def assert_not_stored(self, queue_id, md=None):
        self.assertEqual(self.files("new", queue_id, md), [], "in new/")
        self.assertEqual(self.files("tmp", queue_id, md), [], "left in tmp/")

    def log_bytes(self, d=None):
        with open((d or self.d).logpath, "rb") as f:
            return f.read()

    def metric(self, name, **labels):
        return prom_value(scrape(self.url), name, **labels)


def make_na_test(row, reason):
    @unittest.skip("n/a: " + reason)
    def test(self):
        pass
    return test


class NotApplicableRows(unittest.TestCase):
    """One skipped test per row of NOT_APPLICABLE, so the count shows them."""


for _row, _reason in NOT_APPLICABLE.items():
    setattr(NotApplicableRows, "test_row%02d_not_applicable" % _row, make_na_test(_row, _reason))


# ------------------------------------------- A1-A3: the dialogue (rows 1-27)

class DialogueRows(MatrixCase):
    """Line framing, limits and command semantics: one bannerd storing into
    a Maildir, every row in its own session."""

    OVERRIDES = ("smtp.sink=maildir", "smtp.maildir={md}", "log.protocol_log=medium",
                 "smtp.max_message_size=1M", "banner.hostname=" + HOST,
                 "metrics.listen=127.0.0.1:0")
    LIMIT = 1024 * 1024

    def refused_message(self, c, body, code, text):
        """After a 354: body and the end of data get exactly one reply,
        code and text; nothing is stored; the session goes on."""
        c.send(body + b".\r\n")
        self.assertEqual(c.reply(timeout=30), (code, ["%d %s" % (code, text)]))
        self.assertEqual(c.cmd("NOOP"), (250, ["250 2.0.0 Ok"]))
        self.assertEqual(c.buf, b"", "bytes after the NOOP's reply")
        msg = [m for m in self.events(c, "message") if m["code"] == str(code)]
        msg = msg or [self.wait_event(c, "message", code=code)]
        self.assert_not_stored(msg[-1]["queue_id"])

    # ---- A1: line framing, end of data, smuggling ----

    def test_row01_bare_lf_dot_bare_lf_never_ends_data(self):
        c = self.ready()
        self.transaction(c)
        self.refused_message(
            c, b"Subject: r1\r\n\r\nline\n.\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<v@x.test>\r\n"
               b"DATA\r\nsmuggled\r\n", 550, "5.5.2 Error: bare <LF> received")
        # the smuggled commands never ran: no cmd line of them in the log
        self.assertEqual([e["line"] for e in self.events(c, "cmd")],
                         ["EHLO client.matrix.test", "MAIL FROM:<a@sender.test>",
                          "RCPT TO:<r0@rcpt.test>", "DATA", "NOOP"])

    def test_row02_sec_consult_variants_never_end_data(self):
        c = self.ready()
        for body in (b"Subject: r2a\r\n\r\nx\n.\r\nMAIL FROM:<evil@x.test>\r\n",
                     b"Subject: r2b\r\n\r\nx\r\n.\nMAIL FROM:<evil@x.test>\r\n"):
            self.transaction(c)
            self.refused_message(c, body, 550, "5.5.2 Error: bare <LF> received")
        self.assertNotIn("MAIL FROM:<evil@x.test>", [e["line"] for e in self.events(c, "cmd")])

    def test_row03_bare_cr_is_not_a_line_end(self):
        c = self.ready()
        for body in (b"Subject: r3a\r\n\r\nx\r.\rMAIL FROM:<evil@x.test>\r\n",
                     b"Subject: r3b\r\n\r\nx\r\n.\rMAIL FROM:<evil@x.test>\r\n",
                     b"Subject: r3c\r\n\r\nfoo\rbar\r\n"):
            self.transaction(c)
            self.refused_message(c, body, 550, "5.5.2 Error: bare <CR> received")
        self.assertNotIn("MAIL FROM:<evil@x.test>", [e["line"] for e in self.events(c, "cmd")])

    def test_row04_bare_lf_ending_a_command_is_500_and_never_runs(self):
        c = self.session()
        c.send("EHLO x.test\nMAIL FROM:<a@b.test>\n")
        bare = (500, ["500 5.5.2 Error: bare <LF> received"])
        self.assertEqual(c.reply(timeout=5), bare)
        self.assertEqual(c.reply(timeout=5), bare)
        # neither line ran: EHLO is still needed
        self.assertEqual(c.cmd("MAIL FROM:<a@b.test>"),
                         (503, ["503 5.5.1 Error: send HELO/EHLO first"]))
        self.assertEqual([e["line"] for e in self.events(c, "cmd")], ["MAIL FROM:<a@b.test>"])

    def test_row05_dot_stuffing_and_the_empty_message(self):
        c = self.ready()
        self.transaction(c)
        qid = self.deliver(c, b"Subject: r5\r\n\r\n..foo\r\n. \r\n...\r\n.bar\r\n.\tx\r\nend\r\n")
        self.assertEqual(self.stored(qid),
                         b"Subject: r5\r\n\r\n.foo\r\n \r\n..\r\nbar\r\n\tx\r\nend\r\n")
        self.transaction(c)
        qid = self.deliver(c, b"")
        self.assertEqual(self.stored(qid), b"")
        self.assertEqual(self.wait_event(c, "message", queue_id=qid)["size"], "0")

    def test_row06_dot_in_the_middle_of_a_long_line_is_data(self):
        c = self.ready()
        self.transaction(c)
        line = b"a" * 2048 + b"." + b"b" * 951 + b"\r\n"
        head = b"Subject: r6\r\n\r\n"
        body = head + line + b"." + b"c" * 2999 + b"\r\n"
        # the dot opens a new segment, as a continuation record would
        c.send(body[:len(head) + 2048])
        qid = self.deliver(c, body[len(head) + 2048:])
        self.assertEqual(self.stored(qid), b"Subject: r6\r\n\r\n" + line + b"c" * 2999 + b"\r\n")

    EARLY = ("MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n"
             "Subject: r7\r\n\r\nbody\r\n.\r\nQUIT\r\n")

    def test_row07_pipelining_before_354(self):
        before = self.metric("bannerd_rejected_total", reason="pipelining")
        accepted = self.metric("bannerd_messages_total", result="accepted")
        c = self.ready()
        c.send(self.EARLY)
        self.assertEqual(c.reply(), (250, ["250 2.1.0 Ok"]))
        self.assertEqual(c.reply(), (250, ["250 2.1.5 Ok"]))
        self.assertEqual(c.reply(), (554, ["554 5.5.0 Error: improper command pipelining after DATA"]))
        self.assertTrue(c.closed())
        self.assertEqual(c.buf, b"", "nothing after the 554")
        ev = self.wait_event(c, "pipelining")
        self.assertEqual((ev["after"], ev["bytes"]),
                         ("DATA", str(len(self.EARLY.split("DATA\r\n", 1)[1]))))
        self.assertTrue(ev["next"].startswith("Subject: r7"), ev)
        close = self.wait_event(c, "close")
        self.assertEqual((close["outcome"], close["reason"], close["messages"]),
                         ("554", "pipelining", "0"))
        self.assertEqual(self.events(c, "message"), [])
        self.assertEqual(self.metric("bannerd_rejected_total", reason="pipelining"), before + 1)
        self.assertEqual(self.metric("bannerd_messages_total", result="accepted"), accepted)

    def test_row07_junk_after_quit_is_ignored(self):
        c = self.ready()
        c.send("QUIT\r\nNOOP\r\nMAIL FROM:<a@b.test>\r\n" + "JUNK\r\n" * 50)
        self.assertEqual(c.reply(), (221, ["221 2.0.0 Bye"]))
        self.assertTrue(c.closed())
        self.assertEqual(c.buf, b"", "a reply to the junk after QUIT")
        close = self.wait_event(c, "close")
        self.assertEqual((close["outcome"], close["commands"]), ("normal", "2"))
        self.assertEqual([e["line"] for e in self.events(c, "cmd")],
                         ["EHLO client.matrix.test", "QUIT"])

    def test_row08_legitimate_pipelining_is_answered_in_order(self):
        c = self.session()
        code, lines = c.cmd("EHLO p.test")
        self.assertEqual(lines, ["250-%s Hello p.test" % HOST, "250-PIPELINING",
                                 "250-SIZE %d" % self.LIMIT, "250-8BITMIME",
                                 "250 ENHANCEDSTATUSCODES"])
        c.send("MAIL FROM:<a@b.test>\r\n" + "".join("RCPT TO:<r%d@b.test>\r\n" % i for i in range(3))
               + "DATA\r\n")
        self.assertEqual([c.reply()[1][0] for _ in range(5)],
                         ["250 2.1.0 Ok"] + ["250 2.1.5 Ok"] * 3
                         + ["354 End data with <CR><LF>.<CR><LF>"])
        c.send("Subject: r8\r\n\r\nbody\r\n.\r\nQUIT\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 250, lines)
        qid = lines[0].rsplit(" ", 1)[1]
        self.assertEqual(c.reply(), (221, ["221 2.0.0 Bye"]))
        self.assertTrue(c.closed())
        self.assertEqual(self.stored(qid), b"Subject: r8\r\n\r\nbody\r\n")
        close = self.wait_event(c, "close")
        self.assertEqual((close["outcome"], close["messages"]), ("normal", "1"))
        self.assertEqual(self.events(c, "pipelining"), [])

    def test_row11_nul_in_a_command_is_500_and_never_truncated(self):
        c = self.session()
        bad = (500, ["500 5.5.2 Error: bad syntax"])
        self.assertEqual(c.cmd("HELO a\x00b"), bad)
        # "HELO a" did not run: HELO/EHLO is still needed
        self.assertEqual(c.cmd("MAIL FROM:<a@b.test>")[0], 503)
        self.assertEqual(c.cmd("EHLO x.test")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<a\x00@b.test>"), bad)
        self.assertEqual(c.cmd("RCPT TO:<c@d.test>"),
                         (503, ["503 5.5.1 Error: need MAIL command"]))
        lines = [e["line"] for e in self.events(c, "cmd")]
        self.assertIn("HELO a\x00b", lines)            # logged whole, escaped
        self.assertNotIn(b"\x00", self.log_bytes())

    def test_row12_nul_and_8bit_data_is_stored_byte_exact(self):
        c = self.ready()
        self.transaction(c)
        raw = bytes(b for b in range(256) if b not in (10, 13))
        body = b"Subject: r12\r\n\r\n" + raw + b"\r\nafter nul\x00tail\xff\r\n"
        qid = self.deliver(c, body)
        self.assertEqual(self.stored(qid), body)
        self.assertEqual(self.wait_event(c, "message", queue_id=qid)["size"], str(len(body)))

    # ---- A2: length and count limits ----

    def test_row13_command_line_limits(self):
        c = self.ready()
        too_long = (500, ["500 5.5.6 Error: line too long"])
        at = "NOOP " + "x" * (512 - len("NOOP ") - 2)          # 512 with CR LF
        self.assertEqual(c.cmd(at), (250, ["250 2.0.0 Ok"]))
        self.assertEqual(c.cmd(at + "y"), too_long)            # 513
        self.assertEqual(c.cmd("NOOP " + "x" * 2048), too_long)
        self.assertEqual(c.cmd("NOOP " + "x" * 65536), too_long)
        # 10 MiB with no CR LF, then its CR LF: one reply, at the end
        # (the memory it takes: MemoryRows)
        c.send(b"NOOP " + b"z" * (10 * 1024 * 1024))
        self.assertEqual(c.cmd(""), too_long)
        self.assertEqual(c.cmd("NOOP"), (250, ["250 2.0.0 Ok"]))
        self.assertEqual(c.buf, b"")
        self.assertEqual(c.cmd("QUIT")[0], 221)
        self.assertEqual(self.wait_event(c, "close")["errors"], "4")

    def test_row14_long_data_lines_are_kept_byte_exact(self):
        c = self.ready()
        self.transaction(c)
        lines = [b"a" * 998 + b"\r\n", b"b" * 999 + b"\r\n", b"c" * (100 * 1024) + b"\r\n"]
        body = b"Subject: r14\r\n\r\n" + b"".join(lines)
        qid = self.deliver(c, body)
        self.assertEqual(self.stored(qid), body)

    def test_row15_local_part_domain_and_path_lengths(self):
        c = self.session()
        label63 = "d" * 63
        dom255 = ".".join([label63] * 4)                 # 4 x 63 + 3 dots = 255
        self.assertEqual(len(dom255), 255)
        self.assertEqual(c.cmd("EHLO " + dom255)[0], 250)
        self.assertEqual(c.cmd("EHLO " + dom255 + "e"),
                         (501, ["501 5.5.4 Syntax: EHLO hostname"]))
        self.assertEqual(c.cmd("EHLO x.test")[0], 250)
        local64 = "l" * 64
        self.assertEqual(c.cmd("MAIL FROM:<%s@b.test>" % (local64 + "l")),
                         (501, ["501 5.1.7 Bad sender address syntax"]))
        self.assertEqual(c.cmd("MAIL FROM:<%s@b.test>" % local64), (250, ["250 2.1.0 Ok"]))
        self.assertEqual(c.cmd("RCPT TO:<%s@b.test>" % (local64 + "l")),
                         (501, ["501 5.1.3 Bad recipient address syntax"]))
        # a path of 256 octets (without the brackets): 64 + '@' + 191
        dom191 = ".".join([label63] * 3)[:189] + ".t"
        self.assertEqual(len(local64 + "@" + dom191), 256)
        self.assertEqual(c.cmd("RCPT TO:<%s@%s>" % (local64, dom191)), (250, ["250 2.1.5 Ok"]))
        self.assertEqual(c.cmd("RCPT TO:<%s@%sx>" % (local64, dom191)),
                         (501, ["501 5.1.3 Bad recipient address syntax"]))
        # a domain of 256 octets, whatever the path
        self.assertEqual(c.cmd("RCPT TO:<a@%s>" % (dom255 + "e")),
                         (501, ["501 5.1.3 Bad recipient address syntax"]))
        self.assertEqual(c.cmd("DATA")[0], 354)
        self.deliver(c, b"Subject: r15\r\n\r\n")

    def test_row16_100_recipients_then_452_and_the_transaction_goes_on(self):
        c = self.ready()
        self.assertEqual(c.cmd("MAIL FROM:<a@b.test>")[0], 250)
        c.send("".join("RCPT TO:<r%d@b.test>\r\n" % i for i in range(1001)))
        replies = [c.reply(timeout=30) for _ in range(1001)]
        self.assertEqual(replies[:100], [(250, ["250 2.1.5 Ok"])] * 100)
        self.assertEqual(replies[100:], [(452, ["452 4.5.3 Error: too many recipients"])] * 901)
        self.assertEqual(c.cmd("DATA")[0], 354)
        qid = self.deliver(c, b"Subject: r16\r\n\r\nto 100\r\n")
        self.assertEqual(self.stored(qid), b"Subject: r16\r\n\r\nto 100\r\n")
        self.assertEqual(c.cmd("QUIT")[0], 221)
        self.assertEqual(self.wait_event(c, "close")["errors"], "0")    # 452 is not counted

    def test_row18_over_the_limit_is_552_after_the_end_of_data_only(self):
        c = self.ready()
        line = b"y" * 1022 + b"\r\n"
        # exactly the limit (after unstuffing): accepted
        self.transaction(c)
        body = line * (self.LIMIT // 1024)
        qid = self.deliver(c, body)
        self.assertEqual(len(self.stored(qid)), self.LIMIT)
        # one byte more: read to its end, then 552, nothing stored
        self.transaction(c)
        self.refused_message(c, body[:-2] + b"z\r\n",
                             552, "5.3.4 Error: message exceeds fixed maximum message size")

    def test_row19_size_parameter(self):
        c = self.ready()
        self.assertEqual(c.cmd("MAIL FROM:<a@b.test> SIZE=99999999999"),
                         (552, ["552 5.3.4 Message size exceeds fixed maximum message size"]))
        self.assertEqual(c.cmd("MAIL FROM:<a@b.test> SIZE=%d" % (self.LIMIT + 1))[0], 552)
        self.assertEqual(c.cmd("MAIL FROM:<a@b.test> SIZE=x"),
                         (501, ["501 5.5.4 Bad message size syntax"]))
        self.assertEqual(c.cmd("MAIL FROM:<a@b.test> SIZE=99999999999999999999999"),
                         (501, ["501 5.5.4 Bad message size syntax"]))
        self.assertEqual(c.cmd("MAIL FROM:<a@b.test> SIZE=1 SIZE=2"),
                         (501, ["501 5.5.4 Error: duplicate SIZE parameter"]))
        self.assertEqual(c.cmd("MAIL FROM:<a@b.test> FOO=bar"),
                         (555, ["555 5.5.4 Unsupported option"]))
        self.assertEqual(c.cmd("MAIL FROM:<a@b.test> SIZE=%d" % self.LIMIT), (250, ["250 2.1.0 Ok"]))

    # ---- A3: command semantics and injection ----

    def test_row20_shell_shaped_addresses_are_501(self):
        canary = os.path.join(tmpdir(self), "canary")
        c = self.ready()
        for line, reply in (
                ("MAIL FROM:<;sleep 66;>", "501 5.1.7 Bad sender address syntax"),
                ("MAIL FROM:<;touch %s;>" % canary, "501 5.1.7 Bad sender address syntax"),
                ("MAIL FROM:<`touch %s`@b.test>" % canary, "501 5.1.7 Bad sender address syntax"),
                ("MAIL FROM:<$(touch %s)@b.test>" % canary, "501 5.1.7 Bad sender address syntax"),
                ("MAIL FROM:<a@b.test;sleep 66>", "501 5.1.7 Bad sender address syntax"),
                ("MAIL FROM:<@>", "501 5.1.7 Bad sender address syntax"),
                ("MAIL FROM:<root@>", "501 5.1.7 Bad sender address syntax"),
                ("MAIL FROM:<root>", "501 5.1.7 Bad sender address syntax")):
            self.assertEqual(c.cmd(line), (501, [reply]), line)
            # a failed MAIL never falls through as success
            self.assertEqual(c.cmd("RCPT TO:<x@y.test>")[0], 503, line)
        c = self.ready()     # a fresh error count
        self.assertEqual(c.cmd("MAIL FROM:<a@b.test>")[0], 250)
        for line in ("RCPT TO:<|cmd>", "RCPT TO:<|touch %s>" % canary,
                     "RCPT TO:<\"|touch %s\">" % canary, "RCPT TO:<a@b.test>;sleep 66"):
            self.assertEqual(c.cmd(line), (501, ["501 5.1.3 Bad recipient address syntax"]), line)
        self.assertEqual(c.cmd("DATA")[0], 503)    # no recipient was taken
        self.assertFalse(os.path.exists(canary))

    def test_row21_newline_injection_in_parameters_and_names(self):
        c = self.ready()
        self.assertEqual(c.cmd("MAIL FROM:<a@b.test> AUTH=<x+0Ay>"),
                         (555, ["555 5.5.4 Unsupported option"]))
        self.assertEqual(c.cmd("MAIL FROM:<a@b.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<c@d.test> ORCPT=rfc822;a+0Ab"),
                         (555, ["555 5.5.4 Unsupported option"]))
        self.assertEqual(c.cmd("EHLO a\rb"), (500, ["500 5.5.2 Error: bad syntax"]))
        self.assertEqual(c.cmd("NOOP x\rclose sid=00000000 outcome=forged"),
                         (500, ["500 5.5.2 Error: bad syntax"]))
        # logged escaped: the log holds no CR, and no forged line
        log = self.log_bytes()
        self.assertNotIn(b"\r", log)
        self.assertIn(b'line="EHLO a\\rb"', log)
        self.assertEqual([l for l in log.split(b"\n") if b"outcome=forged" in l and
                          not l.split(b" ")[1:2] == [b"cmd"]], [])
        # nothing of the dialogue reaches the stored message (no Received:)
        self.assertEqual(c.cmd("EHLO name.with.cr.test")[0], 250)
        self.transaction(c)
        qid = self.deliver(c, b"Subject: r21\r\n\r\nbody\r\n")
        self.assertEqual(self.stored(qid), b"Subject: r21\r\n\r\nbody\r\n")

    def test_row22_parameter_shapes_from_the_right(self):
        c = self.ready()
        for line in ('MAIL FROM:<a@b.test> "=', 'MAIL FROM:<a@b.test> ="', "MAIL FROM:<a@b.test> =",
                     "MAIL FROM:<a@b.test> ==", "MAIL FROM:<a@b.test> =SIZE",
                     "MAIL FROM:<a@b.test> SIZE=1 =", "RCPT TO:<a@b.test> ="):
            self.assertEqual(c.cmd(line), (555, ["555 5.5.4 Unsupported option"]), line)
        self.assertEqual(c.cmd("MAIL FROM:<a@b.test> SIZE="),
                         (501, ["501 5.5.4 Bad message size syntax"]))
        self.assertEqual(c.cmd("MAIL FROM:<a@b.test> BODY="),
                         (501, ["501 5.5.4 Unsupported BODY parameter"]))
        self.assertEqual(c.cmd("MAIL FROM:<a@b.test> BODY=8BITMIME SIZE=10"), (250, ["250 2.1.0 Ok"]))

    def test_row23_overlong_headers_and_bdat(self):
        c = self.ready()
        # a header of 20,000 continuation lines: data, kept byte-exact
        body = b"Subject: r23\r\nX-Long: start\r\n" + b"\tcontinued\r\n" * 20000 + b"\r\nbody\r\n"
        self.transaction(c)
        qid = self.deliver(c, body)
        self.assertEqual(self.stored(qid), body)
        # the same past the size limit: 552 after the end, nothing stored
        self.transaction(c)
        self.refused_message(c, b"X-Long: start\r\n" + b"\t" + b"h" * 1000 + b"\r\n" * 1 +
                             (b"\t" + b"h" * 1000 + b"\r\n") * 1100,
                             552, "5.3.4 Error: message exceeds fixed maximum message size")
        # no CHUNKING: BDAT is an unknown verb, and the session goes on
        self.assertEqual(c.cmd("BDAT 4 LAST"), (500, ["500 5.5.2 Error: command not recognized"]))
        self.assertEqual(c.cmd("BDAT"), (500, ["500 5.5.2 Error: command not recognized"]))
        self.assertEqual(c.cmd("NOOP"), (250, ["250 2.0.0 Ok"]))

    def test_row24_commands_out_of_order_are_503(self):
        c = self.session()
        self.assertEqual(c.cmd("MAIL FROM:<a@b.test>"), (503, ["503 5.5.1 Error: send HELO/EHLO first"]))
        self.assertEqual(c.cmd("EHLO x.test")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<a@b.test>"), (503, ["503 5.5.1 Error: need MAIL command"]))
        self.assertEqual(c.cmd("DATA"), (503, ["503 5.5.1 Error: need MAIL command"]))
        self.assertEqual(c.cmd("MAIL FROM:<a@b.test>")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<a@b.test>"), (503, ["503 5.5.1 Error: nested MAIL command"]))
        self.assertEqual(c.cmd("DATA"), (503, ["503 5.5.1 Error: need RCPT command"]))
        # every recipient refused: DATA is still out of sequence
        self.assertEqual(c.cmd("RCPT TO:<bad address>")[0], 501)
        self.assertEqual(c.cmd("DATA"), (503, ["503 5.5.1 Error: need RCPT command"]))
        self.assertEqual(self.events(c, "message"), [])

    def test_row25_rset_noop_help_vrfy_quit(self):
        c = self.ready()
        self.assertEqual(c.cmd("MAIL FROM:<a@b.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<c@d.test>")[0], 250)
        self.assertEqual(c.cmd("RSET"), (250, ["250 2.0.0 Ok"]))
        # the transaction is gone
        self.assertEqual(c.cmd("RCPT TO:<c@d.test>"), (503, ["503 5.5.1 Error: need MAIL command"]))
        self.assertEqual(c.cmd("DATA")[0], 503)
        self.assertEqual(c.cmd("NOOP"), (250, ["250 2.0.0 Ok"]))
        self.assertEqual(c.cmd("HELP"),
                         (214, ["214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP"]))
        self.assertEqual(c.cmd("VRFY postmaster"),
                         (252, ["252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery"]))
        c.send("QUIT\r\nRSET\r\nJUNK \x00\xff\r\n")
        self.assertEqual(c.reply(), (221, ["221 2.0.0 Bye"]))
        self.assertTrue(c.closed())
        self.assertEqual(c.buf, b"")
        self.assertEqual(self.wait_event(c, "close")["outcome"], "normal")

    def test_row26_junk_flood_ends_with_421_after_max_errors(self):
        before = self.metric("bannerd_rejected_total", reason="errors")
        c = self.session()
        c.send("FROB\r\n" * 1000)
        unknown = (500, ["500 5.5.2 Error: command not recognized"])
        self.assertEqual([c.reply() for _ in range(20)], [unknown] * 20)
        self.assertEqual(c.reply(), (421, ["421 4.7.0 %s Error: too many errors" % HOST]))
        self.assertTrue(c.closed())
        self.assertEqual(c.buf, b"")
        close = self.wait_event(c, "close")
        self.assertEqual((close["outcome"], close["reason"], close["errors"]), ("421", "errors", "20"))
        # binary garbage: every line an error reply, then the same 421
        g = self.session()
        rnd = random.Random(26)
        blob = bytes(rnd.choice([b for b in range(256) if b not in (10, 13)]) for _ in range(30000))
        try:
            g.send(b"\r\n".join(blob[i:i + 300] for i in range(0, len(blob), 300)) + b"\r\n")
        except OSError:
            pass    # closed while we were still sending
        codes = []
        while True:
            try:
                codes.append(g.reply()[0])
            except (EOFError, ConnectionResetError):
                break
        self.assertEqual(codes[-1], 421, codes)
        self.assertEqual(len(codes), 21, codes)
        self.assertTrue(all(code in (500, 501) for code in codes[:-1]), codes)
        self.assertEqual(self.wait_event(g, "close")["reason"], "errors")
        self.assertEqual(self.metric("bannerd_rejected_total", reason="errors"), before + 2)

    def test_row27_helo_arguments(self):
        c = self.session()
        self.assertEqual(c.cmd("EHLO " + "h" * 100 * 1024), (500, ["500 5.5.6 Error: line too long"]))
        self.assertEqual(c.cmd("EHLO"), (501, ["501 5.5.4 Syntax: EHLO hostname"]))
        self.assertEqual(c.cmd("HELO"), (501, ["501 5.5.4 Syntax: HELO hostname"]))
        self.assertEqual(c.cmd("EHLO "), (501, ["501 5.5.4 Syntax: EHLO hostname"]))
        self.assertEqual(c.cmd("EHLO a\rb"), (500, ["500 5.5.2 Error: bad syntax"]))
        self.assertEqual(c.cmd("EHLO [1.2.3.999]"), (501, ["501 5.5.4 Syntax: EHLO hostname"]))
        c.send(b"EHLO m\xc3\xa9x.test\r\n")
        self.assertEqual(c.reply(), (501, ["501 5.5.4 Syntax: EHLO hostname"]))
        self.assertEqual(c.cmd("HELO [1.2.3.4]"), (250, ["250 " + HOST]))
        self.assertEqual(c.cmd("EHLO [IPv6:2001:db8::1]")[0], 250)
        # a name that is not the client's is not a reason to refuse mail
        self.assertEqual(c.cmd("EHLO mail.google.com")[0], 250)
        self.transaction(c)
        qid = self.deliver(c, b"Subject: r27\r\n\r\nbody\r\n")
        self.assertEqual(self.stored(qid), b"Subject: r27\r\n\r\nbody\r\n")   # not in a header
        self.assertEqual(c.cmd("QUIT")[0], 221)
        self.assertEqual(self.wait_event(c, "close")["helo"], "mail.google.com")

    # ---- A4 in the dialogue: a client gone in the middle of DATA ----

    def test_row33_reset_or_close_in_data_stores_nothing(self):
        for how in ("rst", "fin"):
            c = self.ready()
            self.transaction(c)
            tmp = wait_for(lambda: self.files("tmp"), 5, "the message file in tmp/")
            self.assertEqual(len(tmp), 1, tmp)
            c.send(b"Subject: r33\r\n\r\npart of a body\r\n")
            if how == "rst":
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.sock.close()
            close = self.wait_event(c, "close")
            self.assertEqual((close["outcome"], close["how"], close["state"], close["messages"]),
                             ("disconnect", how, "DATA", "0"))
            self.assertEqual(self.files("tmp"), [], "the tmp file was not unlinked")
            qid = re.search(r"Q([0-9A-F]+)\.", tmp[0]).group(1)
            self.assertEqual(self.files("new", qid), [])
            self.assertEqual(self.events(c, "message"), [])
            self.assertNotIn(b"250 2.0.0", c.buf)



class MemoryRows(MatrixCase):
    """Rows 13, 17 and 18 measured in memory: what a client sends past a
    limit is thrown away as it arrives. A bannerd of their own, since
    AddressSanitizer's quarantine keeps freed memory resident: this one
    runs with the quarantine off (the other sections keep it)."""

    OVERRIDES = ("smtp.sink=maildir", "smtp.maildir={md}", "log.protocol_log=minimum",
                 "smtp.max_message_size=1M", "banner.hostname=" + HOST)

    @classmethod
    def setUpClass(cls):
        opts = (os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=0").lstrip(":")
        with unittest.mock.patch.dict(os.environ, {"ASAN_OPTIONS": opts}):
            super().setUpClass()

    def drained(self, c):
        """Waits until bannerd has read everything c sent: the server
        side's receive queue in /proc/net/tcp is empty."""
        local = "0100007F:%04X" % self.d.port
        remote = "0100007F:%04X" % int(c.peer.rsplit(":", 1)[1])

        def empty():
            with open("/proc/net/tcp") as f:
                for line in f.read().splitlines()[1:]:
                    fields = line.split()
                    if fields[1] == local and fields[2] == remote:
                        return int(fields[4].split(":")[1], 16) == 0
            return False
        wait_for(empty, 30, "bannerd to read what was sent")

    def test_row13_memory_bounded_without_crlf(self):
        c = self.ready()
        rss0 = rss_kib(self.d.proc.pid)
        c.send(b"NOOP " + b"z" * (10 * 1024 * 1024) + b"\r")   # a CR alone: no line end yet
        self.drained(c)
        grown = rss_kib(self.d.proc.pid) - rss0
        c.send(b"\n")
        self.assertEqual(c.reply(), (500, ["500 5.5.6 Error: line too long"]))
        self.assertLess(grown, 4096, "10 MiB without CR LF grew bannerd by %d KiB" % grown)

    def test_row17_101_transactions_in_one_session(self):
        c = self.ready()
        pid = self.d.proc.pid
        qids = []
        for i in range(101):
            # MAIL, RCPT and DATA as one group: DATA may end a group
            c.send("MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n")
            self.assertEqual([c.reply()[0] for _ in range(3)], [250, 250, 354])
            qids.append(self.deliver(c, b"Subject: r17 %d\r\n\r\n" % i + b"body\r\n" * 100))
            if i == 0:
                fds, rss = fd_count(pid), rss_kib(pid)
        self.assertEqual(fd_count(pid), fds, "a descriptor per transaction leaked")
        self.assertLess(rss_kib(pid) - rss, 2048, "RSS grows with each transaction")
        self.assertEqual(len(set(qids)), 101)
        for i, qid in enumerate(qids):
            self.assertEqual(self.stored(qid), b"Subject: r17 %d\r\n\r\n" % i + b"body\r\n" * 100)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        self.assertEqual(self.wait_event(c, "close")["messages"], "101")

    def test_row18_memory_flat_far_over_the_limit(self):
        c = self.ready()
        self.transaction(c)
        rss0 = rss_kib(self.d.proc.pid)
        chunk = (b"y" * 1022 + b"\r\n") * 1024
        for _ in range(20):     # 20 MiB, 20 times the limit
            c.send(chunk)
        self.drained(c)
        grown = rss_kib(self.d.proc.pid) - rss0
        self.assertEqual(self.files("tmp"), [], "a refused message is still being written")
        c.send(b".\r\n")
        self.assertEqual(c.reply(timeout=30),
                         (552, ["552 5.3.4 Error: message exceeds fixed maximum message size"]))
        self.assertLess(grown, 4096, "a 20 MiB body grew bannerd by %d KiB" % grown)
        self.assert_not_stored(self.wait_event(c, "message", code=552)["queue_id"])

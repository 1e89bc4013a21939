"""The ESMTP dialogue on the wire: sequence, syntax, limits, DATA framing,
pipelining. A raw socket sees every byte that smtplib would hide."""
import socket
import time

from harness import BannerdTest, Conversation, prom_value, scrape


class ProtocolTest(BannerdTest):
    def setUp(self):
        self.d = self.start("log.protocol_log=medium", "smtp.max_errors=50")

    def ready(self):
        c = self.greet(self.d)
        code, lines = c.cmd("EHLO client.test")
        self.assertEqual(code, 250)
        return c

    def test_banner_text(self):
        d = self.start("banner.hostname=mx.lab.test", "banner.text=ESMTP hello lab")
        c = Conversation(d.connect())
        self.assertEqual(c.reply(), (220, ["220 mx.lab.test ESMTP hello lab"]))

    def test_multi_line_banner(self):
        d = self.start("banner.hostname=mx.lab.test", "banner.text=ESMTP lab\\nno UCE\\nthird line")
        c = Conversation(d.connect())
        self.assertEqual(c.reply(), (220, ["220-mx.lab.test ESMTP lab", "220-no UCE", "220 third line"]))
        self.assertEqual(c.cmd("QUIT")[0], 221)
        # smtplib reads it as one greeting
        import smtplib
        with smtplib.SMTP(d.host, d.port, timeout=10) as s:
            self.assertEqual(s.noop()[0], 250)

    def test_ehlo_advertises_extensions(self):
        c = self.greet(self.d)
        code, lines = c.cmd("ehlo client.test")
        self.assertEqual(code, 250)
        self.assertEqual([l[4:] for l in lines[1:]],
                         ["PIPELINING", "SIZE 10485760", "8BITMIME", "ENHANCEDSTATUSCODES"])
        self.assertEqual(c.cmd("HELO client.test")[0], 250)

    def test_bad_sequence_is_503(self):
        c = self.greet(self.d)
        self.assertEqual(c.cmd("MAIL FROM:<a@b.test>")[0], 503)
        code, lines = c.cmd("RCPT TO:<a@b.test>")
        self.assertEqual(code, 503)
        self.assertIn("send HELO/EHLO first", lines[0])
        c.cmd("EHLO x.test")
        self.assertEqual(c.cmd("RCPT TO:<a@b.test>")[0], 503)
        self.assertEqual(c.cmd("DATA")[0], 503)
        self.assertEqual(c.cmd("MAIL FROM:<a@b.test>")[0], 250)
        code, lines = c.cmd("MAIL FROM:<a@b.test>")
        self.assertEqual(code, 503)
        self.assertIn("5.5.1", lines[0])
        self.assertEqual(c.cmd("DATA")[0], 503)

    def test_unknown_and_syntax(self):
        c = self.ready()
        self.assertEqual(c.cmd("FROB")[0], 500)
        self.assertEqual(c.cmd("MAIL FROM:a@b.test")[0], 501)
        self.assertEqual(c.cmd("MAIL FROM:<a@b.test> FOO=bar")[0], 555)
        self.assertEqual(c.cmd("MAIL FROM:<a@b.test> SIZE=x")[0], 501)
        self.assertEqual(c.cmd("MAIL FROM:<;sleep 66;>")[0], 501)
        code, lines = c.cmd("HELO a\x00b")
        self.assertEqual(code, 500)
        self.assertEqual(c.cmd("MAIL FROM:<>")[0], 250)   # null sender
        self.assertEqual(c.cmd("RCPT TO:<>")[0], 501)

    def test_line_limit_512_and_beyond(self):
        c = self.ready()
        # 512 octets including CRLF is the RFC minimum: must work
        arg = "x" * (512 - len("NOOP ") - 2)
        self.assertEqual(c.cmd("NOOP " + arg)[0], 250)
        code, lines = c.cmd("NOOP " + arg + "y")
        self.assertEqual(code, 500)
        self.assertIn("5.5.6", lines[0])
        # a huge line without CRLF for a while: answered once at its end
        c.send("NOOP " + "z" * 200000)
        c.send("\r\nNOOP\r\n")
        self.assertEqual(c.reply()[0], 500)
        self.assertEqual(c.reply()[0], 250)

    def test_max_line_is_a_config_key(self):
        d = self.start("smtp.max_line=1024")
        c = self.greet(d)
        # at the limit the line reaches the parser (which may refuse the
        # over-long argument); one byte more and it is "line too long"
        code, lines = c.cmd("NOOP " + "x" * (1024 - 7))
        self.assertNotIn("5.5.6", lines[0])
        code, lines = c.cmd("NOOP " + "x" * (1024 - 6))
        self.assertEqual(code, 500)
        self.assertIn("5.5.6", lines[0])

    def test_too_many_errors_ends_with_421(self):
        d = self.start("smtp.max_errors=3")
        c = self.greet(d)
        self.assertEqual(c.cmd("BAD1")[0], 500)
        self.assertEqual(c.cmd("BAD2")[0], 500)
        code, _ = c.cmd("BAD3")
        self.assertEqual(code, 500)
        code, lines = c.reply()
        self.assertEqual(code, 421)
        self.assertIn("4.7.0", lines[0])
        self.assertTrue(c.closed())
        close = d.wait_event("close")[0]
        self.assertEqual((close["outcome"], close["reason"]), ("421", "errors"))

    def test_data_framing_and_smuggling(self):
        c = self.ready()
        c.cmd("MAIL FROM:<a@b.test>")
        c.cmd("RCPT TO:<c@d.test>")
        self.assertEqual(c.cmd("DATA")[0], 354)
        # "\n.\n" must not end the data; the message then fails as a whole
        c.send("Subject: smuggle\r\n\r\nline\n.\nMAIL FROM:<evil@x.test>\r\n.\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 550)
        self.assertIn("bare <LF>", lines[0])
        # the smuggled MAIL never ran as a command: a new MAIL is accepted
        self.assertEqual(c.cmd("MAIL FROM:<a@b.test>")[0], 250)
        c.cmd("RCPT TO:<c@d.test>")
        c.cmd("DATA")
        c.send("bare\rcr\r\n.\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 550)
        self.assertIn("bare <CR>", lines[0])

    def test_empty_message_and_dot_stuffing(self):
        c = self.ready()
        c.cmd("MAIL FROM:<a@b.test>")
        c.cmd("RCPT TO:<c@d.test>")
        c.cmd("DATA")
        c.send(".\r\n")
        self.assertEqual(c.reply()[0], 250)
        msg = self.d.wait_event("message")[0]
        self.assertEqual(msg["size"], "0")

    def test_pipelining_answers_in_order(self):
        c = self.greet(self.d)
        group = ("EHLO p.test\r\nMAIL FROM:<a@b.test>\r\n" +
                 "".join("RCPT TO:<r%d@b.test>\r\n" % i for i in range(20)) +
                 "DATA\r\n")
        c.send(group)
        self.assertEqual(c.reply()[0], 250)
        codes = [c.reply()[0] for _ in range(22)]
        self.assertEqual(codes, [250] * 21 + [354])
        c.send("x\r\n.\r\nNOOP\r\nQUIT\r\nJUNK AFTER QUIT\r\n")
        self.assertEqual([c.reply()[0] for _ in range(3)], [250, 250, 221])
        self.assertTrue(c.closed())

    def test_quit_logs_normal_close(self):
        c = self.ready()
        self.assertEqual(c.cmd("QUIT")[0], 221)
        self.assertTrue(c.closed())
        close = self.d.wait_event("close")[0]
        self.assertEqual(close["outcome"], "normal")
        self.assertEqual(close["helo"], "client.test")
        self.assertEqual(close["rdns"], "-")
        for k in ("queue", "write", "banner"):
            self.assertRegex(close[k], r"^[0-9.]+(us|ms|s)$")

    def test_size_over_limit_after_data(self):
        d = self.start("smtp.max_message_size=2k")
        c = self.greet(d)
        c.cmd("EHLO x.test")
        c.cmd("MAIL FROM:<a@b.test>")
        c.cmd("RCPT TO:<c@d.test>")
        c.cmd("DATA")
        c.send(("y" * 100 + "\r\n") * 100 + ".\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 552)
        self.assertIn("5.3.4", lines[0])
        self.assertEqual(c.cmd("NOOP")[0], 250)   # the session goes on


class LimitsTest(BannerdTest):
    """The buffers that bound memory: at and past each limit nothing is
    lost, the client is only slowed down."""

    def test_pregreet_buffer_bounds_memory_and_loses_nothing(self):
        d = self.start("banner.delay=300ms", "banner.pregreet_buffer=512")
        c = Conversation(d.connect())
        n = 400   # 400 x 6 bytes: far past the 512-byte buffer
        c.send("NOOP\r\n" * n)
        self.assertEqual(c.reply()[0], 220)
        codes = [c.reply()[0] for _ in range(n)]
        self.assertEqual(codes, [250] * n)

    def test_unread_replies_pause_reading_and_lose_nothing(self):
        d = self.start("smtp.max_unread_replies=4k")
        import socket as _s
        sock = d.connect()
        sock.setsockopt(_s.SOL_SOCKET, _s.SO_RCVBUF, 4096)
        c = Conversation(sock)
        self.assertEqual(c.reply()[0], 220)
        n = 5000   # 70 kB of replies, far past the 4 kB limit
        sock.settimeout(30)
        import threading
        sender = threading.Thread(target=lambda: sock.sendall(b"NOOP\r\n" * n))
        sender.start()
        codes = [c.reply(timeout=30)[0] for _ in range(n)]
        sender.join(30)
        self.assertEqual(codes, [250] * n)
        self.assertEqual(c.cmd("QUIT")[0], 221)


class GarbageTest(BannerdTest):
    def test_random_bytes_from_many_clients(self):
        """Binary garbage in every state: each client gets SMTP replies or a
        421, never a crash, and the daemon keeps serving."""
        import random
        rnd = random.Random(1)
        d = self.start("smtp.max_errors=5", "log.protocol_log=maximum")
        for i in range(30):
            c = Conversation(d.connect())
            self.assertEqual(c.reply()[0], 220)
            if i % 3 == 1:
                c.send("EHLO g.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n")
            blob = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 20000)))
            try:
                c.send(blob)
                c.send(b"\r\n.\r\nQUIT\r\n")
                c.closed(timeout=10)
            except OSError:
                pass
        self.assertEqual(self.greet(d).cmd("QUIT")[0], 221)
        self.assertEqual(d.stop(), 0)


class PipeliningTest(BannerdTest):
    """Matrix rows 7 and 8: RFC 2920 lets DATA only end a group."""

    EARLY = ("MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n"
             "Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n")

    def ehlo(self, d):
        c = self.greet(d)
        self.assertEqual(c.cmd("EHLO p.test")[0], 250)
        return c

    def test_message_before_354_is_554_and_closed(self):   # row 7
        d = self.start("metrics.listen=127.0.0.1:0")
        c = self.ehlo(d)
        c.send(self.EARLY)
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(c.reply()[0], 250)
        code, lines = c.reply()
        self.assertEqual((code, lines), (554, ["554 5.5.0 Error: improper command pipelining after DATA"]))
        self.assertTrue(c.closed())
        ev = d.wait_event("pipelining")[0]
        self.assertEqual((ev["after"], ev["bytes"]), ("DATA", str(len(self.EARLY.split("DATA\r\n", 1)[1]))))
        self.assertTrue(ev["next"].startswith("Subject: x"), ev)
        close = d.wait_event("close")[0]
        self.assertEqual((close["outcome"], close["reason"], close["messages"]), ("554", "pipelining", "0"))
        url = "http://%s/metrics" % d.wait_log(r"metrics on http://(\S+)/metrics")[0].group(1)
        self.assertEqual(prom_value(scrape(url), "bannerd_rejected_total", reason="pipelining"), 1)
        self.assertEqual(prom_value(scrape(url), "bannerd_messages_total", result="accepted"), 0)

    def test_legitimate_group_then_body_after_354(self):   # row 8
        d = self.start()
        c = self.ehlo(d)
        c.send("MAIL FROM:<a@b.test>\r\n" + "".join("RCPT TO:<r%d@b.test>\r\n" % i for i in range(3)) + "DATA\r\n")
        self.assertEqual([c.reply()[0] for _ in range(5)], [250] * 4 + [354])
        c.send("Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n")
        self.assertEqual([c.reply()[0] for _ in range(2)], [250, 221])
        self.assertTrue(c.closed())
        close = d.wait_event("close")[0]
        self.assertEqual((close["outcome"], close["messages"]), ("normal", "1"))
        self.assertEqual(d.events("pipelining"), [])

    def test_off_keeps_the_old_behaviour(self):
        d = self.start("smtp.forbid_pipelining_after_data=off")
        c = self.ehlo(d)
        c.send(self.EARLY)
        self.assertEqual([c.reply()[0] for _ in range(5)], [250, 250, 354, 250, 221])
        self.assertEqual(d.wait_event("close")[0]["messages"], "1")


class BareLfTest(BannerdTest):
    def test_bare_lf_command_lines_are_500_at_once(self):
        d = self.start("smtp.timeout_command=30s", "smtp.max_errors=3")
        c = self.greet(d)
        c.send("EHLO x.test\n")
        self.assertEqual(c.reply(timeout=5), (500, ["500 5.5.2 Error: bare <LF> received"]))
        # the line never ran: EHLO is still needed; a CR LF line still works
        c.send("MAIL FROM:<a@b.test>\nNOOP\r\n")
        self.assertEqual([c.reply(timeout=5)[0] for _ in range(2)], [500, 250])
        # counted as errors: the third ends the session
        c.send("QUIT\n")
        self.assertEqual(c.reply(timeout=5)[0], 500)
        self.assertEqual(c.reply(timeout=5)[0], 421)
        self.assertTrue(c.closed())
        close = d.wait_event("close")[0]
        self.assertEqual((close["errors"], close["reason"]), ("3", "errors"))


class CloseLineTest(BannerdTest):
    """The close line says where a session was and how its client left."""

    def in_data(self, d):
        c = self.greet(d)
        c.cmd("EHLO x.test")
        c.cmd("MAIL FROM:<a@b.test>")
        c.cmd("RCPT TO:<c@d.test>")
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send("Subject: cut off\r\n\r\npart of a body\r\n")
        return c

    def test_drain_in_data_is_logged_in_data(self):
        import signal
        d = self.start("server.shutdown_timeout=5s")
        c = self.in_data(d)
        d.wait_event("connect")
        d.signal(signal.SIGTERM)
        code, lines = c.reply()
        self.assertEqual(code, 421)
        self.assertIn("4.3.2", lines[0])
        close = d.wait_event("close")[0]
        self.assertEqual((close["outcome"], close["reason"], close["state"]), ("421", "shutdown", "DATA"))

    def test_quit_is_still_closing(self):
        d = self.start()
        c = self.greet(d)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        self.assertEqual(d.wait_event("close")[0]["state"], "CLOSING")

    def test_reset_and_fin_are_both_disconnect(self):
        import struct
        d = self.start()
        for how in ("fin", "rst"):
            c = self.in_data(d)
            if how == "rst":   # SO_LINGER 0: close(2) sends a reset
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.sock.close()
            close = d.wait_event("close", how=how)[0]
            self.assertEqual((close["outcome"], close["state"]), ("disconnect", "DATA"), how)
        self.assertEqual(d.events("error"), [])


class LingerTest(BannerdTest):
    """A session that bannerd ends with input still unread (the rest of a
    junk flood) shuts its write side and drops what comes until the client
    closes (smtp.linger_time at most): closing at once would make the
    kernel answer with a reset, which can destroy the 421 before the
    client reads it."""

    def flood(self, d, lines=3000):
        s = d.connect()
        s.settimeout(10)
        s.recv(4096)	# the banner
        s.sendall(b"FROB\r\n" * lines)
        got = b""
        while True:	# to our FIN; a reset raises here
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        return s, got

    def test_the_421_after_a_flood_always_arrives(self):
        d = self.start("smtp.max_errors=20", "banner.hostname=mx.linger.test")
        for i in range(10):
            s, got = self.flood(d)
            self.assertEqual(got.count(b"500 5.5.2"), 20, (i, got[-200:]))
            self.assertTrue(got.endswith(b"421 4.7.0 mx.linger.test Error: too many errors\r\n"),
                            (i, got[-200:]))
            s.close()
        closes = d.wait_event("close", count=10)
        self.assertTrue(all(c["reason"] == "errors" for c in closes), closes)

    def test_linger_time_bounds_a_client_that_never_closes(self):
        d = self.start("smtp.max_errors=5", "smtp.linger_time=1s")
        s, got = self.flood(d)
        t_fin = time.monotonic()
        self.assertIn(b"421 4.7.0", got)
        # the client keeps its end open: bannerd lets go after linger_time
        d.wait_event("close", timeout=10)
        self.assertTrue(0.5 <= time.monotonic() - t_fin < 5, time.monotonic() - t_fin)
        s.close()

    def test_linger_time_0_closes_at_once(self):
        d = self.start("smtp.max_errors=5", "smtp.linger_time=0")
        s = d.connect()
        s.settimeout(10)
        s.recv(4096)
        s.sendall(b"FROB\r\n" * 3000)
        d.wait_event("close", timeout=5)	# without our FIN being answered
        s.close()

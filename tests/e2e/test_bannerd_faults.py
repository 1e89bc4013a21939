"""bannerd's [faults] rules against real clients (smtplib, swaks and raw
sockets): chosen replies, delays, close, 421 and stall at each point, the
selections (every, chance with a seed, clients), reload, the log lines
and bannerd_faults_total."""
import os
import signal
import smtplib
import socket
import time

from harness import (PROMTOOL, BannerdTest, Conversation, binary, prom_value, run, scrape, tmpdir,
                     write)

GREYLIST = 'rcpt reply="451 4.7.1 Greylisted, try again later"'


class FaultsTest(BannerdTest):
    def faulty(self, *rules, extra=(), conf_text=None):
        """A bannerd with these rules in its file (so a reload re-reads
        them) and metrics on."""
        self.conf = os.path.join(tmpdir(self), "bannerd.conf")
        write(self.conf, conf_text if conf_text is not None else
              "[faults]\n" + "".join("rule = %s\n" % r for r in rules))
        d = self.start("log.protocol_log=medium", "metrics.listen=127.0.0.1:0", *extra, conf=self.conf)
        d.url = "http://%s/metrics" % d.wait_log(r"metrics on http://(\S+)/metrics")[0].group(1)
        return d

    def faults_total(self, d, point, action):
        return prom_value(scrape(d.url), "bannerd_faults_total", point=point, action=action)

    def test_rcpt_451_every_time_then_accepted_after_reload(self):
        d = self.faulty(GREYLIST)
        for _ in range(2):
            with smtplib.SMTP(d.host, d.port, timeout=10) as s:
                with self.assertRaises(smtplib.SMTPRecipientsRefused) as cm:
                    s.sendmail("a@example.test", ["b@example.test"], b"Subject: t\r\n\r\nx\r\n")
                code, text = cm.exception.recipients["b@example.test"]
                self.assertEqual(code, 451)
                self.assertEqual(text, b"4.7.1 Greylisted, try again later")
        faults = d.wait_event("fault", count=2)
        self.assertEqual((faults[0]["point"], faults[0]["action"], faults[0]["rule"], faults[0]["code"]),
                         ("rcpt", "reply", "1", "451"))
        self.assertEqual(self.faults_total(d, "rcpt", "reply"), 2)
        self.assertEqual(self.faults_total(d, "mail", "reply"), 0)
        # the rule removed, the same client is accepted
        write(self.conf, "[faults]\n")
        d.signal(signal.SIGHUP)
        d.wait_log("reload: configuration")
        with smtplib.SMTP(d.host, d.port, timeout=10) as s:
            self.assertEqual(s.sendmail("a@example.test", ["b@example.test"], b"Subject: t\r\n\r\nx\r\n"), {})
        self.assertEqual(self.faults_total(d, "rcpt", "reply"), 2)

    def test_first_try_greylisted_retry_accepted(self):
        d = self.faulty(GREYLIST + " first", extra=["faults.first_window=1500ms"])

        def attempt():
            with smtplib.SMTP(d.host, d.port, timeout=10) as s:
                try:
                    s.sendmail("a@example.test", ["b@example.test"], b"Subject: t\r\n\r\nx\r\n")
                    return 250
                except smtplib.SMTPRecipientsRefused as e:
                    return e.recipients["b@example.test"][0]

        self.assertEqual(attempt(), 451)
        self.assertEqual(attempt(), 250)    # the retry
        self.assertEqual(attempt(), 250)
        time.sleep(1.6)                     # the window is over: a new first try
        self.assertEqual(attempt(), 451)
        self.assertEqual(self.faults_total(d, "rcpt", "reply"), 2)

    def test_smtpprobe_defers_on_the_451_and_delivers_on_its_retry(self):
        # smtpprobe --retry-tempfail as an MTA: each of four mails (one
        # source address each) is deferred at RCPT, retried after 300 ms
        # from the same address, and delivered
        import csv
        import json
        d = self.faulty(GREYLIST + " first")
        out = tmpdir(self)
        r = run([binary("smtpprobe"), "-q", "-m", "session", "-n", "4", "-c", "4", "--source", "127.0.3.0/29",
                 "--retries", "1", "--retry-after", "300ms", "--retry-tempfail", "--json",
                 os.path.join(out, "p.json"), "--csv", os.path.join(out, "p.csv"), "%s:%d" % (d.host, d.port)])
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(out, "p.json")) as f:
            j = json.load(f)
        self.assertEqual((j["outcome"]["ok"], j["tries"], j["try_outcome"]["tempfail"]), (4, 8, 4))
        with open(os.path.join(out, "p.csv")) as f:
            rows = list(csv.DictReader(f))
        for a in ("1", "2", "3", "4"):
            tries = [x for x in rows if x["attempt"] == a]
            self.assertEqual([(x["try"], x["outcome"]) for x in tries], [("1", "tempfail"), ("2", "ok")])
            # the same client address both times, the retry after its wait
            self.assertEqual(tries[0]["source"].rsplit(":", 1)[0], tries[1]["source"].rsplit(":", 1)[0])
            wait = int(tries[1]["start_us"]) - int(tries[0]["start_us"])
            self.assertTrue(250000 <= wait < 3000000, wait)
        self.assertEqual(self.faults_total(d, "rcpt", "reply"), 4)
        # without --retry-tempfail a 4xx ends the attempt, and --retries
        # alone still needs --give-up
        r = run([binary("smtpprobe"), "-m", "session", "-n", "1", "--source", "127.0.3.9",
                 "%s:%d" % (d.host, d.port)])
        self.assertIn(b"outcomes: tempfail 1", r.stdout)
        r = run([binary("smtpprobe"), "--retries", "1", "%s:%d" % (d.host, d.port)])
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"--retry-tempfail", r.stderr)

    def test_reload_with_a_bad_rule_keeps_the_old_rules(self):
        d = self.faulty("noop reply=\"450 4.0.0 busy\"")
        write(self.conf, "[faults]\nrule = noop reply=\"250 fine\"\n")
        d.signal(signal.SIGHUP)
        d.wait_log(r"reload failed, the old configuration stays in force: .*:2: faults.rule: reply: "
                   r"'250 fine' is not .*CODE TEXT.* with a 4xx or 5xx CODE")
        c = self.greet(d)
        self.assertEqual(c.cmd("NOOP")[0], 450)

    def test_swaks_sees_the_chosen_reply(self):
        d = self.faulty(GREYLIST, 'mail reply="452 4.3.1 Insufficient system storage\\nTry later" '
                        'clients=192.0.2.1')
        r = run(["swaks", "--server", d.host, "--port", str(d.port), "--from", "s@example.test",
                 "--to", "r@example.test", "--helo", "swaks.test", "--timeout", "10"])
        out = r.stdout.decode()
        self.assertNotEqual(r.returncode, 0, out)
        self.assertIn("<** 451 4.7.1 Greylisted, try again later", out)
        # the MAIL rule is another client's: ours got 250
        self.assertIn("<-  250 2.1.0 Ok", out)

    def test_multi_line_reply_and_every_nth(self):
        d = self.faulty('noop reply="450 4.0.0 busy\\nagain" every=3')
        c = self.greet(d)
        codes = [c.cmd("NOOP") for _ in range(6)]
        self.assertEqual([code for code, _ in codes], [250, 250, 450, 250, 250, 450])
        self.assertEqual(codes[2][1], ["450-4.0.0 busy", "450 again"])
        self.assertEqual(self.faults_total(d, "noop", "reply"), 2)

    def test_connect_delay_is_measured(self):
        d = self.faulty("connect delay=300ms")
        t0 = time.monotonic()
        with smtplib.SMTP(d.host, d.port, timeout=10) as s:
            waited = time.monotonic() - t0
            s.noop()
        self.assertGreaterEqual(waited, 0.25)
        self.assertLess(waited, 3.0)
        close = d.wait_event("close")[0]
        self.assertTrue(close["delay"].endswith("ms"), close)
        self.assertGreaterEqual(float(close["delay"][:-2]), 250)
        f = d.wait_event("fault")[0]
        self.assertEqual((f["point"], f["action"], f["delay"]), ("connect", "delay", "300.0ms"))
        self.assertEqual(self.faults_total(d, "connect", "delay"), 1)

    def test_command_delay_holds_pipelined_commands_in_order(self):
        d = self.faulty("mail delay=300ms")
        c = self.greet(d)
        c.cmd("EHLO t")
        t0 = time.monotonic()
        c.send("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nNOOP\r\n")
        self.assertEqual(c.reply()[0], 250)
        waited = time.monotonic() - t0
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(c.reply()[0], 250)
        self.assertGreaterEqual(waited, 0.25)
        self.assertLess(waited, 3.0)
        self.assertEqual(c.cmd("QUIT")[0], 221)

    def test_a_delay_at_the_end_of_data_is_not_the_clients_deadline(self):
        # the DATA budget (smtp.timeout_data) is shorter than the delay
        d = self.faulty(". delay=1500ms", extra=["smtp.timeout_data=1s"])
        t0 = time.monotonic()
        with smtplib.SMTP(d.host, d.port, timeout=10) as s:
            self.assertEqual(s.sendmail("a@example.test", ["b@example.test"], b"Subject: t\r\n\r\nx\r\n"), {})
        self.assertGreaterEqual(time.monotonic() - t0, 1.4)
        self.assertEqual(d.wait_event("message")[0]["code"], "250")

    def outcomes(self, seed, n=24):
        d = self.faulty(extra=["faults.seed=%d" % seed],
                        conf_text="[faults]\nrule = rcpt reply=\"450 4.2.0 Mailbox busy\" chance=50%\n")
        c = self.greet(d)
        c.cmd("EHLO t")
        c.cmd("MAIL FROM:<a@x>")
        out = "".join("r" if c.cmd("RCPT TO:<b@x>")[0] == 450 else "." for _ in range(n))
        d.stop()
        return out

    def test_chance_with_a_seed_repeats_its_sequence(self):
        first, second, other = self.outcomes(7), self.outcomes(7), self.outcomes(8)
        self.assertEqual(first, second)
        self.assertNotEqual(first, other)
        self.assertIn("r", first)
        self.assertIn(".", first)

    def test_close_421_and_stall(self):
        d = self.faulty("mail close", "rset 421", "noop stall",
                        extra=["smtp.timeout_command=1s"])
        c = self.greet(d)
        c.cmd("EHLO t")
        c.send("MAIL FROM:<a@x>\r\n")
        self.assertTrue(c.closed())
        self.assertEqual(c.buf, b"")    # no reply at all
        c = self.greet(d)
        code, lines = c.cmd("RSET")
        self.assertEqual(code, 421)
        self.assertIn("closing transmission channel", lines[0])
        self.assertTrue(c.closed())
        c = self.greet(d)
        t0 = time.monotonic()
        c.send("NOOP\r\n")
        c.send("NOOP\r\n")      # input during a stall is read and dropped
        self.assertTrue(c.closed(timeout=10))
        stalled = time.monotonic() - t0
        self.assertEqual(c.buf, b"")
        self.assertGreaterEqual(stalled, 0.8)
        self.assertLess(stalled, 5)
        closes = d.wait_event("close", count=3)
        self.assertEqual([(e["outcome"], e.get("reason")) for e in closes],
                         [("fault", "close"), ("421", "fault"), ("fault", "stall")])
        for point, action in (("mail", "close"), ("rset", "421"), ("noop", "stall")):
            self.assertEqual(self.faults_total(d, point, action), 1, (point, action))
        # the labels ("." among them) are a valid exposition
        if os.access(PROMTOOL, os.X_OK):
            r = run([PROMTOOL, "check", "metrics"], input=scrape(d.url).encode())
            self.assertEqual(r.returncode, 0, r.stdout.decode() + r.stderr.decode())

    def test_a_client_leaving_a_stall_frees_its_slot(self):
        d = self.faulty("connect stall")
        s = d.connect()
        d.wait_event("fault", point="connect", action="stall")
        s.close()
        e = d.wait_event("close", timeout=5)[0]
        self.assertEqual(e["outcome"], "abandoned")

    def test_end_of_data_reply_refuses_the_message(self):
        d = self.faulty('. reply="554 5.7.1 Message refused"')
        with smtplib.SMTP(d.host, d.port, timeout=10) as s:
            with self.assertRaises(smtplib.SMTPDataError) as cm:
                s.sendmail("a@example.test", ["b@example.test"], b"Subject: t\r\n\r\nx\r\n")
            self.assertEqual(cm.exception.smtp_code, 554)
            # the transaction ended; the session goes on
            self.assertEqual(s.noop()[0], 250)
        text = scrape(d.url)
        self.assertEqual(prom_value(text, "bannerd_messages_total", result="rejected"), 1)
        self.assertEqual(prom_value(text, "bannerd_faults_total", point=".", action="reply"), 1)

    def test_connect_reply_refuses_the_session(self):
        d = self.faulty('connect reply="554 5.3.2 No SMTP service here"')
        c = Conversation(d.connect())
        self.assertEqual(c.reply(), (554, ["554 5.3.2 No SMTP service here"]))
        self.assertTrue(c.closed())
        self.assertEqual(d.wait_event("close")[0]["outcome"], "fault")

    def test_clients_select_by_address(self):
        d = self.faulty("helo 421 clients=127.0.0.2/32")
        c = self.greet(d)
        self.assertEqual(c.cmd("HELO me")[0], 250)
        s = socket.socket()
        self.addCleanup(s.close)
        s.bind(("127.0.0.2", 0))
        s.settimeout(10)
        s.connect((d.host, d.port))
        c = Conversation(s)
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("HELO me")[0], 421)

    def test_invalid_rule_is_refused_at_start_up(self):
        d = tmpdir(self)
        cases = {
            "[faults]\n\nrule = rcpt reply=\"251 ok\"\n": ("conf:3", "faults.rule", "4xx or 5xx"),
            "[faults]\nrule = vrfy close\n": ("conf:2", "faults.rule", "'vrfy' is not a point"),
            "[faults]\nrule = rcpt close clients=$(reboot)\n": ("conf:2", "faults.rule", "not an address"),
            "[faults]\nrule = rcpt reply=\"451 \x01\"\n": ("conf:2", "faults.rule", "printable"),
            "[faults]\nrule = . delay=1h\n": ("conf:2", "faults.rule", "faults.max_delay"),
            "[faults]\nrules = . close\n": ("conf:2", "did you mean faults.rule", "unknown key"),
            "[faults]\nmax_rules = 1\nrule = . close\nrule = . close\n":
                ("conf:4", "faults.rule", "more than faults.max_rules (1)"),
        }
        for text, (where, key, why) in cases.items():
            path = os.path.join(d, "conf")
            write(path, text)
            for args in (["-t"], ["-f", "-o", "listen.address=127.0.0.1:0"]):
                r = run([binary("bannerd")] + args + ["-c", path], timeout=10)
                err = r.stderr.decode()
                self.assertEqual(r.returncode, 2, text + err)
                self.assertIn(where, err)
                self.assertIn(key, err)
                self.assertIn(why, err)
                self.assertEqual(len(err.strip().splitlines()), 1, err)


if __name__ == "__main__":
    import unittest
    unittest.main()

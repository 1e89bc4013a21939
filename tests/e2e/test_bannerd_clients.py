"""bannerd with real clients: curl, swaks and Python's smtplib, with the
Maildir checked byte for byte against what was sent."""
import glob
import os
import smtplib
import time

from harness import BannerdTest, run, wait_for


def maildir_files(md):
    return sorted(glob.glob(os.path.join(md, "new", "*")))


def read(path):
    with open(path, "rb") as f:
        return f.read()


class ClientsTest(BannerdTest):
    def maildir_daemon(self, *extra):
        md = os.path.join(self.make_dir(), "md")
        d = self.start("smtp.sink=maildir", "smtp.maildir=" + md, "log.protocol_log=medium", *extra)
        return d, md

    def make_dir(self):
        import tempfile
        import shutil
        path = tempfile.mkdtemp(prefix="bannerd-md-")
        self.addCleanup(shutil.rmtree, path, True)
        return path

    def test_curl_sends_a_message_into_the_maildir(self):
        d, md = self.maildir_daemon()
        body = b"From: a@example.test\r\nTo: b@example.test\r\nSubject: curl\r\n\r\nhello\r\n.dot line\r\n"
        src = os.path.join(self.make_dir(), "msg")
        with open(src, "wb") as f:
            f.write(body)
        r = run(["curl", "-sS", "--url", "smtp://%s:%d" % (d.host, d.port),
                 "--mail-from", "a@example.test", "--mail-rcpt", "b@example.test",
                 "-T", src])
        self.assertEqual(r.returncode, 0, r.stderr)
        files = wait_for(lambda: maildir_files(md), 5, "a file in new/")
        self.assertEqual(len(files), 1)
        self.assertEqual(read(files[0]), body)
        self.assertEqual(os.listdir(os.path.join(md, "tmp")), [])
        msg = d.wait_event("message")[0]
        self.assertEqual(msg["code"], "250")
        self.assertEqual(int(msg["size"]), len(body))
        self.assertEqual(d.stop(), 0)

    def test_curl_with_bare_lf_file_is_refused_without_crlf(self):
        d, md = self.maildir_daemon()
        src = os.path.join(self.make_dir(), "msg")
        with open(src, "wb") as f:
            f.write(b"Subject: lf\n\nbare\n")
        r = run(["curl", "-sS", "--url", "smtp://%s:%d" % (d.host, d.port),
                 "--mail-from", "a@example.test", "--mail-rcpt", "b@example.test", "-T", src])
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(d.wait_event("message")[0]["code"], "550")
        self.assertEqual(maildir_files(md), [])
        # the same file with --crlf is fine
        r = run(["curl", "-sS", "--crlf", "--url", "smtp://%s:%d" % (d.host, d.port),
                 "--mail-from", "a@example.test", "--mail-rcpt", "b@example.test", "-T", src])
        self.assertEqual(r.returncode, 0, r.stderr)
        files = wait_for(lambda: maildir_files(md), 5, "a file in new/")
        self.assertEqual(read(files[0]), b"Subject: lf\r\n\r\nbare\r\n")

    def test_swaks_dialogue(self):
        d, md = self.maildir_daemon()
        r = run(["swaks", "--server", d.host, "--port", str(d.port), "--from", "s@example.test",
                 "--to", "r1@example.test,r2@example.test", "--helo", "swaks.test",
                 "--body", "swaks body", "--header", "Subject: swaks", "--pipeline"])
        out = r.stdout.decode()
        self.assertEqual(r.returncode, 0, out + r.stderr.decode())
        self.assertIn("<-  250 2.0.0 Ok: queued as", out)
        self.assertIn("250-PIPELINING", out)
        files = wait_for(lambda: maildir_files(md), 5, "a file in new/")
        self.assertIn(b"swaks body", read(files[0]))
        helo = [e for e in d.events("cmd") if e["line"].startswith("EHLO")]
        self.assertEqual(helo[0]["line"], "EHLO swaks.test")

    def test_smtplib_extensions_rset_recipients(self):
        d, md = self.maildir_daemon("smtp.max_recipients=100", "smtp.max_message_size=20M")
        with smtplib.SMTP(d.host, d.port, timeout=30) as s:
            code, _ = s.ehlo("smtplib.test")
            self.assertEqual(code, 250)
            for ext in ("pipelining", "size", "8bitmime", "enhancedstatuscodes"):
                self.assertTrue(s.has_extn(ext), ext)
            self.assertEqual(s.esmtp_features["size"], str(20 * 1024 * 1024))
            self.assertEqual(s.mail("a@example.test")[0], 250)
            self.assertEqual(s.rset()[0], 250)
            # after RSET, RCPT needs a new MAIL
            self.assertEqual(s.rcpt("x@example.test")[0], 503)
            self.assertEqual(s.mail("a@example.test", ["SIZE=1000"])[0], 250)
            for i in range(100):
                self.assertEqual(s.rcpt("r%d@example.test" % i)[0], 250)
            code, msg = s.rcpt("one-too-many@example.test")
            self.assertEqual(code, 452)
            self.assertIn(b"4.5.3", msg)
            code, msg = s.data(b"Subject: many\r\n\r\nto 100\r\n")
            self.assertEqual(code, 250, msg)
            self.assertEqual(s.noop()[0], 250)
            self.assertEqual(s.verify("someone")[0], 252)
            self.assertEqual(s.docmd("HELP")[0], 214)
        self.assertEqual(len(maildir_files(md)), 1)

    def test_smtplib_size_limit_and_10mb_message(self):
        d, md = self.maildir_daemon("smtp.max_message_size=11M")
        line = b"0123456789" * 9 + b"abcdefgh\r\n"   # 100 bytes a line
        body = b"Subject: big\r\n\r\n" + line * 100000 + b"..starts with a dot\r\n"
        self.assertGreater(len(body), 10 * 1000 * 1000)
        with smtplib.SMTP(d.host, d.port, timeout=60) as s:
            s.ehlo("big.test")
            code, msg = s.mail("a@example.test", ["SIZE=%d" % (12 * 1024 * 1024)])
            self.assertEqual(code, 552, msg)
            s.sendmail("a@example.test", ["b@example.test"], body)
        files = wait_for(lambda: maildir_files(md), 10, "a file in new/")
        self.assertEqual(read(files[0]), body)

    def test_smtplib_pipelined_transaction(self):
        d = self.start("log.protocol_log=medium")
        with smtplib.SMTP(d.host, d.port, timeout=30) as s:
            s.ehlo("pipe.test")
            # smtplib does not pipeline: send the group by hand on its socket
            s.sock.sendall(b"MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\n"
                           b"RCPT TO:<c@example.test>\r\nDATA\r\n")
            codes = [s.getreply()[0] for _ in range(4)]
            self.assertEqual(codes, [250, 250, 250, 354])
            s.sock.sendall(b"body\r\n.\r\nNOOP\r\nRSET\r\n")
            self.assertEqual([s.getreply()[0] for _ in range(3)], [250, 250, 250])
        self.assertEqual(d.wait_event("message")[0]["code"], "250")

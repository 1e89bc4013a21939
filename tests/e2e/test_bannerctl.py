"""bannerd's control socket with the real bannerctl: show, set, unset,
reload and stats; a cause set with -o switched off live and the banner
time measured before and after; refusals that change nothing; the
socket's mode, a stale socket, another daemon's live one; the limits (128
runtime entries, 4096-byte requests) and a silent client that must not
hold the others up."""
import os
import re
import socket
import stat
import subprocess
import time

from harness import (BannerdTest, Conversation, Slowdns, binary, run, tmpdir, wait_for,
                     write, TIME_SCALE)

RESTART_ONLY = {"listen.address", "listen.backlog", "metrics.listen", "server.user",
                "server.pidfile", "server.control_socket"}
SHOW_LINE = re.compile(r"^(\S+) = (.*)  # from (default|file|-o|set)$")


class BannerctlTest(BannerdTest):
    def start_ctl(self, conf_text="", *overrides):
        """bannerd with a control socket set in its file (conf_text is
        the rest of the file); returns (bannerd, socket path, conf path)."""
        d = tmpdir(self, "bannerctl-test-")
        sock = os.path.join(d, "ctl.sock")
        conf = os.path.join(d, "bannerd.conf")
        write(conf, conf_text + "\n[server]\ncontrol_socket = %s ; bannerctl -c reads it\n" % sock)
        bd = self.start(*overrides, conf=conf)
        bd.wait_log(r"control socket: " + re.escape(sock), timeout=1)
        return bd, sock, conf

    def ctl(self, sock, *words, timeout=20):
        p = run([binary("bannerctl"), "-s", sock] + list(words), timeout=timeout)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def ok(self, sock, *words):
        rc, out, err = self.ctl(sock, *words)
        self.assertEqual(rc, 0, (words, out, err))
        self.assertEqual(err, "")
        return out

    def show(self, sock, key):
        """key's value and origin, from show KEY."""
        lines = self.ok(sock, "show", key).splitlines()
        self.assertEqual(len(lines), 1, lines)
        m = SHOW_LINE.match(lines[0])
        self.assertTrue(m, lines[0])
        self.assertEqual(m.group(1), key)
        return m.group(2), m.group(3)

    def banner_ms(self, bd):
        """Milliseconds from connect to the 220 line."""
        t0 = time.monotonic()
        c = Conversation(bd.connect())
        code, lines = c.reply(timeout=20)
        ms = (time.monotonic() - t0) * 1000
        self.assertEqual(code, 220, lines)
        c.cmd("QUIT")
        return ms

    # ---- the verbs ----
    def test_show_set_unset_reload_stats(self):
        bd, sock, conf = self.start_ctl("[banner]\ndelay = 50ms\n", "banner.delay=400ms",
                                        "log.protocol_log=maximum")
        self.assertEqual(self.show(sock, "banner.delay"), ("400ms", "-o"))
        self.assertEqual(self.show(sock, "banner.text"), ("ESMTP bannerd", "default"))
        self.assertEqual(self.show(sock, "server.control_socket"), (sock, "file"))
        self.assertGreaterEqual(self.banner_ms(bd), 350)

        # set: above -o; logged with its origin
        self.assertEqual(self.ok(sock, "set", "banner.delay=0"), "")
        bd.wait_log(r"control: set banner\.delay=0 \(from socket uid=%d pid=\d+\)" % os.getuid())
        self.assertEqual(self.show(sock, "banner.delay"), ("0", "set"))
        self.assertLess(self.banner_ms(bd), 300)

        # reload, by bannerctl and by SIGHUP, keeps the runtime value
        self.ok(sock, "reload")
        bd.wait_log(r"control: reload \(from socket uid=")
        bd.signal(1)
        bd.wait_log(r"reload: configuration \S+ loaded")
        self.assertEqual(self.show(sock, "banner.delay"), ("0", "set"))
        self.assertLess(self.banner_ms(bd), 300)

        # unset: back to the file's value, though -o set it too
        self.ok(sock, "unset", "banner.delay")
        self.assertEqual(self.show(sock, "banner.delay"), ("50ms", "file"))
        ms = self.banner_ms(bd)
        self.assertTrue(40 <= ms < 350, ms)
        # ... and the default when the file lacks the key
        self.ok(sock, "unset", "log.protocol_log")
        self.assertEqual(self.show(sock, "log.protocol_log"), ("minimum", "default"))
        # the unset stays through a reload; a later set clears it
        self.ok(sock, "reload")
        self.assertEqual(self.show(sock, "banner.delay"), ("50ms", "file"))
        self.ok(sock, "set", "banner.delay=10ms")
        self.assertEqual(self.show(sock, "banner.delay"), ("10ms", "set"))

        # a file that no longer loads: reload refused, nothing changes
        write(conf, "[banner]\ndelay = soon\n")
        rc, out, err = self.ctl(sock, "reload")
        self.assertEqual(rc, 1)
        self.assertIn("bannerctl: %s:2: banner.delay:" % conf, err)
        self.assertEqual(self.show(sock, "banner.delay"), ("10ms", "set"))
        bd.wait_log(r"control: rejected: reload \(from socket uid=\d+ pid=\d+\): ")

        # stats: the SIGUSR1 figures
        stats = self.ok(sock, "stats")
        m = re.search(r"\bbanners=(\d+)", stats)
        self.assertTrue(m, stats)
        self.assertEqual(int(m.group(1)), 4)  # the four banner_ms above
        self.assertIn("banner_p99_us=", stats)
        self.assertEqual(bd.stop(), 0)

    def test_show_lists_every_key_once_and_reads_back(self):
        bd, sock, _ = self.start_ctl("[banner]\ntext = ESMTP two words\n"
                                     "[faults]\nrule = helo reply=\"451 4.7.1 Try later\"\n")
        lines = self.ok(sock, "show").splitlines()
        keys = [SHOW_LINE.match(l).group(1) for l in lines]
        self.assertIn("banner.delay", keys)
        self.assertIn("server.control_socket", keys)
        self.assertEqual(len(keys), len(set(keys)))  # one rule: one faults.rule line
        values = dict(SHOW_LINE.match(l).group(1, 2) for l in lines)
        self.assertEqual(values["faults.rule"], 'helo reply="451 4.7.1 Try later"')
        # Every value set back as shown is accepted and reads the same:
        # the round trip, in requests of at most 30 keys.
        settable = [(k, v) for k, v in values.items()
                    if k not in RESTART_ONLY and k != "faults.rule"]
        for i in range(0, len(settable), 30):
            self.ok(sock, "set", *["%s=%s" % kv for kv in settable[i:i + 30]])
        again = dict(SHOW_LINE.match(l).group(1, 2) for l in self.ok(sock, "show").splitlines())
        self.assertEqual(again, values)
        self.assertEqual(self.show(sock, "banner.text"), ("ESMTP two words", "set"))
        self.assertEqual(self.show(sock, "banner.delay")[1], "set")
        # The most a client can hold: every key set, and the longest list
        # of rules one request carries (31 rules of two words, with "set",
        # fill the 64 words of a request). That is fewer than the layer's
        # 128 entries (test_runtime checks that limit at its edge), so
        # the bound on words is what a client meets first.
        n = len(settable)
        self.assertLess(n + 31, 128)
        self.ok(sock, "set", "faults.max_rules=64")
        self.ok(sock, "set", *["faults.rule=connect delay=1ms"] * 31)
        self.assertEqual(len([l for l in self.ok(sock, "show").splitlines()
                              if l.startswith("faults.rule = connect delay=1ms  # from set")]), 31)
        rc, _, err = self.ctl(sock, "set", *["faults.rule=connect delay=1ms"] * 32)
        self.assertEqual(rc, 1)
        self.assertIn("bannerctl: more than 64 words", err)
        rc, _, err = self.ctl(sock, "unset", "faults.seed", "faults.rule")
        self.assertEqual(rc, 0, err)  # an unset of a set key takes no more room
        self.assertEqual(self.show(sock, "faults.rule"), ('helo reply="451 4.7.1 Try later"', "file"))

    def test_protocol_log_switched_off_live(self):
        """The KB cause: protocol logging turns the reverse lookup on
        (rdns.enabled = auto) and a slow DNS server delays the banner.
        Set with -o, switched off with bannerctl, back with unset."""
        dns = Slowdns(self, "--delay", "400ms")
        bd, sock, _ = self.start_ctl("", "log.protocol_log=maximum", "rdns.enabled=auto",
                                     "rdns.servers=" + dns.address, "rdns.timeout=5s")
        self.assertGreaterEqual(self.banner_ms(bd), 350)
        self.ok(sock, "set", "log.protocol_log=none")
        bd.wait_log(r"rdns: off \(rdns.enabled = auto, protocol_log = none\)")
        self.assertEqual(self.show(sock, "log.protocol_log"), ("none", "set"))
        for _ in range(3):
            self.assertLess(self.banner_ms(bd), 300)
        self.ok(sock, "unset", "log.protocol_log")  # the file lacks it: minimum, on again
        self.assertEqual(self.show(sock, "log.protocol_log"), ("minimum", "default"))
        self.assertGreaterEqual(self.banner_ms(bd), 350)

    def test_fault_rules_replaced_and_restored(self):
        bd, sock, _ = self.start_ctl("[faults]\nrule = helo reply=\"451 4.7.1 From the file\"\n")
        self.ok(sock, "set", 'faults.rule=connect reply="554 5.7.1 Set live"')
        c = Conversation(bd.connect())
        code, lines = c.reply()
        self.assertEqual(code, 554, lines)
        self.assertIn("Set live", lines[0])
        self.ok(sock, "set", "faults.rule=")  # no rules at all
        c = self.greet(bd)
        self.assertEqual(c.cmd("HELO x")[0], 250)
        self.ok(sock, "unset", "faults.rule")  # the file's again
        c = self.greet(bd)
        self.assertEqual(c.cmd("HELO x")[0], 451)

    # ---- refusals ----
    def test_bad_requests_change_nothing(self):
        bd, sock, _ = self.start_ctl("[banner]\ndelay = 300ms\n[pool]\nworkers = 2\n")
        cases = [
            (["set", "banner.delay=banana"], "banner.delay: 'banana' is not a duration"),
            (["set", "pool.workers=0"], "pool.workers: '0' is out of range (1..256)"),
            (["set", "pool.workers=257"], "out of range"),
            (["set", "banner.dealy=1s"], "unknown key banner.dealy (did you mean banner.delay?)"),
            (["set", "listen.address=127.0.0.1:1"], "listen.address takes effect only after a restart"),
            (["set", "metrics.listen=127.0.0.1:9"], "metrics.listen takes effect only after a restart"),
            (["unset", "server.control_socket"], "takes effect only after a restart"),
            # all or nothing: the good key is not applied either
            (["set", "banner.delay=0", "pool.workers=0"], "pool.workers"),
            (["set", "banner.delay=0", "banner.delay=1s"], "banner.delay is given twice"),
            (["set", "smtp.sink=maildir"], "smtp.maildir: must be set"),
            (["set", "delay"], "is not section.key=value"),
            (["set"], "set needs"),
            (["frobnicate"], "unknown command 'frobnicate'"),
            (["show", "nosuch.key"], "unknown key nosuch.key"),
            (["reload", "now"], "reload takes no arguments"),
        ]
        for words, why in cases:
            rc, out, err = self.ctl(sock, *words)
            self.assertEqual(rc, 1, words)
            self.assertEqual(out, "", words)
            self.assertTrue(err.startswith("bannerctl: "), err)
            self.assertIn(why, err, words)
            self.assertEqual(err.count("\n"), 1, err)
        bd.wait_log(r"control: rejected: set banner\.delay=banana \(from socket uid=\d+ pid=\d+\): "
                    r"banner\.delay: 'banana' is not a duration")
        self.assertNotRegex(bd.log_text(), r"control: set ")
        self.assertEqual(self.show(sock, "banner.delay"), ("300ms", "file"))
        self.assertEqual(self.show(sock, "pool.workers"), ("2", "file"))
        self.assertGreaterEqual(self.banner_ms(bd), 250)

    # ---- the socket ----
    def test_socket_mode_owner_and_removal(self):
        bd, sock, _ = self.start_ctl()
        st = os.stat(sock)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(st.st_uid, os.getuid())
        self.assertEqual(bd.stop(), 0)
        self.assertFalse(os.path.exists(sock))

    def test_socket_belongs_to_server_user(self):
        if os.getuid() != 0:
            self.skipTest("needs root to drop to nobody")
        import pwd
        nobody = pwd.getpwnam("nobody")
        bd, sock, _ = self.start_ctl("", "server.user=nobody")
        st = os.stat(sock)
        self.assertEqual((st.st_uid, st.st_gid), (nobody.pw_uid, nobody.pw_gid))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        # made before the privileges went, answered after
        self.assertEqual(self.show(sock, "server.user"), ("nobody", "-o"))

    def test_stale_socket_is_replaced(self):
        d = tmpdir(self)
        sock = os.path.join(d, "ctl.sock")
        s = socket.socket(socket.AF_UNIX)
        s.bind(sock)
        s.close()  # the file stays, nobody answers: what a kill -9 leaves
        self.assertTrue(os.path.exists(sock))
        bd = self.start("server.control_socket=" + sock)
        bd.wait_log(r"control socket: ")
        self.assertEqual(self.show(sock, "server.control_socket"), (sock, "-o"))

    def test_live_socket_of_another_bannerd_is_refused(self):
        bd, sock, _ = self.start_ctl()
        p = run([binary("bannerd"), "-f", "-o", "listen.address=127.0.0.1:0",
                 "-o", "rdns.enabled=off", "-o", "server.control_socket=" + sock], timeout=30)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(b"another process is listening on it", p.stderr)
        self.assertIn("control socket: ", self.ok(sock, "show", "server.control_socket").replace(
            "server.control_socket = ", "control socket: "))
        self.assertTrue(stat.S_ISSOCK(os.stat(sock).st_mode))

    def test_other_file_at_the_path_is_refused(self):
        d = tmpdir(self)
        path = os.path.join(d, "ctl.sock")
        write(path, "not a socket\n")
        p = run([binary("bannerd"), "-f", "-o", "listen.address=127.0.0.1:0",
                 "-o", "rdns.enabled=off", "-o", "server.control_socket=" + path], timeout=30)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(b"exists and is not a socket", p.stderr)
        with open(path) as f:
            self.assertEqual(f.read(), "not a socket\n")

    # ---- limits and responsiveness ----
    def test_request_over_4096_bytes(self):
        bd, sock, _ = self.start_ctl()
        # bannerctl refuses it before sending: a usage error
        rc, out, err = self.ctl(sock, "set", "banner.text=" + "x" * 4090)
        self.assertEqual(rc, 2)
        self.assertIn("longer than 4096 bytes", err)
        # exactly 4096 bytes goes through (and banner.text refuses the value)
        line = "set banner.text=" + "x" * (4096 - len("set banner.text="))
        self.assertEqual(len(line), 4096)
        rc, out, err = self.ctl(sock, *line.split(" "))
        self.assertEqual(rc, 1)
        self.assertIn("banner.text: value is longer than 511 bytes", err)
        # the daemon refuses a longer line from any client
        s = socket.socket(socket.AF_UNIX)
        self.addCleanup(s.close)
        s.settimeout(10)
        s.connect(sock)
        s.sendall(b"show " + b"x" * 5000 + b"\n")
        reply = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
        self.assertEqual(reply, b"ERR request longer than 4096 bytes\n")
        self.assertEqual(self.show(sock, "banner.text"), ("ESMTP bannerd", "default"))

    def test_silent_client_does_not_block_others(self):
        bd, sock, _ = self.start_ctl()
        silent = []
        for _ in range(3):
            s = socket.socket(socket.AF_UNIX)
            self.addCleanup(s.close)
            s.connect(sock)
            s.sendall(b"show banner")  # never finishes its line
            silent.append(s)
        t0 = time.monotonic()
        self.ok(sock, "set", "banner.delay=1ms")
        self.assertEqual(self.show(sock, "banner.delay"), ("1ms", "set"))
        self.assertLess(time.monotonic() - t0, 3 * TIME_SCALE)
        self.greet(bd)  # and SMTP goes on
        # The silent ones are closed after the read timeout, unanswered.
        silent[0].settimeout(30)
        self.assertEqual(silent[0].recv(100), b"")

    # ---- bannerctl itself ----
    def test_bannerctl_usage_and_connection_errors(self):
        bd, sock, conf = self.start_ctl()
        p = run([binary("bannerctl"), "show"])
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"pass -s PATH", p.stderr)
        p = run([binary("bannerctl"), "-s", sock])
        self.assertEqual(p.returncode, 2)
        p = run([binary("bannerctl"), "-c", conf, "show", "banner.delay"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, b"banner.delay = 0  # from default\n")
        nowhere = os.path.join(tmpdir(self), "none.sock")
        rc, out, err = self.ctl(nowhere, "show")
        self.assertEqual(rc, 1)
        self.assertIn("is bannerd running with server.control_socket = %s?" % nowhere, err)
        p = run([binary("bannerctl"), "-t", "0", "-s", sock, "show"])
        self.assertEqual(p.returncode, 2)

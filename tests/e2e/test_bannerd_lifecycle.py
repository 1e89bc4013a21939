"""bannerd as an operator sees it: configuration checks, the protocol log
levels and formats, SIGHUP reload, SIGTERM drain, descriptor exhaustion,
daemon mode and a Maildir that cannot be written."""
import glob
import json
import os
import re
import signal
import smtplib
import socket
import time

from harness import BUILD, ROOT, BannerdTest, Conversation, binary, run, tmpdir, wait_for, write


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ConfigCheckTest(BannerdTest):
    def test_shipped_config_and_presets_pass(self):
        confs = [os.path.join(ROOT, "conf", "bannerd.conf")]
        confs += glob.glob(os.path.join(ROOT, "conf", "presets", "*.conf"))
        for conf in confs:
            if not os.path.exists(conf):
                continue
            r = run([binary("bannerd"), "-t", "-c", conf])
            self.assertEqual(r.returncode, 0, conf + r.stderr.decode())

    def test_bad_config_names_file_line_and_key(self):
        d = tmpdir(self)
        cases = {
            "[smtp]\nmax_line = 12x\n": ("conf:2", "smtp.max_line", "not a size"),
            "[smtp]\n\nmax_line = 100\n": ("conf:3", "smtp.max_line", "out of range"),
            "[banner]\ncolour = blue\n": ("conf:2", "banner.colour", "unknown key"),
            "[log]\nprotocol_log = loud\n": ("conf:2", "log.protocol_log", "none|minimum|medium|maximum"),
            "[smtp]\ntimeout_command = soon\n": ("conf:2", "smtp.timeout_command", "duration"),
            "[smtp]\nsink = maildir\n": ("conf", "smtp.maildir", "must be set"),
            "just words\n": ("conf:1", "syntax error", ""),
        }
        for text, (where, key, why) in cases.items():
            path = os.path.join(d, "conf")
            write(path, text)
            r = run([binary("bannerd"), "-t", "-c", path])
            err = r.stderr.decode()
            self.assertEqual(r.returncode, 2, text)
            self.assertIn(where, err)
            self.assertIn(key, err)
            self.assertIn(why, err)
            self.assertEqual(len(err.strip().splitlines()), 1, err)

    def test_bad_override_and_usage(self):
        r = run([binary("bannerd"), "-t", "-o", "pool.workers=0"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("pool.workers", r.stderr.decode())
        r = run([binary("bannerd"), "-t", "-o", "nodot"])
        self.assertEqual(r.returncode, 2)
        r = run([binary("bannerd"), "-Z"])
        self.assertEqual(r.returncode, 2)
        self.assertEqual(run([binary("bannerd"), "-V"]).returncode, 0)
        self.assertEqual(run([binary("bannerd"), "-t", "-c", "/nonexistent"]).returncode, 2)

    def test_units(self):
        for v in ("250ms", "3s", "1m", "1500us", "1.5s", "0", "0ms"):
            self.assertEqual(run([binary("bannerd"), "-t", "-o", "banner.delay=" + v]).returncode, 0, v)
        for v in ("10M", "64k", "1048576"):
            self.assertEqual(run([binary("bannerd"), "-t", "-o", "smtp.max_message_size=" + v]).returncode, 0, v)


    def test_duration_without_unit_is_refused(self):
        # "500" was once 500 s where people meant 500 ms: now it is an error
        r = run([binary("bannerd"), "-t", "-o", "banner.delay=500"])
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr.decode().strip(),
                         'bannerd: command line: -o banner.delay: "500" needs a unit '
                         '(us, ms, s, m, h): did you mean 500ms or 500s?')
        conf = os.path.join(tmpdir(self), "bannerd.conf")
        write(conf, "[smtp]\ntimeout_command = 300\n")
        r = run([binary("bannerd"), "-t", "-c", conf])
        self.assertEqual(r.returncode, 2)
        self.assertIn(conf + ':2: smtp.timeout_command: "300" needs a unit', r.stderr.decode())
        self.assertIn("did you mean 300ms or 300s?", r.stderr.decode())

    def test_unknown_key_suggests_the_key_meant(self):
        r = run([binary("bannerd"), "-t", "-o", "banner.dealy=500ms"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown key banner.dealy (did you mean banner.delay?)", r.stderr.decode())
        # the right name under the wrong section
        r = run([binary("bannerd"), "-t", "-o", "smtp.workers=4"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown key smtp.workers (did you mean pool.workers?)", r.stderr.decode())
        conf = os.path.join(tmpdir(self), "bannerd.conf")
        write(conf, "[banner]\ntext = hi\ndealy = 1s\n")
        r = run([binary("bannerd"), "-t", "-c", conf])
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr.decode().strip(), "bannerd: %s:3: unknown key banner.dealy "
                         "(did you mean banner.delay?)" % conf)
        # nothing close: no guess
        r = run([binary("bannerd"), "-t", "-o", "banner.colour=blue"])
        self.assertEqual(r.returncode, 2)
        self.assertNotIn("did you mean", r.stderr.decode())


class LogTest(BannerdTest):
    def session(self, d):
        with smtplib.SMTP(d.host, d.port, timeout=10) as s:
            s.ehlo("log.test")
            s.sendmail("a@b.test", ["c@d.test"], b"Subject: x\r\n\r\nbody\r\n")

    def test_levels(self):
        expect = {
            "none": ({"close"}, {"connect", "cmd", "reply", "raw"}),
            "minimum": ({"connect", "close", "message"}, {"cmd", "reply", "raw"}),
            "medium": ({"connect", "cmd", "reply", "close"}, {"raw"}),
            "maximum": ({"connect", "cmd", "reply", "raw", "close"}, set()),
        }
        for level, (present, absent) in expect.items():
            d = self.start("log.protocol_log=" + level)
            self.session(d)
            d.wait_event("close")
            seen = {e["event"] for e in d.events()}
            self.assertTrue(present <= seen, (level, seen))
            self.assertFalse(absent & seen, (level, seen))
            for e in d.events():
                if e["event"] in ("connect", "cmd", "reply", "raw", "close"):
                    self.assertIn("sid", e)
                    self.assertIn("peer", e)
                    self.assertIn("t_us", e)
            d.stop()

    def test_maximum_logs_escaped_raw_bytes(self):
        d = self.start("log.protocol_log=maximum")
        c = self.greet(d)
        c.cmd("NOOP \x01\x7f\xff".encode("latin-1").decode("latin-1"))
        c.send(b"NOOP \x01\xff\r\n")
        c.reply()
        raws = [e for e in d.wait_event("raw", count=3) if e["dir"] == "in"]
        self.assertTrue(any("\\x01" in e["bytes"].encode("unicode_escape").decode() or "\x01" in e["bytes"]
                            for e in raws))
        # no raw byte ever splits a log line
        for line in d.log_text().splitlines():
            self.assertTrue(line.startswith("20"), repr(line))

    def test_json_format_and_file_target(self):
        path = os.path.join(tmpdir(self), "proto.log")
        d = self.start("log.format=json", "log.protocol_log=medium", "log.target=" + path)
        self.session(d)
        def closes():
            if not os.path.exists(path):
                return None
            objs = [json.loads(l) for l in open(path).read().splitlines()]
            return [o for o in objs if o["event"] == "close"] and objs
        objs = wait_for(closes, 10, "a close object in the JSON log")
        close = [o for o in objs if o["event"] == "close"][0]
        self.assertEqual(close["outcome"], "normal")
        self.assertIsNone(close["rdns_us"])
        self.assertIsInstance(close["banner_us"], int)
        self.assertTrue(any(o["event"] == "cmd" and o["line"].upper() == "EHLO LOG.TEST" for o in objs))


class SignalTest(BannerdTest):
    def test_sighup_reload_applies_and_bad_file_keeps_old(self):
        d_dir = tmpdir(self)
        conf = os.path.join(d_dir, "bannerd.conf")
        write(conf, "[banner]\ntext = first\n")
        d = self.start(conf=conf)
        held = self.greet(d)   # an established session survives the reload
        write(conf, "[banner]\ntext = second\n")
        d.signal(signal.SIGHUP)
        d.wait_log("reload: configuration")
        c = Conversation(d.connect())
        self.assertIn("second", c.reply()[1][0])
        write(conf, "[banner]\ntext = third\nbogus = 1\n")
        d.signal(signal.SIGHUP)
        d.wait_log("reload failed, the old configuration stays in force: .*banner.bogus")
        c = Conversation(d.connect())
        self.assertIn("second", c.reply()[1][0])
        self.assertEqual(held.cmd("NOOP")[0], 250)
        self.assertEqual(d.stop(), 0)

    def test_sighup_reopens_the_log_file(self):
        path = os.path.join(tmpdir(self), "b.log")
        d = self.start("log.target=" + path)
        wait_for(lambda: os.path.exists(path), 5, "log file")
        os.rename(path, path + ".1")
        d.signal(signal.SIGHUP)
        wait_for(lambda: os.path.exists(path), 5, "reopened log file")
        self.greet(d).cmd("QUIT")
        wait_for(lambda: "close" in open(path).read(), 5, "close line in the new file")

    def test_sigterm_drains_then_421(self):
        d = self.start("log.protocol_log=minimum", "server.shutdown_timeout=500ms")
        c = self.greet(d)
        c.cmd("EHLO drain.test")
        t0 = time.monotonic()
        d.signal(signal.SIGTERM)
        d.wait_log("shutdown: .* draining 1 sessions")
        # the open session may still work during the drain
        self.assertEqual(c.cmd("NOOP")[0], 250)
        # new connections are refused: the listener is closed
        with self.assertRaises(OSError):
            s = d.connect(timeout=2)
            Conversation(s).reply(timeout=2)
        code, lines = c.reply(timeout=5)
        self.assertEqual(code, 421)
        self.assertIn("4.3.2", lines[0])
        self.assertTrue(0.4 <= time.monotonic() - t0 < 4)
        self.assertEqual(d.proc.wait(10), 0)
        close = d.events("close")[0]
        self.assertEqual((close["outcome"], close["reason"]), ("421", "shutdown"))
        d.stop()

    def test_second_sigterm_cuts_the_drain_short(self):
        d = self.start("server.shutdown_timeout=30s")
        c = self.greet(d)
        d.signal(signal.SIGTERM)
        d.wait_log("shutdown: .* draining 1 sessions")
        t0 = time.monotonic()
        d.signal(signal.SIGTERM)
        d.wait_log("received again, closing 1 sessions now")
        self.assertEqual(c.reply(timeout=5)[0], 421)
        self.assertEqual(d.proc.wait(10), 0)
        self.assertLess(time.monotonic() - t0, 5)
        d.stop()

    def test_reload_names_keys_that_need_a_restart(self):
        conf = os.path.join(tmpdir(self), "b.conf")
        write(conf, "[listen]\nbacklog = 100\n")
        d = self.start(conf=conf)
        write(conf, "[listen]\nbacklog = 200\n[metrics]\nlisten = 127.0.0.1:0\n")
        d.signal(signal.SIGHUP)
        d.wait_log("listen.backlog changed; it takes effect only after a restart")
        d.wait_log("metrics.listen changed")

    def test_reload_with_unusable_maildir_keeps_the_old_config(self):
        dd = tmpdir(self)
        conf = os.path.join(dd, "b.conf")
        write(os.path.join(dd, "blocker"), "a file, not a directory")
        write(conf, "[banner]\ntext = old\n")
        d = self.start(conf=conf)
        write(conf, "[banner]\ntext = new\n[smtp]\nsink = maildir\nmaildir = %s/blocker/md\n" % dd)
        d.signal(signal.SIGHUP)
        d.wait_log("reload failed, the old configuration stays in force: smtp.maildir")
        self.assertIn("old", Conversation(d.connect()).reply()[1][0])

    def test_sigterm_with_no_sessions_exits_at_once(self):
        d = self.start()
        t0 = time.monotonic()
        self.assertEqual(d.stop(), 0)
        self.assertLess(time.monotonic() - t0, 2)


class ResourceTest(BannerdTest):
    def test_descriptor_exhaustion_does_not_spin(self):
        d = self.start("listen.accept_retry=100ms", "pool.workers=1", rlimit_nofile=40)
        held = []
        for _ in range(60):   # more than the daemon has descriptors
            try:
                held.append(d.connect(timeout=2))
            except OSError:
                break
        d.wait_log("pausing accept")
        cpu0, t0 = cpu_seconds(d.proc.pid), time.monotonic()
        wait_for(lambda: time.monotonic() - t0 > 1.0, 2, "a second of wall time")
        used = cpu_seconds(d.proc.pid) - cpu0
        self.assertLess(used, 0.5, "accept loop spins: %.2f s CPU in 1 s" % used)
        for s in held:
            s.close()
        # once descriptors are free again, it serves by itself
        def banner():
            try:
                c = Conversation(d.connect(timeout=2))
                return c.reply(timeout=2)[0] == 220
            except (OSError, EOFError):
                return False
        wait_for(banner, 10, "a banner after recovery", interval=0.2)
        self.assertEqual(d.stop(), 0)

    def test_server_user_drops_privileges_after_binding(self):
        if os.getuid() != 0:
            self.skipTest("needs root to bind as root and drop to nobody")
        d = self.start("server.user=nobody")
        with open("/proc/%d/status" % d.proc.pid) as f:
            uids = [l.split()[1:] for l in f if l.startswith("Uid:")][0]
        import pwd
        nobody = str(pwd.getpwnam("nobody").pw_uid)
        self.assertEqual(uids, [nobody] * 4)
        self.assertEqual(self.greet(d).cmd("QUIT")[0], 221)
        r = run([binary("bannerd"), "-t", "-o", "server.user=no-such-user-here"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("no such user", r.stderr.decode())

    def test_daemon_mode_writes_pidfile(self):
        dd = tmpdir(self)
        pidfile = os.path.join(dd, "bannerd.pid")
        log = os.path.join(dd, "b.log")
        r = run([binary("bannerd"), "-D", "-o", "listen.address=127.0.0.1:0", "-o", "rdns.enabled=off",
                 "-o", "server.pidfile=" + pidfile, "-o", "log.target=" + log], timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        # The parent returns once the daemon is ready: no waiting needed.
        self.assertTrue(os.path.exists(pidfile))
        pid = int(open(pidfile).read().strip())
        def cleanup():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.addCleanup(cleanup)
        text = open(log).read()
        self.assertIn("ready to accept connections", text)
        # The first line names the daemon's own pid, the one in the
        # pidfile, not the parent's that exited.
        starting = re.search(r"starting: pid=(\d+)", text)
        self.assertIsNotNone(starting, text)
        self.assertEqual(int(starting.group(1)), pid)
        self.assertNotEqual(pid, os.getpid())
        os.kill(pid, 0)   # alive
        with open("/proc/%d/stat" % pid) as f:
            self.assertNotEqual(f.read().rsplit(")", 1)[1].split()[0], "Z")
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not os.path.exists(pidfile), 10, "pidfile removed at exit")
        self.assertIn("stopped", open(log).read())

    def test_daemon_mode_parent_exits_with_the_start_up_status(self):
        # A port that is taken: the daemon cannot bind, and bannerd -D
        # says so and exits 1 instead of 0 after a blind fork.
        busy = socket.socket()
        self.addCleanup(busy.close)
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        dd = tmpdir(self)
        log = os.path.join(dd, "b.log")
        r = run([binary("bannerd"), "-D", "-o", "listen.address=127.0.0.1:%d" % port,
                 "-o", "rdns.enabled=off", "-o", "log.target=" + log], timeout=10)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("127.0.0.1:%d" % port, r.stderr.decode())
        self.assertIn("Address already in use", open(log).read())
        r = run([binary("bannerd"), "-D", "-o", "listen.address=127.0.0.1:0", "-o", "rdns.enabled=off",
                 "-o", "server.user=no-such-user-here", "-o", "log.target=" + log], timeout=10)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("no such user", r.stderr.decode())

    def test_unwritable_maildir_gives_451_and_nothing_in_new(self):
        md = os.path.join(tmpdir(self), "md")
        d = self.start("smtp.sink=maildir", "smtp.maildir=" + md)
        # tmp/ replaced by a file: open(2) fails even for root
        os.rmdir(os.path.join(md, "tmp"))
        write(os.path.join(md, "tmp"), "not a directory")
        with smtplib.SMTP(d.host, d.port, timeout=10) as s:
            s.ehlo("x.test")
            s.mail("a@b.test")
            s.rcpt("c@d.test")
            code, msg = s.data(b"Subject: x\r\n\r\nbody\r\n")
            self.assertEqual(code, 451, msg)
            self.assertIn(b"4.3.0", msg)
        self.assertEqual(os.listdir(os.path.join(md, "new")), [])
        d.wait_log("maildir write failed")


class InstallTest(BannerdTest):
    def make(self, *args):
        r = run(["make", "-s"] + list(args)
                + (["SANITIZE=1"] if os.path.basename(BUILD) == "build-san" else []),
                cwd=ROOT, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr.decode())

    def lab_files(self):
        """The lab as install must copy it: source path = path under share/bannerlab."""
        files = ["scripts/lab", "scripts/lablib.sh", "scripts/demo"]
        files += [os.path.relpath(f, ROOT) for f in glob.glob(os.path.join(ROOT, "scripts/scenarios/*"))]
        files += [os.path.relpath(f, ROOT) for f in
                  glob.glob(os.path.join(ROOT, "scripts/labanalysis/**/*.py"), recursive=True)]
        files += [os.path.relpath(f, ROOT) for f in glob.glob(os.path.join(ROOT, "conf/presets/*.conf"))]
        return files

    def test_make_install_into_destdir(self):
        dest = tmpdir(self)
        self.make("install", "DESTDIR=" + dest, "PREFIX=/usr/local")
        for f in ("sbin/bannerd", "bin/smtpprobe", "bin/slowdns", "bin/slowrelay", "bin/bannerlab-lab",
                  "share/man/man8/bannerd.8", "share/man/man5/bannerd.conf.5",
                  "share/man/man1/smtpprobe.1", "share/man/man1/slowdns.1", "share/man/man1/slowrelay.1",
                  "etc/bannerd/bannerd.conf.example", "etc/bannerd/presets/ims55-untuned.conf",
                  "etc/bannerd/prometheus/prometheus.yml", "etc/bannerd/prometheus/bannerd-rules.yml",
                  "etc/bannerd/prometheus/bannerd-rules.test.yml",
                  "lib/systemd/system/bannerd.service"):
            self.assertTrue(os.path.exists(os.path.join(dest, "usr/local", f)), f)
        r = run([os.path.join(dest, "usr/local/sbin/bannerd"), "-t", "-c",
                 os.path.join(dest, "usr/local/etc/bannerd/bannerd.conf.example")])
        self.assertEqual(r.returncode, 0, r.stderr)
        # the operator's own configuration is not the install's to remove
        own = os.path.join(dest, "usr/local/etc/bannerd/bannerd.conf")
        write(own, "[banner]\ntext = mine\n")
        self.make("uninstall", "DESTDIR=" + dest, "PREFIX=/usr/local")
        left = [os.path.join(r, n) for r, _, ns in os.walk(dest) for n in ns]
        self.assertEqual(left, [own])

    def test_prefix_usr_paths_and_uninstall_leaves_nothing(self):
        dest = tmpdir(self)
        self.make("install", "DESTDIR=" + dest, "PREFIX=/usr")
        unit = open(os.path.join(dest, "usr/lib/systemd/system/bannerd.service")).read()
        self.assertIn("\nExecStartPre=/usr/sbin/bannerd -t -c /etc/bannerd/bannerd.conf\n", unit)
        self.assertIn("\nExecStart=/usr/sbin/bannerd -f -c /etc/bannerd/bannerd.conf\n", unit)
        self.assertTrue(os.path.exists(os.path.join(dest, "etc/bannerd/bannerd.conf.example")))
        self.assertTrue(os.path.exists(os.path.join(dest, "etc/bannerd/presets/modern.conf")))
        # nothing installed names the default prefix any more
        for root, _, names in os.walk(os.path.join(dest, "usr/share/man")):
            for n in names:
                self.assertNotIn("/usr/local", open(os.path.join(root, n)).read(), n)
        self.assertNotIn("/usr/local", unit)
        man8 = open(os.path.join(dest, "usr/share/man/man8/bannerd.8")).read()
        self.assertIn(".It Pa /etc/bannerd/bannerd.conf\n", man8)
        self.assertIn(".It Pa /usr/lib/systemd/system/bannerd.service\n", man8)
        self.assertIn("/etc/resolv.conf", man8)   # a system path, left alone
        # the lab, with the layout of the source tree, and its wrapper
        lab = os.path.join(dest, "usr/share/bannerlab")
        for f in self.lab_files():
            self.assertTrue(os.path.isfile(os.path.join(lab, f)), f)
            self.assertEqual(open(os.path.join(lab, f), "rb").read(),
                             open(os.path.join(ROOT, f), "rb").read(), f)
        self.assertTrue(os.access(os.path.join(lab, "scripts/lab"), os.X_OK))
        wrapper = open(os.path.join(dest, "usr/bin/bannerlab-lab")).read()
        self.assertIn('exec "/usr/share/bannerlab/scripts/lab" "$@"', wrapper)
        self.assertIn('PATH="/usr/sbin:/usr/bin:$PATH"', wrapper)
        self.assertIn("unset BUILD", wrapper)
        self.make("uninstall", "DESTDIR=" + dest, "PREFIX=/usr")
        left = [os.path.relpath(os.path.join(r, n), dest)
                for r, ds, ns in os.walk(dest) for n in ns + ds]
        self.assertEqual([f for f in left if not os.path.isdir(os.path.join(dest, f))], [])
        self.assertEqual([f for f in left if "bannerlab" in f or "bannerd" in f], [])

    def test_installed_lab_runs_from_anywhere(self):
        prefix = tmpdir(self)
        self.make("install", "PREFIX=" + prefix)
        self.addCleanup(self.make, "uninstall", "PREFIX=" + prefix)
        cwd = tmpdir(self)
        env = dict(os.environ)
        env.pop("LAB_RESULTS", None)
        # BUILD points at the source tree's binaries: the wrapper drops
        # it, so the lab takes the installed programs from PATH.
        env["BUILD"] = os.path.join(ROOT, "no-such-build")
        r = run([os.path.join(prefix, "bin/bannerlab-lab"), "run", "baseline", "--quick"],
                cwd=cwd, env=env, timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout.decode()[-3000:] + r.stderr.decode()[-3000:])
        self.assertTrue(os.path.exists(os.path.join(cwd, "results/baseline/bannerd.log")),
                        os.listdir(cwd))
        self.assertFalse(os.path.exists(os.path.join(prefix, "share/bannerlab/results")))
        self.make("uninstall", "PREFIX=" + prefix)
        left = [os.path.join(r, n) for r, _, ns in os.walk(prefix) for n in ns]
        self.assertEqual(left, [])
        self.assertFalse(os.path.exists(os.path.join(prefix, "share/bannerlab")))

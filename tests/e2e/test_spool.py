"""The Maildir spool's hygiene (issue 11, item 7): a killed bannerd's
tmp/ files removed at start-up, a Maildir that cannot be written stopping
the start-up, and a full disk answered 452 4.3.1 with nothing in new/.

The read-only and disk-full cases need a file system of their own. They
run bannerd inside a private mount namespace (unshare --mount) where a
read-only bind mount or a 64 KiB tmpfs is mounted; the machine's own
mounts are never touched. Without unshare they are skipped."""
import os
import re
import shlex
import signal
import subprocess
import unittest
import unittest.mock

from harness import BannerdTest, Conversation, binary, free_port, run, tmpdir, wait_for

HOST = "mx.spool.test"


def tmp_name(pid, host=HOST, queue_id="00000000010000A"):
    return "1700000000.M000001P%dQ%s.%s" % (pid, queue_id, host)


def dead_pid():
    """The pid of a process that has exited and been reaped."""
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def touch(path):
    with open(path, "wb") as f:
        f.write(b"Subject: half\r\n")


def unshare_problem():
    """Why a private mount namespace cannot be had here, or None."""
    try:
        r = run(["unshare", "--mount", "--propagation", "private", "true"], timeout=10)
    except FileNotFoundError:
        return "unshare(1) is not installed"
    if r.returncode != 0:
        return "unshare --mount is not permitted here: " + r.stderr.decode().strip()
    return None


class NsBannerd:
    """bannerd in a private mount namespace, after SETUP (shell commands
    run in that namespace). unshare and sh exec, so the pid is bannerd's;
    /proc/PID/root shows the files as bannerd sees them."""

    def __init__(self, test, setup, overrides, wait_ready=True):
        self.dir = tmpdir(test, "bannerd-ns-")
        self.port = free_port()
        self.stderrpath = os.path.join(self.dir, "bannerd.stderr")
        cmd = [binary("bannerd"), "-f", "-o", "listen.address=127.0.0.1:%d" % self.port,
               "-o", "rdns.enabled=off", "-o", "server.shutdown_timeout=2s"]
        for o in overrides:
            cmd += ["-o", o]
        script = setup + " && exec " + " ".join(shlex.quote(a) for a in cmd)
        self.out = open(self.stderrpath, "wb")
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-ec", script],
            stdout=self.out, stderr=self.out, stdin=subprocess.DEVNULL)
        test.addCleanup(self.cleanup)
        if wait_ready:
            wait_for(self.ready, 10, "bannerd ready in the namespace")

    def text(self):
        with open(self.stderrpath, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("bannerd exited (%s):\n%s" % (self.proc.returncode, self.text()))
        return "ready to accept connections" in self.text()

    def seen(self, path):
        """PATH as bannerd sees it, inside its namespace."""
        return "/proc/%d/root%s" % (self.proc.pid, path)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(15)

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.out.close()


class SpoolStartupTest(BannerdTest):
    def test_dead_writers_tmp_files_are_removed_live_and_foreign_ones_stay(self):
        md = os.path.join(tmpdir(self), "md")
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(md, sub))
        gone = tmp_name(dead_pid())
        live = tmp_name(os.getpid())
        foreign = tmp_name(dead_pid(), host="other.host.test")
        other_agent = "1700000000.V801I2M3.%s" % HOST	# not our name format
        for name in (gone, live, foreign, other_agent):
            touch(os.path.join(md, "tmp", name))
        d = self.start("smtp.sink=maildir", "smtp.maildir=" + md, "banner.hostname=" + HOST)
        d.wait_log(r"maildir dir=\S+ removed_tmp=1\b")
        self.assertEqual(sorted(os.listdir(os.path.join(md, "tmp"))),
                         sorted([live, foreign, other_agent]))
        self.assertEqual(d.stop(), 0)

    def test_host_name_slash_and_colon_are_escaped_in_the_file_name(self):
        md = os.path.join(tmpdir(self), "md")
        d = self.start("smtp.sink=maildir", "smtp.maildir=" + md, "banner.hostname=a/b:c")
        c = self.greet(d)
        for line in ("HELO x", "MAIL FROM:<a@x.test>", "RCPT TO:<b@x.test>"):
            self.assertEqual(c.cmd(line)[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        self.assertEqual(c.cmd("Subject: s\r\n\r\nbody\r\n.")[0], 250)
        names = os.listdir(os.path.join(md, "new"))
        self.assertEqual(len(names), 1)
        self.assertRegex(names[0], r"^\d+\.M\d{6}P%dQ[0-9A-F]+\.a\\057b\\072c$" % d.proc.pid)
        self.assertEqual(d.stop(), 0)


    def test_queue_ids_of_two_processes_in_the_same_second_differ(self):
        # a restart after kill -9 is often within the second: the id
        # carries the pid (seconds, pid, counter; 19 hex digits)
        md = os.path.join(tmpdir(self), "md")
        ids = []
        for d in (self.start("smtp.sink=maildir", "smtp.maildir=" + md),
                  self.start("smtp.sink=maildir", "smtp.maildir=" + md)):
            c = self.greet(d)
            for line in ("HELO x", "MAIL FROM:<a@x.test>", "RCPT TO:<b@x.test>", "DATA"):
                c.cmd(line)
            code, lines = c.cmd("Subject: s\r\n\r\nbody\r\n.")
            self.assertEqual(code, 250, lines)
            m = re.fullmatch(r"250 2\.0\.0 Ok: queued as ([0-9A-F]{19})", lines[0])
            self.assertIsNotNone(m, lines)
            self.assertEqual(int(m.group(1)[8:14], 16), d.proc.pid & 0xffffff)
            ids.append(m.group(1))
        self.assertNotEqual(ids[0], ids[1])


class SpoolFileSystemTest(BannerdTest):
    def setUp(self):
        problem = unshare_problem()
        if problem:
            self.skipTest(problem)

    def test_read_only_maildir_stops_the_start_up_with_exit_1(self):
        md = os.path.join(tmpdir(self), "md")
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(md, sub))
        q = shlex.quote(md)
        # A read-only bind mount: as root, chmod 0555 would not stop us.
        setup = "mount --bind %s %s && mount -o remount,bind,ro %s %s" % (q, q, q, q)
        d = NsBannerd(self, setup, ["smtp.sink=maildir", "smtp.maildir=" + md], wait_ready=False)
        rc = d.proc.wait(15)
        self.assertEqual(rc, 1, d.text())
        self.assertIn("smtp.maildir: cannot write to %s/tmp: Read-only file system" % md,
                      d.text())
        self.assertNotIn("ready to accept connections", d.text())

    def test_disk_full_answers_452_4_3_1_and_leaves_nothing(self):
        mnt = tmpdir(self)
        md = mnt + "/md"
        setup = "mount -t tmpfs -o size=64k,mode=0700 tmpfs %s" % shlex.quote(mnt)
        d = NsBannerd(self, setup, ["smtp.sink=maildir", "smtp.maildir=" + md,
                                    "log.protocol_log=medium"])
        c = Conversation(__import__("socket").create_connection(("127.0.0.1", d.port), 10))
        self.addCleanup(c.sock.close)
        self.assertEqual(c.reply()[0], 220)
        for line in ("EHLO x", "MAIL FROM:<a@x.test>", "RCPT TO:<b@x.test>"):
            self.assertEqual(c.cmd(line)[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 200)	# 200 KB > 64 KiB
        code, lines = c.cmd(".")
        self.assertEqual((code, lines), (452, ["452 4.3.1 Insufficient system storage"]))
        self.assertEqual(os.listdir(d.seen(md + "/new")), [])
        self.assertEqual(os.listdir(d.seen(md + "/tmp")), [])
        # The session goes on: a small message still fits once the big one is gone.
        for line in ("MAIL FROM:<a@x.test>", "RCPT TO:<b@x.test>"):
            self.assertEqual(c.cmd(line)[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        self.assertEqual(c.cmd("Subject: small\r\n\r\nok\r\n.")[0], 250)
        self.assertEqual(len(os.listdir(d.seen(md + "/new"))), 1)
        self.assertRegex(d.text(), r"maildir write failed: No space left on device")
        self.assertEqual(c.cmd("QUIT")[0], 221)
        self.assertEqual(d.stop(), 0)


class SpoolFsyncTest(BannerdTest):
    """fsync failing (a test-only LD_PRELOAD shim, tests/shims/fail_fsync.c):
    451 4.3.0, nothing in new/ or tmp/, and the descriptor closed."""

    def setUp(self):
        self.shim = os.path.join(os.path.dirname(binary("bannerd")), "..", "tests", "shims",
                                 "fail_fsync.so")
        if not os.path.exists(self.shim):
            self.skipTest("the fsync shim is not built (make builds tests/shims/)")

    def test_failed_fsync_answers_451_and_closes_the_file(self):
        md = os.path.join(tmpdir(self), "md")
        env = {"LD_PRELOAD": os.path.abspath(self.shim),
               # ASan wants to be first; the shim only wraps fsync.
               "ASAN_OPTIONS": (os.environ.get("ASAN_OPTIONS", "") +
                                ":verify_asan_link_order=0").lstrip(":")}
        with unittest.mock.patch.dict(os.environ, env):
            d = self.start("smtp.sink=maildir", "smtp.maildir=" + md)
        c = self.greet(d)
        self.assertEqual(c.cmd("EHLO x")[0], 250)
        fds = len(os.listdir("/proc/%d/fd" % d.proc.pid))
        for i in range(5):
            for line in ("MAIL FROM:<a@x.test>", "RCPT TO:<b@x.test>"):
                self.assertEqual(c.cmd(line)[0], 250)
            self.assertEqual(c.cmd("DATA")[0], 354)
            self.assertEqual(c.cmd("Subject: %d\r\n\r\nbody\r\n." % i),
                             (451, ["451 4.3.0 Error: local error in processing"]))
        self.assertEqual(len(os.listdir("/proc/%d/fd" % d.proc.pid)), fds,
                         "a descriptor per failed fsync leaked")
        self.assertEqual(os.listdir(os.path.join(md, "new")), [])
        self.assertEqual(os.listdir(os.path.join(md, "tmp")), [])
        d.wait_log(r"maildir write failed: Input/output error", count=5)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main()

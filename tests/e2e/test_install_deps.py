"""scripts/install-deps is safe and works offline (issue 9, part 6).

- With nothing missing, install-deps, `make demo` and scripts/lab never
  call apt: a fake apt-get/apt-cache/apt that logs its calls and fails
  ("no network") is first on PATH, and the demo runs in a network
  namespace that has only loopback when the machine allows one.
- promtool belongs to the tests only (--test), clang to `make fuzz` only
  (--fuzz); the demo and the lab neither need nor fetch them.
- A running system Postfix is left alone: a real Postfix master started
  with the default paths (config /etc/postfix, pidfile
  /var/spool/postfix/pid/master.pid) inside a private mount namespace,
  where temporary folders are bind-mounted over /etc/postfix,
  /var/spool/postfix and /var/lib/postfix, stands in for it. install-deps
  and the ndr-postfix scenario run in the same namespace; the stand-in's
  PID must stay alive throughout, its config byte-identical, its port
  answering 220, and the scenario's private master must listen on nothing.
  The real machine's Postfix files are never touched.
"""
import hashlib
import os
import shutil
import socket
import subprocess
import threading
import unittest

from harness import BUILD, ROOT, free_port, tmpdir, wait_for

INSTALL_DEPS = os.path.join(ROOT, "scripts", "install-deps")
BASE = {"gcc", "make", "pkg-config", "libc6-dev", "libevent-dev", "libc-ares-dev",
        "libinih-dev", "curl", "python3", "gnuplot-nox", "procps", "iproute2",
        "man-db", "bind9-dnsutils"}
TEST_ONLY = {"check", "swaks", "mandoc", "haproxy", "chromium", "chromium-driver",
             "python3-selenium"}
FUZZ_ONLY = {"clang", "libclang-rt-dev"}
BENCH_ONLY = {"python3-aiosmtpd", "strace"}
POSTFIX_MASTER = "/usr/lib/postfix/sbin/master"


def fake_apt(test):
    """A folder with apt-get, apt-cache and apt that log each call to
    calls.log, print "no network" and exit 100; returns (folder, log)."""
    d = tmpdir(test, "fake-apt-")
    log = os.path.join(d, "calls.log")
    open(log, "w").close()
    for name in ("apt-get", "apt-cache", "apt"):
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write('#!/bin/sh\nprintf "%%s %%s\\n" %s "$*" >>%s\necho "no network" >&2\nexit 100\n'
                    % (name, log))
        os.chmod(path, 0o755)
    return d, log


def read(path):
    with open(path) as f:
        return f.read()


def clean_env(**extra):
    """The environment without a parent make's flags (jobserver, -k...)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env.update(extra)
    return env


def missing(*flags, env=None, script=INSTALL_DEPS):
    r = subprocess.run([script, "--missing"] + list(flags), capture_output=True, text=True,
                       timeout=60, env=env)
    if r.returncode != 0:
        raise AssertionError("install-deps --missing %s failed: %s" % (" ".join(flags), r.stderr))
    return [l for l in r.stdout.splitlines() if l.strip()]


def copy_of_install_deps(test):
    """scripts/install-deps in a tree of its own, so that .deps/ there is
    empty: what it would fetch shows, without touching the real .deps/."""
    top = tmpdir(test, "install-deps-tree-")
    os.mkdir(os.path.join(top, "scripts"))
    path = os.path.join(top, "scripts", "install-deps")
    shutil.copy2(INSTALL_DEPS, path)
    return top, path


def can_unshare(*flags):
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return "needs root and unshare(1)"
    r = subprocess.run(["unshare"] + list(flags) + ["true"], capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        return "unshare %s is not permitted here: %s" % (" ".join(flags), r.stderr.strip())
    return None


class InstallDepsSplit(unittest.TestCase):
    """What each mode installs, seen through --missing with a dpkg-query
    that reports nothing installed."""

    def sets(self):
        d = tmpdir(self, "fake-dpkg-")
        with open(os.path.join(d, "dpkg-query"), "w") as f:
            f.write("#!/bin/sh\nexit 1\n")
        os.chmod(os.path.join(d, "dpkg-query"), 0o755)
        apt_dir, log = fake_apt(self)
        top, script = copy_of_install_deps(self)
        env = dict(os.environ, PATH=d + ":" + apt_dir + ":" + os.environ["PATH"])
        out = {}
        for mode in ((), ("--test",), ("--fuzz",), ("--bench",)):
            out[mode] = set(l.split()[0] for l in missing(*mode, env=env, script=script))
        self.assertEqual(read(log), "", "--missing called apt")
        return out

    def test_demo_set_has_docs_tools_and_no_test_or_fuzz_extras(self):
        s = self.sets()
        plain = s[()]
        self.assertTrue(BASE <= plain, "missing from the demo/lab set: %s" % (BASE - plain))
        extras = TEST_ONLY | FUZZ_ONLY | BENCH_ONLY | {"promtool"}
        self.assertFalse(plain & extras, "test/fuzz/bench extras in the demo/lab set: %s" % (plain & extras))

    def test_test_set_adds_check_tools_and_promtool_only(self):
        s = self.sets()
        self.assertTrue(TEST_ONLY <= s[("--test",)], s[("--test",)])
        if not shutil.which("promtool"):
            self.assertIn("promtool", s[("--test",)])
        self.assertFalse(s[("--test",)] & FUZZ_ONLY)

    def test_bench_set_adds_aiosmtpd_and_strace_only(self):
        s = self.sets()
        self.assertTrue(BENCH_ONLY <= s[("--bench",)], s[("--bench",)])
        self.assertFalse(s[("--bench",)] & (TEST_ONLY | FUZZ_ONLY | {"promtool"}))
        # smtp-sink, the bench's other peer, comes with postfix, as for the lab
        self.assertEqual(s[("--bench",)] - BENCH_ONLY, s[()])

    def test_fuzz_set_adds_clang_and_libfuzzer(self):
        s = self.sets()
        self.assertTrue(FUZZ_ONLY <= s[("--fuzz",)], s[("--fuzz",)])
        self.assertFalse(s[("--fuzz",)] & (TEST_ONLY | {"promtool"}))

    def test_every_package_name_exists_in_the_archive(self):
        """apt-cache reads the local lists: no network."""
        names = sorted(BASE | TEST_ONLY | FUZZ_ONLY | BENCH_ONLY | {"postfix", "prometheus"})
        r = subprocess.run(["apt-cache", "policy"] + names, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        known = {}
        name = None
        for line in r.stdout.splitlines():
            if line and not line.startswith(" "):
                name = line.rstrip(":")
            elif name and line.strip().startswith("Candidate:"):
                known[name] = line.split(":", 1)[1].strip()
        for n in names:
            self.assertIn(n, known, "apt-cache policy does not know %s" % n)
            self.assertNotEqual(known[n], "(none)", "%s has no candidate version here" % n)


class InstallDepsOffline(unittest.TestCase):
    def nothing_missing(self, *flags):
        m = missing(*flags)
        if m:
            self.skipTest("install-deps %s would rightly install %s first" % (" ".join(flags), ", ".join(m)))

    def test_nothing_missing_means_no_apt_call(self):
        self.nothing_missing("--test")
        apt_dir, log = fake_apt(self)
        env = dict(os.environ, PATH=apt_dir + ":" + os.environ["PATH"])
        for flags in ([], ["--test"]):
            r = subprocess.run([INSTALL_DEPS] + flags, capture_output=True, text=True, timeout=120, env=env)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual(read(log), "", "install-deps %s called apt with nothing missing" % flags)

    def test_demo_mode_neither_needs_nor_fetches_promtool(self):
        self.nothing_missing()
        apt_dir, log = fake_apt(self)
        if shutil.which("promtool"):
            self.skipTest("a promtool is on PATH (%s): cannot show what happens without one"
                          % shutil.which("promtool"))
        top, script = copy_of_install_deps(self)
        env = dict(os.environ, PATH=apt_dir + ":" + os.environ["PATH"])
        r = subprocess.run([script], capture_output=True, text=True, timeout=120, env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(read(log), "", "install-deps (demo/lab) called apt")
        self.assertFalse(os.path.exists(os.path.join(top, ".deps")))
        # the tests do want it: --test fetches it, and says so when it cannot
        self.assertIn("promtool", "\n".join(missing("--test", env=env, script=script)))
        r = subprocess.run([script, "--test"], capture_output=True, text=True, timeout=120, env=env)
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("cannot download the prometheus package", r.stderr)
        self.assertIn("apt-get download prometheus", read(log))

    def test_promtool_on_path_is_used_not_fetched(self):
        self.nothing_missing()
        apt_dir, log = fake_apt(self)
        with open(os.path.join(apt_dir, "promtool"), "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        os.chmod(os.path.join(apt_dir, "promtool"), 0o755)
        top, script = copy_of_install_deps(self)
        env = dict(os.environ, PATH=apt_dir + ":" + os.environ["PATH"])
        self.assertEqual(missing("--test", env=env, script=script), [])
        r = subprocess.run([script, "--test"], capture_output=True, text=True, timeout=120, env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(read(log), "")
        self.assertFalse(os.path.exists(os.path.join(top, ".deps")))

    def test_make_demo_runs_offline(self):
        """`make demo` (one short scenario) with apt failing, in a network
        namespace with only loopback when one can be made."""
        self.nothing_missing()
        apt_dir, log = fake_apt(self)
        results = tmpdir(self, "demo-results-")
        make = ["make", "--no-print-directory", "demo"]
        if os.path.basename(BUILD) == "build-san":
            make.append("SANITIZE=1")
        env = clean_env(PATH=apt_dir + ":" + os.environ["PATH"], LAB_RESULTS=results,
                        DEMO_SCENARIOS="baseline", DEMO_SCALE="0.05")
        cmd = make
        why_not = can_unshare("--net")
        if why_not is None:
            cmd = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"] + make
        else:
            print("(make demo runs in the machine's network namespace: %s)" % why_not)
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
        self.assertEqual(r.returncode, 0, r.stdout[-4000:] + r.stderr[-4000:])
        self.assertEqual(read(log), "", "make demo called apt:\n" + read(log))
        # the side-by-side row: scenario, p50, p99, gave up
        self.assertRegex(r.stdout, r"(?m)^baseline +\S+ +\S+ +0% ")
        self.assertTrue(os.path.exists(os.path.join(results, "baseline", "figures")))


# ---- a running "system" Postfix -------------------------------------------

def greeting(port, timeout=5):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.settimeout(timeout)
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(1024)
            if not chunk:
                break
            data += chunk
        try:
            s.sendall(b"QUIT\r\n")
        except OSError:
            pass
        return data.split(b"\r\n")[0].decode("latin-1")


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def pid_in(pidfile):
    try:
        digits = "".join(c for c in read(pidfile) if c.isdigit())
    except FileNotFoundError:
        return None
    return int(digits) if digits else None


def listening(pid):
    """The (protocol, port) a process listens on, from its own socket
    descriptors and the kernel's socket tables."""
    inodes = set()
    fds = "/proc/%d/fd" % pid
    for fd in os.listdir(fds):
        try:
            link = os.readlink(os.path.join(fds, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    found = []
    for proto, state in (("tcp", "0A"), ("tcp6", "0A"), ("udp", "07"), ("udp6", "07")):
        try:
            lines = read("/proc/%d/net/%s" % (pid, proto)).splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            f = line.split()
            port = int(f[1].rsplit(":", 1)[1], 16)
            if f[9] in inodes and f[3] == state and port:
                found.append((proto, port))
    return found


def tree_digest(top):
    out = {}
    for d, _, files in os.walk(top):
        for n in files:
            p = os.path.join(d, n)
            if os.path.islink(p):
                out[os.path.relpath(p, top)] = "-> " + os.readlink(p)
            else:
                with open(p, "rb") as f:
                    out[os.path.relpath(p, top)] = hashlib.sha256(f.read()).hexdigest()
    return out


class Watch(threading.Thread):
    """Samples, until stopped: the system master alive with the same PID
    in its pidfile, and every other Postfix master of the namespace with
    what it listens on."""

    def __init__(self, pid, pidfile, ns):
        super().__init__(daemon=True)
        self.pid, self.pidfile, self.ns = pid, pidfile, ns
        self.problems = []
        self.others = {}
        self.samples = 0
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            self.sample()
            self.done.wait(0.02)
        self.sample()

    def sample(self):
        self.samples += 1
        problem = None
        if not alive(self.pid):
            problem = "the system master (pid %d) is gone" % self.pid
            self.done.set()
        elif pid_in(self.pidfile) != self.pid:
            problem = "the system pidfile says %r" % pid_in(self.pidfile)
        if problem and problem not in self.problems:
            self.problems.append(problem)
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == self.pid:
                continue
            p = int(entry)
            try:
                if os.readlink("/proc/%d/exe" % p) != POSTFIX_MASTER:
                    continue
                if os.readlink("/proc/%d/ns/mnt" % p) != self.ns:
                    continue
                socks = listening(p)
            except OSError:
                continue
            self.others.setdefault(p, set()).update(socks)


@unittest.skipUnless(os.geteuid() == 0, "needs root (a Postfix master and a mount namespace)")
class SystemPostfixLeftAlone(unittest.TestCase):
    def setUp(self):
        for tool in ("postfix", "postconf", "nsenter", "mount"):
            if not shutil.which(tool):
                self.skipTest("no %s" % tool)
        if not os.path.exists(POSTFIX_MASTER):
            self.skipTest("no %s" % POSTFIX_MASTER)
        why_not = can_unshare("--mount", "--propagation", "private")
        if why_not:
            self.skipTest(why_not)
        if not os.path.exists(os.path.join(BUILD, "bin", "bannerd")):
            self.skipTest("no %s/bin/bannerd: run make" % BUILD)

    def start_system_master(self):
        s = tmpdir(self, "system-postfix-")
        os.chmod(s, 0o755)
        self.etc, spool, lib = (os.path.join(s, n) for n in ("etc", "spool", "lib"))
        for d in (self.etc, spool, lib):
            os.mkdir(d, 0o755)
        shutil.chown(lib, "postfix", "postfix")
        # the package's files as they are (read only), with a config of its own
        r = subprocess.run(["cp", "-a", "/etc/postfix/.", self.etc + "/"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        for n in ("main.cf", "master.cf"):
            if os.path.exists(os.path.join(self.etc, n)):
                os.unlink(os.path.join(self.etc, n))
        shutil.copy("/usr/share/postfix/master.cf.dist" if os.path.exists("/usr/share/postfix/master.cf.dist")
                    else "/etc/postfix/master.cf", os.path.join(self.etc, "master.cf"))
        self.port = free_port()
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write("compatibility_level = 3.6\nmyhostname = system.lab.test\nmydestination =\n"
                    "inet_interfaces = 127.0.0.1\ninet_protocols = ipv4\n"
                    "alias_maps =\nalias_database =\nbiff = no\nsmtputf8_enable = no\n"
                    "maillog_file = /var/lib/postfix/maillog\n")
        for args in (["-MX", "smtp/inet"],
                     ["-M", "127.0.0.1:%d/inet = 127.0.0.1:%d inet n - n - - smtpd" % (self.port, self.port)],
                     ["-F", "*/*/chroot = n"]):
            r = subprocess.run(["postconf", "-c", self.etc] + args, capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
        self.pidfile = os.path.join(spool, "pid", "master.pid")
        self.maillog = os.path.join(lib, "maillog")
        self.pid = None
        self.addCleanup(self.stop_system_master)
        script = ("set -e; mount --bind \"$1\" /etc/postfix; mount --bind \"$2\" /var/spool/postfix; "
                  "mount --bind \"$3\" /var/lib/postfix; exec postfix start")
        r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                            self.etc, spool, lib], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, "the stand-in system Postfix did not start: %s%s"
                         % (r.stdout, r.stderr))
        self.pid = wait_for(lambda: (lambda p: p if p and alive(p) else None)(pid_in(self.pidfile)),
                            10, "the stand-in master's pidfile")

        def answers():
            try:
                return greeting(self.port)
            except OSError:
                return None
        line = wait_for(answers, 15, "the stand-in master's port", interval=0.05)
        self.assertTrue(line.startswith("220 system.lab.test"), line)
        self.ns = os.readlink("/proc/%d/ns/mnt" % self.pid)
        self.assertNotEqual(self.ns, os.readlink("/proc/self/ns/mnt"))

    def stop_system_master(self):
        pid = self.pid or pid_in(self.pidfile)
        if not pid or not alive(pid):
            return
        try:
            if os.readlink("/proc/%d/exe" % pid) != POSTFIX_MASTER:
                return
        except OSError:
            return
        os.kill(pid, 15)
        try:
            wait_for(lambda: not alive(pid), 15, "the stand-in master to stop", interval=0.05)
        except AssertionError:
            os.kill(pid, 9)

    def stop_leftovers(self, watch):
        """A private master the lab failed to stop (the test then fails):
        stopped here by its PID, so that the namespace goes away."""
        for pid in watch.others:
            try:
                if alive(pid) and os.readlink("/proc/%d/exe" % pid) == POSTFIX_MASTER:
                    os.kill(pid, 15)
            except OSError:
                pass

    def in_namespace(self, cmd, env, timeout):
        self.assertTrue(alive(self.pid), "the stand-in system master (pid %d) is gone: something stopped it"
                        % self.pid)
        return subprocess.run(["nsenter", "--target", str(self.pid), "--mount", "--",
                               "sh", "-c", 'cd "$0" && exec "$@"', ROOT] + cmd,
                              capture_output=True, text=True, timeout=timeout, env=env)

    def test_install_deps_and_the_lab_leave_a_running_system_master_alone(self):
        self.start_system_master()
        before = tree_digest(self.etc)
        self.assertIn(("tcp", self.port), listening(self.pid), "the port check sees nothing")
        apt_dir, log = fake_apt(self)
        env = dict(os.environ, PATH=apt_dir + ":" + os.environ["PATH"])
        # as the lab sees it: the default paths are the stand-in's
        r = self.in_namespace(["sh", "-c", "cat /var/spool/postfix/pid/master.pid; postconf -h config_directory"],
                              env, 30)
        self.assertEqual(r.stdout.split(), [str(self.pid), "/etc/postfix"], r.stderr)
        r = self.in_namespace([INSTALL_DEPS, "--missing"], env, 60)
        if r.stdout.strip():
            self.skipTest("install-deps would install %s first" % r.stdout.split())

        watch = Watch(self.pid, self.pidfile, self.ns)
        self.addCleanup(self.stop_leftovers, watch)
        watch.start()
        try:
            for flags in ([], ["--test"]):
                r = self.in_namespace([INSTALL_DEPS] + flags, env, 300)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertNotIn("stopping", r.stdout + r.stderr)
            results = tmpdir(self, "lab-results-")
            lab_env = dict(env, LAB_RESULTS=results, LAB_ONLY="ndr-postfix", BUILD=os.path.relpath(BUILD, ROOT))
            r = self.in_namespace(["scripts/lab", "check", "--quick"], lab_env, 300)
        finally:
            watch.done.set()
            watch.join(10)
        out = os.path.join(results, "ndr-postfix.out")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + (read(out)[-3000:] if os.path.exists(out) else ""))
        self.assertRegex(r.stdout, r"(?m)^PASS ndr-postfix")
        self.assertEqual(read(log), "", "apt was called")

        # the system master: same PID, alive all along, same config, answering
        self.assertEqual(watch.problems, [], "after %d samples" % watch.samples)
        self.assertTrue(alive(self.pid))
        self.assertEqual(pid_in(self.pidfile), self.pid)
        self.assertEqual(tree_digest(self.etc), before, "the system config changed")
        self.assertTrue(greeting(self.port).startswith("220 system.lab.test"))
        self.assertNotIn("stopping the Postfix mail system", read(self.maillog))

        # the lab's private master: seen, other than the system's, on no port, stopped
        self.assertTrue(watch.others, "the lab's private master was never seen (%d samples)" % watch.samples)
        for pid, socks in watch.others.items():
            self.assertEqual(socks, set(), "the private master %d listened" % pid)
            self.assertFalse(alive(pid), "the private master %d outlived the lab" % pid)
        inst = dict(l.split(" ", 1) for l in read(os.path.join(results, "ndr-postfix",
                                                                   "postfix-instance.txt")).splitlines())
        self.assertEqual(inst["system_master_pid"], str(self.pid))
        self.assertEqual(inst["system_config_directory"], "/etc/postfix")
        self.assertEqual(inst["system_queue_directory"], "/var/spool/postfix")
        self.assertIn(int(inst["master_pid"]), watch.others)
        self.assertEqual(inst["listening"], "none")
        for key in ("config_directory", "queue_directory", "data_directory"):
            self.assertNotEqual(inst[key], inst["system_" + key])
            self.assertTrue(inst[key].startswith("/tmp/bannerlab."), inst[key])
        print("(system master pid %d on 127.0.0.1:%d, alive in %d samples; private master(s) %s on no port)"
              % (self.pid, self.port, watch.samples, sorted(watch.others)))


if __name__ == "__main__":
    unittest.main()

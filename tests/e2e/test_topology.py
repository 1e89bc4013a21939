"""The topology scenarios (issue 13): hosts in network namespaces, an
nftables packet filter on the router between them. bannerd, slowdns and
smtpprobe run unchanged on the hosts' own addresses; the kernel drops the
packets. Each test proves that nothing is left behind: the machine's
namespaces, links and nftables tables are the same before and after, and
no process of the run is left."""
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import ROOT, group_processes, wait_for

LAB = os.path.join(ROOT, "scripts", "lab")
TOPOLOGY = ("firewall-syn", "firewall-retransmit", "dns-filtered", "ndr-postfix-path", "ident-dropped")


def can_run_postfix():
    """ndr-postfix-path's private Postfix needs real root (and the
    package): without, the lab skips it."""
    return os.geteuid() == 0 and os.path.exists("/usr/sbin/postfix")


def machine_network():
    """What the lab must never leave on the machine: its named network
    namespaces, its links and its nftables tables."""
    def out(*cmd):
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return r.stdout
    links = sorted(line.split()[0] for line in out("ip", "-br", "link").splitlines() if line.strip())
    return {"netns": out("ip", "netns", "list"), "links": links, "nft": out("nft", "list", "tables")}


def unavailable():
    """The lab's own answer (scripts/labnet.sh net_unavailable)."""
    r = subprocess.run([LAB, "_net_unavailable"], cwd=ROOT, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


@unittest.skipIf(unavailable(), "the topology cannot run here: %s" % unavailable())
class TopologyTest(unittest.TestCase):
    def setUp(self):
        self.results = tempfile.mkdtemp(prefix="bannerlab-net-")
        os.chmod(self.results, 0o777)
        self.before = machine_network()
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        subprocess.run(["rm", "-rf", self.results])

    def assert_nothing_left(self, pgid=None):
        if pgid is not None:
            wait_for(lambda: not group_processes(pgid) or None, 10, "every process of the run to end",
                     interval=0.05)
        # the kernel frees a namespace once its last process is gone
        wait_for(lambda: machine_network() == self.before or None, 10,
                 "the machine's namespaces, links and nftables tables as before")
        self.assertFalse(os.path.exists(os.path.join(self.results, ".topology")))

    def lab(self, *args, env=None, timeout=240, user=None):
        e = dict(os.environ, LAB_RESULTS=self.results)
        e.update(env or {})
        cmd = [LAB, *args]
        if user is not None:
            cmd = ["setpriv", "--reuid=%d" % user.pw_uid, "--regid=%d" % user.pw_gid,
                   "--clear-groups", "--"] + cmd
            e["HOME"] = self.results
        return subprocess.run(cmd, cwd=ROOT, env=e, timeout=timeout, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)

    def test_check_quick_passes_every_topology_scenario(self):
        r = self.lab("check", "--quick", env={"LAB_ONLY": " ".join(TOPOLOGY)})
        self.assertEqual(r.returncode, 0, r.stdout)
        for n in TOPOLOGY:
            if n == "ndr-postfix-path" and not can_run_postfix():
                self.assertRegex(r.stdout, r"(?m)^(PASS ndr-postfix-path \(|SKIP ndr-postfix-path: )")
                continue
            self.assertIn("PASS %s (" % n, r.stdout)
        self.assertIn("cause path -> lever path", r.stdout)
        # the two-sided table: the sender's connect held a second, the
        # filter's and the mail host's own were prompt
        with open(os.path.join(self.results, "firewall-syn", "pathtest.json")) as f:
            pt = json.load(f)
        self.assertEqual(pt["hop"], "sender-filter", pt)
        with open(os.path.join(self.results, "dns-filtered", "pathtest.json")) as f:
            self.assertEqual(json.load(f)["hop"], "mail")
        # what the kernel did: the filter's counters, bannerd's own times
        with open(os.path.join(self.results, "firewall-syn", "filter.nft")) as f:
            self.assertIn("syn4_2", f.read())		# the profile switched mid-run
        with open(os.path.join(self.results, "firewall-retransmit", "bannerd.log")) as f:
            log = f.read()
        self.assertIn("peer=198.51.100.10:", log)	# routed, not NATed
        if can_run_postfix():
            self.check_postfix_path()
        self.assert_nothing_left()

    def check_postfix_path(self):
        """ndr-postfix-path: a real Postfix on the sender host, its 220s
        dropped by the filter, bounced, then delivered once the filter
        went; its master gone with the run."""
        out = os.path.join(self.results, "ndr-postfix-path")
        with open(os.path.join(out, "summary.json")) as f:
            s = json.load(f)
        self.assertEqual((s["cause_part"], s["lever"]), ("path", "path"), s["verdict"])
        self.assertIn("left without a word", s["verdict"])
        fig = s["figures"]
        self.assertEqual(fig["postfix.relay"], "203.0.113.25")
        self.assertEqual(fig["bannerd.peers"], "198.51.100.10")
        self.assertGreaterEqual(fig["greeting_timeouts"], 2)
        self.assertEqual(fig["delivered_after_fix"], 1)
        with open(os.path.join(out, "postfix-instance.txt")) as f:
            inst = dict(line.rstrip("\n").split(" ", 1) for line in f if " " in line)
        self.assertTrue(inst["master_started_with"].endswith(".sender"), inst)
        self.assertEqual(inst["listening"], "none")
        pid = int(inst["master_pid"])
        wait_for(lambda: not os.path.exists("/proc/%d" % pid) or None, 10, "the private Postfix master to end")

    @unittest.skipIf(os.geteuid() != 0, "needs root to become another user")
    def test_runs_without_root_through_a_user_namespace(self):
        nobody = pwd.getpwnam("nobody")
        # the build and the scripts must be readable by nobody
        probe = subprocess.run(["setpriv", "--reuid=%d" % nobody.pw_uid, "--regid=%d" % nobody.pw_gid,
                                "--clear-groups", "--", "unshare", "--user", "--map-root-user", "--net",
                                "--mount", "test", "-x", os.path.join(ROOT, "build", "bin", "bannerd")])
        if probe.returncode != 0:
            self.skipTest("no user namespaces for nobody here, or the tree is not readable by nobody")
        r = self.lab("run", "firewall-retransmit", "--quick", user=nobody)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("expectations: ", r.stdout)
        self.assertNotIn("FAIL", r.stdout)
        st = os.stat(os.path.join(self.results, "firewall-retransmit", "summary.json"))
        self.assertEqual(st.st_uid, nobody.pw_uid)	# the user's own files, not root's
        # root in the sandbox's user namespace is not root enough for a
        # private Postfix (its queue belongs to the postfix user)
        r = self.lab("check", "--quick", env={"LAB_ONLY": "ndr-postfix-path"}, user=nobody)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("SKIP ndr-postfix-path: a private Postfix instance needs root", r.stdout)
        self.assert_nothing_left()

    def test_skips_cleanly_without_the_tools(self):
        # a PATH with no nft (and nothing else of the network's)
        bindir = tempfile.mkdtemp(prefix="bannerlab-path-", dir=self.results)
        for tool in ("sh", "python3", "awk", "sed", "grep", "mkdir", "cat", "tee", "date", "mktemp",
                     "rm", "flock", "sleep", "dirname", "id", "tr", "head", "tail", "env", "kill"):
            path = shutil.which(tool)
            if path:
                os.symlink(path, os.path.join(bindir, tool))
        r = self.lab("check", "--quick", env={"LAB_ONLY": "firewall-syn", "PATH": bindir})
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertRegex(r.stdout, r"SKIP firewall-syn: no ip\b|SKIP firewall-syn: no nft\b")
        self.assertIn("0 failed, 1 skipped", r.stdout)

    def test_topology_shell_filter_and_pathtest(self):
        e = dict(os.environ, LAB_RESULTS=self.results)
        p = subprocess.Popen([LAB, "topology"], cwd=ROOT, env=e, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.procs.append(p)
        lines = []

        def up():
            line = p.stdout.readline()
            lines.append(line)
            return "Ctrl-C here takes it all down" in line or p.poll() is not None or None
        wait_for(up, 60, "the topology to come up")
        self.assertIsNone(p.poll(), "".join(lines))

        # a real client across the filter: swaks on the sender, a whole
        # dialogue with bannerd on the mail host
        r = subprocess.run(
            [LAB, "shell", "sender"], cwd=ROOT, env=e, timeout=60, text=True,
            input="ip -br addr show s0\nswaks --server 203.0.113.25 --from a@lab.test "
                  "--to postmaster@lab.test --quit-after RCPT 2>&1\nexit\n",
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.assertIn("198.51.100.10/24", r.stdout)
        self.assertIn("<-  220 ", r.stdout)
        self.assertRegex(r.stdout, r"<-  250 .*\n[\s\S]*RCPT TO:<postmaster@lab.test>\n<-  250 ")

        r = self.lab("pathtest", "3", timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("no hop", r.stdout)

        # as a trainer types it, relative to the checkout
        r = subprocess.run(["scripts/lab", "filter", "syn-drop", "1"], cwd=ROOT, env=e, timeout=60,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.assertEqual(r.returncode, 0, r.stdout)
        t0 = time.monotonic()
        r = self.lab("pathtest", "3", timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("between sender and filter", r.stdout)
        self.assertGreater(time.monotonic() - t0, 0.9)	# the SYN resent after 1 s

        r = self.lab("filter", "no-such-profile", timeout=60)
        self.assertEqual(r.returncode, 2, r.stdout)
        self.assertIn("no filter profile 'no-such-profile'", r.stdout)

        os.killpg(p.pid, signal.SIGINT)
        p.communicate(timeout=30)
        self.assert_nothing_left(p.pid)
        r = self.lab("shell", "mail", timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no topology running", r.stdout)


if __name__ == "__main__":
    unittest.main()

"""bannerd that cannot bind its address says why and what to do: a port
below 1024 without the privilege for it, a port another process holds, an
address listed twice. Each is a start-up failure: exit 1."""
import os
import pwd
import socket
import subprocess
import unittest

from harness import binary, run, tmpdir


def unprivileged_port_start():
    try:
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
            return int(f.read())
    except OSError:
        return 1024


def has_net_bind_service():
    with open("/proc/self/status") as f:
        eff = [l.split()[1] for l in f if l.startswith("CapEff:")][0]
    return bool(int(eff, 16) & (1 << 10))   # CAP_NET_BIND_SERVICE


def bannerd(*overrides, **kw):
    argv = [binary("bannerd"), "-f", "-o", "rdns.enabled=off"]
    for o in overrides:
        argv += ["-o", o]
    return run(argv, timeout=10, **kw)


class BindErrorTest(unittest.TestCase):
    def test_privileged_port_without_the_privilege(self):
        first = unprivileged_port_start()
        if first == 0:
            self.skipTest("net.ipv4.ip_unprivileged_port_start is 0: every port is free to bind")
        preexec = None
        if os.getuid() == 0:
            # Root may bind anything: try as nobody, as an operator who
            # forgot sudo would.
            nobody = pwd.getpwnam("nobody")
            def preexec():
                os.setgroups([])
                os.setgid(nobody.pw_gid)
                os.setuid(nobody.pw_uid)
        elif has_net_bind_service():
            self.skipTest("this process holds CAP_NET_BIND_SERVICE")
        port = first - 1
        try:
            r = bannerd("listen.address=127.0.0.1:%d" % port, preexec_fn=preexec)
        except PermissionError:
            self.skipTest("nobody cannot run %s (a parent folder is closed to it)" % binary("bannerd"))
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 1, err)
        self.assertIn("cannot bind 127.0.0.1:%d: Permission denied" % port, err)
        self.assertIn("a port below %d needs root or the CAP_NET_BIND_SERVICE capability" % first, err)
        self.assertIn("choose a port >= %d" % first, err)

    def test_port_held_by_another_process(self):
        busy = socket.socket()
        self.addCleanup(busy.close)
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        log = os.path.join(tmpdir(self), "b.log")
        r = bannerd("listen.address=127.0.0.1:%d" % port, "log.target=" + log)
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 1, err)
        # said on stderr even though the log goes to a file, and logged too
        self.assertIn("cannot bind 127.0.0.1:%d: Address already in use: another process holds "
                      "127.0.0.1:%d (see which: ss -ltnp 'sport = :%d')" % (port, port, port), err)
        self.assertIn("another process holds", open(log).read())

    def test_address_listed_twice(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        r = bannerd("listen.address=127.0.0.1:%d, 127.0.0.1:%d" % (port, port))
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 1, err)
        self.assertIn("it overlaps 127.0.0.1:%d, listed before it in listen.address" % port, err)
        self.assertNotIn("another process", err)


if __name__ == "__main__":
    unittest.main()

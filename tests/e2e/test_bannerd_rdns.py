"""The reverse-DNS stage against slowdns: each DNS fault shows up in the
banner time and the protocol log, lookups run in parallel, and a client
that leaves mid-lookup is handled cleanly."""
import os
import re
import resource
import selectors
import socket
import subprocess
import time

from harness import (TIME_SCALE, BannerdTest, Conversation, Slowdns, burst, duration_us, tmpdir,
                     wait_for)


def timed_banner(d):
    t0 = time.monotonic()
    c = Conversation(d.connect())
    code, lines = c.reply(timeout=20)
    return code, lines, time.monotonic() - t0, c


class RdnsTest(BannerdTest):
    def rdns_daemon(self, dns, *extra, **kw):
        return self.start("rdns.servers=" + dns.address, "rdns.enabled=auto",
                          "log.protocol_log=minimum", *extra, **kw)

    def test_delay_is_the_banner_time_and_the_name_is_logged(self):
        dns = Slowdns(self, "--delay", "300ms")
        d = self.rdns_daemon(dns)
        code, _, elapsed, c = timed_banner(d)
        self.assertEqual(code, 220)
        self.assertTrue(0.25 <= elapsed < 3, elapsed)
        c.cmd("QUIT")
        r = d.wait_event("rdns")[0]
        self.assertEqual((r["result"], r["name"]), ("ok", "host-127-0-0-1.lab.test"))
        close = d.wait_event("close")[0]
        self.assertGreaterEqual(duration_us(close["rdns"]), 250000)
        self.assertEqual(close["client"], "host-127-0-0-1.lab.test")
        self.assertEqual(len(dns.queries("PTR")), 1)

    def test_several_ptr_records_the_first_is_used(self):
        zone = os.path.join(tmpdir(self, "zone-"), "lab.zone")
        with open(zone, "w") as f:
            f.write("127.0.0.1 first.lab.test\n127.0.0.1 second.lab.test\n"
                    "127.0.0.1 third.lab.test\n")
        dns = Slowdns(self, "--zone", zone)
        d = self.rdns_daemon(dns)
        self.assertEqual(timed_banner(d)[0], 220)
        self.assertEqual(d.wait_event("rdns")[0]["name"], "first.lab.test")
        d.stop()
        self.assertEqual(d.events("close")[0]["client"], "first.lab.test")

    def private_resolv_conf(self, text):
        """A wrapper running bannerd with text bind-mounted over
        /etc/resolv.conf in a private mount namespace (c-ares reads
        that fixed path), or a skip saying why it cannot."""
        path = os.path.join(tmpdir(self, "resolv-"), "resolv.conf")
        with open(path, "w") as f:
            f.write(text)
        prefix = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                  'mount --bind "$0" /etc/resolv.conf && exec "$@"', path]
        probe = subprocess.run(prefix + ["cat", "/etc/resolv.conf"], capture_output=True, text=True)
        if probe.returncode != 0 or probe.stdout != text:
            self.skipTest("cannot bind-mount over /etc/resolv.conf in a private mount "
                          "namespace (unshare --mount needs CAP_SYS_ADMIN): %s"
                          % (probe.stderr.strip() or probe.returncode))
        return prefix

    def test_startup_names_servers_from_resolv_conf(self):
        wrapper = self.private_resolv_conf("nameserver 127.0.0.9\nnameserver ::1\n")
        d = self.start("rdns.enabled=on", wrapper=wrapper)
        d.wait_log(r"servers 127\.0\.0\.9:53,\[::1\]:53 \(from resolv\.conf\);.* = 2 server\(s\)")
        self.assertNotIn("falls back", d.log_text())

    def test_startup_warns_of_the_c_ares_loopback_fallback(self):
        wrapper = self.private_resolv_conf("search lab.test\noptions ndots:1\n")
        d = self.start("rdns.enabled=on", wrapper=wrapper)
        d.wait_log(r"warning: /etc/resolv\.conf names no nameserver and rdns\.servers is empty: "
                   r"c-ares falls back to 127\.0\.0\.1:53")
        d.wait_log(r"servers 127\.0\.0\.1:53 \(c-ares fallback\)")
        # with rdns.servers set, no warning whatever resolv.conf says
        d.stop()
        dns = Slowdns(self)
        d = self.start("rdns.enabled=on", "rdns.servers=" + dns.address, wrapper=wrapper)
        d.wait_log(r"servers %s \(rdns\.servers\)" % re.escape(dns.address))
        self.assertNotIn("falls back", d.log_text())

    def test_unconfirmed_ok_says_confirmed_no(self):
        # forward_confirm = off: the PTR name is a claim, and the logs say so
        dns = Slowdns(self)
        d = self.rdns_daemon(dns, "rdns.forward_confirm=off")
        self.assertEqual(timed_banner(d)[0], 220)
        r = d.wait_event("rdns")[0]
        self.assertEqual((r["result"], r["confirmed"]), ("ok", "no"))
        d.stop()
        close = d.events("close")[0]
        self.assertEqual((close["rdns_result"], close["confirmed"]), ("ok", "no"))
        self.assertEqual(close["client"], "host-127-0-0-1.lab.test")
        self.assertEqual(len(dns.queries("A")), 0)
        # a failed lookup has no confirmed field at all
        bad = Slowdns(self, "--nxdomain")
        d = self.rdns_daemon(bad, "rdns.tries=1")
        self.assertEqual(timed_banner(d)[0], 220)
        self.assertNotIn("confirmed", d.wait_event("rdns")[0])
        d.stop()
        self.assertNotIn("confirmed", d.events("close")[0])

    def test_silent_server_costs_the_documented_worst_case(self):
        dns = Slowdns(self, "--drop")
        d = self.rdns_daemon(dns, "rdns.timeout=200ms", "rdns.tries=3")
        d.wait_log(r"worst case per lookup 1400 ms")
        code, _, elapsed, c = timed_banner(d)
        self.assertEqual(code, 220)
        # 200 + 400 + 800 ms: not before, and not much after
        self.assertGreaterEqual(elapsed, 1.35)
        self.assertLess(elapsed, 2.5)
        r = d.wait_event("rdns")[0]
        self.assertEqual(r["result"], "timeout")
        self.assertEqual(r["timeouts"], "3")
        self.assertEqual(len(dns.queries("PTR")), 3)

    def test_each_fault_has_its_result(self):
        for flag, result in (("--servfail", "servfail"), ("--nxdomain", "nxdomain"),
                             ("--refused", "refused")):
            dns = Slowdns(self, flag)
            d = self.rdns_daemon(dns, "rdns.tries=1")
            code, _, elapsed, c = timed_banner(d)
            self.assertEqual(code, 220, flag)
            self.assertLess(elapsed, 3, flag)
            self.assertEqual(d.wait_event("rdns")[0]["result"], result, flag)
            self.assertEqual(d.wait_event("rdns")[0]["name"], "-")
            d.stop()

    def test_late_nxdomain_is_nxdomain_not_timeout(self):
        # try 1 times out at 1 s, its NXDOMAIN comes at 1.5 s during try 2
        dns = Slowdns(self, "--nxdomain", "--delay", "1500ms")
        d = self.rdns_daemon(dns, "rdns.timeout=1s", "rdns.tries=2")
        code, _, elapsed, c = timed_banner(d)
        self.assertEqual(code, 220)
        self.assertGreaterEqual(elapsed, 1.4)
        self.assertLess(elapsed, 2.9)	# before try 2's own deadline at 3 s
        r = d.wait_event("rdns")[0]
        self.assertEqual((r["result"], r["timeouts"]), ("nxdomain", "1"))
        d.stop()
        self.assertEqual(d.events("close")[0]["rdns_result"], "nxdomain")

    def test_servfail_or_refused_fails_over_to_the_next_server(self):
        for flag in ("--servfail", "--refused"):
            bad, good = Slowdns(self, flag), Slowdns(self)
            d = self.start("rdns.servers=%s,%s" % (bad.address, good.address),
                           "rdns.enabled=on", "rdns.tries=1")
            code, _, elapsed, c = timed_banner(d)
            self.assertEqual(code, 220, flag)
            self.assertLess(elapsed, 3, flag)
            r = d.wait_event("rdns")[0]
            self.assertEqual((r["result"], r["name"]), ("ok", "host-127-0-0-1.lab.test"), flag)
            self.assertEqual((len(bad.queries("PTR")), len(good.queries("PTR"))), (1, 1), flag)
            d.stop()

    def test_all_servers_failing_is_classified_by_the_last(self):
        first, last = Slowdns(self, "--refused"), Slowdns(self, "--servfail")
        d = self.start("rdns.servers=%s,%s" % (first.address, last.address),
                       "rdns.enabled=on", "rdns.tries=1")
        self.assertEqual(timed_banner(d)[0], 220)
        r = d.wait_event("rdns")[0]
        self.assertEqual(r["result"], "servfail")
        self.assertEqual((len(first.queries("PTR")), len(last.queries("PTR"))), (1, 1))

    def test_max_inflight_skips_lookups_past_the_cap(self):
        # async: the cap is per worker, so one worker makes it exact
        dns = Slowdns(self, "--delay", "2s")
        d = self.rdns_daemon(dns, "pool.workers=1", "rdns.max_inflight=1",
                             "rdns.timeout=5s", "rdns.tries=1")	# one query per lookup
        times, lines = burst(d.host, d.port, 5)
        self.assertTrue(all(line and line.startswith("220") for line in lines), lines)
        fast = [t for t in times if t < 1.5]
        self.assertGreaterEqual(len(fast), 4, times)	# not held by the slow lookup
        d.wait_event("close", count=5, timeout=20)
        closes = d.events("close")
        skipped = [c for c in closes if c["rdns_result"] == "skipped"]
        self.assertEqual(len(skipped), 4, closes)
        self.assertTrue(all(c["client"] == "unknown" and c["rdns"] == "-" for c in skipped))
        self.assertEqual(len(dns.queries("PTR")), 1)
        self.assertEqual(len([r for r in d.events("rdns") if r["result"] == "skipped"]), 4)

    def query_ports(self, dns):
        return [int(re.search(r" peer=\S+:(\d+) ", q).group(1)) for q in dns.queries("PTR")]

    def test_every_lookup_asks_from_a_fresh_source_port(self):
        # 12 lookups in flight at once on one worker: c-ares alone would
        # send them all from the one socket of its channel (row 45)
        dns = Slowdns(self, "--delay", "300ms")
        d = self.rdns_daemon(dns, "pool.workers=1", "rdns.tries=1", "rdns.timeout=5s")
        times, lines = burst(d.host, d.port, 12)
        self.assertTrue(all(line and line.startswith("220") for line in lines), lines)
        d.wait_event("close", count=12, timeout=20)
        ports = self.query_ports(dns)
        self.assertEqual(len(ports), 12, dns.queries("PTR"))
        self.assertEqual(len(set(ports)), 12, ports)
        self.assertTrue(all(r["result"] == "ok" for r in d.events("rdns")), d.events("rdns"))
        # closed again once their lookups ended: no socket left to the DNS
        pid_fds = "/proc/%d/fd" % d.proc.pid
        wait_for(lambda: not any("socket:" in os.readlink(os.path.join(pid_fds, f)) and
                                 self.udp_socket(os.readlink(os.path.join(pid_fds, f)))
                                 for f in os.listdir(pid_fds)), 10, "the DNS sockets to close")
        # the channels are reused, their ports are not (the kernel may
        # hand an old port out again by chance: 1 in ~2,000 per pair)
        burst(d.host, d.port, 12)
        d.wait_event("close", count=24, timeout=20)
        again = self.query_ports(dns)[12:]
        self.assertEqual(len(again), 12)
        self.assertGreaterEqual(len(set(again) - set(ports)), 10, (ports, again))

    @staticmethod
    def udp_socket(link):
        inode = link[len("socket:["):-1]
        for table in ("/proc/net/udp", "/proc/net/udp6"):
            with open(table) as f:
                if any(line.split()[9] == inode for line in f.readlines()[1:]):
                    return True
        return False

    def test_lookups_per_port_and_max_ports_bound_the_sockets(self):
        dns = Slowdns(self, "--delay", "300ms")
        d = self.rdns_daemon(dns, "pool.workers=1", "rdns.tries=1", "rdns.timeout=5s",
                             "rdns.lookups_per_port=4")
        burst(d.host, d.port, 12)
        d.wait_event("close", count=12, timeout=20)
        self.assertEqual(len(set(self.query_ports(dns))), 3, dns.queries("PTR"))
        dns2 = Slowdns(self, "--delay", "300ms")
        d2 = self.rdns_daemon(dns2, "pool.workers=1", "rdns.tries=1", "rdns.timeout=5s",
                              "rdns.max_ports=2")
        times, lines = burst(d2.host, d2.port, 12)
        self.assertTrue(all(line and line.startswith("220") for line in lines), lines)
        d2.wait_event("close", count=12, timeout=20)
        self.assertEqual(len(self.query_ports(dns2)), 12)
        self.assertEqual(len(set(self.query_ports(dns2))), 2, dns2.queries("PTR"))
        self.assertTrue(all(r["result"] == "ok" for r in d2.events("rdns")))

    def test_max_inflight_tempfail_answers_421_early(self):
        dns = Slowdns(self, "--delay", "2s")
        d = self.rdns_daemon(dns, "pool.workers=1", "rdns.max_inflight=1",
                             "rdns.on_overload=tempfail")
        first = d.connect()
        d.wait_log(r"rdns: on")
        wait_for(lambda: len(dns.queries("PTR")) == 1, 10, "the first lookup to reach slowdns")
        c = Conversation(d.connect())
        t0 = time.monotonic()
        code, lines = c.reply()
        self.assertEqual(code, 421)
        self.assertIn("4.7.1", lines[0])
        self.assertLess(time.monotonic() - t0, 1.5)
        self.assertTrue(c.closed())
        close = d.wait_event("close")[0]
        self.assertEqual((close["outcome"], close["reason"], close["rdns_result"]),
                         ("421", "rdns_overload", "skipped"))
        first.close()

    def test_pool_mode_full_queue_skips(self):
        # one thread busy 2 s and a queue of at most 1: of 6 clients, at
        # most 2 are looked up
        dns = Slowdns(self, "--delay", "2s")
        d = self.rdns_daemon(dns, "rdns.mode=pool", "rdns.threads=1", "rdns.max_inflight=1",
                             "rdns.timeout=5s", "rdns.tries=1")
        times, lines = burst(d.host, d.port, 6)
        self.assertTrue(all(line and line.startswith("220") for line in lines), lines)
        d.wait_event("close", count=6, timeout=30)
        skipped = [c for c in d.events("close") if c["rdns_result"] == "skipped"]
        self.assertGreaterEqual(len(skipped), 4, d.events("close"))
        self.assertLessEqual(len(dns.queries("PTR")), 2)

    def test_truncated_answer_does_not_hang(self):
        dns = Slowdns(self, "--truncate")
        d = self.rdns_daemon(dns, "rdns.timeout=300ms", "rdns.tries=1")
        code, _, elapsed, c = timed_banner(d)
        self.assertEqual(code, 220)
        self.assertLess(elapsed, 3)
        self.assertNotEqual(d.wait_event("rdns")[0]["result"], "ok")

    def test_tempfail_policy_answers_421_instead_of_the_banner(self):
        dns = Slowdns(self, "--nxdomain")
        d = self.rdns_daemon(dns, "rdns.on_failure=tempfail")
        c = Conversation(d.connect())
        code, lines = c.reply()
        self.assertEqual(code, 421)
        self.assertIn("4.7.1", lines[0])
        self.assertTrue(c.closed())
        close = d.wait_event("close")[0]
        self.assertEqual((close["outcome"], close["reason"]), ("421", "rdns"))

    def test_forward_confirmation(self):
        dns = Slowdns(self)
        d = self.rdns_daemon(dns, "rdns.forward_confirm=on")
        self.assertEqual(timed_banner(d)[0], 220)
        r = d.wait_event("rdns")[0]
        self.assertEqual((r["result"], r["confirmed"]), ("ok", "yes"))
        self.assertEqual(len(dns.queries("A")), 1)
        d.stop()
        self.assertEqual(d.events("close")[0]["confirmed"], "yes")
        bad = Slowdns(self, "--mismatch")
        d = self.rdns_daemon(bad, "rdns.forward_confirm=on")
        self.assertEqual(timed_banner(d)[0], 220)
        r = d.wait_event("rdns")[0]
        self.assertEqual(r["result"], "unconfirmed")
        close = d.wait_event("close", timeout=1) if d.events("close") else None
        # an unconfirmed name never becomes the client's name
        d.stop()
        self.assertEqual(d.events("close")[0]["client"], "unknown")

    def test_ipv6_peer(self):
        try:
            socket.create_server(("::1", 0), family=socket.AF_INET6).close()
        except OSError:
            self.skipTest("no IPv6 loopback here")
        dns = Slowdns(self)
        d = self.rdns_daemon(dns, "rdns.forward_confirm=on", address="[::1]:0")
        self.assertEqual(timed_banner(d)[0], 220)
        r = d.wait_event("rdns")[0]
        self.assertEqual((r["result"], r["name"]), ("ok", "host-0-0-0-0-0-0-0-1.lab.test"))
        self.assertEqual(len(dns.queries("AAAA")), 1)

    def test_off_and_auto_without_log_send_no_query(self):
        dns = Slowdns(self, "--delay", "2s")
        for extra in (("rdns.enabled=off", "log.protocol_log=medium"),
                      ("rdns.enabled=auto", "log.protocol_log=none")):
            d = self.start("rdns.servers=" + dns.address, *extra)
            code, _, elapsed, c = timed_banner(d)
            self.assertEqual(code, 220)
            self.assertLess(elapsed, 1.0, extra)
            d.stop()
        self.assertEqual(dns.queries(), [])
        # and auto with the log on does look up
        d = self.start("rdns.servers=" + dns.address, "rdns.enabled=auto", "log.protocol_log=minimum")
        self.assertGreaterEqual(timed_banner(d)[2], 1.5)

    def test_client_leaving_mid_lookup_is_abandoned(self):
        dns = Slowdns(self, "--delay", "1s")
        d = self.rdns_daemon(dns)
        s = d.connect()
        wait_for(lambda: dns.queries("PTR"), 5, "the PTR query")
        s.close()
        close = d.wait_event("close")[0]
        self.assertEqual(close["outcome"], "abandoned")
        self.assertEqual(close["state"], "RESOLVING")
        self.assertEqual(close["rdns_result"], "pending")
        # the late answer arrives after the session is gone: nothing breaks
        wait_for(lambda: dns.counts()["answered"] >= 1, 5, "the late answer")
        self.assertEqual(timed_banner(d)[0], 220)
        self.assertEqual(d.stop(), 0)

    def test_sigterm_with_lookups_in_flight(self):
        dns = Slowdns(self, "--drop")
        d = self.rdns_daemon(dns, "rdns.timeout=2s", "server.shutdown_timeout=200ms")
        socks = [d.connect() for _ in range(5)]
        wait_for(lambda: len(dns.queries("PTR")) >= 5, 5, "five PTR queries")
        self.assertEqual(d.stop(), 0)
        closes = d.events("close")
        self.assertEqual(len(closes), 5)

    def test_sighup_switches_dns_server(self):
        first = Slowdns(self)
        second = Slowdns(self)
        import os
        conf = os.path.join(tmpdir(self), "b.conf")
        with open(conf, "w") as f:
            f.write("[rdns]\nservers = %s\n" % first.address)
        d = self.start("log.protocol_log=minimum", "rdns.enabled=on", conf=conf)
        self.assertEqual(timed_banner(d)[0], 220)
        with open(conf, "w") as f:
            f.write("[rdns]\nservers = %s\n" % second.address)
        import signal
        d.signal(signal.SIGHUP)
        d.wait_log("reload: configuration")
        # the workers swap resolvers asynchronously: wait until a banner
        # comes through the second server
        wait_for(lambda: timed_banner(d)[0] == 220 and second.queries("PTR"), 5,
                 "a lookup on the second server", interval=0.1)
        self.assertEqual(d.stop(), 0)


    def test_sighup_with_lookups_in_flight(self):
        dns = Slowdns(self, "--delay", "800ms")
        import os, signal, threading
        conf = os.path.join(tmpdir(self), "b.conf")
        with open(conf, "w") as f:
            f.write("[rdns]\nenabled = on\nservers = %s\n" % dns.address)
        d = self.start("rdns.enabled=on", conf=conf)
        result = {}
        t = threading.Thread(target=lambda: result.update(r=burst(d.host, d.port, 3, timeout=10)))
        t.start()
        wait_for(lambda: len(dns.queries("PTR")) >= 3, 5, "three lookups in flight")
        with open(conf, "w") as f:
            f.write("[rdns]\nenabled = on\ntimeout = 2s\nservers = %s\n" % dns.address)
        d.signal(signal.SIGHUP)
        d.wait_log("reload: configuration")
        t.join(15)
        times, lines = result["r"]
        # the old channels finish their lookups: every client gets its banner
        self.assertTrue(all(l and l.startswith("220 ") for l in lines), lines)
        self.assertEqual([e["result"] for e in d.wait_event("rdns", count=3)], ["ok"] * 3)
        self.assertEqual(d.stop(), 0)


class ParallelLookupTest(BannerdTest):
    def test_1000_connections_resolve_in_parallel(self):
        n = 1000
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and hard < 2 * n + 100:
            self.skipTest("descriptor limit %d too low" % hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2 * n + 100), hard))
        self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))
        dns = Slowdns(self, "--delay", "500ms", "-q")
        # rdns.timeout well past the delay: in a sanitizer build an answer
        # may wait over 1 s to be read, and a retry would count twice
        d = self.start("rdns.servers=" + dns.address, "rdns.enabled=on", "rdns.timeout=3s",
                       "log.protocol_log=minimum", "listen.max_sessions=2000")
        sel = selectors.DefaultSelector()
        started = {}
        got = {}
        for i in range(n):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex((d.host, d.port))
            self.addCleanup(s.close)
            started[s] = time.monotonic()
            sel.register(s, selectors.EVENT_READ)
        deadline = time.monotonic() + 20
        while len(got) < n and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=1):
                s = key.fileobj
                try:
                    data = s.recv(256)
                except OSError:
                    data = b""
                got[s] = (time.monotonic() - started[s], data)
                sel.unregister(s)
        self.assertEqual(len(got), n)
        waits = sorted(t for t, data in got.values())
        self.assertTrue(all(data.startswith(b"220 ") for _, data in got.values()))
        self.assertGreaterEqual(waits[0], 0.45)
        self.assertLess(waits[-1], 2.0 * TIME_SCALE, "head-of-line blocking: slowest banner %.2fs" % waits[-1])
        self.assertEqual(dns.counts()["ptr"], n)

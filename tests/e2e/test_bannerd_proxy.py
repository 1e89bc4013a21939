"""The PROXY protocol in front of the banner path (listen.proxy_protocol):
a good v1 or v2 header makes its source the client for everything after
it (the log's peer, the PTR query, the close line); UNKNOWN and LOCAL keep
the real endpoints; a bad, partial, late or untrusted header is answered
421 4.3.0 and logged with its bytes, escaped, and the reason."""
import os
import shutil
import socket
import struct
import subprocess
import time
import unittest

from harness import (BannerdTest, Conversation, Slowdns, binary, duration_us, free_port, prom_value, run, scrape,
                     tmpdir, wait_for, write)

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2_header(cmd=1, fam=0x11, src="192.0.2.1", dst="198.51.100.7", sport=56324, dport=25, tlvs=b""):
    if fam == 0x11:
        body = socket.inet_pton(socket.AF_INET, src) + socket.inet_pton(socket.AF_INET, dst)
        body += struct.pack("!HH", sport, dport)
    elif fam == 0x21:
        body = socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
        body += struct.pack("!HH", sport, dport)
    else:
        body = b""
    body += tlvs
    return V2_SIG + bytes([0x20 | cmd, fam]) + struct.pack("!H", len(body)) + body


class ProxyTest(BannerdTest):
    def proxied(self, *extra, **kw):
        return self.start("listen.proxy_protocol=any", "log.protocol_log=minimum", *extra, **kw)

    def rejected(self, d, header, reason):
        """Sends header, expects 421 4.3.0 and the close; returns the log's
        proxy event."""
        c = Conversation(d.connect())
        c.send(header)
        code, lines = c.reply()
        self.assertEqual(code, 421, lines)
        self.assertIn("4.3.0", lines[0])
        self.assertTrue(c.closed())
        # the log may lag the reply: wait for this rejection's own line
        d.rejections = getattr(d, "rejections", 0) + 1
        e = d.wait_event("proxy", result="rejected", count=d.rejections)[d.rejections - 1]
        self.assertEqual(e["reason"], reason)
        return e

    def test_v1_header_is_the_client_for_rdns_and_the_close_line(self):
        dns = Slowdns(self)
        d = self.proxied("rdns.enabled=on", "rdns.servers=" + dns.address)
        c = Conversation(d.connect())
        c.send(b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 25\r\n")
        code, _ = c.reply()
        self.assertEqual(code, 220)
        c.cmd("QUIT")
        p = d.wait_event("proxy", result="ok")[0]
        self.assertEqual((p["peer"], p["version"], p["dst"]), ("192.0.2.1:56324", "1", "198.51.100.7:25"))
        self.assertTrue(p["via"].startswith("127.0.0.1:"), p)
        self.assertEqual(d.wait_event("rdns")[0]["peer"], "192.0.2.1:56324")
        self.assertTrue(any(" name=1.2.0.192.in-addr.arpa " in q for q in dns.queries("PTR")), dns.queries())
        close = d.wait_event("close")[0]
        self.assertEqual(close["peer"], "192.0.2.1:56324")
        self.assertIsNotNone(duration_us(close["proxy"]))
        self.assertEqual(d.events("connect")[0]["peer"].split(":")[0], "127.0.0.1")

    def test_v2_tcp6_header_with_tlvs(self):
        dns = Slowdns(self)
        d = self.proxied("rdns.enabled=on", "rdns.servers=" + dns.address)
        c = Conversation(d.connect())
        c.send(v2_header(fam=0x21, src="2001:db8::1", dst="2001:db8::2", sport=4000,
                         tlvs=b"\x04\x00\x03abc\x01\x00\x04smtp"))
        self.assertEqual(c.reply()[0], 220)
        c.cmd("QUIT")
        self.assertEqual(d.wait_event("close")[0]["peer"], "[2001:db8::1]:4000")
        ptr = "1." + "0." * 23 + "8.b.d.0.1.0.0.2.ip6.arpa"
        dns.wait_log(r"name=%s " % ptr.replace(".", r"\."), 5)
        self.assertTrue(any(" name=%s " % ptr in q for q in dns.queries("PTR")), dns.queries())

    def test_ident_asks_about_the_header_connection(self):
        # the client behind the balancer knows the connection by the
        # header's ports: its own (6191) and the one it connected to (25)
        from test_bannerd_ident import IdentServer
        ident = IdentServer(self, lambda a, b: b"%d , %d : USERID : UNIX : carol\r\n" % (a, b))
        d = self.proxied("ident.enabled=on", "ident.port=%d" % ident.port)
        c = Conversation(d.connect())
        c.send(b"PROXY TCP4 127.0.0.1 127.0.0.9 6191 25\r\n")
        self.assertEqual(c.reply()[0], 220)
        c.cmd("QUIT")
        self.assertEqual(ident.queries, [b"6191 , 25\r\n"])
        r = d.wait_event("ident")[0]
        self.assertEqual((r["peer"], r["result"], r["user"]), ("127.0.0.1:6191", "ok", "carol"))

    def test_unknown_and_local_keep_the_real_endpoints(self):
        d = self.proxied()
        for header in (b"PROXY UNKNOWN\r\n", b"PROXY UNKNOWN ::1 ::1 1 2\r\n", v2_header(cmd=0, fam=0),
                       v2_header(cmd=0), v2_header(cmd=1, fam=0)):
            c = Conversation(d.connect())
            c.send(header)
            self.assertEqual(c.reply()[0], 220, header)
            c.cmd("QUIT")
        closes = d.wait_event("close", count=5)
        for e in closes:
            self.assertTrue(e["peer"].startswith("127.0.0.1:"), e)
        self.assertEqual([e["addresses"] for e in d.events("proxy")], ["real"] * 5)

    def test_bad_headers_get_421_with_the_bytes_and_the_reason(self):
        d = self.proxied("listen.proxy_protocol=v1")
        cases = [
            (b"EHLO x\r\n", "not a PROXY protocol header"),
            (b"PROXY TCP4 192.0.2.01 198.51.100.7 1 25\r\n", "v1 bad source address"),
            (b"PROXY TCP4 192.0.2.1 198.51.100.7 1 25\n", "v1 LF without CR"),
            (b"PROXY TCP4 192.0.2.1 198.51.100.7 1 025\r\n", "v1 bad port"),
            (b"PROXY " + b"x" * 101, "v1 no CRLF within 107 bytes"),
            (v2_header(), "v2 header where only v1 is accepted"),
        ]
        for i, (header, reason) in enumerate(cases):
            self.rejected(d, header, reason)
        rej = d.events("proxy")
        self.assertEqual(len(rej), len(cases))
        # escaped in the log (the harness's parser undoes the escapes)
        self.assertIn(r'header="EHLO x\r\n"', d.log_text())
        self.assertEqual(rej[0]["header"], "EHLO x\r\n")
        self.assertTrue(rej[-1]["header"].startswith("\r\n\r\n\x00\r\nQUIT\n"), rej[-1])
        self.assertEqual(d.wait_event("close", count=len(cases))[0]["reason"], "proxy")

    def test_v2_bounds(self):
        d = self.proxied("listen.proxy_protocol=v2", "listen.proxy_v2_max=232")
        self.rejected(d, v2_header(fam=0x13), "v2 unknown family")
        self.rejected(d, V2_SIG + b"\x31\x11\x00\x0c", "v2 version not 2")
        big = v2_header(tlvs=b"\x04" + struct.pack("!H", 232 - 16 - 12 - 3) + b"z" * (232 - 16 - 12 - 3))
        self.assertEqual(len(big), 232)
        c = Conversation(d.connect())
        c.send(big)
        self.assertEqual(c.reply()[0], 220)
        c.cmd("QUIT")
        bigger = v2_header(tlvs=b"\x04" + struct.pack("!H", 232 - 16 - 12 - 2) + b"z" * (232 - 16 - 12 - 2))
        self.rejected(d, bigger, "v2 header longer than listen.proxy_v2_max")

    def test_partial_header_then_end_of_input(self):
        d = self.proxied()
        s = d.connect()
        s.sendall(b"PROXY TCP4 192.0.2.1")
        s.shutdown(socket.SHUT_WR)
        c = Conversation(s)
        code, lines = c.reply()
        self.assertEqual((code, lines[0][4:9]), (421, "4.3.0"))
        e = d.wait_event("proxy", result="rejected")[0]
        self.assertEqual(e["reason"], "partial header at end of input")
        self.assertEqual(e["header"], "PROXY TCP4 192.0.2.1")

    def test_timeout_at_the_limit(self):
        d = self.proxied("listen.proxy_timeout=300ms")
        c = Conversation(d.connect())
        t0 = time.monotonic()
        c.send(b"PROXY TCP4 ")
        code, lines = c.reply()
        elapsed = time.monotonic() - t0
        self.assertEqual(code, 421, lines)
        self.assertTrue(0.25 <= elapsed < 3, elapsed)
        self.assertEqual(d.wait_event("proxy")[0]["reason"], "partial header at listen.proxy_timeout")
        close = d.wait_event("close")[0]
        self.assertTrue(250e3 <= duration_us(close["proxy"]) < 3e6, close)
        # below the key's floor: refused at start
        r = run([binary("bannerd"), "-t", "-o", "listen.proxy_timeout=99ms"])
        self.assertEqual(r.returncode, 2, r.stderr)

    def test_untrusted_source_is_refused_with_the_bytes_logged(self):
        d = self.proxied("listen.proxy_trusted=192.0.2.0/24, 2001:db8::/32")
        e = self.rejected(d, b"PROXY TCP4 203.0.113.9 198.51.100.7 1 25\r\n",
                          "source not in listen.proxy_trusted")
        self.assertEqual(e["header"], "PROXY TCP4 203.0.113.9 198.51.100.7 1 25\r\n")
        self.assertIn(r'header="PROXY TCP4 203.0.113.9 198.51.100.7 1 25\r\n"', d.log_text())
        self.assertTrue(e["peer"].startswith("127.0.0.1:"), e)
        r = run([binary("bannerd"), "-t", "-o", "listen.proxy_protocol=v1", "-o", "listen.proxy_trusted="])
        self.assertEqual(r.returncode, 2, r.stderr)
        r = run([binary("bannerd"), "-t", "-o", "listen.proxy_trusted=10.0.0.0/33"])
        self.assertEqual(r.returncode, 2, r.stderr)

    def test_bytes_after_the_header_are_pregreet_and_metrics_count_the_stage(self):
        mport = free_port()
        d = self.proxied("metrics.listen=127.0.0.1:%d" % mport, "banner.delay=200ms")
        c = Conversation(d.connect())
        c.send(b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 25\r\nEHLO early\r\n")
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.reply()[0], 250)
        c.cmd("QUIT")
        self.assertEqual(d.wait_event("pregreet")[0]["bytes"], str(len(b"EHLO early\r\n")))
        self.rejected(d, b"GET / HTTP/1.0\r\n\r\n", "not a PROXY protocol header")
        text = scrape("http://127.0.0.1:%d/metrics" % mport)
        self.assertEqual(prom_value(text, "bannerd_stage_seconds_count", stage="proxy"), 1)
        self.assertEqual(prom_value(text, "bannerd_rejected_total", reason="proxy"), 1)

    def test_per_client_limits_count_the_header_address(self):
        # Every connection comes from 127.0.0.1, the balancer: it is not
        # counted; the clients its headers name are, one session each.
        d = self.proxied("listen.max_sessions_per_client=1")
        first = []
        for src in ("192.0.2.1", "192.0.2.2"):
            c = Conversation(d.connect())
            c.send(b"PROXY TCP4 %s 198.51.100.7 1000 25\r\n" % src.encode())
            self.assertEqual(c.reply()[0], 220, src)
            first.append(c)
        c = Conversation(d.connect())
        c.send(b"PROXY TCP4 192.0.2.1 198.51.100.7 1001 25\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 421, lines)
        self.assertIn("4.7.0", lines[0])
        self.assertIn("too many connections from 192.0.2.1", lines[0])
        self.assertEqual(d.wait_event("close", reason="per_client_sessions")[0]["peer"], "192.0.2.1:1001")
        # the first session's close gives its count back to 192.0.2.1
        first[0].cmd("QUIT")
        d.wait_event("close", count=2)
        c = Conversation(d.connect())
        c.send(b"PROXY TCP4 192.0.2.1 198.51.100.7 1002 25\r\n")
        self.assertEqual(c.reply()[0], 220)


class SmtpprobeProxyTest(BannerdTest):
    """smtpprobe --proxy stands in for a balancer and many clients."""

    def probe(self, d, *args):
        r = run([binary("smtpprobe"), "-q", "-c", "2"] + list(args) + ["%s:%d" % (d.host, d.port)])
        self.assertEqual(r.returncode, 0, r.stderr)
        return r

    def test_v1_and_v2_name_four_distinct_clients(self):
        for version in ("v1", "v2"):
            with self.subTest(version=version):
                d = self.start("listen.proxy_protocol=" + version, "log.protocol_log=minimum")
                csv = tmpdir(self) + "/tries.csv"
                self.probe(d, "-n", "8", "--proxy", version, "--proxy-source", "198.51.100.0/30", "--csv", csv)
                closes = d.wait_event("close", count=8)
                hosts = sorted({e["peer"].rsplit(":", 1)[0] for e in closes})
                self.assertEqual(hosts, ["198.51.100.%d" % i for i in range(4)])
                self.assertEqual({e["outcome"] for e in closes}, {"normal"})
                self.assertEqual(len(d.events("proxy")), 8)
                self.assertFalse([e for e in d.events("proxy") if e["result"] != "ok"])
                # the CSV's source is the peer bannerd logged, so the lab can join them
                with open(csv) as f:
                    text = f.read()
                for e in closes:
                    self.assertIn(e["peer"], text)

    def test_without_proxy_source_the_header_names_the_real_client(self):
        d = self.start("listen.proxy_protocol=any", "log.protocol_log=minimum")
        self.probe(d, "-n", "2", "--proxy", "v2")
        closes = d.wait_event("close", count=2)
        self.assertEqual({e["peer"].rsplit(":", 1)[0] for e in closes}, {"127.0.0.1"})
        self.assertEqual({e["dst"] for e in d.events("proxy")}, {"%s:%d" % (d.host, d.port)})

    def test_bad_options(self):
        for args in (["--proxy", "v3"], ["--proxy-source", "198.51.100.0/30"],
                     ["--proxy", "v1", "--proxy-source", "2001:db8::/126"],
                     ["--proxy", "v1", "--proxy-source", "198.51.100.0/33"]):
            r = run([binary("smtpprobe"), "-q"] + args + ["127.0.0.1:9"])
            self.assertEqual(r.returncode, 2, (args, r.stderr))


HAPROXY = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")


@unittest.skipUnless(HAPROXY, "no haproxy: scripts/install-deps --test")
class HaproxyTest(BannerdTest):
    """Debian's HAProxy in mode tcp, send-proxy-v2 and an smtpchk health
    check, in front of bannerd: a config of the test's own, loopback
    only, started by the test and stopped by its PID."""

    def haproxy(self, *backend_ports):
        d = tmpdir(self, "haproxy-test-")
        port = free_port()
        cfg = os.path.join(d, "haproxy.cfg")
        write(cfg, "\n".join([
            "global", "    maxconn 100",
            "defaults", "    mode tcp", "    timeout connect 5s", "    timeout client 30s",
            "    timeout server 30s",
            "frontend smtp", "    bind 127.0.0.1:%d" % port, "    default_backend bannerd",
            "backend bannerd", "    balance roundrobin", "    option smtpchk EHLO lab.test"] +
            ["    server b%d 127.0.0.1:%d send-proxy-v2 check check-send-proxy inter 300ms fall 2 rise 1"
             % (i + 1, p) for i, p in enumerate(backend_ports)] + [""]))
        self.haproxy_log = os.path.join(d, "haproxy.log")
        log = open(os.path.join(d, "haproxy.log"), "wb")
        proc = subprocess.Popen([HAPROXY, "-db", "-f", cfg], stdout=log, stderr=log, stdin=subprocess.DEVNULL)

        def stop():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            log.close()
        self.addCleanup(stop)
        wait_for(lambda: proc.poll() is not None or self._listening(port), 10, "haproxy to listen")
        if proc.poll() is not None:
            with open(log.name) as f:
                self.fail("haproxy exited %r:\n%s" % (proc.returncode, f.read()))
        return port

    @staticmethod
    def _listening(port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    def test_three_backends_share_the_load_and_a_stopped_one_is_taken_out(self):
        backends = [self.start("listen.proxy_protocol=v2", "log.protocol_log=minimum") for _ in range(3)]
        port = self.haproxy(*[b.port for b in backends])
        for b in backends:
            b.wait_event("proxy", addresses="real", timeout=10)	# each one's health check

        def session():
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            try:
                c = Conversation(s)
                code = c.reply()[0]
                if code == 220:
                    c.cmd("QUIT")
                return code, "127.0.0.1:%d" % s.getsockname()[1]
            except OSError:
                return None, None
            finally:
                s.close()

        clients = set()

        def served(b):
            # the sessions of our clients, named by their real address (not
            # the health checks', nor the connection that saw haproxy listen)
            return [e for e in b.events("proxy") if e.get("peer") in clients]

        # round robin: 9 sessions spread over all three, each logged with
        # its real client
        peers = [session() for _ in range(9)]
        self.assertTrue(all(code == 220 for code, _ in peers), peers)
        clients.update(p for _, p in peers)
        wait_for(lambda: sum(len(served(b)) for b in backends) == 9 or None, 10, "9 sessions logged")
        for b in backends:
            self.assertGreaterEqual(len(served(b)), 2, b.events("proxy"))
        before = [len(served(b)) for b in backends]
        # one backend stopped mid-run: HAProxy's checks take it out, and
        # every session after that is served by the two left
        backends[1].stop()
        wait_for(lambda: "b2 is DOWN" in open(self.haproxy_log, errors="replace").read() or None, 15,
                 "HAProxy to mark b2 DOWN")
        later = [session() for _ in range(6)]
        self.assertTrue(all(code == 220 for code, _ in later), later)
        clients.update(p for _, p in later)
        wait_for(lambda: len(served(backends[0])) + len(served(backends[2])) == before[0] + before[2] + 6
                 or None, 10, "the 6 later sessions on the two backends left")
        self.assertGreater(len(served(backends[0])), before[0])
        self.assertGreater(len(served(backends[2])), before[2])

    def test_send_proxy_v2_names_the_real_client(self):
        d = self.start("listen.proxy_protocol=v2", "log.protocol_log=minimum")
        port = self.haproxy(d.port)
        # the health check (LOCAL, then EHLO and QUIT) reaches bannerd
        d.wait_event("proxy", addresses="real", timeout=10)
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.addCleanup(s.close)
        me = "127.0.0.1:%d" % s.getsockname()[1]
        c = Conversation(s)
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        p = d.wait_event("proxy", peer=me)[0]
        self.assertEqual((p["result"], p["version"]), ("ok", "2"))
        self.assertEqual(p["dst"], "127.0.0.1:%d" % port)
        self.assertNotEqual(p["via"], me)
        self.assertEqual(d.wait_event("close", peer=me)[0]["outcome"], "normal")
        self.assertFalse([e for e in d.events("proxy") if e["result"] != "ok"])

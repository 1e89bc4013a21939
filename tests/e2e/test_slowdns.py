"""End-to-end tests for slowdns, the lab DNS server.

Standard library only: the queries are built by hand with struct and sent
over UDP to 127.0.0.1. The server is harness.Slowdns, the binary
$BUILD/bin/slowdns (BUILD defaults to "build"; use BUILD=build-san for the
sanitizer build). Run from the repository root:

    python3 tests/e2e/run.py slowdns
"""

import os
import select
import signal
import socket
import stat
import struct
import subprocess
import time
import unittest

from harness import SANITIZER_MARKS, Slowdns, binary, control, run, tmpdir, write

QTYPE = {'A': 1, 'PTR': 12, 'AAAA': 28}
RCODE = {'NOERROR': 0, 'SERVFAIL': 2, 'NXDOMAIN': 3, 'REFUSED': 5}
FLAG_QR, FLAG_AA, FLAG_TC, FLAG_RD = 0x8000, 0x0400, 0x0200, 0x0100


# ---- a tiny DNS client ------------------------------------------------------

def encode_query(qid, name, qtype):
    """One question, RD set, class IN."""
    header = struct.pack('>HHHHHH', qid, FLAG_RD, 1, 0, 0, 0)
    labels = b''.join(bytes([len(l)]) + l.encode('ascii')
                      for l in name.rstrip('.').split('.') if l)
    return header + labels + b'\0' + struct.pack('>HH', QTYPE[qtype], 1)


def read_name(data, off):
    """Returns (name, offset after the name), following compression."""
    labels, end, jumps = [], None, 0
    while True:
        n = data[off]
        if n & 0xC0 == 0xC0:
            if end is None:
                end = off + 2
            off = ((n & 0x3F) << 8) | data[off + 1]
            jumps += 1
            if jumps > 20:
                raise ValueError('compression loop')
            continue
        off += 1
        if n == 0:
            break
        labels.append(data[off:off + n].decode('ascii'))
        off += n
    return '.'.join(labels), (end if end is not None else off)


def decode_reply(data):
    """The parts of a reply the tests look at."""
    qid, flags, qd, an, _ns, _ar = struct.unpack('>HHHHHH', data[:12])
    off = 12
    for _ in range(qd):
        _, off = read_name(data, off)
        off += 4
    answers = []
    for _ in range(an):
        _, off = read_name(data, off)
        rtype, _cls, _ttl, rdlen = struct.unpack('>HHIH', data[off:off + 10])
        off += 10
        rdata = data[off:off + rdlen]
        if rtype == QTYPE['PTR']:
            answers.append(read_name(data, off)[0])
        elif rtype == QTYPE['A']:
            answers.append(socket.inet_ntop(socket.AF_INET, rdata))
        elif rtype == QTYPE['AAAA']:
            answers.append(socket.inet_ntop(socket.AF_INET6, rdata))
        off += rdlen
    return {
        'id': qid, 'rcode': flags & 0xF, 'qr': bool(flags & FLAG_QR),
        'aa': bool(flags & FLAG_AA), 'tc': bool(flags & FLAG_TC),
        'ancount': an, 'answers': answers,
        'answer': answers[0] if answers else None,
    }


def reverse_name(addr):
    """127.0.0.1 -> 1.0.0.127.in-addr.arpa; ::1 -> the ip6.arpa nibbles."""
    if ':' in addr:
        packed = socket.inet_pton(socket.AF_INET6, addr)
        nibbles = ''.join('%02x' % b for b in packed)
        return '.'.join(reversed(nibbles)) + '.ip6.arpa'
    return '.'.join(reversed(addr.split('.'))) + '.in-addr.arpa'


def query(port, name, qtype, timeout=2.0, qid=0x4242, host='127.0.0.1'):
    """Sends one query; returns (reply dict or None on timeout, seconds)."""
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        start = time.monotonic()
        s.sendto(encode_query(qid, name, qtype), (host, port))
        try:
            data = s.recv(4096)
        except socket.timeout:
            return None, time.monotonic() - start
        elapsed = time.monotonic() - start
    reply = decode_reply(data)
    assert reply['id'] == qid, reply
    return reply, elapsed


def run_slowdns(*args):
    return run([binary('slowdns')] + list(args), timeout=10, text=True,
               stdin=subprocess.DEVNULL)


# ---- the tests --------------------------------------------------------------

class AnswerTests(unittest.TestCase):

    def setUp(self):
        self.srv = Slowdns(self)

    def test_ptr_ipv4_synthesized(self):
        r, _ = query(self.srv.port, '1.0.0.127.in-addr.arpa', 'PTR')
        self.assertTrue(r['qr'])
        self.assertTrue(r['aa'])
        self.assertFalse(r['tc'])
        self.assertEqual(r['rcode'], RCODE['NOERROR'])
        self.assertEqual(r['answer'], 'host-127-0-0-1.lab.test')

    def test_ptr_ipv6_synthesized(self):
        r, _ = query(self.srv.port, reverse_name('::1'), 'PTR')
        self.assertEqual(r['rcode'], RCODE['NOERROR'])
        self.assertEqual(r['answer'], 'host-0-0-0-0-0-0-0-1.lab.test')
        r, _ = query(self.srv.port, reverse_name('2001:db8::abcd'), 'PTR')
        self.assertEqual(r['answer'], 'host-2001-db8-0-0-0-0-0-abcd.lab.test')

    def test_forward_confirmation(self):
        r, _ = query(self.srv.port, 'host-127-0-0-1.lab.test', 'A')
        self.assertEqual((r['rcode'], r['answers']), (0, ['127.0.0.1']))
        r, _ = query(self.srv.port, 'HOST-127-0-0-1.lab.test', 'A')
        self.assertEqual(r['answers'], ['127.0.0.1'])
        r, _ = query(self.srv.port, 'host-0-0-0-0-0-0-0-1.lab.test', 'AAAA')
        self.assertEqual((r['rcode'], r['answers']), (0, ['::1']))
        # a known name without an address of that family: NODATA
        r, _ = query(self.srv.port, 'host-127-0-0-1.lab.test', 'AAAA')
        self.assertEqual((r['rcode'], r['ancount']), (0, 0))

    def test_unknown_names_nxdomain(self):
        for name, qtype in [('nowhere.example', 'A'), ('nowhere.example', 'AAAA'),
                            ('0.127.in-addr.arpa', 'PTR'),
                            ('host-127-0-0-01.lab.test', 'A')]:
            with self.subTest(name=name, qtype=qtype):
                r, _ = query(self.srv.port, name, qtype)
                self.assertEqual((r['rcode'], r['ancount']), (RCODE['NXDOMAIN'], 0))

    def test_junk_is_ignored(self):
        # Datagrams shorter than a DNS header used to crash libevent
        # 2.1.12's parser (slowdns now filters them in the kernel);
        # reply-flagged, truncated and question-less packets are discarded
        # by libevent before slowdns sees them. The server must carry on.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for junk in (b'', b'\x01', b'\x00' * 11, b'\xff' * 12, b'\x00\x01\x81\x00' + b'\x00' * 8,
                         struct.pack('>HHHHHH', 7, 0, 1, 0, 0, 0) + b'\x3fabc',
                         struct.pack('>HHHHHH', 9, FLAG_RD, 0, 0, 0, 0)):
                s.sendto(junk, ('127.0.0.1', self.srv.port))
        r, _ = query(self.srv.port, '1.0.0.127.in-addr.arpa', 'PTR')
        self.assertEqual(r['answer'], 'host-127-0-0-1.lab.test')
        c = self.srv.exit_counts()
        self.assertEqual((c['queries'], c['answered']), (1, 1), c)

    def test_query_log_line(self):
        query(self.srv.port, '1.0.0.127.in-addr.arpa', 'PTR')
        m = self.srv.wait_log(r'slowdns: query id=\d+ peer=127\.0\.0\.1:\d+ '
                              r'name=1\.0\.0\.127\.in-addr\.arpa type=PTR '
                              r'fault=none delay=0 rcode=NOERROR '
                              r'answer=host-127-0-0-1\.lab\.test\n', 5.0)
        self.assertIsNotNone(m, self.srv.log_text())
        c = self.srv.exit_counts()
        self.assertEqual((c['queries'], c['ptr'], c['answered']), (1, 1, 1))


class ZoneTests(unittest.TestCase):

    def write_zone(self, text):
        path = os.path.join(tmpdir(self, 'slowdns-zone-'), 'zone')
        write(path, text)
        return path

    def test_zone_names(self):
        path = self.write_zone('# lab zone\n'
                               '127.0.0.1   mail.lab.test\n'
                               '::1         mail.lab.test   # both families\n'
                               '\n'
                               '10.1.2.3    Relay.Lab.Test.\n')
        srv = Slowdns(self, '--zone', path)
        r, _ = query(srv.port, '1.0.0.127.in-addr.arpa', 'PTR')
        self.assertEqual(r['answers'], ['mail.lab.test'])
        r, _ = query(srv.port, reverse_name('::1'), 'PTR')
        self.assertEqual(r['answers'], ['mail.lab.test'])
        r, _ = query(srv.port, '3.2.1.10.in-addr.arpa', 'PTR')
        self.assertEqual(r['answers'], ['relay.lab.test'])
        r, _ = query(srv.port, 'mail.lab.test', 'A')
        self.assertEqual(r['answers'], ['127.0.0.1'])
        r, _ = query(srv.port, 'MAIL.lab.test', 'AAAA')
        self.assertEqual(r['answers'], ['::1'])
        r, _ = query(srv.port, 'relay.lab.test', 'AAAA')
        self.assertEqual((r['rcode'], r['ancount']), (0, 0))
        # addresses outside the zone still get synthesized names
        r, _ = query(srv.port, '2.0.0.127.in-addr.arpa', 'PTR')
        self.assertEqual(r['answers'], ['host-127-0-0-2.lab.test'])
        self.assertRegex(srv.log_text(), r'config zone=\S+ entries=3 ')

    def test_bad_zone_file(self):
        for text, where in [('127.0.0.1 ok.lab.test\n127.0.0.1 bad_name\n', ':2: '),
                            ('not-an-address x.lab.test\n', ':1: '),
                            ('127.0.0.1 %s.lab.test\n' % ('a' * 64), ':1: ')]:
            with self.subTest(text=text):
                p = run_slowdns('-l', '127.0.0.1:0', '--zone', self.write_zone(text))
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn(where, p.stderr)
        p = run_slowdns('-l', '127.0.0.1:0', '--zone', '/nonexistent/zone')
        self.assertEqual(p.returncode, 2, p.stderr)


class FaultTests(unittest.TestCase):

    def test_rcode_faults(self):
        for flag, rcode in [('--servfail', 'SERVFAIL'), ('--nxdomain', 'NXDOMAIN'),
                            ('--refused', 'REFUSED')]:
            with self.subTest(flag=flag):
                srv = Slowdns(self, flag)
                r, _ = query(srv.port, '1.0.0.127.in-addr.arpa', 'PTR')
                self.assertEqual((r['rcode'], r['ancount']), (RCODE[rcode], 0))
                r, _ = query(srv.port, 'host-127-0-0-1.lab.test', 'A')
                self.assertEqual(r['rcode'], RCODE[rcode])
                c = srv.exit_counts()
                self.assertEqual(c[rcode.lower()], 2, c)
                self.assertEqual(c['answered'], 0, c)

    def test_truncate(self):
        srv = Slowdns(self, '--truncate')
        r, _ = query(srv.port, '1.0.0.127.in-addr.arpa', 'PTR')
        self.assertTrue(r['tc'])
        self.assertEqual((r['rcode'], r['ancount']), (0, 0))
        c = srv.exit_counts()
        self.assertEqual((c['truncated'], c['answered']), (1, 1))

    def test_mismatch(self):
        srv = Slowdns(self, '--mismatch')
        r, _ = query(srv.port, '1.0.0.127.in-addr.arpa', 'PTR')
        self.assertEqual(r['answer'], 'host-127-0-0-1.lab.test')
        r, _ = query(srv.port, r['answer'], 'A')
        self.assertEqual(r['answers'], ['192.0.2.1'])
        r, _ = query(srv.port, 'host-0-0-0-0-0-0-0-1.lab.test', 'AAAA')
        self.assertEqual(r['answers'], ['2001:db8::1'])
        c = srv.exit_counts()
        self.assertEqual((c['mismatch'], c['answered']), (2, 3))

    def test_drop(self):
        srv = Slowdns(self, '--drop')
        r, elapsed = query(srv.port, '1.0.0.127.in-addr.arpa', 'PTR', timeout=0.5)
        self.assertIsNone(r)
        self.assertGreaterEqual(elapsed, 0.5)
        self.assertRegex(srv.log_text(), r'fault=drop delay=0 rcode=- answer=-')
        c = srv.exit_counts()
        self.assertEqual((c['dropped'], c['answered']), (1, 0))

    def test_combined_delay_and_servfail(self):
        srv = Slowdns(self, '--servfail', '--truncate', '--delay', '200ms')
        r, elapsed = query(srv.port, 'host-127-0-0-1.lab.test', 'A')
        self.assertEqual(r['rcode'], RCODE['SERVFAIL'])
        self.assertTrue(r['tc'])
        self.assertGreaterEqual(elapsed, 0.15)
        self.assertRegex(srv.log_text(), r'fault=servfail\+truncate delay=200\.0ms')

    def test_fault_rate_seed_reproducible(self):
        def run(seed):
            srv = Slowdns(self, '-q', '--fault-rate', '0.5', '--servfail',
                          '--nxdomain', '--seed', str(seed))
            seq = []
            for i in range(60):
                r, _ = query(srv.port, '1.0.0.127.in-addr.arpa', 'PTR', qid=i + 1)
                seq.append(r['rcode'])
            c = srv.exit_counts()
            self.assertEqual(c['queries'], 60)
            self.assertEqual(c['answered'] + c['servfail'] + c['nxdomain'], 60)
            self.assertEqual(c['faulted'], c['servfail'] + c['nxdomain'])
            return seq

        first, again, other = run(42), run(42), run(7)
        self.assertEqual(first, again)
        self.assertNotEqual(first, other)
        mix = {rc: first.count(rc) for rc in set(first)}
        self.assertEqual(set(mix), {RCODE['NOERROR'], RCODE['SERVFAIL'], RCODE['NXDOMAIN']})
        self.assertTrue(15 <= mix[RCODE['NOERROR']] <= 45, mix)


class DelayTests(unittest.TestCase):

    def test_delay_300ms(self):
        srv = Slowdns(self, '--delay', '300ms')
        r, elapsed = query(srv.port, '1.0.0.127.in-addr.arpa', 'PTR', timeout=5)
        self.assertEqual(r['answer'], 'host-127-0-0-1.lab.test')
        self.assertTrue(0.25 <= elapsed <= 3.0, elapsed)
        self.assertRegex(srv.log_text(), r'fault=none delay=300\.0ms rcode=NOERROR')

    def test_jitter_bounds(self):
        srv = Slowdns(self, '-q', '--delay', '100ms', '--jitter', '200ms')
        for i in range(5):
            r, elapsed = query(srv.port, 'host-127-0-0-1.lab.test', 'A', timeout=5)
            self.assertEqual(r['answers'], ['127.0.0.1'])
            self.assertTrue(0.09 <= elapsed <= 2.0, elapsed)

    def test_thousand_concurrent_delayed(self):
        n, per_socket = 1000, 50
        srv = Slowdns(self, '-q', '--delay', '500ms')
        socks = []
        for _ in range(n // per_socket):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.addCleanup(s.close)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 18)
            s.setblocking(False)
            socks.append(s)
        sent, got = {}, {}
        t0 = time.monotonic()
        for i in range(n):
            qid = i + 1
            sent[qid] = time.monotonic()
            socks[i % len(socks)].sendto(encode_query(qid, reverse_name('127.0.0.1'), 'PTR'),
                                         ('127.0.0.1', srv.port))
        deadline = t0 + 3.0
        while len(got) < n and time.monotonic() < deadline:
            ready, _, _ = select.select(socks, [], [], 0.1)
            for s in ready:
                while True:
                    try:
                        data = s.recv(4096)
                    except BlockingIOError:
                        break
                    r = decode_reply(data)
                    self.assertEqual(r['answer'], 'host-127-0-0-1.lab.test')
                    got[r['id']] = time.monotonic()
        self.assertEqual(len(got), n, 'answered %d of %d' % (len(got), n))
        waits = [got[q] - sent[q] for q in got]
        self.assertGreaterEqual(min(waits), 0.5)
        self.assertLessEqual(max(got.values()) - t0, 2.0)
        c = srv.counts()
        self.assertEqual((c['queries'], c['ptr'], c['answered'], c['pending']),
                         (n, n, n, 0), c)
        c = srv.exit_counts()
        self.assertEqual((c['queries'], c['ptr'], c['answered']), (n, n, n), c)

    def test_exit_with_pending_queries(self):
        srv = Slowdns(self, '--delay', '10s')
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(s.close)
        for i in range(20):
            s.sendto(encode_query(i + 1, reverse_name('127.0.0.1'), 'PTR'),
                     ('127.0.0.1', srv.port))
        self.assertIsNotNone(srv.wait_log(r'slowdns: query id=20 ', 5.0))
        c = srv.counts()
        self.assertEqual((c['queries'], c['pending'], c['answered']), (20, 20, 0))
        start = time.monotonic()
        c = srv.exit_counts()      # SIGTERM: exit 0 at once, timers freed
        self.assertLess(time.monotonic() - start, 2.0)
        self.assertEqual(c['pending'], 20)

    def test_sigint_exits_cleanly(self):
        srv = Slowdns(self)
        self.assertEqual(srv.stop(signal.SIGINT), 0, srv.log_text())
        self.assertIn('slowdns: counts queries=0 ', srv.log_text())


class ControlTests(unittest.TestCase):
    """--control PATH: the fault changes while slowdns runs."""

    def start(self, *args):
        self.sock = os.path.join(tmpdir(self), 'slowdns.sock')
        srv = Slowdns(self, '--control', self.sock, *args)
        self.addCleanup(self.no_sanitizer_report, srv)
        return srv

    def no_sanitizer_report(self, srv):
        """Under SANITIZE=1 a report (a leak shows at exit) fails the test."""
        srv.stop()
        text = srv.log_text()
        if any(mark in text for mark in SANITIZER_MARKS):
            raise AssertionError('slowdns sanitizer report:\n' + text[-6000:])

    def ptr(self, srv, timeout=5):
        r, elapsed = query(srv.port, '1.0.0.127.in-addr.arpa', 'PTR', timeout=timeout)
        self.assertIsNotNone(r)
        return r, elapsed

    def test_set_delay_live_then_unset(self):
        srv = self.start()
        self.assertEqual(stat.S_IMODE(os.stat(self.sock).st_mode), 0o600)
        _, fast = self.ptr(srv)
        self.assertLess(fast, 0.25)
        self.assertEqual(control(self.sock, 'set delay=400ms'), ([], 'OK'))
        r, slow = self.ptr(srv)
        self.assertEqual(r['answer'], 'host-127-0-0-1.lab.test')
        self.assertTrue(0.35 <= slow <= 3.0, slow)
        self.assertRegex(srv.log_text(), r'slowdns: control: set delay=400ms '
                                         r'\(from socket uid=%d pid=\d+\)\n' % os.getuid())
        self.assertEqual(control(self.sock, 'show delay jitter'),
                         (['delay=400.0ms # from set', 'jitter=0 # from command line'], 'OK'))
        self.assertEqual(control(self.sock, 'unset delay'), ([], 'OK'))
        _, fast = self.ptr(srv)
        self.assertLess(fast, 0.25)
        self.assertEqual(control(self.sock, 'show delay'),
                         (['delay=0 # from command line'], 'OK'))
        self.assertIn('slowdns: control: unset delay (from socket', srv.log_text())
        # the address bound, as the "listening on" line says; not changeable
        self.assertEqual(control(self.sock, 'show listen'),
                         (['listen=%s # from command line, restart needed to change' % srv.address],
                          'OK'))

    def test_unset_goes_back_to_the_command_line(self):
        srv = self.start('--delay', '300ms')
        self.assertEqual(control(self.sock, 'set delay=0 servfail=on'), ([], 'OK'))
        r, fast = self.ptr(srv)
        self.assertEqual(r['rcode'], RCODE['SERVFAIL'])
        self.assertLess(fast, 0.25)
        self.assertEqual(control(self.sock, 'unset delay servfail'), ([], 'OK'))
        r, slow = self.ptr(srv)
        self.assertEqual(r['rcode'], RCODE['NOERROR'])
        self.assertTrue(0.25 <= slow <= 3.0, slow)

    def test_bad_value_changes_nothing(self):
        srv = self.start('--delay', '100ms')
        before = control(self.sock, 'show')
        for line, why in [('set delay=1s fault-rate=2', 'fault-rate: \'2\': expected a number from 0 to 1'),
                          ('set delay=5', 'delay: "5" needs a unit'),
                          ('set drop=yes', "drop: 'yes': expected on or off"),
                          ('set listen=127.0.0.1:53', 'listen: restart needed'),
                          ('set nosuch=1', "unknown setting 'nosuch'"),
                          ('unset', 'unset needs NAME'),
                          ('reload', "unknown request 'reload'")]:
            with self.subTest(line=line):
                body, last = control(self.sock, line)
                self.assertEqual(body, [])
                self.assertTrue(last.startswith('ERR ' + why), last)
                self.assertIn('slowdns: control: rejected: %s (from socket uid=' % line,
                              srv.log_text())
        self.assertEqual(control(self.sock, 'show'), before)
        r, elapsed = self.ptr(srv)
        self.assertEqual(r['rcode'], RCODE['NOERROR'])
        self.assertTrue(0.09 <= elapsed <= 3.0, elapsed)
        self.assertNotRegex(srv.log_text(), r'slowdns: control: set')

    def test_waiting_query_keeps_its_delay(self):
        srv = self.start('--delay', '800ms')
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            start = time.monotonic()
            s.sendto(encode_query(7, reverse_name('127.0.0.1'), 'PTR'), ('127.0.0.1', srv.port))
            self.assertIsNotNone(srv.wait_log(r'slowdns: query id=1 ', 5.0))
            self.assertEqual(control(self.sock, 'set delay=0'), ([], 'OK'))
            s.recv(4096)
            self.assertTrue(0.7 <= time.monotonic() - start <= 3.0)
        _, fast = self.ptr(srv)
        self.assertLess(fast, 0.25)

    def test_words_at_the_limit(self):
        # common/control.h: at most 64 words a request, verb included
        srv = self.start()
        pairs = ['delay=%dms' % (i + 1) for i in range(63)]
        self.assertEqual(control(self.sock, 'set ' + ' '.join(pairs)), ([], 'OK'))
        self.assertEqual(control(self.sock, 'show delay')[0], ['delay=63.0ms # from set'])
        body, last = control(self.sock, 'set ' + ' '.join(pairs + ['delay=1s']))
        self.assertEqual(last, 'ERR more than 64 words')
        self.assertEqual(control(self.sock, 'show delay')[0], ['delay=63.0ms # from set'])
        _, elapsed = self.ptr(srv)
        self.assertTrue(0.05 <= elapsed <= 3.0, elapsed)

    def test_stats(self):
        srv = self.start('-q')
        self.ptr(srv)
        body, last = control(self.sock, 'stats')
        self.assertEqual(last, 'OK')
        self.assertEqual(len(body), 1)
        self.assertRegex(body[0], r'^queries=1 ptr=1 .*answered=1 .*pending=0$')
        self.assertTrue(control(self.sock, 'stats now')[1].startswith('ERR '))

    def test_bannerctl_drives_it(self):
        srv = self.start('-q')
        ctl = [binary('bannerctl'), '-s', self.sock]
        p = run(ctl + ['set', 'delay=400ms', 'nxdomain=on'], timeout=10, text=True)
        self.assertEqual((p.returncode, p.stdout, p.stderr), (0, '', ''))
        r, slow = self.ptr(srv)
        self.assertEqual(r['rcode'], RCODE['NXDOMAIN'])
        self.assertTrue(0.35 <= slow <= 3.0, slow)
        p = run(ctl + ['show', 'delay'], timeout=10, text=True)
        self.assertEqual((p.returncode, p.stdout), (0, 'delay=400.0ms # from set\n'))
        p = run(ctl + ['set', 'delay=4'], timeout=10, text=True)
        self.assertEqual(p.returncode, 1)
        self.assertTrue(p.stderr.startswith('bannerctl: delay: "4" needs a unit'), p.stderr)
        p = run(ctl + ['unset', 'delay', 'nxdomain'], timeout=10, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        r, fast = self.ptr(srv)
        self.assertEqual(r['rcode'], RCODE['NOERROR'])
        self.assertLess(fast, 0.25)
        p = run(ctl + ['stats'], timeout=10, text=True)
        self.assertRegex(p.stdout, r'^queries=2 ptr=2 .*nxdomain=1 ')

    def test_stale_socket_replaced_live_one_kept(self):
        d = tmpdir(self)
        self.sock = os.path.join(d, 'slowdns.sock')
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(self.sock)
        stale.close()                      # the file stays, nobody answers
        srv = Slowdns(self, '--control', self.sock)
        self.assertEqual(control(self.sock, 'show quiet'),
                         (['quiet=off # from command line'], 'OK'))
        # a second slowdns on the same path: refused, the first unharmed
        p = run_slowdns('-l', '127.0.0.1:0', '--control', self.sock)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn('another process is listening', p.stderr)
        self.assertEqual(control(self.sock, 'show quiet')[1], 'OK')
        notsock = os.path.join(d, 'file')
        write(notsock, 'x')
        p = run_slowdns('-l', '127.0.0.1:0', '--control', notsock)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn('is not a socket', p.stderr)
        self.assertEqual(srv.stop(), 0)
        self.assertFalse(os.path.exists(self.sock))   # removed on exit


class IPv6ListenTests(unittest.TestCase):

    def test_listen_ipv6_loopback(self):
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
                s.bind(('::1', 0))
        except OSError:
            self.skipTest('no IPv6 loopback here')
        srv = Slowdns(self, address='[::1]:0')
        self.assertTrue(srv.address.startswith('[::1]:'), srv.address)
        r, _ = query(srv.port, reverse_name('::1'), 'PTR', host='::1')
        self.assertEqual(r['answer'], 'host-0-0-0-0-0-0-0-1.lab.test')
        self.assertEqual(srv.stop(), 0, srv.log_text())


class UsageTests(unittest.TestCase):

    def test_help(self):
        p = run_slowdns('-h')
        self.assertEqual(p.returncode, 0)
        for opt in ('--listen', '--zone', '--delay', '--jitter', '--drop', '--servfail',
                    '--nxdomain', '--refused', '--truncate', '--mismatch',
                    '--fault-rate', '--seed', '--quiet', '--control'):
            self.assertIn(opt, p.stdout)

    def test_bad_arguments_exit_2(self):
        for args in (['--bogus'], ['-x'], ['--delay', 'soon'], ['--delay'],
                     ['--fault-rate', '1.5'], ['--fault-rate', 'nan'], ['--seed', '-1'],
                     ['-l', 'localhost:53'], ['-l', '127.0.0.1'], ['extra'],
                     ['--control', ''], ['--control'], ['--delay', '2h'], ['--drop=on']):
            with self.subTest(args=args):
                p = run_slowdns(*args)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertTrue(p.stderr.startswith('slowdns: '), p.stderr)

    def test_port_in_use_exit_1(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(('127.0.0.1', 0))
            p = run_slowdns('-l', '127.0.0.1:%d' % s.getsockname()[1])
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn('cannot listen', p.stderr)


if __name__ == '__main__':
    unittest.main()

"""End-to-end tests for slowdns, the lab DNS server.

Standard library only: the queries are built by hand with struct and sent
over UDP to 127.0.0.1. Run from the repository root:

    python3 -m unittest tests/e2e/test_slowdns.py -v

The binary is $BUILD/bin/slowdns (BUILD defaults to "build"; use
BUILD=build-san for the sanitizer build).
"""

import os
import re
import select
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

SLOWDNS = os.path.join(os.environ.get('BUILD', 'build'), 'bin', 'slowdns')

QTYPE = {'A': 1, 'PTR': 12, 'AAAA': 28}
RCODE = {'NOERROR': 0, 'SERVFAIL': 2, 'NXDOMAIN': 3, 'REFUSED': 5}
FLAG_QR, FLAG_AA, FLAG_TC, FLAG_RD = 0x8000, 0x0400, 0x0200, 0x0100

START_TIMEOUT = 5.0     # seconds to wait for "listening on"
EXIT_TIMEOUT = 5.0      # seconds to wait for a clean exit


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


def parse_counts(line):
    return {k: int(v) for k, v in re.findall(r'(\w+)=(\d+)', line)}


# ---- the server under test --------------------------------------------------

class SlowDNS:
    """slowdns on 127.0.0.1, port 0, stderr into a file (a pipe could
    fill up with per-query lines and block the server)."""

    def __init__(self, testcase, *args):
        self.log = tempfile.NamedTemporaryFile(prefix='slowdns-', suffix='.log')
        testcase.addCleanup(self.log.close)
        self.proc = subprocess.Popen(
            [SLOWDNS, '-l', '127.0.0.1:0'] + list(args),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self.log)
        testcase.addCleanup(self.stop)
        m = self.wait_for(r'slowdns: listening on 127\.0\.0\.1:(\d+)', START_TIMEOUT)
        if m is None:
            raise AssertionError('slowdns did not start:\n' + self.text())
        self.port = int(m.group(1))

    def text(self):
        with open(self.log.name, encoding='utf-8', errors='replace') as f:
            return f.read()

    def wait_for(self, pattern, timeout, count=1):
        """Polls the log until pattern has matched count times."""
        deadline = time.monotonic() + timeout
        while True:
            found = list(re.finditer(pattern, self.text()))
            if len(found) >= count:
                return found[count - 1]
            if time.monotonic() > deadline or self.proc.poll() is not None:
                found = list(re.finditer(pattern, self.text()))
                return found[count - 1] if len(found) >= count else None
            time.sleep(0.01)

    def counts(self):
        """Asks for the counts line with SIGUSR1 and returns it parsed."""
        n = len(re.findall(r'slowdns: counts ', self.text()))
        self.proc.send_signal(signal.SIGUSR1)
        m = self.wait_for(r'slowdns: counts (.*)', 5.0, count=n + 1)
        if m is None:
            raise AssertionError('no counts line after SIGUSR1:\n' + self.text())
        return parse_counts(m.group(1))

    def stop(self, sig=signal.SIGTERM):
        """Stops the server by its PID; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(EXIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def exit_counts(self):
        """Stops with SIGTERM, checks the clean exit, returns the last counts."""
        rc = self.stop()
        text = self.text()
        if rc != 0:
            raise AssertionError('slowdns exited %r:\n%s' % (rc, text))
        lines = re.findall(r'slowdns: counts (.*)', text)
        if not lines:
            raise AssertionError('no counts line on exit:\n' + text)
        return parse_counts(lines[-1])


def run_slowdns(*args):
    return subprocess.run([SLOWDNS] + list(args), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=10)


# ---- the tests --------------------------------------------------------------

class AnswerTests(unittest.TestCase):

    def setUp(self):
        self.srv = SlowDNS(self)

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
        m = self.srv.wait_for(r'slowdns: query id=\d+ peer=127\.0\.0\.1:\d+ '
                              r'name=1\.0\.0\.127\.in-addr\.arpa type=PTR '
                              r'fault=none delay=0 rcode=NOERROR '
                              r'answer=host-127-0-0-1\.lab\.test\n', 5.0)
        self.assertIsNotNone(m, self.srv.text())
        c = self.srv.exit_counts()
        self.assertEqual((c['queries'], c['ptr'], c['answered']), (1, 1, 1))


class ZoneTests(unittest.TestCase):

    def write_zone(self, text):
        f = tempfile.NamedTemporaryFile('w', prefix='slowdns-zone-', delete=False)
        self.addCleanup(os.unlink, f.name)
        f.write(text)
        f.close()
        return f.name

    def test_zone_names(self):
        path = self.write_zone('# lab zone\n'
                               '127.0.0.1   mail.lab.test\n'
                               '::1         mail.lab.test   # both families\n'
                               '\n'
                               '10.1.2.3    Relay.Lab.Test.\n')
        srv = SlowDNS(self, '--zone', path)
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
        self.assertRegex(srv.text(), r'config zone=\S+ entries=3 ')

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
                srv = SlowDNS(self, flag)
                r, _ = query(srv.port, '1.0.0.127.in-addr.arpa', 'PTR')
                self.assertEqual((r['rcode'], r['ancount']), (RCODE[rcode], 0))
                r, _ = query(srv.port, 'host-127-0-0-1.lab.test', 'A')
                self.assertEqual(r['rcode'], RCODE[rcode])
                c = srv.exit_counts()
                self.assertEqual(c[rcode.lower()], 2, c)
                self.assertEqual(c['answered'], 0, c)

    def test_truncate(self):
        srv = SlowDNS(self, '--truncate')
        r, _ = query(srv.port, '1.0.0.127.in-addr.arpa', 'PTR')
        self.assertTrue(r['tc'])
        self.assertEqual((r['rcode'], r['ancount']), (0, 0))
        c = srv.exit_counts()
        self.assertEqual((c['truncated'], c['answered']), (1, 1))

    def test_mismatch(self):
        srv = SlowDNS(self, '--mismatch')
        r, _ = query(srv.port, '1.0.0.127.in-addr.arpa', 'PTR')
        self.assertEqual(r['answer'], 'host-127-0-0-1.lab.test')
        r, _ = query(srv.port, r['answer'], 'A')
        self.assertEqual(r['answers'], ['192.0.2.1'])
        r, _ = query(srv.port, 'host-0-0-0-0-0-0-0-1.lab.test', 'AAAA')
        self.assertEqual(r['answers'], ['2001:db8::1'])
        c = srv.exit_counts()
        self.assertEqual((c['mismatch'], c['answered']), (2, 3))

    def test_drop(self):
        srv = SlowDNS(self, '--drop')
        r, elapsed = query(srv.port, '1.0.0.127.in-addr.arpa', 'PTR', timeout=0.5)
        self.assertIsNone(r)
        self.assertGreaterEqual(elapsed, 0.5)
        self.assertRegex(srv.text(), r'fault=drop delay=0 rcode=- answer=-')
        c = srv.exit_counts()
        self.assertEqual((c['dropped'], c['answered']), (1, 0))

    def test_combined_delay_and_servfail(self):
        srv = SlowDNS(self, '--servfail', '--truncate', '--delay', '200ms')
        r, elapsed = query(srv.port, 'host-127-0-0-1.lab.test', 'A')
        self.assertEqual(r['rcode'], RCODE['SERVFAIL'])
        self.assertTrue(r['tc'])
        self.assertGreaterEqual(elapsed, 0.15)
        self.assertRegex(srv.text(), r'fault=servfail\+truncate delay=200\.0ms')

    def test_fault_rate_seed_reproducible(self):
        def run(seed):
            srv = SlowDNS(self, '-q', '--fault-rate', '0.5', '--servfail',
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
        srv = SlowDNS(self, '--delay', '300ms')
        r, elapsed = query(srv.port, '1.0.0.127.in-addr.arpa', 'PTR', timeout=5)
        self.assertEqual(r['answer'], 'host-127-0-0-1.lab.test')
        self.assertTrue(0.25 <= elapsed <= 3.0, elapsed)
        self.assertRegex(srv.text(), r'fault=none delay=300\.0ms rcode=NOERROR')

    def test_jitter_bounds(self):
        srv = SlowDNS(self, '-q', '--delay', '100ms', '--jitter', '200ms')
        for i in range(5):
            r, elapsed = query(srv.port, 'host-127-0-0-1.lab.test', 'A', timeout=5)
            self.assertEqual(r['answers'], ['127.0.0.1'])
            self.assertTrue(0.09 <= elapsed <= 2.0, elapsed)

    def test_thousand_concurrent_delayed(self):
        n, per_socket = 1000, 50
        srv = SlowDNS(self, '-q', '--delay', '500ms')
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
        srv = SlowDNS(self, '--delay', '10s')
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(s.close)
        for i in range(20):
            s.sendto(encode_query(i + 1, reverse_name('127.0.0.1'), 'PTR'),
                     ('127.0.0.1', srv.port))
        self.assertIsNotNone(srv.wait_for(r'slowdns: query id=20 ', 5.0))
        c = srv.counts()
        self.assertEqual((c['queries'], c['pending'], c['answered']), (20, 20, 0))
        start = time.monotonic()
        c = srv.exit_counts()      # SIGTERM: exit 0 at once, timers freed
        self.assertLess(time.monotonic() - start, 2.0)
        self.assertEqual(c['pending'], 20)

    def test_sigint_exits_cleanly(self):
        srv = SlowDNS(self)
        self.assertEqual(srv.stop(signal.SIGINT), 0, srv.text())
        self.assertIn('slowdns: counts queries=0 ', srv.text())


class IPv6ListenTests(unittest.TestCase):

    def test_listen_ipv6_loopback(self):
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
                s.bind(('::1', 0))
        except OSError:
            self.skipTest('no IPv6 loopback here')
        log = tempfile.NamedTemporaryFile(prefix='slowdns-', suffix='.log')
        self.addCleanup(log.close)
        proc = subprocess.Popen([SLOWDNS, '-l', '[::1]:0'], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=log)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait()))
        deadline, m = time.monotonic() + START_TIMEOUT, None
        while m is None and time.monotonic() < deadline and proc.poll() is None:
            with open(log.name) as f:
                m = re.search(r'listening on \[::1\]:(\d+)', f.read())
            time.sleep(0.01)
        self.assertIsNotNone(m)
        r, _ = query(int(m.group(1)), reverse_name('::1'), 'PTR', host='::1')
        self.assertEqual(r['answer'], 'host-0-0-0-0-0-0-0-1.lab.test')
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(EXIT_TIMEOUT), 0)


class UsageTests(unittest.TestCase):

    def test_help(self):
        p = run_slowdns('-h')
        self.assertEqual(p.returncode, 0)
        for opt in ('--listen', '--zone', '--delay', '--jitter', '--drop', '--servfail',
                    '--nxdomain', '--refused', '--truncate', '--mismatch',
                    '--fault-rate', '--seed', '--quiet'):
            self.assertIn(opt, p.stdout)

    def test_bad_arguments_exit_2(self):
        for args in (['--bogus'], ['-x'], ['--delay', 'soon'], ['--delay'],
                     ['--fault-rate', '1.5'], ['--fault-rate', 'nan'], ['--seed', '-1'],
                     ['-l', 'localhost:53'], ['-l', '127.0.0.1'], ['extra']):
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

"""Limits on what clients may take: descriptor exhaustion logged once per
episode (fault matrix row 32), per-client session and connection-rate
limits (row 31)."""
import re
import socket
import time

from harness import BannerdTest, Conversation, wait_for

PAUSE = r"pausing accept for \d+ ms"
RESUMED = r"accept on \S+ resumed \((\d+) further errors while paused\)"


class ExhaustionTest(BannerdTest):
    def hold(self, d, n):
        """Opens n connections, more than the daemon has descriptors; the
        ones the kernel queues but bannerd cannot accept are held too."""
        held = []
        for _ in range(n):
            try:
                held.append(socket.create_connection((d.host, d.port), timeout=1))
            except OSError:
                break
        self.addCleanup(lambda: [s.close() for s in held])
        return held

    def banner(self, d):
        try:
            with socket.create_connection((d.host, d.port), timeout=2) as s:
                return Conversation(s).reply(timeout=2)[0] == 220
        except (OSError, EOFError):
            return False

    def test_accept_errors_logged_once_per_episode(self):
        d = self.start("listen.accept_retry=100ms", "pool.workers=1", "log.protocol_log=none",
                       rlimit_nofile=64)
        for episode in (1, 2):
            held = self.hold(d, 200)
            d.wait_log(PAUSE, count=episode)
            # About ten retries of 100 ms, every one failing again.
            t0 = time.monotonic()
            wait_for(lambda: time.monotonic() - t0 > 1.0, 2, "a second of wall time")
            self.assertEqual(len(re.findall(PAUSE, d.log_text())), episode, d.log_text()[-3000:])
            for s in held:
                s.close()
            wait_for(lambda: self.banner(d), 10, "a banner after recovery", interval=0.2)
            resumed = d.wait_log(RESUMED, count=episode)
            self.assertGreaterEqual(int(resumed[episode - 1].group(1)), 3, d.log_text()[-3000:])
        self.assertEqual(len(re.findall(PAUSE, d.log_text())), 2)
        self.assertEqual(d.stop(), 0)

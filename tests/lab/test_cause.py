"""The cause engine on made-up runs shaped like the lab's scenarios."""
import unittest

from labanalysis import cause, sessions
from synth import capacity, pair, server

S = 1000000


def run(pairs, cap, threshold_us=10 * S, config=None):
    probe = [p for p, _ in pairs]
    recs = [r for _, r in pairs]
    rows, left = sessions.join(probe, recs)
    assert not left
    return cause.analyse(rows, recs, cap, threshold_us, config or {})


class Cause(unittest.TestCase):
    def test_a_fault_on_some_sessions_is_the_dns_not_the_path(self):
        # flaky-dns: one lookup in five is lost and retried a second later
        pairs = [pair(i, i * 100000, rdns=(1 * S if i % 5 == 0 else 1000)) for i in range(50)]
        res = run(pairs, capacity(threads=64, workers=16, spw=16))
        self.assertEqual(res["cause"], "rdns")
        self.assertEqual(res["lever"], "rdns.enabled")

    def test_protocol_logging_names_the_lookup_even_when_small(self):
        pairs = [pair(i, i * 10000, rdns=1500, write=150) for i in range(100)]
        res = run(pairs, capacity(pool=False, workers=2, spw=0),
                  config={"rdns_why": "rdns.enabled = auto, because the protocol log is on"})
        self.assertEqual(res["cause"], "rdns")
        self.assertRegex(res["lines"][0], r"is 9\d% of each banner \(done because protocol logging is on\)")

    def test_untuned_the_slot_queue_is_a_symptom_of_the_resolver(self):
        # 3 arrivals/s, 1 s lookups, 2 resolver threads, 4 one-session
        # workers: the resolver needs 3 threads; the slots, once nobody
        # waits for a resolver, 3 of 4
        pairs = []
        for i in range(90):
            wait = i * 160000                       # the backlog grows
            pairs.append(pair(i, i * 333333, queue=wait, rdns_wait=S // 2, rdns=S))
        res = run(pairs, capacity(workers=4, spw=1, threads=2))
        self.assertEqual(res["dominant"], "queue")
        self.assertEqual(res["cause"], "rdns_wait")
        self.assertEqual(res["lever"], "rdns.threads")
        self.assertEqual(res["also"], "none")
        self.assertIn("holding their slots while they wait for a resolver", res["lines"][0])
        self.assertTrue(any(l.startswith("  growing: queue") for l in res["lines"]))

    def test_too_few_slots_with_a_parallel_resolver_is_the_pool(self):
        pairs = [pair(i, i * 333333, queue=i * 100000, rdns=S) for i in range(60)]
        res = run(pairs, capacity(workers=2, spw=1, pool=False))
        self.assertEqual(res["cause"], "queue")
        self.assertEqual(res["lever"], "pool.workers")

    def test_both_short_names_the_resolver_then_the_slots(self):
        pairs = [pair(i, i * 333333, queue=i * 100000, rdns_wait=S // 2, rdns=S) for i in range(60)]
        res = run(pairs, capacity(workers=2, spw=1, threads=2))
        self.assertEqual(res["cause"], "rdns_wait")
        self.assertEqual(res["also"], "queue")

    def test_slow_client_fast_server_is_the_path(self):
        pairs = [pair(i, 0, path=8 * S) for i in range(20)]
        res = run(pairs, capacity(pool=False, spw=0), threshold_us=5 * S)
        self.assertEqual(res["cause"], "path")
        self.assertEqual(res["lever"], "path")

    def test_an_ident_query_past_the_lookup_is_ident(self):
        # a filter dropping port 113: each banner waits ident.timeout past a
        # 50 ms lookup
        pairs = [pair(i, i * 1000, rdns=50000, ident=5 * S) for i in range(20)]
        res = run(pairs, capacity(pool=False, spw=0), threshold_us=2 * S)
        self.assertEqual((res["cause"], res["lever"]), ("ident", "ident.enabled"))
        self.assertTrue(res["lines"][0].startswith("ident: the ident query (RFC 1413"), res["lines"])
        # and a run without the stage keeps its table
        pairs = [pair(i, i * 1000, rdns=S) for i in range(20)]
        self.assertEqual(run(pairs, capacity(pool=False, spw=0))["cause"], "rdns")

    def test_a_late_proxy_header_is_proxy(self):
        # a sender that does not speak the protocol: each session waits
        # listen.proxy_timeout for a header
        pairs = [pair(i, i * 1000, proxy=3 * S) for i in range(20)]
        res = run(pairs, capacity(pool=False, spw=0), threshold_us=2 * S)
        self.assertEqual((res["cause"], res["lever"]), ("proxy", "listen.proxy_protocol"))
        self.assertTrue(res["lines"][0].startswith("proxy: bannerd waited"), res["lines"])

    def test_an_injected_delay(self):
        pairs = [pair(i, 0, delay=8 * S) for i in range(20)]
        self.assertEqual(run(pairs, capacity(pool=False, spw=0))["cause"], "delay")

    def test_immediate_banners_have_no_cause(self):
        pairs = [pair(i, i * 1000, queue=120, write=150, path=100) for i in range(300)]
        res = run(pairs, capacity(pool=False, spw=0))
        self.assertEqual(res["cause"], "none")
        self.assertTrue(res["lines"][0].startswith("none: the banner is immediate"))

    def test_senders_that_gave_up_blame_the_stage_they_waited_in(self):
        # the client gives up at the threshold; bannerd sees it leave while
        # the lookup still runs, a moment after it had accepted
        pairs = []
        for i in range(10):
            p, r = pair(i, 0, rdns=int(0.499 * S), write=0)
            r.update(banner_us=None, waited_us=r["t_us"], outcome="abandoned")
            p.update(banner_us=0, code=0, outcome="gave_up", total_us=int(0.5025 * S))
            pairs.append((p, r))
        res = run(pairs, capacity(threads=64, workers=16, spw=16), threshold_us=S // 2)
        self.assertEqual(res["cause"], "rdns")

    def test_the_capacity_in_force_when_the_slow_sessions_came(self):
        cap = capacity(workers=4, spw=1, threads=2,
                       events=[{"key": "rdns.threads", "wall_us": 10 ** 19, "old": 2, "new": 64}])
        self.assertEqual(cause.capacity_at(cap, "rdns.threads", 0), 2)
        self.assertEqual(cause.capacity_at(cap, "rdns.threads", 10 ** 19), 64)


def server_only(recs, threshold_us):
    rows = sessions.server_only_rows(recs)
    return rows, cause.analyse(rows, recs, capacity(pool=False, spw=0), threshold_us, {})


def left_silent(sid, accept_us, waited_us):
    """A session whose 220 bannerd wrote at once and whose client hung
    up without a word after waiting_us (a real MTA's greeting timeout)."""
    r = server(sid, 40000 + sid, accept_us, queue=200, write=150, outcome="disconnect",
               hold_after=waited_us - 350)
    r.update(commands=0, how="fin")
    return r


def delivered(sid, accept_us):
    r = server(sid, 40000 + sid, accept_us, queue=200, write=150, hold_after=40000)
    r.update(commands=5)
    return r


class ServerOnly(unittest.TestCase):
    """Runs with no client's times of their own (a real Postfix): rows
    from bannerd's log alone."""

    def test_a_banner_sent_at_once_that_the_clients_never_answered_is_the_path(self):
        # ndr-postfix-path: the filter drops the 220; Postfix hangs up at
        # its 1 s greeting timeout, three times; then a delivery
        recs = [left_silent(i + 1, i * 2 * S, S + 3000) for i in range(3)] + [delivered(4, 7 * S)]
        rows, res = server_only(recs, S)
        self.assertEqual(res["cause"], "path")
        self.assertEqual(res["lever"], "path")
        quiet = [r for r in rows if r["silent"]]
        self.assertEqual(len(quiet), 3)
        self.assertTrue(all(r["outcome"] == "gave_up" and not r["greeted"] and r["code"] == 0 for r in quiet))
        # the parts still add up to the wait: bannerd's stages, the rest path
        self.assertEqual(sum(quiet[0]["parts"].values()), quiet[0]["wait_us"])
        self.assertEqual(quiet[0]["parts"]["path"], S + 3000 - 350)
        self.assertFalse(rows[3]["silent"])
        self.assertTrue(rows[3]["greeted"])

    def test_a_late_banner_the_clients_left_before_is_still_the_stage(self):
        # ndr-postfix: the lookup held the banner; Postfix left before it
        recs = []
        for i in range(2):
            r = server(i + 1, 40000 + i, i * 3 * S, queue=200, rdns=2 * S, banner=False, outcome="abandoned")
            r.update(commands=0, how="fin", rdns_result="pending")
            recs.append(r)
        recs.append(delivered(3, 7 * S))
        rows, res = server_only(recs, 2 * S - 10000)
        self.assertEqual(res["cause"], "rdns")
        self.assertFalse(any(r["silent"] for r in rows))

    def test_greeted_clients_that_spoke_have_no_cause(self):
        rows, res = server_only([delivered(i + 1, i * S) for i in range(5)], S)
        self.assertEqual(res["cause"], "none")
        self.assertEqual(sum(r["parts"]["path"] for r in rows), 0)

    def test_a_client_that_sent_a_command_was_not_silent(self):
        r = left_silent(1, 0, S)
        self.assertTrue(sessions.silent(r))
        for change in ({"commands": 1}, {"commands": None}, {"outcome": "timeout"}, {"banner_us": None}):
            self.assertFalse(sessions.silent(dict(r, **change)), change)


class Join(unittest.TestCase):
    def test_reused_port_pairs_in_order(self):
        p1, r1 = pair(1, 0, rdns=1000)
        p2, r2 = pair(2, 5 * S, rdns=2000)
        p2["source"], r2["peer"] = p1["source"], r1["peer"]
        rows, left = sessions.join([p2, p1], [r2, r1])
        self.assertEqual([r["server"]["sid"] for r in rows], [1, 2])
        self.assertEqual(left, [])

    def test_through_a_relay(self):
        p, r = pair(1, 0, path=400000)
        relay = [{"client": p["source"], "via": "127.0.0.1:9", "server_first_byte_us": 300,
                  "client_first_byte_us": 400300}]
        r["peer"] = "127.0.0.1:9"
        rows, _ = sessions.join([p], [r], relay)
        self.assertIs(rows[0]["server"], r)
        self.assertEqual(rows[0]["parts"]["path"], 400000)

    def test_unmatched_try_is_all_path(self):
        p, _ = pair(1, 0, rdns=1000)
        rows, _ = sessions.join([p], [])
        self.assertEqual(rows[0]["parts"]["path"], rows[0]["client_us"])

    def test_parts_add_up_to_the_client_wait(self):
        p, r = pair(1, 0, queue=300, rdns=5000, write=100, path=700)
        (row,), _ = sessions.join([p], [r])
        self.assertEqual(sum(row["parts"].values()), row["client_us"])


if __name__ == "__main__":
    unittest.main()

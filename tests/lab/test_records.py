import os
import tempfile
import unittest

from labanalysis import records

LOG = """2026-12-02T01:48:39.320817Z daemon msg="bannerd 0.1.0 starting: pid=4944 workers=4 max_sessions=30 protocol_log=medium sink=discard banner.delay=0 us"
2026-12-02T01:48:31.453105Z daemon msg="rdns: on (rdns.enabled = auto, because the protocol log is on); servers 127.0.0.1:50333; timeout 1000 ms x 2 tries"
2026-12-02T01:48:39.471032Z close sid=00000001 peer=127.0.0.1:45334 t_us=52887 outcome=normal state=CLOSING queue=298us rdns_wait=578us rdns=50.7ms rdns_result=ok client=host-127-0-0-1.lab.test delay=1us write=154us banner=51.9ms commands=1 messages=0 errors=0
2026-12-02T01:48:52.446704Z close sid=00000002 peer=127.0.0.1:60970 t_us=500635 outcome=abandoned state=RDNS_WAIT queue=192us rdns_wait=- rdns=500.4ms rdns_result=pending client=unknown delay=- write=- banner=- waited=500.7ms commands=0 messages=0 errors=0
2026-12-02T08:26:09.882359Z close sid=00000003 peer=198.51.100.10:34204 t_us=1021495 outcome=disconnect how=fin state=GREETED queue=553us rdns=- delay=0us write=119us banner=672us commands=0 messages=0 errors=0
2026-12-02T01:48:47.382075Z daemon msg="pool: workers 4 -> 16"
2026-12-02T01:48:47.410517Z daemon msg="rdns: resolver threads 2 -> 64"
"""


class BannerdLog(unittest.TestCase):
    def setUp(self):
        fd, self.path = tempfile.mkstemp()
        with os.fdopen(fd, "w") as f:
            f.write(LOG)

    def tearDown(self):
        os.unlink(self.path)

    def test_close_lines(self):
        log = records.read_bannerd_log(self.path)
        a, b, c = log["sessions"]
        self.assertEqual(a["sid"], 1)
        self.assertEqual(a["peer"], "127.0.0.1:45334")
        self.assertEqual(a["stages"], {"queue": 298, "proxy": None, "rdns_wait": 578, "rdns": 50700,
                                       "ident": None, "delay": 1, "write": 154})
        self.assertEqual(a["banner_us"], 51900)
        self.assertEqual(a["close_wall_us"] - a["accept_wall_us"], 52887)
        self.assertEqual(b["outcome"], "abandoned")
        self.assertIsNone(b["banner_us"])
        self.assertIsNone(b["stages"]["write"])
        self.assertEqual(b["waited_us"], 500700)
        self.assertEqual((a["commands"], a["how"]), (1, None))
        # the client left without a word after bannerd had sent its banner
        self.assertEqual((c["outcome"], c["how"], c["commands"], c["banner_us"]), ("disconnect", "fin", 0, 672))

    def test_config_and_reloads(self):
        log = records.read_bannerd_log(self.path)
        self.assertEqual(log["config"]["workers"], "4")
        self.assertIn("protocol log", log["config"]["rdns_why"])
        keys = [(e["key"], e["old"], e["new"]) for e in log["events"]]
        self.assertEqual(keys, [("pool.workers", 4, 16), ("rdns.threads", 2, 64)])

    def test_a_reload_that_turns_the_lookup_on_gives_its_reason(self):
        # lb-healthcheck: rdns off at the start, on after a SIGHUP; the
        # verdict's "done because" is the reload's reason, not the start's
        with open(self.path, "w") as f:
            f.write('2026-12-02T09:49:14.171956Z daemon msg="rdns: off (rdns.enabled = off, protocol_log = minimum)"\n'
                    '2026-12-02T09:49:19.638920Z daemon msg="rdns: on (rdns.enabled = on); servers 127.0.0.1:1 '
                    '(rdns.servers); timeout 5000 ms x 2 tries"\n')
        log = records.read_bannerd_log(self.path)
        self.assertEqual(log["config"]["rdns_why"], "rdns.enabled = on")
        self.assertEqual([(e["key"], e["old"], e["new"]) for e in log["events"]], [("rdns", "off", "on")])

    def test_missing_file_is_empty(self):
        self.assertEqual(records.read_bannerd_log("/nonexistent")["sessions"], [])


class Others(unittest.TestCase):
    def test_kv_quotes(self):
        self.assertEqual(records.parse_kv('a=1 msg="x \\"y\\" z" b='), {"a": "1", "msg": 'x "y" z', "b": ""})

    def test_relay_line(self):
        with tempfile.NamedTemporaryFile("w", delete=False) as f:
            f.write("slowrelay: accept id=1 client=127.0.0.1:5\n"
                    "slowrelay: released id=1 client=127.0.0.1:5 via=127.0.0.1:6 "
                    "server_first_byte_us=457 client_first_byte_us=501172\n")
        try:
            (r,) = records.read_relay_log(f.name)
            self.assertEqual((r["client"], r["via"], r["server_first_byte_us"], r["client_first_byte_us"]),
                             ("127.0.0.1:5", "127.0.0.1:6", 457, 501172))
        finally:
            os.unlink(f.name)

    def test_postfix_events(self):
        with tempfile.NamedTemporaryFile("w", delete=False) as f:
            f.write("Dec 02 01:48:58 sender postfix/qmgr[1]: A: from=<labsender@sender.lab.test>, size=363, nrcpt=1 (queue active)\n"
                    "Dec 02 01:49:00 sender postfix/smtp[2]: A: to=<postmaster@ims.lab.test>, relay=127.0.0.1[127.0.0.1]:1, "
                    "dsn=4.4.2, status=deferred (conversation with 127.0.0.1[127.0.0.1] timed out while receiving the initial server greeting)\n"
                    "Dec 02 01:49:03 sender postfix/qmgr[1]: A: from=<labsender@sender.lab.test>, status=expired, returned to sender\n")
        try:
            ev = records.read_postfix_log(f.name)
            self.assertEqual([e["kind"] for e in ev], ["queued", "greeting_timeout", "expired"])
            self.assertEqual(ev[1]["wall_us"] - ev[0]["wall_us"], 2000000)
        finally:
            os.unlink(f.name)

    def test_postfix_delivery_to_any_relay_and_the_local_dsn(self):
        with tempfile.NamedTemporaryFile("w", delete=False) as f:
            f.write("Dec 02 08:26:13 sender postfix/local[3]: B: to=<labsender@sender.lab.test>, relay=local, "
                    "delay=0.02, dsn=2.0.0, status=sent (delivered to maildir)\n"
                    "Dec 02 08:26:14 sender postfix/smtp[2]: C: to=<postmaster@ims.lab.test>, "
                    "relay=203.0.113.25[203.0.113.25]:25, delay=0.06, dsn=2.0.0, status=sent (250 2.0.0 Ok)\n"
                    "Dec 02 08:19:24 sender postfix/smtp[2]: D: to=<postmaster@ims.lab.test>, "
                    "relay=127.0.0.1[127.0.0.1]:32905, delay=0.06, dsn=2.0.0, status=sent (250 2.0.0 Ok)\n")
        try:
            self.assertEqual([e["kind"] for e in records.read_postfix_log(f.name)],
                             ["bounce_sent", "delivered", "delivered"])
        finally:
            os.unlink(f.name)


if __name__ == "__main__":
    unittest.main()

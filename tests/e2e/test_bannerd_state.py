"""The session state machine is traced: at log.protocol_log = maximum every
change of state is one "state" line with the session id, in order; below
maximum there are none, and the close line is what it always was."""
from harness import BannerdTest, Conversation, Slowdns


def transitions(d, sid):
    return [(e["from"], e["to"]) for e in d.events("state") if e["sid"] == sid]


class StateTraceTest(BannerdTest):
    def dialogue(self, d):
        c = self.greet(d)
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<a@client.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<b@lab.test>")[0], 250)
        self.assertEqual(c.cmd("RSET")[0], 250)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        self.assertTrue(c.closed())
        return d.wait_event("close")[0]

    def test_maximum_traces_every_state_in_order(self):
        d = self.start("log.protocol_log=maximum", "banner.delay=20ms")
        close = self.dialogue(d)
        self.assertEqual(transitions(d, close["sid"]), [
            ("QUEUED", "DELAYING"), ("DELAYING", "GREETED"), ("GREETED", "READY"),
            ("READY", "MAIL"), ("MAIL", "RCPT"), ("RCPT", "READY"), ("READY", "CLOSING"),
        ])
        self.assertEqual(close["state"], "CLOSING")

    def test_maximum_traces_the_lookup(self):
        dns = Slowdns(self, "--delay", "50ms")
        for mode, first in (("async", "RESOLVING"), ("pool", "RDNS_WAIT")):
            d = self.start("log.protocol_log=maximum", "rdns.enabled=on",
                           "rdns.servers=" + dns.address, "rdns.mode=" + mode)
            c = self.greet(d)
            self.assertEqual(c.cmd("QUIT")[0], 221)
            close = d.wait_event("close")[0]
            self.assertEqual(transitions(d, close["sid"]), [
                ("QUEUED", first), (first, "GREETED"), ("GREETED", "CLOSING"),
            ], mode)
            d.stop()

    def test_medium_has_no_trace(self):
        d = self.start("log.protocol_log=medium", "banner.delay=20ms")
        close = self.dialogue(d)
        self.assertEqual(d.events("state"), [])
        self.assertEqual(close["outcome"], "normal")

"""GET /live and POST /control on bannerd's HTTP listener, against a real
bannerd with real clients: one record per connection with its banner
time and stages, abandoned and rejected sessions, since, the ring at
metrics.live_buffer, gauges and keys as /metrics and the configuration
have them; who may change the server through POST /control (off, the
address list, the token, the body's size); and what a change does: the
banner time moves, a bad value changes nothing, the log and /live's
changes (from the page and from the socket) say who did it."""
import http.client
import json
import os
import re
import signal
import smtplib
import socket
import subprocess
import urllib.error
import urllib.request

from harness import (TIME_SCALE, BannerdTest, Conversation, binary, free_port, prom_value, scrape, tmpdir,
                     wait_for, write)


class LiveTest(BannerdTest):
    def daemon(self, *overrides):
        d = self.start("metrics.listen=127.0.0.1:0", *overrides)
        d.http = d.wait_log(r"metrics on http://(\S+)/metrics")[0].group(1)
        return d

    def live(self, d, since=None):
        url = "http://%s/live" % d.http + ("" if since is None else "?since=%s" % since)
        with urllib.request.urlopen(url, timeout=10) as r:
            self.assertEqual(r.status, 200)
            self.assertEqual(r.headers["Content-Type"], "application/json")
            return json.loads(r.read().decode("utf-8"))

    def status(self, d, path):
        try:
            with urllib.request.urlopen("http://%s%s" % (d.http, path), timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def post(self, d, body, token=None, source="127.0.0.1"):
        host, port = d.http.rsplit(":", 1)
        c = http.client.HTTPConnection(host, int(port), timeout=10, source_address=(source, 0))
        self.addCleanup(c.close)
        headers = {"Content-Type": "text/plain"}
        if token is not None:
            headers["X-Bannerd-Token"] = token
        c.request("POST", "/control", body=body.encode() if isinstance(body, str) else body,
                  headers=headers)
        r = c.getresponse()
        return r.status, r.read().decode()

    def smtp_session(self, d):
        s = smtplib.SMTP(d.host, d.port, timeout=10)
        s.quit()

    def wait_records(self, d, n, timeout=10):
        return wait_for(lambda: (lambda j: j if len(j["conns"]) >= n else None)(self.live(d)),
                        timeout, "%d records in /live" % n)

    def test_one_record_per_connection_with_its_banner_time(self):
        d = self.daemon("banner.delay=300ms", "log.protocol_log=minimum")
        for _ in range(3):
            self.smtp_session(d)
        # a client that leaves during the delay: abandoned
        s = socket.create_connection((d.host, d.port))
        s.close()
        d.wait_event("close", outcome="abandoned")
        j = self.wait_records(d, 4)
        self.assertEqual(j["seq"], 4)
        self.assertEqual(j["dropped"], 0)
        self.assertEqual([c["seq"] for c in j["conns"]], [1, 2, 3, 4])
        banners = [c for c in j["conns"] if c["outcome"] == "banner"]
        abandoned = [c for c in j["conns"] if c["outcome"] == "abandoned"]
        self.assertEqual(len(banners), 3, j["conns"])
        self.assertEqual(len(abandoned), 1, j["conns"])
        for c in banners:
            self.assertTrue(250000 <= c["banner_us"] <= 3000000 * TIME_SCALE, c)
            self.assertTrue(250000 <= c["stages"]["delay"] <= 3000000 * TIME_SCALE, c)
            self.assertEqual(sorted(c["stages"]),
                             sorted(["queue", "proxy", "rdns_wait", "rdns", "ident", "delay", "write"]))
            # the stages add up to the banner time
            self.assertLess(abs(sum(c["stages"].values()) - c["banner_us"]), 5000, c)
            self.assertTrue(abs(c["t"] - j["now"]) < 60, (c["t"], j["now"]))
        self.assertLess(abandoned[0]["banner_us"], 300000, abandoned)
        self.assertEqual(abandoned[0]["stages"]["write"], 0)
        self.assertTrue(all(a["t"] <= b["t"] for a, b in zip(j["conns"], j["conns"][1:])))
        self.assertEqual(j["changes"], [])

        # since: nothing new, then only the new one
        self.assertEqual(self.live(d, 4)["conns"], [])
        self.assertEqual(self.live(d, 4)["seq"], 4)
        self.assertEqual([c["seq"] for c in self.live(d, 2)["conns"]], [3, 4])
        self.smtp_session(d)
        j = wait_for(lambda: self.live(d, 4)["conns"], 10, "the fifth record")
        self.assertEqual([c["seq"] for c in j], [5])
        self.assertEqual(j[0]["outcome"], "banner")
        for bad in ("x", "-1", "", "1.5", "18446744073709551616"):
            code, text = self.status(d, "/live?since=" + bad)
            self.assertEqual(code, 400, bad)
            self.assertIn("since", text)
        self.assertEqual(self.status(d, "/live?since=18446744073709551615")[0], 200)
        self.assertEqual(self.status(d, "/nothing")[0], 404)
        self.assertEqual(d.stop(), 0)

    def test_rejected_at_the_door_and_after_the_lookup(self):
        # nobody answers DNS on that port: the lookup fails, and
        # rdns.on_failure = tempfail ends the session with a 421
        d = self.daemon("banner.delay=200ms", "rdns.enabled=on",
                        "rdns.servers=127.0.0.1:%d" % free_port(), "rdns.timeout=100ms", "rdns.tries=1",
                        "rdns.on_failure=tempfail")
        c = Conversation(d.connect())
        self.assertEqual(c.reply()[0], 421)
        c.closed()
        wait_for(lambda: prom_value(scrape("http://%s/metrics" % d.http), "bannerd_sessions") == 0,
                 10, "the first session to end")
        d2 = self.daemon("listen.max_sessions=1", "banner.delay=200ms")
        held = self.greet(d2)
        # the second is over listen.max_sessions: 421 at the listener
        c = Conversation(d2.connect())
        self.assertEqual(c.reply()[0], 421)
        held.cmd("QUIT")
        j = self.wait_records(d, 1)
        self.assertEqual([x["outcome"] for x in j["conns"]], ["rejected"], j["conns"])
        self.assertGreater(j["conns"][0]["stages"]["rdns"], 0)
        self.assertEqual(j["conns"][0]["stages"]["delay"], 0)
        j = self.wait_records(d2, 2)
        self.assertEqual([x["outcome"] for x in j["conns"]], ["banner", "rejected"], j["conns"])
        self.assertEqual(j["conns"][1]["banner_us"], 0)
        self.assertEqual(d.stop(), 0)
        self.assertEqual(d2.stop(), 0)

    def test_live_buffer_keeps_the_newest_at_the_limit(self):
        d = self.daemon("metrics.live_buffer=16")
        for _ in range(20):
            self.smtp_session(d)
        j = wait_for(lambda: (lambda j: j if j["seq"] >= 20 else None)(self.live(d)), 10, "20 records")
        self.assertEqual(j["seq"], 20)
        self.assertEqual(j["dropped"], 4)
        self.assertEqual([c["seq"] for c in j["conns"]], list(range(5, 21)))
        self.assertEqual([c["seq"] for c in self.live(d, 2)["conns"]], list(range(5, 21)))
        self.assertEqual(d.stop(), 0)

    def test_live_buffer_bounds(self):
        for value, ok in (("15", False), ("16", True), ("1048576", True), ("1048577", False)):
            r = subprocess.run([binary("bannerd"), "-t", "-o", "metrics.live_buffer=" + value],
                               capture_output=True, timeout=30)
            self.assertEqual(r.returncode, 0 if ok else 2, (value, r.stderr))
            if not ok:
                self.assertIn(b"metrics.live_buffer", r.stderr)
        r = subprocess.run([binary("bannerd"), "-t", "-o", "metrics.control=on"], capture_output=True,
                           timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"metrics.control: on needs metrics.listen", r.stderr)

    def test_gauges_match_metrics_and_keys_the_config(self):
        d = self.daemon("pool.workers=1", "pool.sessions_per_worker=1", "pool.queue_max=7",
                        "banner.delay=250ms", "banner.delay_jitter=1500us", "log.protocol_log=medium")
        held = self.greet(d)
        waiting = d.connect()	# no slot: queued
        url = "http://%s/metrics" % d.http
        wait_for(lambda: prom_value(scrape(url), "bannerd_queue_depth") == 1, 10, "one queued")
        m = scrape(url)
        j = self.live(d)
        g = j["gauges"]
        self.assertEqual(g["sessions"], prom_value(m, "bannerd_sessions"))
        self.assertEqual(g["queued"], prom_value(m, "bannerd_queue_depth"))
        self.assertEqual(g["workers"], prom_value(m, "bannerd_pool_workers"))
        self.assertEqual(g["sessions_per_worker"], prom_value(m, "bannerd_pool_sessions_per_worker"))
        self.assertEqual(g["rdns_threads"], prom_value(m, "bannerd_rdns_threads"))
        self.assertEqual((g["sessions"], g["queued"], g["workers"]), (1, 1, 1))
        k = j["keys"]
        self.assertEqual(k["log.protocol_log"], "medium")
        self.assertEqual(k["rdns.enabled"], "off")
        self.assertIs(k["rdns.active"], False)
        self.assertEqual(k["rdns.mode"], "async")
        self.assertEqual(k["rdns.timeout"], "1s")
        self.assertEqual(k["rdns.tries"], 2)
        self.assertEqual(k["ident.enabled"], "off")
        self.assertEqual(k["banner.delay"], "250ms")
        self.assertEqual(k["banner.delay_jitter"], "1500us")
        self.assertEqual((k["pool.workers"], k["pool.sessions_per_worker"], k["pool.queue_max"]), (1, 1, 7))
        self.assertIs(j["control"], False)
        held.cmd("QUIT")
        waiting.close()
        self.assertEqual(d.stop(), 0)

    def test_reload_says_the_metrics_keys_need_a_restart(self):
        conf = os.path.join(tmpdir(self), "b.conf")
        write(conf, "[metrics]\nlisten = 127.0.0.1:0\n")
        d = self.start(conf=conf)
        write(conf, "[metrics]\nlisten = 127.0.0.1:0\ncontrol = on\ncontrol_allow = ::1\nlive_buffer = 16\n")
        d.signal(signal.SIGHUP)
        for key in ("metrics.control", "metrics.control_allow", "metrics.live_buffer"):
            d.wait_log(re.escape(key) + " changed; it takes effect only after a restart")
        self.assertEqual(d.stop(), 0)

    # ---- POST /control ----

    def token(self, d):
        return d.wait_log(r"live page: http://\S+/#token=([0-9a-f]{32}) \(controls on\)")[0].group(1)

    def test_control_off_is_404_and_the_page_read_only(self):
        d = self.daemon()
        d.wait_log(r"live page: http://%s/ \(read-only\)" % re.escape(d.http))
        self.assertNotIn("#token=", d.log_text())
        code, text = self.post(d, "show", token="0" * 32)
        self.assertEqual(code, 404)
        self.assertIn("metrics.control", text)
        self.assertIs(self.live(d)["control"], False)
        self.assertEqual(d.stop(), 0)

    def test_control_needs_the_token_and_an_allowed_address(self):
        d = self.daemon("metrics.control=on", "metrics.control_allow=127.0.0.2/32")
        token = self.token(d)
        self.assertEqual(len(d.wait_log(r"live page: ", timeout=1)), 1)
        # 127.0.0.1 is not in the list, right token or not
        self.assertEqual(self.post(d, "show", token=token)[0], 403)
        self.assertIs(self.live(d)["control"], False)
        # 127.0.0.2 is: the token decides
        self.assertEqual(self.post(d, "show", source="127.0.0.2")[0], 403)
        code, text = self.post(d, "show", token="0" * 32, source="127.0.0.2")
        self.assertEqual(code, 403)
        self.assertIn("X-Bannerd-Token", text)
        self.assertEqual(self.post(d, "show", token=token[:-1], source="127.0.0.2")[0], 403)
        code, text = self.post(d, "x" * 4097, token=token, source="127.0.0.2")
        self.assertEqual(code, 413)
        self.assertEqual(self.post(d, "x" * 100000, token=token, source="127.0.0.2")[0], 413)
        code, text = self.post(d, "show", token=token, source="127.0.0.2")
        self.assertEqual(code, 200)
        self.assertTrue(text.endswith("OK\n"), text)
        self.assertEqual(d.stop(), 0)

    def banner_us(self, d):
        """One session's banner time, as /live records it."""
        since = self.live(d)["seq"]
        self.smtp_session(d)
        return wait_for(lambda: self.live(d, since)["conns"], 10, "the session's record")[0]["banner_us"]

    def test_control_changes_the_banner_time_and_a_bad_value_changes_nothing(self):
        d = self.daemon("metrics.control=on", "log.protocol_log=minimum")
        token = self.token(d)
        self.assertIs(self.live(d)["control"], True)
        self.assertLess(self.banner_us(d), 250000)

        code, text = self.post(d, "set banner.delay=300ms\n", token=token)
        self.assertEqual((code, text), (200, "OK\n"))
        d.wait_log(r"control: set banner\.delay=300ms \(from http 127\.0\.0\.1\)")
        j = self.live(d)
        self.assertEqual(j["keys"]["banner.delay"], "300ms")
        self.assertEqual(j["changes"][-1]["line"], "set banner.delay=300ms")
        self.assertEqual(j["changes"][-1]["origin"], "http 127.0.0.1")
        self.assertTrue(abs(j["changes"][-1]["t"] - j["now"]) < 60)
        slow = self.banner_us(d)
        self.assertTrue(250000 <= slow <= 3000000 * TIME_SCALE, slow)

        # a bad value: 400, the reason, and nothing changed
        code, text = self.post(d, "set banner.delay=soon", token=token)
        self.assertEqual(code, 400)
        self.assertTrue(text.startswith("ERR ") and text.endswith("\n"), text)
        self.assertIn("banner.delay", text)
        d.wait_log(r"control: rejected: set banner\.delay=soon \(from http 127\.0\.0\.1\): ")
        self.assertEqual(self.live(d)["keys"]["banner.delay"], "300ms")
        self.assertEqual(len(self.live(d)["changes"]), 1)
        # the page may not widen its own access
        code, text = self.post(d, "set metrics.control_allow=0.0.0.0/0", token=token)
        self.assertEqual(code, 400)
        self.assertIn("restart", text)
        # one line only
        self.assertEqual(self.post(d, "show\nset banner.delay=0", token=token)[0], 400)
        self.assertEqual(self.live(d)["keys"]["banner.delay"], "300ms")
        # show: body lines, then OK
        code, text = self.post(d, "show banner.delay", token=token)
        self.assertEqual(code, 200)
        self.assertTrue(text.endswith("\nOK\n") and "300ms" in text, text)

        self.assertEqual(self.post(d, "unset banner.delay", token=token)[0], 200)
        self.assertLess(self.banner_us(d), 250000)
        self.assertEqual([c["line"] for c in self.live(d)["changes"]],
                         ["set banner.delay=300ms", "unset banner.delay"])
        self.assertEqual(d.stop(), 0)

    def test_socket_changes_reach_the_page(self):
        sock = os.path.join(tmpdir(self), "ctl.sock")
        d = self.daemon("server.control_socket=" + sock)
        r = subprocess.run([binary("bannerctl"), "-s", sock, "set", "banner.delay=2s"], capture_output=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        j = self.live(d)
        self.assertEqual(j["keys"]["banner.delay"], "2s")
        self.assertEqual(len(j["changes"]), 1)
        self.assertEqual(j["changes"][0]["line"], "set banner.delay=2s")
        self.assertTrue(j["changes"][0]["origin"].startswith("socket uid="), j["changes"])
        self.assertIs(j["control"], False)	# the socket is on, the page is read-only
        self.assertEqual(d.stop(), 0)

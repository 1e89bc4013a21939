"""bannerd's live page (GET / on metrics.listen), in a real browser.

- The routes, without a browser: / and /static/NAME serve the files
  compiled into bannerd (web/, vendor/uplot/, smtpprobe's profile table),
  byte for byte, with their content types and cache headers; anything
  else under /static/ is 404; the page loads nothing from elsewhere.
- In headless Chromium (Debian's chromium and chromedriver, Python's
  Selenium), against a bannerd under an open-loop smtpprobe load: the
  chart shows points, the page's figures match /metrics and /live, the
  page's controls (with the token bannerd logged) set banner.delay and
  the page's p50 follows, then set it back; a page without the token
  shows the refusal and changes nothing; read-only mode hides the
  controls; the page holds at most 20000 connections and 10 minutes, and
  starts over when bannerd restarts. Screenshots before and after the
  change go to $BANNERLAB_RESULTS, else $BUILD/test-results/browser/.

A missing browser, driver or Selenium fails the test (never a skip):
scripts/install-deps --test installs them.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

from harness import BUILD, ROOT, Bannerd, binary, prom_value, scrape, tmpdir, wait_for

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
DEBIAN_PYTHON = "/usr/lib/python3/dist-packages"
INSTALL = "run scripts/install-deps --test (it installs chromium, chromium-driver and python3-selenium)"
TOKEN_LINE = r"live page: (http://\S+/)(#token=([0-9a-f]{32}))? \((controls on|read-only)\)"
OKABE_BLUE = (0x00, 0x72, 0xb2)		# live.js OUTCOME_COLOURS.ok


def results_dir():
    d = os.environ.get("BANNERLAB_RESULTS") or os.path.join(BUILD, "test-results", "browser")
    os.makedirs(d, exist_ok=True)
    return d


def selenium():
    """Debian's Selenium: with a python3 of its own first on PATH (pyenv),
    its dist-packages are not on sys.path; Selenium is pure Python."""
    try:
        import selenium.webdriver  # noqa: F401
    except ImportError:
        if os.path.isdir(os.path.join(DEBIAN_PYTHON, "selenium")) and DEBIAN_PYTHON not in sys.path:
            sys.path.append(DEBIAN_PYTHON)
        import selenium.webdriver  # noqa: F401
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    return webdriver, Service


def start_browser(test):
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            test.fail("%s is missing: %s" % (path, INSTALL))
    try:
        webdriver, Service = selenium()
    except ImportError as e:
        test.fail("Python's Selenium is missing (%s): %s" % (e, INSTALL))
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--disable-gpu", "--window-size=1400,900", "--no-first-run",
              "--disable-extensions", "--disable-background-networking",
              "--user-data-dir=" + tmpdir(test, "chromium-profile-")):
        opts.add_argument(a)
    if os.geteuid() == 0:
        opts.add_argument("--no-sandbox")	# Chromium refuses to run as root with it
    log = os.path.join(tmpdir(test, "chromedriver-"), "chromedriver.log")
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER, log_path=log), options=opts)
    test.addCleanup(drv.quit)
    # the page's own size, not the window's (which includes the browser's frame)
    drv.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                        {"width": 1400, "height": 900, "deviceScaleFactor": 1, "mobile": False})
    return drv


def http(url, data=None, headers=None, method=None, timeout=10):
    """(status, headers, body bytes), also for 4xx/5xx."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


class Page:
    """A bannerd with its metrics listener; for the page, the URL and
    token it logged (live_page())."""

    def __init__(self, test, *overrides):
        self.d = Bannerd(test, ["metrics.listen=127.0.0.1:0", "log.protocol_log=none"] + list(overrides))
        self.base = "http://%s/" % self.d.wait_log(r"metrics on http://(\S+)/metrics")[0].group(1)

    def live_page(self):
        """The 'live page:' line: (url, token or None, mode)."""
        m = self.d.wait_log(TOKEN_LINE)[0]
        return m.group(1) + (m.group(2) or ""), m.group(3), m.group(4)

    def live(self):
        return json.loads(scrape(self.base + "live?since=0"))

    def metrics(self):
        return scrape(self.base + "metrics")


def socket_to(d):
    return socket.create_connection((d.host, d.port), timeout=10)


def text(drv, id_):
    return drv.find_element("id", id_).text


def value(drv, id_):
    """The figure behind an element's text (live.js: data-value)."""
    v = drv.find_element("id", id_).get_attribute("data-value")
    return float(v) if v not in (None, "") else None


def blue_pixels(drv):
    """Pixels of the 'banner before give-up' colour on the banner chart's
    canvas: points really drawn, not just data held."""
    return drv.execute_script("""
        const c = document.querySelector('#chart-banner canvas');
        if (!c) return -1;
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4)
            if (Math.abs(d[i] - arguments[0]) < 12 && Math.abs(d[i + 1] - arguments[1]) < 12 &&
                Math.abs(d[i + 2] - arguments[2]) < 12 && d[i + 3] > 200)
                n++;
        return n;""", *OKABE_BLUE)


class TestLivePageRoutes(unittest.TestCase):
    """GET / and /static/NAME, with urllib: no browser needed."""

    def test_page_and_assets(self):
        p = Page(self)
        status, h, page = http(p.base)
        self.assertEqual(status, 200)
        self.assertEqual(h["Content-Type"], "text/html; charset=utf-8")
        self.assertEqual(h["Cache-Control"], "no-cache")
        self.assertIn("default-src 'self'", h["Content-Security-Policy"])
        with open(os.path.join(ROOT, "web", "live.html"), "rb") as f:
            self.assertEqual(page, f.read())
        # everything the page loads is on this server
        refs = re.findall(rb'(?:src|href)="([^"]*)"', page)
        self.assertTrue(refs)
        for ref in refs:
            self.assertTrue(ref.startswith(b"/") or ref.startswith(b"data:"), ref)
        files = {"live.js": ("web/live.js", "text/javascript; charset=utf-8"),
                 "live.css": ("web/live.css", "text/css; charset=utf-8"),
                 "uPlot.iife.min.js": ("vendor/uplot/uPlot.iife.min.js", "text/javascript; charset=utf-8"),
                 "uPlot.min.css": ("vendor/uplot/uPlot.min.css", "text/css; charset=utf-8"),
                 "uPlot-LICENSE.txt": ("vendor/uplot/LICENSE", "text/plain; charset=utf-8")}
        for name, (path, ctype) in files.items():
            status, h, body = http(p.base + "static/" + name)
            self.assertEqual(status, 200, name)
            self.assertEqual(h["Content-Type"], ctype, name)
            self.assertEqual(h["Cache-Control"], "max-age=3600", name)
            with open(os.path.join(ROOT, path), "rb") as f:
                self.assertEqual(body, f.read(), name)
        for ref in refs:
            if ref.startswith(b"/static/"):
                self.assertEqual(http(p.base + ref.decode()[1:])[0], 200, ref)

    def test_profiles_are_smtpprobes_table(self):
        p = Page(self)
        status, h, body = http(p.base + "static/profiles.json")
        self.assertEqual(status, 200)
        self.assertEqual(h["Content-Type"], "application/json")
        want = subprocess.run([binary("smtpprobe"), "--profile", "list", "--json", "-"],
                              capture_output=True, check=True, timeout=10).stdout
        self.assertEqual(body, want)
        self.assertIn("impatient-30", [x["name"] for x in json.loads(body)])

    def test_unknown_paths_are_404_and_the_daemon_carries_on(self):
        p = Page(self)
        for path in ("static/", "static/nonesuch.js", "static/../metrics", "static/live.js/",
                     "live.html", "web/live.js", "static/%2e%2e/live.html", "x" * 4000):
            self.assertEqual(http(p.base + path)[0], 404, path)
        status, h, body = http(p.base, method="HEAD")
        self.assertEqual((status, body), (200, b""))
        self.assertEqual(http(p.base + "static/live.js?v=1")[0], 200)
        prom_value(p.metrics(), "bannerd_banners_total")


class TestLivePageBrowser(unittest.TestCase):
    """The page in headless Chromium."""

    def probe(self, page, rate=20, duration="60s"):
        """Open-loop load until duration, or until the test ends (killed
        by PID then)."""
        out = open(os.path.join(tmpdir(self, "smtpprobe-"), "out"), "wb")
        self.addCleanup(out.close)
        proc = subprocess.Popen([binary("smtpprobe"), "-q", "-r", str(rate), "-d", duration,
                                 "%s:%d" % (page.d.host, page.d.port)],
                                stdout=out, stderr=out, stdin=subprocess.DEVNULL)

        def stop():
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait()
        self.addCleanup(stop)
        return proc

    def open(self, drv, url):
        drv.get("about:blank")		# a new hash alone would not reload the page
        drv.get(url)
        wait_for(lambda: "live" in text(drv, "status") or None, 15, "the page's first poll")

    def set_through_page(self, drv, key, val):
        box = drv.find_element("id", "in-" + key)
        box.clear()
        box.send_keys(val)
        box.submit()
        reply = drv.find_element("id", "control-reply")
        wait_for(lambda: reply.get_attribute("class") in ("ok", "err") or None, 10,
                 "the reply to set %s=%s" % (key, val))
        return reply.get_attribute("class"), reply.text

    def test_load_points_figures_and_a_change_through_the_page(self):
        p = Page(self, "metrics.control=on", "banner.delay=50ms")
        url, token, mode = p.live_page()
        self.assertEqual(mode, "controls on")
        self.assertRegex(token, r"^[0-9a-f]{32}$")
        self.assertEqual(url, p.base + "#token=" + token)
        self.probe(p)
        drv = start_browser(self)
        self.open(drv, url)
        self.assertTrue(drv.find_element("id", "controls").is_displayed())
        self.assertEqual(text(drv, "mode"), "controls on")

        # points on the chart
        # some seconds of history, for a screenshot worth looking at
        wait_for(lambda: (value(drv, "banners-total") or 0) >= 150 or None, 40, "150 banners on the page")
        wait_for(lambda: int(drv.find_element("id", "chart-banner").get_attribute("data-points") or 0)
                 >= 40 or None, 10, "40 points on the chart")
        self.assertGreater(blue_pixels(drv), 200, "no points drawn in the 'ok' colour")

        # the page's figures are /metrics' and /live's
        before = prom_value(p.metrics(), "bannerd_banners_total")
        shown = value(drv, "banners-total")
        sessions = value(drv, "sessions")
        after_text = p.metrics()
        after = prom_value(after_text, "bannerd_banners_total")
        self.assertLessEqual(shown, after)
        self.assertGreaterEqual(shown, before - 30, "the page is behind /metrics by more than 1.5 s")
        self.assertIsNotNone(sessions)
        self.assertLessEqual(abs(sessions - prom_value(after_text, "bannerd_sessions")), 10)
        keys = p.live()["keys"]
        for k in ("banner.delay", "log.protocol_log", "rdns.enabled", "pool.workers"):
            self.assertEqual(text(drv, "key-" + k), str(keys[k]).lower() if isinstance(keys[k], bool)
                             else str(keys[k]), k)
        p50_before = value(drv, "p50")
        self.assertTrue(0 < p50_before < 0.3, p50_before)
        shots = results_dir()
        before_png = os.path.join(shots, "live-before.png")
        drv.save_screenshot(before_png)
        print("\nscreenshot: %s" % before_png)

        # a cause changed through the page: banner.delay 50ms -> 600ms
        old = keys["banner.delay"]
        cls, reply = self.set_through_page(drv, "banner.delay", "600ms")
        self.assertEqual(cls, "ok", reply)
        self.assertIn("OK", reply)
        p.d.wait_log(r"control: set banner\.delay=600ms \(from http 127\.0\.0\.1\)")
        wait_for(lambda: text(drv, "key-banner.delay") != old or None, 10, "the new banner.delay shown")
        self.assertNotEqual(p.live()["keys"]["banner.delay"], old)
        wait_for(lambda: (value(drv, "p50") or 0) >= 0.4 or None, 40, "p50 up to the new delay")
        self.assertTrue(0.25 <= value(drv, "p50") <= 3, value(drv, "p50"))
        wait_for(lambda: "banner.delay=600ms" in text(drv, "changes") or None, 10, "the change listed")
        after_png = os.path.join(shots, "live-after.png")
        drv.save_screenshot(after_png)
        print("screenshot: %s" % after_png)

        # and back
        cls, reply = self.set_through_page(drv, "banner.delay", old)
        self.assertEqual(cls, "ok", reply)
        p.d.wait_log(r"control: set banner\.delay=%s \(from http 127\.0\.0\.1\)" % re.escape(old))
        self.assertEqual(p.live()["keys"]["banner.delay"], old)

        # a toggle: the protocol log to maximum and back, by its buttons
        for level in ("maximum", "none"):
            drv.find_element("css selector", "button[data-set='log.protocol_log=%s']" % level).click()
            p.d.wait_log(r"control: set log\.protocol_log=%s \(from http 127\.0\.0\.1\)" % level)
            wait_for(lambda: text(drv, "key-log.protocol_log") == level or None, 10,
                     "log.protocol_log=%s on the page" % level)
            self.assertIn("current", drv.find_element(
                "css selector", "button[data-set='log.protocol_log=%s']" % level).get_attribute("class"))
            if level == "maximum":
                p.d.wait_event("state")		# the load's sessions now traced

        # a bad value: the ERR reason on the page, nothing changed
        cls, reply = self.set_through_page(drv, "banner.delay", "soon")
        self.assertEqual(cls, "err", reply)
        self.assertIn("banner.delay", reply)
        self.assertEqual(p.live()["keys"]["banner.delay"], old)

    def test_without_the_token_the_page_says_so_and_nothing_changes(self):
        p = Page(self, "metrics.control=on", "banner.delay=50ms")
        drv = start_browser(self)
        for url in (p.base, p.base + "#token=" + "0" * 32):
            self.open(drv, url)
            cls, reply = self.set_through_page(drv, "banner.delay", "2s")
            self.assertEqual(cls, "err", reply)
            self.assertIn("403", reply)
            self.assertTrue(drv.find_element("id", "control-reply").is_displayed())
        self.assertFalse(drv.find_element("id", "notice").is_displayed())	# a wrong token is a token
        self.open(drv, p.base)
        self.assertTrue(drv.find_element("id", "notice").is_displayed())
        self.assertIn("token", text(drv, "notice"))
        self.assertEqual(p.live()["keys"]["banner.delay"], "50ms")
        self.assertNotIn("control: set", p.d.log_text())
        self.assertEqual(p.live()["changes"], [])

    def test_the_page_keeps_at_most_20000_connections_and_10_minutes(self):
        p = Page(self)
        drv = start_browser(self)
        self.open(drv, p.base)
        # one synchronous script: no poll can come between the feed and the count
        kept = drv.execute_script("""
            const now = Date.now() / 1000;
            const rec = (i, t) => ({seq: 1e6 + i, t: t, banner_us: 1000, outcome: "banner",
                                    stages: {delay: 1000}});
            const old = [], many = [];
            for (let i = 0; i < 100; i++) old.push(rec(i, now - 700 + i));
            for (let i = 0; i < 25000; i++) many.push(rec(100 + i, now - 60 + i / 1000));
            absorb({now: now, seq: 1e6 + 25100, conns: old, gauges: {}, keys: {}, changes: []});
            const afterOld = state.conns.length;
            absorb({now: now, seq: 1e6 + 25100, conns: many, gauges: {}, keys: {}, changes: []});
            return [afterOld, state.conns.length, state.conns[0].t];""")
        self.assertEqual(kept[0], 0, "records older than 10 minutes were kept")
        self.assertEqual(kept[1], 20000)
        # the newest are the ones kept
        self.assertGreater(kept[2], time.time() - 60 + 4.9)

    def test_a_restarted_bannerd_is_followed(self):
        p = Page(self)
        drv = start_browser(self)
        self.open(drv, p.base)
        # as if the page had seen a bannerd with many more records
        drv.execute_script("state.seq = 1e9;")
        with socket_to(p.d) as s:
            s.recv(512)
        wait_for(lambda: drv.execute_script("return state.seq") < 1e9 or None, 10, "the page starting over")
        wait_for(lambda: (value(drv, "banners-total") or 0) >= 1 or None, 10, "the banner on the page")

    def test_read_only_hides_the_controls(self):
        p = Page(self)
        url, token, mode = p.live_page()
        self.assertEqual((url, token, mode), (p.base, None, "read-only"))
        drv = start_browser(self)
        self.open(drv, p.base)
        self.assertEqual(text(drv, "mode"), "read-only")
        self.assertFalse(drv.find_element("id", "controls").is_displayed())
        self.assertFalse(drv.find_element("id", "notice").is_displayed())
        status, _, _ = http(p.base + "control", data=b"set banner.delay=2s",
                            headers={"X-Bannerd-Token": "0" * 32}, method="POST")
        self.assertEqual(status, 404)
        self.assertIs(p.live()["control"], False)


if __name__ == "__main__":
    unittest.main()

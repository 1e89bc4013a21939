"""Each preset in conf/presets/ starts and shows the behaviour it claims,
against a slow lab DNS and a burst of connections."""
import os

from harness import ROOT, BannerdTest, Slowdns, burst, duration_us, run, binary

PRESETS = os.path.join(ROOT, "conf", "presets")


class PresetTest(BannerdTest):
    def run_preset(self, name, n=8, delay="300ms"):
        dns = Slowdns(self, "--delay", delay, "-q")
        d = self.start("rdns.servers=" + dns.address, "log.protocol_log=medium",
                       conf=os.path.join(PRESETS, name + ".conf"))
        # the preset's own rdns.enabled must win over the harness default
        return d, dns, burst(d.host, d.port, n)

    def start(self, *overrides, conf=None, **kw):
        # Presets decide rdns themselves: drop the harness's rdns.enabled=off
        # by restating the preset's value last.
        enabled = None
        for line in open(conf):
            if line.strip().startswith("enabled"):
                enabled = line.split("=", 1)[1].strip()
        return super().start(*overrides, "rdns.enabled=" + enabled, conf=conf, **kw)

    def test_every_preset_passes_the_check(self):
        for name in sorted(os.listdir(PRESETS)):
            r = run([binary("bannerd"), "-t", "-c", os.path.join(PRESETS, name)])
            self.assertEqual(r.returncode, 0, name + r.stderr.decode())

    def test_untuned_queues_for_resolver_threads(self):
        d, dns, (times, lines) = self.run_preset("ims55-untuned")
        self.assertTrue(all(l and "Microsoft Exchange Internet Mail Service" in l for l in lines), lines)
        self.assertGreaterEqual(max(times), 1.1, times)      # 8 lookups on 2 threads: 4 x 300 ms
        closes = d.wait_event("close", count=8)
        # the growing part is waiting (for a slot, then for a resolver
        # thread), not the lookup itself
        waits = [duration_us(e["queue"]) + duration_us(e["rdns_wait"]) for e in closes]
        self.assertGreaterEqual(max(waits), 800000, waits)
        self.assertGreater(max(duration_us(e["rdns_wait"]) for e in closes), 200000)
        self.assertTrue(all(duration_us(e["rdns"]) < 1000000 for e in closes))

    def test_tuned_does_not_queue(self):
        d, dns, (times, lines) = self.run_preset("ims55-tuned")
        self.assertTrue(all(0.25 <= t < 1.0 for t in times), times)
        closes = d.wait_event("close", count=8)
        self.assertTrue(all(duration_us(e["rdns_wait"]) < 200000 for e in closes))

    def test_noreverse_is_immediate_even_with_a_dead_dns(self):
        dns = Slowdns(self, "--drop")
        d = self.start("rdns.servers=" + dns.address,
                       conf=os.path.join(PRESETS, "ims55-noreverse.conf"))
        times, lines = burst(d.host, d.port, 4)
        self.assertTrue(all(t < 0.5 for t in times), times)
        self.assertEqual(dns.queries(), [])

    def test_modern_resolves_in_parallel(self):
        d, dns, (times, lines) = self.run_preset("modern")
        self.assertTrue(all(0.25 <= t < 1.0 for t in times), times)

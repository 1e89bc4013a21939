"""Fleet monitoring (conf/prometheus/): promtool accepts the scrape config
and the rules, the rules' unit tests pass and cover every rule, and every
series the rules read is in a live bannerd's /metrics, so renaming a
series or a label value in daemon/metrics.c breaks this test rather than
the alerts of a fleet; and the recording rules, fed two real scrapes,
give the values they must."""
import os
import re
import subprocess

from harness import PROMTOOL, ROOT, BannerdTest, binary, prom_value, run, scrape, tmpdir, write

CONF = os.path.join("conf", "prometheus")
RULES = os.path.join(CONF, "bannerd-rules.yml")
RULES_TEST = os.path.join(CONF, "bannerd-rules.test.yml")
SCRAPE_CONFIG = os.path.join(CONF, "prometheus.yml")


def read(path):
    with open(os.path.join(ROOT, path)) as f:
        return f.read()


def rule_exprs(text):
    """Every rule's expr, inline or as a YAML block (| or >)."""
    lines = text.splitlines()
    exprs = []
    for i, line in enumerate(lines):
        m = re.match(r"(\s*)expr:\s*(.*)$", line)
        if not m:
            continue
        indent, rest = len(m.group(1)), m.group(2).strip()
        if rest not in ("|", "|-", ">", ">-"):
            exprs.append(rest)
            continue
        block = []
        for follow in lines[i + 1:]:
            if follow.strip() and len(follow) - len(follow.lstrip()) <= indent:
                break
            block.append(follow.strip())
        exprs.append(" ".join(block))
    return exprs


def selectors(expr):
    """(metric name, {label: value}) for each bannerd_* series an expression
    reads; only equality matchers, which name a value the series must have."""
    out = []
    for m in re.finditer(r"\b(bannerd_[a-z0-9_]+)(\{[^}]*\})?", expr):
        labels = dict(re.findall(r'(\w+)\s*=\s*"([^"]*)"', m.group(2) or ""))
        out.append((m.group(1), labels))
    return out


def samples(exposition):
    """{name: [labels of each sample]} of a text exposition."""
    out = {}
    for line in exposition.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s", line)
        if m:
            out.setdefault(m.group(1), []).append(
                dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or "")))
    return out


class PromtoolTest(BannerdTest):
    def setUp(self):
        self.assertTrue(os.access(PROMTOOL, os.X_OK), "promtool missing: run scripts/install-deps")

    def promtool(self, *args, stdin=None):
        r = subprocess.run([PROMTOOL] + list(args), input=stdin, cwd=ROOT,
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, (r.stdout + r.stderr).decode())
        return r.stdout.decode()

    def test_scrape_config_is_valid_and_loads_the_rules(self):
        out = self.promtool("check", "config", SCRAPE_CONFIG)
        self.assertIn("1 rule files found", out)

    def test_rules_are_valid(self):
        self.promtool("check", "rules", RULES)

    def test_rules_unit_tests_pass(self):
        self.promtool("test", "rules", RULES_TEST)

    def test_unit_tests_cover_every_rule_firing_and_not(self):
        rules, tests = read(RULES), read(RULES_TEST)
        records = re.findall(r"^\s*- record:\s*(\S+)", rules, re.M)
        alerts = re.findall(r"^\s*- alert:\s*(\S+)", rules, re.M)
        self.assertTrue(records and alerts)
        tested = set(re.findall(r"^\s*- expr:\s*(\S+)", tests, re.M))
        self.assertEqual([r for r in records if r not in tested], [],
                         "recording rules without a promql_expr_test")
        outcomes = {}
        for chunk in re.split(r"\n\s*- alertname:\s*", tests)[1:]:
            name = chunk.split()[0]
            fires = re.search(r"exp_alerts:(.*)", chunk).group(1).strip() != "[]"
            outcomes.setdefault(name, set()).add(fires)
        for a in alerts:
            self.assertEqual(outcomes.get(a), {True, False},
                             "%s: needs a test where it fires and one where it does not" % a)

    def live_scrapes(self, n=20):
        """/metrics of a real bannerd before and after n smtpprobe
        connections, each checked by promtool check metrics."""
        d = self.start("metrics.listen=127.0.0.1:0", "log.protocol_log=minimum")
        url = "http://%s/metrics" % d.wait_log(r"metrics on http://(\S+)/metrics")[0].group(1)
        before = scrape(url)
        r = run([binary("smtpprobe"), "-n", str(n), "%s:%d" % (d.host, d.port)])
        self.assertEqual(r.returncode, 0, (r.stdout + r.stderr).decode()[-2000:])
        d.wait_event("close", count=n)
        after = scrape(url)
        self.assertEqual(prom_value(after, "bannerd_banner_seconds_count"), n)
        for text in (before, after):
            self.promtool("check", "metrics", stdin=text.encode())
        return before, after

    def test_every_series_the_rules_read_is_exported(self):
        got = samples(self.live_scrapes()[1])
        used = [s for e in rule_exprs(read(RULES)) for s in selectors(e)]
        self.assertGreaterEqual(len({name for name, _ in used}), 5, used)
        for name, labels in used:
            self.assertTrue(name in got, "the rules read %s, which bannerd does not export" % name)
            self.assertTrue(any(all(s.get(k) == v for k, v in labels.items()) for s in got[name]),
                            "no %s%r in bannerd's /metrics" % (name, labels))

    def test_rules_evaluate_on_a_live_exposition(self):
        """The two scrapes, a minute apart, as promtool test rules input:
        the recording rules must give one p50 and one p99 (loopback
        banners, well under a second) and one share per stage, adding up
        to 1, with bannerd's real buckets and label sets."""
        before, after = self.live_scrapes()
        values = values_by_series(before)
        series = []
        for key, value in sorted(values_by_series(after).items()):
            name, labels = key
            sel = ",".join(['job="bannerd"', 'instance="live"'] + ['%s="%s"' % kv for kv in labels])
            series.append("      - series: '%s{%s}'\n        values: '%s %s'\n"
                          % (name, sel, repr(values.get(key, 0.0)), repr(value)))
        stages = {l["stage"] for l in samples(after)["bannerd_stage_seconds_sum"]}
        checks = [("count(bannerd:banner_seconds:p50_1m < 1)", 1),
                  ("count(bannerd:banner_seconds:p99_1m < 1)", 1),
                  ("count(bannerd:stage_seconds:share_1m)", len(stages)),
                  ("round(sum(bannerd:stage_seconds:share_1m), 0.001)", 1)]
        exprs = "".join("      - expr: '%s'\n        eval_time: 1m\n        exp_samples:\n"
                        "          - labels: '{}'\n            value: %d\n" % c for c in checks)
        path = os.path.join(tmpdir(self), "live.test.yml")
        write(path, "rule_files:\n  - %s\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n"
              "    input_series:\n%s    promql_expr_test:\n%s"
              % (os.path.join(ROOT, RULES), "".join(series), exprs))
        self.promtool("test", "rules", path)


def values_by_series(exposition):
    """{(name, sorted label pairs): value} of a text exposition."""
    out = {}
    for line in exposition.splitlines():
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$", line)
        if m and not line.startswith("#"):
            labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', m.group(2) or "")))
            out[(m.group(1), labels)] = float(m.group(3))
    return out

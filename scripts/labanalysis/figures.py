"""The flat table of named figures a run produces, which expectations
read and summary.json lists: smtpprobe's JSON flattened ('banner.p99',
'outcome.ok'), bannerd's stages per session, the cause, the metrics
scrape, and what a scenario adds. Durations are microseconds and marked
as such, so that '<= 50ms' can be checked against them."""
from . import stats
from .sessions import PARTS, STAGES, silent


class Figures:
    def __init__(self):
        self.values = {}
        self.durations = set()

    def put(self, name, value, duration=False):
        self.values[name] = value
        if duration:
            self.durations.add(name)

    def get(self, name, default=None):
        return self.values.get(name, default)

    def items(self):
        return self.values.items()


_PROBE_DURATIONS = ("connect", "banner", "total")


def add_probe(fig, probe):
    """smtpprobe's JSON; a greeting statistic over no greeting is left
    out rather than shown as 0us."""
    if not probe:
        return
    for k in ("attempts", "tries", "rate", "elapsed_us"):
        if k in probe:
            fig.put(k, probe[k], duration=(k == "elapsed_us"))
    for group in _PROBE_DURATIONS:
        st = probe.get(group) or {}
        if not st.get("count"):
            fig.put(group + ".count", 0)
            continue
        for k, v in st.items():
            fig.put("%s.%s" % (group, k), v, duration=(k != "count"))
    for group in ("outcome", "try_outcome", "would_give_up"):
        for k, v in (probe.get(group) or {}).items():
            fig.put("%s.%s" % (group, k), v)


def add_rows(fig, rows, threshold_us):
    """The client side per try: trend, and who would give up at the
    scenario's threshold."""
    fig.put("csv.tries", len(rows))
    if not rows:
        return
    waits = [r["client_us"] for r in sorted(rows, key=lambda r: r["start_us"])]
    early, late = stats.thirds(waits)
    fig.put("banner.early", int(early), duration=True)
    fig.put("banner.late", int(late), duration=True)
    fig.put("banner.trend", round(late / early, 2) if early > 0 else 0)
    over, unknown = give_up_counts(rows, threshold_us)
    fig.put("gave_up.unknown", unknown)
    fig.put("gave_up.count", over)
    fig.put("gave_up.share", round(over / len(rows), 3))
    fig.put("matched", sum(1 for r in rows if r["server"] is not None))
    # tries whose connect the path held, counted in the 'path' part
    fig.put("connect.held", sum(1 for r in rows if r.get("connect_held_us")))


def would_give_up(row, threshold_us):
    """Would a sender with this greeting timeout abandon the try? True
    when the banner came later than that, or when the try waited at least
    that long without one; None when the try gave up sooner, so nobody
    knows when its banner would have come (a lower bound, not a yes)."""
    if not threshold_us or row["code"] not in (0, 220):
        return False
    if row["greeted"]:
        return row["client_us"] > threshold_us
    if row["outcome"] in ("gave_up", "ndr", "ok"):
        # a client's own give-up timer fires a hair early or late
        return True if row["client_us"] >= threshold_us * 0.99 else None
    return False


def give_up_counts(rows, threshold_us):
    """-> (tries that sender would abandon, tries it is unknown for)."""
    verdicts = [would_give_up(r, threshold_us) for r in rows]
    return sum(1 for v in verdicts if v), sum(1 for v in verdicts if v is None)


def add_server(fig, server_sessions):
    """bannerd's close lines: counts per outcome and lookup result, the
    sessions whose client left without a word after the banner
    (silent_clients), and each stage's mean, share and
    first-third/last-third means in accept order."""
    recs = sorted(server_sessions, key=lambda r: (r["accept_wall_us"], r["sid"]))
    fig.put("sessions", len(recs))
    fig.put("names", sum(1 for r in recs if r["client"] not in (None, "", "-", "unknown")))
    fig.put("silent_clients", sum(1 for r in recs if silent(r)))
    for r in recs:
        k = "close." + r["outcome"]
        fig.put(k, fig.get(k, 0) + 1)
        if r["rdns_result"]:
            k = "rdns_result." + r["rdns_result"]
            fig.put(k, fig.get(k, 0) + 1)
    if not recs:
        return
    sums = {s: sum(r["stages"][s] or 0 for r in recs) for s in STAGES}
    total = sum(sums.values())
    for s in STAGES:
        vals = [r["stages"][s] or 0 for r in recs]
        early, late = stats.thirds(vals)
        fig.put("stage.%s.mean" % s, int(stats.mean(vals)), duration=True)
        fig.put("stage.%s.share" % s, round(100.0 * sums[s] / total, 1) if total else 0)
        fig.put("stage.%s.early" % s, int(early), duration=True)
        fig.put("stage.%s.late" % s, int(late), duration=True)
    fig.put("stages.mean", int(total / len(recs)), duration=True)


def add_cause(fig, res):
    for k in ("cause", "lever", "also", "dominant", "basis"):
        fig.put(k, res.get(k, "none"))
    total = sum(res["part_us"].values()) or 1
    for p in PARTS:
        fig.put("share.%s" % p, round(100.0 * res["part_us"][p] / total, 1))
        g = res.get("growth", {}).get(p)
        if g:
            fig.put("slope.%s" % p, round(g["slope"], 1))
    growing = [p for p in PARTS if res.get("growth", {}).get(p, {}).get("grows")]
    fig.put("growing", growing[0] if growing else "none")
    lw = res.get("little")
    if lw:
        fig.put("little.rate", round(lw["rate"], 2))
        fig.put("little.resolver_util", round(lw["resolver_util"], 2))
        fig.put("little.slot_util", round(lw["slot_util"], 2))
        fig.put("little.slot_util_fixed", round(lw["slot_util_fixed"], 2))


def add_metrics(fig, metrics):
    for name, key in (("metrics.abandoned", "bannerd_abandoned_total"),
                      ("metrics.banners", "bannerd_banners_total"),
                      ("metrics.connections", "bannerd_connections_total"),
                      ("metrics.rejected_max_sessions", 'bannerd_rejected_total{reason="max_sessions"}')):
        if key in metrics:
            fig.put(name, int(metrics[key]))


def add_relay(fig, relay):
    if not relay:
        return
    fig.put("relay.server_side.max", max(r["server_first_byte_us"] for r in relay), duration=True)
    fig.put("relay.client_side.min", min(r["client_first_byte_us"] for r in relay), duration=True)


def add_pairs(fig, pairs):
    """A scenario's own 'name value' figures; numbers stay numbers, and a
    number ending in 'us' is a duration ('syn2.connect.min 3038557us')."""
    for k, v in pairs:
        if v.endswith("us") and v[:-2].isdigit():
            fig.put(k, int(v[:-2]), duration=True)
            continue
        try:
            fig.put(k, float(v) if "." in v else int(v))
        except ValueError:
            fig.put(k, v)


def add_postfix(fig, events):
    """The private Postfix's log (ndr-postfix, ndr-postfix-path): each
    deferral, greeting timeout, the expiry and the DSN."""
    if not events:
        return
    fig.put("deferred", sum(1 for e in events if "status=deferred" in e["text"]))
    fig.put("greeting_timeouts", sum(1 for e in events if e["kind"] == "greeting_timeout"))
    fig.put("expired", sum(1 for e in events if e["kind"] == "expired"))
    fig.put("bounce_sent", sum(1 for e in events if e["kind"] == "bounce_sent"))

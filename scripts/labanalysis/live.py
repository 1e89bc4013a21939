"""The running verdict of a class session (scripts/lab class): what the
senders would make of the server right now. Over the last WINDOW_US of
bannerd's connections: greeting p50/p99, the share a chosen sender (its
give-up threshold) would abandon, and the likely cause from the stages'
shares. Pure: records in, one line out; watch.py feeds it, from
bannerd's /live or, without it, from the protocol log's close lines.
Tested in tests/lab/test_live.py."""
from . import stats
from .cause import IMMEDIATE_US, LEVERS, SHORT
from .units import fmt_duration, fmt_share

WINDOW_US = 10000000
STAGES = ("queue", "proxy", "rdns_wait", "rdns", "ident", "delay", "write")

# what a trainer says for each stage, short enough for one line
WORDS = {
    "queue": "the queue for a worker slot",
    "proxy": "the PROXY header",
    "rdns_wait": "sessions waiting for a resolver thread, queued or in a slot",
    "rdns": "the reverse lookup",
    "ident": "the ident query",
    "delay": "the injected delay",
    "write": "the write of the banner",
}


def from_live(conn):
    """A /live 'conns' entry -> a record: t_us (wall clock), banner_us,
    banner (a 220 was written), stages (us, 0 for a stage not run)."""
    stages = conn.get("stages") or {}
    return {"seq": conn.get("seq"), "t_us": int(float(conn.get("t", 0)) * 1e6),
            "banner_us": int(conn.get("banner_us") or 0), "banner": conn.get("outcome") == "banner",
            "rejected": conn.get("outcome") == "rejected",
            "stages": {s: int(stages.get(s) or 0) for s in STAGES}}


def from_close(rec):
    """A close line's record (records.close_record) -> a record, timed
    at its close (when the log says it)."""
    banner = rec.get("banner_us")
    waited = rec.get("waited_us")
    stages = {s: int(rec["stages"].get(s) or 0) for s in STAGES}
    return {"seq": None, "t_us": rec["close_wall_us"],
            "banner_us": banner if banner is not None else (waited if waited is not None else sum(stages.values())),
            "banner": banner is not None,
            "rejected": banner is None and rec.get("outcome") in ("rejected", "refused", "overflow"),
            "stages": stages}


def window(recs, now_us, window_us=WINDOW_US):
    return [r for r in recs if now_us - window_us < r["t_us"] <= now_us]


def likely_cause(recs, window_us=WINDOW_US, threads=None):
    """-> (stage, lever, share of the stages' time): the stage holding
    most of the waits; 'none' when no stage averages IMMEDIATE_US (a
    healthy server). A queue is often the resolver threads' (sessions
    keep their slot while they wait for one): when the lookups asked for
    in the window keep every thread busy (Little's law, as the verdict
    checks it: rate x lookup time >= SHORT x threads), or the resolver
    waits are a tenth of the time, the resolver threads are named."""
    total = {s: sum(r["stages"][s] for r in recs) for s in STAGES}
    grand = sum(total.values())
    if not recs or grand <= 0:
        return "none", "none", 0.0
    best = max(STAGES, key=lambda s: total[s])
    if total[best] / len(recs) < IMMEDIATE_US:
        return "none", "none", total[best] / grand
    if best == "queue" and total["rdns_wait"] > 0:
        # the rate over the time the records span (a session younger
        # than the window has not filled it)
        ts = [r["t_us"] for r in recs]
        span_s = min(window_us, max(max(ts) - min(ts), 1000000)) / 1e6
        demand = (len(recs) / span_s) * (total["rdns"] / len(recs) / 1e6)
        if total["rdns_wait"] > 0.1 * grand or (threads and demand >= SHORT * threads):
            return "rdns_wait", LEVERS["rdns_wait"], (total["queue"] + total["rdns_wait"]) / grand
    return best, LEVERS[best], total[best] / grand


def summary(recs, threshold_us, window_us=WINDOW_US, threads=None):
    """The figures of one window of records; threads: the resolver
    threads (rdns.mode = pool), None without them."""
    got = [r["banner_us"] for r in recs if r["banner"]]
    waited = [r for r in recs if not r["banner"] and not r["rejected"]]
    over = sum(1 for b in got if threshold_us and b > threshold_us) + len(waited)
    judged = len(got) + len(waited)
    stage, lever, share = likely_cause([r for r in recs if not r["rejected"]], window_us, threads)
    return {"n": len(recs), "banners": len(got), "no_banner": len(waited),
            "rejected": sum(1 for r in recs if r["rejected"]),
            "p50_us": stats.percentile(got, 50), "p99_us": stats.percentile(got, 99),
            "over": over, "share": over / judged if judged else None,
            "cause": stage, "lever": lever, "cause_share": share}


def render(s, label, window_us=WINDOW_US, gauges=None, last_change=None, clock=""):
    """One line, the most important first (a narrow terminal cuts the
    end): the greeting times, who would give up, the likely cause, then
    bannerd's sessions and queue and the last change. label: the sender
    ('impatient-10 (10s)')."""
    parts = ["%slast %d s:" % (clock + " " if clock else "", round(window_us / 1e6))]
    if not s["n"]:
        parts.append("no connection")
    else:
        what = "%d banners" % s["banners"]
        if s["banners"]:
            what += " p50 %s p99 %s" % (fmt_duration(s["p50_us"]), fmt_duration(s["p99_us"]))
        if s["no_banner"]:
            what += ", %d left without one" % s["no_banner"]
        if s["rejected"]:
            what += ", %d refused" % s["rejected"]
        parts.append(what)
        if s["share"] is not None and label:
            parts.append("| %s would give up on %s" % (label, fmt_share(s["share"])))
        if s["cause"] == "none":
            parts.append("| likely cause: none (a healthy banner)")
        else:
            parts.append("| likely cause: %s -> %s (%s of the wait: %s)" % (
                s["cause"], s["lever"], fmt_share(s["cause_share"]), WORDS[s["cause"]]))
    if gauges:
        parts.append("| open %s, queued %s" % (gauges.get("sessions", "?"), gauges.get("queued", "?")))
    if last_change:
        parts.append("| last change: %s" % last_change)
    return " ".join(parts)

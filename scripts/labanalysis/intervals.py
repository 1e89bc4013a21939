"""A class session's story (scripts/lab class): the trainer changes a
cause while the load runs, so a session has no one cause. The changes
(bannerd's 'control: <line> (from <origin>)' lines, slowdns's and
slowrelay's, stamped by the lab when it saw them, and reloads) cut it
into intervals, and each interval gets its own verdict: its greeting
times, who would give up, and its cause. Pure: rows and events in,
figures and words out. Tested in tests/lab/test_intervals.py."""
from . import cause, stats
from .figures import give_up_counts
from .units import fmt_duration, fmt_share

RELOAD_AFTER_US = 2000000  # a reload this soon after a mark or change is its own


def changes(marks, events):
    """Every change in time order as [(wall us, label)]: the scenario's
    or the lab's marks, bannerd's control lines, and each reload that no
    mark or control line explains (a SIGHUP, a 'reload' request: bannerd
    logs the reload just after)."""
    out = [(m["wall_us"], m.get("label") or "") for m in marks or []]
    out += [(e["wall_us"], e.get("line") or "control") for e in events or [] if e.get("key") == "control"]
    known = [w for w, _ in out]
    for e in events or []:
        if e.get("key") != "reload":
            continue
        if any(0 <= e["wall_us"] - w <= RELOAD_AFTER_US for w in known):
            continue
        out.append((e["wall_us"], "bannerd reloaded (SIGHUP)"))
    return sorted(out, key=lambda c: c[0])


def row_wall_us(row, t0_wall_us):
    """When a try reached bannerd (its accept), on bannerd's clock; for a
    try bannerd has no line for, its start on the load's clock moved
    onto bannerd's."""
    if row.get("server"):
        return row["server"]["accept_wall_us"]
    return (t0_wall_us or 0) + row["start_us"] + row.get("connect_us", 0)


def split(rows, cuts, t0_wall_us):
    """rows -> one interval per stretch between changes: [{'from_us',
    'to_us' (None: the end), 'after' (the change that opened it, None for
    the first), 'rows'}]. A change before any try opens no empty first
    interval of its own."""
    cuts = sorted(cuts, key=lambda c: c[0])
    bounds = [(None, None)] + cuts
    out = []
    for i, (start, label) in enumerate(bounds):
        end = bounds[i + 1][0] if i + 1 < len(bounds) else None
        mine = [r for r in rows
                if (start is None or row_wall_us(r, t0_wall_us) >= start)
                and (end is None or row_wall_us(r, t0_wall_us) < end)]
        out.append({"from_us": start, "to_us": end, "after": label, "rows": mine})
    while len(out) > 1 and not out[0]["rows"]:
        out.pop(0)
    return out


def summarise(interval, all_server, capacity, threshold_us, config=None):
    """One interval's figures and cause (the run's cause engine on its
    tries alone)."""
    rows = interval["rows"]
    got = [r["client_us"] for r in rows if r["greeted"]]
    over, unknown = give_up_counts(rows, threshold_us) if threshold_us else (0, 0)
    res = cause.analyse(rows, all_server, capacity, threshold_us, config)
    return {
        "from_us": interval["from_us"], "to_us": interval["to_us"], "after": interval["after"],
        "tries": len(rows), "greeted": len(got),
        "p50_us": stats.percentile(got, 50), "p99_us": stats.percentile(got, 99),
        "gave_up": over, "gave_up_unknown": unknown,
        "gave_up_share": round(over / len(rows), 3) if rows else None,
        "cause": res["cause"], "lever": res["lever"], "why": res["lines"][0],
    }


def analyse(rows, all_server, capacity, threshold_us, marks, events, t0_wall_us, config=None):
    """The session's intervals, each summarised."""
    return [summarise(i, all_server, capacity, threshold_us, config)
            for i in split(rows, changes(marks, events), t0_wall_us)]


def _at(us, t0_wall_us):
    if us is None:
        return "end"
    return fmt_duration(max(0, us - t0_wall_us)) if t0_wall_us is not None else "?"


def render(summaries, t0_wall_us, threshold_us, label=""):
    """The verdict's lines for a class session: one per interval."""
    if not summaries:
        return []
    who = "%s (%s)" % (fmt_duration(threshold_us), label) if label else fmt_duration(threshold_us)
    out = ["intervals (the session cut at each live change; times from the start of the load):"]
    for n, s in enumerate(summaries, 1):
        start = "start" if s["from_us"] is None else _at(s["from_us"], t0_wall_us)
        opened = "from the start" if s["after"] is None else "after: %s" % s["after"]
        out.append("  %d. %s .. %s, %s" % (n, start, _at(s["to_us"], t0_wall_us), opened))
        if not s["tries"]:
            out.append("     no try in this interval")
            continue
        greet = ("banner p50 %s p99 %s" % (fmt_duration(s["p50_us"]), fmt_duration(s["p99_us"]))
                 if s["greeted"] else "no banner")
        give = ""
        if threshold_us:
            give = ", %s%s would give up at %s" % (">= " if s["gave_up_unknown"] else "",
                                                   fmt_share(s["gave_up_share"]), who)
        out.append("     %d tries, %s%s" % (s["tries"], greet, give))
        out.append("     cause: %s" % s["why"])
    return out

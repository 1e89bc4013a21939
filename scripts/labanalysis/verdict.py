"""The one-screen verdict a trainer shows, and summary.json. What
happened (outcomes, greeting times) is kept apart from what would have
happened (who would give up at a threshold)."""
import json

from . import intervals, stats
from .figures import give_up_counts
from .sessions import PARTS
from .units import fmt_duration, fmt_share

OUTCOME_WORDS = [
    ("ok", "got the 220 banner"), ("gave_up", "gave up waiting (and will retry)"),
    ("ndr", "gave up on every try: the mail bounces (NDR)"), ("tempfail", "got a 421"),
    ("permfail", "got a 5xx"), ("reset", "were reset"), ("refused", "were refused"),
    ("error", "failed"),
]


def happened(probe, rows):
    if not probe:
        return None
    out = probe.get("outcome") or {}
    total = sum(out.values())
    parts = ["%d %s" % (out[k], w) for k, w in OUTCOME_WORDS if out.get(k)]
    tries = probe.get("tries", len(rows))
    return "%d connections%s: %s" % (total, "" if tries == total else " (%d tries)" % tries, ", ".join(parts))


def banner_line(rows):
    got = [r["client_us"] for r in rows if r["greeted"]]
    if not got:
        waited = [r["client_us"] for r in rows]
        if not waited:
            return "no try was made"
        return "no banner arrived: the tries waited %s..%s and gave up" % (
            fmt_duration(min(waited)), fmt_duration(max(waited)))
    ordered = [r["client_us"] for r in sorted(rows, key=lambda r: r["start_us"]) if r["greeted"]]
    early, late = stats.thirds(ordered)
    return "p50 %s  p99 %s  max %s   (first third %s -> last third %s)" % (
        fmt_duration(stats.percentile(got, 50)), fmt_duration(stats.percentile(got, 99)),
        fmt_duration(max(got)), fmt_duration(early), fmt_duration(late))


def what_if(rows, threshold_us, label):
    if not rows or not threshold_us:
        return None
    over, unknown = give_up_counts(rows, threshold_us)
    line = "a sender that gives up at %s (%s) would have given up on %s%d of %d tries (%s%s)" % (
        fmt_duration(threshold_us), label, "at least " if unknown else "", over, len(rows),
        ">= " if unknown else "", fmt_share(over / len(rows)))
    if unknown:
        line += "; %d tries gave up sooner, so when their banner would have come is unknown" % unknown
    return line


def stage_table(res, rows, threshold_us):
    pu = res["part_us"]
    total_all = {p: sum(r["parts"][p] for r in rows) for p in PARTS}
    grand = sum(total_all.values()) or 1
    above = res["basis"] == "above"
    head = "  %-9s %9s %8s %s  %s" % ("part", "mean", "of all",
                                    (" past %-7s" % fmt_duration(threshold_us)) if above else "",
                                    "first third -> last third")
    lines = [head]
    asum = sum(pu.values()) or 1
    for p in PARTS:
        if p in ("ident", "proxy") and total_all[p] == 0:
            continue	# a run without the ident or PROXY stage: the table of every other run
        g = res.get("growth", {}).get(p, {"early": 0, "late": 0})
        m = stats.mean([r["parts"][p] for r in rows])
        lines.append("  %-9s %9s %8s %s  %9s -> %s" % (
            p, "<1us" if 0 < m < 0.5 else fmt_duration(m),
            fmt_share(total_all[p] / grand),
            ("%12s" % fmt_share(pu[p] / asum)) if above else "",
            fmt_duration(g["early"]), fmt_duration(g["late"])))
    held = [r["connect_held_us"] for r in rows if r.get("connect_held_us")]
    if held:
        lines.append("  (path includes the client's connect on %d of %d tries, held on the path: "
                     "mean %s; bannerd cannot see a connection before it accepts it)"
                     % (len(held), len(rows), fmt_duration(stats.mean(held))))
    quiet = [r for r in rows if r.get("silent")]
    if quiet:
        lines.append("  (path, for the %d of %d sessions whose client left without a word: from bannerd's "
                     "banner until the client hung up, waiting for a 220 that never reached it)"
                     % (len(quiet), len(rows)))
    return lines


def reloads(events, rows, threshold_us):
    """Each reload bannerd logged, with what it changed and the waits of
    the connections accepted before it against those after."""
    out = []
    times = sorted({e["wall_us"] for e in events if e["key"] == "reload"})
    for i, t in enumerate(times):
        lo = times[i - 1] if i else None
        changes = [e for e in events if e["key"] != "reload" and e["old"] != e["new"]
                   and (lo is None or e["wall_us"] > lo) and e["wall_us"] <= t + 1000000]
        what = ", ".join("%s %s -> %s" % (e["key"], e["old"], e["new"]) for e in changes) or "no pool or lookup change"
        before = [r for r in rows if r["server"] and r["server"]["accept_wall_us"] < t]
        after = [r for r in rows if r["server"] and r["server"]["accept_wall_us"] >= t]
        if not before or not after:
            out.append("reload (%s)" % what)
            continue
        out.append("reload (%s): connections accepted before it: %s; after it: %s"
                   % (what, _waits(before, threshold_us), _waits(after, threshold_us)))
    return out


def _waits(rows, threshold_us):
    got = [r["client_us"] for r in rows if r["greeted"]]
    parts = []
    if got:
        parts.append("banner p99 %s" % fmt_duration(stats.percentile(got, 99)))
    if len(got) < len(rows):
        parts.append("%d of %d got no banner" % (len(rows) - len(got), len(rows)))
    if threshold_us:
        over = sum(1 for r in rows if r["client_us"] > threshold_us or not r["greeted"])
        parts.append("%d of %d past %s" % (over, len(rows), fmt_duration(threshold_us)))
    return ", ".join(parts)


def both_sides(relay):
    """The filter's two sides, from slowrelay's own lines: when the banner
    reached it from bannerd, and when it passed it on to the client."""
    if not relay:
        return []
    server = [r["server_first_byte_us"] for r in relay]
    client = [r["client_first_byte_us"] for r in relay]
    return ["both sides of the filter (%d connections, p99 from its accept): the banner reached it "
            "within %s and left it for the client after %s"
            % (len(relay), fmt_duration(stats.percentile(server, 99)), fmt_duration(stats.percentile(client, 99)))]


def who_would_give_up(rows, probe, scale):
    """smtpprobe's profiles (their greeting timeouts, scaled like the run)
    against this run's tries."""
    detail = (probe or {}).get("would_give_up_detail") or {}
    if not rows or not detail:
        return []
    by_thr = {}
    for name, d in detail.items():
        by_thr.setdefault(d["threshold_us"], []).append(name)
    lines = ["who would give up (greeting timeouts of real senders%s):"
             % ("" if scale == 1 else ", x%g like the run" % scale)]
    unknown_any = False
    for thr in sorted(by_thr, reverse=True):
        t = int(thr * scale)
        over, unknown = give_up_counts(rows, t)
        unknown_any = unknown_any or unknown
        shown = ("unknown" if unknown and not over else
                 (">= " if unknown else "") + fmt_share(over / len(rows)))
        lines.append("  %9s %9s  %s" % (fmt_duration(t), shown, " ".join(by_thr[thr])))
    if unknown_any:
        lines.append("  (>=, unknown: some tries gave up sooner than that sender would, so when their "
                     "banner would have come is not known)")
    return lines


def render(ctx):
    """ctx: name, article, mode, scale, threshold_us, threshold_label,
    probe, rows, res, figures, checks, extra, plots."""
    rows, res = ctx["rows"], ctx["res"]
    scale_note = "" if ctx["mode"] == "full" else ", times x%g" % ctx["scale"]
    out = ["== %s: %s (%s run%s)" % (ctx["name"], ctx["article"], ctx["mode"], scale_note)]
    h = happened(ctx["probe"], rows)
    if h:
        out.append("happened: " + h)
        out.append("banner:   " + banner_line(rows))
        w = what_if(rows, ctx["threshold_us"], ctx["threshold_label"])
        if w:
            out.append("what if:  " + w)
    if res["rows"]:
        matched = res["matched"]
        how = "through the filter's log" if ctx.get("relay") else "by source port"
        src = ("%d of %d tries matched with bannerd's log %s" % (matched, res["rows"], how)
               if ctx["probe"] else "%d sessions, from bannerd's log" % res["rows"])
        out.append("where the time went (%s):" % src)
        out.extend(stage_table(res, [r for r in rows if r in ctx["attributed"]], ctx["threshold_us"]))
    out.append("cause: " + res["lines"][0])
    out.extend(res["lines"][1:])
    out.extend(reloads(ctx.get("events") or [], rows, ctx["threshold_us"]))
    if ctx.get("intervals") is not None:
        out.extend(intervals.render(ctx["intervals"], ctx.get("t0_wall_us"), ctx["threshold_us"],
                                    ctx.get("threshold_label") or ""))
    out.extend(both_sides(ctx.get("relay")))
    out.extend(who_would_give_up(rows, ctx["probe"], ctx["scale"]))
    out.extend(ctx.get("extra") or [])
    for p in ctx.get("plots") or []:
        out.append("plot: " + p)
    checks = ctx["checks"]
    if checks:
        out.extend(c for c in checks if c.startswith("FAIL"))
        out.append("expectations: %d passed, %d failed" % (
            sum(c.startswith("PASS") for c in checks), sum(c.startswith("FAIL") for c in checks)))
    return "\n".join(out) + "\n"


def summary(ctx, passed):
    fig = ctx["figures"]
    return {
        "scenario": ctx["name"], "cause": ctx["article"], "mode": ctx["mode"],
        "scale": ctx["scale"], "pass": passed,
        "verdict": ctx["res"]["lines"][0],
        "cause_part": ctx["res"]["cause"], "lever": ctx["res"]["lever"], "also": ctx["res"]["also"],
        "checks": ctx["checks"],
        "figures": {k: v for k, v in fig.items()},
        "durations_us": sorted(fig.durations),
        # the changes the plot marks: seconds from the load's start
        # (null when no try was matched to place it) and the label
        "changes": [{"wall_us": w, "at_s": _since(w, ctx.get("t0_wall_us")), "label": l}
                    for w, l in ctx.get("changes") or []],
        "intervals": ctx.get("intervals"),
    }


def _since(wall_us, t0_wall_us):
    return None if t0_wall_us is None else round((wall_us - t0_wall_us) / 1e6, 3)


def write_summary(path, ctx, passed):
    with open(path, "w") as f:
        json.dump(summary(ctx, passed), f, indent=2)
        f.write("\n")

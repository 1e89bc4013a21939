"""The plots, for teaching: a trainer shows them to a class, so each one
says what it shows in its title, units in its axis labels, what the
colours mean in its key, and it is readable at 960x540.

  banner.png       every run with client tries: how long each try waited
                   for the 220 greeting, against when it arrived (or the
                   attempt number for a burst), coloured by what a sender
                   with the scenario's give-up threshold would do; the
                   scenario's marks (a SIGHUP) as vertical lines
  both-sides.png   runs with slowrelay on the path (firewall-path): per
                   connection, when the 220 reached the filter (server
                   side) and when the client got it (client side)
  timeline.png     runs with a Postfix sender (ndr-postfix): submission,
                   each try and its greeting timeout, bannerd's own
                   sessions, the deferrals, the expiry, the DSN and the
                   delivery after the fix, one lane each
  compare          two runs' greeting times in one plot (scripts/lab compare)

gnuplot (pngcairo) draws them, from a script on its stdin with the data
inline; without gnuplot there are no plots and the lab goes on. The
decisions (log or linear, which unit, burst or timeline, where the
threshold goes, which colour a try gets) are pure functions below, tested
in tests/lab/test_plot.py."""
import csv
import math
import os
import shutil
import subprocess
import sys

from . import records, stats
from .units import fmt_duration as _fmt_duration

SIZE = (960, 540)
FONT = "DejaVu Sans,11"

# A y axis is logarithmic when the greeting times spread over more than
# this factor (slowest / fastest): a linear axis would flatten the fast
# ones to a line on the floor (flaky-dns: 1 ms and 1 s).
LOG_RATIO = 50.0
# The threshold line is drawn when it is at most this far above the
# slowest try (linear, log axis); further up it would squash the data to
# the bottom of the plot, so the key says where it is instead.
THRESHOLD_REACH = (2.0, 10.0)
# All tries started within this share of the typical (median) wait: a
# burst; x is then the attempt number, since the start times would pile
# up in one column.
BURST_SHARE = 0.1

GREEN, ORANGE, RED, GREY = "#2e8b57", "#e67e00", "#d62728", "#7f7f7f"
BLUE, PINK = "#1f5fbf", "#c2185b"
INK, MARK = "#333333", "#555555"

CLASSES = ("in_time", "late", "no_banner", "other")
NO_GREETING = ("gave_up", "ndr", "abandoned")


# ---- pure decisions ----

def time_unit(max_us):
    """The unit for a linear axis reaching max_us: numbers below 2000 on
    the tics. -> (name, microseconds per unit)."""
    if max_us < 2000:
        return "µs", 1.0
    if max_us < 2000000:
        return "ms", 1000.0
    return "s", 1000000.0


def tick_label(us):
    """A tic's text with its own unit: 1000 -> '1 ms', 2.5e6 -> '2.5 s'."""
    for name, div in (("s", 1e6), ("ms", 1e3)):
        if us >= div:
            return "%g %s" % (float("%.3g" % (us / div)), name)
    return "%g µs" % float("%.3g" % us)


def fmt_us(us):
    """A duration for a plot's text: '500 ms', '1.25 s', '80 µs'."""
    if us is None:
        return "-"
    return tick_label(us) if us > 0 else _fmt_duration(us)


def log_tics(lo_us, hi_us):
    """Tics for a log axis from lo_us to hi_us: each decade, with 2 and 5
    between when the axis spans 3.5 decades or fewer. -> [us]."""
    lo_us, hi_us = max(lo_us, 1e-3), max(hi_us, lo_us * 10)
    d0, d1 = int(math.floor(math.log10(lo_us))), int(math.ceil(math.log10(hi_us)))
    steps = (1, 2, 5) if math.log10(hi_us / lo_us) <= 3.5 else (1,)
    out = []
    for d in range(d0, d1 + 1):
        for s in steps:
            v = s * 10.0 ** d
            if lo_us <= v <= hi_us:
                out.append(v)
    return out


def use_log(values_us):
    """A log axis when the positive values spread over more than LOG_RATIO."""
    pos = [v for v in values_us if v > 0]
    return bool(pos) and max(pos) / min(pos) > LOG_RATIO


def threshold_place(threshold_us, max_us, log):
    """'none' (no threshold), 'in' (draw the line: the axis reaches it) or
    'above' (far above the data: off the chart, said in the key)."""
    if not threshold_us or threshold_us <= 0:
        return "none"
    reach = THRESHOLD_REACH[1 if log else 0]
    return "in" if threshold_us <= max(max_us, 0) * reach else "above"


def y_axis(values_us, threshold_us=None, spread_us=None):
    """The greeting-time axis fitted to the data (and to the threshold
    when it is near enough). The log-or-linear choice looks at spread_us
    (default: the values): the greeting waits, not a refusal's instant
    421, which sits on the floor of the axis either way. -> dict: log, lo
    and hi (in unit), unit, div (us per unit), tics (us, log axes only),
    threshold ('none'|'in'|'above')."""
    vals = [max(0, v) for v in values_us] or [0]
    vmax = max(vals)
    spread = [max(0, v) for v in (vals if spread_us is None else spread_us)]
    log = use_log(spread)
    place = threshold_place(threshold_us, vmax, log)
    top = max(vmax, threshold_us if place == "in" else 0)
    if log:
        lo = min(v for v in spread if v > 0)
        if place == "in":
            lo = min(lo, threshold_us)
        lo, hi = lo / 1.6, top * 1.6
        return {"log": True, "lo": lo, "hi": hi, "unit": "", "div": 1.0,
                "tics": log_tics(lo, hi), "threshold": place}
    if top <= 0:
        top = 1000  # nothing waited: an axis of 1 ms rather than none
    unit, div = time_unit(top * 1.1)
    return {"log": False, "lo": 0.0, "hi": top * 1.1 / div, "unit": unit, "div": div,
            "tics": None, "threshold": place}


def is_burst(rows):
    """All tries started within BURST_SHARE of the median wait (or there
    is only one): the start times carry no story, the order does."""
    if len(rows) <= 1:
        return True
    starts = [r["start_us"] for r in rows]
    waits = sorted(r["client_us"] for r in rows if r["client_us"] > 0)
    if not waits:
        return max(starts) == min(starts)
    return max(starts) - min(starts) < BURST_SHARE * waits[len(waits) // 2]


def x_axis(rows, mark_us=()):
    """x for the greeting plot: 'burst' -> attempt number (order of start),
    'time' -> when the greeting arrived (or the wait ended), from the
    load's time 0, with the marks on the same axis. -> dict: mode, lo,
    hi (in unit), unit, div, span_us (how long the burst took to start)."""
    if is_burst(rows):
        n = max(1, len(rows))
        starts = [r["start_us"] for r in rows] or [0]
        return {"mode": "burst", "lo": 0.5, "hi": n + 0.5, "unit": "", "div": 1.0,
                "span_us": max(starts) - min(starts)}
    return time_axis([r["arrival_us"] for r in rows] + list(mark_us))


def time_axis(xs_us):
    """A time axis from the load's time 0 (or earlier, for a mark before
    it) past the last x, never 0 wide."""
    xs = list(xs_us) or [0]
    lo_us, hi_us = min(0, min(xs)), max(xs)
    if hi_us <= lo_us:
        hi_us = lo_us + 1000
    unit, div = time_unit(hi_us)
    pad = 0.03 * (hi_us - lo_us)
    return {"mode": "time", "lo": (lo_us - (pad if lo_us < 0 else 0)) / div,
            "hi": (hi_us + pad) / div, "unit": unit, "div": div, "span_us": None}


def burst_label(n, span_us):
    """The x axis of a burst says it is one, and why x is not the time."""
    if n <= 1:
        return "attempt number (a single try)"
    when = "at once" if not span_us else "within %s" % fmt_us(span_us)
    return "attempt number, in the order the tries started (a burst: all %d started %s)" % (n, when)


def row_class(row, threshold_us):
    """What a sender with the scenario's give-up threshold would do with
    this try: 'in_time' (the 220 came within the threshold, or there is
    none), 'late' (it came, but later: that sender would have given up),
    'no_banner' (no greeting came: the client gave up waiting), 'other'
    (no greeting wait: a 421/5xx refusal, a reset, an error)."""
    if row["outcome"] in NO_GREETING:
        return "no_banner"
    if int(row.get("code") or 0) == 220:
        if threshold_us and row["client_us"] > threshold_us:
            return "late"
        return "in_time"
    return "other"


# Tries printed on one spot (within 0.5% of each axis) are labelled with
# their count when there are at least STACK_MIN of them, at most
# STACK_LABELS such stacks, and they hold STACK_SHARE of the tries or more
# (else it is dense data, which labels would hide): ndr-impatient's 10
# tries that gave up at the same moment, three times.
STACK_MIN = 3
STACK_LABELS = 8
STACK_SHARE = 0.25


def clusters(points, x_range, y_range, y_log=False, share=0.005):
    """Points that would print on top of each other: [(x, y, [items])]
    for groups of two or more, where points are (x, y, item) and two
    points overlap when they are within share of each axis's range (of
    its logarithm on a log axis). Greedy, in order of x."""
    def yv(y):
        return math.log10(y) if y_log and y > 0 else y
    lo, hi = (yv(v) for v in y_range)
    dx = share * abs(x_range[1] - x_range[0]) or 1e-9
    dy = share * abs(hi - lo) or 1e-9
    groups = []
    for x, y, item in sorted(points, key=lambda p: (p[0], p[1])):
        for g in groups:
            if abs(x - g[0]) <= dx and abs(yv(y) - yv(g[1])) <= dy:
                g[2].append(item)
                break
        else:
            groups.append((x, y, [item]))
    return [g for g in groups if len(g[2]) > 1]


def cluster_label(rows, retried=False):
    """'10 tries', or '10 × try 2' when the run retried and they are all
    the same try."""
    tries = {r["try"] for r in rows}
    if retried and len(tries) == 1:
        return "%d × try %d" % (len(rows), rows[0]["try"])
    return "%d tries" % len(rows)


def order_rows(rows):
    return sorted(rows, key=lambda r: (r["start_us"], r["attempt"], r["try"]))


def mark_offsets(marks, t0_wall_us):
    """Marks on the load's time axis: [(us from time 0, label)]; none
    when time 0 is unknown."""
    if t0_wall_us is None:
        return []
    return [(m["wall_us"] - t0_wall_us, m.get("label") or "") for m in marks or []]


def estimate_t0(rows, server_sessions):
    """Time 0 of the load on bannerd's wall clock when the join found no
    match: the n-th try by start paired with the n-th session by accept,
    if there are as many of each (the median of accept - start - connect);
    else None."""
    recs = sorted(server_sessions or [], key=lambda r: (r["accept_wall_us"], r["sid"]))
    tries = order_rows(rows)
    if not recs or len(recs) != len(tries):
        return None
    d = sorted(s["accept_wall_us"] - r["start_us"] - r["connect_us"] for r, s in zip(tries, recs))
    return d[len(d) // 2]


def p99(rows):
    """p99 of the greeting time over the tries that got one (else of the
    waits)."""
    got = [r["client_us"] for r in rows if int(r.get("code") or 0) == 220]
    return stats.percentile(got or [r["client_us"] for r in rows], 99)


def threshold_title(threshold_us, label="", off_chart_max_us=None):
    """The key's words for the give-up line; with off_chart_max_us, that
    it is off the chart, and how far above the slowest try."""
    d = fmt_us(threshold_us)
    if label and d in label:  # 'impatient-10 (10 s)' says it already
        text = "give-up threshold: %s" % label
    else:
        text = "give-up threshold %s%s" % (d, ": %s" % label if label else "")
    if off_chart_max_us is None:
        return text
    far = " (%.0fx the slowest try)" % (threshold_us / off_chart_max_us) if off_chart_max_us > 0 else ""
    return text + ": off the chart, above it" + far


# the share of a plot's width one character of a label takes at 960x540
CHAR_SHARE = 0.0105


def label_side(x, lo, hi, chars=None):
    """Where a label at x goes: 'left' (left-justified: the text runs to
    the right of x) when it fits before the right edge, else 'right'.
    Without its length, the last quarter of the axis counts as full."""
    if hi <= lo:
        return "left"
    f = (x - lo) / (hi - lo)
    room = 0.25 if chars is None else chars * CHAR_SHARE
    return "left" if f + room <= 1.0 else "right"


def label_centre(x, lo, hi, chars, log=False):
    """'center', or the side that keeps a label of chars inside the plot."""
    if hi <= lo:
        return "center"
    if log:
        x, lo, hi = math.log10(max(x, 1e-9)), math.log10(lo), math.log10(hi)
    f = (x - lo) / (hi - lo)
    half = chars * CHAR_SHARE / 2
    if f + half > 1.0:
        return "right"
    if f - half < 0.0:
        return "left"
    return "center"


# ---- gnuplot ----

def gnuplot_path():
    return shutil.which("gnuplot")


def q(text):
    """A gnuplot string literal (single quotes: no escapes but '')."""
    return "'" + str(text).replace("'", "''").replace("\n", " ") + "'"


def _num(v):
    return "%.9g" % v


def _block(name, lines):
    return "$%s << EOD\n%s\nEOD\n" % (name, "\n".join(lines))


def _head(path, title, subtitle):
    return "\n".join([
        "set terminal pngcairo size %d,%d font %s noenhanced" % (SIZE[0], SIZE[1], q(FONT)),
        "set encoding utf8",
        "set output %s" % q(path),
        "set label 98 %s at screen 0.5, screen 0.965 center font ',13'" % q(title),
        "set label 99 %s at screen 0.5, screen 0.920 center font ',10' tc rgb '%s'" % (q(subtitle), INK),
        "set tmargin 5",
        "set border 3 lc rgb '%s'" % MARK,
        "set tics nomirror out",
        "set grid lc rgb '#e4e4e4'",
        "set style textbox opaque noborder margins 2,1",
        "set key below left Left reverse noenhanced samplen 2 spacing 1.1 height 1",
        "",
    ])


def run_gnuplot(script, path, log_path):
    """Draw; -> True when a non-empty PNG was written. gnuplot's own
    complaints go to log_path (with the script) when it fails."""
    exe = gnuplot_path()
    if not exe:
        return False
    try:
        p = subprocess.run([exe], input=script, capture_output=True, text=True, timeout=60)
        ok = p.returncode == 0 and os.path.exists(path) and os.path.getsize(path) > 0
        err = p.stderr
    except (OSError, subprocess.SubprocessError) as e:
        ok, err = False, str(e)
    if not ok:
        with open(log_path, "w") as f:
            f.write(err + "\n---- script ----\n" + script)
        print("labanalysis: gnuplot did not draw %s (see %s)" % (path, log_path), file=sys.stderr)
        if os.path.exists(path) and os.path.getsize(path) == 0:
            os.remove(path)
    return ok


def _y_setup(ya, what):
    out = []
    if ya["log"]:
        out.append("set logscale y")
        out.append("set mytics 10")
        out.append("set ytics (%s)" % ", ".join("%s %s" % (q(tick_label(t)), _num(t)) for t in ya["tics"]))
        out.append("set ylabel %s" % q(what + " (log scale)"))
    else:
        out.append("set ylabel %s" % q("%s (%s)" % (what, ya["unit"])))
    out.append("set yrange [%s:%s]" % (_num(ya["lo"]), _num(ya["hi"])))
    return out


def _y_of(v, ya):
    """A value on the y axis: zero sits on the floor of a log axis."""
    if ya["log"]:
        return max(v, ya["lo"])
    return v / ya["div"]


def free_spot(x_frac, chars, points, height=0.08):
    """Where a label for a vertical line at x_frac (share of the plot's
    width) covers no point: (y_frac of the label's middle, 'left' |
    'right' justified), trying the top right of the line, the top left,
    then the same at the bottom; points are (x_frac, y_frac). When every
    spot covers some, the one that covers fewest."""
    w = chars * CHAR_SHARE
    best = None
    for y in (0.95, 0.05):
        for side in ("left", "right"):
            x0, x1 = (x_frac, x_frac + w) if side == "left" else (x_frac - w, x_frac)
            if x0 < 0 or x1 > 1:
                continue
            n = sum(1 for px, py in points if x0 <= px <= x1 and abs(py - y) <= height / 2 + 0.02)
            if best is None or n < best[0]:
                best = (n, y, side)
            if n == 0:
                return y, side
    return (best[1], best[2]) if best else (0.95, "right")


def _frac(v, lo, hi, log=False):
    if log:
        v, lo, hi = math.log10(max(v, 1e-9)), math.log10(lo), math.log10(hi)
    return (v - lo) / (hi - lo) if hi > lo else 0.5


def _mark_lines(marks, xa, points=()):
    """Vertical dashed lines with their label at the top or bottom, on a
    side of the line where it covers no point (points: (x, y) as shares
    of the plot's width and height)."""
    out = []
    for i, (x_us, label) in enumerate(marks):
        x = x_us / xa["div"]
        if not xa["lo"] <= x <= xa["hi"]:
            continue
        out.append("set arrow from %s, graph 0 to %s, graph 1 nohead lc rgb '%s' dt 2 lw 2 front"
                   % (_num(x), _num(x), MARK))
        text = "%s at %s" % (label, tick_label(x_us) if x_us > 0 else "0")
        y, side = free_spot(_frac(x, xa["lo"], xa["hi"]), len(text) + 2, points)
        out.append("set label %d %s at %s, graph %.2f %s offset %s tc rgb '%s' boxed front"
                   % (20 + i, q(text), _num(x), y - 0.07 * (i % 3) * (1 if y > 0.5 else -1), side,
                      "1,0" if side == "left" else "-1,0", INK))
    return out


# ---- inputs ----

def read_sessions_csv(path):
    """sessions.csv -> rows (numbers as ints); None when there is no file."""
    if not os.path.exists(path):
        return None
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            row = dict(r)
            for k in ("attempt", "try", "start_us", "connect_us", "client_us", "arrival_us", "code"):
                row[k] = int(r.get(k) or 0)
            rows.append(row)
    return rows


def _rows_of(out, ctx):
    rows = ctx.get("rows")
    if rows is None:
        rows = read_sessions_csv(os.path.join(out, "sessions.csv")) or []
    return rows


def _mode_note(ctx):
    if ctx.get("mode") == "quick" and ctx.get("scale") not in (None, 1, 1.0):
        return "quick run: every time x%g of the article's" % ctx["scale"]
    return "%s run" % (ctx.get("mode") or "full")


def _short(text, n=96):
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[:n - 1].rstrip() + "…"


# ---- banner.png ----

def banner_script(path, ctx, rows, marks):
    """The greeting plot's gnuplot script (pure: rows in, text out)."""
    thr = ctx.get("threshold_us") or 0
    rows = order_rows(rows)
    ya = y_axis([r["client_us"] for r in rows], thr,
                [r["client_us"] for r in rows if row_class(r, thr) != "other"])
    xa = x_axis(rows, [m[0] for m in marks])
    name = ctx.get("name") or "run"
    title = "%s: how long each try waited for the 220 greeting" % name
    sub = _short(ctx.get("article") or "", 100)
    sub = (sub + "  ·  " if sub else "") + _mode_note(ctx)
    s = [_head(path, title, sub)]
    if xa["mode"] == "burst":
        s.append("set xlabel %s" % q(burst_label(len(rows), xa["span_us"])))
        s.append("set xtics 1" if len(rows) <= 20 else "set xtics autofreq")
    else:
        s.append("set xlabel %s" % q("when the greeting arrived, or the client stopped waiting (%s since the load started)"
                                      % xa["unit"]))
    s.append("set xrange [%s:%s]" % (_num(xa["lo"]), _num(xa["hi"])))
    s.extend(_y_setup(ya, "time to the 220 greeting"))
    hidden = [m for m in marks if xa["mode"] == "burst"]
    if xa["mode"] == "time":
        s.extend(_mark_lines(marks, xa, [(_frac(r["arrival_us"] / xa["div"], xa["lo"], xa["hi"]),
                                          _frac(_y_of(r["client_us"], ya), ya["lo"], ya["hi"], ya["log"]))
                                         for r in rows]))

    by = {c: [] for c in CLASSES}
    others = {}
    for i, r in enumerate(rows):
        c = row_class(r, thr)
        x = (i + 1) if xa["mode"] == "burst" else r["arrival_us"] / xa["div"]
        by[c].append("%s %s" % (_num(x), _num(_y_of(r["client_us"], ya))))
        if c == "other":
            key = "%s %s" % (r["code"], r["outcome"]) if r["code"] else r["outcome"]
            others[key] = others.get(key, 0) + 1
    for c in CLASSES:
        if by[c]:
            s.append(_block(c, by[c]))
    # tries printed on top of each other say how many they are
    pts = [((i + 1) if xa["mode"] == "burst" else r["arrival_us"] / xa["div"], _y_of(r["client_us"], ya), r)
           for i, r in enumerate(rows)]
    retried = any(r["try"] > 1 for r in rows)
    stacks = [c for c in clusters(pts, (xa["lo"], xa["hi"]), (ya["lo"], ya["hi"]), ya["log"])
              if len(c[2]) >= STACK_MIN]
    if len(stacks) > STACK_LABELS or sum(len(c[2]) for c in stacks) < STACK_SHARE * len(rows):
        stacks = []  # dense data, or a few stacks in the crowd: labels would only hide it
    for j, (x, y, group) in enumerate(stacks):
        text = cluster_label(group, retried)
        side = label_side(x, xa["lo"], xa["hi"], len(text) + 2)
        s.append("set label %d %s at %s, %s %s offset %s, 0.8 tc rgb '%s' boxed front"
                 % (40 + j, q(text), _num(x), _num(y), side,
                    "0.6" if side == "left" else "-0.6", INK))
    tl = fmt_us(thr) if thr else ""
    ndr = sum(1 for r in rows if r["outcome"] == "ndr")
    labels = {
        "in_time": ("greeting within %s: %d" % (tl, len(by["in_time"])) if thr
                    else "greeting: %d" % len(by["in_time"])),
        "late": "greeting later than %s, a sender with that threshold gives up: %d" % (tl, len(by["late"])),
        "no_banner": "no greeting, the client gave up waiting (y = how long it waited): %d%s"
                     % (len(by["no_banner"]), " (%d of them a last try: NDR)" % ndr if ndr else ""),
        "other": "refused or failed before any greeting: %s" % ", ".join("%s %d" % kv for kv in sorted(others.items())),
    }
    style = {
        "in_time": "points pt 7 ps 0.9 lc rgb '%s'" % GREEN,
        "late": "points pt 7 ps 0.9 lc rgb '%s'" % ORANGE,
        "no_banner": "points pt 2 ps 1.3 lw 2 lc rgb '%s'" % RED,
        "other": "points pt 6 ps 1.0 lw 1.5 lc rgb '%s'" % GREY,
    }
    series = ["$%s using 1:2 with %s title %s" % (c, style[c], q(labels[c])) for c in CLASSES if by[c]]
    tlabel = ctx.get("threshold_label") or ""
    if ya["threshold"] == "in":
        y = _y_of(thr, ya)
        series.append("%s with lines dt 2 lw 2 lc rgb '%s' title %s"
                      % (_num(y), RED, q(threshold_title(thr, tlabel))))
    elif ya["threshold"] == "above":
        vmax = max([r["client_us"] for r in rows] or [0])
        series.append("NaN with lines dt 2 lw 2 lc rgb '%s' title %s"
                      % (RED, q(threshold_title(thr, tlabel, vmax))))
    for x_us, label in hidden:
        series.append("NaN with lines dt 2 lw 2 lc rgb '%s' title %s"
                      % (MARK, q("%s: not drawn, x is the attempt number here" % label)))
    if not series:
        series = ["NaN notitle"]
    s.append("plot " + ", \\\n     ".join(series))
    return "\n".join(s) + "\n"


# ---- both-sides.png ----

def bannerd_times(rows):
    """bannerd's own banner time (accept to 220 written, from its log) per
    client address, for the tries the join matched: {source: us}."""
    out = {}
    for r in rows:
        rec = r.get("server")
        if rec is not None:
            us = rec.get("banner_us")
        elif r.get("sid"):
            us = sum(int(r.get(k) or 0) for k in ("queue_us", "rdns_wait_us", "rdns_us", "delay_us", "write_us"))
        else:
            continue
        if us is not None and r.get("source"):
            out[r["source"]] = us
    return out


def both_sides_script(path, ctx, relay, inside=None):
    """slowrelay's two sides of each connection on one log time axis:
    the 220 reaching the filter from bannerd, and the filter passing it
    to the client (both from the client's connect to the filter); with
    inside ({client address: us}), bannerd's own banner time too."""
    recs = sorted((r for r in relay if r.get("client_first_byte_us")), key=lambda r: r["id"])
    server = [r["server_first_byte_us"] for r in recs if r.get("server_first_byte_us")]
    client = [r["client_first_byte_us"] for r in recs]
    inside = inside or {}
    own = [(i, inside[r["client"]]) for i, r in enumerate(recs, 1) if inside.get(r["client"])]
    thr = ctx.get("threshold_us") or 0
    lo = max(1.0, min(server + client + [u for _, u in own])) / 2.5
    hi = max(client + server) * 2.5
    place = threshold_place(thr, max(client), True)
    if place == "in":
        hi = max(hi, thr * 1.6)
    n = len(recs)
    name = ctx.get("name") or "run"
    s = [_head(path, "%s: both sides of the filter, per connection" % name,
               "one row per connection: the same 220, timed by the filter (slowrelay) on each side  ·  "
               + _mode_note(ctx))]
    s.append("set logscale x")
    s.append("set mxtics 10")
    s.append("set xtics (%s)" % ", ".join("%s %s" % (q(tick_label(t)), _num(t)) for t in log_tics(lo, hi)))
    s.append("set xrange [%s:%s]" % (_num(lo), _num(hi)))
    s.append("set xlabel 'time since the client connected to the filter (log scale)'")
    s.append("set ylabel 'connection (slowrelay id)'")
    s.append("set yrange [%s:%s]" % (_num(0.4), _num(n + 0.6 + max(1.5, n * 0.12))))
    step = max(1, int(math.ceil(n / 10.0)))
    s.append("set ytics %d, %d, %d" % (step, step, n))
    s.append("set grid xtics noytics")
    pairs, sv, cv = [], [], []
    for i, r in enumerate(recs, 1):
        if r.get("server_first_byte_us"):
            sv.append("%s %d" % (_num(r["server_first_byte_us"]), i))
            pairs.append("%s %d\n%s %d\n" % (_num(r["server_first_byte_us"]), i, _num(r["client_first_byte_us"]), i))
        cv.append("%s %d" % (_num(r["client_first_byte_us"]), i))
    s.append(_block("pairs", pairs))
    s.append(_block("server", sv or ["NaN NaN"]))
    s.append(_block("client", cv))
    if own:
        s.append(_block("inside", ["%s %d" % (_num(u), i) for i, u in own]))
    ms = stats.percentile(server, 50)
    mc = stats.percentile(client, 50)
    # the medians, written above the rows at their own x
    top = n + 0.6 + max(1.5, n * 0.12) / 2
    for no, v, text, colour in ((1, ms, "bannerd → filter: %s (median)" % fmt_us(ms), BLUE),
                                (2, mc, "filter → client: %s (median)" % fmt_us(mc), RED)):
        if v is not None:
            s.append("set label %d %s at %s, %s %s tc rgb '%s' boxed front"
                     % (no, q(text), _num(v), _num(top), label_centre(v, lo, hi, len(text), True), colour))
    series = ["$pairs using 1:2 with lines lw 1 lc rgb '#bbbbbb' title 'held by the filter'",
              "$server using 1:2 with points pt 7 ps 1.0 lc rgb '%s' title %s"
              % (BLUE, q("server side: bannerd's 220 reached the filter (%d)" % len(server))),
              "$client using 1:2 with points pt 7 ps 1.0 lc rgb '%s' title %s"
              % (RED, q("client side: the filter passed it to the client (%d)" % len(client)))]
    if own:
        series.insert(1, "$inside using 1:2 with points pt 6 ps 1.1 lw 1.5 lc rgb '%s' title %s"
                      % (BLUE, q("inside bannerd: accept to 220 written, from its log (median %s)"
                                 % fmt_us(stats.percentile([u for _, u in own], 50)))))
    tl = fmt_us(thr) if thr else ""
    if place == "in":
        s.append("set arrow from %s, graph 0 to %s, graph 1 nohead dt 2 lw 2 lc rgb '%s' back"
                 % (_num(thr), _num(thr), ORANGE))
        series.append("NaN with lines dt 2 lw 2 lc rgb '%s' title %s"
                      % (ORANGE, q(threshold_title(thr, ctx.get("threshold_label")))))
    elif place == "above":
        series.append("NaN with lines dt 2 lw 2 lc rgb '%s' title %s"
                      % (ORANGE, q(threshold_title(thr, ctx.get("threshold_label"), max(client)))))
    s.append("plot " + ", \\\n     ".join(series))
    return "\n".join(s) + "\n"


# ---- timeline.png (Postfix as the sender) ----

LANES = (
    ("submitted", "mail submitted"),
    ("try", "Postfix try"),
    ("session", "bannerd session"),
    ("deferred", "deferred (4xx)"),
    ("expired", "expired"),
    ("bounce_sent", "NDR (DSN) to sender"),
    ("delivered", "delivered to bannerd"),
)
SECOND = 1000000


def _queue_id(text):
    head = text.split(":", 1)[0]
    return head if head and " " not in head else ""


def _pair(postfix_us, sessions):
    """Postfix lines (their whole seconds) with the bannerd sessions that
    ended with them, in order: the same count, and each session's close
    within the Postfix line's second (give or take one, for the two
    clocks' reading). -> [session] or None."""
    if len(postfix_us) != len(sessions):
        return None
    for t, s in zip(postfix_us, sessions):
        if not t - SECOND <= s["close_wall_us"] <= t + 2 * SECOND:
            return None
    return list(sessions)


def timeline_events(postfix, server_sessions, fixes, threshold_us):
    """The ndr-postfix story on one time axis, in us from the start of the
    second in which Postfix logged the submission. Postfix logs whole
    seconds, so its events are known to a second: each is placed in the
    middle of its second ('precise': False, drawn with a whisker over
    the second), unless bannerd's log (microseconds) has the same moment:
    a greeting timeout is the close of an abandoned session (Postfix hung
    up), a delivery the close of a session that sent its 220. -> dict:
    t0 (wall us; None without a Postfix event), fixes [(x, label)], and
    per lane: submitted, deferred, expired, bounce_sent, delivered
    [(x, label, precise)], try [(x_from, x_to, label)], session
    [(x_from, x_to, outcome)]."""
    subs = [e for e in postfix if e["kind"] == "queued" and "from=<>" not in e["text"]]
    start = subs or postfix
    t0 = start[0]["wall_us"] if start else None
    ev = {k: [] for k, _ in LANES}
    ev["t0"], ev["fixes"] = t0, []
    if t0 is None:
        return ev
    recs = sorted(server_sessions or [], key=lambda r: (r["accept_wall_us"], r["sid"]))
    timeouts = [e for e in postfix if e["kind"] == "greeting_timeout"]
    sent = [e for e in postfix if e["kind"] == "delivered"]
    gone = _pair([e["wall_us"] for e in timeouts], [r for r in recs if r["outcome"] == "abandoned"])
    greeted = _pair([e["wall_us"] for e in sent], [r for r in recs if r["outcome"] == "normal"])
    half = SECOND // 2

    def at(e):
        return e["wall_us"] - t0 + half

    seen = set()
    for e in subs:
        qid = _queue_id(e["text"])
        if qid not in seen:
            ev["submitted"].append((at(e), "mail submitted" if not seen else "another mail", False))
            seen.add(qid)
    for i, e in enumerate(timeouts):
        if gone:
            a, b = gone[i]["accept_wall_us"] - t0, gone[i]["close_wall_us"] - t0
        else:
            b = at(e)
            a = b - (threshold_us or 0)
        ev["try"].append((a, b, "greeting timeout"))
        ev["deferred"].append((b, "4.4.2: no greeting in %s" % fmt_us(threshold_us) if threshold_us
                               else "4.4.2: greeting timeout", bool(gone)))
    for i, e in enumerate(sent):
        if greeted:
            ev["delivered"].append((greeted[i]["close_wall_us"] - t0, "delivered", True))
        else:
            ev["delivered"].append((at(e), "delivered", False))
    for e in postfix:
        if e["kind"] == "deferred":
            ev["deferred"].append((at(e), "deferred", False))
        elif e["kind"] == "expired":
            ev["expired"].append((at(e), "expired: returned to sender", False))
        elif e["kind"] == "bounce_sent":
            ev["bounce_sent"].append((at(e), "NDR in the sender's mailbox", False))
    for r in recs:
        ev["session"].append((r["accept_wall_us"] - t0, r["close_wall_us"] - t0, r["outcome"]))
    ev["fixes"] = [(w - t0, label) for w, label in fixes]
    return ev


def timeline_script(path, ctx, ev):
    thr = ctx.get("threshold_us") or 0
    xs = [0.0]
    for k, _ in LANES:
        for item in ev[k]:
            xs.extend(v for v in item[:2] if isinstance(v, (int, float)) and not isinstance(v, bool))
    xs.extend(x for x, _ in ev["fixes"])
    lo_us, hi_us = min(xs), max(xs) + SECOND // 2
    span = max(hi_us - lo_us, SECOND)
    lo_us -= 0.03 * span
    # room on the right for the labels of the last events, up to twice the span
    texts = [(item[0], len(item[1]) + 2) for k, _ in LANES if k not in ("try", "session") for item in ev[k]]
    texts += [(x, len(label) + 12) for x, label in ev["fixes"]]
    need = [lo_us + (x - lo_us) / (1 - c * CHAR_SHARE) for x, c in texts if c * CHAR_SHARE < 0.9]
    hi_us = min(max([hi_us + 0.03 * span] + need), lo_us + 2 * span)
    unit, div = time_unit(hi_us - lo_us)
    lo, hi = lo_us / div, hi_us / div
    name = ctx.get("name") or "run"
    s = [_head(path, "%s: the mail's life, as Postfix and bannerd logged it" % name,
               "Postfix gives up on a greeting after %s (smtp_helo_timeout)  ·  %s run"
               % (fmt_us(thr) if thr else "?", ctx.get("mode") or "full"))]
    s.append("set xrange [%s:%s]" % (_num(lo), _num(hi)))
    s.append("set xlabel %s" % q("time since the mail was submitted (%s; from the start of the second Postfix logged it in)"
                                  % unit))
    n = len(LANES)
    ypos = {k: n - i for i, (k, _) in enumerate(LANES)}
    s.append("set yrange [0.4:%s]" % _num(n + 0.6))
    s.append("set ytics (%s)" % ", ".join("%s %d" % (q(t), ypos[k]) for k, t in LANES))
    s.append("set grid xtics noytics")
    s.append("set style fill solid 0.85 noborder")
    h = 0.28
    least = 0.004 * (hi - lo)  # a bar of a few ms still shows

    def bar(a, b, y):
        a, b = a / div, b / div
        b = max(b, a + least)
        return "%s %d %s %s %s %s" % (_num((a + b) / 2), y, _num(a), _num(b), _num(y - h), _num(y + h))

    bars = {"try": [], "abandoned": [], "greeted": []}
    for a, b, _ in ev["try"]:
        bars["try"].append(bar(a, b, ypos["try"]))
    for a, b, outcome in ev["session"]:
        bars["greeted" if outcome == "normal" else "abandoned"].append(bar(a, b, ypos["session"]))
    for k, v in bars.items():
        if v:
            s.append(_block("bar_" + k, v))
    pts, label_no = {}, 1
    for k, _ in LANES:
        if k in ("try", "session"):
            continue
        last = None
        for x, text, precise in ev[k]:
            w = 0 if precise else SECOND / 2
            pts.setdefault(k, []).append("%s %d %s %s" % (_num(x / div), ypos[k], _num((x - w) / div), _num((x + w) / div)))
            if text != last:  # one label for a run of the same words
                side = label_side(x / div, lo, hi, len(text) + 2)
                s.append("set label %d %s at %s, %d %s offset %s, 0.9 tc rgb '%s' boxed front"
                         % (label_no, q(text), _num(x / div), ypos[k], side, "0.2" if side == "left" else "-0.2", INK))
                label_no += 1
                last = text
    for k, v in pts.items():
        s.append(_block("pt_" + k, v))
    for i, (x, label) in enumerate(ev["fixes"]):
        xv = x / div
        text = "%s at %s" % (label, tick_label(x) if x > 0 else "0")
        side = label_side(xv, lo, hi, len(text) + 2)
        s.append("set arrow from %s, graph 0 to %s, graph 1 nohead lc rgb '%s' dt 2 lw 2 back" % (_num(xv), _num(xv), MARK))
        s.append("set label %d %s at %s, graph 1.03 %s offset %s, 0 tc rgb '%s' front"
                 % (90 + i, q(text), _num(xv), side,
                    "0.5" if side == "left" else "-0.5", INK))
    series = []
    if bars["try"]:
        series.append("$bar_try using 1:2:3:4:5:6 with boxxyerror lc rgb '%s' title %s"
                      % (ORANGE, q("Postfix waiting for the greeting, until it gives up")))
    if bars["abandoned"]:
        series.append("$bar_abandoned using 1:2:3:4:5:6 with boxxyerror lc rgb '%s' title %s"
                      % (RED, q("bannerd session that ended before its 220 (the client left)")))
    if bars["greeted"]:
        series.append("$bar_greeted using 1:2:3:4:5:6 with boxxyerror lc rgb '%s' title %s"
                      % (GREEN, q("bannerd session that sent its 220")))
    style = {"submitted": ("pt 9 ps 1.6", BLUE), "deferred": ("pt 2 ps 1.5 lw 2", ORANGE),
             "expired": ("pt 13 ps 1.6", RED), "bounce_sent": ("pt 5 ps 1.4", RED),
             "delivered": ("pt 7 ps 1.6", GREEN)}
    for k, _ in LANES:
        if k in pts:
            pt, colour = style[k]
            series.append("$pt_%s using 1:2:3:4 with xerrorbars %s lc rgb '%s' notitle" % (k, pt, colour))
    if any(not p for k, _ in LANES if k in pts for _, _, p in ev[k]):
        series.append("NaN with xerrorbars pt 7 ps 0.8 lc rgb '%s' title %s"
                      % (MARK, q("whisker: the second Postfix logged it in (it logs whole seconds)")))
    if not series:
        series = ["NaN notitle"]
    s.append("plot " + ", \\\n     ".join(series))
    return "\n".join(s) + "\n"


# ---- entry points ----

def _fixes(run):
    """The scenario's marks, else bannerd's own reload lines: [(wall us,
    label)]."""
    marks = [(m["wall_us"], m.get("label") or "") for m in run.get("marks") or []]
    if marks:
        return marks
    events = ((run.get("log") or {}).get("events")) or []
    return [(e["wall_us"], "bannerd reloaded (SIGHUP)") for e in events if e.get("key") == "reload"]


def _plan(out, ctx, run, t0_wall_us):
    """-> [(file name, function returning the script for a path)]."""
    plan = []
    server_only = "probe" in ctx and ctx["probe"] is None  # a real MTA was the client
    rows = [] if server_only else _rows_of(out, ctx)
    sessions = (run.get("log") or {}).get("sessions")
    if rows:
        t0 = t0_wall_us if t0_wall_us is not None else estimate_t0(rows, sessions)
        marks = mark_offsets([{"wall_us": w, "label": l} for w, l in _fixes(run)], t0)
        plan.append(("banner.png", lambda path: banner_script(path, ctx, rows, marks)))
    relay = [r for r in run.get("relay") or [] if r.get("client_first_byte_us")]
    if relay:
        inside = bannerd_times(_rows_of(out, ctx))
        plan.append(("both-sides.png", lambda path: both_sides_script(path, ctx, relay, inside)))
    if run.get("postfix"):
        ev = timeline_events(run["postfix"], sessions, _fixes(run), ctx.get("threshold_us"))
        if ev["t0"] is not None:
            plan.append(("timeline.png", lambda path: timeline_script(path, ctx, ev)))
    return plan


def plots_for_run(out, ctx, run, t0_wall_us):
    """Write the run's PNGs into out; -> their paths. No gnuplot: [] and
    nothing written. A plot that cannot be drawn is reported on stderr
    and the others (and the verdict) go on."""
    if not gnuplot_path():
        return []
    run = run or {}
    made = []
    log_path = os.path.join(out, "gnuplot.log")
    try:
        plan = _plan(out, ctx, run, t0_wall_us)
    except Exception as e:  # the verdict matters more than a plot
        print("labanalysis: no plots: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        return []
    for name, script in plan:
        path = os.path.join(out, name)
        try:
            text = script(path)
        except Exception as e:
            print("labanalysis: no %s: %s: %s" % (name, type(e).__name__, e), file=sys.stderr)
            continue
        if run_gnuplot(text, path, log_path):
            made.append(path)
    return made


def _threshold_of(folder):
    """The give-up threshold a run was analysed with (its 'figures' file)."""
    for name, value in records.read_name_values(os.path.join(folder, "figures")):
        if name == "threshold":
            try:
                return int(float(value))
            except ValueError:
                return 0
    return 0


def compare_script(path, runs, threshold_us):
    """runs: [(name, rows)], A first. Both on one axis: attempt number
    when both were bursts, else arrival time."""
    allrows = [r for _, rs in runs for r in rs]
    ya = y_axis([r["client_us"] for r in allrows], threshold_us,
                [r["client_us"] for r in allrows if row_class(r, threshold_us) != "other"])
    burst = all(is_burst(rs) for _, rs in runs)
    if burst:
        xa = {"mode": "burst", "lo": 0.5, "hi": max(len(rs) for _, rs in runs) + 0.5, "div": 1.0, "unit": ""}
    else:
        xa = time_axis([r["arrival_us"] for r in allrows])
    s = [_head(path, "%s vs %s: time to the 220 greeting" % (runs[0][0], runs[1][0]),
               "each point is one try; p99 over the tries that got a greeting")]
    if burst:
        s.append("set xlabel 'attempt number, in the order the tries started (bursts)'")
    else:
        s.append("set xlabel %s" % q("when the greeting arrived, or the client stopped waiting (%s since the load started)"
                                      % xa["unit"]))
    s.append("set xrange [%s:%s]" % (_num(xa["lo"]), _num(xa["hi"])))
    s.extend(_y_setup(ya, "time to the 220 greeting"))
    series = []
    for (name, rs), colour, pt in zip(runs, (BLUE, PINK), (7, 5)):
        groups = {"ok": [], "none": [], "other": []}
        for i, r in enumerate(order_rows(rs)):
            x = (i + 1) if burst else r["arrival_us"] / xa["div"]
            c = row_class(r, 0)
            g = "none" if c == "no_banner" else "other" if c == "other" else "ok"
            groups[g].append("%s %s" % (_num(x), _num(_y_of(r["client_us"], ya))))
        tag = "r%d" % len(series)
        head = ("%s: %d tries, p99 %s" % (name, len(rs), fmt_us(p99(rs))) if groups["ok"]
                else "%s: %d tries, none got a greeting" % (name, len(rs)))
        titles = {"ok": head,
                  "none": "%s; the client gave up waiting (%d)" % (head if not groups["ok"] else name + ": no greeting",
                                                                   len(groups["none"])),
                  "other": "%s: refused or failed before any greeting (%d)" % (name, len(groups["other"]))}
        styles = {"ok": "pt %d ps 0.9" % pt, "none": "pt 2 ps 1.3 lw 2", "other": "pt 6 ps 1.0 lw 1.5"}
        for g in ("ok", "none", "other"):
            if groups[g]:
                s.append(_block(tag + g, groups[g]))
                series.append("$%s%s using 1:2 with points %s lc rgb '%s' title %s"
                              % (tag, g, styles[g], colour, q(titles[g])))
    tl = fmt_us(threshold_us) if threshold_us else ""
    if ya["threshold"] == "in":
        series.append("%s with lines dt 2 lw 2 lc rgb '%s' title %s"
                      % (_num(_y_of(threshold_us, ya)), RED, q("give-up threshold of %s: %s" % (runs[0][0], tl))))
    elif ya["threshold"] == "above":
        series.append("NaN with lines dt 2 lw 2 lc rgb '%s' title %s"
                      % (RED, q("give-up threshold of %s: %s, off the chart, above it" % (runs[0][0], tl))))
    if not series:
        series = ["NaN notitle"]
    s.append("plot " + ", \\\n     ".join(series))
    return "\n".join(s) + "\n"


def compare(a, b, output=None):
    """scripts/lab compare A B: both runs' greeting times in one plot,
    written to A/compare-<B>.png unless output says where. -> exit code."""
    runs = []
    for folder in (a, b):
        rows = read_sessions_csv(os.path.join(folder, "sessions.csv"))
        if rows is None:
            print("labanalysis compare: %s has no sessions.csv (a finished run's results folder, "
                  "e.g. results/untuned after scripts/lab run untuned)" % folder, file=sys.stderr)
            return 2
        name = os.path.basename(os.path.normpath(os.path.abspath(folder)))
        runs.append((name, rows))
    if not gnuplot_path():
        print("labanalysis compare: no gnuplot (scripts/install-deps installs it)", file=sys.stderr)
        return 1
    if output is None:
        output = os.path.join(a, "compare-%s.png" % runs[1][0])
    log_path = os.path.join(os.path.dirname(os.path.abspath(output)), "gnuplot.log")
    if not run_gnuplot(compare_script(output, runs, _threshold_of(a)), output, log_path):
        return 1
    print(output)
    return 0

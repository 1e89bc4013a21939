"""The plots' decisions, pure: rows and numbers in, choices out, no
gnuplot and no file. Which axis (log or linear, which unit, burst or
timeline), where the give-up threshold goes, which class (colour) a try
gets, which tries print on one spot, where a label fits without leaving
the plot or covering a point, and the words for the threshold, a burst
and the run's mode. Tested in tests/lab/test_plot_axes.py."""
import math

from . import stats
from .units import fmt_duration

# A try's class: what a sender with the give-up threshold does with it
# (row_class); the plots colour by it, in this order.
CLASSES = ("in_time", "late", "no_banner", "other")
NO_GREETING = ("gave_up", "ndr", "abandoned")

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
    return tick_label(us) if us > 0 else fmt_duration(us)


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
    """The tries in the order they started."""
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


def y_of(v, ya):
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


def frac(v, lo, hi, log=False):
    """Where v sits on an axis from lo to hi, as a share of its length."""
    if log:
        v, lo, hi = math.log10(max(v, 1e-9)), math.log10(lo), math.log10(hi)
    return (v - lo) / (hi - lo) if hi > lo else 0.5


def mode_note(ctx):
    """The subtitle's words for the run's mode (and a quick run's scale)."""
    if ctx.get("mode") == "quick" and ctx.get("scale") not in (None, 1, 1.0):
        return "quick run: every time x%g of the article's" % ctx["scale"]
    return "%s run" % (ctx.get("mode") or "full")


"""compare (scripts/lab compare A B): two runs' greeting times in one
plot, A's in blue, B's in pink, on one axis: the attempt number when
both were bursts, else when the greeting arrived. compare_script is
pure: rows in, gnuplot script out; plot.compare reads the runs."""
from .gnuplot import BLUE, PINK, RED, block, head, num, q, y_setup
from .plot_axes import fmt_us, is_burst, order_rows, p99, row_class, time_axis, y_axis, y_of


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
    s = [head(path, "%s vs %s: time to the 220 greeting" % (runs[0][0], runs[1][0]),
               "each point is one try; p99 over the tries that got a greeting")]
    if burst:
        s.append("set xlabel 'attempt number, in the order the tries started (bursts)'")
    else:
        s.append("set xlabel %s" % q("when the greeting arrived, or the client stopped waiting (%s since the load started)"
                                      % xa["unit"]))
    s.append("set xrange [%s:%s]" % (num(xa["lo"]), num(xa["hi"])))
    s.extend(y_setup(ya, "time to the 220 greeting"))
    series = []
    for (name, rs), colour, pt in zip(runs, (BLUE, PINK), (7, 5)):
        groups = {"ok": [], "none": [], "other": []}
        for i, r in enumerate(order_rows(rs)):
            x = (i + 1) if burst else r["arrival_us"] / xa["div"]
            c = row_class(r, 0)
            g = "none" if c == "no_banner" else "other" if c == "other" else "ok"
            groups[g].append("%s %s" % (num(x), num(y_of(r["client_us"], ya))))
        tag = "r%d" % len(series)
        headline = ("%s: %d tries, p99 %s" % (name, len(rs), fmt_us(p99(rs))) if groups["ok"]
                    else "%s: %d tries, none got a greeting" % (name, len(rs)))
        titles = {"ok": headline,
                  "none": "%s; the client gave up waiting (%d)"
                          % (headline if not groups["ok"] else name + ": no greeting", len(groups["none"])),
                  "other": "%s: refused or failed before any greeting (%d)" % (name, len(groups["other"]))}
        styles = {"ok": "pt %d ps 0.9" % pt, "none": "pt 2 ps 1.3 lw 2", "other": "pt 6 ps 1.0 lw 1.5"}
        for g in ("ok", "none", "other"):
            if groups[g]:
                s.append(block(tag + g, groups[g]))
                series.append("$%s%s using 1:2 with points %s lc rgb '%s' title %s"
                              % (tag, g, styles[g], colour, q(titles[g])))
    tl = fmt_us(threshold_us) if threshold_us else ""
    if ya["threshold"] == "in":
        series.append("%s with lines dt 2 lw 2 lc rgb '%s' title %s"
                      % (num(y_of(threshold_us, ya)), RED, q("give-up threshold of %s: %s" % (runs[0][0], tl))))
    elif ya["threshold"] == "above":
        series.append("NaN with lines dt 2 lw 2 lc rgb '%s' title %s"
                      % (RED, q("give-up threshold of %s: %s, off the chart, above it" % (runs[0][0], tl))))
    if not series:
        series = ["NaN notitle"]
    s.append("plot " + ", \\\n     ".join(series))
    return "\n".join(s) + "\n"


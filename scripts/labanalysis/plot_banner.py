"""banner.png: how long each try waited for the 220 greeting, against
when it arrived (or the attempt number for a burst), coloured by what a
sender with the scenario's give-up threshold would do, with the
scenario's marks (a SIGHUP) as vertical lines. Drawn for every run with
client tries. banner_script is pure: rows in, gnuplot script out."""
from .gnuplot import GREEN, GREY, INK, MARK, ORANGE, RED, block, head, mark_key, mark_lines, num, q, y_setup
from .plot_axes import (CLASSES, STACK_LABELS, STACK_MIN, STACK_SHARE, burst_label, cluster_label, clusters,
                        fmt_us, frac, label_side, mode_note, order_rows, row_class, threshold_title, x_axis,
                        y_axis, y_of)


def _short(text, n=96):
    """text on one line of at most n characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[:n - 1].rstrip() + "…"


def banner_script(path, ctx, rows, marks):
    """The greeting plot's gnuplot script (pure: rows in, text out)."""
    thr = ctx.get("threshold_us") or 0
    rows = order_rows(rows)
    # A connect the path held (a dropped SYN) is part of what the client
    # waited: bannerd greeted in microseconds once it could accept, and a
    # plot of the greeting alone would show a healthy server and hide the
    # second. Then y is the whole wait, connect included.
    held = sum(1 for r in rows if r.get("connect_held_us"))
    if held:
        rows = [dict(r, client_us=r.get("wait_us") or r["client_us"]) for r in rows]
    ya = y_axis([r["client_us"] for r in rows], thr,
                [r["client_us"] for r in rows if row_class(r, thr) != "other"])
    xa = x_axis(rows, [m[0] for m in marks])
    name = ctx.get("name") or "run"
    title = "%s: how long each try waited for the 220 greeting%s" % (
        name, ", its connect included" if held else "")
    sub = _short(ctx.get("article") or "", 100)
    sub = (sub + "  ·  " if sub else "") + mode_note(ctx)
    s = [head(path, title, sub)]
    if xa["mode"] == "burst":
        s.append("set xlabel %s" % q(burst_label(len(rows), xa["span_us"])))
        s.append("set xtics 1" if len(rows) <= 20 else "set xtics autofreq")
    else:
        s.append("set xlabel %s" % q("when the greeting arrived, or the client stopped waiting (%s since the load started)"
                                      % xa["unit"]))
    s.append("set xrange [%s:%s]" % (num(xa["lo"]), num(xa["hi"])))
    s.extend(y_setup(ya, "time from connect() to the 220 greeting" if held else "time to the 220 greeting"))
    hidden = [m for m in marks if xa["mode"] == "burst"]
    if xa["mode"] == "time":
        s.extend(mark_lines(marks, xa, [(frac(r["arrival_us"] / xa["div"], xa["lo"], xa["hi"]),
                                          frac(y_of(r["client_us"], ya), ya["lo"], ya["hi"], ya["log"]))
                                         for r in rows]))

    by = {c: [] for c in CLASSES}
    others = {}
    for i, r in enumerate(rows):
        c = row_class(r, thr)
        x = (i + 1) if xa["mode"] == "burst" else r["arrival_us"] / xa["div"]
        by[c].append("%s %s" % (num(x), num(y_of(r["client_us"], ya))))
        if c == "other":
            key = "%s %s" % (r["code"], r["outcome"]) if r["code"] else r["outcome"]
            others[key] = others.get(key, 0) + 1
    for c in CLASSES:
        if by[c]:
            s.append(block(c, by[c]))
    # tries printed on top of each other say how many they are
    pts = [((i + 1) if xa["mode"] == "burst" else r["arrival_us"] / xa["div"], y_of(r["client_us"], ya), r)
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
                 % (40 + j, q(text), num(x), num(y), side,
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
        y = y_of(thr, ya)
        series.append("%s with lines dt 2 lw 2 lc rgb '%s' title %s"
                      % (num(y), RED, q(threshold_title(thr, tlabel))))
    elif ya["threshold"] == "above":
        vmax = max([r["client_us"] for r in rows] or [0])
        series.append("NaN with lines dt 2 lw 2 lc rgb '%s' title %s"
                      % (RED, q(threshold_title(thr, tlabel, vmax))))
    if xa["mode"] == "time":
        series.extend(mark_key(marks, xa))
    for x_us, label in hidden:
        series.append("NaN with lines dt 2 lw 2 lc rgb '%s' title %s"
                      % (MARK, q("%s: not drawn, x is the attempt number here" % label)))
    if not series:
        series = ["NaN notitle"]
    s.append("plot " + ", \\\n     ".join(series))
    return "\n".join(s) + "\n"


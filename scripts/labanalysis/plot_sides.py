"""both-sides.png, for runs with slowrelay on the path (firewall-path):
per connection, when the 220 reached the filter (server side) and when
the filter passed it to the client (client side), on one log time axis,
with bannerd's own banner time from its log where the join matched the
try. Pure: relay records and rows in, gnuplot script out."""
import math

from . import stats
from .gnuplot import BLUE, ORANGE, RED, block, head, num, q
from .plot_axes import fmt_us, label_centre, log_tics, mode_note, threshold_place, threshold_title, tick_label


def bannerd_times(rows):
    """bannerd's own banner time (accept to 220 written, from its log) per
    client address, for the tries the join matched: {source: us}."""
    out = {}
    for r in rows:
        rec = r.get("server")
        if rec is not None:
            us = rec.get("banner_us")
        elif r.get("sid"):
            us = sum(int(r.get(k) or 0) for k in ("queue_us", "proxy_us", "rdns_wait_us", "rdns_us",
                                                 "ident_us", "delay_us", "write_us"))
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
    s = [head(path, "%s: both sides of the filter, per connection" % name,
               "one row per connection: the same 220, timed by the filter (slowrelay) on each side  ·  "
               + mode_note(ctx))]
    s.append("set logscale x")
    s.append("set mxtics 10")
    s.append("set xtics (%s)" % ", ".join("%s %s" % (q(tick_label(t)), num(t)) for t in log_tics(lo, hi)))
    s.append("set xrange [%s:%s]" % (num(lo), num(hi)))
    s.append("set xlabel 'time since the client connected to the filter (log scale)'")
    s.append("set ylabel 'connection (slowrelay id)'")
    s.append("set yrange [%s:%s]" % (num(0.4), num(n + 0.6 + max(1.5, n * 0.12))))
    step = max(1, int(math.ceil(n / 10.0)))
    s.append("set ytics %d, %d, %d" % (step, step, n))
    s.append("set grid xtics noytics")
    pairs, sv, cv = [], [], []
    for i, r in enumerate(recs, 1):
        if r.get("server_first_byte_us"):
            sv.append("%s %d" % (num(r["server_first_byte_us"]), i))
            pairs.append("%s %d\n%s %d\n" % (num(r["server_first_byte_us"]), i, num(r["client_first_byte_us"]), i))
        cv.append("%s %d" % (num(r["client_first_byte_us"]), i))
    s.append(block("pairs", pairs))
    s.append(block("server", sv or ["NaN NaN"]))
    s.append(block("client", cv))
    if own:
        s.append(block("inside", ["%s %d" % (num(u), i) for i, u in own]))
    ms = stats.percentile(server, 50)
    mc = stats.percentile(client, 50)
    # the medians, written above the rows at their own x
    top = n + 0.6 + max(1.5, n * 0.12) / 2
    for no, v, text, colour in ((1, ms, "bannerd → filter: %s (median)" % fmt_us(ms), BLUE),
                                (2, mc, "filter → client: %s (median)" % fmt_us(mc), RED)):
        if v is not None:
            s.append("set label %d %s at %s, %s %s tc rgb '%s' boxed front"
                     % (no, q(text), num(v), num(top), label_centre(v, lo, hi, len(text), True), colour))
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
                 % (num(thr), num(thr), ORANGE))
        series.append("NaN with lines dt 2 lw 2 lc rgb '%s' title %s"
                      % (ORANGE, q(threshold_title(thr, ctx.get("threshold_label")))))
    elif place == "above":
        series.append("NaN with lines dt 2 lw 2 lc rgb '%s' title %s"
                      % (ORANGE, q(threshold_title(thr, ctx.get("threshold_label"), max(client)))))
    s.append("plot " + ", \\\n     ".join(series))
    return "\n".join(s) + "\n"


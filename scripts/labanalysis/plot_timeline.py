"""timeline.png, for runs with a Postfix sender (ndr-postfix,
ndr-postfix-path): the mail's life on one time axis, one lane each for
the submission, each try and its greeting timeout, bannerd's own
sessions, the deferrals, the expiry, the DSN and the delivery after the
fix. timeline_events places Postfix's and bannerd's log lines on the
axis; timeline_script draws them. Both pure."""
from .gnuplot import BLUE, GREEN, INK, MARK, ORANGE, PINK, RED, block, head, num, q
from .plot_axes import CHAR_SHARE, fmt_us, label_side, tick_label, time_unit
from .sessions import silent

# the lanes, top to bottom: (key, the y tic's words)
LANES = (
    ("submitted", "mail submitted"),
    ("try", "Postfix try"),
    ("session", "bannerd session"),
    ("deferred", "deferred (4xx)"),
    ("expired", "expired"),
    ("bounce_sent", "NDR (DSN) to sender"),
    ("delivered", "delivered to bannerd"),
)
SECOND = 1000000  # Postfix logs whole seconds


def _queue_id(text):
    """The Postfix queue id a log line's text starts with, else ''."""
    first = text.split(":", 1)[0]
    return first if first and " " not in first else ""


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
    a greeting timeout is the close of a session Postfix hung up on,
    abandoned before its 220 or silent (the 220 written, never answered:
    it did not reach Postfix), a delivery the close of a session that
    sent its 220 and got the mail. -> dict: t0 (wall us; None without a
    Postfix event), fixes [(x, label)], and per lane: submitted,
    deferred, expired, bounce_sent, delivered [(x, label, precise)], try
    [(x_from, x_to, label)], session [(x_from, x_to, outcome)], where
    outcome is bannerd's, or 'silent'."""
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
    gone = _pair([e["wall_us"] for e in timeouts],
                 [r for r in recs if r["outcome"] == "abandoned" or silent(r)])
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
        # what the bar says: the 220 never reached the client, it was
        # sent (however the client left afterwards: QUIT, or hanging up
        # after its mail), or the session ended before it
        ev["session"].append((r["accept_wall_us"] - t0, r["close_wall_us"] - t0,
                              "silent" if silent(r) else "greeted" if r.get("banner_us") is not None
                              else r["outcome"]))
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
    s = [head(path, "%s: the mail's life, as Postfix and bannerd logged it" % name,
               "Postfix gives up on a greeting after %s (smtp_helo_timeout)  ·  %s run"
               % (fmt_us(thr) if thr else "?", ctx.get("mode") or "full"))]
    s.append("set xrange [%s:%s]" % (num(lo), num(hi)))
    s.append("set xlabel %s" % q("time since the mail was submitted (%s; from the start of the second Postfix logged it in)"
                                  % unit))
    n = len(LANES)
    ypos = {k: n - i for i, (k, _) in enumerate(LANES)}
    s.append("set yrange [0.4:%s]" % num(n + 0.6))
    s.append("set ytics (%s)" % ", ".join("%s %d" % (q(t), ypos[k]) for k, t in LANES))
    s.append("set grid xtics noytics")
    s.append("set style fill solid 0.85 noborder")
    h = 0.28
    least = 0.004 * (hi - lo)  # a bar of a few ms still shows

    def bar(a, b, y):
        a, b = a / div, b / div
        b = max(b, a + least)
        return "%s %d %s %s %s %s" % (num((a + b) / 2), y, num(a), num(b), num(y - h), num(y + h))

    bars = {"try": [], "abandoned": [], "silent": [], "greeted": []}
    for a, b, _ in ev["try"]:
        bars["try"].append(bar(a, b, ypos["try"]))
    for a, b, outcome in ev["session"]:
        kind = outcome if outcome in ("silent", "greeted") else "greeted" if outcome == "normal" else "abandoned"
        bars[kind].append(bar(a, b, ypos["session"]))
    for k, v in bars.items():
        if v:
            s.append(block("bar_" + k, v))
    pts, label_no = {}, 1
    for k, _ in LANES:
        if k in ("try", "session"):
            continue
        last = None
        for x, text, precise in ev[k]:
            w = 0 if precise else SECOND / 2
            pts.setdefault(k, []).append("%s %d %s %s" % (num(x / div), ypos[k], num((x - w) / div), num((x + w) / div)))
            if text != last:  # one label for a run of the same words
                side = label_side(x / div, lo, hi, len(text) + 2)
                s.append("set label %d %s at %s, %d %s offset %s, 0.9 tc rgb '%s' boxed front"
                         % (label_no, q(text), num(x / div), ypos[k], side, "0.2" if side == "left" else "-0.2", INK))
                label_no += 1
                last = text
    for k, v in pts.items():
        s.append(block("pt_" + k, v))
    for i, (x, label) in enumerate(ev["fixes"]):
        xv = x / div
        # a mark before the mail (a filter loaded with the run) says so
        text = "%s at %s" % (label, tick_label(x)) if x > 0 else (
            "%s at 0" % label if x == 0 else "%s, before the mail" % label)
        side = label_side(xv, lo, hi, len(text) + 2)
        s.append("set arrow from %s, graph 0 to %s, graph 1 nohead lc rgb '%s' dt 2 lw 2 back" % (num(xv), num(xv), MARK))
        s.append("set label %d %s at %s, graph 1.03 %s offset %s, 0 tc rgb '%s' front"
                 % (90 + i, q(text), num(xv), side,
                    "0.5" if side == "left" else "-0.5", INK))
    series = []
    if bars["try"]:
        series.append("$bar_try using 1:2:3:4:5:6 with boxxyerror lc rgb '%s' title %s"
                      % (ORANGE, q("Postfix waiting for the greeting, until it gives up")))
    if bars["abandoned"]:
        series.append("$bar_abandoned using 1:2:3:4:5:6 with boxxyerror lc rgb '%s' title %s"
                      % (RED, q("bannerd session that ended before its 220 (the client left)")))
    if bars["silent"]:
        series.append("$bar_silent using 1:2:3:4:5:6 with boxxyerror lc rgb '%s' title %s"
                      % (PINK, q("bannerd session whose 220 never reached the client (it left without a word)")))
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


"""The words of the verdict's cause: a first line that names the part
holding the wait, then the numbers behind it and the knob that removes
it. Pure: the cause engine's result and the rows in, lines out."""
import math

from . import stats
from .sessions import PARTS, STAGES
from .units import fmt_duration, fmt_share


def explain(res, rows, threshold_us, config):
    cause, pu = res["cause"], res["part_us"]
    total = sum(pu.values()) or 1
    healthy = res["basis"] != "above"
    ctx = {
        "res": res, "rows": rows, "config": config, "lw": res.get("little"), "pu": pu,
        "total": total, "healthy": healthy, "threshold_us": threshold_us,
        "share": fmt_share(pu.get(cause, 0) / total) if cause != "none" else "",
        "where": ("of all the time spent waiting for banners" if healthy else
                  "of the time past the %s threshold" % fmt_duration(threshold_us)),
        "lever": "lever, if the banner must be faster:" if healthy else "lever:",
    }
    lines = _FIRST[cause](ctx)
    lines += _also(res, ctx["lw"])
    lines += _growing(res)
    return lines


def _none(c):
    p99 = stats.percentile([r["client_us"] for r in c["rows"]], 99)
    return ["none: the banner is immediate (p99 %s); no stage holds it back" % fmt_duration(p99)]


def _rdns(c):
    why = c["config"].get("rdns_why") or "rdns.enabled = on"
    why = "done because protocol logging is on" if "protocol log" in why else "done because " + why
    if c["healthy"]:
        # the mean share per banner is what a class sees on each
        # connection; a few slow lookups can hold most of all the waiting
        looked = [r for r in c["rows"] if r["client_us"] > 0 and r["parts"]["rdns"] > 0]
        each = stats.mean([r["parts"]["rdns"] / r["client_us"] for r in looked])
        whole = c["pu"]["rdns"] / c["total"]
        share = "%s of each banner" % fmt_share(each)
        if abs(each - whole) > 0.1:
            share += " on average, %s %s" % (fmt_share(whole), c["where"])
    else:
        share = "%s %s" % (c["share"], c["where"])
    return ["rdns: the reverse-DNS lookup is %s (%s)" % (share, why),
            "  " + dns_answers(c["rows"], c["config"]),
            "  %s rdns.enabled = off (IMS: DisableReverseResolve, or protocol logging off), "
            "or a DNS server that answers at once (rdns.servers)" % c["lever"]]


def _rdns_wait(c):
    lw, res, pu = c["lw"], c["res"], c["pu"]
    threads = _n(lw and lw["threads"])
    if res["dominant"] == "queue":
        lines = ["rdns_wait: too few resolver threads (rdns.threads = %s%s): the queue for a worker "
                 "slot (%s %s) is sessions holding their slots while they wait for a resolver "
                 "(rdns_wait itself: %s)"
                 % (threads, _then(lw), fmt_share(pu["queue"] / c["total"]), c["where"], c["share"])]
    else:
        lines = ["rdns_wait: too few resolver threads (rdns.threads = %s%s): sessions wait for a "
                 "free one, %s %s" % (threads, _then(lw), c["share"], c["where"])]
    if lw:
        lines.append("  Little's law: %.1f lookups/s x %s each (the DNS time) = %.1f threads' worth "
                     "of lookups, for %s threads%s" % (lw["rate"], fmt_duration(lw["rdns_us"]),
                                                       lw["resolver_demand"], threads, _then(lw)))
    lines.append("  %s rdns.threads >= %d" % (c["lever"], _suggest(lw["resolver_demand"] if lw else 1)))
    return lines


def _queue(c):
    lw = c["lw"]
    lines = ["queue: too few worker slots (pool.workers x pool.sessions_per_worker = %s): "
             "sessions wait for a slot, %s %s" % (_n(lw and lw["slots"]) + _then(lw), c["share"], c["where"])]
    if lw:
        lines.append("  Little's law: %.1f sessions/s x %s held = %.1f slots' worth of sessions, "
                     "for %s" % (lw["rate"], fmt_duration(lw["hold_us"]), lw["slot_demand"], _n(lw["slots"])))
        lines.append("  %s pool.workers x pool.sessions_per_worker >= %d"
                     % (c["lever"], _suggest(lw["slot_demand_fixed"])))
    return lines


def _ident(c):
    rows = [r for r in c["rows"] if r["server"] is not None and r["parts"]["ident"] > 0]
    p50 = stats.percentile([r["parts"]["ident"] for r in rows], 50) if rows else 0
    return ["ident: the ident query (RFC 1413, the client's port 113) is %s %s: it added %s (p50) "
            "to the banner past the reverse lookup; a filter that silently drops port 113 costs "
            "every banner the whole ident.timeout" % (c["share"], c["where"], fmt_duration(p50)),
            "  %s ident.enabled = off (Sendmail: Timeout.ident=0s; Exim: rfc1413_hosts empty), "
            "or a filter that rejects port 113 instead of dropping it" % c["lever"]]


def _proxy(c):
    return ["proxy: bannerd waited for the balancer's PROXY header (listen.proxy_protocol), %s %s: "
            "a balancer sends it at once, so a slow one is a sender that does not speak the "
            "protocol, or a client connecting past the balancer" % (c["share"], c["where"]),
            "  %s the balancer's send-proxy / send-proxy-v2 (HAProxy), or listen.proxy_protocol = off "
            "for clients that connect directly; listen.proxy_timeout bounds the wait" % c["lever"]]


def _delay(c):
    return ["delay: bannerd held the banner on purpose (banner.delay), %s %s; no lookup, no "
            "queue: the stand-in for a packet filter or firewall" % (c["share"], c["where"]),
            "  %s banner.delay = 0 here; on a real network, find the filter by testing from both "
            "sides of every router (KB Q286375), as the firewall-path scenario does" % c["lever"]]


def _path(c):
    rows = c["rows"]
    if any(r.get("silent") for r in rows):
        return _silent(c)
    inside = stats.percentile([sum(r["parts"][s] for s in STAGES) for r in rows if r["server"]], 99)
    connecting = connect_share(rows)
    if connecting >= 0.5:
        return _connecting(c, inside, connecting)
    client = stats.percentile([r["client_us"] for r in rows], 99)
    of_it = ", %s of it connecting" % fmt_share(connecting) if connecting > 0 else ""
    return ["path: bannerd sent the banner within %s (p99), the client got it after %s (p99): "
            "%s %s is between them%s, a packet filter or firewall on the path"
            % (fmt_duration(inside), fmt_duration(client), c["share"], c["where"], of_it),
            "  %s nothing in bannerd: find the filter by testing from both sides of every router "
            "(KB Q286375) and remove its hold or SMTP inspection" % c["lever"]]


def _silent(c):
    """No client's own times (a real MTA), only bannerd's: it wrote the
    banner at once, and the clients left without a word, not even QUIT,
    after waiting all the while. An MTA that gets a 220 answers it: the
    banner never reached them."""
    rows = c["rows"]
    quiet = [r for r in rows if r.get("silent")]
    sent = stats.percentile([r["server"]["banner_us"] for r in quiet], 99)
    left = stats.percentile([r["client_us"] for r in quiet], 50)
    thr = c.get("threshold_us")
    timeout = (", at the %s threshold (their greeting timeout)" % fmt_duration(thr)
               if thr and abs(left - thr) <= 0.1 * thr else "")
    who = ("%d sessions' clients" % len(quiet) if len(quiet) == len(rows) else
           "the clients of %d of %d sessions" % (len(quiet), len(rows)))
    return ["path: bannerd sent the banner within %s (p99), yet %s left without a word after %s "
            "(p50)%s: the banner did not reach them, a packet filter or firewall on the path "
            "dropped or held it" % (fmt_duration(sent), who, fmt_duration(left), timeout),
            "  lever: nothing in bannerd: find the filter by testing from both sides of every router "
            "(KB Q286375: scripts/lab pathtest) and remove its hold or SMTP inspection"]


def connect_share(rows):
    """How much of the path time was the client connecting (a handshake
    the path held), 0..1."""
    path = sum(r["parts"]["path"] for r in rows)
    held = sum(r.get("connect_held_us", 0) for r in rows)
    return min(1.0, held / path) if path else 0.0


def _connecting(c, inside, connecting):
    """The path held the handshake: bannerd answered at once, but only
    once it could accept the connection."""
    held = [r["connect_held_us"] for r in c["rows"] if r.get("connect_held_us")]
    p50, p99 = stats.percentile(held, 50), stats.percentile(held, 99)
    # the kernel resends a lost SYN after 1 s, then 2 s more (3 s in all)
    why = ("SYN retries: a SYN dropped on the way, resent after 1 s, then 3 s"
           if p50 >= 900000 else "the handshake held: a filter delaying the SYN or its answer")
    then = ("then bannerd sent the banner within %s (p99)" % fmt_duration(inside) if inside is not None
            else "bannerd's log has no line for them")
    return ["path: the client's connect took %s (p50%s) before bannerd could accept it, %s: "
            "%s %s is on the path, %s of it connecting (%s)"
            % (fmt_duration(p50), "" if p99 == p50 else ", p99 %s" % fmt_duration(p99),
               then, c["share"], c["where"], fmt_share(connecting), why),
            "  %s nothing in bannerd: find the filter that drops or holds the handshake by testing "
            "from both sides of every router (KB Q286375, scripts/lab pathtest)" % c["lever"]]


_FIRST = {"none": _none, "rdns": _rdns, "rdns_wait": _rdns_wait, "queue": _queue, "ident": _ident,
          "proxy": _proxy, "delay": _delay, "path": _path, "write": _path}


def _also(res, lw):
    if not lw:
        return []
    if res["also"] == "queue":
        return ["  also short once that is fixed: worker slots (%.1f slots' worth for %s): "
                "pool.workers x pool.sessions_per_worker >= %d"
                % (lw["slot_demand_fixed"], _n(lw["slots"]), _suggest(lw["slot_demand_fixed"]))]
    if res["also"] == "rdns_wait":
        return ["  also short: resolver threads (%.1f threads' worth for %s): rdns.threads >= %d"
                % (lw["resolver_demand"], _n(lw["threads"]), _suggest(lw["resolver_demand"]))]
    if res["cause"] == "rdns_wait" and lw["slots"]:
        return ["  then the worker slots suffice: %.1f slots' worth of sessions for %s%s"
                % (lw["slot_demand_fixed"], _n(lw["slots"]), _then(lw))]
    return []


def _growing(res):
    out = []
    for p in PARTS:
        g = res["growth"].get(p)
        if g and g["grows"]:
            unit = "for each second of load" if res["per"] == "s" else "for each connection"
            out.append("  growing: %s, by %s %s (first third %s -> last third %s)"
                       % (p, fmt_duration(g["slope"]), unit, fmt_duration(g["early"]), fmt_duration(g["late"])))
    return out


def dns_answers(rows, config=None):
    """How the DNS server answered: how many lookups, their times, their
    results, and whether the resolver's retries were needed."""
    config = config or {}
    recs = [r["server"] for r in rows if r["server"] is not None and r["server"]["stages"]["rdns"]]
    if not recs:
        return "the DNS server: no lookup recorded"
    times = [r["stages"]["rdns"] for r in recs]
    results = {}
    for r in recs:
        k = r["rdns_result"] or "-"
        results[k] = results.get(k, 0) + 1
    words = {"ok": "answered", "timeout": "timed out", "pending": "still waiting when the client left",
             "nxdomain": "NXDOMAIN", "servfail": "SERVFAIL", "refused": "REFUSED"}
    said = ", ".join("%d %s" % (v, words.get(k, k)) for k, v in sorted(results.items(), key=lambda kv: -kv[1]))
    p50, p99 = stats.percentile(times, 50), stats.percentile(times, 99)
    line = "the DNS server: %d lookups (%s), p50 %s, p99 %s" % (len(recs), said, fmt_duration(p50), fmt_duration(p99))
    timeout = config.get("rdns_timeout_us")
    if results.get("timeout", 0) == len(recs):
        worst = config.get("rdns_worst_us")
        return line + ": it never answered" + (
            " (the resolver gives up after %s)" % fmt_duration(worst) if worst else "")
    if results.get("timeout", 0) + results.get("pending", 0) == len(recs):
        worst = config.get("rdns_worst_us")
        return line + ": no answer while the clients waited" + (
            " (the resolver would give up after %s)" % fmt_duration(worst) if worst else "")
    if timeout and p50 >= timeout:
        return line + ": slower than the resolver's %s timeout, answered only after retries" % fmt_duration(timeout)
    if timeout and p99 >= timeout:
        return line + ": most answers fast, some only after the resolver's retries (%s timeout)" % fmt_duration(timeout)
    return line


def _then(lw):
    """A pool setting quoted from before a reload changed it."""
    return " before the reload" if lw and lw.get("changed_later") else ""


def _suggest(demand):
    """Servers for a demand with 25% headroom."""
    return max(1, int(math.ceil(demand * 1.25)))


def _n(v):
    if v is None:
        return "unbounded"
    return "%d" % v if float(v).is_integer() else "%g" % v

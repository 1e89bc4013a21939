"""The cause engine. Each try's wait for the greeting is split into
bannerd's stages for that same connection plus 'path' (what the client
waited beyond what bannerd measured: the network, a filter, a relay).
The wait runs from the client's connect when the path held the
handshake (a dropped SYN: bannerd cannot see a connection before it
accepts it, so all of that is path), else from the connection's
completion (sessions.connect_held).

The cause is the part that holds the largest share of the time spent
above the give-up threshold (each try's excess shared among its parts in
proportion), or of all the time when no try crosses it.
A queue is often a symptom: sessions keep their worker slot while they
wait for a resolver thread. So when the dominant part is a queue, the
resources behind it are checked with Little's law (demand = arrival rate
x holding time, against the resource's servers), and the cause named is
the resource that is short at the root; a second one that would still be
short once the first is fixed is named as 'also'."""
from . import explain, stats
from .sessions import PARTS

SHORT = 0.9          # utilisation from which a pool is 'short': queues grow
IMMEDIATE_US = 1000  # an incidental part below this (mean) is no cause
GROW_MIN_US = 1000

LEVERS = {
    "queue": "pool.workers",
    "proxy": "listen.proxy_protocol",
    "rdns_wait": "rdns.threads",
    "rdns": "rdns.enabled",
    "ident": "ident.enabled",
    "delay": "banner.delay",
    "write": "path",
    "path": "path",
    "none": "none",
}


def above_threshold(parts, threshold_us):
    """A try's time past the threshold, shared among its parts in
    proportion to each part's share of the whole wait. Laying the parts
    end to end instead would hand the excess to whichever stage comes
    last (the lookup, 1 s in every session), even when a queue of many
    seconds before it is what pushed the session over."""
    out = dict.fromkeys(PARTS, 0)
    total = sum(parts.values())
    if threshold_us is None or threshold_us <= 0 or total <= threshold_us:
        return out
    excess = total - threshold_us
    for p in PARTS:
        out[p] = excess * parts[p] / total
    return out


def _crosses(row, threshold_us):
    return row["outcome"] in ("gave_up", "ndr") or (threshold_us and row["wait_us"] > threshold_us)


def attributable(rows):
    """Tries whose wait is a greeting wait: refusals (421 or 5xx before
    any banner) and failures to connect are not."""
    return [r for r in rows if r["code"] in (0, 220) and (r["server"] is not None or r["client_us"] > 0)
            and r["outcome"] not in ("refused", "error")]


def shares(rows, threshold_us):
    """-> (basis, {part: us}): 'above' when some time lies past the
    threshold, else 'total'."""
    above = dict.fromkeys(PARTS, 0)
    total = dict.fromkeys(PARTS, 0)
    for r in rows:
        for p in PARTS:
            total[p] += r["parts"][p]
        a = above_threshold(r["parts"], threshold_us)
        for p in PARTS:
            above[p] += a[p]
    if sum(above.values()) > 0:
        return "above", above
    return "total", total


def dominant(part_us):
    best = max(PARTS, key=lambda p: part_us[p])
    return best if part_us[best] > 0 else "none"


# ---- capacity and Little's law ----

def capacity_at(capacity, key, wall_us):
    """The value of a pool setting in force at a moment: the initial one,
    changed by each reload line before it."""
    v = capacity["initial"].get(key)
    for e in capacity["events"]:
        if e["key"] == key and e["wall_us"] <= wall_us:
            v = e["new"]
    return v


def capacity_from(log, metrics):
    """Initial settings, from the final scrape with each logged change
    undone, and the changes themselves."""
    final = {
        "pool.workers": metrics.get("bannerd_pool_workers"),
        "pool.sessions_per_worker": metrics.get("bannerd_pool_sessions_per_worker"),
        "rdns.threads": metrics.get("bannerd_rdns_threads"),
    }
    initial = dict(final)
    events = [e for e in log["events"] if e["key"] in final]
    for key in final:
        first = next((e for e in events if e["key"] == key), None)
        if first is not None:
            initial[key] = first["old"]
    if initial["pool.workers"] is None and "workers" in log["config"]:
        initial["pool.workers"] = float(log["config"]["workers"])
    return {"initial": initial, "events": events, "pool_mode": final["rdns.threads"] is not None}


def little(rows, all_server, capacity):
    """Demand on the resolver threads and on the worker slots while the
    given rows arrived. Returns None without server records."""
    recs = [r["server"] for r in rows if r["server"] is not None]
    if not recs:
        return None
    t_lo = min(r["accept_wall_us"] for r in recs)
    t_hi = max(r["accept_wall_us"] for r in recs)
    window = [r for r in all_server if t_lo <= r["accept_wall_us"] <= t_hi]
    rdns = stats.mean([r["stages"]["rdns"] or 0 for r in recs])
    wait = stats.mean([r["stages"]["rdns_wait"] or 0 for r in recs])
    hold = stats.mean([max(0, r["t_us"] - (r["stages"]["queue"] or 0)) for r in recs])
    # arrivals within less than one holding time are all there at once
    span = max(t_hi - t_lo, hold, 1)
    rate = len(window) / (span / 1e6)
    mid = recs[len(recs) // 2]["accept_wall_us"]
    workers = capacity_at(capacity, "pool.workers", mid)
    spw = capacity_at(capacity, "pool.sessions_per_worker", mid)
    threads = capacity_at(capacity, "rdns.threads", mid) if capacity["pool_mode"] else None
    slots = None if not workers or spw in (None, 0) else workers * spw
    out = {
        "rate": rate, "rdns_us": rdns, "rdns_wait_us": wait, "hold_us": hold,
        "threads": threads, "slots": slots, "workers": workers, "spw": spw,
        "resolver_demand": rate * rdns / 1e6,
        "slot_demand": rate * hold / 1e6,
        "slot_demand_fixed": rate * max(0.0, hold - wait) / 1e6,
    }
    out["changed_later"] = any(e["wall_us"] > t_hi for e in capacity["events"])
    out["resolver_util"] = out["resolver_demand"] / threads if threads else 0.0
    out["slot_util"] = out["slot_demand"] / slots if slots else 0.0
    out["slot_util_fixed"] = out["slot_demand_fixed"] / slots if slots else 0.0
    return out


def _growth(rows):
    """Each part's trend over the run in accept order: its slope per
    second of load (or per connection when they all came at once), and
    how much the last third exceeds the first."""
    rows = sorted(rows, key=lambda r: r["start_us"])
    if len(rows) < 3:
        return {}, "s"
    xs = [r["start_us"] / 1e6 for r in rows]
    span = xs[-1] - xs[0]
    wait_mean = stats.mean([r["wait_us"] for r in rows])
    per = "s" if span >= 1.0 or span > 10 * wait_mean / 1e6 else "conn"
    if per == "conn":
        xs = list(range(len(rows)))
    out = {}
    for p in PARTS:
        ys = [r["parts"][p] for r in rows]
        early, late = stats.thirds(ys)
        out[p] = {"slope": stats.slope(xs, ys), "early": early, "late": late,
                  "grows": late - early >= max(GROW_MIN_US, 0.2 * wait_mean)}
    return out, per


def analyse(rows, all_server, capacity, threshold_us, config=None):
    config = config or {}
    rows = attributable(rows)
    result = {"rows": len(rows), "matched": sum(1 for r in rows if r["server"] is not None)}
    if not rows:
        result.update(basis="total", cause="none", lever="none", also="none", dominant="none",
                      part_us=dict.fromkeys(PARTS, 0), lines=["no connection to explain"], growth={}, per="s")
        return result
    basis, part_us = shares(rows, threshold_us)
    dom = dominant(part_us)
    crossing = [r for r in rows if _crosses(r, threshold_us)]
    focus = crossing if basis == "above" else rows
    lw = little(focus, all_server, capacity)
    growth, per = _growth(rows)
    mean_of = {p: stats.mean([r["parts"][p] for r in rows]) for p in PARTS}
    cause, also = _root(dom, basis, mean_of, lw, capacity)
    result.update(basis=basis, part_us=part_us, dominant=dom, cause=cause, also=also,
                  lever=LEVERS[cause], also_lever=LEVERS[also], little=lw, growth=growth, per=per,
                  crossing=len(crossing), mean_us=mean_of)
    result["lines"] = explain.explain(result, rows, threshold_us, config)
    return result


def _root(dom, basis, mean_of, lw, capacity):
    if dom == "none" or (basis == "total" and dom in ("queue", "write", "path")
                         and mean_of[dom] < IMMEDIATE_US):
        return "none", "none"
    if dom not in ("queue", "rdns_wait") or lw is None:
        return dom, "none"
    resolver_short = capacity["pool_mode"] and lw["resolver_util"] >= SHORT
    slots_short_fixed = lw["slots"] is not None and lw["slot_util_fixed"] >= SHORT
    if dom == "queue" and resolver_short and lw["rdns_wait_us"] > 0.1 * lw["hold_us"]:
        return "rdns_wait", ("queue" if slots_short_fixed else "none")
    if dom == "queue":
        return "queue", ("rdns_wait" if resolver_short else "none")
    return "rdns_wait", ("queue" if slots_short_fixed else "none")

"""KB Q286375's test "from both sides of all routers": the same smtpprobe
run from several vantage points on the path to the mail host, farthest
first (sender beyond the router, the router's inside, the mail host
itself), and the hop where the greeting's time appears.

Pure: smtpprobe's JSON (as dicts) in, rows, a verdict and the text out.

A vantage's time is the p50 of its connect plus the p50 of its wait for
the 220 (smtpprobe's JSON gives percentiles, not the tries, so this is
the sum of the two medians; 'total' would add the QUIT exchange). A
vantage without a result, or whose tries all failed, has no time and
counts as slow: whatever stops it lies at or beyond it.

Where the time appears, nearest first:
- the nearest vantage (the mail host) is slow, SLOW_US or more, or
  failed: inside that host. Its own test crosses no router, so nothing
  but the host can hold it (a lookup, a queue); it also makes every
  farther vantage slow, which says nothing about their hops.
- else the farthest hop that adds the time: a farther vantage failed
  where the nearer one did not, or took SLOW_US more than it and half
  again its time (a dropped SYN: 1 s, 3 s; a held banner), not a few
  milliseconds of a busy machine. Any nearer hop that adds time too is
  named after it.
- else no hop.
A rule relative to the fastest vantage alone ('5 times the fastest')
would call a host slow from every side (a 1 s lookup) prompt."""
from .units import fmt_duration

SLOW_US = 100000      # a vantage this slow, or a hop adding this much, holds the time
HOP_GROWTH = 0.5      # ... and a hop adds at least this share of the nearer side's time


def vantage_row(name, probe, missing=None):
    """One vantage: its name, smtpprobe's JSON (None when there is none)
    and, when there is none, why ('file missing'...)."""
    row = {"vantage": name, "tries": 0, "ok": 0, "failed": None, "outcomes": {},
           "connect_p50_us": None, "connect_p99_us": None, "banner_p50_us": None,
           "banner_p99_us": None, "total_p50_us": None, "total_p99_us": None,
           "greeting_p50_us": None, "slow": True, "note": ""}
    if probe is None:
        row["failed"] = "no result: %s" % (missing or "no smtpprobe JSON")
        return row
    outcomes = probe.get("try_outcome") or probe.get("outcome") or {}
    row["outcomes"] = {k: v for k, v in outcomes.items() if v}
    row["tries"] = int(probe.get("tries") or sum(outcomes.values()))
    row["ok"] = int(outcomes.get("ok", 0))
    for group in ("connect", "banner", "total"):
        st = probe.get(group) or {}
        if st.get("count"):
            row["%s_p50_us" % group] = st.get("p50")
            row["%s_p99_us" % group] = st.get("p99")
    bad = ", ".join("%d %s" % (v, k) for k, v in sorted(row["outcomes"].items(), key=lambda kv: -kv[1])
                    if k != "ok")
    if row["ok"] == 0 or row["connect_p50_us"] is None or row["banner_p50_us"] is None:
        row["failed"] = "connection failed: no try got the 220 (%s)" % (bad or "no try made")
        return row
    row["greeting_p50_us"] = row["connect_p50_us"] + row["banner_p50_us"]
    row["note"] = "times of the tries that got the 220; the others: %s" % bad if bad else ""
    return row


def adds_time(far, near):
    """Does the hop from the nearer vantage to the farther add the time?"""
    if far["failed"] is not None:
        return near["failed"] is None
    if near["failed"] is not None:
        return False
    grown = far["greeting_p50_us"] - near["greeting_p50_us"]
    return grown >= max(SLOW_US, HOP_GROWTH * near["greeting_p50_us"])


def analyse(rows):
    """rows farthest first -> {'rows', 'slow_us', 'hop', 'hops',
    'verdict'}; each row gets 'slow' (SLOW_US or more, or failed)."""
    for r in rows:
        r["slow"] = r["failed"] is not None or r["greeting_p50_us"] >= SLOW_US
    pairs = [(a["vantage"], b["vantage"]) for a, b in zip(rows, rows[1:]) if adds_time(a, b)]
    hops = ["%s-%s" % p for p in pairs]
    also = pairs
    if rows and rows[-1]["slow"]:
        hop, where = rows[-1]["vantage"], "the time appears inside the %s host" % rows[-1]["vantage"]
    elif pairs:
        hop, where = hops[0], "the time appears between %s and %s" % pairs[0]
        also = pairs[1:]
    elif any(r["slow"] for r in rows):
        # the time grows a little at each hop, or a vantage fails alone
        hop, where = "none", ("no hop: slow from %s, but no single hop adds %s"
                              % (", ".join(r["vantage"] for r in rows if r["slow"]), fmt_duration(SLOW_US)))
    else:
        hop, where = "none", "no hop: the greeting is prompt from every side"
    if also:
        where += "; more between " + ", ".join("%s and %s" % p for p in also)
    seen = ", ".join(_seen(r) for r in rows)
    return {"rows": rows, "slow_us": SLOW_US, "hop": hop, "hops": hops,
            "verdict": "pathtest: %s (%s)" % (where, seen)}


def _seen(row):
    if row["failed"] is not None:
        return "%s %s" % (row["vantage"], "no result" if row["failed"].startswith("no result")
                          else "connection failed")
    return "%s p50 %s" % (row["vantage"], fmt_duration(row["greeting_p50_us"]))


COLUMNS = ("vantage", "tries ok", "connect p50", "p99", "banner p50", "p99", "total p50", "p99")


def render(res):
    """The table, one row per vantage in path order, a note on what
    counts as slow, and the verdict line."""
    rows = res["rows"]
    w = max([len(COLUMNS[0])] + [len(r["vantage"]) for r in rows])
    fmt = "%-" + str(w) + "s %9s %12s %9s %11s %9s %10s %9s  %s"
    out = [(fmt % (COLUMNS + ("",))).rstrip()]
    for r in rows:
        note = r["failed"] if r["failed"] is not None else "; ".join(
            x for x in ("slow" if r["slow"] else "", r["note"]) if x)
        out.append((fmt % (r["vantage"], "%d/%d" % (r["ok"], r["tries"]),
                           _d(r["connect_p50_us"]), _d(r["connect_p99_us"]),
                           _d(r["banner_p50_us"]), _d(r["banner_p99_us"]),
                           _d(r["total_p50_us"]), _d(r["total_p99_us"]), note)).rstrip())
    out.append("(farthest first; slow: connect p50 + banner p50 >= %s, or no greeting)"
               % fmt_duration(res["slow_us"]))
    out.append(res["verdict"])
    return "\n".join(out) + "\n"


def _d(us):
    return fmt_duration(us) if us is not None else "-"


def summary(res):
    """pathtest.json."""
    return {"rows": res["rows"], "slow_us": res["slow_us"], "hop": res["hop"],
            "hops": res["hops"], "verdict": res["verdict"]}

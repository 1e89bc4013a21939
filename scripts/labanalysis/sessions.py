"""The join: each client try with bannerd's line for the same connection,
matched by the client's source address and port (through slowrelay's
'via' when a relay stands between them). Ports can be reused within a
run, so equal keys pair in order.

A joined row (a dict) holds:
  attempt, try, start_us, connect_us, outcome, code   from smtpprobe
  client_us     what the client waited for the greeting: banner_us when it
                came (or bannerd's banner time when that is longer), else
                how long it waited (total less connect)
  greeted       a 220 came
  arrival_us    when the greeting arrived (or the wait ended), from the
                start of the load
  server        bannerd's record, or None
  connect_held_us  the client's connect when it was held on the path
                (CONNECT_HELD_US or more), else 0
  wait_us       the wait the cause engine splits: connect_held_us +
                client_us
  parts         {stage: us} for the five stages plus 'path' (client time
                not spent inside bannerd: a held connect, and the greeting
                wait beyond bannerd's stages), adding up to wait_us
Rows from bannerd alone (no client in the run, e.g. Postfix) have
client_us from bannerd's banner or waited time and no path; except a
session whose client left without a word after bannerd had written its
banner (silent): a real MTA that gets a 220 answers it, so that client
never saw the banner and waited all the session long. Its row is a
give-up (outcome gave_up, no greeting) whose wait is the session's time,
the part beyond bannerd's stages the path's.

The handshake is the network's: bannerd sees a connection only once it
has accepted it, so a connect the path held (a dropped SYN is resent
after 1 s, then 3 s) is time the sender waited for the greeting that no
stage of bannerd's can hold. A quicker connect is the round trip plus
the client's own loop noticing it: on a loaded lab machine 1-5 ms of
noise, more than a healthy run's whole banner, which would make 'path'
the cause of every quick run. It is left out."""
from collections import defaultdict, deque

STAGES = ("queue", "proxy", "rdns_wait", "rdns", "ident", "delay", "write")
PARTS = STAGES + ("path",)
CONNECT_HELD_US = 100000   # a connect this long was held on the path


def _server_parts(rec):
    return {s: max(0, rec["stages"].get(s) or 0) for s in STAGES}


def _server_time(rec):
    if rec["banner_us"] is not None:
        return rec["banner_us"]
    if rec["waited_us"] is not None:
        return rec["waited_us"]
    return sum(_server_parts(rec).values())


def client_wait(row):
    """The greeting time, or for a try without one how long it waited."""
    if row["banner_us"] > 0:
        return row["banner_us"]
    return max(0, row["total_us"] - row["connect_us"])


def connect_held(row):
    """The part of the try's connect the path held: all of it from
    CONNECT_HELD_US up, else none."""
    c = row.get("connect_us") or 0
    return c if c >= CONNECT_HELD_US else 0


def join(probe_rows, server_sessions, relay=None):
    """-> (rows, unmatched server records)."""
    by_peer = defaultdict(deque)
    for rec in sorted(server_sessions, key=lambda r: (r["accept_wall_us"], r["sid"])):
        by_peer[rec["peer"]].append(rec)
    via = {}
    for r in relay or []:
        if r["via"]:
            via.setdefault(r["client"], deque()).append(r)
    rows = []
    for p in sorted(probe_rows, key=lambda r: (r["start_us"], r["attempt"], r["try"])):
        key, hop = p["source"], None
        if key in via and via[key]:
            hop = via[key].popleft()
            key = hop["via"]
        rec = by_peer[key].popleft() if key and by_peer.get(key) else None
        rows.append(_row(p, rec, hop))
    left = [r for q in by_peer.values() for r in q]
    return rows, left


def _row(p, rec, hop):
    c = client_wait(p)
    row = dict(p)
    row["client_us"] = c
    row["greeted"] = p["banner_us"] > 0 and p["code"] == 220
    row["arrival_us"] = p["start_us"] + p["connect_us"] + c
    row["server"] = rec
    row["relay"] = hop
    held = row["connect_held_us"] = connect_held(p)
    parts = dict.fromkeys(PARTS, 0)
    if rec is not None:
        parts.update(_server_parts(rec))
        inside = sum(parts[s] for s in STAGES)
        parts["path"] = held + max(0, c - inside)
        if inside > c:
            if row["greeted"]:
                # the client's loop can notice its connection complete
                # after the banner is already in: bannerd's account,
                # stamped as it happened, is the better measure
                c = row["client_us"] = inside
                row["arrival_us"] = p["start_us"] + p["connect_us"] + c
            else:
                # a client that gives up is seen to leave a little later
                _scale_to(parts, c)
    else:
        parts["path"] = held + c
    row["wait_us"] = held + row["client_us"]
    row["parts"] = parts
    return row


def _scale_to(parts, total):
    inside = sum(parts[s] for s in STAGES)
    for s in STAGES:
        parts[s] = parts[s] * total // inside if inside else 0


def silent(rec):
    """bannerd wrote the banner, and the client closed the connection
    without a word (no command, not even QUIT)."""
    return (rec.get("banner_us") is not None and rec.get("commands") == 0
            and rec.get("outcome") == "disconnect")


def server_only_rows(server_sessions):
    """Rows for a run whose client left no CSV (a real MTA): bannerd's
    own view, in accept order. A silent session's client is taken to
    have waited for a banner that never reached it (the module's
    docstring)."""
    rows = []
    recs = sorted(server_sessions, key=lambda r: (r["accept_wall_us"], r["sid"]))
    t0 = recs[0]["accept_wall_us"] if recs else 0
    for i, rec in enumerate(recs):
        c = _server_time(rec)
        parts = dict.fromkeys(PARTS, 0)
        parts.update(_server_parts(rec))
        quiet = silent(rec)
        if quiet:
            c = max(c, rec["t_us"])
            parts["path"] = max(0, c - sum(parts[s] for s in STAGES))
        greeted = rec["banner_us"] is not None and not quiet
        rows.append({
            "attempt": i + 1, "try": 1, "start_us": rec["accept_wall_us"] - t0,
            "connect_us": 0, "banner_us": 0 if quiet else (rec["banner_us"] or 0),
            "total_us": rec["t_us"], "outcome": "gave_up" if quiet else rec["outcome"],
            "code": 220 if rec["banner_us"] and not quiet else 0,
            "source": rec["peer"], "client_us": c, "connect_held_us": 0, "wait_us": c,
            "greeted": greeted, "silent": quiet,
            "arrival_us": rec["accept_wall_us"] - t0 + c, "server": rec, "relay": None,
            "parts": parts,
        })
    return rows


def load_t0_wall_us(rows):
    """Where the load's time 0 falls on bannerd's wall clock: the median
    of accept - (start + connect) over the matched rows; None if none."""
    d = sorted(r["server"]["accept_wall_us"] - r["start_us"] - r["connect_us"]
               for r in rows if r["server"] is not None)
    return d[len(d) // 2] if d else None

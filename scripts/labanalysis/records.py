"""Readers for what each program of a run leaves in the results folder.
They return plain records and do no arithmetic beyond unit conversion:
the join, statistics and cause live elsewhere."""
import csv
import datetime
import json
import os
import re
import time

from .units import parse_duration

_KV = re.compile(r'([a-z_]+)=("(?:[^"\\]|\\.)*"|\S*)')
_STAGES = ("queue", "proxy", "rdns_wait", "rdns", "ident", "delay", "write")


def parse_kv(text):
    """'a=1 b="x y"' -> {'a': '1', 'b': 'x y'}."""
    out = {}
    for k, v in _KV.findall(text):
        if v.startswith('"'):
            v = v[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        out[k] = v
    return out


def wall_us(stamp):
    """bannerd's '2026-12-02T01:48:39.471032Z' -> microseconds since the epoch."""
    t = datetime.datetime.strptime(stamp.rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f")
    t = t.replace(tzinfo=datetime.timezone.utc)
    return int(round(t.timestamp() * 1e6))


# ---- smtpprobe ----

def read_probe_csv(path):
    """One dict per try, times in microseconds; 'source' is the client's
    own address:port (empty when smtpprobe did not record it)."""
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            rows.append({
                "attempt": int(r["attempt"]), "try": int(r["try"]),
                "start_us": int(r["start_us"]), "connect_us": int(r["connect_us"]),
                "banner_us": int(r["banner_us"]), "total_us": int(r["total_us"]),
                "outcome": r["outcome"], "code": int(r["code"] or 0),
                "source": r.get("source") or "",
            })
    return rows


def read_probe_json(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


# ---- bannerd ----

def _stage_us(v):
    return parse_duration(v, bare_unit="us") if v is not None else None


def read_bannerd_log(path):
    """bannerd's text protocol log -> {'sessions': [...], 'events': [...],
    'config': {...}}. A session is its close line: sid, peer, accept time
    (wall clock, from the close line's time less its t_us), outcome, the
    stage durations (None for a stage that did not run), banner (None when
    none was sent), waited (how long an abandoned client waited), how the
    client closed (how: fin, rst; None when bannerd closed) and the
    commands it sent (None when the line has no count)."""
    sessions, events, config = [], [], {}
    if not os.path.exists(path):
        return {"sessions": sessions, "events": events, "config": config}
    with open(path, errors="replace") as f:
        for line in f:
            kind, when, rest = bannerd_line(line)
            if kind == "close":
                sessions.append(_close_record(when, parse_kv(rest)))
            elif kind == "daemon":
                _daemon_line(when, parse_kv(rest).get("msg", ""), events, config)
    return {"sessions": sessions, "events": events, "config": config}


def bannerd_line(line):
    """One line of bannerd's text log -> (kind, wall us, the rest), or
    (None, None, None) for a line that is not one (a partial last line,
    a stray message)."""
    parts = line.rstrip("\n").split(" ", 2)
    if len(parts) < 3:
        return None, None, None
    stamp, kind, rest = parts
    try:
        return kind, wall_us(stamp), rest
    except ValueError:
        return None, None, None


def close_record(when, rest):
    """A close line's record (what read_bannerd_log lists), for a reader
    that follows the log as it grows."""
    return _close_record(when, parse_kv(rest))


_CONTROL = re.compile(r"(?:^|: )control: (?!rejected: )(.*) \(from (.*)\)$")


def control_change(msg):
    """A daemon's 'control: <request line> (from <origin>)', the line
    bannerd, slowdns and slowrelay all write for a change made through a
    control socket or the live page -> (line, origin); None for any other
    line, a rejected request included. slowdns and slowrelay put their
    name in front ('slowdns: control: ...')."""
    m = _CONTROL.search(msg.rstrip("\n"))
    return (m.group(1), m.group(2)) if m else None


def _close_record(when, kv):
    t_us = int(kv.get("t_us", "0") or 0)
    rec = {
        "sid": int(kv.get("sid", "0"), 16) if kv.get("sid") else 0,
        "peer": kv.get("peer", ""),
        "close_wall_us": when,
        "accept_wall_us": when - t_us,
        "t_us": t_us,
        "outcome": kv.get("outcome", ""),
        "state": kv.get("state", ""),
        "reason": kv.get("reason", ""),
        "rdns_result": kv.get("rdns_result"),
        "client": kv.get("client"),
        "banner_us": _stage_us(kv.get("banner")),
        "waited_us": _stage_us(kv.get("waited")),
        "stages": {s: _stage_us(kv.get(s)) for s in _STAGES},
        "has_rdns_wait": "rdns_wait" in kv,
        "how": kv.get("how"),
        "commands": _int_or_none(kv.get("commands")),
    }
    return rec


def _int_or_none(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


_CHANGE = [
    (re.compile(r"^pool: workers (\d+) -> (\d+)"), "pool.workers"),
    (re.compile(r"^pool: sessions_per_worker (\d+) -> (\d+)"), "pool.sessions_per_worker"),
    (re.compile(r"^rdns: resolver threads (\d+) -> (\d+)"), "rdns.threads"),
]


def _daemon_line(when, msg, events, config):
    m = re.match(r"^bannerd \S+ starting: (.*)$", msg)
    if m:
        kv = parse_kv(m.group(1))
        config["start_wall_us"] = when
        for k in ("workers", "max_sessions", "protocol_log"):
            if k in kv:
                config[k] = kv[k]
        return
    m = re.match(r"^rdns: (on|off) \((.*?)\)", msg)
    if m:
        if "rdns" in config and config["rdns"] != m.group(1):
            # a reload turned the lookup on or off
            events.append({"wall_us": when, "key": "rdns", "old": config["rdns"], "new": m.group(1)})
            config["rdns"] = m.group(1)
            if m.group(1) == "on":
                # the lookups of this run were made for the reason a
                # reload gave, not the start's "off"
                config["rdns_why"] = m.group(2)
            return
        config.setdefault("rdns", m.group(1))
        config.setdefault("rdns_why", m.group(2))
        t = re.search(r"timeout (\d+) ms x (\d+) tries: worst case per lookup (\d+) ms", msg)
        if t:
            config.setdefault("rdns_timeout_us", int(t.group(1)) * 1000)
            config.setdefault("rdns_tries", int(t.group(2)))
            config.setdefault("rdns_worst_us", int(t.group(3)) * 1000)
        return
    for rx, key in _CHANGE:
        m = rx.match(msg)
        if m:
            events.append({"wall_us": when, "key": key,
                           "old": int(m.group(1)), "new": int(m.group(2))})
            return
    change = control_change(msg)
    if change:
        # a live change (bannerctl, the live page): a mark on the plot
        # and a boundary of a class session's intervals
        events.append({"wall_us": when, "key": "control", "old": None, "new": None,
                       "line": change[0], "origin": change[1]})
        return
    if msg.startswith("reload: configuration"):
        events.append({"wall_us": when, "key": "reload", "old": None, "new": None})


def read_metrics(path):
    """A Prometheus text scrape -> {'name{labels}': float}."""
    out = {}
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            name, _, value = line.rpartition(" ")
            try:
                out[name.strip()] = float(value)
            except ValueError:
                pass
    return out


# ---- slowrelay ----

def read_relay_log(path):
    """slowrelay's 'released' lines: client, via (the relay's own end of
    the upstream connection, which bannerd logs as peer), when the server's
    first byte reached the relay and when the client got it."""
    out = []
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            if not line.startswith("slowrelay: released "):
                continue
            kv = parse_kv(line)
            out.append({
                "id": int(kv.get("id", "0")), "client": kv.get("client", ""),
                "via": kv.get("via", ""),
                "server_first_byte_us": int(kv.get("server_first_byte_us", "0")),
                "client_first_byte_us": int(kv.get("client_first_byte_us", "0")),
            })
    return out


# ---- a scenario's own figures ----

def read_name_values(path):
    """'name value' lines (the scenario hooks' figures) -> ordered pairs."""
    out = []
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            parts = line.split(None, 1)
            if len(parts) == 2:
                out.append((parts[0], parts[1].strip()))
    return out


def read_marks(path):
    """'wall_us label...' lines: events a scenario marked (a SIGHUP)."""
    out = []
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split(" ", 1)
            if parts and parts[0].isdigit():
                out.append({"wall_us": int(parts[0]), "label": parts[1] if len(parts) > 1 else ""})
    return out


# ---- Postfix (the ndr-postfix scenarios' sender) ----

_PF_LINE = re.compile(r"^(\w{3} +\d+ [\d:]+|\S+) (\S+) (postfix\S*)\[(\d+)\]: (.*)$")


def read_postfix_log(path):
    """A private Postfix's maillog_file -> events in order, each with its
    wall time and what it says: 'queued', 'greeting_timeout', 'deferred',
    'expired', 'bounce_sent' (the DSN to the sender), 'delivered' (to the
    relay, bannerd, wherever it is: loopback or the topology's mail
    host)."""
    out = []
    if not os.path.exists(path):
        return out
    with open(path, errors="replace") as f:
        for line in f:
            m = _PF_LINE.match(line.rstrip("\n"))
            if not m:
                continue
            stamp, _, prog, _, msg = m.groups()
            try:
                when = _pf_time(stamp)
            except ValueError:
                continue
            kind = _pf_kind(prog, msg)
            if kind:
                out.append({"wall_us": when, "kind": kind, "text": msg})
    return out


def _pf_time(stamp):
    """maillog_file's 'Dec 02 01:48:58' (local time, whole seconds, no
    year: this year's), or an ISO stamp."""
    if stamp[:1].isdigit():
        return int(round(datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1e6))
    year = datetime.datetime.now().year
    t = time.strptime("%d %s" % (year, " ".join(stamp.split())), "%Y %b %d %H:%M:%S")
    return int(time.mktime(t)) * 1000000


def _pf_kind(prog, msg):
    if "timed out while receiving the initial server greeting" in msg:
        return "greeting_timeout"
    if "status=deferred" in msg:
        return "deferred"
    if "status=expired" in msg:
        return "expired"
    if "status=sent" in msg:
        # the DSN is the one mail delivered here, to the sender's Maildir
        # (local(8), relay=local); any other went out to the relay
        if "to=<labsender@" in msg or "relay=local," in msg:
            return "bounce_sent"
        return "delivered"
    if prog.endswith("/qmgr") and "from=<" in msg and "nrcpt=" in msg:
        return "queued"
    return None

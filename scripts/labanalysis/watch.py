"""The running verdict's I/O (scripts/lab class): about once a second,
bannerd's new connections (from its /live, or from the protocol log's
close lines when this bannerd has no /live) and the running verdict
(live.py): refreshed in place on a terminal; when the output is not
one, a plain line every PLAIN_EVERY_S, when the likely cause changes
and when a change is seen. It also follows slowdns's and slowrelay's
logs for their 'control: ...' lines, which carry no time, and writes
each, stamped when seen (within FAULT_TICK_S), to the run's marks file,
so that the plot marks it. Runs until the lab stops it (TERM)."""
import json
import os
import shutil
import signal
import sys
import time
import urllib.error
import urllib.request

from . import live, records
from .units import fmt_duration

KEEP_US = 60000000   # records kept: a few windows
PLAIN_EVERY_S = 10
LIVE_TIMEOUT_S = 2
FAULT_TICK_S = 0.1


class Follow:
    """New complete lines of a file that grows (a log), from where the
    last call stopped."""

    def __init__(self, path):
        self.path, self.pos, self.part = path, 0, ""

    def lines(self):
        try:
            with open(self.path, errors="replace") as f:
                f.seek(self.pos)
                data = f.read(1 << 20)
                self.pos = f.tell()
        except OSError:
            return []
        data = self.part + data
        lines = data.split("\n")
        self.part = lines.pop()
        return lines


class Source:
    """bannerd's connections: /live while it answers, else the log."""

    def __init__(self, live_url, log_path):
        self.url, self.seq, self.use_live = live_url, 0, bool(live_url)
        self.log = Follow(log_path)
        self.gauges, self.changes, self.threads = None, [], None

    def poll(self):
        recs = []
        if self.use_live:
            try:
                with urllib.request.urlopen("%s?since=%d" % (self.url, self.seq), timeout=LIVE_TIMEOUT_S) as r:
                    doc = json.load(r)
                for c in doc.get("conns") or []:
                    recs.append(live.from_live(c))
                self.seq = max(self.seq, int(doc.get("seq") or 0))
                self.gauges = doc.get("gauges")
                keys = doc.get("keys") or {}
                pooled = keys.get("rdns.mode") == "pool"
                self.threads = ((self.gauges or {}).get("rdns_threads") or None) if pooled else None
            except urllib.error.HTTPError as e:
                if e.code == 404:
                    self.use_live = False	# a bannerd without /live: its log
            except (OSError, ValueError):
                pass	# busy or stopping: the next poll
        for line in self.log.lines():
            kind, when, rest = records.bannerd_line(line)
            if kind == "close" and not self.use_live:
                recs.append(live.from_close(records.close_record(when, rest)))
            elif kind == "daemon":
                ch = records.control_change(records.parse_kv(rest).get("msg", ""))
                if ch:
                    self.changes.append((when, ch[0]))
        return recs


def follow_faults(follows, marks_path, changes):
    """slowdns's and slowrelay's control lines -> marks, stamped now."""
    for name, f in follows:
        for line in f.lines():
            ch = records.control_change(line)
            if not ch:
                continue
            now = int(time.time() * 1e6)
            label = "%s: %s" % (name, ch[0])
            with open(marks_path, "a") as m:
                m.write("%d %s\n" % (now, label))
            changes.append((now, label))


def run(out, live_url, threshold_us, label, interval_s=1.0):
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    tty = sys.stdout.isatty()
    src = Source(live_url, os.path.join(out, "bannerd.log"))
    faults = [(n, Follow(os.path.join(out, n + ".log"))) for n in ("slowdns", "slowrelay")]
    recs, last_plain, last_cause, seen_changes = [], 0.0, None, 0
    who = "%s (%s)" % (label.split(" ")[0] or "a sender", fmt_duration(threshold_us)) if threshold_us else ""
    try:
        while True:
            recs.extend(src.poll())
            follow_faults(faults, os.path.join(out, "marks"), src.changes)
            now_us = int(time.time() * 1e6)
            recs = [r for r in recs if r["t_us"] > now_us - KEEP_US]
            s = live.summary(live.window(recs, now_us), threshold_us, threads=src.threads)
            last = max(src.changes) if src.changes else None
            change = ("%s (%s ago)" % (last[1], _ago(now_us - last[0]))) if last else None
            line = live.render(s, who, gauges=src.gauges, last_change=change,
                               clock=time.strftime("%H:%M:%S"))
            if tty:
                width = shutil.get_terminal_size((160, 24)).columns
                sys.stdout.write("\r\033[K" + line[:max(20, width - 1)])
                sys.stdout.flush()
            elif (s["cause"] != last_cause or len(src.changes) != seen_changes
                  or time.monotonic() - last_plain >= PLAIN_EVERY_S):
                sys.stdout.write("live: " + line + "\n")
                sys.stdout.flush()
                last_plain = time.monotonic()
            last_cause, seen_changes = s["cause"], len(src.changes)
            # slowdns's and slowrelay's lines carry no time: look for
            # them ten times a second, so their marks are that close
            for _ in range(max(1, int(interval_s / FAULT_TICK_S))):
                time.sleep(FAULT_TICK_S)
                follow_faults(faults, os.path.join(out, "marks"), src.changes)
    finally:
        if tty:
            sys.stdout.write("\n")
            sys.stdout.flush()


def _ago(us):
    s = max(0, int(us / 1e6))
    return "%ds" % s if s < 120 else "%dm" % (s // 60)

"""The plots, for teaching: a trainer shows them to a class, so each one
says what it shows in its title, units in its axis labels, what the
colours mean in its key, and it is readable at 960x540. This module is
what the rest of the analysis calls, and the plots' only reader of
files: plots_for_run (after a run) and compare (scripts/lab compare).

  banner.png       plot_banner: every run with client tries, each try's
                   wait for the 220 greeting
  both-sides.png   plot_sides: runs with slowrelay on the path
                   (firewall-path), the 220 on each side of the filter
  timeline.png     plot_timeline: runs with a Postfix sender
                   (ndr-postfix, ndr-postfix-path), the mail's life in lanes
  compare          plot_compare: two runs' greeting times in one plot

The decisions (log or linear, which unit, burst or timeline, where the
threshold goes, which colour a try gets) are pure functions in
plot_axes; gnuplot runs gnuplot and holds what every script is made of.
Tested in tests/lab/test_plot*.py."""
import csv
import os
import sys

from . import gnuplot, intervals, records
from .plot_axes import estimate_t0, mark_offsets
from .plot_banner import banner_script
from .plot_compare import compare_script
from .plot_sides import bannerd_times, both_sides_script
from .plot_timeline import timeline_events, timeline_script


def read_sessions_csv(path):
    """sessions.csv -> rows (numbers as ints); None when there is no file."""
    if not os.path.exists(path):
        return None
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            row = dict(r)
            for k in ("attempt", "try", "start_us", "connect_us", "client_us", "arrival_us", "code",
                      "connect_held_us"):
                row[k] = int(r.get(k) or 0)
            row["wait_us"] = int(r.get("wait_us") or row["client_us"])
            rows.append(row)
    return rows


def _rows_of(out, ctx):
    """The run's tries: the analysis's own rows, else its sessions.csv."""
    rows = ctx.get("rows")
    if rows is None:
        rows = read_sessions_csv(os.path.join(out, "sessions.csv")) or []
    return rows


def _fixes(run):
    """What changed during the run, as [(wall us, label)]: the scenario's
    marks, live changes (bannerd's control lines; slowdns's and
    slowrelay's are marks the lab stamped), and reloads none of them
    explains."""
    return intervals.changes(run.get("marks"), (run.get("log") or {}).get("events"))


def _plan(out, ctx, run, t0_wall_us):
    """-> [(file name, function returning the script for a path)]."""
    plan = []
    server_only = "probe" in ctx and ctx["probe"] is None  # a real MTA was the client
    rows = [] if server_only else _rows_of(out, ctx)
    sessions = (run.get("log") or {}).get("sessions")
    if rows:
        t0 = t0_wall_us if t0_wall_us is not None else estimate_t0(rows, sessions)
        marks = mark_offsets([{"wall_us": w, "label": l} for w, l in _fixes(run)], t0)
        plan.append(("banner.png", lambda path: banner_script(path, ctx, rows, marks)))
    relay = [r for r in run.get("relay") or [] if r.get("client_first_byte_us")]
    if relay:
        inside = bannerd_times(_rows_of(out, ctx))
        plan.append(("both-sides.png", lambda path: both_sides_script(path, ctx, relay, inside)))
    if run.get("postfix"):
        ev = timeline_events(run["postfix"], sessions, _fixes(run), ctx.get("threshold_us"))
        if ev["t0"] is not None:
            plan.append(("timeline.png", lambda path: timeline_script(path, ctx, ev)))
    return plan


def plots_for_run(out, ctx, run, t0_wall_us):
    """Write the run's PNGs into out; -> their paths. No gnuplot: [] and
    nothing written. A plot that cannot be drawn is reported on stderr
    and the others (and the verdict) go on."""
    if not gnuplot.gnuplot_path():
        return []
    run = run or {}
    made = []
    log_path = os.path.join(out, "gnuplot.log")
    try:
        plan = _plan(out, ctx, run, t0_wall_us)
    except Exception as e:  # the verdict matters more than a plot
        print("labanalysis: no plots: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        return []
    for name, script in plan:
        path = os.path.join(out, name)
        try:
            text = script(path)
        except Exception as e:
            print("labanalysis: no %s: %s: %s" % (name, type(e).__name__, e), file=sys.stderr)
            continue
        if gnuplot.run_gnuplot(text, path, log_path):
            made.append(path)
    return made


def _threshold_of(folder):
    """The give-up threshold a run was analysed with (its 'figures' file)."""
    for name, value in records.read_name_values(os.path.join(folder, "figures")):
        if name == "threshold":
            try:
                return int(float(value))
            except ValueError:
                return 0
    return 0


def compare(a, b, output=None):
    """scripts/lab compare A B: both runs' greeting times in one plot,
    written to A/compare-<B>.png unless output says where. -> exit code."""
    runs = []
    for folder in (a, b):
        rows = read_sessions_csv(os.path.join(folder, "sessions.csv"))
        if rows is None:
            print("labanalysis compare: %s has no sessions.csv (a finished run's results folder, "
                  "e.g. results/untuned after scripts/lab run untuned)" % folder, file=sys.stderr)
            return 2
        name = os.path.basename(os.path.normpath(os.path.abspath(folder)))
        runs.append((name, rows))
    if not gnuplot.gnuplot_path():
        print("labanalysis compare: no gnuplot (scripts/install-deps installs it)", file=sys.stderr)
        return 1
    if output is None:
        output = os.path.join(a, "compare-%s.png" % runs[1][0])
    log_path = os.path.join(os.path.dirname(os.path.abspath(output)), "gnuplot.log")
    if not gnuplot.run_gnuplot(compare_script(output, runs, _threshold_of(a)), output, log_path):
        return 1
    print(output)
    return 0

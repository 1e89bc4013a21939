"""python3 -m labanalysis COMMAND ... (PYTHONPATH=scripts)

  analyse DIR [options]     read a finished run in DIR, write figures,
                            checks, sessions.csv, verdict.txt,
                            summary.json and the plots; print the verdict;
                            exit 0 when every expectation held, 1 if not
  compare A B [-o PNG]      overlay two runs' greeting times in one plot
  table DIR...              the side-by-side table of runs (make demo)
  pathtest OUT V=JSON...    KB Q286375's test from both sides of the routers:
                            smtpprobe's --json from each vantage, farthest
                            first (sender=... filter=... mail=...); prints
                            the table and the hop where the time appears,
                            writes OUT/pathtest.txt and OUT/pathtest.json
  watch DIR [options]       a class session's running verdict, about once
                            a second, until TERM (scripts/lab class)
"""
import argparse
import csv
import json
import os
import sys

from . import cause, expect, figures, intervals, pathtest, plot, records, sessions, verdict
from .units import DurationError, fmt_duration, parse_duration


def load(out):
    """Everything a run left in its folder, joined."""
    probe = records.read_probe_json(os.path.join(out, "probe.json"))
    probe_rows = records.read_probe_csv(os.path.join(out, "probe.csv"))
    log = records.read_bannerd_log(os.path.join(out, "bannerd.log"))
    metrics = records.read_metrics(os.path.join(out, "metrics.txt"))
    relay = records.read_relay_log(os.path.join(out, "slowrelay.log"))
    if probe_rows:
        rows, _ = sessions.join(probe_rows, log["sessions"], relay)
    else:
        rows = sessions.server_only_rows(log["sessions"])
    return {"probe": probe if probe_rows else None, "rows": rows, "log": log,
            "metrics": metrics, "relay": relay,
            "postfix": records.read_postfix_log(os.path.join(out, "postfix.log")),
            "marks": records.read_marks(os.path.join(out, "marks"))}


def build_figures(run, res, threshold_us, out):
    fig = figures.Figures()
    figures.add_probe(fig, run["probe"])
    figures.add_server(fig, run["log"]["sessions"])
    if run["probe"]:
        figures.add_rows(fig, run["rows"], threshold_us)
    figures.add_cause(fig, res)
    figures.add_metrics(fig, run["metrics"])
    figures.add_relay(fig, run["relay"])
    figures.add_postfix(fig, run["postfix"])
    fig.put("threshold", threshold_us, duration=True)
    figures.add_pairs(fig, records.read_name_values(os.path.join(out, "figures.extra")))
    return fig


def write_sessions_csv(path, rows):
    """One row per try: the client's view and bannerd's parts side by
    side (microseconds), for plots and for anyone's own analysis. The
    parts add up to wait_us (last, with the share of the connect the
    path held, so that older readers' columns keep their places)."""
    cols = ["attempt", "try", "start_us", "connect_us", "client_us", "arrival_us", "outcome",
            "code", "source", "sid", "server_outcome"] + ["%s_us" % p for p in sessions.PARTS] + [
            "connect_held_us", "wait_us"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in rows:
            s = r["server"]
            w.writerow([r["attempt"], r["try"], r["start_us"], r["connect_us"], r["client_us"],
                        r["arrival_us"], r["outcome"], r["code"], r["source"],
                        "%08x" % s["sid"] if s else "", s["outcome"] if s else ""]
                       + [r["parts"][p] for p in sessions.PARTS] + [r["connect_held_us"], r["wait_us"]])


def analyse(a):
    out = a.dir
    run = load(out)
    rows = run["rows"]
    cap = cause.capacity_from(run["log"], run["metrics"])
    res = cause.analyse(rows, run["log"]["sessions"], cap, a.threshold_us, run["log"]["config"])
    fig = build_figures(run, res, a.threshold_us, out)
    lines = open(a.expect_file).read().splitlines() if a.expect_file else []
    passed, checks = expect.check_all(lines, fig)
    with open(os.path.join(out, "checks"), "w") as f:
        f.write("".join(c + "\n" for c in checks))
    with open(os.path.join(out, "figures"), "w") as f:
        for k, v in fig.items():
            f.write("%s %s\n" % (k, v))
    write_sessions_csv(os.path.join(out, "sessions.csv"), rows)
    t0 = sessions.load_t0_wall_us(rows)
    extra = []
    if os.path.exists(os.path.join(out, "extra")):
        extra = open(os.path.join(out, "extra")).read().splitlines()
    ctx = {"name": a.name, "article": a.article, "mode": a.mode, "scale": a.scale,
           "threshold_us": a.threshold_us, "threshold_label": a.threshold_label,
           "probe": run["probe"], "rows": rows, "attributed": cause.attributable(rows),
           "res": res, "figures": fig, "checks": checks, "extra": extra, "relay": run["relay"],
           "events": run["log"]["events"]}
    # every change during the run, as the plot marks it
    ctx["changes"] = intervals.changes(run["marks"], run["log"]["events"])
    ctx["t0_wall_us"] = t0
    if a.class_session:
        ctx["intervals"] = intervals.analyse(rows, run["log"]["sessions"], cap, a.threshold_us,
                                             run["marks"], run["log"]["events"], t0, run["log"]["config"])
    ctx["plots"] = plot.plots_for_run(out, ctx, run, t0)
    text = verdict.render(ctx)
    with open(os.path.join(out, "verdict.txt"), "w") as f:
        f.write(text)
    verdict.write_summary(os.path.join(out, "summary.json"), ctx, passed)
    sys.stdout.write(text)
    return 0 if passed else 1


def table(dirs):
    """One line per run from its summary.json: greeting p50/p99, the
    share a sender with the scenario's threshold would give up on, the
    cause and its lever."""
    print("%-17s %10s %10s %9s  %s" % ("scenario", "banner p50", "p99", "gave up", "cause -> lever"))
    for d in dirs:
        name = os.path.basename(os.path.normpath(d))
        try:
            with open(os.path.join(d, "summary.json")) as f:
                s = json.load(f)
        except (OSError, ValueError):
            print("%-17s (no result)" % name)
            continue
        fig = s["figures"]
        p50 = fmt_duration(fig["banner.p50"]) if "banner.p50" in fig else "none"
        p99 = fmt_duration(fig["banner.p99"]) if "banner.p99" in fig else "none"
        share = fig.get("gave_up.share")
        print("%-17s %10s %10s %9s  %s -> %s" % (
            name, p50, p99, "-" if share is None else "%.0f%%" % (100 * share),
            s["cause_part"], s["lever"]))
    return 0


def run_pathtest(out, vantages):
    """vantages: 'name=probe.json' in path order, farthest first."""
    rows = []
    for v in vantages:
        name, sep, path = v.partition("=")
        if not sep or not name or not path:
            print("labanalysis: pathtest: %r is not VANTAGE=PROBE_JSON" % v, file=sys.stderr)
            return 2
        try:
            with open(path) as f:
                probe, why = json.load(f), None
        except FileNotFoundError:
            probe, why = None, "%s missing" % path
        except (OSError, ValueError) as e:
            probe, why = None, "%s unreadable (%s)" % (path, e.__class__.__name__)
        if probe is not None and not isinstance(probe, dict):
            probe, why = None, "%s is not smtpprobe's JSON" % path
        rows.append(pathtest.vantage_row(name, probe, why))
    res = pathtest.analyse(rows)
    text = pathtest.render(res)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "pathtest.txt"), "w") as f:
        f.write(text)
    with open(os.path.join(out, "pathtest.json"), "w") as f:
        json.dump(pathtest.summary(res), f, indent=2)
        f.write("\n")
    sys.stdout.write(text)
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(prog="labanalysis")
    sub = p.add_subparsers(dest="cmd", required=True)
    an = sub.add_parser("analyse")
    an.add_argument("dir")
    an.add_argument("--name", required=True)
    an.add_argument("--article", default="")
    an.add_argument("--mode", default="full", choices=("full", "quick"))
    an.add_argument("--scale", type=float, default=1.0)
    an.add_argument("--threshold", dest="threshold_us", type=lambda s: parse_duration(s, "us"), default=0)
    an.add_argument("--threshold-label", default="")
    an.add_argument("--expect-file")
    an.add_argument("--class", dest="class_session", action="store_true",
                    help="a class session (scripts/lab class): a verdict per interval between changes")
    cp = sub.add_parser("compare")
    cp.add_argument("a")
    cp.add_argument("b")
    cp.add_argument("-o", "--output")
    tb = sub.add_parser("table")
    tb.add_argument("dirs", nargs="+")
    pt = sub.add_parser("pathtest")
    pt.add_argument("out")
    pt.add_argument("vantages", nargs="+", metavar="VANTAGE=PROBE_JSON")
    wa = sub.add_parser("watch")
    wa.add_argument("dir")
    wa.add_argument("--live", default="", help="bannerd's /live URL (none: its log alone)")
    wa.add_argument("--threshold", dest="threshold_us", type=lambda s: parse_duration(s, "us"), default=0)
    wa.add_argument("--threshold-label", default="")
    a = p.parse_args(argv)
    try:
        if a.cmd == "analyse":
            return analyse(a)
        if a.cmd == "table":
            return table(a.dirs)
        if a.cmd == "compare":
            return plot.compare(a.a, a.b, a.output)
        if a.cmd == "watch":
            from . import watch
            return watch.run(a.dir, a.live, a.threshold_us, a.threshold_label)
        if a.cmd == "pathtest":
            return run_pathtest(a.out, a.vantages)
    except (DurationError, OSError) as e:
        print("labanalysis: %s" % e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

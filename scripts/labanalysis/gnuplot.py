"""gnuplot: the driver and what every plot's script is made of. The
plots are drawn by gnuplot (pngcairo) from a script on its stdin with
the data inline; without gnuplot there are no plots and the lab goes
on. Here: finding and running gnuplot (the only I/O), the look (size,
font, colours), string and number literals, inline data blocks, the
head of a script, the y axis and the vertical lines of the scenario's
marks."""
import os
import shutil
import subprocess
import sys

from .plot_axes import frac, free_spot, tick_label

SIZE = (960, 540)
FONT = "DejaVu Sans,11"

GREEN, ORANGE, RED, GREY = "#2e8b57", "#e67e00", "#d62728", "#7f7f7f"
BLUE, PINK = "#1f5fbf", "#c2185b"
INK, MARK = "#333333", "#555555"


def gnuplot_path():
    """gnuplot's path, or None: no gnuplot, no plots."""
    return shutil.which("gnuplot")


def q(text):
    """A gnuplot string literal (single quotes: no escapes but '')."""
    return "'" + str(text).replace("'", "''").replace("\n", " ") + "'"


def num(v):
    """A number for a script: nine significant digits, no more."""
    return "%.9g" % v


def block(name, lines):
    """Inline data: a here-document named $name."""
    return "$%s << EOD\n%s\nEOD\n" % (name, "\n".join(lines))


def head(path, title, subtitle):
    """What every plot's script starts with: the terminal, the output,
    the title and subtitle above the plot, the house look."""
    return "\n".join([
        "set terminal pngcairo size %d,%d font %s noenhanced" % (SIZE[0], SIZE[1], q(FONT)),
        "set encoding utf8",
        "set output %s" % q(path),
        "set label 98 %s at screen 0.5, screen 0.965 center font ',13'" % q(title),
        "set label 99 %s at screen 0.5, screen 0.920 center font ',10' tc rgb '%s'" % (q(subtitle), INK),
        "set tmargin 5",
        "set border 3 lc rgb '%s'" % MARK,
        "set tics nomirror out",
        "set grid lc rgb '#e4e4e4'",
        "set style textbox opaque noborder margins 2,1",
        "set key below left Left reverse noenhanced samplen 2 spacing 1.1 height 1",
        "",
    ])


def run_gnuplot(script, path, log_path):
    """Draw; -> True when a non-empty PNG was written. gnuplot's own
    complaints go to log_path (with the script) when it fails."""
    exe = gnuplot_path()
    if not exe:
        return False
    try:
        p = subprocess.run([exe], input=script, capture_output=True, text=True, timeout=60)
        ok = p.returncode == 0 and os.path.exists(path) and os.path.getsize(path) > 0
        err = p.stderr
    except (OSError, subprocess.SubprocessError) as e:
        ok, err = False, str(e)
    if not ok:
        with open(log_path, "w") as f:
            f.write(err + "\n---- script ----\n" + script)
        print("labanalysis: gnuplot did not draw %s (see %s)" % (path, log_path), file=sys.stderr)
        if os.path.exists(path) and os.path.getsize(path) == 0:
            os.remove(path)
    return ok


def y_setup(ya, what):
    """The y axis (plot_axes.y_axis) as set commands; what names it."""
    out = []
    if ya["log"]:
        out.append("set logscale y")
        out.append("set mytics 10")
        out.append("set ytics (%s)" % ", ".join("%s %s" % (q(tick_label(t)), num(t)) for t in ya["tics"]))
        out.append("set ylabel %s" % q(what + " (log scale)"))
    else:
        out.append("set ylabel %s" % q("%s (%s)" % (what, ya["unit"])))
    out.append("set yrange [%s:%s]" % (num(ya["lo"]), num(ya["hi"])))
    return out


NUMBER_MARKS_FROM = 2  # this many marks on a plot: numbers on the lines, words in the key


def numbered(marks, xa):
    """The marks a plot shows (those within its x range), and whether
    they are numbered: a class session's many changes would write their
    labels over each other and off the plot's edge."""
    shown = [m for m in marks if xa["lo"] <= m[0] / xa["div"] <= xa["hi"]]
    return shown, len(shown) >= NUMBER_MARKS_FROM


def mark_key(marks, xa):
    """The key's entries for numbered marks: 'N  at T: label'."""
    shown, numbers = numbered(marks, xa)
    if not numbers:
        return []
    return ["NaN with lines dt 2 lw 2 lc rgb '%s' title %s"
            % (MARK, q("%d  at %s: %s" % (i, tick_label(x_us) if x_us > 0 else "0", label)))
            for i, (x_us, label) in enumerate(shown, 1)]


def mark_lines(marks, xa, points=()):
    """Vertical dashed lines with their label at the top or bottom, on a
    side of the line where it covers no point (points: (x, y) as shares
    of the plot's width and height); from NUMBER_MARKS_FROM marks on, a
    number above each line instead, and the words in the key
    (mark_key)."""
    out = []
    shown, numbers = numbered(marks, xa)
    for i, (x_us, label) in enumerate(shown):
        x = x_us / xa["div"]
        out.append("set arrow from %s, graph 0 to %s, graph 1 nohead lc rgb '%s' dt 2 lw 2 front"
                   % (num(x), num(x), MARK))
        if numbers:
            out.append("set label %d %s at %s, graph 1.035 center tc rgb '%s' font ',12' boxed front"
                       % (20 + i, q(str(i + 1)), num(x), INK))
            continue
        text = "%s at %s" % (label, tick_label(x_us) if x_us > 0 else "0")
        y, side = free_spot(frac(x, xa["lo"], xa["hi"]), len(text) + 2, points)
        out.append("set label %d %s at %s, graph %.2f %s offset %s tc rgb '%s' boxed front"
                   % (20 + i, q(text), num(x), y - 0.07 * (i % 3) * (1 if y > 0.5 else -1), side,
                      "1,0" if side == "left" else "-1,0", INK))
    return out

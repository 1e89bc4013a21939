"""The lab's analysis: what scripts/lab does once the processes of a
scenario have stopped. It reads what they left in the results folder
(smtpprobe's CSV and JSON, bannerd's protocol log and metrics scrape,
slowrelay's and Postfix's logs), joins each client try with bannerd's line
for the same connection, finds the cause, checks the scenario's
expectations and writes the verdict, summary.json and the plots.

Modules, one job each:
  units     durations: parse "250ms", format 1234567 as "1.23s"
  records   readers for each program's output (no arithmetic)
  sessions  the join: one row per try, client and server side together
  stats     percentiles, thirds, slopes (pure)
  cause     the cause engine: per-session attribution, Little's law
  explain   the words of the cause: what holds the wait, why, the knob
  expect    the expectation grammar (smtpprobe's --expect, plus words)
  figures   the flat table of named figures that expectations read
  verdict   the one-screen verdict and summary.json
  plot      the plots' entry points: which plots a run gets, reading
            sessions.csv, scripts/lab compare
  plot_axes the plots' decisions: axes, units, colours, labels (pure)
  gnuplot   running gnuplot; the look and the pieces of every script
  plot_banner, plot_sides, plot_timeline, plot_compare
            one plot each: banner.png, both-sides.png, timeline.png,
            compare-B.png (script text from rows, pure)
Run as: python3 -m labanalysis (PYTHONPATH=scripts); see __main__.py.
"""

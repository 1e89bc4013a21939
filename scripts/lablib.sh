# scripts/lablib.sh: what scripts/lab and scripts/demo share. Sourced, not
# run. POSIX sh, process control only: the analysis (durations, figures,
# the cause, expectations, the verdict, plots) is the Python package
# scripts/labanalysis, run once a scenario's processes have stopped.
#
# A scenario run goes: start slowdns / bannerd / the probe (lab_slowdns,
# lab_bannerd, lab_probe) -> lab_scrape -> lab_cleanup -> lab_analyse.
# Everything started is recorded by PID in $LAB_WORK/pids and stopped by
# lab_cleanup, which the caller runs from its EXIT/INT/TERM trap. Every
# wait is a `wait` on a background job or a short bounded poll, so a
# signal is acted on at once.

LAB_BUILD=${BUILD:-build}
LAB_SCALE=${LAB_SCALE:-1}
LAB_ROOT=${LAB_ROOT:-$(pwd)}

lab_die() {
	echo "lab: $*" >&2
	exit 1
}

lab_note() {
	[ -n "${LAB_QUIET:-}" ] || echo "lab: $*" >&2
}

# The suite's programs: the build tree's, else the installed ones on PATH.
lab_bin() {	# NAME -> path
	if [ -x "$LAB_BUILD/bin/$1" ]; then
		echo "$LAB_BUILD/bin/$1"
	else
		command -v "$1" || echo "$LAB_BUILD/bin/$1"
	fi
}

lab_py() {	# labanalysis ARGS...
	PYTHONPATH="$LAB_ROOT/scripts${PYTHONPATH:+:$PYTHONPATH}" python3 -m labanalysis "$@"
}

# ---- durations in the run's time scale ----
# Process control needs a few durations scaled before anything starts;
# spawning Python for each costs a second on a loaded machine, so this one
# conversion is arithmetic here. Every duration the analysis reads is
# parsed once, in scripts/labanalysis/units.py.

lab_us() {	# DURATION -> integer microseconds ("250ms", "1.5s", "300us", "0")
	awk -v d="$1" 'BEGIN {
		n = d; u = d
		sub(/[a-z]+$/, "", n); sub(/^[0-9.]+/, "", u)
		m = (u == "us") ? 1 : (u == "ms") ? 1000 : (u == "s") ? 1000000 : (u == "m") ? 60000000 : (u == "h") ? 3600000000 : -1
		if (n !~ /^[0-9]+(\.[0-9]*)?$/ || (m < 0 && n + 0 != 0)) { print "lab: not a duration: " d > "/dev/stderr"; exit 1 }
		printf "%d\n", n * (m < 0 ? 0 : m) + 0.5 }'
}

# T DURATION: the duration in this run's time scale, as "NNNus"; --quick
# sets LAB_SCALE below 1, so a scenario states the article's real numbers
# once and runs them shortened.
T() {
	awk -v us="$(lab_us "$1")" -v s="$LAB_SCALE" 'BEGIN { printf "%dus\n", us * s + 0.5 }'
}

# R RATE: a rate (per second) in this run's time scale (inverse of T).
R() {
	awk -v r="$1" -v s="$LAB_SCALE" 'BEGIN { printf "%g\n", r / s }'
}

# ---- processes ----

lab_track() {	# PID
	echo "$1" >>"$LAB_WORK/pids"
}

lab_alive() {	# PID...: true while any runs
	for p in "$@"; do
		kill -0 "$p" 2>/dev/null && return 0
	done
	return 1
}

# Stops what this run started, by PID only: TERM to all, a second TERM
# after half a second (bannerd's drain ends at the second signal), KILL
# to what is left after one second. A private Postfix is stopped with its
# own command.
lab_cleanup() {
	[ -n "${LAB_WORK:-}" ] || return 0
	if [ -f "$LAB_WORK/postfix.dir" ]; then
		postfix -c "$(cat "$LAB_WORK/postfix.dir")" stop >/dev/null 2>&1 || true
		rm -f "$LAB_WORK/postfix.dir"
	fi
	[ -f "$LAB_WORK/pids" ] || return 0
	pids=$(cat "$LAB_WORK/pids")
	rm -f "$LAB_WORK/pids"
	# shellcheck disable=SC2086
	kill $pids 2>/dev/null
	for round in 1 2; do
		i=0
		# shellcheck disable=SC2086
		while lab_alive $pids && [ "$i" -lt 5 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		# shellcheck disable=SC2086
		[ "$round" = 2 ] || kill $pids 2>/dev/null
	done
	# shellcheck disable=SC2086
	kill -9 $pids 2>/dev/null
	# reap them, so nothing is left even as a zombie
	for p in $pids; do
		wait "$p" 2>/dev/null
	done
	return 0
}

# lab_sleep SECONDS: a sleep that a signal interrupts at once (a trap
# waits for a foreground command, not for `wait`).
lab_sleep() {
	sleep "$1" &
	wait $!
}

lab_wait_line() {	# FILE PATTERN SECONDS PID: wait for a line, bounded
	i=0
	while ! grep -q "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		if [ "$i" -gt $(($3 * 20)) ]; then
			lab_note "no '$2' in $1 after $3 s"
			return 1
		fi
		if [ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null; then
			lab_note "process $4 exited before '$2':"
			tail -5 "$1" >&2
			return 1
		fi
		sleep 0.05
	done
}

lab_port_of() {	# FILE PATTERN-BEFORE-ADDRESS -> port (of ADDRESS:PORT or [ADDRESS]:PORT)
	sed -n "s/.*$2 [^ ]*:\([0-9][0-9]*\).*/\1/p" "$1" | head -1
}

# Where the programs run. On loopback (the default) all of them on this
# host; a topology scenario (scripts/labnet.sh) sets each to "ip netns
# exec HOST" and the addresses to the hosts' own.
LAB_AT_DNS=${LAB_AT_DNS:-} LAB_AT_MAIL=${LAB_AT_MAIL:-} LAB_AT_SENDER=${LAB_AT_SENDER:-}
LAB_DNS_HOST=${LAB_DNS_HOST:-127.0.0.1} LAB_DNS_LISTEN_PORT=${LAB_DNS_LISTEN_PORT:-0}
LAB_MAIL_HOST=${LAB_MAIL_HOST:-127.0.0.1} LAB_MAIL_LISTEN_PORT=${LAB_MAIL_LISTEN_PORT:-0}

# lab_mark LABEL: an event at this moment (wall clock, microseconds), for
# the plot: a SIGHUP, a fix.
lab_mark() {
	echo "$(date +%s%6N) $*" >>"$LAB_OUT/marks"
}

# lab_slowdns ARGS...: starts slowdns on a free port; sets DNS_PORT.
lab_slowdns() {
	# shellcheck disable=SC2086
	$LAB_AT_DNS "$(lab_bin slowdns)" -l "$LAB_DNS_HOST:$LAB_DNS_LISTEN_PORT" "$@" >"$LAB_OUT/slowdns.log" 2>&1 9>&- &
	DNS_PID=$!
	lab_track "$DNS_PID"
	lab_wait_line "$LAB_OUT/slowdns.log" "listening on" 10 "$DNS_PID" || lab_die "slowdns did not start"
	DNS_PORT=$(lab_port_of "$LAB_OUT/slowdns.log" "listening on")
}

# lab_bannerd ARGS...: starts bannerd on free ports, its lookups sent to
# our slowdns only (never the machine's resolver); sets BD_PORT,
# METRICS_PORT, BD_PID. The protocol log (text) is $LAB_OUT/bannerd.log.
lab_bannerd() {
	[ -n "${DNS_PORT:-}" ] || lab_die "start slowdns before bannerd"
	# shellcheck disable=SC2086
	$LAB_AT_MAIL "$(lab_bin bannerd)" -f "$@" -o listen.address="$LAB_MAIL_HOST:$LAB_MAIL_LISTEN_PORT" \
		-o rdns.servers="$LAB_DNS_HOST:$DNS_PORT" -o metrics.listen=127.0.0.1:0 \
		-o log.format=text -o log.target="$LAB_OUT/bannerd.log" \
		2>"$LAB_OUT/bannerd.stderr" 9>&- &
	BD_PID=$!
	lab_track "$BD_PID"
	lab_wait_line "$LAB_OUT/bannerd.log" "metrics on http" 10 "$BD_PID" || {
		cat "$LAB_OUT/bannerd.stderr" >&2
		lab_die "bannerd did not start"
	}
	BD_PORT=$(lab_port_of "$LAB_OUT/bannerd.log" "listening on")
	METRICS_PORT=$(sed -n 's/.*metrics on http:\/\/127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$LAB_OUT/bannerd.log" | head -1)
}

# lab_probe ARGS...: smtpprobe against bannerd (or $PROBE_PORT), JSON and
# CSV into $LAB_OUT, in the background and waited for, so that a signal
# stops the run at once. Returns smtpprobe's exit code. LAB_CLIENTS=N
# (N > 1) shares the load among N smtpprobe processes (lab_probe_clients).
lab_probe() {
	# LAB_CLIENTS is checked by scripts/lab before anything starts.
	if [ "${LAB_CLIENTS:-1}" -gt 1 ] 2>/dev/null; then
		lab_probe_clients "$LAB_CLIENTS" "$@"
		return
	fi
	# shellcheck disable=SC2086
	$LAB_AT_SENDER "$(lab_bin smtpprobe)" "$@" --json "$LAB_OUT/probe.json" --csv "$LAB_OUT/probe.csv" \
		"${PROBE_HOST:-$LAB_MAIL_HOST}:${PROBE_PORT:-$BD_PORT}" >"$LAB_OUT/probe.txt" 2>&1 9>&- &
	probe_pid=$!
	lab_track "$probe_pid"
	wait "$probe_pid"
}

# lab_load_share N I ARGS...: client I's (0-based) share of a load of N
# clients, as words: -n/--connections split with the remainder to the
# first clients, -r/--rate divided, -c/--concurrency rounded up; every
# other option as it is. Prints nothing when the share has no attempt.
lab_load_share() {
	awk -v n="$1" -v i="$2" 'BEGIN {
		for (a = 3; a < ARGC; a++) {
			w = ARGV[a]; out = out (out == "" ? "" : " ") w
			if (a + 1 >= ARGC) continue
			v = ARGV[a + 1]
			if (w == "-n" || w == "--connections") {
				v = int(v / n) + (i < v % n ? 1 : 0)
				if (v == 0) exit
			} else if (w == "-r" || w == "--rate")
				v = sprintf("%g", v / n)
			else if (w == "-c" || w == "--concurrency")
				v = int((v + n - 1) / n)
			else
				continue
			out = out " " v; a++
		}
		print out
	}' "$@"
}

# lab_probe_clients N ARGS...: the load from N smtpprobe processes at
# once (the load shared by lab_load_share), as a class of machines would
# send it; `smtpprobe merge` makes $LAB_OUT/probe.json of their runs, and
# their CSVs are concatenated with the attempts renumbered, so each try
# still joins bannerd's line for its connection by the source port.
lab_probe_clients() {
	lp_n=$1
	shift
	lp_pids="" lp_files="" lp_i=0
	while [ "$lp_i" -lt "$lp_n" ]; do
		lp_share=$(lab_load_share "$lp_n" "$lp_i" "$@")
		if [ -n "$lp_share" ]; then
			# shellcheck disable=SC2086
			$LAB_AT_SENDER "$(lab_bin smtpprobe)" $lp_share --client "lab-$lp_i" \
				--json "$LAB_WORK/probe.$lp_i.json" --csv "$LAB_WORK/probe.$lp_i.csv" \
				"${PROBE_HOST:-$LAB_MAIL_HOST}:${PROBE_PORT:-$BD_PORT}" >"$LAB_OUT/probe.$lp_i.txt" 2>&1 9>&- &
			lab_track $!
			lp_pids="$lp_pids $!" lp_files="$lp_files $LAB_WORK/probe.$lp_i.json"
		fi
		lp_i=$((lp_i + 1))
	done
	lp_rc=0
	for lp_p in $lp_pids; do
		wait "$lp_p" || lp_rc=$?
	done
	# shellcheck disable=SC2086
	"$(lab_bin smtpprobe)" merge --json "$LAB_OUT/probe.json" $lp_files >"$LAB_OUT/probe.txt" 2>&1 || lp_rc=$?
	lp_csvs=""
	for lp_f in $lp_files; do
		[ ! -f "${lp_f%.json}.csv" ] || lp_csvs="$lp_csvs ${lp_f%.json}.csv"
	done
	# shellcheck disable=SC2086
	[ -z "$lp_csvs" ] || awk -F, -v OFS=, 'FNR == 1 { base = top; if (NR == 1) print; next }
		{ $1 += base; if ($1 > top) top = $1; print }' $lp_csvs >"$LAB_OUT/probe.csv"
	return "$lp_rc"
}

lab_scrape() {
	# shellcheck disable=SC2086
	$LAB_AT_MAIL curl -fsS --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics" >"$LAB_OUT/metrics.txt" ||
		lab_note "metrics scrape failed"
}

lab_metric() {	# NAME (with labels, exactly as exposed) -> value or 0
	awk -v n="$1" '$1 == n { v = $2 } END { print (v == "" ? 0 : v) }' "$LAB_OUT/metrics.txt" 2>/dev/null
}

# A scenario's own figure, for its expectations: "name value".
lab_fig() {	# NAME VALUE
	echo "$1 $2" >>"$LAB_OUT/figures.extra"
}

lab_get() {	# NAME -> value of a figure of the analysed run (empty when unknown)
	awk -v n="$1" '$1 == n { v = $2 } END { print v }' "$LAB_OUT/figures" 2>/dev/null
}

# lab_analyse NAME CAUSE THRESHOLD LABEL: the analysis of the finished
# run in $LAB_OUT, its expectations from $LAB_OUT/expect; prints the
# verdict; fails when an expectation failed.
lab_analyse() {
	lab_py analyse "$LAB_OUT" --name "$1" --article "$2" --mode "$LAB_MODE" --scale "$LAB_SCALE" \
		--threshold "$3" --threshold-label "$4" --expect-file "$LAB_OUT/expect"
}

lab_json() {	# FILE DOTTED.KEY -> the value, or "-" when absent
	python3 - "$1" "$2" <<'PY'
import json, sys
try:
    v = json.load(open(sys.argv[1]))
    for k in sys.argv[2].split("."):
        v = v[k]
except (OSError, ValueError, KeyError, TypeError):
    v = "-"
print(v)
PY
}

# scripts/lablib.sh: what scripts/lab and scripts/demo share. Sourced, not
# run. POSIX sh; awk does the arithmetic.
#
# A scenario run goes: lab_begin NAME -> start slowdns / bannerd / the probe
# (lab_slowdns, lab_bannerd, lab_probe) -> lab_scrape -> lab_analyse ->
# lab_expect ... -> lab_plot -> lab_verdict -> lab_end. Everything started
# is recorded by PID in $LAB_WORK/pids and stopped by lab_cleanup, which
# the caller runs from its EXIT/INT/TERM trap.

LAB_BUILD=${BUILD:-build}
LAB_SCALE=${LAB_SCALE:-1}

lab_die() {
	echo "lab: $*" >&2
	exit 1
}

lab_note() {
	[ -n "${LAB_QUIET:-}" ] || echo "lab: $*" >&2
}

# ---- durations: "5s", "250ms", "1.5s", "300us", bare = seconds ----

lab_us() {	# DURATION -> integer microseconds
	awk -v d="$1" 'BEGIN {
		n = d; u = d
		sub(/[a-z]+$/, "", n); sub(/^[0-9.]+/, "", u)
		m = (u == "us") ? 1 : (u == "ms") ? 1000 : (u == "m") ? 60000000 : (u == "h") ? 3600000000 : 1000000
		printf "%d\n", n * m + 0.5 }'
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

lab_fmt() {	# MICROSECONDS -> "1.23s", "45.6ms", "789us"
	awk -v u="$1" 'BEGIN {
		if (u == "" || u == "-") { print "-"; exit }
		if (u >= 1000000) printf "%.2fs\n", u / 1e6
		else if (u >= 1000) printf "%.1fms\n", u / 1e3
		else printf "%dus\n", u }'
}

# ---- processes ----

lab_track() {	# PID [postfix-config-dir]
	echo "$1" >>"$LAB_WORK/pids"
}

# Stops what this run started, newest first, by PID only: TERM, up to 5 s
# to go (bannerd drains), then KILL. A private Postfix is stopped with its
# own command.
lab_cleanup() {
	[ -n "${LAB_WORK:-}" ] || return 0
	if [ -f "$LAB_WORK/postfix.dir" ]; then
		postfix -c "$(cat "$LAB_WORK/postfix.dir")" stop >/dev/null 2>&1 || true
		rm -f "$LAB_WORK/postfix.dir"
	fi
	[ -f "$LAB_WORK/pids" ] || return 0
	for pid in $(sed '1!G;h;$!d' "$LAB_WORK/pids"); do
		kill "$pid" 2>/dev/null || continue
		i=0
		while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -9 "$pid" 2>/dev/null || true
	done
	rm -f "$LAB_WORK/pids"
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

lab_port_of() {	# FILE PATTERN-BEFORE-ADDRESS -> port
	sed -n "s/.*$2 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p" "$1" | head -1
}

# lab_slowdns ARGS...: starts slowdns on a free port; sets DNS_PORT.
lab_slowdns() {
	"$LAB_BUILD/bin/slowdns" -l 127.0.0.1:0 "$@" >"$LAB_OUT/slowdns.log" 2>&1 &
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
	"$LAB_BUILD/bin/bannerd" -f "$@" -o listen.address=127.0.0.1:0 \
		-o rdns.servers="127.0.0.1:$DNS_PORT" -o metrics.listen=127.0.0.1:0 \
		-o log.format=text -o log.target="$LAB_OUT/bannerd.log" \
		2>"$LAB_OUT/bannerd.stderr" &
	BD_PID=$!
	lab_track "$BD_PID"
	lab_wait_line "$LAB_OUT/bannerd.log" "metrics on http" 10 "$BD_PID" || {
		cat "$LAB_OUT/bannerd.stderr" >&2
		lab_die "bannerd did not start"
	}
	BD_PORT=$(lab_port_of "$LAB_OUT/bannerd.log" "listening on")
	METRICS_PORT=$(sed -n 's/.*metrics on http:\/\/127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$LAB_OUT/bannerd.log" | head -1)
}

# lab_probe ARGS...: smtpprobe against bannerd, JSON and CSV into $LAB_OUT.
lab_probe() {
	"$LAB_BUILD/bin/smtpprobe" "$@" --json "$LAB_OUT/probe.json" --csv "$LAB_OUT/probe.csv" \
		"127.0.0.1:$BD_PORT" >"$LAB_OUT/probe.txt" 2>&1
}

lab_scrape() {
	curl -fsS --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics" >"$LAB_OUT/metrics.txt" ||
		lab_note "metrics scrape failed"
}

lab_metric() {	# NAME (with labels, exactly as exposed) -> value or 0
	awk -v n="$1" '$1 == n { v = $2 } END { print (v == "" ? 0 : v) }' "$LAB_OUT/metrics.txt" 2>/dev/null
}

# Waits (bounded) until bannerd's counter reaches a value: sessions still
# waiting for their lookup are closed, and counted, only when it ends.
lab_wait_metric() {	# NAME MIN SECONDS
	end=$(($(date +%s) + $3))
	while :; do
		lab_scrape
		awk -v v="$(lab_metric "$1")" -v m="$2" 'BEGIN { exit !(v >= m) }' && return 0
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.2
	done
}

# ---- figures: one "name value" per line in $LAB_OUT/figures ----

lab_fig() {	# NAME VALUE
	echo "$1 $2" >>"$LAB_OUT/figures"
}

lab_get() {	# NAME -> value (empty when unknown)
	awk -v n="$1" '$1 == n { v = $2 } END { print v }' "$LAB_OUT/figures"
}

# smtpprobe's JSON flattened to "a.b value": stage objects, outcome
# counts, would_give_up shares. Only the shape smtpprobe writes.
lab_flatten_probe() {
	awk '
	function emit(k, v) { gsub(/[",{}[:space:]]/, "", v); if (v != "") print k, v }
	/^  "[a-z_]+": \{[^}]*\},?$/ {
		k = $0; sub(/^  "/, "", k); sub(/".*/, "", k)
		body = $0; sub(/^[^{]*\{/, "", body); sub(/\}.*/, "", body)
		n = split(body, kv, /, /)
		for (i = 1; i <= n; i++) {
			split(kv[i], p, /": /); f = p[1]; gsub(/"/, "", f)
			emit(k "." f, p[2])
		}
		next
	}
	/^  "[a-z_]+": [^{]/ {
		k = $0; sub(/^  "/, "", k); sub(/".*/, "", k)
		v = $0; sub(/^[^:]*: /, "", v); emit(k, v)
	}' "$1"
}

# bannerd's close lines: per stage sums, the share of each in the banner,
# and how each grew from the first third of the sessions to the last
# (sessions in accept order, which is the session id's).
lab_analyse_log() {
	awk '
	function us(v,   n, u) {
		if (v == "" || v == "-") return -1
		n = v; u = v; sub(/[a-z]+$/, "", n); sub(/^[0-9.]+/, "", u)
		return n * (u == "us" ? 1 : u == "ms" ? 1000 : 1000000)
	}
	/ close sid=/ {
		sid = ""; delete f
		for (i = 1; i <= NF; i++) {
			eq = index($i, "="); if (!eq) continue
			f[substr($i, 1, eq - 1)] = substr($i, eq + 1)
		}
		n++; id[n] = f["sid"] + 0
		out[f["outcome"]]++
		if ("rdns_result" in f) rr[f["rdns_result"]]++
		if (f["client"] != "" && f["client"] != "unknown" && f["client"] != "-") names++
		b = us(f["banner"]); bn[n] = b
		for (s = 1; s <= ns; s++) { v = us(f[st[s]]); val[n, s] = v }
		next
	}
	BEGIN { ns = split("queue rdns_wait rdns delay write", st, " ") }
	END {
		print "sessions", n + 0
		print "names", names + 0
		for (o in out) print "close." o, out[o]
		for (r in rr) print "rdns_result." r, rr[r]
		if (n == 0) { print "dominant none"; print "growing none"; exit }
		# accept order
		for (i = 1; i <= n; i++) ord[i] = i
		for (i = 2; i <= n; i++) { j = i; while (j > 1 && id[ord[j-1]] > id[ord[j]]) { t = ord[j]; ord[j] = ord[j-1]; ord[j-1] = t; j-- } }
		third = int(n / 3); if (third < 1) third = 1
		total = 0
		for (s = 1; s <= ns; s++) {
			sum[s] = 0; e = 0; l = 0; ec = 0; lc = 0
			for (k = 1; k <= n; k++) {
				v = val[ord[k], s]; if (v < 0) v = 0
				sum[s] += v
				if (k <= third) { e += v; ec++ }
				if (k > n - third) { l += v; lc++ }
			}
			early[s] = ec ? e / ec : 0; late[s] = lc ? l / lc : 0
			total += sum[s]
		}
		best = 0; grow = 0; shrink = 0; dom = "none"; gr = "none"; sh = "none"
		for (s = 1; s <= ns; s++) {
			share = total > 0 ? 100 * sum[s] / total : 0
			printf "stage.%s.mean %d\n", st[s], sum[s] / n
			printf "stage.%s.share %.1f\n", st[s], share
			printf "stage.%s.early %d\n", st[s], early[s]
			printf "stage.%s.late %d\n", st[s], late[s]
			if (sum[s] > best) { best = sum[s]; dom = st[s] }
			if (late[s] - early[s] > grow) { grow = late[s] - early[s]; gr = st[s] }
			if (early[s] - late[s] > shrink) { shrink = early[s] - late[s]; sh = st[s] }
		}
		print "dominant", dom
		print "growing", gr
		print "shrinking", sh
		printf "stages.mean %d\n", total / n
	}' "$1"
}

# From the probe CSV: the client-side trend (first third of the attempts
# against the last), the share that a client with the scenario threshold
# would give up on, and the peak.
lab_analyse_csv() {	# CSV THRESHOLD_US
	awk -F, -v thr="$2" '
	NR == 1 { next }
	{
		n++
		w = ($5 > 0) ? $5 : ($6 - $4)		# banner, or how long it waited
		wait[n] = w
		if ($7 == "gave_up" || $7 == "ndr" || (thr > 0 && $5 > thr)) over++
		if ($5 > 0) greeted++
	}
	END {
		if (n == 0) { print "csv.tries 0"; exit }
		third = int(n / 3); if (third < 1) third = 1
		for (i = 1; i <= third; i++) e += wait[i]
		for (i = n - third + 1; i <= n; i++) l += wait[i]
		printf "csv.tries %d\n", n
		printf "banner.early %d\n", e / third
		printf "banner.late %d\n", l / third
		printf "banner.trend %.2f\n", (e > 0) ? l / e : 0
		printf "gave_up.share %.3f\n", over / n
		printf "gave_up.count %d\n", over
	}' "$1"
}

lab_analyse() {	# THRESHOLD_US
	: >"$LAB_OUT/figures"
	[ -f "$LAB_OUT/probe.json" ] && lab_flatten_probe "$LAB_OUT/probe.json" >>"$LAB_OUT/figures"
	[ -f "$LAB_OUT/bannerd.log" ] && lab_analyse_log "$LAB_OUT/bannerd.log" >>"$LAB_OUT/figures"
	[ -f "$LAB_OUT/probe.csv" ] && lab_analyse_csv "$LAB_OUT/probe.csv" "$1" >>"$LAB_OUT/figures"
	if [ -f "$LAB_OUT/metrics.txt" ]; then
		lab_fig metrics.abandoned "$(lab_metric bannerd_abandoned_total)"
		lab_fig metrics.banners "$(lab_metric bannerd_banners_total)"
		lab_fig metrics.connections "$(lab_metric bannerd_connections_total)"
		lab_fig metrics.rejected_max_sessions "$(lab_metric 'bannerd_rejected_total{reason="max_sessions"}')"
	fi
	lab_fig threshold "$1"
}

# ---- expectations ----
# One per line: FIGURE OP VALUE, OP one of == != <= >= < >; a VALUE with a
# time unit is converted to microseconds; == and != on words compare text.
# Lines starting with # are ignored. Appends "PASS|FAIL text (actual)" to
# $LAB_OUT/checks; returns 1 when any failed.
lab_expect() {
	echo "$1" | while read -r fig op want rest; do
		[ -n "$fig" ] || continue
		case "$fig" in \#*) continue ;; esac
		have=$(lab_get "$fig")
		case "$want" in
		*[0-9]us|*[0-9]ms|*[0-9]s|*[0-9]m)
			wantn=$(lab_us "$want")
			want=$(lab_fmt "$wantn")
			shown=$(lab_fmt "$have") ;;
		*) wantn=$want shown=$have ;;
		esac
		if awk -v a="$have" -v op="$op" -v b="$wantn" 'BEGIN {
			num = (a ~ /^-?[0-9.]+$/ && b ~ /^-?[0-9.]+$/)
			if (a == "") exit 1
			if (num) { a += 0; b += 0 }
			if (op == "==") exit !(a == b)
			if (op == "!=") exit !(a != b)
			if (!num) exit 1
			if (op == "<=") exit !(a <= b)
			if (op == ">=") exit !(a >= b)
			if (op == "<") exit !(a < b)
			if (op == ">") exit !(a > b)
			exit 1 }'; then
			echo "PASS $fig $op $want (actual ${shown:-none})"
		else
			echo "FAIL $fig $op $want (actual ${shown:-none})"
		fi
	done >>"$LAB_OUT/checks"
	! grep -q '^FAIL' "$LAB_OUT/checks"
}

# ---- the plot ----

# lab_plot TITLE THRESHOLD_US THRESHOLD_LABEL [MARK_US MARK_LABEL]: banner
# latency of every try against the time it started, one colour per
# outcome; a try without a banner is drawn at the time it waited. The
# give-up threshold is a horizontal line, an event (a reload) a vertical one.
lab_plot() {
	[ -s "$LAB_OUT/probe.csv" ] || return 0
	command -v gnuplot >/dev/null 2>&1 || { lab_note "no gnuplot: no plot"; return 0; }
	csv=$LAB_OUT/probe.csv
	ymax=$(awk -F, 'NR > 1 { w = ($5 > 0) ? $5 : $6 - $4; if (w > m) m = w } END { print m + 0 }' "$csv")
	xmax=$(awk -F, 'NR > 1 && $3 > m { m = $3 } END { print m + 0 }' "$csv")
	yu=s yd=1000000 xu=s xd=1000000
	awk -v m="$ymax" -v t="$2" 'BEGIN { exit !(m < 2000000 && t < 2000000) }' && yu=ms yd=1000
	awk -v m="$xmax" -v t="${4:-0}" 'BEGIN { exit !(m < 2000000 && t < 2000000) }' && xu=ms xd=1000
	mark=""
	if [ -n "${4:-}" ]; then
		x=$(awk -v u="$4" -v d="$xd" 'BEGIN { print u / d }')
		mark="set arrow from $x, graph 0 to $x, graph 1 nohead lc rgb '#555555' dt 2 lw 2
set label '$5' at $x, graph 0.75 offset 0.5,0 tc rgb '#333333'"
	fi
	thr=$(awk -v u="$2" -v d="$yd" 'BEGIN { print u / d }')
	# One series per outcome present, so the key lists only what happened.
	series=""
	for spec in "ok|7|0.7|#2e8b57|ok" "gave_up|9|0.9|#ff8c00|gave up (will retry)" \
		"ndr|5|0.8|#d62728|ndr (every try gave up: bounced)" "tempfail|11|0.9|#8e44ad|421 (tempfail)" \
		"reset|2|0.8|#7f7f7f|reset" "error|2|0.8|#000000|error" "refused|2|0.8|#7f7f7f|refused" \
		"permfail|2|0.8|#7f7f7f|5xx"; do
		o=${spec%%|*} r=${spec#*|}
		pt=${r%%|*} r=${r#*|}
		ps=${r%%|*} r=${r#*|}
		lc=${r%%|*} label=${r#*|}
		awk -F, -v o="$o" 'NR > 1 && $7 == o { f = 1; exit } END { exit !f }' "$csv" || continue
		series="$series '$csv' every ::1 using (\$3/$xd.0):(strcol(7) eq '$o' ? w(0) : NaN) with points pt $pt ps $ps lc rgb '$lc' title '$label',"
	done
	gnuplot >"$LAB_OUT/gnuplot.log" 2>&1 <<GP || lab_note "gnuplot failed: see $LAB_OUT/gnuplot.log"
set terminal pngcairo size 960,540 font 'DejaVu Sans,11'
set output '$LAB_OUT/banner.png'
set datafile separator ','
set title "$1" noenhanced
set xlabel 'when the try started ($xu since the start of the load)'
set ylabel 'time to the 220 banner ($yu)'
set key top left opaque box noenhanced
set grid ytics lc rgb '#dddddd'
set yrange [0:*]
set offsets 0, graph 0.02, graph 0.25, 0
$mark
w(x) = (column(5) > 0 ? column(5) : column(6) - column(4)) / $yd.0
plot $series $thr with lines lw 2 dt 2 lc rgb '#d62728' title "$3"
GP
}

# ---- the verdict and summary.json ----

# The cause, as bannerd's stage timings explain it.
lab_cause() {
	dom=$(lab_get dominant) grow=$(lab_get growing) trend=$(lab_get banner.trend)
	p99=$(lab_get banner.p99) inside=$(lab_get stages.mean)
	if awk -v p="${p99:-0}" -v i="${inside:-0}" 'BEGIN { exit !(p < 50000 && i < 50000) }'; then
		echo "none: the banner is immediate (p99 $(lab_fmt "$p99")); no stage holds it back"
		return
	fi
	# Slow for the client, fast inside bannerd: the time is on the path.
	if awk -v p="${p99:-0}" -v i="${inside:-0}" 'BEGIN { exit !(p >= 50000 && i < 50000 && p > 10 * i) }'; then
		echo "the path: bannerd sent every banner within $(lab_fmt "$inside") on average, the client waited $(lab_fmt "$p99") (p99); a packet filter or firewall between them"
		return
	fi
	rising=0
	awk -v t="${trend:-0}" 'BEGIN { exit !(t >= 2) }' && rising=1
	what=$dom
	[ "$rising" -eq 0 ] || what=$grow
	case "$what" in
	queue) echo "queueing for a worker slot (pool.workers x sessions_per_worker): an untuned server, the Performance Optimizer never run" ;;
	rdns_wait) echo "queueing for a resolver thread (rdns.threads): an untuned resolver pool, the Performance Optimizer never run" ;;
	rdns) echo "the reverse-DNS lookup itself (done because protocol logging is on): the DNS server is slow or dead" ;;
	delay) echo "a delay before the banner that is neither queueing nor the lookup (rdns and queue are ~0): a packet filter or firewall" ;;
	write) echo "writing the banner: the network or the client" ;;
	*) echo "no stage inside bannerd: look at the path between client and server" ;;
	esac
	[ "$rising" -eq 0 ] || echo "  (rising: the banner grows over the run, x$trend from the first third to the last, and $grow is the part that grows)"
	if awk -v t="${trend:-1}" 'BEGIN { exit !(t > 0 && t <= 0.5) }'; then
		echo "  (falling: x$trend from the first third to the last; $(lab_get shrinking) is the part that shrank)"
	fi
}

lab_verdict() {	# NAME CAUSE-IN-ARTICLE
	n=$1
	{
		echo "== $n: $2 ($LAB_MODE run)"
		[ ! -f "$LAB_OUT/probe.json" ] || {
		echo "client sees: banner p50 $(lab_fmt "$(lab_get banner.p50)")  p99 $(lab_fmt "$(lab_get banner.p99)")  max $(lab_fmt "$(lab_get banner.max)")  (first third $(lab_fmt "$(lab_get banner.early)") -> last third $(lab_fmt "$(lab_get banner.late)"))"
		printf 'outcomes:'
		for o in ok gave_up ndr refused reset tempfail permfail error; do
			v=$(lab_get "outcome.$o")
			[ -z "$v" ] || [ "$v" = 0 ] || printf ' %s %s' "$o" "$v"
		done
		echo "   gave up at $(lab_fmt "$(lab_get threshold)"): $(awk -v s="$(lab_get gave_up.share)" 'BEGIN { printf "%.0f%%", 100 * s }') of the tries"
		}
		if [ "$(lab_get sessions)" != "" ] && [ "$(lab_get sessions)" != 0 ]; then
			echo "bannerd's stages ($(lab_get sessions) sessions; mean, share, first third -> last third):"
			for s in queue rdns_wait rdns delay write; do
				printf '  %-9s %9s %5s%%  %9s -> %s\n' "$s" "$(lab_fmt "$(lab_get "stage.$s.mean")")" \
					"$(lab_get "stage.$s.share")" "$(lab_fmt "$(lab_get "stage.$s.early")")" \
					"$(lab_fmt "$(lab_get "stage.$s.late")")"
			done
			echo "cause: $(lab_cause)"
		fi
		if [ -f "$LAB_OUT/probe.txt" ] && grep -q '^who would give up' "$LAB_OUT/probe.txt"; then
			sed -n '/^who would give up/,$p' "$LAB_OUT/probe.txt"
			[ "$LAB_MODE" = full ] || echo "  (a --quick run: times are x$LAB_SCALE, the profiles' thresholds are real)"
		fi
		[ ! -f "$LAB_OUT/extra" ] || cat "$LAB_OUT/extra"
		[ ! -f "$LAB_OUT/banner.png" ] || echo "plot: $LAB_OUT/banner.png"
		if [ -s "$LAB_OUT/checks" ]; then
			grep '^FAIL' "$LAB_OUT/checks" || true
			echo "expectations: $(grep -c '^PASS' "$LAB_OUT/checks") passed, $(grep -c '^FAIL' "$LAB_OUT/checks") failed"
		fi
	} | tee "$LAB_OUT/verdict.txt"
}

lab_json_str() {
	printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"
}

lab_summary() {	# NAME CAUSE PASS(true|false)
	{
		printf '{\n  "scenario": %s,\n  "cause": %s,\n  "mode": "%s",\n  "scale": %s,\n  "pass": %s,\n' \
			"$(lab_json_str "$1")" "$(lab_json_str "$2")" "$LAB_MODE" "$LAB_SCALE" "$3"
		printf '  "verdict": %s,\n' "$(lab_json_str "$(lab_cause | head -1)")"
		printf '  "checks": ['
		sep=""
		[ ! -f "$LAB_OUT/checks" ] || while IFS= read -r l; do
			printf '%s\n    %s' "$sep" "$(lab_json_str "$l")"
			sep=","
		done <"$LAB_OUT/checks"
		printf '\n  ],\n  "figures": {'
		awk 'BEGIN { s = "" } {
			v = $2; if (v !~ /^-?[0-9.]+$/) v = "\"" v "\""
			printf "%s\n    \"%s\": %s", s, $1, v; s = "," }' "$LAB_OUT/figures"
		printf '\n  }\n}\n'
	} >"$LAB_OUT/summary.json"
}

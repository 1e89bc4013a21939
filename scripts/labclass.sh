# scripts/labclass.sh: scripts/lab class NAME, a scenario for a class.
# Sourced by scripts/lab after lablib.sh. POSIX sh, process control only.
#
# A class session starts the scenario's servers (slowdns and bannerd)
# with their control sockets in the results folder, and an open-loop smtpprobe load at the scenario's rate
# until Ctrl-C (at most LAB_CLASS_MAX). The trainer changes a cause and
# its fix live with bannerctl or the live page, and watches the banner
# follow. Ctrl-C stops the load with SIGINT (smtpprobe writes its
# results), then the servers, and writes the usual results with every
# live change marked and a verdict per interval between changes.
#
# A scenario's class part (all optional):
#   class_rate      the load's rate (new connections a second); default
#                   the scenario's -r, else 2/s (in the run's time scale)
#   class_profile   the sender the running verdict judges by (a name from
#                   smtpprobe --profile list); default the scenario's
#                   threshold; LAB_CLASS_PROFILE overrides both
#   class_cmds      one command a line: KIND TARGET WORDS... -- WHAT
#                   KIND cause or fix, TARGET bannerd or slowdns
#                   (whose socket bannerctl -s is given), WORDS what
#                   bannerctl sends, WHAT the one-line why
# Without class_cmds the commands of CLASS_GENERIC are printed.

LAB_CLASS_MAX=${LAB_CLASS_MAX:-2h}
CLASS_GRACE_S=2	# smtpprobe's --grace: the attempts in flight at Ctrl-C

CLASS_GENERIC="
cause bannerd set log.protocol_log=maximum -- the protocol log turns the reverse lookup on (rdns.enabled = auto)
fix bannerd set rdns.enabled=off -- no lookup before the banner
cause bannerd set banner.delay=8s -- a delay before the banner, as a packet filter holds it
fix bannerd set banner.delay=0 -- no delay
cause bannerd set pool.workers=1 pool.sessions_per_worker=1 -- one session at a time: the rest queue
fix bannerd unset pool.workers pool.sessions_per_worker -- back to the file's pool
any bannerd show -- every key and its value now
any bannerd stats -- the SIGUSR1 figures
"

class_defaults() {
	class_rate="" class_profile="" class_cmds=""
}

# The rate of the load: class_rate, else the scenario's -r, else 2/s.
class_rate_of() {
	[ -z "$class_rate" ] || { echo "$class_rate"; return; }
	r=$(printf '%s\n' "$load" | awk '{ for (i = 1; i < NF; i++) if ($i == "-r" || $i == "--rate") print $(i + 1) }' | head -1)
	[ -n "$r" ] || r=$(R 2)
	echo "$r"
}

# The scenario's -c, else enough in flight for 2 minutes of banners at
# the rate, within 1000.
class_concurrency() {	# RATE
	c=$(printf '%s\n' "$load" | awk '{ for (i = 1; i < NF; i++) if ($i == "-c" || $i == "--concurrency") print $(i + 1) }' | head -1)
	[ -n "$c" ] || c=$(awk -v r="$1" 'BEGIN { c = int(r * 120) + 1; print (c > 1000) ? 1000 : c }')
	echo "$c"
}

# The sender the running verdict judges by: sets threshold and
# threshold_label from a profile of smtpprobe's, scaled like the run.
class_sender() {
	p=${LAB_CLASS_PROFILE:-$class_profile}
	[ -n "$p" ] || return 0
	g=$("$(lab_bin smtpprobe)" --profile list | awk -v p="$p" '$1 == p { print $2 }')
	[ -n "$g" ] || lab_die "no sender profile '$p' (smtpprobe --profile list)"
	threshold=$(T "$g")
	threshold_label="$p ($(awk -v u="$(lab_us "$g")" 'BEGIN { printf "%g s", u / 1e6 }'))"
}

# What this build supports: the control sockets came with the class mode.
class_bannerd_controls() {
	"$(lab_bin bannerd)" -t -o server.control_socket=/nonexistent/bannerd.sock \
		-o metrics.listen=127.0.0.1:0 -o metrics.control=on >/dev/null 2>&1
}

class_has_control_option() {	# PROGRAM
	"$(lab_bin "$1")" --help 2>&1 | grep -q -- '--control'
}

# A control socket's path: in the results folder, unless its path is
# too long for a UNIX socket (108 bytes), then in the work directory.
class_sock() {	# NAME
	s="$LAB_OUT/$1.sock"
	[ "${#s}" -le 100 ] || s="$LAB_WORK/$1.sock"
	echo "$s"
}

# A command's words with the scaled durations ($(T 5s): 250000us) as a
# trainer would type them: 250ms, 5s.
class_words() {	# WORDS
	printf '%s\n' "$1" | awk '{
		for (i = 1; i <= NF; i++)
			if (match($i, /=[0-9]+us$/)) {
				v = substr($i, RSTART + 1, RLENGTH - 3) + 0
				u = (v % 1000000 == 0) ? sprintf("%ds", v / 1000000) : (v % 1000 == 0) ? sprintf("%dms", v / 1000) : v "us"
				$i = substr($i, 1, RSTART) u
			}
		print }'
}

# The commands to paste, for the sockets this session has.
class_print_cmds() {
	ctl=$(lab_bin bannerctl)
	case "$ctl" in /*) ;; *) ctl=$LAB_ROOT/$ctl ;; esac
	printf '%s\n' "${class_cmds:-$CLASS_GENERIC}" | while read -r kind target rest; do
		[ -n "$kind" ] || continue
		words=${rest%% -- *}
		why=""
		case "$rest" in *" -- "*) why=${rest#* -- } ;; esac
		case "$target" in
		bannerd) sock=$BD_SOCK ;;
		slowdns) sock=$DNS_SOCK ;;
		*) sock="" ;;
		esac
		[ -n "$sock" ] || continue
		printf '  %-5s %s -s %s %s\n' "$kind" "$ctl" "$sock" "$(class_words "$words")"
		[ -z "$why" ] || printf '        # %s\n' "$why"
	done
}

# The metrics scrape, kept only when it worked (bannerd may be stopping).
class_scrape() {
	curl -fsS --max-time 3 "http://127.0.0.1:$METRICS_PORT/metrics" >"$LAB_WORK/metrics.new" 2>/dev/null &&
		mv "$LAB_WORK/metrics.new" "$LAB_OUT/metrics.txt"
}

# A nap that a signal ends at once, and leaves no sleep behind.
class_nap() {	# SECONDS
	sleep "$1" &
	nap=$!
	wait "$nap"
	kill "$nap" 2>/dev/null
	wait "$nap" 2>/dev/null
	return 0
}

# Stops smtpprobe so that it writes its results: one SIGINT, never two
# (a second one makes it quit without them). A Ctrl-C on the terminal
# reaches the whole process group, smtpprobe included, which then ends
# within its --grace: so at the lab's own SIGINT, wait that long first,
# and send one only if it is still running (the lab alone was signalled).
# At a TERM to the lab, send it at once. TERM after 10 s more.
class_stop_load() {	# int|term
	i=0
	while [ "$1" = int ] && kill -0 "$probe_pid" 2>/dev/null && [ "$i" -lt $((CLASS_GRACE_S * 10 + 10)) ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -INT "$probe_pid" 2>/dev/null
	i=0
	while kill -0 "$probe_pid" 2>/dev/null && [ "$i" -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$probe_pid" 2>/dev/null; then
		lab_note "smtpprobe did not stop at SIGINT within 10 s: TERM (its results may be missing)"
		kill -TERM "$probe_pid" 2>/dev/null
	fi
	wait "$probe_pid" 2>/dev/null
}

class_run() {	# NAME
	name=$1
	[ -f "scripts/scenarios/$name" ] || lab_die "no scenario '$name' (scripts/lab list)"
	max_us=$(lab_us "$LAB_CLASS_MAX" 2>/dev/null)
	[ -n "$max_us" ] && [ "$max_us" -gt 0 ] ||
		lab_die "LAB_CLASS_MAX=$LAB_CLASS_MAX: give the longest session as a duration, e.g. 2h, 45m"
	! grep -q '^topology=yes' "scripts/scenarios/$name" ||
		lab_die "$name runs across the topology's namespaces; a class session runs on loopback (scripts/lab topology is the class mode of those)"
	lab_lock "class-$name"
	LAB_OUT=$LAB_RESULTS/class-$name
	rm -rf "$LAB_OUT"
	mkdir -p "$LAB_OUT"
	LAB_OUT=$(cd "$LAB_OUT" && pwd)
	LAB_WORK=$(mktemp -d /tmp/bannerlab.XXXXXX)
	trap 'lab_cleanup; [ -n "${LAB_KEEP:-}" ] || rm -rf "$LAB_WORK"' EXIT
	stop=""
	trap 'stop=int' INT
	trap 'stop=term' TERM
	scenario_defaults
	class_defaults
	. "scripts/scenarios/$name"
	if command -v scenario_run >/dev/null 2>&1; then
		lab_die "$name starts its own programs (scenario_run); a class session runs the scenarios" \
			"made of slowdns, bannerd and the load, e.g. baseline, untuned, protocol-logging, slow-dns"
	fi
	if command -v scenario_requires >/dev/null 2>&1 && ! why=$(scenario_requires); then
		lab_die "$name cannot run here: $why"
	fi
	class_sender
	[ "$LAB_MODE" = full ] || [ "$threshold_scaled" = no ] || threshold_label="$threshold_label, x$LAB_SCALE"
	if command -v prepare >/dev/null 2>&1; then
		prepare
	fi

	DNS_SOCK="" BD_SOCK="" url=""
	if class_has_control_option slowdns; then
		DNS_SOCK=$(class_sock slowdns)
		# shellcheck disable=SC2086
		lab_slowdns $dns --control "$DNS_SOCK"
	else
		lab_note "this slowdns has no --control: its fault is fixed for the session"
		# shellcheck disable=SC2086
		lab_slowdns $dns
	fi
	ctl_args=""
	if class_bannerd_controls; then
		BD_SOCK=$(class_sock bannerd)
		ctl_args="-o server.control_socket=$BD_SOCK -o metrics.control=on"
	else
		lab_note "this bannerd has no control socket (server.control_socket): changes by SIGHUP only"
	fi
	# shellcheck disable=SC2086
	lab_bannerd $bannerd $ctl_args ${LAB_BANNERD_ARGS:-}
	if [ -n "$BD_SOCK" ] && lab_wait_line "$LAB_OUT/bannerd.log" "live page: http" 5 "$BD_PID"; then
		url=$(sed -n 's/.*live page: \(http[^ "]*\).*/\1/p' "$LAB_OUT/bannerd.log" | head -1)
	fi
	PROBE_PORT=$BD_PORT

	rate=$(class_rate_of)
	conc=$(class_concurrency "$rate")
	cat <<EOF
lab: class session: $name ($cause)
  load: $rate new connections a second, open loop, until Ctrl-C (at most $LAB_CLASS_MAX)
  live page: ${url:-none (this bannerd has no live page); metrics at http://127.0.0.1:$METRICS_PORT/metrics}
  the running verdict judges by: $threshold_label
causes and fixes (paste into another terminal):
EOF
	class_print_cmds
	echo "Ctrl-C ends the session and writes $LAB_OUT"

	threshold_arg=$(awk -v u="$(lab_us "$threshold")" 'BEGIN { printf "%dus", u }')
	# python itself in the background (not lab_py, a function: its
	# subshell's PID would be the one tracked and stopped)
	PYTHONPATH="$LAB_ROOT/scripts${PYTHONPATH:+:$PYTHONPATH}" python3 -m labanalysis watch "$LAB_OUT" --live "${url:+http://127.0.0.1:$METRICS_PORT/live}" \
		--threshold "$threshold_arg" --threshold-label "$threshold_label" 9>&- &
	watch_pid=$!
	lab_track "$watch_pid"

	started=$(date +%s)
	# shellcheck disable=SC2086
	"$(lab_bin smtpprobe)" -r "$rate" -d "$LAB_CLASS_MAX" -c "$conc" --grace "${CLASS_GRACE_S}s" \
		--json "$LAB_OUT/probe.json" --csv "$LAB_OUT/probe.csv" \
		"$LAB_MAIL_HOST:$PROBE_PORT" >"$LAB_OUT/probe.txt" 2>&1 9>&- &
	probe_pid=$!
	lab_track "$probe_pid"
	# until Ctrl-C or the load's end; the scrape is kept fresh, as
	# bannerd may be gone by the time the session ends
	n=0
	while [ -z "$stop" ] && kill -0 "$probe_pid" 2>/dev/null; do
		class_nap 1
		n=$((n + 1))
		[ $((n % 5)) -ne 0 ] || [ -n "$stop" ] || class_scrape
	done
	trap '' INT
	trap 'exit 130' TERM
	class_stop_load "${stop:-int}"
	kill "$watch_pid" 2>/dev/null
	wait "$watch_pid" 2>/dev/null
	echo
	echo "lab: class session ended after $(($(date +%s) - started)) s; writing $LAB_OUT"
	! kill -0 "$BD_PID" 2>/dev/null || class_scrape
	lab_cleanup
	lab_fig elapsed_s $(($(date +%s) - started))
	: >"$LAB_OUT/expect"
	lab_py analyse "$LAB_OUT" --name "class-$name" --article "$cause" --mode "$LAB_MODE" --scale "$LAB_SCALE" \
		--threshold "$threshold" --threshold-label "$threshold_label" --class
}

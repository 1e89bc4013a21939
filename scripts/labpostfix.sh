# scripts/labpostfix.sh: the private Postfix instance of the Postfix
# scenarios (ndr-postfix on loopback, ndr-postfix-path across the
# topology of scripts/labnet.sh). Sourced by a scenario file at its top:
# function definitions only, nothing runs. POSIX sh.
#
# A scenario sets Postfix's knobs before it calls pf_setup: helo_timeout
# (smtp_helo_timeout), lifetime (maximal and bounce_queue_lifetime),
# backoff_min, backoff_max, run_delay. The story both tell:
#   pf_setup HOST PORT [PREFIX...]   the instance, relaying to [HOST]:PORT,
#                                    its master started under PREFIX (a host
#                                    of the topology: ip netns exec NS)
#   pf_bounce                        the first mail: deferred, bounced, the
#                                    DSN in the sender's Maildir
#   (the scenario fixes the fault)
#   pf_deliver                       the second mail, delivered to bannerd
#   pf_collect                       logs and both Maildirs into $LAB_OUT
#   pf_figures FIX                   (from scenario_figures) the figures and
#                                    the verdict's Postfix lines

# A private instance needs the postfix package and real root: its queue
# belongs to the postfix user and bounces are written as nobody, so both
# must be users this process can chown to. In the topology's sandbox id
# -u is 0 even without root (a user namespace that maps only the caller);
# there the users must be mapped too. It needs a master.cf to start from,
# and ss to check that it listens on no port.
pf_requires() {
	command -v postfix >/dev/null 2>&1 && [ -x /usr/sbin/postdrop ] ||
		{ echo "no postfix: run scripts/install-deps"; return 1; }
	[ "$(id -u)" -eq 0 ] || { echo "a private Postfix instance needs root"; return 1; }
	getent passwd postfix >/dev/null && getent passwd nobody >/dev/null ||
		{ echo "no postfix or nobody user"; return 1; }
	for u in postfix nobody; do
		pf_uid_mapped "$(id -u "$u")" ||
			{ echo "a private Postfix instance needs root (here root is a user namespace's, which cannot act as $u)"; return 1; }
	done
	[ -r /usr/share/postfix/master.cf.dist ] || [ -r /etc/postfix/master.cf ] ||
		{ echo "no master.cf to start from (/usr/share/postfix/master.cf.dist)"; return 1; }
	command -v ss >/dev/null 2>&1 ||
		{ echo "no ss (iproute2): cannot check that the private Postfix listens on no port"; return 1; }
}

pf_uid_mapped() {	# UID: true when this user namespace maps it
	awk -v u="$1" '$1 <= u && u < $1 + $3 { ok = 1 } END { exit !ok }' /proc/self/uid_map 2>/dev/null
}

pf_fail() {
	lab_note "$*"
	[ ! -f "$PF/log/postfix.log" ] || tail -20 "$PF/log/postfix.log" >&2
	return 1
}

# pf_setup HOST PORT [PREFIX...]: a private instance under $LAB_WORK/postfix
# ($PF) whose relayhost is [HOST]:PORT, started with PREFIX (empty: this
# host). Everything under $PF, reachable by the postfix user (the
# temporary folder is 0755), chroot off (nothing copied into a jail), logs
# to a file, bounces to an alias that is a Maildir. It shares nothing with
# a system Postfix, running or not: its own config directory, queue
# directory (so its own pidfile and sockets), data directory (its own
# master.lock), and no listening port (master_service_disable = inet).
# That is checked before it starts and again once it runs, where it runs,
# since the lab's cleanup, `postfix -c $PF/etc stop`, stops the master
# whose pidfile this config names. The system's files are only read
# (master.cf.dist is the package's pristine copy; the system's master.cf
# may carry services). With inet_interfaces = loopback-only the SMTP
# client binds no source address: on a host of the topology it connects
# from the host's own.
pf_setup() {	# HOST PORT [PREFIX...]
	PF=$LAB_WORK/postfix
	PF_RELAY_HOST=$1
	PF_RELAY_PORT=$2
	shift 2
	PF_AT="$*"
	mkdir -p "$PF/etc" "$PF/log" "$PF/sender" "$PF/spool" "$PF/data"
	chown postfix "$PF/data"
	chmod 755 "$LAB_WORK" "$PF" "$PF/etc"
	# the bounce is written by local(8) as default_privs (nobody): the
	# folder that receives it must be writable by that user
	chown nobody "$PF/sender"
	template=/usr/share/postfix/master.cf.dist
	[ -r "$template" ] || template=/etc/postfix/master.cf
	cp "$template" "$PF/etc/master.cf"
	: >"$PF/etc/main.cf"
	# texthash: postmap's "key value" format, read as is
	printf 'labsender %s/sender/Maildir/\n' "$PF" >"$PF/etc/aliases"
	postconf -c "$PF/etc" -e \
		"compatibility_level = 3.6" \
		"queue_directory = $PF/spool" \
		"data_directory = $PF/data" \
		"mail_owner = postfix" "setgid_group = postdrop" \
		"myhostname = sender.lab.test" "mydomain = lab.test" "myorigin = sender.lab.test" \
		"mydestination = sender.lab.test, localhost" \
		"inet_interfaces = loopback-only" "inet_protocols = ipv4" \
		"master_service_disable = inet" \
		"relayhost = [$PF_RELAY_HOST]:$PF_RELAY_PORT" \
		"smtp_dns_support_level = disabled" "smtp_host_lookup = native" \
		"smtp_helo_timeout = $helo_timeout" "smtp_connect_timeout = 5s" \
		"maximal_queue_lifetime = $lifetime" "bounce_queue_lifetime = $lifetime" \
		"minimal_backoff_time = $backoff_min" "maximal_backoff_time = $backoff_max" \
		"queue_run_delay = $run_delay" \
		"delay_warning_time = 0" \
		"maillog_file = $PF/log/postfix.log" "maillog_file_prefixes = $PF/log" \
		"alias_maps = texthash:$PF/etc/aliases" "alias_database = texthash:$PF/etc/aliases" \
		"home_mailbox = Maildir/" \
		"biff = no" "smtputf8_enable = no"
	postconf -c "$PF/etc" -F '*/*/chroot = n'
	# the system instance's directories, as its own main.cf (if any) says
	sys_etc=$(postconf -d -h config_directory)
	if [ -f "$sys_etc/main.cf" ]; then
		set -- -c "$sys_etc"
	else
		set -- -d
	fi
	sys_queue=$(postconf "$@" -h queue_directory) sys_data=$(postconf "$@" -h data_directory)
	pf_queue=$(postconf -c "$PF/etc" -h queue_directory) pf_data=$(postconf -c "$PF/etc" -h data_directory)
	pf_disable=$(postconf -c "$PF/etc" -h master_service_disable)
	for pair in "$PF/etc:$sys_etc" "$pf_queue:$sys_queue" "$pf_data:$sys_data" \
	    "$pf_queue:$sys_data" "$pf_data:$sys_queue"; do
		[ "$(readlink -m "${pair%%:*}")" != "$(readlink -m "${pair#*:}")" ] ||
			{ lab_note "the private Postfix would share ${pair#*:} with the system's"; return 1; }
	done
	[ "$pf_queue" = "$PF/spool" ] && [ "$pf_data" = "$PF/data" ] && [ "$pf_disable" = inet ] ||
		{ lab_note "the private Postfix config is not private: queue=$pf_queue data=$pf_data master_service_disable=$pf_disable"; return 1; }
	sys_pid=$( { tr -dc 0-9 <"$sys_queue/pid/master.pid"; } 2>/dev/null || true)
	[ -n "$sys_pid" ] && kill -0 "$sys_pid" 2>/dev/null || sys_pid=none
	postfix -c "$PF/etc" check >"$LAB_OUT/postfix-check.txt" 2>&1 || true
	# from here on lab_cleanup stops it, through its own pidfile: named
	# before the start, since a signal's trap runs once `postfix start`
	# returns, with the master running
	echo "$PF/etc" >"$LAB_WORK/postfix.dir"
	# the master (and every process it starts) where PREFIX says
	# shellcheck disable=SC2086
	$PF_AT postfix -c "$PF/etc" start >"$LAB_OUT/postfix-start.txt" 2>&1 || {
		cat "$LAB_OUT/postfix-start.txt" >&2
		return 1
	}
	pf_pid=$( { tr -dc 0-9 <"$PF/spool/pid/master.pid"; } 2>/dev/null || true)
	[ -n "$pf_pid" ] && [ "$pf_pid" != "$sys_pid" ] ||
		{ lab_note "the private Postfix master has no pid of its own ('$pf_pid', system: $sys_pid)"; return 1; }
	# shellcheck disable=SC2086
	listening=$($PF_AT ss -Hlntup 2>/dev/null | grep "pid=$pf_pid," || true)
	[ -z "$listening" ] || { lab_note "the private Postfix master listens: $listening"; return 1; }
	{
		echo "config_directory $PF/etc"
		echo "queue_directory $pf_queue"
		echo "data_directory $pf_data"
		echo "master_pid $pf_pid"
		[ -z "$PF_AT" ] || echo "master_started_with $PF_AT"
		echo "listening none"
		echo "system_config_directory $sys_etc"
		echo "system_queue_directory $sys_queue"
		echo "system_data_directory $sys_data"
		echo "system_master_pid $sys_pid"
	} >"$LAB_OUT/postfix-instance.txt"
	cp "$PF/etc/main.cf" "$LAB_OUT/postfix-main.cf"
}

# pf_send SUBJECT: a mail into the queue. postdrop only writes into the
# queue directory: it runs anywhere; the master's pickup takes it.
pf_send() {	# SUBJECT
	printf 'From: labsender@sender.lab.test\nTo: postmaster@ims.lab.test\nSubject: %s\n\nSent through a private Postfix to bannerd.\n' "$1" |
		sendmail -C "$PF/etc" -f labsender@sender.lab.test postmaster@ims.lab.test
}

pf_wait() {	# FILE PATTERN SECONDS
	end=$(($(date +%s) + $3))
	until grep -q "$2" "$1" 2>/dev/null; do
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.2
	done
}

# The first mail, before the fix: Postfix defers it at each greeting
# timeout until maximal_queue_lifetime runs out, then bounces it; the DSN
# is delivered to the sender's Maildir.
pf_bounce() {
	pf_send "KB Q286375 lab: before the fix"
	# the bounce: lifetime, plus a retry round, plus one banner
	limit=$(( $(lab_us "$lifetime") / 1000000 + $(lab_us "$backoff_max") / 1000000 * 2 + 30 ))
	pf_wait "$PF/log/postfix.log" 'status=expired' "$limit" || lab_note "Postfix did not bounce within $limit s"
	pf_wait "$PF/log/postfix.log" 'sender/Maildir/.*status=sent\|to=<labsender@sender.lab.test>.*status=sent' 15 ||
		lab_note "the DSN was not delivered to the sender"
}

# The second mail, after the fix: delivered to the relay, bannerd.
pf_deliver() {
	pf_send "KB Q286375 lab: after the fix"
	pf_wait "$PF/log/postfix.log" "relay=$PF_RELAY_HOST.*status=sent" 30 ||
		lab_note "the mail was not delivered after the fix"
}

# Postfix's log and both Maildirs (bannerd's in $LAB_WORK/bannerd-maildir)
# into the results.
pf_collect() {
	cp "$PF/log/postfix.log" "$LAB_OUT/postfix.log"
	mkdir -p "$LAB_OUT/sender-Maildir" "$LAB_OUT/bannerd-Maildir"
	cp "$PF"/sender/Maildir/new/* "$LAB_OUT/sender-Maildir/" 2>/dev/null || true
	cp "$LAB_WORK"/bannerd-maildir/new/* "$LAB_OUT/bannerd-Maildir/" 2>/dev/null || true
}

# pf_figures FIX RELAY_HOST: the scenario's figures (deferred,
# greeting_timeouts and expired come from the analysis, which reads
# postfix.log) and the verdict's Postfix lines ($LAB_OUT/extra); FIX
# names the fix in them.
pf_figures() {	# FIX RELAY_HOST
	log=$LAB_OUT/postfix.log
	dsn=$(grep -l 'message/delivery-status' "$LAB_OUT"/sender-Maildir/* 2>/dev/null | head -1)
	lab_fig dsn_in_sender_maildir "$([ -n "$dsn" ] && echo 1 || echo 0)"
	lab_fig delivered_after_fix "$(grep -l 'after the fix' "$LAB_OUT"/bannerd-Maildir/* 2>/dev/null | wc -l)"
	{
		echo "postfix log ($LAB_OUT/postfix.log):"
		grep 'status=deferred\|status=expired\|status=bounced' "$log" 2>/dev/null | head -4 | sed 's/^[^ ]* [^ ]* //; s/^/  /' | cut -c1-220
		if [ -n "$dsn" ]; then
			echo "the NDR in the sender's Maildir ($dsn):"
			awk '/^Subject:/ && !s++ { print "  " $0 }
			     /^(Action|Status):/ { print "  " $0 }
			     /^Diagnostic-Code:/ { d = 1; line = $0; next }
			     d && /^[ \t]/ { sub(/^[ \t]+/, " "); line = line $0; next }
			     d { print "  " line; d = 0 }' "$dsn"
		fi
		echo "after the fix ($1): $(ls "$LAB_OUT"/bannerd-Maildir 2>/dev/null | wc -l) message(s) in bannerd's Maildir:"
		grep "relay=$2.*status=sent" "$log" 2>/dev/null | head -1 | sed 's/^[^ ]* [^ ]* //; s/^/  /' | cut -c1-220
	} >"$LAB_OUT/extra"
}

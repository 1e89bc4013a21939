# scripts/labnet.sh: the topology scenarios' network (issue 13). Sourced
# by scripts/lab after lablib.sh, not run. POSIX sh.
#
# Four hosts, each a network namespace, joined by veth pairs through a
# router whose nftables ruleset is the packet filter:
#
#   sender 198.51.100.10 ---- 198.51.100.1  filter  203.0.113.1   ---- 203.0.113.25  mail
#          2001:db8:1::10     2001:db8:1::1         2001:db8:2::1      2001:db8:2::25
#                                            filter 203.0.113.129 ---- 203.0.113.153 dns
#                                                   2001:db8:3::1      2001:db8:3::53
#
# Addresses only from RFC 5737 and RFC 3849's documentation ranges, routes
# only between these four hosts, and no default route: nothing the lab
# sends can leave its namespaces.
#
# The whole run lives in a sandbox: a network and mount namespace of its
# own (and a user namespace that maps the caller to root when the caller
# is not root), with a private tmpfs on /run, where `ip netns` keeps the
# hosts' names. The veths are made in the sandbox's network namespace,
# never the machine's, and when the run's last process exits the kernel
# frees every namespace, veth and nftables table it made, however it
# ended. $LAB_RESULTS/.topology names the running sandbox so that
# `scripts/lab shell HOST`, `filter` and `pathtest` can enter it.

NET_HOSTS="sender filter mail dns"
NET_SENDER=198.51.100.10
NET_FILTER_OUT=198.51.100.1
NET_FILTER_IN=203.0.113.1
NET_MAIL=203.0.113.25
NET_FILTER_DNS=203.0.113.129
NET_DNS=203.0.113.153
NET_SENDER6=2001:db8:1::10
NET_MAIL6=2001:db8:2::25
NET_DNS6=2001:db8:3::53
NET_SMTP_PORT=25

# Why the topology cannot run here, on stdout; false when it can.
net_unavailable() {
	for c in ip nft tc unshare nsenter; do
		command -v "$c" >/dev/null 2>&1 || { echo "no $c (scripts/install-deps installs iproute2, nftables, util-linux)"; return 0; }
	done
	# what a run does first, tried in a throw-away sandbox: a container
	# may refuse a namespace, a veth or nf_tables even to root
	userns=""
	[ "$(id -u)" -eq 0 ] || userns="--user --map-root-user"
	# shellcheck disable=SC2086
	err=$(unshare $userns --net --mount --propagation private sh -c \
		'mount -t tmpfs lab /run && ip link add name lab0 type veth peer name lab1 && nft add table inet lab' 2>&1) ||
		{ echo "needs root or user namespaces (unshare ${userns:+$userns }--net --mount, a veth, nftables: $(echo "$err" | head -1))"; return 0; }
	return 1
}

# net_sandbox CMD...: CMD in a new network and mount namespace (and user
# namespace, mapped to root, when not root). exec: the PID stays the same,
# so a signal to it reaches CMD itself.
net_sandbox() {
	export LAB_SANDBOX=1
	if [ "$(id -u)" -eq 0 ]; then
		exec unshare --net --mount --propagation private "$@"
	fi
	exec unshare --user --map-root-user --net --mount --propagation private "$@"
}

net_ns() {	# HOST -> the namespace's name
	echo "$NET_RUN.$1"
}

# net_at HOST CMD...: CMD on that host (ip netns exec execs it: $! of a
# background net_at is CMD's own PID).
net_at() {
	h=$1
	shift
	ip netns exec "$(net_ns "$h")" "$@"
}

net_link() {	# HOST_A IF_A ADDR_A ADDR6_A HOST_B IF_B ADDR_B ADDR6_B PREFIX
	ip link add name "$2" type veth peer name "$6" || return 1
	ip link set "$2" netns "$(net_ns "$1")" && ip link set "$6" netns "$(net_ns "$5")" || return 1
	ip -n "$(net_ns "$1")" addr add "$3/$9" dev "$2" &&
		ip -n "$(net_ns "$1")" addr add "$4/64" dev "$2" nodad &&
		ip -n "$(net_ns "$5")" addr add "$7/$9" dev "$6" &&
		ip -n "$(net_ns "$5")" addr add "$8/64" dev "$6" nodad &&
		ip -n "$(net_ns "$1")" link set "$2" up && ip -n "$(net_ns "$5")" link set "$6" up
}

# Builds the four hosts (inside the sandbox). NAME names the run.
net_up() {	# NAME
	NET_RUN=$1
	[ -n "${LAB_SANDBOX:-}" ] || lab_die "net_up outside the sandbox"
	mount -t tmpfs -o mode=0755 bannerlab /run && mkdir -p /run/netns ||
		lab_die "cannot mount a private /run for the lab's namespaces"
	for h in $NET_HOSTS; do
		ip netns add "$(net_ns "$h")" || lab_die "ip netns add $(net_ns "$h") failed"
		ip -n "$(net_ns "$h")" link set lo up
		# The SYN backoff of the KB's day and of every kernel before 6.5:
		# resent after 1 s, then 3 s, 7 s. Linux 6.5+ resends the first
		# four a second apart (tcp_syn_linear_timeouts = 4), which would
		# turn syn-drop 2 into 2 s; the setting is each namespace's own.
		[ ! -e /proc/sys/net/ipv4/tcp_syn_linear_timeouts ] ||
			net_at "$h" sysctl -qw net.ipv4.tcp_syn_linear_timeouts=0 >/dev/null 2>&1 ||
			lab_note "cannot set tcp_syn_linear_timeouts=0 on $h: SYN retries come a second apart"
	done
	net_link sender s0 $NET_SENDER $NET_SENDER6 filter f0 $NET_FILTER_OUT 2001:db8:1::1 24 &&
		net_link filter f1 $NET_FILTER_IN 2001:db8:2::1 mail m0 $NET_MAIL $NET_MAIL6 25 &&
		net_link filter f2 $NET_FILTER_DNS 2001:db8:3::1 dns d0 $NET_DNS $NET_DNS6 25 ||
		lab_die "cannot build the topology's links"
	# routes between the four hosts only, through the filter
	ip -n "$(net_ns sender)" route add 203.0.113.0/24 via $NET_FILTER_OUT &&
		ip -n "$(net_ns sender)" -6 route add 2001:db8::/32 via 2001:db8:1::1 &&
		ip -n "$(net_ns mail)" route add 198.51.100.0/24 via $NET_FILTER_IN &&
		ip -n "$(net_ns mail)" route add 203.0.113.128/25 via $NET_FILTER_IN &&
		ip -n "$(net_ns mail)" -6 route add 2001:db8::/32 via 2001:db8:2::1 &&
		ip -n "$(net_ns dns)" route add 198.51.100.0/24 via $NET_FILTER_DNS &&
		ip -n "$(net_ns dns)" route add 203.0.113.0/25 via $NET_FILTER_DNS &&
		ip -n "$(net_ns dns)" -6 route add 2001:db8::/32 via 2001:db8:3::1 ||
		lab_die "cannot set the topology's routes"
	net_at filter sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 >/dev/null ||
		lab_die "cannot turn on forwarding on the filter"
	# A kernel sends at most one ICMP error a second to a host (icmp_ratelimit):
	# of five lookups at once, dns-reject would refuse one and silently drop
	# four. The filter's rejects are its rules' own, every one sent.
	net_at filter sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0 >/dev/null ||
		lab_note "cannot lift the filter's ICMP rate limit: dns-reject may drop some queries"
	net_filter none || lab_die "cannot load the filter's empty ruleset"
	# The lab's view of the topology, for scripts/lab shell/filter/pathtest
	# from another terminal: the sandbox's PID and the run's name.
	printf 'pid %s\nrun %s\nresults %s\n' "$$" "$NET_RUN" "${LAB_OUT:-}" >"$LAB_RESULTS/.topology"
	NET_TOPOLOGY_FILE=$LAB_RESULTS/.topology
}

net_down_note() {	# removes the pointer; the kernel frees the rest
	[ -z "${NET_TOPOLOGY_FILE:-}" ] || rm -f "$NET_TOPOLOGY_FILE"
}

# ---- filter profiles: one nftables table on the filter host ----

# The rules that drop the first N packets of each flow a FLOW_KEY names:
# N sets with a timeout; a packet whose key is in set N passes, one in set
# k < N moves to set k+1 and is dropped, a new one goes into set 1 and is
# dropped. The kernel's own retransmissions are the next packets.
net_nth_chain() {	# CHAIN N KEY TYPE
	c=$1 n=$2 key=$3 type=$4
	k=1
	while [ "$k" -le "$n" ]; do
		echo "set ${c}_$k { type $type; flags dynamic, timeout; timeout 2m; size 65535; }"
		k=$((k + 1))
	done
	echo "chain $c {"
	echo "  $key @${c}_$n counter accept"
	k=$((n - 1))
	while [ "$k" -ge 1 ]; do
		echo "  $key @${c}_$k add @${c}_$((k + 1)) { $key } counter drop"
		k=$((k - 1))
	done
	echo "  add @${c}_1 { $key } counter drop"
	echo "}"
}

# The ruleset of a profile list, on stdout. PROFILE...: none | syn-drop N
# | banner-drop N | dns-drop | dns-reject | ident-drop | rate RATE, any
# number of them (rate is tc's, not a rule: ignored here).
net_ruleset() {
	rules=""
	echo "add table inet bannerlab"
	echo "delete table inet bannerlab"
	echo "table inet bannerlab {"
	while [ $# -gt 0 ]; do
		p=$1
		shift
		case "$p" in
		none) ;;
		syn-drop | banner-drop)
			n=${1:-}
			shift
			case "$n" in '' | *[!0-9]*) lab_die "$p needs a count (e.g. $p 1)" ;; esac
			[ "$n" -ge 1 ] && [ "$n" -le 8 ] || lab_die "$p: a count from 1 to 8"
			if [ "$p" = syn-drop ]; then
				# a new connection's SYN to the mail host's SMTP port
				net_nth_chain syn4 "$n" "ip saddr . tcp sport" "ipv4_addr . inet_service"
				net_nth_chain syn6 "$n" "ip6 saddr . tcp sport" "ipv6_addr . inet_service"
				rules="$rules
  ip daddr $NET_MAIL tcp dport $NET_SMTP_PORT tcp flags & (syn | ack) == syn jump syn4
  ip6 daddr $NET_MAIL6 tcp dport $NET_SMTP_PORT tcp flags & (syn | ack) == syn jump syn6"
			else
				# the mail host's first data segments to a client: the
				# 220 (PSH), then its retransmissions
				net_nth_chain data4 "$n" "ip daddr . tcp dport" "ipv4_addr . inet_service"
				net_nth_chain data6 "$n" "ip6 daddr . tcp dport" "ipv6_addr . inet_service"
				rules="$rules
  ip saddr $NET_MAIL tcp sport $NET_SMTP_PORT tcp flags & (syn | fin | rst | psh) == psh jump data4
  ip6 saddr $NET_MAIL6 tcp sport $NET_SMTP_PORT tcp flags & (syn | fin | rst | psh) == psh jump data6"
			fi
			;;
		dns-drop)
			rules="$rules
  ip daddr $NET_DNS meta l4proto { tcp, udp } th dport 53 counter drop
  ip6 daddr $NET_DNS6 meta l4proto { tcp, udp } th dport 53 counter drop"
			;;
		dns-reject)
			# ICMP port unreachable: the resolver fails at once
			rules="$rules
  ip daddr $NET_DNS meta l4proto { tcp, udp } th dport 53 counter reject
  ip6 daddr $NET_DNS6 meta l4proto { tcp, udp } th dport 53 counter reject"
			;;
		ident-drop)
			rules="$rules
  ip saddr $NET_MAIL tcp dport 113 counter drop
  ip6 saddr $NET_MAIL6 tcp dport 113 counter drop"
			;;
		rate)
			[ -n "${1:-}" ] || lab_die "rate needs a rate (e.g. rate 64kbit)"
			shift
			;;
		*) lab_die "no filter profile '$p' (none, syn-drop N, banner-drop N, dns-drop, dns-reject, ident-drop, rate RATE)" ;;
		esac
	done
	echo "chain forward {"
	echo "  type filter hook forward priority 0; policy accept;"
	[ -z "$rules" ] || echo "$rules"
	echo "}"
	echo "}"
}

# net_filter PROFILE...: loads the profile list on the filter host, in one
# step (nft -f is atomic), and sets or removes the tbf of `rate`. Usable
# while a run goes on: new flows meet the new rules.
net_filter() {
	rs=$(net_ruleset "$@") || return 1
	printf '%s\n' "$rs" | net_at filter nft -f - || { lab_note "nft refused the ruleset:"; printf '%s\n' "$rs" >&2; return 1; }
	rate=""
	set -- "$@"
	while [ $# -gt 0 ]; do
		[ "$1" = rate ] && rate=${2:-}
		shift
	done
	if [ -n "$rate" ]; then
		net_at filter tc qdisc replace dev f1 root tbf rate "$rate" burst 16kb latency 200ms ||
			{ lab_note "tc refused rate $rate"; return 1; }
	else
		net_at filter tc qdisc del dev f1 root 2>/dev/null || true
	fi
	return 0
}

# Packets the filter's rules dropped or rejected so far (their counters).
net_filter_drops() {
	net_at filter nft list table inet bannerlab 2>/dev/null |
		awk '/counter packets/ && /(drop|reject)/ { for (i = 1; i < NF; i++) if ($i == "packets") n += $(i + 1) } END { print n + 0 }'
}

# ---- entering a running topology from another terminal ----

# net_find: reads $LAB_RESULTS/.topology, sets NET_RUN and NET_PID, or
# fails with why.
net_find() {
	f=$LAB_RESULTS/.topology
	[ -f "$f" ] || { echo "no topology running (none in $f): start one with 'scripts/lab topology' or a topology scenario" >&2; return 1; }
	NET_PID=$(awk '$1 == "pid" { print $2 }' "$f")
	NET_RUN=$(awk '$1 == "run" { print $2 }' "$f")
	kill -0 "$NET_PID" 2>/dev/null || { echo "the topology in $f has ended (pid $NET_PID)" >&2; rm -f "$f"; return 1; }
}

# net_join CMD...: CMD in the running sandbox's namespaces (as root there),
# in the lab's folder (entering a mount namespace starts at its root).
net_join() {
	if [ "$(id -u)" -eq 0 ]; then
		exec nsenter --target "$NET_PID" --mount --net --wd="$LAB_ROOT" env LAB_SANDBOX=1 "$@"
	fi
	exec nsenter --target "$NET_PID" --user --mount --net --wd="$LAB_ROOT" env LAB_SANDBOX=1 "$@"
}

# ---- a scenario's run across the topology ----

# net_start_run NAME: builds the hosts and points lab_slowdns, lab_bannerd,
# lab_probe and lab_scrape at them: slowdns on dns:53, bannerd on mail:25,
# smtpprobe on sender; then loads the scenario's $filter profile.
net_start_run() {	# NAME
	net_up "$1"
	LAB_AT_DNS="ip netns exec $(net_ns dns)"
	LAB_AT_MAIL="ip netns exec $(net_ns mail)"
	LAB_AT_SENDER="ip netns exec $(net_ns sender)"
	LAB_DNS_HOST=$NET_DNS LAB_DNS_LISTEN_PORT=53
	LAB_MAIL_HOST=$NET_MAIL LAB_MAIL_LISTEN_PORT=$NET_SMTP_PORT
	if [ -n "${filter:-}" ]; then
		# shellcheck disable=SC2086
		net_filter $filter || lab_die "cannot load the filter profile '$filter'"
		lab_mark "filter: $filter"
	fi
}

# lab_filter PROFILE...: switches the filter mid-run, marked on the plot.
# A new ruleset starts its counters at zero: what the old one dropped is
# kept for net_figures.
lab_filter() {
	net_filter_drops >>"$LAB_WORK/filter.drops"
	net_filter "$@" || lab_die "cannot load the filter profile '$*'"
	lab_mark "filter: $*"
}

# The figures every topology run adds: what the filter dropped, and its
# ruleset as it was at the end.
net_figures() {
	net_filter_drops >>"$LAB_WORK/filter.drops"
	lab_fig filter.drops "$(awk '{ n += $1 } END { print n + 0 }' "$LAB_WORK/filter.drops")"
	net_at filter nft list table inet bannerlab >"$LAB_OUT/filter.nft" 2>&1 || true
}

# lab_pathtest DIR N: KB Q286375's test "from both sides of all routers":
# N connections at once to the mail host's SMTP port from the sender, from
# the filter (the router's inside: its own traffic does not cross its
# forward chain) and on the mail host itself; the table and the hop where
# the time appears into DIR/pathtest.txt and .json.
lab_pathtest() {	# DIR N
	mkdir -p "$1"
	for v in sender filter mail; do
		net_at "$v" "$(lab_bin smtpprobe)" -q -n "$2" -c "$2" --timeout 60s \
			--json "$1/pathtest-$v.json" "$NET_MAIL:$NET_SMTP_PORT" >"$1/pathtest-$v.txt" 2>&1 9>&- &
		pt_pid=$!
		lab_track "$pt_pid"
		wait "$pt_pid"
	done
	lab_py pathtest "$1" sender="$1/pathtest-sender.json" filter="$1/pathtest-filter.json" \
		mail="$1/pathtest-mail.json"
}

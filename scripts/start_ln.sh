# shellcheck shell=bash
#
# start_ln.sh: a local regtest network (one bitcoind, N lightningd) for
# poking at myplugin by hand. Source it, do not execute it:
#
#   source scripts/start_ln.sh
#   start_ln 2            # bitcoind + l1, l2 (waits until all are ready)
#   connect 1 2           # l1 connects to l2
#   fund_nodes            # l1 opens a 1M sat channel to l2, waits for NORMAL
#   reload_plugin foo_opt=BAR   # cargo build -p plugin, (re)start it on l1
#   l1-cli myplugin
#   watch_plugin foo_opt=BAR    # rebuild + restart on every change (entr)
#   l1-log                # the node's log (less, or tail when not a tty)
#   bt-cli getblockcount
#   stop_ln               # stop every daemon this network started
#   destroy_ln            # stop, then delete only what start_ln created
#
# Environment (read when sourced and by start_ln):
#   LIGHTNING_BIN    dir holding lightningd + lightning-cli, or a CLN source
#                    tree (lightningd/lightningd, cli/lightning-cli); else PATH
#   BITCOIN_BIN      dir holding bitcoind + bitcoin-cli; else PATH
#   LIGHTNING_DIR    parent of the node dirs l1, l2, ... and of .start_ln/
#                    (default: ${TMPDIR:-/tmp}/start_ln-<uid>)
#   BITCOIN_DIR      bitcoind's datadir (default: $LIGHTNING_DIR/bitcoin);
#                    never ~/.bitcoin, and never a dir start_ln did not create
#   START_LN_TIMEOUT seconds each startup wait may take (default 60); the
#                    waits in fund_nodes get three times as long
#   START_LN_PORT_BASE  use ports BASE, BASE+1, ... and fail naming a busy
#                    one, instead of picking free ports at random
#   PLUGIN_NODE      node reload_plugin acts on (default 1)
#   ITEST_LIBFAKETIME  libfaketime for pre-v23.11 release builds (path, or
#                    "off"; default: the usual install paths), as in itest
#
# Works with lightningd v23.02 ... v26.06 (options chosen from
# `lightningd --version` and `--help`), with `set -u` and `set -e` callers,
# and never exits the calling shell: failures print a message (plus the
# relevant log tail) to stderr and return non-zero.

if [ -z "${BASH_VERSION:-}" ]; then
	echo "start_ln.sh: needs bash (source it from bash)" >&2
	# shellcheck disable=SC2317
	return 1 2>/dev/null || exit 1
fi
if ! (return 0 2>/dev/null); then
	echo "start_ln.sh: source this file (source ${BASH_SOURCE[0]}), do not run it" >&2
	exit 1
fi

# Repository root, found from this file's location (for reload_plugin).
START_LN_SCRIPT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
START_LN_REPO=$(cd "$(dirname "$START_LN_SCRIPT")/.." && pwd)

_ln_err() { printf 'start_ln: %s\n' "$*" >&2; }
_ln_say() { [ -n "${START_LN_QUIET:-}" ] || printf '%s\n' "$*"; }

# _ln_tail FILE...: last lines of each existing file, to stderr.
_ln_tail() {
	local f
	for f in "$@"; do
		[ -s "$f" ] || continue
		printf -- '----- last 30 lines of %s -----\n' "$f" >&2
		tail -n 30 "$f" >&2
	done
	return 0
}

# --------------------------------------------------------------- binaries
_ln_find_bins() {
	if [ -n "${LIGHTNING_BIN:-}" ]; then
		if [ -x "$LIGHTNING_BIN/lightningd/lightningd" ] && [ -x "$LIGHTNING_BIN/cli/lightning-cli" ]; then
			LIGHTNINGD=$LIGHTNING_BIN/lightningd/lightningd
			LCLI=$LIGHTNING_BIN/cli/lightning-cli
		elif [ -x "$LIGHTNING_BIN/lightningd" ] && [ -x "$LIGHTNING_BIN/lightning-cli" ]; then
			LIGHTNINGD=$LIGHTNING_BIN/lightningd
			LCLI=$LIGHTNING_BIN/lightning-cli
		else
			_ln_err "LIGHTNING_BIN=$LIGHTNING_BIN holds neither lightningd+lightning-cli nor a built CLN source tree"
			return 1
		fi
	else
		LIGHTNINGD=$(command -v lightningd) || {
			_ln_err "lightningd not found: run inside 'nix develop', put it on PATH, or set LIGHTNING_BIN"
			return 1
		}
		LCLI=$(command -v lightning-cli) || {
			_ln_err "lightning-cli not found: put it on PATH or set LIGHTNING_BIN"
			return 1
		}
	fi
	if [ -n "${BITCOIN_BIN:-}" ]; then
		BITCOIND=$BITCOIN_BIN/bitcoind
		BCLI=$BITCOIN_BIN/bitcoin-cli
		if [ ! -x "$BITCOIND" ] || [ ! -x "$BCLI" ]; then
			_ln_err "BITCOIN_BIN=$BITCOIN_BIN does not hold executable bitcoind and bitcoin-cli"
			return 1
		fi
	else
		BITCOIND=$(command -v bitcoind) || {
			_ln_err "bitcoind not found: run inside 'nix develop', put it on PATH, or set BITCOIN_BIN"
			return 1
		}
		BCLI=$(command -v bitcoin-cli) || {
			_ln_err "bitcoin-cli not found: put it on PATH or set BITCOIN_BIN"
			return 1
		}
	fi
	export LIGHTNINGD LCLI BITCOIND BCLI
}

_ln_dirs() {
	LIGHTNING_DIR=${LIGHTNING_DIR:-${TMPDIR:-/tmp}/start_ln-$(id -u)}
	LIGHTNING_DIR=${LIGHTNING_DIR%/}
	BITCOIN_DIR=${BITCOIN_DIR:-$LIGHTNING_DIR/bitcoin}
	BITCOIN_DIR=${BITCOIN_DIR%/}
	_LN_STATE=$LIGHTNING_DIR/.start_ln
	export LIGHTNING_DIR BITCOIN_DIR
}

# ----------------------------------------------------------------- state
# $_LN_STATE/created  paths start_ln made (destroy_ln removes exactly these)
# $_LN_STATE/pids     "name pid" of every daemon started (process-group leaders)
# $_LN_STATE/ports    "name port"
# $_LN_STATE/nodes    node count of the last start_ln
_ln_state_get() { # FILE KEY -> value
	[ -f "$_LN_STATE/$1" ] || return 1
	awk -v k="$2" '$1 == k { v = $2 } END { if (v == "") exit 1; print v }' "$_LN_STATE/$1"
}
_ln_state_set() { # FILE KEY VALUE
	local f=$_LN_STATE/$1
	{
		[ -f "$f" ] && awk -v k="$2" '$1 != k' "$f"
		printf '%s %s\n' "$2" "$3"
	} >"$f.tmp" && mv "$f.tmp" "$f"
}
_ln_created() { # PATH: remember that we created it
	grep -qxF -- "$1" "$_LN_STATE/created" 2>/dev/null || printf '%s\n' "$1" >>"$_LN_STATE/created"
}
_ln_mkdir_owned() { # DIR: create it (recorded), or accept it if we created it before
	if [ -e "$1" ]; then
		grep -qxF -- "$1" "$_LN_STATE/created" 2>/dev/null && return 0
		_ln_err "$1 already exists and was not created by start_ln; refusing to use it (remove it or choose another LIGHTNING_DIR/BITCOIN_DIR)"
		return 1
	fi
	mkdir -p -- "$1" && chmod 700 -- "$1" && _ln_created "$1"
}

# _ln_alive PID: the process exists and is one of ours (its command line
# mentions our LIGHTNING_DIR or BITCOIN_DIR; guards against pid reuse).
_ln_alive() {
	local args
	kill -0 "$1" 2>/dev/null || return 1
	args=$(ps -o args= -p "$1" 2>/dev/null) || return 1
	case $args in
	*"$LIGHTNING_DIR"* | *"$BITCOIN_DIR"*) return 0 ;;
	esac
	return 1
}

# --------------------------------------------------------------- ports
_ln_port_busy() {
	if command -v ss >/dev/null 2>&1; then
		[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ] && return 0
	fi
	# Fallback (and double check): can we connect to it?
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
_LN_TAKEN=" "
_ln_pick_port() { # NAME -> port on stdout, recorded in state
	local p tries=0
	if [ -n "${START_LN_PORT_BASE:-}" ]; then
		p=${START_LN_PORT_NEXT:-$START_LN_PORT_BASE}
		START_LN_PORT_NEXT=$((p + 1))
		if _ln_port_busy "$p"; then
			_ln_err "port $p (for $1, from START_LN_PORT_BASE=$START_LN_PORT_BASE) is already in use; choose another START_LN_PORT_BASE or unset it"
			return 1
		fi
	else
		while :; do
			# Below Linux's ephemeral range (32768+), so outgoing
			# connections do not race us for it.
			p=$((20000 + RANDOM % 12000))
			case $_LN_TAKEN in *" $p "*) continue ;; esac
			_ln_port_busy "$p" || break
			tries=$((tries + 1))
			if [ "$tries" -gt 50 ]; then
				_ln_err "no free TCP port found for $1 after 50 tries"
				return 1
			fi
		done
	fi
	_LN_TAKEN="$_LN_TAKEN$p "
	_ln_state_set ports "$1" "$p"
	PORT=$p
}

# ------------------------------------------------------------ processes
# _ln_spawn NAME LOG CMD...: start CMD in its own session (so stop_ln can
# kill its plugins/children with it), record its pid.
_ln_spawn() {
	local name=$1 log=$2 pid
	shift 2
	if command -v setsid >/dev/null 2>&1; then
		# In a non-interactive subshell the child is no group leader, so
		# setsid execs in place: $! is the daemon's pid and its pgid.
		pid=$( (setsid "$@" </dev/null >>"$log" 2>&1 & echo $!))
	else
		pid=$( ("$@" </dev/null >>"$log" 2>&1 & echo $!))
	fi
	[ -n "$pid" ] || return 1
	_ln_state_set pids "$name" "$pid"
	printf '%s\n' "$pid"
}

_ln_wait_dead() { # TIMEOUT PID...: 0 when all are gone
	local deadline=$((SECONDS + $1)) p left
	shift
	while :; do
		left=
		for p in "$@"; do _ln_alive "$p" && left=1; done
		[ -z "$left" ] && return 0
		[ "$SECONDS" -ge "$deadline" ] && return 1
		sleep 0.2
	done
}

_ln_kill() { # PID: TERM, then KILL, its whole process group when it leads one
	local pid=$1 target=$1
	_ln_alive "$pid" || return 0
	if [ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" = "$pid" ]; then
		target=-$pid
	fi
	kill -TERM -- "$target" 2>/dev/null
	_ln_wait_dead 10 "$pid" && return 0
	_ln_err "pid $pid did not stop on SIGTERM; sending SIGKILL"
	kill -KILL -- "$target" 2>/dev/null
	_ln_wait_dead 5 "$pid"
}

_ln_timeout() { # SECS CMD...: run CMD, bounded when coreutils' timeout exists
	local t=$1
	shift
	if command -v timeout >/dev/null 2>&1; then
		timeout "$t" "$@"
	else
		"$@"
	fi
}

# ------------------------------------------------------------------ CLIs
bt-cli() {
	"$BCLI" -datadir="$BITCOIN_DIR" -regtest "$@"
}

_ln_node_cli() { # N ARGS...
	local n=$1
	shift
	"$LCLI" --lightning-dir="$LIGHTNING_DIR/l$n" --network=regtest "$@"
}

_ln_node_log() {
	local f=$LIGHTNING_DIR/l$1/log
	[ -f "$f" ] || {
		_ln_err "no log at $f"
		return 1
	}
	if [ -t 1 ]; then
		${PAGER:-less} +G "$f"
	else
		tail -n "${2:-50}" "$f"
	fi
}

_ln_define_node_fns() { # N: define l1-cli/l1-log ... lN-cli/lN-log
	local i
	for i in $(seq 1 "$1"); do
		eval "l$i-cli() { _ln_node_cli $i \"\$@\"; }"
		eval "l$i-log() { _ln_node_log $i \"\$@\"; }"
	done
}

# ---------------------------------------------------------- lightningd
# Version as a number: v23.02.2 -> 2302, v26.06.6-modded -> 2606.
_ln_version_code() {
	local v
	v=$("$LIGHTNINGD" --version 2>/dev/null | head -n1) || return 1
	v=${v#v}
	case $v in
	[0-9]*.[0-9]*) ;;
	*)
		_ln_err "cannot parse '$LIGHTNINGD --version' output: $v"
		return 1
		;;
	esac
	local major=${v%%.*} rest=${v#*.}
	local minor=${rest%%[!0-9]*}
	LN_VERSION=v$v
	LN_VERSION_CODE=$((10#$major * 100 + 10#$minor))
}

# _ln_libfaketime: the libfaketime to use (ITEST_LIBFAKETIME: a path, or
# "off"; else the usual install paths), like itest's Conf::libfaketime.
_ln_libfaketime() {
	local f
	case ${ITEST_LIBFAKETIME:-} in
	off) return 1 ;;
	?*)
		printf '%s\n' "$ITEST_LIBFAKETIME"
		return 0
		;;
	esac
	for f in /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 \
		/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1 \
		/usr/lib/faketime/libfaketime.so.1 /usr/local/lib/faketime/libfaketime.so.1; do
		[ -f "$f" ] && printf '%s\n' "$f" && return 0
	done
	return 1
}

# _ln_write_config N: the node's config (and env) for this lightningd.
# The options must match itest's (itest/src/lightningd/options.rs, the one
# source of truth); tests/start_ln_script.rs fails when they differ.
_ln_write_config() {
	local n=$1 dir=$LIGHTNING_DIR/l$1 help port lib
	help=$("$LIGHTNINGD" --help 2>&1) || true
	_ln_pick_port "l$n" || return 1
	port=$PORT
	{
		echo "network=regtest"
		echo "log-level=debug"
		echo "log-file=$dir/log"
		echo "addr=127.0.0.1:$port"
		echo "allow-deprecated-apis=false"
		echo "disable-dns"
		echo "rescan=1"
		echo "bitcoin-cli=$BCLI"
		echo "bitcoin-datadir=$BITCOIN_DIR"
		echo "bitcoin-rpcconnect=127.0.0.1"
		echo "bitcoin-rpcport=$_LN_BTC_RPCPORT"
		echo "bitcoin-rpcuser=$_LN_BTC_USER"
		echo "bitcoin-rpcpassword=$_LN_BTC_PASS"
		if [ "$LN_VERSION_CODE" -ge 2311 ]; then
			# v23.11+: dev options need the runtime flag, which must come first.
			echo "developer"
			echo "dev-fast-gossip"
			echo "dev-bitcoind-poll=1"
		elif printf '%s' "$help" | grep -q -- '--dev-bitcoind-poll'; then
			# Older DEVELOPER builds: dev options exist without a flag.
			echo "dev-fast-gossip"
			echo "dev-bitcoind-poll=1"
		fi
		if printf '%s' "$help" | grep -q -- '--autoconnect-seeker-peers'; then
			echo "autoconnect-seeker-peers=0"
		fi
		if printf '%s' "$help" | grep -q -- '--database-upgrade'; then
			echo "database-upgrade=true"
		fi
	} >"$dir/config" || return 1
	# cln-grpc (when built in) listens on 9736 by default in recent
	# releases: give each node its own free port instead.
	if printf '%s' "$help" | grep -q -- '--grpc-port'; then
		_ln_pick_port "l$n-grpc" || return 1
		echo "grpc-port=$PORT" >>"$dir/config"
	fi
	chmod 600 "$dir/config"
	# Release builds before v23.11 poll bitcoind every 30 s: with
	# libfaketime, lightningd and all it starts run their clock 20x fast,
	# so it polls every 1.5 s (see itest/README.md, "Old releases").
	: >"$dir/env"
	if [ "$LN_VERSION_CODE" -lt 2311 ] && ! printf '%s' "$help" | grep -q -- '--dev-bitcoind-poll' &&
		lib=$(_ln_libfaketime); then
		{
			echo "LD_PRELOAD=$lib${LD_PRELOAD:+:$LD_PRELOAD}"
			echo "FAKETIME=+0 x20"
		} >"$dir/env"
	fi
}

# _ln_wait_node N PID: getinfo answers and shows no sync warning.
_ln_wait_node() {
	local n=$1 pid=$2 out deadline=$((SECONDS + ${START_LN_TIMEOUT:-60}))
	local dir=$LIGHTNING_DIR/l$1
	while :; do
		if ! _ln_alive "$pid"; then
			_ln_err "lightningd l$n (pid $pid) exited during startup"
			_ln_tail "$dir/stdout.log" "$dir/log"
			return 1
		fi
		if out=$(_ln_node_cli "$n" getinfo 2>/dev/null); then
			case $out in
			*warning_bitcoind_sync* | *warning_lightningd_sync*) ;;
			*) return 0 ;;
			esac
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			_ln_err "lightningd l$n not ready (getinfo failing or still syncing) after ${START_LN_TIMEOUT:-60}s"
			[ -n "${out:-}" ] && printf '%s\n' "$out" >&2
			_ln_tail "$dir/stdout.log" "$dir/log"
			return 1
		fi
		sleep 0.5
	done
}

# ------------------------------------------------------------- bitcoind
_ln_start_bitcoind() {
	local pid out deadline log=$BITCOIN_DIR/regtest/debug.log
	_ln_mkdir_owned "$BITCOIN_DIR" || return 1
	_ln_pick_port bitcoind-rpc || return 1
	_LN_BTC_RPCPORT=$PORT
	_LN_BTC_USER=start_ln
	_LN_BTC_PASS=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
	# Everything in our own conf in our own datadir, so bt-cli and
	# lightningd's bcli (bitcoin-cli -datadir=...) find the same settings.
	cat >"$BITCOIN_DIR/bitcoin.conf" <<-EOF || return 1
		# written by start_ln.sh; rewritten at every start_ln
		regtest=1
		[regtest]
		server=1
		txindex=1
		fallbackfee=0.00001
		listen=0
		listenonion=0
		connect=0
		dnsseed=0
		printtoconsole=0
		rpcuser=$_LN_BTC_USER
		rpcpassword=$_LN_BTC_PASS
		rpcbind=127.0.0.1
		rpcallowip=127.0.0.1
		rpcport=$_LN_BTC_RPCPORT
	EOF
	# Bitcoin Knots refuses "parasitic" transactions, among them any with
	# nLockTime 21, which lightningd's anti-fee-sniping sometimes picks for
	# a funding transaction on a young chain. Core does not know the option.
	if "$BITCOIND" -version 2>/dev/null | grep -q Knots; then
		echo "rejectparasites=0" >>"$BITCOIN_DIR/bitcoin.conf"
	fi
	chmod 600 "$BITCOIN_DIR/bitcoin.conf"
	pid=$(_ln_spawn bitcoind "$BITCOIN_DIR/stdout.log" "$BITCOIND" -datadir="$BITCOIN_DIR") || return 1
	deadline=$((SECONDS + ${START_LN_TIMEOUT:-60}))
	while ! out=$(bt-cli getblockchaininfo 2>&1); do
		if ! _ln_alive "$pid"; then
			_ln_err "bitcoind (pid $pid) exited during startup: $out"
			_ln_tail "$BITCOIN_DIR/stdout.log" "$log"
			return 1
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			_ln_err "bitcoind RPC not up after ${START_LN_TIMEOUT:-60}s: $out"
			_ln_tail "$BITCOIN_DIR/stdout.log" "$log"
			return 1
		fi
		sleep 0.3
	done
	# The "default" wallet: loaded, else load it, else create it.
	if ! bt-cli -rpcwallet=default getwalletinfo >/dev/null 2>&1; then
		if ! bt-cli loadwallet default >/dev/null 2>&1; then
			out=$(bt-cli createwallet default 2>&1) || {
				_ln_err "bitcoind: cannot create wallet 'default': $out"
				_ln_tail "$log"
				return 1
			}
		fi
	fi
	_ln_mine 0 || return 1
	_ln_say "bitcoind ready: rpc 127.0.0.1:$_LN_BTC_RPCPORT, datadir $BITCOIN_DIR, $("$BITCOIND" -version | head -n1)"
}

# _ln_mine N: mine N blocks (and enough for 1+ BTC spendable) to the wallet.
_ln_mine() {
	local n=$1 height addr out
	addr=$(bt-cli -rpcwallet=default getnewaddress 2>&1) || {
		_ln_err "bitcoind: getnewaddress failed: $addr"
		return 1
	}
	height=$(bt-cli getblockcount) || return 1
	if [ "$height" -lt 101 ] && [ "$((height + n))" -lt 101 ]; then
		n=$((101 - height))
	fi
	[ "$n" -gt 0 ] || return 0
	out=$(bt-cli generatetoaddress "$n" "$addr" 2>&1) || {
		_ln_err "bitcoind: generatetoaddress failed: $out"
		return 1
	}
}

# ------------------------------------------------------------ start/stop
# start_ln [N]: bitcoind + N lightning nodes (default 2), all ready on return.
start_ln() {
	local n=${1:-2} i pid name running=
	case $n in
	'' | *[!0-9]*)
		_ln_err "usage: start_ln [NODES] (got '$n')"
		return 1
		;;
	esac
	if [ "$n" -lt 1 ] || [ "$n" -gt 50 ]; then
		_ln_err "start_ln: NODES must be 1..50"
		return 1
	fi
	_ln_find_bins || return 1
	_ln_dirs
	_ln_version_code || return 1
	if [ -f "$_LN_STATE/pids" ]; then
		while read -r name pid; do
			_ln_alive "$pid" && running="$running $name($pid)"
		done <"$_LN_STATE/pids"
		if [ -n "$running" ]; then
			_ln_err "a network is already running in $LIGHTNING_DIR:$running; stop_ln first, or set LIGHTNING_DIR to another dir"
			return 1
		fi
		rm -f "$_LN_STATE/pids"
	fi
	if [ ! -d "$LIGHTNING_DIR" ]; then
		mkdir -p -- "$LIGHTNING_DIR" || return 1
		mkdir -p -- "$_LN_STATE" && _ln_created "$LIGHTNING_DIR"
	fi
	mkdir -p -- "$_LN_STATE" || return 1
	_ln_created "$_LN_STATE"
	_LN_TAKEN=" "
	unset START_LN_PORT_NEXT
	_ln_say "lightningd $LN_VERSION ($LIGHTNINGD), $n node(s) in $LIGHTNING_DIR"
	if ! _ln_start_bitcoind; then
		stop_ln >/dev/null 2>&1
		return 1
	fi
	for i in $(seq 1 "$n"); do
		if ! _ln_mkdir_owned "$LIGHTNING_DIR/l$i" || ! _ln_write_config "$i"; then
			stop_ln >/dev/null 2>&1
			return 1
		fi
		# lightningd does not daemonize: _ln_spawn detaches it.
		local -a envs=()
		mapfile -t envs <"$LIGHTNING_DIR/l$i/env"
		pid=$(_ln_spawn "l$i" "$LIGHTNING_DIR/l$i/stdout.log" \
			env ${envs[@]+"${envs[@]}"} "$LIGHTNINGD" --lightning-dir="$LIGHTNING_DIR/l$i") || {
			stop_ln >/dev/null 2>&1
			return 1
		}
	done
	for i in $(seq 1 "$n"); do
		if ! _ln_wait_node "$i" "$(_ln_state_get pids "l$i")"; then
			_ln_err "start_ln failed; stopping what it started (logs are kept; destroy_ln removes them)"
			stop_ln >/dev/null 2>&1
			return 1
		fi
	done
	_ln_state_set nodes count "$n"
	_ln_define_node_fns "$n"
	_LN_NODES=$n
	for i in $(seq 1 "$n"); do
		_ln_say "  l$i ready: 127.0.0.1:$(_ln_state_get ports "l$i"), id $(_ln_node_id "$i")"
	done
	_ln_say "Commands: l1-cli .. l$n-cli, l1-log .. l$n-log, bt-cli, connect A B, fund_nodes, reload_plugin, watch_plugin, stop_ln, destroy_ln"
}

_ln_node_id() {
	_ln_node_cli "$1" -F getinfo | sed -n 's/^id=//p'
}

# connect A B: node A connects to node B.
connect() {
	local a=${1:-} b=${2:-} id port out
	if [ -z "$a" ] || [ -z "$b" ]; then
		_ln_err "usage: connect A B (node numbers)"
		return 1
	fi
	_ln_ready_check || return 1
	id=$(_ln_node_id "$b") || id=
	if [ -z "$id" ]; then
		_ln_err "connect: cannot read l$b's id (is it running?)"
		return 1
	fi
	port=$(_ln_state_get ports "l$b") || {
		_ln_err "connect: no port recorded for l$b"
		return 1
	}
	out=$(_ln_node_cli "$a" connect "$id@127.0.0.1:$port" 2>&1) || {
		_ln_err "connect l$a -> l$b failed: $out"
		return 1
	}
	printf '%s\n' "$out"
}

# _ln_wait_for DESC CMD...: retry CMD until it succeeds or times out.
# Three times START_LN_TIMEOUT: builds without dev options (v23.02 release
# builds) poll bitcoind only every 30 s when libfaketime is missing.
_ln_wait_for() {
	local desc=$1 limit=$((3 * ${START_LN_TIMEOUT:-60}))
	local deadline=$((SECONDS + limit))
	shift
	until "$@"; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			_ln_err "timed out after ${limit}s waiting for $desc"
			return 1
		fi
		sleep 0.5
	done
}

_ln_has_confirmed_funds() {
	_ln_node_cli "$1" -F listfunds 2>/dev/null | grep -q '^outputs\[[0-9]*\]\.status=confirmed$'
}
_ln_channel_state() { # A B -> state of A's channel with B
	local id
	id=$(_ln_node_id "$2") || return 1
	_ln_node_cli "$1" -F listpeerchannels "$id" 2>/dev/null | sed -n 's/^channels\[0\]\.state=//p'
}
_ln_channel_normal() {
	[ "$(_ln_channel_state "$1" "$2")" = CHANNELD_NORMAL ]
}

# fund_nodes [NODES...]: for each consecutive pair A B (default 1..N), give
# A 1 BTC on-chain, open a 1,000,000 sat channel A -> B and wait until both
# sides see it CHANNELD_NORMAL.
fund_nodes() {
	local nodes a b id addr out i
	_ln_ready_check || return 1
	if [ "$#" -gt 0 ]; then nodes=$*; else nodes=$(seq 1 "$_LN_NODES"); fi
	a=
	for b in $nodes; do
		if [ -z "$a" ]; then
			a=$b
			continue
		fi
		id=$(_ln_node_id "$b")
		if ! _ln_node_cli "$a" -F listpeers "$id" 2>/dev/null | grep -q '^peers\[0\]\.connected=true$'; then
			connect "$a" "$b" >/dev/null || return 1
		fi
		addr=$(_ln_node_cli "$a" -F newaddr bech32 | sed -n 's/^bech32=//p')
		[ -n "$addr" ] || {
			_ln_err "fund_nodes: l$a newaddr gave no bech32 address"
			return 1
		}
		out=$(bt-cli -rpcwallet=default sendtoaddress "$addr" 1 2>&1) || {
			_ln_err "fund_nodes: sendtoaddress to l$a failed: $out"
			return 1
		}
		_ln_mine 1 || return 1
		_ln_say "fund_nodes: l$a funded with 1 BTC, waiting for lightningd to see it..."
		_ln_wait_for "l$a to see its confirmed funds" _ln_has_confirmed_funds "$a" || {
			_ln_tail "$LIGHTNING_DIR/l$a/log"
			return 1
		}
		out=$(_ln_node_cli "$a" fundchannel "$id" 1000000 2>&1) || {
			_ln_err "fund_nodes: l$a fundchannel to l$b failed: $out"
			_ln_tail "$LIGHTNING_DIR/l$a/log"
			return 1
		}
		_ln_mine 6 || return 1
		_ln_say "fund_nodes: channel l$a -> l$b opened, 6 blocks mined, waiting for CHANNELD_NORMAL..."
		for i in "$a $b" "$b $a"; do
			# shellcheck disable=SC2086 # two words on purpose
			_ln_wait_for "l${i% *}'s channel with l${i#* } to be CHANNELD_NORMAL" _ln_channel_normal $i || {
				# shellcheck disable=SC2086
				_ln_err "its state is: $(_ln_channel_state $i)"
				_ln_tail "$LIGHTNING_DIR/l${i% *}/log"
				return 1
			}
		done
		_ln_say "fund_nodes: l$a -> l$b CHANNELD_NORMAL"
		a=$b
	done
}

# _ln_ready_check: a started network is known to this shell.
_ln_ready_check() {
	_ln_find_bins || return 1
	_ln_dirs
	if [ -z "${_LN_NODES:-}" ]; then
		_LN_NODES=$(_ln_state_get nodes count 2>/dev/null) || {
			_ln_err "no network in $LIGHTNING_DIR: run start_ln first"
			return 1
		}
	fi
}

# stop_ln: ask every daemon to stop, wait, then kill what is left (with its
# process group: plugins included). Leaves the dirs; destroy_ln removes them.
stop_ln() {
	local name pid pids=() i
	_ln_dirs
	[ -f "$_LN_STATE/pids" ] || {
		_ln_say "stop_ln: nothing running in $LIGHTNING_DIR"
		return 0
	}
	_ln_find_bins >/dev/null 2>&1
	while read -r name pid; do
		_ln_alive "$pid" || continue
		pids+=("$pid")
		case $name in
		l[0-9]*)
			# Bounded: a wedged lightningd must not hang stop_ln.
			_ln_timeout 15 "$LCLI" --lightning-dir="$LIGHTNING_DIR/$name" --network=regtest \
				stop >/dev/null 2>&1
			;;
		esac
	done <"$_LN_STATE/pids"
	# bitcoind last: lightningd may still talk to it while shutting down.
	for i in "${pids[@]}"; do
		[ "$i" = "$(_ln_state_get pids bitcoind 2>/dev/null)" ] && continue
		_ln_wait_dead 20 "$i" || _ln_kill "$i"
	done
	pid=$(_ln_state_get pids bitcoind 2>/dev/null) || pid=
	if [ -n "$pid" ] && _ln_alive "$pid"; then
		_ln_timeout 15 "$BCLI" -datadir="$BITCOIN_DIR" -regtest stop >/dev/null 2>&1
		_ln_wait_dead 30 "$pid" || _ln_kill "$pid"
	fi
	for i in "${pids[@]}"; do
		if _ln_alive "$i"; then
			_ln_err "stop_ln: pid $i is still alive"
			return 1
		fi
	done
	rm -f "$_LN_STATE/pids"
	_ln_say "stop_ln: stopped ${#pids[@]} daemon(s)"
}

# destroy_ln: stop_ln, then delete exactly the paths start_ln created.
destroy_ln() {
	local p
	_ln_dirs
	stop_ln || return 1
	[ -f "$_LN_STATE/created" ] || {
		_ln_say "destroy_ln: nothing to remove in $LIGHTNING_DIR"
		return 0
	}
	# Deepest paths first; the state dir (holding the list) last; and
	# LIGHTNING_DIR itself only if start_ln made it and it is now empty.
	sort -r "$_LN_STATE/created" >"$_LN_STATE/created.sorted" || return 1
	local made_top=
	while read -r p; do
		case $p in
		"" | / | "$_LN_STATE") continue ;;
		"$LIGHTNING_DIR")
			made_top=1
			continue
			;;
		esac
		rm -rf -- "$p"
	done <"$_LN_STATE/created.sorted"
	rm -rf -- "$_LN_STATE"
	if [ -n "$made_top" ]; then
		rmdir -- "$LIGHTNING_DIR" 2>/dev/null ||
			_ln_err "destroy_ln: kept $LIGHTNING_DIR: it holds files start_ln did not create"
	fi
	unset _LN_NODES
	_ln_say "destroy_ln: removed what start_ln created under $LIGHTNING_DIR"
}

# ------------------------------------------------------ plugin dev loop
# reload_plugin [KEY=VALUE...]: cargo build -p plugin, then (re)start the
# fresh myplugin on l$PLUGIN_NODE with the given options (e.g. foo_opt=BAR).
reload_plugin() {
	local node=${PLUGIN_NODE:-1} bin out arg
	for arg in "$@"; do
		case $arg in
		*=*) ;;
		*)
			_ln_err "reload_plugin: options must be KEY=VALUE (got '$arg')"
			return 1
			;;
		esac
	done
	_ln_ready_check || return 1
	command -v cargo >/dev/null 2>&1 || {
		_ln_err "reload_plugin: cargo not found (run inside 'nix develop' or install Rust)"
		return 1
	}
	_ln_say "reload_plugin: cargo build -p plugin in $START_LN_REPO"
	(cd "$START_LN_REPO" && cargo build -q -p plugin) || {
		_ln_err "reload_plugin: build failed; the running plugin (if any) was left alone"
		return 1
	}
	bin=${CARGO_TARGET_DIR:-$START_LN_REPO/target}/debug/myplugin
	case $bin in /*) ;; *) bin=$START_LN_REPO/$bin ;; esac
	[ -x "$bin" ] || {
		_ln_err "reload_plugin: built, but $bin is missing"
		return 1
	}
	if _ln_node_cli "$node" -F plugin list 2>/dev/null | grep -q "^plugins\[[0-9]*\]\.name=$bin$"; then
		out=$(_ln_node_cli "$node" -k plugin subcommand=stop plugin="$bin" 2>&1) || {
			_ln_err "reload_plugin: plugin stop failed: $out"
			return 1
		}
	fi
	out=$(_ln_node_cli "$node" -k plugin subcommand=start plugin="$bin" "$@" 2>&1) || {
		_ln_err "reload_plugin: plugin start failed: $out"
		_ln_tail "$LIGHTNING_DIR/l$node/log"
		return 1
	}
	_ln_say "reload_plugin: $bin running on l$node${*:+ with $*}"
}

# watch_plugin [KEY=VALUE...]: reload_plugin now and on every change under
# plugin/ (needs entr). Ctrl-C to stop.
watch_plugin() {
	local rc
	command -v entr >/dev/null 2>&1 || {
		_ln_err "watch_plugin needs 'entr': it is in 'nix develop'; or apt-get install entr / brew install entr"
		return 1
	}
	_ln_ready_check || return 1
	while :; do
		# -d: also exit (status 2) when a file is added, so we rescan.
		# shellcheck disable=SC2016 # expanded by the inner bash
		find "$START_LN_REPO/plugin" "$START_LN_REPO/Cargo.toml" "$START_LN_REPO/Cargo.lock" \
			-type f ! -name '*.swp' ! -name '*~' 2>/dev/null |
			entr -d -n bash -c 'START_LN_QUIET=1; source "$0" || exit; START_LN_QUIET=; reload_plugin "$@"' \
				"$START_LN_SCRIPT" "$@"
		rc=$?
		[ "$rc" -eq 2 ] || return "$rc"
	done
}

# A network started earlier (maybe from another shell) gets its functions.
_ln_dirs
if _ln_n=$(_ln_state_get nodes count 2>/dev/null); then
	_ln_define_node_fns "$_ln_n"
	_LN_NODES=$_ln_n
fi
unset _ln_n
_ln_find_bins >/dev/null 2>&1 ||
	_ln_say "start_ln.sh: note: lightningd/bitcoind not all found yet (start_ln will say which)"
_ln_say "start_ln.sh loaded: start_ln [N], connect A B, fund_nodes, reload_plugin [foo_opt=...], watch_plugin, stop_ln, destroy_ln"

#!/usr/bin/env bash
# A Docker engine that shares nothing with this machine, for itest's docker
# backend: dockerd inside a container (the image `scripts/images.sh engine`
# builds), reached over plain TCP, with its own image store. It stands in
# for a CI job's docker-in-docker service, a remote DOCKER_HOST or Docker
# Desktop's VM: neither its network nor its filesystem is this machine's.
#
#   scripts/engine.sh up [IMAGE...]   # start it, load IMAGEs into it; prints DOCKER_HOST
#   scripts/engine.sh down            # remove it (and its image store)
#
# `up` prints `tcp://<its address>:2375` as its last line, so
#   DOCKER_HOST=$(scripts/engine.sh up "$ITEST_BITCOIND_IMAGE" "$ITEST_LIGHTNINGD_IMAGE")
# points the tests at it. The address is the container's own, not a port
# published on 127.0.0.1: containers inside reach the test process at the
# local address of its connection to the engine, which a loopback
# connection would not give them.
#
# Environment:
#   ENGINE_NAME   container name (default itest-engine)
#   DOCKER        Docker CLI (default docker)
set -euo pipefail

DOCKER=${DOCKER:-docker}
NAME=${ENGINE_NAME:-itest-engine}

say() { printf 'engine: %s\n' "$*" >&2; }
die() {
	printf 'engine: ERROR: %s\n' "$*" >&2
	exit 1
}

# Every capability but those a host without them refuses (CAP_SYS_RESOURCE
# where this machine is itself a container), for hosts where --privileged
# fails; with unconfined seccomp, AppArmor and /proc/sys, and every device.
unprivileged_flags() {
	local caps=(CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP
		LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER
		SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE
		SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE
		MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ)
	local c
	for c in "${caps[@]}"; do printf -- '--cap-add=%s\n' "$c"; done
	printf -- '%s\n' --security-opt=apparmor=unconfined --security-opt=seccomp=unconfined \
		--security-opt=systempaths=unconfined '--device-cgroup-rule=a *:* rwm'
}

up() {
	local image
	image=$(scripts/images.sh engine | tail -n1)
	"$DOCKER" rm -f -v "$NAME" >/dev/null 2>&1 || true
	if ! "$DOCKER" run -d --name "$NAME" --privileged "$image" >/dev/null 2>"$tmp/run.err"; then
		# A host that is itself a container may lack capabilities that
		# --privileged asks for ("unable to apply caps").
		say "--privileged refused ($(head -n1 "$tmp/run.err")); running with explicit capabilities"
		"$DOCKER" rm -f -v "$NAME" >/dev/null 2>&1 || true
		mapfile -t flags < <(unprivileged_flags)
		"$DOCKER" run -d --name "$NAME" "${flags[@]}" "$image" >/dev/null
	fi
	local ip host
	ip=$("$DOCKER" inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$NAME")
	[[ -n $ip ]] || die "container $NAME has no IP address"
	host=tcp://$ip:2375
	for _ in $(seq 60); do
		DOCKER_HOST=$host "$DOCKER" version >/dev/null 2>&1 && break
		"$DOCKER" inspect -f '{{.State.Running}}' "$NAME" | grep -q true ||
			die "the engine exited: $("$DOCKER" logs --tail 20 "$NAME" 2>&1)"
		sleep 0.5
	done
	DOCKER_HOST=$host "$DOCKER" version --format 'engine: Docker {{.Server.Version}} at '"$host" >&2 ||
		die "no engine answers at $host: $("$DOCKER" logs --tail 20 "$NAME" 2>&1)"
	for image in "$@"; do
		[[ -n $image ]] || continue
		say "loading $image"
		"$DOCKER" save "$image" | DOCKER_HOST=$host "$DOCKER" load >/dev/null
	done
	echo "$host"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
case ${1:-} in
up)
	shift
	up "$@"
	;;
down) "$DOCKER" rm -f -v "$NAME" >/dev/null 2>&1 || true ;;
*)
	sed -n '8,9p' "$0" | sed 's/^# *//' >&2
	exit 2
	;;
esac

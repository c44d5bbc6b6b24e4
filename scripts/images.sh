#!/usr/bin/env bash
# Build the Docker images itest's docker backend runs, on a machine that has a
# Docker engine and Debian's apt mirror but no registry.
#
#   scripts/images.sh bitcoind            # bitcoind + bitcoin-cli
#   scripts/images.sh lightningd PREFIX   # CLN installed in PREFIX, e.g. /opt/cln/v26.06.6
#   scripts/images.sh engine              # a Docker engine to run --privileged (tests)
#
# bitcoind: a `debootstrap --variant=minbase` Debian sid rootfs with Bitcoin
# Knots installed by apt inside it (sid's glibc is the one knots is built
# for, so no loader tricks), imported with `docker import`.
#
# lightningd: the bitcoind image's rootfs (lightningd's bcli plugin runs
# bitcoin-cli, so the image needs a working one), plus the shared libraries
# that PREFIX's programs load (found with ldd, their packages named with
# dpkg -S), copied from this machine, plus PREFIX copied to the same absolute
# path (CLN compiles its install paths in), with PREFIX/bin first on PATH,
# and python3 for Python plugins.
# The script copies an existing build; it never builds CLN.
#
# engine: the bitcoind image's rootfs plus Debian's docker.io, whose
# entrypoint runs dockerd on tcp://0.0.0.0:2375 (no TLS) with its storage in
# a volume. Run --privileged, it is a Docker engine that shares neither
# network nor filesystem with the test, as a CI job's docker-in-docker
# service or a remote DOCKER_HOST; the docker backend's tests run against
# it (see itest/README.md, "Backends and images").
#
# An image built from the same inputs (this recipe, the suite and mirror; for
# lightningd also the bitcoind image, every file in PREFIX and each library
# copied, by path, size and mtime) is reused, not rebuilt. Progress goes to stderr; the last line on
# stdout is the image reference, so `img=$(scripts/images.sh bitcoind)` works.
#
# Environment:
#   IMAGES_MIRROR  Debian mirror (default http://deb.debian.org/debian)
#   IMAGES_SUITE   Debian suite of the rootfs (default sid)
#   DOCKER         Docker CLI (default docker)
set -euo pipefail

MIRROR=${IMAGES_MIRROR:-http://deb.debian.org/debian}
SUITE=${IMAGES_SUITE:-sid}
DOCKER=${DOCKER:-docker}

say() { printf 'images: %s\n' "$*" >&2; }
die() {
	printf 'images: ERROR: %s\n' "$*" >&2
	exit 1
}
usage() {
	sed -n '5,7p' "$0" | sed 's/^# *//' >&2
	exit 2
}

need_engine() {
	command -v "$DOCKER" >/dev/null 2>&1 ||
		die "no Docker CLI '$DOCKER' on PATH: install one (Debian: apt-get install docker.io)"
	local err
	err=$("$DOCKER" version --format '{{.Server.Version}}' 2>&1 >/dev/null) ||
		die "no Docker engine answers at ${DOCKER_HOST:-unix:///var/run/docker.sock}: start it (as root: dockerd &, or systemctl start docker) or set DOCKER_HOST (${err//$'\n'/ })"
}

need_root_tools() {
	((EUID == 0)) || die "building a rootfs needs root (debootstrap, chroot): run with sudo"
	command -v debootstrap >/dev/null 2>&1 ||
		die "debootstrap not found: install it (Debian: apt-get install debootstrap)"
}

image_exists() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

# Short content hash of its arguments, for image tags.
key() { printf '%s\n' "$@" | sha256sum | cut -c1-12; }

work=""
cleanup() {
	if [[ -n $work ]]; then
		umount "$work/rootfs/proc" 2>/dev/null || true
		# Never delete through a mount that is still there.
		if mountpoint -q "$work/rootfs/proc"; then
			say "left $work in place: $work/rootfs/proc is still mounted"
		else
			rm -rf "$work"
		fi
	fi
}
trap cleanup EXIT

new_workdir() {
	work=$(mktemp -d "${TMPDIR:-/tmp}/itest-images.XXXXXX")
	mkdir "$work/rootfs"
}

# in_rootfs CMD...: runs CMD inside the rootfs with /proc mounted and no
# daemons started by package scripts.
in_rootfs() {
	local root=$work/rootfs
	mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
	cp /etc/resolv.conf "$root/etc/resolv.conf"
	DEBIAN_FRONTEND=noninteractive LC_ALL=C chroot "$root" "$@"
}

# apt-get update inside the rootfs. A mirror that is a frozen snapshot
# serves Release files past their Valid-Until date; apt then refuses them.
# Only in that case retry without the date check (signatures are still
# verified), and say so.
apt_update() {
	if in_rootfs apt-get -q update >"$work/apt.log" 2>&1 && ! grep -q 'is expired' "$work/apt.log"; then
		return 0
	fi
	if grep -q 'is expired' "$work/apt.log"; then
		say "WARNING: $MIRROR serves an expired $SUITE Release file (a frozen snapshot?); retrying with Acquire::Check-Valid-Until=false"
		in_rootfs apt-get -q -o Acquire::Check-Valid-Until=false update >"$work/apt.log" 2>&1 &&
			! grep -qE '^(E|W): ' "$work/apt.log" && return 0
	fi
	tail -n 20 "$work/apt.log" >&2
	die "apt-get update in the $SUITE rootfs failed (see above)"
}

# Trims apt's caches and lists from the rootfs, then imports it as $1.
import_rootfs() {
	local ref=$1
	shift
	local root=$work/rootfs
	umount "$root/proc" 2>/dev/null || true
	rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/cache/debconf/*-old
	: >"$root/etc/resolv.conf"
	say "importing $(du -sh "$root" | cut -f1) rootfs as $ref"
	tar -C "$root" -c . | "$DOCKER" import "$@" - "$ref" >/dev/null
}

# ---------------------------------------------------------------- bitcoind
bitcoind_rootfs() {
	debootstrap --variant=minbase "$SUITE" "$work/rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 || {
		tail -n 20 "$work/debootstrap.log" >&2
		die "debootstrap $SUITE from $MIRROR failed (see above)"
	}
	apt_update
	in_rootfs apt-get -q install -y --no-install-recommends bitcoin-knots >>"$work/apt.log" 2>&1 || {
		tail -n 20 "$work/apt.log" >&2
		die "apt-get install bitcoin-knots in the $SUITE rootfs failed (see above)"
	}
	in_rootfs bitcoind -version | head -n1 >&2
	in_rootfs bitcoin-cli -version >/dev/null
}

bitcoind_ref() { echo "itest-bitcoind:$SUITE-$(key "$(declare -f bitcoind_rootfs apt_update import_rootfs in_rootfs)" "$SUITE" "$MIRROR")"; }

# Each build_* sets REF to the image reference.
REF=""

build_bitcoind() {
	need_engine
	local ref
	ref=$(bitcoind_ref)
	REF=$ref
	if image_exists "$ref"; then
		say "reusing $ref (built from the same inputs)"
		return
	fi
	need_root_tools
	new_workdir
	say "debootstrap --variant=minbase $SUITE + apt-get install bitcoin-knots (a few minutes)"
	bitcoind_rootfs
	import_rootfs "$ref" --change 'CMD ["bitcoind"]' \
		--change "LABEL org.itest.recipe=bitcoind org.itest.suite=$SUITE"
	cleanup
	work=""
}

# -------------------------------------------------------------- lightningd
# Packages whose libraries keep backward compatibility, so the rootfs's own
# (newer) copies serve PREFIX's programs too.
BACKWARD_COMPATIBLE='libc6 libgcc-s1 libstdc++6'

# "PACKAGE PATH" for every shared library that ldd says PREFIX's programs
# load, PACKAGE being its Debian package on this machine ("-" if none).
runtime_libraries() {
	local prefix=$1 f lib pkg
	local -A libs=()
	while IFS= read -r -d '' f; do
		head -c4 "$f" 2>/dev/null | grep -q $'^\x7fELF' || continue
		while read -r lib; do
			libs[$lib]=1
		done < <(ldd "$f" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 }')
	done < <(find "$prefix" -type f -perm -u+x -print0)
	for lib in "${!libs[@]}"; do
		pkg=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "$(readlink -f "$lib")" 2>/dev/null) || pkg=-
		echo "${pkg%%[: ]*} $lib"
	done | sort -u
}

# Sonames that PREFIX's programs cannot find inside the rootfs.
missing_in_rootfs() {
	in_rootfs find "$1" -type f -perm -u+x -exec ldd {} \; 2>/dev/null |
		awk '/=> not found/ { print $1 }' | sort -u
}

# The runtime libraries are this machine's own files, the exact versions
# PREFIX was linked against: the same sonames in the suite can be other
# releases, and CLN refuses some (v23.02 exits on "gmp version mismatch:
# compiled 6.2.1, now 6.3.0"). They go to /usr/local/lib, which the loader
# searches first; bitcoin-cli, the one other program lightningd runs, must
# load none of them, and python3 must still run (both checked).
lightningd_rootfs() {
	local prefix=$1 base=$2 cid pkg lib copied=() missing=()
	cid=$("$DOCKER" create "$base" true)
	"$DOCKER" export "$cid" | tar -C "$work/rootfs" -x
	"$DOCKER" rm "$cid" >/dev/null
	# Plugins are often Python scripts; the official images have python3.
	# Installed first: apt itself must not load the libraries copied below.
	apt_update
	in_rootfs apt-get -q install -y --no-install-recommends python3 >>"$work/apt.log" 2>&1 || {
		tail -n 20 "$work/apt.log" >&2
		die "apt-get install python3 in the rootfs failed (see above)"
	}
	mkdir -p "$work/rootfs/usr/local/lib"
	while read -r pkg lib; do
		[[ " $BACKWARD_COMPATIBLE " == *" $pkg "* ]] && continue
		cp -L "$lib" "$work/rootfs/usr/local/lib/${lib##*/}"
		copied+=("$pkg")
	done <"$work/libraries"
	say "runtime libraries copied from this machine, by package: $(printf '%s\n' "${copied[@]}" | sort -u | tr '\n' ' ')"
	in_rootfs ldconfig
	mkdir -p "$work/rootfs$prefix"
	cp -a "$prefix/." "$work/rootfs$prefix/"
	mapfile -t missing < <(missing_in_rootfs "$prefix")
	((${#missing[@]} == 0)) || die "libraries still missing in the rootfs: ${missing[*]}"
	in_rootfs "$prefix/bin/lightningd" --version >&2 ||
		die "$prefix/bin/lightningd does not run inside the image's rootfs"
	if in_rootfs ldd /usr/bin/bitcoin-cli | grep /usr/local/lib >&2; then
		die "bitcoin-cli would load the copied libraries above instead of its own"
	fi
	in_rootfs bitcoin-cli -version >/dev/null || die "bitcoin-cli does not run inside the image's rootfs"
	in_rootfs python3 -c 'import json, os, select, socket, sys' ||
		die "python3 (for Python plugins) does not run inside the image's rootfs"
}

build_lightningd() {
	local prefix=${1:-}
	[[ -n $prefix ]] || usage
	[[ -x $prefix/bin/lightningd ]] ||
		die "no executable $prefix/bin/lightningd: PREFIX must be an installed CLN prefix (the --prefix of its 'make install')"
	prefix=$(cd "$prefix" && pwd -P)
	case $prefix in
	/ | /usr | /usr/local)
		die "PREFIX $prefix is a system directory; give CLN's own install prefix (its 'make install' --prefix, e.g. /opt/cln/v26.06.6)"
		;;
	esac
	need_engine
	local base version ref
	build_bitcoind
	base=$REF
	version=$("$prefix/bin/lightningd" --version | head -n1)
	new_workdir
	runtime_libraries "$prefix" >"$work/libraries"
	ref="itest-lightningd:$version-$(key "$(declare -f lightningd_rootfs runtime_libraries missing_in_rootfs import_rootfs in_rootfs)" \
		"$BACKWARD_COMPATIBLE" "$("$DOCKER" image inspect --format '{{.Id}}' "$base")" "$prefix" \
		"$(find "$prefix" -printf '%P %s %T@\n' | sort)" \
		"$(cut -d' ' -f2 "$work/libraries" | xargs stat -L -c '%n %s %Y')")"
	REF=$ref
	if image_exists "$ref"; then
		say "reusing $ref (built from the same inputs)"
		return
	fi
	need_root_tools
	say "lightningd $version from $prefix on $base"
	lightningd_rootfs "$prefix" "$base"
	import_rootfs "$ref" \
		--change "ENV PATH=$prefix/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
		--change 'CMD ["lightningd"]' \
		--change "LABEL org.itest.recipe=lightningd org.itest.lightningd.version=$version"
}

# ------------------------------------------------------------------ engine
# dockerd as PID 1 would leave zombies unreaped; tini, Debian's init for
# containers, runs it.
engine_rootfs() {
	local base=$1 cid
	cid=$("$DOCKER" create "$base" true)
	"$DOCKER" export "$cid" | tar -C "$work/rootfs" -x
	"$DOCKER" rm "$cid" >/dev/null
	apt_update
	in_rootfs apt-get -q install -y --no-install-recommends docker.io iptables tini ca-certificates >>"$work/apt.log" 2>&1 || {
		tail -n 20 "$work/apt.log" >&2
		die "apt-get install docker.io in the rootfs failed (see above)"
	}
	in_rootfs dockerd --version >&2
	# Under --privileged the cgroup hierarchies are writable already. On a
	# host whose own capability set is limited (itself a container),
	# --privileged fails; there the engine runs with explicit --cap-add
	# flags (scripts/engine.sh), and its cgroups are mounted read-only:
	# mount them afresh, writable, so dockerd can create containers.
	cat >"$work/rootfs/usr/local/bin/itest-engine" <<'SCRIPT'
#!/bin/sh
for d in /sys/fs/cgroup/*; do
	[ -L "$d" ] && continue
	grep -q " $d cgroup ro," /proc/mounts || continue
	t=${d##*/}
	umount "$d" && { mount -t cgroup -o "$t" cgroup "$d" 2>/dev/null || mount -t cgroup -o "none,name=$t" cgroup "$d"; }
done
exec tini -- dockerd --host=tcp://0.0.0.0:2375 --tls=false "$@"
SCRIPT
	chmod 755 "$work/rootfs/usr/local/bin/itest-engine"
}

build_engine() {
	need_engine
	local base ref
	build_bitcoind
	base=$REF
	ref="itest-engine:$SUITE-$(key "$(declare -f engine_rootfs import_rootfs in_rootfs apt_update)" \
		"$("$DOCKER" image inspect --format '{{.Id}}' "$base")")"
	REF=$ref
	if image_exists "$ref"; then
		say "reusing $ref (built from the same inputs)"
		return
	fi
	need_root_tools
	new_workdir
	say "docker.io on $base (a few minutes)"
	engine_rootfs "$base"
	import_rootfs "$ref" \
		--change 'VOLUME /var/lib/docker' \
		--change 'EXPOSE 2375' \
		--change 'ENTRYPOINT ["/usr/local/bin/itest-engine"]' \
		--change 'CMD []' \
		--change "LABEL org.itest.recipe=engine org.itest.suite=$SUITE"
}

case ${1:-} in
bitcoind) build_bitcoind ;;
lightningd) build_lightningd "${2:-}" ;;
engine) build_engine ;;
*) usage ;;
esac
echo "$REF"

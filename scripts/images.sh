#!/usr/bin/env bash
# Build the Docker images itest's docker backend runs, on a machine that has a
# Docker engine and Debian's apt mirror but no registry.
#
#   scripts/images.sh bitcoind            # bitcoind + bitcoin-cli
#   scripts/images.sh lightningd PREFIX   # CLN installed in PREFIX, e.g. /opt/cln/v26.06.6
#
# bitcoind: a `debootstrap --variant=minbase` Debian sid rootfs with Bitcoin
# Knots installed by apt inside it (sid's glibc is the one knots is built
# for, so no loader tricks), imported with `docker import`.
#
# lightningd: the bitcoind image's rootfs (lightningd's bcli plugin runs
# bitcoin-cli, so the image needs a working one), plus the Debian packages
# owning the shared libraries that PREFIX's binaries load (found with ldd and
# dpkg -S on this machine, installed by apt in the rootfs), plus PREFIX copied
# to the same absolute path (CLN compiles its install paths in), with
# PREFIX/bin first on PATH. The script copies an existing build; it never
# builds CLN.
#
# An image built from the same inputs (this recipe, the suite and mirror; for
# lightningd also the bitcoind image and every file in PREFIX, by path, size
# and mtime) is reused, not rebuilt. Progress goes to stderr; the last line on
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
	sed -n '5,6p' "$0" | sed 's/^# *//' >&2
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
# Every ELF file under PREFIX, the files ldd says they load, and the Debian
# package owning each (or, for a library no package owns, the file itself).
library_packages() {
	local prefix=$1 f lib pkg
	local -A libs=()
	while IFS= read -r -d '' f; do
		head -c4 "$f" 2>/dev/null | grep -q $'^\x7fELF' || continue
		while read -r lib; do
			libs[$lib]=1
		done < <(ldd "$f" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
	done < <(find "$prefix" -type f -perm -u+x -print0)
	for lib in "${!libs[@]}"; do
		if pkg=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "$(readlink -f "$lib")" 2>/dev/null); then
			echo "pkg ${pkg%%:*}"
		else
			echo "file $(readlink -f "$lib")"
		fi
	done | sort -u
}

lightningd_rootfs() {
	local prefix=$1 base=$2 cid kind name pkgs=() files=()
	cid=$("$DOCKER" create "$base" true)
	"$DOCKER" export "$cid" | tar -C "$work/rootfs" -x
	"$DOCKER" rm "$cid" >/dev/null
	while read -r kind name; do
		if [[ $kind == pkg ]]; then pkgs+=("$name"); else files+=("$name"); fi
	done < <(library_packages "$prefix")
	say "runtime packages: ${pkgs[*]:-none}${files[*]:+; unpackaged libraries copied: ${files[*]}}"
	apt_update
	local p want=()
	for p in "${pkgs[@]}"; do
		# Debian renamed libraries after the 64-bit time_t transition
		# (libfoo1 -> libfoo1t64); take whichever the suite has.
		if in_rootfs apt-cache show --no-all-versions "$p" >/dev/null 2>&1; then
			want+=("$p")
		elif in_rootfs apt-cache show --no-all-versions "${p}t64" >/dev/null 2>&1; then
			want+=("${p}t64")
		else
			die "$prefix needs a library from package $p, which $SUITE does not have"
		fi
	done
	in_rootfs apt-get -q install -y --no-install-recommends "${want[@]}" >>"$work/apt.log" 2>&1 || {
		tail -n 20 "$work/apt.log" >&2
		die "apt-get install ${want[*]} in the rootfs failed (see above)"
	}
	for p in "${files[@]}"; do
		cp -L "$p" "$work/rootfs/usr/local/lib/"
	done
	((${#files[@]} == 0)) || in_rootfs ldconfig
	mkdir -p "$work/rootfs$prefix"
	cp -a "$prefix/." "$work/rootfs$prefix/"
	in_rootfs "$prefix/bin/lightningd" --version >&2 ||
		die "$prefix/bin/lightningd does not run inside the image's rootfs"
}

build_lightningd() {
	local prefix=${1:-}
	[[ -n $prefix ]] || usage
	[[ -x $prefix/bin/lightningd ]] ||
		die "no executable $prefix/bin/lightningd: PREFIX must be an installed CLN prefix (the --prefix of its 'make install')"
	prefix=$(cd "$prefix" && pwd -P)
	need_engine
	local base version ref
	build_bitcoind
	base=$REF
	version=$("$prefix/bin/lightningd" --version | head -n1)
	ref="itest-lightningd:$version-$(key "$(declare -f lightningd_rootfs library_packages apt_update import_rootfs in_rootfs)" \
		"$("$DOCKER" image inspect --format '{{.Id}}' "$base")" "$prefix" \
		"$(find "$prefix" -printf '%P %s %T@\n' | sort)")"
	REF=$ref
	if image_exists "$ref"; then
		say "reusing $ref (built from the same inputs)"
		return
	fi
	need_root_tools
	new_workdir
	say "lightningd $version from $prefix on $base"
	lightningd_rootfs "$prefix" "$base"
	import_rootfs "$ref" \
		--change "ENV PATH=$prefix/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
		--change 'CMD ["lightningd"]' \
		--change "LABEL org.itest.recipe=lightningd org.itest.lightningd.version=$version"
}

case ${1:-} in
bitcoind) build_bitcoind ;;
lightningd) build_lightningd "${2:-}" ;;
*) usage ;;
esac
echo "$REF"

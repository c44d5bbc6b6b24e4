#!/usr/bin/env bash
# Install a real bitcoind/bitcoin-cli on Debian bookworm.
#
# Bookworm ships no bitcoind. Debian sid has bitcoin-knots (a Bitcoin Core
# derivative with the same RPC), but it needs a newer glibc/libstdc++ than
# bookworm has. So we unpack, into a private prefix:
#   - bitcoin-knots from sid,
#   - libc6, libstdc++6 and libgcc-s1 from trixie (sid's if trixie's are too
#     old for the knots package),
# install the remaining shared libraries knots links against (libevent,
# libzmq, sqlite, ...) from bookworm with plain apt-get, and write wrappers
# that `exec` trixie's dynamic loader on the knots binaries.
#
# The Debian mirror is read from the machine's apt sources. The system's apt
# sources are never changed: trixie/sid indexes live in a private temp dir.
#
# Environment:
#   BITCOIN_PREFIX   install prefix          (default /opt/bitcoin-knots)
#   BITCOIN_BIN_DIR  where to symlink tools  (default /usr/local/bin)
set -euo pipefail

PREFIX=${BITCOIN_PREFIX:-/opt/bitcoin-knots}
BIN_DIR=${BITCOIN_BIN_DIR:-/usr/local/bin}
KNOTS_SUITE=sid
RUNTIME_SUITE=trixie
RUNTIME_PKGS=(libc6 libstdc++6 libgcc-s1)
TOOLS=(bitcoind bitcoin-cli bitcoin-wallet bitcoin-tx bitcoin-util)

step="starting"
log() { printf 'install-bitcoind: %s\n' "$*"; }
warn() { printf 'install-bitcoind: WARNING: %s\n' "$*" >&2; }
die() {
	printf 'install-bitcoind: ERROR: %s\n' "$*" >&2
	exit 1
}
on_err() {
	local rc=$? line=$1 cmd=$2
	printf 'install-bitcoind: ERROR: failed while %s (line %s, exit %s): %s\n' \
		"$step" "$line" "$rc" "$cmd" >&2
	exit "$rc"
}
trap 'on_err "$LINENO" "$BASH_COMMAND"' ERR

[[ $PREFIX =~ ^/[A-Za-z0-9._/+-]+$ ]] ||
	die "BITCOIN_PREFIX must be an absolute path of [A-Za-z0-9._/+-] (got '$PREFIX')"
[[ $BIN_DIR =~ ^/[A-Za-z0-9._/+-]+$ ]] ||
	die "BITCOIN_BIN_DIR must be an absolute path of [A-Za-z0-9._/+-] (got '$BIN_DIR')"
PREFIX=${PREFIX%/}
BIN_DIR=${BIN_DIR%/}

# Symlink the wrappers into BIN_DIR (only replacing symlinks, never files).
link_tools() {
	step="linking wrappers into $BIN_DIR"
	mkdir -p "$BIN_DIR"
	local t
	for t in "${TOOLS[@]}"; do
		[[ -x $PREFIX/bin/$t ]] || continue
		if [[ -e $BIN_DIR/$t && ! -L $BIN_DIR/$t ]]; then
			die "$BIN_DIR/$t exists and is not a symlink; refusing to replace it"
		fi
		if [[ $(readlink "$BIN_DIR/$t" 2>/dev/null || true) != "$PREFIX/bin/$t" ]]; then
			ln -sfn "$PREFIX/bin/$t" "$BIN_DIR/$t"
			log "linked $BIN_DIR/$t -> $PREFIX/bin/$t"
		fi
	done
}

# ---------------------------------------------------------------- fast path
step="checking for an existing install"
if [[ -x $PREFIX/bin/bitcoind && -x $PREFIX/bin/bitcoin-cli ]] &&
	ver=$("$PREFIX/bin/bitcoind" --version 2>/dev/null | head -n1) && [[ -n $ver ]] &&
	"$PREFIX/bin/bitcoin-cli" --version >/dev/null 2>&1; then
	if [[ -w $BIN_DIR || -w ${BIN_DIR%/*} || $EUID -eq 0 ]]; then
		link_tools
	fi
	log "already installed in $PREFIX, nothing to do"
	log "$BIN_DIR/bitcoind --version: $("$BIN_DIR/bitcoind" --version | head -n1)"
	exit 0
fi

if [[ $EUID -ne 0 ]]; then
	command -v sudo >/dev/null 2>&1 || die "must run as root (or with sudo available)"
	log "not root, re-running with sudo"
	exec sudo BITCOIN_PREFIX="$PREFIX" BITCOIN_BIN_DIR="$BIN_DIR" bash "$0" "$@"
fi

for c in apt-get apt-cache dpkg dpkg-deb awk; do
	command -v "$c" >/dev/null 2>&1 || die "required command '$c' not found (is this Debian?)"
done

step="detecting the architecture"
arch=$(dpkg --print-architecture)
case $arch in
amd64) triplet=x86_64-linux-gnu ;;
arm64) triplet=aarch64-linux-gnu ;;
*) die "unsupported architecture '$arch' (only amd64 and arm64)" ;;
esac
log "installing bitcoin-knots ($KNOTS_SUITE) with $RUNTIME_SUITE's glibc into $PREFIX ($arch)"
start=$SECONDS

work=$(mktemp -d /tmp/install-bitcoind.XXXXXX)
stage=""
cleanup() {
	rm -rf "$work"
	if [[ -n $stage ]]; then rm -rf "$stage"; fi
}
trap cleanup EXIT
chmod 755 "$work"

# ------------------------------------------- find the Debian mirror to use
# Emit "uri|suites|components|signed-by|check-valid-until|file" for every
# enabled binary ("deb") source, deb822 and one-line format alike.
list_sources() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -r $f ]] || continue
		awk '
		function trim(s) { gsub(/^[ \t]+|[ \t]+$/, "", s); return s }
		function flush(   n, i, u) {
			if (nf && (" " tolower(f["types"]) " ") ~ / deb / && tolower(f["enabled"]) != "no") {
				n = split(f["uris"], u, /[ \t]+/)
				for (i = 1; i <= n; i++) if (u[i] != "")
					print u[i] "|" f["suites"] "|" f["components"] "|" f["signed-by"] "|" f["check-valid-until"] "|" file
			}
			delete f; nf = 0; last = ""
		}
		BEGIN { file = ARGV[1] }
		/^[ \t]*#/ { next }
		/^[ \t]*$/ { flush(); next }
		/^[ \t]/ { if (last != "") f[last] = f[last] " " trim($0); next }
		{
			i = index($0, ":"); if (!i) next
			k = tolower(trim(substr($0, 1, i - 1)))
			f[k] = trim(substr($0, i + 1)); last = k; nf = 1
		}
		END { flush() }' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -r $f ]] || continue
		awk '
		{
			line = $0; sub(/#.*/, "", line)
			if (line !~ /^[ \t]*deb[ \t]/) next
			sub(/^[ \t]*deb[ \t]+/, "", line)
			sb = ""; cvu = ""
			if (line ~ /^\[/) {
				e = index(line, "]"); if (!e) next
				n = split(substr(line, 2, e - 2), o, /[ \t]+/)
				for (i = 1; i <= n; i++) {
					if (o[i] ~ /^signed-by=/) { sb = substr(o[i], 11); gsub(/,/, " ", sb) }
					if (o[i] ~ /^check-valid-until=/) cvu = substr(o[i], 19)
				}
				line = substr(line, e + 1)
			}
			n = split(line, w, /[ \t]+/); j = 0
			for (i = 1; i <= n; i++) if (w[i] != "") t[++j] = w[i]
			if (j < 2) next
			comps = ""; for (i = 3; i <= j; i++) comps = comps (i > 3 ? " " : "") t[i]
			print t[1] "|" t[2] "|" comps "|" sb "|" cvu "|" FILENAME
		}' "$f"
	done
}

step="reading the apt sources"
# Repo URIs apt itself says are Debian's bookworm archive (needs system lists;
# only used to choose when several entries look alike).
# shellcheck disable=SC2016 # $(REPO_URI) is apt's format syntax
confirmed=$(apt-get indextargets --format '$(REPO_URI)' 'Origin: Debian' 'Release: bookworm' \
	2>/dev/null | sed 's:/*$::' | sort -u || true)
mirror="" keyring="" cvu="" mirror_file="" fallback="" ncand=0
while IFS='|' read -r uri suites comps signed check file; do
	[[ " $suites " == *" bookworm "* && " $comps " == *" main "* ]] || continue
	[[ $uri == cdrom:* ]] && continue
	uri=${uri%/}
	entry="$uri|$signed|$check|$file"
	ncand=$((ncand + 1))
	[[ -z $fallback ]] && fallback=$entry
	if grep -qxF "$uri" <<<"$confirmed"; then
		fallback=$entry
		break
	fi
done < <(list_sources)
[[ -n $fallback ]] ||
	die "no Debian 'bookworm' 'main' entry found in /etc/apt/sources.list or /etc/apt/sources.list.d/*.sources"
IFS='|' read -r mirror signed cvu mirror_file <<<"$fallback"
if ((ncand > 1)) && ! grep -qxF "$mirror" <<<"$confirmed"; then
	warn "$ncand 'bookworm main' entries and apt could not tell which is Debian's; using $mirror"
fi

# Signed-By: keep the entry's keyring file(s); default to Debian's keyring.
keyring=""
for k in $signed; do
	[[ $k == /* && -r $k ]] && keyring+="${keyring:+,}$k"
done
[[ -n $keyring ]] || keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[[ -r ${keyring%%,*} ]] || die "keyring $keyring not found (install debian-archive-keyring)"
log "Debian mirror: $mirror (from $mirror_file), keyring: $keyring"

# ------------------------------------------- private apt for trixie + sid
mkdir -p "$work/lists/partial" "$work/archives/partial" "$work/debs"
if getent passwd _apt >/dev/null 2>&1; then
	chown _apt "$work/debs" "$work/lists/partial" "$work/archives/partial"
fi
APT_OPTS=(
	-o "Dir::Etc::SourceList=$work/sources.list"
	-o Dir::Etc::SourceParts=/dev/null
	-o Dir::Etc::Preferences=/dev/null
	-o Dir::Etc::PreferencesParts=/dev/null
	-o "Dir::State::Lists=$work/lists"
	-o "Dir::Cache::Archives=$work/archives"
	-o Dir::Cache::pkgcache=
	-o Dir::Cache::srcpkgcache=
	-o Acquire::Languages=none
	-o APT::Get::List-Cleanup=false
)
write_private_sources() {
	local opts="arch=$arch signed-by=$1 target=Packages"
	[[ -n $cvu ]] && opts+=" check-valid-until=$cvu"
	{
		echo "deb [$opts] $mirror $RUNTIME_SUITE main"
		echo "deb [$opts] $mirror $KNOTS_SUITE main"
	} >"$work/sources.list"
}
sig_errors='^(W|E): .*(GPG error|NO_PUBKEY|EXPKEYSIG|is not signed)'
private_update() {
	apt-get "${APT_OPTS[@]}" -q update >"$work/update.log" 2>&1 &&
		! grep -qE "$sig_errors" "$work/update.log"
}

step="fetching $RUNTIME_SUITE and $KNOTS_SUITE package indexes"
write_private_sources "$keyring"
log "updating private apt indexes for $RUNTIME_SUITE and $KNOTS_SUITE"
if ! private_update; then
	sed 's/^/    /' "$work/update.log" >&2
	# Maybe a Release file is signed by a key not in that keyring: try all
	# Debian archive keyrings shipped on this machine.
	more=$keyring
	for k in /usr/share/keyrings/debian-archive-*.gpg; do
		[[ -r $k && $k != *removed* && ",$more," != *",$k,"* ]] && more+=",$k"
	done
	if [[ $more == "$keyring" ]] || ! grep -qE "$sig_errors" "$work/update.log"; then
		die "apt-get update of $RUNTIME_SUITE/$KNOTS_SUITE from $mirror failed (see above)"
	fi
	warn "retrying with keyrings: $more"
	keyring=$more
	write_private_sources "$keyring"
	if ! private_update; then
		sed 's/^/    /' "$work/update.log" >&2
		die "apt-get update of $RUNTIME_SUITE/$KNOTS_SUITE from $mirror failed (see above)"
	fi
fi

field() { # field PKG/SUITE FIELD
	apt-cache "${APT_OPTS[@]}" show --no-all-versions "$1" 2>/dev/null |
		awk -v f="$2" 'index($0, f ": ") == 1 { print substr($0, length(f) + 3); exit }'
}

step="reading bitcoin-knots' dependencies"
knots_ver=$(field "bitcoin-knots/$KNOTS_SUITE" Version)
[[ -n $knots_ver ]] || die "package bitcoin-knots not found in $KNOTS_SUITE at $mirror"
knots_deps=$(field "bitcoin-knots/$KNOTS_SUITE" Depends)
log "bitcoin-knots $knots_ver; Depends: $knots_deps"

# Lower bound ">= X" on package $1 in the knots Depends (empty if none).
min_version() {
	tr ',' '\n' <<<"$knots_deps" | awk -v p="$1" '
		{ sub(/^ +/, ""); split($0, w, /[ (]/) }
		w[1] == p && /\(>=/ { sub(/.*\(>= */, ""); sub(/\).*/, ""); print; exit }'
}

# Runtime libs for the prefix: trixie's, unless too old for knots.
fetch=("bitcoin-knots/$KNOTS_SUITE")
for p in "${RUNTIME_PKGS[@]}"; do
	suite=$RUNTIME_SUITE
	v=$(field "$p/$RUNTIME_SUITE" Version)
	[[ -n $v ]] || die "$p not found in $RUNTIME_SUITE"
	min=$(min_version "$p")
	if [[ -n $min ]] && ! dpkg --compare-versions "$v" ge "$min"; then
		warn "$p $v in $RUNTIME_SUITE is older than knots needs ($min); taking $KNOTS_SUITE's"
		suite=$KNOTS_SUITE
	fi
	fetch+=("$p/$suite")
done

# Every other library knots depends on comes from bookworm itself (t64
# transition names mapped back: libfoo-1t64 -> libfoo-1).
sys_libs=()
while read -r dep; do
	[[ $dep == lib* ]] || continue
	skip=""
	for p in "${RUNTIME_PKGS[@]}"; do [[ $dep == "$p" ]] && skip=1; done
	[[ -n $skip ]] && continue
	sys_libs+=("${dep%t64}")
done < <(tr ',' '\n' <<<"$knots_deps" | sed 's/|.*//; s/(.*//; s/:any//; s/ //g' | sort -u)

# ------------------------------------------- bookworm libs via system apt
step="installing bookworm libraries"
missing=()
for p in "${sys_libs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	log "installing from bookworm: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get -q update >"$work/sys-update.log" 2>&1; then
		warn "system 'apt-get update' reported errors (continuing; unrelated sources may be broken):"
		grep -E '^(W|E|Err):' "$work/sys-update.log" | sed 's/^/    /' >&2 || true
	fi
	pkgs=()
	for p in "${missing[@]}"; do
		if apt-cache show --no-all-versions "$p" >/dev/null 2>&1; then
			pkgs+=("$p")
		elif apt-cache show --no-all-versions "${p}t64" >/dev/null 2>&1; then
			pkgs+=("${p}t64")
		else
			die "bitcoin-knots needs '$p' but no such package is available from the system's apt sources"
		fi
	done
	apt-get install -y -q --no-install-recommends "${pkgs[@]}" >"$work/install.log" 2>&1 || {
		sed 's/^/    /' "$work/install.log" >&2
		die "apt-get install ${pkgs[*]} failed (see above)"
	}
else
	log "bookworm libraries already installed: ${sys_libs[*]}"
fi

# ------------------------------------------- download and unpack
step="downloading ${fetch[*]}"
log "downloading: ${fetch[*]}"
(cd "$work/debs" && apt-get "${APT_OPTS[@]}" -q download "${fetch[@]}") >"$work/download.log" 2>&1 || {
	sed 's/^/    /' "$work/download.log" >&2
	die "downloading ${fetch[*]} failed (see above)"
}

step="unpacking into $PREFIX"
# Only ever replace an empty dir or a previous install made by this script.
if [[ -e $PREFIX && ! -e $PREFIX/usr/bin/bitcoind ]] && [[ -n $(ls -A "$PREFIX" 2>/dev/null || echo x) ]]; then
	die "$PREFIX exists, is not empty and is not a previous bitcoin-knots install; set BITCOIN_PREFIX elsewhere"
fi
mkdir -p "$(dirname "$PREFIX")"
stage=$(mktemp -d "$PREFIX.new.XXXXXX")
for deb in "$work"/debs/*.deb; do
	log "unpacking $(basename "$deb")"
	dpkg-deb -x "$deb" "$stage"
done

libdirs() { # library search path for prefix $1
	local p=$1 out="" d
	for d in "$p/usr/lib/$triplet" "$p/lib/$triplet"; do
		[[ -d ${d/#$p/$stage} ]] && out+="$d:"
	done
	printf '%s' "${out}/lib/$triplet:/usr/lib/$triplet:/lib:/usr/lib"
}
loader_rel=""
for f in "$stage/usr/lib/$triplet"/ld-linux*.so.* "$stage/lib/$triplet"/ld-linux*.so.*; do
	if [[ -f $f && -z $loader_rel ]]; then loader_rel=${f#"$stage"/}; fi
done
[[ -n $loader_rel && -x $stage/$loader_rel ]] || die "no dynamic loader found in the unpacked libc6"

step="checking the unpacked binaries' libraries"
for t in bitcoind bitcoin-cli; do
	[[ -x $stage/usr/bin/$t ]] || die "$t missing from the bitcoin-knots package"
	out=$("$stage/$loader_rel" --library-path "$(libdirs "$stage")" --list "$stage/usr/bin/$t" 2>&1) || {
		printf '%s\n' "$out" | sed 's/^/    /' >&2
		die "$t cannot be loaded (missing libraries or symbol versions, see above)"
	}
	if grep -q 'not found' <<<"$out"; then
		grep 'not found' <<<"$out" | sed 's/^/    /' >&2
		die "$t needs libraries that are not installed (see above)"
	fi
done

step="writing wrappers"
mkdir -p "$stage/bin"
for t in "${TOOLS[@]}"; do
	[[ -x $stage/usr/bin/$t ]] || continue
	cat >"$stage/bin/$t" <<EOF
#!/bin/sh
# Generated by install-bitcoind.sh: Debian $KNOTS_SUITE's bitcoin-knots $knots_ver
# run under $RUNTIME_SUITE's glibc from $PREFIX. exec keeps the PID.
exec '$PREFIX/$loader_rel' --library-path '$(libdirs "$PREFIX")' --argv0 "\$0" '$PREFIX/usr/bin/$t' "\$@"
EOF
	chmod 755 "$stage/bin/$t"
done

step="testing the unpacked bitcoind"
"$stage/$loader_rel" --library-path "$(libdirs "$stage")" "$stage/usr/bin/bitcoind" --version >/dev/null ||
	die "unpacked bitcoind does not run"

step="moving the install into $PREFIX"
chmod 755 "$stage"
rm -rf "$PREFIX"
mv "$stage" "$PREFIX"
stage=""

link_tools

step="checking the installed wrappers"
ver=$("$BIN_DIR/bitcoind" --version | head -n1) || die "$BIN_DIR/bitcoind --version failed"
"$BIN_DIR/bitcoin-cli" --version >/dev/null || die "$BIN_DIR/bitcoin-cli --version failed"
log "installed in $((SECONDS - start))s: $BIN_DIR/bitcoind --version: $ver"

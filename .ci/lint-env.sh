#!/usr/bin/env bash
# Lint the environment files: shell scripts, flake.nix/flake.lock, and the
# GitHub Actions workflows. Installs what it needs on a fresh Debian/Ubuntu
# (apt: shellcheck, nix-bin, python3-venv, python3-yaml; PyPI:
# check-jsonschema into a cached venv), then runs every check, reports each,
# and exits non-zero if any failed.
#
#   bash .ci/lint-env.sh
#
# Checks:
#   scripts     shellcheck of scripts/*.sh, .ci/*.sh, .ci/run (when present)
#   nix         nix-instantiate --parse flake.nix; flake.lock matches
#               flake.nix (offline); the flake evaluates against stub
#               nixpkgs inputs (offline: nothing is fetched)
#   workflows   YAML parse; check-jsonschema's bundled GitHub-workflow
#               schema; shellcheck of every `run:` block
#
# Environment: LINT_ENV_VENV (venv dir, default ~/.cache/myplugin-lint-env)
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
CHECK_JSONSCHEMA_VERSION=0.39.0
VENV=${LINT_ENV_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/myplugin-lint-env}
NIX_FLAGS=(--extra-experimental-features 'nix-command flakes' --offline)

failed=()
say() { printf '\n== %s\n' "$*"; }
ok() { printf 'ok: %s\n' "$*"; }
fail() {
	printf 'FAIL: %s\n' "$*" >&2
	failed+=("$1")
}

SUDO=()
if [[ $EUID -ne 0 ]]; then
	if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); fi
fi

# ------------------------------------------------------------ installs
say "installing tools (when missing)"
need_apt=()
command -v shellcheck >/dev/null 2>&1 || need_apt+=(shellcheck)
command -v nix-instantiate >/dev/null 2>&1 || need_apt+=(nix-bin)
python3 -c 'import yaml' 2>/dev/null || need_apt+=(python3-yaml)
# Debian's python3 has the venv module but no ensurepip without python3-venv.
if [[ ! -x $VENV/bin/check-jsonschema ]] && ! python3 -c 'import ensurepip' 2>/dev/null; then
	need_apt+=(python3-venv)
fi
if ((${#need_apt[@]})); then
	echo "apt-get install ${need_apt[*]}"
	if ! { "${SUDO[@]}" apt-get update -q >/tmp/lint-env-apt.log 2>&1 &&
		DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -q --no-install-recommends \
			"${need_apt[@]}" >>/tmp/lint-env-apt.log 2>&1; }; then
		tail -n 20 /tmp/lint-env-apt.log >&2
		echo "lint-env: apt-get install ${need_apt[*]} failed" >&2
		exit 1
	fi
fi
if [[ ! -x $VENV/bin/check-jsonschema ]] ||
	[[ $("$VENV/bin/check-jsonschema" --version 2>/dev/null) != *"$CHECK_JSONSCHEMA_VERSION"* ]]; then
	echo "pip install check-jsonschema==$CHECK_JSONSCHEMA_VERSION into $VENV"
	rm -rf "$VENV"
	if ! { python3 -m venv "$VENV" &&
		"$VENV/bin/pip" install -q --disable-pip-version-check \
			"check-jsonschema==$CHECK_JSONSCHEMA_VERSION"; }; then
		echo "lint-env: installing check-jsonschema failed" >&2
		exit 1
	fi
fi
echo "shellcheck $(shellcheck --version | sed -n 's/^version: //p'), $(nix --version)," \
	"check-jsonschema $("$VENV/bin/check-jsonschema" --version | awk '{ print $NF }')"

# ---------------------------------------------------------- shellcheck
say "shellcheck"
scripts=()
for f in scripts/*.sh .ci/*.sh .ci/run; do
	[[ -f $f ]] && scripts+=("$f")
done
if shellcheck -x "${scripts[@]}"; then
	ok "shellcheck ${scripts[*]}"
else
	fail shellcheck "see above"
fi

# ----------------------------------------------------------------- nix
say "nix"
if nix-instantiate --parse flake.nix >/dev/null; then
	ok "nix-instantiate --parse flake.nix"
else
	fail nix-parse "flake.nix does not parse"
fi

tmp=$(mktemp -d /tmp/lint-env.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/flake" "$tmp/stub"
cp flake.nix "$tmp/flake/"
[[ -f flake.lock ]] && cp flake.lock "$tmp/flake/"
# A stub nixpkgs: only what flake.nix reads, as trivial derivations, so the
# flake's own logic is evaluated without fetching anything.
cat >"$tmp/stub/flake.nix" <<'EOF'
{
  outputs = _: let
    systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
    mk = system: let
      drv = name: (derivation { inherit name system; builder = "/bin/sh"; args = [ "-c" "echo > $out" ]; }) // { version = "0-stub"; };
      names = [ "clightning" "bitcoind" "cargo" "rustc" "clippy" "rustfmt" "jq" "entr" "shellcheck" "postgresql" ];
    in builtins.listToAttrs (map (n: { name = n; value = drv n; }) names) // {
      mkShell = a: derivation ((removeAttrs a [ "packages" ]) // {
        inherit system; builder = "/bin/sh"; args = [ "-c" "echo > $out" ]; pkgs = a.packages;
      });
    };
  in { legacyPackages = builtins.listToAttrs (map (s: { name = s; value = mk s; }) systems); };
}
EOF
NIX=("${SUDO[@]}" nix "${NIX_FLAGS[@]}")
if [[ -f flake.lock ]]; then
	if out=$("${NIX[@]}" flake metadata --no-update-lock-file "path:$tmp/flake" 2>&1); then
		ok "flake.lock is complete and matches flake.nix's inputs"
	else
		printf '%s\n' "$out" >&2
		fail nix-lock "flake.lock does not match flake.nix (nix flake metadata --no-update-lock-file)"
	fi
fi
overrides=()
mapfile -t inputs < <(sed -n 's/^ *\([A-Za-z0-9_-]*\)\.url = .*/\1/p' flake.nix)
for i in "${inputs[@]}"; do overrides+=(--override-input "$i" "path:$tmp/stub"); done
if out=$("${NIX[@]}" flake show --no-write-lock-file "${overrides[@]}" "path:$tmp/flake" 2>&1) &&
	shells=$("${NIX[@]}" eval --no-write-lock-file --json "${overrides[@]}" \
		"path:$tmp/flake#devShells.x86_64-linux" --apply 'builtins.mapAttrs (n: s: s.ITEST_REQUIRE)' \
		2>"$tmp/eval.err") &&
	[[ $shells == *'"default":"1"'* && $shells == *'"cln-v23_02":"1"'* ]]; then
	ok "flake evaluates (stub inputs ${inputs[*]}): devShells $shells"
else
	printf '%s\n%s\n' "$out" "${shells:-}" >&2
	cat "$tmp/eval.err" >&2 2>/dev/null
	fail nix-eval "flake.nix does not evaluate against stub inputs, or a dev shell lacks ITEST_REQUIRE=1"
fi

# ----------------------------------------------------------- workflows
say "workflows"
shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
shopt -u nullglob
if ((${#workflows[@]} == 0)); then
	ok "no workflows"
else
	if "$VENV/bin/check-jsonschema" --builtin-schema vendor.github-workflows "${workflows[@]}"; then
		ok "schema (check-jsonschema vendor.github-workflows): ${workflows[*]}"
	else
		fail workflow-schema "see above"
	fi
	# Every run: block through shellcheck, with ${{ ... }} replaced by a
	# plain word (as GitHub substitutes it before bash runs).
	mkdir -p "$tmp/run"
	if python3 - "$tmp/run" "${workflows[@]}" <<'EOF'; then
import re, sys, yaml
out, files = sys.argv[1], sys.argv[2:]
n = 0
for wf in files:
    doc = yaml.safe_load(open(wf))
    for job_id, job in (doc.get("jobs") or {}).items():
        shell = ((job.get("defaults") or {}).get("run") or {}).get("shell", "bash")
        for i, step in enumerate(job.get("steps") or []):
            if "run" not in step:
                continue
            sh = step.get("shell", shell)
            if not sh.startswith("bash") and sh != "sh":
                continue
            body = re.sub(r"\$\{\{.*?\}\}", "GHA_EXPR", step["run"])
            n += 1
            name = f"{out}/{n:03d}__{wf.replace('/', '_')}__{job_id}__step{i + 1}.sh"
            with open(name, "w") as f:
                f.write(f"#!/usr/bin/env {'bash' if sh.startswith('bash') else 'sh'}\n# {wf} job {job_id} step {i + 1}\nset -e\n{body}")
print(f"{n} run blocks extracted")
EOF
		shopt -s nullglob
		blocks=("$tmp"/run/*.sh)
		shopt -u nullglob
		if ((${#blocks[@]} == 0)) || shellcheck -S warning "${blocks[@]}"; then
			ok "shellcheck of ${#blocks[@]} run: blocks"
		else
			fail workflow-run-blocks "see above (file names say workflow, job and step)"
		fi
	else
		fail workflow-yaml "a workflow does not parse as YAML"
	fi
fi

say "summary"
if ((${#failed[@]})); then
	echo "lint-env: FAILED: ${failed[*]}" >&2
	exit 1
fi
echo "lint-env: all checks passed"

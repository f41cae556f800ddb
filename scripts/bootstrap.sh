#!/usr/bin/env bash
# Prepare a machine (Debian 12, root) for working on bluegreen.core.
#
#  1. Debian packages: podman, runc, debootstrap, socat for the lab, and
#     openssh-client to reach it (ssh, scp, ssh-keygen); haproxy
#     (unit tests run `haproxy -c` on generated configs); shellcheck (a sanity
#     test that ansible-test would otherwise skip).
#     Debian's nginx binary, unpacked into .cache/nginx without installing the
#     package (which would start a web server on this machine's port 80): unit
#     tests run `nginx -t` on generated configs.
#  2. A virtualenv in .venv with requirements.txt (reinstalled only when the
#     requirements files or the Python version change).
#  3. .cache/collections/ansible_collections/bluegreen/core -> the repository
#     root, so `ansible-playbook bluegreen.core.release` runs the working tree.
#
# Idempotent and quick when there is nothing to do. Never reads stdin.
# Exports nothing: the Makefile sets the environment for each target.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
STAMP="$VENV/.bluegreen-requirements.sha256"
APT_PACKAGES=(podman runc debootstrap socat openssh-client haproxy shellcheck)

log() { printf '[bootstrap] %s\n' "$*"; }
die() { printf '[bootstrap] ERROR: %s\n' "$*" >&2; exit 1; }

# --- 1. Debian packages -------------------------------------------------------
pkg_installed() {
    [ "$(dpkg-query -W -f="\${db:Status-Status}" "$1" 2>/dev/null)" = "installed" ]
}

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    pkg_installed "$pkg" || missing+=("$pkg")
done
# A system python3 without ensurepip needs python3-venv (pyenv builds have it).
if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    missing+=(python3-venv)
fi

if [ "${#missing[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null || die "apt-get not found; install by hand: ${missing[*]}"
    SUDO=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || die "not root and no sudo; install by hand: ${missing[*]}"
        SUDO=(sudo -n)
    fi
    log "installing Debian packages: ${missing[*]}"
    # Wait for a concurrent apt/dpkg run instead of failing on its lock.
    apt_opts=(-o DPkg::Lock::Timeout=900 -o Dpkg::Options::=--force-confold)
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update -q </dev/null
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install -y -q "${missing[@]}" </dev/null
    for pkg in "${missing[@]}"; do
        pkg_installed "$pkg" || die "package $pkg is still not installed"
    done
else
    log "Debian packages present: ${APT_PACKAGES[*]}"
fi

NGINX_BIN="$ROOT/.cache/nginx/usr/sbin/nginx"
if [ ! -x "$NGINX_BIN" ]; then
    log "unpacking Debian's nginx into .cache/nginx (for nginx -t in unit tests; not installed, not started)"
    rm -rf "$ROOT/.cache/nginx" "$ROOT/.cache/nginx-deb"
    mkdir -p "$ROOT/.cache/nginx-deb"
    if ! (cd "$ROOT/.cache/nginx-deb" && apt-get download -q nginx </dev/null >download.log 2>&1); then
        die "apt-get download nginx failed: $(tail -n 3 "$ROOT/.cache/nginx-deb/download.log")"
    fi
    deb=("$ROOT"/.cache/nginx-deb/nginx_*.deb)
    [ -f "${deb[0]}" ] || die "apt-get download nginx fetched nothing"
    dpkg-deb -x "${deb[0]}" "$ROOT/.cache/nginx"
    rm -rf "$ROOT/.cache/nginx-deb"
    "$NGINX_BIN" -v >/dev/null 2>&1 || die "the unpacked nginx does not run: $("$NGINX_BIN" -v 2>&1 || true)"
fi

# --- 2. Python virtualenv -----------------------------------------------------
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
    || die "$PYTHON is $("$PYTHON" -V 2>&1); Python >= 3.11 is needed (set PYTHON=...)"

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    log "creating $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
fi

want="$( { "$VENV/bin/python" -VV; cat requirements*.txt; } | sha256sum | cut -d' ' -f1)"
have="$(cat "$STAMP" 2>/dev/null || true)"
if [ "$want" != "$have" ]; then
    log "installing requirements.txt into .venv (requirements changed or first run)"
    rm -f "$STAMP"
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q -r requirements.txt </dev/null
    "$VENV/bin/python" -m pip check
    echo "$want" >"$STAMP"
else
    log ".venv is up to date with requirements.txt"
fi

# --- 3. Collections path -> working tree ----------------------------------------
NS_DIR="$ROOT/.cache/collections/ansible_collections/bluegreen"
mkdir -p "$NS_DIR"
# Relative, so a moved or re-cloned tree keeps working.
if [ "$(readlink "$NS_DIR/core" 2>/dev/null)" != "../../../.." ]; then
    rm -rf "$NS_DIR/core"
    ln -s ../../../.. "$NS_DIR/core"
    log "linked .cache/collections/ansible_collections/bluegreen/core -> repository root"
fi
[ -f "$NS_DIR/core/galaxy.yml" ] || die "collection symlink does not resolve to the repository root"

log "done"

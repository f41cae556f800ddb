#!/usr/bin/env bash
# Run `ansible-test sanity` on the collection, locally (no Docker), with no
# ignore entries.
#
# ansible-test wants the collection at .../ansible_collections/<ns>/<name>, so
# the files git knows about (tracked, plus untracked that are not ignored) are
# copied to build/sanity/ansible_collections/bluegreen/core and tested there.
# ansible-test creates one virtualenv per sanity test with its own pinned
# requirements (under ~/.ansible/test/venv, from PyPI, reused between runs).
#
# Usage: scripts/sanity.sh [extra ansible-test sanity arguments, e.g. --test pep8]
# Environment: SANITY_PYTHON (default 3.11: the controller's Python; modules'
# compile/import checks run for the Python versions that are installed).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SANITY_PYTHON="${SANITY_PYTHON:-3.11}"
VENV_BIN="$ROOT/.venv/bin"
DEST_BASE="$ROOT/build/sanity"
DEST="$DEST_BASE/ansible_collections/bluegreen/core"

log() { printf '[sanity] %s\n' "$*"; }
die() { printf '[sanity] ERROR: %s\n' "$*" >&2; exit 1; }

[ -x "$VENV_BIN/ansible-test" ] || die "ansible-test not found in .venv: run 'make bootstrap' first"
command -v git >/dev/null || die "git is needed to list the collection's files"
git rev-parse --is-inside-work-tree >/dev/null 2>&1 || die "$ROOT is not a git work tree"
export PATH="$VENV_BIN:$PATH"

# No ignore entries, ever: fix the code instead.
shopt -s nullglob
for f in tests/sanity/ignore-*.txt; do
    if grep -qvE '^[[:space:]]*(#|$)' "$f"; then
        die "$f has ignore entries; this project allows none (fix the code instead)"
    fi
done
shopt -u nullglob

# Tests that need a tool from outside PyPI: fail rather than let ansible-test
# skip them with a mere warning.
command -v shellcheck >/dev/null || die "shellcheck is missing (sanity test 'shellcheck'): run 'make bootstrap'"

# ansible-test bootstraps pip into each of its virtualenvs with a get-pip
# script that it downloads from ci-files.testing.ansible.com, a host that is not
# reachable from the lab machines (only PyPI is). It reads the script from a
# cache first, so put a stand-in there: it runs the pip wheel that ships with
# Python's ensurepip to install the pinned pip from the package index, as
# get-pip would. A real get-pip script already in the cache is left alone.
PIP_VERSION="$(python -c 'import types, sys
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version=sys.argv[1]))["pip"])' "$SANITY_PYTHON")"
GET_PIP="$HOME/.ansible/test/cache/get_pip_${PIP_VERSION//./_}.py"
GET_PIP_MARKER="# bluegreen.core stand-in for ansible-test's get-pip script"
if [ ! -s "$GET_PIP" ] || head -n1 "$GET_PIP" | grep -qxF "$GET_PIP_MARKER"; then
    mkdir -p "$(dirname "$GET_PIP")"
    cat >"$GET_PIP.tmp" <<PY
$GET_PIP_MARKER
# (written by scripts/sanity.sh; delete it to have ansible-test download the real one)
import glob
import os
import runpy
import sys

import ensurepip

# get-pip options that pip install does not know.
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
dirs = [os.path.join(os.path.dirname(ensurepip.__file__), "_bundled"), "/usr/share/python-wheels"]
wheels = sorted(w for d in dirs for w in glob.glob(os.path.join(d, "pip-*.whl")))
if not wheels:
    sys.exit("get-pip stand-in: no pip wheel bundled with ensurepip (install python3-venv)")
sys.path.insert(0, wheels[-1])
sys.argv = ["pip", "install"] + args
runpy.run_module("pip", run_name="__main__", alter_sys=True)
PY
    mv "$GET_PIP.tmp" "$GET_PIP"
fi

log "copying the collection to ${DEST#"$ROOT"/}"
rm -rf --one-file-system "$DEST_BASE"
mkdir -p "$DEST"
# Existing regular files and symlinks only (a tracked file may be deleted in the work tree).
git ls-files -z -co --exclude-standard \
    | while IFS= read -r -d '' f; do
        if [ -f "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
    done \
    | tar --null -T - -c -f - | tar -x -f - -C "$DEST"
# ansible-test takes its file list from the nearest enclosing git repository,
# which would be this one (where build/ is ignored): make the copy its own.
git -C "$DEST" init -q
git -C "$DEST" add -A
log "$(git -C "$DEST" ls-files | wc -l) files copied"

cd "$DEST"
log "ansible-test sanity --python $SANITY_PYTHON $*"
ansible-test sanity --color "${ANSIBLE_TEST_COLOR:-yes}" --python "$SANITY_PYTHON" "$@"

#!/usr/bin/env bash
# Build the docs site into build/docs/html (`make docs`): the guides (docs/*.md,
# read as Markdown by MyST) and the collection's reference (its modules,
# plugins and roles, written by antsibull-docs from their documentation and
# argument specs), with Sphinx (scripts/docsite/conf.py).
#
# Offline (no intersphinx, nothing downloaded). Fails on any error of
# antsibull-docs and on any Sphinx warning (sphinx-build -W): a broken
# reference, a guide's link to a heading or file that does not exist, a page
# left out of the site's contents. Fails too when README.md does not link a
# guide.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

OUT=build/docs
SRC="$OUT/rst"

log() { printf '[docs] %s\n' "$*"; }
die() { printf '[docs] ERROR: %s\n' "$*" >&2; exit 1; }

export PATH="$ROOT/.venv/bin:$PATH"
# bluegreen.core is this working tree (the link made by `make bootstrap`).
export ANSIBLE_COLLECTIONS_PATH="$ROOT/.cache/collections"
[ -e "$ANSIBLE_COLLECTIONS_PATH/ansible_collections/bluegreen/core/galaxy.yml" ] \
    || die "bluegreen.core is not linked into .cache/collections: run 'make bootstrap' first"
command -v antsibull-docs >/dev/null || die "antsibull-docs not found in .venv: run 'make bootstrap' first"

shopt -s nullglob
guides=(docs/*.md)
[ "${#guides[@]}" -gt 0 ] || die "no guides in docs/*.md"
for guide in "${guides[@]}"; do
    grep -qF "]($guide)" README.md || die "README.md does not link $guide (its 'Learn more' list links every guide)"
done

rm -rf --one-file-system "$OUT"
mkdir -p "$SRC/collection" "$SRC/guides"
chmod go-w "$SRC/collection"  # antsibull-docs writes only to a directory no one else may write to

log "antsibull-docs collection bluegreen.core"
antsibull-docs collection --use-current --fail-on-error --squash-hierarchy --dest-dir "$SRC/collection" bluegreen.core
cp "${guides[@]}" "$SRC/guides/"
cp scripts/docsite/index.rst "$SRC/"

log "sphinx-build (${#guides[@]} guides)"
sphinx-build -b html -q -W --keep-going -c scripts/docsite "$SRC" "$OUT/html"
log "built $OUT/html/index.html"

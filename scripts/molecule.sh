#!/usr/bin/env bash
# Run the Molecule scenarios under extensions/molecule/ on lab containers, one after the other
# (they share container names and the machine has 2 cores).
#   scripts/molecule.sh              every scenario
#   scripts/molecule.sh haproxy      only the named ones
# Run through `make molecule`, which prepares the venv and the lab image first.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$ROOT/lab/containers.conf}"
export ANSIBLE_COLLECTIONS_PATH="${ANSIBLE_COLLECTIONS_PATH:-$ROOT/.cache/collections}"
export PATH="$ROOT/.venv/bin:$PATH"

scenarios=("$@")
if [ ${#scenarios[@]} -eq 0 ]; then
    for f in extensions/molecule/*/molecule.yml; do
        scenarios+=("$(basename "$(dirname "$f")")")
    done
fi
[ ${#scenarios[@]} -gt 0 ] || { echo "[molecule] no scenarios under extensions/molecule/" >&2; exit 1; }

# Say which copy of the collection the scenarios run: `make molecule` uses the built tarball.
echo "[molecule] bluegreen.core from ANSIBLE_COLLECTIONS_PATH=$ANSIBLE_COLLECTIONS_PATH:"
ansible-galaxy collection list bluegreen.core -p "$ANSIBLE_COLLECTIONS_PATH" 2>/dev/null | sed -n 's/^/[molecule]   /p'

summary=()
rc=0
for s in "${scenarios[@]}"; do
    printf '\n[molecule] ======== scenario %s\n' "$s"
    start=$(date +%s)
    if molecule test -s "$s"; then status=ok; else status=FAILED; rc=1; fi
    summary+=("$(printf '%-12s %5ss  %s' "$s" "$(( $(date +%s) - start ))" "$status")")
    [ "$rc" -eq 0 ] || break
done
printf '\n[molecule] wall time per scenario\n'
printf '  %s\n' "${summary[@]}"
exit "$rc"

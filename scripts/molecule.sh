#!/usr/bin/env bash
# Run the Molecule scenarios under extensions/molecule/ on lab containers.
#   scripts/molecule.sh              every scenario side by side (each has containers of its own), then the tests
#                                    marked `alone` (they hold wall-time bounds) of the scenarios in ALONE_AFTER, on
#                                    the labs their other tests left, once the machine's cores are free for them
#   scripts/molecule.sh haproxy      only the named ones, one after the other, every test in file order
#   BLUEGREEN_MOLECULE_SERIAL=1      every scenario, one after the other
# Side by side (scripts/side-by-side.sh), each scenario writes build/molecule/<scenario>.log, printed whole when all end.
# Run through `make molecule`, which prepares the venv and the lab image first.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$ROOT/lab/containers.conf}"
export ANSIBLE_COLLECTIONS_PATH="${ANSIBLE_COLLECTIONS_PATH:-$ROOT/.cache/collections}"
export PATH="$ROOT/.venv/bin:$PATH"
# The scenarios with tests marked `alone` (extensions/molecule/conftest.py): side by side, they run every other test
# and keep their lab; then, alone, the marked tests on that lab; then their lab is destroyed.
ALONE_AFTER=(fleets)

scenarios=("$@")
parallel=0
if [ ${#scenarios[@]} -eq 0 ]; then
    for f in extensions/molecule/*/molecule.yml; do
        scenarios+=("$(basename "$(dirname "$f")")")
    done
    [ "${BLUEGREEN_MOLECULE_SERIAL:-0}" = 1 ] || parallel=1
fi
[ ${#scenarios[@]} -gt 0 ] || { echo "[molecule] no scenarios under extensions/molecule/" >&2; exit 1; }

# Say which copy of the collection the scenarios run: `make molecule` uses the built tarball.
echo "[molecule] bluegreen.core from ANSIBLE_COLLECTIONS_PATH=$ANSIBLE_COLLECTIONS_PATH:"
ansible-galaxy collection list bluegreen.core -p "$ANSIBLE_COLLECTIONS_PATH" 2>/dev/null | sed -n 's/^/[molecule]   /p'

summary=()
rc=0
record() {  # scenario, seconds, exit status
    summary+=("$(printf '%-24s %5ss  %s' "$1" "$2" "$([ "$3" -eq 0 ] && echo ok || echo FAILED)")")
    [ "$3" -eq 0 ] || rc=1
}

run_one() {
    printf '\n[molecule] ======== scenario %s\n' "$1"
    local start status=0
    start=$(date +%s)
    molecule test -s "$1" || status=$?
    record "$1" "$(( $(date +%s) - start ))" "$status"
}

if [ "$parallel" -eq 0 ]; then
    for s in "${scenarios[@]}"; do
        run_one "$s"
        [ "$rc" -eq 0 ] || break
    done
else
    printf '\n[molecule] ======== scenarios %s, side by side\n' "${scenarios[*]}"
    commands=()
    kept=()
    for s in "${scenarios[@]}"; do
        if [[ " ${ALONE_AFTER[*]} " == *" $s "* ]]; then
            kept+=("$s")
            commands+=("$s" "molecule destroy -s $s && BLUEGREEN_MOLECULE_TESTS=shared molecule test -s $s --destroy never")
        else
            commands+=("$s" "molecule test -s $s")
        fi
    done
    start=$(date +%s)
    status=0
    scripts/side-by-side.sh build/molecule "${commands[@]}" || status=$?
    record "${scenarios[*]}" "$(( $(date +%s) - start ))" "$status"
    for s in "${kept[@]}"; do
        if [ "$rc" -eq 0 ]; then
            printf '\n[molecule] ======== scenario %s, its tests marked alone\n' "$s"
            start=$(date +%s)
            status=0
            BLUEGREEN_MOLECULE_TESTS=alone molecule verify -s "$s" || status=$?
            record "$s (alone)" "$(( $(date +%s) - start ))" "$status"
        fi
        molecule destroy -s "$s" || rc=1
    done
fi
printf '\n[molecule] wall time per scenario\n'
printf '  %s\n' "${summary[@]}"
exit "$rc"

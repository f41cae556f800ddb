#!/usr/bin/env bash
# `make bench`: zero-downtime and cutover figures of the HAProxy and Nginx paths on a lab of its own.
#   scripts/bench.sh [ARGS]        bring up the bench lab, run benchmarks/bench.py ARGS, take the lab down
#   scripts/bench.sh scale [ARGS]  `make bench-scale`: the switch step's wall time from 1 to 5 routers and
#                                  2 to 5 app hosts (benchmarks/scale.py) on a 10-container lab of its own
# The labs' containers are named bluegreen-bench-* and bluegreen-benchscale-* (never the demo's or Molecule's: a
# separate prefix, so that the bench's `lab.sh down` leaves a running scale lab alone); they are
# removed at the end, also when the bench fails or is interrupted. The playbooks and the benchmarks' own
# commands reach them over SSH (.cache/lab/ssh_config, written by scripts/lab.sh). Results: benchmarks/results/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$ROOT/lab/containers.conf}"
export ANSIBLE_COLLECTIONS_PATH="${ANSIBLE_COLLECTIONS_PATH:-$ROOT/.cache/collections}"
export PATH="$ROOT/.venv/bin:$PATH"
export ANSIBLE_NOCOWS=1 ANSIBLE_RETRY_FILES_ENABLED=0

mode=bench
if [ "${1:-}" = scale ]; then mode=scale; shift; fi

if [ "$mode" = scale ]; then
    export BLUEGREEN_LAB_PREFIX=bluegreen-benchscale
    names=(router1 router2 router3 router4 router5 app1 app2 app3 app4 app5)
    script=benchmarks/scale.py
    BENCH_TIMEOUT="${BENCH_TIMEOUT:-1500}"
else
    export BLUEGREEN_LAB_PREFIX=bluegreen-bench
    # router: HAProxy; nginx: the Nginx router, in front of the same two app hosts.
    names=(router app1 app2 nginx)
    script=benchmarks/bench.py
    # Bounded: HAProxy and Nginx cases together on a 2-core machine.
    BENCH_TIMEOUT="${BENCH_TIMEOUT:-1500}"
fi

lab_down() { scripts/lab.sh down || true; }
trap lab_down EXIT
trap 'exit 130' INT TERM

started=$(date +%s)
export BLUEGREEN_BENCH_STARTED=$started
lab_down
scripts/lab.sh up "${names[@]}"
timeout --kill-after=60 "$BENCH_TIMEOUT" python3 "$script" "$@" </dev/null
printf '[bench] make %s took %ss; results in benchmarks/results/\n' \
    "$([ "$mode" = scale ] && echo bench-scale || echo bench)" "$(( $(date +%s) - started ))"

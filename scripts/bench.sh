#!/usr/bin/env bash
# `make bench`: zero-downtime and cutover figures of the HAProxy path on a lab of its own.
#   scripts/bench.sh         bring up the bench lab, run benchmarks/bench.py, take the lab down
# The lab's containers are named bluegreen-bench-* (never the demo's or Molecule's); they are
# removed at the end, also when the bench fails or is interrupted. Results: benchmarks/results/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$ROOT/lab/containers.conf}"
export ANSIBLE_COLLECTIONS_PATH="${ANSIBLE_COLLECTIONS_PATH:-$ROOT/.cache/collections}"
export PATH="$ROOT/.venv/bin:$PATH"
export BLUEGREEN_LAB_PREFIX=bluegreen-bench
export ANSIBLE_NOCOWS=1 ANSIBLE_RETRY_FILES_ENABLED=0
# The whole bench is bounded: 15 minutes is the budget on a 2-core machine.
BENCH_TIMEOUT="${BENCH_TIMEOUT:-840}"

lab_down() { scripts/lab.sh down || true; }
trap lab_down EXIT
trap 'exit 130' INT TERM

started=$(date +%s)
lab_down
scripts/lab.sh up router app1 app2
timeout --kill-after=10 "$BENCH_TIMEOUT" python3 benchmarks/bench.py "$@" </dev/null
printf '[bench] make bench took %ss; results in benchmarks/results/\n' "$(( $(date +%s) - started ))"

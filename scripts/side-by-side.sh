#!/usr/bin/env bash
# Run commands side by side, each writing its log to a folder; once all have ended, print each log whole, in the
# order given, then the wall time and outcome of each. Exits 1 if any failed. For work that leaves a core idle (one
# process at a time, or waiting on hosts): `make test`'s checks stage, scripts/molecule.sh's scenarios.
#   scripts/side-by-side.sh LOG_DIR NAME COMMAND [NAME COMMAND ...]
# Each COMMAND is run by bash -c; its log is LOG_DIR/NAME.log.
set -uo pipefail

if [ $# -lt 3 ] || [ $(( ($# - 1) % 2 )) -ne 0 ]; then
    echo "usage: $0 LOG_DIR NAME COMMAND [NAME COMMAND ...]" >&2
    exit 2
fi
dir="$1"; shift
mkdir -p "$dir"
names=()
start=$(date +%s)
while [ $# -gt 0 ]; do
    name="$1" command="$2"; shift 2
    names+=("$name")
    rm -f "$dir/$name.rc"
    { bash -c "$command" >"$dir/$name.log" 2>&1; echo "$? $(date +%s)" >"$dir/$name.rc"; } </dev/null &
done
printf '[side by side] %s (logs in %s/)\n' "${names[*]}" "$dir"
wait
rc=0
summary=()
for name in "${names[@]}"; do
    printf '\n[side by side] ======== %s\n' "$name"
    cat "$dir/$name.log"
    read -r status end <"$dir/$name.rc" 2>/dev/null || { status=1; end=$(date +%s); }
    [ "$status" -eq 0 ] || rc=1
    summary+=("$(printf '%-14s %5ss  %s' "$name" "$(( end - start ))" "$([ "$status" -eq 0 ] && echo ok || echo "FAILED (exit $status)")")")
done
printf '\n[side by side] wall time of each, from the common start\n'
printf '  %s\n' "${summary[@]}"
exit "$rc"

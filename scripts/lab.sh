#!/usr/bin/env bash
# The local lab: Podman containers with systemd standing in for real hosts (see docs/lab.md).
#   scripts/lab.sh up [NAME...]     create or start the containers (default: router app1 app2)
#   scripts/lab.sh down             remove every container of the lab
#   scripts/lab.sh ip NAME          print a container's address on Podman's bridge
# Container names are "bluegreen-lab-NAME". The image comes from scripts/lab-image.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$ROOT/lab/containers.conf}"
IMAGE="${BLUEGREEN_LAB_IMAGE:-localhost/bluegreen-lab:bookworm}"
PREFIX="${BLUEGREEN_LAB_PREFIX:-bluegreen-lab}"

log() { printf '[lab] %s\n' "$*"; }

wait_running() {
    local name=$1 state=""
    for _ in $(seq 1 120); do
        state=$(podman exec "$name" systemctl is-system-running 2>/dev/null || true)
        case "$state" in
            running) return 0 ;;
            degraded)
                log "$name booted degraded: $(podman exec "$name" systemctl --failed --no-legend --plain 2>/dev/null | tr '\n' ' ')"
                return 0 ;;
        esac
        sleep 0.5
    done
    log "$name did not finish booting (systemd says '${state:-nothing}')"
    return 1
}

up() {
    local names=("$@")
    [ ${#names[@]} -gt 0 ] || names=(router app1 app2)
    podman image exists "$IMAGE" || { log "image $IMAGE is missing: run 'make lab-image'"; exit 1; }
    for n in "${names[@]}"; do
        local c="$PREFIX-$n"
        if podman container exists "$c"; then
            [ "$(podman inspect -f '{{.State.Running}}' "$c")" = "true" ] || podman start "$c" >/dev/null
        else
            podman run -d --name "$c" --hostname "$n" --privileged --systemd=always \
                --label bluegreen-lab=1 "$IMAGE" /sbin/init >/dev/null
        fi
    done
    for n in "${names[@]}"; do
        wait_running "$PREFIX-$n"
        log "$PREFIX-$n is up at $(ip_of "$n")"
    done
}

down() {
    local ids
    ids=$(podman ps -a --filter label=bluegreen-lab=1 --filter "name=^$PREFIX-" -q)
    if [ -n "$ids" ]; then
        # shellcheck disable=SC2086
        podman rm -f -t 2 $ids >/dev/null
        log "removed the lab containers"
    else
        log "no lab containers to remove"
    fi
}

ip_of() { podman inspect -f '{{.NetworkSettings.IPAddress}}' "$PREFIX-$1"; }

case "${1:-}" in
    up) shift; up "$@" ;;
    down) down ;;
    ip) ip_of "$2" ;;
    *) echo "usage: $0 up [NAME...] | down | ip NAME" >&2; exit 2 ;;
esac

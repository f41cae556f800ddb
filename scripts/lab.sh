#!/usr/bin/env bash
# The local lab: Podman containers with systemd standing in for real hosts, reached over SSH (see docs/lab.md).
#   scripts/lab.sh up [NAME...]     create or start the containers (default: router app1 app2)
#   scripts/lab.sh down             remove every container of the lab
#   scripts/lab.sh ip NAME          print a container's address on Podman's bridge
#   scripts/lab.sh key              make the lab's SSH key unless it exists; print its path
# Container names are "bluegreen-lab-NAME" (BLUEGREEN_LAB_PREFIX). The image comes from scripts/lab-image.sh.
# Hosts are reached as user bluegreen (sudo without a password) with the key .cache/lab/id_ed25519.
# `up` and `down` rewrite .cache/lab/ssh_config: every running lab container by name, with its address,
# the user and the key, for Ansible and by hand:  ssh -F .cache/lab/ssh_config bluegreen-lab-router
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$ROOT/lab/containers.conf}"
IMAGE="${BLUEGREEN_LAB_IMAGE:-localhost/bluegreen-lab:bookworm}"
PREFIX="${BLUEGREEN_LAB_PREFIX:-bluegreen-lab}"
LAB_DIR="$ROOT/.cache/lab"
KEY="$LAB_DIR/id_ed25519"
SSH_CONFIG="$LAB_DIR/ssh_config"
LAB_USER=bluegreen
# Where sshd in the lab image reads the lab's public key (scripts/lab-image.sh).
AUTHORIZED_KEYS=/etc/ssh/bluegreen-lab-authorized_keys

log() { printf '[lab] %s\n' "$*"; }

key() {
    if [ ! -s "$KEY" ] || [ ! -s "$KEY.pub" ]; then
        mkdir -p "$LAB_DIR"
        chmod 0700 "$LAB_DIR"
        rm -f "$KEY" "$KEY.pub"
        ssh-keygen -q -t ed25519 -N '' -C bluegreen-lab -f "$KEY" </dev/null
        log "made the lab's SSH key $KEY" >&2
    fi
    printf '%s\n' "$KEY"
}

# Every running lab container (whatever its prefix) by name, at its current address.
write_ssh_config() {
    local tmp ids
    mkdir -p "$LAB_DIR"
    tmp=$(mktemp "$SSH_CONFIG.XXXXXX")
    ids=$(podman ps --filter label=bluegreen-lab=1 -q)
    {
        printf '# Written by scripts/lab.sh up/down: the running lab containers, reached over SSH as %s\n' "$LAB_USER"
        printf '# with the lab key (sudo without a password). By hand: ssh -F .cache/lab/ssh_config NAME\n'
        if [ -n "$ids" ]; then
            # shellcheck disable=SC2086
            podman inspect -f '{{.Name}} {{.NetworkSettings.IPAddress}}' $ids | sort \
                | awk 'NF == 2 { printf "Host %s\n    HostName %s\n", $1, $2 }'
        fi
        cat <<EOF
Host *
    User $LAB_USER
    IdentityFile $KEY
    IdentitiesOnly yes
    BatchMode yes
    # Each container makes new host keys, often at an address that an earlier one had.
    StrictHostKeyChecking no
    UserKnownHostsFile /dev/null
    LogLevel ERROR
    ControlMaster auto
    ControlPersist 60s
    ControlPath $LAB_DIR/%C
EOF
    } >"$tmp"
    mv "$tmp" "$SSH_CONFIG"
}

# Booted and reachable: SSH as the lab user, sudo, and systemd done with its start-up jobs.
wait_running() {
    local c=$1 state=""
    for _ in $(seq 1 120); do
        state=$(ssh -F "$SSH_CONFIG" -o ConnectTimeout=5 "$c" sudo -n systemctl is-system-running 2>/dev/null || true)
        case "$state" in
            running) return 0 ;;
            degraded)
                log "$c booted degraded: $(ssh -F "$SSH_CONFIG" "$c" systemctl --failed --no-legend --plain 2>/dev/null | tr '\n' ' ')"
                return 0 ;;
        esac
        sleep 0.5
    done
    log "$c is not reachable over SSH or did not finish booting (systemd says '${state:-nothing}')"
    return 1
}

up() {
    local names=("$@") image_id
    [ ${#names[@]} -gt 0 ] || names=(router app1 app2)
    podman image exists "$IMAGE" || { log "image $IMAGE is missing: run 'make lab-image'"; exit 1; }
    image_id=$(podman image inspect -f '{{.Id}}' "$IMAGE")
    key >/dev/null
    for n in "${names[@]}"; do
        local c="$PREFIX-$n"
        if podman container exists "$c" && [ "$(podman inspect -f '{{.Image}}' "$c")" != "$image_id" ]; then
            log "$c was made from another image (an older recipe): replacing it"
            podman rm -f -t 2 "$c" >/dev/null
        fi
        if podman container exists "$c"; then
            [ "$(podman inspect -f '{{.State.Running}}' "$c")" = "true" ] || podman start "$c" >/dev/null
        else
            podman run -d --name "$c" --hostname "$n" --privileged --systemd=always \
                --label bluegreen-lab=1 -v "$KEY.pub:$AUTHORIZED_KEYS:ro" "$IMAGE" /sbin/init >/dev/null
        fi
    done
    write_ssh_config
    for n in "${names[@]}"; do
        wait_running "$PREFIX-$n"
        log "$PREFIX-$n is up at $(ip_of "$n") (ssh -F .cache/lab/ssh_config $PREFIX-$n)"
    done
}

# SSH masters (Ansible's ControlPersist, 60 s) still connected to a container that goes away would hang the next
# connection through the same control socket, to a new container at the same name: close those of the lab's addresses.
close_masters() {
    local ip pid
    for ip in "$@"; do
        [ -n "$ip" ] || continue
        for pid in $(ss -Htnp state established dst "$ip" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
            case "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" in
                "ssh: "*"[mux]"*) kill "$pid" 2>/dev/null || true ;;
            esac
        done
    done
}

down() {
    local ids
    ids=$(podman ps -a --filter label=bluegreen-lab=1 --filter "name=^$PREFIX-" -q)
    if [ -n "$ids" ]; then
        # shellcheck disable=SC2046,SC2086
        close_masters $(podman inspect -f '{{.NetworkSettings.IPAddress}}' $ids)
        # shellcheck disable=SC2086
        podman rm -f -t 2 $ids >/dev/null
        log "removed the lab containers"
    else
        log "no lab containers to remove"
    fi
    write_ssh_config
}

ip_of() { podman inspect -f '{{.NetworkSettings.IPAddress}}' "$PREFIX-$1"; }

case "${1:-}" in
    up) shift; up "$@" ;;
    down) down ;;
    ip) ip_of "$2" ;;
    key) key ;;
    *) echo "usage: $0 up [NAME...] | down | ip NAME | key" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Build the lab's systemd base image for Molecule, the demo and the benchmarks.
#
# No container registry is reachable from the lab machines, so the image is
# built locally: debootstrap a Debian 12 (bookworm) root file system and
# `podman import` it. Skipped when the image already exists and was built from
# this same recipe.
#
# Usage: scripts/lab-image.sh             build unless present (then verify the build)
#        scripts/lab-image.sh --rebuild   build even if present (then verify)
#        scripts/lab-image.sh --verify    only boot-check the existing image
#
# Environment:
#   BLUEGREEN_LAB_IMAGE    image name (default localhost/bluegreen-lab:bookworm).
#                          A name that is not under localhost/ is taken as a user's
#                          own image: it is only checked for, never built or replaced.
#   BLUEGREEN_LAB_MIRROR   Debian mirror (default http://deb.debian.org/debian)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CONTAINERS_CONF="$ROOT/lab/containers.conf"

IMAGE="${BLUEGREEN_LAB_IMAGE:-localhost/bluegreen-lab:bookworm}"
SUITE=bookworm
MIRROR="${BLUEGREEN_LAB_MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${BLUEGREEN_LAB_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
# haproxy and nginx are only here to make converges faster: the roles still
# install, enable and start them (a user's hosts do not have them). Both are
# left disabled: a host runs the router its inventory asks for, and both would
# want port 80.
INCLUDE=python3,systemd,systemd-sysv,dbus,iproute2,curl,ca-certificates,haproxy,nginx,procps,sudo,python3-apt,openssh-server
# Hosts are reached over SSH, as users reach theirs: as LAB_USER, who may sudo without a password,
# with the lab's key (scripts/lab.sh key). Each container gets the public key as a read-only bind
# mount at LAB_AUTHORIZED_KEYS (scripts/lab.sh, extensions/molecule/create.yml).
LAB_USER=bluegreen
LAB_AUTHORIZED_KEYS=/etc/ssh/bluegreen-lab-authorized_keys
# Units that are useless or slow in a container, or harmful to the host: the
# containers run --privileged, so getty units would take the host's /dev/tty*,
# and systemd-sysctl / systemd-binfmt would write the host kernel's global
# settings (kernel.pid_max, binfmt_misc registrations).
MASK_UNITS=(
    getty@.service serial-getty@.service console-getty.service container-getty@.service
    getty.target systemd-networkd-wait-online.service systemd-firstboot.service
    systemd-udevd.service systemd-udev-trigger.service systemd-hwdb-update.service
    systemd-modules-load.service systemd-remount-fs.service sys-kernel-config.mount
    sys-kernel-debug.mount sys-kernel-tracing.mount apt-daily.timer apt-daily-upgrade.timer
    e2scrub_all.timer e2scrub_reap.service fstrim.timer
    systemd-sysctl.service systemd-binfmt.service
    proc-sys-fs-binfmt_misc.automount proc-sys-fs-binfmt_misc.mount
)
BOOT_TIMEOUT="${BLUEGREEN_LAB_BOOT_TIMEOUT:-120}"

log() { printf '[lab-image] %s\n' "$*"; }
die() { printf '[lab-image] ERROR: %s\n' "$*" >&2; exit 1; }

MODE=build
case "${1:-}" in
    "") ;;
    --rebuild) MODE=rebuild ;;
    --verify) MODE=verify ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
esac

command -v podman >/dev/null || die "podman is missing: run 'make bootstrap' first"

# shellcheck source=scripts/rootfs.sh
. "$ROOT/scripts/rootfs.sh"

WORK=""           # build directory, while building
VERIFY_NAME=""    # boot-check container, while it exists

cleanup() {
    local rc=$?
    if [ -n "$VERIFY_NAME" ]; then
        podman rm -f "$VERIFY_NAME" >/dev/null 2>&1 || true
    fi
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        remove_build_dir "$WORK" lab-image
    fi
    [ "$rc" -eq 0 ] || printf '[lab-image] ERROR: failed (exit %s)\n' "$rc" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Everything that shapes the image; a change rebuilds it.
recipe_hash() {
    { echo "$SUITE $INCLUDE ${MASK_UNITS[*]} $LAB_USER $LAB_AUTHORIZED_KEYS"; sed -n '/^customize_rootfs()/,/^}/p' "$0"; } \
        | sha256sum | cut -c1-16
}
RECIPE="$(recipe_hash)"
LABEL=org.bluegreen.lab.recipe

image_recipe() {
    podman image inspect --format "{{ index .Config.Labels \"$LABEL\" }}" "$IMAGE" 2>/dev/null || true
}

# --- boot check ------------------------------------------------------------------
verify_image() {
    local name="bluegreen-lab-verify-$$" start state i key ip who
    podman image exists "$IMAGE" || die "image $IMAGE does not exist"
    key=$("$ROOT/scripts/lab.sh" key)
    VERIFY_NAME="$name"
    start=$(date +%s.%N)
    podman run -d --name "$name" --privileged --systemd=always -v "$key.pub:$LAB_AUTHORIZED_KEYS:ro" \
        "$IMAGE" /sbin/init >/dev/null || die "could not start a container from $IMAGE"
    state=unknown
    for ((i = 0; i < BOOT_TIMEOUT * 4; i++)); do
        state=$(podman exec "$name" systemctl is-system-running 2>/dev/null || true)
        case "$state" in running|degraded) break ;; esac
        if [ "$(podman container inspect --format '{{.State.Running}}' "$name" 2>/dev/null)" != true ]; then
            podman logs --tail 30 "$name" >&2 || true
            die "the container stopped while booting"
        fi
        sleep 0.25
    done
    local secs
    secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
    log "container boot: systemctl is-system-running = '$state' after ${secs}s"
    if [ "$state" != running ]; then
        podman exec "$name" systemctl --no-pager --failed || true
        podman exec "$name" systemctl --no-pager list-jobs || true
        die "$IMAGE does not boot cleanly (state '$state'; expected 'running')"
    fi
    podman exec "$name" sh -c 'python3 --version && haproxy -v | head -n1 && nginx -v 2>&1' \
        | sed 's/^/[lab-image]   /' || die "python3, haproxy or nginx is missing in $IMAGE"
    if podman exec "$name" systemctl is-active --quiet haproxy || podman exec "$name" systemctl is-active --quiet nginx; then
        die "haproxy or nginx runs at boot in $IMAGE; the roles start the router a host needs"
    fi
    # The way in that the lab, Molecule and the benchmarks use: SSH as the lab user, then sudo.
    ip=$(podman inspect -f '{{.NetworkSettings.IPAddress}}' "$name")
    who=$(ssh -i "$key" -o IdentitiesOnly=yes -o BatchMode=yes -o ConnectTimeout=10 -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR "$LAB_USER@$ip" sudo -n id -un) \
        || die "cannot log in to $IMAGE over SSH as $LAB_USER with the lab key, or sudo asks for a password"
    [ "$who" = root ] || die "sudo on $IMAGE makes $LAB_USER '$who', not root"
    log "ssh $LAB_USER@$ip with the lab key, then sudo without a password: ok"
    podman rm -f "$name" >/dev/null
    VERIFY_NAME=""
    log "verified $IMAGE"
}

if [ "$MODE" = verify ]; then
    verify_image
    exit 0
fi

if podman image exists "$IMAGE" && [ "$MODE" = build ]; then
    if [[ "$IMAGE" != localhost/* ]]; then
        log "$IMAGE exists (user-provided image, not built here)"
        exit 0
    fi
    if [ "$(image_recipe)" = "$RECIPE" ]; then
        log "$IMAGE exists (recipe $RECIPE): nothing to do"
        exit 0
    fi
    log "$IMAGE exists but was built from another recipe: rebuilding"
fi
if [[ "$IMAGE" != localhost/* ]]; then
    die "$IMAGE is not present and only localhost/ images are built here; pull or build it yourself"
fi

# --- build -------------------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || die "debootstrap and rootful podman need root"
command -v debootstrap >/dev/null || die "debootstrap is missing: run 'make bootstrap' first"

WORK="$(mktemp -d "${TMPDIR:-/var/tmp}/bluegreen-lab.XXXXXX")"
ROOTFS="$WORK/rootfs"


customize_rootfs() {
    local r="$1" unit
    # Sources like a stock bookworm install (main, updates, security).
    rm -f "$r/etc/apt/sources.list"
    cat >"$r/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    for unit in "${MASK_UNITS[@]}"; do
        ln -sfn /dev/null "$r/etc/systemd/system/$unit"
    done
    chroot "$r" systemctl disable --quiet haproxy.service nginx.service
    # SSH: the lab user with passwordless sudo; sshd takes keys from the bind-mounted file only (no
    # passwords, no root login), and each container makes its own host keys at its first boot.
    chroot "$r" useradd --create-home --shell /bin/bash "$LAB_USER"
    printf '%s ALL=(ALL:ALL) NOPASSWD: ALL\n' "$LAB_USER" >"$r/etc/sudoers.d/$LAB_USER"
    chmod 0440 "$r/etc/sudoers.d/$LAB_USER"
    printf '%s\n' "AuthorizedKeysFile $LAB_AUTHORIZED_KEYS" "PasswordAuthentication no" \
        "KbdInteractiveAuthentication no" "PermitRootLogin no" >"$r/etc/ssh/sshd_config.d/bluegreen-lab.conf"
    rm -f "$r"/etc/ssh/ssh_host_*
    mkdir -p "$r/etc/systemd/system/ssh.service.d"
    printf '%s\n' "[Service]" "ExecStartPre=" "ExecStartPre=/usr/bin/ssh-keygen -A" "ExecStartPre=/usr/sbin/sshd -t" \
        >"$r/etc/systemd/system/ssh.service.d/host-keys.conf"
    # Every container must get its own machine id: an empty file makes systemd
    # generate one at boot.
    : >"$r/etc/machine-id"
    rm -f "$r/var/lib/dbus/machine-id"
    # Podman writes these per container.
    : >"$r/etc/hostname"
    # Fresh package lists so roles can install without an extra update.
    cp /etc/resolv.conf "$r/etc/resolv.conf"
    chroot "$r" apt-get -q -o Acquire::Retries=3 -o Acquire::Languages=none update \
        </dev/null >"$WORK/apt-update.log" 2>&1 || { cat "$WORK/apt-update.log" >&2; die "apt-get update failed in the root file system"; }
    chroot "$r" apt-get clean
    rm -f "$r/etc/resolv.conf"
    rm -rf "$r/var/log/"*.log "$r/var/cache/debconf/"*-old "$r/tmp/"* "$r/var/tmp/"*
}

t0=$(date +%s)
log "building $IMAGE (debootstrap $SUITE from $MIRROR in $WORK)"
if ! debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$ROOTFS" "$MIRROR" \
    >"$WORK/debootstrap.log" 2>&1; then
    tail -n 40 "$WORK/debootstrap.log" >&2
    [ -f "$ROOTFS/debootstrap/debootstrap.log" ] && tail -n 40 "$ROOTFS/debootstrap/debootstrap.log" >&2
    die "debootstrap failed"
fi
for pkg in ${INCLUDE//,/ }; do
    chroot "$ROOTFS" dpkg-query -W -f="\${db:Status-Status}" "$pkg" 2>/dev/null | grep -qx installed \
        || die "package $pkg is not installed in the root file system"
done
t1=$(date +%s)
log "debootstrap done in $((t1 - t0))s"

customize_rootfs "$ROOTFS"

# Re-tag rather than remove first: `podman rmi -f` would also remove running
# containers of the old image (someone's lab or Molecule run).
old_id="$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
tar --numeric-owner --xattrs -C "$ROOTFS" -c . | podman import \
    --change 'CMD=["/sbin/init"]' \
    --change 'STOPSIGNAL=SIGRTMIN+3' \
    --change "LABEL=$LABEL=$RECIPE" \
    --message "bluegreen.core lab image ($SUITE, recipe $RECIPE)" \
    - "$IMAGE" >/dev/null
[ "$(image_recipe)" = "$RECIPE" ] || die "podman import did not produce $IMAGE"
if [ -n "$old_id" ]; then
    podman rmi "$old_id" >/dev/null 2>&1 || log "previous image ${old_id:0:12} is still in use by containers; left in place"
fi
t2=$(date +%s)
log "imported $IMAGE ($(podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{ printf "%d MB", $1 / 1e6 }')) in $((t2 - t0))s total"

verify_image
log "image build + verification took $(($(date +%s) - t0))s"

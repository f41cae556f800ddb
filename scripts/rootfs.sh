# shellcheck shell=bash
# Shared by scripts/lab-image.sh and scripts/ee.sh, which build images from a debootstrap root file system.

# remove_build_dir DIR NAME: unmount what debootstrap and the chroot steps mounted below DIR (proc, sys, dev;
# deepest first), then remove DIR; if a mount remains, warn (as NAME) and leave DIR in place.
remove_build_dir() {
    local dir="$1" name="$2" m
    while read -r m; do
        umount -l "$m" 2>/dev/null || true
    done < <(awk -v r="$dir/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r)
    if awk -v r="$dir/" 'index($2, r) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
        printf '[%s] WARNING: mounts remain below %s; not removing it\n' "$name" "$dir" >&2
    else
        rm -rf --one-file-system "$dir"
    fi
}

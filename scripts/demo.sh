#!/usr/bin/env bash
# A newcomer's first look: a full blue-green release on a local lab.
#   scripts/demo.sh        bring up the lab, provision it, release 1.0.0 then 2.0.0, show the result
#   scripts/demo.sh down   take the lab down (both the HAProxy and the Nginx lab)
# ROUTER=nginx runs the same release through Nginx, on a lab of its own (bluegreen-lab-nginx-*).
# Run through `make demo` / `make demo-down`, which prepare the venv and the lab image first.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$ROOT/lab/containers.conf}"
export ANSIBLE_COLLECTIONS_PATH="${ANSIBLE_COLLECTIONS_PATH:-$ROOT/.cache/collections}"
export PATH="$ROOT/.venv/bin:$PATH"
# Tasks skipped by a condition say nothing useful to a first-time reader.
export ANSIBLE_DISPLAY_SKIPPED_HOSTS="${ANSIBLE_DISPLAY_SKIPPED_HOSTS:-false}"
INVENTORY="$ROOT/examples/lab/inventory.yml"
ROUTER="${ROUTER:-haproxy}"
case "$ROUTER" in
    haproxy) export BLUEGREEN_LAB_PREFIX="${BLUEGREEN_LAB_PREFIX:-bluegreen-lab}"; ROUTER_NAME=HAProxy ;;
    nginx) export BLUEGREEN_LAB_PREFIX="${BLUEGREEN_LAB_PREFIX:-bluegreen-lab-nginx}"; ROUTER_NAME=Nginx ;;
    *) echo "ROUTER must be haproxy or nginx, not '$ROUTER'" >&2; exit 2 ;;
esac
ARTIFACTS="$ROOT/.cache/artifacts"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ "${1:-}" = "down" ]; then
    BLUEGREEN_LAB_PREFIX=bluegreen-lab scripts/lab.sh down
    BLUEGREEN_LAB_PREFIX=bluegreen-lab-nginx scripts/lab.sh down
    exit 0
fi

say "Building the demo app's release tarballs 1.0.0 and 2.0.0"
python3 examples/demo-app/build.py --version 1.0.0 --out "$ARTIFACTS"
python3 examples/demo-app/build.py --version 2.0.0 --out "$ARTIFACTS"

say "Bringing up the lab: one $ROUTER_NAME router and two app hosts (Podman containers with systemd, reached over SSH)"
scripts/lab.sh up router app1 app2

play() { ansible-playbook -i "$INVENTORY" -e bluegreen_router="$ROUTER" -e bluegreen_lab_prefix="$BLUEGREEN_LAB_PREFIX" "$@"; }

say "Provisioning: app user, directories and units for both colours; $ROUTER_NAME with live (:80) and preview (:8080) listeners"
play bluegreen.core.provision

for version in 1.0.0 2.0.0; do
    say "Releasing $version: deploy to the idle colour, smoke-test it, switch, watch"
    play bluegreen.core.release -e bluegreen_version=$version \
        -e bluegreen_artifact="$ARTIFACTS/demo-app-$version.tar.gz"
done

say "Status, read from the router itself"
play bluegreen.core.status | sed -n '/"msg": \[/,/\]/p'

router_ip=$(scripts/lab.sh ip router)
say "Five requests through the router's live listener (http://$router_ip/)"
for _ in 1 2 3 4 5; do
    curl -s -m 5 -D - -o /dev/null "http://$router_ip/" | tr -d '\r' | grep -iE '^(x-bluegreen-colour|x-app-version)' | paste -sd' ' -
done
say "The idle colour stays warm for an instant rollback, reachable on the preview listener (http://$router_ip:8080/)"
curl -s -m 5 -D - -o /dev/null "http://$router_ip:8080/" | tr -d '\r' | grep -iE '^(x-bluegreen-colour|x-app-version)' | paste -sd' ' -

EXTRA=""
[ "$ROUTER" = haproxy ] || EXTRA="-e bluegreen_router=$ROUTER -e bluegreen_lab_prefix=$BLUEGREEN_LAB_PREFIX"
cat <<EOT

The lab is still running. Try an instant rollback, then look again:
  ANSIBLE_COLLECTIONS_PATH=.cache/collections .venv/bin/ansible-playbook -i examples/lab/inventory.yml $EXTRA bluegreen.core.rollback
  ANSIBLE_COLLECTIONS_PATH=.cache/collections .venv/bin/ansible-playbook -i examples/lab/inventory.yml $EXTRA bluegreen.core.status
Log in to a host (user bluegreen, sudo without a password): ssh -F .cache/lab/ssh_config $BLUEGREEN_LAB_PREFIX-router
Run 'make demo' again (ROUTER=$ROUTER) to release 1.0.0 and 2.0.0 once more; 'make demo-down' removes the lab.
EOT

#!/usr/bin/env bash
# Build and check the project's execution environment (EE): an image with bluegreen.core, ansible-core,
# ansible-runner, boto3/botocore and the collections the roles call, for AWX or ansible-runner
# (docs/execution-environment.md). No container registry and no Galaxy is reachable from the lab
# machines, so nothing is pulled from either:
#
#  1. The base image (localhost/bluegreen-ee-base:bookworm) is a Debian 12 root file system made with
#     debootstrap and `podman import`ed: python3, Debian's pip, openssh-client. Made once, and again only
#     when its recipe changes.
#  2. The collections come from local files, staged in build/ee/collections: the tarball of `make build`,
#     and amazon.aws and community.aws copied from the `ansible` package installed in .venv.
#  3. `ansible-builder create` turns ee/execution-environment.yml into build/ee/context, and
#     `podman build` builds it (its pip installs come from PyPI) as localhost/bluegreen-ee:<version> and
#     :latest. Skipped when the image exists and was built from the same inputs (label
#     org.bluegreen.ee.inputs): the build context, the collection's MANIFEST.json and the base image.
#  4. A new image is checked: the collections, boto3, ansible-doc, ansible-runner, and a playbook run by
#     ansible-runner with process isolation in a container of the image. An image that fails is untagged.
#
# Usage: scripts/ee.sh              build and check unless up to date
#        scripts/ee.sh --rebuild    build and check even if up to date (Podman's layer cache applies)
#        scripts/ee.sh --no-cache   remake the base image, then build without any layer cache, and check
#        scripts/ee.sh --check      only check the existing image
#
# Environment:
#   BLUEGREEN_EE_IMAGE      image name without a tag (default localhost/bluegreen-ee); tagged with the
#                           collection's version and `latest`
#   BLUEGREEN_EE_CA_BUNDLE  CA bundle bind-mounted over the image's own for the build's RUN steps, never
#                           stored in the image (default /etc/ssl/certs/ca-certificates.crt: this machine's,
#                           so a TLS-inspecting proxy it trusts is trusted by pip too; empty: the image's own)
#   BLUEGREEN_EE_MIRROR     Debian mirror for the base image (default http://deb.debian.org/debian)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$ROOT/lab/containers.conf}"
export PATH="$ROOT/.venv/bin:$PATH"

DEFINITION=ee/execution-environment.yml
BASE_IMAGE=localhost/bluegreen-ee-base:bookworm
IMAGE="${BLUEGREEN_EE_IMAGE:-localhost/bluegreen-ee}"
CA_BUNDLE="${BLUEGREEN_EE_CA_BUNDLE-/etc/ssl/certs/ca-certificates.crt}"
MIRROR="${BLUEGREEN_EE_MIRROR:-http://deb.debian.org/debian}"
SUITE=bookworm
# What ansible-builder needs in the base image (v3: python3 with pip; `options.skip_pip_install`, since
# Debian's python3 has no ensurepip), and ssh for the playbooks to reach their hosts.
INCLUDE=python3,python3-pip,openssh-client,ca-certificates
WORK_DIR=build/ee
STAGE="$WORK_DIR/collections"
CONTEXT="$WORK_DIR/context"
BASE_LABEL=org.bluegreen.ee-base.recipe
INPUTS_LABEL=org.bluegreen.ee.inputs

log() { printf '[ee] %s\n' "$*"; }
die() { printf '[ee] ERROR: %s\n' "$*" >&2; exit 1; }

MODE=build
case "${1:-}" in
    "") ;;
    --rebuild) MODE=rebuild ;;
    --no-cache) MODE=no-cache ;;
    --check) MODE=check ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
esac

command -v podman >/dev/null || die "podman is missing: run 'make bootstrap' first"

VERSION="$(sed -n 's/^version:[[:space:]]*//p' galaxy.yml | tr -d "'\"")"
TARBALL="dist/bluegreen-core-$VERSION.tar.gz"
TAG="$IMAGE:$VERSION"

# shellcheck source=scripts/rootfs.sh
. "$ROOT/scripts/rootfs.sh"

BASE_WORK=""     # the base image's root file system, while it is made
RUNNER_DIR=""    # ansible-runner's private data dir, while the check runs
BUILT=""         # set once an image was built: until its check passes, a failure takes its tags off

cleanup() {
    local rc=$?
    [ -z "$RUNNER_DIR" ] || rm -rf "$RUNNER_DIR"
    if [ -n "$BASE_WORK" ] && [ -d "$BASE_WORK" ]; then
        remove_build_dir "$BASE_WORK" ee
    fi
    if [ "$rc" -ne 0 ] && [ -n "$BUILT" ]; then
        podman untag "$TAG" "$TAG" "$IMAGE:latest" 2>/dev/null || true
        printf '[ee] %s failed its check: untagged, so the next run builds it again\n' "$TAG" >&2
    fi
    [ "$rc" -eq 0 ] || printf '[ee] ERROR: failed (exit %s)\n' "$rc" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

label_of() {  # label_of IMAGE LABEL: the label's value, or nothing
    podman image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true
}

# --- 1. the base image ------------------------------------------------------------------------------
customize_base() {
    local r="$1"
    rm -f "$r/etc/apt/sources.list"
    cat >"$r/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    # Small, like Debian's slim images: no package lists (run apt-get update before installing), no
    # manuals, translations or documentation other than the copyright files, now or for later packages.
    cat >"$r/etc/dpkg/dpkg.cfg.d/bluegreen-ee-slim" <<'EOF'
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
EOF
    chroot "$r" apt-get clean
    rm -rf "$r/var/lib/apt/lists/"* "$r/usr/share/man/"* "$r/usr/share/info/"* "$r/usr/share/locale/"*
    find "$r/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete
    : >"$r/etc/machine-id"
    : >"$r/etc/hostname"
    rm -f "$r/etc/resolv.conf"
    rm -rf "$r/var/log/"*.log "$r/var/cache/debconf/"*-old "$r/tmp/"* "$r/var/tmp/"*
}

base_recipe() {
    { echo "$SUITE $INCLUDE $MIRROR"; sed -n '/^customize_base()/,/^}/p' "$0"; } | sha256sum | cut -c1-16
}

build_base() {
    local recipe t0 rootfs old_id
    recipe="$(base_recipe)"
    if [ "$MODE" != no-cache ] && [ "$(label_of "$BASE_IMAGE" "$BASE_LABEL")" = "$recipe" ]; then
        log "$BASE_IMAGE exists (recipe $recipe)"
        return
    fi
    [ "$(id -u)" -eq 0 ] || die "debootstrap and rootful podman need root"
    command -v debootstrap >/dev/null || die "debootstrap is missing: run 'make bootstrap' first"
    t0=$(date +%s)
    BASE_WORK="$(mktemp -d "${TMPDIR:-/var/tmp}/bluegreen-ee-base.XXXXXX")"
    rootfs="$BASE_WORK/rootfs"
    log "making $BASE_IMAGE (debootstrap $SUITE from $MIRROR)"
    if ! debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$rootfs" "$MIRROR" \
        >"$BASE_WORK/debootstrap.log" 2>&1; then
        tail -n 40 "$BASE_WORK/debootstrap.log" >&2
        die "debootstrap failed"
    fi
    customize_base "$rootfs"
    old_id="$(podman image inspect --format '{{.Id}}' "$BASE_IMAGE" 2>/dev/null || true)"
    tar --numeric-owner --xattrs -C "$rootfs" -c . | podman import --quiet \
        --change 'ENV=LANG=C.UTF-8' \
        --change 'CMD=["/bin/bash"]' \
        --change "LABEL=$BASE_LABEL=$recipe" \
        --message "bluegreen.core execution environment base ($SUITE, recipe $recipe)" \
        - "$BASE_IMAGE" >/dev/null
    [ "$(label_of "$BASE_IMAGE" "$BASE_LABEL")" = "$recipe" ] || die "podman import did not produce $BASE_IMAGE"
    # The old base goes unless images built on it still need it (they keep it until they go).
    [ -z "$old_id" ] || podman rmi "$old_id" >/dev/null 2>&1 || true
    rm -rf --one-file-system "$BASE_WORK"
    BASE_WORK=""
    log "made $BASE_IMAGE ($(image_size "$BASE_IMAGE")) in $(($(date +%s) - t0))s"
}

image_size() {
    podman image inspect --format '{{.Size}}' "$1" | awk '{ printf "%d MB", $1 / 1e6 }'
}

# --- 2. the collections, from local files ---------------------------------------------------------------
# The pins of the definition must be those of requirements-constraints.txt, which the tests run with.
check_pins() {
    local pin want
    while read -r pin; do
        want=$(grep -ix "${pin%%==*}==.*" requirements-constraints.txt || true)
        [ "$pin" = "$want" ] || die "$DEFINITION pins $pin but requirements-constraints.txt has '${want:-nothing}'"
    done < <(grep -oE '[A-Za-z0-9_.-]+==[A-Za-z0-9_.+-]+' "$DEFINITION")
}

# The directory of an installed collection from the `ansible` package (on Python's path, not Galaxy's).
bundled_collection() {
    python3 -c 'import importlib.util, sys; print(importlib.util.find_spec(sys.argv[1]).submodule_search_locations[0])' \
        "ansible_collections.$1"
}

stage_collections() {
    local name src
    [ -f "$TARBALL" ] || die "$TARBALL is missing: run 'make build' first"
    rm -rf "$STAGE"
    mkdir -p "$STAGE"
    cp "$TARBALL" "$STAGE/bluegreen-core.tar.gz"
    for name in amazon.aws community.aws; do
        src="$(bundled_collection "$name")" || die "$name is not in the ansible package in .venv: run 'make bootstrap'"
        [ -f "$src/MANIFEST.json" ] || die "$src has no MANIFEST.json"
        mkdir -p "$STAGE/$name"
        tar -C "$src" --exclude=__pycache__ -cf - . | tar -C "$STAGE/$name" -xf -
    done
}

# Everything the image is built from: the build context (the collection tarball by its MANIFEST.json,
# which holds the checksum of every file: the tarball's own bytes change with each `make build`, by gzip's
# time stamp) and the base image.
inputs_hash() {
    {
        (cd "$CONTEXT" && find . -type f ! -name '*.tar.gz' -print0 | sort -z | xargs -0 sha256sum)
        tar -xzOf "$TARBALL" MANIFEST.json
        podman image inspect --format '{{.Id}}' "$BASE_IMAGE"
    } | sha256sum | cut -c1-16
}

# --- 3. the image -------------------------------------------------------------------------------------
# Sets BUILT when it built the image (which the check must then pass, or the tags are taken off).
build_image() {
    local inputs t0 old_id build_opts=()
    check_pins
    grep -q "name: $BASE_IMAGE\$" "$DEFINITION" || die "$DEFINITION does not build on $BASE_IMAGE"
    stage_collections
    rm -rf "$CONTEXT"
    if ! ansible-builder create -f "$DEFINITION" --context "$CONTEXT" --output-filename Containerfile \
        >"$WORK_DIR/create.log" 2>&1; then
        cat "$WORK_DIR/create.log" >&2
        die "ansible-builder create failed"
    fi
    inputs="$(inputs_hash)"
    if [ "$MODE" = build ] && [ "$(label_of "$TAG" "$INPUTS_LABEL")" = "$inputs" ]; then
        log "$TAG exists (inputs $inputs): nothing to do (scripts/ee.sh --check checks it again)"
        return
    fi
    if [ -n "$CA_BUNDLE" ]; then
        [ -f "$CA_BUNDLE" ] || die "BLUEGREEN_EE_CA_BUNDLE=$CA_BUNDLE is not a file"
        build_opts+=(--volume "$CA_BUNDLE:/etc/ssl/certs/ca-certificates.crt:ro")
    fi
    [ "$MODE" != no-cache ] || build_opts+=(--no-cache)
    old_id="$(podman image inspect --format '{{.Id}}' "$TAG" 2>/dev/null || true)"
    t0=$(date +%s)
    log "building $TAG from $CONTEXT (log: $WORK_DIR/build.log)"
    if ! podman build "${build_opts[@]}" --layers --label "$INPUTS_LABEL=$inputs" \
        -f "$CONTEXT/Containerfile" -t "$TAG" -t "$IMAGE:latest" "$CONTEXT" </dev/null >"$WORK_DIR/build.log" 2>&1; then
        tail -n 40 "$WORK_DIR/build.log" >&2
        die "podman build failed (the whole log: $WORK_DIR/build.log)"
    fi
    [ "$(label_of "$TAG" "$INPUTS_LABEL")" = "$inputs" ] || die "podman build did not produce $TAG"
    BUILT=1
    if [ -n "$old_id" ] && [ "$old_id" != "$(podman image inspect --format '{{.Id}}' "$TAG")" ]; then
        podman rmi "$old_id" >/dev/null 2>&1 || log "the previous image ${old_id:0:12} is still in use; left in place"
    fi
    log "built $TAG ($(image_size "$TAG")) in $(($(date +%s) - t0))s"
}

# --- 4. the check -----------------------------------------------------------------------------------------
check_image() {
    local t0
    t0=$(date +%s)
    podman image exists "$TAG" || die "$TAG does not exist: run 'make ee'"
    log "checking $TAG"
    podman run --rm "$TAG" bash -euo pipefail -c '
        ansible --version | head -n 1
        ansible-runner --version | sed "s/^/ansible-runner /"
        python3 -c "import boto3, botocore; print(\"boto3\", boto3.__version__, \"botocore\", botocore.__version__)"
        ansible-galaxy collection list --format json | python3 -c "
import json, sys
found = {name: v[\"version\"] for path in json.load(sys.stdin).values() for name, v in path.items()}
for name in (\"bluegreen.core\", \"amazon.aws\", \"community.aws\"):
    if name not in found:
        sys.exit(name + \" is not installed\")
    print(name, found[name])
"
        ansible-doc bluegreen.core.haproxy_traffic >/dev/null && echo "ansible-doc bluegreen.core.haproxy_traffic: ok"
    ' | sed 's/^/[ee]   /'

    # A playbook through ansible-runner with process isolation: runner starts a container of the image
    # with the private data dir mounted at /runner, as AWX does.
    RUNNER_DIR="$(mktemp -d "${TMPDIR:-/tmp}/bluegreen-ee-runner.XXXXXX")"
    mkdir -p "$RUNNER_DIR/project" "$RUNNER_DIR/inventory"
    printf 'localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n' >"$RUNNER_DIR/inventory/hosts"
    cat >"$RUNNER_DIR/project/ee_check.yml" <<'EOF'
- name: Check the execution environment
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Use a filter and a test of bluegreen.core
      ansible.builtin.assert:
        that:
          - ('haproxy' | bluegreen.core.router).preview
          - ('alb' | bluegreen.core.router).api
          - "'demo' is bluegreen.core.safe_name"
    - name: Import boto3 as the AWS routers do
      ansible.builtin.command: python3 -c 'import boto3, botocore'
      changed_when: false
EOF
    if ! ansible-runner run "$RUNNER_DIR" -p ee_check.yml --quiet --ident "bluegreen-ee-check-$$" \
        --process-isolation --process-isolation-executable podman --container-image "$TAG" \
        --container-option=--user=root; then
        cat "$RUNNER_DIR"/artifacts/*/stdout >&2 2>/dev/null || true
        die "ansible-runner could not run a playbook in $TAG"
    fi
    log "ansible-runner --process-isolation ran ee_check.yml in $TAG: $(sed 's/\x1b\[[0-9;]*m//g' "$RUNNER_DIR"/artifacts/*/stdout | grep -E '^localhost +:' | tr -s ' ')"
    log "checked $TAG in $(($(date +%s) - t0))s"
}

if [ "$MODE" != check ]; then
    build_base
    build_image
fi
if [ "$MODE" = check ] || [ -n "$BUILT" ]; then
    check_image
fi
if [ -n "$BUILT" ]; then
    # Podman keeps the layers of every earlier build; drop those nothing uses any more. Only images built
    # on this base carry its label: nobody else's images are touched.
    podman image prune --force --filter "label=$BASE_LABEL" >/dev/null
fi

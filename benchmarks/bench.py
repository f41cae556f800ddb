# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make bench`: zero-downtime and cutover figures of the HAProxy and Nginx paths, on a lab of its own.

    scripts/bench.sh        (brings the lab up, runs this, takes the lab down)
    python3 benchmarks/bench.py [--quick]

Expects the bench lab (scripts/lab.sh with BLUEGREEN_LAB_PREFIX=bluegreen-bench: router, app1, app2,
nginx) to be up; its hosts are reached over SSH (.cache/lab/ssh_config, written by scripts/lab.sh).
It provisions it (both routers in one run), releases 1.0.0 then 2.0.0 so both colours run, and then
runs one probe.py run per case (keep-alive, new-connection and stream clients at once, against the
router's bridge address only), with the case's action in the middle and its events marked; a run
ends a few seconds after its action (LEAD_S, TAIL_S), bounded by a limit per case:

  switch      ansible-playbook bluegreen.core.switch -e bluegreen_monitor_seconds=0 -e bluegreen_force=true
  rollback    ansible-playbook bluegreen.core.rollback -e bluegreen_force=true
  flips       20 runtime-API `set map` flips from a small Python loop inside the router
  release     ansible-playbook bluegreen.core.release of 3.0.0
  restart     baseline: systemctl restart of the live colour's unit on both app hosts
  reload      baseline: the app's HAProxy file rewritten to a static use_backend of the other colour + reload
  ramp        ansible-playbook bluegreen.core.switch in weighted steps 10, 50, 100 (a 5 s watch each), with 120 sticky
              clients beside the usual ones: failed requests, and per step the share the new colour served

and times `bluegreen.core.rollback` against a one-task no-op playbook (the Ansible floor; the last
round under profile_tasks, the rollback profile).
Then the Nginx path: the `nginx` container, provisioned as an Nginx router in front of the same two
app hosts (its own inventory, written to .cache/bench), runs switch, rollback, 20 flips (the
collection's own _nginx.apply_switch: link swap, nginx -t, reload, new workers up) and a release
of 4.0.0. The Nginx cases are skipped, with the reason in the report, while roles/nginx is not
committed. The scale figures of `make bench-scale` (benchmarks/scale.py, scale.json) are added to
the report when present. Writes benchmarks/results/report.md, report.json and one PNG timeline per
case (report.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import probe  # noqa: E402
import report  # noqa: E402

ROOT = os.path.dirname(HERE)
INVENTORY = os.path.join(HERE, "inventory.yml")
RESULTS = os.path.join(HERE, "results")
WORK = os.path.join(ROOT, ".cache", "bench")
ARTIFACTS = os.path.join(ROOT, ".cache", "artifacts")
PREFIX = os.environ.get("BLUEGREEN_LAB_PREFIX", "bluegreen-bench")
ROUTER = f"{PREFIX}-router"
NGINX_ROUTER = f"{PREFIX}-nginx"
NGINX_INVENTORY = os.path.join(WORK, "inventory-nginx.yml")
NGINX_CONF_DIR = "/etc/nginx/bluegreen"
# Where the flip loop finds the collection's module_utils inside the Nginx router.
NGINX_FLIP_LIB = "/tmp/bluegreen-bench-lib"
NGINX_ROLE_FILE = os.path.join("roles", "nginx", "tasks", "main.yml")
SCALE_JSON = os.path.join(RESULTS, "scale.json")
# The ramp case's figures: kept apart, so that `--cases ramp` alone updates them and leaves the report's other cases.
RAMP_JSON = os.path.join(RESULTS, "ramp.json")
APPS = (f"{PREFIX}-app1", f"{PREFIX}-app2")
APP = "demo"
MAP_FILE = "/etc/haproxy/maps/bluegreen.map"
SOCKET = "/run/haproxy/admin.sock"
APP_CFG = f"/etc/haproxy/bluegreen.d/{APP}.cfg"  # the app's own part of the router: its listeners and backends
HISTORY = f"/var/lib/bluegreen/{APP}/history.jsonl"
COLOURS = ("blue", "green")
COMMAND_TIMEOUT_S = 600
PREPARE_TIMEOUT_S = 900
PROVISION_INVENTORY = os.path.join(WORK, "inventory-provision.yml")
# Every lab container by name, with its address, the lab user and key (scripts/lab.sh up writes it).
SSH_CONFIG = os.path.join(ROOT, ".cache", "lab", "ssh_config")

# How long each probe run lasts. A case has `LEAD_S` of steady state before its action, and its
# request clients stop `TAIL_S` after the action ends (later only while the case has not yet sent
# its share of TARGET_MIN_REQUESTS), so a run is as long as its action takes on this machine,
# loaded or not, up to the case's limit. Its two streams start with the run and last the case's
# stream length (lead + the action's usual time + tail); while the action still runs, a stream that
# completed is followed by one of CHAIN_STREAM_S, so streams are open across the whole action.
LEAD_S = 3.0
TAIL_S = 5.0
CHAIN_STREAM_S = 10.0

# Targets the report is read against (not asserted).
TARGET_MIN_REQUESTS = 50_000
TARGET_MIN_FLIPS = 20
TARGET_CUTOVER_MS = 50.0
TARGET_P99_RATIO = 2.0
TARGET_ROLLBACK_RATIO = 1.5
# A release with no watch (deploy, smoke test, switch) against the same one-task playbook.
TARGET_RELEASE_RATIO = 8.0
# A build answering 500 is switched back within this many seconds of the first 5xx, and fewer than this share of the
# watch window's requests fail (the revert case: the fail-fast watch, beside a fixed window of REVERT_WATCH_S).
TARGET_REVERT_S = 2.0
TARGET_REVERT_FAILED_SHARE = 0.05
REVERT_WATCH_S = 15
RAMP_STEPS = (10, 50, 100)
RAMP_WATCH_S = 5
TARGET_RAMP_POINTS = 3.0
STICKY_COOKIE = f"bluegreen_{APP}"
# Each of the switch, rollback and flips cases goes on until it has sent this many requests, so the
# three reach TARGET_MIN_REQUESTS together even when their actions are quick.
MIN_CASE_REQUESTS = -(-TARGET_MIN_REQUESTS // 3)

NOOP_PLAYBOOK = """---
- name: No-op on the same hosts (the Ansible floor)
  hosts: bluegreen_apps
  gather_facts: false
  tasks:
    - name: Reach each host once
      ansible.builtin.ping:
"""

# Runs inside the router container (python3 -c): flips the live map entry N times over the
# admin socket, printing one JSON line per flip with the epoch time just before `set map`.
FLIPPER = r"""
import json, socket, sys, time
SOCK, MAP, APP, N, GAP = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
assert 1 <= N <= 200 and 0.05 <= GAP <= 5
def cmd(line):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    s.connect(SOCK)
    s.sendall((line + "\n").encode())
    out = b""
    while True:
        data = s.recv(4096)
        if not data:
            break
        out += data
    s.close()
    return out.decode().strip()
live = cmd("get map %s %s" % (MAP, APP)).split('value="', 1)[1].split('"', 1)[0].rsplit("_", 1)[1]
for i in range(N):
    new = "green" if live == "blue" else "blue"
    t0 = time.time()
    out = cmd("set map %s %s %s_%s" % (MAP, APP, APP, new))
    t1 = time.time()
    cmd("set map %s %s.preview %s_%s" % (MAP, APP, APP, live))
    print(json.dumps({"flip": i + 1, "to": new, "time": t0, "ms": round((t1 - t0) * 1000, 3), "out": out}), flush=True)
    live = new
    time.sleep(GAP)
"""


# --- pure helpers (unit-tested) ---------------------------------------------------------------

def other_colour(colour: str) -> str:
    """The colour that is not `colour`."""
    if colour not in COLOURS:
        raise ValueError(f"not a colour: {colour!r}")
    return COLOURS[1 - COLOURS.index(colour)]


# Runs inside the Nginx router (python3 -c): flips the live colour N times the way nginx_traffic
# does (_nginx.apply_switch: swap the live and preview links, nginx -t, reload, wait for the new
# workers), one JSON line per flip with the epoch time just before the switch began.
# The collection's module_utils the Nginx flip loop imports (_nginx and what it imports), copied into the router.
NGINX_FLIP_MODULES = ("_command.py", "_errors.py", "_fs.py", "_nginx.py", "_validate.py")

NGINX_FLIPPER = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from ansible_collections.bluegreen.core.plugins.module_utils import _nginx
CONF, APP, N, GAP = sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
assert 1 <= N <= 200 and 0.05 <= GAP <= 5
layout = _nginx.Layout(CONF, APP)
nginx = _nginx.Nginx(binary="nginx", conf=_nginx.DEFAULT_NGINX_CONF, reload_command=list(_nginx.DEFAULT_RELOAD_COMMAND),
                     pid_file=_nginx.DEFAULT_PID_FILE, error_log=_nginx.DEFAULT_ERROR_LOG,
                     reload_timeout=_nginx.DEFAULT_RELOAD_TIMEOUT)
live = _nginx.colour_of_target(_nginx.read_link(layout, _nginx.LIVE_LINK, _nginx.live_files()).name)
for i in range(N):
    new = "green" if live == "blue" else "blue"
    plan = _nginx.SwitchPlan(layout, new, 100, True)
    t0 = time.time()
    try:
        done, out = _nginx.apply_switch(plan, nginx), ""
    except _nginx.NginxError as exc:
        done, out = {}, str(exc)
    t1 = time.time()
    print(json.dumps({"flip": i + 1, "to": new, "time": t0, "ms": round((t1 - t0) * 1000, 3),
                      "reload_s": (done or {}).get("seconds"), "out": out}), flush=True)
    if out:
        break
    live = new
    time.sleep(GAP)
"""


def live_from_map(text: str, app: str = APP) -> str:
    """The live colour from a map file's text (`<app> <app>_<colour>` line)."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == app and parts[1].startswith(app + "_"):
            colour = parts[1][len(app) + 1:]
            if colour in COLOURS:
                return colour
    raise ValueError(f"no live entry for {app!r} in the map file")


def rewrite_use_backend(cfg: str, app: str, colour: str) -> str:
    """The app's HAProxy file with the live frontend's map-driven use_backend replaced by a static one.

    What config-rewrite blue-green roles do: point the frontend at one backend and reload.
    Only the line that maps the `<app>` key is touched (not `<app>.preview`).
    """
    if colour not in COLOURS:
        raise ValueError(f"not a colour: {colour!r}")
    pattern = re.compile(r"^(\s*)use_backend %\[str\(" + re.escape(app) + r"\),map\([^\n]*$", re.MULTILINE)
    new, count = pattern.subn(lambda m: f"{m.group(1)}use_backend {app}_{colour}", cfg)
    if count != 1:
        raise ValueError(f"expected one live use_backend line for {app!r}, found {count}")
    return new


def flip_cutovers(records: Sequence[dict], flips: Sequence[dict], started: float) -> list[dict]:
    """Per flip: ms from the `set map` instant to the start of the last request the old colour served.

    `flips` are the flipper's lines (epoch `time`, colour `to`); `started` is the probe's epoch
    start, so a flip's offset is `time - started`. Only requests started before the next flip
    count, up to half-way to the next flip. None when no request reached the old colour after the flip.
    """
    times = [flip["time"] - started for flip in flips]
    out = []
    for index, flip in enumerate(flips):
        begin = times[index]
        # Half-way to the next flip: a request stamped just before that flip but routed after it
        # (the client's clock stamps the start before the thread gets the CPU to send it) belongs
        # to the next flip, whose new colour is this flip's old one.
        end = (begin + times[index + 1]) / 2 if index + 1 < len(times) else float("inf")
        old = other_colour(flip["to"])
        late = [rec["t"] for rec in records
                if rec.get("kind") != "stream" and rec.get("colour") == old and begin <= rec["t"] < end]
        out.append({"flip": flip.get("flip", index + 1), "to": flip["to"], "t": round(begin, 6),
                    "set_map_ms": flip.get("ms"),
                    "to_last_old_ms": round((max(late) - begin) * 1000.0, 3) if late else None})
    return out


def overlap_ms(cut: dict) -> float | None:
    """From the first request the new colour served to the last the old one served (ms).

    Positive: both colours received requests for that long (requests routed just before the
    switch still starting later on the client's clock); negative: neither did, a gap.
    """
    if cut.get("last_old_t") is None or cut.get("first_new_t") is None:
        return None
    return round((cut["last_old_t"] - cut["first_new_t"]) * 1000.0, 3)


def inventory_yaml(prefix: str, routers: Sequence[str], apps: Sequence[str], router: str = "haproxy",
                   addresses: dict[str, str] | None = None, router_kinds: dict[str, str] | None = None,
                   directory: str = HERE) -> str:
    """An inventory like benchmarks/inventory.yml for other lab sizes and routers (containers `<prefix>-<name>`).

    Hosts are reached over SSH through the lab's ssh_config, named relative to `directory`, where the
    inventory is written.

    `addresses`: a `bluegreen_address` per host name (optional: the smoke test and the watch reach every router's
    listeners but the first's by that address, or by the network facts the roles gather when it is not set).
    `router_kinds`: a `bluegreen_router` per router name that differs from `router` (one provisioning
    run for an HAProxy and an Nginx router at once).
    """
    addresses = addresses or {}
    router_kinds = router_kinds or {}
    for name, kind in router_kinds.items():
        if kind not in ("haproxy", "nginx") or name not in routers:
            raise ValueError(f"not a router of this inventory, or not a router this bench runs: {name!r}: {kind!r}")
    for address in addresses.values():
        if not re.fullmatch(r"[0-9.]{7,15}", address):
            raise ValueError(f"not an IPv4 address: {address!r}")
    if router not in ("haproxy", "nginx"):
        raise ValueError(f"not a router this bench runs: {router!r}")
    if not routers or not apps:
        raise ValueError("an inventory needs at least one router and one app host")
    for name in (prefix, *routers, *apps):
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,40}", name):
            raise ValueError(f"not a safe container name part: {name!r}")
    lines = [
        "# Written by benchmarks/bench.py or scale.py for one lab size; see benchmarks/inventory.yml.",
        "all:", "  vars:",
        "    ansible_user: bluegreen",
        f'    ansible_ssh_common_args: "-F {{{{ inventory_dir }}}}/{os.path.relpath(SSH_CONFIG, directory)}"',
        "    ansible_python_interpreter: /usr/bin/python3",
        "    ansible_pipelining: true",
        "    bluegreen_app: demo",
        f"    bluegreen_router: {router}",
        "    bluegreen_monitor_seconds: 2",
        "    bluegreen_smoke_checks:",
        "      - path: /", "        status: [200]", '        body_regex: "demo-app version"',
        "  children:", "    bluegreen_routers:", "      hosts:",
    ]

    def host(name: str) -> str:
        text = f"        {name}:\n          ansible_host: {prefix}-{name}"
        text += f"\n          bluegreen_router: {router_kinds[name]}" if name in router_kinds else ""
        return text + (f"\n          bluegreen_address: {addresses[name]}" if name in addresses else "")

    lines += [host(name) for name in routers]
    lines += ["    bluegreen_apps:", "      hosts:"]
    lines += [host(name) for name in apps]
    return "\n".join(lines) + "\n"


def median_s(values: Sequence[float]) -> float | None:
    """Median rounded to ms, None for none."""
    return round(statistics.median(values), 3) if values else None


def p99_ratio(summary: dict) -> float | None:
    """Switch-window p99 over steady-state p99."""
    switch, steady = summary["latency"]["switch"]["p99_ms"], summary["latency"]["steady"]["p99_ms"]
    if switch is None or not steady:
        return None
    return round(switch / steady, 2)


def total_failed(summary: dict) -> int:
    """Failed requests over all client kinds, cut streams included."""
    return sum(kind["failed"] for kind in summary["kinds"].values())


def nginx_role_committed(root: str = ROOT) -> tuple[bool, str]:
    """Whether the Nginx cases can run: roles/nginx is committed (in a git checkout) or present (elsewhere)."""
    path = os.path.join(root, NGINX_ROLE_FILE)
    try:
        listed = subprocess.run(["git", "-C", root, "ls-files", "--error-unmatch", NGINX_ROLE_FILE],
                                capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        listed = None
    if listed is not None and "not a git repository" not in listed.stderr.lower():
        if listed.returncode == 0:
            return True, ""
        return False, "not run: roles/nginx missing (not committed in this checkout)"
    return (True, "") if os.path.exists(path) else (False, "not run: roles/nginx missing")


NGINX_KEEPALIVE_NOTE = ("nginx 1.22 (Debian 12) closes idle keep-alive client connections when a reload retires "
                        "the old workers, racing a client that is sending its next request on one; fixed in nginx "
                        "1.27.4")


def judge(summaries: dict[str, dict], extras: dict) -> list[dict]:
    """Each target: what was asked, what was measured, met or not (the report's verdict table).

    `summaries` maps case key to report.summarise() output; `extras` holds `flips` and `nginx_flips`
    (per-flip cutovers), `router_cutover_ms` (case -> ms) and `floor` (rollback vs no-op medians).
    HAProxy cases: 0 failed requests for every client kind. Nginx cases: 0 failed requests for
    new-connection clients and streams; keep-alive failures are reported against no target (met n/a).
    """
    rows = []
    blue_green = [key for key in ("switch", "rollback", "flips") if key in summaries]
    nginx = [key for key in NGINX_CASES if key in summaries]

    def row(target: str, measured: str, met: bool | None, note: str = "") -> None:
        rows.append({"target": target, "measured": measured, "met": met, "note": note})

    def failed_of(key: str, kind: str) -> str:
        return f"{kind} {summaries[key]['kinds'][kind]['failed']}/{summaries[key]['kinds'][kind]['requests']:,}"

    for key in blue_green:
        summ = summaries[key]
        failed = {kind: summ["kinds"][kind]["failed"] for kind in report.KINDS}
        row(f"{key}: 0 failed requests, every client kind",
            ", ".join(f"{kind} {count}/{summ['kinds'][kind]['requests']:,}" for kind, count in failed.items()),
            not any(failed.values()))
    for key in nginx:
        kinds = summaries[key]["kinds"]
        row(f"{key}: 0 failed requests, new-connection clients and streams",
            f"{failed_of(key, 'newconn')}, {failed_of(key, 'stream')}",
            kinds["newconn"]["failed"] == 0 and kinds["stream"]["failed"] == 0)
        row(f"{key}: keep-alive failures (reported; nginx 1.22 reload race)", failed_of(key, "keepalive"), None)
    requests = sum(summaries[key]["kinds"][kind]["requests"] for key in blue_green for kind in report.REQUEST_KINDS)
    row(f"switch + rollback + flips: >= {TARGET_MIN_REQUESTS:,} requests", f"{requests:,}", requests >= TARGET_MIN_REQUESTS)
    flips = extras.get("flips") or []
    row(f">= {TARGET_MIN_FLIPS} flips", str(len(flips)), len(flips) >= TARGET_MIN_FLIPS)
    if "nginx-flips" in summaries:
        count = len(extras.get("nginx_flips") or [])
        row(f"nginx: >= {TARGET_MIN_FLIPS} flips", str(count), count >= TARGET_MIN_FLIPS)
    for key in blue_green + [key for key in nginx if key != "nginx-release"]:
        streams = summaries[key]["streams"]
        row(f"{key}: streams survive", f"{streams['survived']}/{streams['total']}",
            streams["total"] > 0 and streams["survived"] == streams["total"])
    cutovers = [flip["to_last_old_ms"] for flip in flips if flip["to_last_old_ms"] is not None]
    if cutovers:
        worst = max(cutovers)
        row(f"flips: cutover < {TARGET_CUTOVER_MS:g} ms (set map -> last old-colour request start)",
            f"max {worst:.1f} ms, median {statistics.median(cutovers):.1f} ms", worst < TARGET_CUTOVER_MS)
    nginx_cut = [flip["to_last_old_ms"] for flip in extras.get("nginx_flips") or [] if flip["to_last_old_ms"] is not None]
    if nginx_cut:
        row("nginx-flips: cutover (switch start -> last old-colour request start; reported)",
            f"max {max(nginx_cut):.1f} ms, median {statistics.median(nginx_cut):.1f} ms", None)
    for key, value in sorted((extras.get("router_cutover_ms") or {}).items()):
        if key.startswith("nginx-"):
            row(f"{key}: link swap + nginx -t + reload until new workers (from history; reported)", f"{value:.1f} ms", None)
            continue
        row(f"{key}: cutover < {TARGET_CUTOVER_MS:g} ms at the router (set map command, from history)",
            f"{value:.2f} ms", value < TARGET_CUTOVER_MS)
    for key in blue_green + nginx:
        ratio = p99_ratio(summaries[key])
        lat = summaries[key]["latency"]
        row(f"{key}: p99 in switch window <= {TARGET_P99_RATIO:g}x steady",
            "n/a" if ratio is None else f"{lat['switch']['p99_ms']:.1f} vs {lat['steady']['p99_ms']:.1f} ms ({ratio:.2f}x)",
            None if ratio is None else ratio <= TARGET_P99_RATIO)
    floor = extras.get("floor")
    if floor and floor.get("ratio") is not None:
        row(f"rollback wall time <= {TARGET_ROLLBACK_RATIO:g}x no-op playbook",
            f"{floor['rollback_s']:.2f} s vs {floor['noop_s']:.2f} s ({floor['ratio']:.2f}x)",
            floor["ratio"] <= TARGET_ROLLBACK_RATIO)
    revert = (extras.get("revert") or {}).get("fail-fast")
    if revert and revert.get("back_after_first_5xx_s") is not None:
        row(f"a build answering 500: back within {TARGET_REVERT_S:g} s of the first 5xx", f"{revert['back_after_first_5xx_s']:.2f} s",
            revert["back_after_first_5xx_s"] <= TARGET_REVERT_S)
        row(f"a build answering 500: < {TARGET_REVERT_FAILED_SHARE:.0%} of the watch window's requests failed",
            f"{revert['failed']} of {revert['window_requests']} ({revert['failed_share']:.1%})",
            revert["failed_share"] < TARGET_REVERT_FAILED_SHARE)
    ramp = extras.get("ramp")
    if ramp:
        row("ramp 10, 50, 100 under load: 0 failed requests", f"{ramp['failed']} of {ramp['requests']}", ramp["failed"] == 0)
        worst = max(abs(step["served_percent"] - step["step"]) for step in ramp["steps"] if step["served_percent"] is not None)
        row(f"ramp: each step's share within {TARGET_RAMP_POINTS:g} points, every client on one colour until moved",
            ", ".join(f"{step['step']}% -> {step['served_percent']}%" for step in ramp["steps"])
            + f"; {sum(step['off_bucket'] for step in ramp['steps'])} off its bucket, {len(ramp['moved_back'])} moved back",
            worst <= TARGET_RAMP_POINTS and not ramp["moved_back"] and not any(step["off_bucket"] for step in ramp["steps"]))
    release = extras.get("release_floor")
    if release and release.get("ratio") is not None:
        row(f"release with no watch <= {TARGET_RELEASE_RATIO:g}x no-op playbook",
            f"{release['release_s']:.2f} s vs {release['noop_s']:.2f} s ({release['ratio']:.2f}x)",
            release["ratio"] <= TARGET_RELEASE_RATIO)
    return rows


def verdict_table(rows: Sequence[dict]) -> str:
    """The targets as Markdown."""
    lines = ["| target | measured | met |", "|---|---|---|"]
    for item in rows:
        met = {True: "yes", False: "**no**", None: "n/a"}[item["met"]]
        lines.append(f"| {item['target']} | {item['measured']} | {met} |")
    return "\n".join(lines) + "\n"


# --- the lab ----------------------------------------------------------------------------------

def env() -> dict:
    """The environment of every command: the venv, the collections path, Podman's config."""
    return dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=os.environ.get("ANSIBLE_COLLECTIONS_PATH", os.path.join(ROOT, ".cache", "collections")),
        CONTAINERS_CONF=os.environ.get("CONTAINERS_CONF", os.path.join(ROOT, "lab", "containers.conf")),
        PATH=os.path.join(ROOT, ".venv", "bin") + os.pathsep + os.environ.get("PATH", ""),
        ANSIBLE_NOCOWS="1",
        ANSIBLE_FORCE_COLOR="0",
    )


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def sh(command: list[str], timeout: float = COMMAND_TIMEOUT_S, quiet: bool = True) -> str:
    """Run a command (no stdin, bounded); its output, or exit with the tail of it on failure."""
    result = subprocess.run(command, env=env(), capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL, check=False)
    if result.returncode != 0:
        sys.exit(f"bench: {' '.join(command)} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}")
    if not quiet:
        print(result.stdout, end="", flush=True)
    return result.stdout


# The bench switches and rolls back between two good releases on purpose, over and over. A rollback marks the release
# it leaves as rolled back, and the roles route to such a release again only with bluegreen_force.
FLIP = ("-e", "bluegreen_force=true")


def playbook(*args: str, inventory: str = INVENTORY) -> list[str]:
    return ["ansible-playbook", "-i", inventory, *args]


def timed(command: list[str]) -> float:
    started = time.monotonic()
    sh(command)
    return time.monotonic() - started


def ssh(host: str, *command: str) -> list[str]:
    """The command line that runs `command` as root on a lab host: SSH as the lab user, then sudo."""
    return ["ssh", "-F", SSH_CONFIG, host, shlex.join(["sudo", *command])]


def in_router(*command: str, timeout: float = 60, router: str = ROUTER) -> str:
    return sh(ssh(router, *command), timeout=timeout)


def put(local: str, host: str, remote: str, timeout: float = 60) -> None:
    """Write a local file's content to a file on a lab host, as root (the remote file keeps its owner and mode)."""
    with open(local, "rb") as source:
        result = subprocess.run(ssh(host, "tee", remote), env=env(), stdin=source, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, timeout=timeout, check=False)
    if result.returncode != 0:
        sys.exit(f"bench: writing {remote} on {host} failed ({result.returncode}):\n{result.stderr.decode()[-2000:]}")


def router_ip(router: str = ROUTER) -> str:
    """The address the lab's ssh_config gives the router (its address on Podman's bridge)."""
    for line in sh(["ssh", "-F", SSH_CONFIG, "-G", router]).splitlines():
        if line.startswith("hostname "):
            return line.split(" ", 1)[1].strip()
    sys.exit(f"bench: {SSH_CONFIG} has no address for {router}")


def live_colour() -> str:
    return live_from_map(in_router("cat", MAP_FILE))


def last_history(router: str = ROUTER) -> dict:
    return json.loads(in_router("tail", "-n", "1", HISTORY, router=router))


def nginx_live_colour() -> str:
    target = in_router("readlink", f"{NGINX_CONF_DIR}/{APP}/live.conf", router=NGINX_ROUTER).strip()
    match = re.search(r"upstream-(blue|green)\.conf$", target)
    if not match:
        raise SystemExit(f"bench: {NGINX_CONF_DIR}/{APP}/live.conf points at {target!r}, not one colour")
    return match.group(1)


def stamp_epoch(stamp: str) -> float:
    """A history record's time (UTC, ISO 8601 with microseconds) as seconds since the epoch."""
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.UTC).timestamp()


def revert_figures(run: probe.Result, release: dict, back: dict, seconds: float) -> dict:
    """What a watch did with a build answering 500: when the client saw the first 5xx, when the router switched back
    (its history), and how many of the requests sent in the watch window (from the switch, `seconds` long) failed."""
    switched, reverted = stamp_epoch(release["time"]), stamp_epoch(back["time"])
    failures = run.failures()
    first = min((record.start for record in failures), default=None)
    window = [record for record in run.records if record.kind != "stream" and switched <= record.start <= switched + seconds]
    failed = sum(1 for record in window if record.failed)
    return {
        "switched": release["time"], "switched_back": back["time"], "reason": back.get("reason"),
        "router_after_s": (back.get("watch") or {}).get("after_s"),
        "back_after_first_5xx_s": None if first is None else round(reverted - first, 3),
        "back_after_switch_s": round(reverted - switched, 3),
        "window_requests": len(window), "failed": failed,
        "failed_share": round(failed / len(window), 4) if window else 0.0,
        "dropped": sum(1 for record in failures if record.error),
    }


# --- the cases --------------------------------------------------------------------------------

class BenchStopped(Exception):
    """The bench was told to stop (SIGTERM from its time limit): report what ran."""


class Bench:
    def __init__(self, ip: str, scale: float) -> None:
        self.ip = ip
        self.scale = scale
        self.runs: dict[str, report.Run] = {}
        self.results: dict[str, probe.Result] = {}
        self.extras: dict = {"router_cutover_ms": {}, "flips": [], "commands_s": {}}
        self.nginx_ip: str | None = None
        os.makedirs(WORK, exist_ok=True)

    def probe_config(self, case: str, duration: float, ip: str | None = None,
                     stream_seconds: float | None = None) -> probe.ProbeConfig:
        ip = ip or self.ip
        return probe.ProbeConfig(
            base_url=f"http://{ip}/", keepalive_threads=4, newconn_threads=2, streams=2,
            stream_seconds=stream_seconds, chain_streams=stream_seconds is not None,
            chain_stream_seconds=None if stream_seconds is None else min(CHAIN_STREAM_S, stream_seconds),
            duration=duration, max_requests=500_000, timeout=2.0, allow_hosts=(ip,), case=case)

    def case(self, key: str, title: str, streams_s: float, limit_s: float, action: Callable[[probe.ProbeHandle], None],
             lead: float = LEAD_S, tail: float = TAIL_S, min_requests: int = 0, ip: str | None = None) -> probe.Result:
        """One probe run: `lead` s of steady state, the action between switch-start and switch-end, `tail` s after it.

        `streams_s`: the streams' length (lead + the action's usual time + tail); `limit_s`: the run's
        bound in seconds, well above what the action takes on a loaded machine. The request clients
        stop `tail` s after the action, or once they have sent `min_requests`, whichever is later.
        """
        streams_s, limit_s = round(streams_s * self.scale, 1), round(limit_s * self.scale, 1)
        log(f"case {key}: {title} (probe until {tail * self.scale:g} s after the action, at most {limit_s:g} s; "
            f"streams {streams_s:g} s)")
        handle = probe.start(self.probe_config(title, limit_s, ip, streams_s))
        started = time.monotonic()
        time.sleep(lead * self.scale)
        began = time.monotonic()
        action(handle)
        self.extras["commands_s"][key] = round(time.monotonic() - began, 3)
        if time.monotonic() - started + tail * self.scale > limit_s - 1:
            log(f"warning: case {key}'s action ended near or after the probe's limit; raise its limit")
        handle.finish(tail * self.scale, min_requests)
        result = handle.wait()
        log(f"case {key}: action {self.extras['commands_s'][key]:.1f} s, probe {result.ended - result.started:.1f} s")
        path = os.path.join(WORK, f"{key}.jsonl")
        result.write_jsonl(path)
        self.results[key] = result
        self.runs[key] = report.load_run(path)
        print(probe.format_summary(result.summary()), flush=True)
        return result

    def playbook_action(self, *args: str, history_key: str | None = None, nginx: bool = False) -> Callable[[probe.ProbeHandle], None]:
        def action(handle: probe.ProbeHandle) -> None:
            handle.mark("switch-start")
            sh(playbook(*args, inventory=NGINX_INVENTORY if nginx else INVENTORY))
            handle.mark("switch-end")
            if history_key:
                entry = last_history(NGINX_ROUTER if nginx else ROUTER)
                if not nginx and entry.get("cutover_ms") is not None:
                    self.extras["router_cutover_ms"][history_key] = float(entry["cutover_ms"])
                if nginx and entry.get("reload_s") is not None:
                    self.extras["router_cutover_ms"][history_key] = round(float(entry["reload_s"]) * 1000.0, 1)
        return action

    def switch(self) -> None:
        self.case("switch", CASE_TITLES["switch"], CASE_STREAMS_S["switch"], 240,
                  self.playbook_action("bluegreen.core.switch", "-e", "bluegreen_monitor_seconds=0", *FLIP, history_key="switch"),
                  min_requests=MIN_CASE_REQUESTS)

    def rollback(self) -> None:
        self.case("rollback", CASE_TITLES["rollback"], CASE_STREAMS_S["rollback"], 240,
                  self.playbook_action("bluegreen.core.rollback", *FLIP, history_key="rollback"), min_requests=MIN_CASE_REQUESTS)

    def flips(self, count: int = 20, gap: float = 0.5) -> None:
        def action(handle: probe.ProbeHandle) -> None:
            out = sh(ssh(ROUTER, "python3", "-c", FLIPPER, SOCKET, MAP_FILE, APP, str(count), str(gap)),
                     timeout=count * (gap + 3) + 30)
            flips = [json.loads(line) for line in out.splitlines() if line.strip()]
            bad = [flip for flip in flips if flip["out"]]
            if bad:
                sys.exit(f"bench: set map answered {bad[0]['out']!r}")
            self.extras["flips_raw"] = flips
            for flip in flips:
                name = "switch-start" if flip["flip"] == 1 else f"f{flip['flip']}"
                handle.events._events.append(  # noqa: SLF001 - events stamped by the router's clock
                    probe.Event(name=name, time=flip["time"], t=round(flip["time"] - handle.started, 6)))
            handle.mark("switch-end")
        # A flip is a `set map` of a few ms: the loop takes about count * gap.
        self.case("flips", CASE_TITLES["flips"], LEAD_S + count * gap + 1 + TAIL_S, 120, action,
                  min_requests=MIN_CASE_REQUESTS)
        self.extras["flips"] = flip_cutovers(self.runs["flips"].records, self.extras.pop("flips_raw"),
                                             self.results["flips"].started)

    def release(self, version: str = "3.0.0") -> None:
        artifact = os.path.join(ARTIFACTS, f"demo-app-{version}.tar.gz")
        self.case("release", CASE_TITLES["release"], CASE_STREAMS_S["release"], 480,
                  self.playbook_action("bluegreen.core.release", "-e", f"bluegreen_version={version}",
                                       "-e", f"bluegreen_artifact={artifact}", history_key="release"))

    def restart(self) -> None:
        colour = live_colour()

        def action(handle: probe.ProbeHandle) -> None:
            handle.mark("switch-start")
            procs = [subprocess.Popen(ssh(app, "systemctl", "restart", f"{APP}@{colour}"), env=env(),
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL) for app in APPS]
            codes = [proc.wait(timeout=60) for proc in procs]
            handle.mark("switch-end")
            if any(codes):
                sys.exit(f"bench: systemctl restart {APP}@{colour} failed: {codes}")
        for app in APPS:  # log in beforehand, so that the action is the restart and not an SSH login
            sh(ssh(app, "true"))
        log(f"restarting {APP}@{colour}, the live colour, on both app hosts")
        self.case("restart", CASE_TITLES["restart"], CASE_STREAMS_S["restart"], 60, action)

    def reload(self) -> None:
        colour = live_colour()
        target = other_colour(colour)
        original = in_router("cat", APP_CFG)
        rewritten = rewrite_use_backend(original, APP, target)
        with tempfile.NamedTemporaryFile("w", dir=WORK, suffix=".cfg", delete=False) as handle_file:
            handle_file.write(rewritten)
            local = handle_file.name
        in_router("cp", "-p", APP_CFG, APP_CFG + ".bench-orig")

        def action(handle: probe.ProbeHandle) -> None:
            handle.mark("switch-start")
            put(local, ROUTER, APP_CFG)
            in_router("systemctl", "reload", "haproxy")
            handle.mark("switch-end")
        try:
            log(f"{APP_CFG}: use_backend {APP}_{target} (live: {colour}), then systemctl reload haproxy")
            self.case("reload", CASE_TITLES["reload"], CASE_STREAMS_S["reload"], 60, action)
        finally:
            in_router("cp", "-p", APP_CFG + ".bench-orig", APP_CFG)
            in_router("systemctl", "reload", "haproxy")
            os.unlink(local)
        time.sleep(2)  # let the old worker finish before the next case

    def revert(self, seconds: int = REVERT_WATCH_S) -> None:
        """A build answering 500, forced past its smoke test, released under load: once with the fail-fast watch and
        once with a fixed window of the same length (`bluegreen_watch_fail_fast=false`), side by side. For each: the
        seconds from the first 5xx the client saw to the switch back the router recorded, and the share of the
        watch window's requests that failed."""
        self.extras["revert"] = {}
        # The release the idle colour holds now, deployed back at the end: the cases after this one (the Nginx
        # router serves the same app hosts) must not find a broken build there.
        idle = other_colour(live_colour())
        link = subprocess.run(ssh(APPS[0], "readlink", f"/opt/bluegreen/{APP}/{idle}"), env=env(), capture_output=True,
                              text=True, timeout=60, stdin=subprocess.DEVNULL, check=False)
        kept = os.path.basename(link.stdout.strip()) if link.returncode == 0 else ""
        for number, (mode, fail_fast) in enumerate((("fail-fast", "true"), ("fixed window", "false")), start=1):
            version = f"8.{number}.0"
            sh(["python3", os.path.join(ROOT, "examples", "demo-app", "build.py"), "--version", version, "--broken", "500",
                "--out", ARTIFACTS])
            artifact = os.path.join(ARTIFACTS, f"demo-app-{version}-broken-500.tar.gz")
            log(f"revert, {mode}: release {version} (answers 500 but on /health) with no smoke check of /, "
                f"a {seconds} s watch")
            handle = probe.start(self.probe_config(f"revert {mode}", seconds + 120))
            time.sleep(LEAD_S)
            command = playbook("bluegreen.core.release", "-e", f"bluegreen_version={version}", "-e", f"bluegreen_artifact={artifact}",
                               "-e", json.dumps({"bluegreen_smoke_checks": [], "bluegreen_monitor_seconds": seconds,
                                                 "bluegreen_watch_interval": 1, "bluegreen_watch_fail_fast": fail_fast == "true"}))
            result = subprocess.run(command, env=env(), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S,
                                    stdin=subprocess.DEVNULL, check=False)
            handle.finish(TAIL_S, 0)
            run = handle.wait()
            if result.returncode == 0:
                sys.exit(f"bench: the release of the broken {version} succeeded; its watch did not switch it back:\n"
                         f"{result.stdout[-3000:]}")
            records = [json.loads(line) for line in in_router("tail", "-n", "2", HISTORY).splitlines()]
            release, back = records
            if (release.get("action"), back.get("action")) != ("release", "auto-rollback"):
                sys.exit(f"bench: expected a release and an auto-rollback in the history, got {records}")
            self.extras["revert"][mode] = revert_figures(run, release, back, seconds)
            figures = self.extras["revert"][mode]
            log(f"revert, {mode}: back {figures['back_after_first_5xx_s']:.2f} s after the first 5xx, "
                f"{figures['failed']} of {figures['window_requests']} requests in the watch window failed "
                f"({figures['failed_share']:.1%})")
        if not kept:
            return
        log(f"revert: deploying {kept} back into {idle}")
        sh(playbook("bluegreen.core.deploy", "-e", f"bluegreen_version={kept}",
                    "-e", f"bluegreen_artifact={os.path.join(ARTIFACTS, f'demo-app-{kept}.tar.gz')}"))

    def ramp(self, steps: Sequence[int] = RAMP_STEPS, seconds: int = RAMP_WATCH_S) -> None:
        """The switch playbook in weighted steps under the usual load plus sticky clients (probe.sticky_clients: 100
        whose cookies fall in buckets 0-99 once each, 20 with none). Per step, from the router's history records (each
        written once its step took): the share of the bucketed clients' requests the new colour served, and requests
        whose colour was not their bucket's; and the clients served by the new colour then by the old one again."""
        old = live_colour()
        new = other_colour(old)
        config = dataclasses.replace(self.probe_config("ramp 10, 50, 100", 240), clients=probe.sticky_clients(STICKY_COOKIE),
                                     client_threads=2, streams=0)
        log(f"ramp: switch {old} -> {new} in steps {list(steps)}, a {seconds} s watch each, under load with sticky clients")
        handle = probe.start(config)
        time.sleep(LEAD_S)
        handle.mark("switch-start")
        began = time.monotonic()
        sh(playbook("bluegreen.core.switch", "-e", json.dumps({"bluegreen_switch_steps": list(steps),
                                                               "bluegreen_monitor_seconds": seconds, "bluegreen_force": True})))
        self.extras["commands_s"]["ramp"] = round(time.monotonic() - began, 3)
        handle.mark("switch-end")
        handle.finish(TAIL_S, 0)
        run = handle.wait()
        records = [json.loads(line) for line in in_router("tail", "-n", str(len(steps)), HISTORY).splitlines()]
        if [(r.get("to"), (r.get("weights") or {}).get(new)) for r in records] != [(new, step) for step in steps]:
            sys.exit(f"bench: expected the steps {list(steps)} to {new} in the history, got {records}")
        at = [stamp_epoch(r["time"]) for r in records] + [run.ended]
        figures = []
        for number, step in enumerate(steps):
            window = [rec for rec in run.records if at[number] + 0.3 <= rec.start <= at[number + 1] - 0.3]
            figures.append(dict(probe.step_figures(window, new, step, STICKY_COOKIE), seconds=round(at[number + 1] - at[number], 2)))
        self.extras["ramp"] = {"from": old, "to": new, "watch_s": seconds, "requests": len(run.records),
                               "failed": len(run.failures()), "steps": figures,
                               "moved_back": probe.moved_back(run.records, new), "switch_s": self.extras["commands_s"]["ramp"]}
        self.extras["ramp"]["measured"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        with open(RAMP_JSON, "w", encoding="utf-8") as handle:
            json.dump(self.extras["ramp"], handle, indent=2, sort_keys=True)
            handle.write("\n")
        log("ramp: " + ", ".join(f"{f['step']}% -> {f['served_percent']}% of {f['bucketed_requests']}" for f in figures)
            + f"; {self.extras['ramp']['failed']} of {self.extras['ramp']['requests']} requests failed; wrote {RAMP_JSON}")

    def floor(self, rounds: int) -> None:
        """`rounds` rounds of a no-op then a rollback, side by side; the last round under profile_tasks.

        The last round's two runs are also the profile (where the rollback's time goes): both run
        under the same callback, so that round stays a like-for-like pair.
        """
        import scale as scale_mod  # noqa: PLC0415 - scale imports this module

        log(f"Ansible floor: bluegreen.core.rollback vs a one-task no-op playbook, {rounds} rounds "
            "(the last one under ansible.posix.profile_tasks: the rollback profile)")
        noop_path = os.path.join(WORK, "noop.yml")
        with open(noop_path, "w", encoding="utf-8") as handle:
            handle.write(NOOP_PLAYBOOK)
        noop, rollback = [], []
        profile: dict = {}
        for number in range(1, rounds + 1):
            for key, args, walls in (("noop", (noop_path,), noop), ("rollback", ("bluegreen.core.rollback", *FLIP), rollback)):
                if number < rounds:
                    walls.append(timed(playbook(*args)))
                    continue
                started = time.monotonic()
                result = subprocess.run(playbook(*args), env=dict(env(), **scale_mod.PROFILE_ENV), capture_output=True,
                                        text=True, timeout=COMMAND_TIMEOUT_S, stdin=subprocess.DEVNULL, check=False)
                walls.append(time.monotonic() - started)
                if result.returncode != 0:
                    sys.exit(f"bench: {' '.join(args)} under profile_tasks failed ({result.returncode}):\n"
                             f"{result.stdout[-4000:]}")
                tasks = scale_mod.parse_profile(result.stdout)
                profile[key] = {"tasks": tasks, "summary": scale_mod.breakdown(tasks, walls[-1])}
            log(f"round {number}: rollback {rollback[-1]:.2f} s, no-op {noop[-1]:.2f} s"
                + (" (profile_tasks)" if number == rounds else ""))
        self.extras["floor"] = {
            "rounds": rounds, "rollback_s": median_s(rollback), "noop_s": median_s(noop),
            "rollback_all_s": [round(x, 3) for x in rollback], "noop_all_s": [round(x, 3) for x in noop],
            "ratio": round(statistics.median(rollback) / statistics.median(noop), 2), "profiled_round": rounds,
        }
        self.extras["profile"] = profile
        self.release_floor(rounds, noop_path)

    def release_floor(self, rounds: int, noop_path: str) -> None:
        """`rounds` releases with no watch, each of a version of its own (so each unpacks a new release), side by
        side with the no-op playbook; the last release under profile_tasks (where a release's time goes)."""
        import scale as scale_mod  # noqa: PLC0415 - scale imports this module

        log(f"Ansible floor: bluegreen.core.release with no watch vs the no-op playbook, {rounds} rounds")
        noop, release = [], []
        for number in range(1, rounds + 1):
            version = f"9.{number}.0"
            sh(["python3", os.path.join(ROOT, "examples", "demo-app", "build.py"), "--version", version, "--out", ARTIFACTS])
            noop.append(timed(playbook(noop_path)))
            command = playbook("bluegreen.core.release", "-e", f"bluegreen_version={version}", "-e", "bluegreen_monitor_seconds=0",
                               "-e", f"bluegreen_artifact={os.path.join(ARTIFACTS, f'demo-app-{version}.tar.gz')}")
            extra = scale_mod.PROFILE_ENV if number == rounds else {}
            started = time.monotonic()
            result = subprocess.run(command, env=dict(env(), **extra), capture_output=True, text=True,
                                    timeout=COMMAND_TIMEOUT_S, stdin=subprocess.DEVNULL, check=False)
            release.append(time.monotonic() - started)
            if result.returncode != 0:
                sys.exit(f"bench: the release of {version} failed ({result.returncode}):\n{result.stdout[-4000:]}")
            if extra:
                tasks = scale_mod.parse_profile(result.stdout)
                self.extras["release_profile"] = {"tasks": len(tasks), "summary": scale_mod.breakdown(tasks, release[-1])}
            log(f"round {number}: release {release[-1]:.2f} s, no-op {noop[-1]:.2f} s" + (" (profile_tasks)" if extra else ""))
        self.extras["release_floor"] = {
            "rounds": rounds, "release_s": median_s(release), "noop_s": median_s(noop),
            "release_all_s": [round(x, 3) for x in release], "noop_all_s": [round(x, 3) for x in noop],
            "ratio": round(statistics.median(release) / statistics.median(noop), 2),
        }

    # --- the Nginx path: its own router container in front of the same app hosts ---------------

    def nginx_prepare(self, provisioned: bool = False) -> None:
        """Provision the Nginx router (unless prepare() did, with the HAProxy lab) and record a first switch."""
        with open(NGINX_INVENTORY, "w", encoding="utf-8") as handle:
            handle.write(inventory_yaml(PREFIX, ["nginx"], ["app1", "app2"], "nginx", directory=WORK))
        if not provisioned:
            log("provisioning the Nginx router")
            sh(playbook("bluegreen.core.provision", inventory=NGINX_INVENTORY), timeout=PREPARE_TIMEOUT_S)
        # A switch on record, so that `previous` means something to the rollback case.
        sh(playbook("bluegreen.core.switch", "-e", "bluegreen_monitor_seconds=0", *FLIP, inventory=NGINX_INVENTORY))
        self.nginx_ip = router_ip(NGINX_ROUTER)
        lib = os.path.join(WORK, "nginx-lib")
        target = os.path.join(lib, "ansible_collections", "bluegreen", "core", "plugins", "module_utils")
        os.makedirs(target, exist_ok=True)
        for name in NGINX_FLIP_MODULES:
            with open(os.path.join(ROOT, "plugins", "module_utils", name), encoding="utf-8") as src, \
                    open(os.path.join(target, name), "w", encoding="utf-8") as dst:
                dst.write(src.read())
        in_router("rm", "-rf", NGINX_FLIP_LIB, router=NGINX_ROUTER)
        sh(["scp", "-F", SSH_CONFIG, "-q", "-r", lib, f"{NGINX_ROUTER}:{NGINX_FLIP_LIB}"])
        log(f"Nginx router at {self.nginx_ip}; live colour {nginx_live_colour()}")

    def nginx_switch(self) -> None:
        self.case("nginx-switch", CASE_TITLES["nginx-switch"], CASE_STREAMS_S["nginx-switch"], 240,
                  self.playbook_action("bluegreen.core.switch", "-e", "bluegreen_monitor_seconds=0", *FLIP,
                                       history_key="nginx-switch", nginx=True), ip=self.nginx_ip)

    def nginx_rollback(self) -> None:
        self.case("nginx-rollback", CASE_TITLES["nginx-rollback"], CASE_STREAMS_S["nginx-rollback"], 240,
                  self.playbook_action("bluegreen.core.rollback", *FLIP, history_key="nginx-rollback", nginx=True),
                  ip=self.nginx_ip)

    def nginx_flips(self, count: int = 20, gap: float = 0.5) -> None:
        def action(handle: probe.ProbeHandle) -> None:
            out = sh(ssh(NGINX_ROUTER, "python3", "-c", NGINX_FLIPPER, NGINX_FLIP_LIB, NGINX_CONF_DIR,
                         APP, str(count), str(gap)), timeout=count * (gap + 12) + 30)
            flips = [json.loads(line) for line in out.splitlines() if line.strip()]
            bad = [flip for flip in flips if flip["out"]]
            if bad:
                sys.exit(f"bench: an Nginx flip failed: {bad[0]['out']}")
            self.extras["nginx_flips_raw"] = flips
            for flip in flips:
                name = "switch-start" if flip["flip"] == 1 else f"f{flip['flip']}"
                handle.events._events.append(  # noqa: SLF001 - events stamped by the router's clock
                    probe.Event(name=name, time=flip["time"], t=round(flip["time"] - handle.started, 6)))
            handle.mark("switch-end")
        # A flip is a reload that waits for the new workers: a quarter of a second each on an idle machine,
        # about a second on a loaded one.
        self.case("nginx-flips", CASE_TITLES["nginx-flips"], LEAD_S + count * (gap + 0.25) + TAIL_S, 300, action,
                  ip=self.nginx_ip)
        raw = self.extras.pop("nginx_flips_raw")
        self.extras["nginx_flips"] = [
            dict(cut, reload_s=flip.get("reload_s"))
            for cut, flip in zip(flip_cutovers(self.runs["nginx-flips"].records, raw, self.results["nginx-flips"].started),
                                 raw, strict=True)]

    def nginx_release(self, version: str = "4.0.0") -> None:
        artifact = os.path.join(ARTIFACTS, f"demo-app-{version}.tar.gz")
        self.case("nginx-release", CASE_TITLES["nginx-release"], CASE_STREAMS_S["nginx-release"], 480,
                  self.playbook_action("bluegreen.core.release", "-e", f"bluegreen_version={version}",
                                       "-e", f"bluegreen_artifact={artifact}", history_key="nginx-release", nginx=True),
                  ip=self.nginx_ip)


# --- the report -------------------------------------------------------------------------------

CASE_ORDER = ("switch", "rollback", "flips", "release", "restart", "reload")
NGINX_CASES = ("nginx-switch", "nginx-rollback", "nginx-flips", "nginx-release")
# Cases that make no timeline of their own: figures in the report.
EXTRA_CASES = ("floor", "revert", "ramp")
ALL_CASES = CASE_ORDER + NGINX_CASES
# Each case's stream length: lead + the action's time on an idle 2-core machine + tail (see LEAD_S).
CASE_STREAMS_S = {"switch": 25, "rollback": 25, "release": 60, "restart": 10, "reload": 10,
                  "nginx-switch": 25, "nginx-rollback": 25, "nginx-release": 60}
# Short: report.py puts the title on the PNG, then ": requests per second by serving colour...".
CASE_TITLES = {"switch": "switch (playbook)", "rollback": "rollback (playbook)", "flips": "20 set-map flips",
               "release": "release 3.0.0", "restart": "restart (baseline)", "reload": "reload (baseline)",
               "nginx-switch": "nginx switch (playbook)", "nginx-rollback": "nginx rollback (playbook)",
               "nginx-flips": "nginx 20 reload flips", "nginx-release": "nginx release 4.0.0"}


def extra_table(summaries: dict[str, dict], extras: dict) -> str:
    """Per case: failures by kind incl. streams, cutover from the command start and at the router, overlap, p99 ratio."""
    lines = ["| case | failed keepalive / newconn / streams | command (s) | switch-start to last old (ms) "
             "| both colours served (ms) | at the router (ms) | p99 switch / steady |",
             "|---|---|---|---|---|---|---|"]
    for key, summ in summaries.items():
        kinds = summ["kinds"]
        router = (extras.get("router_cutover_ms") or {}).get(key)
        flip_key = {"flips": "flips", "nginx-flips": "nginx_flips"}.get(key)
        if flip_key and extras.get(flip_key):
            set_maps = [flip["set_map_ms"] for flip in extras[flip_key] if flip["set_map_ms"] is not None]
            router = max(set_maps) if set_maps else None
        ratio = p99_ratio(summ)
        lines.append(" | ".join([
            f"| {summ['case']}",
            f"{kinds['keepalive']['failed']} / {kinds['newconn']['failed']} / {kinds['stream']['failed']}",
            report._num(extras["commands_s"].get(key), 2),  # noqa: SLF001 - the same number format
            report._num(summ["cutover"]["to_last_old_ms"]),  # noqa: SLF001
            report._num(overlap_ms(summ["cutover"])),  # noqa: SLF001
            report._num(router, 2),  # noqa: SLF001
            ("n/a" if ratio is None else f"{ratio:.2f}x") + " |",
        ]))
    return "\n".join(lines) + "\n"


EXPLANATIONS = {
    "p99": "p99 in the window above 2x steady: the window of a playbook case spans the whole ansible-playbook run "
           "(from `switch-start` to 1 s after the last old-colour request), and on 2 cores ansible-playbook, the "
           "probe, HAProxy and both app hosts compete for the CPU meanwhile; the flips case, with no Ansible "
           "running, stays within the target, so the extra latency is CPU contention from the controller, not the "
           "switch.",
    "rollback wall time": "rollback wall time above 1.5x the no-op floor: the rollback playbook runs the whole "
                          "switch role, five module round trips (lock, read the router, read both colours' releases "
                          "on every app host, route, unlock) and about 30 bookkeeping tasks, against the no-op's one "
                          "round trip; the switch itself is the `set map` (the `at the router` column: milliseconds). "
                          "The per-task profile, and why the rollback takes what it takes, are in 'Where the rollback's time goes'.",
    "failed": "failed requests: see the error classes in report.json (`kinds.<kind>.errors`).",
    "requests": "fewer requests than the target: the probe's rate on this machine times the cases' length.",
    "cutover": "cutover above target: see the per-flip figures; the client stamps a request's start before its "
               "thread gets the CPU to send it, so under load a request can look older than the switch.",
    "streams": "a stream was cut: see the stream columns and the case's PNG.",
}


def explain(verdicts: Sequence[dict]) -> list[str]:
    """A reason per kind of missed target, in the order the targets are listed."""
    notes: list[str] = []
    for item in verdicts:
        if item["met"] is not False:
            continue
        for word, text in EXPLANATIONS.items():
            if word in item["target"]:
                if f"- {text}" not in notes:
                    notes.append(f"- {text}")
                break
    return (["Why the missed targets were missed:", ""] + notes) if notes else []


def flips_section(flips: Sequence[dict], router: str) -> str:
    """The per-flip paragraph of one router's flips case."""
    cut = [flip["to_last_old_ms"] for flip in flips if flip["to_last_old_ms"] is not None]
    set_maps = [flip["set_map_ms"] for flip in flips if flip["set_map_ms"] is not None]
    late = (f"in the other {len(cut)} the last one started {min(cut):.1f} to {max(cut):.1f} ms after it"
            if cut else "so the cutover was below what the client's clock can resolve in every flip")
    if router == "nginx":
        head = (f"\n## The {len(flips)} Nginx flips\n\nEach flip is the collection's own `_nginx.apply_switch` (what "
                "nginx_traffic runs: swap the live and preview links atomically, `nginx -t`, `systemctl reload nginx`, "
                "wait until the master runs new workers) from a loop inside the Nginx router, stamped there just before "
                "the link swap.")
        command = "The flips (swap, test, reload, new workers up) took"
    else:
        head = (f"\n## The {len(flips)} flips\n\nEach flip is one `set map` over the admin socket from a loop inside the "
                "router, stamped there just before the command.")
        command = "The `set map` commands took"
    return (head + f" In {len(flips) - len(cut)} of {len(flips)} flips no request that started after that instant was "
            f"served by the old colour; {late} (requests counted up to half-way to the next flip). Per flip (ms, `none`: "
            "no late request): "
            + ", ".join("none" if flip["to_last_old_ms"] is None else f"{flip['to_last_old_ms']:.1f}" for flip in flips)
            + (f". {command} {statistics.median(set_maps):.2f} ms median, {max(set_maps):.2f} ms max.\n"
               if set_maps else ".\n"))


def scale_section(scale: dict) -> str:
    """The `make bench-scale` figures (scale.json) as a report section."""
    import scale as scale_mod  # noqa: PLC0415 - scale imports this module

    rows = scale["sizes"]
    base = next((row for row in rows if (row["routers"], row["apps"]) == (1, 2)), rows[0])
    most_routers = max(rows, key=lambda row: (row["routers"], -row["apps"]))
    most_apps = max(rows, key=lambda row: (row["apps"], -row["routers"]))
    text = [
        f"\n## Scale: the switch step from 1 to {most_routers['routers']} routers and 2 to {most_apps['apps']} app hosts\n\n",
        f"Measured {scale['measured']} by `make bench-scale` (benchmarks/scale.py; not part of `make bench`, which it "
        f"would push past 15 minutes: it took {scale['scale_seconds']:.0f} s"
        + (f", {scale['prepare_s']:.0f} s of it " if scale.get("prepare_s") else ", not counting ")
        + "provisioning and two releases) on a lab of its own: "
        f"{scale.get('lab', {}).get('routers', 3)} HAProxy routers and {scale.get('lab', {}).get('apps', 8)} app hosts, all "
        "provisioned and released once, then for each size an inventory of the first N routers and M app hosts. Per "
        f"size, {scale['rounds']} rounds side by side of: the one-task no-op playbook (the floor on the same inventory), "
        "`bluegreen.core.switch -e bluegreen_monitor_seconds=0`, `bluegreen.core.rollback`; medians, no probe load. "
        f"Ansible ran with its default {scale['forks']} forks. The routers' backends list all the lab's app hosts at every "
        "size (`set map` does not depend on it); the play's hosts are the size's app hosts."
        + "\n\n",
        scale_mod.scale_table(rows),
        f"\nFrom 1 to {most_routers['routers']} routers (2 app hosts): switch {base['switch_s']:.2f} -> "
        f"{most_routers['switch_s']:.2f} s, rollback {base['rollback_s']:.2f} -> {most_routers['rollback_s']:.2f} s; "
        f"from 2 to {most_apps['apps']} app hosts (1 router): switch {base['switch_s']:.2f} -> {most_apps['switch_s']:.2f} s, "
        f"rollback {base['rollback_s']:.2f} -> {most_apps['rollback_s']:.2f} s; the no-op floor {base['noop_s']:.2f} -> "
        f"{most_routers['noop_s']:.2f} s and -> {most_apps['noop_s']:.2f} s. "
        + "".join(f"With {apps[:-1]} app hosts, from 1 to {grow['routers'][1]} routers: switch {grow['switch']:.2f}x, "
                  f"rollback {grow['rollback']:.2f}x"
                  + (f", the router floor {grow['router_floor']:.2f}x" if grow.get("router_floor") else "") + ". "
                  for apps, grow in (scale.get("router_growth") or {}).items())
        + ("The router floor is three module calls (haproxy_info) on every router at once, the routers as the play's "
           "hosts and nothing else: the least a change on several routers costs, a read, a stage and a commit each "
           "reaching every router side by side. What it grows by is this machine's (the routers' module runs share "
           "its cores), not the roles'. "
           if any(row.get("router_floor_s") for row in rows) else "")
        + "With one router the rollback is two module round trips (the app hosts' releases, then one locked call on "
        "the router). With more HAProxy routers it is three: the releases, a stage on every router (the first takes the "
        "lock), then a commit on all at one instant. A switch reads every router under the lock first, then stages "
        "and commits. The routers are reached side by side, one per app host of the play (up to Ansible's forks); with "
        "fewer app hosts than routers a host reaches its routers one after another, and starts all but its last "
        "commit as async jobs, so that its routers still commit together at the instant. The commit spread is the "
        "widest gap between the routers' commit instants the run printed (by the routers' clocks; the lab's "
        "containers share one). Every round: `scale.json`.\n",
    ]
    return "".join(text)


def profile_section(prof: dict, where: str) -> str:
    """Where the rollback's time goes: profile_tasks per task, the groups, the no-op's, and why."""
    import scale as scale_mod  # noqa: PLC0415 - scale imports this module

    rollback, noop = dict(prof["rollback"]), prof.get("noop") or {}
    # Groups from this version's task_group, not the one that measured.
    rollback["summary"] = scale_mod.breakdown(rollback["tasks"], rollback["summary"]["wall_s"])
    text = [
        "\n## Where the rollback's time goes\n\n",
        f"One `bluegreen.core.rollback` {where}, with `ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks`, no "
        "probe load; the slowest tasks, then the time by kind of task:\n\n",
        scale_mod.profile_table(rollback["tasks"], rollback["summary"]),
    ]
    if noop.get("summary"):
        text.append(f"\nThe no-op playbook under the same callback: {noop['summary']['wall_s']:.2f} s wall, of which "
                    f"{noop['summary']['tasks_s']:.2f} s in its one task and {noop['summary']['outside_tasks_s']:.2f} s "
                    "outside it (ansible-playbook's own start-up and end).\n")
    text.append("\n" + rollback_proposal(rollback, noop) + "\n")
    return "".join(text)


def rollback_proposal(rollback: dict, noop: dict, slow_s: float | None = None) -> str:
    """Where the rollback's time goes against 1.5x the no-op floor, from the profile's figures. A task that runs a
    module on a host takes at least ``slow_s``: by default three quarters of the no-op's one module call (ping)."""
    summary = rollback["summary"]
    floor = (noop.get("summary") or {}).get("wall_s")
    if not floor:
        return ""
    budget = 1.5 * floor
    ping = (noop.get("summary") or {}).get("tasks_s")
    if slow_s is None:
        slow_s = 0.75 * ping if ping else 1.0
    slow = [task for task in rollback["tasks"] if task["s"] >= slow_s]
    rest = [task for task in rollback["tasks"] if task["s"] < slow_s]
    return (
        f"Toward 1.5x: with this floor ({floor:.2f} s) the rollback may take {budget:.2f} s; it took "
        f"{summary['wall_s']:.2f} s, so {max(summary['wall_s'] - budget, 0):.2f} s have to go. "
        f"{len(slow)} tasks that run a module on a host take {sum(t['s'] for t in slow):.2f} s ("
        + ", ".join(f"{t['task'].split(' : ', 1)[-1]} {t['s']:.2f} s" for t in slow)
        + f"); the other {len(rest)} tasks (set_fact, assert, include_tasks, argument validation) take "
        f"{sum(t['s'] for t in rest):.2f} s together; {summary['outside_tasks_s']:.2f} s are outside any task. "
        + (f"The no-op's one module call (ping) took {ping:.2f} s: on this machine a module round trip through "
           "the SSH connection costs about that, whatever the module does. " if ping else "")
        + PROPOSAL
    )


PROPOSAL = (
    "Why it stops there: the rollback playbook makes two module round trips where the no-op makes one. The first "
    "reads, on every app host at once, the release each colour points at; the second is one call on the router "
    "(haproxy_traffic or nginx_traffic with `colour: previous` and `lock_owner`) that takes the lock, reads the live "
    "colour and the history, checks that the previous colour still holds the release it ran when it was live, "
    "switches, records the rollback and releases the lock. Both are needed for a rollback that checks before it "
    "switches: the releases live on the app hosts, the live colour and the lock on the router. So the rollback costs "
    "start-up plus two round trips plus its bookkeeping tasks, against start-up plus one; 1.5x would allow half a "
    "round trip more than the floor."
)


def revert_section(revert: dict) -> str:
    """The revert case: the fail-fast watch beside a fixed window of the same length."""
    lines = [f"\n## A build answering 500, switched back by the watch\n\nA release of a build that answers 500 to every "
             f"page but `/health`, with no smoke check of `/` (so it reaches live traffic), under the same load client, "
             f"with a {REVERT_WATCH_S} s watch (probes every second, HAProxy's counters read every 0.2 s): once with "
             "the fail-fast watch (the default), once with `bluegreen_watch_fail_fast=false` (the 5xx share judged at "
             "the end of the window), side by side. \"Back\" is the router's auto-rollback record; the first 5xx is "
             "the first the client saw.\n",
             "| watch | back after the first 5xx | back after the switch | failed in the watch window | dropped (no answer) |",
             "|---|---|---|---|---|"]
    for mode in ("fail-fast", "fixed window"):
        item = revert.get(mode)
        if not item:
            continue
        first = item["back_after_first_5xx_s"]
        lines.append(f"| {mode} | {'n/a' if first is None else f'{first:.2f} s'} | {item['back_after_switch_s']:.2f} s | "
                     f"{item['failed']} of {item['window_requests']} ({item['failed_share']:.1%}) | {item['dropped']} |")
    fast, fixed = revert.get("fail-fast"), revert.get("fixed window")
    if fast and fixed and fast["failed"]:
        lines.append(f"\nThe fixed window let {fixed['failed'] / fast['failed']:.1f}x as many requests fail.")
    return "\n".join(lines) + "\n"


def ramp_section(ramp: dict) -> str:
    """The ramp case: the share each step served, against the step."""
    lines = [f"\n## A ramp in weighted steps, sticky per client\n\n`bluegreen.core.switch` from {ramp['from']} to {ramp['to']} "
             f"with `bluegreen_switch_steps: [10, 50, 100]` and a {ramp['watch_s']} s watch per step, under the usual load "
             "plus 120 sticky clients that keep the cookies the router sets (100 of them come with a cookie whose hash "
             "falls in each of HAProxy's 100 buckets once, so a step's share of them is exactly its percent; 20 come with "
             f"none). {ramp['failed']} of {ramp['requests']} requests failed; the playbook took {ramp['switch_s']:.1f} s "
             f"(measured {ramp.get('measured') or 'with the other cases'}). "
             "A step runs from its history record to the next one, less 0.3 s each side.\n",
             "| step | seconds | requests of the sticky clients | served by the new colour (bucketed clients) | off their bucket |",
             "|---|---|---|---|---|"]
    for step in ramp["steps"]:
        served = "n/a" if step["served_percent"] is None else f"{step['served_percent']:.1f} %"
        lines.append(f"| {step['step']} % | {step['seconds']:.1f} | {step['requests']} | {served} of {step['bucketed_requests']} | "
                     f"{step['off_bucket']} |")
    lines.append(f"\nClients served by the new colour and then by the old one again: {len(ramp['moved_back'])}.")
    return "\n".join(lines) + "\n"


def write_outputs(bench: Bench, started: float, notes: list[str], wall: float | None = None) -> None:
    keys = [key for key in ALL_CASES if key in bench.runs]
    runs = [bench.runs[key] for key in keys]
    summaries_list = report.write_report(runs, RESULTS)
    summaries = dict(zip(keys, summaries_list, strict=True))
    verdicts = judge(summaries, bench.extras)
    notes = notes + explain(verdicts)
    flips = bench.extras.get("flips") or []
    nginx_flips = bench.extras.get("nginx_flips") or []
    nginx_skipped = bench.extras.get("nginx_skipped")
    scale = load_scale()
    wall = round(time.monotonic() - started, 1) if wall is None else wall
    measured = bench.extras.get("measured") or time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    parts = [
        "# bluegreen.core benchmarks: the HAProxy and Nginx paths\n\n",
        f"Measured {measured} by `make bench` (benchmarks/bench.py) on a "
        "2-core machine: one HAProxy 2.6 router, one Nginx 1.22 router and two app hosts behind both (Debian 12 Podman "
        "containers with systemd), the "
        "demo app in both colours, load from the controller to the router's bridge address with benchmarks/probe.py "
        "(4 keep-alive threads without retries, 2 new-connection-per-request threads, 2 long-lived `/stream` "
        "requests started before the switch). Each case is its own probe run; its PNG timeline is next to this file. "
        f"A run has {LEAD_S:g} s of steady state before the action and its request clients stop {TAIL_S:g} s after the "
        "action ends (the switch, rollback and flips cases not before they have sent "
        f"{MIN_CASE_REQUESTS:,} requests each); its two streams last the case's usual length and, while the action "
        f"still runs, each completed stream is followed by another of {CHAIN_STREAM_S:g} s, so streams are open "
        "across the whole action. "
        f"The whole bench (provisioning, cases, report) took {wall:.0f} s of bench.py time"
        + (f" (`make bench` as a whole, with the lab's start and removal: {bench.extras['make_bench_s']:.0f} s)"
           if bench.extras.get("make_bench_s") else "") + ". The machine is shared: compare figures within one table, "
        "measured side by side, rather than across runs.\n",
        "\n## Cases\n\n",
        "- switch: `ansible-playbook bluegreen.core.switch -e bluegreen_monitor_seconds=0 -e bluegreen_force=true` (to the "
        "idle colour; the bench flips between two good releases, and a rollback marks the release it leaves).\n"
        "- rollback: `ansible-playbook bluegreen.core.rollback -e bluegreen_force=true`.\n"
        "- 20 set-map flips: a Python loop inside the router sends `set map` for the live entry over the admin "
        "socket 20 times, 0.5 s apart (each flip an event; `switch-start` is the first).\n"
        "- release 3.0.0: `ansible-playbook bluegreen.core.release` (deploy to the idle colour, smoke test, switch, "
        "a 2 s watch).\n"
        "- restart (baseline, no blue-green): `systemctl restart demo@<live colour>` on both app hosts at once.\n"
        "- reload (baseline, what config-rewrite roles do): the app's HAProxy file's map-driven `use_backend` replaced by a "
        "static `use_backend demo_<other colour>`, then `systemctl reload haproxy` (master-worker reload; the "
        "collection's config has `option idle-close-on-response`, which keeps idle keep-alive clients from being "
        "reset on reload, so this is the favourable version of that approach).\n"
        "- nginx switch / nginx rollback / nginx release 4.0.0: the same playbooks with `bluegreen_router: nginx` on "
        "an inventory whose router is the Nginx container (the same two app hosts): nginx_traffic swaps the include "
        "link, runs `nginx -t`, reloads and waits for the new workers.\n"
        "- nginx 20 reload flips: 20 Nginx switches, 0.5 s apart, from a loop inside the Nginx router (see below).\n"
        + (f"- Nginx cases {nginx_skipped}.\n" if nginx_skipped else "") + "\n",
        report.markdown_table(summaries_list),
        "\n## Cutover and failures in detail\n\n",
        extra_table(summaries, bench.extras),
        "\nCommand: wall time of the action (playbook, flip loop, restarts, reload). Switch-start to last old: from "
        "the start of the command to the start of the last request the old colour served; for a playbook that "
        "includes Ansible's own start-up. Both colours served: first new-colour request to last old-colour request "
        "(requests in flight when the map changed). At the router: HAProxy, the `cutover_ms` the module recorded in "
        "the router's history (for the flips, the slowest of the 20 `set map` commands); Nginx, the history's `reload_s` "
        "(link swap, `nginx -t`, reload, until the new workers run; for the flips, the slowest of the 20). Restart and reload keep "
        "or change the colour without the collection, so the cutover columns describe what they do to traffic. In the "
        "flips case the first table's cutover and window span all the flips (the old colour is live again every "
        "other flip); its per-flip figures are below.\n",
    ]
    if flips:
        parts.append(flips_section(flips, "flips"))
    if nginx_flips:
        parts.append(flips_section(nginx_flips, "nginx"))
    if any(key in summaries for key in NGINX_CASES):
        parts.append(nginx_section(summaries))
    floor = bench.extras.get("floor")
    if floor:
        parts.append(
            f"\n## Rollback wall time vs the Ansible floor\n\n`ansible-playbook bluegreen.core.rollback`: median "
            f"{floor['rollback_s']:.2f} s; a one-task no-op playbook (`ansible.builtin.ping` on the app hosts) on the "
            f"same inventory: median {floor['noop_s']:.2f} s; ratio {floor['ratio']:.2f}x over {floor['rounds']} rounds "
            f"run side by side (rollback {floor['rollback_all_s']}, no-op {floor['noop_all_s']})"
            + (f"; round {floor['profiled_round']} ran both under `ansible.posix.profile_tasks` (the profile below)"
               if floor.get("profiled_round") else "") + ".\n"
        )
    release = bench.extras.get("release_floor")
    if release:
        summary = (bench.extras.get("release_profile") or {}).get("summary") or {}
        parts.append(
            f"\n## Release wall time vs the Ansible floor\n\n`ansible-playbook bluegreen.core.release` with "
            f"`bluegreen_monitor_seconds=0` (deploy a new version to the idle colour, smoke-test it, switch): median "
            f"{release['release_s']:.2f} s; the no-op playbook in the same rounds: median {release['noop_s']:.2f} s; ratio "
            f"{release['ratio']:.2f}x over {release['rounds']} rounds (release {release['release_all_s']}, no-op "
            f"{release['noop_all_s']})"
            + (f". The last release ran under `ansible.posix.profile_tasks`: {bench.extras['release_profile']['tasks']} "
               f"tasks, {summary.get('tasks_s', 0):.2f} s in tasks and {summary.get('outside_tasks_s', 0):.2f} s outside them"
               if summary else "") + ".\n"
        )
    if bench.extras.get("revert"):
        parts.append(revert_section(bench.extras["revert"]))
    ramp = bench.extras.get("ramp") or load_json(RAMP_JSON)
    if ramp:
        parts.append(ramp_section(ramp))
    if bench.extras.get("profile"):
        parts.append(profile_section(bench.extras["profile"], "on the bench lab (1 HAProxy router, 2 app hosts), "
                                     "in the last floor round" if (floor or {}).get("profiled_round")
                                     else "right after the floor rounds"))
    elif scale and scale.get("profile"):
        parts.append(profile_section(scale["profile"], "on the 1-router, 2-app-host inventory of the scale lab"))
    if scale:
        parts.append(scale_section(scale))
    else:
        parts.append("\n## Scale\n\nNot run: no benchmarks/results/scale.json; `make bench-scale` writes it.\n")
    parts += ["\n## Against the targets\n\n", verdict_table(verdicts)]
    if notes:
        parts.append("\n" + "\n".join(notes) + "\n")
    parts.append(
        "\nNot run: `community.general.haproxy` (disable/enable servers, case 7 of the plan): it changes the administrative state "
        "of servers inside a backend, while this layout routes by backend (`use_backend` + map). Disabling the live "
        "backend's servers leaves the frontend pointing at a backend with no server, which answers 503 to every "
        "request until the servers are enabled again; it fits a single backend holding both colours' servers, a "
        "different layout from the one this collection installs.\n"
    )
    with open(os.path.join(RESULTS, "report.md"), "w", encoding="utf-8") as handle:
        handle.write("".join(parts))
    with open(os.path.join(RESULTS, "report.json"), "w", encoding="utf-8") as handle:
        json.dump({"cases": summaries, "flips": flips, "nginx_flips": nginx_flips, "nginx_skipped": nginx_skipped,
                   "router_cutover_ms": bench.extras["router_cutover_ms"],
                   "commands_s": bench.extras["commands_s"], "ansible_floor": floor, "targets": verdicts,
                   "bench_seconds": wall, "make_bench_s": bench.extras.get("make_bench_s"), "scale": scale,
                   "rollback_profile": bench.extras.get("profile"), "measured": measured,
                   "revert": bench.extras.get("revert"), "release_floor": bench.extras.get("release_floor"),
                   "release_profile": bench.extras.get("release_profile"), "ramp": ramp},
                  handle, indent=2, sort_keys=True)
        handle.write("\n")
    log(f"wrote {RESULTS}/report.md, report.json and {len(keys)} PNGs")
    print(verdict_table(verdicts), flush=True)


def load_json(path: str) -> dict | None:
    """A results file another run wrote (scale.json, ramp.json), when there is one."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def load_scale() -> dict | None:
    """scale.json of `make bench-scale`, when there is one."""
    return load_json(SCALE_JSON)


def nginx_section(summaries: dict[str, dict]) -> str:
    """The Nginx rows' reading: new-connection clients, keep-alive clients and why, streams."""
    keys = [key for key in NGINX_CASES if key in summaries]
    newconn = sum(summaries[key]["kinds"]["newconn"]["failed"] for key in keys)
    newconn_all = sum(summaries[key]["kinds"]["newconn"]["requests"] for key in keys)
    keepalive = sum(summaries[key]["kinds"]["keepalive"]["failed"] for key in keys)
    keepalive_all = sum(summaries[key]["kinds"]["keepalive"]["requests"] for key in keys)
    errors: dict[str, int] = {}
    for key in keys:
        for name, count in (summaries[key]["kinds"]["keepalive"].get("errors") or {}).items():
            errors[name] = errors.get(name, 0) + count
    return (
        "\n## The Nginx path\n\n"
        f"New-connection clients: {newconn} failed of {newconn_all:,} over the Nginx cases. Keep-alive clients "
        f"(no retries): {keepalive} failed of {keepalive_all:,}"
        + (f" ({', '.join(f'{name}: {count}' for name, count in sorted(errors.items()))})" if errors else "")
        + f". Why keep-alive clients can fail here and not through HAProxy: {NGINX_KEEPALIVE_NOTE}. A client that "
        "retries an idempotent request on a fresh connection (most HTTP libraries do for a connection closed before "
        "any response byte) does not see it; HAProxy's runtime API switches without a reload and so without it. "
        "Long-lived streams stay on the old workers until they finish (bounded by "
        "`bluegreen_nginx_worker_shutdown_timeout`, 5 min by default).\n"
    )


def report_only() -> int:
    """Rebuild the outputs from .cache/bench/<case>.jsonl and the extras kept in report.json."""
    with open(os.path.join(RESULTS, "report.json"), encoding="utf-8") as handle:
        saved = json.load(handle)
    bench = Bench("127.0.0.1", scale=1.0)
    for key in ALL_CASES:
        path = os.path.join(WORK, f"{key}.jsonl")
        if os.path.exists(path):
            bench.runs[key] = report.load_run(path)
            bench.runs[key].case = CASE_TITLES[key]
    bench.extras = {"flips": saved.get("flips") or [], "router_cutover_ms": saved.get("router_cutover_ms") or {},
                    "commands_s": saved.get("commands_s") or {}, "nginx_flips": saved.get("nginx_flips") or [],
                    "nginx_skipped": saved.get("nginx_skipped"), "make_bench_s": saved.get("make_bench_s"),
                    "profile": saved.get("rollback_profile"), "measured": saved.get("measured"),
                    "revert": saved.get("revert"), "release_floor": saved.get("release_floor"),
                    "release_profile": saved.get("release_profile")}
    if saved.get("ansible_floor"):
        bench.extras["floor"] = saved["ansible_floor"]
    write_outputs(bench, time.monotonic(), [], wall=saved.get("bench_seconds"))
    return 0


def prepare(nginx: bool = False) -> bool:
    """Artifacts, provisioning, releases 1.0.0 and 2.0.0 (both colours running).

    With `nginx`, one provisioning run configures the Nginx router too (its own `bluegreen_router`
    in a provisioning inventory), in parallel with the HAProxy router and after the same app hosts;
    if that run fails, the HAProxy lab is provisioned on its own and the Nginx side is left to
    nginx_prepare (whose failure is reported, not fatal). Returns whether the Nginx router was provisioned.
    """
    for version in ("1.0.0", "2.0.0", "3.0.0", "4.0.0"):
        sh(["python3", os.path.join(ROOT, "examples", "demo-app", "build.py"), "--version", version, "--out", ARTIFACTS])
    provisioned = False
    if nginx:
        os.makedirs(WORK, exist_ok=True)
        with open(PROVISION_INVENTORY, "w", encoding="utf-8") as handle:
            handle.write(inventory_yaml(PREFIX, ["router", "nginx"], ["app1", "app2"], "haproxy",
                                        router_kinds={"nginx": "nginx"}, directory=WORK))
        log("provisioning the bench lab (HAProxy and Nginx routers)")
        result = subprocess.run(playbook("bluegreen.core.provision", inventory=PROVISION_INVENTORY), env=env(),
                                capture_output=True, text=True, timeout=PREPARE_TIMEOUT_S, stdin=subprocess.DEVNULL,
                                check=False)
        provisioned = result.returncode == 0
        if not provisioned:
            log(f"provisioning both routers failed ({result.returncode}); the HAProxy lab on its own:\n"
                f"{result.stdout[-2000:]}")
    if not provisioned:
        log("provisioning the bench lab")
        sh(playbook("bluegreen.core.provision"), timeout=PREPARE_TIMEOUT_S)
    for version in ("1.0.0", "2.0.0"):
        log(f"releasing {version}")
        sh(playbook("bluegreen.core.release", "-e", f"bluegreen_version={version}",
                    "-e", f"bluegreen_artifact={os.path.join(ARTIFACTS, f'demo-app-{version}.tar.gz')}"),
           timeout=PREPARE_TIMEOUT_S)
    return provisioned


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-prepare", action="store_true", help="the lab is already provisioned and released")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of rollback vs no-op (default 3)")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite the report from the last run's probe files and report.json; no lab needed")
    parser.add_argument("--cases", default=",".join(CASE_ORDER + EXTRA_CASES + NGINX_CASES),
                        help="comma-separated subset of: " + ", ".join(CASE_ORDER + EXTRA_CASES + NGINX_CASES))
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= 10:
        parser.error("--rounds must be between 1 and 10")
    cases = [name for name in args.cases.split(",") if name]
    unknown = set(cases) - set(CASE_ORDER + EXTRA_CASES + NGINX_CASES)
    if unknown:
        parser.error(f"unknown cases: {', '.join(sorted(unknown))}")
    started = time.monotonic()
    if args.report_only:
        return report_only()
    nginx_cases = [name for name in NGINX_CASES if name in cases]
    nginx_ready, nginx_why = nginx_role_committed() if nginx_cases else (False, "")
    nginx_provisioned = prepare(nginx=nginx_ready) if not args.skip_prepare else True
    ip = router_ip()
    log(f"router at {ip}; live colour {live_colour()}")
    bench = Bench(ip, scale=1.0)
    notes: list[str] = []

    def stop(signum: int, frame: object) -> None:
        raise BenchStopped(f"stopped by signal {signum} (the bench's time limit)")

    signal.signal(signal.SIGTERM, stop)
    try:
        for name in CASE_ORDER:
            if name in cases:
                getattr(bench, name)()
        if "floor" in cases:
            bench.floor(args.rounds)
        if "revert" in cases:
            bench.revert()
        if "ramp" in cases:
            bench.ramp()
    except (BenchStopped, SystemExit, subprocess.TimeoutExpired) as exc:
        # Whatever ran is reported; what did not is named.
        text = str(exc).strip().splitlines()
        why = (text[0][:300] if text else type(exc).__name__).replace(ROOT + os.sep, "")
        log(f"stopped early: {why}")
        notes.append(f"Stopped early, the cases after the last one above did not run: {why}.")
        cases = []
    nginx_cases = [name for name in NGINX_CASES if name in cases]
    if nginx_cases:
        ready, why = nginx_ready, nginx_why
        if ready:
            # A failure on the Nginx side keeps the HAProxy figures: it is reported, not fatal.
            try:
                bench.nginx_prepare(provisioned=nginx_provisioned)
                for name in nginx_cases:
                    getattr(bench, name.replace("-", "_"))()
            except (SystemExit, BenchStopped, Exception) as exc:  # noqa: BLE001 - any failure, reported in the report
                text = str(exc).strip().splitlines()
                why = f"stopped: {text[0][:300] if text else type(exc).__name__}".replace(ROOT + os.sep, "")
                log(f"Nginx cases {why}")
                print(str(exc)[-4000:], file=sys.stderr, flush=True)
                bench.extras["nginx_skipped"] = why
        else:
            log(f"Nginx cases {why}")
            bench.extras["nginx_skipped"] = why
    if os.environ.get("BLUEGREEN_BENCH_STARTED", "").isdigit():
        bench.extras["make_bench_s"] = round(time.time() - int(os.environ["BLUEGREEN_BENCH_STARTED"]), 0)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if not bench.runs:
        # The ramp alone (--cases ramp) wrote its own file; the report keeps its other cases.
        log("no case with a timeline ran; the report is left as it was")
        return 0 if bench.extras.get("ramp") else 1
    write_outputs(bench, started, notes)
    log(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

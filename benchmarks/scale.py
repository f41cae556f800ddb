# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make bench-scale`: how the switch step's wall time grows with routers and app hosts.

    scripts/bench.sh scale   (brings up its own lab, runs this, takes the lab down)
    python3 benchmarks/scale.py [--rounds 3] [--skip-prepare]

Expects the scale lab (scripts/lab.sh with BLUEGREEN_LAB_PREFIX=bluegreen-benchscale: router1-5,
app1-5, 10 containers) to be up; its hosts are reached over SSH (.cache/lab/ssh_config). It provisions all of it with HAProxy and releases 1.0.0 and
2.0.0 once, then, for each size (routers, app hosts) in SIZES, runs `--rounds` rounds side by side
on an inventory of that size:

  no-op      a one-task playbook (ansible.builtin.ping on the app hosts): Ansible's floor
  floor      three haproxy_info calls on every router at once, the routers as the play's hosts: the least a
             change on several routers costs on this machine (ROUTER_FLOOR_PLAYBOOK)
  switch     ansible-playbook bluegreen.core.switch -e bluegreen_monitor_seconds=0 (to the idle colour)
  rollback   ansible-playbook bluegreen.core.rollback (back again, so every round starts the same)
Both with -e bluegreen_force=true: a rollback marks the release it leaves as rolled back, and the next switch goes
back to it.

No load runs meanwhile: this is the wall time of the step, not its effect on traffic (make bench).
Finally, on the smallest size, it runs the rollback and the no-op once more with the
ansible.posix.profile_tasks callback and keeps the per-task times: where the rollback's time goes.
Writes benchmarks/results/scale.json; make bench puts it into report.md and report.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench  # noqa: E402

PREFIX = os.environ.get("BLUEGREEN_LAB_PREFIX", "bluegreen-benchscale")
MAX_ROUTERS = 5
MAX_APPS = 5
# (routers, app hosts): routers grow with two app hosts (each app host reaches its share of the routers, one after
# another) and with five (one router per app host: all at once); app hosts grow with one router.
SIZES = ((1, 2), (2, 2), (5, 2), (1, 5), (5, 5))
OUT = os.path.join(bench.RESULTS, "scale.json")
# What the switch role prints after each step committed on several HAProxy routers (roles/switch/tasks/two_phase.yml).
SPREAD_LINE = re.compile(r"committed on (\d+) of (\d+) routers\s+within ([0-9.]+) ms of each other")
PROFILE_LINE = re.compile(r"^(?P<task>\S.*?) -{3,} (?P<seconds>\d+(?:\.\d+)?)s\s*$")


# --- pure helpers (unit-tested) ---------------------------------------------------------------

def lab_names(routers: int = MAX_ROUTERS, apps: int = MAX_APPS) -> list[str]:
    """The lab's container names without the prefix: router1..N, app1..M."""
    if not (1 <= routers <= MAX_ROUTERS and 1 <= apps <= MAX_APPS):
        raise ValueError(f"at most {MAX_ROUTERS} routers and {MAX_APPS} app hosts, got {routers} and {apps}")
    return [f"router{i}" for i in range(1, routers + 1)] + [f"app{i}" for i in range(1, apps + 1)]


def parse_profile(text: str) -> list[dict]:
    """The per-task times of ansible.posix.profile_tasks' recap, in the order printed.

    Recap lines look like `bluegreen.core.switch : Take the lock ------------ 1.23s`.
    """
    tasks = []
    in_recap = False
    for line in text.splitlines():
        if line.startswith("=" * 20):
            in_recap = True
            continue
        match = PROFILE_LINE.match(line.strip()) if in_recap else None
        if match:
            tasks.append({"task": match.group("task").strip(), "s": float(match.group("seconds"))})
    return tasks


def commit_spread(text: str) -> float | None:
    """The widest spread between the routers' commit instants a run printed (one line per step), in ms; None when it
    printed none (one router)."""
    spreads = [float(found.group(3)) for found in SPREAD_LINE.finditer(" ".join(text.split()))]
    return max(spreads) if spreads else None


GROUPS = (
    (r"\block\b", "lock / unlock"),
    (r"read the release|versions?\b", "read the app hosts' versions"),
    (r"^(bluegreen\.core\.switch : )?route (the|traffic)", "route (the switch itself)"),
    (r"live colour|router", "read the router"),
    # Before the watch: "Validating arguments against arg spec 'main' - ..., watch it, ..." is a check.
    (r"check|validating", "checks and asserts"),
    (r"watch|monitor|counter", "monitor"),
)


def task_group(task: str) -> str:
    """A coarse bucket for a task name, for the breakdown's summary."""
    name = task.lower()
    for pattern, group in GROUPS:
        if re.search(pattern, name):
            return group
    return "bookkeeping (set_fact, include, report)"


def breakdown(tasks: Sequence[dict], wall_s: float) -> dict:
    """Sum of task times, the rest of the wall time (ansible-playbook start-up, parsing, stats), per group."""
    total = round(sum(task["s"] for task in tasks), 2)
    groups: dict[str, float] = {}
    for task in tasks:
        group = task_group(task["task"])
        groups[group] = round(groups.get(group, 0.0) + task["s"], 2)
    return {"wall_s": round(wall_s, 2), "tasks_s": total, "outside_tasks_s": round(wall_s - total, 2),
            "tasks": len(tasks), "groups": dict(sorted(groups.items(), key=lambda item: -item[1]))}


def size_row(routers: int, apps: int, noop: Sequence[float], switch: Sequence[float], rollback: Sequence[float],
             spreads: dict | None = None, floor: Sequence[float] = ()) -> dict:
    """One size's medians, ratios to its own no-op floor, and every round's figures. ``spreads``: per playbook
    (switch, rollback), each round's commit spread in ms (commit_spread), for the median. ``floor``: each round's
    ROUTER_FLOOR playbook on the size's routers."""
    med = {name: round(statistics.median(values), 2) for name, values in
           (("noop_s", noop), ("switch_s", switch), ("rollback_s", rollback), ("router_floor_s", floor)) if values}
    spread = {f"{name}_spread_ms": round(statistics.median(found), 3) if (found := [x for x in values if x is not None])
              else None for name, values in (spreads or {}).items()}
    rounds = {name: [round(x, 2) for x in values] for name, values in
              (("noop_s", noop), ("switch_s", switch), ("rollback_s", rollback), ("router_floor_s", floor)) if values}
    return {"routers": routers, "apps": apps, **med, **spread,
            "switch_over_noop": round(med["switch_s"] / med["noop_s"], 2),
            "rollback_over_noop": round(med["rollback_s"] / med["noop_s"], 2),
            "switch_minus_noop_s": round(med["switch_s"] - med["noop_s"], 2),
            "rollback_minus_noop_s": round(med["rollback_s"] - med["noop_s"], 2),
            "rounds": rounds}


def growth(rows: Sequence[dict]) -> dict:
    """Per size: its switch and rollback medians over those of the smallest size (1 router, 2 app hosts)."""
    base = next((row for row in rows if (row["routers"], row["apps"]) == (1, 2)), None)
    if base is None:
        return {}
    return {f"{row['routers']}r-{row['apps']}a": {
        "switch": round(row["switch_s"] / base["switch_s"], 2),
        "rollback": round(row["rollback_s"] / base["rollback_s"], 2),
        "noop": round(row["noop_s"] / base["noop_s"], 2)} for row in rows}


def router_growth(rows: Sequence[dict]) -> dict:
    """Per number of app hosts measured with 1 router and with more: the switch's and the rollback's medians at the
    most routers over those at 1 router."""
    out = {}
    for apps in sorted({row["apps"] for row in rows}):
        same = sorted((row for row in rows if row["apps"] == apps), key=lambda row: row["routers"])
        if len(same) > 1 and same[0]["routers"] == 1:
            one, most = same[0], same[-1]
            out[f"{apps}a"] = {"routers": [1, most["routers"]], "switch": round(most["switch_s"] / one["switch_s"], 2),
                               "rollback": round(most["rollback_s"] / one["rollback_s"], 2)}
            if one.get("router_floor_s") and most.get("router_floor_s"):
                out[f"{apps}a"]["router_floor"] = round(most["router_floor_s"] / one["router_floor_s"], 2)
    return out


def scale_table(rows: Sequence[dict]) -> str:
    """The sizes as Markdown."""
    grow = growth(rows)
    lines = ["| routers | app hosts | no-op (s) | switch (s) | rollback (s) | switch / no-op | rollback / no-op "
             "| switch, rollback vs 1 router + 2 apps | commit spread, switch / rollback (ms) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        ratio = grow.get(f"{row['routers']}r-{row['apps']}a")
        lines.append(f"| {row['routers']} | {row['apps']} | {row['noop_s']:.2f} | {row['switch_s']:.2f} | "
                     f"{row['rollback_s']:.2f} | {row['switch_over_noop']:.2f}x | {row['rollback_over_noop']:.2f}x | "
                     + ("n/a" if ratio is None else f"{ratio['switch']:.2f}x, {ratio['rollback']:.2f}x") + " | "
                     + " / ".join("-" if row.get(key) is None else f"{row[key]:g}" for key in ("switch_spread_ms", "rollback_spread_ms"))
                     + " |")
    return "\n".join(lines) + "\n"


def profile_table(tasks: Sequence[dict], summary: dict, top: int = 12) -> str:
    """The slowest tasks and the groups, as Markdown."""
    lines = ["| task (ansible.posix.profile_tasks) | s |", "|---|---|"]
    for task in sorted(tasks, key=lambda item: -item["s"])[:top]:
        lines.append(f"| {task['task'].replace('|', '/')} | {task['s']:.2f} |")
    lines += ["", "| where | s |", "|---|---|",
              f"| wall time of ansible-playbook | {summary['wall_s']:.2f} |",
              f"| outside any task (start-up, parsing, includes' loading, stats) | {summary['outside_tasks_s']:.2f} |",
              f"| in {summary['tasks']} tasks | {summary['tasks_s']:.2f} |"]
    lines += [f"| - {group} | {seconds:.2f} |" for group, seconds in summary["groups"].items()]
    return "\n".join(lines) + "\n"


# --- the lab ----------------------------------------------------------------------------------

def inventory_path(routers: int, apps: int) -> str:
    return os.path.join(bench.WORK, f"scale-{routers}r-{apps}a.yml")


def write_inventory(routers: int, apps: int) -> str:
    path = inventory_path(routers, apps)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(bench.inventory_yaml(PREFIX, [f"router{i}" for i in range(1, routers + 1)],
                                          [f"app{i}" for i in range(1, apps + 1)], "haproxy", directory=bench.WORK))
    return path


def run(inventory: str, *args: str, extra_env: dict | None = None, timeout: float = bench.COMMAND_TIMEOUT_S) -> tuple[float, str]:
    """ansible-playbook on `inventory`: (wall seconds, stdout); exits with the output's tail on failure."""
    command = ["ansible-playbook", "-i", inventory, *args]
    started = time.monotonic()
    result = subprocess.run(command, env=dict(bench.env(), **(extra_env or {})), capture_output=True, text=True,
                            timeout=timeout, stdin=subprocess.DEVNULL, check=False)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"scale: {' '.join(command)} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}")
    return elapsed, result.stdout


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """`1x2,3x2,1x8` -> [(1, 2), (3, 2), (1, 8)] (routers x app hosts), each within the lab's limits."""
    sizes = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)x(\d+)\s*", part)
        if not match:
            raise ValueError(f"a size is ROUTERSxAPPS, e.g. 1x2, not {part!r}")
        routers, apps = int(match.group(1)), int(match.group(2))
        lab_names(routers, apps)
        sizes.append((routers, apps))
    if not sizes:
        raise ValueError("no sizes")
    return sizes


def prepare(full: str) -> None:
    for version in ("1.0.0", "2.0.0"):
        bench.sh(["python3", os.path.join(bench.ROOT, "examples", "demo-app", "build.py"), "--version", version,
                  "--out", bench.ARTIFACTS])
    bench.log(f"provisioning the scale lab ({MAX_ROUTERS} routers, {MAX_APPS} app hosts)")
    # Not measured: as many forks as hosts, so the 8 app hosts are one batch.
    forks = {"ANSIBLE_FORKS": str(MAX_ROUTERS + MAX_APPS)}
    run(full, "bluegreen.core.provision", extra_env=forks, timeout=1200)
    for version in ("1.0.0", "2.0.0"):
        bench.log(f"releasing {version}")
        run(full, "bluegreen.core.release", "-e", f"bluegreen_version={version}",
            "-e", f"bluegreen_artifact={os.path.join(bench.ARTIFACTS, f'demo-app-{version}.tar.gz')}",
            extra_env=forks, timeout=1200)


# The least a change on several routers costs: three module calls on every router (a read, a stage, a commit), all
# routers at once as the play's hosts (Ansible's forks), no app host in between. Against it, one router's: the same
# calls on one host. What it grows by from 1 to 5 routers is the machine's, not the roles'.
ROUTER_FLOOR_PLAYBOOK = """---
- name: Three module calls on every router at once (the floor of a change on several routers)
  hosts: bluegreen_routers
  gather_facts: false
  become: true
  tasks:
    - name: Read the app's routing (a read)
      bluegreen.core.haproxy_info: {app: demo}
    - name: Read it again (as long as a stage)
      bluegreen.core.haproxy_info: {app: demo}
    - name: Read it again (as long as a commit)
      bluegreen.core.haproxy_info: {app: demo}
"""
SWITCH = ("bluegreen.core.switch", "-e", "bluegreen_monitor_seconds=0", *bench.FLIP)
ROLLBACK = ("bluegreen.core.rollback", *bench.FLIP)
PROFILE_ENV = {"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks", "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "all",
               "PROFILE_TASKS_SORT_ORDER": "none"}


def measure(rounds: int, noop: str, floor: str, sizes: Sequence[tuple[int, int]] = SIZES) -> list[dict]:
    rows = []
    for routers, apps in sizes:
        inventory = write_inventory(routers, apps)
        times: dict[str, list[float]] = {"noop": [], "switch": [], "rollback": [], "floor": []}
        spreads: dict[str, list] = {"switch": [], "rollback": []}
        for number in range(1, rounds + 1):
            times["noop"].append(run(inventory, noop)[0])
            times["floor"].append(run(inventory, floor)[0])
            for name, args in (("switch", SWITCH), ("rollback", ROLLBACK)):
                wall, out = run(inventory, *args)
                times[name].append(wall)
                spreads[name].append(commit_spread(out))
            bench.log(f"{routers} router(s), {apps} app hosts, round {number}: no-op {times['noop'][-1]:.2f} s, "
                      f"router floor {times['floor'][-1]:.2f} s, switch {times['switch'][-1]:.2f} s, rollback "
                      f"{times['rollback'][-1]:.2f} s, commit spread {spreads['switch'][-1]} / {spreads['rollback'][-1]} ms")
        rows.append(size_row(routers, apps, times["noop"], times["switch"], times["rollback"], spreads, times["floor"]))
    return rows


def profile(noop: str) -> dict:
    inventory = write_inventory(1, 2)
    run(inventory, *SWITCH)
    wall, out = run(inventory, *ROLLBACK, extra_env=PROFILE_ENV)
    tasks = parse_profile(out)
    noop_wall, noop_out = run(inventory, noop, extra_env=PROFILE_ENV)
    noop_tasks = parse_profile(noop_out)
    bench.log(f"profiled rollback: {wall:.2f} s wall, {sum(t['s'] for t in tasks):.2f} s in {len(tasks)} tasks")
    return {"rollback": {"tasks": tasks, "summary": breakdown(tasks, wall)},
            "noop": {"tasks": noop_tasks, "summary": breakdown(noop_tasks, noop_wall)}}


def forks() -> int:
    out = subprocess.run(["ansible-config", "dump"], env=bench.env(), capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL, check=False).stdout
    match = re.search(r"^DEFAULT_FORKS\(.*?\) = (\d+)", out, re.MULTILINE)
    return int(match.group(1)) if match else 5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="rounds per size (default 3)")
    parser.add_argument("--skip-prepare", action="store_true", help="the lab is already provisioned and released")
    parser.add_argument("--prepare-only", action="store_true", help="provision and release, then stop")
    parser.add_argument("--sizes", default=",".join(f"{r}x{a}" for r, a in SIZES),
                        help="ROUTERSxAPPS sizes to measure (default: %(default)s); the lab must hold the largest")
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= 10:
        parser.error("--rounds must be between 1 and 10")
    try:
        sizes = parse_sizes(args.sizes)
    except ValueError as exc:
        parser.error(str(exc))
    global MAX_ROUTERS, MAX_APPS  # noqa: PLW0603 - the lab of this run
    MAX_ROUTERS, MAX_APPS = max(size[0] for size in sizes), max(size[1] for size in sizes)
    started = time.monotonic()
    os.makedirs(bench.WORK, exist_ok=True)
    noop = os.path.join(bench.WORK, "noop.yml")
    with open(noop, "w", encoding="utf-8") as handle:
        handle.write(bench.NOOP_PLAYBOOK)
    floor = os.path.join(bench.WORK, "router-floor.yml")
    with open(floor, "w", encoding="utf-8") as handle:
        handle.write(ROUTER_FLOOR_PLAYBOOK)
    if not args.skip_prepare:
        prepare(write_inventory(MAX_ROUTERS, MAX_APPS))
        if args.prepare_only:
            bench.log(f"prepared in {time.monotonic() - started:.0f} s")
            return 0
    prepared = time.monotonic()
    rows = measure(args.rounds, noop, floor, sizes)
    profiled = profile(noop)
    result = {"measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "rounds": args.rounds,
              "forks": forks(), "sizes": rows, "lab": {"routers": MAX_ROUTERS, "apps": MAX_APPS}, "growth": growth(rows),
              "router_growth": router_growth(rows), "profile": profiled,
              "prepare_s": round(prepared - started, 1), "scale_seconds": round(time.monotonic() - started, 1)}
    with open(OUT, "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2, sort_keys=True)
        handle.write("\n")
    print(scale_table(rows), flush=True)
    print(profile_table(profiled["rollback"]["tasks"], profiled["rollback"]["summary"]), flush=True)
    bench.log(f"wrote {OUT} in {result['scale_seconds']:.0f} s; make bench (or bench.py --report-only) puts it in report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

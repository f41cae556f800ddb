# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How long the switch step takes, against the floor Ansible itself sets, on the demo lab.

    make demo && python3 benchmarks/switch_step.py [--rounds 5]

Each round runs, side by side:
  * `ansible-playbook bluegreen.core.switch -e bluegreen_switch_to=idle -e bluegreen_monitor_seconds=0`
    (lock, read the live colour from the router, read versions, switch, unlock);
  * a one-task no-op playbook (ansible.builtin.ping) on the same inventory: Ansible's own floor.
and reads the cutover time HAProxy's runtime API took (`cutover_ms`, recorded in the router's history).
Prints medians and the ratio, and writes benchmarks/results/switch_step.json. Only the lab's
containers are contacted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INVENTORY = os.path.join(ROOT, "examples", "lab", "inventory.yml")
NOOP = """- name: No-op on the same hosts
  hosts: bluegreen_apps
  gather_facts: false
  tasks:
    - name: Reach each host once
      ansible.builtin.ping:
"""


def _env() -> dict:
    return dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=os.environ.get("ANSIBLE_COLLECTIONS_PATH", os.path.join(ROOT, ".cache", "collections")),
        CONTAINERS_CONF=os.environ.get("CONTAINERS_CONF", os.path.join(ROOT, "lab", "containers.conf")),
        PATH=os.path.join(ROOT, ".venv", "bin") + os.pathsep + os.environ.get("PATH", ""),
    )


def _timed(command: list) -> float:
    started = time.monotonic()
    result = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=300, check=False)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
    return elapsed


def _last_cutover_ms() -> float:
    # Over SSH as the lab user, then sudo (.cache/lab/ssh_config is written by scripts/lab.sh).
    out = subprocess.run(
        ["ssh", "-F", os.path.join(ROOT, ".cache", "lab", "ssh_config"), "bluegreen-lab-router",
         "sudo tail -n 1 /var/lib/bluegreen/demo/history.jsonl"],
        env=_env(), capture_output=True, text=True, check=True,
    ).stdout
    return float(json.loads(out)["cutover_ms"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "switch_step.json"))
    args = parser.parse_args()
    if not 1 <= args.rounds <= 50:
        parser.error("--rounds must be between 1 and 50")

    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as handle:
        handle.write(NOOP)
        noop_playbook = handle.name
    base = ["ansible-playbook", "-i", INVENTORY]
    switch, noop, cutover = [], [], []
    try:
        for number in range(1, args.rounds + 1):
            noop.append(_timed(base + [noop_playbook]))
            switch.append(_timed(base + ["bluegreen.core.switch", "-e", "bluegreen_switch_to=idle",
                                         "-e", "bluegreen_monitor_seconds=0"]))
            cutover.append(_last_cutover_ms())
            print(f"round {number}: switch playbook {switch[-1]:.2f}s, no-op playbook {noop[-1]:.2f}s, "
                  f"cutover {cutover[-1]:.2f} ms", flush=True)
    finally:
        os.unlink(noop_playbook)

    result = {
        "rounds": args.rounds,
        "switch_playbook_s": {"median": round(statistics.median(switch), 2), "all": [round(x, 2) for x in switch]},
        "noop_playbook_s": {"median": round(statistics.median(noop), 2), "all": [round(x, 2) for x in noop]},
        "ratio_switch_to_noop": round(statistics.median(switch) / statistics.median(noop), 2),
        "cutover_ms": {"median": round(statistics.median(cutover), 3), "max": round(max(cutover), 3)},
        "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2)
        handle.write("\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

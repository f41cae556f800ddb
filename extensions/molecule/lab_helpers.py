# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the scenarios' testinfra verifiers share: hosts, requests through the router, playbook runs.

Every request is made from inside the lab's router container (curl to 127.0.0.1 or to an
app container's bridge address), so test traffic never leaves the lab.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import testinfra
import yaml

PROJECT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _groups() -> dict:
    """The scenario's inventory groups (each scenario names its own containers, so they never clash)."""
    path = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not path or not os.path.exists(path):
        return {"bluegreen_routers": ["bgm-router"], "bluegreen_apps": ["bgm-app1", "bgm-app2"]}
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    # Molecule writes each group at the top level of its inventory, beside "all".
    return {name: sorted((group or {}).get("hosts") or {}) for name, group in data.items() if name != "all"}


GROUPS = _groups()
ROUTER = GROUPS["bluegreen_routers"][0]
APPS = tuple(GROUPS["bluegreen_apps"])
APP = "demo"
MAP_FILE = f"/etc/haproxy/maps/{APP}.map"
HISTORY = f"/var/lib/bluegreen/{APP}/history.jsonl"


def host(name: str):
    return testinfra.get_host(f"podman://{name}")


def address(name: str) -> str:
    return subprocess.run(
        ["podman", "inspect", "-f", "{{.NetworkSettings.IPAddress}}", name],
        check=True, capture_output=True, text=True,
    ).stdout.strip()


def get(url: str) -> dict:
    """One request from inside the router: status (0 when no answer), colour, version and app host headers."""
    out = host(ROUTER).run(
        "curl -s -m 5 -o /dev/null -w '%%{http_code}|%%header{x-bluegreen-colour}|%%header{x-app-version}|%%header{x-app-host}' %s",
        url,
    ).stdout.strip().split("|")
    out += [""] * (4 - len(out))
    return {"status": int(out[0] or 0), "colour": out[1] or None, "version": out[2] or None, "host": out[3] or None}


def live(count: int = 5) -> list:
    return [get("http://127.0.0.1:80/") for _attempt in range(count)]


def inventory() -> str:
    return os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])


def _collections_path() -> str:
    return os.environ.get("ANSIBLE_COLLECTIONS_PATH") or os.path.join(PROJECT, ".cache", "collections")


def playbook(name: str, *extra_vars: str, check: bool = False, extra_inventory: str | None = None) -> subprocess.CompletedProcess:
    """Run one of the collection's playbooks against the scenario's hosts, as a user would."""
    command = ["ansible-playbook", "-i", inventory(), f"bluegreen.core.{name}"]
    if extra_inventory:
        command[3:3] = ["-i", extra_inventory]
    for item in extra_vars:
        command += ["-e", item]
    if check:
        command += ["--check", "--diff"]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=_collections_path(),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    started = time.monotonic()
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    result.wall_s = time.monotonic() - started  # type: ignore[attr-defined]
    # ansible-core writes task errors to stderr and the task results to stdout: read both.
    result.output = result.stdout + result.stderr  # type: ignore[attr-defined]
    return result


def module(module_name: str, args: dict, target: str = ROUTER) -> dict:
    """Run a collection module ad hoc on one host and return its JSON result."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=_collections_path(),
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
    result = subprocess.run(
        ["ansible", target, "-i", inventory(), "-m", f"bluegreen.core.{module_name}", "-a", json.dumps(args)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    data = json.loads(result.stdout)
    return data["plays"][0]["tasks"][0]["hosts"][target]


def history() -> list:
    text = host(ROUTER).file(HISTORY).content_string
    return [json.loads(line) for line in text.splitlines() if line.strip()]

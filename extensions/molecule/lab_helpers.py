# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the scenarios' testinfra verifiers share: hosts, requests through the router, playbook runs.

Hosts are reached as the playbooks reach them: over SSH, as the lab user with the lab's key, at the
addresses in Molecule's inventory, with sudo for commands that need root. Every request is made from
inside the lab's router container (curl to 127.0.0.1 or to an app container's bridge address), so test
traffic never leaves the lab.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

import testinfra
import yaml

PROJECT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, PROJECT)
from benchmarks import probe  # noqa: E402  (the project root is on the path only from here)


def _inventory() -> dict:
    """Molecule's inventory of the scenario: {} outside Molecule."""
    path = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not path or not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def _groups() -> dict:
    """The scenario's inventory groups (each scenario names its own containers, so they never clash)."""
    data = _inventory()
    if not data:
        return {"bluegreen_routers": ["bgm-router"], "bluegreen_apps": ["bgm-app1", "bgm-app2"]}
    # Molecule writes each group at the top level of its inventory, beside "all".
    return {name: sorted((group or {}).get("hosts") or {}) for name, group in data.items() if name != "all"}


GROUPS = _groups()
# Each host's SSH connection (ansible_host, ansible_user, ansible_port, ansible_private_key_file), as
# Molecule wrote it from create.yml's instance config.
CONNECTIONS = {name: opts or {} for name, opts in ((_inventory().get("all") or {}).get("hosts") or {}).items()}
ROUTER = GROUPS["bluegreen_routers"][0]
APPS = tuple(GROUPS["bluegreen_apps"])
APP = "demo"
MAP_FILE = "/etc/haproxy/maps/bluegreen.map"
# The app's own part of the router: its listeners and backends (HAProxy loads it after haproxy.cfg).
APP_CFG = f"/etc/haproxy/bluegreen.d/{APP}.cfg"
HISTORY = f"/var/lib/bluegreen/{APP}/history.jsonl"
# The cookie HAProxy's step rules set to keep a client on its colour (haproxy_app sticky_by=cookie, the default).
STICKY_COOKIE = f"bluegreen_{APP}"


def _control_dir() -> str:
    """A short directory of our own for the SSH master connections' sockets."""
    path = os.path.join(tempfile.gettempdir(), f"bluegreen-lab-ssh-{os.getuid()}")
    os.makedirs(path, mode=0o700, exist_ok=True)
    if os.stat(path).st_uid != os.getuid() or os.stat(path).st_mode & 0o077:
        raise RuntimeError(f"{path} must be a directory of this user's only")
    return path


def _connection(name: str) -> dict:
    opts = CONNECTIONS.get(name)
    if not opts or "ansible_host" not in opts:
        raise RuntimeError(f"no SSH connection for {name} in Molecule's inventory (MOLECULE_INVENTORY_FILE): "
                           "run the verifier through molecule, after create")
    return opts


def host(name: str):
    """The host over SSH (testinfra's ssh backend), as the lab user, running each command with sudo.

    One master connection per host (ControlPersist) carries every command, so a command costs a
    session, not a login.
    """
    opts = _connection(name)
    return testinfra.get_host(
        f"ssh://{opts['ansible_user']}@{opts['ansible_host']}:{opts.get('ansible_port', 22)}",
        ssh_identity_file=opts["ansible_private_key_file"],
        ssh_extra_args="-o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no "
                       "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
        controlpath=os.path.join(_control_dir(), f"{name}-{opts['ansible_host']}"), controlpersist=60, sudo=True,
    )


def address(name: str) -> str:
    """The host's address on Podman's bridge, from Molecule's inventory."""
    return _connection(name)["ansible_host"]


def get(url: str, *headers: str, on: str = ROUTER) -> dict:
    """One request from inside the router (``on``, the scenario's first unless named; with ``headers``, each
    ``Name: value``): status (0 when no answer), colour, version and app host headers."""
    out = host(on).run(
        "curl -s -m 5 -o /dev/null -w '%%{http_code}|%%header{x-bluegreen-colour}|%%header{x-app-version}|%%header{x-app-host}'"
        + " -H %s" * len(headers) + " %s",
        *headers, url,
    ).stdout.strip().split("|")
    out += [""] * (4 - len(out))
    return {"status": int(out[0] or 0), "colour": out[1] or None, "version": out[2] or None, "host": out[3] or None}


def live(count: int = 5) -> list:
    return [get("http://127.0.0.1:80/") for _attempt in range(count)]


def inventory() -> str:
    return os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])


def _collections_path() -> str:
    return os.environ.get("ANSIBLE_COLLECTIONS_PATH") or os.path.join(PROJECT, ".cache", "collections")


def _playbook_command(name: str, extra_vars: tuple, check: bool, extra_inventory: str | None) -> tuple:
    command = ["ansible-playbook", "-i", inventory(), f"bluegreen.core.{name}"]
    if extra_inventory:
        command[3:3] = ["-i", extra_inventory]
    for item in extra_vars:
        command += ["-e", item]
    if check:
        command += ["--check", "--diff"]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=_collections_path(),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    return command, env


def playbook_in_background(name: str, *extra_vars: str, output: str) -> subprocess.Popen:
    """Start one of the collection's playbooks and return at once; its output goes to the file ``output``."""
    command, env = _playbook_command(name, extra_vars, False, None)
    with open(output, "w", encoding="utf-8") as handle:
        return subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def playbook(name: str, *extra_vars: str, check: bool = False, extra_inventory: str | None = None) -> subprocess.CompletedProcess:
    """Run one of the collection's playbooks against the scenario's hosts, as a user would."""
    command, env = _playbook_command(name, extra_vars, check, extra_inventory)
    started = time.monotonic()
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    result.wall_s = time.monotonic() - started  # type: ignore[attr-defined]
    # ansible-core writes task errors to stderr and the task results to stdout: read both.
    result.output = result.stdout + result.stderr  # type: ignore[attr-defined]
    return result


def playbook_json(name: str, *extra_vars: str, check: bool = False, extra_inventory: str | None = None) -> tuple:
    """Run one of the collection's playbooks with the JSON callback: (rc, its JSON report, its output). The report has
    each task's result per host (``plays``), the recap (``stats``) and what it published with set_stats
    (``global_custom_stats``)."""
    command, env = _playbook_command(name, extra_vars, check, extra_inventory)
    env.update(ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_SHOW_CUSTOM_STATS="1")
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    output = result.stdout + result.stderr
    try:
        report = json.loads(result.stdout)
    except ValueError:
        raise AssertionError(f"{name} printed no JSON report (rc {result.returncode}):\n{output}") from None
    return result.returncode, report, output


def module(module_name: str, args: dict, target: str = ROUTER) -> dict:
    """Run a collection module ad hoc on one host, as root (become) like the playbooks, and return its JSON result."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=_collections_path(),
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
    result = subprocess.run(
        ["ansible", target, "-i", inventory(), "--become", "-m", f"bluegreen.core.{module_name}", "-a", json.dumps(args)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    data = json.loads(result.stdout)
    return data["plays"][0]["tasks"][0]["hosts"][target]


def history(app: str = APP, on: str = ROUTER) -> list:
    """The app's history records on the router ``on`` (the scenario's app, and first router, unless named)."""
    text = host(on).file(f"/var/lib/bluegreen/{app}/history.jsonl").content_string
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# Where the scenarios' prepare builds the demo app's releases, and the tests build theirs.
ARTIFACTS = os.path.join(PROJECT, ".cache", "artifacts")


def build_demo(version: str, out: str = ARTIFACTS, broken: str | None = None) -> str:
    """Build the demo app's release ``version`` on the controller (deliberately ``broken``, with build.py's
    --broken, when given) into ``out``, and return the artifact's path."""
    command = [sys.executable, os.path.join(PROJECT, "examples", "demo-app", "build.py"), "--version", version, "--out", out,
               *(["--broken", broken] if broken else [])]
    built = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    return built.stdout.strip().splitlines()[-1]


@contextlib.contextmanager
def another_runs_lock(on: str = ROUTER, owner: str = "release by ops", controller: dict | None = None, app: str = APP):
    """Hold the app's lock on the router ``on`` as another run would (a lock file that expires in 2100, with the
    ``controller`` that took it when given) while the block runs, and free it after; yields the lock file's path."""
    holder = {"owner": owner, "since": "2026-01-01T00:00:00Z", "expires_epoch": 4102444800}
    if controller is not None:
        holder["controller"] = controller
    path = f"/var/lib/bluegreen/{app}/lock"
    router = host(on)
    router.check_output(f"printf '%s' {shlex.quote(json.dumps(holder))} > {path}")
    try:
        yield path
    finally:
        router.run(f"rm -f {path}")


def only_a_failed_smoke_test_recorded(before: list, colour: str, version: str) -> dict:
    """Assert a release that failed its smoke test left the history as it was, plus one record of that failure (so no
    later switch routes to the release unless forced), and return that record."""
    now = history()
    assert now[:len(before)] == before
    (smoke,) = now[len(before):]
    assert (smoke["action"], smoke["colour"], smoke["result"], smoke["versions"][colour]) == ("smoke-test", colour, "failed", version)
    return smoke


# --------------------------------------------------------------------------- weighted steps


def bucket(cookie: str | None) -> int | None:
    """The bucket (0-99) HAProxy's step rules put a client in, from the Cookie header it sent; None without the
    sticky cookie."""
    return probe.sticky_bucket(cookie, STICKY_COOKIE)


def sticky_clients(fresh: int = 20) -> tuple:
    """The probe's sticky clients for the scenario's app (probe.sticky_clients)."""
    return probe.sticky_clients(STICKY_COOKIE, fresh)

# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's playbooks, run with ansible-playbook, with bluegreen_router alb and route53 against the moto server.

The app hosts are two ``ansible_connection: local`` hosts, one per colour (the fleets topology), whose
bluegreen_app_root is a temp folder holding real colour links (blue -> releases/1.0.0, green -> releases/1.1.0),
and whose colour answers on a loopback port with an HTTP server of this test (the watch after a switch probes it).
AWS is the moto server on 127.0.0.1; nothing else is talked to.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import ansible_collections.bluegreen.core as collection
import pytest
import yaml
from ansible_collections.bluegreen.core.tests.aws.moto_lab import Alb, MotoServer, Zone, client

VERSIONS = {"blue": "1.0.0", "green": "1.1.0"}
PLAYBOOK_TIMEOUT = 120
HISTORY = "shop/history.jsonl"


class ColourHandler(BaseHTTPRequestHandler):
    """Answers every GET with the server's status and its X-Bluegreen-Colour header."""

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        server: ColourServer = self.server  # type: ignore[assignment]
        body = f"{server.colour} {server.status}\n".encode()
        self.send_response(server.status)
        self.send_header("X-Bluegreen-Colour", server.colour)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the signature http.server calls
        return


class ColourServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, colour: str) -> None:
        super().__init__(("127.0.0.1", 0), ColourHandler)
        self.colour = colour
        self.status = 200


@dataclass
class Lab:
    """An inventory for the playbooks, the colour servers behind it, and what the runs left on disk."""

    moto: MotoServer
    path: Path
    servers: dict
    router_vars: dict
    extra: dict = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return self.path / "state"

    def write_inventory(self, **overrides: object) -> Path:
        hosts = {}
        for colour in ("blue", "green"):
            root = self.path / f"app-{colour}"
            (root / "releases" / VERSIONS[colour]).mkdir(parents=True, exist_ok=True)
            if not (root / colour).is_symlink():
                os.symlink(f"releases/{VERSIONS[colour]}", root / colour)
            host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                    "bluegreen_address": "127.0.0.1", "bluegreen_app_root": str(root)}
            hosts[colour] = {f"app-{colour}-1": host}
        variables = {
            "bluegreen_app": "shop",
            "bluegreen_topology": "fleets",
            "bluegreen_become": False,
            "bluegreen_ports": {c: self.servers[c].server_address[1] for c in ("blue", "green")},
            "bluegreen_aws_endpoint_url": self.moto.url,
            "bluegreen_aws_state_dir": str(self.state_dir),
            "bluegreen_actor": "pytest",
            "bluegreen_monitor_seconds": 1,
            "bluegreen_monitor_interval": 0.2,
            "bluegreen_smoke_retries": 2,
            **self.router_vars,
            **overrides,
        }
        inventory = {"all": {
            "hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}},
            "vars": variables,
            "children": {"bluegreen_apps": {"children": {
                "bluegreen_blue": {"hosts": hosts["blue"]},
                "bluegreen_green": {"hosts": hosts["green"]},
            }}},
        }}
        path = self.path / "inventory.yml"
        path.write_text(yaml.safe_dump(inventory), encoding="utf-8")
        return path

    def play(self, playbook: str, *args: str, inventory: dict | None = None) -> subprocess.CompletedProcess:
        """Run bluegreen.core.<playbook> with ansible-playbook; returns the finished process (stdout and stderr joined)."""
        command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(self.write_inventory(**(inventory or {}))),
                   f"bluegreen.core.{playbook}", *args]
        return subprocess.run(command, env=playbook_env(self.path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=PLAYBOOK_TIMEOUT, check=False, stdin=subprocess.DEVNULL)

    def history(self) -> list:
        path = self.state_dir / HISTORY
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def collections_path() -> str:
    """The folder that holds ansible_collections/bluegreen/core, as the tests import it."""
    core = Path(list(collection.__path__)[0])
    return str(core.parents[2])


def playbook_env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ANSIBLE_"))}
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": collections_path(),
        "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-tmp"),
        "ANSIBLE_REMOTE_TEMP": str(tmp / "ansible-tmp"),
        "ANSIBLE_HOME": str(tmp / "ansible-home"),
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_NOCOLOR": "true",
        "ANSIBLE_FORCE_COLOR": "false",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_PIPELINING": "true",
        # moto takes any credentials; no config file or instance role is looked at.
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": str(tmp / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    })
    return env


def recap(run: subprocess.CompletedProcess) -> dict:
    """The PLAY RECAP counts summed over the hosts, e.g. {'ok': 12, 'changed': 1, 'failed': 0, ...}."""
    totals: dict = {}
    in_recap = False
    for line in run.stdout.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        if in_recap and ":" in line:
            for part in line.split(":", 1)[1].split():
                key, _sep, value = part.partition("=")
                if value.isdigit():
                    totals[key] = totals.get(key, 0) + int(value)
    return totals


def succeeded(run: subprocess.CompletedProcess) -> bool:
    return run.returncode == 0 and recap(run).get("failed", 0) == 0


@pytest.fixture
def servers():
    made = {c: ColourServer(c) for c in ("blue", "green")}
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True) for s in made.values()]
    for thread in threads:
        thread.start()
    yield made
    for server in made.values():
        server.shutdown()
        server.server_close()


@pytest.fixture
def alb_lab(alb: Alb, moto: MotoServer, servers: dict, tmp_path: Path) -> Lab:
    router_vars = {"bluegreen_router": "alb", "bluegreen_alb_listener_arn": alb.listener_arn,
                   "bluegreen_alb_target_groups": dict(alb.target_groups), "bluegreen_alb_health_timeout": 0}
    return Lab(moto, tmp_path, servers, router_vars, {"alb": alb})


@pytest.fixture
def route53_lab(zone: Zone, moto: MotoServer, servers: dict, tmp_path: Path) -> Lab:
    router_vars = {"bluegreen_router": "route53", "bluegreen_route53_zone": "example.com",
                   "bluegreen_route53_record": "shop.example.com", "bluegreen_route53_wait_timeout": 10}
    return Lab(moto, tmp_path, servers, router_vars, {"zone": zone})


# --------------------------------------------------------------------------- ALB


def test_alb_check_mode_status_switch_rerun_and_rollback(alb_lab: Lab, alb: Alb):
    before = alb.default_actions()
    check = alb_lab.play("switch", "--check", "--diff")
    assert succeeded(check), check.stdout
    assert '"green": 100' in check.stdout and '"green": 0' in check.stdout
    assert alb.default_actions() == before and alb_lab.history() == []

    status = alb_lab.play("status")
    assert succeeded(status), status.stdout
    assert "live colour blue (weights blue 1, green 0)" in status.stdout and "green: version 1.1.0 (idle)" in status.stdout

    switch = alb_lab.play("switch")
    assert succeeded(switch), switch.stdout
    assert alb.weights() == {"blue": 0, "green": 100}
    # The watch probed green's host, checked its targets, and said plainly that CloudWatch had no counts.
    assert "green was watched for" in switch.stdout and "(probes passing: 1)" in switch.stdout
    assert "CloudWatch has no RequestCount datapoints" in switch.stdout and "bluegreen_max_error_rate was not checked" in switch.stdout
    assert [(e["from"], e["to"], e["versions"]) for e in alb_lab.history()] == [("blue", "green", VERSIONS)]

    again = alb_lab.play("switch", "-e", "bluegreen_switch_to=green")
    assert succeeded(again) and recap(again)["changed"] == 0, again.stdout
    assert "is already live; nothing to switch" in again.stdout

    rollback = alb_lab.play("rollback")
    assert succeeded(rollback), rollback.stdout
    assert alb.weights() == {"blue": 100, "green": 0}
    assert [(e["action"], e["from"], e["to"]) for e in alb_lab.history()][-1] == ("rollback", "green", "blue")


def test_alb_weighted_steps_10_50_100_then_rollback_to_the_colour_before_them(alb_lab: Lab, alb: Alb):
    # Without the watch after each step, to keep the suite fast: the full switch and the watch failure cover it.
    switch = alb_lab.play("switch", "-e", '{"bluegreen_switch_steps": [10, 50, 100], "bluegreen_monitor_seconds": 0}')
    assert succeeded(switch), switch.stdout
    assert [e["weights"] for e in alb_lab.history()] == [{"blue": 90, "green": 10}, {"blue": 50, "green": 50}, {"blue": 0, "green": 100}]
    assert alb.weights() == {"blue": 0, "green": 100}
    rollback = alb_lab.play("rollback")
    assert succeeded(rollback), rollback.stdout
    assert alb.weights() == {"blue": 100, "green": 0}


def test_alb_refuses_to_shift_to_an_unhealthy_group(alb_lab: Lab, alb: Alb):
    alb.ec2.stop_instances(InstanceIds=[alb.instances["green"][0]])
    before = alb.default_actions()
    run = alb_lab.play("switch")
    assert run.returncode != 0
    assert "refusing to give traffic to an unhealthy target group" in run.stdout and "Target.InvalidState" in run.stdout
    assert "No router was changed: blue stays live." in " ".join(run.stdout.split())
    assert alb.default_actions() == before
    assert all(e["result"] != "ok" or e["to"] == "blue" for e in alb_lab.history())


def test_alb_watch_failure_switches_back(alb_lab: Lab, alb: Alb):
    alb_lab.servers["green"].status = 500
    run = alb_lab.play("switch")
    assert run.returncode != 0
    assert "Traffic is back on blue (1.0.0); green keeps 1.1.0 for inspection" in run.stdout
    assert alb.weights() == {"blue": 100, "green": 0}
    assert [(e["action"], e["to"]) for e in alb_lab.history()] == [("switch", "green"), ("auto-rollback", "blue")]


# Each hook writes "<phase> <version> <live colour> <target colour>" (and the failure, if any) to a file per app host.
MARKER_HOOK = """\
- name: Write a marker line for the phase
  ansible.builtin.shell: >-
    printf '%s\\n' {{ ([bluegreen_hook.phase, bluegreen_hook.version, bluegreen_hook.live_colour, bluegreen_hook.target_colour]
    | join(' ') ~ ((' | ' ~ bluegreen_hook.failure) if bluegreen_hook.failure else '')) | quote }} >> {{ markers }}-{{ inventory_hostname }}
  changed_when: true
"""
FAILING_HOOK = """\
- name: Refuse during the change freeze
  ansible.builtin.fail:
    msg: change freeze
  run_once: true
"""


def hooks(lab: Lab, **files: str) -> tuple:
    """Hook files in the lab's folder, and the -e arguments that give them (each phase's list: the marker hook, then the
    file named for it)."""
    folder = lab.path / "hooks"
    folder.mkdir(exist_ok=True)
    (folder / "marker.yml").write_text(MARKER_HOOK, encoding="utf-8")
    (folder / "fail.yml").write_text(FAILING_HOOK, encoding="utf-8")
    phases = ("before_switch", "after_switch", "after_rollback", "on_failure")
    given = {phase: [str(folder / "marker.yml")] + ([str(folder / files[phase])] if phase in files else []) for phase in phases}
    return "-e", json.dumps({"bluegreen_hooks": given, "markers": str(lab.path / "markers")})


def markers(lab: Lab) -> dict:
    """host -> the marker lines its hooks wrote, emptied for the next run."""
    found = {}
    for path in sorted(lab.path.glob("markers-*")):
        found[path.name.removeprefix("markers-")] = path.read_text(encoding="utf-8").splitlines()
        path.unlink()
    return found


def test_alb_hooks_run_in_order_on_every_app_host_under_the_lock_and_a_failing_before_switch_switches_nothing(alb_lab: Lab, alb: Alb):
    hosts = ("app-blue-1", "app-green-1")
    switch = alb_lab.play("switch", *hooks(alb_lab))
    assert succeeded(switch), switch.stdout
    assert f"Run the before_switch hook ({alb_lab.path}/hooks/marker.yml) on the app hosts" in switch.stdout
    assert markers(alb_lab) == dict.fromkeys(hosts, ["before_switch 1.1.0 blue green", "after_switch 1.1.0 blue green"])
    assert alb.weights() == {"blue": 0, "green": 100}
    # The change did not release the lock: the after_switch hook ran under it, and the run released it after.
    assert not (alb_lab.state_dir / "shop" / "lock").exists()

    # A rollback with an after_rollback hook takes the general path, under the lock.
    rollback = alb_lab.play("rollback", *hooks(alb_lab))
    assert succeeded(rollback), rollback.stdout
    assert markers(alb_lab) == dict.fromkeys(hosts, ["after_rollback 1.0.0 green blue"])
    assert alb.weights() == {"blue": 100, "green": 0}

    # A failing before_switch hook (its task runs once, and fails every host): nothing moves, the message names the hook,
    # on_failure gets the reason.
    before = alb_lab.history()
    refused = alb_lab.play("switch", *hooks(alb_lab, before_switch="fail.yml"))
    assert refused.returncode != 0
    assert f"The before_switch hook ({alb_lab.path}/hooks/marker.yml, {alb_lab.path}/hooks/fail.yml) failed on " in refused.stdout
    assert '"Refuse during the change freeze": change freeze. Nothing was switched: blue stays live.' in refused.stdout
    assert alb.weights() == {"blue": 100, "green": 0} and alb_lab.history() == before
    written = markers(alb_lab)
    assert [line.split(" | ")[0] for line in written[hosts[0]]] == ["before_switch 1.1.0 blue green", "on_failure 1.1.0 blue green"]
    assert "failed on app-blue-1" in written[hosts[0]][1] and "change freeze" in written[hosts[0]][1]
    # on_failure runs once, on the first app host still in the run.
    assert written[hosts[1]] == ["before_switch 1.1.0 blue green"]

    # The watch switches back: after_rollback runs with why, then on_failure; a failing on_failure hook is a warning.
    # (Forced: green's release was rolled back above.)
    alb_lab.servers["green"].status = 500
    watched = alb_lab.play("switch", *hooks(alb_lab, on_failure="fail.yml"), "-e", "bluegreen_force=true")
    assert watched.returncode != 0
    assert "WARNING: the on_failure hook" in watched.stdout
    assert "Traffic is back on blue (1.0.0); green keeps 1.1.0 for inspection" in watched.stdout
    assert alb.weights() == {"blue": 100, "green": 0}
    written = markers(alb_lab)[hosts[0]]
    expected = ["before_switch 1.1.0 blue green", "after_rollback 1.0.0 blue blue", "on_failure 1.1.0 blue green"]
    assert [line.split(" | ")[0] for line in written] == expected
    assert "status 500" in written[1] and "Traffic is back on blue" in written[2]
    assert not (alb_lab.state_dir / "shop" / "lock").exists()


def test_alb_bad_input_names_the_variable_and_calls_nothing(alb_lab: Lab, alb: Alb):
    before = alb.default_actions()
    run = alb_lab.play("switch", inventory={"bluegreen_alb_target_groups": {"blue": alb.target_groups["blue"], "green": "shop-green"}})
    assert run.returncode != 0
    assert "bluegreen_alb_target_groups" in run.stdout and "Nothing was called or changed" in run.stdout
    assert alb.default_actions() == before


def test_provision_registers_each_colours_hosts_in_its_target_group(alb_lab: Lab, alb: Alb):
    elbv2 = client(alb_lab.moto, "elbv2")
    groups = {c: alb.target_group(f"fresh-{c}") for c in ("blue", "green")}
    ids = {c: alb.ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.micro")["Instances"][0]["InstanceId"]
           for c in ("blue", "green")}
    hostvars = {"bluegreen_alb_target_groups": groups}

    def registered() -> dict:
        return {c: sorted((d["Target"]["Id"], d["Target"]["Port"]) for d in
                          elbv2.describe_target_health(TargetGroupArn=groups[c])["TargetHealthDescriptions"]) for c in groups}

    inventory = alb_lab.write_inventory(**hostvars)
    data = yaml.safe_load(inventory.read_text(encoding="utf-8"))
    for colour in ("blue", "green"):
        data["all"]["children"]["bluegreen_apps"]["children"][f"bluegreen_{colour}"]["hosts"][f"app-{colour}-1"]["bluegreen_alb_target_id"] = ids[colour]
    alb_lab.router_vars = {**alb_lab.router_vars, **hostvars}
    inventory.write_text(yaml.safe_dump(data), encoding="utf-8")
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(inventory), "bluegreen.core.provision",
               "--tags", "bluegreen_targets"]
    for attempt in ("first", "second"):
        run = subprocess.run(command, env=playbook_env(alb_lab.path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=PLAYBOOK_TIMEOUT, check=False, stdin=subprocess.DEVNULL)
        assert succeeded(run), run.stdout
        # One task registers both hosts: changed once, then nothing to change.
        assert recap(run)["changed"] == (1 if attempt == "first" else 0), run.stdout
    ports = {c: alb_lab.servers[c].server_address[1] for c in ("blue", "green")}
    assert registered() == {c: [(ids[c], ports[c])] for c in ("blue", "green")}


# --------------------------------------------------------------------------- Route 53


def test_route53_steps_status_check_mode_and_rollback(route53_lab: Lab, zone: Zone):
    check = route53_lab.play("switch", "--check", "--diff")
    assert succeeded(check), check.stdout
    assert zone.weights() == {"blue": 100, "green": 0} and route53_lab.history() == []

    switch = route53_lab.play("switch", "-e", '{"bluegreen_switch_steps": [10, 50, 100], "bluegreen_monitor_seconds": 1}')
    assert succeeded(switch), switch.stdout
    assert [e["weights"] for e in route53_lab.history()] == [{"blue": 90, "green": 10}, {"blue": 50, "green": 50}, {"blue": 0, "green": 100}]
    assert zone.weights() == {"blue": 0, "green": 100}
    assert "TTL of 60 seconds" in switch.stdout and "counts no 5xx per colour" in switch.stdout

    status = route53_lab.play("status")
    assert succeeded(status), status.stdout
    assert "live colour green (weights blue 0, green 100, TTL 60s)" in status.stdout

    rollback = route53_lab.play("rollback")
    assert succeeded(rollback), rollback.stdout
    assert zone.weights() == {"blue": 100, "green": 0}


def test_route53_without_a_record_name_names_the_variable(route53_lab: Lab, zone: Zone):
    run = route53_lab.play("switch", inventory={"bluegreen_route53_record": ""})
    assert run.returncode != 0 and "needs bluegreen_route53_record" in run.stdout
    assert zone.weights() == {"blue": 100, "green": 0}

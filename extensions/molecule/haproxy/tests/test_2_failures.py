# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Failure paths, in order, on the state test_1 checked (green live with 2.0.0, blue with 1.0.0).

The tests run the collection's playbooks as a user would and look at the hosts afterwards.
"""

from __future__ import annotations

import os
import re

import pytest
from lab_helpers import (
    APP,
    APP_CFG,
    APPS,
    MAP_FILE,
    PROJECT,
    ROUTER,
    address,
    another_runs_lock,
    get,
    history,
    host,
    live,
    module,
    only_a_failed_smoke_test_recorded,
    playbook,
)

ARTIFACTS = os.path.join(PROJECT, ".cache", "artifacts")


def _router_files() -> dict:
    router = host(ROUTER)
    return {path: router.file(path).content_string for path in (MAP_FILE, APP_CFG, "/etc/haproxy/haproxy.cfg")}


def test_broken_release_fails_its_smoke_test_and_switches_nothing():
    before_files, before_history = _router_files(), history()
    result = playbook("release", "bluegreen_version=3.1.0", f"bluegreen_artifact={ARTIFACTS}/demo-app-3.1.0-broken-500.tar.gz")
    assert result.returncode != 0, result.output
    assert "stopped before the switch" in result.output
    assert "status 500" in result.output
    assert {(a["colour"], a["version"]) for a in live(10)} == {("green", "2.0.0")}
    assert _router_files() == before_files
    assert "status 500" in only_a_failed_smoke_test_recorded(before_history, "blue", "3.1.0")["error"]
    # The idle colour went back to the release it had, so rollback stays instant and safe.
    for app_host in APPS:
        assert get(f"http://{address(app_host)}:8001/")["version"] == "1.0.0"
    assert not host(ROUTER).file(f"/var/lib/bluegreen/{APP}/lock").exists
    # Deploying the failed release again warns that the routers will refuse it; then blue gets 1.0.0 back.
    again = playbook("deploy", "bluegreen_version=3.1.0", f"bluegreen_artifact={ARTIFACTS}/demo-app-3.1.0-broken-500.tar.gz")
    said = " ".join(again.output.split())
    assert again.returncode == 0 and f"WARNING: {APP} 3.1.0 failed" in said and "The routers will refuse to switch to it" in said, said
    restored = playbook("deploy", "bluegreen_version=1.0.0", f"bluegreen_artifact={ARTIFACTS}/demo-app-1.0.0.tar.gz")
    assert restored.returncode == 0 and f"WARNING: {APP}" not in restored.output, restored.output


def test_check_diff_on_switch_shows_the_map_change_and_changes_nothing():
    before = _router_files()
    result = playbook("switch", check=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"-{APP} {APP}_green" in result.stdout
    assert f"+{APP} {APP}_blue" in result.stdout
    assert _router_files() == before
    assert module("haproxy_info", {"app": APP})["live_colour"] == "green"
    assert {a["colour"] for a in live(5)} == {"green"}


def test_check_mode_release_shows_the_deploy_and_switch_and_changes_nothing():
    before_files, before_history = _router_files(), history()
    links = {h: host(h).file(f"/opt/bluegreen/{APP}/blue").linked_to for h in APPS}
    result = playbook("release", "bluegreen_version=4.0.0", f"bluegreen_artifact={ARTIFACTS}/demo-app-2.0.0.tar.gz", check=True)
    assert result.returncode == 0, result.output
    assert '+    "src": "releases/4.0.0"' in result.stdout
    assert f"+{APP} {APP}_blue" in result.stdout
    assert _router_files() == before_files
    assert history() == before_history
    assert {h: host(h).file(f"/opt/bluegreen/{APP}/blue").linked_to for h in APPS} == links
    assert not host(APPS[0]).file(f"/opt/bluegreen/{APP}/releases/4.0.0").exists
    assert {a["colour"] for a in live(5)} == {"green"}


@pytest.mark.parametrize(
    "extra, words",
    [
        ("bluegreen_switch_to=purple", "bluegreen_switch_to"),
        ("bluegreen_app='demo; rm -rf /'", "bluegreen_app"),
    ],
)
def test_switch_refuses_bad_input_and_changes_nothing(extra, words):
    before = _router_files()
    result = playbook("switch", extra)
    assert result.returncode != 0
    assert words in result.output
    assert _router_files() == before
    assert {a["colour"] for a in live(3)} == {"green"}


@pytest.mark.parametrize(
    "args, words",
    [
        ({"app": APP, "colour": "purple"}, "colour"),
        ({"app": "demo\nset map x y", "colour": "blue"}, "app"),
        ({"app": "demo;x", "colour": "blue"}, "app"),
        ({"app": APP, "colour": "blue", "versions": {"blue": "../x"}}, "version"),
        ({"app": APP, "colour": "blue", "socket": "/run/haproxy/nope.sock"}, "socket"),
        ({"app": APP, "colour": "blue", "map_file": "/etc/haproxy/maps/unknown.map"}, "map_file"),
    ],
)
def test_haproxy_traffic_refuses_bad_input_and_changes_nothing(args, words):
    before = _router_files()
    result = module("haproxy_traffic", args)
    assert result.get("failed"), result
    assert words in result["msg"]
    assert _router_files() == before
    assert module("haproxy_info", {"app": APP})["live_colour"] == "green"


def test_rollback_changes_nothing_while_another_run_holds_the_lock():
    before_files, before_history = _router_files(), history()
    with another_runs_lock():
        result = playbook("rollback")
        status = playbook("status")
    assert result.returncode != 0, result.output
    assert "app demo is locked by release by ops" in result.output
    # Status, which takes no lock, says who holds it.
    said = " ".join(status.output.split())
    assert status.returncode == 0 and f"LOCK: the lock of {APP} on {ROUTER} is held by release by ops" in said, said
    assert _router_files() == before_files and history() == before_history


def test_rollback_refuses_when_blue_no_longer_holds_what_it_ran_when_live():
    """The deploy playbook puts 3.0.0 into the idle blue; rollback then refuses, and 1.0.0 goes back."""
    before_files, before_history = _router_files(), history()
    deployed = playbook("deploy", "bluegreen_version=3.0.0", f"bluegreen_artifact={ARTIFACTS}/demo-app-3.0.0.tar.gz")
    assert deployed.returncode == 0, deployed.output
    for app_host in APPS:
        # The good 3.0.0 answers: the broken build an earlier test released has a version of its own (3.1.0).
        got = get(f"http://{address(app_host)}:8001/")
        assert (got["status"], got["version"]) == (200, "3.0.0"), got
    result = playbook("rollback")
    assert result.returncode != 0, result.output
    assert "it ran 1.0.0 when it was live, but now holds 3.0.0" in result.output
    assert "green stays live" in result.output
    assert {(a["colour"], a["version"]) for a in live(10)} == {("green", "2.0.0")}
    assert _router_files() == before_files and history() == before_history
    assert not host(ROUTER).file(f"/var/lib/bluegreen/{APP}/lock").exists
    restored = playbook("deploy", "bluegreen_version=1.0.0", f"bluegreen_artifact={ARTIFACTS}/demo-app-1.0.0.tar.gz")
    assert restored.returncode == 0, restored.output
    for app_host in APPS:
        assert get(f"http://{address(app_host)}:8001/")["version"] == "1.0.0"


def test_rollback_makes_blue_live_again():
    result = playbook("rollback")
    assert result.returncode == 0, result.stdout + result.stderr
    print(f"rollback playbook wall time: {result.wall_s:.1f}s")
    assert {(a["status"], a["colour"], a["version"]) for a in live(10)} == {(200, "blue", "1.0.0")}
    last = history()[-1]
    assert (last["action"], last["from"], last["to"], last["result"]) == ("rollback", "green", "blue", "ok")
    assert f"{APP} {APP}_blue" in host(ROUTER).file(MAP_FILE).content_string.splitlines()


def test_switching_to_the_live_colour_changes_nothing():
    before = history()
    result = playbook("switch", "bluegreen_switch_to=blue")
    assert result.returncode == 0, result.stdout
    assert set(re.findall(r"changed=(\d+)", result.stdout)) == {"0"}
    assert history() == before


def test_reload_keeps_the_switch():
    router = host(ROUTER)
    router.check_output("systemctl reload haproxy")
    assert router.service("haproxy").is_running
    assert {(a["status"], a["colour"]) for a in live(10)} == {(200, "blue")}
    assert module("haproxy_info", {"app": APP})["live_colour"] == "blue"


def test_status_reports_the_live_colour_and_versions():
    result = playbook("status")
    assert result.returncode == 0, result.stdout
    assert "live colour blue" in result.stdout
    assert "blue: version 1.0.0 (LIVE)" in result.stdout
    assert "green: version 2.0.0 (idle)" in result.stdout

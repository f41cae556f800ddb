# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Failure paths in the fleets topology, in order: a broken release, bad fleets, then a rollback."""

from __future__ import annotations

import os

import pytest
from lab_helpers import (
    APP,
    APP_CFG,
    MAP_FILE,
    PROJECT,
    ROUTER,
    address,
    get,
    history,
    host,
    live,
    only_a_failed_smoke_test_recorded,
    playbook,
)

ARTIFACTS = os.path.join(PROJECT, ".cache", "artifacts")
BLUE = ("bgf-app1", "bgf-app2")
GREEN = ("bgf-app3",)


def _router_files() -> dict:
    router = host(ROUTER)
    return {path: router.file(path).content_string for path in (MAP_FILE, APP_CFG, "/etc/haproxy/haproxy.cfg")}


def test_broken_release_to_the_blue_fleet_fails_its_smoke_test_and_switches_nothing():
    before_files, before_history = _router_files(), history()
    result = playbook("release", "bluegreen_version=3.1.0", f"bluegreen_artifact={ARTIFACTS}/demo-app-3.1.0-broken-500.tar.gz")
    assert result.returncode != 0, result.output
    assert "stopped before the switch" in result.output
    assert "status 500" in result.output
    assert {(a["colour"], a["version"]) for a in live(8)} == {("green", "2.0.0")}
    assert _router_files() == before_files
    assert "status 500" in only_a_failed_smoke_test_recorded(before_history, "blue", "3.1.0")["error"]
    for app_host in BLUE:
        assert get(f"http://{address(app_host)}:8001/")["version"] == "1.0.0"
    # The green fleet was never touched.
    for app_host in GREEN:
        assert not host(app_host).file(f"/opt/bluegreen/{APP}/releases/3.1.0").exists


@pytest.mark.parametrize("extra, message", [
    # Every host gets bluegreen_colour=green, but bgf-app1 is in the group bluegreen_blue.
    ("bluegreen_colour=green", "host bgf-app1 is in both fleets"),
    # Only the blue group's hosts are app hosts: green has none.
    ("bluegreen_app_group=bluegreen_blue", "the green fleet has no hosts"),
    ("bluegreen_topology=pairs", "bluegreen_topology must be one of slots, fleets, got text 'pairs'"),
])
def test_bad_fleets_fail_clearly_and_change_nothing(extra, message):
    before_files, before_history = _router_files(), history()
    result = playbook("switch", extra)
    assert result.returncode != 0, result.output
    assert message in result.output
    assert _router_files() == before_files
    assert history() == before_history
    assert {a["colour"] for a in live(4)} == {"green"}
    assert not host(ROUTER).file(f"/var/lib/bluegreen/{APP}/lock").exists


def test_rollback_sends_traffic_back_to_the_blue_fleet():
    result = playbook("rollback")
    assert result.returncode == 0, result.output
    answers = live(10)
    assert {(a["colour"], a["version"]) for a in answers} == {("blue", "1.0.0")}
    assert {a["host"] for a in answers} == set(BLUE)
    assert history()[-1]["action"] == "rollback"


def test_a_deploy_refused_on_the_green_fleet_alone_fails_in_that_hosts_words():
    """After the rollback, the idle green fleet is bgf-app3 alone, not the play's first host. The deploy's port check,
    run once on bgf-app3, refuses (green's port differs from the one the routers send it to): the run fails with those
    words, not with "failed in a task" from a host that has no result of its own, and nothing changes."""
    before_files, before_history = _router_files(), history()
    result = playbook("release", "bluegreen_version=2.0.0", f"bluegreen_artifact={ARTIFACTS}/demo-app-2.0.0.tar.gz",
                      '{"bluegreen_ports": {"blue": 8001, "green": 8099}}')
    assert result.returncode != 0, result.output
    last = result.output.rsplit("fatal: ", 1)[-1]
    assert f"Cannot deploy {APP} 2.0.0: the routers send green to" in last and "the port 8099" in last, last
    assert "failed in a task" not in result.output
    assert _router_files() == before_files and history() == before_history
    assert {(a["colour"], a["version"]) for a in live(4)} == {("blue", "1.0.0")}

# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Failure paths through Nginx, in order, on the state test_1 checked (green live with 2.0.0)."""

from __future__ import annotations

import json
import os
import time

import pytest
from lab_helpers import (
    APP,
    APPS,
    PROJECT,
    ROUTER,
    address,
    get,
    history,
    host,
    live,
    module,
    only_a_failed_smoke_test_recorded,
    playbook,
)

ARTIFACTS = os.path.join(PROJECT, ".cache", "artifacts")
CONF = f"/etc/nginx/bluegreen/{APP}"


def _router_files() -> dict:
    """Every file and link of the app's Nginx setup, and nginx.conf: what must not change on a failure."""
    router = host(ROUTER)
    listing = router.run("find /etc/nginx -type f -o -type l | sort").stdout.split()
    return {path: (router.file(path).linked_to if router.file(path).is_symlink else router.file(path).content_string)
            for path in listing if "/bluegreen/" in path or path.endswith(("nginx.conf", f"bluegreen-{APP}.conf"))}


def _nginx_master() -> int:
    return module("nginx_info", {"app": APP})["master_pid"]


def test_broken_release_fails_its_smoke_test_and_switches_nothing():
    before_files, before_history = _router_files(), history()
    result = playbook("release", "bluegreen_version=3.1.0", f"bluegreen_artifact={ARTIFACTS}/demo-app-3.1.0-broken-500.tar.gz")
    assert result.returncode != 0, result.output
    assert "stopped before the switch" in result.output
    assert "status 500" in result.output
    assert {(a["colour"], a["version"]) for a in live(8)} == {("green", "2.0.0")}
    assert _router_files() == before_files
    assert "status 500" in only_a_failed_smoke_test_recorded(before_history, "blue", "3.1.0")["error"]
    for app_host in APPS:
        assert get(f"http://{address(app_host)}:8001/")["version"] == "1.0.0"


def test_an_upstream_file_nginx_rejects_fails_with_nginx_own_words_and_changes_nothing():
    before_files, master = _router_files(), _nginx_master()
    result = playbook("provision", "bluegreen_nginx_server_params=max_fails=abc")
    assert result.returncode != 0, result.output
    assert "invalid" in result.output and "max_fails=abc" in result.output, result.output
    assert _router_files() == before_files
    assert _nginx_master() == master
    assert {a["colour"] for a in live(4)} == {"green"}


@pytest.mark.parametrize("app", ["bad;app", "two words", "app{x}"])
def test_an_app_name_unsafe_for_nginx_is_refused(app):
    before_files = _router_files()
    for name in ("provision", "switch"):
        # JSON, so that the space in "two words" stays in the value (key=value would split it).
        result = playbook(name, json.dumps({"bluegreen_app": app}))
        assert result.returncode != 0, result.output
        assert "bluegreen_app" in result.output
    assert _router_files() == before_files


def test_a_colour_whose_hosts_are_all_down_is_refused():
    before_files, before_history = _router_files(), history()
    for app_host in APPS:
        host(app_host).run(f"systemctl stop {APP}@blue")
    try:
        result = playbook("switch", "bluegreen_switch_to=blue")
        assert result.returncode != 0, result.output
        assert "blue" in result.output and "connect" in result.output, result.output
        assert _router_files() == before_files
        assert history() == before_history
        assert {a["colour"] for a in live(4)} == {"green"}
    finally:
        for app_host in APPS:
            host(app_host).run(f"systemctl start {APP}@blue")


def test_check_diff_on_switch_shows_the_link_change_and_changes_nothing():
    before = _router_files()
    result = playbook("switch", check=True)
    assert result.returncode == 0, result.output
    assert "upstream-green.conf" in result.stdout and "upstream-blue.conf" in result.stdout
    assert _router_files() == before
    assert {a["colour"] for a in live(4)} == {"green"}


def test_provision_with_a_new_port_for_the_live_colour_where_nothing_listens_is_refused():
    """A changed bluegreen_ports for the live colour would send its traffic where no release listens, and nginx has no
    health check to fall back on: the role refuses before it writes anything, and nginx keeps serving."""
    state = module("nginx_info", {"app": APP})
    current = state["live_colour"]
    idle = "green" if current == "blue" else "blue"
    ports = {current: 8091, idle: int(state["endpoints"][idle][0].rsplit(":", 1)[1])}
    before_files, before_history, master = _router_files(), history(), _nginx_master()
    result = playbook("provision", json.dumps({"bluegreen_ports": ports}))
    said = " ".join(result.output.split())
    assert result.returncode != 0, said[-2000:]
    assert f"its live colour, {current}, would be sent to" in said and "where nothing accepts a connection" in said, said[-2000:]
    assert _router_files() == before_files and history() == before_history and _nginx_master() == master
    assert {a["colour"] for a in live(4)} == {current}


def test_a_link_changed_by_hand_and_not_loaded_stops_even_a_switch_to_a_named_colour():
    # On HAProxy, a switch to a named colour writes over a map file edited by hand (fleets test_7). Nginx's links not
    # loaded by its workers are not such drift: the switch refuses, naming the problem, and changes nothing.
    router = host(ROUTER)
    router.run(f"ln -sfn upstream-blue.conf {CONF}/live.conf")
    try:
        before_files, before_history = _router_files(), history()
        result = playbook("switch", "bluegreen_switch_to=green")
        assert result.returncode != 0, result.output
        words = " ".join(result.output.split())
        assert "changed after nginx's workers started" in words and "Nothing was changed" in words, result.output
        assert _router_files() == before_files and history() == before_history
        assert {a["colour"] for a in live(4)} == {"green"}
    finally:
        router.run(f"ln -sfn upstream-green.conf {CONF}/live.conf")
        assert router.run("systemctl reload nginx").rc == 0
    # The reload starts new workers at once and lets the old ones finish: a few reads at most see it loaded.
    deadline = time.monotonic() + 5
    while not module("nginx_info", {"app": APP})["consistent"]:
        assert time.monotonic() < deadline, "nginx_info did not find the app consistent within 5 s of the reload"
        time.sleep(0.5)


def test_weighted_steps_end_on_blue_and_rollback_returns_to_green():
    # Blue takes 50%, is watched, then 100%.
    result = playbook("switch", '{"bluegreen_switch_steps": [50, 100]}')
    assert result.returncode == 0, result.output
    steps = [(r["to"], r.get("weight")) for r in history()[-2:]]
    assert steps == [("blue", 50), ("blue", 100)], history()[-2:]
    assert {(a["colour"], a["version"]) for a in live(6)} == {("blue", "1.0.0")}
    assert host(ROUTER).file(f"{CONF}/live.conf").linked_to == f"{CONF}/upstream-blue.conf"
    result = playbook("rollback")
    assert result.returncode == 0, result.output
    assert {(a["colour"], a["version"]) for a in live(6)} == {("green", "2.0.0")}
    assert history()[-1]["action"] == "rollback"

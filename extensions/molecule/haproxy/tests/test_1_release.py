# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""After releasing 1.0.0 then 2.0.0: green is live with 2.0.0, blue keeps 1.0.0 warm."""

from __future__ import annotations

import pytest
from lab_helpers import APP, APPS, HISTORY, MAP_FILE, ROUTER, address, get, history, host, live, module


def test_green_serves_2_0_0_through_the_router():
    answers = live(10)
    assert {(a["status"], a["colour"], a["version"]) for a in answers} == {(200, "green", "2.0.0")}


@pytest.mark.parametrize("app_host", APPS)
def test_blue_still_serves_1_0_0_on_its_own_port(app_host):
    answer = get(f"http://{address(app_host)}:8001/")
    assert (answer["status"], answer["version"]) == (200, "1.0.0")


def test_preview_listener_reaches_idle_blue():
    answer = get("http://127.0.0.1:8080/")
    assert (answer["status"], answer["colour"], answer["version"]) == (200, "blue", "1.0.0")


def test_map_file_and_runtime_agree_on_green():
    content = host(ROUTER).file(MAP_FILE).content_string.splitlines()
    assert f"{APP} {APP}_green" in content
    assert f"{APP}.preview {APP}_blue" in content
    info = module("haproxy_info", {"app": APP})
    assert info["live_colour"] == "green"
    assert info["map_file_colour"] == "green"
    assert info["problems"] == []
    assert info["backends"]["green"]["up"] == 2
    assert info["backends"]["blue"]["up"] == 2


def test_history_records_both_releases():
    records = history()
    switches = [(r["from"], r["to"], r["versions"].get(r["to"])) for r in records if r.get("result") == "ok"]
    assert ("green", "blue", "1.0.0") in switches
    assert ("blue", "green", "2.0.0") in switches
    assert switches[-1] == ("blue", "green", "2.0.0")
    assert host(ROUTER).file(HISTORY).mode & 0o007 == 0


@pytest.mark.parametrize("app_host", APPS)
def test_both_colours_run_under_systemd(app_host):
    for colour in ("blue", "green"):
        assert host(app_host).service(f"{APP}@{colour}").is_running
        assert host(app_host).service(f"{APP}@{colour}").is_enabled


def test_no_lock_is_left_behind():
    assert not host(ROUTER).file(f"/var/lib/bluegreen/{APP}/lock").exists

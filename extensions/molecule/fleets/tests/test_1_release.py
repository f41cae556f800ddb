# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""After prepare (1.0.0 to blue) and converge (2.0.0 to green), in the fleets topology.

blue runs on bgf-app1 and bgf-app2, green on bgf-app3 (bgf-app5 joins it in test_3_grow): each host holds its own colour only,
and HAProxy's backend of each colour lists that fleet's hosts.
"""

from __future__ import annotations

import pytest
from lab_helpers import APP, APP_CFG, ROUTER, address, get, host, live, module, playbook

BLUE = ("bgf-app1", "bgf-app2")
GREEN = ("bgf-app3",)
PORTS = {"blue": 8001, "green": 8002}


@pytest.mark.parametrize("app_host, colour, version", [(h, "blue", "1.0.0") for h in BLUE] + [(h, "green", "2.0.0") for h in GREEN])
def test_each_host_holds_only_its_own_colour(app_host, colour, version):
    other = "green" if colour == "blue" else "blue"
    target = host(app_host)
    assert target.file(f"/opt/bluegreen/{APP}/{colour}").linked_to == f"/opt/bluegreen/{APP}/releases/{version}"
    assert not target.file(f"/opt/bluegreen/{APP}/{other}").exists
    assert target.service(f"{APP}@{colour}").is_running
    assert not target.service(f"{APP}@{other}").is_running
    assert get(f"http://{address(app_host)}:{PORTS[colour]}/")["version"] == version


def test_each_backend_lists_its_fleet():
    config = host(ROUTER).file(APP_CFG).content_string
    blue = config.split(f"backend {APP}_blue")[1].split("backend ")[0]
    green = config.split(f"backend {APP}_green")[1].split("backend ")[0]
    for name in BLUE:
        assert f"server {name} {address(name)}:8001 check" in blue
        assert f"server {name} " not in green
    for name in GREEN:
        assert f"server {name} {address(name)}:8002 check" in green
        assert f"server {name} " not in blue


def test_live_traffic_reaches_the_green_fleet_only():
    answers = live(12)
    assert {(a["status"], a["colour"], a["version"]) for a in answers} == {(200, "green", "2.0.0")}
    assert {a["host"] for a in answers} == set(GREEN)


def test_preview_reaches_the_blue_fleet():
    answers = [get("http://127.0.0.1:8080/") for _attempt in range(8)]
    assert {(a["colour"], a["version"]) for a in answers} == {("blue", "1.0.0")}
    assert {a["host"] for a in answers} == set(BLUE)


def test_router_and_status_agree():
    info = module("haproxy_info", {"app": APP})
    assert info["live_colour"] == "green" and info["consistent"], info
    assert {colour: (info["backends"][colour]["up"], info["backends"][colour]["total"]) for colour in PORTS} == {
        "blue": (len(BLUE), len(BLUE)), "green": (len(GREEN), len(GREEN))}
    result = playbook("status")
    assert result.returncode == 0, result.output
    assert "blue: version 1.0.0 (idle)" in result.output
    assert "green: version 2.0.0 (LIVE)" in result.output

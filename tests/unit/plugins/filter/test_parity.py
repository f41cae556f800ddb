# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filters parity, parity_lines and parity_reason, as the parity task file calls them: from each app host's
registered app_info result."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.bluegreen.core.plugins.filter import parity

FLEETS = {"blue": ["app1", "app2"], "green": ["app3"]}


def info(colour: str, packages: dict, version: str = "2.0.0") -> dict:
    reading = {"version": version, "unit": {"files": "/etc/systemd/system/shop@.service"}, "command": "/opt/shop/<colour>/bin/start",
               "env": ["PORT"], "shared_dirs": {}, "runtime": "python3.11-minimal 3.11.2-6 /usr/bin/python3.11"}
    return {"changed": False, "colours": {colour: reading}, "packages": packages}


def hostvars(**overrides) -> dict:
    base = {"python3": "3.11.2-1"}
    found = {"app1": {"_info": info("blue", base, "1.0.0")}, "app2": {"_info": info("blue", base, "1.0.0")},
             "app3": {"_info": info("green", base)}}
    found.update(overrides)
    return found


def test_the_report_comes_from_each_hosts_registered_reading():
    report = parity.parity(FLEETS, hostvars(), ["app1", "app2", "app3"], "_info", "shop", "fleets")
    assert report["ok"] and report["versions"] == {"blue": "1.0.0", "green": "2.0.0"}
    assert parity.parity_lines(report) == [
        "shop: blue (app1, app2; release 1.0.0) and green (app3; release 2.0.0) match in every aspect compared "
        "(unit, command, env, shared_dirs, runtime, packages)."]


def test_a_package_on_one_host_of_a_colour_is_reported_with_the_host():
    found = hostvars(app2={"_info": info("blue", {"python3": "3.11.2-1", "tree": "2.1.0-1"}, "1.0.0")})
    report = parity.parity(FLEETS, found, ["app1", "app2", "app3"], "_info", "shop", "fleets")
    assert report["drift"] == [{"aspect": "packages", "key": "tree", "blue": "2.1.0-1 on app2; absent on app1", "green": "absent"}]
    assert parity.parity_reason(report) == "blue and green differ in 1 place: packages tree: blue 2.1.0-1 on app2; absent on app1, green absent"


@pytest.mark.parametrize("gone", [
    {"app3": {"_info": {"failed": True, "msg": "unreachable"}}},
    {"app3": {"_info": {"skipped": True}}},
    {"app3": {}},
])
def test_a_host_without_a_reading_fails_naming_it(gone):
    with pytest.raises(AnsibleFilterError, match="parity: no reading of app3"):
        parity.parity(FLEETS, hostvars(**gone), ["app1", "app2", "app3"], "_info", "shop")


def test_a_host_out_of_the_play_has_no_reading():
    with pytest.raises(AnsibleFilterError, match="no reading of app2"):
        parity.parity(FLEETS, hostvars(), ["app1", "app3"], "_info", "shop")

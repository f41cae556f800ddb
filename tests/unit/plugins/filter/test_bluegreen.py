# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.bluegreen.core.plugins.filter.bluegreen import FilterModule, app_address, colour_servers, expand_checks, fleets
from ansible_collections.bluegreen.core.plugins.module_utils import _http


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {"app_address", "colour_servers", "expand_checks", "fleets"}


def test_colour_servers_gives_each_host_its_address_and_its_colours_port():
    hostvars = {"app1": {"bluegreen_address": "10.0.0.1"}, "app2": {"bluegreen_address": "10.0.0.2"}}
    assert colour_servers({"blue": ["app1", "app2"], "green": ["app2"]}, hostvars, {"blue": "8001", "green": 8002}) == {
        "blue": [{"name": "app1", "address": "10.0.0.1", "port": 8001}, {"name": "app2", "address": "10.0.0.2", "port": 8001}],
        "green": [{"name": "app2", "address": "10.0.0.2", "port": 8002}],
    }


def test_app_address_prefers_bluegreen_address():
    hostvars = {"app1": {"bluegreen_address": "10.0.0.5", "ansible_facts": {"default_ipv4": {"address": "10.9.9.9"}}}}
    assert app_address("app1", hostvars) == "10.0.0.5"


def test_app_address_falls_back_to_the_default_ipv4_fact():
    assert app_address("app1", {"app1": {"ansible_facts": {"default_ipv4": {"address": "10.9.9.9"}}}}) == "10.9.9.9"


@pytest.mark.parametrize("hostvars", [{}, {"app1": {}}, {"app1": {"ansible_facts": {"default_ipv4": {}}}}])
def test_app_address_without_an_address_names_the_host_and_the_fix(hostvars):
    with pytest.raises(AnsibleFilterError, match="host app1 has no address.*bluegreen_address"):
        app_address("app1", hostvars)


def test_expand_checks_makes_one_check_per_target_and_path():
    checks = [{"path": "/health"}, {"path": "/", "status": [200], "header": {"X-A": "b"}}]
    targets = [
        {"name": "app1 green", "base_url": "http://10.0.0.5:8002/"},
        {"name": "router preview", "base_url": "http://127.0.0.1:8080", "header": {"X-Bluegreen-Colour": "^green$"}},
    ]
    result = expand_checks(checks, targets)
    assert [c["url"] for c in result] == [
        "http://10.0.0.5:8002/health", "http://10.0.0.5:8002/", "http://127.0.0.1:8080/health", "http://127.0.0.1:8080/",
    ]
    assert result[0] == {"url": "http://10.0.0.5:8002/health", "name": "app1 green /health"}
    assert result[1]["header"] == {"X-A": "b"}
    assert result[3]["header"] == {"X-A": "b", "X-Bluegreen-Colour": "^green$"}
    assert result[3]["status"] == [200]
    assert "path" not in result[3]
    # The input checks are left as they were.
    assert checks[1] == {"path": "/", "status": [200], "header": {"X-A": "b"}}


def test_expand_checks_adds_a_targets_request_headers_to_each_check():
    checks = [{"path": "/", "headers": {"Accept": "text/plain"}}]
    (item,) = expand_checks(checks, [{"name": "lb live", "base_url": "http://10.0.0.1", "headers": {"Host": "a.example.com"}}])
    assert item["headers"] == {"Accept": "text/plain", "Host": "a.example.com"}
    # Another router's listener, probed with a grace for its colour header: each check carries it.
    (peer,) = expand_checks(checks, [{"name": "lb2 live", "base_url": "http://10.0.0.2", "header": {"X-Bluegreen-Colour": "^blue$"},
                                      "header_grace_s": 5.0}])
    assert (peer["header"], peer["header_grace_s"]) == ({"X-Bluegreen-Colour": "^blue$"}, 5.0)


def test_the_health_host_is_the_host_of_a_direct_probe_and_a_routers_name_picks_the_app():
    """One Host per request: the health check's own where the target has none (an app server, a listener of the app's
    own), the router's name where the router picks the app by it (the health host there would reach no app)."""
    health = {"path": "/health", "headers": {"host": "shop.internal:8000"}, "status": [200, 204]}
    direct, named = expand_checks([health], [
        {"name": "app1 green", "base_url": "http://10.0.0.5:8002"},
        {"name": "lb1 live", "base_url": "https://127.0.0.1:443", "headers": {"Host": "shop.example.com"}},
    ])
    assert direct["headers"] == {"host": "shop.internal:8000"} and direct["status"] == [200, 204]
    assert named["headers"] == {"Host": "shop.example.com"} and named["status"] == [200, 204]
    assert health["headers"] == {"host": "shop.internal:8000"}
    parsed = _http.parse_checks([direct, named])
    assert [_http._connection(check, None).server_name for check in parsed[1:]] == ["shop.example.com"]


def test_expand_checks_gives_every_check_without_a_host_the_apps_health_host():
    checks = [{"path": "/health"}, {"path": "/", "headers": {"host": "own.example.com"}}, {"path": "/api"}]
    targets = [{"name": "app1", "base_url": "http://10.0.0.5:8002"},
               {"name": "router", "base_url": "http://127.0.0.1:80", "headers": {"Host": "shop.example.com"}}]
    hosts = [check.get("headers") for check in expand_checks(checks, targets, "shop.internal")]
    assert hosts == [{"Host": "shop.internal"}, {"host": "own.example.com"}, {"Host": "shop.internal"},
                     {"Host": "shop.example.com"}, {"Host": "shop.example.com"}, {"Host": "shop.example.com"}]
    assert "headers" not in expand_checks([{"path": "/"}], targets[:1])[0]


@pytest.mark.parametrize("check", [{"url": "http://x/"}, {"path": "health"}, "not a dict"])
def test_expand_checks_refuses_a_check_without_an_absolute_path(check):
    with pytest.raises(AnsibleFilterError, match="check 0 needs a path"):
        expand_checks([check], [{"name": "t", "base_url": "http://127.0.0.1"}])


FLEET_GROUPS = {"bluegreen_blue": ["app1", "app2"], "bluegreen_green": ["app3"]}


def test_fleets_in_slots_gives_every_host_both_colours():
    assert fleets(["app1", "app2"], {}, {}) == {"blue": ["app1", "app2"], "green": ["app1", "app2"]}


def test_fleets_reads_the_colour_groups_and_the_host_var():
    hostvars = {"app4": {"bluegreen_colour": "green"}}
    result = fleets(["app1", "app2", "app3", "app4"], hostvars, FLEET_GROUPS, "fleets")
    assert result == {"blue": ["app1", "app2"], "green": ["app3", "app4"]}


def test_fleets_takes_other_group_names():
    groups = {"b": ["app1"], "g": ["app2"]}
    assert fleets(["app1", "app2"], {}, groups, "fleets", {"blue": "b", "green": "g"}) == {"blue": ["app1"], "green": ["app2"]}


def test_fleets_agrees_when_the_host_var_matches_the_group():
    assert fleets(["app1", "app3"], {"app1": {"bluegreen_colour": "blue"}}, FLEET_GROUPS, "fleets")["blue"] == ["app1"]


@pytest.mark.parametrize("hostvars, groups", [
    ({}, {"bluegreen_blue": ["app1", "app3"], "bluegreen_green": ["app3"]}),
    ({"app1": {"bluegreen_colour": "green"}}, FLEET_GROUPS),
])
def test_fleets_refuses_a_host_in_both_fleets(hostvars, groups):
    with pytest.raises(AnsibleFilterError, match="host app[13] is in both fleets"):
        fleets(["app1", "app3"], hostvars, groups, "fleets")


def test_fleets_refuses_a_host_with_no_colour():
    with pytest.raises(AnsibleFilterError, match="host app9 has no colour.*bluegreen_blue or bluegreen_green"):
        fleets(["app1", "app3", "app9"], {}, FLEET_GROUPS, "fleets")


def test_fleets_refuses_an_empty_fleet():
    with pytest.raises(AnsibleFilterError, match="the green fleet has no hosts"):
        fleets(["app1", "app2"], {}, FLEET_GROUPS, "fleets")


@pytest.mark.parametrize("colour", ["red", "Blue"])
def test_fleets_refuses_an_unknown_colour(colour):
    with pytest.raises(AnsibleFilterError, match=f"host app1 has bluegreen_colour '{colour}'"):
        fleets(["app1"], {"app1": {"bluegreen_colour": colour}}, {}, "fleets")


def test_fleets_refuses_an_unknown_topology():
    with pytest.raises(AnsibleFilterError, match="bluegreen_topology must be slots or fleets, got 'pairs'"):
        fleets(["app1"], {}, {}, "pairs")

# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import importlib
import os

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.bluegreen.core.plugins.filter import routers
from ansible_collections.bluegreen.core.plugins.filter.routers import (
    FilterModule,
    apps_to_switch,
    colour_versions,
    endpoint_targets,
    probe_targets,
    router,
    router_results,
    router_share,
    router_states,
    status_lines,
    stopped_hosts,
)
from ansible_collections.bluegreen.core.plugins.module_utils import _history
from ansible_collections.bluegreen.core.plugins.module_utils._routers import kinds

ROLES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "roles")


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {"router", "router_states", "colour_versions", "probe_targets",
                                             "endpoint_targets", "status_lines", "apps_to_switch", "run_result",
                                             "stopped_hosts", "router_share", "router_results", "failed_release",
                                             "live_server_changes"}


def test_router_share_reaches_every_router_once_one_per_play_host_at_a_time():
    routers, hosts = ["r1", "r2", "r3", "r4", "r5"], ["a1", "a2"]
    shares = {host: router_share(routers, hosts, host) for host in hosts}
    assert shares == {"a1": ["r1", "r3", "r5"], "a2": ["r2", "r4"]}
    many = ["a1", "a2", "a3", "a4", "a5", "a6"]
    assert [router_share(routers, many, host) for host in many] == [["r1"], ["r2"], ["r3"], ["r4"], ["r5"], []]
    assert router_share(routers, hosts, "gone") == []


def test_router_results_are_one_per_router_in_their_order():
    hostvars = {"a1": {"reg": {"results": [{"item": "r1", "n": 1}, {"item": "r3", "n": 3}]}},
                "a2": {"reg": {"results": [{"item": "r2", "n": 2}]}, "other": 1},
                "a3": {"reg": {"skipped": True, "results": []}}, "a4": {}}
    found = router_results(["r1", "r2", "r3", "r4"], hostvars, ["a2", "a1", "a3", "a4"], "reg")
    assert [result["n"] for result in found] == [1, 2, 3]


def test_router_results_take_the_job_of_a_call_started_as_an_async_job():
    """A host with several routers starts its commits as async jobs and registers their async_status: each such
    router's result is its job's, named by the router; a job never collected, or not ended, is a failure saying so."""
    def started(router, job):
        return {"item": router, "ansible_job_id": job, "started": True, "finished": False, "changed": True}

    hostvars = {
        "a1": {"reg": {"results": [started("r1", "j1"), started("r3", "j3"), {"item": "r5", "changed": True, "n": 5}]},
               "jobs": {"results": [
                   {"item": started("r1", "j1"), "ansible_job_id": "j1", "finished": True, "changed": True, "n": 1},
                   {"item": started("r3", "j3"), "ansible_job_id": "j3", "finished": True, "failed": True,
                    "msg": "cannot commit", "param": "commit_at"}]}},
        "a2": {"reg": {"results": [started("r2", "j2"), started("r4", "j4")]},
               "jobs": {"results": [{"item": started("r2", "j2"), "ansible_job_id": "j2", "finished": False, "failed": True,
                                     "attempts": 300}]}},
    }
    found = router_results(["r1", "r2", "r3", "r4", "r5"], hostvars, ["a1", "a2"], "reg", "jobs")
    assert [result["item"] for result in found] == ["r1", "r2", "r3", "r4", "r5"]
    assert found[0] == {"item": "r1", "ansible_job_id": "j1", "finished": True, "changed": True, "n": 1}
    assert found[2]["failed"] and found[2]["msg"] == "cannot commit" and found[2]["param"] == "commit_at"
    assert found[1]["failed"] and "started as the async job j2, had not ended when the wait for it did" in found[1]["msg"]
    assert found[3]["failed"] and "j4" in found[3]["msg"]
    assert found[4] == {"item": "r5", "changed": True, "n": 5}
    # Without jobs, the results are what the hosts registered, as before.
    assert router_results(["r1"], hostvars, ["a1"], "reg")[0]["started"] is True
    # A job the hosts collected earlier is not taken for this call's plain result.
    assert router_results(["r5"], hostvars, ["a1"], "reg", "jobs") == [{"item": "r5", "changed": True, "n": 5}]


def test_apps_to_switch_sends_each_app_to_the_colour_holding_its_release():
    versions = {"a": {"blue": "1.0.0", "green": "1.1.0"}, "b": {"blue": "2.1.0", "green": "2.0.0"}}
    assert apps_to_switch([{"app": "a", "version": "1.1.0"}, {"app": "b", "version": "2.1.0"}], versions) == [
        {"app": "a", "colour": "green", "versions": versions["a"]}, {"app": "b", "colour": "blue", "versions": versions["b"]},
    ]
    with pytest.raises(AnsibleFilterError, match=r"b: release 3.0.0 is in neither colour \(blue 2.1.0, green 2.0.0\); deploy it"):
        apps_to_switch([{"app": "b", "version": "3.0.0"}], versions)
    with pytest.raises(AnsibleFilterError, match="c: release 1.0.0 is in neither colour .blue none, green none."):
        apps_to_switch([{"app": "c", "version": "1.0.0"}], versions)


def test_router_gives_each_kinds_traits():
    assert router("haproxy") == {"kind": "haproxy", "api": False, "preview": True, "steps": True, "counters": True,
                                 "maintenance": True, "live_preview": True, "staged": True}
    assert router("nginx")["steps"] is True and router("nginx")["counters"] is True
    assert router("alb")["api"] is True and router("alb")["preview"] is False
    assert router("route53") == {"kind": "route53", "api": True, "preview": False, "steps": True, "counters": False,
                                 "maintenance": False, "live_preview": False, "staged": False}


@pytest.mark.parametrize("kind", ["traefik", "", None, ["haproxy"], "HAProxy"])
def test_an_unknown_kind_names_bluegreen_router(kind):
    with pytest.raises(AnsibleFilterError, match="bluegreen_router .* is not a router kind: use one of haproxy, nginx, alb, route53"):
        router(kind)


def test_the_role_argument_specs_list_the_kinds_of_the_drivers():
    for path in ("switch/meta/argument_specs.yml",):
        with open(os.path.join(ROLES, path), encoding="utf-8") as handle:
            specs = yaml.safe_load(handle)["argument_specs"]
        # Every entry point reaches the routers, but the one that publishes the run's result from what was read.
        assert [name for name, spec in specs.items() if "bluegreen_router" not in spec["options"]] == ["result"]
        for name, spec in specs.items():
            if name != "result":
                assert spec["options"]["bluegreen_router"]["choices"] == list(kinds.KINDS), name


def test_every_kind_has_its_driver_and_module_pair():
    for kind, known in kinds.KINDS.items():
        driver = getattr(importlib.import_module(f"ansible_collections.bluegreen.core.plugins.module_utils._routers.{kind}"),
                         known["driver"])
        assert driver.KIND == kind
        for module in {"alb": "elb"}.get(kind, kind) + "_traffic", {"alb": "elb"}.get(kind, kind) + "_info":
            loaded = importlib.import_module(f"ansible_collections.bluegreen.core.plugins.modules.{module}")
            assert driver.__name__ in loaded.main.__code__.co_names or driver.__name__ in vars(loaded), module


def test_every_kind_has_its_task_folder():
    for kind in kinds.KINDS:
        for task in ("args", "read", "route", "provision"):
            assert os.path.exists(os.path.join(ROLES, "switch", "tasks", "routers", kind, f"{task}.yml")), (kind, task)


def test_router_states_keep_the_common_keys_and_label_hosts():
    results = [dict(dict.fromkeys(kinds.STATE_KEYS), live_colour="green", item="router1", changed=False, backends={}),
               dict(dict.fromkeys(kinds.STATE_KEYS), label="alb app/x", item="localhost")]
    states = router_states(results)
    assert [set(s) for s in states] == [set(kinds.STATE_KEYS)] * 2
    assert [s["label"] for s in states] == ["router1", "alb app/x"] and states[0]["live_colour"] == "green"


def test_colour_versions_read_the_links_of_the_hosts_that_run_each_colour():
    hostvars = {
        "a1": {"_l": {"stdout_lines": ["blue /opt/bluegreen/shop/releases/1.0.0", "green releases/2.0.0"]}},
        "a2": {"_l": {"stdout_lines": ["blue /opt/bluegreen/shop/releases/1.1.0"]}},
        "a3": {"_l": {"stdout_lines": []}},
    }
    fleets = {"blue": ["a1", "a2"], "green": ["a1", "a2"]}
    assert colour_versions(fleets, hostvars, ["a1", "a2"], "_l") == {"blue": "1.0.0 + 1.1.0", "green": "(none) + 2.0.0"}
    assert colour_versions({"blue": ["a3"], "green": ["a3"]}, hostvars, ["a3"], "_l") == {"blue": None, "green": None}
    assert colour_versions(fleets, hostvars, ["a1"], "_l") == {"blue": "1.0.0", "green": "2.0.0"}


def test_stopped_hosts_lists_the_hosts_of_each_colour_whose_unit_does_not_run():
    hostvars = {
        "a1": {"_l": {"stdout_lines": ["blue releases/1.0.0", "unit blue active -", "unit green inactive standby"]}},
        "a2": {"_l": {"stdout_lines": ["blue releases/1.0.0", "unit blue inactive standby", "unit green active -"]}},
        "a3": {"_l": {"stdout_lines": ["unit blue failed -", "unit green inactive -"]}},
    }
    # Only a colour bluegreen_standby stopped: not one stopped by hand (a3 green) or crashed (a3 blue).
    fleets = {"blue": ["a1", "a2", "a3"], "green": ["a1", "a3"]}
    assert stopped_hosts(fleets, hostvars, ["a1", "a2", "a3"], "_l") == {"blue": ["a2"], "green": ["a1"]}
    fleets = {"blue": ["a1", "a2"], "green": ["a3"]}
    # The unit lines are not links: the versions read from the same lines are unchanged.
    assert colour_versions(fleets, hostvars, ["a1", "a2"], "_l") == {"blue": "1.0.0", "green": None}
    state = {"label": "r1", "live_colour": "blue", "says": "x", "colours": {"blue": "2/2 up", "green": "0/1 up"}, "problems": []}
    lines = status_lines([state], {"blue": "1.0.0", "green": "0.9.0"}, {"blue": [], "green": ["a3"]})
    assert "green: version 0.9.0 (idle), STOPPED on a3 (bluegreen_standby; a switch or rollback to it starts it first)" in lines


def test_probe_targets_reach_the_prober_on_loopback():
    hostvars = {"r1": {"bluegreen_address": "10.0.0.1"}, "r2": {"ansible_facts": {"default_ipv4": {"address": "10.0.0.2"}}}}
    assert probe_targets(["r1", "r2"], hostvars, 8080, "r1", "preview", "^blue$") == [
        {"name": "r1 preview", "base_url": "http://127.0.0.1:8080", "header": {"X-Bluegreen-Colour": "^blue$"}},
        {"name": "r2 preview", "base_url": "http://10.0.0.2:8080", "header": {"X-Bluegreen-Colour": "^blue$"}},
    ]
    assert probe_targets(["r2"], hostvars, "8001", "r1", "blue") == [{"name": "r2 blue", "base_url": "http://10.0.0.2:8001"}]


def test_probe_targets_of_an_app_chosen_by_host_name_send_it_as_the_host_header():
    hostvars = {"r1": {"bluegreen_address": "10.0.0.1"}}
    assert probe_targets(["r1"], hostvars, "443", "r0", "live", None, "a.example.com", "https") == [
        {"name": "r1 live", "base_url": "https://10.0.0.1:443", "headers": {"Host": "a.example.com"}},
    ]
    assert probe_targets(["r1"], hostvars, 80, "r1", "live", None, "a.example.com", "http", "/api/")[0]["base_url"] == "http://127.0.0.1:80/api"
    with pytest.raises(AnsibleFilterError, match="scheme must be http or https"):
        probe_targets(["r1"], hostvars, 80, "r0", "live", None, None, "ftp")


def test_probe_targets_carry_a_routers_step_headers_and_then_expect_the_steps_colour():
    hostvars = {"r1": {"bluegreen_address": "10.0.0.1"}, "r2": {"bluegreen_address": "10.0.0.2"}}
    step = {"r1": {"Cookie": "bluegreen_shop=bluegreen-watch-169"}, "r2": None}
    assert probe_targets(["r1", "r2"], hostvars, 80, "r0", "live", "^(blue|green)$", "a.example.com", "http", "", step,
                         "^green$") == [
        {"name": "r1 live", "base_url": "http://10.0.0.1:80", "header": {"X-Bluegreen-Colour": "^green$"},
         "headers": {"Host": "a.example.com", "Cookie": "bluegreen_shop=bluegreen-watch-169"}},
        {"name": "r2 live", "base_url": "http://10.0.0.2:80", "header": {"X-Bluegreen-Colour": "^(blue|green)$"},
         "headers": {"Host": "a.example.com"}},
    ]
    # The prober's own listener moved before its watch; another router's may come late: its answers get a grace.
    peers = probe_targets(["r1", "r2"], hostvars, 80, "r1", "live", "^green$", None, "http", "", None, None, 5)
    assert [target.get("header_grace_s") for target in peers] == [None, 5.0]


def test_live_server_changes_list_what_to_try_for_each_colour_with_live_traffic_whose_servers_change():
    state = {"weights": {"blue": 90, "green": 10}, "endpoints": {"blue": ["10.0.0.5:8001"], "green": ["[fd00::5]:8002"]}}
    assert routers.live_server_changes(state, {"blue": ["10.0.0.5:8001"], "green": ["[fd00::5]:9002", "10.0.0.6:9002"]}) == [
        {"colour": "green", "server": "[fd00::5]:8002", "host": "fd00::5", "port": 8002, "now": True},
        {"colour": "green", "server": "[fd00::5]:9002", "host": "fd00::5", "port": 9002, "now": False},
        {"colour": "green", "server": "10.0.0.6:9002", "host": "10.0.0.6", "port": 9002, "now": False},
    ]
    # The idle colour (no share), a colour with no servers yet (a new app), or the same servers: nothing to try.
    idle = dict(state, weights={"blue": 100, "green": 0})
    assert routers.live_server_changes(idle, {"blue": ["10.0.0.5:8001"], "green": ["10.0.0.5:9002"]}) == []
    assert routers.live_server_changes({"weights": None, "endpoints": {}}, {"blue": ["a:1"], "green": []}) == []
    assert routers.live_server_changes(state, {"blue": ["10.0.0.5:8001"], "green": ["[fd00::5]:8002"]}) == []


def test_endpoint_targets_probe_the_routers_own_addresses():
    assert endpoint_targets(["10.0.0.5:8001", "[fd00::5]:8001"], "blue") == [
        {"name": "10.0.0.5:8001 blue", "base_url": "http://10.0.0.5:8001"},
        {"name": "[fd00::5]:8001 blue", "base_url": "http://[fd00::5]:8001"},
    ]


def test_status_lines_show_each_colour_release_with_its_last_outcome():
    switch = dict(_history.entry(router="haproxy", action="release", target="green", weights=_history.full("green"),
                                 from_weights=_history.full("blue"), versions={"blue": "1.0.0", "green": "2.0.0"},
                                 actor="ci", reason=None, result="ok"), time="T1")
    back = dict(_history.entry(router="haproxy", action="auto-rollback", target="blue", weights=_history.full("blue"),
                               from_weights=_history.full("green"), versions={"blue": "1.0.0", "green": "2.0.0"},
                               actor="ci", reason="5xx over the limit", result="ok"), time="T2")
    records = [switch, back]
    state = {"label": "router1", "live_colour": "blue", "says": "runtime map blue, map file blue",
             "colours": {"blue": "2/2 up", "green": "2/2 up"}, "problems": ["a problem"],
             "outcomes": _history.outcomes(records), "history": records}
    lines = routers.status_lines([state], {"blue": "1.0.0", "green": "2.0.0"})
    assert lines == [
        "router1: live colour blue (runtime map blue, map file blue), blue 2/2 up, green 2/2 up",
        "PROBLEM on router1: a problem",
        "blue: version 1.0.0 (LIVE); 1.0.0 is live since T2",
        "green: version 2.0.0 (idle); FAILED: 2.0.0 was switched back by the watch at T2 (5xx over the limit)",
        "history: T2 auto-rollback green -> blue ok by ci: 5xx over the limit",
        "history: T1 release blue -> green ok by ci",
    ]
    # The outcome of an older release is not shown beside the release the colour holds now.
    assert routers.status_lines([state], {"blue": "1.0.0", "green": "2.0.1"})[3] == "green: version 2.0.1 (idle)"
    # What deploy warns of: the release green holds failed there; not once green holds another, nor for blue.
    assert routers.failed_release([state], {"blue": "1.0.0", "green": "2.0.0"}, "green") == (
        "2.0.0 was switched back by the watch at T2 (5xx over the limit)")
    assert routers.failed_release([state], {"blue": "1.0.0", "green": "2.0.1"}, "green") is None
    assert routers.failed_release([state], {"blue": "1.0.0", "green": "2.0.0"}, "blue") is None
    # An outcome with no version is taken for the release the colour holds, as the routers take it.
    unknown = dict(state, outcomes={"green": dict(state["outcomes"]["green"], version=None)})
    assert routers.failed_release([unknown], {"green": "2.0.1"}, "green").startswith("(version unknown) was switched back")


def test_status_lines_name_both_colours_live_with_their_shares_while_the_traffic_is_split():
    state = {"label": "router1", "live_colour": None, "weights": {"blue": 90, "green": 10}, "says": "runtime map split",
             "colours": {"blue": "2/2 up", "green": "2/2 up"}, "problems": [], "outcomes": {}, "history": []}
    lines = routers.status_lines([state], {"blue": "1.0.0", "green": "2.0.0"})
    assert lines[1:] == ["blue: version 1.0.0 (LIVE with 90% of the traffic)", "green: version 2.0.0 (LIVE with 10% of the traffic)"]


def _record(action, target, before, result="ok", time="T", **extra):
    return dict(_history.entry(router="haproxy", action=action, target=target, weights=_history.full(target),
                               from_weights=_history.full(before), versions={"blue": "1.0.0", "green": "2.0.0"},
                               actor="ci", reason=None, result=result, **extra), time=time)


def _state(live="blue", outcomes=None):
    return {"label": "router1", "live_colour": live, "weights": _history.full(live), "outcomes": outcomes or {}}


VERSIONS = {"blue": "1.0.0", "green": "2.0.0"}


def test_status_says_when_the_routers_disagree_and_not_when_they_agree():
    def state(label, live):
        return dict(_state(live), label=label, problems=[], says=f"runtime map {live}", colours={"blue": "2/2 up", "green": "2/2 up"})

    lines = routers.status_lines([state("router1", "blue"), state("router2", "green")], VERSIONS)
    assert [line for line in lines if line.startswith("PROBLEM")] == [
        "PROBLEM: the routers disagree, router1 sends blue, router2 sends green: a release or switch refuses to run until "
        "they agree; bluegreen.core.switch with bluegreen_switch_to=blue or green makes them"]
    assert not any(line.startswith("PROBLEM") for line in routers.status_lines([state("router1", "blue"), state("router2", "blue")], VERSIONS))


def test_run_result_follows_the_records_the_run_wrote():
    release = _record("release", "green", "blue", time="T1")
    result = routers.run_result([_state()], VERSIONS, [release], "release", "shop", actor="awx-job-7 (ann)")
    assert result == {
        "app": "shop", "playbook": "release", "outcome": "ok", "live_colour": "green", "maintenance": False,
        "colours": {"blue": {"version": "1.0.0", "live": False, "share": 0, "outcome": "replaced", "failed": False},
                    "green": {"version": "2.0.0", "live": True, "share": 100, "outcome": "live", "failed": False}},
        "history": [release], "message": None, "check_mode": False, "actor": "awx-job-7 (ann)",
    }


def test_run_result_and_status_say_when_a_router_serves_the_maintenance_page():
    state = dict(_state(), maintenance=True, problems=[], says="runtime map blue", colours={"blue": "2/2 up", "green": "2/2 up"})
    assert routers.run_result([state], VERSIONS, [], "maintenance", "shop", changed=True)["maintenance"] is True
    assert any(line.startswith("MAINTENANCE on router1: ") for line in routers.status_lines([state], VERSIONS))


def test_run_result_of_a_switch_the_watch_undid_says_the_release_failed_and_the_old_colour_is_live():
    back = _record("auto-rollback", "blue", "green", time="T2")
    result = routers.run_result([_state()], VERSIONS, [back], "release", "shop", failure="the watch found 5xx")
    assert result["outcome"] == "failed" and result["message"] == "the watch found 5xx"
    assert result["live_colour"] == "blue"
    assert result["colours"]["green"] == {"version": "2.0.0", "live": False, "share": 0,
                                          "outcome": "switched back by the watch", "failed": True}


def test_run_result_never_guesses_where_a_failed_change_left_the_traffic():
    broken = _record("switch", "green", "blue", result="failed", error="set map failed")
    result = routers.run_result([_state()], VERSIONS, [broken], "switch", "shop", failure="set map failed")
    assert result["live_colour"] is None
    assert [result["colours"][c]["share"] for c in ("blue", "green")] == [None, None]


def test_run_result_without_a_change_is_unchanged_except_for_status_and_a_deploy():
    started = _state(outcomes={"green": {"version": "2.0.0", "outcome": "failed its smoke test", "failed": True}})
    for playbook, changed, expected in (("switch", False, "unchanged"), ("status", False, "ok"), ("deploy", True, "ok"),
                                        ("smoke_test", False, "ok"),
                                        ("rollback", False, "unchanged")):
        result = routers.run_result([started], VERSIONS, [], playbook, "shop", changed=changed, check_mode=True)
        assert (result["outcome"], result["live_colour"], result["check_mode"]) == (expected, "blue", True)
        assert result["colours"]["green"]["failed"] is True
    # The outcome of another release than the one the colour holds now is not shown.
    assert routers.run_result([started], {"blue": "1.0.0", "green": "2.0.1"}, [], "status", "shop")["colours"]["green"][
        "outcome"] is None


def test_run_result_of_a_run_that_failed_before_reading_a_router():
    result = routers.run_result([], {}, [], "release", None, failure="bluegreen_app is not set")
    assert result["live_colour"] is None and result["colours"]["blue"] == {
        "version": None, "live": False, "share": None, "outcome": None, "failed": False}


def test_run_result_records_a_failed_smoke_test():
    verdict = _history.verdict(check="smoke-test", colour="green", version="2.0.0", result="failed", reason="500",
                               actor="ci", router="haproxy")
    result = routers.run_result([_state()], VERSIONS, [verdict], "smoke_test", "shop", failure="500")
    assert result["live_colour"] == "blue" and result["colours"]["green"]["outcome"] == "failed its smoke test"

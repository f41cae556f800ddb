# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import os
import time

import pytest
from ansible_collections.bluegreen.core.plugins.module_utils import _haproxy
from ansible_collections.bluegreen.core.plugins.modules import haproxy_info, haproxy_traffic
from ansible_collections.bluegreen.core.tests.unit.plugins import haproxy_fake
from ansible_collections.bluegreen.core.tests.unit.plugins.haproxy_fake import Lab, run_module, server


@pytest.fixture
def lab(tmp_path):
    with Lab(str(tmp_path)) as running:
        yield running


def run(lab: Lab, **args: object) -> dict:
    return run_module(haproxy_traffic, lab.args(**args))


def test_switch_to_green_changes_runtime_file_and_history(lab):
    result = run(lab, colour="green", versions={"blue": "1.4.2", "green": "1.5.0"}, actor="ci", reason="release 1.5.0")
    assert not result["failed"], result
    assert result["changed"] is True
    assert (result["colour"], result["previous_colour"], result["preview_colour"]) == ("green", "blue", "blue")
    assert lab.runtime() == {"shop": "shop_green", "shop.preview": "shop_blue"}
    assert lab.map_text() == "shop shop_green\nshop.preview shop_blue\n"
    sets = lab.fake.sent("set map")
    assert sets == [f"set map {lab.map_file} shop shop_green", f"set map {lab.map_file} shop.preview shop_blue"]
    after_sets = lab.fake.commands[lab.fake.commands.index(sets[-1]) + 1:]
    assert f"show map {lab.map_file}" in after_sets and f"get map {lab.map_file} shop" in after_sets
    assert isinstance(result["cutover_ms"], float) and result["total_ms"] >= result["cutover_ms"]
    assert [s["name"] for s in result["servers"]] == ["shop_green_1", "shop_green_2"]
    (record,) = lab.history_lines()
    assert record == result["history_entry"]
    assert {k: record[k] for k in ("action", "from", "to", "actor", "reason", "result", "router")} == {
        "action": "switch", "from": "blue", "to": "green", "actor": "ci", "reason": "release 1.5.0",
        "result": "ok", "router": "haproxy",
    }
    assert record["versions"] == {"blue": "1.4.2", "green": "1.5.0"} and record["cutover_ms"] == result["cutover_ms"]


def test_second_run_changes_nothing(lab):
    assert run(lab, colour="green")["changed"] is True
    lab.fake.commands.clear()
    again = run(lab, colour="green")
    assert again["changed"] is False and not again["failed"]
    assert lab.fake.writes() == []
    assert again["history_entry"] is None and len(lab.history_lines()) == 1
    assert again["cutover_ms"] is None


def test_changed_does_not_depend_on_session_counters(lab):
    run(lab, colour="green")
    lab.fake.backends["shop_green"][0]["scur"] = 40
    lab.fake.backends["shop_blue"][0]["scur"] = 7
    assert run(lab, colour="green")["changed"] is False


def test_check_mode_reports_the_change_and_writes_nothing(lab):
    before = lab.map_bytes()
    result = run(lab, colour="green", _ansible_check_mode=True, _ansible_diff=True)
    assert result["changed"] is True and not result["failed"]
    assert lab.map_bytes() == before
    assert lab.fake.writes() == []
    assert lab.runtime() == {"shop": "shop_blue", "shop.preview": "shop_green"}
    assert lab.history_lines() == []
    assert result["diff"] == {
        "before": "shop shop_blue\nshop.preview shop_green\n",
        "after": "shop shop_green\nshop.preview shop_blue\n",
        "before_header": lab.map_file,
        "after_header": lab.map_file,
    }


def test_diff_mode_without_check_mode_returns_the_same_diff(lab):
    result = run(lab, colour="green", _ansible_diff=True)
    assert result["diff"]["before"].startswith("shop shop_blue\n")
    assert result["diff"]["after"].startswith("shop shop_green\n")


def test_no_diff_key_without_diff_mode(lab):
    assert "diff" not in run(lab, colour="green")


def test_refuses_a_colour_with_no_up_server(lab):
    lab.fake.backends["shop_green"] = [
        server("shop_green_1", status="DOWN", check_status="L4CON"),
        server("shop_green_2", status="MAINT", check_status=""),
    ]
    before = lab.map_bytes()
    result = run(lab, colour="green")
    assert result["failed"]
    assert result["msg"] == (
        "refusing to route shop to green: none of its 2 servers is UP "
        "(shop_green_1 DOWN L4CON, shop_green_2 MAINT); fix them or use force=true"
    )
    assert lab.fake.writes() == [] and lab.map_bytes() == before and lab.history_lines() == []


def test_a_draining_or_nolb_server_does_not_count_as_up(lab):
    lab.fake.backends["shop_green"] = [server("shop_green_1", status="DRAIN"), server("shop_green_2", status="NOLB")]
    assert run(lab, colour="green")["failed"]


def test_force_switches_anyway_with_a_warning(lab):
    lab.fake.backends["shop_green"] = [server("shop_green_1", status="DOWN", check_status="L4CON")]
    result = run(lab, colour="green", force=True)
    assert result["changed"] and not result["failed"]
    assert lab.runtime()["shop"] == "shop_green"
    assert any("force=true" in warning for warning in result["warnings"])


def test_already_routed_to_a_down_colour_warns_instead_of_failing(lab):
    lab.fake.backends["shop_blue"] = [server("shop_blue_1", status="DOWN", check_status="L7STS")]
    result = run(lab, colour="blue")
    assert not result["failed"] and result["changed"] is False
    assert any("already routed to blue" in warning for warning in result["warnings"])


def test_map_file_unknown_to_haproxy_fails_naming_map_file(tmp_path):
    with Lab(str(tmp_path), loaded=False) as unloaded:
        before = unloaded.map_bytes()
        result = run_module(haproxy_traffic, unloaded.args(colour="green"))
        assert result["failed"]
        assert "map_file" in result["msg"] and unloaded.map_file in result["msg"]
        assert unloaded.fake.writes() == [] and unloaded.map_bytes() == before


def test_missing_socket_fails_naming_socket(lab, tmp_path):
    missing = str(tmp_path / "nope.sock")
    before = lab.map_bytes()
    result = run(lab, colour="green", socket=missing)
    assert result["failed"] and f"socket {missing} does not exist" in result["msg"]
    assert (result["param"], result["router_unreachable"]) == ("socket", True)
    assert lab.map_bytes() == before


@pytest.mark.parametrize(("args", "param"), [
    ({"socket": "regular-file"}, "socket"),
    ({"socket": "relative/admin.sock"}, "socket"),
    ({"socket": "host:70000"}, "socket"),
    ({"map_file": "maps/shop.map"}, "map_file"),
    ({"map_file": "/etc/haproxy/maps/../../passwd"}, "map_file"),
    ({"map_file": "/etc/haproxy/maps/shop.map;x"}, "map_file"),
])
def test_a_socket_or_map_file_that_is_not_one_fails_naming_it_and_changes_nothing(lab, tmp_path, args, param):
    if args.get("socket") == "regular-file":
        regular = tmp_path / "admin.sock"
        regular.write_text("not a socket\n")
        args = {"socket": str(regular)}
    before = lab.map_bytes()
    result = run(lab, colour="green", **args)
    assert result["failed"] and result.get("param") == param, result
    assert "Traceback" not in result["msg"] and lab.map_bytes() == before and lab.fake.writes() == []


def test_unknown_backend_fails_naming_backends(lab):
    result = run(lab, colour="green", backends={"green": "shop_gren"})
    assert result["failed"] and result["msg"].startswith("backends.green:") and "'shop_gren'" in result["msg"]
    assert lab.fake.writes() == []


@pytest.mark.parametrize(
    "override, named",
    [
        ({"app": "shop\nshow stat"}, "app"),
        ({"app": "sh op"}, "app"),
        ({"app": "shop;clear map x"}, "app"),
        ({"colour": "red"}, "colour"),
        ({"colour": "green\n"}, "colour"),
        ({"backends": {"green": "shop_green;show stat"}}, "backends.green"),
        ({"backends": {"blue": "shop blue"}}, "backends.blue"),
        ({"backends": {"blue": "x", "green": "x"}}, "backends.blue"),
        ({"backends": {"purple": "x"}}, "backends"),
        ({"versions": {"green": "../x"}}, "versions.green"),
        ({"versions": {"blue": "1.0 ; rm"}}, "versions.blue"),
        ({"actor": "bob\nroot"}, "actor"),
        ({"reason": "line one\nline two"}, "reason"),
        ({"map_file": "maps/shop.map"}, "map_file"),
        ({"socket": "admin.sock"}, "socket"),
        ({"drain_timeout": -1}, "drain_timeout"),
        ({"timeout": 0}, "timeout"),
        ({"action": "undo"}, "action"),
    ],
)
def test_bad_input_fails_before_anything_changes(lab, override, named):
    before = lab.map_bytes()
    args = {"colour": "green"}
    args.update(override)
    result = run(lab, **args)
    assert result["failed"], result
    assert named in result["msg"]
    assert "Traceback" not in result["msg"]
    assert lab.fake.writes() == []
    assert lab.map_bytes() == before
    assert lab.history_lines() == []


def test_no_io_at_all_before_validation_passes(lab):
    run(lab, colour="green", versions={"green": "../x"})
    assert lab.fake.commands == []


def test_failed_cutover_restores_the_file_and_records_the_failure(lab):
    before = lab.map_bytes()
    lab.fake.fail_next(f"set map {lab.map_file} shop ", "Out of memory error.\n\n")
    result = run(lab, colour="green")
    assert result["failed"] and "Out of memory" in result["msg"] and "were restored" in result["msg"]
    assert lab.map_bytes() == before
    assert lab.runtime() == {"shop": "shop_blue", "shop.preview": "shop_green"}
    (record,) = lab.history_lines()
    assert record["result"] == "failed" and record["to"] == "green" and "Out of memory" in record["error"]


def test_failure_after_the_cutover_restores_the_previous_runtime_values(lab):
    before = lab.map_bytes()
    lab.fake.fail_next(f"set map {lab.map_file} shop.preview", "Out of memory error.\n\n")
    result = run(lab, colour="green")
    assert result["failed"]
    assert lab.fake.sent(f"set map {lab.map_file} shop ") == [
        f"set map {lab.map_file} shop shop_green",
        f"set map {lab.map_file} shop shop_blue",
    ]
    assert lab.runtime() == {"shop": "shop_blue", "shop.preview": "shop_green"}
    assert lab.map_bytes() == before


def test_a_failed_restore_is_reported_loudly(lab):
    lab.fake.fail_next(f"set map {lab.map_file} shop.preview", "Out of memory error.\n\n")
    lab.fake.fail_next(f"set map {lab.map_file} shop shop_blue", "Out of memory error.\n\n")
    result = run(lab, colour="green")
    assert result["failed"] and "Restoring the previous routing ALSO failed" in result["msg"]
    assert result["changed"] is True


def test_drain_waits_for_the_old_colour(lab, monkeypatch):
    monkeypatch.setattr(_haproxy, "DRAIN_POLL_INTERVAL", 0.01)
    lab.fake.backends["shop_blue"] = [server("shop_blue_1", scur=2), server("shop_blue_2", qcur=1)]

    def finish_one(fake, command):
        if command.startswith("show stat shop_blue") and fake.sent("set map"):
            for srv in fake.backends["shop_blue"]:
                srv["scur"], srv["qcur"] = max(srv["scur"] - 1, 0), max(srv["qcur"] - 1, 0)

    lab.fake.on_command = finish_one
    result = run(lab, colour="green", drain=True)
    assert not result["failed"]
    assert result["drain"]["completed"] is True and result["drain"]["remaining_sessions"] == 0
    assert result["drain"]["backend"] == "shop_blue" and result["drain"]["waited_s"] < 5


def test_drain_timeout_warns_and_leaves_sessions_alone(lab):
    lab.fake.backends["shop_blue"] = [server("shop_blue_1", scur=3)]
    started = time.monotonic()
    result = run(lab, colour="green", drain=True, drain_timeout=0)
    assert time.monotonic() - started < 2
    assert not result["failed"] and result["changed"]
    assert result["drain"]["completed"] is False and result["drain"]["remaining_sessions"] == 3
    assert any("3 sessions were still open on shop_blue" in warning for warning in result["warnings"])
    assert not [c for c in lab.fake.commands if c.startswith(("shutdown", "set server"))]


def test_drain_is_skipped_in_check_mode(lab):
    assert run(lab, colour="green", drain=True, _ansible_check_mode=True)["drain"] is None


def test_switch_over_a_tcp_socket(tmp_path):
    with Lab(str(tmp_path), tcp=True) as tcp_lab:
        result = run_module(haproxy_traffic, tcp_lab.args(colour="green", socket="ipv4@" + tcp_lab.fake.address))
        assert result["changed"] and not result["failed"]
        assert tcp_lab.runtime()["shop"] == "shop_green"


def test_unresponsive_socket_fails_within_the_timeout(lab):
    lab.fake.hang = True
    before = lab.map_bytes()
    started = time.monotonic()
    result = run(lab, colour="green", timeout=0.3)
    assert time.monotonic() - started < 2
    assert result["failed"] and "within 0.3s" in result["msg"]
    assert lab.map_bytes() == before


def test_preview_false_leaves_the_preview_entry_alone(lab):
    result = run(lab, colour="green", preview=False)
    assert result["preview_colour"] is None
    assert lab.runtime() == {"shop": "shop_green", "shop.preview": "shop_green"}
    assert lab.map_text() == "shop shop_green\nshop.preview shop_green\n"


def test_history_false_records_nothing(lab):
    result = run(lab, colour="green", history=False)
    assert result["changed"] and result["history_entry"] is None and lab.history_lines() == []


def test_other_lines_of_the_map_file_stay_in_place(tmp_path):
    text = "# shared map\napi api_green\nshop shop_blue\nshop.preview shop_green\n"
    with Lab(str(tmp_path), map_text=text) as shared:
        run_module(haproxy_traffic, shared.args(colour="green"))
        assert shared.map_text() == "# shared map\napi api_green\nshop shop_green\nshop.preview shop_blue\n"
        assert shared.runtime()["api"] == "api_green"


def test_missing_entries_are_added_to_haproxy_and_the_file(tmp_path):
    with Lab(str(tmp_path), map_text="shop shop_blue\n") as partial:
        result = run_module(haproxy_traffic, partial.args(colour="green"))
        assert not result["failed"]
        assert partial.fake.sent("add map") == [f"add map {partial.map_file} shop.preview shop_blue"]
        assert partial.map_text() == "shop shop_green\nshop.preview shop_blue\n"


def test_runtime_ahead_of_the_file_is_repaired_without_a_cutover(lab):
    lab.fake.maps[lab.map_file] = [["shop", "shop_green"], ["shop.preview", "shop_blue"]]
    result = run(lab, colour="green")
    assert result["changed"] and result["cutover_ms"] is None
    assert lab.fake.sent("set map") == []
    assert lab.map_text() == "shop shop_green\nshop.preview shop_blue\n"


def test_custom_backend_names(tmp_path):
    backends = {"be_blue": [server("b1")], "be_green": [server("g1")]}
    with Lab(str(tmp_path), map_text="shop be_blue\nshop.preview be_green\n", backends=backends) as custom:
        result = run_module(haproxy_traffic, custom.args(colour="green", backends={"blue": "be_blue", "green": "be_green"}))
        assert result["changed"] and custom.runtime() == {"shop": "be_green", "shop.preview": "be_blue"}


def test_rollback_action_is_recorded(lab):
    run(lab, colour="green")
    result = run(lab, colour="blue", action="rollback")
    assert result["history_entry"]["action"] == "rollback"
    assert (result["history_entry"]["from"], result["history_entry"]["to"]) == ("green", "blue")


def test_no_set_command_carries_a_separator(lab):
    run(lab, colour="green")
    for command in lab.fake.commands:
        assert ";" not in command and "\\" not in command


def test_permission_denied_answer_fails_with_advice(lab):
    lab.fake.fail_next("set map", haproxy_fake.PERMISSION_DENIED)
    result = run(lab, colour="green")
    assert result["failed"] and "level admin" in result["msg"]
    assert lab.runtime()["shop"] == "shop_blue"


def test_an_unwritable_map_file_fails_before_the_cutover(lab, monkeypatch):
    def refuse(path, content, mode=None):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(_haproxy._fs, "atomic_write", refuse)
    result = run(lab, colour="green")
    assert result["failed"] and "failed writing" in result["msg"] and "Permission denied" in result["msg"]
    assert "Nothing was changed" in result["msg"] and result["changed"] is False
    assert lab.fake.writes() == [] and lab.history_lines() == []


# --------------------------------------------------------------------------- colour=previous, lock_owner: a rollback in one call


def lock_file(lab: Lab) -> str:
    return f"{lab.state_dir}/shop/lock"


def test_previous_with_the_lock_rolls_back_in_one_call_and_releases_the_lock(lab):
    import os

    assert run(lab, colour="green", versions={"blue": "1.0.0", "green": "2.0.0"})["changed"] is True
    back = run(lab, colour="previous", action="rollback", lock_owner="ci run 1",
               versions={"blue": "1.0.0", "green": "2.0.0"})
    assert not back["failed"], back
    assert (back["changed"], back["colour"], back["previous_colour"]) == (True, "blue", "green")
    assert lab.runtime() == {"shop": "shop_blue", "shop.preview": "shop_green"}
    assert lab.history_lines()[-1]["action"] == "rollback" and lab.history_lines()[-1]["to"] == "blue"
    assert not os.path.exists(lock_file(lab))
    # Going forward again to the release rolled back from is refused, naming it, unless forced.
    refused = run(lab, colour="previous", versions={"blue": "1.0.0", "green": "2.0.0"})
    assert refused["failed"] and refused["param"] == "colour"
    assert "its release 2.0.0 was rolled back at" in refused["msg"] and lab.runtime()["shop"] == "shop_blue"
    assert "it does not go back to a release that failed there" in refused["msg"]
    assert run(lab, colour="previous", force=True, versions={"blue": "1.0.0", "green": "2.0.0"})["colour"] == "green"


def test_previous_refuses_a_colour_that_holds_another_release_now(lab):
    import os

    run(lab, colour="green", versions={"blue": "1.0.0", "green": "2.0.0"})
    lab.fake.commands.clear()
    refused = run(lab, colour="previous", lock_owner="ci", versions={"blue": "3.0.0", "green": "2.0.0"})
    assert refused["failed"]
    assert "it ran 1.0.0 when it was live, but now holds 3.0.0" in refused["msg"]
    assert "green stays live" in refused["msg"]
    assert lab.fake.writes() == [] and lab.runtime()["shop"] == "shop_green"
    assert not os.path.exists(lock_file(lab))
    forced = run(lab, colour="previous", force=True, versions={"blue": "3.0.0", "green": "2.0.0"})
    assert forced["colour"] == "blue" and not forced["failed"]


def test_previous_without_history_names_the_colour_to_use_instead(lab):
    refused = run(lab, colour="previous", versions={"blue": "1.0.0", "green": "2.0.0"})
    assert refused["failed"] and "records no earlier switch" in refused["msg"]
    assert "colour=blue or green" in refused["msg"]
    assert lab.fake.writes() == []


def test_previous_refuses_a_colour_with_no_release(lab):
    run(lab, colour="green", versions={"blue": "1.0.0", "green": "2.0.0"})
    refused = run(lab, colour="previous", versions={"blue": None, "green": "2.0.0"})
    assert refused["failed"] and "blue has no release on the app hosts" in refused["msg"]


def test_a_lock_held_by_another_owner_fails_before_anything_changes(lab):
    import json
    import os

    run(lab, colour="green")
    os.makedirs(os.path.dirname(lock_file(lab)), exist_ok=True)
    with open(lock_file(lab), "w", encoding="utf-8") as handle:
        json.dump({"owner": "someone else", "since": "2026-01-01T00:00:00Z", "expires_epoch": time.time() + 600}, handle)
    lab.fake.commands.clear()
    refused = run(lab, colour="previous", lock_owner="ci")
    assert refused["failed"] and "app shop is locked by someone else" in refused["msg"]
    assert refused["holder"]["owner"] == "someone else"
    assert lab.fake.writes() == [] and lab.runtime()["shop"] == "shop_green"
    assert os.path.exists(lock_file(lab))


def test_check_mode_with_the_lock_takes_no_lock_and_changes_nothing(lab):
    import os

    run(lab, colour="green", versions={"blue": "1.0.0", "green": "2.0.0"})
    lab.fake.commands.clear()
    result = run(lab, colour="previous", lock_owner="ci", versions={"blue": "1.0.0", "green": "2.0.0"},
                 _ansible_check_mode=True)
    assert result["changed"] is True and result["colour"] == "blue" and not result["failed"]
    assert lab.fake.writes() == [] and not os.path.exists(lock_file(lab))


@pytest.mark.parametrize(("args", "words"), [
    ({"lock_owner": ""}, "lock_owner must be 1-200 printable characters"),
    ({"lock_owner": "ci", "lock_wait": -1}, "lock_wait must be 0 or more seconds"),
    ({"lock_owner": "ci", "lock_ttl": 0}, "lock_ttl must be at least 1 second"),
])
def test_bad_lock_options_are_named(lab, args, words):
    result = run(lab, colour="green", **args)
    assert result["failed"] and words in result["msg"]
    assert lab.fake.writes() == []


# --------------------------------------------------------------------------- the lock taken by a read, released by the last change


def test_an_info_read_with_the_lock_takes_it_and_keeps_it_and_the_last_change_releases_it(lab):
    import os

    from ansible_collections.bluegreen.core.plugins.modules import haproxy_info

    read = run_module(haproxy_info, lab.args(lock_owner="ci run 7"))
    assert not read["failed"] and read["changed"] is False
    assert read["lock"]["owner"] == "ci run 7" and os.path.exists(lock_file(lab))
    kept = run(lab, colour="green", lock_owner="ci run 7")
    assert kept["changed"] and os.path.exists(lock_file(lab))
    released = run(lab, colour="blue", lock_owner="ci run 7", lock_release=True)
    assert released["changed"] and not os.path.exists(lock_file(lab))


def test_a_read_that_fails_leaves_no_lock_it_took(lab):
    import os

    from ansible_collections.bluegreen.core.plugins.modules import haproxy_info

    os.unlink(lab.map_file)
    lab.fake.fail_next("show map", "Unknown map identifier. Please use #<id> or <file>.\n")
    read = run_module(haproxy_info, lab.args(lock_owner="ci run 8"))
    assert read["failed"] and not os.path.exists(lock_file(lab))


def test_a_failed_change_keeps_the_lock_even_with_lock_release(lab):
    import os

    from ansible_collections.bluegreen.core.plugins.modules import haproxy_info

    run_module(haproxy_info, lab.args(lock_owner="ci run 9"))
    lab.fake.backends["shop_green"] = [server("shop_green_1", status="DOWN", check_status="L4CON")]
    refused = run(lab, colour="green", lock_owner="ci run 9", lock_release=True)
    assert refused["failed"] and os.path.exists(lock_file(lab))


def test_a_release_the_watch_switched_back_gets_no_live_traffic_again_unless_forced(lab):
    versions = {"blue": "1.0.0", "green": "2.0.0"}
    assert run(lab, colour="green", action="release", versions=versions)["changed"]
    back = run(lab, colour="blue", action="auto-rollback", reason="green answered 50 of 50 requests with 5xx", versions=versions)
    assert back["changed"] and not back["failed"]
    lab.fake.commands.clear()
    for args in ({"colour": "previous", "action": "rollback"}, {"colour": "green"}, {"colour": "green", "versions": None}):
        refused = run(lab, **dict({"versions": versions}, **args))
        assert refused["failed"] and refused["param"] == "colour", refused
        assert "not routing live traffic to green: its release 2.0.0 was switched back by the watch" in refused["msg"]
        assert "(green answered 50 of 50 requests with 5xx)" in refused["msg"]
    assert lab.fake.writes() == [] and lab.runtime()["shop"] == "shop_blue"
    # Another release in green, or a release the run deployed and smoke-tested itself, or force, may go live.
    assert run(lab, colour="green", versions={"blue": "1.0.0", "green": "2.0.1"})["changed"]
    run(lab, colour="blue", versions=versions, force=True)
    assert run(lab, colour="green", action="release", versions=versions)["changed"]


def _answer_5xx_on(lab: Lab, backend: str, per_tick: int = 40, ticks: int = 60, pause: float = 0.05):
    """From now on, the backend's servers count requests that all answered 5xx (a bounded loop in a thread)."""
    import threading

    def serve():
        for _tick in range(ticks):
            for srv in lab.fake.backends[backend]:
                srv["stot"] += per_tick
                srv["req_tot"] += per_tick
                srv["hrsp_5xx"] += per_tick
            time.sleep(pause)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


WATCH = {"seconds": 20, "interval": 0.1, "window": 1.0, "min_requests": 20}


def test_the_watch_switches_back_at_once_when_the_new_colour_answers_5xx(lab):
    versions = {"blue": "1.0.0", "green": "2.0.0"}
    started = time.monotonic()
    _answer_5xx_on(lab, "shop_green")
    done = run(lab, colour="green", action="release", versions=versions, watch=WATCH, lock_owner="ci run 1")
    assert done["failed"] and done["changed"] and time.monotonic() - started < 5
    assert "the watch of green found after" in done["msg"] and "with 5xx" in done["msg"]
    assert "Switched all the traffic back to blue" in done["msg"]
    assert done["watch"]["rolled_back"] and done["watch"]["after_s"] < 2 and done["rolled_back_to"] == "blue"
    assert lab.runtime()["shop"] == "shop_blue"
    release, back = lab.history_lines()
    assert (release["action"], release["to"], back["action"], back["from"], back["to"]) == (
        "release", "green", "auto-rollback", "green", "blue")
    assert back["reason"].startswith("green answered") and back["watch"]["after_s"] < 2 and back["versions"] == versions
    import os

    assert not os.path.exists(lock_file(lab))
    # The rollback typed in a hurry right after is refused: blue stays live.
    refused = run(lab, colour="previous", action="rollback", versions=versions)
    assert refused["failed"] and "switched back by the watch" in refused["msg"] and lab.runtime()["shop"] == "shop_blue"


def test_a_good_colour_is_watched_to_the_end_and_stays(lab):
    done = run(lab, colour="green", versions={"blue": "1.0.0", "green": "2.0.0"}, watch=dict(WATCH, seconds=0.5))
    assert not done["failed"] and done["changed"] and done["watch"]["ok"] and not done["watch"]["rolled_back"]
    assert done["watch"]["watched_s"] >= 0.5 and lab.runtime()["shop"] == "shop_green"
    assert [r["action"] for r in lab.history_lines()] == ["switch"]


def test_the_watch_without_rollback_leaves_the_traffic_and_fails(lab):
    _answer_5xx_on(lab, "shop_green")
    done = run(lab, colour="green", watch=dict(WATCH, rollback=False))
    assert done["failed"] and "watch.rollback=false: the traffic was left as it is" in done["msg"]
    assert lab.runtime()["shop"] == "shop_green"


def test_the_watch_is_skipped_in_check_mode(lab):
    done = run(lab, colour="green", watch=WATCH, _ansible_check_mode=True)
    assert not done["failed"] and "watch" not in done and lab.fake.writes() == []


def test_a_bad_watch_option_changes_nothing(lab):
    done = run(lab, colour="green", watch=dict(WATCH, max_error_rate=2.0))
    assert done["failed"] and done["param"] == "watch.max_error_rate" and lab.fake.commands == []


# --------------------------------------------------------------------------- weighted steps

STEPPING_MAP = "shop shop_blue\nshop.preview shop_green\nshop.share 0\n"


@pytest.fixture
def stepping(tmp_path):
    """An app provisioned with the step rules (haproxy_app writes shop.share 0)."""
    with Lab(str(tmp_path), map_text=STEPPING_MAP) as running:
        yield running


def test_a_ramp_names_the_step_backend_before_its_share_and_ends_with_live_moved_first(stepping):
    lab, versions = stepping, {"blue": "1.0.0", "green": "2.0.0"}
    ten = run(lab, colour="green", weight=10, versions=versions)
    assert not ten["failed"] and ten["changed"] and ten["weights"] == {"green": 10, "blue": 90}
    assert lab.fake.sent("set map") == [f"set map {lab.map_file} shop.step shop_green", f"set map {lab.map_file} shop.share 10"]
    assert lab.runtime() == {"shop": "shop_blue", "shop.preview": "shop_green", "shop.share": "10", "shop.step": "shop_green"}
    assert lab.map_text() == "shop shop_blue\nshop.preview shop_green\nshop.share 10\nshop.step shop_green\n"
    assert ten["preview_colour"] == "green"
    lab.fake.commands.clear()
    fifty = run(lab, colour="green", weight=50, versions=versions)
    assert lab.fake.sent("set map") == [f"set map {lab.map_file} shop.share 50"] and fifty["changed"]
    lab.fake.commands.clear()
    whole = run(lab, colour="green", weight=100, versions=versions)
    assert lab.fake.sent("set map") == [f"set map {lab.map_file} shop shop_green", f"set map {lab.map_file} shop.share 0",
                                        f"set map {lab.map_file} shop.preview shop_blue"]
    assert whole["weights"] == {"green": 100, "blue": 0}
    records = lab.history_lines()
    assert [(r["action"], r["to"], r["weights"]) for r in records] == [
        ("switch", "green", {"blue": 90, "green": 10}), ("switch", "green", {"blue": 50, "green": 50}),
        ("switch", "green", {"blue": 0, "green": 100})]
    assert records[0]["from"] == "blue" and records[1]["from"] is None and records[2]["from"] is None
    assert not run(lab, colour="green", weight=100, versions=versions)["changed"]


def test_a_step_is_read_back_as_the_split_and_a_file_behind_it_is_a_problem(stepping):
    lab = stepping
    assert not run(lab, colour="green", weight=30)["failed"]
    state = run_module(haproxy_info, lab.args())
    assert state["weights"] == {"blue": 70, "green": 30} and state["live_colour"] is None and state["consistent"]
    with open(lab.map_file, "w", encoding="utf-8") as handle:
        handle.write("shop shop_blue\nshop.preview shop_green\nshop.share 0\nshop.step shop_green\n")
    state = run_module(haproxy_info, lab.args())
    assert not state["sources_agree"] and any("the next reload would change the split" in p for p in state["problems"])


def test_a_breach_during_a_step_puts_everything_back_with_one_set_map(stepping):
    lab, versions = stepping, {"blue": "1.0.0", "green": "2.0.0"}
    _answer_5xx_on(lab, "shop_green")
    done = run(lab, colour="green", weight=10, action="release", versions=versions, watch=WATCH)
    assert done["failed"] and "Switched all the traffic back to blue" in done["msg"]
    sets = lab.fake.sent("set map")
    assert sets[-1] == f"set map {lab.map_file} shop.share 0" and len(sets) == 3
    assert lab.runtime()["shop"] == "shop_blue" and lab.runtime()["shop.share"] == "0"
    back = lab.history_lines()[-1]
    assert (back["action"], back["to"], back["weights"]) == ("auto-rollback", "blue", {"blue": 100, "green": 0})


def test_a_step_on_a_listener_without_the_step_rules_is_refused_naming_weight(lab):
    done = run(lab, colour="green", weight=10)
    assert done["failed"] and done["param"] == "weight" and "Provision the app again" in done["msg"]
    assert lab.fake.writes() == [] and lab.history_lines() == []


@pytest.mark.parametrize("weight", [0, 101, -5, True])
def test_a_weight_outside_1_to_100_is_refused_before_any_command(stepping, weight):
    done = run(stepping, colour="green", weight=weight)
    assert done["failed"] and done["param"] == "weight" and stepping.fake.commands == []


def test_a_rollback_takes_all_the_traffic(stepping):
    done = run(stepping, colour="previous", weight=10)
    assert done["failed"] and done["param"] == "weight" and stepping.fake.commands == []


# --------------------------------------------------------------------------- two phases: stage, then commit at an instant


def test_a_stage_checks_everything_and_changes_no_routing(stepping):
    lab = stepping
    assert run(lab, colour="green", weight=10, versions={"blue": "1.0.0", "green": "2.0.0"})["changed"]
    before_map, folder = lab.map_text(), os.path.dirname(lab.map_file)
    lab.fake.commands.clear()
    staged = run(lab, colour="green", weight=50, stage=True)
    assert not staged["failed"] and staged["staged"] is True and staged["changed"] is False
    assert staged["weights"] == {"green": 50, "blue": 50} and isinstance(staged["staged_version"], int)
    assert lab.fake.writes() == [f"prepare map {lab.map_file}"]
    assert lab.runtime()["shop.share"] == "10" and len(lab.history_lines()) == 1
    assert lab.map_text() == before_map and not [n for n in os.listdir(folder) if n.startswith(".bluegreen-")]


def test_a_stage_fails_as_the_change_would_and_changes_nothing(lab, monkeypatch):
    lab.fake.backends["shop_green"] = [server("shop_green_1", status="DOWN", check_status="L4CON")]
    refused = run(lab, colour="green", stage=True)
    assert refused["failed"] and "none of its 1 servers is UP" in refused["msg"] and lab.fake.writes() == []

    def full(path, content):
        raise OSError(28, "No space left on device", path)

    lab.fake.backends["shop_green"] = [server("shop_green_1")]
    monkeypatch.setattr(_haproxy._fs, "check_writable", full)
    refused = run(lab, colour="green", stage=True)
    assert refused["failed"] and "cannot write the map file" in refused["msg"] and "No space left on device" in refused["msg"]
    assert lab.fake.writes() == [] and lab.runtime()["shop"] == "shop_blue" and lab.history_lines() == []


def test_a_stage_that_takes_the_lock_keeps_it_for_its_commit_and_a_failed_stage_releases_it(lab):
    versions = {"blue": "1.0.0", "green": "2.0.0"}
    assert run(lab, colour="green", versions=versions)["changed"]
    staged = run(lab, colour="previous", action="rollback", stage=True, lock_owner="ci run 3", versions=versions)
    assert staged["staged"] and staged["colour"] == "blue" and os.path.exists(lock_file(lab)), staged
    # Another run cannot change the app between the stage and the commit.
    other = run(lab, colour="blue", lock_owner="ci run 4")
    assert other["failed"] and "is locked by ci run 3" in other["msg"] and lab.runtime()["shop"] == "shop_green"
    done = run(lab, colour="blue", action="rollback", commit_at=time.time() + 0.1, lock_owner="ci run 3",
               lock_release=True, versions=versions)
    assert done["changed"] and lab.runtime()["shop"] == "shop_blue" and not os.path.exists(lock_file(lab)), done
    lab.fake.backends["shop_green"] = [server("shop_green_1", status="DOWN", check_status="L4CON")]
    refused = run(lab, colour="green", stage=True, lock_owner="ci run 5", versions=versions)
    assert refused["failed"] and not os.path.exists(lock_file(lab))


def test_a_stage_given_lock_release_only_checks_the_lock(lab):
    """The stage of the routers that do not hold the app's lock: another run's lock there stops it, ours is not kept."""
    staged = run(lab, colour="green", stage=True, lock_owner="ci run 3", lock_release=True)
    assert staged["staged"] and not os.path.exists(lock_file(lab)), staged
    assert run(lab, colour="green", stage=True, lock_owner="ci run 4")["staged"] and os.path.exists(lock_file(lab))
    refused = run(lab, colour="green", stage=True, lock_owner="ci run 3", lock_release=True)
    assert refused["failed"] and "is locked by ci run 4" in refused["msg"] and os.path.exists(lock_file(lab)), refused
    assert lab.runtime()["shop"] == "shop_blue"


def test_a_commit_a_router_needs_nothing_for_still_waits_for_its_instant(lab):
    """So that the watch the first router's commit goes on to starts when the other routers move."""
    run(lab, colour="green")
    lab.fake.commands.clear()
    instant = time.time() + 0.3
    done = run(lab, colour="green", commit_at=instant)
    assert not done["failed"] and not done["changed"] and time.time() >= instant and lab.fake.writes() == [], done


def test_a_stage_of_a_router_already_there_prepares_nothing(lab):
    run(lab, colour="green")
    lab.fake.commands.clear()
    staged = run(lab, colour="green", stage=True)
    assert staged["staged"] and "staged_version" not in staged and lab.fake.writes() == []


def test_a_commit_moves_every_entry_in_one_transaction_at_the_instant(stepping):
    lab = stepping
    instant = time.time() + 0.3
    done = run(lab, colour="green", weight=10, commit_at=instant, versions={"blue": "1.0.0", "green": "2.0.0"})
    assert not done["failed"] and done["changed"], done
    assert done["committed_at"] >= instant and done["late_ms"] == 0
    writes = lab.fake.writes()
    assert writes[0] == f"prepare map {lab.map_file}" and writes[-1].startswith("commit map @") and not lab.fake.sent("set map")
    assert lab.runtime() == {"shop": "shop_blue", "shop.preview": "shop_green", "shop.share": "10", "shop.step": "shop_green"}
    assert "shop.share 10" in lab.map_text() and lab.history_lines()[-1]["weights"] == {"blue": 90, "green": 10}


def test_a_commit_after_its_instant_goes_at_once_and_says_how_late(lab):
    done = run(lab, colour="green", commit_at=time.time() - 2)
    assert not done["failed"] and done["late_ms"] >= 2000 and lab.runtime()["shop"] == "shop_green"


def test_a_failed_commit_puts_the_map_file_back(lab):
    lab.fake.fail_next("commit map", haproxy_fake.PERMISSION_DENIED)
    done = run(lab, colour="green", commit_at=time.time())
    assert done["failed"] and "level admin" in done["msg"]
    assert lab.runtime()["shop"] == "shop_blue" and lab.map_text().startswith("shop shop_blue\n")


@pytest.mark.parametrize(("args", "param"), [
    ({"commit_at": 1e12}, "commit_at"),
    ({"stage": True, "commit_at": 1.0}, "commit_at"),
])
def test_a_commit_instant_too_far_ahead_or_with_stage_is_refused(lab, args, param):
    # stage=false is what the role passes beside commit_at
    args.setdefault("stage", False)
    done = run(lab, colour="green", **args)
    assert done["failed"] and lab.fake.writes() == []
    assert done["param"] == param

# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import json
import os

import pytest
from ansible_collections.bluegreen.core.plugins.module_utils import _apps, _lock
from ansible_collections.bluegreen.core.plugins.modules import haproxy_info, haproxy_traffic
from ansible_collections.bluegreen.core.tests.unit.plugins.haproxy_fake import Lab, run_module, server


@pytest.fixture
def lab(tmp_path):
    with Lab(str(tmp_path)) as running:
        yield running


def info(lab: Lab, **args: object) -> dict:
    return run_module(haproxy_info, lab.args(**args))


def write_history(lab: Lab, *records: object) -> None:
    directory = os.path.join(lab.state_dir, "shop")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "history.jsonl"), "a", encoding="utf-8") as handle:
        for record in records:
            handle.write((record if isinstance(record, str) else json.dumps(record)) + "\n")


def test_consistent_state_is_reported_without_problems(lab):
    result = info(lab)
    assert not result["failed"] and result["changed"] is False
    assert (result["live_colour"], result["map_file_colour"], result["preview_colour"]) == ("blue", "blue", "green")
    assert result["consistent"] is True and result["problems"] == [] and result["warnings"] == []
    assert result["history"] == [] and result["last_switch"] is None and result["previous_colour"] is None
    assert result["lock"] is None
    blue = result["backends"]["blue"]
    assert blue["name"] == "shop_blue" and blue["up"] == 2 and blue["total"] == 2
    assert set(blue["servers"][0]) >= {"name", "addr", "status", "check_status", "scur", "weight", "stot", "hrsp_5xx"}


def test_reads_nothing_but_writes_nothing(lab):
    before = lab.map_bytes()
    info(lab)
    assert lab.fake.writes() == [] and lab.map_bytes() == before
    assert not os.path.exists(lab.state_dir)


def test_backend_counters(lab):
    lab.fake.backends["shop_green"] = [
        server("shop_green_1", scur=2, stot=100, hrsp_2xx=95, hrsp_5xx=5),
        server("shop_green_2", status="DOWN", check_status="L4CON", stot=10, hrsp_2xx=10),
    ]
    green = info(lab)["backends"]["green"]
    assert (green["up"], green["total"], green["sessions"]) == (1, 2, 2)
    assert (green["requests"], green["http_2xx"], green["http_5xx"]) == (110, 105, 5)


def test_runtime_and_file_mismatch_is_a_loud_problem(lab):
    lab.fake.maps[lab.map_file] = [["shop", "shop_green"], ["shop.preview", "shop_blue"]]
    result = info(lab)
    assert result["live_colour"] == "green" and result["map_file_colour"] == "blue"
    assert result["consistent"] is False
    (problem,) = result["problems"]
    assert "HAProxy routes shop to green" in problem and f"{lab.map_file} says blue" in problem
    assert result["warnings"] == [problem]


def test_previous_colour_comes_from_the_history(lab):
    run_module(haproxy_traffic, lab.args(colour="green", actor="ci"))
    result = info(lab)
    assert result["live_colour"] == "green" and result["consistent"] is True
    assert result["previous_colour"] == "blue"
    assert result["last_switch"]["to"] == "green" and result["last_switch"]["actor"] == "ci"
    assert [r["to"] for r in result["history"]] == ["green"]


def test_history_that_disagrees_with_haproxy_is_a_problem(lab):
    write_history(lab, {"time": "t1", "action": "switch", "from": "blue", "to": "green", "result": "ok"})
    result = info(lab)
    assert result["consistent"] is False
    assert any("went to green, but HAProxy routes it to blue" in problem for problem in result["problems"])
    assert result["previous_colour"] is None


def test_damaged_history_line_is_reported(lab):
    write_history(lab, {"time": "t1", "from": "green", "to": "blue", "result": "ok"}, "{not json", '"a string"')
    result = info(lab)
    damaged = [p for p in result["problems"] if "history.jsonl line" in p]
    assert len(damaged) == 2 and "line 2 is not JSON" in damaged[0] and "line 3 is not an object" in damaged[1]
    assert all(p in result["warnings"] for p in damaged)
    assert result["previous_colour"] == "green"


def test_history_limit_returns_the_newest_records_oldest_first(lab):
    write_history(lab, *({"time": f"t{i}", "from": "green", "to": "blue", "result": "ok"} for i in range(5)))
    assert [r["time"] for r in info(lab, history_limit=2)["history"]] == ["t3", "t4"]
    assert info(lab, history_limit=0)["history"] == []
    assert info(lab, history_limit=-1)["failed"]


def test_missing_live_entry_gives_null_and_a_problem(lab):
    lab.fake.maps[lab.map_file] = [["shop.preview", "shop_green"]]
    result = info(lab)
    assert result["live_colour"] is None and result["consistent"] is False
    assert any("has no entry for shop" in p for p in result["problems"])
    # A switch to a named colour mends only two sources that each name a routing; this stops every run.
    assert result["sources_agree"] is False and result["drifted"] is False


def test_a_map_file_edited_by_hand_is_drift_a_switch_mends(lab):
    with open(lab.map_file, "w", encoding="utf-8") as handle:
        handle.write("shop shop_green\nshop.preview shop_blue\n")
    result = info(lab)
    assert result["live_colour"] == "blue" and result["sources_agree"] is False and result["drifted"] is True
    assert info(lab, _ansible_check_mode=True)["says"] == "runtime map blue, map file green"


def test_live_entry_pointing_elsewhere_is_a_problem(lab):
    lab.fake.maps[lab.map_file] = [["shop", "maintenance"], ["shop.preview", "shop_green"]]
    result = info(lab)
    assert result["live_colour"] is None
    assert any("'maintenance', which is neither shop_blue nor shop_green" in p for p in result["problems"])


def test_missing_map_file_on_disk_is_a_problem(lab):
    os.unlink(lab.map_file)
    result = info(lab)
    assert result["map_file_colour"] is None and result["consistent"] is False
    assert any("does not exist on this host" in p for p in result["problems"])
    assert result["sources_agree"] is False and result["drifted"] is False


@pytest.mark.parametrize(("sticky", "headers"), [
    ({"by": "cookie", "name": "bluegreen_shop"}, {"Cookie": "bluegreen_shop=bluegreen-watch-169"}),
    ({"by": "request_cookie", "name": "session"}, {"Cookie": "session=bluegreen-watch-169"}),
    ({"by": "header", "name": "X-User"}, {"X-User": "bluegreen-watch-169"}),
    (None, None),
])
def test_the_step_probe_headers_come_from_the_sticky_setting_the_apps_file_records(lab, tmp_path, sticky, headers):
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    claim = {"app": "shop", **({"sticky": sticky} if sticky else {})}
    (conf_dir / "shop.cfg").write_text(f"# shop\n{_apps.CLAIM_PREFIX}{json.dumps(claim)}\nbackend shop_blue\n")
    assert info(lab, conf_dir=str(conf_dir))["step_probe_headers"] == headers
    # No file there (an app provisioned elsewhere, or a folder the roles were not told): no headers, no failure.
    missing = info(lab, conf_dir=str(tmp_path / "nowhere"))
    assert not missing["failed"] and missing["step_probe_headers"] is None


def test_lock_holder_is_reported(lab):
    acquired = _lock.try_acquire_lock(lab.state_dir, "shop", "awx job 7", 600)[0]
    assert acquired
    assert info(lab)["lock"]["owner"] == "awx job 7"


def test_check_mode_gives_the_same_report(lab):
    result = info(lab, _ansible_check_mode=True)
    assert not result["failed"] and result["live_colour"] == "blue"


def test_missing_socket_fails_naming_socket(lab, tmp_path):
    missing = str(tmp_path / "nope.sock")
    result = info(lab, socket=missing)
    assert result["failed"] and f"socket {missing} does not exist" in result["msg"]


def test_unknown_map_file_fails_naming_map_file(tmp_path):
    with Lab(str(tmp_path), loaded=False) as unloaded:
        result = run_module(haproxy_info, unloaded.args())
        assert result["failed"] and "map_file" in result["msg"]


def test_unknown_backend_fails_naming_backends(lab):
    result = info(lab, backends={"blue": "nope"})
    assert result["failed"] and result["msg"].startswith("backends.blue:")


@pytest.mark.parametrize("override, named", [({"app": "shop\n"}, "app"), ({"socket": "x"}, "socket"),
                                             ({"backends": {"green": "a b"}}, "backends.green")])
def test_bad_input_fails_before_any_io(lab, override, named):
    result = info(lab, **override)
    assert result["failed"] and named in result["msg"] and lab.fake.commands == []


def test_info_over_tcp(tmp_path):
    with Lab(str(tmp_path), tcp=True) as tcp_lab:
        assert run_module(haproxy_info, tcp_lab.args())["live_colour"] == "blue"


def test_the_maintenance_page_is_reported_and_reaches_the_status_lines(lab):
    from ansible_collections.bluegreen.core.plugins.filter.routers import router_states, status_lines

    assert info(lab)["maintenance"] is False
    with open(lab.map_file, "a", encoding="utf-8") as handle:
        handle.write("shop:maintenance shop_maintenance\n")
    lab.fake.maps[lab.map_file].append(["shop:maintenance", "shop_maintenance"])
    result = info(lab)
    assert result["maintenance"] is True and result["consistent"] is True, result["problems"]
    states = router_states([dict(result, item="router1")])
    assert states[0]["maintenance"] is True
    assert any(line.startswith("MAINTENANCE on router1") for line in status_lines(states, {"blue": "1.0.0"}))

    lab.fake.maps[lab.map_file].pop()
    result = info(lab)
    assert result["maintenance"] is False and any("says the opposite" in p for p in result["problems"])

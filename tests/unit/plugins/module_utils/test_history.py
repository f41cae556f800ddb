# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release history, on a temporary state directory."""

from __future__ import annotations

import json
import os
import stat

import pytest
from ansible_collections.bluegreen.core.plugins.module_utils import _history
from ansible_collections.bluegreen.core.plugins.module_utils._history import append as append_history
from ansible_collections.bluegreen.core.plugins.module_utils._history import last_switch
from ansible_collections.bluegreen.core.plugins.module_utils._history import read as read_history


def mode_of(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_history_is_appended_in_order_with_time_and_app(tmp_path):
    state = str(tmp_path)
    first = append_history(state, "shop", {"from": "blue", "to": "green", "result": "ok", "by": "awx-job-42"})
    append_history(state, "shop", {"from": "green", "to": "blue", "result": "ok"})
    records, problems = read_history(state, "shop")
    assert problems == []
    assert [(r["from"], r["to"]) for r in records] == [("blue", "green"), ("green", "blue")]
    assert records[0] == first
    assert first["app"] == "shop"
    assert first["time"].endswith("Z")
    assert mode_of(tmp_path / "shop") == 0o750
    assert mode_of(tmp_path / "shop" / "history.jsonl") == 0o640
    lines = (tmp_path / "shop" / "history.jsonl").read_text().splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0])["by"] == "awx-job-42"


def test_a_damaged_history_line_is_reported_not_skipped_silently(tmp_path):
    state = str(tmp_path)
    append_history(state, "shop", {"to": "green", "from": "blue", "result": "ok"})
    with open(tmp_path / "shop" / "history.jsonl", "a") as handle:
        handle.write('{"to": "blue", "trunc\n')
        handle.write("\n")
        handle.write("[1, 2]\n")
    append_history(state, "shop", {"to": "blue", "from": "green", "result": "ok"})
    records, problems = read_history(state, "shop")
    assert [r["to"] for r in records] == ["green", "blue"]
    assert len(problems) == 2
    assert "line 2 is not JSON" in problems[0]
    assert "line 4 is not an object" in problems[1]
    assert "history.jsonl" in problems[0]


def test_history_limit_keeps_the_newest(tmp_path):
    state = str(tmp_path)
    for number in range(5):
        append_history(state, "shop", {"n": number})
    assert [r["n"] for r in read_history(state, "shop", limit=2)[0]] == [3, 4]
    assert read_history(state, "shop", limit=0)[0] == []
    assert len(read_history(state, "shop")[0]) == 5


def test_no_history_yet_is_empty(tmp_path):
    assert read_history(str(tmp_path), "shop") == ([], [])


def test_last_switch_is_the_newest_successful_change_of_colour():
    records = [
        {"from": "blue", "to": "green", "result": "ok", "n": 1},
        {"from": "green", "to": "blue", "result": "failed", "n": 2},
        {"from": "green", "to": "green", "result": "ok", "n": 3},
    ]
    assert last_switch(records)["n"] == 1
    assert last_switch([]) is None


def test_previous_colour_is_the_from_of_the_switch_that_made_the_live_colour_live():
    records = [
        {"result": "ok", "from": "blue", "to": "green"},
        {"result": "ok", "from": "green", "to": "blue"},
        {"result": "failed", "from": "blue", "to": "green"},
    ]
    assert _history.previous_colour(records, "blue") == "green"
    assert _history.previous_colour(records, "green") == "blue"
    assert _history.previous_colour(records, None) is None
    assert _history.previous_colour([], "blue") is None


def test_default_actor_prefers_explicit_then_awx_then_user():
    assert _history.default_actor({"BLUEGREEN_ACTOR": "ci", "USER": "bob"}) == "ci"
    assert _history.default_actor({"AWX_JOB_ID": "42", "USER": "bob"}) == "awx job 42"
    assert _history.default_actor({"USER": "bob\n"}) == "bob"
    assert _history.default_actor({}).startswith("uid ")


def test_previous_colour_after_a_switch_in_weighted_steps_is_the_colour_live_before_the_first_step():
    records = [
        {"result": "ok", "from": "green", "to": "blue"},
        {"result": "ok", "from": "blue", "to": None, "weights": {"blue": 90, "green": 10}},
        {"result": "ok", "from": None, "to": None, "weights": {"blue": 50, "green": 50}},
        {"result": "ok", "from": None, "to": "green", "weights": {"blue": 0, "green": 100}},
    ]
    assert _history.previous_colour(records, "green") == "blue"
    assert _history.previous_colour(records[:1], "blue") == "green"
    # A split that began from nothing known gives no previous colour, never a guess.
    assert _history.previous_colour(records[2:], "green") is None


def test_shares_are_whole_percents_and_a_split_stays_a_split():
    assert _history.shares({"blue": 1, "green": 0}) == {"blue": 100, "green": 0}
    assert _history.shares({"blue": 1, "green": 999}) == {"blue": 1, "green": 99}
    assert _history.shares({"blue": 255, "green": 85}) == {"blue": 75, "green": 25}
    assert _history.shares({"blue": 0, "green": 0}) is None and _history.shares(None) is None
    assert _history.live_colour({"blue": 0, "green": 7}) == "green" and _history.live_colour({"blue": 1, "green": 999}) is None


def test_every_router_writes_one_record_schema():
    step = _history.entry(router="nginx", action="switch", target="green", weights={"blue": 90, "green": 10},
                          from_weights={"blue": 100, "green": 0}, versions={"blue": "1", "green": "2"}, actor="ci",
                          reason=None, result="ok", reload_s=0.2)
    assert {k: step[k] for k in ("from", "to", "weight", "weights", "from_weights", "router", "reload_s")} == {
        "from": "blue", "to": "green", "weight": 10, "weights": {"blue": 90, "green": 10},
        "from_weights": {"blue": 100, "green": 0}, "router": "nginx", "reload_s": 0.2}
    weighted = _history.entry(router="alb", action="switch", target=None, weights={"blue": 50, "green": 50},
                              from_weights={"blue": 90, "green": 10}, versions={}, actor="ci", reason=None, result="failed",
                              error="denied")
    assert (weighted["from"], weighted["to"], weighted["weight"], weighted["error"]) == (None, None, None, "denied")


def test_older_records_are_read_into_the_schema(tmp_path):
    append_history(str(tmp_path), "shop", {"from": "blue", "to": "green", "result": "ok",
                                           "previous_weights": {"blue": 255, "green": 0}, "weights": {"blue": 0, "green": 255}})
    (record,), _problems = read_history(str(tmp_path), "shop")
    assert record["from_weights"] == {"blue": 100, "green": 0} and "previous_weights" not in record
    assert _history.weights_after({"to": "green"}) == {"blue": 0, "green": 100}


def test_a_router_that_disagrees_with_the_newest_change_is_a_problem(tmp_path):
    append_history(str(tmp_path), "shop", {"time": "t1", "actor": "ci", "from": "blue", "to": "green", "weight": 10, "result": "ok"})
    report = _history.report(str(tmp_path), "shop", {"blue": 100, "green": 0}, "live.conf", 5)
    (problem,) = report["problems"]
    assert problem.startswith("the last recorded switch of shop (t1, by ci) sent 10% to green, but live.conf routes live traffic to blue")
    assert _history.report(str(tmp_path), "shop", {"blue": 90, "green": 10}, "live.conf", 5)["problems"] == []


def _switch(action, frm, to, blue, green, time="T", reason=None, weight=100):
    weights = {to: weight, _other(to): 100 - weight}
    return dict(_history.entry(router="haproxy", action=action, target=to, weights=weights, from_weights=_history.full(frm),
                               versions={"blue": blue, "green": green}, actor="alice", reason=reason, result="ok"), time=time)


def _other(colour):
    return "green" if colour == "blue" else "blue"


def test_outcomes_say_what_each_colour_release_did_last():
    records = [
        _switch("switch", "blue", "green", "1.0.0", "2.0.0", "T1"),
        _switch("auto-rollback", "green", "blue", "1.0.0", "2.0.0", "T2", reason="green answered 50 of 50 with 5xx"),
    ]
    found = _history.outcomes(records)
    assert found["blue"]["outcome"] == "live" and not found["blue"]["failed"]
    assert found["green"] == {"version": "2.0.0", "outcome": "switched back by the watch", "failed": True, "time": "T2",
                              "actor": "alice", "reason": "green answered 50 of 50 with 5xx"}
    # A normal switch leaves the other colour replaced, not failed.
    assert _history.outcomes(records[:1])["blue"]["outcome"] == "replaced"
    # A rollback by hand marks the colour it leaves.
    rolled = _history.outcomes(records[:1] + [_switch("rollback", "green", "blue", "1.0.0", "2.0.0", "T3")])
    assert rolled["green"]["outcome"] == "rolled back" and rolled["green"]["failed"]
    # A split says its share; the watch's switch back from a split marks the colour that had the share.
    split = [_switch("release", "blue", "green", "1.0.0", "2.0.0", weight=10)]
    assert _history.outcomes(split)["green"]["outcome"] == "live with 10% of the traffic"
    back = split + [_switch("auto-rollback", None, "blue", "1.0.0", "2.0.0")]
    assert _history.outcomes(back)["green"]["failed"]
    # A failed change of the router is no outcome of the release.
    assert _history.outcomes([dict(records[0], result="failed")]) == {}


def test_a_smoke_test_verdict_marks_the_colour_it_names():
    failed = dict(_history.verdict(check="smoke-test", colour="green", version="2.0.0", result="failed", reason="/ answered 500",
                                   actor="ci", router="nginx"), time="T")
    assert failed["versions"] == {"blue": None, "green": "2.0.0"} and failed["error"] == "/ answered 500"
    # It is no change of the split: the history's readers of switches pass over it.
    assert _history.weights_after(failed) is None and _history.last_switch([failed]) is None
    assert _history.outcomes([failed])["green"]["outcome"] == "failed its smoke test"
    passed = dict(failed, result="ok")
    del passed["error"]
    assert not _history.outcomes([failed, passed])["green"]["failed"]


def test_a_release_that_failed_is_refused_naming_it_and_why():
    records = [
        _switch("switch", "blue", "green", "1.0.0", "2.0.0", "T1"),
        _switch("auto-rollback", "green", "blue", "1.0.0", "2.0.0", "T2", reason="5xx over the limit"),
    ]
    try:
        _history.check_outcome(records, "green", "2.0.0")
    except _history.ReleaseFailed as exc:
        assert exc.param == "colour"
        assert "its release 2.0.0 was switched back by the watch at T2 (5xx over the limit)" in str(exc)
        assert "force=true" in str(exc)
    else:
        raise AssertionError("a release the watch switched back was not refused")
    # Another release in that colour now is not refused; the colour that stayed good never is.
    _history.check_outcome(records, "green", "2.0.1")
    _history.check_outcome(records, "blue", "1.0.0")
    # Not knowing what the colour holds now is taken as the same release, and said.
    try:
        _history.check_outcome(records, "green", None)
    except _history.ReleaseFailed as exc:
        assert "did not say which release it holds now" in str(exc)
    else:
        raise AssertionError("an unknown release in a failed colour was not refused")


def test_previous_colour_after_a_step_switched_back_is_the_colour_the_step_gave_a_share():
    records = [
        {"result": "ok", "from": "blue", "to": "green"},
        {"result": "ok", "action": "release", "from": "green", "to": "blue", "weights": {"blue": 10, "green": 90}},
        {"result": "ok", "action": "auto-rollback", "from": None, "to": "green", "weights": {"blue": 0, "green": 100}},
    ]
    # So a rollback typed in a hurry goes to blue, whose release the watch switched back: refused unless forced.
    assert _history.previous_colour(records, "green") == "blue"
    assert _history.outcomes(records)["blue"]["outcome"] == "switched back by the watch"


def test_a_release_rolled_back_by_hand_stays_refused_after_a_failed_migration_of_another_release():
    versions = {"blue": "1.0.0", "green": "2.0.0"}
    records = [
        {"result": "ok", "action": "release", "from": "blue", "to": "green", "from_weights": {"blue": 100, "green": 0},
         "weights": {"blue": 0, "green": 100}, "versions": versions},
        {"result": "ok", "action": "rollback", "from": "green", "to": "blue", "from_weights": {"blue": 0, "green": 100},
         "weights": {"blue": 100, "green": 0}, "versions": versions},
        # 3.0.0 failed its migration in green before green took it: green still holds 2.0.0.
        {"result": "failed", "action": "migrate", "colour": "green", "versions": {"blue": None, "green": "3.0.0"}},
    ]
    assert _history.outcomes(records)["green"]["version"] == "3.0.0"
    with pytest.raises(_history.ReleaseFailed) as caught:
        _history.check_outcome(records, "green", "2.0.0")
    assert "2.0.0 was rolled back" in str(caught.value)
    # Green holding another release that never failed is not refused; nor is a release whose newest outcome passed.
    _history.check_outcome(records, "green", "2.1.0")
    passed = records + [{"result": "ok", "action": "smoke-test", "colour": "green", "versions": {"blue": None, "green": "2.0.0"}}]
    _history.check_outcome(passed, "green", "2.0.0")

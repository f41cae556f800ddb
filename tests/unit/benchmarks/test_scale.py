# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure parts of `make bench-scale`: lab names, profile_tasks parsing, medians, growth, tables."""

from __future__ import annotations

import pytest
from ansible_collections.bluegreen.core.benchmarks import scale

PROFILE = """PLAY [Roll back] ****************************************************************
TASK [Route traffic back] *******************************************************
Sunday 22 November 2026  05:10:00 +0000 (0:00:00.050)       0:00:00.050 *******

PLAY RECAP **********************************************************************
app1 : ok=20   changed=1

Sunday 22 November 2026  05:10:09 +0000 (0:00:00.400)       0:00:09.000 *******
===============================================================================
bluegreen.core.switch : Take the lock ----------------------------------- 1.50s
bluegreen.core.switch : Read the live colour from each HAProxy router --- 0.75s
bluegreen.core.switch : Read the versions ------------------------------- 2.00s
Route traffic back to the previous colour ------------------------------- 0.25s
bluegreen.core.switch : Release the lock -------------------------------- 0.50s
"""


def test_lab_names() -> None:
    assert scale.lab_names(1, 2) == ["router1", "app1", "app2"]
    assert len(scale.lab_names()) == 10
    with pytest.raises(ValueError):
        scale.lab_names(6, 2)
    with pytest.raises(ValueError):
        scale.lab_names(1, 6)


def test_parse_profile_reads_only_the_recap() -> None:
    tasks = scale.parse_profile(PROFILE)
    assert [task["s"] for task in tasks] == [1.5, 0.75, 2.0, 0.25, 0.5]
    assert tasks[0]["task"] == "bluegreen.core.switch : Take the lock"
    assert scale.parse_profile("TASK [x] ---- 1.00s\n") == []


def test_breakdown_and_groups() -> None:
    tasks = scale.parse_profile(PROFILE)
    out = scale.breakdown(tasks, 9.0)
    assert out["tasks_s"] == 5.0 and out["outside_tasks_s"] == 4.0 and out["tasks"] == 5
    assert out["groups"]["lock / unlock"] == 2.0
    assert out["groups"]["read the app hosts' versions"] == 2.0
    assert list(out["groups"])[0] in ("lock / unlock", "read the app hosts' versions")
    assert scale.task_group("Route traffic back to the previous colour") == "route (the switch itself)"
    assert scale.task_group("something else").startswith("bookkeeping")
    assert scale.task_group("bluegreen.core.switch : Route the app's traffic to the colour on each HAProxy router") == "route (the switch itself)"
    assert scale.task_group("bluegreen.core.switch : Read the live colour from each HAProxy router") == "read the router"
    assert scale.task_group("bluegreen.core.switch : Read the release each colour points at") == "read the app hosts' versions"


def test_size_rows_growth_and_table() -> None:
    small = scale.size_row(1, 2, [4.0, 5.0, 6.0], [10.0, 12.0, 11.0], [9.0, 10.0, 11.0])
    assert small["noop_s"] == 5.0 and small["switch_s"] == 11.0 and small["rollback_over_noop"] == 2.0
    assert small["switch_minus_noop_s"] == 6.0 and small["rounds"]["switch_s"] == [10.0, 12.0, 11.0]
    big = scale.size_row(1, 8, [6.0], [16.5], [20.0])
    grow = scale.growth([small, big])
    assert grow["1r-8a"] == {"switch": 1.5, "rollback": 2.0, "noop": 1.2}
    assert scale.growth([big]) == {}
    table = scale.scale_table([small, big])
    assert table.startswith("| routers | app hosts |") and "| 1 | 8 | 6.00 | 16.50 | 20.00 | 2.75x | 3.33x | 1.50x, 2.00x | - / - |" in table


def test_commit_spread_and_router_growth() -> None:
    out = ("ok: [app1] =>\n  msg: 'demo: 10% to blue was committed on 5 of 5 routers\n    within 0.41 ms of each other.'\n"
           "ok: [app1] =>\n  msg: 'demo: 100% to blue was committed on 5 of 5 routers within 12.5 ms of each other.'")
    assert scale.commit_spread(out) == 12.5 and scale.commit_spread("no such line") is None
    one = scale.size_row(1, 5, [4.0], [10.0], [6.0], {"switch": [None], "rollback": [None]})
    five = scale.size_row(5, 5, [4.0], [11.0], [6.6], {"switch": [1.0, 3.0, 2.0], "rollback": [None, 4.0, 5.0]})
    assert one["switch_spread_ms"] is None and five["switch_spread_ms"] == 2.0 and five["rollback_spread_ms"] == 4.5
    assert scale.router_growth([one, five]) == {"5a": {"routers": [1, 5], "switch": 1.1, "rollback": 1.1}}
    assert scale.router_growth([five]) == {}
    one_floor = scale.size_row(1, 2, [4.0], [10.0], [6.0], floor=[2.0, 2.2, 2.1])
    five_floor = scale.size_row(5, 2, [4.0], [19.0], [15.0], floor=[3.9, 4.2, 4.0])
    assert one_floor["router_floor_s"] == 2.1 and one_floor["rounds"]["router_floor_s"] == [2.0, 2.2, 2.1]
    assert scale.router_growth([one_floor, five_floor]) == {
        "2a": {"routers": [1, 5], "switch": 1.9, "rollback": 2.5, "router_floor": 1.9}}
    assert "| - / - |" in scale.scale_table([one]) and "| 2 / 4.5 |" in scale.scale_table([five])


def test_profile_table() -> None:
    tasks = scale.parse_profile(PROFILE)
    text = scale.profile_table(tasks, scale.breakdown(tasks, 9.0), top=2)
    assert text.count("bluegreen.core.switch") == 2 and "Read the versions | 2.00" in text
    assert "| in 5 tasks | 5.00 |" in text and "outside any task" in text


def test_parse_sizes() -> None:
    assert scale.parse_sizes("1x2, 3x2,1x5") == [(1, 2), (3, 2), (1, 5)]
    for bad in ("", "1x6", "6x2", "1-2", "x2"):
        with pytest.raises(ValueError):
            scale.parse_sizes(bad)

# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Switching back and forth under a modest, bounded load drops no request; a split a stopped ramp left is ended by a
switch only. (The ramp itself, under sticky clients, is the fleets scenario's, on two routers: test_8_two_routers.py.)

A correctness check, not a timing: benchmarks/ measures how fast. The load comes from the
controller to the router container's own bridge address, through the project's non-retrying probe
(benchmarks/probe.py): keep-alive clients, new-connection clients and a stream started before the
first switch. Each flip is the haproxy_traffic module, as the switch role runs it.
"""

from __future__ import annotations

import os
import sys
import time

from lab_helpers import APP, PROJECT, ROUTER, address, module, playbook

sys.path.insert(0, PROJECT)
from benchmarks import probe  # noqa: E402  (the project root is on the path only from here)

FLIPS = ("green", "blue", "green", "blue", "green", "blue")


def test_switching_back_and_forth_under_load_drops_nothing():
    router = address(ROUTER)
    config = probe.ProbeConfig(
        base_url=f"http://{router}:80/", allow_hosts=(router,), case="molecule flips",
        keepalive_threads=4, newconn_threads=2, streams=1, stream_seconds=20, duration=90, max_requests=40_000, rate=40.0, timeout=5.0,
    )
    handle = probe.start(config)
    time.sleep(2)
    for colour in FLIPS:
        handle.mark(f"switch-to-{colour}")
        # force: the flips go back and forth between two good releases on purpose, and the earlier tests rolled back
        # from one of them (a release rolled back gets live traffic again only when forced).
        result = module("haproxy_traffic", {"app": APP, "colour": colour, "actor": "zero-downtime check", "force": True})
        assert not result.get("failed") and result["changed"], result
        time.sleep(1)
    handle.stop()
    run = handle.wait(timeout=30)
    summary = run.summary()
    print(summary)
    for kind in ("keepalive", "newconn"):
        counts = summary["kinds"][kind]
        assert counts["requests"] > 100, counts
        assert counts["failed"] == 0, (kind, counts, [r.to_dict() for r in run.failures()][:5])
        assert {"blue", "green"} <= set(counts["colours"]), counts
    # The stream began before the first switch and must run its 20 s to the end across the switches.
    assert summary["streams_complete"] == 1, summary["streams_cut"]
    run.write_jsonl(os.path.join(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp"), "zero_downtime.jsonl"))


def test_a_split_left_by_a_ramp_that_stopped_refuses_everything_but_the_switch_that_ends_it():
    new = module("haproxy_info", {"app": APP})["live_colour"]
    old = "green" if new == "blue" else "blue"
    # A ramp back that stopped at its first step (a controller killed between two steps leaves the same).
    stepped = module("haproxy_traffic", {"app": APP, "colour": old, "weight": 30, "force": True, "actor": "a ramp that stopped"})
    assert not stepped.get("failed") and stepped["weights"] == {old: 30, new: 70}, stepped
    refused = playbook("rollback")
    assert refused.returncode != 0 and "no single colour now" in refused.output, refused.output[-3000:]
    assert "bluegreen_switch_to=blue or green" in refused.output
    assert module("haproxy_info", {"app": APP})["weights"] == {old: 30, new: 70}
    ended = playbook("switch", f"bluegreen_switch_to={new}", "bluegreen_monitor_seconds=0")
    assert ended.returncode == 0, ended.output[-3000:]
    assert "the traffic is split" in ended.output and f"this switch sends all of it to {new}" in ended.output
    state = module("haproxy_info", {"app": APP})
    assert state["live_colour"] == new and state["weights"] == {old: 0, new: 100} and state["consistent"], state

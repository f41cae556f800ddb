# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Switching back and forth under a modest, bounded load drops no request; a ramp in weighted steps keeps each
client on one colour until its step moves it.

A correctness check, not a timing: benchmarks/ measures how fast. The load comes from the
controller to the router container's own bridge address, through the project's non-retrying probe
(benchmarks/probe.py): keep-alive clients, new-connection clients and a stream started before the
first switch, or sticky clients with their own cookies. Each flip is the haproxy_traffic module, as
the switch role runs it; the ramp is the switch playbook.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import time

from lab_helpers import APP, PROJECT, ROUTER, address, bucket, history, module, playbook, sticky_clients

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


def test_a_ramp_of_10_50_100_moves_each_client_once_and_serves_each_step_its_share():
    old = module("haproxy_info", {"app": APP})["live_colour"]
    new = "green" if old == "blue" else "blue"
    router = address(ROUTER)
    clients = sticky_clients()
    config = probe.ProbeConfig(
        base_url=f"http://{router}:80/", allow_hosts=(router,), case="molecule ramp", keepalive_threads=0, newconn_threads=0,
        streams=0, clients=clients, client_threads=2, duration=120, max_requests=40_000, rate=60.0, timeout=5.0,
    )
    handle = probe.start(config)
    time.sleep(1)
    # force: the flips above went back and forth between two releases, one of which earlier tests rolled back.
    result = playbook("switch", json.dumps({"bluegreen_switch_steps": [10, 50, 100], "bluegreen_monitor_seconds": 4,
                                            "bluegreen_force": True}))
    handle.finish(1.0)
    run = handle.wait(timeout=30)
    assert result.returncode == 0, result.output[-3000:]
    steps = history()[-3:]
    assert [(r["action"], r["to"], r["weights"][new], r["result"]) for r in steps] == [
        ("switch", new, 10, "ok"), ("switch", new, 50, "ok"), ("switch", new, 100, "ok")]
    records = run.by_kind("client")
    assert len(records) > 1000 and run.failures() == [], [r.to_dict() for r in run.failures()][:5]
    # Every client saw one colour until it was moved, then the other, never back.
    for client in range(len(clients)):
        colours = [r.colour for r in records if r.client == client]
        moved = colours.index(new) if new in colours else len(colours)
        assert set(colours[:moved]) <= {old} and set(colours[moved:]) <= {new}, (client, colours)
    # Each step served its share: exactly the clients whose bucket is below it (a request in flight at a step's
    # change aside), so the 100 clients with one bucket each give the step's percent.
    at = [_epoch(r["time"]) for r in steps]
    for share, begin, end in ((10, at[0], at[1]), (50, at[1], at[2])):
        window = [r for r in records if begin + 0.3 <= r.start <= end - 0.3 and r.cookie]
        assert window and all((r.colour == new) == (bucket(r.cookie) < share) for r in window), share
        preset = [r for r in window if r.client < 100]
        served = 100 * sum(r.colour == new for r in preset) / len(preset)
        print(f"step {share}%: {len(preset)} requests of the 100 bucketed clients, {served:.1f}% served by {new}")
        assert abs(served - share) <= 3, (share, served)
    # The clients that came with no cookie got one from the router with the first step, and kept it.
    # The clients that came with no cookie got one from the router with their first answer of the first step, and
    # sent it back from then on.
    for client in range(100, len(clients)):
        after = [r.cookie for r in records if r.client == client and r.start > at[0] + 0.3]
        assert after and len(set(after[1:])) == 1 and bucket(after[-1]) is not None, (client, after)
    state = module("haproxy_info", {"app": APP})
    assert state["live_colour"] == new and state["weights"] == {old: 0, new: 100} and state["consistent"], state


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


def _epoch(stamp: str) -> float:
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.UTC).timestamp()

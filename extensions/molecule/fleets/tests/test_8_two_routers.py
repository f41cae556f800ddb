# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Weighted steps, the preview header and a broken build on two HAProxy routers (bgf-router, bgf-router2), under the
project's bounded load client with per-client cookies, half of the load on each router.

The preview header reaches the idle colour on each router's live port. A ramp 10, 50, 100 moves each client once, to
the same colour on either router (both hash its cookie alike), and each step serves its share on each router within 3
points. A build that answers 500 released in steps is stopped at its first step: only the clients of its 10 buckets
saw it fail, on both routers, and both are back on the live colour within the bound, each by its own watch; a rollback
right after refuses. With the load on the first router only, a broken build switched in one step, or at a 10 % step,
is sent back there, and the second router follows through its probes of the first. The last three are marked
``alone``: in `make test` they run once the other scenarios have ended (conftest.py).
"""

from __future__ import annotations

import datetime
import json
import sys
import time

import pytest
from lab_helpers import APP, GROUPS, PROJECT, address, bucket, build_demo, get, history, host, module, playbook, sticky_clients

sys.path.insert(0, PROJECT)
from benchmarks import probe  # noqa: E402  (the project root is on the path only from here)

ROUTERS = tuple(GROUPS["bluegreen_routers"])
# molecule.yml provisions both routers with this bluegreen_preview_value.
PREVIEW = "molecule-preview-5b1d07c2"
# The watch's bound: back within this many seconds of the first 5xx on each router, which watches its own share (the
# issue's target is 2 s).
BOUND_S = 2.0


def epoch(stamp: str) -> float:
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.UTC).timestamp()


def states() -> dict:
    found = {name: module("haproxy_info", {"app": APP}, target=name) for name in ROUTERS}
    assert not [info for info in found.values() if info.get("failed")], found
    return found


def agreed() -> tuple:
    """(live, idle) as both routers say, consistent."""
    found = states()
    lives = {info["live_colour"] for info in found.values()}
    assert len(lives) == 1 and None not in lives and all(info["consistent"] for info in found.values()), found
    live = lives.pop()
    return live, "green" if live == "blue" else "blue"


def load(case: str, seconds: float, rate: float, routers: tuple = ROUTERS) -> dict:
    """The sticky clients on each router's live listener (of ``routers``), on two connections of ``rate`` requests a
    second each, for at most ``seconds``."""
    handles = {}
    for name in routers:
        router = address(name)
        handles[name] = probe.start(probe.ProbeConfig(
            base_url=f"http://{router}:80/", allow_hosts=(router,), case=f"{case} on {name}", keepalive_threads=0,
            newconn_threads=0, streams=0, clients=sticky_clients(), client_threads=2, duration=seconds,
            max_requests=20_000, rate=rate, timeout=5.0))
    time.sleep(1)
    return handles


def finished(handles: dict) -> dict:
    for handle in handles.values():
        handle.finish(1.0)
    return {name: handle.wait(timeout=30) for name, handle in handles.items()}


def test_the_preview_header_reaches_the_idle_colour_on_the_live_port_of_each_router():
    live, idle = agreed()
    for name in ROUTERS:
        router = host(name)
        answers = [get("http://127.0.0.1:80/", f"X-Bluegreen-Preview: {PREVIEW}", on=name),
                   get("http://127.0.0.1:80/", on=name), get("http://127.0.0.1:80/", "X-Bluegreen-Preview: wrong", on=name)]
        assert [(a["status"], a["colour"]) for a in answers] == [(200, idle), (200, live), (200, live)], (name, answers)
        # The router keeps the value's hash only.
        assert router.run(f"grep -rlF {PREVIEW} /etc/haproxy").rc == 1


def test_a_ramp_of_10_50_100_moves_each_client_once_to_one_colour_on_either_router_and_each_step_serves_its_share():
    old, new = agreed()
    handles = load("ramp", 120, 30.0)
    # force: the earlier tests switched back and forth between releases, and may have rolled one back.
    result = playbook("switch", json.dumps({"bluegreen_switch_steps": [10, 50, 100], "bluegreen_monitor_seconds": 4,
                                            "bluegreen_force": True}))
    runs = finished(handles)
    assert result.returncode == 0, result.output[-3000:]
    for name, run in runs.items():
        steps = history(on=name)[-3:]
        assert [(r["action"], r["to"], r["weights"][new], r["result"]) for r in steps] == [
            ("switch", new, 10, "ok"), ("switch", new, 50, "ok"), ("switch", new, 100, "ok")], name
        got = run.by_kind("client")
        assert len(got) > 500 and run.failures() == [], (name, [r.to_dict() for r in run.failures()][:5])
        # Every client saw one colour until it was moved, then the other, never back.
        for client in range(100):
            colours = [r.colour for r in got if r.client == client]
            moved = colours.index(new) if new in colours else len(colours)
            assert set(colours[:moved]) <= {old} and set(colours[moved:]) <= {new}, (name, client, colours)
        # Each step served its share: the clients whose bucket is below it, the same on either router.
        at = [epoch(r["time"]) for r in steps]
        for share, begin, end in ((10, at[0], at[1]), (50, at[1], at[2])):
            window = [r for r in got if begin + 0.3 <= r.start <= end - 0.3 and r.cookie]
            assert window and all((r.colour == new) == (bucket(r.cookie) < share) for r in window), (name, share)
            preset = [r for r in window if r.client < 100]
            served = 100 * sum(r.colour == new for r in preset) / len(preset)
            print(f"{name}, step {share}%: {len(preset)} requests of the 100 bucketed clients, {served:.1f}% served by {new}")
            assert abs(served - share) <= 3, (name, share, served)
    after = states()
    assert all(info["live_colour"] == new and info["weights"] == {old: 0, new: 100} for info in after.values()), after


@pytest.mark.alone  # the watch's bound, BOUND_S, holds on a machine that is not also running other scenarios
def test_a_build_answering_500_released_in_steps_is_stopped_at_its_first_step_on_both_routers():
    artifact = build_demo("7.0.0", broken="500")
    live, idle = agreed()
    before = {name: len(history(on=name)) for name in ROUTERS}
    handles = load("500 build", 60, 40.0)
    # No smoke check of "/": only /health, which this build answers, so the release reaches live traffic. Its first
    # step gets 10 % of the first router's 80 requests a second: the watch judges the rate once it has 8 of them.
    result = playbook("release", "bluegreen_version=7.0.0", f"bluegreen_artifact={artifact}",
                      '{"bluegreen_smoke_checks": [], "bluegreen_monitor_seconds": 20, "bluegreen_watch_interval": 1, '
                      '"bluegreen_switch_steps": [10, 50, 100], "bluegreen_watch_min_requests": 8}')
    runs = finished(handles)
    print(result.output[-3000:])
    assert result.returncode != 0
    assert f"the watch of {idle} found" in result.output and f"Switched all the traffic back to {live}" in result.output
    stepped = {}
    for name in ROUTERS:
        new = history(on=name)[before[name]:]
        step, *rest = new
        assert (step["action"], step["to"], step["versions"][idle], step["weights"][idle]) == ("release", idle, "7.0.0", 10)
        assert rest and rest[-1]["weights"][live] == 100 and rest[-1]["result"] == "ok", (name, new)
        stepped[name] = (epoch(step["time"]), epoch(rest[-1]["time"]))
    # Each router's own watch saw the breach in its own counts and switched it back (the controller need not be there).
    for name in ROUTERS:
        watcher = history(on=name)[-1]
        assert (watcher["action"], watcher["to"]) == ("auto-rollback", live) and watcher["watch"]["after_s"] <= BOUND_S, (name, watcher)
    for name, run in runs.items():
        failures = run.failures()
        # What failed is the broken build's own 500s, to the clients of the step's 10 buckets only, while it had them:
        # nothing was dropped by the switches, and no other client saw the broken build.
        assert {record.status for record in failures} == {500} and not [r for r in failures if r.error], name
        step_at, back_at = stepped[name]
        assert all(step_at - 1 <= record.start <= back_at + 1 for record in failures), name
        assert all(bucket(record.cookie) < 10 for record in failures if record.cookie), name
        first = min(record.start for record in failures)
        print(f"{name}: stepped at {step_at:.3f}, first 5xx {first:.3f}, back {back_at - first:.2f}s after it; "
              f"{len(failures)} of {len(run.records)} requests failed")
        # Each router is back within the bound, by its own watch: not a few Ansible tasks later (1.6 s later, when only
        # the first router watched).
        assert back_at - first <= BOUND_S + 0.5, name
    assert {info["live_colour"] for info in states().values()} == {live}


@pytest.mark.alone  # right after the test above, on the state it leaves
def test_a_rollback_right_after_refuses_and_both_routers_keep_serving_the_live_colour():
    live, _idle = agreed()
    handles = load("rollback refused", 30, 20.0)
    result = playbook("rollback")
    runs = finished(handles)
    assert result.returncode != 0
    assert "switched back by the watch" in result.output and "7.0.0" in result.output
    for name, run in runs.items():
        assert run.failures() == [] and {r.colour for r in run.records} == {live}, name
    assert agreed()[0] == live


@pytest.mark.alone  # the watch's bound, on the state the tests above leave
@pytest.mark.parametrize(("version", "steps"), [("8.0.0", [100]), ("8.1.0", [10, 100])], ids=["one step", "a 10% step"])
def test_a_router_that_serves_no_traffic_follows_the_one_whose_watch_sent_a_broken_build_back(version, steps):
    """A passive node: only the first router serves the load. A build that answers 500 breaches the first router's
    watch, which sends it back; the second router, which counted no request, sees it in its probes through the first
    router's listener and goes back by its own watch, not after the run's 20 s watch ends. At a step of 100 the
    probes find the old colour there; at a 10 % step too, since they carry the sticky key of the first bucket, which
    the new colour gets at any share (the router state's step_probe_headers)."""
    artifact = build_demo(version, broken="500")
    live, idle = agreed()
    before = {name: len(history(on=name)) for name in ROUTERS}
    handles = load("passive node", 40, 40.0, routers=ROUTERS[:1])
    result = playbook("release", f"bluegreen_version={version}", f"bluegreen_artifact={artifact}",
                      json.dumps({"bluegreen_smoke_checks": [], "bluegreen_monitor_seconds": 20, "bluegreen_watch_interval": 1,
                                  "bluegreen_watch_min_requests": 8, "bluegreen_switch_steps": steps}))
    finished(handles)
    print(result.output[-2000:])
    assert result.returncode != 0
    back = {}
    for name in ROUTERS:
        new = history(on=name)[before[name]:]
        assert new and (new[0]["action"], new[0]["to"], new[0]["weights"][idle]) == ("release", idle, steps[0]), (name, new)
        last = new[-1]
        # Each router went back by its own watch: an auto-rollback record with what its watch saw.
        assert (last["action"], last["to"], last["result"]) == ("auto-rollback", live, "ok") and "watch" in last, (name, new)
        back[name] = epoch(last["time"]) - epoch(new[0]["time"])
        print(f"{name}: back {back[name]:.2f}s after the switch ({last.get('reason')})")
    # Two probes a second apart fail once the first router is back; well before the 20 s watch would end.
    assert back[ROUTERS[1]] - back[ROUTERS[0]] <= 4.0, back
    assert {info["live_colour"] for info in states().values()} == {live}

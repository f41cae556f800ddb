# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Two HAProxy routers (bgf-router, bgf-router2): a change reaches both in two phases. Every router stages it (every
check, no routing changed), then all commit at one instant; a router that cannot stage stops it on every router."""

from __future__ import annotations

import re

from lab_helpers import APP, GROUPS, HISTORY, MAP_FILE, another_runs_lock, host, module, playbook

ROUTERS = tuple(GROUPS["bluegreen_routers"])
LOCK = f"/var/lib/bluegreen/{APP}/lock"
SPREAD = re.compile(r"was committed on (\d+) of (\d+) routers within ([0-9.]+) ms of each other")


def _routers() -> dict:
    """What each router says: its live colour, its map file and its history."""
    states = {}
    for name in ROUTERS:
        info = module("haproxy_info", {"app": APP}, target=name)
        files = host(name)
        states[name] = {"live": info["live_colour"], "consistent": info["consistent"],
                        "map": files.file(MAP_FILE).content_string, "history": files.file(HISTORY).content_string}
    return states


def test_the_scenario_has_two_routers_that_agree():
    assert len(ROUTERS) == 2
    states = _routers()
    assert {state["live"] for state in states.values()} != {None} and len({s["live"] for s in states.values()}) == 1, states
    assert all(state["consistent"] for state in states.values()), states


def test_a_router_that_cannot_stage_stops_the_switch_on_every_router():
    """The second router's map folder is made read-only: its stage, which writes the new map file beside the map,
    fails, and the first router, which staged, does not move either. (bluegreen_force: whatever the earlier tests
    left in the idle colour, the switch is refused for this router's fault alone.)"""
    before = _routers()
    folder = MAP_FILE.rsplit("/", 1)[0]
    host(ROUTERS[1]).check_output("mount --bind %s %s && mount -o remount,bind,ro %s", folder, folder, folder)
    try:
        result = playbook("switch", "bluegreen_force=true")
    finally:
        host(ROUTERS[1]).check_output("umount %s", folder)
    assert result.returncode != 0, result.output
    assert f"{ROUTERS[1]}: cannot write the map file {MAP_FILE}: Read-only file system" in result.output, result.output
    assert "No router was changed" in result.output and "was committed on" not in result.output
    assert _routers() == before


def test_another_runs_lock_on_the_second_router_stops_the_switch_before_any_router_moves():
    """A run whose inventory names other routers holds the app's lock on the second router: this run's stage finds it
    there, and no router moves (before, only the commit checked it, after the first router had moved)."""
    before = _routers()
    with another_runs_lock(on=ROUTERS[1]):
        result = playbook("switch", "bluegreen_force=true")
        held = host(ROUTERS[1]).file(LOCK).content_string
    assert result.returncode != 0, result.output
    assert f"{ROUTERS[1]}: app {APP} is locked by release by ops" in result.output, result.output
    assert "No router was changed" in result.output and "was committed on" not in result.output
    assert "release by ops" in held and not host(ROUTERS[0]).file(LOCK).exists
    assert _routers() == before


def test_a_switch_and_its_rollback_move_both_routers_at_one_instant():
    live = _routers()[ROUTERS[0]]["live"]
    idle = "green" if live == "blue" else "blue"
    for name, back in (("switch", idle), ("rollback", live)):
        result = playbook(name, "bluegreen_force=true")
        assert result.returncode == 0, result.output
        states = _routers()
        assert {state["live"] for state in states.values()} == {back} and all(s["consistent"] for s in states.values())
        found = SPREAD.search(result.output)
        assert found and found.group(1) == found.group(2) == "2", result.output
        # The two routers are containers on one clock: their commits are a scheduler's hiccup apart, not a round trip.
        print(f"{name}: the two routers committed within {found.group(3)} ms of each other ({result.wall_s:.1f} s run)")
        assert float(found.group(3)) < 250, result.output
        # The rollback reads no router first: the first router's stage took the lock, and the commit released it.
        assert not host(ROUTERS[0]).file(LOCK).exists, result.output


def test_routers_that_disagree_refuse_any_change_but_the_switch_to_a_named_colour_that_makes_them_agree():
    """The second router is sent to the idle colour behind the run's back (the module, ad hoc). A switch, which reads
    the routers first, refuses naming what each says; a rollback, which reads none first, refuses when their stages
    disagree (forced, so that the outcome of either release does not refuse it first); neither changes anything. The
    switch to a named colour, which their messages name, makes both agree."""
    live = _routers()[ROUTERS[0]]["live"]
    idle = "green" if live == "blue" else "blue"
    moved = module("haproxy_traffic", {"app": APP, "colour": idle, "force": True, "history": False}, target=ROUTERS[1])
    assert moved["changed"], moved
    before = _routers()
    refused = playbook("switch")
    assert refused.returncode != 0 and "The routers do not give one live colour" in refused.output, refused.output
    assert f"{ROUTERS[1]} says {idle}" in refused.output and "bluegreen_switch_to=blue or green" in refused.output
    refused = playbook("rollback", "bluegreen_force=true")
    assert refused.returncode != 0, refused.output
    assert (f"its routers do not agree on where it goes back from and to ({ROUTERS[0]}: {live} to {idle}, "
            f"{ROUTERS[1]}: {idle} to {live})") in refused.output, refused.output
    assert _routers() == before and not host(ROUTERS[0]).file(LOCK).exists
    agreed = playbook("switch", f"bluegreen_switch_to={live}")
    assert agreed.returncode == 0, agreed.output
    assert f"the routers disagree ({ROUTERS[0]} says {live}, {ROUTERS[1]} says {idle})" in agreed.output
    assert "committed on 1 of 2 routers" in agreed.output, agreed.output
    states = _routers()
    assert {state["live"] for state in states.values()} == {live} and all(s["consistent"] for s in states.values())


def test_a_router_whose_map_file_was_edited_by_hand_refuses_changes_until_the_switch_to_a_named_colour_writes_it():
    """Someone edits the second router's map file to the idle colour: what it routes (its memory) and what a reload
    would route (the file) disagree. A switch refuses naming both, and changes nothing; the switch to the live colour,
    which the message names, rewrites that file and moves no traffic."""
    live = _routers()[ROUTERS[0]]["live"]
    idle = "green" if live == "blue" else "blue"
    files = host(ROUTERS[1])
    text = files.file(MAP_FILE).content_string
    edited = "".join(line.replace(live, idle) if line.split()[:1] == [APP] else line for line in text.splitlines(True))
    assert edited != text, text
    files.check_output("printf %%s %s > %s", edited, MAP_FILE)
    before = _routers()
    assert before[ROUTERS[1]]["live"] == live and not before[ROUTERS[1]]["consistent"], before
    refused = playbook("switch")
    assert refused.returncode != 0 and "The routers do not give one live colour" in refused.output, refused.output
    assert f"{ROUTERS[1]} says {live} (runtime map {live}, map file {idle}" in " ".join(refused.output.split())
    assert _routers() == before and not host(ROUTERS[0]).file(LOCK).exists
    mended = playbook("switch", f"bluegreen_switch_to={live}")
    assert mended.returncode == 0, mended.output
    assert f"{ROUTERS[1]}'s own sources disagree (runtime map {live}, map file {idle})" in " ".join(mended.output.split())
    assert f"committed on 0 of 2 routers (the others already routed it so); the map file of {ROUTERS[1]}, which said " \
        "otherwise, was written to match" in " ".join(mended.output.split()), mended.output
    states = _routers()
    assert {state["live"] for state in states.values()} == {live} and all(s["consistent"] for s in states.values())
    assert states[ROUTERS[0]]["map"] == before[ROUTERS[0]]["map"] and states[ROUTERS[1]]["map"] == text

# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Standby and clean-up in the fleets topology, from the state the earlier tests left (read here, not assumed; the
inventory is Molecule's plus tests/grow.yml): a release with bluegreen_standby stops the colour that was live after its
time, its release kept; status says so; a rollback typed afterwards starts it, waits for its health and then routes to
it, saying it is slower; a deploy into a colour cancels the standby timer that would stop it; cleanup prunes old
releases and never one a colour links to; a bad bluegreen_standby is refused changing nothing.
"""

from __future__ import annotations

import os
import re
import time

import pytest
from lab_helpers import APP, MAP_FILE, ROUTER, build_demo, host, live, module, playbook

GROW = os.path.join(os.path.dirname(__file__), "grow.yml")
FLEETS = {"blue": ("bgf-app1", "bgf-app2"), "green": ("bgf-app3", "bgf-app5")}
ROOT = f"/opt/bluegreen/{APP}"


def live_colour() -> str:
    return module("haproxy_info", {"app": APP})["live_colour"]


def other(colour: str) -> str:
    return "green" if colour == "blue" else "blue"


def unit_state(name: str, colour: str) -> str:
    return host(name).run(f"systemctl is-active {APP}@{colour}.service").stdout.strip()


def timer_state(name: str, colour: str) -> str:
    return host(name).run(f"systemctl is-active bluegreen-standby-{APP}-{colour}.timer").stdout.strip()


def run(name: str, *extra: str, check: bool = False):
    return playbook(name, *extra, check=check, extra_inventory=GROW)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("standby")
    built = {}
    for version in ("6.0.0", "6.1.0"):
        built[version] = build_demo(version, str(folder))
    return built


def test_a_bad_standby_is_refused_naming_it_and_changes_nothing(artifacts):
    before = host(ROUTER).file(MAP_FILE).content_string
    for value in ("-5", "soon"):
        result = run("release", f"bluegreen_standby={value}", "bluegreen_version=6.0.0",
                     f"bluegreen_artifact={artifacts['6.0.0']}")
        assert result.returncode != 0
        assert "bluegreen_standby must be keep or a whole number of seconds" in result.output, result.output
    assert host(ROUTER).file(MAP_FILE).content_string == before


def test_a_release_with_standby_stops_the_colour_that_was_live_after_its_time_keeping_its_release(artifacts):
    old = live_colour()
    new = other(old)
    result = run("release", "bluegreen_standby=3", "bluegreen_version=6.0.0", f"bluegreen_artifact={artifacts['6.0.0']}")
    assert result.returncode == 0, result.output
    assert f"{old} (" in result.output and "stops in 3 s" in result.output, result.output
    assert live_colour() == new
    # Stopping takes the app's own time after the timer fires (deactivating, then inactive).
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and any(unit_state(name, old) != "inactive" for name in FLEETS[old]):
        time.sleep(1)
    assert {unit_state(name, old) for name in FLEETS[old]} == {"inactive"}
    # Its release stays, linked: a rollback has it to go back to.
    assert all(host(name).file(f"{ROOT}/{old}").exists for name in FLEETS[old])
    assert {(a["colour"], a["version"]) for a in live(10)} == {(new, "6.0.0")}
    status = run("status")
    assert status.returncode == 0 and f"STOPPED on {', '.join(FLEETS[old])}" in status.output, status.output


def test_a_rollback_to_the_stopped_colour_starts_it_and_waits_for_its_health_first():
    stopped = other(live_colour())
    result = run("rollback")
    assert result.returncode == 0, result.output
    assert f"{stopped}" in result.output and "starting it and waiting for its health before any traffic moves" in result.output
    assert "slower" in result.output
    assert live_colour() == stopped
    assert {unit_state(name, stopped) for name in FLEETS[stopped]} == {"active"}
    assert {a["colour"] for a in live(10)} == {stopped}


def test_a_deploy_into_a_colour_cancels_the_timer_that_would_stop_it(artifacts):
    old = live_colour()
    new = other(old)
    # Forced: the rollback above marked the release of that colour as rolled back.
    switched = run("switch", "bluegreen_standby=600", "bluegreen_force=true")
    assert switched.returncode == 0, switched.output
    assert live_colour() == new
    assert {timer_state(name, old) for name in FLEETS[old]} == {"active"}
    deployed = run("deploy", "bluegreen_version=6.1.0", f"bluegreen_artifact={artifacts['6.1.0']}")
    assert deployed.returncode == 0, deployed.output
    assert {timer_state(name, old) for name in FLEETS[old]} == {"inactive"}
    assert {unit_state(name, old) for name in FLEETS[old]} == {"active"}


def test_cleanup_prunes_old_releases_and_never_one_a_colour_links_to():
    linked = {name: {os.path.basename(host(name).file(f"{ROOT}/{colour}").linked_to) for colour in ("blue", "green")
                     if host(name).file(f"{ROOT}/{colour}").exists} for name in FLEETS["blue"] + FLEETS["green"]}
    before = {name: set(host(name).file(f"{ROOT}/releases").listdir()) for name in linked}
    assert any(len(held) > 1 for held in before.values()), before
    dry = run("cleanup", "bluegreen_keep_releases=1", check=True)
    assert dry.returncode == 0 and "would remove" in dry.output, dry.output
    assert {name: set(host(name).file(f"{ROOT}/releases").listdir()) for name in linked} == before
    done = run("cleanup", "bluegreen_keep_releases=1")
    assert done.returncode == 0, done.output
    for name, held in linked.items():
        left = set(host(name).file(f"{ROOT}/releases").listdir())
        assert held <= left and len(left) <= len(held) + 1, (name, held, left)
    again = run("cleanup", "bluegreen_keep_releases=1")
    assert again.returncode == 0 and not re.search(r"changed=[1-9]", again.output), again.output
    refused = run("cleanup", "bluegreen_keep_releases=0")
    assert refused.returncode != 0 and "bluegreen_keep_releases must be" in refused.output

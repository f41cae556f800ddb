# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleets topology on Nginx, with the watch on Nginx's own per-colour counts (the app's counts log).

The app "fleetweb" on the scenario's router, on a port of its own: blue is bgn-app1, green is bgn-app2 (one colour per
host, from the groups of a small inventory of the test's own). 1.0.0 goes to blue, then 2.0.0 to green in weighted steps
under load, each step judged on the requests and 5xx the router logged for green; then a build that answers 500 to
everything but its health path, which the probes and the smoke test pass, is stopped at its first step by those counts
alone, and every client is back on green.

Runs last; leaves fleetweb on the router and its hosts (the scenario's lab ends after it).
"""

from __future__ import annotations

import json
import os
import re

import pytest
import yaml
from lab_helpers import APPS, PROJECT, ROUTER, address, get, history, host, playbook, probe

APP = "fleetweb"
BLUE, GREEN = APPS[0], "bgn-app2"
ARTIFACTS = os.path.join(PROJECT, ".cache", "artifacts")
PORT = 8430
SETTINGS = {
    "bluegreen_app": APP,
    "bluegreen_app_group": "fleetweb_hosts",
    "bluegreen_topology": "fleets",
    "bluegreen_fleet_groups": {"blue": "fleetweb_blue", "green": "fleetweb_green"},
    "bluegreen_ports": {"blue": 8431, "green": 8432},
    "bluegreen_listen_port": PORT,
    "bluegreen_preview_port": 8439,
    "bluegreen_health_host": "",
}
# Each request's colour comes from the X-Bluegreen-Colour header the router adds, its version from the app's.
STEPS = '{"bluegreen_switch_steps": [50, 100], "bluegreen_monitor_seconds": 6, "bluegreen_watch_min_requests": 8}'


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> str:
    inventory = tmp_path_factory.mktemp("fleetweb") / "fleetweb.yml"
    inventory.write_text(yaml.safe_dump({
        "fleetweb_hosts": {"children": {"fleetweb_blue": {"hosts": {BLUE: None}}, "fleetweb_green": {"hosts": {GREEN: None}}}},
    }))
    return str(inventory)


def run(lab: str, name: str, *extra: str):
    return playbook(name, json.dumps(SETTINGS), *extra, extra_inventory=lab)


def release(lab: str, version: str, artifact: str, *extra: str):
    return run(lab, "release", f"bluegreen_version={version}", f"bluegreen_artifact={ARTIFACTS}/{artifact}", *extra)


def under_load(action):
    """Run ``action`` under a bounded load on the app's live port (from this machine to the router container)."""
    router = address(ROUTER)
    load = probe.start(probe.ProbeConfig(base_url=f"http://{router}:{PORT}/", allow_hosts=(router,), case="nginx fleets",
                                         keepalive_threads=1, newconn_threads=1, streams=0, duration=120, max_requests=6000,
                                         rate=20.0, timeout=5.0))
    try:
        result = action()
    finally:
        load.stop()
    return result, load.wait(timeout=30)


def served(count: int = 6) -> set:
    return {(a["colour"], a["version"], a["host"]) for a in (get(f"http://127.0.0.1:{PORT}/") for _attempt in range(count))}


def test_each_colour_is_its_own_host_and_green_takes_2_0_0_step_by_step_judged_on_the_routers_counts(lab):
    assert run(lab, "provision").returncode == 0
    first = release(lab, "1.0.0", "demo-app-1.0.0.tar.gz")
    assert first.returncode == 0, first.output
    assert served() == {("blue", "1.0.0", BLUE)}
    result, load = under_load(lambda: release(lab, "2.0.0", "demo-app-2.0.0.tar.gz", STEPS))
    assert result.returncode == 0, result.output
    assert served() == {("green", "2.0.0", GREEN)}
    # Each upstream file names its colour's own host.
    for colour, app_host, port in (("blue", BLUE, 8431), ("green", GREEN, 8432)):
        upstream = host(ROUTER).file(f"/etc/nginx/bluegreen/{APP}/upstream-{colour}.conf").content_string
        assert f"{address(app_host)}:{port}" in upstream, upstream
    # Each step was judged on the requests nginx logged for green, with no 5xx, and no client saw a failure (but for
    # the keep-alive race of a reload).
    judged = [int(n) for n in re.findall(r"it served (\d+) requests with 0 5xx as the router counts them", result.output)]
    assert len(judged) == 2 and all(n > 0 for n in judged), result.output
    assert not _beyond_reloads(load.failures()), load.summary()
    assert {rec.colour for rec in load.records} >= {"blue", "green"}, load.summary()


def test_a_build_answering_500_is_stopped_at_its_first_step_by_the_counts_alone(lab):
    """3.1.0 answers 500 to everything but its health path: with no smoke or monitor checks of other paths, the health
    probes pass, so only the counts of blue in the app's counts log can stop it."""
    result, load = under_load(lambda: release(
        lab, "3.1.0", "demo-app-3.1.0-broken-500.tar.gz", STEPS[:-1] + ', "bluegreen_smoke_checks": [], "bluegreen_monitor_checks": []}'))
    assert result.returncode != 0, result.output
    assert "the watch of blue found" in result.output and "Switched all the traffic back to green" in result.output, result.output
    answered = re.search(r"blue answered (\d+) of (\d+) requests with 5xx", result.output)
    assert answered and int(answered.group(1)) > 0, result.output
    back = history(APP)[-1]
    assert (back["action"], back["to"], back["result"], back["weights"]["green"]) == ("auto-rollback", "green", "ok", 100), back
    assert back["watch"]["http_5xx"] > 0
    assert served() == {("green", "2.0.0", GREEN)}
    # The clients' failures are blue's 500s, at most half the requests while the first step lasted, and none after it.
    failed = _beyond_reloads(load.failures())
    assert failed and {(rec.status, rec.colour) for rec in failed} == {(500, "blue")}, load.summary()
    assert len(failed) < len(load.records) / 2, load.summary()


def _beyond_reloads(failed: list) -> list:
    """The failures other than a keep-alive connection nginx closed as a reload retired its worker, before the request
    on it was read (docs/nginx.md, "Keep-alive clients and the reload"; nginx before 1.27.4); every
    step is a reload. New connections see none."""
    return [rec for rec in failed if not (rec.kind == "keepalive" and rec.reused and rec.error == "RemoteDisconnected")]

# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Another host, bgf-app5, joins the idle green fleet: provision puts it in green's backend without touching
live traffic (checked under a bounded load through the non-retrying probe), and the next release
reaches it.
"""

from __future__ import annotations

import os
import sys
import time

from lab_helpers import APP, APP_CFG, PROJECT, ROUTER, address, host, live, module, playbook

sys.path.insert(0, PROJECT)
from benchmarks import probe  # noqa: E402  (the project root is on the path only from here)

GROW = os.path.join(os.path.dirname(__file__), "grow.yml")
ARTIFACTS = os.path.join(PROJECT, ".cache", "artifacts")
NEW = "bgf-app5"


def test_provision_adds_the_host_to_its_colour_without_touching_live_traffic():
    router = address(ROUTER)
    config = probe.ProbeConfig(
        base_url=f"http://{router}:80/", allow_hosts=(router,), case="molecule fleets grow",
        keepalive_threads=2, newconn_threads=1, streams=0, duration=240, max_requests=30_000, rate=20.0, timeout=5.0,
    )
    handle = probe.start(config)
    result = playbook("provision", extra_inventory=GROW)
    handle.stop()
    run = handle.wait(timeout=30)
    assert result.returncode == 0, result.output
    summary = run.summary()
    print(summary)
    for kind in ("keepalive", "newconn"):
        counts = summary["kinds"][kind]
        assert counts["requests"] > 20, counts
        assert counts["failed"] == 0, (kind, counts, [r.to_dict() for r in run.failures()][:5])
        assert set(counts["colours"]) == {"blue"}, counts
    green = host(ROUTER).file(APP_CFG).content_string.split(f"backend {APP}_green")[1]
    assert f"server {NEW} {address(NEW)}:8002 check" in green
    # The new host runs no release yet, so HAProxy's check takes it out of green (fall 2, inter 1s)
    # until one is deployed.
    for _attempt in range(20):
        info = module("haproxy_info", {"app": APP})
        if info["backends"]["green"]["up"] == 1:
            break
        time.sleep(1)
    assert info["live_colour"] == "blue"
    assert (info["backends"]["green"]["up"], info["backends"]["green"]["total"]) == (1, 2), info["backends"]


def test_the_next_release_reaches_the_new_host():
    result = playbook("release", "bluegreen_version=2.0.0", f"bluegreen_artifact={ARTIFACTS}/demo-app-2.0.0.tar.gz",
                      extra_inventory=GROW)
    assert result.returncode == 0, result.output
    assert host(NEW).file(f"/opt/bluegreen/{APP}/green").linked_to == f"/opt/bluegreen/{APP}/releases/2.0.0"
    answers = live(15)
    assert {(a["colour"], a["version"]) for a in answers} == {("green", "2.0.0")}
    assert {a["host"] for a in answers} == {"bgf-app3", NEW}

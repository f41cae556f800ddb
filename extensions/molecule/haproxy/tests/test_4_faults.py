# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Faults on real hosts, each under the project's bounded load client, each checked for nothing lost.

In order, on the lab the earlier tests left: a deploy during a release (refused, naming the holder; with a wait, it
queues), the controller killed mid-release (then unlock, then the same release converges), HAProxy stopped between a
deploy and a switch, and an app host unreachable during a release. Load goes only to the router container's bridge
address, through benchmarks/probe.py, bounded in requests and seconds. Each test reads the state it starts from.

A build that answers 500 released in weighted steps, stopped at its first step within the watch's bound, is the fleets
scenario's, on two routers (test_8_two_routers.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from lab_helpers import (
    APP,
    APPS,
    MAP_FILE,
    PROJECT,
    ROUTER,
    address,
    another_runs_lock,
    build_demo,
    history,
    host,
    live,
    module,
    playbook,
    playbook_in_background,
)

sys.path.insert(0, PROJECT)
from benchmarks import probe  # noqa: E402  (the project root is on the path only from here)

ARTIFACTS = os.path.join(PROJECT, ".cache", "artifacts")
LOCK = f"/var/lib/bluegreen/{APP}/lock"
WORK = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp")


def load(case: str, seconds: float) -> probe.ProbeHandle:
    """The bounded load client on the router's live listener: about 60 requests a second, for at most ``seconds``."""
    router = address(ROUTER)
    config = probe.ProbeConfig(base_url=f"http://{router}:80/", allow_hosts=(router,), case=case, streams=0,
                               keepalive_threads=2, newconn_threads=1, rate=20.0, duration=seconds, max_requests=20_000,
                               timeout=5.0)
    handle = probe.start(config)
    time.sleep(1)
    return handle


def finished(handle: probe.ProbeHandle) -> probe.Result:
    handle.stop()
    return handle.wait(timeout=30)


def state() -> dict:
    info = module("haproxy_info", {"app": APP})
    assert not info.get("failed"), info
    return info


def map_file() -> str:
    return host(ROUTER).file(MAP_FILE).content_string


def lock_held() -> bool:
    return host(ROUTER).file(LOCK).exists


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"waited {seconds}s for {what}"
        time.sleep(0.5)


def test_a_deploy_during_a_release_is_refused_naming_the_holder_or_waits_and_undoes_nothing():
    artifacts = {version: build_demo(version) for version in ("6.0.0", "7.0.0")}
    live_colour = state()["live_colour"]
    idle = "green" if live_colour == "blue" else "blue"
    handle = load("deploy during release", 120)
    release = playbook_in_background("release", "bluegreen_version=6.0.0", f"bluegreen_artifact={artifacts['6.0.0']}",
                                     '{"bluegreen_monitor_seconds": 8}', output=os.path.join(WORK, "release-6.log"))
    wait_for(lock_held, 60, "the release to take the lock")
    refused = playbook("deploy", "bluegreen_version=7.0.0", f"bluegreen_artifact={artifacts['7.0.0']}")
    assert refused.returncode != 0
    assert "is locked by" in refused.output and "controller" in refused.output and "PID" in refused.output
    # A deploy told to wait queues behind the release, then deploys into the colour the release left idle.
    waited = playbook("deploy", "bluegreen_version=7.0.0", f"bluegreen_artifact={artifacts['7.0.0']}", "bluegreen_lock_wait=120")
    assert release.wait(timeout=300) == 0, open(os.path.join(WORK, "release-6.log"), encoding="utf-8").read()[-3000:]
    assert waited.returncode == 0, waited.output[-3000:]
    run = finished(handle)
    assert run.failures() == [], [r.to_dict() for r in run.failures()][:5]
    # Nothing was undone: the release is live, and the queued deploy went to the colour it left idle.
    after = state()
    assert after["live_colour"] == idle and {a["version"] for a in live(4)} == {"6.0.0"}
    for app_host in APPS:
        links = host(app_host).check_output(f"readlink /opt/bluegreen/{APP}/{live_colour} /opt/bluegreen/{APP}/{idle}")
        assert links.split() == ["releases/7.0.0", "releases/6.0.0"]
    assert not lock_held()


def test_a_controller_killed_mid_release_leaves_a_stale_lock_that_unlock_releases_then_the_release_converges():
    artifact = build_demo("8.0.0")
    extra = ("bluegreen_version=8.0.0", f"bluegreen_artifact={artifact}", "bluegreen_monitor_seconds=2")
    killed = playbook_in_background("release", *extra, output=os.path.join(WORK, "release-8-killed.log"))
    wait_for(lock_held, 60, "the release to take the lock")
    time.sleep(2)
    os.kill(killed.pid, signal.SIGKILL)  # the controller's ansible-playbook, as a kill -9 or a lost machine would
    killed.wait(timeout=30)
    assert lock_held()
    again = playbook("release", *extra)
    assert again.returncode != 0
    assert "That lock is stale" in again.output and f"process {killed.pid} is gone from this controller" in again.output
    unlock = playbook("unlock")
    assert unlock.returncode == 0, unlock.output[-3000:]
    assert "stale" in unlock.output and f"process {killed.pid} is gone" in unlock.output and not lock_held()
    converged = playbook("release", *extra)
    assert converged.returncode == 0, converged.output[-3000:]
    assert {a["version"] for a in live(4)} == {"8.0.0"} and not lock_held()


def test_a_live_lock_is_not_released_by_unlock_without_force():
    with another_runs_lock(controller={"host": os.uname().nodename, "pid": os.getpid(), "started": None}):
        refused = playbook("unlock")
        assert refused.returncode != 0 and f"process {os.getpid()} is still running on this controller" in refused.output
        assert lock_held()
        forced = playbook("unlock", "bluegreen_force=true")
        assert forced.returncode == 0 and not lock_held()


def test_haproxy_stopped_between_the_deploy_and_the_switch_fails_clearly_and_half_switches_nothing():
    artifact = build_demo("9.0.0")
    before = state()
    deployed = playbook("deploy", "bluegreen_version=9.0.0", f"bluegreen_artifact={artifact}")
    assert deployed.returncode == 0, deployed.output[-3000:]
    map_before = map_file()
    host(ROUTER).check_output("systemctl stop haproxy")
    try:
        result = playbook("switch")
        assert result.returncode != 0
        assert "/run/haproxy/admin.sock" in result.output and "Traceback" not in result.output
        # The router's own words first: it did not answer; the socket variable is only a suspect.
        said = " ".join(result.output.split())
        assert f"Cannot reach the haproxy router for {APP}: " in said and "If it runs there" in said, said
        assert "it needs bluegreen_haproxy_socket to be right" not in said
        assert map_file() == map_before and not lock_held()
    finally:
        host(ROUTER).check_output("systemctl start haproxy")
    wait_for(lambda: live(1)[0]["status"] == 200, 30, "HAProxy to serve again")
    handle = load("after haproxy restart", 8)
    run = finished(handle)
    assert run.failures() == [] and {r.colour for r in run.records} == {before["live_colour"]}
    assert state()["live_colour"] == before["live_colour"]


def test_an_app_host_unreachable_during_a_release_switches_nothing():
    artifact = build_demo("10.0.0")
    before, history_before = state(), history()
    unreachable = APPS[-1]
    try:
        # Its sshd stopped and its sessions ended: new connections are refused (Podman runs the container here).
        subprocess.run(["podman", "exec", unreachable, "sh", "-c", "systemctl stop ssh.service; pkill -f '^sshd: '; true"],
                       check=True, capture_output=True, timeout=60)
        handle = load("unreachable app host", 60)
        result = playbook("release", "bluegreen_version=10.0.0", f"bluegreen_artifact={artifact}")
        run = finished(handle)
        assert result.returncode != 0
        assert "UNREACHABLE" in result.output and "No traffic was moved" in result.output
        assert run.failures() == [] and {r.colour for r in run.records} == {before["live_colour"]}
        assert state()["live_colour"] == before["live_colour"]
        assert [r for r in history()[len(history_before):] if r.get("result") == "ok" and r.get("to")] == []
        assert not lock_held()
    finally:
        subprocess.run(["podman", "exec", unreachable, "systemctl", "start", "ssh.service"], check=True, capture_output=True,
                       timeout=60)

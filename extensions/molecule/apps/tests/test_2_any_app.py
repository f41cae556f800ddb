# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real app as its CI builds it, on the scenario's router: examples/notes-app/ (Flask and waitress, its wheels inside
an archive with one top-level folder, a venv made by the build step, started by an interpreter with arguments, its
notes in a shared dir that survives releases, answering only its own host name). A first release that crashes on
start, released twice, then every way a release of it can go wrong: a wrong checksum, the same version from another
artifact, an archive whose root is 0700, a build step that fails, a build that crashes on start, and a rollback right
after.

Runs after the many-apps tests: the app gets its host name on the router's shared port 80.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time

import pytest
from lab_helpers import APPS, PROJECT, ROUTER, _playbook_command, address, host, inventory, playbook

APP = "notes"
NAME = "notes.example.test"
ARTIFACTS = os.path.join(PROJECT, ".cache", "artifacts")
BUILD = os.path.join(PROJECT, "examples", "notes-app", "build.py")
VARS = os.path.join(PROJECT, "examples", "notes-app", "notes.yml")
# What the scenario's router needs beside examples/notes-app/notes.yml: the app's own ports, its host name on the shared
# port 80, its preview listener on a port of its own (the probes through it send bluegreen_health_host).
ROUTER_VARS = {"bluegreen_ports": {"blue": 8301, "green": 8302}, "bluegreen_hostnames": [NAME], "bluegreen_listen_port": 80,
               "bluegreen_preview_port": 8380}
HISTORY = f"/var/lib/bluegreen/{APP}/history.jsonl"
ROOT = f"/opt/bluegreen/{APP}"


def build(version: str, *extra: str) -> str:
    done = subprocess.run([sys.executable, BUILD, "--version", version, *extra, "--out", ARTIFACTS], capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip().splitlines()[-1]


def sha256(path: str) -> str:
    with open(path, "rb") as handle:
        return "sha256:" + hashlib.sha256(handle.read()).hexdigest()


@pytest.fixture(scope="module")
def artifacts() -> dict:
    return {
        "1.0.0": build("1.0.0"),
        "1.0.0-zip": build("1.0.0", "--format", "zip"),
        "2.0.0": build("2.0.0", "--format", "zip"),
        "3.0.0": build("3.0.0", "--mode-0700"),
        "4.0.0": build("4.0.0", "--broken", "build"),
        "5.0.0": build("5.0.0", "--broken", "crash"),
    }


def run(name: str, *extra: str):
    return playbook(name, f"@{VARS}", json.dumps(ROUTER_VARS), *extra)


def release(version: str, artifact: str, checksum: str | None = None, *extra: str):
    return run("release", f"bluegreen_version={version}", f"bluegreen_artifact={artifact}",
               f"bluegreen_artifact_checksum={checksum or sha256(artifact)}", *extra)


def served(path: str = "/", method: str = "GET", data: str | None = None, base: str = "http://127.0.0.1:80") -> tuple:
    """(status, body) of one request by the app's host name, through the router unless ``base`` says where."""
    body = f"-X {method} -H 'Content-Type: application/json' --data '{data}'" if data else ""
    out = host(ROUTER).check_output(f"curl -s -m 5 -H 'Host: {NAME}' {body} -w '\\n%{{http_code}}' {base}{path}")
    text, _sep, status = out.rpartition("\n")
    return int(status), text


def health() -> dict:
    status, text = served("/health")
    assert status == 200, (status, text)
    return json.loads(text)


def state() -> dict:
    """What a refused release must leave as it was: the router's files, the history, each app host's releases."""
    router = host(ROUTER)
    files = {path: router.file(path).content_string for path in
             ("/etc/haproxy/maps/bluegreen.map", f"/etc/haproxy/bluegreen.d/{APP}.cfg", HISTORY)}
    releases = {name: sorted(host(name).file(f"{ROOT}/releases").listdir()) for name in APPS}
    links = {name: (host(name).file(f"{ROOT}/blue").linked_to, host(name).file(f"{ROOT}/green").linked_to) for name in APPS}
    return {"files": files, "releases": releases, "links": links}


def test_provision_installs_the_packages_and_the_router_checks_the_app_by_its_host_name():
    result = run("provision")
    assert result.returncode == 0, result.output
    for name in APPS:
        assert host(name).package("python3-venv").is_installed
        shared = host(name).file(f"{ROOT}/shared")
        assert (shared.is_directory, shared.user, shared.mode) == (True, APP, 0o750)
    part = host(ROUTER).file(f"/etc/haproxy/bluegreen.d/{APP}.cfg").content_string
    # Flask with SERVER_NAME answers 404 to any other Host: HAProxy's check of each server sends the app's.
    assert f"hdr Host {NAME}" in part, part


def test_a_first_release_that_crashes_on_start_leaves_its_colour_with_no_release(artifacts):
    result = release("5.0.0", artifacts["5.0.0"], None, "bluegreen_app_start_timeout=15")
    assert result.returncode != 0
    assert "RuntimeError: notes: broken build, refusing to start" in result.output, result.output
    assert "blue is back on no release" in " ".join(result.output.split()), result.output
    for name in APPS:
        # Unlinked as well as stopped: no later switch or status takes the failed release for the colour's.
        assert not host(name).file(f"{ROOT}/blue").exists
        assert not host(name).service(f"{APP}@blue").is_running
    status = run("status")
    assert status.returncode == 0, status.output
    assert "5.0.0" not in status.output, status.output


def test_the_first_release_builds_a_venv_and_serves_through_the_router(artifacts):
    result = release("1.0.0", artifacts["1.0.0"])
    assert result.returncode == 0, result.output
    assert (health()["version"], health()["status"]) == ("1.0.0", "ok")
    for name in APPS:
        # A note on each app host (the shared dir is each host's own), written by the live colour, blue.
        status, _text = served("/notes", "POST", json.dumps({"text": "written by 1.0.0"}), f"http://{address(name)}:8301")
        assert status == 201
        release_dir = host(name).file(f"{ROOT}/releases/1.0.0")
        # The archive's top folder is stripped; the build made .venv; the release is root's, readable by the app.
        assert set(host(name).check_output(f"ls -A {ROOT}/releases/1.0.0").split()) >= {"notes", "wheels", ".venv", "data"}
        assert (release_dir.user, release_dir.mode) == ("root", 0o755)
        assert host(name).file(f"{ROOT}/releases/1.0.0/data").linked_to == f"{ROOT}/shared/data"
        dropin = host(name).file(f"/etc/systemd/system/{APP}@blue.service.d/bluegreen-release.conf").content_string
        assert f"ExecStart={ROOT}/blue/.venv/bin/python -m waitress --port=${{PORT}} --call notes:create_app" in dropin
        assert "LimitNOFILE=4096" in dropin
        record = json.loads(host(name).file(f"{ROOT}/releases/1.0.0/.bluegreen-release.json").content_string)
        assert record == {"version": "1.0.0", "sha256": sha256(artifacts["1.0.0"]), "complete": True}


def test_the_second_release_from_a_zip_keeps_the_shared_notes(artifacts):
    result = release("2.0.0", artifacts["2.0.0"])
    assert result.returncode == 0, result.output
    assert health()["version"] == "2.0.0"
    status, text = served("/")
    assert status == 200 and "written by 1.0.0" in text
    # How long a release of this app takes over SSH, beside a one-task playbook on the same inventory.
    one_task = os.path.join(inventory(), "one-task.yml")
    with open(one_task, "w", encoding="utf-8") as handle:
        handle.write("- hosts: bluegreen_apps\n  gather_facts: false\n  tasks:\n    - ansible.builtin.ping:\n")
    _command, env = _playbook_command("release", (), False, None)
    started = time.monotonic()
    ping = subprocess.run(["ansible-playbook", "-i", inventory(), one_task], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    ping_s = time.monotonic() - started
    assert ping.returncode == 0, ping.stdout + ping.stderr
    again = release("1.0.0", artifacts["1.0.0"])  # back to 1.0.0, already unpacked and built: a switch-back release
    assert again.returncode == 0, again.output
    print(f"notes release 2.0.0 (unpack, build, start, smoke, switch): {result.wall_s:.1f} s; "
          f"release of 1.0.0 already in place: {again.wall_s:.1f} s; one-task playbook: {ping_s:.1f} s")
    result = release("2.0.0", artifacts["2.0.0"])
    assert result.returncode == 0 and health()["version"] == "2.0.0", result.output


def test_a_wrong_checksum_is_refused_before_anything_changes(artifacts):
    before = state()
    result = release("3.0.0", artifacts["3.0.0"], "sha256:" + "0" * 64)
    assert result.returncode != 0
    assert "bluegreen_artifact_checksum" in result.output and sha256(artifacts["3.0.0"]) in result.output, result.output
    assert state() == before and health()["version"] == "2.0.0"


def test_the_same_version_from_another_artifact_is_refused_naming_both_checksums(artifacts):
    before = state()
    # Blue, the idle colour, holds 1.0.0 from the tar.gz; this is a zip of the same version.
    result = release("1.0.0", artifacts["1.0.0-zip"])
    assert result.returncode != 0
    assert sha256(artifacts["1.0.0"]) in result.output and sha256(artifacts["1.0.0-zip"]) in result.output, result.output
    assert "bluegreen_redeploy" in result.output
    assert state()["releases"] == before["releases"] and state()["links"] == before["links"]
    assert health()["version"] == "2.0.0"


def test_an_archive_whose_root_is_0700_is_released(artifacts):
    result = release("3.0.0", artifacts["3.0.0"])
    assert result.returncode == 0, result.output
    assert health()["version"] == "3.0.0"
    for name in APPS:
        assert host(name).file(f"{ROOT}/releases/3.0.0").mode == 0o755


def test_a_failing_build_switches_nothing_keeps_no_release_and_shows_its_output(artifacts):
    before = state()
    result = release("4.0.0", artifacts["4.0.0"])
    assert result.returncode != 0
    assert "notes: this build is broken on purpose" in result.output and "sh build.sh" in result.output, result.output
    assert health()["version"] == "3.0.0"
    after = state()
    assert after["releases"] == before["releases"] and after["links"] == before["links"]
    assert after["files"]["/etc/haproxy/maps/bluegreen.map"] == before["files"]["/etc/haproxy/maps/bluegreen.map"]


def test_a_build_that_crashes_on_start_is_explained_with_its_journal_then_rollback_works(artifacts):
    result = release("5.0.0", artifacts["5.0.0"], None, "bluegreen_app_start_timeout=15")
    assert result.returncode != 0
    assert "RuntimeError: notes: broken build, refusing to start" in result.output, result.output
    assert "notes@green" in result.output and "ActiveState=" in result.output
    assert health()["version"] == "3.0.0"
    # The idle colour went back to what it ran, so the rollback typed right after is instant and safe.
    back = run("rollback")
    assert back.returncode == 0, back.output
    assert health()["version"] == "2.0.0"
    status, text = served("/")
    assert status == 200 and "written by 1.0.0" in text


class ArtifactStore:
    """A CI artifact store on the controller's loopback, which the lab hosts cannot reach: it serves the files of
    ARTIFACTS to requests with the right token, and counts them."""

    def __init__(self, token: str) -> None:
        import http.server
        import threading

        store = self
        self.requests = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the standard library's name
                store.requests += 1
                path = os.path.join(ARTIFACTS, os.path.basename(self.path))
                if self.headers.get("Authorization") != f"Bearer {token}" or not os.path.isfile(path):
                    self.send_error(401 if os.path.isfile(path) else 404)
                    return
                with open(path, "rb") as handle:
                    data = handle.read()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{os.path.basename(path)}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_url_artifact_is_fetched_once_by_the_controller_with_a_token_never_shown():
    artifact = build("6.0.0")
    store = ArtifactStore("tok-3b9d")
    try:
        common = (f"bluegreen_artifact={store.url(artifact)}", "bluegreen_artifact_fetch=controller")
        refused = run("release", "bluegreen_version=6.0.0", *common,
                      json.dumps({"bluegreen_artifact_headers": {"Authorization": "Bearer wrong-51"}}))
        assert refused.returncode != 0 and "on the controller failed" in refused.output and "401" in refused.output, refused.output
        assert "wrong-51" not in refused.output and health()["version"] == "2.0.0"
        store.requests = 0
        done = run("release", "bluegreen_version=6.0.0", *common, f"bluegreen_artifact_checksum={sha256(artifact)}",
                   json.dumps({"bluegreen_artifact_headers": {"Authorization": "Bearer tok-3b9d"}}))
        assert done.returncode == 0, done.output
        assert "tok-3b9d" not in done.output and health()["version"] == "6.0.0"
        # Once for both app hosts.
        assert store.requests == 1
    finally:
        store.close()


def test_the_app_is_taken_off_the_router_and_its_hosts():
    result = run("provision", "bluegreen_app_state=absent")
    assert result.returncode == 0, result.output
    assert served("/")[0] == 404
    for name in APPS:
        assert not host(name).file(ROOT).exists
        assert not host(name).file(f"/etc/systemd/system/{APP}@blue.service.d").exists

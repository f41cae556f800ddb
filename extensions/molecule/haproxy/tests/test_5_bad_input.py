# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad input to the playbooks, as a user would type it: each run fails before its first change, with a message naming
the one variable at fault and the host, no traceback; the router's files stay byte-identical and the live colour and
the colour links do not change. (The modules' own bad input is in tests/unit.)"""

from __future__ import annotations

import json
import os

import pytest
from lab_helpers import APP, APP_CFG, APPS, MAP_FILE, PROJECT, ROUTER, host, live, module, playbook

ARTIFACTS = os.path.join(PROJECT, ".cache", "artifacts")
GOOD = ("bluegreen_version=2.0.0", f"bluegreen_artifact={ARTIFACTS}/demo-app-2.0.0.tar.gz")


def snapshot() -> dict:
    """The router's files, the live colour, and every app host's colour links."""
    router = host(ROUTER)
    files = {path: router.file(path).content for path in (MAP_FILE, APP_CFG, "/etc/haproxy/haproxy.cfg")}
    links = {app_host: host(app_host).run(f"readlink /opt/bluegreen/{APP}/blue /opt/bluegreen/{APP}/green").stdout for app_host in APPS}
    return {"files": files, "live": module("haproxy_info", {"app": APP})["live_colour"], "links": links}


def bad_file(name: str, content: bytes | None) -> str:
    path = os.path.join(ARTIFACTS, name)
    if content is None:
        os.makedirs(path, exist_ok=True)
    else:
        with open(path, "wb") as handle:
            handle.write(content)
    return path


CASES = [
    ("release", ("bluegreen_version=2.0.0", '{"bluegreen_artifact": "' + ARTIFACTS + '/missing-1.0.tar.gz"}'), "bluegreen_artifact"),
    ("release", ("bluegreen_version=2.0.0", "bluegreen_artifact=" + ARTIFACTS + "/empty.tar.gz"), "bluegreen_artifact"),
    ("release", ("bluegreen_version=2.0.0", "bluegreen_artifact=" + ARTIFACTS + "/a-directory.tar.gz"), "bluegreen_artifact"),
    ("release", ("bluegreen_version=2.0.0", "bluegreen_artifact=" + ARTIFACTS + "/notes.tar.gz"), "bluegreen_artifact"),
    ("release", ("bluegreen_version=2.0.0", "bluegreen_artifact=ftp://example.invalid/demo.tar.gz"), "bluegreen_artifact"),
    ("release", (*GOOD, '{"bluegreen_version": "2.0.0\\n"}'), "bluegreen_version"),
    ("release", (*GOOD, "bluegreen_monitor_seconds=-5"), "bluegreen_monitor_seconds"),
    ("release", (*GOOD, '{"bluegreen_smoke_checks": [{"path": "/", "body_regex": "(unclosed"}]}'), "bluegreen_smoke_checks"),
    ("release", (*GOOD, '{"bluegreen_smoke_checks": [{"path": "/", "status": [700]}]}'), "bluegreen_smoke_checks"),
    ("switch", ('{"bluegreen_monitor_seconds": [5]}',), "bluegreen_monitor_seconds"),
    ("switch", ('{"bluegreen_max_error_rate": {"rate": 1}}',), "bluegreen_max_error_rate"),
    ("switch", ('{"bluegreen_max_error_rate": null}',), "bluegreen_max_error_rate"),
    ("switch", ('{"bluegreen_switch_steps": [50, 10, 100]}',), "bluegreen_switch_steps"),
    ("provision", ("bluegreen_sticky_name=a;b",), "bluegreen_sticky_name"),
    ("provision", ('{"bluegreen_preview_value": "one\\ntwo"}',), "bluegreen_preview_value"),
    ("switch", ("bluegreen_switch_to=purple",), "bluegreen_switch_to"),
    ("switch", ('{"bluegreen_app": "demo\\n"}',), "bluegreen_app"),
    ("switch", ('{"bluegreen_app": "démo"}',), "bluegreen_app"),
    ("rollback", ("bluegreen_rollback_monitor_seconds=-1",), "bluegreen_rollback_monitor_seconds"),
    ("deploy", (*GOOD, '{"bluegreen_app_env": {"A": "two\\nlines"}}'), "bluegreen_app_env"),
    ("provision", ('{"bluegreen_ports": {"blue": 8001, "green": 8001}}',), "bluegreen_ports"),
    ("provision", ('{"bluegreen_ports": {"blue": 0, "green": 8002}}',), "bluegreen_ports"),
    ("status", ('{"bluegreen_app": ["demo"]}',), "bluegreen_app"),
    ("unlock", ('{"bluegreen_app": "' + "a" * 300 + '"}',), "bluegreen_app"),
]


@pytest.fixture(scope="module", autouse=True)
def bad_artifacts():
    paths = [bad_file("empty.tar.gz", b""), bad_file("notes.tar.gz", b"not an archive\n")]
    directory = bad_file("a-directory.tar.gz", None)
    yield
    for path in paths:
        os.unlink(path)
    os.rmdir(directory)


def test_each_bad_input_fails_before_any_change_naming_the_variable_and_the_host():
    before = snapshot()
    for name, extra, variable in CASES:
        result = playbook(name, *extra)
        assert result.returncode != 0, (name, extra, result.output[-2000:])
        assert "Traceback" not in result.output, (name, extra, result.output[-2000:])
        assert f"bluegreen.core.{name} cannot run on {APPS[0]}: {variable} " in result.output, (name, extra, result.output[-2000:])
        assert "Nothing was changed" in result.output
    assert snapshot() == before


def test_a_run_that_matches_no_host_fails():
    before = snapshot()
    for extra in ("bluegreen_app_group=no_such_group", "bluegreen_app_group=bluegreen_blue"):
        result = playbook("release", *GOOD, extra)
        assert result.returncode != 0, result.output[-2000:]
        assert "bluegreen.core.release matched no host" in result.output and "Nothing was changed" in result.output
    assert snapshot() == before


def test_provision_with_a_new_port_for_the_live_colour_where_nothing_listens_is_refused():
    """A changed bluegreen_ports for the live colour would send its traffic where no release listens (HAProxy would
    mark every server DOWN and answer 503): the router refuses, naming the variable, and keeps serving."""
    before = snapshot()
    current, idle = before["live"], "green" if before["live"] == "blue" else "blue"
    ports = {current: 8091, idle: {"blue": 8001, "green": 8002}[idle]}
    result = playbook("provision", json.dumps({"bluegreen_ports": ports}))
    said = " ".join(result.output.split())
    assert result.returncode != 0, said[-2000:]
    assert f"its live colour, {current}, would be sent to" in said and "where nothing accepts a connection" in said, said[-2000:]
    assert "(set by bluegreen_ports and each app host's address)" in said and "Traceback" not in said
    assert snapshot() == before
    assert {answer["colour"] for answer in live(4)} == {current}

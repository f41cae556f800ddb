# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The playbooks' inputs, checked before anything changes: each bad value is refused naming its variable alone."""

from __future__ import annotations

import pathlib
import tarfile

import pytest
from ansible_collections.bluegreen.core.plugins.plugin_utils import _inputs


@pytest.fixture
def artifact(tmp_path):
    path = tmp_path / "shop-2.0.0.tar.gz"
    source = tmp_path / "VERSION"
    source.write_text("2.0.0\n")
    with tarfile.open(path, "w:gz") as archive:
        archive.add(source, arcname="VERSION")
    return str(path)


def good(artifact: str) -> dict:
    return {"bluegreen_app": "shop", "bluegreen_version": "2.0.0", "bluegreen_artifact": artifact}


def refused(playbook: str, values: dict) -> str:
    with pytest.raises(_inputs.InputError) as caught:
        _inputs.check(playbook, values)
    return str(caught.value)


def test_good_inputs_pass_and_come_back_checked(artifact):
    checked = _inputs.check("release", dict(good(artifact), bluegreen_monitor_seconds="15", bluegreen_switch_steps=[100],
                                            bluegreen_force="false", bluegreen_ports={"blue": "8001", "green": 8002}))
    assert checked["bluegreen_monitor_seconds"] == 15 and checked["bluegreen_force"] is False
    assert checked["bluegreen_ports"] == {"blue": 8001, "green": 8002}


def test_the_nginx_logs_take_a_file_or_empty_and_the_access_log_off(artifact):
    for counts, access in (("", "off"), ("/srv/logs/shop-counts.log", ""), ("", "/var/log/nginx/access.log")):
        checked = _inputs.check("provision", dict(good(artifact), bluegreen_nginx_counts_log=counts, bluegreen_nginx_access_log=access))
        assert (checked["bluegreen_nginx_counts_log"], checked["bluegreen_nginx_access_log"]) == (counts, access)
    assert refused("switch", dict(good(artifact), bluegreen_nginx_counts_log="x.log")).startswith(
        "bluegreen_nginx_counts_log must be the absolute path of a file")


BAD = [
    # names
    ("release", "bluegreen_app", "shop\n"),
    ("release", "bluegreen_app", "my shop"),
    ("release", "bluegreen_app", "shop;reboot"),
    ("release", "bluegreen_app", "../etc"),
    ("release", "bluegreen_app", "boutique-été"),
    ("release", "bluegreen_app", "a" * 300),
    ("release", "bluegreen_app", ""),
    ("release", "bluegreen_app", ["shop"]),
    ("release", "bluegreen_app", {"name": "shop"}),
    ("deploy", "bluegreen_app_user", "shop user"),
    # versions
    ("release", "bluegreen_version", "2.0.0\n"),
    ("release", "bluegreen_version", "../2.0.0"),
    ("release", "bluegreen_version", "2.0.0;id"),
    ("deploy", "bluegreen_version", None),
    ("deploy", "bluegreen_version", 2),
    # colours and kinds
    ("switch", "bluegreen_switch_to", "purple"),
    ("switch", "bluegreen_switch_to", "blue\n"),
    ("switch", "bluegreen_router", "traefik"),
    ("switch", "bluegreen_topology", "pairs"),
    # ports
    ("provision", "bluegreen_ports", {"blue": 0, "green": 8002}),
    ("provision", "bluegreen_ports", {"blue": 70000, "green": 8002}),
    ("provision", "bluegreen_ports", {"blue": "http", "green": 8002}),
    ("provision", "bluegreen_ports", {"blue": 8001, "green": 8001}),
    ("provision", "bluegreen_ports", [8001, 8002]),
    ("provision", "bluegreen_listen_port", 70000),
    ("provision", "bluegreen_preview_port", "eighty"),
    # many apps on one router
    ("provision", "bluegreen_hostnames", "shop.example.com"),
    ("provision", "bluegreen_hostnames", ["shop.example.com", "shop_2.example.com"]),
    ("provision", "bluegreen_hostnames", ["shop.example.com:443"]),
    ("provision", "bluegreen_hostnames", ["*.example.com"]),
    ("provision", "bluegreen_hostnames", ["shop.example.com", "SHOP.example.com"]),
    ("provision", "bluegreen_preview_hostnames", ["https://preview.example.com"]),
    ("provision", "bluegreen_path_prefix", "api"),
    ("provision", "bluegreen_path_prefix", "/api/../admin"),
    ("provision", "bluegreen_path_prefix", "/a b"),
    ("provision", "bluegreen_tls_certificate", "certs/shop.pem"),
    ("provision", "bluegreen_tls_port", 0),
    ("provision", "bluegreen_tls_redirect", "sometimes"),
    ("provision", "bluegreen_router_manage", "partial"),
    ("provision", "bluegreen_app_state", "removed"),
    # steps
    ("switch", "bluegreen_switch_steps", [50, 10, 100]),
    ("switch", "bluegreen_switch_steps", [10, 50]),
    ("switch", "bluegreen_switch_steps", [0, 100]),
    ("switch", "bluegreen_switch_steps", [10, 10, 100]),
    ("switch", "bluegreen_switch_steps", "ten"),
    ("switch", "bluegreen_switch_steps", {"first": 10}),
    # rates and seconds
    ("switch", "bluegreen_max_error_rate", 1.5),
    ("switch", "bluegreen_max_error_rate", -0.1),
    ("switch", "bluegreen_max_error_rate", "lots"),
    ("switch", "bluegreen_monitor_seconds", -5),
    ("switch", "bluegreen_monitor_seconds", "5s"),
    ("switch", "bluegreen_monitor_seconds", [5]),
    ("switch", "bluegreen_monitor_seconds", {"s": 5}),
    ("switch", "bluegreen_monitor_seconds", None),
    ("switch", "bluegreen_max_error_rate", None),
    ("switch", "bluegreen_watch_interval", 0),
    ("switch", "bluegreen_watch_failures", 0),
    ("switch", "bluegreen_watch_min_requests", -1),
    ("switch", "bluegreen_max_response_ms", 0),
    ("switch", "bluegreen_drain_seconds", -1),
    ("release", "bluegreen_lock_wait", -1),
    ("release", "bluegreen_lock_ttl", 0),
    ("release", "bluegreen_force", "maybe"),
    ("rollback", "bluegreen_rollback_monitor_seconds", -1),
    ("release", "bluegreen_smoke_timeout", 0),
    ("release", "bluegreen_smoke_retries", -1),
    # smoke and watch checks
    ("release", "bluegreen_smoke_checks", [{"path": "/", "body_regex": "(unclosed"}]),
    ("release", "bluegreen_smoke_checks", [{"path": "/", "status": [999]}]),
    ("release", "bluegreen_smoke_checks", [{"path": "/", "status": ["ok"]}]),
    ("release", "bluegreen_smoke_checks", [{"url": "ftp://example.com/"}]),
    ("release", "bluegreen_smoke_checks", [{"path": "health"}]),
    ("release", "bluegreen_smoke_checks", [{"path": "/a b"}]),
    ("release", "bluegreen_smoke_checks", "/health"),
    ("switch", "bluegreen_monitor_checks", [{"path": "/", "body_regex": "["}]),
    ("switch", "bluegreen_health_path", "health"),
    ("switch", "bluegreen_health_path", "/health\n"),
    ("switch", "bluegreen_health_host", "shop"),
    ("release", "bluegreen_health_host", "https://shop.example.com"),
    ("provision", "bluegreen_health_host", "shop.example.com/health"),
    ("provision", "bluegreen_health_host", "shop.example.com:0"),
    ("provision", "bluegreen_health_host", "shop.example.com:"),
    ("switch", "bluegreen_health_host", "shop.example.com\n"),
    ("switch", "bluegreen_health_host", "shop .example.com"),
    ("switch", "bluegreen_health_host", ["shop.example.com"]),
    ("switch", "bluegreen_health_status", []),
    ("switch", "bluegreen_health_status", [200, 200]),
    ("release", "bluegreen_health_status", [99]),
    ("release", "bluegreen_health_status", [600]),
    ("provision", "bluegreen_health_status", ["ok"]),
    ("provision", "bluegreen_health_status", [True]),
    ("smoke_test", "bluegreen_health_status", "200,204"),
    ("smoke_test", "bluegreen_health_status", {"200": "ok"}),
    ("switch", "bluegreen_health_status", 204),
    # paths
    ("release", "bluegreen_app_root", "opt/shop"),
    ("release", "bluegreen_app_root", "/opt/../etc"),
    ("release", "bluegreen_state_dir", "/var/lib/bluegreen\n"),
    ("provision", "bluegreen_haproxy_map_dir", "maps"),
    ("release", "bluegreen_nginx_counts_log", "logs/shop.log"),
    ("provision", "bluegreen_nginx_counts_log", "/var/log/nginx/$host.log"),
    ("provision", "bluegreen_nginx_access_log", "/var/log/nginx/a b.log"),
    ("provision", "bluegreen_nginx_access_log", "/var/log/nginx/"),
    # environment
    ("deploy", "bluegreen_app_env", {"1PORT": "1"}),
    ("deploy", "bluegreen_app_env", {"A B": "1"}),
    ("deploy", "bluegreen_app_env", {"A": "two\nlines"}),
    ("deploy", "bluegreen_app_env", ["A=1"]),
    ("deploy", "bluegreen_app_secrets", {"TOKEN": {"nested": 1}}),
    # artifacts
    ("release", "bluegreen_artifact", "ftp://example.com/shop.tar.gz"),
    ("release", "bluegreen_artifact", "http://example.com/a b.tar.gz"),
    ("release", "bluegreen_artifact", ""),
    ("release", "bluegreen_artifact", None),
    ("release", "bluegreen_artifact", ["a.tar.gz"]),
    # artifacts as CI builds them, and how the app starts (issue 13's bad input)
    ("release", "bluegreen_artifact_checksum", "md5:d41d8cd98f00b204e9800998ecf8427e"),
    ("release", "bluegreen_artifact_checksum", "sha256:xyz"),
    ("deploy", "bluegreen_artifact_strip", "sometimes"),
    ("deploy", "bluegreen_artifact_strip", "yes"),
    ("deploy", "bluegreen_artifact_fetch", "proxy"),
    ("deploy", "bluegreen_artifact_headers", ["Authorization: x"]),
    ("deploy", "bluegreen_artifact_headers", {"Authorization": {"token": "x"}}),
    ("deploy", "bluegreen_artifact_headers", {"Bad Name": "x"}),
    ("deploy", "bluegreen_artifact_ca_path", "certs/ca.pem"),
    ("release", "bluegreen_app_command", "bin/start\n--evil"),
    ("release", "bluegreen_app_command", "bin/start 'unclosed"),
    ("release", "bluegreen_app_unit_settings", {"ExecStart": "/bin/sh"}),
    ("release", "bluegreen_app_unit_settings", {"LimitNOFILEE": 4096}),
    ("release", "bluegreen_app_unit_settings", {"MemoryMax": "1G\nUser=root"}),
    ("release", "bluegreen_app_unit_settings", ["LimitNOFILE=4096"]),
    ("release", "bluegreen_app_shared_dirs", ["/var/uploads"]),
    ("release", "bluegreen_app_shared_dirs", ["uploads/../../etc"]),
    ("release", "bluegreen_app_shared_dirs", "uploads"),
    ("release", "bluegreen_app_build", "sh build.sh"),
    ("release", "bluegreen_app_build", [""]),
    ("release", "bluegreen_app_build_timeout", 0),
    ("provision", "bluegreen_app_packages", "openjdk-17-jre-headless"),
    ("release", "bluegreen_redeploy", "perhaps"),
    # the parity check
    ("release", "bluegreen_parity_check", "strict"),
    ("release", "bluegreen_parity_check", True),
    ("parity", "bluegreen_parity_check", "Fail"),
    ("parity", "bluegreen_parity_check", ["warn"]),
    ("parity", "bluegreen_app", "shop/.."),
]


@pytest.mark.parametrize(("playbook", "variable", "value"), BAD, ids=[f"{case[0]}-{case[1]}-{i}" for i, case in enumerate(BAD)])
def test_each_bad_input_is_refused_naming_its_variable(artifact, playbook, variable, value):
    message = refused(playbook, dict(good(artifact), **{variable: value}))
    assert message.startswith(f"{variable} "), message
    # The one variable at fault, not a list of every rule.
    assert message.count("bluegreen_") == 1 or variable in ("bluegreen_switch_steps",), message


def test_the_parity_check_takes_off_warn_or_fail_and_false_as_off(artifact):
    for value, expected in (("off", "off"), ("warn", "warn"), ("fail", "fail"), (False, "off")):
        assert _inputs.check("release", dict(good(artifact), bluegreen_parity_check=value))["bluegreen_parity_check"] == expected
    assert _inputs.check("parity", {"bluegreen_app": "shop", "bluegreen_parity_check": "fail"}) == {
        "bluegreen_app": "shop", "bluegreen_parity_check": "fail"}
    message = refused("parity", {"bluegreen_app": "shop", "bluegreen_parity_check": True})
    assert message.startswith("bluegreen_parity_check must be one of off, warn, fail, got the boolean true")
    assert refused("parity", {"bluegreen_app": "shop", "bluegreen_parity_check": "strict"}) == (
        "bluegreen_parity_check must be one of off, warn, fail, got text 'strict'")
    # Only the playbooks that compare take it; the parity playbook needs no version or artifact.
    assert "bluegreen_parity_check" not in _inputs.check("switch", {"bluegreen_app": "shop", "bluegreen_parity_check": "x"})
    assert refused("parity", {}).startswith("bluegreen_app is not set: bluegreen.core.parity needs it")


def test_a_wrong_checksum_of_a_controller_file_is_refused_before_any_host_is_touched(artifact):
    message = refused("release", dict(good(artifact), bluegreen_artifact_checksum="sha256:" + "0" * 64))
    assert message.startswith("bluegreen_artifact_checksum: ") and "not the sha256:000" in message
    actual = _inputs._artifact.sha256_of(artifact)
    assert _inputs.check("release", dict(good(artifact), bluegreen_artifact_checksum=actual))["bluegreen_artifact_checksum"] == actual


def test_header_values_and_the_download_password_are_never_shown(artifact):
    message = refused("release", dict(good(artifact), bluegreen_artifact_headers={"Authorization": "Bearer tok-51\r\nX: 1"}))
    assert "tok-51" not in message and "Authorization" in message
    message = refused("release", dict(good(artifact), bluegreen_artifact_password="pw-77\n"))
    assert "pw-77" not in message


def test_the_battery_has_at_least_forty_inputs():
    assert len(BAD) >= 40


def test_artifacts_missing_empty_a_directory_or_not_an_archive(tmp_path, artifact):
    empty = tmp_path / "empty.tar.gz"
    empty.write_bytes(b"")
    text = tmp_path / "notes.tar.gz"
    text.write_text("not an archive\n")
    for value, words in ((str(tmp_path / "missing.tar.gz"), "is not on the controller"), (str(empty), "is empty"),
                         (str(tmp_path), "is a directory"), (str(text), "is not a tar or zip archive")):
        assert words in refused("release", dict(good(artifact), bluegreen_artifact=value))


def test_required_inputs_are_named_when_missing(artifact):
    assert refused("deploy", {"bluegreen_app": "shop", "bluegreen_artifact": artifact}).startswith("bluegreen_version is not set")
    assert refused("switch", {}).startswith("bluegreen_app is not set")
    # A status needs no version or artifact.
    assert _inputs.check("status", {"bluegreen_app": "shop"}) == {"bluegreen_app": "shop"}


def test_a_version_is_optional_to_switch_roll_back_or_smoke_test_and_checked_when_given():
    for playbook in ("switch", "rollback", "smoke_test"):
        assert _inputs.check(playbook, {"bluegreen_app": "shop"}) == {"bluegreen_app": "shop"}
        assert _inputs.check(playbook, {"bluegreen_app": "shop", "bluegreen_version": "2.0.0"})["bluegreen_version"] == "2.0.0"
        assert refused(playbook, {"bluegreen_app": "shop", "bluegreen_version": "../2"}).startswith("bluegreen_version ")
    # Reading the status takes no version: an extra variable a workflow passes is ignored there.
    assert _inputs.check("status", {"bluegreen_app": "shop", "bluegreen_version": "../2"}) == {"bluegreen_app": "shop"}


def test_weighted_steps_rise_to_100_on_every_router(artifact):
    for router in ("haproxy", "nginx", "alb", "route53"):
        checked = _inputs.check("switch", {"bluegreen_app": "shop", "bluegreen_router": router, "bluegreen_switch_steps": [10, 50, 100]})
        assert checked["bluegreen_switch_steps"] == [10, 50, 100]
    for steps in ([50, 10, 100], [10, 50], [10, 150], [0, 100], [10, 10, 100]):
        assert refused("switch", {"bluegreen_app": "shop", "bluegreen_switch_steps": steps}).startswith("bluegreen_switch_steps ")
    # Text from the command line (-e bluegreen_switch_steps=10,50,100) is told that a list is needed, and how to give one.
    said = refused("switch", {"bluegreen_app": "shop", "bluegreen_switch_steps": "10,50,100"})
    assert "must be a list of rising percentages" in said and "[10, 50, 100]" in said and "'10,50,100'" in said, said
    assert _inputs.check("switch", {"bluegreen_app": "shop", "bluegreen_switch_steps": "100"})["bluegreen_switch_steps"] == [100]


def test_a_sticky_cookie_or_header_name_must_be_a_plain_token(artifact):
    checked = _inputs.check("provision", {"bluegreen_app": "shop", "bluegreen_sticky_by": "header", "bluegreen_sticky_name": "X-User-Id"})
    assert checked["bluegreen_sticky_name"] == "X-User-Id"
    assert _inputs.check("provision", {"bluegreen_app": "shop", "bluegreen_sticky_name": ""})["bluegreen_sticky_name"] == ""
    for bad in ("a b", "x#y", "a;b", "-lead", "x" * 65, "é", 7):
        message = refused("provision", {"bluegreen_app": "shop", "bluegreen_sticky_name": bad})
        assert message.startswith("bluegreen_sticky_name ") and "letters, digits" in message
    message = refused("provision", {"bluegreen_app": "shop", "bluegreen_sticky_by": "header"})
    assert message.startswith("bluegreen_sticky_name is empty") and "header" in message
    assert refused("provision", {"bluegreen_app": "shop", "bluegreen_sticky_by": "ip"}).startswith("bluegreen_sticky_by must be one of")


def test_a_certificate_is_never_shown_and_host_names_come_back_lower_case(artifact):
    message = refused("provision", {"bluegreen_app": "shop", "bluegreen_tls_certificate": ["-----BEGIN PRIVATE KEY-----"]})
    assert "PRIVATE" not in message and message.startswith("bluegreen_tls_certificate ")
    checked = _inputs.check("provision", {"bluegreen_app": "shop", "bluegreen_hostnames": ["Shop.Example.com."], "bluegreen_preview_port": 0,
                                          "bluegreen_path_prefix": "/api/", "bluegreen_tls_certificate": "-----BEGIN CERTIFICATE-----..."})
    assert checked["bluegreen_hostnames"] == ["shop.example.com"] and checked["bluegreen_path_prefix"] == "/api"


def test_the_health_host_and_status_come_back_checked(artifact):
    for host, expected in (("Shop.Example.com.", "shop.example.com"), ("shop.example.com:8443", "shop.example.com:8443"),
                           ("localhost:8000", "localhost:8000"), ("", "")):
        assert _inputs.check("release", dict(good(artifact), bluegreen_health_host=host))["bluegreen_health_host"] == expected
    for status, expected in (([200], [200]), ([200, "204"], [200, 204]), ([301.0], [301])):
        assert _inputs.check("release", dict(good(artifact), bluegreen_health_status=status))["bluegreen_health_status"] == expected
    assert "lists 200, 204 twice" in refused("switch", {"bluegreen_app": "shop", "bluegreen_health_status": [200, 204, 200, 204]})
    assert "item 1 must be an HTTP status code" in refused("switch", {"bluegreen_app": "shop", "bluegreen_health_status": [200, 700]})


def test_an_env_value_never_appears_in_the_message(artifact):
    message = refused("deploy", dict(good(artifact), bluegreen_app_secrets={"DB_PASSWORD": "hunter2\nx"}))
    assert "DB_PASSWORD" in message and "hunter2" not in message


def test_null_is_a_value_only_for_an_input_that_may_be_unset(artifact):
    assert "bluegreen_max_response_ms" not in _inputs.check("switch", {"bluegreen_app": "shop", "bluegreen_max_response_ms": None})


class _Tagged(str):
    """Like the str subclass Ansible hands over for a value it tracks the origin of."""

    def __repr__(self) -> str:
        return f"_Tagged({str.__repr__(self)})"


def test_values_ansible_tags_are_described_as_plain_values(artifact):
    message = refused("switch", dict(good(artifact), bluegreen_topology=_Tagged("pairs")))
    assert "bluegreen_topology must be one of slots, fleets, got text 'pairs'" in message
    assert "_Tagged" not in message


@pytest.fixture(scope="module")
def plugin_loader():
    """The collection loader ansible-playbook installs on the controller: it resolves a task's module."""
    from ansible.plugins.loader import init_plugin_loader

    init_plugin_loader([str(pathlib.Path(__file__).resolve().parents[4] / ".cache" / "collections")])


@pytest.fixture
def hook_files(tmp_path, monkeypatch, plugin_loader):
    """A project directory with two hook files, the directory the run starts in."""
    (tmp_path / "hooks").mkdir()
    for name in ("check.yml", "notify.yml"):
        (tmp_path / "hooks" / name).write_text("- ansible.builtin.debug:\n    msg: hook\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _archive(directory) -> str:
    path = directory / "shop-2.0.0.tar"
    with tarfile.open(path, "w") as archive:
        archive.add(directory / "hooks" / "check.yml", arcname="VERSION")
    return str(path)


def test_hooks_resolve_against_the_directory_the_run_started_in_and_come_back_as_lists(hook_files):
    values = {"bluegreen_app": "shop", "bluegreen_hooks": {"before_switch": "hooks/check.yml",
                                                           "on_failure": ["hooks/notify.yml", str(hook_files / "hooks" / "check.yml")]}}
    checked = _inputs.check("switch", values)["bluegreen_hooks"]
    assert checked == {"before_switch": [str(hook_files / "hooks" / "check.yml")],
                       "on_failure": [str(hook_files / "hooks" / "notify.yml"), str(hook_files / "hooks" / "check.yml")]}
    for playbook in _inputs.RUNS_HOOKS:
        assert "bluegreen_hooks" in _inputs.check(playbook, dict(values, bluegreen_version="2.0.0", bluegreen_artifact=_archive(hook_files)))
    # The playbooks that run no hook do not read them.
    for playbook in ("provision", "status", "unlock"):
        assert "bluegreen_hooks" not in _inputs.check(playbook, dict(values, bluegreen_hooks={"before_release": 1}))


@pytest.mark.parametrize(("hooks", "words"), [
    ({"before_release": "hooks/check.yml"}, "bluegreen_hooks has the key 'before_release', which is not a phase: use before_deploy, "
                                            "after_deploy, before_switch, after_switch, after_rollback or on_failure"),
    ("hooks/check.yml", "bluegreen_hooks must be a dict of phases to task files"),
    (["hooks/check.yml"], "bluegreen_hooks must be a dict of phases to task files"),
    ({"before_switch": 3}, "bluegreen_hooks.before_switch must be the path of a task file on the controller, or a list of them"),
    ({"before_switch": ""}, "bluegreen_hooks.before_switch must be the path"),
    ({"before_switch": []}, "bluegreen_hooks.before_switch must be the path"),
    ({"before_switch": [{"file": "hooks/check.yml"}]}, "bluegreen_hooks.before_switch must be the path"),
    ({"before_switch": "hooks/check.yml\n"}, "bluegreen_hooks.before_switch must be the path"),
    ({"after_switch": "hooks/missing.yml"}, "bluegreen_hooks.after_switch: hooks/missing.yml is not on the controller (a relative path is read from "),
    ({"after_switch": ["hooks/check.yml", "/nowhere/hook.yml"]}, "bluegreen_hooks.after_switch: /nowhere/hook.yml is not on the controller"),
    ({"on_failure": "hooks"}, "bluegreen_hooks.on_failure: hooks is not a file: give a task file"),
])
def test_a_bad_hook_is_refused_naming_the_phase(hook_files, hooks, words):
    message = refused("release", dict(good(_archive(hook_files)), bluegreen_hooks=hooks))
    assert message.startswith(words), message
    if "relative path" in message:
        assert str(hook_files) in message


GOOD_HOOK = """\
- name: Tell the team, once
  ansible.builtin.debug:
    msg: "{{ bluegreen_hook.phase }} {{ bluegreen_hook.version }}"
  run_once: true
  delegate_to: "{{ bluegreen_hook.routers[0] }}"
- name: On each app host
  block:
    - ansible.builtin.command: "true"
      changed_when: false
      loop: [1, 2]
  rescue:
    - ansible.builtin.include_tasks: other.yml
"""


@pytest.mark.parametrize(("text", "words"), [
    (GOOD_HOOK + "- name: Notify\n  no.such.module: {}\n", "task 3 (Notify): couldn't resolve module/action 'no.such.module'"),
    ("- name: Check\n  ansible.builtin.debug: {msg: x}\n  whenn: true\n", "task 1 (Check): 'whenn' is not a valid attribute for a Task"),
    ("- block:\n    - ansible.builtin.debug: {msg: x}\n  rescue:\n    - ansible.builtin.debug: {msg: [\n", "YAML parsing failed"),
    ("- block:\n    - ansible.builtin.debug: {msg: x}\n  rescue:\n    - ansible.builtin.debug: {}\n      ansible.builtin.fail: {}\n",
     "task 1: conflicting action statements"),
    ("ansible.builtin.debug: {msg: x}\n", "it holds a dict, not a list of tasks"),
    ("- just a line\n", "task 1 is text, not a task"),
])
def test_a_hook_file_ansible_could_not_include_is_refused_before_the_run_stops_half_way(hook_files, text, words):
    (hook_files / "hooks" / "bad.yml").write_text(text)
    message = refused("switch", {"bluegreen_app": "shop", "bluegreen_hooks": {"before_switch": "hooks/bad.yml"}})
    assert message.startswith("bluegreen_hooks.before_switch: hooks/bad.yml is not a task file Ansible can run: "), message
    assert words in message, message


def test_a_hook_file_that_ansible_can_include_passes(hook_files):
    files = {"good.yml": GOOD_HOOK, "empty.yml": "", "vaulted.yml": "$ANSIBLE_VAULT;1.1;AES256\n3031\n"}
    for name, text in files.items():
        (hook_files / "hooks" / name).write_text(text)
    hooks = {"before_switch": [f"hooks/{name}" for name in files]}
    assert _inputs.check("switch", {"bluegreen_app": "shop", "bluegreen_hooks": hooks})["bluegreen_hooks"]["before_switch"] == [
        str(hook_files / "hooks" / name) for name in files]


def test_maintenance_takes_on_or_off_and_only_an_haproxy_router(tmp_path):
    assert _inputs.check("maintenance", {"bluegreen_app": "shop"}) == {"bluegreen_app": "shop"}
    assert _inputs.check("maintenance", {"bluegreen_app": "shop", "bluegreen_maintenance": False})["bluegreen_maintenance"] == "off"
    assert _inputs.check("maintenance", {"bluegreen_app": "shop", "bluegreen_maintenance": "ON"})["bluegreen_maintenance"] == "on"
    assert refused("maintenance", {"bluegreen_app": "shop", "bluegreen_maintenance": "later"}) == (
        "bluegreen_maintenance must be on or off, got text 'later'")
    assert refused("maintenance", {"bluegreen_app": "shop", "bluegreen_router": "alb"}).startswith(
        "bluegreen_router is alb: bluegreen.core.maintenance serves a maintenance page on HAProxy routers only")


def test_the_maintenance_page_is_a_file_haproxy_can_serve_whole(tmp_path):
    page = tmp_path / "page.html"
    page.write_text("<h1>Back soon</h1>")
    assert _inputs.check("provision", {"bluegreen_app": "shop", "bluegreen_maintenance_page": str(page)})
    for content, words in ((b"", "is empty"), (b"x" * 12289, "larger than 12288 bytes"), (b"\xff\xfe", "not UTF-8 text")):
        page.write_bytes(content)
        assert words in refused("provision", {"bluegreen_app": "shop", "bluegreen_maintenance_page": str(page)})
    assert refused("provision", {"bluegreen_app": "shop", "bluegreen_maintenance_page": str(tmp_path / "gone.html")}) == (
        f"bluegreen_maintenance_page {tmp_path / 'gone.html'} is not on the controller: give the page's HTML file")
    assert "bluegreen_maintenance_retry_after must be" in refused(
        "provision", {"bluegreen_app": "shop", "bluegreen_maintenance_retry_after": -5})


def test_standby_is_keep_or_whole_seconds(artifact):
    assert _inputs.check("release", dict(good(artifact), bluegreen_standby="600"))["bluegreen_standby"] == 600
    assert _inputs.check("switch", {"bluegreen_app": "shop", "bluegreen_standby": "keep"})["bluegreen_standby"] == "keep"
    assert _inputs.check("rollback", {"bluegreen_app": "shop", "bluegreen_standby": 0})["bluegreen_standby"] == 0
    for value in (-5, "-5", "soon", 1.5, True, 31_536_001):
        assert refused("release", dict(good(artifact), bluegreen_standby=value)).startswith(
            "bluegreen_standby must be keep or a whole number of seconds from 0 to 31536000")


def test_the_migration_settings(artifact):
    checked = _inputs.check("release", dict(good(artifact), bluegreen_migrate_command=".venv/bin/python -m notes.migrate",
                                            bluegreen_migrate_host="app1", bluegreen_migrate_timeout="120"))
    assert (checked["bluegreen_migrate_host"], checked["bluegreen_migrate_timeout"]) == ("app1", 120)
    assert _inputs.check("deploy", dict(good(artifact), bluegreen_migrate_command=""))["bluegreen_migrate_command"] == ""
    assert refused("release", dict(good(artifact), bluegreen_migrate_command="   ")).startswith(
        "bluegreen_migrate_command must be a shell command line")
    assert refused("release", dict(good(artifact), bluegreen_migrate_command=["migrate"])).startswith(
        "bluegreen_migrate_command must be a shell command line")
    assert refused("deploy", dict(good(artifact), bluegreen_migrate_host="app1, app2")).startswith(
        "bluegreen_migrate_host must be an inventory host name")
    assert refused("deploy", dict(good(artifact), bluegreen_migrate_timeout=0)).startswith("bluegreen_migrate_timeout")
    # A rollback never migrates: it does not look at the setting.
    assert "bluegreen_migrate_command" not in _inputs.check("rollback", {"bluegreen_app": "shop", "bluegreen_migrate_command": 1})


def test_a_preview_value_is_one_line_never_shown_and_needs_a_header_or_cookie(artifact):
    checked = _inputs.check("provision", {"bluegreen_app": "shop", "bluegreen_preview_value": "s3cret", "bluegreen_preview_cookie": "bgp"})
    assert checked["bluegreen_preview_value"] == "s3cret"
    message = refused("provision", {"bluegreen_app": "shop", "bluegreen_preview_value": "s3cret\nX: 1"})
    assert message.startswith("bluegreen_preview_value ") and "s3cret" not in message and "not shown" in message
    for padded in (" s3cret", "s3cret "):
        message = refused("provision", {"bluegreen_app": "shop", "bluegreen_preview_value": padded, "bluegreen_preview_cookie": "bgp"})
        assert message.startswith("bluegreen_preview_value must not start or end with a space") and "s3cret" not in message
    message = refused("provision", {"bluegreen_app": "shop", "bluegreen_preview_value": "s3cret", "bluegreen_preview_header": ""})
    assert message.startswith("bluegreen_preview_value needs") and "s3cret" not in message
    assert refused("provision", {"bluegreen_app": "shop", "bluegreen_preview_header": "X Bad"}).startswith("bluegreen_preview_header ")
    message = refused("provision", {"bluegreen_app": "shop", "bluegreen_router": "alb", "bluegreen_preview_value": "s3cret"})
    assert "HAProxy and Nginx routers only, not alb" in message and "s3cret" not in message
    checked = _inputs.check("provision", {"bluegreen_app": "shop", "bluegreen_router": "nginx", "bluegreen_preview_value": "s3cret"})
    assert checked["bluegreen_preview_value"] == "s3cret"
    message = refused("provision", {"bluegreen_app": "shop", "bluegreen_router": "nginx", "bluegreen_preview_value": "s3cret",
                                    "bluegreen_preview_header": "X_Preview"})
    assert message.startswith("bluegreen_preview_header 'X_Preview' has a character nginx ignores") and "s3cret" not in message

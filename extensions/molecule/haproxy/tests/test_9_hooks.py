# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Phase hooks (docs/hooks.md) on the scenario's hosts. The hook files are written by this test into a folder on the
controller: the marker hook appends "<phase> <version> <live colour> <target colour>" (and, for on_failure, " | " and
the reason) to a file on each app host it runs on, and its phase once to a file on the router (delegate_to), so both
where a hook runs and what it sees are checked; the failing hook is one ansible.builtin.fail.

Four runs of the demo app, from the state the earlier tests left it in (its live colour, the release in each colour and
its place on the router are read here, not assumed): a release of 7.0.0 whose before_switch hook fails (nothing is
switched, the idle colour is put back, on_failure gets the reason), the same release with every hook passing, a
rollback, and a switch refused for a hook file that does not exist, before it takes the lock.
"""

from __future__ import annotations

import json
import os

import pytest
from lab_helpers import APP, APP_CFG, APPS, MAP_FILE, ROUTER, build_demo, history, host, module, playbook

VERSION = "7.0.0"
ROOT = f"/opt/bluegreen/{APP}"
# The marker file, on each app host and on the router.
LOG = "/var/tmp/bluegreen-hooks.log"
CLAIM_PREFIX = "# bluegreen-claim: "

MARKER = f"""\
- name: Write the phase, the release and its colours on this app host
  ansible.builtin.shell: printf '%s\\n' {{{{ line | quote }}}} >> {LOG}
  vars:
    line: >-
      {{{{ [bluegreen_hook.phase, bluegreen_hook.version, bluegreen_hook.live_colour, bluegreen_hook.target_colour] | join(' ')
      ~ ((' | ' ~ bluegreen_hook.failure | replace('\\n', ' ')) if bluegreen_hook.failure else '') }}}}
  changed_when: true

- name: Write the phase once on the router
  ansible.builtin.shell: printf '%s\\n' {{{{ bluegreen_hook.phase | quote }}}} >> {LOG}
  delegate_to: "{{{{ bluegreen_hook.routers[0] }}}}"
  run_once: true
  changed_when: true
"""
FAIL = """\
- name: Refuse the switch during the change freeze
  ansible.builtin.fail:
    msg: change freeze
"""
PHASES = ("before_deploy", "after_deploy", "before_switch", "after_switch", "after_rollback", "on_failure")


def release_of(app_host: str, colour: str) -> str | None:
    link = host(app_host).file(f"{ROOT}/{colour}")
    return os.path.basename(link.linked_to) if link.exists else None


def router_vars() -> dict:
    """Where the demo app is on the router now (its own port here; a host name where another test moved it), as the playbooks take it."""
    (line,) = [line for line in host(ROUTER).file(APP_CFG).content_string.splitlines() if line.startswith(CLAIM_PREFIX)]
    claim = json.loads(line[len(CLAIM_PREFIX):])
    return {"bluegreen_hostnames": claim["hostnames"], "bluegreen_preview_hostnames": claim["preview_hostnames"],
            "bluegreen_path_prefix": claim["path_prefix"], "bluegreen_listen_port": claim["listen_port"],
            "bluegreen_preview_port": claim["preview_port"]}


def logs() -> dict:
    """host -> the marker lines written there since the last call (the app hosts, then the router); each file emptied."""
    found = {}
    for name in (*APPS, ROUTER):
        found[name] = host(name).run(f"cat {LOG} 2>/dev/null; rm -f {LOG}").stdout.splitlines()
    return found


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> dict:
    """The artifact of 7.0.0, the hook files, and the demo app as the earlier tests left it."""
    folder = tmp_path_factory.mktemp("hooks")
    artifact = build_demo(VERSION, str(folder))
    (folder / "marker.yml").write_text(MARKER, encoding="utf-8")
    (folder / "fail.yml").write_text(FAIL, encoding="utf-8")
    live = module("haproxy_info", {"app": APP})["live_colour"]
    idle = "green" if live == "blue" else "blue"
    versions = {colour: release_of(APPS[0], colour) for colour in ("blue", "green")}
    assert all(release_of(name, colour) == versions[colour] for name in APPS for colour in versions)
    assert VERSION not in versions.values(), versions
    logs()
    return {"folder": folder, "artifact": artifact, "live": live, "idle": idle, "versions": versions,
            "vars": json.dumps(router_vars())}


def hooks(lab: dict, **extra: str) -> str:
    """-e of bluegreen_hooks: the marker hook for every phase, then the file named for a phase."""
    given = {phase: [str(lab["folder"] / "marker.yml")] + ([str(lab["folder"] / extra[phase])] if phase in extra else [])
             for phase in PHASES}
    return json.dumps({"bluegreen_hooks": given})


def release(lab: dict, **extra: str):
    return playbook("release", lab["vars"], f"bluegreen_version={VERSION}", f"bluegreen_artifact={lab['artifact']}", hooks(lab, **extra))


def router_state() -> dict:
    return {"map": host(ROUTER).file(MAP_FILE).content_string, "history": history(),
            "live": module("haproxy_info", {"app": APP})["live_colour"]}


def test_a_failing_before_switch_hook_stops_the_release_with_no_switch_and_on_failure_sees_why(lab):
    live, idle = lab["live"], lab["idle"]
    before = router_state()
    result = release(lab, before_switch="fail.yml")
    assert result.returncode != 0, result.output
    hook = f"The before_switch hook ({lab['folder']}/marker.yml, {lab['folder']}/fail.yml) failed on {', '.join(APPS)}"
    assert hook in result.output and '"Refuse the switch during the change freeze": change freeze.' in result.output, result.output
    assert f"No traffic was moved: {live} ({lab['versions'][live]}) is still live" in result.output
    # Nothing switched, no smoke test failure recorded: the router is as it was; the idle colour went back.
    assert router_state() == before
    assert {name: release_of(name, idle) for name in APPS} == dict.fromkeys(APPS, lab["versions"][idle])
    written = logs()
    facts = f"{VERSION} {live} {idle}"
    first, *others = APPS
    phases = ("before_deploy", "after_deploy", "before_switch", "on_failure")
    assert [line.split(" | ")[0] for line in written[first]] == [f"{phase} {facts}" for phase in phases]
    # on_failure runs once, with the run's reason.
    assert "Release of demo 7.0.0 stopped before the switch" in written[first][-1] and hook in written[first][-1]
    for name in others:
        assert written[name] == [f"{phase} {facts}" for phase in ("before_deploy", "after_deploy", "before_switch")]
    assert written[ROUTER] == ["before_deploy", "after_deploy", "before_switch", "on_failure"]
    assert not host(ROUTER).file(f"/var/lib/bluegreen/{APP}/lock").exists


def test_hooks_run_in_order_through_a_release_and_a_rollback(lab):
    live, idle = lab["live"], lab["idle"]
    result = release(lab)
    assert result.returncode == 0, result.output
    assert f"Run the before_switch hook ({lab['folder']}/marker.yml) on the app hosts" in result.output
    assert module("haproxy_info", {"app": APP})["live_colour"] == idle
    written = logs()
    phases = ("before_deploy", "after_deploy", "before_switch", "after_switch")
    for name in APPS:
        assert written[name] == [f"{phase} {VERSION} {live} {idle}" for phase in phases]
    assert written[ROUTER] == ["before_deploy", "after_deploy", "before_switch", "after_switch"]
    # after_switch ran under the lock, after the watch; the run released it after the hook.
    assert not host(ROUTER).file(f"/var/lib/bluegreen/{APP}/lock").exists

    result = playbook("rollback", lab["vars"], hooks(lab))
    assert result.returncode == 0, result.output
    assert module("haproxy_info", {"app": APP})["live_colour"] == live
    last = history()[-1]
    assert (last["action"], last["from"], last["to"]) == ("rollback", idle, live)
    written = logs()
    for name in APPS:
        assert written[name] == [f"after_rollback {lab['versions'][live]} {idle} {live}"]
    assert written[ROUTER] == ["after_rollback"]


def test_a_hook_file_that_does_not_exist_is_refused_before_the_lock(lab):
    before = router_state()
    missing = str(lab["folder"] / "missing.yml")
    result = playbook("switch", lab["vars"], json.dumps({"bluegreen_hooks": {"before_switch": missing}}))
    assert result.returncode != 0
    assert f"bluegreen.core.switch cannot run on {APPS[0]}: bluegreen_hooks.before_switch: {missing} is not on the controller" in result.output
    assert "Nothing was changed" in result.output and "Traceback" not in result.output
    assert router_state() == before
    assert all(lines == [] for lines in logs().values())

# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""bluegreen.core.app_release on a temporary app root, with systemctl faked and a real HTTP health check."""

from __future__ import annotations

import grp
import io
import json
import os
import re
import socket
import stat
import tarfile
import time

import pytest
from ansible_collections.bluegreen.core.plugins.module_utils import _release
from ansible_collections.bluegreen.core.plugins.modules import app_release
from ansible_collections.bluegreen.core.tests.unit.plugins.modules.module_helpers import closed_port, fake_app, run_module

GROUP = grp.getgrgid(os.getgid()).gr_name


def tarball(path, files: dict, links: dict | None = None, mode: int = 0o755) -> str:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            archive.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
    return str(path)


class Systemd:
    """systemctl and journalctl as the module sees them."""

    def __init__(self) -> None:
        self.calls: list = []
        self.active = False
        # What `systemctl show --value` says of the unit's ActiveState while the module waits for its health.
        self.state = "activating"

    def __call__(self, args: list, timeout: float = 0) -> tuple:
        self.calls.append(" ".join(args))
        if args[:2] == ["systemctl", "is-enabled"]:
            return 0, "enabled", ""
        if args[:2] == ["systemctl", "is-active"]:
            return (0, "active", "") if self.active else (3, "inactive", "")
        if args[:2] in (["systemctl", "restart"], ["systemctl", "start"]):
            self.active = True
        if args[0] == "journalctl":
            return 0, "Traceback (most recent call last):\nPermissionError: [Errno 13] Permission denied", ""
        if args[:2] == ["systemctl", "show"] and "--value" in args:
            return 0, self.state, ""
        if args[:2] == ["systemctl", "show"]:
            return 0, "ActiveState=failed\nSubState=failed\nResult=exit-code", ""
        return 0, "", ""


@pytest.fixture
def lab(tmp_path, monkeypatch):
    root = tmp_path / "shop"
    (root / "releases").mkdir(parents=True)
    systemd = Systemd()
    monkeypatch.setattr(_release, "run", systemd)
    # This machine's own listeners are not the test's: test_a_port_another_program_listens_on_* check port_holder.
    monkeypatch.setattr(_release, "port_holder", lambda port, unit: None)
    with fake_app() as app:
        yield {"root": root, "tmp": tmp_path, "systemd": systemd, "app": app,
               "artifact": tarball(tmp_path / "shop-2.0.0.tar.gz", {"bin/start": b"#!/bin/sh\n", "VERSION": b"2.0.0\n"})}


def args(lab: dict, **overrides: object) -> dict:
    base = {"app": "shop", "colour": "green", "version": "2.0.0", "artifact": lab["artifact"], "remote_artifact": True,
            "root": str(lab["root"]), "group": GROUP, "env_file": str(lab["tmp"] / "green.env"),
            "env": {"PORT": 8002, "DB_PASSWORD": "s3cret value"}, "health_url": lab["app"].url("/ok"), "start_timeout": 5,
            "unit_dir": str(lab["tmp"] / "units")}
    base.update(overrides)
    return base


def test_a_release_is_unpacked_linked_started_and_checked(lab):
    done = run_module(app_release.main, args(lab, _ansible_diff=True))
    assert done.failed is False, done.result
    root = lab["root"]
    assert os.readlink(root / "green") == "releases/2.0.0" and (root / "releases" / "2.0.0" / "VERSION").read_text() == "2.0.0\n"
    assert (done["changed"], done["unpacked"], done["previous_version"], done["unit"]) == (True, True, None, "restarted")
    assert done["health"]["passed"] == 1
    env = lab["tmp"] / "green.env"
    assert stat.S_IMODE(env.stat().st_mode) == 0o640 and 'DB_PASSWORD="s3cret value"' in env.read_text()
    assert "s3cret" not in str(done.result) and "DB_PASSWORD=********" in done["diff"][0]["after"]
    assert lab["systemd"].calls.index("systemctl reset-failed shop@green") < lab["systemd"].calls.index("systemctl restart shop@green")
    assert [p for p in os.listdir(root / "releases") if p.startswith(".")] == []


def test_the_same_release_again_changes_nothing(lab):
    run_module(app_release.main, args(lab))
    lab["systemd"].calls.clear()
    again = run_module(app_release.main, args(lab))
    assert (again.failed, again["changed"], again["unpacked"], again["unit"]) == (False, False, False, "running")
    assert not any("restart" in call for call in lab["systemd"].calls)


def test_check_mode_writes_nothing(lab):
    done = run_module(app_release.main, args(lab), check_mode=True)
    assert done.failed is False and done["changed"] is True
    assert os.listdir(lab["root"] / "releases") == [] and not (lab["root"] / "green").exists()
    assert not (lab["tmp"] / "green.env").exists() and lab["systemd"].calls == []


@pytest.mark.parametrize(("files", "links", "why"), [
    ({"/etc/cron.d/x": b"x"}, None, "a path outside the release"),
    ({"bin/start": b"x", "../../x": b"x"}, None, "a path outside the release"),
    ({"bin/start": b"x"}, {"bin/data": "../../../etc"}, "points outside the release"),
    ({"bin/start": b"x"}, {"etc": "/etc"}, "points outside the release"),
])
def test_an_archive_reaching_outside_the_release_is_refused_before_anything_is_written(lab, files, links, why):
    bad = tarball(lab["tmp"] / "bad.tar.gz", files, links)
    done = run_module(app_release.main, args(lab, artifact=bad))
    assert done.failed and why in done.msg and done["param"] == "artifact"
    assert os.listdir(lab["root"] / "releases") == [] and not (lab["root"] / "green").exists()


def test_a_release_without_its_executable_is_refused(lab):
    done = run_module(app_release.main, args(lab, artifact=tarball(lab["tmp"] / "x.tar.gz", {"app.py": b"x"})))
    assert done.failed and "no executable bin/start" in done.msg and "app.py" in done.msg
    assert os.listdir(lab["root"] / "releases") == []


def test_not_an_archive_is_refused(lab):
    path = lab["tmp"] / "notes.txt"
    path.write_text("hello")
    done = run_module(app_release.main, args(lab, artifact=str(path)))
    assert done.failed and "not a tar archive (plain, gz, xz or bz2) nor a zip archive" in done.msg


def test_a_colour_that_does_not_come_up_is_explained_with_its_journal(lab):
    done = run_module(app_release.main, args(lab, health_url=f"http://127.0.0.1:{closed_port()}/health", start_timeout=1))
    assert done.failed
    assert "shop@green: ActiveState=failed" in done.msg and "Permission denied" in done.msg
    assert done["previous_version"] is None and done["unpacked"] is True


def test_a_unit_systemd_gave_up_on_ends_the_health_wait_at_once(lab):
    lab["systemd"].state = "failed"
    started = time.monotonic()
    done = run_module(app_release.main, args(lab, health_url=f"http://127.0.0.1:{closed_port()}/health", start_timeout=30))
    assert done.failed and time.monotonic() - started < 10, done.msg
    assert done.msg.startswith("shop@green failed and systemd stopped restarting it, so its health was not waited for: ")
    assert "shop@green: ActiveState=failed" in done.msg and "Permission denied" in done.msg


def test_a_port_another_program_listens_on_is_refused_before_anything_changes(lab, monkeypatch):
    monkeypatch.setattr(_release, "port_holder", lambda port, unit: f"python3 (pid 236, demo@blue.service) on {port}"
                        if unit == "shop@green" else None)
    done = run_module(app_release.main, args(lab))
    assert done.failed and done["param"] == "env", done.msg
    assert done.msg.startswith("port 8002, where shop@green is to listen (env PORT), is taken on this host by python3 (pid 236, "
                               "demo@blue.service) on 8002: give shop ports no other program listens on (bluegreen_ports)")
    assert not os.listdir(lab["root"] / "releases") and not (lab["tmp"] / "green.env").exists()
    assert lab["systemd"].calls == []


def test_a_port_another_program_listens_on_is_named_from_proc_and_the_units_own_is_not():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        holder = _release.port_holder(port, "shop@green")
        assert holder is not None and f"(pid {os.getpid()}" in holder, holder
        own = re.findall(r"/([^/]+)\.service$", open(f"/proc/{os.getpid()}/cgroup", encoding="utf-8").read(), re.M)
        if own:
            assert _release.port_holder(port, own[-1]) is None
    assert _release.port_holder(port, "shop@green") is None


def test_the_holder_of_a_port_is_read_from_a_proc_tree(tmp_path):
    proc = tmp_path / "proc"
    (proc / "net").mkdir(parents=True)
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    # 8001 listens (0A) on 0.0.0.0 with inode 111; 8002 only has an established connection (01).
    (proc / "net" / "tcp").write_text(header + "   0: 00000000:1F41 00000000:0000 0A 0:0 0:0 0 0 0 111 1\n"
                                      "   1: 0100007F:1F42 0100007F:9C40 01 0:0 0:0 0 0 0 222 1\n")
    (proc / "net" / "tcp6").write_text(header + "   0: 00000000000000000000000000000000:1F43 0:0 0A 0:0 0:0 0 0 0 333 1\n")
    for pid, inode, unit in (("236", "111", "demo@blue.service"), ("300", "333", "shop@green.service")):
        (proc / pid / "fd").mkdir(parents=True)
        (proc / pid / "fd" / "3").symlink_to(f"socket:[{inode}]")
        (proc / pid / "comm").write_text("python3\n")
        (proc / pid / "cgroup").write_text(f"0::/system.slice/system-demo.slice/{unit}\n")
    assert _release.port_holder(8001, "shop@green", str(proc)) == "python3 (pid 236, demo@blue.service)"
    assert _release.port_holder(8002, "shop@green", str(proc)) is None
    assert _release.port_holder(8003, "shop@green", str(proc)) is None
    assert _release.port_holder(8003, "shop@blue", str(proc)) == "python3 (pid 300, shop@green.service)"
    # A process in a cgroup below the unit's (a unit that delegates its cgroup) is the unit's.
    (proc / "300" / "cgroup").write_text("0::/system.slice/shop@green.service/payload/init.scope\n")
    assert _release.port_holder(8003, "shop@green", str(proc)) is None
    assert _release.port_holder(8003, "shop@blue", str(proc)) == "python3 (pid 300, shop@green.service)"
    (proc / "net" / "tcp").write_text(header + "   0: 00000000:1F41 00000000:0000 0A 0:0 0:0 0 0 0 999 1\n")
    assert _release.port_holder(8001, "shop@green", str(proc)).startswith("a process this host does not name")


def test_a_second_release_reports_the_previous_one_and_prunes_beyond_the_limit(lab):
    for number in range(1, 5):
        version = f"{number}.0.0"
        artifact = tarball(lab["tmp"] / f"{version}.tar.gz", {"bin/start": b"x"})
        done = run_module(app_release.main, args(lab, version=version, artifact=artifact, keep_releases=2,
                                                 colour="blue" if number == 1 else "green"))
        assert done.failed is False, done.result
        os.utime(lab["root"] / "releases" / version, (number, number))
    assert done["previous_version"] == "3.0.0"
    # 1.0.0 stays: blue points at it.
    assert sorted(os.listdir(lab["root"] / "releases")) == ["1.0.0", "3.0.0", "4.0.0"]


def test_without_an_artifact_a_release_in_place_is_used_and_a_missing_one_is_refused(lab):
    run_module(app_release.main, args(lab))
    back = run_module(app_release.main, args(lab, artifact=None, colour="blue"))
    assert back.failed is False and os.readlink(lab["root"] / "blue") == "releases/2.0.0"
    missing = run_module(app_release.main, args(lab, artifact=None, version="9.9.9"))
    assert missing.failed and "no artifact was given" in missing.msg


@pytest.mark.parametrize(("override", "param"), [
    ({"version": "../2"}, "version"),
    ({"app": "shop; rm"}, "app"),
    ({"executable": "/bin/sh"}, "executable"),
    ({"env": {"A": "line\nbreak"}}, "env"),
    ({"env": {"1A": "x"}}, "env"),
    ({"env": {"": "x"}}, "env"),
    ({"env": {"A": "nul\0"}}, "env"),
    ({"secrets": {"PASS WORD": "x"}}, "secrets"),
    ({"secrets": {"DB_PASSWORD": "x"}}, "secrets"),
    ({"keep_releases": 0}, "keep_releases"),
])
def test_bad_input_names_the_option_and_changes_nothing(lab, override, param):
    done = run_module(app_release.main, args(lab, **override))
    assert done.failed and done["param"] == param, done.result
    assert os.listdir(lab["root"] / "releases") == [] and lab["systemd"].calls == []


def test_secrets_go_to_the_env_file_and_nowhere_else(lab):
    done = run_module(app_release.main, args(lab, env={"PORT": 8002}, secrets={"API_TOKEN": "tok-9f8e7d"}, _ansible_diff=True))
    assert not done.failed, done.result
    assert 'API_TOKEN="tok-9f8e7d"' in (lab["tmp"] / "green.env").read_text()
    assert "tok-9f8e7d" not in json.dumps(done.result) and "API_TOKEN=********" in done["diff"][0]["after"]
    # The module's own invocation (printed raw with -vvv) shows the env's names, not its values.
    assert done["invocation"]["module_args"]["env"] == {"PORT": "********"}
    # A value that breaks the file is refused naming the variable, never showing the value.
    bad = run_module(app_release.main, args(lab, secrets={"API_TOKEN": "tok-9f8e7d\nEVIL=1"}))
    assert bad.failed and bad["param"] == "secrets" and "API_TOKEN" in bad.msg and "tok-9f8e7d" not in json.dumps(bad.result)
    failed = run_module(app_release.main, args(lab, env={"DB_PASSWORD": "pw-31a7\nX=1"}))
    assert failed.failed and "pw-31a7" not in json.dumps(failed.result)


def test_the_action_plugin_hides_the_env_values_in_the_invocation():
    from ansible_collections.bluegreen.core.plugins.action.app_release import hide_env

    result = {"invocation": {"module_args": {"env": {"DB_PASSWORD": "s3cret", "PORT": 8002}, "version": "2.0.0"}}}
    assert hide_env(result)["invocation"]["module_args"] == {"env": {"DB_PASSWORD": "********", "PORT": "********"}, "version": "2.0.0"}
    assert hide_env({"failed": True}) == {"failed": True}


# --------------------------------------------------------------------------- artifacts as CI builds them

USER = __import__("pwd").getpwuid(os.getuid()).pw_name


def ci_tarball(lab, name: str, files: dict, top_mode: int = 0o700) -> str:
    """A CI-style archive: everything in one top folder (git archive --prefix), its root entry 0700."""
    path = lab["tmp"] / name
    top = name.split(".tar", 1)[0]
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo(top)
        info.type, info.mode = tarfile.DIRTYPE, top_mode
        archive.addfile(info)
        for member, data in files.items():
            info = tarfile.TarInfo(f"{top}/{member}")
            info.size, info.mode = len(data), 0o600
            archive.addfile(info, io.BytesIO(data))
    return str(path)


def test_a_ci_archive_with_one_top_folder_and_a_0700_root_runs_a_command(lab):
    artifact = ci_tarball(lab, "shop-3.1.0.tar.gz", {"shop.py": b"print('hi')\n"})
    done = run_module(app_release.main, args(lab, version="3.1.0", artifact=artifact, _ansible_diff=True,
                                             command="/usr/bin/python3 shop.py --port=${PORT}",
                                             unit_settings={"LimitNOFILE": 4096, "NoNewPrivileges": True}))
    assert done.failed is False, done.result
    release = lab["root"] / "releases" / "3.1.0"
    assert sorted(os.listdir(release)) == [".bluegreen-release.json", "shop.py"]
    assert stat.S_IMODE(release.stat().st_mode) == 0o755 and stat.S_IMODE((release / "shop.py").stat().st_mode) == 0o644
    record = json.loads((release / ".bluegreen-release.json").read_text())
    assert record == {"version": "3.1.0", "sha256": done["checksum"], "complete": True}
    dropin = (lab["tmp"] / "units" / "shop@green.service.d" / "bluegreen-release.conf").read_text()
    assert "ExecStart=\nExecStart=/usr/bin/python3 shop.py --port=${PORT}\n" in dropin
    assert "LimitNOFILE=4096\nNoNewPrivileges=yes\n" in dropin and "systemctl daemon-reload" in lab["systemd"].calls
    assert done["diff"][1]["after"] == dropin and done["previous_unit"] is None
    again = run_module(app_release.main, args(lab, version="3.1.0", artifact=artifact, command="bin/server --port=${PORT}"))
    assert again.failed and "no executable bin/server (command)" in again.msg
    assert json.loads((release / ".bluegreen-release.json").read_text())["complete"] is True


def test_the_executable_relative_to_the_colour_is_started_when_no_command_is_given(lab):
    run_module(app_release.main, args(lab))
    dropin = (lab["tmp"] / "units" / "shop@green.service.d" / "bluegreen-release.conf").read_text()
    assert f"ExecStart={lab['root']}/green/bin/start\n" in dropin


def test_a_wrong_checksum_is_refused_before_anything_changes(lab):
    done = run_module(app_release.main, args(lab, checksum="sha256:" + "a" * 64))
    assert done.failed and done["param"] == "checksum" and "not the sha256:aaaa" in done.msg
    assert os.listdir(lab["root"] / "releases") == [] and lab["systemd"].calls == []
    bad = run_module(app_release.main, args(lab, checksum="md5:0123"))
    assert bad.failed and bad["param"] == "checksum" and "64 hex digits" in bad.msg


def test_the_same_version_with_another_artifact_is_refused_naming_both_checksums(lab):
    first = run_module(app_release.main, args(lab))
    other = tarball(lab["tmp"] / "other.tar.gz", {"bin/start": b"#!/bin/sh\n# fixed\n"})
    done = run_module(app_release.main, args(lab, artifact=other, colour="blue"))
    assert done.failed and first["checksum"] in done.msg and _artifact_sum(other) in done.msg
    assert "green runs it now" in done.msg and done["param"] == "version"
    # Not even with redeploy: green runs it.
    forced = run_module(app_release.main, args(lab, artifact=other, colour="blue", redeploy=True))
    assert forced.failed and "green runs it now" in forced.msg
    assert (lab["root"] / "releases" / "2.0.0" / "bin" / "start").read_bytes() == b"#!/bin/sh\n"


def _artifact_sum(path: str) -> str:
    from ansible_collections.bluegreen.core.plugins.module_utils import _artifact

    return _artifact.sha256_of(path)


def test_redeploy_replaces_a_release_the_other_colour_does_not_run(lab):
    run_module(app_release.main, args(lab))
    other = tarball(lab["tmp"] / "other.tar.gz", {"bin/start": b"#!/bin/sh\n# fixed\n"})
    refused = run_module(app_release.main, args(lab, artifact=other))
    assert refused.failed and refused["param"] == "redeploy" and "set redeploy=true" in refused.msg
    done = run_module(app_release.main, args(lab, artifact=other, redeploy=True))
    assert done.failed is False and done["unpacked"] is True and done["unit"] == "restarted"
    assert (lab["root"] / "releases" / "2.0.0" / "bin" / "start").read_bytes() == b"#!/bin/sh\n# fixed\n"
    assert [p for p in os.listdir(lab["root"] / "releases") if p.startswith(".")] == []


def test_an_incomplete_release_is_replaced(lab):
    release = lab["root"] / "releases" / "2.0.0"
    release.mkdir()
    (release / ".bluegreen-release.json").write_text('{"complete": false, "sha256": "sha256:x"}')
    (release / "half").write_text("an interrupted deploy")
    done = run_module(app_release.main, args(lab))
    assert done.failed is False and done["unpacked"] is True and not (release / "half").exists()
    restore = run_module(app_release.main, args(lab, artifact=None, version="2.0.0"))
    assert restore.failed is False
    (release / ".bluegreen-release.json").write_text('{"complete": false}')
    stuck = run_module(app_release.main, args(lab, artifact=None))
    assert stuck.failed and "is incomplete" in stuck.msg


def test_shared_dirs_are_linked_and_the_build_runs_as_the_app_user(lab):
    build = b"mkdir -p .venv/bin && printf '#!/bin/sh\\n' > .venv/bin/run && chmod 700 .venv/bin/run && id -un > built-by && echo built"
    artifact = ci_tarball(lab, "shop-4.0.0.tar.gz", {"build.sh": build, "data/.keep": b""})
    done = run_module(app_release.main, args(lab, version="4.0.0", artifact=artifact, user=USER, shared_dirs=["data", "var/cache"],
                                             build=["sh build.sh"], command=".venv/bin/run --port ${PORT}"))
    assert done.failed is False, done.result
    release = lab["root"] / "releases" / "4.0.0"
    assert os.readlink(release / "data") == str(lab["root"] / "shared" / "data")
    assert os.readlink(release / "var" / "cache") == str(lab["root"] / "shared" / "var" / "cache")
    assert (lab["root"] / "shared" / "data").is_dir() and (release / "built-by").read_text().strip() == USER
    assert stat.S_IMODE((release / ".venv" / "bin" / "run").stat().st_mode) == 0o755 and (release / ".venv").stat().st_uid == 0
    assert done["build"] == [{"command": "sh build.sh", "rc": 0, "seconds": done["build"][0]["seconds"], "output": "built"}]


def test_a_failing_build_keeps_no_release_and_shows_its_output(lab):
    artifact = ci_tarball(lab, "shop-5.0.0.tar.gz", {"build.sh": b"echo collecting wheels; echo 'ERROR: no wheel for flask' >&2; exit 3"})
    done = run_module(app_release.main, args(lab, version="5.0.0", artifact=artifact, user=USER, build=["true", "sh build.sh"],
                                             command="/bin/true"))
    assert done.failed and done["param"] == "build" and "exited with 3" in done.msg
    assert "ERROR: no wheel for flask" in done.msg and "collecting wheels" in done.msg
    assert os.listdir(lab["root"] / "releases") == [] and not (lab["root"] / "green").exists() and lab["systemd"].calls == []
    slow = run_module(app_release.main, args(lab, version="5.0.0", artifact=artifact, user=USER, build=["sleep 30"],
                                             build_timeout=1, command="/bin/true"))
    assert slow.failed and "did not finish within bluegreen_app_build_timeout (1s in all)" in slow.msg
    assert os.listdir(lab["root"] / "releases") == []


def test_a_failed_redeploy_puts_the_release_it_replaced_back(lab):
    run_module(app_release.main, args(lab))
    broken = tarball(lab["tmp"] / "broken.tar.gz", {"bin/start": b"#!/bin/sh\n# new\n"})
    done = run_module(app_release.main, args(lab, artifact=broken, redeploy=True, user=USER, build=["exit 1"]))
    assert done.failed and (lab["root"] / "releases" / "2.0.0" / "bin" / "start").read_bytes() == b"#!/bin/sh\n"
    assert os.readlink(lab["root"] / "green") == "releases/2.0.0"


def test_the_unit_it_ran_before_is_returned_for_putting_it_back(lab):
    run_module(app_release.main, args(lab, command="bin/start --old"))
    done = run_module(app_release.main, args(lab, command="bin/start --new", unit_settings={"TimeoutStopSec": 5}))
    assert done["previous_unit"] == {"command": "bin/start --old", "unit_settings": {}}
    assert done["unit_changed"] is True and done["unit"] == "restarted"


def test_the_health_wait_sends_the_health_host_and_takes_its_statuses(lab):
    done = run_module(app_release.main, args(lab, health_url=lab["app"].url("/status/204"), health_status=[200, 204],
                                             health_host="shop.example.test"))
    assert done.failed is False, done.result
    assert lab["app"].requests[-1][2]["Host"] == "shop.example.test"


@pytest.mark.parametrize(("override", "param", "words"), [
    ({"command": "bin/start\n--evil"}, "command", "newline"),
    ({"command": "bin/start 'unclosed"}, "command", "cannot be split"),
    ({"unit_settings": {"User": "root"}}, "unit_settings", "manages itself"),
    ({"unit_settings": {"LimitNOFILEE": 1}}, "unit_settings", "not a [Service] setting"),
    ({"unit_settings": {"MemoryMax": "1G\nUser=root"}}, "unit_settings", "one non-empty line"),
    ({"shared_dirs": ["/var/data"]}, "shared_dirs", "relative path"),
    ({"shared_dirs": ["data/../.."]}, "shared_dirs", "relative path"),
    ({"build": [""]}, "build", "must be a command"),
    ({"health_status": [999]}, "health_status", "from 100 to 599"),
    ({"health_host": "http://shop"}, "health_host", "not a host name"),
    ({"headers": {"Authorization": "Bearer x\r\nEvil: 1"}}, "headers", "one line"),
    ({"strip": "maybe"}, None, "strip"),
])
def test_bad_release_settings_are_refused_naming_the_option(lab, override, param, words):
    done = run_module(app_release.main, args(lab, **override))
    assert done.failed and words in done.msg, done.result
    if param:
        assert done["param"] == param
    assert os.listdir(lab["root"] / "releases") == [] and lab["systemd"].calls == []
    assert "Bearer" not in json.dumps(done.result)


class _ArtifactServer:
    """A CI artifact store on loopback: serves one file to requests with the right Authorization."""

    def __init__(self, path: str, authorization: str) -> None:
        import http.server
        import threading

        data = open(path, "rb").read()  # noqa: SIM115 - read whole, once

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the standard library's name
                if self.headers.get("Authorization") != authorization:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="ci"')
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/shop-2.0.0.tar.gz"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_url_artifact_is_fetched_by_the_host_with_its_headers_or_basic_auth_never_shown(lab):
    import base64

    server = _ArtifactServer(lab["artifact"], "Bearer tok-4af1")
    try:
        refused = run_module(app_release.main, args(lab, artifact=server.url, headers={"Authorization": "Bearer wrong-9c"}))
        assert refused.failed and "failed: 401" in refused.msg and refused["param"] == "artifact"
        assert "wrong-9c" not in json.dumps(refused.result) and os.listdir(lab["root"] / "releases") == []
        done = run_module(app_release.main, args(lab, artifact=server.url, headers={"Authorization": "Bearer tok-4af1"},
                                                 checksum=_artifact_sum(lab["artifact"])))
        assert done.failed is False, done.result
        assert "tok-4af1" not in json.dumps(done.result) and done["invocation"]["module_args"]["headers"] == {"Authorization": "********"}
        # Nothing of the download is left beside the releases.
        assert sorted(os.listdir(lab["root"] / "releases")) == ["2.0.0"]
    finally:
        server.close()
    basic = _ArtifactServer(lab["artifact"], "Basic " + base64.b64encode(b"ci:pw-8e2").decode())
    try:
        done = run_module(app_release.main, args(lab, version="2.0.1", artifact=basic.url, url_username="ci", url_password="pw-8e2"))
        assert done.failed is False, done.result
        assert "pw-8e2" not in json.dumps(done.result)
    finally:
        basic.close()


def test_what_a_build_leaves_cannot_turn_roots_changes_outside_the_release(lab):
    outside = lab["tmp"] / "outside-secret"
    outside.write_text("secret")
    outside.chmod(0o600)
    build = (f"ln -s {outside} leak && mkfifo pipe && mkdir d && ln -s {lab['tmp']} d/up && "
             "(sleep 31.25 > /dev/null 2>&1 &) && echo done")
    artifact = ci_tarball(lab, "shop-6.0.0.tar.gz", {"bin/start": b"#!/bin/sh\n"})
    done = run_module(app_release.main, args(lab, version="6.0.0", artifact=artifact, user=USER, build=[build],
                                             command="/bin/true"))
    assert done.failed is False, done.result
    release = lab["root"] / "releases" / "6.0.0"
    # The link stays a link; the file it points at keeps its mode; the FIFO is gone.
    assert os.path.islink(release / "leak") and stat.S_IMODE(outside.stat().st_mode) == 0o600
    assert not os.path.lexists(release / "pipe") and os.path.islink(release / "d" / "up")
    # The process the build left in the background was killed with it.
    import subprocess

    assert subprocess.run(["pgrep", "-f", "sleep 31.25"], capture_output=True, check=False).returncode == 1


def test_activate_false_puts_the_release_in_place_only_and_a_second_call_without_the_artifact_activates_it(lab):
    staged = run_module(app_release.main, args(lab, activate=False))
    assert staged.failed is False and (staged["changed"], staged["unpacked"], staged["unit"]) == (True, True, None)
    assert (lab["root"] / "releases" / "2.0.0" / "VERSION").exists() and not (lab["root"] / "green").exists()
    assert not (lab["tmp"] / "green.env").exists() and lab["systemd"].calls == []
    done = run_module(app_release.main, args(lab, artifact=None, remote_artifact=False))
    assert done.failed is False and (done["changed"], done["unpacked"], done["unit"]) == (True, False, "restarted")
    assert os.readlink(lab["root"] / "green") == "releases/2.0.0"

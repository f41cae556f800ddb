# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""bluegreen.core.app_info on a temporary app root, with systemctl and dpkg-query faked."""

from __future__ import annotations

import os
import sys

import pytest
import yaml
from ansible_collections.bluegreen.core.plugins.modules import app_info
from ansible_collections.bluegreen.core.tests.unit.plugins.module_utils.test_parity import systemctl_cat
from ansible_collections.bluegreen.core.tests.unit.plugins.modules.module_helpers import run_module


class Host:
    """systemctl and dpkg-query as the module sees them; this test's own process is the colours' main process."""

    def __init__(self) -> None:
        self.calls: list = []
        self.pid = str(os.getpid())
        self.owner = "python3.11-minimal: " + os.path.realpath(sys.executable)

    def __call__(self, args: list, timeout: float = 0) -> tuple:
        self.calls.append(args)
        if args[:2] == ["systemctl", "cat"]:
            unit = args[-1]
            return (0, systemctl_cat(unit.split("@")[1]), "") if unit.startswith("shop@") else (1, "", "No files found")
        if args[:2] == ["systemctl", "show"]:
            return 0, self.pid + "\n", ""
        if args[:2] == ["dpkg-query", "-S"]:
            return (0, self.owner + "\n", "") if self.owner else (1, "", "no path found")
        if args == ["dpkg-query", "-W", "-f", app_info.DPKG_FORMAT]:
            return 0, "ii \tpython3.11\t3.11.2-6\nrc \told\t1\n", ""
        if args[:3] == ["dpkg-query", "-W", "-f"]:
            return 0, "3.11.2-6", ""
        raise AssertionError(f"unexpected command {args}")


@pytest.fixture
def lab(tmp_path, monkeypatch):
    root, config = tmp_path / "shop", tmp_path / "etc"
    for version in ("1.0.0", "2.0.0"):
        (root / "releases" / version).mkdir(parents=True)
    (root / "shared" / "uploads").mkdir(parents=True)
    config.mkdir()
    os.symlink("releases/1.0.0", root / "blue")
    os.symlink("releases/2.0.0", root / "green")
    os.symlink(str(root / "shared" / "uploads"), root / "releases" / "2.0.0" / "uploads")
    (config / "blue.env").write_text('PORT="8001"\nDB_PASSWORD="s3cret"\n')
    (config / "green.env").write_text('PORT="8002"\nDB_PASSWORD="s3cret"\nDEBUG="1"\n')
    host = Host()
    monkeypatch.setattr(app_info, "run", host)
    return {"root": str(root), "config_dir": str(config), "host": host}


def args(lab: dict, **overrides: object) -> dict:
    return dict({"app": "shop", "root": lab["root"], "config_dir": lab["config_dir"]}, **overrides)


def test_each_colour_is_read_without_its_name_and_without_a_value(lab):
    result = run_module(app_info.main, args(lab))
    assert not result.failed, result.msg
    assert result["changed"] is False and result["packages"] is None
    blue, green = result["colours"]["blue"], result["colours"]["green"]
    assert (blue["version"], green["version"]) == ("1.0.0", "2.0.0")
    assert blue["unit"] == green["unit"] and blue["command"] == green["command"]
    assert blue["command"] == "/opt/bluegreen/shop/<colour>/bin/start --name shop-<colour>"
    assert blue["env"] == ["DB_PASSWORD", "PORT"] and green["env"] == ["DB_PASSWORD", "DEBUG", "PORT"]
    assert blue["shared_dirs"] == {} and green["shared_dirs"] == {"uploads": "uploads"}
    assert blue["runtime"] == f"python3.11-minimal 3.11.2-6 {os.path.realpath(sys.executable)}"
    assert "s3cret" not in str(result.result) and "8001" not in str(result.result)


def test_packages_are_read_once_when_asked_and_check_mode_reads_the_same(lab):
    result = run_module(app_info.main, args(lab, colours=["green"], packages=True), check_mode=True)
    assert not result.failed, result.msg
    assert list(result["colours"]) == ["green"] and result["packages"] == {"python3.11": "3.11.2-6"}
    assert sum(call == ["dpkg-query", "-W", "-f", app_info.DPKG_FORMAT] for call in lab["host"].calls) == 1


def test_a_runtime_in_no_package_is_named_with_its_digest_and_a_stopped_colour_has_none(lab):
    lab["host"].owner = None
    result = run_module(app_info.main, args(lab, colours=["blue"]))
    assert result["colours"]["blue"]["runtime"].startswith(f"{os.path.realpath(sys.executable)} (in no package, sha256 ")
    lab["host"].pid = "0"
    assert run_module(app_info.main, args(lab, colours=["blue"]))["colours"]["blue"]["runtime"] is None


def test_an_app_with_nothing_on_the_host_reads_as_missing(lab, tmp_path):
    result = run_module(app_info.main, args(lab, app="other", root=str(tmp_path / "none"), config_dir=str(tmp_path / "none")))
    assert not result.failed, result.msg
    assert result["colours"]["blue"] == {"version": None, "unit": None, "command": None, "env": None, "shared_dirs": None,
                                         "runtime": f"python3.11-minimal 3.11.2-6 {os.path.realpath(sys.executable)}"}


def test_a_bad_app_name_is_refused_naming_it(lab):
    result = run_module(app_info.main, args(lab, app="shop;reboot"))
    assert result.failed and result["param"] == "app"


def test_the_documentation_matches_the_argument_spec():
    documented = yaml.safe_load(app_info.DOCUMENTATION)["options"]
    spec = app_info.argument_spec()
    assert set(documented) == set(spec)
    for name, option in spec.items():
        assert documented[name]["type"] == option["type"], name
        assert documented[name].get("default") == option.get("default"), name

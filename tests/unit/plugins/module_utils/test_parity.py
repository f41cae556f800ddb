# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parity of the colours: what one host reads, in a form that does not name the colour, and where blue and green
differ across the hosts that run them."""

from __future__ import annotations

import os

import pytest
from ansible_collections.bluegreen.core.plugins.module_utils import _parity


def systemctl_cat(colour: str, extra: str = "") -> str:
    """What `systemctl cat shop@<colour>` prints for a unit the app role made."""
    return f"""# /etc/systemd/system/shop@.service
# Ansible managed
# One instance per colour: shop@blue and shop@green.
[Unit]
Description=shop (%i colour), released by bluegreen.core
ConditionPathExists=/opt/bluegreen/shop/%i

[Service]
User=shop
EnvironmentFile=/etc/bluegreen/shop/%i.env
ExecStart=/opt/bluegreen/shop/%i/bin/start
Restart=on-failure

# /etc/systemd/system/shop@{colour}.service.d/bluegreen-release.conf
# Managed by bluegreen.core: how shop@{colour} starts, written with each release.
# bluegreen: {{"command": "./bin/start", "unit_settings": {{}}}}
[Service]
ExecStart=
ExecStart=/opt/bluegreen/shop/{colour}/bin/start --name shop-{colour}
LimitNOFILE=4096
{extra}"""


def test_the_colour_is_normalised_as_a_word_only():
    assert _parity.normalise("/opt/bluegreen/shop/blue/bin, shop@blue, blue.env, blueish", "blue") == \
        "/opt/bluegreen/shop/<colour>/bin, shop@<colour>, <colour>.env, blueish"


def test_the_units_of_both_colours_read_the_same_when_alike():
    blue, green = _parity.unit_settings(systemctl_cat("blue"), "blue"), _parity.unit_settings(systemctl_cat("green"), "green")
    assert blue == green
    settings, command = blue
    # The drop-in's empty ExecStart= resets the template's.
    assert command == "/opt/bluegreen/shop/<colour>/bin/start --name shop-<colour>"
    assert "Service.ExecStart" not in settings
    assert settings["Service.LimitNOFILE"] == "4096" and settings["Service.User"] == "shop"
    assert settings["files"] == ("/etc/systemd/system/shop@.service, "
                                 "/etc/systemd/system/shop@<colour>.service.d/bluegreen-release.conf")


def test_environment_settings_of_a_unit_keep_their_names_only():
    extra = 'Environment=TOKEN=s3cret "DSN=pg://u:pw@db/x"\nSetCredential=api:hunter2\n'
    settings, _command = _parity.unit_settings(systemctl_cat("blue", extra), "blue")
    assert settings["Service.Environment"] == "TOKEN DSN"
    assert settings["Service.SetCredential"] == "api"
    assert "s3cret" not in str(settings) and "pw@db" not in str(settings) and "hunter2" not in str(settings)
    # Words that cannot be told apart give no part of the value.
    assert _parity.names_only('A="unbalanced') == "(set)"
    assert _parity.names_only("=secret") == "(set)"


def test_env_names_never_carry_a_value():
    text = '# Managed by bluegreen.core\nPORT="8001"\nDB_PASSWORD="s3cret=1"\nexport EXTRA=1\nnot a line\n'
    names = _parity.env_names(text)
    assert names == ["DB_PASSWORD", "EXTRA", "PORT"]


def test_packages_installed_are_read_and_removed_ones_left_out():
    text = ("ii \tpython3.11\t3.11.2-6\n"
            "rc \tdemo-old\t1.0\n"
            "iU \tlibhalf\t2.0\n"
            "ii \tlibc6:amd64\t2.36-9\n"
            "un \tnever\t\n"
            "garbage\n")
    assert _parity.packages(text) == {"libc6:amd64": "2.36-9", "libhalf": "2.0 (not fully installed)", "python3.11": "3.11.2-6"}


def test_the_owner_of_a_file_is_its_first_package():
    assert _parity.owner("python3.11-minimal: /usr/bin/python3.11\n") == "python3.11-minimal"
    assert _parity.owner("diversion by x from: /bin/sh\nlibc6:amd64, libc6-dev:amd64: /usr/lib/x\n") == "libc6:amd64"
    assert _parity.owner("") is None


def test_shared_dirs_are_the_links_into_the_shared_folder(tmp_path):
    release, shared = tmp_path / "releases" / "2.0.0", tmp_path / "shared"
    (release / "var").mkdir(parents=True)
    (shared / "uploads").mkdir(parents=True)
    os.symlink(str(shared / "uploads"), release / "uploads")
    os.symlink(str(shared / "cache"), release / "var" / "cache")
    os.symlink("/etc/hosts", release / "hosts")
    os.symlink("releases/2.0.0", tmp_path / "blue")
    assert _parity.shared_dirs(str(tmp_path / "blue") + "/", str(shared)) == {"uploads": "uploads", "var/cache": "cache"}
    assert _parity.shared_dirs(str(tmp_path / "green") + "/", str(shared)) is None
    assert list(_parity.shared_dirs(str(release), str(shared), limit=1)) == ["(too many files to search)"]


def reading(version="2.0.0", unit=None, command="/opt/shop/<colour>/bin/start", env=("PORT",), shared=None,
            runtime="python3.11-minimal 3.11.2-6 /usr/bin/python3.11") -> dict:
    return {"version": version, "unit": {"files": "/etc/systemd/system/shop@.service"} if unit is None else unit,
            "command": command, "env": list(env), "shared_dirs": shared or {}, "runtime": runtime}


FLEETS = {"blue": ["app1", "app2"], "green": ["app3", "app4"]}


def fleet(packages=None, **by_host) -> dict:
    """Readings of the fleets: each host its colour's reading, with the given packages; by_host overrides one."""
    readings = {}
    for colour, hosts in FLEETS.items():
        for host in hosts:
            readings[host] = {"colours": {colour: by_host.get(host, reading(version="1.0.0" if colour == "blue" else "2.0.0"))},
                              "packages": dict((packages or {}).get(host, {"python3": "3.11.2-1"}))}
    return readings


def test_alike_colours_have_no_drift_and_their_releases_may_differ():
    report = _parity.compare(FLEETS, fleet(), "shop", "fleets")
    assert report["ok"] is True and report["drift"] == []
    assert report["versions"] == {"blue": "1.0.0", "green": "2.0.0"}
    assert report["aspects"] == ["unit", "command", "env", "shared_dirs", "runtime", "packages"]
    assert report["hosts"] == FLEETS and report["colours"] == ["blue", "green"]
    assert "match in every aspect compared" in _parity.table(report)[0]


def test_a_package_on_one_colour_only_is_drift():
    extra = {"python3": "3.11.2-1", "tree": "2.1.0-1"}
    report = _parity.compare(FLEETS, fleet(packages={"app1": extra, "app2": extra}), "shop", "fleets")
    assert report["drift"] == [{"aspect": "packages", "key": "tree", "blue": "2.1.0-1", "green": "absent"}]
    assert report["ok"] is False


def test_a_package_on_some_hosts_of_a_colour_is_drift_naming_them():
    packages = {"app1": {"python3": "3.11.2-1"}, "app2": {"python3": "3.11.2-2"},
                "app3": {"python3": "3.11.2-1"}, "app4": {"python3": "3.11.2-1"}}
    (row,) = _parity.compare(FLEETS, fleet(packages=packages), "shop", "fleets")["drift"]
    assert row == {"aspect": "packages", "key": "python3", "blue": "3.11.2-1 on app1; 3.11.2-2 on app2", "green": "3.11.2-1"}
    # The same disagreement in both colours is drift too: each colour's hosts must agree.
    packages["app4"] = {"python3": "3.11.2-2"}
    (row,) = _parity.compare(FLEETS, fleet(packages=packages), "shop", "fleets")["drift"]
    assert row["blue"] == "3.11.2-1 on app1; 3.11.2-2 on app2" and row["green"] == "3.11.2-1 on app3; 3.11.2-2 on app4"


def test_each_aspect_reports_its_own_drift():
    green = reading(unit={"files": "/etc/systemd/system/shop@.service", "Service.LimitNOFILE": "4096"},
                    command="/usr/bin/java -jar <colour>.jar", env=("PORT", "DB_URL"), shared={"uploads": "uploads"},
                    runtime=None)
    readings = fleet(app3=green, app4=green)
    rows = {(row["aspect"], row["key"]): (row["blue"], row["green"]) for row in _parity.compare(FLEETS, readings, "shop")["drift"]}
    assert rows == {
        ("unit", "Service.LimitNOFILE"): ("absent", "4096"),
        ("command", "ExecStart"): ("/opt/shop/<colour>/bin/start", "/usr/bin/java -jar <colour>.jar"),
        ("env", "DB_URL"): ("absent", "set"),
        ("shared_dirs", "uploads"): ("absent", "uploads"),
        ("runtime", "program"): ("python3.11-minimal 3.11.2-6 /usr/bin/python3.11", "not running"),
    }


def test_missing_files_are_drift_and_the_slots_topology_compares_no_packages():
    hosts = {"blue": ["app1"], "green": ["app1"]}
    empty = dict(reading(version=None), unit=None, env=None, shared_dirs=None)
    readings = {"app1": {"colours": {"blue": reading(), "green": empty}, "packages": None}}
    report = _parity.compare(hosts, readings, "shop")
    assert "packages" not in report["aspects"]
    rows = {(row["aspect"], row["key"]): (row["blue"], row["green"]) for row in report["drift"]}
    assert rows[("unit", "(unit)")] == ("absent", "missing")
    assert rows[("env", "(env file)")] == ("absent", "missing") and rows[("env", "PORT")] == ("set", "absent")
    assert rows[("shared_dirs", "(release)")] == ("absent", "missing")
    assert report["versions"] == {"blue": "2.0.0", "green": None}


def test_a_host_without_a_reading_is_refused():
    readings = fleet()
    del readings["app4"]
    with pytest.raises(ValueError, match="no reading of app4"):
        _parity.compare(FLEETS, readings, "shop")


def test_the_table_aligns_its_columns_and_the_reason_sums_up():
    extra = {"python3": "3.11.2-1", "tree": "2.1.0-1"}
    report = _parity.compare(FLEETS, fleet(packages={"app1": extra, "app2": extra}), "shop", "fleets")
    lines = _parity.table(report)
    assert lines[0].startswith("shop: blue (app1, app2; release 1.0.0) and green (app3, app4; release 2.0.0) differ in 1 place")
    assert lines[1].split() == ["ASPECT", "KEY", "BLUE", "GREEN"] and lines[2].split() == ["packages", "tree", "2.1.0-1", "absent"]
    assert lines[1].index("KEY") == lines[2].index("tree") and lines[1].index("GREEN") == lines[2].index("absent")
    assert _parity.reason(report) == "blue and green differ in 1 place: packages tree: blue 2.1.0-1, green absent"
    many = dict(report, drift=report["drift"] * 7)
    assert _parity.reason(many).endswith("; and 2 more (see the table above)")
    long = dict(report, drift=[dict(report["drift"][0], blue="x" * 100)])
    assert "x" * 45 + "..." in _parity.table(long)[2]

# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The parity check (docs/parity.md) in the fleets topology, from the state the earlier tests left (the live colour and
the release in each colour are read here, not assumed; the inventory is Molecule's plus tests/grow.yml, as in
test_3 and test_4).

A drift made on purpose: a tiny Debian package, built with dpkg-deb on each host of the idle colour and installed with
dpkg (the lab has no package cache and may have no mirror), is reported by the parity playbook (its table and
bluegreen_parity) and by a release with bluegreen_parity_check=warn, which switches anyway; a release with fail stops
before the switch, the live colour untouched and the idle colour back on its release. The package is purged at the
end, whatever happened, and parity then finds the colours alike again.
"""

from __future__ import annotations

import os
import re

import pytest
from lab_helpers import APP, MAP_FILE, ROUTER, build_demo, history, host, live, module, playbook, playbook_json

GROW = os.path.join(os.path.dirname(__file__), "grow.yml")
FLEETS = {"blue": ("bgf-app1", "bgf-app2"), "green": ("bgf-app3", "bgf-app5")}
ROOT = f"/opt/bluegreen/{APP}"
PACKAGE = "bluegreen-parity-probe"
PACKAGE_VERSION = "1.0"
# Built and installed on the host itself: a package of one README, architecture all.
INSTALL = f"""set -e
work=$(mktemp -d)
mkdir -p "$work/pkg/DEBIAN" "$work/pkg/usr/share/doc/{PACKAGE}"
printf '%s\\n' 'Package: {PACKAGE}' 'Version: {PACKAGE_VERSION}' 'Architecture: all' \\
    'Maintainer: bluegreen.core tests <tests@example.invalid>' \\
    'Description: a parity drift made on purpose by the bluegreen.core tests' > "$work/pkg/DEBIAN/control"
echo 'Installed on one colour only, by test_5_parity.' > "$work/pkg/usr/share/doc/{PACKAGE}/README"
dpkg-deb --root-owner-group --build "$work/pkg" "$work/{PACKAGE}.deb" >/dev/null
dpkg -i "$work/{PACKAGE}.deb" >/dev/null
rm -rf "$work"
"""
INSTALLED = f"dpkg-query -W -f '${{db:Status-Status}}' {PACKAGE} 2>/dev/null || true"


def installed(name: str) -> bool:
    return host(name).run(INSTALLED).stdout.strip() == "installed"


def purge(name: str) -> None:
    host(name).run(f"dpkg --purge {PACKAGE} >/dev/null 2>&1 || true")


def live_colour() -> str:
    return module("haproxy_info", {"app": APP})["live_colour"]


def release_of(app_host: str, colour: str) -> str | None:
    link = host(app_host).file(f"{ROOT}/{colour}")
    return os.path.basename(link.linked_to) if link.exists else None


def parity(*extra: str, check: bool = False) -> tuple:
    """One parity run: (rc, the table it showed, what it published with set_stats, its output, its recap)."""
    rc, report, output = playbook_json("parity", *extra, check=check, extra_inventory=GROW)
    tables = [result["msg"] for play in report["plays"] for task in play["tasks"]
              if task["task"]["name"].endswith("Show where blue and green differ") for result in task["hosts"].values()]
    return rc, (tables or [None])[0], report.get("global_custom_stats") or {}, output, report["stats"]


def row(idle: str) -> str:
    """The table row of the package: its version in the idle colour, absent in the other (columns blue, green)."""
    values = {idle: re.escape(PACKAGE_VERSION), ("green" if idle == "blue" else "blue"): "absent"}
    return rf"packages\s+{PACKAGE}\s+{values['blue']}\s+{values['green']}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """Two new releases of the demo app, the colours as the earlier tests left them, and the package on the idle colour's
    hosts; purged from every app host at the end."""
    folder = tmp_path_factory.mktemp("parity")
    artifacts = {}
    for version in ("5.0.0", "5.1.0"):
        artifacts[version] = build_demo(version, str(folder))
    live = live_colour()
    assert live in FLEETS, live
    idle = "green" if live == "blue" else "blue"
    try:
        yield {"artifacts": artifacts, "live": live, "idle": idle}
    finally:
        for name in FLEETS["blue"] + FLEETS["green"]:
            purge(name)
        assert not any(installed(name) for name in FLEETS["blue"] + FLEETS["green"])


def test_alike_colours_show_no_drift_and_parity_changes_nothing_even_in_check_mode(lab):
    for check in (False, True):
        rc, table, stats, output, recap = parity(check=check)
        assert rc == 0, output
        assert table and "match in every aspect compared" in table[0], table
        assert all(counts["changed"] == 0 for counts in recap.values()), recap
    report = stats["bluegreen_parity"]
    assert (report["app"], report["topology"], report["ok"], report["drift"]) == (APP, "fleets", True, [])
    assert report["hosts"] == {colour: list(hosts) for colour, hosts in FLEETS.items()}
    assert report["aspects"] == ["unit", "command", "env", "shared_dirs", "runtime", "packages"]
    assert stats["bluegreen_result"]["playbook"] == "parity" and stats["bluegreen_result"]["outcome"] == "ok"


def test_a_package_installed_on_the_idle_colour_is_reported_as_drift(lab):
    for name in FLEETS[lab["idle"]]:
        result = host(name).run(INSTALL)
        assert result.rc == 0, result.stdout + result.stderr
        assert installed(name)
    rc, table, stats, output, _recap = parity()
    # Drift is a finding: the run succeeds.
    assert rc == 0, output
    report = stats["bluegreen_parity"]
    other = "green" if lab["idle"] == "blue" else "blue"
    assert report["ok"] is False
    assert report["drift"] == [{"aspect": "packages", "key": PACKAGE, lab["idle"]: PACKAGE_VERSION, other: "absent"}]
    assert "differ in 1 place" in table[0] and table[1].split() == ["ASPECT", "KEY", "BLUE", "GREEN"]
    assert re.fullmatch(row(lab["idle"]), table[2].strip()), table


def test_parity_with_fail_fails_on_the_drift_and_bad_input_is_refused_naming_it(lab):
    rc, _table, stats, output, recap = parity("bluegreen_parity_check=fail")
    assert rc != 0
    assert f"blue and green differ in 1 place: packages {PACKAGE}" in output and "(bluegreen_parity_check is fail)" in output
    assert stats["bluegreen_result"]["outcome"] == "failed" and stats["bluegreen_parity"]["ok"] is False
    assert all(counts["changed"] == 0 for counts in recap.values()), recap

    result = playbook("parity", "bluegreen_parity_check=strict", extra_inventory=GROW)
    assert result.returncode != 0
    assert "bluegreen_parity_check must be one of off, warn, fail, got text 'strict'. Nothing was changed." in result.output
    assert "Traceback" not in result.output
    result = playbook("release", "bluegreen_parity_check=yes", "bluegreen_version=5.0.0",
                      f"bluegreen_artifact={lab['artifacts']['5.0.0']}", extra_inventory=GROW)
    assert result.returncode != 0 and "bluegreen_parity_check must be one of off, warn, fail" in result.output
    assert live_colour() == lab["live"]
    assert not any(host(name).file(f"{ROOT}/releases/5.0.0").exists for name in FLEETS[lab["idle"]])


def test_a_release_with_warn_shows_the_drift_and_switches(lab):
    idle = lab["idle"]
    result = playbook("release", "bluegreen_parity_check=warn", "bluegreen_version=5.0.0",
                      f"bluegreen_artifact={lab['artifacts']['5.0.0']}", extra_inventory=GROW)
    assert result.returncode == 0, result.output
    assert "Compare the new release's colour with the live one" in result.output
    assert re.search(row(idle), result.output), result.output
    assert live_colour() == idle
    answers = live(10)
    assert {(a["colour"], a["version"]) for a in answers} == {(idle, "5.0.0")}
    # The colours swapped: the package is now on the live colour.
    lab["live"], lab["idle"] = idle, lab["live"]


def test_a_release_with_fail_stops_before_the_switch_and_puts_the_idle_colour_back(lab):
    live_now, idle = lab["live"], lab["idle"]
    held = {name: release_of(name, idle) for name in FLEETS[idle]}
    assert len(set(held.values())) == 1 and None not in held.values(), held
    before = {"map": host(ROUTER).file(MAP_FILE).content_string, "history": history()}
    result = playbook("release", "bluegreen_parity_check=fail", "bluegreen_version=5.1.0",
                      f"bluegreen_artifact={lab['artifacts']['5.1.0']}", extra_inventory=GROW)
    assert result.returncode != 0, result.output
    assert "Release of demo 5.1.0 stopped before the switch" in result.output
    assert "Stop on the drift, as bluegreen_parity_check is fail" in result.output
    assert f"packages {PACKAGE}" in result.output
    previous = next(iter(held.values()))
    assert f"No traffic was moved: {live_now} (5.0.0) is still live, and {idle} is back on {previous}." in result.output
    # No switch and no record: the release passed its smoke test, the parity check stopped it.
    assert live_colour() == live_now
    assert {"map": host(ROUTER).file(MAP_FILE).content_string, "history": history()} == before
    assert {(a["colour"], a["version"]) for a in live(10)} == {(live_now, "5.0.0")}
    assert {name: release_of(name, idle) for name in FLEETS[idle]} == held
    assert not host(ROUTER).file(f"/var/lib/bluegreen/{APP}/lock").exists


def test_without_the_package_the_colours_are_alike_again(lab):
    for name in FLEETS["blue"] + FLEETS["green"]:
        purge(name)
        assert not installed(name)
    rc, table, stats, output, _recap = parity()
    assert rc == 0, output
    assert stats["bluegreen_parity"]["ok"] is True, table

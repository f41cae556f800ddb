# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parity of the two colours of an app: what each colour is made of on one app host (read by the module
``bluegreen.core.app_info``), and where blue and green differ across the app hosts that run them (the filters
``bluegreen.core.parity`` and ``bluegreen.core.parity_lines``, docs/parity.md).

PRIVATE to the bluegreen.core collection: may change without notice.

Everything read is put in a form that does not name the colour (``<colour>`` for the word blue or green), so that
what must be the same in both colours compares equal: ``demo@blue`` and ``demo@green``, ``/opt/bluegreen/demo/blue``
and ``.../green``. Of the environment only the names are ever read into a result: no value leaves the host.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex

COLOURS = ("blue", "green")
PLACEHOLDER = "<colour>"
# The aspects compared, in the order the table shows them.
ASPECTS = ("unit", "command", "env", "shared_dirs", "runtime", "packages")
ABSENT = "absent"
MISSING = "missing"
# A release holding more entries than this is not searched to the end for its shared dirs.
WALK_LIMIT = 200_000
_FILE_HEADER = re.compile(r"# (/\S+\.(?:service|conf))")
_SETTING = re.compile(r"([A-Za-z][A-Za-z0-9]*)\s*=\s*(.*)")
_ENV_NAME = re.compile(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")
# Unit settings that may carry a secret in their value: only the names they set are read.
VALUES_HIDDEN = frozenset(("Environment", "SetCredential", "SetCredentialEncrypted"))


# --------------------------------------------------------------------------- what one host reads


def normalise(text: str, colour: str) -> str:
    """``text`` with the colour's name, as a word, replaced by ``<colour>`` (bluegreen, a word of its own, stays)."""
    return re.sub(rf"(?<![A-Za-z0-9_]){re.escape(colour)}(?![A-Za-z0-9_])", PLACEHOLDER, text)


def unit_settings(text: str, colour: str) -> tuple:
    """What ``systemctl cat <app>@<colour>`` prints, as (settings, command): settings is {"files": the unit's files,
    "<Section>.<Key>": value} and command the ExecStart in effect, both with the colour normalised. An empty
    assignment resets a setting, as systemd does for list settings; a setting given several times keeps every value,
    joined by " | ". Settings that may carry a secret (Environment=, SetCredential=) keep the names they
    set only."""
    files, values = [], {}
    section = ""
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        header = _FILE_HEADER.fullmatch(line)
        if header:
            files.append(normalise(header.group(1), colour))
            section = ""
            continue
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        setting = _SETTING.fullmatch(line)
        if not setting:
            continue
        key, value = f"{section}.{setting.group(1)}", normalise(setting.group(2).strip(), colour)
        if setting.group(1) in VALUES_HIDDEN:
            value = names_only(value)
        if value:
            values.setdefault(key, []).append(value)
        else:
            values[key] = []
    command = " | ".join(values.pop("Service.ExecStart", [])) or None
    settings = {key: " | ".join(items) for key, items in sorted(values.items()) if items}
    settings["files"] = ", ".join(files)
    return settings, command


def names_only(value: str) -> str:
    """The names an Environment= (NAME=value ...) or SetCredential= (name:value) setting sets, never a value; "(set)"
    when its words cannot be told apart."""
    try:
        words = shlex.split(value)
    except ValueError:
        return "(set)"
    names = [re.split(r"[=:]", word, maxsplit=1)[0] for word in words]
    return " ".join(names) if all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", name) for name in names) else "(set)"


def env_names(text: str) -> list:
    """The names an environment file sets, sorted; never a value."""
    names = set()
    for line in text.splitlines():
        found = _ENV_NAME.match(line.strip())
        if found:
            names.add(found.group(1))
    return sorted(names)


def shared_dirs(release: str, shared: str, limit: int = WALK_LIMIT) -> dict | None:
    """The links in the release (a folder) into the shared folder: {path in the release: path in the shared folder}.
    None when there is no release; {"(too many files)": ...} when the release holds more than ``limit`` entries."""
    if not os.path.isdir(release):
        return None
    found, seen = {}, 0
    prefix = shared.rstrip("/") + "/"
    for top, dirs, files in os.walk(release):
        seen += len(dirs) + len(files)
        if seen > limit:
            return {"(too many files to search)": f"more than {limit}"}
        for name in dirs + files:
            path = os.path.join(top, name)
            if os.path.islink(path):
                target = os.readlink(path)
                if target.startswith(prefix):
                    found[os.path.relpath(path, release)] = target[len(prefix):]
    return dict(sorted(found.items()))


def packages(text: str) -> dict:
    """``dpkg-query -W -f '${db:Status-Abbrev}\\t${binary:Package}\\t${Version}\\n'`` as {package: version}: the
    packages installed (a package whose install did not finish has its state after the version); removed ones, whose
    configuration files remain, are left out."""
    found = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 3 or len(parts[0]) < 2:
            continue
        state, name, version = parts[0][1], parts[1].strip(), parts[2].strip()
        if state in "iWt":
            found[name] = version
        elif state in "UFH":
            found[name] = f"{version} (not fully installed)"
    return dict(sorted(found.items()))


def owner(dpkg_search: str) -> str | None:
    """The package that owns a file, from ``dpkg-query -S <file>``: its first line's first package."""
    for line in dpkg_search.splitlines():
        if line.startswith("diversion "):
            continue
        names, sep, _path = line.partition(": ")
        if sep:
            return names.split(",")[0].strip()
    return None


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- blue against green, across the hosts


def _keys(aspect: str, found: object) -> dict:
    """One host's reading of one aspect of a colour as {key: value}: what is compared."""
    if aspect == "unit":
        return {"(unit)": MISSING} if found is None else dict(found)
    if aspect == "command":
        return {"ExecStart": found or "none"}
    if aspect == "env":
        return {"(env file)": MISSING} if found is None else dict.fromkeys(found, "set")
    if aspect == "shared_dirs":
        return {"(release)": MISSING} if found is None else dict(found)
    if aspect == "runtime":
        return {"program": found or "not running"}
    return dict(found or {})


def _summary(values: dict) -> str:
    """One colour's value of a key across its hosts ({host: value, None when absent}): the value, or each value with
    the hosts that have it when they differ."""
    by_value: dict = {}
    for host, value in values.items():
        by_value.setdefault(ABSENT if value is None else value, []).append(host)
    if len(by_value) == 1:
        return next(iter(by_value))
    return "; ".join(f"{value} on {', '.join(hosts)}" for value, hosts in sorted(by_value.items()))


def _version(readings: list) -> str | None:
    found = sorted({reading.get("version") or "(none)" for reading in readings})
    return None if found in ([], ["(none)"]) else " + ".join(found)


def compare(fleet_hosts: dict, readings: dict, app: str, topology: str = "slots") -> dict:
    """Where blue and green differ. ``readings`` is {host: what app_info returned there}; ``fleet_hosts`` the hosts
    of each colour. A key differs when the colours' values differ, or when the hosts of one colour do not agree on
    it. The release in each colour is expected to differ and is reported, not compared."""
    missing = [host for colour in COLOURS for host in fleet_hosts[colour] if host not in readings]
    if missing:
        raise ValueError(f"no reading of {', '.join(dict.fromkeys(missing))}: every app host of both colours must be read")
    aspects = [aspect for aspect in ASPECTS
               if aspect != "packages" or all(readings[host].get("packages") is not None
                                              for colour in COLOURS for host in fleet_hosts[colour])]
    drift = []
    for aspect in aspects:
        per_colour = {}
        for colour in COLOURS:
            per_colour[colour] = {}
            for host in fleet_hosts[colour]:
                reading = readings[host]
                found = reading.get("packages") if aspect == "packages" else \
                    ((reading.get("colours") or {}).get(colour) or {}).get(aspect)
                per_colour[colour][host] = _keys(aspect, found)
        keys = sorted({key for colour in COLOURS for host_keys in per_colour[colour].values() for key in host_keys})
        for key in keys:
            values = {colour: {host: host_keys.get(key) for host, host_keys in per_colour[colour].items()} for colour in COLOURS}
            if all(len(set(values[colour].values())) == 1 for colour in COLOURS) and \
                    set(values["blue"].values()) == set(values["green"].values()):
                continue
            drift.append({"aspect": aspect, "key": key, **{colour: _summary(values[colour]) for colour in COLOURS}})
    versions = {colour: _version([((readings[host].get("colours") or {}).get(colour) or {}) for host in fleet_hosts[colour]])
                for colour in COLOURS}
    return {
        "app": app,
        "topology": topology,
        "colours": list(COLOURS),
        "hosts": {colour: list(fleet_hosts[colour]) for colour in COLOURS},
        "versions": versions,
        "aspects": aspects,
        "drift": drift,
        "ok": not drift,
    }


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def table(report: dict, width: int = 48) -> list:
    """The report as lines: what was compared, then one row per difference under a header (columns aligned)."""
    hosts = report["hosts"]
    versions = report.get("versions") or {}
    where = " and ".join(f"{colour} ({', '.join(hosts[colour])}; release {versions.get(colour) or 'none'})" for colour in COLOURS)
    compared = ", ".join(report["aspects"])
    drift = report["drift"]
    if not drift:
        return [f"{report['app']}: {where} match in every aspect compared ({compared})."]
    lines = [f"{report['app']}: {where} differ in {len(drift)} place{'s' if len(drift) > 1 else ''} "
             f"(compared: {compared}; the releases may differ):"]
    rows = [("ASPECT", "KEY", "BLUE", "GREEN")] + [
        (row["aspect"], _cut(row["key"], width), _cut(row["blue"], width), _cut(row["green"], width)) for row in drift]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    for row in rows:
        lines.append("  ".join(cell.ljust(widths[column]) for column, cell in enumerate(row[:3])) + "  " + row[3])
    return lines


def reason(report: dict, shown: int = 5) -> str:
    """The drift in one sentence, for a run that stops on it."""
    drift = report["drift"]
    items = "; ".join(f"{row['aspect']} {row['key']}: blue {row['blue']}, green {row['green']}" for row in drift[:shown])
    more = f"; and {len(drift) - shown} more (see the table above)" if len(drift) > shown else ""
    return f"blue and green differ in {len(drift)} place{'s' if len(drift) > 1 else ''}: {items}{more}"

# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An app's releases on an app host: unpack one safely, point a colour at it, restart the colour, prune.

PRIVATE to the bluegreen.core collection: may change without notice.

Layout under the app's root (DESIGN.md, "What the roles do"):

  <root>/releases/<version>/     one unpacked release; never changed once in place
  <root>/releases/.staging-*     a release being unpacked (a leftover of an interrupted deploy is removed)
  <root>/blue -> releases/<v>    the colour links, swapped in one rename
  <root>/green -> releases/<v>
"""

from __future__ import annotations

import grp
import json
import os
import shutil
import stat
import tarfile
import tempfile
import time

from ansible_collections.bluegreen.core.plugins.module_utils import _command, _fs, _validate
from ansible_collections.bluegreen.core.plugins.module_utils._errors import BluegreenError

STAGING_PREFIX = ".staging-"
COMMAND_TIMEOUT = 120.0
JOURNAL_LINES = 20
# Archive members of these kinds are refused: they have no place in a release.
_REFUSED_TYPES = {tarfile.CHRTYPE: "a character device", tarfile.BLKTYPE: "a block device", tarfile.FIFOTYPE: "a FIFO"}


class ReleaseError(BluegreenError):
    """The release could not be put in place, or its colour did not start; the message says why, in the host's words."""


# --------------------------------------------------------------------------- paths


def releases_dir(root: str) -> str:
    return os.path.join(root, "releases")


def release_path(root: str, version: str) -> str:
    return os.path.join(releases_dir(root), version)


def colour_link(root: str, colour: str) -> str:
    return os.path.join(root, colour)


def link_target(path: str) -> str | None:
    try:
        return os.readlink(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if os.path.exists(path):
            raise ReleaseError(f"{path} is not a symlink: a colour link must point at one of the releases") from exc
        raise


def version_of(target: str | None) -> str | None:
    return None if target is None else os.path.basename(os.path.normpath(target))


# --------------------------------------------------------------------------- unpacking


def check_members(archive: tarfile.TarFile, where: str) -> list:
    """The archive's members, refusing any that would land outside the release (absolute paths, '..', links out of it)
    or that are devices."""
    members = []
    for member in archive.getmembers():
        name = member.name
        parts = [part for part in name.split("/") if part not in ("", ".")]
        if name.startswith("/") or ".." in parts:
            raise ReleaseError(f"{where} holds {name!r}, a path outside the release: refusing to unpack it", "artifact")
        if member.type in _REFUSED_TYPES:
            raise ReleaseError(f"{where} holds {name!r}, {_REFUSED_TYPES[member.type]}: refusing to unpack it", "artifact")
        if member.issym() or member.islnk():
            target = member.linkname
            base = os.path.dirname("/".join(parts)) if member.issym() else ""
            resolved = os.path.normpath(os.path.join(base, target))
            if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
                raise ReleaseError(f"{where} holds the link {name!r} -> {target!r}, which points outside the release: "
                                   "refusing to unpack it", "artifact")
        members.append(member)
    return members


def unpack(artifact: str, root: str, version: str, group: str, executable: str) -> str:
    """Unpack ``artifact`` into releases/.staging-*, check ``executable`` is there and executable, then rename it to
    releases/<version> in one step. Files are owned by root and the app's group. Returns the release's path."""
    target = release_path(root, version)
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        raise ReleaseError(f"group {group!r} does not exist on this host: run the provision playbook first", "group") from None
    parent = releases_dir(root)
    if not os.path.isdir(parent):
        raise ReleaseError(f"{parent} does not exist on this host: run the provision playbook first", "root")
    for leftover in os.listdir(parent):
        if leftover.startswith(STAGING_PREFIX + version + "."):
            shutil.rmtree(os.path.join(parent, leftover), ignore_errors=True)
    staging = tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{version}.", dir=parent)
    try:
        try:
            archive = tarfile.open(artifact)  # noqa: SIM115 - closed below; the format comes from the file
        except (tarfile.TarError, OSError) as exc:
            raise ReleaseError(f"the artifact is not a tar archive this host can read ({exc})", "artifact") from None
        with archive:
            members = check_members(archive, "the artifact")
            # Python 3.12+ (and 3.11.4+) also filter each member themselves; the checks above hold on every version.
            options = {"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}
            archive.extractall(staging, members=members, **options)  # noqa: S202 - members checked above
        for directory, dirs, files in os.walk(staging):
            for name in [*dirs, *files]:
                os.lchown(os.path.join(directory, name), 0, gid)
        os.chown(staging, 0, gid)
        os.chmod(staging, 0o755)
        started = os.path.join(staging, executable)
        if not (os.path.isfile(started) and os.access(started, os.X_OK)):
            raise ReleaseError(f"the artifact has no executable {executable} at its root (bluegreen_app_exec): found "
                               f"{', '.join(sorted(os.listdir(staging))[:10]) or 'nothing'}", "executable")
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


# --------------------------------------------------------------------------- the colour


def render_env(env: dict) -> str:
    """The colour's environment file: one KEY=value per line, values quoted as JSON strings (systemd reads them)."""
    lines = ["# Managed by bluegreen.core: the environment of one colour of the app."]
    for key in sorted(env):
        lines.append(f"{key}={json.dumps(str(env[key]))}")
    return "\n".join(lines) + "\n"


HIDDEN = "********"


def masked(text: str | None) -> str:
    """The env file with every value hidden: what a diff may show."""
    out = []
    for line in (text or "").splitlines():
        key, sep, _value = line.partition("=")
        out.append(f"{key}={HIDDEN}" if sep and not line.startswith("#") else line)
    return "\n".join(out) + ("\n" if out else "")


def hide_env(arguments: dict) -> dict:
    """app_release's arguments as a result may show them (its invocation, which -vvv prints): the names in env and
    secrets with their values hidden, as in the diff."""
    return dict(arguments, **{option: dict.fromkeys(arguments[option], HIDDEN) for option in ("env", "secrets")
                              if isinstance(arguments.get(option), dict)})


def write_env(path: str, text: str, group: str) -> None:
    _fs.atomic_write(path, text, mode=0o640)
    os.chown(path, 0, grp.getgrnam(group).gr_gid)


def point(root: str, colour: str, version: str) -> None:
    _fs.atomic_symlink(colour_link(root, colour), os.path.join("releases", version))


# --------------------------------------------------------------------------- systemd


def run(args: list) -> tuple:
    """(rc, stdout, stderr), stripped, of a systemctl or journalctl command."""
    rc, out, err = _command.run(args, COMMAND_TIMEOUT, ReleaseError)
    return rc, out.strip(), err.strip()


def restart(unit: str, changed: bool) -> str:
    """Restart the colour when its release or environment changed, else start it if it is not running; enable it.
    Returns what was done: restarted, started, or running."""
    rc, enabled, _err = run(["systemctl", "is-enabled", unit])
    if enabled != "enabled":
        rc, out, err = run(["systemctl", "enable", unit])
        if rc != 0:
            raise ReleaseError(f"`systemctl enable {unit}` failed: {err or out}")
    rc, active, _err = run(["systemctl", "is-active", unit])
    if not changed and active == "active":
        return "running"
    verb = "restart" if changed else "start"
    # A colour that failed before (a broken release being replaced, say) may have hit systemd's start limit, which
    # would refuse this start: clear it, as a deploy means to start the colour afresh.
    run(["systemctl", "reset-failed", unit])
    rc, out, err = run(["systemctl", verb, unit])
    if rc != 0:
        raise ReleaseError(f"`systemctl {verb} {unit}` failed: {err or out}\n{explain(unit)}")
    return "restarted" if changed else "started"


def stop(unit: str) -> None:
    for verb in ("stop", "disable"):
        rc, out, err = run(["systemctl", verb, unit])
        if rc != 0:
            raise ReleaseError(f"`systemctl {verb} {unit}` failed: {err or out}")


def explain(unit: str) -> str:
    """The unit's state and the last lines of its journal: why a colour did not start, in the host's words."""
    _rc, show, _err = run(["systemctl", "show", unit, "--property=ActiveState,SubState,Result,ExecMainStatus", "--no-pager"])
    state = ", ".join(line for line in show.splitlines() if line)
    _rc, journal, _err = run(["journalctl", "-u", unit, "-n", str(JOURNAL_LINES), "--no-pager", "-o", "cat"])
    return f"{unit}: {state or 'no state'}. Its journal ends with:\n{journal or '(nothing)'}"


# --------------------------------------------------------------------------- pruning


def prune(root: str, keep: int, clock=time.time) -> list:
    """Remove the oldest releases beyond ``keep`` (by when they were put in place), never one a colour points at, and
    staging folders older than an hour (an interrupted deploy). Returns the paths removed."""
    parent = releases_dir(root)
    in_use = {version_of(link_target(colour_link(root, colour))) for colour in _validate.COLOURS}
    releases, removed = [], []
    for entry in os.scandir(parent):
        if not entry.is_dir(follow_symlinks=False):
            continue
        if entry.name.startswith(STAGING_PREFIX):
            if clock() - entry.stat(follow_symlinks=False).st_mtime > 3600:
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(entry.path)
            continue
        releases.append((entry.stat(follow_symlinks=False).st_mtime, entry.name, entry.path))
    for _mtime, name, path in sorted(releases, reverse=True)[keep:]:
        if name not in in_use:
            shutil.rmtree(path)
            removed.append(path)
    return removed


def is_release_dir(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False

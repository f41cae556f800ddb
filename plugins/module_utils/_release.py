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
import pwd
import re
import shlex
import shutil
import signal
import stat
import subprocess
import tempfile
import time

from ansible_collections.bluegreen.core.plugins.module_utils import _artifact, _command, _fs, _validate
from ansible_collections.bluegreen.core.plugins.module_utils._errors import BluegreenError

STAGING_PREFIX = ".staging-"
# A release being replaced (incomplete, or redeployed) waits here until the new one is in place.
ASIDE_PREFIX = ".aside-"
# Each release's record: its artifact's checksum, and whether its last step (the build, the check) is done.
RECORD_FILE = ".bluegreen-release.json"
COMMAND_TIMEOUT = 120.0
JOURNAL_LINES = 20
BUILD_LINES = 40


class ReleaseError(BluegreenError):
    """The release could not be put in place, or its colour did not start; the message says why, in the host's words."""


class BuildError(ReleaseError):
    """A build command failed or ran out of time; the message quotes its output."""


# --------------------------------------------------------------------------- paths


def releases_dir(root: str) -> str:
    return os.path.join(root, "releases")


def release_path(root: str, version: str) -> str:
    return os.path.join(releases_dir(root), version)


def shared_root(root: str) -> str:
    """The app user's own folder, kept across releases: the shared dirs live in it."""
    return os.path.join(root, "shared")


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


# --------------------------------------------------------------------------- the release


def read_record(release: str) -> dict | None:
    """What the deploy that made ``release`` recorded (its artifact's checksum, whether it is complete), or None for a
    release made before releases had records (used as it is)."""
    text = _fs.read_text(os.path.join(release, RECORD_FILE))
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return {"complete": False}
    return data if isinstance(data, dict) else {"complete": False}


def write_record(release: str, record: dict, gid: int) -> None:
    path = os.path.join(release, RECORD_FILE)
    _fs.atomic_write(path, json.dumps(record, sort_keys=True) + "\n", mode=0o644)
    os.chown(path, 0, gid)


def is_complete(record: dict | None) -> bool:
    return record is None or record.get("complete") is True


def group_id(group: str) -> int:
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ReleaseError(f"group {group!r} does not exist on this host: run the provision playbook first", "group") from None


def user_id(user: str) -> int:
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        raise ReleaseError(f"user {user!r} does not exist on this host: run the provision playbook first", "user") from None


def unpack(artifact: str, root: str, version: str, group: str, sha256: str, executable: str | None = None,
           strip: str = "auto") -> tuple:
    """Unpack ``artifact`` into releases/.staging-*, recorded as incomplete with its checksum, then rename it to
    releases/<version> in one step. A release already there (incomplete, or redeployed) is moved aside first: the
    caller removes it with ``settle`` once the new one is complete, or puts it back. ``executable``, when given, is the
    file that starts the app: ``strip=auto`` keeps the archive's one top folder when that file is at the archive's
    root. Returns the release's path and where the old one was moved (or None)."""
    target = release_path(root, version)
    gid = group_id(group)
    parent = releases_dir(root)
    if not os.path.isdir(parent):
        raise ReleaseError(f"{parent} does not exist on this host: run the provision playbook first", "root")
    for leftover in os.listdir(parent):
        if leftover.startswith((STAGING_PREFIX + version + ".", ASIDE_PREFIX + version + ".")):
            shutil.rmtree(os.path.join(parent, leftover), ignore_errors=True)
    staging = tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{version}.", dir=parent)
    aside = None
    try:
        with _artifact.Archive(artifact) as archive:
            archive.extract(staging, _artifact.strip_folder(archive, strip, executable), gid)
        write_record(staging, {"version": version, "sha256": sha256, "complete": False}, gid)
        os.chown(staging, 0, gid)
        os.chmod(staging, 0o755)
        if os.path.lexists(target):
            aside = tempfile.mkdtemp(prefix=f"{ASIDE_PREFIX}{version}.", dir=parent)
            os.rename(target, os.path.join(aside, version))
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if aside is not None:
            settle(target, aside, ok=False)
        raise
    return target, aside


def settle(target: str, aside: str | None, ok: bool) -> None:
    """After an unpack: on success remove the release it replaced; else remove the new release, and put back the one it
    replaced."""
    if not ok:
        shutil.rmtree(target, ignore_errors=True)
        if aside is not None:
            os.rename(os.path.join(aside, os.path.basename(target)), target)
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


def shared_dirs(value: object, param: str = "shared_dirs") -> list:
    """The shared dirs, checked: folders relative to the release, without '.', '..' or an empty part."""
    if not isinstance(value, list):
        raise ReleaseError(f"{param} must be a list of folders relative to the release (uploads, var/cache)", param)
    for index, name in enumerate(value):
        parts = name.split("/") if isinstance(name, str) else []
        if not parts or name.startswith("/") or any(part in ("", ".", "..") for part in parts) or not name.isprintable() \
                or name == RECORD_FILE:
            raise ReleaseError(f"{param} item {index} must be a relative path inside the release, without '..', got "
                               f"{str(name)[:80]!r}", param)
    return value


def link_shared(release: str, root: str, shared_dirs: list, user: str, group: str) -> None:
    """Link each of ``shared_dirs`` into the release, to <root>/shared/<dir> (made for the app's user when missing),
    in place of anything the artifact holds at that path."""
    uid, gid = user_id(user), group_id(group)
    if shared_dirs and not os.path.isdir(shared_root(root)):
        os.mkdir(shared_root(root), 0o750)
        os.chown(shared_root(root), uid, gid)
    for name in shared_dirs:
        shared = os.path.join(shared_root(root), name)
        if not os.path.isdir(shared):
            path = shared_root(root)
            for part in name.split("/"):
                path = os.path.join(path, part)
                if not os.path.isdir(path):
                    os.mkdir(path, 0o750)
                    os.chown(path, uid, gid)
        link = os.path.join(release, name)
        parent = os.path.dirname(link)
        if not os.path.isdir(parent) or os.path.islink(parent):
            os.makedirs(parent, 0o755, exist_ok=True)
        if os.path.islink(link) or os.path.isfile(link):
            os.unlink(link)
        elif os.path.isdir(link):
            shutil.rmtree(link)
        os.symlink(shared, link)
        os.lchown(link, 0, gid)


def build_env(release: str, app: str, version: str, user: str, env: dict) -> dict:
    return dict({key: str(value) for key, value in env.items()}, PATH="/usr/local/bin:/usr/bin:/bin", HOME=release,
                LANG="C.UTF-8", USER=user, LOGNAME=user, BLUEGREEN_APP=app, BLUEGREEN_VERSION=version,
                BLUEGREEN_RELEASE_DIR=release)


def build(release: str, commands: list, user: str, group: str, env: dict, timeout: float) -> list:
    """Run the build commands, in order, as the app's user in the release (made the user's for the while), each with
    /bin/sh; stop at the first that fails or when ``timeout`` seconds have passed in all. Returns each command's
    outcome. Raises BuildError with the output's last lines. Then the release is made root's again (normalize)."""
    uid, gid = user_id(user), group_id(group)
    _own_tree(release, uid, gid, modes=False)
    done = []
    deadline = time.monotonic() + timeout
    try:
        for command in commands:
            left = deadline - time.monotonic()
            started = time.monotonic()
            rc, output = _run_as(command, release, uid, gid, env, max(left, 0.0))
            outcome = {"command": command, "rc": rc, "seconds": round(time.monotonic() - started, 1),
                       "output": tail(output, BUILD_LINES)}
            done.append(outcome)
            if rc != 0:
                why = (f"did not finish within bluegreen_app_build_timeout ({timeout:g}s in all)" if rc is None
                       else f"exited with {rc}")
                raise BuildError(f"the build step `{command}` {why}, as {user} in {release}. Its output ends with:\n"
                                 f"{outcome['output'] or '(nothing)'}", "build", fields={"build": done})
    finally:
        normalize(release, gid)
    return done


def _run_as(command: str, cwd: str, uid: int, gid: int, env: dict, timeout: float) -> tuple:
    """(rc, output) of one build command; rc None when it ran out of time. Its whole process group is killed after it,
    so nothing the build started in the background goes on changing the release."""
    process = subprocess.Popen(  # noqa: S603 - the user's own build command, as the app's user
        ["/bin/sh", "-c", command], cwd=cwd, env=env, user=uid, group=gid, extra_groups=[], stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _err = process.communicate(timeout=timeout)
        rc = process.returncode
    except subprocess.TimeoutExpired:
        _kill_group(process.pid)
        out, _err = process.communicate()
        return None, out.decode("utf-8", "replace")
    _kill_group(process.pid)
    return rc, out.decode("utf-8", "replace")


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def tail(text: str, lines: int) -> str:
    kept = text.rstrip().splitlines()[-lines:]
    return "\n".join(line[:500] for line in kept)


def normalize(release: str, gid: int) -> None:
    """Every file of the release root's and the app group's, writable by root only: folders 0755, files 0755 when
    executable for anyone, else 0644 (no setuid, whatever a build made); sockets and FIFOs removed."""
    _own_tree(release, 0, gid, modes=True)


def _own_tree(top: str, uid: int, gid: int, modes: bool) -> None:
    """Give ``top``'s tree to uid:gid, through file descriptors and never following a link (os.fwalk), so a link the
    app's user made in the tree cannot turn a change of root's onto a file outside it."""
    for _path, dirs, files, dirfd in os.fwalk(top, follow_symlinks=False):
        os.fchown(dirfd, uid, gid)
        if modes:
            os.fchmod(dirfd, 0o755)
        for name in files + dirs:
            mode = os.stat(name, dir_fd=dirfd, follow_symlinks=False).st_mode
            if stat.S_ISLNK(mode):
                os.chown(name, uid, gid, dir_fd=dirfd, follow_symlinks=False)
            elif stat.S_ISREG(mode):
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dirfd)
                try:
                    os.fchown(fd, uid, gid)
                    if modes:
                        os.fchmod(fd, 0o755 if os.fstat(fd).st_mode & 0o111 else 0o644)
                finally:
                    os.close(fd)
            elif not stat.S_ISDIR(mode):
                os.unlink(name, dir_fd=dirfd)  # a socket or FIFO a build left behind has no place in a release


def check_program(release: str, program: str | None, param: str) -> None:
    """``program`` (the file that starts the app, inside the release) is there and executable."""
    if program is not None:
        started = os.path.join(release, program)
        if not (os.path.isfile(started) and os.access(started, os.X_OK)):
            found = ", ".join(sorted(name for name in os.listdir(release) if name != RECORD_FILE)[:10]) or "nothing"
            raise ReleaseError(f"the release has no executable {program} ({param}): its root holds {found}", param)


def complete(release: str, group: str) -> None:
    """Record the release as complete: its last step."""
    record = read_record(release) or {}
    write_record(release, dict(record, complete=True), group_id(group))


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
    """app_release's arguments as a result may show them (its invocation, which -vvv prints): the names in env,
    secrets and the download's headers with their values hidden, as in the diff, and no password."""
    hidden = {option: dict.fromkeys(arguments[option], HIDDEN) for option in ("env", "secrets", "headers")
              if isinstance(arguments.get(option), dict)}
    if arguments.get("url_password"):
        hidden["url_password"] = HIDDEN
    return dict(arguments, **hidden)


def write_env(path: str, text: str, group: str) -> None:
    _fs.atomic_write(path, text, mode=0o640)
    os.chown(path, 0, grp.getgrnam(group).gr_gid)


def point(root: str, colour: str, version: str) -> None:
    _fs.atomic_symlink(colour_link(root, colour), os.path.join("releases", version))


# --------------------------------------------------------------------------- systemd

# The [Service] settings bluegreen_app_unit_settings may give. The ones the collection manages itself (User, Group,
# ExecStart, WorkingDirectory, EnvironmentFile) are not among them.
UNIT_SETTINGS = frozenset((
    "AmbientCapabilities", "CPUQuota", "CPUWeight", "CapabilityBoundingSet", "Environment", "ExecReload",
    "ExecStartPost", "ExecStartPre", "ExecStop", "ExecStopPost", "FinalKillSignal", "IOWeight", "KillMode",
    "KillSignal", "LimitAS", "LimitCORE", "LimitDATA", "LimitFSIZE", "LimitMEMLOCK", "LimitNOFILE", "LimitNPROC",
    "LimitSTACK", "LogLevelMax", "MemoryHigh", "MemoryMax", "MemorySwapMax", "Nice", "NoNewPrivileges",
    "OOMScoreAdjust", "PrivateDevices", "PrivateTmp", "ProtectControlGroups", "ProtectHome", "ProtectKernelModules",
    "ProtectKernelTunables", "ProtectSystem", "ReadOnlyPaths", "ReadWritePaths", "Restart", "RestartSec",
    "RestartPreventExitStatus", "RuntimeDirectory", "RuntimeMaxSec", "SendSIGKILL", "StandardError",
    "StandardOutput", "SuccessExitStatus", "SyslogIdentifier", "TasksMax", "TimeoutStartSec", "TimeoutStopSec",
    "UMask", "WatchdogSec",
))
MANAGED_SETTINGS = ("User", "Group", "ExecStart", "WorkingDirectory", "EnvironmentFile")
UNIT_DIR = "/etc/systemd/system"
DROPIN = "bluegreen-release.conf"
_PLAIN_WORD = re.compile(r"[A-Za-z0-9_@+=:,./${}-]+")


def unit_settings(settings: dict, param: str = "unit_settings") -> dict:
    """The settings as systemd lines' values, checked: a known [Service] key each, one line, true/false as yes/no."""
    if not isinstance(settings, dict):
        raise ReleaseError(f"{param} must be a dict of [Service] settings, such as {{LimitNOFILE: 65536}}", param)
    checked = {}
    for key, value in settings.items():
        if key in MANAGED_SETTINGS:
            raise ReleaseError(f"{param} sets {key}, which bluegreen.core manages itself (the app's user, its command, "
                               "its release folder, its environment file)", param)
        if key not in UNIT_SETTINGS:
            raise ReleaseError(f"{param} has {str(key)[:40]!r}, which is not a [Service] setting this collection knows: "
                               f"use one of {', '.join(sorted(UNIT_SETTINGS))}", param)
        if not isinstance(value, (str, int, float)):
            raise ReleaseError(f"{param}.{key} must be text or a number, got {type(value).__name__}", param)
        text = ("yes" if value else "no") if isinstance(value, bool) else str(value)
        if not text.strip() or any(ch in text for ch in "\n\r\0"):
            raise ReleaseError(f"{param}.{key} must be one non-empty line", param)
        checked[key] = text
    return checked


def command_words(command: str, param: str = "command") -> list:
    """The command line split as a shell would (quotes kept together); refuses newlines and unbalanced quotes."""
    if not isinstance(command, str) or not command.strip():
        raise ReleaseError(f"{param} must be a command line, such as `bin/server --port=${{PORT}}`", param)
    if any(ch in command for ch in "\n\r\0"):
        raise ReleaseError(f"{param} holds a newline or NUL: give one command line", param)
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise ReleaseError(f"{param} cannot be split into words ({exc}): {command[:80]!r}", param) from None
    if not words:
        raise ReleaseError(f"{param} must be a command line, got only quotes", param)
    return words


def program_in_release(words: list) -> str | None:
    """The program the command starts, when it is a file of the release (a relative path): it must be there."""
    program = words[0]
    if program.startswith("/") or "/" not in program:
        return None
    return os.path.normpath(program)


def _quoted(word: str) -> str:
    word = word.replace("%", "%%")
    if _PLAIN_WORD.fullmatch(word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def exec_start(words: list, release_dir: str) -> str:
    """ExecStart's value: a relative program is taken from the colour's release folder; ${VAR} is systemd's, from the
    colour's environment (PORT); a program without a slash is looked up on systemd's PATH."""
    program = words[0]
    if "/" in program and not program.startswith("/"):
        program = os.path.join(release_dir, os.path.normpath(program))
    return " ".join(_quoted(word) for word in [program, *words[1:]])


def render_unit(unit: str, release_dir: str, words: list, settings: dict) -> str:
    """The colour's drop-in: how it starts, written with each release, so the command may change between releases.
    Line 2 records what it was made from, to put a colour back on its previous release as it ran then."""
    source = json.dumps({"command": shlex.join(words), "unit_settings": settings}, sort_keys=True)
    lines = [f"# Managed by bluegreen.core: how {unit} starts, written with each release.", f"# bluegreen: {source}",
             "[Service]", "ExecStart=", f"ExecStart={exec_start(words, release_dir)}"]
    lines += [f"{key}={value}" for key, value in sorted(settings.items())]
    return "\n".join(lines) + "\n"


def unit_source(text: str | None) -> dict | None:
    """What a drop-in was made from (its line 2), or None."""
    for line in (text or "").splitlines()[:3]:
        if line.startswith("# bluegreen: "):
            try:
                data = json.loads(line[len("# bluegreen: "):])
            except ValueError:
                return None
            return data if isinstance(data, dict) else None
    return None


def dropin_path(unit_dir: str, unit: str) -> str:
    return os.path.join(unit_dir, f"{unit}.service.d", DROPIN)


def write_unit(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
    _fs.atomic_write(path, text, mode=0o644)
    rc, out, err = run(["systemctl", "daemon-reload"])
    if rc != 0:
        raise ReleaseError(f"`systemctl daemon-reload` failed: {err or out}")


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


def port_holder(port: int, unit: str, proc: str = "/proc") -> str | None:
    """Who listens on TCP ``port`` on this host, in a few words, when it is not ``unit`` (a process in another unit's
    cgroup, or in none): None when nothing listens there or ``unit`` does. Read from ``/proc``: the listening sockets of
    ``net/tcp`` and ``net/tcp6``, then the process holding one of them, its name and its systemd unit."""
    inodes = set()
    for table in ("tcp", "tcp6"):
        for line in _proc_text(os.path.join(proc, "net", table)).splitlines()[1:]:
            fields = line.split()
            # local_address is ADDR:PORT in hex; state 0A is LISTEN; the socket's inode is the tenth field.
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    if not inodes:
        return None
    for pid in sorted((name for name in os.listdir(proc) if name.isdigit()), key=int):
        try:
            fds = os.listdir(os.path.join(proc, pid, "fd"))
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(os.path.join(proc, pid, "fd", fd))
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return _holder(proc, pid, unit)
    return "a process this host does not name (in another network namespace, or gone)"


def _holder(proc: str, pid: str, unit: str) -> str | None:
    """``pid`` as the message names it, or None when it runs in ``unit``'s cgroup."""
    comm = (_proc_text(os.path.join(proc, pid, "comm")) or "?").strip()
    # A unit that delegates its cgroup (a container engine, say) runs processes in cgroups below its own.
    units = re.findall(r"/([^/]+\.(?:service|scope))(?=/|$)", _proc_text(os.path.join(proc, pid, "cgroup")), re.M)
    if f"{unit}.service" in units:
        return None
    owner = next((name for name in units if name.endswith(".service")), units[0] if units else None)
    return f"{comm} (pid {pid}{', ' + owner if owner else ''})"


def _proc_text(path: str) -> str:
    """A /proc file's text, empty when its process is gone or hidden."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""


# --------------------------------------------------------------------------- pruning


def prune(root: str, keep: int, clock=time.time, dry_run: bool = False) -> list:
    """Remove the oldest releases beyond ``keep`` (by when they were put in place), never one a colour points at, and
    staging folders older than an hour (an interrupted deploy). Returns the paths removed (with ``dry_run``, that
    would be, removing nothing)."""
    parent = releases_dir(root)
    in_use = {version_of(link_target(colour_link(root, colour))) for colour in _validate.COLOURS}
    releases, removed = [], []
    for entry in os.scandir(parent):
        if not entry.is_dir(follow_symlinks=False):
            continue
        if entry.name.startswith((STAGING_PREFIX, ASIDE_PREFIX)):
            if clock() - entry.stat(follow_symlinks=False).st_mtime > 3600:
                removed.append(entry.path)
            continue
        releases.append((entry.stat(follow_symlinks=False).st_mtime, entry.name, entry.path))
    removed += [path for _mtime, name, path in sorted(releases, reverse=True)[keep:] if name not in in_use]
    if not dry_run:
        for path in removed:
            shutil.rmtree(path, ignore_errors=os.path.basename(path).startswith((STAGING_PREFIX, ASIDE_PREFIX)))
    return removed


def is_release_dir(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False

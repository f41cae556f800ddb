# -*- coding: utf-8 -*-
# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Atomic file writes, the per-app release history and the per-app lock.

PRIVATE to the bluegreen.core collection: may change without notice.

Layout on a router host (DESIGN.md, "The source of truth"):
  <state_dir>/<app>/history.jsonl   append-only, one JSON object per line
  <state_dir>/<app>/lock            present while a release holds the app
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator

from ansible_collections.bluegreen.core.plugins.module_utils import _validate

DEFAULT_STATE_DIR = "/var/lib/bluegreen"


class StateError(Exception):
    """The history or the lock could not be read or written."""


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def atomic_write(path: str, content: str, mode: int | None = None) -> None:
    """Replace ``path`` with ``content`` in one rename: readers see the old file or the new one.

    The temporary file lives beside the target so the rename stays on one filesystem.
    Ownership and mode of an existing file are kept unless ``mode`` is given.
    """
    directory = os.path.dirname(os.path.abspath(path))
    existing = None
    try:
        existing = os.stat(path)
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(prefix=".bluegreen-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        elif existing is not None:
            os.chmod(tmp, existing.st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o644)
        if existing is not None and os.geteuid() == 0:
            os.chown(tmp, existing.st_uid, existing.st_gid)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(directory)


def atomic_symlink(path: str, target: str) -> None:
    """Point the link ``path`` at ``target`` in one rename: readers see the old link or the new one, never none.

    (``ln -sfn`` unlinks first, leaving a moment with no link at all.)
    """
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.bluegreen-{os.getpid()}-{secrets.token_hex(4)}")
    os.symlink(target, tmp)
    try:
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def app_dir(state_dir: str, app: str) -> str:
    return os.path.join(state_dir, app)


def history_path(state_dir: str, app: str) -> str:
    return os.path.join(app_dir(state_dir, app), "history.jsonl")


def append_history(state_dir: str, app: str, entry: dict) -> dict:
    """Append one record; returns it with its time filled in."""
    record = {"time": utc_now(), "app": app}
    record.update(entry)
    directory = app_dir(state_dir, app)
    os.makedirs(directory, mode=0o750, exist_ok=True)
    line = json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"
    # O_APPEND writes of one short line are atomic with respect to other appenders.
    fd = os.open(history_path(state_dir, app), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return record


def read_history(state_dir: str, app: str, limit: int | None = None) -> tuple[list, list]:
    """Return (records oldest first, problems). A damaged line is reported, never skipped silently."""
    text = read_text(history_path(state_dir, app))
    records: list = []
    problems: list = []
    if text is None:
        return records, problems
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            problems.append(f"{history_path(state_dir, app)} line {number} is not JSON: {exc}")
            continue
        if not isinstance(record, dict):
            problems.append(f"{history_path(state_dir, app)} line {number} is not an object")
            continue
        records.append(record)
    if limit is not None and limit >= 0:
        records = records[-limit:] if limit else []
    return records, problems


def last_switch(records: list) -> dict | None:
    """The newest record that changed the live colour."""
    for record in reversed(records):
        if record.get("result") == "ok" and record.get("from") != record.get("to") and record.get("to"):
            return record
    return None


def previous_colour(records: list, live_colour: str | None) -> str | None:
    """The colour that was live before the newest successful switch to the live colour: where a rollback goes.

    A switch in weighted steps leaves records whose ``from`` or ``to`` is null (the traffic was split); the
    colour that was live before it is the ``from`` of the step that began the split.
    """
    if live_colour is None:
        return None
    arrived = False
    for record in reversed(records):
        if record.get("result") != "ok":
            continue
        if not arrived:
            if record.get("to") != live_colour or record.get("from") == live_colour:
                continue
            arrived = True
        source = record.get("from")
        if source is None:
            continue  # a step of a split: the colour live before it is further back
        return source if source in _validate.COLOURS and source != live_colour else None
    return None


def default_actor(environ: dict | None = None) -> str:
    """Who runs this, as far as the module's own environment on the router host can tell."""
    environ = os.environ if environ is None else environ
    for variable, template in (("BLUEGREEN_ACTOR", "{}"), ("AWX_JOB_ID", "awx job {}"), ("TOWER_JOB_ID", "tower job {}"),
                               ("SUDO_USER", "{}"), ("USER", "{}"), ("LOGNAME", "{}")):
        value = environ.get(variable)
        if value:
            cleaned = "".join(ch for ch in value if ch.isprintable())[:200]
            if cleaned:
                return template.format(cleaned)[:200]
    return f"uid {os.getuid()}"


def lock_path(state_dir: str, app: str) -> str:
    return os.path.join(app_dir(state_dir, app), "lock")


@contextlib.contextmanager
def _lock_guard(state_dir: str, app: str) -> Iterator[None]:
    """Serialise the read-check-replace steps on the lock between processes on this host.

    Without it, two contenders that both find the same stale lock could each remove it and
    each create a lock of their own after the other. flock is dropped when the process dies.
    """
    fd = os.open(os.path.join(app_dir(state_dir, app), ".lock.guard"), os.O_WRONLY | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def read_lock(state_dir: str, app: str) -> dict | None:
    text = read_text(lock_path(state_dir, app))
    if text is None:
        return None
    try:
        holder = json.loads(text)
    except ValueError:
        holder = {"owner": "unknown (unreadable lock file)", "raw": text[:200]}
    return holder if isinstance(holder, dict) else {"owner": "unknown", "raw": text[:200]}


def lock_expired(holder: dict, now: float | None = None) -> bool:
    expires = holder.get("expires_epoch")
    return isinstance(expires, (int, float)) and (now if now is not None else time.time()) >= expires


def try_acquire_lock(state_dir: str, app: str, owner: str, ttl: int) -> tuple[bool, dict | None, dict | None]:
    """One attempt. Returns (acquired, holder_now, stale_holder_broken).

    Taking the lock is an O_EXCL create, so two controllers can never both win. A lock past
    its expiry (a release that died without cleaning up) is broken and reported.
    """
    directory = app_dir(state_dir, app)
    os.makedirs(directory, mode=0o750, exist_ok=True)
    path = lock_path(state_dir, app)
    now = time.time()
    record = {
        "owner": owner,
        "since": utc_now(),
        "expires_epoch": now + ttl,
        "pid": os.getpid(),
    }
    with _lock_guard(state_dir, app):
        broken = None
        holder = read_lock(state_dir, app)
        if holder is not None:
            if holder.get("owner") == owner:
                return True, holder, None
            if not lock_expired(holder, now):
                return False, holder, None
            broken = holder
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        except FileExistsError:
            return False, read_lock(state_dir, app), None
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(record, handle)
        return True, record, broken


LOCK_POLL_S = 1.0
LOCK_OWNER_MAX = 200


class LockHeld(Exception):
    """Another owner holds the lock; the message says who and what to do."""

    def __init__(self, message: str, holder: dict | None, waited: float = 0.0) -> None:
        super().__init__(message)
        self.holder = holder
        self.waited = waited


def iso_time(epoch: object) -> str | None:
    if not isinstance(epoch, (int, float)):
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _lock_since(holder: dict) -> str:
    since = str(holder.get("since") or "an unknown time")
    return since.split(".", maxsplit=1)[0] + "Z" if since.endswith("Z") and "." in since else since


def describe_lock(holder: dict) -> str:
    expires = iso_time(holder.get("expires_epoch"))
    until = f"expires {expires}" if expires else "no expiry recorded: it never goes stale"
    return f"{holder.get('owner')} since {_lock_since(holder)} ({until})"


def held_message(app: str, holder: dict, waited: float, wait: int) -> str:
    message = (f"app {app} is locked by {describe_lock(holder)}; another release is running. Wait, or release it with "
               "bluegreen.core.lock state=absent force=true if it is dead")
    return message + (f" (waited {round(waited, 1):g}s)" if wait else "")


def validate_lock_inputs(owner: object, wait: int, ttl: int, prefix: str = "") -> None:
    """Raise ValidationError naming the first bad lock option (``prefix`` names them as a module calls them)."""
    if not isinstance(owner, str) or not owner or len(owner) > LOCK_OWNER_MAX or not owner.isprintable():
        raise _validate.ValidationError(
            f"{prefix}owner must be 1-{LOCK_OWNER_MAX} printable characters without a newline or tab, got {owner!r:.250}")
    if wait < 0:
        raise _validate.ValidationError(f"{prefix}wait must be 0 or more seconds, got {wait}")
    if ttl < 1:
        raise _validate.ValidationError(f"{prefix}ttl must be at least 1 second, got {ttl}")


def _predict_acquire(state_dir: str, app: str, owner: str, ttl: int) -> tuple:
    """What try_acquire_lock would do, without touching anything: (acquired, holder, broken)."""
    holder = read_lock(state_dir, app)
    if holder is not None and (holder.get("owner") == owner or not lock_expired(holder)):
        return holder.get("owner") == owner, holder, None
    record = {"owner": owner, "since": utc_now(), "expires_epoch": time.time() + ttl, "pid": os.getpid()}
    return True, record, holder


def acquire_lock(state_dir: str, app: str, owner: str, ttl: int, wait: int, check_mode: bool = False) -> dict:
    """Take the lock, polling while another owner holds it; raise LockHeld when ``wait`` runs out.

    Returns changed (False when this owner already held it), holder, broken_lock (a stale holder that was
    broken) and waited_s. In check mode nothing is written; the result says what would happen.
    """
    started = time.monotonic()
    while True:
        before = read_lock(state_dir, app)
        if check_mode:
            acquired, holder, broken = _predict_acquire(state_dir, app, owner, ttl)
        else:
            acquired, holder, broken = try_acquire_lock(state_dir, app, owner, ttl)
        waited = round(time.monotonic() - started, 3)
        if acquired:
            already_ours = broken is None and before is not None and before.get("owner") == owner
            return {"changed": not already_ours, "holder": holder, "broken_lock": broken, "waited_s": waited}
        left = wait - (time.monotonic() - started)
        if holder is None and left > 0:
            continue  # released between the attempt and the look at who holds it: try again now
        if left <= 0:
            raise LockHeld(held_message(app, holder or {"owner": "an unknown owner"}, waited, wait), holder, waited)
        time.sleep(min(LOCK_POLL_S, left))


@contextlib.contextmanager
def holding_lock(state_dir: str, app: str, owner: str | None, ttl: int, wait: int,
                 check_mode: bool = False) -> Iterator[dict | None]:
    """Hold the app's lock around a block when ``owner`` is given, and release it after, also on failure.

    A lock this owner already held (taken by an earlier task) is left held. Yields acquire_lock's result, or None.
    """
    if owner is None:
        yield None
        return
    try:
        taken = acquire_lock(state_dir, app, owner, ttl, wait, check_mode)
    except OSError as exc:
        raise StateError(f"cannot take the lock of {app} in {state_dir}: {exc}") from exc
    try:
        yield taken
    finally:
        if taken["changed"] and not check_mode:
            release_lock(state_dir, app, owner)


# The options of the traffic modules that hold the lock around one call (doc fragment bluegreen.core.state.lock).
LOCK_OPTIONS = {
    "lock_owner": {"type": "str"},
    "lock_wait": {"type": "int", "default": 0},
    "lock_ttl": {"type": "int", "default": 3600},
}


def run_holding_lock(module, work: Callable[[], dict]) -> dict:
    """Run ``work`` under the app's lock when the module's lock_owner is set (LOCK_OPTIONS), and fail the module,
    saying why, when another owner holds the lock or a rollback is refused."""
    params = module.params
    try:
        with holding_lock(params["state_dir"], params["app"], params["lock_owner"], params["lock_ttl"],
                          params["lock_wait"], module.check_mode):
            return work()
    except LockHeld as exc:
        module.fail_json(msg=str(exc), holder=exc.holder)
    except RollbackRefused as exc:
        module.fail_json(msg=f"cannot route {params['app']} to its previous colour: {exc}")
    except StateError as exc:
        module.fail_json(msg=str(exc))
    return {}  # not reached: fail_json exits


class RollbackRefused(StateError):
    """There is no colour to roll back to, or it no longer holds the release it ran when it was live."""


def rollback_target(records: list, live_colour: str | None, versions: dict, force: bool) -> str:
    """The colour a rollback goes to, checked against the versions its hosts hold now (``versions``, from the
    app hosts; None where unknown). Raise RollbackRefused, saying why and what to do, when there is none or when
    it no longer holds the release it ran when it was live (unless ``force``)."""
    if live_colour is None:
        raise RollbackRefused("the router sends the live traffic to no single colour now, so there is no previous one; "
                              "name the colour instead (colour=blue or green; bluegreen_switch_to=blue or green in the roles)")
    target = previous_colour(records, live_colour)
    stays = f"{live_colour} stays live."
    if target is None:
        raise RollbackRefused(
            "the history records no earlier switch to go back to; name the colour instead (colour=blue or green; "
            f"bluegreen_switch_to=blue or green in the roles). {stays}")
    now = versions.get(target)
    if now is None and any(versions.values()) and not force:
        raise RollbackRefused(f"{target} has no release on the app hosts; deploy one first. {stays}")
    was = ((last_switch(records) or {}).get("versions") or {}).get(target)
    if was is not None and now is not None and was != now and not force:
        raise RollbackRefused(
            f"not rolling back to {target}: it ran {was} when it was live, but now holds {now}. Deploy {was} to it "
            "first (bluegreen.core.deploy), or pass force=true (bluegreen_force=true in the roles) to route to what it "
            f"holds now. {stays}")
    return target


def release_lock(state_dir: str, app: str, owner: str, force: bool = False) -> tuple[bool, dict | None]:
    """Returns (released, holder). Refuses to drop another owner's lock unless forced."""
    if read_lock(state_dir, app) is None:
        return False, None
    with _lock_guard(state_dir, app):
        holder = read_lock(state_dir, app)
        if holder is None:
            return False, None
        if holder.get("owner") != owner and not force:
            raise StateError(
                f"the lock on {app} is held by {holder.get('owner')!r} since {holder.get('since')}, not by {owner!r}; "
                "use force=true only if that release is known to be dead"
            )
        os.unlink(lock_path(state_dir, app))
        return True, holder

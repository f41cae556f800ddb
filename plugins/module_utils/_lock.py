# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The per-app release lock: ``<state_dir>/<app>/lock``, present while a run holds the app.

PRIVATE to the bluegreen.core collection: may change without notice.

Taking it is an O_EXCL create under an flock guard, so two controllers can never both win; a lock
past its expiry (a run that died without cleaning up) is broken and reported.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator

from ansible_collections.bluegreen.core.plugins.module_utils import _fs, _validate
from ansible_collections.bluegreen.core.plugins.module_utils._errors import BluegreenError
from ansible_collections.bluegreen.core.plugins.module_utils._history import app_dir, utc_now


class StateError(BluegreenError):
    """The lock could not be read or written."""


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
    text = _fs.read_text(lock_path(state_dir, app))
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


def new_lock(owner: str, ttl: int, controller: dict | None) -> dict:
    """The lock record: its owner, since when, its expiry, the process that wrote it and, when the roles give it, the
    controller of the run ({host, pid, started} of its ansible-playbook process)."""
    record = {"owner": owner, "since": utc_now(), "expires_epoch": time.time() + ttl, "pid": os.getpid()}
    if controller:
        record["controller"] = {key: controller.get(key) for key in ("host", "pid", "started")}
    return record


def try_acquire_lock(state_dir: str, app: str, owner: str, ttl: int,
                     controller: dict | None = None) -> tuple[bool, dict | None, dict | None]:
    """One attempt. Returns (acquired, holder_now, stale_holder_broken).

    Taking the lock is an O_EXCL create, so two controllers can never both win. A lock past
    its expiry (a release that died without cleaning up) is broken and reported.
    """
    directory = app_dir(state_dir, app)
    os.makedirs(directory, mode=0o750, exist_ok=True)
    path = lock_path(state_dir, app)
    now = time.time()
    record = new_lock(owner, ttl, controller)
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


class LockHeld(BluegreenError):
    """Another owner holds the lock; the message says who and what to do."""

    def __init__(self, message: str, holder: dict | None, waited: float = 0.0) -> None:
        super().__init__(message, fields={"holder": holder})
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
    """The holder in words: owner, its controller (host, PID, the process's start), since when, and its expiry."""
    expires = iso_time(holder.get("expires_epoch"))
    until = f"expires {expires}" if expires else "no expiry recorded: it never goes stale"
    controller = holder.get("controller") if isinstance(holder.get("controller"), dict) else None
    where = ""
    if controller:
        started = f", started {controller.get('started')}" if controller.get("started") else ""
        where = f" (controller {controller.get('host')}, PID {controller.get('pid')}{started})"
    return f"{holder.get('owner')}{where} since {_lock_since(holder)} ({until})"


def held_message(app: str, holder: dict, waited: float, wait: int) -> str:
    message = (f"app {app} is locked by {describe_lock(holder)}; another run is changing it. Wait for it (bluegreen_lock_wait "
               "in the roles, lock_wait here), or, if that run is dead, release the lock with the bluegreen.core.unlock playbook")
    return message + (f" (waited {round(waited, 1):g}s)" if wait else "")


def validate_lock_inputs(owner: object, wait: int, ttl: int, prefix: str = "") -> None:
    """Raise ValidationError naming the first bad lock option (``prefix`` names them as a module calls them)."""
    if not isinstance(owner, str) or not owner or len(owner) > LOCK_OWNER_MAX or not owner.isprintable():
        raise _validate.ValidationError(
            f"{prefix}owner must be 1-{LOCK_OWNER_MAX} printable characters without a newline or tab, got {owner!r:.250}",
            f"{prefix}owner")
    if wait < 0:
        raise _validate.ValidationError(f"{prefix}wait must be 0 or more seconds, got {wait}", f"{prefix}wait")
    if ttl < 1:
        raise _validate.ValidationError(f"{prefix}ttl must be at least 1 second, got {ttl}", f"{prefix}ttl")


def _predict_acquire(state_dir: str, app: str, owner: str, ttl: int, controller: dict | None) -> tuple:
    """What try_acquire_lock would do, without touching anything: (acquired, holder, broken)."""
    holder = read_lock(state_dir, app)
    if holder is not None and (holder.get("owner") == owner or not lock_expired(holder)):
        return holder.get("owner") == owner, holder, None
    return True, new_lock(owner, ttl, controller), holder


def acquire_lock(state_dir: str, app: str, owner: str, ttl: int, wait: int, check_mode: bool = False,
                 controller: dict | None = None) -> dict:
    """Take the lock, polling while another owner holds it; raise LockHeld when ``wait`` runs out.

    Returns changed (False when this owner already held it), holder, broken_lock (a stale holder that was
    broken) and waited_s. In check mode nothing is written; the result says what would happen.
    """
    started = time.monotonic()
    while True:
        before = read_lock(state_dir, app)
        if check_mode:
            acquired, holder, broken = _predict_acquire(state_dir, app, owner, ttl, controller)
        else:
            acquired, holder, broken = try_acquire_lock(state_dir, app, owner, ttl, controller)
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
                 check_mode: bool = False, controller: dict | None = None, keep: bool = False) -> Iterator[dict | None]:
    """Hold the app's lock around a block when ``owner`` is given, and release it after, also on failure.

    A lock this owner already held (taken by an earlier task) is left held. ``keep``: a block that ends well leaves
    the lock it took held too, for a later task of the same owner (a stage, for its commit); one that fails releases
    it. Yields acquire_lock's result, or None.
    """
    if owner is None:
        yield None
        return
    try:
        taken = acquire_lock(state_dir, app, owner, ttl, wait, check_mode, controller)
    except OSError as exc:
        raise StateError(f"cannot take the lock of {app} in {state_dir}: {exc}") from exc
    ended_well = False
    try:
        yield taken
        ended_well = True
    finally:
        if taken["changed"] and not check_mode and not (keep and ended_well):
            release_lock(state_dir, app, owner)


# The options of the router modules that take the app's lock (doc fragment bluegreen.core.state.lock).
CONTROLLER_OPTION = {"type": "dict", "options": {"host": {"type": "str"}, "pid": {"type": "int"}, "started": {"type": "str"}}}
LOCK_OPTIONS = {
    "lock_owner": {"type": "str"},
    "lock_wait": {"type": "int", "default": 0},
    "lock_ttl": {"type": "int", "default": 3600},
    "lock_controller": CONTROLLER_OPTION,
}


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

# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files written so that a reader, or a crash, never sees half of them.

PRIVATE to the bluegreen.core collection: may change without notice.

Every file and link the modules change on a host goes through here: a temporary file beside the
target, fsync, then one rename, and the directory fsync'd after it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import tempfile
from collections.abc import Iterator


def read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


@contextlib.contextmanager
def locked(path: str) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` (created 0600 if missing) for the block; the kernel drops it if we die.

    For files several apps' runs rewrite in place, such as the HAProxy map all apps of a router share: each run
    reads, changes its own lines and writes under it, so no run loses another's change.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write_beside(path: str, content: str) -> str:
    """``content`` in a new temporary file beside ``path`` (the same filesystem, so it can be renamed onto it), synced to
    disk; returns its path. Raises OSError, leaving no file behind."""
    fd, tmp = tempfile.mkstemp(prefix=".bluegreen-", dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def check_writable(path: str, content: str) -> None:
    """Write ``content`` to a temporary file beside ``path`` and remove it: what atomic_write will need (the folder
    writable, room for the content), proved without touching ``path``. Raises OSError."""
    os.unlink(_write_beside(path, content))


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
    tmp = _write_beside(path, content)
    try:
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

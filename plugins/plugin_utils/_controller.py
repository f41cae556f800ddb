# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller that runs a playbook, as the app's lock records it, and whether a lock's run is gone.

PRIVATE to the bluegreen.core collection: may change without notice. Runs on the controller only (lookup and filter
plugins).

A lock records the controller of the run that took it: its host name, the PID of its ansible-playbook process and when
that process started. On the same controller, a lock whose process is gone (or whose PID now belongs to a process
started at another time) is stale: the run that held it was killed.
"""

from __future__ import annotations

import datetime
import multiprocessing
import os
import socket
import time


def main_pid() -> int:
    """The PID of the ansible-playbook (or ansible) process: a task's templating runs in a worker process it forked."""
    parent = multiprocessing.parent_process()
    return parent.pid if parent is not None and parent.pid else os.getpid()


def _boot_epoch() -> float | None:
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def process_started(pid: int) -> str | None:
    """When the process ``pid`` started (UTC, ISO 8601, to the second), or None if it is not running or this system
    does not say (no /proc)."""
    try:
        with open(f"/proc/{int(pid)}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError, ValueError):
        return None
    boot = _boot_epoch()
    if boot is None:
        return None
    started = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return datetime.datetime.fromtimestamp(round(started), datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def running(pid: int) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, but there
    return True


def identity() -> dict:
    """This controller: {host, pid, started} of the playbook run asking."""
    pid = main_pid()
    return {"host": socket.gethostname(), "pid": pid, "started": process_started(pid)}


def lock_state(holder: dict | None, now: float | None = None) -> dict:
    """What this controller can tell of a lock's holder: {held, stale, here, why}. ``stale``: its run is known to be
    gone (its process is gone from this controller, or its PID is another process now), or the lock has expired;
    ``here``: it was taken from this controller."""
    if not holder:
        return {"held": False, "stale": False, "here": False, "why": "the lock is free"}
    controller = holder.get("controller") if isinstance(holder.get("controller"), dict) else {}
    host, pid, started = controller.get("host"), controller.get("pid"), controller.get("started")
    here = bool(host) and host == socket.gethostname()
    expires = holder.get("expires_epoch")
    if isinstance(expires, (int, float)) and (time.time() if now is None else now) >= expires:
        return {"held": True, "stale": True, "here": here, "why": "it has expired: the run that took it died"}
    if not host or not isinstance(pid, int):
        return {"held": True, "stale": False, "here": False,
                "why": "it records no controller process (an older version, or a lock taken by hand), so nothing tells "
                       "whether its run is alive"}
    if not here:
        return {"held": True, "stale": False, "here": False,
                "why": f"it was taken from the controller {host}, which this one ({socket.gethostname()}) cannot look at"}
    if not running(pid):
        return {"held": True, "stale": True, "here": True, "why": f"process {pid} is gone from this controller"}
    now_started = process_started(pid)
    if started and now_started and now_started != started:
        return {"held": True, "stale": True, "here": True,
                "why": f"process {pid} on this controller started at {now_started}, not at {started}: the run that took it is gone"}
    return {"held": True, "stale": False, "here": True, "why": f"process {pid} is still running on this controller"}

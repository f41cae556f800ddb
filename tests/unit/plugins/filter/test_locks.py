# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the controller can tell of a lock's holder: stale only when its run is known to be gone."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

from ansible_collections.bluegreen.core.plugins.filter.locks import lock_state
from ansible_collections.bluegreen.core.plugins.plugin_utils import _controller

LATER = time.time() + 3600


def holder(**controller) -> dict:
    return {"owner": "release by ops", "since": "2026-01-01T00:00:00.000000Z", "expires_epoch": LATER,
            "controller": controller}


def test_a_free_lock():
    assert lock_state(None) == {"held": False, "stale": False, "here": False, "why": "the lock is free", "holder": None}


def test_a_live_run_on_this_controller_is_not_stale_and_is_named_as_a_refusal_names_it():
    me = _controller.identity()
    state = lock_state(holder(**me))
    assert (state["held"], state["stale"], state["here"]) == (True, False, True)
    assert f"process {me['pid']} is still running" in state["why"]
    assert state["holder"].startswith(f"release by ops (controller {me['host']}, PID {me['pid']}")


def test_a_gone_process_on_this_controller_is_stale():
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()
    state = lock_state(holder(host=socket.gethostname(), pid=int(gone), started="2026-01-01T00:00:00Z"))
    assert state["stale"] and f"process {gone} is gone" in state["why"]


def test_a_pid_reused_by_a_process_started_at_another_time_is_stale():
    state = lock_state(holder(host=socket.gethostname(), pid=os.getpid(), started="2000-01-01T00:00:00Z"))
    assert state["stale"] and "not at 2000-01-01T00:00:00Z" in state["why"]


def test_another_controller_or_no_controller_cannot_be_judged_but_an_expired_lock_is_stale():
    elsewhere = lock_state(holder(host=socket.gethostname() + "-other", pid=1, started=None))
    assert (elsewhere["stale"], elsewhere["here"]) == (False, False) and "cannot look at" in elsewhere["why"]
    unknown = lock_state({"owner": "by hand", "expires_epoch": LATER})
    assert not unknown["stale"] and "records no controller" in unknown["why"]
    expired = lock_state(dict(holder(host="elsewhere", pid=1), expires_epoch=time.time() - 1))
    assert expired["stale"] and "expired" in expired["why"]

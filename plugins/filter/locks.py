# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the controller can tell about the holder of an app's lock (plugin_utils/_controller.py)."""

from __future__ import annotations

from ansible_collections.bluegreen.core.plugins.module_utils import _lock
from ansible_collections.bluegreen.core.plugins.plugin_utils import _controller


def lock_state(holder: object) -> dict:
    """{held, stale, here, why, holder} of a lock holder (the lock file's JSON, or null when the lock is free);
    ``holder`` is the holder in words, as a refused lock names it (null when free)."""
    holder = holder if isinstance(holder, dict) else None
    return dict(_controller.lock_state(holder), holder=_lock.describe_lock(holder) if holder else None)


class FilterModule:
    def filters(self) -> dict:
        return {"lock_state": lock_state}

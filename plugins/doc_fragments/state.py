# -*- coding: utf-8 -*-
# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Where a router host keeps each app's history and lock.
    DOCUMENTATION = r"""
options:
  state_dir:
    description:
      - Directory on the target host that holds one folder per app with C(history.jsonl) (the append-only
        release history) and C(lock) (present while a release holds the app).
    type: path
    default: /var/lib/bluegreen
"""

    # The traffic modules' options for holding the app's release lock around one call (a rollback in one round trip).
    LOCK = r"""
options:
  lock_owner:
    description:
      - Hold the app's release lock (the one M(bluegreen.core.lock) takes) under this owner while the module works,
        and release it before returning, also when the module fails. The lock is the file C(<state_dir>/<app>/lock).
      - When another owner holds it, the module fails without changing anything, naming the holder. A lock this
        owner already holds is used and left held.
      - Without it the module takes no lock; the roles take it with M(bluegreen.core.lock) around the whole switch.
    type: str
  lock_wait:
    description: Seconds to wait for a lock another owner holds, with O(lock_owner).
    type: int
    default: 0
  lock_ttl:
    description: Seconds after which the lock counts as stale if this run dies holding it, with O(lock_owner).
    type: int
    default: 3600
"""

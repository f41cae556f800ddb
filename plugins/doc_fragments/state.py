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

    # What every read returns of the history (an info module, or an AWS traffic module given nothing to change).
    READ = r"""
options:
  history_limit:
    description: How many of the newest history records to return in C(history); C(0) returns none.
    type: int
    default: 20
"""

    # What every traffic module takes beside where its router is: what it records about a change in the app's history
    # (the schema: docs/architecture.md), and the app's release lock held around one call (a rollback in one call).
    TRAFFIC = r"""
options:
  history:
    description:
      - Append a record of each change to the app's history, C(<state_dir>/<app>/history.jsonl) on the host the module
        runs on. A history that cannot be written is a warning, not a failure.
      - Every router writes the same record (time, app, router, action, result, actor, reason, from, to, weight, weights,
        from_weights, versions, and what the router adds about itself, such as a timing or the listener).
    type: bool
    default: true
  versions:
    description:
      - The version each colour runs, recorded in the history.
      - With O(colour=previous), a rollback is refused when the previous colour has no release now, or holds another
        release than the one it ran when it was live, unless O(force=true).
      - A change that gives a colour more of the live traffic is refused, unless O(force=true), when the history's last
        outcome of the release that colour holds is a failure (switched back by the watch, rolled back from, or failed
        its smoke test); a colour that holds another release now (as O(versions) says) is not refused. Without
        O(versions) the colour is taken to hold the release that failed. O(action=auto-rollback) and O(action=release)
        are not refused.
    type: dict
    suboptions:
      blue:
        description: Version of the blue colour, or null when unknown.
        type: str
      green:
        description: Version of the green colour, or null when unknown.
        type: str
  actor:
    description:
      - Who or what made the change, recorded in the history. One printable line, at most 200 characters.
      - Defaults to the module's environment on the host it runs on, the first set of E(BLUEGREEN_ACTOR), E(AWX_JOB_ID),
        E(TOWER_JOB_ID), E(SUDO_USER), E(USER) and E(LOGNAME). From AWX, pass it explicitly, for example
        C(awx job {{ awx_job_id }} by {{ awx_user_name }}).
    type: str
  action:
    description:
      - Why the traffic moves, recorded in the history.
      - V(release) is a switch to a release the same run deployed and smoke-tested; V(rollback) goes back by hand and
        marks the release it leaves as rolled back from; V(auto-rollback) is the watch's switch back and marks the
        release it leaves as switched back by the watch.
    type: str
    choices: [switch, release, rollback, auto-rollback]
    default: switch
  reason:
    description: A free-text reason recorded in the history. One printable line, at most 1000 characters.
    type: str
  lock_release:
    description:
      - Release the app's lock after the change succeeded, also when O(lock_owner) held it before the call (a run whose
        last change this is). After a failure the lock stays held, for the run to put things back under it.
    type: bool
    default: false
"""

    # The app's release lock held by one call: a traffic module around its change, an info module from its read on.
    LOCK = r"""
options:
  lock_owner:
    description:
      - Take the app's release lock (the one M(bluegreen.core.lock) takes, the file C(<state_dir>/<app>/lock)) under this
        owner. When another owner holds it, the module fails without changing anything, naming the holder.
      - A traffic module holds it around the whole call (the read, the checks, the change and the history record) and
        releases it before returning, also when it fails; a lock this owner already held is used and left held (a traffic
        module's C(lock_release) releases it after a successful change).
      - An info module takes it and keeps it, for the changes the run makes after this read.
      - Without it the module takes no lock.
    type: str
  lock_wait:
    description: Seconds to wait for a lock another owner holds, with O(lock_owner).
    type: int
    default: 0
  lock_ttl:
    description: Seconds after which the lock counts as stale if this run dies holding it, with O(lock_owner).
    type: int
    default: 3600
  lock_controller:
    description:
      - The controller of the run taking the lock ({host, pid, started} of its C(ansible-playbook) process), recorded in
        it with O(lock_owner); see M(bluegreen.core.lock)'s O(bluegreen.core.lock#module:controller).
    type: dict
    suboptions:
      host: {description: The controller's host name., type: str}
      pid: {description: The PID of its ansible-playbook process., type: int}
      started:
        description: When that process started, in UTC, ISO 8601.
        type: str
"""

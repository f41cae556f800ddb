# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: lock
short_description: Take or release the per-app release lock on a router host
version_added: 0.1.0
description:
  - Takes (O(state=present)) or releases (O(state=absent)) the lock that keeps two releases of one app from
    interleaving. The switch role takes it before it changes the router and releases it at the end.
  - The lock is the file C(<state_dir>/<app>/lock), created with an exclusive create, so of two controllers that try at
    the same moment exactly one wins. It records its owner, since when it is held and when it expires.
  - A lock older than its O(ttl) counts as stale (the release that held it died) and is broken by the next O(state=present),
    with a loud warning and the old holder in RV(broken_lock).
author:
  - bluegreen.core maintainers (@bluegreen)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - bluegreen.core.state
attributes:
  check_mode:
    support: full
    details:
      - Never creates or removes the lock; reports whether it would, as C(changed).
      - A lock held by another owner still fails in check mode, after the same O(wait), so a dry run says that the
        release could not proceed.
  diff_mode:
    support: none
  idempotent:
    description: Taking a lock the same owner already holds, or releasing one that is not there, changes nothing.
    support: full
  platform:
    platforms: posix
  action_group:
    description: Part of the C(bluegreen.core.bluegreen) action group, for C(module_defaults).
    support: full
    membership:
      - bluegreen.core.bluegreen
options:
  app:
    description:
      - The app whose releases the lock serialises.
      - Letters, digits, C(_), C(-) and C(.), starting with a letter or digit.
    type: str
    required: true
  state:
    description:
      - V(present) takes the lock, waiting up to O(wait) seconds while another owner holds it.
      - V(absent) releases it. Releasing a lock that another owner holds fails unless O(force=true).
    type: str
    choices: [present, absent]
    default: present
  owner:
    description:
      - Who holds the lock, shown to anyone who finds the app locked, for example C(awx-job-42) or
        C(alice@ctl run 2026-01-31T10:00).
      - Taking the lock again with the same owner succeeds without a change, and only this owner may release it.
      - 1 to 200 printable characters, no newline.
    type: str
    required: true
  wait:
    description:
      - Seconds to wait, polling every second, while another owner holds the lock. V(0) fails at once.
    type: int
    default: 0
  ttl:
    description:
      - Seconds after which a lock counts as stale and may be broken by another owner.
      - Choose it longer than the longest release; the switch role's monitoring time counts.
    type: int
    default: 3600
  controller:
    description:
      - The controller of the run taking the lock, recorded in it so that its holder names the controller, the PID of
        its C(ansible-playbook) process and when that process started. The roles pass
        C(query('bluegreen.core.controller') | first).
      - The C(bluegreen.core.unlock) playbook recognises a lock whose process is gone from the same controller as stale.
    type: dict
    suboptions:
      host: {description: The controller's host name., type: str}
      pid: {description: The PID of its ansible-playbook process., type: int}
      started:
        description: When that process started, in UTC, ISO 8601.
        type: str
  force:
    description:
      - With O(state=absent), release the lock even when another owner holds it.
      - Use it only when that release is known to be dead; a running release would then race with the next one.
    type: bool
    default: false
notes:
  - The lock protects releases that run against the same router host and O(state_dir); with several routers, take it on
    one of them (the switch role uses the first host of the router group).
seealso:
  - module: bluegreen.core.health_check
"""

EXAMPLES = r"""
- name: Take the release lock for shop, waiting up to five minutes for a running release
  bluegreen.core.lock:
    app: shop
    owner: "awx-job-{{ awx_job_id | default('manual') }}"
    wait: 300
    ttl: 7200
  delegate_to: "{{ groups['bluegreen_routers'][0] }}"
  run_once: true

- name: Release it at the end of the release
  bluegreen.core.lock:
    app: shop
    owner: "awx-job-{{ awx_job_id | default('manual') }}"
    state: absent
  delegate_to: "{{ groups['bluegreen_routers'][0] }}"
  run_once: true

- name: Drop the lock of a release that is known to be dead
  bluegreen.core.lock:
    app: shop
    owner: alice
    state: absent
    force: true
"""

RETURN = r"""
app:
  description: The app.
  returned: always
  type: str
  sample: shop
holder:
  description:
    - The lock after the call, or null when there is none. In check mode, the lock that would be written.
    - On failure, the lock that another owner holds.
  returned: always
  type: dict
  contains:
    owner:
      description: Who holds it.
      type: str
      sample: awx-job-42
    since:
      description: When it was taken (UTC, ISO 8601).
      type: str
      sample: "2026-01-31T10:00:00.123456Z"
    expires_epoch:
      description: When it becomes stale, in seconds since the epoch.
      type: float
      sample: 1769857200.12
    expires:
      description: The same as RV(holder.expires_epoch), in UTC ISO 8601, for reading; not stored in the lock file.
      type: str
      sample: "2026-01-31T11:00:00Z"
    pid:
      description: The process on the router host that took it.
      type: int
      sample: 4242
    controller:
      description: The controller of the run that took it (O(controller)), when given.
      type: dict
      sample: {host: ctl1, pid: 31337, started: "2026-01-31T09:59:58Z"}
broken_lock:
  description: The stale lock that O(state=present) broke (or would break, in check mode), else null.
  returned: always
  type: dict
  sample: {"owner": "awx-job-41", "since": "2026-01-31T08:00:00.000000Z", "expires_epoch": 1769850000.0}
waited_s:
  description: Seconds spent waiting for another owner to release the lock.
  returned: always
  type: float
  sample: 12.0
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bluegreen.core.plugins.module_utils import _history, _lock, _validate

ARGUMENT_SPEC = {
    "app": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "owner": {"type": "str", "required": True},
    "wait": {"type": "int", "default": 0},
    "ttl": {"type": "int", "default": 3600},
    "force": {"type": "bool", "default": False},
    "state_dir": {"type": "path", "default": _history.DEFAULT_STATE_DIR},
    "controller": _lock.CONTROLLER_OPTION,
}


def _readable(holder: dict | None) -> dict | None:
    if holder is None:
        return None
    shown = dict(holder)
    expires = _lock.iso_time(holder.get("expires_epoch"))
    if expires:
        shown["expires"] = expires
    return shown


def validate(params: dict) -> None:
    """Raise ValidationError naming the first bad option."""
    _validate.name(params["app"], "app")
    _lock.validate_lock_inputs(params["owner"], params["wait"], params["ttl"])
    if not os.path.isabs(params["state_dir"]):
        raise _validate.ValidationError(f"state_dir must be an absolute path, got {params['state_dir']!r}")


def release(params: dict, check_mode: bool) -> dict:
    state_dir, app, owner = params["state_dir"], params["app"], params["owner"]
    holder = _lock.read_lock(state_dir, app)
    result = {"changed": False, "holder": None, "broken_lock": None, "waited_s": 0.0}
    if holder is None:
        return result
    ours = holder.get("owner") == owner
    if not ours and not params["force"]:
        raise _lock.LockHeld(
            f"app {app} is locked by {_lock.describe_lock(holder)}, not by {owner}; release it with force=true only if that release is dead",
            holder,
        )
    if not check_mode:
        released, holder = _lock.release_lock(state_dir, app, owner, force=params["force"])
        if not released:
            return result
        ours = holder is not None and holder.get("owner") == owner
    result["changed"] = True
    result["forced"] = not ours
    result["dropped"] = holder
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    app = params["app"]
    try:
        validate(params)
    except _validate.ValidationError as exc:
        module.fail_json(msg=str(exc))
    try:
        if params["state"] == "present":
            result = _lock.acquire_lock(params["state_dir"], app, params["owner"], params["ttl"], params["wait"], module.check_mode,
                                        params["controller"])
        else:
            result = release(params, module.check_mode)
    except _lock.LockHeld as exc:
        module.fail_json(msg=str(exc), app=app, holder=_readable(exc.holder), broken_lock=None, waited_s=exc.waited)
    except (_lock.StateError, OSError) as exc:
        verb = "take" if params["state"] == "present" else "release"
        module.fail_json(msg=f"cannot {verb} the lock of {app} in {params['state_dir']}: {exc}", app=app)
    would = "would " if module.check_mode else ""
    if result.get("broken_lock"):
        module.warn(
            f"{would}break the stale lock of {app} held by {_lock.describe_lock(result['broken_lock'])}: that release died or "
            "ran past its ttl; check what it left half done before trusting this release"
        )
    if result.pop("forced", False):
        module.warn(f"{would}drop the lock of {app} held by {_lock.describe_lock(result['dropped'])} (force=true)")
    result.pop("dropped", None)
    module.exit_json(
        app=app,
        changed=result["changed"],
        holder=_readable(result["holder"]),
        broken_lock=_readable(result["broken_lock"]),
        waited_s=result["waited_s"],
    )


if __name__ == "__main__":
    main()

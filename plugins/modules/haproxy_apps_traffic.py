#!/usr/bin/python
# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: haproxy_apps_traffic
short_description: Switch several apps of an HAProxy router in one step, so no request sees one switched and not another
version_added: 0.3.0
description:
  - For apps that must change together (microservices that call each other), routes each listed app to its colour in
    one runtime-API map transaction (C(prepare map), C(add map @<version>) for every entry, C(commit map)) on the map
    all apps of the router share. Before the commit every request sees every app's old colour; after it, every new
    one. No reload.
  - Writes the apps' lines of the map file first (under the map's lock, leaving other apps' lines as they are), so a
    reload keeps the switch. If anything fails, the previous entries and lines are put back.
  - Refuses, before anything changes, an app whose target colour has no server UP, or whose release there last
    failed (switched back by a watch, rolled back, failed its smoke test), unless O(force=true); holds each app's lock
    when O(lock_owner) is given.
  - With O(watch), watches every app's new colour after the commit (HAProxy's counts of each backend, and the probes);
    the first breach of any app switches all of them back, in one transaction again.
  - Appends a record to each app's history, naming the other apps of the step.
author:
  - bluegreen.core maintainers (@bluegreen)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - bluegreen.core.attributes
  - bluegreen.core.watch
attributes:
  check_mode:
    support: full
    details: Reads, checks and reports what would change; changes nothing.
  diff_mode:
    support: full
    details: The map file before and after.
  idempotent:
    description: Apps already on their colours are left alone; when all are, nothing changes.
    support: full
  platform:
    description: Runs on the HAProxy host (HAProxy 2.4 or later; tested with 2.6).
    platforms: posix
options:
  apps:
    description: The apps to switch together, each to its colour.
    type: list
    elements: dict
    required: true
    suboptions:
      app:
        description: The app (its keys in the map are C(<app>) and C(<app>.preview)).
        type: str
        required: true
      colour:
        description: The colour to route the app's live traffic to; its preview goes to the other one.
        type: str
        required: true
        choices: [blue, green]
      versions:
        description: The release in each colour, for the history and the outcome check.
        type: dict
        suboptions:
          blue:
            description: Blue's release.
            type: str
          green:
            description: Green's release.
            type: str
  socket:
    description: HAProxy's admin socket (C(level admin)).
    type: str
    default: /run/haproxy/admin.sock
  timeout:
    description: Seconds allowed for each runtime API command.
    type: float
    default: 5.0
  map_file:
    description: The map every app of the router shares.
    type: path
    default: /etc/haproxy/maps/bluegreen.map
  state_dir:
    description: Where each app's history and lock are.
    type: path
    default: /var/lib/bluegreen
  force:
    description: Route to a colour with no server UP, or to a release that last failed.
    type: bool
    default: false
  history:
    description: Append a record to each app's history.
    type: bool
    default: true
  actor:
    description: Who asked, for the history. Defaults to the user running the module.
    type: str
  action:
    description: V(release) when the same run deployed and smoke-tested the releases (no outcome check), else V(switch).
    type: str
    choices: [switch, release]
    default: switch
  reason:
    description: Why, for the history.
    type: str
  lock_owner:
    description: Hold each app's lock (taken by an earlier task with this owner, or taken here) around the switch.
    type: str
  lock_wait:
    description: Seconds to wait for a lock another run holds.
    type: int
    default: 0
  lock_ttl:
    description: Seconds after which a lock taken here counts as stale.
    type: int
    default: 3600
  lock_release:
    description: Release the apps' locks after the switch and its watch.
    type: bool
    default: false
  lock_controller:
    description: The controller taking the locks, recorded in them with O(lock_owner).
    type: dict
    suboptions:
      host: {description: The controller's host name., type: str}
      pid: {description: The PID of its C(ansible-playbook) process., type: int}
      started: {description: When that process started., type: str}
seealso:
  - module: bluegreen.core.haproxy_traffic
  - name: HAProxy 2.6 management guide, prepare map and commit map
    description: The map transaction.
    link: https://docs.haproxy.org/2.6/management.html#9.3-prepare%20map
"""

EXAMPLES = r"""
- name: Switch service-a and service-b to their new releases in one step
  bluegreen.core.haproxy_apps_traffic:
    apps:
      - {app: service-a, colour: green, versions: {blue: 1.4.0, green: 1.5.0}}
      - {app: service-b, colour: blue, versions: {blue: 2.1.0, green: 2.0.3}}
    watch:
      seconds: 30
  become: true
"""

RETURN = r"""
apps:
  description: Each app, its colour before and after, and whether it changed.
  returned: always
  type: list
  elements: dict
cutover_ms:
  description: How long the C(commit map) took, the moment every request sees every new colour.
  returned: when something changed
  type: float
history_entries:
  description: The record appended to each app's history, by app.
  returned: when something changed
  type: dict
watch:
  description: What the watch of each app found, by app.
  returned: when watched
  type: dict
"""

import contextlib
import dataclasses
import threading

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bluegreen.core.plugins.module_utils import _haproxy, _history, _lock, _validate, _watch
from ansible_collections.bluegreen.core.plugins.module_utils._errors import BluegreenError, os_error_text

SAMPLE_EVERY_S = 0.2

ARGUMENT_SPEC = {
    "apps": {"type": "list", "elements": "dict", "required": True, "options": {
        "app": {"type": "str", "required": True},
        "colour": {"type": "str", "required": True, "choices": list(_validate.COLOURS)},
        "versions": {"type": "dict", "options": {"blue": {"type": "str"}, "green": {"type": "str"}}},
    }},
    "socket": {"type": "str", "default": _haproxy.DEFAULT_SOCKET},
    "timeout": {"type": "float", "default": _haproxy.DEFAULT_TIMEOUT},
    "map_file": {"type": "path", "default": _haproxy.default_map_file("")},
    "state_dir": {"type": "path", "default": _history.DEFAULT_STATE_DIR},
    "force": {"type": "bool", "default": False},
    "history": {"type": "bool", "default": True},
    "actor": {"type": "str"},
    "action": {"type": "str", "choices": ["switch", "release"], "default": "switch"},
    "reason": {"type": "str"},
    "lock_owner": {"type": "str"},
    "lock_wait": {"type": "int", "default": 0},
    "lock_ttl": {"type": "int", "default": 3600},
    "lock_release": {"type": "bool", "default": False},
    "lock_controller": _lock.CONTROLLER_OPTION,
    "watch": _watch.OPTIONS["watch"],
}


class Group:
    """The apps of one step: their layouts, versions and plans."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = params = module.params
        self.map_file = _haproxy.validate_map_file(params["map_file"])
        _haproxy.validate_socket(params["socket"])
        self.who = _history.validated(params)
        self.apps = []
        for index, item in enumerate(params["apps"]):
            app = _validate.name(item["app"], f"apps[{index}].app")
            if app in [entry["app"] for entry in self.apps]:
                raise _validate.ValidationError(f"apps lists {app} twice", "apps")
            versions = _validate.colour_strings(item.get("versions"), f"apps[{index}].versions", _validate.version)
            self.apps.append({"app": app, "colour": item["colour"], "layout": _haproxy.Layout(app, self.map_file),
                              "versions": versions})
        if not self.apps:
            raise _validate.ValidationError("apps must list at least one app", "apps")
        self.limits = _watch.limits(params["watch"])
        self.api = _haproxy.RuntimeAPI(params["socket"], params["timeout"])

    def plans(self, back: bool = False) -> list:
        """Each app's plan: to its colour, or (``back``) to the colour it had before this step (when it had one)."""
        entries, text = self.api.map_entries(self.map_file), _haproxy.read_map_file(self.map_file)
        return [_haproxy.SwitchPlan(entry["layout"], entry["before"] if back else entry["colour"], True, entries, text)
                for entry in self.apps if not back or entry.get("before")]

    def check(self, plans: list) -> None:
        """Refuse, before anything changes, a target with no server UP or a release that last failed."""
        for entry, plan in zip(self.apps, plans, strict=True):
            entry["before"] = plan.previous_colour
            if not plan.moves_live_traffic:
                continue
            target = _haproxy.read_backend(self.api, entry["layout"], plan.colour)
            _haproxy.read_backend(self.api, entry["layout"], _validate.other_colour(plan.colour))
            if target["up"] == 0 and not self.params["force"]:
                raise BluegreenError(_haproxy.refuse_unhealthy(entry["layout"], plan.colour, target) + ". No app was switched")
            if self.params["force"] or self.params["action"] == "release":
                continue
            records, _problems = _history.read(self.params["state_dir"], entry["app"])
            try:
                _history.check_outcome(records, plan.colour, entry["versions"].get(plan.colour))
            except _history.ReleaseFailed as exc:
                raise _history.ReleaseFailed(f"cannot route {entry['app']} to {plan.colour}: {exc}. No app was switched",
                                             param="apps") from None

    def record(self, plans: list, result: dict, outcome: str, action: str | None = None, reason: str | None = None,
               **details: object) -> dict:
        if not self.params["history"]:
            return {}
        together = [entry["app"] for entry in self.apps]
        versions = {entry["app"]: entry["versions"] for entry in self.apps}
        entries = {}
        for plan in plans:
            if not plan.changed:
                continue
            app = plan.layout.app
            record = _history.entry(router="haproxy", action=action or self.params["action"], target=plan.colour,
                                    weights=plan.weights, from_weights=plan.from_weights, versions=versions[app],
                                    actor=self.who["actor"], reason=reason or self.who["reason"], result=outcome,
                                    cutover_ms=result.get("cutover_ms"), together=together, **details)
            try:
                entries[app] = _history.append(self.params["state_dir"], app, record)
            except OSError as exc:
                self.module.warn(f"the result ({outcome}) could not be added to the history of {app}: {exc}")
        return entries

    def watch(self, plans: list, result: dict) -> None:
        """Watch every switched app's new colour at once; the first breach switches every app back, in one step."""
        watched = [(entry, plan) for entry, plan in zip(self.apps, plans, strict=True) if plan.moves_live_traffic]
        halt = threading.Event()
        verdicts: dict = {}

        def one(entry: dict, plan, checks: bool) -> None:
            layout, colour = entry["layout"], plan.colour
            limits = self.limits if checks else dataclasses.replace(self.limits, checks=[])

            def sample(at: float) -> _watch.Sample:
                try:
                    return _watch.Sample(at=at, **_haproxy.read_counts(self.api, layout, colour))
                except (BluegreenError, OSError) as exc:
                    raise _watch.SampleFailed(str(exc)) from None
            verdict = _watch.watch(limits, sample, f"{entry['app']} {colour}", baselines[entry["app"]], every=SAMPLE_EVERY_S, halt=halt)
            verdicts[entry["app"]] = verdict
            if not verdict.ok:
                halt.set()

        baselines = {entry["app"]: _watch.Sample(at=0.0, **_haproxy.read_counts(self.api, entry["layout"], plan.colour))
                     for entry, plan in watched}
        threads = [threading.Thread(target=one, args=(entry, plan, index == 0), daemon=True)
                   for index, (entry, plan) in enumerate(watched)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(self.limits.seconds + 60)
        result["watch"] = {app: verdict.as_dict() for app, verdict in verdicts.items()}
        broken = [(app, verdict) for app, verdict in verdicts.items() if not verdict.ok]
        if not broken:
            return
        app, verdict = broken[0]
        found = f"the watch of {app} found after {verdict.after_s:g}s: {verdict.reason}"
        if not self.limits.rollback:
            raise BluegreenError(f"{found}. watch.rollback=false: the traffic was left as it is.", fields=result)
        back = [plan for plan in self.plans(back=True) if plan.changed]
        try:
            reverted = _haproxy.apply_group(self.api, back) if back else {}
        except _haproxy.SwitchFailed as exc:
            result["history_entries"] = self.record(back, result, "failed", action="auto-rollback", reason=verdict.reason[:200])
            raise BluegreenError(f"{found}; switching every app back FAILED: {exc}", fields=result) from None
        result["rolled_back"] = True
        result["history_entries"] = self.record(back, reverted, "ok", action="auto-rollback",
                                                reason=f"{app}: {verdict.reason}"[:_history.REASON_MAX])
        names = ", ".join(entry["app"] for entry in self.apps)
        raise BluegreenError(f"{found}. Switched every app of the step ({names}) back to the colour it had, in one "
                             "step; the new releases stay for inspection.", fields=result)


def run(module: AnsibleModule) -> dict:
    group = Group(module)
    params = module.params
    with contextlib.ExitStack() as locks:
        if params["lock_owner"] is not None:
            for app in sorted(entry["app"] for entry in group.apps):
                locks.enter_context(_lock.holding_lock(params["state_dir"], app, params["lock_owner"], params["lock_ttl"],
                                                       params["lock_wait"], module.check_mode, params["lock_controller"]))
        plans = group.plans()
        group.check(plans)
        changed = [plan for plan in plans if plan.changed]
        result = {"changed": bool(changed), "cutover_ms": None, "history_entries": {},
                  "apps": [{"app": entry["app"], "colour": plan.colour, "previous_colour": plan.previous_colour,
                            "changed": plan.changed} for entry, plan in zip(group.apps, plans, strict=True)]}
        if module._diff and changed:
            before = _haproxy.read_map_file(group.map_file) or ""
            after = _haproxy.render_map_file(before, _haproxy.group_desired(changed))
            result["diff"] = {"before": before, "after": after, "before_header": group.map_file, "after_header": group.map_file}
        if module.check_mode or not changed:
            return result
        try:
            result.update(_haproxy.apply_group(group.api, changed))
        except _haproxy.SwitchFailed as exc:
            if exc.cutover_attempted:
                result["history_entries"] = group.record(plans, result, "failed", error=str(exc))
            result["changed"] = not exc.restored
            raise BluegreenError(str(exc), fields=result) from None
        result["history_entries"] = group.record(plans, result, "ok")
        if group.limits is not None:
            group.watch(plans, result)
    if params["lock_release"] and params["lock_owner"] is not None and not module.check_mode:
        for entry in group.apps:
            _lock.release_lock(params["state_dir"], entry["app"], params["lock_owner"])
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        result = run(module)
    except BluegreenError as exc:
        module.fail_json(msg=str(exc), **dict(exc.fields, **({"param": exc.param} if exc.param else {})))
    except OSError as exc:
        module.fail_json(msg=f"reading or writing the apps' files on this host failed: {os_error_text(exc)}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: haproxy_traffic
short_description: Route an app's live traffic to its blue or green colour through HAProxy
version_added: 0.1.0
description:
  - Points the app's live map entry (C(<app>)) at the backend of O(colour), and its preview entry
    (C(<app>.preview)) at the other colour, with HAProxy's runtime API (no reload, no dropped request).
  - Writes the map file atomically B(before) changing HAProxy, so a later reload keeps the switch.
    Lines of the map file that belong to other apps are kept as they are.
  - Refuses to route live traffic to a colour none of whose servers is C(UP), unless O(force=true).
  - Verifies the result with C(show map) and C(get map). If anything fails after the map file was
    written, the previous map file and runtime entries are restored and the task fails.
  - Appends a record to the app's history (C(<state_dir>/<app>/history.jsonl)) for each change.
  - Running it again with the same colour changes nothing and reports RV(ignore:changed=false).
author:
  - bluegreen.core maintainers (@bluegreen)
extends_documentation_fragment:
  - bluegreen.core.haproxy
  - bluegreen.core.state
  - bluegreen.core.state.lock
options:
  app:
    description:
      - The app's name, the key of its live entry in the map file.
      - Letters, digits, C(_), C(-) and C(.), starting with a letter or digit.
    type: str
    required: true
  colour:
    description:
      - The colour that receives the app's live traffic.
      - C(previous) rolls back to the colour that was live before the newest switch, as the app's history
        (C(<state_dir>/<app>/history.jsonl)) records it. With O(versions), it refuses when that colour has no release now, or
        holds another release than the one it ran when it was live (the history's record), unless O(force=true).
        With O(lock_owner), the lock, the read, the switch and the history record are one call, so a whole
        rollback is one round trip to the router.
    type: str
    required: true
    choices: [blue, green, previous]
  preview:
    description:
      - Also point the preview entry C(<app>.preview) at the other colour, so the preview frontend
        serves the idle colour.
    type: bool
    default: true
  force:
    description:
      - Switch even when no server of the target backend is C(UP).
      - Without it the module fails before changing anything, naming each server's state.
    type: bool
    default: false
  drain:
    description:
      - After the switch, wait until the other colour's servers have no sessions left
        (current plus queued, polled with C(show stat)), for at most O(drain_timeout) seconds.
      - Waiting never kills a session. It also runs when the routing was already right, so a rerun
        can wait again; it is skipped in check mode.
    type: bool
    default: false
  drain_timeout:
    description:
      - Seconds to wait with O(drain=true). When they pass with sessions left, the module returns
        with a warning and RV(drain.completed=false); it does not fail.
    type: int
    default: 30
  history:
    description: Append a record of each change to the app's history.
    type: bool
    default: true
  versions:
    description:
      - The version each colour runs, recorded in the history. Not used for routing.
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
      - Who or what ran the switch, recorded in the history. One printable line, at most 200 characters.
      - Defaults to the module's environment on the router host, the first set of E(BLUEGREEN_ACTOR),
        E(AWX_JOB_ID), E(TOWER_JOB_ID), E(SUDO_USER), E(USER) and E(LOGNAME). From AWX, pass it
        explicitly, for example C(awx job {{ awx_job_id }} by {{ awx_user_name }}).
    type: str
  action:
    description: Why the colour changes, recorded in the history.
    type: str
    choices: [switch, rollback, auto-rollback]
    default: switch
  reason:
    description: A free-text reason recorded in the history. One printable line, at most 1000 characters.
    type: str
attributes:
  check_mode:
    description: Reads HAProxy and the map file, reports what would change; sends no C(set) command and writes nothing.
    support: full
  diff_mode:
    description: Shows the map file before and after.
    support: full
  idempotent:
    description: A second run with the same O(colour) reports no change; session counters never affect RV(ignore:changed).
    support: full
  platform:
    description: Runs on the HAProxy host (HAProxy 2.4 or later; tested with 2.6).
    support: full
    platforms: posix
  action_group:
    description: Use C(group/bluegreen.core.bluegreen) in C(module_defaults) to set common options.
    support: full
    membership:
      - bluegreen.core.bluegreen
seealso:
  - module: bluegreen.core.haproxy_info
"""

EXAMPLES = r"""
- name: Route all traffic of shop to green
  bluegreen.core.haproxy_traffic:
    app: shop
    colour: green
    versions:
      blue: 1.4.2
      green: 1.5.0
    reason: release 1.5.0
  become: true

- name: Roll shop back to blue and wait up to a minute for green's sessions to finish
  bluegreen.core.haproxy_traffic:
    app: shop
    colour: blue
    action: rollback
    drain: true
    drain_timeout: 60
  become: true

- name: Switch over a TCP stats socket, with custom backend names
  bluegreen.core.haproxy_traffic:
    app: api
    colour: blue
    socket: 127.0.0.1:9999
    map_file: /etc/haproxy/maps/api.map
    backends:
      blue: be_api_blue
      green: be_api_green
"""

RETURN = r"""
app:
  description: The app.
  returned: always
  type: str
  sample: shop
colour:
  description: The colour that now receives (or, in check mode, would receive) the live traffic.
  returned: always
  type: str
  sample: green
previous_colour:
  description: The colour HAProxy routed live traffic to before, or null when its entry was missing or unknown.
  returned: always
  type: str
  sample: blue
preview_colour:
  description: The colour the preview entry points at, or null with O(preview=false).
  returned: always
  type: str
  sample: blue
servers:
  description: The target backend's servers as C(show stat) reported them before the switch.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Server name.
      type: str
      sample: shop_green_1
    addr:
      description: Address and port.
      type: str
      sample: 10.0.0.5:8002
    status:
      description: HAProxy's status (C(UP), C(DOWN), C(MAINT), C(DRAIN), C(NOLB), C(UP 1/3)...).
      type: str
      sample: UP
    check_status:
      description: Last health check result (C(L7OK), C(L4CON), C(L7STS)...).
      type: str
      sample: L7OK
    check_desc:
      description: Health check result in words.
      type: str
      sample: Layer7 check passed
    weight:
      description: Effective weight.
      type: int
      sample: 1
    scur:
      description: Current sessions.
      type: int
      sample: 0
    qcur:
      description: Queued requests.
      type: int
      sample: 0
    stot:
      description: Sessions since HAProxy started.
      type: int
      sample: 120
    hrsp_2xx:
      description: 2xx responses.
      type: int
      sample: 118
    hrsp_5xx:
      description: 5xx responses.
      type: int
      sample: 0
cutover_ms:
  description:
    - Milliseconds taken by the C(set map) command that moved live traffic (the cutover itself).
    - Null when nothing changed, in check mode, or when only the preview entry or the file changed.
  returned: always
  type: float
  sample: 0.31
total_ms:
  description: Milliseconds from writing the map file to the verified switch; null when nothing was applied.
  returned: always
  type: float
  sample: 4.2
drain:
  description: The result of waiting for the other colour's sessions; null without O(drain=true) or in check mode.
  returned: always
  type: dict
  contains:
    backend:
      description: The backend that was drained.
      type: str
      sample: shop_blue
    completed:
      description: Whether its sessions reached 0 within O(drain_timeout).
      type: bool
      sample: true
    remaining_sessions:
      description: Current plus queued sessions left when the wait ended.
      type: int
      sample: 0
    waited_s:
      description: Seconds waited.
      type: float
      sample: 1.5
    error:
      description: Why the wait stopped early, when HAProxy could not be read.
      type: str
      returned: when reading HAProxy failed during the wait
history_entry:
  description: The record appended to the history; null when nothing changed, in check mode or with O(history=false).
  returned: always
  type: dict
  sample:
    time: "2025-01-01T12:00:00.000000Z"
    app: shop
    action: switch
    from: blue
    to: green
    versions: {blue: 1.4.2, green: 1.5.0}
    actor: deploy
    reason: release 1.5.0
    result: ok
    router: haproxy
    cutover_ms: 0.31
diff:
  description: The map file before and after, with its path as header.
  returned: in diff mode
  type: dict
  sample:
    before: "shop shop_blue\nshop.preview shop_green\n"
    after: "shop shop_green\nshop.preview shop_blue\n"
    before_header: /etc/haproxy/maps/shop.map
    after_header: /etc/haproxy/maps/shop.map
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bluegreen.core.plugins.module_utils import (
    _haproxy,
    _state,
    _validate,
)

_COLOUR_STRINGS = {"type": "dict", "options": {"blue": {"type": "str"}, "green": {"type": "str"}}}


def argument_spec() -> dict:
    return {
        "app": {"type": "str", "required": True},
        "colour": {"type": "str", "required": True, "choices": [*_validate.COLOURS, "previous"]},
        "socket": {"type": "str", "default": _haproxy.DEFAULT_SOCKET},
        "timeout": {"type": "float", "default": _haproxy.DEFAULT_TIMEOUT},
        "map_file": {"type": "path"},
        "backends": dict(_COLOUR_STRINGS),
        "preview": {"type": "bool", "default": True},
        "force": {"type": "bool", "default": False},
        "drain": {"type": "bool", "default": False},
        "drain_timeout": {"type": "int", "default": 30},
        "state_dir": {"type": "path", "default": _state.DEFAULT_STATE_DIR},
        "history": {"type": "bool", "default": True},
        "versions": dict(_COLOUR_STRINGS),
        "actor": {"type": "str"},
        "action": {"type": "str", "default": "switch", "choices": ["switch", "rollback", "auto-rollback"]},
        "reason": {"type": "str"},
        **_state.LOCK_OPTIONS,
    }


def validated(params: dict) -> dict:
    """Check every input before any I/O; each error names its parameter."""
    layout = _haproxy.Layout(params["app"], params["map_file"], params["backends"])
    if params["colour"] != "previous":
        _validate.colour(params["colour"])
    if params["lock_owner"] is not None:
        _state.validate_lock_inputs(params["lock_owner"], params["lock_wait"], params["lock_ttl"], prefix="lock_")
    _haproxy.validate_socket(params["socket"])
    if params["drain_timeout"] < 0:
        raise _validate.ValidationError(f"drain_timeout must be 0 or more seconds, got {params['drain_timeout']}")
    versions = {}
    for colour in _validate.COLOURS:
        value = (params["versions"] or {}).get(colour)
        versions[colour] = None if value is None else _validate.version(value, f"versions.{colour}")
    actor = params["actor"]
    actor = _state.default_actor() if actor is None else _validate.text(actor, "actor", 200)
    reason = params["reason"]
    if reason is not None:
        _validate.text(reason, "reason", 1000)
    return {"layout": layout, "versions": versions, "actor": actor, "reason": reason}


def check_target(module: AnsibleModule, api: _haproxy.RuntimeAPI, plan: _haproxy.SwitchPlan) -> dict:
    """Both backends must exist; live traffic only moves to a backend with an UP server, unless forced."""
    target = _haproxy.read_backend(api, plan.layout, plan.colour)
    _haproxy.read_backend(api, plan.layout, _validate.other_colour(plan.colour))
    if target["up"] > 0:
        return target
    refusal = _haproxy.refuse_unhealthy(plan.layout, plan.colour, target)
    if plan.moves_live_traffic and not module.params["force"]:
        module.fail_json(msg=refusal, servers=target["servers"])
    servers = _haproxy.describe_servers(target["servers"])
    if plan.moves_live_traffic:
        module.warn(f"routing {plan.layout.app} to {plan.colour} with force=true although none of its servers is UP ({servers})")
    else:
        module.warn(f"{plan.layout.app} is already routed to {plan.colour}, but none of its servers is UP ({servers})")
    return target


def record(module: AnsibleModule, inputs: dict, plan: _haproxy.SwitchPlan, *, result: str,
           cutover_ms: float | None, error: str | None = None) -> dict | None:
    params = module.params
    entry = _haproxy.history_record(plan, action=params["action"], versions=inputs["versions"], actor=inputs["actor"],
                                    reason=inputs["reason"], result=result, cutover_ms=cutover_ms, error=error)
    try:
        return _state.append_history(params["state_dir"], params["app"], entry)
    except OSError as exc:
        module.warn(f"the switch result ({result}) could not be added to the history in {params['state_dir']}: {exc}")
        return None


def drain(module: AnsibleModule, api: _haproxy.RuntimeAPI, plan: _haproxy.SwitchPlan) -> dict:
    backend = plan.layout.backends[_validate.other_colour(plan.colour)]
    try:
        outcome = _haproxy.wait_for_drain(api, backend, module.params["drain_timeout"])
    except _haproxy.HAProxyError as exc:
        module.warn(f"stopped waiting for {backend} to drain: {exc}")
        return {"backend": backend, "completed": False, "remaining_sessions": None, "waited_s": None, "error": str(exc)}
    if not outcome["completed"]:
        module.warn(
            f"{outcome['remaining_sessions']} sessions were still open on {backend} after {outcome['waited_s']}s; "
            "they were left running (new requests already go to the new colour)"
        )
    return outcome


def run(module: AnsibleModule) -> dict:
    params = module.params
    try:
        inputs = validated(params)
    except _validate.ValidationError as exc:
        module.fail_json(msg=str(exc))
    api = _haproxy.RuntimeAPI(params["socket"], params["timeout"])
    return _state.run_holding_lock(module, lambda: switch(module, inputs, api))


def switch(module: AnsibleModule, inputs: dict, api: _haproxy.RuntimeAPI) -> dict:
    params = module.params
    layout = inputs["layout"]
    colour = params["colour"]
    if colour == "previous":
        live = _haproxy.plan_switch(api, layout, "blue", params["preview"]).previous_colour
        records, _problems = _state.read_history(params["state_dir"], layout.app)
        colour = _state.rollback_target(records, live, inputs["versions"], params["force"])
    plan = _haproxy.plan_switch(api, layout, colour, params["preview"])
    target = check_target(module, api, plan)
    result = {
        "changed": plan.changed,
        "app": layout.app,
        "colour": plan.colour,
        "previous_colour": plan.previous_colour,
        "preview_colour": plan.preview_colour,
        "servers": target["servers"],
        "cutover_ms": None,
        "total_ms": None,
        "drain": None,
        "history_entry": None,
    }
    if module._diff:
        result["diff"] = plan.diff()
    if module.check_mode:
        return result
    if plan.changed:
        try:
            timing = _haproxy.apply_switch(api, plan)
        except _haproxy.SwitchFailed as exc:
            if exc.cutover_attempted and params["history"]:
                result["history_entry"] = record(module, inputs, plan, result="failed", cutover_ms=None, error=str(exc))
            result.update(changed=not exc.restored)
            module.fail_json(msg=str(exc), **result)
        result.update(timing)
        if params["history"]:
            result["history_entry"] = record(module, inputs, plan, result="ok", cutover_ms=timing["cutover_ms"])
    if params["drain"]:
        result["drain"] = drain(module, api, plan)
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        module.exit_json(**run(module))
    except _haproxy.HAProxyError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()

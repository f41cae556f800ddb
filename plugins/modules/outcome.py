# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: outcome
short_description: Record the outcome of a check of a colour's release in the app's history
version_added: 0.2.0
description:
  - Appends one record to the app's history, C(<state_dir>/<app>/history.jsonl) on the host the module runs on (a router
    host, or for an API router the host that calls the API). The record is the outcome of a check that did not move
    traffic, such as the smoke test of the idle colour.
  - The traffic modules read these records. A change that would give live traffic to a colour whose release last
    V(failed) a check is refused unless forced, and the info modules return each colour's last outcome in
    RV(bluegreen.core.haproxy_info#module:outcomes).
  - The release playbook records a failed smoke test with it, on every router, before it puts the idle colour back.
author:
  - bluegreen.core maintainers (@bluegreen)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - bluegreen.core.attributes
  - bluegreen.core.state
attributes:
  check_mode:
    support: full
    details: Writes nothing; reports the record it would append.
  diff_mode:
    support: none
  idempotent:
    description: Every call appends a record, as every check is a new outcome.
    support: none
  platform:
    platforms: posix
options:
  app:
    description:
      - The app whose history gets the record.
      - Letters, digits, C(_), C(-) and C(.), starting with a letter or digit.
    type: str
    required: true
  colour:
    description: The colour whose release was checked.
    type: str
    required: true
    choices: [blue, green]
  version:
    description: The release the colour held when it was checked, or null when unknown.
    type: str
  check:
    description: What was checked, the smoke test or the database migration (M(bluegreen.core.app_migrate)) of the release.
    type: str
    choices: [smoke-test, migrate]
    default: smoke-test
  details:
    description:
      - What the record keeps about the check beside its result, such as a migration's C(host), its exit status C(rc),
        its C(seconds) and the last lines of its C(output) (at most 8000 characters). Other keys are refused.
    type: dict
    default: {}
  result:
    description: V(failed) marks the release as failed; V(ok) as having passed the check.
    type: str
    choices: [ok, failed]
    required: true
  reason:
    description: Why the check failed (or what it found), in one printable line of at most 1000 characters.
    type: str
  actor:
    description: Who ran the check; defaults as in M(bluegreen.core.haproxy_traffic).
    type: str
  router:
    description: The router kind the history belongs to, recorded as the record's C(router).
    type: str
    choices: [haproxy, nginx, alb, route53]
seealso:
  - module: bluegreen.core.haproxy_info
  - module: bluegreen.core.haproxy_traffic
"""

EXAMPLES = r"""
- name: Record that green's release 2.0.0 failed its smoke test
  bluegreen.core.outcome:
    app: shop
    colour: green
    version: 2.0.0
    result: failed
    reason: "/health answered 500"
    router: haproxy
  delegate_to: "{{ groups['bluegreen_routers'][0] }}"
  run_once: true
"""

RETURN = r"""
record:
  description: The record appended (or, in check mode, that would be).
  returned: always
  type: dict
  sample: {time: "2026-01-31T10:00:00.000000Z", app: shop, action: smoke-test, colour: green, result: failed,
           versions: {blue: null, green: 2.0.0}, error: "/health answered 500", actor: alice, router: haproxy}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bluegreen.core.plugins.module_utils import _history, _validate
from ansible_collections.bluegreen.core.plugins.module_utils._errors import BluegreenError, os_error_text
from ansible_collections.bluegreen.core.plugins.module_utils._routers import kinds


def argument_spec() -> dict:
    return {
        "app": {"type": "str", "required": True},
        "colour": {"type": "str", "required": True, "choices": list(_validate.COLOURS)},
        "version": {"type": "str"},
        "check": {"type": "str", "default": "smoke-test", "choices": list(_history.VERDICTS)},
        "details": {"type": "dict", "default": {}},
        "result": {"type": "str", "required": True, "choices": ["ok", "failed"]},
        "reason": {"type": "str"},
        "actor": {"type": "str"},
        "router": {"type": "str", "choices": list(kinds.KINDS)},
        "state_dir": {"type": "path", "default": _history.DEFAULT_STATE_DIR},
    }


def details(value: dict) -> dict:
    """The record's details, checked: known keys, a printable host name, a whole rc, a number of seconds, some output."""
    unknown = sorted(set(value) - set(_history.VERDICT_DETAILS))
    if unknown:
        raise BluegreenError(f"details has {', '.join(map(str, unknown))}: it takes {', '.join(_history.VERDICT_DETAILS)}", "details")
    checked = {}
    value = dict(value)
    for key, kind in (("rc", int), ("seconds", float)):
        # As a template may give them: "1", "0.4".
        if isinstance(value.get(key), str):
            try:
                value[key] = kind(value[key])
            except ValueError:
                pass
    if value.get("host") is not None:
        checked["host"] = _validate.text(value["host"], "details.host", 255)
    if value.get("rc") is not None:
        if isinstance(value["rc"], bool) or not isinstance(value["rc"], int):
            raise BluegreenError(f"details.rc must be a whole number, got {value['rc']!r}", "details")
        checked["rc"] = value["rc"]
    if value.get("seconds") is not None:
        if isinstance(value["seconds"], bool) or not isinstance(value["seconds"], (int, float)) or value["seconds"] < 0:
            raise BluegreenError(f"details.seconds must be a number of seconds, got {value['seconds']!r}", "details")
        checked["seconds"] = value["seconds"]
    if value.get("output") is not None:
        checked["output"] = str(value["output"])[-_history.OUTPUT_MAX:]
    return checked


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    try:
        _validate.name(params["app"], "app")
        colour = params["colour"]
        version = None if params["version"] is None else _validate.version(params["version"], "version")
        who = _history.validated({"actor": params["actor"], "reason": params["reason"]})
        record = _history.verdict(check=params["check"], colour=colour, version=version, result=params["result"],
                                  reason=who["reason"], actor=who["actor"], router=params["router"],
                                  details=details(params["details"]))
        if module.check_mode:
            record = dict({"time": _history.utc_now(), "app": params["app"]}, **record)
        else:
            record = _history.append(params["state_dir"], params["app"], record)
    except BluegreenError as exc:
        module.fail_json(msg=str(exc), **({"param": exc.param} if exc.param else {}))
    except OSError as exc:
        module.fail_json(msg=f"writing the history of {params['app']} in {params['state_dir']} failed: {os_error_text(exc)}")
    module.exit_json(changed=True, record=record)


if __name__ == "__main__":
    main()

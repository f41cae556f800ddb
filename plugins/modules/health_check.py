# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: health_check
short_description: Probe many HTTP(S) endpoints at once, until healthy or while watching
version_added: 0.1.0
description:
  - Sends HTTP or HTTPS requests from the target host (an app host or a router) to a list of URLs, all
    checks concurrently, and judges each response by status, body, JSON field, response headers and latency.
  - In O(mode=until_healthy) each check is retried until it succeeds O(consecutive_successes) times in a row,
    runs out of attempts (1 + O(retries)) or the O(deadline) passes. The smoke_test role uses this mode.
  - In O(mode=watch) every check is probed every O(interval) seconds for O(duration) seconds, and the call stops
    and fails as soon as one check fails O(failure_threshold) times in a row. The switch role uses this mode to
    monitor the new colour after a switch.
  - The call is bounded in time. No request starts after the deadline, each request (connect, TLS, headers and
    body) is bounded by its timeout, and the module returns at the latest one request timeout after the deadline.
  - Redirects are never followed. A 3xx response is judged as it is; it fails unless its code is in O(checks[].status).
  - Only the Python standard library is used on the target host.
author:
  - bluegreen.core maintainers (@bluegreen)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - The module only sends requests and changes nothing, so it probes in check mode exactly as in a normal run.
        A dry run of a release therefore reports the real health of the idle colour.
  diff_mode:
    support: none
  idempotent:
    description: Running the module twice with the same options has the same effect; it never reports a change.
    support: full
  platform:
    platforms: posix
  action_group:
    description: Part of the C(bluegreen.core.bluegreen) action group, for C(module_defaults).
    support: full
    membership:
      - bluegreen.core.bluegreen
options:
  checks:
    description:
      - The HTTP checks to run, all at once.
      - A check passes when every condition given for it holds. They are judged in this order, and the first one
        that fails is the check's RV(results[].error) - O(checks[].status), O(checks[].header),
        O(checks[].body_regex), O(checks[].json_path) with O(checks[].json_value), O(checks[].max_latency_ms).
    type: list
    elements: dict
    required: true
    suboptions:
      url:
        description:
          - The URL to request, C(http://) or C(https://), with a host and optionally a port, path and query.
          - Credentials in the URL are refused; send an C(Authorization) header in O(checks[].headers) instead.
        type: str
        required: true
      name:
        description:
          - A label for the check in results and messages.
          - Defaults to the URL.
        type: str
      method:
        description:
          - The HTTP method. C(HEAD) has no body, so it cannot be combined with O(checks[].body_regex)
            or O(checks[].json_path).
        type: str
        choices: [GET, HEAD]
        default: GET
      headers:
        description:
          - Request headers to send, for example C(Host) to reach a virtual host through a router by address.
          - The values appear in the task's invocation; use C(no_log) on the task for a secret such as a token.
        type: dict
      status:
        description:
          - The response status codes that count as healthy.
        type: list
        elements: int
        default: [200]
      body_regex:
        description:
          - A Python regular expression that must be found somewhere in the body (C(re.search)).
          - Only the first MiB of the body is read.
        type: str
      json_path:
        description:
          - A dot path into the JSON body, for example C(status) or C(data.version); a numeric part indexes a list.
          - Without O(checks[].json_value) the check only requires that the path exists.
        type: str
      json_value:
        description:
          - The value expected at O(checks[].json_path), compared as a string.
          - Non-string JSON values are compared in their JSON form (C(true), C(3), C(null)); a boolean is compared
            without regard to case, so C(True) matches C(true).
        type: str
      header:
        description:
          - Response headers that must be present, each mapped to a Python regular expression that must be found
            in its value (C(re.search)); anchor it, as in C(^green$), to require the exact value.
          - "For example C({X-Bluegreen-Colour: ^green$}) proves that the green colour answered."
        type: dict
      max_latency_ms:
        description:
          - The slowest acceptable response, in milliseconds, from the start of the connection to the end of the body.
        type: int
      timeout:
        description:
          - Overrides the top-level O(timeout) for this check.
        type: float
  timeout:
    description:
      - Seconds allowed for one request, from the start of the connection to the end of the body.
    type: float
    default: 5
  retries:
    description:
      - In O(mode=until_healthy), how many extra attempts a check gets after the first one.
      - Must allow at least O(consecutive_successes) attempts in all.
    type: int
    default: 0
  interval:
    description:
      - Seconds between two attempts of one check (until_healthy), or between two probes of one check (watch).
      - Must be greater than 0 in O(mode=watch).
    type: float
    default: 1
  consecutive_successes:
    description:
      - In O(mode=until_healthy), how many successes in a row make a check pass.
    type: int
    default: 1
  deadline:
    description:
      - Seconds after which no new request starts; the whole call is bounded by it plus one request timeout.
      - When unset, it is derived from the other options. For until_healthy it is
        (1 + O(retries)) * O(timeout) + O(retries) * O(interval), multiplied by the number of rounds needed when there
        are more checks than O(concurrency). For watch it is O(duration) + O(timeout).
    type: float
  validate_certs:
    description:
      - Whether to verify the TLS certificate and host name of C(https://) URLs.
      - Turn it off only for a lab with self-signed certificates; prefer O(ca_path).
    type: bool
    default: true
  ca_path:
    description:
      - A PEM file or a hashed certificate directory on the target host used to verify TLS certificates,
        instead of the system store.
    type: path
  concurrency:
    description:
      - The most requests in flight at once (1 to 256).
    type: int
    default: 16
  mode:
    description:
      - V(until_healthy) waits for each check to become healthy, retrying as allowed.
      - V(watch) keeps probing every check for O(duration) seconds and fails fast when one breaks.
    type: str
    choices: [until_healthy, watch]
    default: until_healthy
  duration:
    description:
      - In O(mode=watch), how many seconds to keep probing. Required in that mode.
    type: float
  failure_threshold:
    description:
      - In O(mode=watch), how many failures in a row of one check stop the watch and fail it.
      - Failures fewer than this are reported in the results but do not fail the call.
    type: int
    default: 1
  fail_on_error:
    description:
      - When V(true), the task fails when a check fails.
      - When V(false), the task returns the same results without failing, so that later tasks can decide
        (for example to roll back). Invalid options always fail.
    type: bool
    default: true
notes:
  - "Requests carry C(User-Agent: bluegreen.core-health_check) and C(Connection: close) unless O(checks[].headers)
    sets them."
  - Every request opens a new connection, directly to the URL's host; proxy settings in the environment are ignored.
seealso:
  - module: ansible.builtin.uri
    description: One request at a time, with redirects, authentication and file uploads.
"""

EXAMPLES = r"""
- name: Wait until the idle colour answers on both app servers
  bluegreen.core.health_check:
    checks:
      - name: app1 green
        url: http://10.0.0.11:8002/health
        json_path: status
        json_value: ok
      - name: app2 green
        url: http://10.0.0.12:8002/health
        json_path: status
        json_value: ok
    retries: 30
    interval: 2
    consecutive_successes: 3

- name: Prove the preview listener serves green with the new version
  bluegreen.core.health_check:
    checks:
      - name: preview
        url: http://127.0.0.1:8080/version
        headers:
          Host: shop.example.com
        header:
          X-Bluegreen-Colour: ^green$
        body_regex: '"version": ?"2\.4\.1"'
        max_latency_ms: 500

- name: Watch the live listener for five minutes after the switch
  bluegreen.core.health_check:
    mode: watch
    duration: 300
    interval: 2
    failure_threshold: 3
    ca_path: /etc/ssl/certs/internal-ca.pem
    checks:
      - url: https://shop.example.com/health
    fail_on_error: false
  register: watch

- name: Show why the new colour failed the watch
  ansible.builtin.debug:
    msg: "{{ watch.msg }}"
  when: watch.failed_checks | length > 0
"""

RETURN = r"""
results:
  description: One entry per check, in the order of O(checks).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The check's name (its URL unless named).
      type: str
      sample: app1 green
    url:
      description: The URL probed.
      type: str
      sample: http://10.0.0.11:8002/health
    ok:
      description: Whether the check passed.
      type: bool
      sample: true
    attempts:
      description: How many requests were sent.
      type: int
      sample: 3
    successes:
      description: How many of them passed.
      type: int
      sample: 3
    failures:
      description: How many of them failed.
      type: int
      sample: 0
    status:
      description: The HTTP status of the last response, or null when no response came.
      type: int
      sample: 200
    latency_ms:
      description: The time the last request took, in milliseconds.
      type: int
      sample: 12
    latency_ms_max:
      description: The slowest request of this check, in milliseconds.
      type: int
      sample: 31
    error:
      description:
        - Why the check failed, in plain words, for example C(connection refused), C(timed out after 5s),
          C(status 500 not in [200]), C(body does not match 'v2'),
          C(header X-Bluegreen-Colour is 'blue', expected 'green') or C(latency 812ms over 500ms).
        - Null when the last attempt passed.
      type: str
      sample: status 500 not in [200]
    headers:
      description:
        - Selected headers of the last response, C(Content-Type), C(Content-Length), C(Location),
          C(X-Bluegreen-Colour) and those named in O(checks[].header), when present.
      type: dict
      sample: {"Content-Type": "application/json", "X-Bluegreen-Colour": "green"}
    body_excerpt:
      description: The first 200 characters of the last response body.
      type: str
      sample: '{"status": "ok", "version": "2.4.1"}'
failed_checks:
  description: The names of the checks that failed.
  returned: always
  type: list
  elements: str
  sample: ["app2 green"]
passed:
  description: How many checks passed.
  returned: always
  type: int
  sample: 1
elapsed_s:
  description: Seconds the whole call took.
  returned: always
  type: float
  sample: 4.021
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bluegreen.core.plugins.module_utils._http import (
    CheckError,
    parse_checks,
    parse_settings,
    run_checks,
    ssl_context,
)

CHECK_SPEC = {
    "url": {"type": "str", "required": True},
    "name": {"type": "str"},
    "method": {"type": "str", "choices": ["GET", "HEAD"], "default": "GET"},
    "headers": {"type": "dict"},
    "status": {"type": "list", "elements": "int", "default": [200]},
    "body_regex": {"type": "str"},
    "json_path": {"type": "str"},
    "json_value": {"type": "str"},
    "header": {"type": "dict"},
    "max_latency_ms": {"type": "int"},
    "timeout": {"type": "float"},
}

ARGUMENT_SPEC = {
    "checks": {"type": "list", "elements": "dict", "required": True, "options": CHECK_SPEC},
    "timeout": {"type": "float", "default": 5},
    "retries": {"type": "int", "default": 0},
    "interval": {"type": "float", "default": 1},
    "consecutive_successes": {"type": "int", "default": 1},
    "deadline": {"type": "float"},
    "validate_certs": {"type": "bool", "default": True},
    "ca_path": {"type": "path"},
    "concurrency": {"type": "int", "default": 16},
    "mode": {"type": "str", "choices": ["until_healthy", "watch"], "default": "until_healthy"},
    "duration": {"type": "float"},
    "failure_threshold": {"type": "int", "default": 1},
    "fail_on_error": {"type": "bool", "default": True},
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    try:
        settings = parse_settings(params)
        checks = parse_checks(params["checks"], settings.timeout)
        context = ssl_context(params["validate_certs"], params["ca_path"])
    except CheckError as exc:
        module.fail_json(msg=str(exc))
    report = run_checks(checks, settings, context)
    result = dict(changed=False, msg=report.message(), **report.as_dict())
    if report.ok or not params["fail_on_error"]:
        module.exit_json(**result)
    module.fail_json(**result)


if __name__ == "__main__":
    main()

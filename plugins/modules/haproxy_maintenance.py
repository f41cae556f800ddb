#!/usr/bin/python
# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: haproxy_maintenance
short_description: Send one app's live traffic to its maintenance page on an HAProxy router, or back, without a reload
version_added: 0.4.0
description:
  - Adds (O(state=on)) or removes (O(state=off)) the key C(<app>:maintenance) of the router's shared map, at runtime
    through HAProxy's admin socket and in the map file, under the map file's lock. While the key is there, the app's
    live listener (its own, or the shared listener of the apps chosen by host name) sends every request to the backend
    C(<app>_maintenance), which answers with the app's maintenance page, status 503 and C(Retry-After).
  - Nothing else changes. Both colours keep their servers and the app's live and preview entries stay as they are,
    so O(state=off) serves the live colour again at once; the preview listener keeps serving the idle colour.
  - Refuses, changing nothing, when the running HAProxy has no C(<app>_maintenance) backend (an app provisioned
    before this module existed; provision it again, which reloads HAProxy once).
  - The page and its C(Retry-After) are set by M(bluegreen.core.haproxy_app) (provision); this module only turns it
    on and off.
author:
  - bluegreen.core maintainers (@bluegreen)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - bluegreen.core.attributes
attributes:
  check_mode:
    support: full
    details: Reads HAProxy and the map file and reports the change it would make.
  diff_mode:
    support: full
    details: The map file before and after.
  idempotent:
    description: Turning the page on when it is on, or off when it is off, changes nothing.
    support: full
  platform:
    description: Runs on the HAProxy host (HAProxy 2.4 or later; tested with 2.6).
    platforms: posix
options:
  app:
    description:
      - The app. Letters, digits, C(_), C(-) and C(.), starting with a letter or digit.
    type: str
    required: true
  state:
    description: V(on) sends the app's live traffic to its maintenance page; V(off) sends it to the live colour again.
    type: str
    choices: ["on", "off"]
    default: "on"
  socket:
    description: HAProxy's admin socket, a unix socket path or C(host:port), with C(level admin).
    type: str
    default: /run/haproxy/admin.sock
  timeout:
    description: Seconds allowed for each runtime API command.
    type: float
    default: 5.0
  map_dir:
    description: The folder of the shared map C(bluegreen.map), as the router's configuration names it.
    type: path
    default: /etc/haproxy/maps
seealso:
  - module: bluegreen.core.haproxy_app
  - module: bluegreen.core.haproxy_traffic
  - name: HAProxy 2.6 configuration manual, http-request return
    description: How the maintenance backend answers.
    link: https://docs.haproxy.org/2.6/configuration.html#4.2-http-request%20return
"""

EXAMPLES = r"""
- name: Show the maintenance page instead of shop
  bluegreen.core.haproxy_maintenance:
    app: shop
    state: "on"
  become: true

- name: Serve shop again
  bluegreen.core.haproxy_maintenance:
    app: shop
    state: "off"
  become: true
"""

RETURN = r"""
app:
  description: The app.
  returned: always
  type: str
  sample: shop
maintenance:
  description: Whether the app's live traffic goes to its maintenance page now (in check mode, would).
  returned: always
  type: bool
  sample: true
was:
  description: Whether it went there before the module ran, as HAProxy's runtime map said.
  returned: always
  type: bool
  sample: false
backend:
  description: The app's maintenance backend.
  returned: always
  type: str
  sample: shop_maintenance
diff:
  description: The map file before and after, with its path as header.
  returned: in diff mode
  type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bluegreen.core.plugins.module_utils import _fs, _haproxy, _haproxy_apps, _validate
from ansible_collections.bluegreen.core.plugins.module_utils._errors import BluegreenError, os_error_text


def argument_spec() -> dict:
    return {
        "app": {"type": "str", "required": True},
        "state": {"type": "str", "default": "on", "choices": ["on", "off"]},
        "socket": {"type": "str", "default": _haproxy.DEFAULT_SOCKET},
        "timeout": {"type": "float", "default": _haproxy.DEFAULT_TIMEOUT},
        "map_dir": {"type": "path", "default": _haproxy.MAP_DIR},
    }


def apply(api: _haproxy.RuntimeAPI, map_file: str, app: str, on: bool, check_mode: bool, write=None) -> dict:
    """Add or remove the app's maintenance key in HAProxy and in the map file, under the map's lock; verify it; put
    both back when a step fails."""
    write = write or _fs.atomic_write
    key, backend = _haproxy_apps.maintenance_key(app), _haproxy_apps.maintenance_backend(app)
    with _fs.locked(_haproxy.map_lock_path(map_file)):
        was = key in _haproxy.runtime_values(api.map_entries(map_file))
        # The backend must be in the running configuration: a key pointing nowhere would send the app's traffic nowhere.
        try:
            api.stat_rows(backend)
        except _haproxy.HAProxyError as exc:
            raise BluegreenError(f"HAProxy on this router has no backend {backend} ({exc}), so {app}'s maintenance page "
                                 "cannot be turned on or off: run bluegreen.core.provision for the app (it adds the "
                                 "backend and reloads HAProxy once). Nothing was changed", "app") from None
        before = _haproxy.read_map_file(map_file)
        after = _haproxy.render_map_file(before, {key: backend if on else None})
        result = {"changed": was != on or after != (before or ""), "was": was, "before": before or "", "after": after}
        if check_mode or not result["changed"]:
            return result
        written = switched = False
        try:
            if after != (before or ""):
                write(map_file, after)
                written = True
            if was != on:
                (api.add_map if on else api.del_map)(*((map_file, key, backend) if on else (map_file, key)))
                switched = True
            now = _haproxy.runtime_values(api.map_entries(map_file)).get(key)
            if (now == [backend]) != on:
                raise _haproxy.HAProxyError(f"HAProxy's map {map_file} holds {key} -> {now} after the change")
        except (_haproxy.HAProxyError, OSError) as exc:
            problems = []
            if switched:
                try:
                    (api.del_map if on else api.add_map)(*((map_file, key) if on else (map_file, key, backend)))
                except _haproxy.HAProxyError as undo:
                    problems.append(f"could not put HAProxy's map entry back: {undo}")
            if written:
                problem = _haproxy.restore_lines(map_file, before, (key,), write)
                problems += [problem] if problem else []
            text = f"turning {app}'s maintenance page {'on' if on else 'off'} failed: {getattr(exc, 'strerror', None) or exc}"
            text += (". Putting the previous state back ALSO failed, check HAProxy by hand: " + "; ".join(problems)) if problems \
                else ". HAProxy and the map file are as they were"
            raise BluegreenError(text) from None
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    try:
        app = _validate.name(params["app"], "app")
        map_file = _haproxy.validate_map_file(os.path.join(params["map_dir"], _haproxy_apps.MAP_FILE), "map_dir")
        api = _haproxy.RuntimeAPI(_haproxy.validate_socket(params["socket"]), params["timeout"])
        done = apply(api, map_file, app, params["state"] == "on", module.check_mode)
    except BluegreenError as exc:
        module.fail_json(msg=str(exc), app=params["app"], **({"param": exc.param} if exc.param else {}))
    except OSError as exc:
        module.fail_json(msg=f"reading or writing {params['map_dir']} failed: {os_error_text(exc)}", app=params["app"])
    result = {"changed": done["changed"], "app": app, "maintenance": params["state"] == "on", "was": done["was"],
              "backend": _haproxy_apps.maintenance_backend(app)}
    if module._diff:
        result["diff"] = {"before": done["before"], "after": done["after"], "before_header": map_file, "after_header": map_file}
    module.exit_json(**result)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: haproxy_app
short_description: Put one app's blue-green routing on an HAProxy router beside other apps, or take it off
version_added: 0.3.0
description:
  - Writes the app's own part of an HAProxy router's configuration and leaves every other app's part byte-identical.
    The app's part is its file C(<conf_dir>/<app>.cfg) (its two backends, its own listeners, and its claim of host
    names, path, ports, TLS), its two lines of the shared map C(<map_dir>/bluegreen.map) (added only when missing, so
    a provision never undoes a switch), its lines of C(<map_dir>/routes.map), its certificate
    C(<cert_dir>/<app>.pem) (mode 0600) and its maintenance page C(<conf_dir>/<app>.maintenance.html).
  - The app's file has a third backend, C(<app>_maintenance), which answers every request with O(maintenance_page),
    status 503 and C(Retry-After); the app's live traffic goes there while the map holds the key
    C(<app>:maintenance) (M(bluegreen.core.haproxy_maintenance) adds and removes it without a reload). Changing the
    page needs a reload, as HAProxy reads it when it loads its configuration.
  - Apps with O(hostnames) share one listener on O(listen_port) (and O(tls_port) with TLS), which picks the app by
    the C(Host) header and the longest matching O(path_prefix). With O(manage=full) that listener is the file
    C(<conf_dir>/00-bluegreen.cfg), made from every app's claim. An app without host names has its own live listener
    on O(listen_port).
  - Before writing anything it refuses an app that claims a host name and path, or a port, that another app of the
    router already has, and a certificate that is not a PEM certificate with its key; then it checks the whole
    candidate configuration with C(haproxy -c) in a scratch directory. A refused change writes no file.
  - Every write holds the map file's lock, which the switch (M(bluegreen.core.haproxy_traffic)) holds too, so a
    provision and another app's switch never lose each other's map lines.
  - It does not reload HAProxy; C(changed) says a reload is needed (the C(bluegreen.core.haproxy) role does it).
    HAProxy must load the directory, as in C(haproxy -f <config> -f <conf_dir>) (the role sets it in C(/etc/default/haproxy)).
author:
  - bluegreen.core maintainers (@bluegreen)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - bluegreen.core.attributes
  - bluegreen.core.app_claim
attributes:
  check_mode:
    support: full
    details: Checks everything, C(haproxy -c) included, and reports the diff; writes nothing.
  diff_mode:
    support: full
    details: One diff per file; a certificate shows as its SHA-256, never its content.
  idempotent:
    description: Run again with the same options, it changes nothing; it never undoes a switch.
    support: full
  platform:
    description: Runs on the HAProxy host, as root (C(become=true)); needs C(haproxy) and C(openssl) there.
    platforms: posix
options:
  state:
    description:
      - V(present) writes the app's part; V(absent) removes it (its file, map lines, routes and certificate) and leaves
        every other app serving.
    type: str
    choices: [present, absent]
    default: present
  manage:
    description:
      - V(full), the router is the collection's. O(main_config) replaces O(config), and the shared listener of the
        apps chosen by host name is written too.
      - V(app), the operator keeps O(config) (global settings, defaults, frontends), and only the app's own part is
        written, and the operator's frontend routes to it with the lines in the C(bluegreen.core.haproxy) role's
        documentation (C(docs/haproxy.md)).
    type: str
    choices: [full, app]
    default: full
  config:
    description: HAProxy's main configuration file.
    type: path
    default: /etc/haproxy/haproxy.cfg
  main_config:
    description: With O(manage=full), the content of O(config) (global settings and defaults, no app).
    type: str
  conf_dir:
    description: The directory HAProxy loads after O(config), with one file per app.
    type: path
    default: /etc/haproxy/bluegreen.d
  map_dir:
    description: The directory of C(bluegreen.map) (every app's live and preview entries) and C(routes.map).
    type: path
    default: /etc/haproxy/maps
  cert_dir:
    description: The directory of the apps' certificates, which the shared TLS listener loads (one PEM per app).
    type: path
    default: /etc/haproxy/bluegreen/certs
  servers:
    description: Each colour's servers.
    type: dict
    suboptions:
      blue:
        description: Blue's servers.
        type: list
        elements: dict
        default: []
      green:
        description: Green's servers.
        type: list
        elements: dict
        default: []
  health_path:
    description: The path of the servers' health check.
    type: str
    default: /health
  health_host:
    description:
      - The C(Host) header of the servers' health check (a host name, or C(host:port)), for an app that answers only
        the names it knows. Empty, the check is an HTTP/1.0 request without one.
    type: str
    default: ""
  health_status:
    description: The HTTP status codes that pass the servers' health check.
    type: list
    elements: int
    default: [200]
  check_inter:
    description: Interval of the health checks.
    type: str
    default: 1s
  check_fall:
    description: Failed checks that mark a server DOWN.
    type: int
    default: 2
  check_rise:
    description: Passed checks that mark a server UP.
    type: int
    default: 2
  hostnames:
    description: The host names that choose the app on the shared listener. Empty, the app has a listener of its own.
    type: list
    elements: str
    default: []
  preview_hostnames:
    description: Host names on the shared listener that reach the idle colour.
    type: list
    elements: str
    default: []
  tls_port:
    description: The shared TLS listener's port, with HTTP/2 by ALPN.
    type: int
    default: 443
  stats_port:
    description: The port of the router's stats page (O(manage=full)), which no app may take; 0 for none.
    type: int
    default: 0
  maintenance_page:
    description:
      - The text (HTML) of the app's maintenance page, at most 12288 bytes (HAProxy serves it from one buffer).
      - Omitted, a short page that says the service is down for maintenance.
    type: str
  maintenance_retry_after:
    description: The C(Retry-After) header of the maintenance page, in seconds.
    type: int
    default: 120
  sticky_by:
    description:
      - How a client keeps its colour during a weighted step (bluegreen.core.haproxy_traffic with a O(bluegreen.core.haproxy_traffic#module:weight)
        below 100). The listener puts each client in one of 100 buckets by the xxh32 hash of a key, and the step's share
        of the buckets goes to the new colour, so a client does not flip between colours from one request to the next.
      - V(cookie), the key is a cookie the router sets (O(sticky_name), a random UUID) on a client's first response
        during a step, for a day.
      - V(request_cookie), the key is a cookie of the client's own (a session cookie of the app, say); V(header), a
        request header (a user id set by a gateway in front, say). A client without it stays on the colour that had all the traffic.
      - Steps need O(manage=full), which writes the listener's rules and the map entry C(<app>.share) that tells the switch the listener can split.
    type: str
    choices: [cookie, request_cookie, header]
    default: cookie
  sticky_name:
    description:
      - The cookie or header of O(sticky_by), 1 to 64 letters, digits, C(-), C(_) and C(.), starting with a letter or digit.
      - Omitted with O(sticky_by=cookie), C(bluegreen_<app>). Required with the others.
    type: str
  preview_value:
    description:
      - A request to the app's live address (its listener and host names) whose header O(preview_header), or cookie
        O(preview_cookie), has this value reaches the idle colour (the preview entry C(<app>.preview)), whoever else
        gets the live traffic. Testers reach the new release on the real host name before anyone else does.
      - A secret, never logged. The configuration holds its SHA-256 only, which HAProxy compares with that of the
        header or cookie (C(sha2(256))). Use a long random value.
      - Omitted or empty, there is no such preview (the default). Needs O(manage=full).
      - Text of at most 256 characters, with no newline or other control character.
    type: str
  preview_header:
    description: The request header that carries O(preview_value). Empty for none (then O(preview_cookie)).
    type: str
    default: X-Bluegreen-Preview
  preview_cookie:
    description: A cookie that carries O(preview_value), beside or instead of O(preview_header).
    type: str
seealso:
  - module: bluegreen.core.haproxy_traffic
  - name: HAProxy 2.6 configuration manual, the map_dir converter
    description: How C(routes.map) is matched.
    link: https://docs.haproxy.org/2.6/configuration.html#7.3.1-map
"""

EXAMPLES = r"""
- name: Route shop.example.com to shop over TLS, beside the router's other apps
  bluegreen.core.haproxy_app:
    app: shop
    main_config: "{{ lookup('ansible.builtin.template', 'haproxy.cfg.j2') }}"
    servers:
      blue: [{name: web1, address: 10.0.0.11, port: 8001}]
      green: [{name: web1, address: 10.0.0.11, port: 8002}]
    hostnames: [shop.example.com]
    tls_certificate_content: "{{ vault_shop_pem }}"
    tls_redirect: true
  become: true
  notify: Reload HAProxy

- name: Take cart off the router
  bluegreen.core.haproxy_app:
    app: cart
    state: absent
  become: true
  notify: Reload HAProxy
"""

RETURN = r"""
app:
  description: The app.
  returned: always
  type: str
files:
  description: The files written or removed (none in check mode, where they are the ones that would be).
  returned: always
  type: list
  elements: str
apps:
  description: Every app the router's directory holds after the change, with its claim.
  returned: success
  type: dict
routes:
  description: The router's routes after the change, C(host[/path]) to map key, first match first.
  returned: success
  type: list
  elements: str
param:
  description: The option at fault.
  returned: failure
  type: str
"""

import contextlib
import grp
import os
import re
import shutil
import socket
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bluegreen.core.plugins.module_utils import _apps, _fs, _haproxy, _haproxy_apps, _validate
from ansible_collections.bluegreen.core.plugins.module_utils._apps import Change, read
from ansible_collections.bluegreen.core.plugins.module_utils._errors import BluegreenError

_SERVER_ADDRESS = r"^(?:[A-Za-z0-9][A-Za-z0-9.-]*|[0-9A-Fa-f:.]+|\[[0-9A-Fa-f:.]+\])$"

ARGUMENT_SPEC = {
    **_apps.CLAIM_ARGUMENTS,
    "config": {"type": "path", "default": "/etc/haproxy/haproxy.cfg"},
    "main_config": {"type": "str"},
    "conf_dir": {"type": "path", "default": "/etc/haproxy/bluegreen.d"},
    "map_dir": {"type": "path", "default": _haproxy.MAP_DIR},
    "cert_dir": {"type": "path", "default": "/etc/haproxy/bluegreen/certs"},
    "servers": {"type": "dict", "options": {"blue": {"type": "list", "elements": "dict", "default": []},
                                            "green": {"type": "list", "elements": "dict", "default": []}}},
    "health_path": {"type": "str", "default": "/health"},
    "health_host": {"type": "str", "default": ""},
    "health_status": {"type": "list", "elements": "int", "default": [200]},
    "check_inter": {"type": "str", "default": "1s"},
    "check_fall": {"type": "int", "default": 2},
    "check_rise": {"type": "int", "default": 2},
    "stats_port": {"type": "int", "default": 0},
    "maintenance_page": {"type": "str"},
    "maintenance_retry_after": {"type": "int", "default": 120},
    "sticky_by": {"type": "str", "choices": list(_haproxy_apps.STICKY_BY), "default": "cookie"},
    "sticky_name": {"type": "str"},
    "preview_header": {"type": "str", "default": "X-Bluegreen-Preview"},
    "preview_cookie": {"type": "str"},
    "preview_value": {"type": "str", "no_log": True},
}


def servers(value: dict | None) -> dict:
    result = {}
    for colour in _validate.COLOURS:
        result[colour] = []
        for index, server in enumerate((value or {}).get(colour) or []):
            where = f"servers.{colour}[{index}]"
            if not isinstance(server, dict) or set(server) - {"name", "address", "port"}:
                raise _validate.ValidationError(f"{where} must be a dict of name, address and port", "servers")
            address = server.get("address")
            if not isinstance(address, str) or not re.fullmatch(_SERVER_ADDRESS, address):
                raise _validate.ValidationError(f"{where}.address {address!r} is not a host name or IP address", "servers")
            result[colour].append({"name": _validate.name(server.get("name"), f"{where}.name"), "address": address,
                                   "port": _validate.port(server.get("port"), f"{where}.port")})
    return result


def haproxy_check(module: AnsibleModule, params: dict, changes: list, paths: dict) -> None:
    """The whole candidate configuration through ``haproxy -c``: every file as it would be, in a scratch directory,
    with the map and certificate paths pointing into it."""
    haproxy = module.get_bin_path("haproxy", required=not module.check_mode)
    if haproxy is None:
        module.warn("haproxy is not installed yet, so the candidate configuration was not checked with haproxy -c")
        return
    conf_dir, cert_dir = params["conf_dir"], params["cert_dir"]
    candidate = {change.path: change.after for change in changes}
    for directory in (conf_dir, cert_dir):
        for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
            path = os.path.join(directory, name)
            if os.path.isfile(path) and path not in candidate:
                candidate[path] = read(path)
    if params["config"] not in candidate:
        candidate[params["config"]] = read(params["config"])
        if candidate[params["config"]] is None:
            raise BluegreenError(f"config {params['config']} does not exist: with manage=app it is the operator's HAProxy configuration", "config")
    for path in (paths["map_file"], paths["routes_file"]):
        if candidate.get(path) is None:
            candidate[path] = read(path) or ""
    scratch = tempfile.mkdtemp(prefix="bluegreen-haproxy-check-")
    try:
        moved = {paths["map_file"]: os.path.join(scratch, "maps", _haproxy_apps.MAP_FILE),
                 paths["routes_file"]: os.path.join(scratch, "maps", _haproxy_apps.ROUTES_FILE),
                 cert_dir: os.path.join(scratch, "certs"), conf_dir: os.path.join(scratch, "conf"),
                 params["config"]: os.path.join(scratch, "haproxy.cfg")}
        for directory in ("conf", "maps", "certs"):
            os.mkdir(os.path.join(scratch, directory), 0o700)
        for path, text in candidate.items():
            folder = os.path.dirname(path)
            target = moved.get(path) or (os.path.join(moved[folder], os.path.basename(path)) if folder in (conf_dir, cert_dir) else None)
            if text is None or target is None:
                continue
            if folder != cert_dir:
                for real in (paths["map_file"], paths["routes_file"], cert_dir, conf_dir):
                    text = text.replace(real, moved[real])  # noqa: PLW2901 - the file as the scratch copy reads it
            with open(target, "w", encoding="utf-8") as handle:
                handle.write(text)
        rc, out, err = module.run_command([haproxy, "-c", "-f", moved[params["config"]], "-f", moved[conf_dir]])
        if rc != 0:
            lines = [line.replace(moved[conf_dir], conf_dir).replace(moved[params["config"]], params["config"])
                     for line in (err + out).splitlines()]
            said = [line for line in lines if "ALERT" in line or "rror" in line] or lines[-5:]
            raise BluegreenError("HAProxy refuses the new configuration, so nothing was written and HAProxy keeps serving what it "
                                 f"served. haproxy -c says: {' | '.join(said)}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def plan(module: AnsibleModule, params: dict) -> tuple:
    app = _validate.name(params["app"], "app")
    present = params["state"] == "present"
    paths = {"map_file": os.path.join(params["map_dir"], _haproxy_apps.MAP_FILE),
             "routes_file": os.path.join(params["map_dir"], _haproxy_apps.ROUTES_FILE), "cert_dir": params["cert_dir"],
             "page_file": _haproxy_apps.page_path(params["conf_dir"], app)}
    claims = _apps.other_claims(params["conf_dir"], app, "", ".cfg")
    own_path = os.path.join(params["conf_dir"], f"{app}.cfg")
    cert_path = os.path.join(params["cert_dir"], f"{app}.pem")
    changes = []
    map_before = read(paths["map_file"])
    if present:
        claim = _apps.claim(params)
        if params["manage"] == "full":
            claim["sticky"] = _haproxy_apps.sticky(params["sticky_by"], params["sticky_name"], app)
            claim["preview_match"] = _apps.preview_match(params["preview_header"], params["preview_cookie"], params["preview_value"])
        chosen = servers(params["servers"])
        options = {"health_path": _validate_path(params["health_path"]), "colour_header": params["colour_header"],
                   "health_host": _apps.health_host(params["health_host"], "health_host"),
                   "health_status": _validate.status_codes(params["health_status"], "health_status"),
                   "check_inter": _haproxy_apps.duration(params["check_inter"], "check_inter"),
                   "check_fall": _validate.at_least(params["check_fall"], 1, "check_fall"),
                   "check_rise": _validate.at_least(params["check_rise"], 1, "check_rise"),
                   "retry_after": _validate.at_least(params["maintenance_retry_after"], 0, "maintenance_retry_after")}
        page = _haproxy_apps.page(_haproxy_apps.DEFAULT_PAGE if params["maintenance_page"] is None else params["maintenance_page"])
        claims[app] = claim
        reserved = {"stats page": (claim["bind_address"], params["stats_port"])} if params["stats_port"] and params["manage"] == "full" else {}
        _apps.check_claims(claims, app, reserved)
        pem = _apps.certificate(module, params)
        own_before = read(own_path)
        keep_live_serving(app, params["router"], own_before, map_before, chosen)
        changes.append(Change(paths["page_file"], read(paths["page_file"]), page, 0o640))
        changes.append(Change(own_path, own_before, _haproxy_apps.app_config(claim, chosen, paths, options), 0o640))
        if params["manage"] == "full" and params["main_config"] is not None:
            changes.append(Change(params["config"], read(params["config"]), params["main_config"], 0o640))
    else:
        pem = None
        changes.append(Change(own_path, read(own_path), None, 0o640))
        changes.append(Change(paths["page_file"], read(paths["page_file"]), None, 0o640))
    changes.append(Change(cert_path, read(cert_path), pem, 0o600, secret=True))
    shared_path = os.path.join(params["conf_dir"], _haproxy_apps.SHARED_FILE)
    changes.append(Change(shared_path, read(shared_path), _haproxy_apps.shared_config(claims, paths), 0o640))
    changes.append(Change(paths["routes_file"], read(paths["routes_file"]), _haproxy_apps.routes_file(claims), 0o644))
    legacy_path = os.path.join(params["map_dir"], f"{app}.map")
    legacy = read(legacy_path)
    seed = _haproxy.map_file_values(legacy) if legacy is not None else None
    steps = present and params["manage"] == "full"
    changes.append(Change(paths["map_file"], map_before, _haproxy_apps.map_with_app(map_before, app, present, seed, steps), 0o644))
    if legacy is not None:
        # The map of the single-file layout: its entries moved into the shared map above.
        changes.append(Change(legacy_path, legacy, None, 0o644))
    return claims, paths, [change for change in changes if change.changed]


def answers(host_port: str, timeout: float = 1.0) -> bool:
    """Whether something accepts a TCP connection at ``host:port`` (``[v6]:port`` too), from this router."""
    host, _sep, port = host_port.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def keep_live_serving(app: str, router: str, own_before: str | None, map_text: str | None, chosen: dict,
                      reach=answers) -> None:
    """Refuse servers for the live colour (the map file's, as the router routes it) that would take its traffic
    from servers that answer to servers where nothing does (new ``bluegreen_ports`` for the live colour, say): HAProxy
    would mark every one DOWN and answer every live request with 503. Nothing answering before, or the same servers,
    is left as it is."""
    if own_before is None:
        return
    values = _haproxy.map_file_values(map_text)
    # The live colour, and during a weighted step the step's colour too: both serve live traffic.
    live = [values.get(app, "")] + ([values.get(app + _haproxy.STEP_SUFFIX, "")]
                                    if values.get(app + _haproxy.SHARE_SUFFIX, "0") not in ("", "0") else [])
    servers_before = _haproxy_apps.colour_servers(own_before, app)
    for colour in (c for c in _validate.COLOURS if f"{app}_{c}" in live):
        before = servers_before[colour]
        after = [_haproxy_apps.host_port(server) for server in chosen[colour]]
        if not before or set(after) == set(before) or any(reach(server) for server in after):
            continue
        serving = [server for server in before if reach(server)]
        if serving:
            raise _validate.ValidationError(
                f"its live colour, {colour}, would be sent to {', '.join(after) or 'no server'}, where nothing accepts a "
                f"connection from {router}, instead of {', '.join(serving)}, which answers: every live request would fail, "
                "so nothing was written. Change the idle colour's port or hosts only, release to it and switch; then the "
                "other colour's", "servers")


def _validate_path(value: str) -> str:
    # '#' starts a comment in HAProxy's configuration (and a URL's fragment, which no request carries); quotes and '\'
    # would be read as HAProxy's quoting.
    if not isinstance(value, str) or not value.startswith("/") or any(c.isspace() or not c.isprintable() or c in "#'\"\\" for c in value):
        raise _validate.ValidationError(f"health_path must be a path starting with '/' without spaces, quotes, '\\' or '#', got {value!r}",
                                        "health_path")
    return value


def write(params: dict, changes: list) -> None:
    for directory, mode in ((params["conf_dir"], 0o755), (params["map_dir"], 0o755), (params["cert_dir"], 0o700)):
        os.makedirs(directory, mode=mode, exist_ok=True)
    # Certificates, maps and pages first: a configuration is never on disk before what it loads.
    order = sorted(changes, key=lambda c: (not c.secret, not c.path.endswith((".map", ".html")), c.path))
    for change in order:
        if change.after is None:
            try:
                os.unlink(change.path)
            except FileNotFoundError:
                pass
        else:
            _fs.atomic_write(change.path, change.after, mode=change.mode)
            if change.mode == 0o640 and os.geteuid() == 0:
                _chgrp_haproxy(change.path)


def _chgrp_haproxy(path: str) -> None:
    try:
        os.chown(path, 0, grp.getgrnam("haproxy").gr_gid)
    except KeyError:
        pass


def run(module: AnsibleModule) -> dict:
    params = dict(module.params)
    params["router"] = params["router"] or socket.gethostname()
    map_file = os.path.join(params["map_dir"], _haproxy_apps.MAP_FILE)
    # A router never provisioned has no map directory yet; check mode then has nothing to lock.
    lock = _fs.locked(_haproxy.map_lock_path(map_file)) if os.path.isdir(params["map_dir"]) else contextlib.nullcontext()
    with lock:
        claims, paths, changes = plan(module, params)
        if changes:
            haproxy_check(module, params, changes, paths)
            if not module.check_mode:
                write(params, changes)
    routes = [line for line in _haproxy_apps.routes_file(claims).splitlines() if not line.startswith("#")]
    result = {"changed": bool(changes), "app": params["app"], "files": [change.path for change in changes],
              "apps": claims, "routes": routes}
    if module._diff:
        result["diff"] = [change.diff() for change in changes]
    return result


def main() -> None:
    _apps.main(ARGUMENT_SPEC, run, "HAProxy")


if __name__ == "__main__":
    main()

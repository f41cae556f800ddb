#!/usr/bin/python
# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: nginx_app
short_description: Put one app's blue-green server part on an Nginx router beside other apps, or take it off
version_added: 0.3.0
description:
  - Writes the app's own part of an Nginx router's configuration and leaves every other app's part byte-identical.
    The app's part is its file C(<site_dir>/bluegreen-<app>.conf) (its claim of host names, path, ports and TLS, the
    includes of its C(live.conf) and C(preview.conf) links, its colour map, its own listeners), its locations
    C(<conf_dir>/<app>/locations.conf) and C(preview-locations.conf), its certificate C(<cert_dir>/<app>.pem)
    (mode 0600), and with O(preview_value) the maps of C(<conf_dir>/<app>/preview-match.conf) (mode 0600).
  - The app's live locations log every request to the app's counts log O(counts_log), in a format of the app's own
    (C(log_format bluegreen_<app>_counts), the time, the status, the colour of the server that answered and the
    upstream times), from which the watch of M(bluegreen.core.nginx_traffic) counts each colour's requests and 5xx
    responses. An C(access_log) in a location stops the ones it would inherit from its server and C(http) blocks, so
    they log to O(access_log) too.
  - Apps with O(hostnames) get one server block per host name, on O(listen_port) (and O(tls_port), with HTTP/2, when
    an app on that host name has TLS); several apps share a host name by O(path_prefix), the longest prefix winning
    as nginx's locations do. With O(manage=full) those server blocks are the file C(<site_dir>/bluegreen.conf), made
    from every app's claim, with a default server that answers 404 to any other host name and refuses TLS handshakes
    for it. An app without host names has its own live listener on O(listen_port).
  - With O(manage=app), the operator keeps nginx.conf and their own server blocks; a server block serves the app by
    including C(<conf_dir>/<app>/locations.conf).
  - Before writing anything it refuses an app that claims a host name and path, or a port, that another app of the
    router already has, a certificate that is not a PEM certificate with its key, and a host name another app serves
    with another certificate. Then it writes, runs C(nginx -t), and puts every file back if nginx refuses them, so a
    refused change leaves no file behind.
  - The upstream files and the include links in C(<conf_dir>/<app>/) are the C(bluegreen.core.nginx) role's and
    M(bluegreen.core.nginx_traffic)'s. With O(state=absent) the whole folder goes, once nginx accepts the
    configuration without it; the app's release history, in its state folder, stays.
  - Every change holds the router's lock C(<conf_dir>/.nginx.lock), which M(bluegreen.core.nginx_traffic) holds while
    it tests and reloads, so one app's switch never reloads another app's files before they passed C(nginx -t).
  - It does not reload nginx; C(changed) says a reload is needed (the C(bluegreen.core.nginx) role does it).
author:
  - bluegreen.core maintainers (@bluegreen)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - bluegreen.core.attributes
  - bluegreen.core.app_claim
attributes:
  check_mode:
    support: full
    details: Checks the claims and the certificate, and reports the diff; writes nothing and cannot run C(nginx -t).
  diff_mode:
    support: full
    details: One diff per file; a certificate, and the file that holds O(preview_value), show as their SHA-256, never their content.
  idempotent:
    description: Run again with the same options, it changes nothing.
    support: full
  platform:
    description: Runs on the Nginx host, as root (C(become=true)); needs C(nginx) and C(openssl) there.
    platforms: posix
options:
  state:
    description:
      - V(present) writes the app's part; V(absent) removes it (its file, its folder in O(conf_dir) and its certificate)
        and leaves every other app serving.
    type: str
    choices: [present, absent]
    default: present
  manage:
    description:
      - V(full), the router is the collection's, and the server blocks of the apps chosen by host name are written too.
      - V(app), the operator's server blocks include the app's C(locations.conf); only the app's own part is written.
    type: str
    choices: [full, app]
    default: full
  conf_dir:
    description: The directory of the apps' folders (upstream files, include links, locations).
    type: path
    default: /etc/nginx/bluegreen
  site_dir:
    description: The directory nginx.conf includes (C(include <site_dir>/*.conf;) in its C(http) block).
    type: path
    default: /etc/nginx/conf.d
  cert_dir:
    description: The directory of the apps' certificates.
    type: path
    default: /etc/nginx/bluegreen-certs
  nginx_binary:
    description: The nginx program, for C(nginx -t -c <nginx_conf>).
    type: str
    default: nginx
  nginx_conf:
    description: nginx's main configuration file.
    type: path
    default: /etc/nginx/nginx.conf
  test_config:
    description: Run C(nginx -t) even when the app's part did not change (other files of the router did).
    type: bool
    default: false
  servers:
    description: Each colour's servers as C(address:port), for the colour map of the C(X-Bluegreen-Colour) header.
    type: dict
    suboptions:
      blue:
        description: Blue's servers.
        type: list
        elements: str
        default: []
      green:
        description: Green's servers.
        type: list
        elements: str
        default: []
  hostnames:
    description: The host names (C(server_name)) that reach the app. Empty, the app has a listener of its own.
    type: list
    elements: str
    default: []
  preview_hostnames:
    description: Host names that reach the idle colour.
    type: list
    elements: str
    default: []
  tls_port:
    description: The TLS port of the app's host names, with HTTP/2.
    type: int
    default: 443
  preview_value:
    description:
      - A request to the app's live address (its listener and host names) whose header O(preview_header), or cookie
        O(preview_cookie), has this value reaches the idle colour (the upstream C(<app>_preview)), whoever else gets
        the live traffic. Testers reach the new release on the real host name before anyone else does.
      - A secret, never logged or shown in a diff. Nginx has no hash to compare it with, so the router holds the value
        itself, in C(<conf_dir>/<app>/preview-match.conf), which is root's only (mode 0600); the app's claim holds its
        SHA-256. Use a long random value.
      - Omitted or empty, there is no such preview (the default).
      - Text of at most 256 characters, with no newline or other control character.
    type: str
  preview_header:
    description:
      - The request header that carries O(preview_value). Empty for none (then O(preview_cookie)).
      - Letters, digits and C(-) only; nginx ignores a header with any other character (C(ignore_invalid_headers)).
    type: str
    default: X-Bluegreen-Preview
  preview_cookie:
    description: A cookie that carries O(preview_value), beside or instead of O(preview_header).
    type: str
  proxy_next_upstream:
    description: Which failures send a request on to the next server of the same colour.
    type: str
    default: error timeout
  proxy_connect_timeout:
    description: Timeout of a connection to an app server.
    type: str
    default: 5s
  proxy_send_timeout:
    description: Timeout of a write to an app server.
    type: str
    default: 60s
  proxy_read_timeout:
    description: Timeout of a read from an app server.
    type: str
    default: 60s
  counts_log:
    description:
      - The app's counts log, which its live locations write one line per request to, for the per-colour counts
        of the watch (give M(bluegreen.core.nginx_traffic) the same O(bluegreen.core.nginx_traffic#module:counts_log)).
        One file per app.
      - Empty or omitted, C(/var/log/nginx/bluegreen-<app>.log), where Debian's logrotate rotates it with nginx's own logs
        and makes nginx reopen it.
      - An absolute path of letters, digits, C(_), C(.), C(-), C(+), C(@) and C(/). nginx creates the file when it
        loads the configuration (C(nginx -t) too); its folder must exist.
    type: path
  access_log:
    description:
      - The access log the app's live locations keep writing, in nginx's C(combined) format, beside the counts log
        (an C(access_log) in a location stops the ones it would inherit). V(off) or empty, none.
      - The default is Debian's, the one C(nginx.conf) names; give the one your C(http) or server block names, if
        another.
    type: str
    default: /var/log/nginx/access.log
seealso:
  - module: bluegreen.core.nginx_traffic
  - module: bluegreen.core.haproxy_app
  - name: How nginx processes a request
    description: How a server block is chosen by C(server_name), and the default server.
    link: https://nginx.org/en/docs/http/request_processing.html
"""

EXAMPLES = r"""
- name: Serve shop on shop.example.com over TLS, beside the router's other apps
  bluegreen.core.nginx_app:
    app: shop
    servers:
      blue: [10.0.0.11:8001]
      green: [10.0.0.11:8002]
    hostnames: [shop.example.com]
    tls_certificate_content: "{{ vault_shop_pem }}"
    tls_redirect: true
  become: true
  notify: Reload Nginx

- name: Serve cart on its own port, with its counts log and its access log in files of their own
  bluegreen.core.nginx_app:
    app: cart
    servers:
      blue: [10.0.0.12:8001]
      green: [10.0.0.12:8002]
    listen_port: 8081
    preview_port: 8082
    counts_log: /var/log/nginx/bluegreen-cart-counts.log
    access_log: /var/log/nginx/cart-access.log
  become: true
  notify: Reload Nginx

- name: Take cart off the router
  bluegreen.core.nginx_app:
    app: cart
    state: absent
  become: true
  notify: Reload Nginx
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
  description: Every app the router holds after the change, with its claim.
  returned: success
  type: dict
routes:
  description: The router's host names and paths after the change, C(host[/path]) and the app (C(<app>.preview) for a preview).
  returned: success
  type: list
  elements: str
param:
  description: The option at fault.
  returned: failure
  type: str
"""

import contextlib
import os
import re
import shutil
import socket

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bluegreen.core.plugins.module_utils import _apps, _fs, _nginx, _nginx_apps, _nginx_log, _validate
from ansible_collections.bluegreen.core.plugins.module_utils._apps import Change, read
from ansible_collections.bluegreen.core.plugins.module_utils._errors import BluegreenError, os_error_text

ARGUMENT_SPEC = {
    **_apps.CLAIM_ARGUMENTS,
    "conf_dir": {"type": "path", "default": _nginx.DEFAULT_CONF_DIR},
    "site_dir": {"type": "path", "default": "/etc/nginx/conf.d"},
    "cert_dir": {"type": "path", "default": "/etc/nginx/bluegreen-certs"},
    "nginx_binary": {"type": "str", "default": "nginx"},
    "nginx_conf": {"type": "path", "default": _nginx.DEFAULT_NGINX_CONF},
    "test_config": {"type": "bool", "default": False},
    "servers": {"type": "dict", "options": {"blue": {"type": "list", "elements": "str", "default": []},
                                            "green": {"type": "list", "elements": "str", "default": []}}},
    "preview_header": {"type": "str", "default": "X-Bluegreen-Preview"},
    "preview_cookie": {"type": "str"},
    "preview_value": {"type": "str", "no_log": True},
    "proxy_next_upstream": {"type": "str", "default": "error timeout"},
    "proxy_connect_timeout": {"type": "str", "default": "5s"},
    "proxy_send_timeout": {"type": "str", "default": "60s"},
    "proxy_read_timeout": {"type": "str", "default": "60s"},
    "counts_log": {"type": "path"},
    "access_log": {"type": "str", "default": _nginx_log.DEFAULT_ACCESS_LOG},
}

_SERVER = r"^(?:[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$"


def servers(value: dict | None) -> dict:
    result = {}
    for colour in _validate.COLOURS:
        result[colour] = []
        for index, server in enumerate((value or {}).get(colour) or []):
            if not isinstance(server, str) or not re.fullmatch(_SERVER, server):
                raise _validate.ValidationError(f"servers.{colour}[{index}] {server!r} is not address:port", "servers")
            result[colour].append(server)
    return result


def tls_fingerprints(params: dict, claims: dict, app: str, pem: str | None) -> tuple:
    """The fingerprint of each app's certificate, and the apps that have one (from the certificate folder)."""
    prints = {app: _nginx_apps.fingerprint(pem)}
    for other, claim in claims.items():
        if other != app and claim.get("tls_port"):
            prints[other] = _nginx_apps.fingerprint(read(os.path.join(params["cert_dir"], f"{other}.pem")))
    return prints, {name for name, value in prints.items() if value}


def plan(module: AnsibleModule, params: dict) -> tuple:
    app = _validate.name(params["app"], "app")
    present = params["state"] == "present"
    paths = {"conf_dir": params["conf_dir"], "cert_dir": params["cert_dir"]}
    claims = _apps.other_claims(params["site_dir"], app, "bluegreen-", ".conf", "site_dir")
    app_dir = os.path.join(params["conf_dir"], app)
    site_path = os.path.join(params["site_dir"], _nginx_apps.site_file(app))
    cert_path = os.path.join(params["cert_dir"], f"{app}.pem")
    changes = []
    if present:
        claim = _apps.claim(params)
        match = _nginx_apps.preview_match(params["preview_header"], params["preview_cookie"], params["preview_value"])
        if match:
            claim["preview_match"] = match
        options = {
            "colour_header": params["colour_header"],
            "proxy_next_upstream": _nginx_apps.words(params["proxy_next_upstream"], "proxy_next_upstream"),
            **{name: _nginx_apps.time(params[name], name) for name in ("proxy_connect_timeout", "proxy_send_timeout", "proxy_read_timeout")},
            "counts_log": _nginx_log.counts_path(params["counts_log"], app),
            "access_log": _nginx_log.access_path(params["access_log"]),
        }
        if options["counts_log"] == options["access_log"]:
            raise _validate.ValidationError(
                f"counts_log and access_log are both {options['counts_log']}: the counts log holds the app's own lines, "
                "in a format of its own, so give it a file of its own", "counts_log")
        chosen = servers(params["servers"])
        claims[app] = claim
        _apps.check_claims(claims, app)
        pem = _apps.certificate(module, params)
        prints, tls_apps = tls_fingerprints(params, claims, app, pem)
        _nginx_apps.check_certificates(claims, app, prints)
        changes.append(Change(site_path, read(site_path), _nginx_apps.app_site(claim, chosen, paths, options), 0o644))
        for name, role in ((_nginx_apps.LOCATIONS_FILE, "live"), (_nginx_apps.PREVIEW_LOCATIONS_FILE, "preview")):
            path = os.path.join(app_dir, name)
            changes.append(Change(path, read(path), _nginx_apps.locations(claim, role, options), 0o644))
        match_path = os.path.join(app_dir, _nginx_apps.PREVIEW_MATCH_FILE)
        changes.append(Change(match_path, read(match_path), _nginx_apps.preview_match_conf(claim, params["preview_value"]), 0o600,
                              secret="the preview value's maps"))
    else:
        pem = None
        tls_apps = {name for name, claim in claims.items() if claim.get("tls_port")}
        changes.append(Change(site_path, read(site_path), None, 0o644))
    changes.append(Change(cert_path, read(cert_path), pem, 0o600, secret=True))
    shared_path = os.path.join(params["site_dir"], _nginx_apps.SHARED_FILE)
    changes.append(Change(shared_path, read(shared_path), _nginx_apps.shared_config(claims, paths, tls_apps), 0o644))
    removed = app_dir if not present and os.path.isdir(app_dir) else None
    return claims, [change for change in changes if change.changed], removed


def write(changes: list) -> None:
    # Certificates and locations before the files that load them.
    for change in sorted(changes, key=lambda c: (not c.secret, not c.path.endswith("locations.conf"), c.path)):
        if change.after is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(change.path)
        else:
            os.makedirs(os.path.dirname(change.path), mode=0o700 if change.secret is True else 0o755, exist_ok=True)
            _fs.atomic_write(change.path, change.after, mode=change.mode)


def put_back(changes: list) -> list:
    """Every file as it was; the paths that could not be put back."""
    failed = []
    for change in changes:
        try:
            if change.before is None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(change.path)
            else:
                _fs.atomic_write(change.path, change.before, mode=change.mode)
        except OSError as exc:
            failed.append(f"{change.path} ({os_error_text(exc)})")
    return failed


def nginx_test(params: dict) -> str | None:
    """None when ``nginx -t`` accepts the router's configuration, else what nginx said."""
    command = [params["nginx_binary"], "-t", "-q", "-c", params["nginx_conf"]]
    rc, out, err = _nginx.run_command(command)
    if rc == 0:
        return None
    lines = [line for line in (err + out).splitlines() if line.strip()]
    said = [line for line in lines if "[emerg]" in line or "[alert]" in line or "failed" in line] or lines[-5:]
    return " | ".join(said) or f"exit code {rc}"


def apply(params: dict, changes: list, removed: str | None) -> None:
    """Write, move the removed folder aside, test; on a refusal (or a failed write) put everything back and say why."""
    aside = None
    try:
        write(changes)
        if removed:
            target = os.path.join(os.path.dirname(removed), f".{os.path.basename(removed)}.removed")
            shutil.rmtree(target, ignore_errors=True)
            os.rename(removed, target)
            aside = target
    except OSError as exc:
        why = f"writing the new files failed ({os_error_text(exc)})"
    else:
        try:
            said = nginx_test(params)
        except BluegreenError as exc:
            said = str(exc)
        if said is None:
            if aside:
                shutil.rmtree(aside, ignore_errors=True)
            return
        why = f"nginx refuses the new configuration (nginx -t says: {said})"
    failed = put_back(changes)
    if aside:
        try:
            os.rename(aside, removed)
        except OSError as exc:
            failed.append(f"{removed} ({os_error_text(exc)})")
    back = "Every file was put back as it was" if not failed else f"These could not be put back: {', '.join(failed)}"
    raise BluegreenError(f"{why}. {back}, and nginx was not reloaded: it keeps serving what it served")


def run(module: AnsibleModule) -> dict:
    params = dict(module.params)
    params["router"] = params["router"] or socket.gethostname()
    conf_dir = params["conf_dir"]
    # A router never provisioned has no folder yet; check mode then has nothing to lock.
    lock = _fs.locked(os.path.join(conf_dir, _nginx.LOCK_FILE)) if os.path.isdir(conf_dir) else contextlib.nullcontext()
    with lock:
        claims, changes, removed = plan(module, params)
        if module.check_mode:
            pass
        elif changes or removed:
            apply(params, changes, removed)
        elif params["test_config"]:
            said = nginx_test(params)
            if said is not None:
                raise BluegreenError(f"nginx refuses the router's configuration (nginx -t says: {said}); the app's own part did not change")
    routes = [f"{key} {value}" for key, value in _apps.all_routes(claims)]
    files = [change.path for change in changes] + ([removed] if removed else [])
    result = {"changed": bool(files), "app": params["app"], "files": files, "apps": claims, "routes": routes}
    if module._diff:
        result["diff"] = [change.diff() for change in changes] + (
            [{"before": f"{removed}/\n", "after": "", "before_header": removed, "after_header": removed}] if removed else [])
    return result


def main() -> None:
    _apps.main(ARGUMENT_SPEC, run, "Nginx")


if __name__ == "__main__":
    main()

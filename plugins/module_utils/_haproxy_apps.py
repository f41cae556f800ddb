# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Many apps on one HAProxy router: each app's own part of the configuration, and the parts they share.

PRIVATE to the bluegreen.core collection: may change without notice.

The layout on a router (HAProxy loads ``-f haproxy.cfg -f <conf_dir>``, files in name order):

  <conf_dir>/<app>.cfg        the app's own part: its two backends, its own listeners (a live listener when it is
                              not chosen by host name, a preview listener when it has a preview port), and on its
                              second line the app's *claim* (its host names, path, ports, TLS) as JSON
  <conf_dir>/00-bluegreen.cfg the shared listener of the apps chosen by host name (``manage: full`` only), made
                              from every app's claim
  <map_dir>/bluegreen.map     the live and preview entry of every app (``<app>`` and ``<app>.preview``), and the
                              entries of a weighted step (``<app>.step``, ``<app>.share``): a switch changes only its
                              app's lines
  <map_dir>/routes.map        ``host/path -> app`` for the shared listener, longest first (``map_dir`` matching)
  <cert_dir>/<app>.pem        the app's certificate and key, 0600; the shared TLS listener loads the directory
  <conf_dir>/<app>.maintenance.html
                              the page of the app's maintenance backend (HAProxy loads only ``*.cfg`` of the folder
                              as configuration); live traffic goes there while ``<app>:maintenance`` is in the map

Everything here is pure: it turns claims (``_apps``) and file texts into file texts.
"""

from __future__ import annotations

import json
import re

from ansible_collections.bluegreen.core.plugins.module_utils import _haproxy, _validate
from ansible_collections.bluegreen.core.plugins.module_utils._apps import CLAIM_PREFIX, NAME_RE, all_routes

SHARED_FILE = "00-bluegreen.cfg"
MAP_FILE = "bluegreen.map"
ROUTES_FILE = "routes.map"
NO_APP_BACKEND = "bluegreen_no_app"
# HAProxy answers ``http-request return ... file`` from one buffer (tune.bufsize, 16 kB by default) with the headers.
MAX_PAGE_BYTES = 12288
DEFAULT_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Down for maintenance</title></head>
<body>
<h1>Down for maintenance</h1>
<p>This service is down for maintenance and will be back shortly. Please try again in a few minutes.</p>
</body>
</html>
"""
_DURATION_RE = re.compile(r"^[0-9]+(?:us|ms|s|m|h|d)?$")
# How a client keeps its colour during a weighted step: a cookie the router sets, or a cookie or header of its own.
STICKY_BY = ("cookie", "request_cookie", "header")
# How long the router's sticky cookie lasts: longer than any ramp.
STICKY_COOKIE_MAX_AGE = 86400


def duration(value: object, param: str) -> str:
    text = str(value)
    if isinstance(value, bool) or not _DURATION_RE.fullmatch(text):
        raise _validate.ValidationError(f"{param} must be an HAProxy duration such as 1s or 500ms, got {value!r}", param)
    return text


def sticky(by: object, name: object, app: str) -> dict:
    """How the app's clients keep their colour during a weighted step: {by, name}."""
    if by not in STICKY_BY:
        raise _validate.ValidationError(f"sticky_by must be one of {', '.join(STICKY_BY)}, got {by!r}", "sticky_by")
    if name in (None, ""):
        if by != "cookie":
            raise _validate.ValidationError(
                f"sticky_name must name the {'cookie' if by == 'request_cookie' else 'header'} whose hash keeps each client "
                f"on its colour with sticky_by={by}", "sticky_name")
        name = f"bluegreen_{app}"
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise _validate.ValidationError(
            f"sticky_name {name!r} is not a valid cookie or header name: use 1 to 64 letters, digits, '-', '_' and '.', "
            "starting with a letter or digit", "sticky_name")
    return {"by": by, "name": name}


def preview_rules(app_claim: dict, map_file: str, condition: str = "") -> list:
    """The rules that send a request with the preview header or cookie to the app's idle colour (``<app>.preview``),
    on a listener of its live traffic. HAProxy compares the SHA-256 of what the request carries."""
    app, match = app_claim["app"], app_claim.get("preview_match")
    if not match:
        return []
    and_ = f"{condition} " if condition else ""
    target = f"%[str({app}{_haproxy.PREVIEW_SUFFIX}),map({map_file})]"
    fetches = [f"req.hdr({match['header']})"] if match.get("header") else []
    fetches += [f"req.cook({match['cookie']})"] if match.get("cookie") else []
    return [f"    use_backend {target} if {and_}{{ {fetch},sha2(256),hex -m str {match['sha256']} }}" for fetch in fetches]


# --------------------------------------------------------------------------- files


def maintenance_key(app: str) -> str:
    return app + _haproxy.MAINTENANCE_SUFFIX


def maintenance_backend(app: str) -> str:
    return f"{app}_maintenance"


def page_path(conf_dir: str, app: str) -> str:
    return f"{conf_dir.rstrip('/')}/{app}.maintenance.html"


def page(text: object) -> str:
    """The maintenance page as HAProxy can serve it: text of at most MAX_PAGE_BYTES bytes."""
    if not isinstance(text, str) or not text.strip():
        raise _validate.ValidationError(f"maintenance_page must be the page's text (HTML), got {text!r}", "maintenance_page")
    size = len(text.encode("utf-8"))
    if size > MAX_PAGE_BYTES:
        raise _validate.ValidationError(f"maintenance_page is {size} bytes; HAProxy serves a page of at most {MAX_PAGE_BYTES}",
                                        "maintenance_page")
    return text


def maintenance_rule(app: str, map_file: str, condition: str = "") -> str:
    """The ``use_backend`` line that sends the app's live traffic to its maintenance page while its key is mapped."""
    return (f"    use_backend {maintenance_backend(app)} if {condition}"
            f"{{ str({maintenance_key(app)}),map({map_file}) -m found }}")


def step_lines(app_claim: dict, map_file: str, condition: str = "") -> tuple:
    """The rules of a weighted step, for a listener of the app (``condition``: the ACL that picks the app's requests on
    a shared listener). While ``<app>.share`` is above 0, each client is put in one of 100 buckets by the xxh32 hash of
    its sticky key, and buckets below the share go to the backend in ``<app>.step``. With ``by: cookie`` a client with
    no cookie yet gets a random one (a UUID) with its first response, and keeps its bucket with it. A client with no
    key (``request_cookie`` or ``header`` missing) stays on the colour of ``<app>``."""
    app, how = app_claim["app"], app_claim.get("sticky")
    if not how:
        return []
    when = f"if {condition}" if condition else ""
    and_ = f"{condition} " if condition else ""
    key = f"req.hdr({how['name']})" if how["by"] == "header" else f"req.cook({how['name']})"
    stepping = "{ var(txn.bg_share) -m int gt 0 }"
    lines = [
        f"    http-request set-var(txn.bg_share) str({app}{_haproxy.SHARE_SUFFIX}),map({map_file},0),add(0) {when}".rstrip(),
        f"    http-request set-var(txn.bg_key) {key} if {and_}{stepping}",
    ]
    if how["by"] == "cookie":
        lines += [
            f"    http-request set-var(txn.bg_new) uuid if {and_}{stepping} !{{ var(txn.bg_key) -m found }}",
            f"    http-request set-var(txn.bg_key) var(txn.bg_new) if {and_}{{ var(txn.bg_new) -m found }}",
            f'    http-response add-header Set-Cookie "{how["name"]}=%[var(txn.bg_new)]; Path=/; '
            f'Max-Age={STICKY_COOKIE_MAX_AGE}; SameSite=Lax; HttpOnly" if {and_}{{ var(txn.bg_new) -m found }}',
        ]
    lines.append(f"    http-request set-var(txn.bg_bucket) var(txn.bg_key),xxh32,mod(100) if {and_}{{ var(txn.bg_key) -m found }}")
    return lines, [
        f"    use_backend %[str({app}{_haproxy.STEP_SUFFIX}),map({map_file})] if {and_}{{ str({app}{_haproxy.STEP_SUFFIX}),"
        f"map({map_file}) -m found }} {{ var(txn.bg_bucket),sub(txn.bg_share) -m int lt 0 }}",
    ]


def app_config(app_claim: dict, servers: dict, paths: dict, options: dict) -> str:
    """The app's own file: its claim, its own listeners, its two backends and its maintenance backend."""
    app = app_claim["app"]
    map_file = paths["map_file"]
    lines = [
        f"# Blue-green routing of {app}, written by bluegreen.core (provision rewrites it; changes here are lost).",
        CLAIM_PREFIX + json.dumps(app_claim, sort_keys=True, separators=(",", ":")),
        f"# The live colour is the entry {app!r} of {map_file}, switched through the runtime API without a reload.",
    ]
    bind = app_claim["bind_address"]
    if not app_claim["hostnames"] and app_claim["manage"] == "full":
        rules, step = step_lines(app_claim, map_file)
        lines += ["", f"frontend {app}_live", f"    bind {bind}:{app_claim['listen_port']}",
                  *rules, *preview_rules(app_claim, map_file), maintenance_rule(app, map_file), *step,
                  f"    use_backend %[str({app}),map({map_file},{app}_green)]"]
    if app_claim["preview_port"]:
        lines += ["", f"frontend {app}_preview", f"    bind {bind}:{app_claim['preview_port']}",
                  f"    use_backend %[str({app}{_haproxy.PREVIEW_SUFFIX}),map({map_file},{app}_blue)]"]
    for colour in _validate.COLOURS:
        lines += [
            "",
            f"backend {app}_{colour}",
            "    balance roundrobin",
            *health_check(options),
            f"    default-server inter {options['check_inter']} fall {options['check_fall']} rise {options['check_rise']}",
        ]
        if options["colour_header"]:
            lines.append(f"    http-response set-header X-Bluegreen-Colour {colour}")
        lines += [f"    server {server['name']} {host_port(server)} check" for server in servers.get(colour) or []]
    # Answers every request itself: no server, so the maintenance page never depends on either colour.
    lines += [
        "",
        f"backend {maintenance_backend(app)}",
        f'    http-request return status 503 content-type "text/html; charset=utf-8" file {paths["page_file"]} '
        f'hdr Retry-After {options["retry_after"]}',
    ]
    return "\n".join(lines) + "\n"


def colour_servers(text: str | None, app: str) -> dict:
    """Each colour's servers (``host:port``, as written) in the app's file (``app_config``'s text); empty lists when
    there is no file."""
    found: dict = {colour: [] for colour in _validate.COLOURS}
    backend = None
    for line in (text or "").splitlines():
        if line.startswith("backend "):
            name = line.split()[1]
            backend = next((c for c in _validate.COLOURS if name == f"{app}_{c}"), None)
        elif backend and line.startswith("    server "):
            fields = line.split()
            if len(fields) > 2:
                found[backend].append(fields[2])
    return found


def health_check(options: dict) -> list:
    """HAProxy's check of each server: GET the health path, with the Host header ``health_host`` when there is one
    (HTTP/1.1, which needs a Host), passing on a status of ``health_status`` (200 by default)."""
    host = options.get("health_host")
    codes = ",".join(str(code) for code in options.get("health_status") or (200,))
    if host:
        request = ["    option httpchk", f"    http-check send meth GET uri {options['health_path']} ver HTTP/1.1 hdr Host {host}"]
    else:
        request = [f"    option httpchk GET {options['health_path']}"]
    return [*request, f"    http-check expect status {codes}"]


def host_port(server: dict) -> str:
    host = server["address"]
    return f"[{host}]:{server['port']}" if ":" in host and not host.startswith("[") else f"{host}:{server['port']}"


def shared_config(claims: dict, paths: dict) -> str | None:
    """The shared listener of the apps chosen by host name (``manage: full``), or None when no app is."""
    chosen = {app: c for app, c in claims.items() if c["hostnames"] and c["manage"] == "full"}
    if not chosen:
        return None
    bind_lines = sorted({(c["bind_address"], c["listen_port"], False) for c in chosen.values()}
                        | {(c["bind_address"], c["tls_port"], True) for c in chosen.values() if c["tls_port"]}, key=lambda b: (b[1], b[0]))
    map_file = paths["map_file"]
    lines = [
        "# The listener shared by the apps chosen by host name, written by bluegreen.core from every app's claim",
        "# (the second line of each app's file); provision rewrites it, changes here are lost.",
        "",
        "frontend bluegreen_shared",
    ]
    for bind, port, tls in bind_lines:
        lines.append(f"    bind {bind}:{port}" + (f" ssl crt {paths['cert_dir']}/ alpn h2,http/1.1" if tls else ""))
    lines += [
        "    option forwardfor",
        "    http-request set-header X-Forwarded-Proto https if { ssl_fc }",
        "    http-request set-header X-Forwarded-Proto http unless { ssl_fc }",
        *operator_lines(paths),
    ]
    redirects: dict = {}
    for app, c in sorted(chosen.items()):
        if c["tls_redirect"]:
            redirects.setdefault(c["tls_port"], []).extend([app, app + _haproxy.PREVIEW_SUFFIX])
    for port, keys in sorted(redirects.items()):
        host = "%[var(txn.bg_host)]" + ("" if port == 443 else f":{port}")
        lines.append(f"    http-request redirect prefix https://{host} code 301 if !{{ ssl_fc }} {{ var(txn.bg_app) -m str {' '.join(keys)} }}")
    steps = [step_lines(chosen[app], map_file, f"{{ var(txn.bg_app) -m str {app} }}") for app in sorted(chosen)]
    lines += [line for rules, _use in steps for line in rules]
    lines += [line for app in sorted(chosen) for line in preview_rules(chosen[app], map_file, f"{{ var(txn.bg_app) -m str {app} }}")]
    lines += [maintenance_rule(app, map_file, f"{{ var(txn.bg_app) -m str {app} }} ") for app in sorted(chosen)]
    lines += [line for _rules, use in steps for line in use]
    lines += [
        f"    use_backend %[var(txn.bg_app),map({map_file},{NO_APP_BACKEND})]",
        f"    default_backend {NO_APP_BACKEND}",
        "",
        f"backend {NO_APP_BACKEND}",
        '    http-request return status 404 content-type text/plain string "No app is routed here for this host name and path.\\n"',
    ]
    return "\n".join(lines) + "\n"


def operator_lines(paths: dict) -> list:
    """What a frontend adds to choose the app by host name and path (also shown to operators with their own frontend)."""
    return [
        "    http-request set-var(txn.bg_host) req.hdr(host),field(1,:),lower",
        "    http-request set-var(txn.bg_path) path",
        f"    http-request set-var(txn.bg_app) var(txn.bg_host),concat(,txn.bg_path,),map_dir({paths['routes_file']})",
    ]


def routes_file(claims: dict) -> str:
    """Every app's routes, longest first: HAProxy's ``map_dir`` takes the first line that matches."""
    ordered = all_routes(claims)
    header = "# host[/path] -> app, written by bluegreen.core from every app's claim (longest first: the first match wins)\n"
    return header + "".join(f"{key} {value}\n" for key, value in ordered)


def map_with_app(text: str | None, app: str, present: bool, seed: dict | None = None, steps: bool = False) -> str:
    """The shared map with the app's entries added (if missing: a provision never undoes a switch) or removed. With
    ``steps`` (its listener has the step rules) the entry ``<app>.share`` is added too, at 0: what tells the switch the
    listener can split the app's traffic.

    A new app routes live traffic to green, which has no release yet, so its first release goes to blue; ``seed``
    gives the values of an app that had a map file of its own (the single-file layout), so its routing carries over.
    """
    keys = (app, app + _haproxy.PREVIEW_SUFFIX)
    if not present:
        gone = (*keys, maintenance_key(app), app + _haproxy.STEP_SUFFIX, app + _haproxy.SHARE_SUFFIX)
        lines = [line for line in (text or "").splitlines() if (line.split(None, 1) or [""])[0] not in gone]
        return "\n".join(lines) + "\n" if lines else ""
    current = _haproxy.map_file_values(text)
    seed = seed or {}
    defaults = ((keys[0], seed.get(keys[0], f"{app}_green")), (keys[1], seed.get(keys[1], f"{app}_blue")))
    if steps:
        defaults += ((app + _haproxy.SHARE_SUFFIX, "0"),)
    missing = {key: value for key, value in defaults if key not in current}
    return _haproxy.render_map_file(text, missing) if missing else (text or "")

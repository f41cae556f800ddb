# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Many apps on one Nginx router: each app's own server part, and the server blocks they share.

PRIVATE to the bluegreen.core collection: may change without notice.

The layout on a router (nginx.conf includes ``<site_dir>/*.conf`` in its ``http`` block, as Debian's does):

  <site_dir>/bluegreen-<app>.conf   the app's own part: its claim (second line), the includes of its live.conf and
                                    preview.conf links, its colour map, the format of its counts log, its own listeners
                                    (a live one when it is not chosen by host name, a preview one when it has a preview
                                    port)
  <site_dir>/bluegreen.conf         the server blocks of the apps chosen by host name (``manage: full`` only), one per
                                    host name, made from every app's claim; a default server answers 404 to any other
  <conf_dir>/<app>/locations.conf          the app's live location(s): ``location /`` or ``location /p/`` and
                                           ``location = /p``, proxying to ``<app>_live`` and logging each request to
                                           the app's counts log (``_nginx_log``) and to the access log; included by
                                           the server blocks of its host names (or, with ``manage: app``, by the
                                           operator's)
  <conf_dir>/<app>/preview-locations.conf  the same for ``<app>_preview``
  <conf_dir>/<app>/preview-match.conf      with a preview on the live address (a preview value): the maps that send a
                                           request carrying the value to ``<app>_preview`` instead of ``<app>_live``;
                                           it holds the value, so it is root's only (0600) and no diff shows it
  <cert_dir>/<app>.pem              the app's certificate and key, 0600, for the server blocks of its host names

The upstream files and the live.conf / preview.conf links in ``<conf_dir>/<app>/`` are the bluegreen.core.nginx role's
and the switch's (``_nginx``). Everything here is pure: it turns claims into file texts and conflicts into errors.
"""

from __future__ import annotations

import hashlib
import json
import os
import re

from ansible_collections.bluegreen.core.plugins.module_utils import _apps, _nginx_log, _validate

SHARED_FILE = "bluegreen.conf"
LOCATIONS_FILE = "locations.conf"
PREVIEW_LOCATIONS_FILE = "preview-locations.conf"
PREVIEW_MATCH_FILE = "preview-match.conf"
NOT_ROUTED = "No app is routed here for this host name and path.\\n"

_TIME_RE = re.compile(r"^[0-9]{1,9}(?:ms|s|m|h|d)?$")
_WORDS_RE = re.compile(r"^[a-z_0-9 ]+$")
# A header nginx passes on with its default ignore_invalid_headers: letters, digits and '-' only.
_HEADER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")


def site_file(app: str) -> str:
    return f"bluegreen-{app}.conf"


def _variable(app: str, what: str) -> str:
    return "$bluegreen_" + re.sub(r"[^A-Za-z0-9_]", "_", app) + "_" + what


def colour_variable(app: str) -> str:
    return _variable(app, "colour")


def log_format_name(app: str) -> str:
    """The name of the app's counts log format, one of the http context's (as its variables are)."""
    return _variable(app, "counts")[1:]


def time(value: object, param: str) -> str:
    text = str(value)
    if isinstance(value, bool) or not _TIME_RE.fullmatch(text):
        raise _validate.ValidationError(f"{param} must be an nginx time such as 500ms, 60s or 5m, got {value!r}", param)
    return text


def words(value: object, param: str) -> str:
    if not isinstance(value, str) or not _WORDS_RE.fullmatch(value):
        raise _validate.ValidationError(f"{param} must be nginx's words separated by spaces, such as 'error timeout', got {value!r}", param)
    return value


def _listen(bind: str, port: int) -> str:
    return f"{port}" if bind == "*" else f"{bind}:{port}"


# --------------------------------------------------------------------------- conflicts


def fingerprint(pem: str | None) -> str | None:
    return hashlib.sha256(pem.encode()).hexdigest() if pem else None


def check_certificates(claims: dict, app: str, fingerprints: dict) -> None:
    """Nginx serves one certificate per host name: apps sharing a host name with TLS must give the same one."""
    mine = fingerprints.get(app)
    if not mine:
        return
    own_hosts = set(claims[app]["hostnames"]) | set(claims[app]["preview_hostnames"])
    for other in sorted(name for name in claims if name != app):
        theirs = fingerprints.get(other)
        shared = own_hosts & (set(claims[other]["hostnames"]) | set(claims[other]["preview_hostnames"]))
        if theirs and theirs != mine and shared:
            raise _apps.ConflictError(
                f"apps {other} and {app} both serve {', '.join(sorted(shared))} with TLS, with different certificates: Nginx "
                f"serves one certificate per host name, so give {app} the certificate {other} has (bluegreen_tls_certificate), "
                "or another host name", "tls_certificate",
            )


def preview_match(header: object, cookie: object, value: object) -> dict | None:
    """The claim's preview on the live address (``_apps.preview_match``), with a header nginx reads."""
    match = _apps.preview_match(header, cookie, value)
    if match and match.get("header") and not _HEADER_RE.fullmatch(match["header"]):
        raise _validate.ValidationError(
            f"preview_header {match['header']!r} has a character nginx ignores headers with by default "
            "(ignore_invalid_headers): use letters, digits and '-'", "preview_header")
    return match


def _quoted(text: str) -> str:
    """``text`` as one double-quoted token of nginx's configuration."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def preview_match_conf(app_claim: dict, value: str) -> str | None:
    """The maps that choose the app's live locations' upstream: ``<app>_preview`` for a request whose header (or
    cookie) carries the preview value, ``<app>_live`` for any other; None without a preview on the live address.
    Nginx compares the value itself (it has no hash to compare with), so this text holds it."""
    match = app_claim.get("preview_match")
    if not match:
        return None
    app = app_claim["app"]
    tests = []
    if match.get("header"):
        tests.append(("header", "$http_" + match["header"].lower().replace("-", "_"), "~^" + re.escape(value) + "$"))
    if match.get("cookie"):
        tests.append(("cookie", "$http_cookie", "~(?:^|;)\\s*" + re.escape(match["cookie"]) + "=" + re.escape(value) + "\\s*(?:;|$)"))
    carried = " or ".join(f"{kind} {match[kind]}" for kind, _source, _pattern in tests)
    lines = [
        f"# {app}'s preview on its live address, written by bluegreen.core: a request whose {carried} carries the",
        f"# preview value reaches the idle colour ({app}_preview), any other the live one. It holds the value: root's only.",
    ]
    fallback = f"{app}_live"
    for index, (kind, source, pattern) in enumerate(tests):
        variable = upstream_variable(app) if index == len(tests) - 1 else _variable(app, f"by_{kind}")
        lines += [f"map {source} {variable} {{", f"    default {fallback};", f"    {_quoted(pattern)} {app}_preview;", "}"]
        fallback = variable
    return "\n".join(lines) + "\n"


def upstream_variable(app: str) -> str:
    """The upstream of the app's live locations with a preview on the live address (preview_match_conf)."""
    return _variable(app, "upstream")


# --------------------------------------------------------------------------- files


def locations(app_claim: dict, role: str, options: dict) -> str:
    """The app's live (or preview) locations, for the server blocks of its host names (or the operator's)."""
    what = "live colour" if role == "live" else "idle colour, for smoke tests before a switch"
    lines = [f"# {app_claim['app']}'s {what}, written by bluegreen.core: included by the server blocks that route to it."]
    return "\n".join(lines + _location_blocks(app_claim, role, options, app_claim["path_prefix"])) + "\n"


def _location_blocks(app_claim: dict, role: str, options: dict, prefix: str) -> list:
    """``location <prefix>`` (or ``location <prefix>/`` and ``location = <prefix>``) proxying to the colour."""
    app = app_claim["app"]
    body = []
    if app_claim["tls_redirect"]:
        port = "" if app_claim["tls_port"] == 443 else f":{app_claim['tls_port']}"
        body += ["if ($scheme = http) {", f"    return 301 https://$host{port}$request_uri;", "}"]
    # With a preview on the live address, a map of preview-match.conf chooses the live locations' upstream.
    upstream = upstream_variable(app) if role == "live" and app_claim.get("preview_match") else f"{app}_{role}"
    body += [
        f"proxy_pass http://{upstream};",
        "# HTTP/1.1 without \"Connection: close\" keeps the connections to the app servers open.",
        "proxy_http_version 1.1;",
        'proxy_set_header Connection "";',
        "proxy_set_header Host $host;",
        "proxy_set_header X-Real-IP $remote_addr;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        f"proxy_next_upstream {options['proxy_next_upstream']};",
        f"proxy_connect_timeout {options['proxy_connect_timeout']};",
        f"proxy_send_timeout {options['proxy_send_timeout']};",
        f"proxy_read_timeout {options['proxy_read_timeout']};",
    ]
    if options["colour_header"]:
        body.append(f"add_header X-Bluegreen-Colour {colour_variable(app)} always;")
    if role == "live":
        # The watch after a switch counts each colour's requests and 5xx in the counts log. An access_log here stops
        # the ones this location would inherit, so the access log is written here too.
        body += ["# Each request, for the watch's per-colour counts (bluegreen.core.nginx_traffic), and the access log.",
                 f"access_log {options['counts_log']} {log_format_name(app)};"]
        if options["access_log"]:
            body.append(f"access_log {options['access_log']};")
    lines = []
    for block in [f"location {prefix}"] if prefix == "/" else [f"location {prefix}/", f"location = {prefix}"]:
        lines += [block + " {", *("    " + line for line in body), "}"]
    return lines


def app_site(app_claim: dict, servers: dict, paths: dict, options: dict) -> str:
    """The app's own file in the site directory: its claim, its upstream includes, colour map and own listeners."""
    app = app_claim["app"]
    app_dir = os.path.join(paths["conf_dir"], app)
    lines = [
        f"# Blue-green routing of {app}, written by bluegreen.core (provision rewrites it; changes here are lost).",
        _apps.CLAIM_PREFIX + json.dumps(app_claim, sort_keys=True, separators=(",", ":")),
        f"# The live colour is the target of {app_dir}/live.conf (upstream-blue.conf or upstream-green.conf, or",
        "# upstream-weighted.conf during a weighted step), switched by bluegreen.core.nginx_traffic; preview.conf points",
        "# at the idle colour.",
        f"include {app_dir}/live.conf;",
        f"include {app_dir}/preview.conf;",
    ]
    if app_claim.get("preview_match"):
        lines.append(f"include {app_dir}/{PREVIEW_MATCH_FILE};")
    lines += [
        "",
        '# The colour of the server that answered. After a retry $upstream_addr lists every server tried ("a:1, b:2");',
        "# the last one answered.",
        f"map $upstream_addr {colour_variable(app)} {{",
        '    default "";',
    ]
    for colour in _validate.COLOURS:
        for address in dict.fromkeys(servers.get(colour) or []):
            lines.append(f'    "~(?:^|\\s){re.escape(address)}$" {colour};')
    lines += [
        "}",
        "",
        f"# One line per request of the live locations in {options['counts_log']}, from which the watch after a",
        "# switch counts each colour's requests and 5xx: the time, the status, the colour that answered (\"-\" for none)",
        "# and the time of each app server tried.",
        f"log_format {log_format_name(app)} '{_nginx_log.log_format(colour_variable(app))}';",
    ]
    # The app's own listeners serve every path: a path prefix chooses the app among others on a host name only.
    bind = app_claim["bind_address"]
    own = []
    if not app_claim["hostnames"] and app_claim["manage"] == "full":
        own.append(("# Users' traffic: the live colour.", app_claim["listen_port"], "live"))
    if app_claim["preview_port"]:
        own.append(("# The idle colour, for smoke tests before a switch.", app_claim["preview_port"], "preview"))
    for comment, port, role in own:
        blocks = _location_blocks(dict(app_claim, tls_redirect=False), role, options, "/")
        lines += ["", comment, "server {", f"    listen {_listen(bind, port)};", *("    " + line for line in blocks), "}"]
    return "\n".join(lines) + "\n"


def shared_config(claims: dict, paths: dict, tls_apps: set) -> str | None:
    """The server blocks of the apps chosen by host name (``manage: full``), or None when no app is.

    Every host name's server listens on every shared port, as one listener would; a host name with a certificate (an
    app on it has TLS) on the TLS ports too. Unknown host names reach the default server: 404, and no TLS handshake.
    """
    chosen = {app: c for app, c in claims.items() if c["hostnames"] and c["manage"] == "full"}
    if not chosen:
        return None
    http = sorted({(c["bind_address"], c["listen_port"]) for c in chosen.values()}, key=lambda b: (b[1], b[0]))
    tls = sorted({(c["bind_address"], c["tls_port"]) for c in chosen.values() if c["tls_port"]}, key=lambda b: (b[1], b[0]))
    hosts: dict = {}
    for app, c in sorted(chosen.items()):
        for role, names in (("live", c["hostnames"]), ("preview", c["preview_hostnames"])):
            for name in names:
                hosts.setdefault(name, []).append((app, role, c["path_prefix"]))
    lines = [
        "# The server blocks of the apps chosen by host name, written by bluegreen.core from every app's claim (the",
        "# second line of each app's bluegreen-<app>.conf); provision rewrites it, changes here are lost.",
        "",
        "# A host name no app claims: 404 over HTTP, and no TLS handshake (no certificate is given away).",
        "server {",
        *(f"    listen {_listen(bind, port)} default_server;" for bind, port in http),
        *(f"    listen {_listen(bind, port)} ssl http2 default_server;" for bind, port in tls),
    ]
    if tls:
        lines.append("    ssl_reject_handshake on;")
    lines += ["    default_type text/plain;", f'    return 404 "{NOT_ROUTED}";', "}"]
    for name in sorted(hosts):
        routed = hosts[name]
        certified = [app for app, _role, _prefix in routed if app in tls_apps]
        lines += ["", "server {", *(f"    listen {_listen(bind, port)};" for bind, port in http)]
        if certified:
            pem = os.path.join(paths["cert_dir"], f"{certified[0]}.pem")
            lines += [*(f"    listen {_listen(bind, port)} ssl http2;" for bind, port in tls),
                      f"    ssl_certificate {pem};", f"    ssl_certificate_key {pem};"]
        lines.append(f"    server_name {name};")
        for app, role, _prefix in routed:
            file = LOCATIONS_FILE if role == "live" else PREVIEW_LOCATIONS_FILE
            lines.append(f"    include {os.path.join(paths['conf_dir'], app, file)};")
        if all(prefix != "/" for _app, _role, prefix in routed):
            lines += ["    location / {", "        default_type text/plain;", f'        return 404 "{NOT_ROUTED}";', "    }"]
        lines.append("}")
    return "\n".join(lines) + "\n"

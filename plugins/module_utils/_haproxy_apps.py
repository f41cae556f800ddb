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
  <map_dir>/bluegreen.map     the live and preview entry of every app (``<app>`` and ``<app>.preview``): the
                              switch changes an app's two lines and no other
  <map_dir>/routes.map        ``host/path -> app`` for the shared listener, longest first (``map_dir`` matching)
  <cert_dir>/<app>.pem        the app's certificate and key, 0600; the shared TLS listener loads the directory

Everything here is pure: it turns claims and file texts into file texts, and claims into errors.
"""

from __future__ import annotations

import json
import re

from ansible_collections.bluegreen.core.plugins.module_utils import _haproxy, _validate
from ansible_collections.bluegreen.core.plugins.module_utils._errors import BluegreenError

SHARED_FILE = "00-bluegreen.cfg"
MAP_FILE = "bluegreen.map"
ROUTES_FILE = "routes.map"
NO_APP_BACKEND = "bluegreen_no_app"
CLAIM_PREFIX = "# bluegreen-claim: "

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME_RE = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")
_PATH_SEGMENT_RE = re.compile(r"^[A-Za-z0-9._~!$&'()*+,=:@%-]+$")
_DURATION_RE = re.compile(r"^[0-9]+(?:us|ms|s|m|h|d)?$")
_ADDRESS_RE = re.compile(r"^(?:\*|[0-9.]+|\[[0-9A-Fa-f:.]+\])$")


class ConflictError(BluegreenError):
    """Two apps on one router claim the same host name and path, or the same port."""


# --------------------------------------------------------------------------- inputs


def hostname(value: object, param: str) -> str:
    """A DNS name as users type it; HAProxy compares it lower-cased."""
    text = value.lower().rstrip(".") if isinstance(value, str) else value
    if not isinstance(text, str) or not _HOSTNAME_RE.fullmatch(text) or "." not in text and text != "localhost":
        raise _validate.ValidationError(
            f"{param} {value!r} is not a valid DNS host name: use labels of 1-63 letters, digits and '-' (not at "
            "either end), joined by dots, at most 253 characters, with no port, scheme, path or wildcard", param,
        )
    return text


def path_prefix(value: object, param: str = "path_prefix") -> str:
    """``/`` or ``/a/b`` (no trailing slash): the route matches the path and everything below it."""
    if not isinstance(value, str) or not value.startswith("/"):
        raise _validate.ValidationError(f"{param} must be a path starting with '/', got {value!r}", param)
    segments = [segment for segment in value.split("/") if segment]
    if "//" in value.rstrip("/") or any(not _PATH_SEGMENT_RE.fullmatch(s) or s in (".", "..") for s in segments):
        raise _validate.ValidationError(
            f"{param} {value!r} must be '/' or '/'-separated segments of letters, digits and URL punctuation "
            "(no spaces, '?', '#', '.' or '..' segments, or empty segments)", param,
        )
    return "/" + "/".join(segments) if segments else "/"


def address(value: object, param: str = "bind_address") -> str:
    if not isinstance(value, str) or not _ADDRESS_RE.fullmatch(value):
        raise _validate.ValidationError(f"{param} must be '*', an IPv4 address or an IPv6 address in brackets, got {value!r}", param)
    return value


def duration(value: object, param: str) -> str:
    text = str(value)
    if isinstance(value, bool) or not _DURATION_RE.fullmatch(text):
        raise _validate.ValidationError(f"{param} must be an HAProxy duration such as 1s or 500ms, got {value!r}", param)
    return text


def claim(params: dict) -> dict:
    """The app's claim on the router, from the module's parameters: what it routes and which ports it binds."""
    app = _validate.name(params["app"], "app")
    hostnames = [hostname(name, "hostnames") for name in params.get("hostnames") or []]
    previews = [hostname(name, "preview_hostnames") for name in params.get("preview_hostnames") or []]
    prefix = path_prefix(params.get("path_prefix") or "/")
    for name in previews:
        if name in hostnames:
            raise _validate.ValidationError(f"preview_hostnames lists {name}, which is also one of hostnames", "preview_hostnames")
    if previews and not hostnames:
        raise _validate.ValidationError("preview_hostnames needs hostnames: the preview host names share their listener", "preview_hostnames")
    tls = bool(params.get("tls_certificate") or params.get("tls_certificate_content"))
    if tls and not hostnames:
        raise _validate.ValidationError(
            "tls_certificate needs hostnames: TLS is served by the shared listener, which picks the app by host name", "tls_certificate"
        )
    if params.get("tls_redirect") and not tls:
        raise _validate.ValidationError("tls_redirect needs a tls_certificate to redirect to", "tls_redirect")
    preview_port = int(params.get("preview_port") or 0)
    if preview_port:
        _validate.port(preview_port, "preview_port")
    elif not previews:
        raise _validate.ValidationError("the preview needs preview_port or preview_hostnames: set one of them", "preview_port")
    listen_port = _validate.port(params["listen_port"], "listen_port")
    tls_port = _validate.port(params["tls_port"], "tls_port") if tls else None
    if tls_port == listen_port:
        raise _validate.ValidationError(f"tls_port and listen_port are both {listen_port}: use two ports", "tls_port")
    if preview_port and preview_port in (listen_port, tls_port):
        raise _validate.ValidationError(f"preview_port {preview_port} is also the live listener's port: use another", "preview_port")
    return {
        "app": app,
        "manage": params.get("manage", "full"),
        "bind_address": address(params.get("bind_address") or "*"),
        "hostnames": hostnames,
        "path_prefix": prefix,
        "preview_hostnames": previews,
        "listen_port": listen_port,
        "preview_port": preview_port,
        "tls_port": tls_port,
        "tls_redirect": bool(params.get("tls_redirect")) and tls,
    }


def routes(app_claim: dict) -> dict:
    """route key (``host`` or ``host/path``) -> map key (``<app>`` or ``<app>.preview``)."""
    suffix = "" if app_claim["path_prefix"] == "/" else app_claim["path_prefix"]
    keys = {f"{name}{suffix}": app_claim["app"] for name in app_claim["hostnames"]}
    keys.update({f"{name}{suffix}": app_claim["app"] + _haproxy.PREVIEW_SUFFIX for name in app_claim["preview_hostnames"]})
    return keys


def binds(app_claim: dict) -> list:
    """(address, port, kind) this app binds: kind ``own`` (its listener alone) or ``http`` / ``tls`` (shared)."""
    address_ = app_claim["bind_address"]
    result = []
    if app_claim["hostnames"]:
        if app_claim["manage"] == "full":
            result.append((address_, app_claim["listen_port"], "http"))
            if app_claim["tls_port"]:
                result.append((address_, app_claim["tls_port"], "tls"))
    elif app_claim["manage"] == "full":
        result.append((address_, app_claim["listen_port"], "own"))
    if app_claim["preview_port"]:
        result.append((address_, app_claim["preview_port"], "own"))
    return result


def _same_socket(a: str, b: str) -> bool:
    return a == b or "*" in (a, b)


def check_claims(claims: dict, app: str, reserved: dict | None = None) -> None:
    """Refuse ``app``'s claim when it takes a route, or a port outside a shared listener, that another app of the
    router (or the router itself, ``reserved``) already has. The others are taken as they are, ``app`` last."""
    order = [*sorted(name for name in claims if name != app), app]
    owner: dict = {}
    for name in order:
        for key in routes(claims[name]):
            if key in owner and owner[key] != name:
                raise ConflictError(
                    f"apps {owner[key]} and {name} both claim the host name and path {_route_words(key)}: "
                    f"give {name} another host name or bluegreen_path_prefix", "hostnames",
                )
            owner[key] = name
    seen: list = [(address_, port, "own", f"the router's own {what}") for what, (address_, port) in (reserved or {}).items()]
    for name in order:
        for address_, port, kind in binds(claims[name]):
            for other_address, other_port, other_kind, other_app in seen:
                if port != other_port or not _same_socket(address_, other_address) or other_app == name:
                    continue
                if kind == other_kind != "own" and address_ == other_address:
                    continue
                raise ConflictError(
                    f"{_port_words(name, port, kind)} is already {_port_words(other_app, port, other_kind, taken=True)}: "
                    f"give {name} another port (apps share a port only through the listener chosen by host name, "
                    "bluegreen_hostnames)", "listen_port" if kind != "own" or port == claims[name]["listen_port"] else "preview_port",
                )
            seen.append((address_, port, kind, name))


def _route_words(key: str) -> str:
    return key if "/" in key else key + "/"


def _port_words(app: str, port: int, kind: str, taken: bool = False) -> str:
    what = {"own": "its own listener", "http": "the shared HTTP listener", "tls": "the shared TLS listener"}[kind]
    if taken:
        return f"used by {app} for {what}" if not app.startswith("the router") else f"used by {app}"
    return f"port {port}, which {app} wants for {what},"


# --------------------------------------------------------------------------- files


def read_claim(text: str | None) -> dict | None:
    """The claim an app's file carries on a line of its own; None when there is none (not ours, or damaged)."""
    for line in (text or "").splitlines()[:5]:
        if line.startswith(CLAIM_PREFIX):
            try:
                value = json.loads(line[len(CLAIM_PREFIX):])
            except ValueError:
                return None
            return value if isinstance(value, dict) and isinstance(value.get("app"), str) else None
    return None


def app_config(app_claim: dict, servers: dict, paths: dict, options: dict) -> str:
    """The app's own file: its claim, its own listeners and its two backends."""
    app = app_claim["app"]
    map_file = paths["map_file"]
    lines = [
        f"# Blue-green routing of {app}, written by bluegreen.core (provision rewrites it; changes here are lost).",
        CLAIM_PREFIX + json.dumps(app_claim, sort_keys=True, separators=(",", ":")),
        f"# The live colour is the entry {app!r} of {map_file}, switched through the runtime API without a reload.",
    ]
    bind = app_claim["bind_address"]
    if not app_claim["hostnames"] and app_claim["manage"] == "full":
        lines += ["", f"frontend {app}_live", f"    bind {bind}:{app_claim['listen_port']}",
                  f"    use_backend %[str({app}),map({map_file},{app}_green)]"]
    if app_claim["preview_port"]:
        lines += ["", f"frontend {app}_preview", f"    bind {bind}:{app_claim['preview_port']}",
                  f"    use_backend %[str({app}{_haproxy.PREVIEW_SUFFIX}),map({map_file},{app}_blue)]"]
    for colour in _validate.COLOURS:
        lines += [
            "",
            f"backend {app}_{colour}",
            "    balance roundrobin",
            f"    option httpchk GET {options['health_path']}",
            "    http-check expect status 200",
            f"    default-server inter {options['check_inter']} fall {options['check_fall']} rise {options['check_rise']}",
        ]
        if options["colour_header"]:
            lines.append(f"    http-response set-header X-Bluegreen-Colour {colour}")
        lines += [f"    server {server['name']} {_host_port(server)} check" for server in servers.get(colour) or []]
    return "\n".join(lines) + "\n"


def _host_port(server: dict) -> str:
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
    entries = {}
    for app in sorted(claims):
        entries.update(routes(claims[app]))
    ordered = sorted(entries.items(), key=lambda item: (-len(item[0]), item[0]))
    header = "# host[/path] -> app, written by bluegreen.core from every app's claim (longest first: the first match wins)\n"
    return header + "".join(f"{key} {value}\n" for key, value in ordered)


def map_with_app(text: str | None, app: str, present: bool, seed: dict | None = None) -> str:
    """The shared map with the app's two entries added (if missing: a provision never undoes a switch) or removed.

    A new app routes live traffic to green, which has no release yet, so its first release goes to blue; ``seed``
    gives the values of an app that had a map file of its own (the single-file layout), so its routing carries over.
    """
    keys = (app, app + _haproxy.PREVIEW_SUFFIX)
    if not present:
        lines = [line for line in (text or "").splitlines() if (line.split(None, 1) or [""])[0] not in keys]
        return "\n".join(lines) + "\n" if lines else ""
    current = _haproxy.map_file_values(text)
    seed = seed or {}
    defaults = ((keys[0], seed.get(keys[0], f"{app}_green")), (keys[1], seed.get(keys[1], f"{app}_blue")))
    missing = {key: value for key, value in defaults if key not in current}
    return _haproxy.render_map_file(text, missing) if missing else (text or "")

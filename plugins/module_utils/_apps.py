# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Many apps on one router, whatever the router: each app's claim, the checks between claims, and the files.

PRIVATE to the bluegreen.core collection: may change without notice.

An app's *claim* on a router is what it routes and binds: its host names, path prefix, preview host names, ports and
TLS. Each router keeps it in the app's own file (``_haproxy_apps``, ``_nginx_apps``), on a line of its own, so the next
app provisioned on the router reads every other app's claim from the router itself and refuses a host name and path,
or a port, that another app already has.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bluegreen.core.plugins.module_utils import _fs, _validate
from ansible_collections.bluegreen.core.plugins.module_utils._errors import BluegreenError, os_error_text

CLAIM_PREFIX = "# bluegreen-claim: "
# The key of an app's preview in a router's routes (``<app>.preview``).
PREVIEW_SUFFIX = ".preview"

# The options of the claim that haproxy_app and nginx_app share (documented in doc_fragments/app_claim.py).
CLAIM_ARGUMENTS = {
    "app": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "manage": {"type": "str", "choices": ["full", "app"], "default": "full"},
    "router": {"type": "str"},
    "colour_header": {"type": "bool", "default": True},
    "bind_address": {"type": "str", "default": "*"},
    "listen_port": {"type": "int", "default": 80},
    "preview_port": {"type": "int", "default": 8080},
    "hostnames": {"type": "list", "elements": "str", "default": []},
    "preview_hostnames": {"type": "list", "elements": "str", "default": []},
    "path_prefix": {"type": "str", "default": "/"},
    "tls_certificate": {"type": "path"},
    "tls_certificate_content": {"type": "str", "no_log": True},
    "tls_port": {"type": "int", "default": 443},
    "tls_redirect": {"type": "bool", "default": False},
}

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME_RE = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")
_PATH_SEGMENT_RE = re.compile(r"^[A-Za-z0-9._~!$&'()*+,=:@%-]+$")
_ADDRESS_RE = re.compile(r"^(?:\*|[0-9.]+|\[[0-9A-Fa-f:.]+\])$")
# A cookie or header name that is safe in a router's configuration as it is (no quoting, no '#').
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ConflictError(BluegreenError):
    """Two apps on one router claim the same host name and path, or the same port."""


# --------------------------------------------------------------------------- inputs


def preview_match(header: object, cookie: object, value: object) -> dict | None:
    """What reaches the idle colour through the live address: a request whose header ``header`` (or cookie
    ``cookie``) has ``value``; None when ``value`` is empty (off). The claim keeps the value's SHA-256 only, so no
    claim, and no diff of one, holds the value."""
    if value in (None, ""):
        return None
    if not isinstance(value, str) or any(ord(ch) < 32 or ord(ch) == 127 for ch in value) or len(value) > 256:
        # The value is a secret: the message never shows it.
        raise _validate.ValidationError("preview_value must be text of at most 256 characters with no newline or other "
                                        "control character", "preview_value")
    if value != value.strip(" "):
        # HTTP drops the spaces around a header's value (and so do both routers), so no request could carry it.
        raise _validate.ValidationError("preview_value must not start or end with a space: HTTP drops those from a header "
                                        "or cookie, so no request could match it", "preview_value")
    names = {}
    for param, name in (("preview_header", header), ("preview_cookie", cookie)):
        if name in (None, ""):
            continue
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise _validate.ValidationError(
                f"{param} {name!r} is not a valid header or cookie name: use 1 to 64 letters, digits, '-', '_' and '.', "
                "starting with a letter or digit", param)
        names[param.split("_")[1]] = name
    if not names:
        raise _validate.ValidationError("preview_value needs preview_header or preview_cookie: the request part that carries it",
                                        "preview_header")
    return dict(names, sha256=hashlib.sha256(value.encode("utf-8")).hexdigest().upper())


def hostname(value: object, param: str) -> str:
    """A DNS name as users type it; HAProxy compares it lower-cased."""
    text = value.lower().rstrip(".") if isinstance(value, str) else value
    if not isinstance(text, str) or not _HOSTNAME_RE.fullmatch(text) or "." not in text and text != "localhost":
        raise _validate.ValidationError(
            f"{param} {value!r} is not a valid DNS host name: use labels of 1-63 letters, digits and '-' (not at "
            "either end), joined by dots, at most 253 characters, with no port, scheme, path or wildcard", param,
        )
    return text


def health_host(value: object, param: str = "health_host") -> str:
    """The Host header of an app's health checks: a DNS name, optionally with ``:port``; empty (or None) for none."""
    if value is None or value == "":
        return ""
    name, _colon, port = value.rpartition(":") if isinstance(value, str) and ":" in value else (value, "", None)
    try:
        host = hostname(name, param)
        return host if port is None else f"{host}:{_validate.port(port, param)}"
    except _validate.ValidationError:
        raise _validate.ValidationError(
            f"{param} {value!r} is not a host name or host:port: use a DNS name such as shop.example.com (labels of "
            "letters, digits and '-', joined by dots), optionally followed by ':' and a port from 1 to 65535, with no "
            "scheme, path or spaces; or leave it empty for none", param,
        ) from None


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
    keys.update({f"{name}{suffix}": app_claim["app"] + PREVIEW_SUFFIX for name in app_claim["preview_hostnames"]})
    return keys


def all_routes(claims: dict) -> list:
    """Every app's (route key, map key), longest first: the first that matches a request wins."""
    entries = {}
    for app in sorted(claims):
        entries.update(routes(claims[app]))
    return sorted(entries.items(), key=lambda item: (-len(item[0]), item[0]))


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


class Change:
    """One file of the router: what it holds now and what it should hold (None: absent)."""

    def __init__(self, path: str, before: str | None, after: str | None, mode: int, secret: bool | str = False) -> None:
        """``secret``: the file's diff shows its SHA-256 only, under this name (True: a certificate and key)."""
        self.path, self.before, self.after, self.mode, self.secret = path, before, after, mode, secret

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> dict:
        def shown(text: str | None) -> str:
            if text is None:
                return ""
            if self.secret:
                what = "certificate and key" if self.secret is True else self.secret
                return f"({what}, sha256 {hashlib.sha256(text.encode()).hexdigest()})\n"
            return text
        return {"before": shown(self.before), "after": shown(self.after), "before_header": self.path, "after_header": self.path}


def read(path: str) -> str | None:
    try:
        return _fs.read_text(path)
    except (OSError, UnicodeDecodeError) as exc:
        text = os_error_text(exc) if isinstance(exc, OSError) else "not text"
        raise BluegreenError(f"cannot read {path}: {text}") from None


def other_claims(directory: str, app: str, prefix: str, suffix: str, param: str = "conf_dir") -> dict:
    """Every other app's claim, from the files ``<prefix><name><suffix>`` of the directory whose claim line names
    that app (files without one are not ours)."""
    claims = {}
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return claims
    except OSError as exc:
        raise BluegreenError(f"cannot list {directory}: {os_error_text(exc)}", param) from None
    for name in names:
        if not (name.startswith(prefix) and name.endswith(suffix)) or name == f"{prefix}{app}{suffix}":
            continue
        claim_ = read_claim(read(os.path.join(directory, name)))
        if claim_ and claim_["app"] == name[len(prefix):len(name) - len(suffix)]:
            claims[claim_["app"]] = claim_
    return claims


def certificate(module, params: dict) -> str | None:
    """The app's PEM (``tls_certificate`` or ``tls_certificate_content``), checked to hold a certificate and the
    private key that goes with it."""
    if params["tls_certificate_content"]:
        text, where, param = params["tls_certificate_content"], "the content of tls_certificate", "tls_certificate_content"
    elif params["tls_certificate"]:
        path = params["tls_certificate"]
        where, param = f"the file {path}", "tls_certificate"
        try:
            with open(path, encoding="ascii") as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            reason = os_error_text(exc) if isinstance(exc, OSError) else "it is not a PEM text file"
            raise BluegreenError(f"tls_certificate: cannot read {path}: {reason}", param) from None
    else:
        return None
    if "-----BEGIN CERTIFICATE-----" not in text or "PRIVATE KEY-----" not in text:
        missing = "certificate" if "-----BEGIN CERTIFICATE-----" not in text else "private key"
        raise BluegreenError(
            f"tls_certificate: {where} has no {missing}: give one PEM with the certificate "
            "(its chain after it) and its private key", param,
        )
    openssl = module.get_bin_path("openssl", required=not module.check_mode)
    if openssl is None:
        module.warn("openssl is not installed yet, so the certificate was not checked")
        return text if text.endswith("\n") else text + "\n"
    keys = []
    for command in ([openssl, "x509", "-noout", "-pubkey"], [openssl, "pkey", "-pubout"]):
        rc, out, err = module.run_command(command, data=text, binary_data=True)
        if rc != 0:
            what = "certificate" if "x509" in command else "private key"
            raise BluegreenError(
                f"tls_certificate: openssl cannot read the {what} in {where}: "
                f"{(err or out).strip().splitlines()[0] if (err or out).strip() else 'rc ' + str(rc)}", param,
            )
        keys.append(out.strip())
    if keys[0] != keys[1]:
        raise BluegreenError(f"tls_certificate: the private key in {where} is not the certificate's", param)
    return text if text.endswith("\n") else text + "\n"


def main(argument_spec: dict, run, router: str) -> None:
    """An app module's main: ``run(module)`` with every failure said as ``Cannot route <app> on the <router> router <name>``."""
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=[("tls_certificate", "tls_certificate_content")])
    try:
        result = run(module)
    except (BluegreenError, OSError) as exc:
        text = os_error_text(exc) if isinstance(exc, OSError) else str(exc)
        where = f"{module.params['app']} on the {router} router {module.params['router'] or socket.gethostname()}"
        module.fail_json(msg=f"Cannot route {where}: {text}", app=module.params["app"], param=getattr(exc, "param", None), files=[])
    module.exit_json(**result)

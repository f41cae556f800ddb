# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HAProxy runtime API client, map-file helpers and the blue-green switch logic.

PRIVATE to the bluegreen.core collection: may change without notice.

The runtime API is used in non-interactive mode: one connection per command, one line
sent, the answer read until HAProxy closes the connection. Every socket operation has a
deadline, so nothing here can hang on a stuck or overloaded HAProxy.

Answers as HAProxy 2.6.12 (Debian 12) gives them, for reference:
  set/add/del map, success    "\\n"
  unknown map file            "Unknown map identifier. Please use #<id> or <file>.\\n\\n"
  set map, key not in map     "entry not found.\\n\\n"
  show stat, unknown proxy    "No such proxy.\\n\\n"
  command above socket level  "Permission denied\\n\\n"
  unknown command             "Unknown command, but maybe one of the following ones is ...\\n\\n"
"""

from __future__ import annotations

import csv
import errno
import os
import re
import socket
import time

from ansible_collections.bluegreen.core.plugins.module_utils import _fs, _history, _validate
from ansible_collections.bluegreen.core.plugins.module_utils._errors import BluegreenError

DEFAULT_SOCKET = "/run/haproxy/admin.sock"
DEFAULT_TIMEOUT = 5.0
MAP_DIR = "/etc/haproxy/maps"
PREVIEW_SUFFIX = ".preview"
# A weighted step (``_haproxy_apps.step_lines``): ``<app>.share`` percent of the clients, by the hash of their sticky key,
# go to the backend in ``<app>.step``; the rest to the backend in ``<app>``. ``<app>.share`` 0 (or none) is no step.
STEP_SUFFIX = ".step"
SHARE_SUFFIX = ".share"
# A sticky key in bucket 0 (its xxh32 mod 100 is 0; tests/unit checks it with benchmarks/probe.py's xxh32, which the
# bench checks against HAProxy): a request that carries it goes to the step's colour whenever the step gives that colour
# any share, so the watch's probes that carry it can expect the new colour at every step.
WATCH_STICKY_KEY = "bluegreen-watch-169"


def watch_probe_headers(sticky: object) -> dict | None:
    """The request headers that carry WATCH_STICKY_KEY as the app's sticky key (``sticky``: its claim's {by, name}, as
    ``_haproxy_apps.sticky`` gives it); None when the app has none."""
    if not isinstance(sticky, dict) or not isinstance(sticky.get("name"), str) or not sticky["name"]:
        return None
    if sticky.get("by") == "header":
        return {sticky["name"]: WATCH_STICKY_KEY}
    if sticky.get("by") in ("cookie", "request_cookie"):
        return {"Cookie": f"{sticky['name']}={WATCH_STICKY_KEY}"}
    return None


# The map key that sends an app's live traffic to its maintenance page while present (``:`` is in no app's name).
MAINTENANCE_SUFFIX = ":maintenance"
DRAIN_POLL_INTERVAL = 0.5

# Past this an answer is not a runtime-API reply we understand; stop reading.
_MAX_REPLY_BYTES = 64 * 1024 * 1024
_UNIX_PATH_MAX = 107
# Defence in depth: _validate already refuses these, but nothing with them ever reaches the socket.
_UNSAFE_ARG_RE = re.compile(r"[\s;\\\x00-\x1f\x7f]")
_TCP_RE = re.compile(r"^(?:(?P<family>ipv4|ipv6)@)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):(?P<port>[0-9]{1,5})$")
_MAP_ENTRY_RE = re.compile(r"^(?P<id>0x[0-9a-fA-F]+) (?P<key>\S+) ?(?P<value>.*)$")
_MAP_LIST_RE = re.compile(r"^(?P<id>-?[0-9]+) \((?P<file>.*?)\) ?(?P<description>.*)$")
_NEW_VERSION_RE = re.compile(r"^New version created: (\d+)$")
_GET_MAP_FIELD_RE = re.compile(r'(?P<name>[a-z_]+)=(?P<value>"(?:[^"\\]|\\.)*"|[^,]*)')


class HAProxyError(BluegreenError):
    """Talking to HAProxy failed; ``param`` names the module option at fault, when there is one."""


class SwitchFailed(HAProxyError):
    """A switch failed part-way; the previous routing was restored as far as possible."""

    def __init__(self, message: str, cutover_attempted: bool, restored: bool) -> None:
        super().__init__(message)
        self.cutover_attempted = cutover_attempted
        self.restored = restored


# --------------------------------------------------------------------------- addresses


def parse_address(address: object) -> tuple:
    """Return (socket family, connect address) for a unix path or ``[ipv4@|ipv6@]host:port``."""
    if not isinstance(address, str) or not address:
        raise HAProxyError("socket must be a unix socket path or host:port", param="socket")
    if _UNSAFE_ARG_RE.search(address):
        raise HAProxyError(f"socket {address!r} contains whitespace or control characters", param="socket")
    path = address[len("unix@"):] if address.startswith("unix@") else address
    if path.startswith("/"):
        if len(path.encode("utf-8")) > _UNIX_PATH_MAX:
            raise HAProxyError(f"socket path {path!r} is longer than the {_UNIX_PATH_MAX} bytes a unix socket allows", param="socket")
        return socket.AF_UNIX, path
    match = _TCP_RE.fullmatch(address)
    if not match:
        raise HAProxyError(
            f"socket {address!r} is neither an absolute unix socket path (like {DEFAULT_SOCKET}) "
            "nor host:port (like 127.0.0.1:9999 or ipv4@127.0.0.1:9999)",
            param="socket",
        )
    port = int(match.group("port"))
    if not 1 <= port <= 65535:
        raise HAProxyError(f"socket {address!r} has port {port}, outside 1-65535", param="socket")
    host = match.group("host")
    if host.startswith("["):
        return socket.AF_INET6, (host[1:-1], port)
    family = socket.AF_INET6 if match.group("family") == "ipv6" else socket.AF_INET
    return family, (host, port)


def build_command(*args: str) -> str:
    """Join arguments into one runtime-API line, refusing anything that could split or escape it."""
    for arg in args:
        if not isinstance(arg, str) or not arg or _UNSAFE_ARG_RE.search(arg):
            raise HAProxyError(
                f"refusing to send {arg!r} to HAProxy: command arguments must be non-empty and contain "
                "no whitespace, ';', '\\' or control characters"
            )
    return " ".join(args)


# --------------------------------------------------------------------------- parsers


def _to_int(value: str) -> int | str | None:
    if value == "":
        return None
    if value.lstrip("-").isdigit():
        return int(value)
    return value


def parse_stat_csv(text: str) -> list:
    """``show stat`` CSV -> list of dicts; numbers become ints and empty fields None."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("# "):
        raise HAProxyError(f"unexpected answer to show stat: {_excerpt(text)}")
    rows = list(csv.reader([lines[0][2:]] + [line for line in lines[1:] if line.strip()]))
    header = rows[0]
    result = []
    for row in rows[1:]:
        record = {}
        for key, value in zip(header, row):
            if key and key != "-":
                record[key] = _to_int(value)
        result.append(record)
    return result


def parse_map_entries(text: str) -> list:
    """``show map <file>`` -> [{"id", "key", "value"}] in HAProxy's order."""
    entries = []
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _MAP_ENTRY_RE.match(line)
        if not match:
            raise HAProxyError(f"unexpected line in the answer to show map: {_excerpt(line)}")
        entries.append(match.groupdict())
    return entries


def parse_map_list(text: str) -> list:
    """``show map`` -> [{"id", "file", "description"}] for every map HAProxy loaded."""
    maps = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = _MAP_LIST_RE.match(line)
        if match:
            maps.append(match.groupdict())
    return maps


def parse_get_map(text: str) -> dict:
    """``get map <file> <key>`` -> {"found": bool, "key": ..., "value": ...}."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    if not first.startswith("type="):
        raise HAProxyError(f"unexpected answer to get map: {_excerpt(text)}")
    fields = {}
    for match in _GET_MAP_FIELD_RE.finditer(first):
        value = match.group("value")
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        fields.setdefault(match.group("name"), value)
    return {"found": fields.get("found") == "yes", "key": fields.get("key"), "value": fields.get("value")}


def _excerpt(text: str, limit: int = 200) -> str:
    text = text.strip()
    return repr(text if len(text) <= limit else text[:limit] + "...")


# --------------------------------------------------------------------------- the client


class RuntimeAPI:
    """One HAProxy stats socket (``level admin``), one command per connection."""

    def __init__(self, address: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.family, self.target = parse_address(address)
        self.address = address
        try:
            self.timeout = float(timeout)
        except (TypeError, ValueError):
            raise HAProxyError(f"timeout must be a number of seconds, got {timeout!r}", param="timeout") from None
        if not 0 < self.timeout <= 3600:
            raise HAProxyError(f"timeout must be above 0 and at most 3600 seconds, got {timeout!r}", param="timeout")
        self.sent: list = []

    def describe(self) -> str:
        return f"socket {self.address}"

    def run(self, *args: str) -> str:
        """Send one command; return HAProxy's answer without the trailing blank line."""
        command = build_command(*args)
        deadline = time.monotonic() + self.timeout
        sock = self._connect(deadline)
        try:
            self.sent.append(command)
            self._send(sock, command, deadline)
            raw = self._read(sock, command, deadline)
        finally:
            sock.close()
        text = raw.decode("utf-8", errors="replace")
        return text.rstrip("\n")

    def _connect(self, deadline: float) -> socket.socket:
        # A failure to connect says router_unreachable: HAProxy did not answer, so its message leads and the socket
        # option is only a suspect (the switch role's message says so).
        sock = socket.socket(self.family, socket.SOCK_STREAM)
        try:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            sock.connect(self.target)
        except socket.timeout:
            sock.close()
            raise HAProxyError(
                f"timed out after {self.timeout:g}s connecting to HAProxy's {self.describe()}: "
                "is HAProxy overloaded, or is a firewall dropping the connection?",
                param="socket", fields={"router_unreachable": True},
            ) from None
        except OSError as exc:
            sock.close()
            raise HAProxyError(self._connect_error(exc), param="socket", fields={"router_unreachable": True}) from None
        return sock

    def _connect_error(self, exc: OSError) -> str:
        where = self.describe()
        if self.family == socket.AF_UNIX:
            if exc.errno == errno.ENOENT:
                return (
                    f"{where} does not exist: is HAProxy running, and does haproxy.cfg have "
                    f"`stats socket {self.target} mode 660 level admin` in its global section?"
                )
            if exc.errno in (errno.EACCES, errno.EPERM):
                return (
                    f"permission denied opening {where}: run the task as root (become: true) or as a member "
                    "of the socket's group, and check the `mode` of the `stats socket` line"
                )
            if exc.errno in (errno.ECONNREFUSED, errno.ENOTSOCK):
                return (
                    f"nothing is listening on {where} (connection refused): HAProxy is not running, "
                    "or the file is a stale socket or not a socket at all"
                )
        elif exc.errno == errno.ECONNREFUSED:
            return (
                f"nothing is listening on {where} (connection refused): is HAProxy running with "
                "`stats socket ipv4@<host>:<port> level admin`?"
            )
        return f"could not connect to HAProxy's {where}: {exc.strerror or exc}"

    def _send(self, sock: socket.socket, command: str, deadline: float) -> None:
        try:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            sock.sendall(command.encode("utf-8") + b"\n")
        except socket.timeout:
            raise self._timeout_error(command) from None
        except OSError as exc:
            raise HAProxyError(f"sending `{command}` to HAProxy's {self.describe()} failed: {exc.strerror or exc}") from None

    def _read(self, sock: socket.socket, command: str, deadline: float) -> bytes:
        chunks = []
        size = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._timeout_error(command)
            try:
                sock.settimeout(remaining)
                chunk = sock.recv(65536)
            except socket.timeout:
                raise self._timeout_error(command) from None
            except OSError as exc:
                raise HAProxyError(f"reading HAProxy's answer to `{command}` on {self.describe()} failed: {exc.strerror or exc}") from None
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
            if size > _MAX_REPLY_BYTES:
                raise HAProxyError(f"HAProxy's answer to `{command}` on {self.describe()} is larger than {_MAX_REPLY_BYTES} bytes")

    def _timeout_error(self, command: str) -> HAProxyError:
        return HAProxyError(
            f"HAProxy did not finish answering `{command}` on {self.describe()} within {self.timeout:g}s "
            "(timeout): it may be overloaded or stuck; raise `timeout` only if it is known to be slow",
            param="timeout",
        )

    def fail_on_error_reply(self, command: tuple, reply: str) -> None:
        """Turn HAProxy's plain-text error replies into HAProxyError with advice."""
        text = " ".join(command)
        first = reply.strip().splitlines()[0] if reply.strip() else ""
        if first.startswith("Unknown map identifier"):
            raise HAProxyError(self._unknown_map_message(command), param="map_file")
        if first.startswith("Permission denied"):
            raise HAProxyError(
                f"HAProxy refused `{text}` on {self.describe()}: Permission denied. The socket needs "
                "`level admin` in its `stats socket` line"
            )
        if first.startswith("Unknown command"):
            raise HAProxyError(f"HAProxy on {self.describe()} does not know the command `{text}`: is it older than 2.4?")
        if first.startswith(("No such proxy", "No such backend")):
            raise HAProxyError(f"HAProxy on {self.describe()} has no backend named {command[2]!r}", param="backends")
        raise HAProxyError(f"HAProxy answered `{text}` on {self.describe()} with an error: {_excerpt(reply)}")

    def _unknown_map_message(self, command: tuple) -> str:
        map_file = next((arg for arg in command[2:] if arg.startswith("/")), command[-1])
        try:
            known = [entry["file"] for entry in self.list_maps()]
        except HAProxyError:
            known = []
        listed = ", ".join(known) if known else "none"
        return (
            f"HAProxy does not know the map file {map_file} (maps it has loaded: {listed}): map_file must be the "
            "path exactly as written in haproxy.cfg's map() converter, and HAProxy must have been reloaded since"
        )

    # ---- maps

    def list_maps(self) -> list:
        reply = self.run("show", "map")
        if reply and not reply.startswith("# id"):
            self.fail_on_error_reply(("show", "map"), reply)
        return parse_map_list(reply)

    def map_entries(self, map_file: str) -> list:
        command = ("show", "map", map_file)
        reply = self.run(*command)
        if reply and not _MAP_ENTRY_RE.match(reply.splitlines()[0]):
            self.fail_on_error_reply(command, reply)
        return parse_map_entries(reply)

    def get_map(self, map_file: str, key: str) -> str | None:
        command = ("get", "map", map_file, key)
        reply = self.run(*command)
        if not reply.startswith("type="):
            self.fail_on_error_reply(command, reply)
        found = parse_get_map(reply)
        return found["value"] if found["found"] else None

    def set_map(self, map_file: str, key: str, value: str) -> None:
        """Point ``key`` at ``value`` (every entry with that key); add the entry if HAProxy has none."""
        command = ("set", "map", map_file, key, value)
        reply = self.run(*command)
        if reply.strip().startswith("entry not found"):
            self.add_map(map_file, key, value)
        elif reply.strip():
            self.fail_on_error_reply(command, reply)

    def add_map(self, map_file: str, key: str, value: str) -> None:
        self._expect_empty(("add", "map", map_file, key, value))

    def del_map(self, map_file: str, key: str) -> None:
        self._expect_empty(("del", "map", map_file, key))

    def prepare_map(self, map_file: str) -> int:
        """``prepare map``: a new, empty version of the map to fill with ``add map @<version>``; returns its number."""
        command = ("prepare", "map", map_file)
        reply = self.run(*command)
        found = _NEW_VERSION_RE.match(reply.strip())
        if not found:
            self.fail_on_error_reply(command, reply)
        return int(found.group(1))

    def add_map_version(self, map_file: str, version: int, key: str, value: str) -> None:
        self._expect_empty(("add", "map", f"@{version}", map_file, key, value))

    def commit_map(self, map_file: str, version: int) -> None:
        """``commit map``: the prepared version replaces every entry of the map, in one step for every request."""
        self._expect_empty(("commit", "map", f"@{version}", map_file))

    def _expect_empty(self, command: tuple) -> None:
        reply = self.run(*command)
        if reply.strip():
            self.fail_on_error_reply(command, reply)

    # ---- stats

    def stat_rows(self, backend: str) -> list:
        """``show stat <backend> 6 -1``: the backend row and its servers' rows (type 2 + 4)."""
        command = ("show", "stat", backend, "6", "-1")
        reply = self.run(*command)
        if not reply.startswith("# "):
            self.fail_on_error_reply(command, reply)
        rows = [row for row in parse_stat_csv(reply) if row.get("pxname") == backend]
        if not any(row.get("svname") == "BACKEND" for row in rows):
            raise HAProxyError(f"{backend!r} on {self.describe()} is a frontend, not a backend", param="backends")
        return rows

    def backend(self, name: str) -> dict:
        return backend_summary(name, self.stat_rows(name))

    def backend_servers(self, name: str) -> list:
        return self.backend(name)["servers"]


# --------------------------------------------------------------------------- stats summaries


def _num(value: object) -> int:
    return value if isinstance(value, int) else 0


def is_up(status: object) -> bool:
    """Only UP counts (also "UP 1/3", a server still up while its checks start failing)."""
    return isinstance(status, str) and status.startswith("UP")


def server_summary(row: dict) -> dict:
    return {
        "name": row.get("svname"),
        "addr": row.get("addr"),
        "status": row.get("status"),
        "check_status": row.get("check_status"),
        "check_desc": row.get("check_desc"),
        "weight": row.get("weight"),
        "scur": _num(row.get("scur")),
        "qcur": _num(row.get("qcur")),
        "stot": _num(row.get("stot")),
        "hrsp_2xx": _num(row.get("hrsp_2xx")),
        "hrsp_5xx": _num(row.get("hrsp_5xx")),
    }


def backend_summary(name: str, rows: list) -> dict:
    servers = [server_summary(row) for row in rows if row.get("svname") != "BACKEND"]
    totals = next(row for row in rows if row.get("svname") == "BACKEND")
    requests = totals.get("req_tot")
    return {
        "name": name,
        "status": totals.get("status"),
        "servers": servers,
        "up": up_count(servers),
        "total": len(servers),
        "sessions": _num(totals.get("scur")),
        "queued": _num(totals.get("qcur")),
        "requests": requests if isinstance(requests, int) else _num(totals.get("stot")),
        "http_2xx": _num(totals.get("hrsp_2xx")),
        "http_5xx": _num(totals.get("hrsp_5xx")),
        # HAProxy's average response time over the backend's last 1024 requests, in ms (null before any).
        "response_ms": totals.get("rtime") if isinstance(totals.get("rtime"), int) else None,
    }


def up_count(servers: list) -> int:
    return sum(1 for server in servers if is_up(server.get("status")))


def remaining_sessions(backend: dict) -> int:
    """Sessions still on a backend's servers, plus requests queued on them or on the backend."""
    return sum(s["scur"] + s["qcur"] for s in backend["servers"]) + backend["queued"]


def describe_servers(servers: list) -> str:
    parts = []
    for server in servers:
        check = f" {server['check_status']}" if server.get("check_status") else ""
        parts.append(f"{server['name']} {server['status']}{check}")
    return ", ".join(parts) if parts else "no servers"


def wait_for_drain(api: RuntimeAPI, backend: str, timeout: float, *, interval: float | None = None,
                   clock=time.monotonic, sleep=time.sleep) -> dict:
    """Poll ``show stat`` until the backend has no sessions or ``timeout`` seconds pass; never kills any."""
    interval = DRAIN_POLL_INTERVAL if interval is None else interval
    start = clock()
    while True:
        remaining = remaining_sessions(api.backend(backend))
        waited = clock() - start
        if remaining == 0 or waited >= timeout:
            return {
                "backend": backend,
                "completed": remaining == 0,
                "remaining_sessions": remaining,
                "waited_s": round(waited, 3),
            }
        sleep(max(min(interval, timeout - waited), 0.0))


# --------------------------------------------------------------------------- map files and layout


def default_map_file(app: str) -> str:
    """The map every app of a router shares (one key per app), so several apps can switch in one transaction."""
    return f"{MAP_DIR}/bluegreen.map"


def default_backends(app: str) -> dict:
    return {colour: f"{app}_{colour}" for colour in _validate.COLOURS}


def validate_map_file(path: object, param: str = "map_file") -> str:
    if not isinstance(path, str) or not path.startswith("/") or _UNSAFE_ARG_RE.search(path):
        raise _validate.ValidationError(
            f"{param} {path!r} must be an absolute path without whitespace, ';', '\\' or control characters", param
        )
    if "/../" in path + "/" or "/./" in path + "/":
        raise _validate.ValidationError(f"{param} {path!r} must not contain '.' or '..' components", param)
    return path


def validate_socket(address: object, param: str = "socket") -> str:
    try:
        parse_address(address)
    except HAProxyError as exc:
        raise _validate.ValidationError(str(exc).replace("socket", param, 1), param) from None
    return str(address)


class Layout:
    """The names one app's blue-green routing uses in HAProxy."""

    def __init__(self, app: str, map_file: str | None = None, backends: dict | None = None) -> None:
        self.app = _validate.name(app, "app")
        self.map_file = validate_map_file(map_file or default_map_file(app))
        chosen = default_backends(app)
        for colour, backend in (backends or {}).items():
            if colour not in _validate.COLOURS:
                raise _validate.ValidationError(f"backends has an unknown key {colour!r}: use blue and green")
            if backend is not None:
                chosen[colour] = _validate.name(backend, f"backends.{colour}")
        if chosen["blue"] == chosen["green"]:
            raise _validate.ValidationError(f"backends.blue and backends.green must differ, both are {chosen['blue']!r}")
        self.backends = chosen
        self.live_key = app
        self.preview_key = app + PREVIEW_SUFFIX
        self.maintenance_key = app + MAINTENANCE_SUFFIX
        self.step_key = app + STEP_SUFFIX
        self.share_key = app + SHARE_SUFFIX

    def colour_of(self, backend: str | None) -> str | None:
        for colour, name in self.backends.items():
            if name == backend:
                return colour
        return None


def runtime_values(entries: list) -> dict:
    """key -> list of values, in HAProxy's order (a key can appear more than once)."""
    values: dict = {}
    for entry in entries:
        values.setdefault(entry["key"], []).append(entry["value"])
    return values


def map_file_values(text: str | None) -> dict:
    """key -> value of the first line with that key, as HAProxy's map loader reads the file."""
    values: dict = {}
    for line in (text or "").splitlines():
        fields = line.split(None, 1)
        if not fields or fields[0].startswith("#"):
            continue
        values.setdefault(fields[0], fields[1].strip() if len(fields) > 1 else "")
    return values


def render_map_file(text: str | None, desired: dict) -> str:
    """Set each desired key in a map file (a value of None removes its lines); other lines stay as they are, in
    place; missing keys are appended."""
    lines = (text or "").splitlines()
    seen = set()
    result = []
    for line in lines:
        fields = line.split(None, 1)
        key = fields[0] if fields else ""
        if key in desired:
            seen.add(key)
            if desired[key] is None:
                continue
            value = fields[1].strip() if len(fields) > 1 else ""
            result.append(line if value == desired[key] else f"{key} {desired[key]}")
        else:
            result.append(line)
    result.extend(f"{key} {value}" for key, value in desired.items() if key not in seen and value is not None)
    return "\n".join(result) + "\n" if result else ""


def map_lock_path(map_file: str) -> str:
    """The flock every change to a map file holds: the switch of one app, and a provision adding or removing one."""
    return os.path.join(os.path.dirname(map_file), f".{os.path.basename(map_file)}.lock")


# --------------------------------------------------------------------------- the switch


def share_of(value: str | None) -> int:
    """The percent in an ``<app>.share`` entry, as the listener's rules apply it: 0 for none or for what is not a whole
    number (the rules' integer conversion fails, so no client is in the step), and a number outside 0-100 as the
    nearest end (no bucket is below 0, every bucket is below 100)."""
    try:
        number = int(value or 0)
    except ValueError:
        return 0
    return max(0, min(number, 100))


def split(layout: Layout, values: dict) -> dict | None:
    """The split the entries ``values`` (key -> value) give: all to the colour of ``<app>``, or ``<app>.share`` percent
    to the colour of ``<app>.step`` and the rest to that of ``<app>``; None when ``<app>`` names no colour."""
    live = layout.colour_of(values.get(layout.live_key))
    share = share_of(values.get(layout.share_key))
    step = layout.colour_of(values.get(layout.step_key))
    if live is None:
        return None
    if share in (0, 100) or step is None or step == live:
        return _history.full(step if share == 100 and step else live)
    return {step: share, live: 100 - share}


class SwitchPlan:
    """What a switch (``weight`` 100) or a weighted step must change, computed from what HAProxy and the map file say
    now. The entries are changed in the order of ``desired``, each order safe for the requests in between: a step
    names its backend (``<app>.step``) before it gives it a share; a whole switch moves ``<app>`` before it ends the
    step, so no request goes back to the old colour on the way; going back from a step is one ``set map`` of the share."""

    def __init__(self, layout: Layout, colour: str, preview: bool, entries: list, file_text: str | None,
                 weight: int = 100) -> None:
        self.layout = layout
        self.colour = _validate.colour(colour)
        self.weight = _validate.share(weight)
        other = _validate.other_colour(colour)
        self.runtime_before = runtime_values(entries)
        self.file_before = file_text
        file_values = map_file_values(file_text)
        if self.weight < 100:
            if layout.share_key not in self.runtime_before:
                raise HAProxyError(
                    f"HAProxy's map {layout.map_file} has no {layout.share_key} entry, so {layout.app}'s listener cannot "
                    f"give {colour} a share of its traffic: its routing was provisioned before weighted steps, or with "
                    "manage=app. Provision the app again on this router (bluegreen.core.provision), or switch with weight "
                    "100. Nothing was changed", param="weight")
            self.desired = {layout.step_key: layout.backends[colour], layout.live_key: layout.backends[other],
                            layout.share_key: str(self.weight)}
            preview_colour = colour
        else:
            self.desired = {layout.live_key: layout.backends[colour]}
            if layout.share_key in self.runtime_before or layout.share_key in file_values:
                self.desired[layout.share_key] = "0"
            preview_colour = other
        self.preview_colour = preview_colour if preview else None
        if preview:
            self.desired[layout.preview_key] = layout.backends[preview_colour]
        self.file_after = render_map_file(file_text, self.desired)
        self.runtime_changes = [key for key, value in self.desired.items() if not _all_equal(self.runtime_before.get(key), value)]
        live_values = self.runtime_before.get(layout.live_key, [])
        self.previous_backend = live_values[0] if live_values else None
        self.previous_colour = layout.colour_of(self.previous_backend)
        self._from = split(layout, {key: values[0] for key, values in self.runtime_before.items() if values})
        self._file_values = file_values

    @property
    def weights(self) -> dict:
        return {self.colour: self.weight, _validate.other_colour(self.colour): 100 - self.weight}

    @property
    def from_weights(self) -> dict | None:
        return self._from

    @property
    def file_changed(self) -> bool:
        return self.file_after != (self.file_before or "")

    @property
    def changed(self) -> bool:
        return bool(self.runtime_changes) or self.file_changed

    @property
    def moves_live_traffic(self) -> bool:
        """True when the split (in HAProxy or in the file) is not the one asked for yet."""
        return (_history.shares(self.weights) != _history.shares(self._from)
                or _history.shares(split(self.layout, self._file_values)) != _history.shares(self.weights))

    def diff(self) -> dict:
        path = self.layout.map_file
        return {
            "before": self.file_before or "",
            "after": self.file_after,
            "before_header": path,
            "after_header": path,
        }


def _all_equal(values: list | None, expected: str) -> bool:
    return bool(values) and all(value == expected for value in values)


def read_map_file(path: str) -> str | None:
    try:
        return _fs.read_text(path)
    except OSError as exc:
        raise HAProxyError(f"cannot read the map file {path}: {exc.strerror or exc}", param="map_file") from None


def plan_switch(api: RuntimeAPI, layout: Layout, colour: str, preview: bool, weight: int = 100) -> SwitchPlan:
    entries = api.map_entries(layout.map_file)
    return SwitchPlan(layout, colour, preview, entries, read_map_file(layout.map_file), weight)


def read_backend(api: RuntimeAPI, layout: Layout, colour: str) -> dict:
    """One colour's backend summary; an unknown backend fails naming backends.<colour>."""
    name = layout.backends[colour]
    try:
        return api.backend(name)
    except HAProxyError as exc:
        if exc.param != "backends":
            raise
        raise HAProxyError(f"backends.{colour}: {exc}", param="backends") from None


def read_counts(api: RuntimeAPI, layout: Layout, colour: str) -> dict:
    """What the watch samples of one colour: its backend's cumulative requests and 5xx, response time, and health."""
    backend = read_backend(api, layout, colour)
    return {"requests": backend["requests"], "http_5xx": backend["http_5xx"], "response_ms": backend["response_ms"],
            "healthy": backend["up"] > 0}


def refuse_unhealthy(layout: Layout, colour: str, target: dict) -> str:
    servers = target["servers"]
    return (
        f"refusing to route {layout.app} to {colour}: none of its {len(servers)} servers is UP "
        f"({describe_servers(servers)}); fix them or use force=true"
    )


# The latest a staged change may be held for its commit instant (commit_at): the map's lock is held meanwhile.
COMMIT_WAIT_MAX_S = 30.0


def stage_switch(api: RuntimeAPI, plan: SwitchPlan) -> dict:
    """The first phase of a change made on several routers at once: prove that this router can take it, changing no
    routing. The new map file is written beside the map and removed (the folder is writable and has room for it), and
    HAProxy gives a new version of the map (``prepare map``, which no request sees until a commit; an uncommitted
    version is dropped by the next commit). The commit (apply_switch) reads the map again under its lock."""
    layout = plan.layout
    try:
        _fs.check_writable(layout.map_file, plan.file_after)
    except OSError as exc:
        raise HAProxyError(f"cannot write the map file {layout.map_file}: {exc.strerror or exc}") from None
    return {"staged_version": api.prepare_map(layout.map_file)}


def wait_until(instant: float, wall=time.time, sleep=time.sleep) -> float:
    """Sleep until the wall-clock ``instant`` (epoch seconds). Return how many milliseconds after it the caller came:
    0 when it came in time (it then goes on at the instant), else it goes on at once."""
    late_ms = round(max(wall() - instant, 0.0) * 1000, 3)
    while (left := instant - wall()) > 0:
        sleep(min(left, 0.05) if left > 0.002 else 0)
    return late_ms


def apply_switch(api: RuntimeAPI, plan: SwitchPlan, write=None, clock=time.perf_counter, commit_at: float | None = None,
                 wall=time.time, sleep=time.sleep) -> dict:
    """File first (so a reload keeps the switch), then one ``set map`` per entry, then verify.

    With ``commit_at`` (a change made on several routers at once), the entries change in one map transaction instead:
    the new version is filled (``prepare map``, ``add map @v``) and then committed at the wall-clock instant
    ``commit_at``, so every router moves at the same moment; ``committed_at`` and ``late_ms`` say when it did.

    All of it holds the map file's flock: other apps of the router share the file, and each run changes only its
    own app's lines, on the file as it is under the lock. Any failure restores the previous file lines and
    runtime values, then raises SwitchFailed.
    """
    write = write or _fs.atomic_write
    layout = plan.layout
    started = clock()
    cutover_ms = None
    file_written = False
    attempted: list = []
    timing: dict = {}
    with _fs.locked(map_lock_path(layout.map_file)):
        try:
            if plan.file_changed:
                write(layout.map_file, render_map_file(read_map_file(layout.map_file), plan.desired))
                file_written = True
            if commit_at is None:
                for key in plan.runtime_changes:
                    attempted.append(key)
                    before = clock()
                    api.set_map(layout.map_file, key, plan.desired[key])
                    if key in (layout.live_key, layout.share_key) and cutover_ms is None:
                        cutover_ms = round((clock() - before) * 1000, 3)
            elif plan.runtime_changes:
                def at_the_instant() -> None:
                    timing["late_ms"] = wait_until(commit_at, wall, sleep)
                    attempted.extend(plan.runtime_changes)
                    timing["committed_at"] = wall()

                entries = replace_entries(api.map_entries(layout.map_file), plan.desired)
                cutover_ms = commit_entries(api, layout.map_file, entries, clock, ready=at_the_instant)
            verify_routing(api, layout, plan.desired)
        except (HAProxyError, OSError) as exc:
            problems = restore(api, plan, file_written, attempted, write)
            raise SwitchFailed(
                _failure_message(layout, plan, exc, problems, touched=file_written or bool(attempted)),
                cutover_attempted=layout.live_key in attempted or layout.share_key in attempted,
                restored=not problems,
            ) from None
    return dict(timing, cutover_ms=cutover_ms, total_ms=round((clock() - started) * 1000, 3))


def verify_routing(api: RuntimeAPI, layout: Layout, desired: dict) -> None:
    now = runtime_values(api.map_entries(layout.map_file))
    for key, value in desired.items():
        if not _all_equal(now.get(key), value):
            raise HAProxyError(f"after the switch HAProxy's map {layout.map_file} says {key} -> {now.get(key)}, expected {value}")
    looked_up = api.get_map(layout.map_file, layout.live_key)
    if looked_up != desired[layout.live_key]:
        raise HAProxyError(f"after the switch `get map` resolves {layout.live_key} to {looked_up!r}, expected {desired[layout.live_key]!r}")


# --------------------------------------------------------------------------- several apps in one step


def group_desired(plans: list) -> dict:
    desired: dict = {}
    for plan in plans:
        desired.update(plan.desired)
    return desired


def replace_entries(entries: list, desired: dict) -> list:
    """The map's entries (key, value) with each desired key set, in their order; desired keys it lacks go last."""
    result = [(entry["key"], desired.get(entry["key"], entry["value"])) for entry in entries]
    present = {entry["key"] for entry in entries}
    return result + [(key, value) for key, value in desired.items() if key not in present and value is not None]


def commit_entries(api: RuntimeAPI, map_file: str, entries: list, clock=time.perf_counter, ready=None) -> float:
    """Replace every entry of the runtime map in one step (``prepare map``, ``add map @v`` per entry, ``commit map``);
    returns the milliseconds the commit took, the moment every request sees the new entries. ``ready``: called when the
    version is filled, just before the commit (to wait for an instant)."""
    version = api.prepare_map(map_file)
    for key, value in entries:
        api.add_map_version(map_file, version, key, value)
    if ready is not None:
        ready()
    before = clock()
    api.commit_map(map_file, version)
    return round((clock() - before) * 1000, 3)


def apply_group(api: RuntimeAPI, plans: list, write=None, clock=time.perf_counter) -> dict:
    """Switch several apps sharing one map in one step: their lines of the map file first, then one map transaction
    (so no request sees one app switched and another not), then verify each. All of it under the map's lock. Any
    failure puts back the previous lines and entries, then raises SwitchFailed."""
    write = write or _fs.atomic_write
    map_file = plans[0].layout.map_file
    desired = group_desired(plans)
    started = clock()
    file_written = committed = False
    with _fs.locked(map_lock_path(map_file)):
        entries = api.map_entries(map_file)
        before_text = read_map_file(map_file)
        try:
            if any(plan.file_changed for plan in plans):
                write(map_file, render_map_file(before_text, desired))
                file_written = True
            cutover_ms = commit_entries(api, map_file, replace_entries(entries, desired), clock)
            committed = True
            for plan in plans:
                verify_routing(api, plan.layout, plan.desired)
        except (HAProxyError, OSError) as exc:
            problems = []
            if committed:
                try:
                    commit_entries(api, map_file, [(entry["key"], entry["value"]) for entry in entries], clock)
                except HAProxyError as undo:
                    problems.append(f"could not put HAProxy's previous map entries back: {undo}")
            if file_written:
                problem = restore_lines(map_file, before_text, desired, write)
                problems += [problem] if problem else []
            apps = ", ".join(plan.layout.app for plan in plans)
            text = f"switching {apps} together failed: {getattr(exc, 'strerror', None) or exc}"
            if problems:
                text += ". Restoring the previous routing ALSO failed, check HAProxy by hand: " + "; ".join(problems)
            elif committed or file_written:
                text += ". The previous routing of every app and the map file were restored"
            else:
                text += ". Nothing was changed"
            raise SwitchFailed(text, cutover_attempted=committed, restored=not problems) from None
    return {"cutover_ms": cutover_ms, "total_ms": round((clock() - started) * 1000, 3)}


def restore_lines(map_file: str, before_text: str | None, keys, write) -> str | None:
    """Put the given keys' lines of the map file back as ``before_text`` had them (other apps' lines as they are now);
    return what went wrong, or None."""
    try:
        previous = map_file_values(before_text)
        write(map_file, render_map_file(read_map_file(map_file), {key: previous.get(key) for key in keys}))
    except (OSError, HAProxyError) as exc:
        return f"could not restore {map_file}: {getattr(exc, 'strerror', None) or exc}"
    return None


def restore(api: RuntimeAPI, plan: SwitchPlan, file_written: bool, attempted: list, write=None) -> list:
    """Put back what a failed switch touched; return what could not be put back."""
    write = write or _fs.atomic_write
    layout = plan.layout
    problems = []
    for key in reversed(attempted):
        previous = plan.runtime_before.get(key)
        try:
            if previous:
                api.set_map(layout.map_file, key, previous[0])
            else:
                api.del_map(layout.map_file, key)
        except HAProxyError as exc:
            problems.append(f"could not restore {key} -> {previous[0] if previous else '(no entry)'} in HAProxy: {exc}")
    if file_written and plan.file_before is None:
        try:
            os.unlink(layout.map_file)
        except OSError as exc:
            problems.append(f"could not restore {layout.map_file}: {exc.strerror or exc}")
    elif file_written:
        problem = restore_lines(layout.map_file, plan.file_before, plan.desired, write)
        problems += [problem] if problem else []
    return problems


def _failure_message(layout: Layout, plan: SwitchPlan, exc: Exception, problems: list, touched: bool) -> str:
    target = plan.desired[layout.live_key]
    if isinstance(exc, OSError):
        text = f"switching {layout.app} to {target} failed writing {layout.map_file}: {exc.strerror or exc}"
    else:
        text = f"switching {layout.app} to {target} failed: {exc}"
    if problems:
        return text + ". Restoring the previous routing ALSO failed, check HAProxy by hand: " + "; ".join(problems)
    if not touched:
        return text + ". Nothing was changed"
    return text + f". The previous routing ({layout.live_key} -> {plan.previous_backend or 'no entry'}) and map file were restored"


# --------------------------------------------------------------------------- reporting


def colour_from_values(layout: Layout, key: str, values: list | None, where: str, problems: list) -> str | None:
    if not values:
        problems.append(f"{where} has no entry for {key}")
        return None
    if len(set(values)) > 1:
        problems.append(f"{where} has {len(values)} entries for {key} with different backends: {', '.join(values)}")
    colour = layout.colour_of(values[0])
    if colour is None:
        problems.append(
            f"{where} routes {key} to {values[0]!r}, which is neither {layout.backends['blue']} nor {layout.backends['green']}"
        )
    return colour


def preview_colour_from(layout: Layout, values: list | None, problems: list) -> str | None:
    """The preview entry is optional; a value that is not one of the app's backends is a problem."""
    if not values:
        return None
    colour = layout.colour_of(values[0])
    if colour is None:
        problems.append(f"HAProxy's runtime map {layout.map_file} routes {layout.preview_key} to {values[0]!r}, which is not one of the app's backends")
    return colour


def read_routing(api: RuntimeAPI, layout: Layout) -> dict:
    """What HAProxy routes the app to (its runtime map, the truth), what the map file on disk says (what a reload
    would route to), the preview entry and both backends. Disagreements become problems; none is resolved."""
    problems: list = []
    runtime = runtime_values(api.map_entries(layout.map_file))
    live = colour_from_values(layout, layout.live_key, runtime.get(layout.live_key), f"HAProxy's runtime map {layout.map_file}", problems)
    preview = preview_colour_from(layout, runtime.get(layout.preview_key), problems)
    file_colour = _file_colour(layout, read_map_file(layout.map_file), problems)
    maintenance = layout.maintenance_key in runtime
    if maintenance != (layout.maintenance_key in map_file_values(read_map_file(layout.map_file))):
        problems.append(f"HAProxy {'sends' if maintenance else 'does not send'} {layout.app} to its maintenance page but "
                        f"{layout.map_file} says the opposite: the next reload would change it. Run bluegreen.core.maintenance "
                        "with bluegreen_maintenance=on or off to make them agree")
    file_text = read_map_file(layout.map_file)
    weights = split(layout, {key: values[0] for key, values in runtime.items() if values}) if live else None
    file_weights = split(layout, map_file_values(file_text)) if file_colour else None
    if live and file_colour and live != file_colour:
        problems.append(
            f"HAProxy routes {layout.app} to {live} but {layout.map_file} says {file_colour}: the next reload would "
            f"switch traffic to {file_colour}. Run haproxy_traffic with colour={live} to keep what is live, "
            f"or colour={file_colour} to go back"
        )
    elif weights and file_weights and _history.shares(weights) != _history.shares(file_weights):
        problems.append(
            f"HAProxy sends {layout.app} {_history.describe(weights)} but {layout.map_file} says "
            f"{_history.describe(file_weights)}: the next reload would change the split. Run haproxy_traffic again with "
            "the step it is at, or with weight 100 to end it"
        )
    return {
        "live_colour": live,
        "map_file_colour": file_colour,
        "weights": weights,
        "file_weights": file_weights,
        "preview_colour": preview,
        "maintenance": maintenance,
        "backends": {colour: read_backend(api, layout, colour) for colour in _validate.COLOURS},
        "problems": problems,
    }


def _file_colour(layout: Layout, text: str | None, problems: list) -> str | None:
    where = f"the map file {layout.map_file}"
    if text is None:
        problems.append(f"{where} does not exist on this host: HAProxy's next reload will fail or route to its default backend")
        return None
    value = map_file_values(text).get(layout.live_key)
    return colour_from_values(layout, layout.live_key, [value] if value is not None else None, where, problems)

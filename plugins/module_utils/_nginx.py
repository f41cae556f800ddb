# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Nginx blue-green switch: include links, upstream files, ``nginx -t``, reload and its proof.

PRIVATE to the bluegreen.core collection: may change without notice.

Nginx OSS has no runtime API, so a switch is a config change and a graceful reload. Per app,
under ``conf_dir`` (rendered by the bluegreen.core.nginx role, except the weighted file):

  <app>/upstream-blue.conf      upstream <app>_live { server ...; keepalive 32; }   (blue's servers)
  <app>/upstream-green.conf     the same with green's servers
  <app>/preview-blue.conf       upstream <app>_preview { ... }                      (blue's servers)
  <app>/preview-green.conf
  <app>/live.conf     -> upstream-<colour>.conf, or upstream-weighted.conf for a weighted step
  <app>/preview.conf  -> preview-<colour>.conf
  <app>/upstream-weighted.conf  written here: both colours' servers, weighted

Links are swapped with symlink(tmp) + rename(tmp, link), never ``ln -sfn`` (unlink then symlink).

Texts nginx 1.22.1 (Debian 12) gives, for reference:
  nginx -t, success (stderr)  "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok"
                              "nginx: configuration file /etc/nginx/nginx.conf test is successful"
  nginx -t, bad directive     "2025/01/01 12:00:00 [emerg] 2990#2990: unknown directive "x" in /etc/nginx/bluegreen/shop/live.conf:1"
                              "nginx: configuration file /etc/nginx/nginx.conf test failed"
  nginx -t, missing include   "... [emerg] 2991#2991: open() "/etc/nginx/bluegreen/shop/live.conf" failed (2: No such file or
                              directory) in /etc/nginx/nginx.conf:7"
  server weight=0             "... [emerg] 2992#2992: invalid parameter "weight=0" in ..."
  worker titles (cmdline)     "nginx: worker process", "nginx: worker process is shutting down"
"""

from __future__ import annotations

import concurrent.futures
import math
import os
import re
import socket
import stat
import time

from ansible_collections.bluegreen.core.plugins.module_utils import _command, _fs, _validate
from ansible_collections.bluegreen.core.plugins.module_utils._errors import BluegreenError

DEFAULT_CONF_DIR = "/etc/nginx/bluegreen"
DEFAULT_NGINX_CONF = "/etc/nginx/nginx.conf"
DEFAULT_PID_FILE = "/run/nginx.pid"
DEFAULT_ERROR_LOG = "/var/log/nginx/error.log"
DEFAULT_RELOAD_COMMAND = ["systemctl", "reload", "nginx"]
DEFAULT_RELOAD_TIMEOUT = 10.0
CONNECT_TIMEOUT = 2.0
# nginx -t re-reads the whole configuration: about 20 s for 100k server blocks (research notes).
COMMAND_TIMEOUT = 120.0
POLL_INTERVAL = 0.05
# After the first new worker shows up, how long to wait for as many new workers as there were old ones.
SETTLE_SECONDS = 1.0
PROC_ROOT = "/proc"

# The router's lock in conf_dir: a switch holds it while it tests and reloads, a provision while it writes and tests.
LOCK_FILE = ".nginx.lock"
LIVE_LINK = "live.conf"
PREVIEW_LINK = "preview.conf"
WEIGHTED_FILE = "upstream-weighted.conf"

# Error-log levels that fail a reload when the master (or the reload command's own nginx) logs them.
_FATAL_LEVELS = ("emerg", "alert", "crit")
_LOG_LINE_RE = re.compile(r"^(?:\d{4}/\d\d/\d\d \d\d:\d\d:\d\d |nginx: )\[(?P<level>[a-z]+)\] (?:(?P<pid>\d+)#\d+: )?(?P<text>.*)$")
_TOKEN_RE = re.compile(r"""\s+|#[^\n]*|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[{};]|[^\s{};"']+""")
_MAX_LOG_READ = 1024 * 1024


class NginxError(BluegreenError):
    """Nginx, its files or its processes are not as a switch needs; ``param`` names the option at fault."""


class SwitchFailed(NginxError):
    """A switch failed part-way; what was changed has been put back as far as possible."""

    def __init__(self, message: str, reload_attempted: bool, restored: bool) -> None:
        super().__init__(message)
        self.reload_attempted = reload_attempted
        self.restored = restored


def upstream_file(colour: str) -> str:
    return f"upstream-{colour}.conf"


def preview_file(colour: str) -> str:
    return f"preview-{colour}.conf"


# --------------------------------------------------------------------------- config syntax


class Directive:
    """One ``name args...;`` statement; ``raw`` keeps each token as written (quotes included)."""

    def __init__(self, raw: list, values: list, line: int) -> None:
        self.raw = raw
        self.values = values
        self.line = line

    @property
    def name(self) -> str:
        return self.values[0]

    def render(self) -> str:
        return " ".join(self.raw) + ";"


class Server:
    """A ``server`` line of an upstream block."""

    def __init__(self, directive: Directive) -> None:
        if len(directive.values) < 2:
            raise ValueError("a server line needs an address")
        self.address = directive.values[1]
        self.raw_address = directive.raw[1]
        self.parameters = list(directive.raw[2:])
        values = directive.values[2:]
        self.down = "down" in values
        self.backup = "backup" in values
        self.weight = 1
        for value in values:
            if value.startswith("weight="):
                try:
                    self.weight = int(value[len("weight="):])
                except ValueError:
                    raise ValueError(f"server {self.address} has a weight that is not a number: {value}") from None
                if self.weight < 1:
                    raise ValueError(f"server {self.address} has {value}; nginx needs a weight of 1 or more")

    @property
    def active(self) -> bool:
        """Takes part in normal balancing (not marked down, not a backup)."""
        return not self.down and not self.backup

    def render(self, weight: int) -> str:
        kept = [p for p in self.parameters if not _unquote(p).startswith("weight=")]
        return " ".join(["server", self.raw_address, f"weight={weight}"] + kept) + ";"

    def summary(self) -> dict:
        return {
            "address": self.address,
            "weight": self.weight,
            "backup": self.backup,
            "down": self.down,
            "parameters": [_unquote(p) for p in self.parameters],
        }


class Upstream:
    """The single ``upstream <name> { ... }`` block of one of an app's upstream files."""

    def __init__(self, path: str, name: str, directives: list, raw_name: str | None = None) -> None:
        self.path = path
        self.name = name
        self.raw_name = raw_name or name
        self.directives = directives
        self.servers = []
        for directive in directives:
            if directive.name == "server":
                try:
                    self.servers.append(Server(directive))
                except ValueError as exc:
                    raise NginxError(f"{path} line {directive.line}: {exc}") from None
        if not self.servers:
            raise NginxError(f"{path} has no server line in its upstream {name} block")

    @property
    def others(self) -> list:
        return [d for d in self.directives if d.name != "server"]


def _unquote(token: str) -> str:
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "\"'":
        return re.sub(r"\\(.)", r"\1", token[1:-1])
    return token


def tokenize(text: str, path: str) -> list:
    """nginx tokens as (raw, value, line); comments dropped. Refuses what nginx would not read."""
    tokens = []
    position = 0
    line = 1
    while position < len(text):
        match = _TOKEN_RE.match(text, position)
        if not match:
            raise NginxError(f"{path} line {line}: cannot read {text[position:position + 20]!r} (an unterminated quote?)")
        raw = match.group(0)
        if not raw[0].isspace() and raw[0] != "#":
            tokens.append((raw, _unquote(raw), line))
        line += raw.count("\n")
        position = match.end()
    return tokens


def parse_upstream(text: str, path: str) -> Upstream:
    """Parse a file that holds exactly one ``upstream`` block (comments allowed), as the role renders them."""
    tokens = tokenize(text, path)
    if len(tokens) < 3 or tokens[0][1] != "upstream" or tokens[2][0] != "{":
        raise NginxError(f"{path} must hold one `upstream <name> {{ ... }}` block and nothing else")
    name = tokens[1][1]
    directives = []
    current: list = []
    index = 3
    while index < len(tokens):
        raw, value, line = tokens[index]
        if raw == "}":
            break
        if raw == "{":
            raise NginxError(f"{path} line {line}: unexpected block inside upstream {name}")
        if raw == ";":
            if not current:
                raise NginxError(f"{path} line {line}: empty statement inside upstream {name}")
            directives.append(Directive([t[0] for t in current], [t[1] for t in current], current[0][2]))
            current = []
        else:
            current.append((raw, value, line))
        index += 1
    else:
        raise NginxError(f"{path}: the upstream {name} block is not closed with `}}`")
    if current:
        raise NginxError(f"{path} line {current[0][2]}: missing `;` after `{' '.join(t[0] for t in current)}`")
    if index + 1 != len(tokens):
        raise NginxError(f"{path} line {tokens[index + 1][2]}: unexpected text after the upstream {name} block")
    return Upstream(path, name, directives, raw_name=tokens[1][0])


# --------------------------------------------------------------------------- weighted upstream


def split_weights(blue: Upstream, green: Upstream, green_percent: int) -> dict:
    """Per-server weights that give green ``green_percent`` of the traffic and blue the rest.

    Each colour's total weight (its active servers) is scaled to the same common multiple, then
    by its percentage, so servers keep their relative weights within a colour. With equal totals
    (the usual case) every blue server gets ``100-p`` and every green one ``p``.
    """
    totals = {}
    for colour, upstream in (("blue", blue), ("green", green)):
        totals[colour] = sum(server.weight for server in upstream.servers if server.active)
        if totals[colour] == 0:
            raise NginxError(f"{upstream.path} has no server that is neither `down` nor `backup`, so it cannot take a share of the traffic")
    common = totals["blue"] * totals["green"] // math.gcd(totals["blue"], totals["green"])
    percent = {"blue": 100 - green_percent, "green": green_percent}
    return {colour: percent[colour] * (common // totals[colour]) for colour in ("blue", "green")}


def render_weighted(blue: Upstream, green: Upstream, green_percent: int) -> str:
    """upstream-weighted.conf for 0 < green_percent < 100: both colours' servers in one upstream.

    Server parameters other than ``weight`` are kept; the other directives (keepalive, zone,
    a balancing method) come from upstream-blue.conf, then those only upstream-green.conf has.
    """
    if not 0 < green_percent < 100:
        raise ValueError("a weighted upstream needs both colours above 0%")
    if blue.name != green.name:
        raise NginxError(
            f"{blue.path} defines upstream {blue.name} but {green.path} defines {green.name}: both colours must define "
            "the same upstream name, the one the server block's proxy_pass uses"
        )
    factors = split_weights(blue, green, green_percent)
    lines = [
        f"# Written by bluegreen.core.nginx_traffic: blue {100 - green_percent}%, green {green_percent}% of live traffic.",
        "# Built from upstream-blue.conf and upstream-green.conf; rewritten on each weighted step. Do not edit.",
        f"upstream {blue.raw_name} {{",
    ]
    for colour, upstream in (("blue", blue), ("green", green)):
        lines.append(f"    # {colour} {100 - green_percent if colour == 'blue' else green_percent}%")
        lines.extend(f"    {server.render(server.weight * factors[colour])}" for server in upstream.servers)
    blue_names = {directive.name for directive in blue.others}
    others = blue.others + [directive for directive in green.others if directive.name not in blue_names]
    lines.extend(f"    {directive.render()}" for directive in others)
    lines.append("}")
    return "\n".join(lines) + "\n"


def weights_of(weighted: Upstream, blue: Upstream, green: Upstream, problems: list) -> dict | None:
    """Percent per colour that a weighted upstream gives, matching its servers to the colour files by address."""
    owners: dict = {}
    for colour, upstream in (("blue", blue), ("green", green)):
        for server in upstream.servers:
            owners.setdefault(server.address, set()).add(colour)
    sums = {"blue": 0, "green": 0}
    for server in weighted.servers:
        if not server.active:
            continue
        colours = owners.get(server.address, set())
        if len(colours) != 1:
            where = "both colour files" if colours else "neither upstream-blue.conf nor upstream-green.conf"
            problems.append(
                f"server {server.address} of {weighted.path} is in {where}, so its share cannot be given a colour: "
                "run nginx_traffic again to rebuild the weighted file"
            )
            return None
        sums[colours.pop()] += server.weight
    total = sums["blue"] + sums["green"]
    if total == 0:
        problems.append(f"{weighted.path} has no active server")
        return None
    green_percent = round(100 * sums["green"] / total)
    return {"blue": 100 - green_percent, "green": green_percent}


# --------------------------------------------------------------------------- the app's files


class Layout:
    """Where one app's files are; the app name is checked before it reaches any path or file."""

    def __init__(self, conf_dir: object, app: object) -> None:
        self.app = _validate.name(app, "app")
        if not isinstance(conf_dir, str) or not os.path.isabs(conf_dir) or any(ch in conf_dir for ch in "\n\r\x00"):
            raise _validate.ValidationError(f"conf_dir must be an absolute path without newlines, got {conf_dir!r}")
        self.conf_dir = os.path.normpath(conf_dir)
        self.app_dir = os.path.join(self.conf_dir, self.app)

    def path(self, name: str) -> str:
        return os.path.join(self.app_dir, name)


class Link:
    """What one of the app's links (live.conf, preview.conf) points at; ``raw`` is readlink's text.

    ``times`` (atime, mtime in ns) lets a restore put the link back with its old times too, so that
    nginx_info does not mistake a restored link for one nginx has not loaded.
    """

    def __init__(self, path: str, raw: str | None, name: str | None, times: tuple | None = None) -> None:
        self.path = path
        self.raw = raw
        self.name = name
        self.times = times

    @property
    def exists(self) -> bool:
        return self.raw is not None


def read_link(layout: Layout, link: str, allowed: tuple) -> Link:
    """Read a link; a regular file, a directory, a target outside the app's folder or an unknown file is an error."""
    path = layout.path(link)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return Link(path, None, None)
    except OSError as exc:
        raise NginxError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not stat.S_ISLNK(info.st_mode):
        kind = "a directory" if os.path.isdir(path) else "a regular file"
        raise NginxError(
            f"{path} is {kind}, not a symlink: the nginx role renders it as a link to one of {', '.join(allowed)}; "
            "move it away (its content is what nginx serves now) and render the app with the role"
        )
    raw = os.readlink(path)
    target = os.path.normpath(raw if os.path.isabs(raw) else os.path.join(layout.app_dir, raw))
    inside = os.path.dirname(target) == layout.app_dir or os.path.dirname(os.path.realpath(target)) == os.path.realpath(layout.app_dir)
    if not inside:
        raise NginxError(f"{path} points outside {layout.app_dir} (-> {raw}): it must point at one of {', '.join(allowed)} beside it")
    name = os.path.basename(target)
    if name not in allowed:
        raise NginxError(f"{path} points at {raw}, which is none of {', '.join(allowed)}")
    return Link(path, raw, name, (info.st_atime_ns, info.st_mtime_ns))


def read_upstream(layout: Layout, name: str) -> Upstream:
    path = layout.path(name)
    try:
        text = _fs.read_text(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise NginxError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if text is None:
        raise NginxError(f"{path} does not exist: render the app's nginx files with the bluegreen.core.nginx role first")
    return parse_upstream(text, path)


def live_files() -> tuple:
    return (upstream_file("blue"), upstream_file("green"), WEIGHTED_FILE)


def preview_files() -> tuple:
    return (preview_file("blue"), preview_file("green"))


def colour_of_target(name: str | None) -> str | None:
    for colour in _validate.COLOURS:
        if name in (upstream_file(colour), preview_file(colour)):
            return colour
    return None


def weights_for(colour: str | None) -> dict | None:
    if colour is None:
        return None
    return {c: 100 if c == colour else 0 for c in _validate.COLOURS}


# --------------------------------------------------------------------------- the switch plan


class SwitchPlan:
    """What must change so that ``weight`` percent of live traffic goes to ``colour``.

    With weight 100, live.conf points at upstream-<colour>.conf and preview.conf at the other
    colour's preview file. Below 100, live.conf points at upstream-weighted.conf and preview.conf
    at the incoming colour's (it is still the one being tested), so a release that steps 10, 50,
    100 moves the preview only at the last step.
    """

    def __init__(self, layout: Layout, colour: str, weight: int, preview: bool) -> None:
        self.layout = layout
        self.colour = _validate.colour(colour)
        self.weight = _validate.share(weight)
        self.live = read_link(layout, LIVE_LINK, live_files())
        self.preview = read_link(layout, PREVIEW_LINK, preview_files())
        # The target colour's file is needed; the other's only for a weighted step, so that a rollback
        # still works when the colour being left has a damaged file.
        other = _validate.other_colour(self.colour)
        self.upstreams = {self.colour: read_upstream(layout, upstream_file(self.colour))}
        try:
            self.upstreams[other] = read_upstream(layout, upstream_file(other))
        except NginxError:
            if weight < 100:
                raise
        self.weighted_before = self._read_weighted()
        self.previous_weights = self._current_weights()
        self.previous_colour = next((c for c, w in (self.previous_weights or {}).items() if w == 100), None)
        if weight == 100:
            self.live_after = upstream_file(self.colour)
            self.weighted_after = None
        else:
            green = weight if self.colour == "green" else 100 - weight
            self.live_after = WEIGHTED_FILE
            self.weighted_after = render_weighted(self.upstreams["blue"], self.upstreams["green"], green)
        self.preview_colour = (self.colour if weight < 100 else _validate.other_colour(self.colour)) if preview else colour_of_target(self.preview.name)
        self.preview_after = preview_file(self.preview_colour) if preview else self.preview.name
        if preview and self.preview_changed and not os.path.exists(layout.path(self.preview_after)):
            raise NginxError(
                f"{layout.path(self.preview_after)} does not exist: render the app's nginx files with the bluegreen.core.nginx "
                "role, or set preview=false to leave the preview link alone"
            )

    def _read_weighted(self) -> str | None:
        path = self.layout.path(WEIGHTED_FILE)
        try:
            info = os.stat(path)
            self.weighted_times = (info.st_atime_ns, info.st_mtime_ns)
        except OSError:
            self.weighted_times = None
        try:
            return _fs.read_text(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise NginxError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None

    def _current_weights(self) -> dict | None:
        if self.live.name != WEIGHTED_FILE:
            return weights_for(colour_of_target(self.live.name))
        if self.weighted_before is None or len(self.upstreams) < 2:
            return None
        try:
            weighted = parse_upstream(self.weighted_before, self.layout.path(WEIGHTED_FILE))
        except NginxError:
            return None
        return weights_of(weighted, self.upstreams["blue"], self.upstreams["green"], [])

    @property
    def weights(self) -> dict:
        shares = {self.colour: self.weight, _validate.other_colour(self.colour): 100 - self.weight}
        return {colour: shares[colour] for colour in _validate.COLOURS}

    @property
    def from_weights(self) -> dict | None:
        return self.previous_weights

    @property
    def live_changed(self) -> bool:
        return self.live.name != self.live_after

    @property
    def weighted_changed(self) -> bool:
        return self.weighted_after is not None and self.weighted_after != self.weighted_before

    @property
    def preview_changed(self) -> bool:
        return self.preview_after is not None and self.preview.name != self.preview_after

    @property
    def changed(self) -> bool:
        return self.live_changed or self.weighted_changed or self.preview_changed

    @property
    def moves_live_traffic(self) -> bool:
        return self.live_changed or self.weighted_changed

    def links_text(self, after: bool) -> str:
        live = self.live_after if after and self.live_changed else self.live.raw
        preview = self.preview_after if after and self.preview_changed else self.preview.raw
        return f"{LIVE_LINK} -> {live or '(missing)'}\n{PREVIEW_LINK} -> {preview or '(missing)'}\n"

    def diff(self) -> list:
        diffs = [{
            "before": self.links_text(after=False),
            "after": self.links_text(after=True),
            "before_header": f"{self.layout.app_dir}/ (links)",
            "after_header": f"{self.layout.app_dir}/ (links)",
        }]
        if self.weighted_changed:
            path = self.layout.path(WEIGHTED_FILE)
            diffs.append({"before": self.weighted_before or "", "after": self.weighted_after, "before_header": path, "after_header": path})
        return diffs

    def summary_before(self) -> dict:
        return {"live_target": self.live.name, "colour": self.previous_colour, "weights": self.previous_weights}


def plan_switch(layout: Layout, colour: str, weight: int, preview: bool) -> SwitchPlan:
    if not os.path.isdir(layout.app_dir):
        raise NginxError(
            f"{layout.app_dir} does not exist: render the app's nginx files with the bluegreen.core.nginx role, "
            "or set conf_dir to where they are",
            param="conf_dir",
        )
    return SwitchPlan(layout, colour, weight, preview)


# --------------------------------------------------------------------------- files and links, atomically


def swap_link(path: str, target: str) -> None:
    """Point ``path`` at ``target`` in one rename: nginx sees the old link or the new one, never none."""
    _fs.atomic_symlink(path, target)


def _put_back_link(link: Link) -> None:
    if link.raw is None:
        try:
            os.unlink(link.path)
        except FileNotFoundError:
            pass
    else:
        swap_link(link.path, link.raw)
        _set_times(link.path, link.times, follow_symlinks=False)


def _set_times(path: str, times: tuple | None, follow_symlinks: bool = True) -> None:
    if times is None:
        return
    try:
        os.utime(path, ns=times, follow_symlinks=follow_symlinks)
    except (OSError, NotImplementedError):
        pass  # only nginx_info's "not reloaded yet" check relies on it


# --------------------------------------------------------------------------- processes (/proc)


class ProcReader:
    """Reads nginx's processes from /proc; ``root`` lets tests point it at a fake tree."""

    def __init__(self, root: str | None = None) -> None:
        self.root = root or PROC_ROOT

    def _read(self, *parts: str) -> str | None:
        try:
            with open(os.path.join(self.root, *parts), encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
            return None
        except PermissionError:
            return None

    def _stat_fields(self, pid: int) -> list | None:
        """Fields of /proc/<pid>/stat from the state on (the command name may hold spaces and parentheses)."""
        text = self._read(str(pid), "stat")
        if not text or ")" not in text:
            return None
        return text[text.rindex(")") + 2:].split()

    def alive(self, pid: int) -> bool:
        fields = self._stat_fields(pid)
        return fields is not None and fields[0] not in ("Z", "X")

    def parent(self, pid: int) -> int | None:
        fields = self._stat_fields(pid)
        return int(fields[1]) if fields else None

    def cmdline(self, pid: int) -> str:
        text = self._read(str(pid), "cmdline") or ""
        return " ".join(part for part in text.split("\x00") if part).strip()

    def children(self, pid: int) -> list:
        """Child PIDs, from task/*/children when the kernel has it, else by scanning every process's parent."""
        tasks = os.path.join(self.root, str(pid), "task")
        found = []
        listed = False
        try:
            task_ids = os.listdir(tasks)
        except OSError:
            task_ids = []
        for task in task_ids:
            text = self._read(str(pid), "task", task, "children")
            if text is not None:
                listed = True
                found.extend(int(child) for child in text.split())
        if listed:
            return sorted(set(found))
        return sorted(int(entry) for entry in self._pids() if self.parent(int(entry)) == pid)

    def _pids(self) -> list:
        try:
            return [entry for entry in os.listdir(self.root) if entry.isdigit()]
        except OSError:
            return []

    def start_time(self, pid: int) -> float | None:
        """When the process started, as a Unix time (from its start tick and the system's uptime)."""
        fields = self._stat_fields(pid)
        uptime = self._read("uptime")
        if not fields or len(fields) < 20 or not uptime:
            return None
        try:
            started_after_boot = int(fields[19]) / os.sysconf("SC_CLK_TCK")
            return time.time() - (float(uptime.split()[0]) - started_after_boot)
        except (ValueError, IndexError, OSError):
            return None


def read_pid_file(path: str) -> int | None:
    try:
        text = _fs.read_text(path)
    except PermissionError:
        raise NginxError(f"permission denied reading the pid file {path}: run the task as root (become: true)", param="pid_file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise NginxError(f"cannot read the pid file {path}: {getattr(exc, 'strerror', None) or exc}", param="pid_file") from None
    if text is None:
        return None
    text = text.strip()
    return int(text) if text.isdigit() else None


def workers(proc: ProcReader, master: int) -> tuple:
    """(active worker PIDs, PIDs of old workers still shutting down) among the master's children."""
    active, old = [], []
    for child in proc.children(master):
        title = proc.cmdline(child)
        if "worker process is shutting down" in title:
            old.append(child)
        elif "worker process" in title:
            active.append(child)
    return active, old


def running_master(proc: ProcReader, pid_file: str) -> int | None:
    pid = read_pid_file(pid_file)
    return pid if pid is not None and proc.alive(pid) else None


# --------------------------------------------------------------------------- the error log


class ErrorLog:
    """Reads what nginx appends to its error log after a given moment."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.offset: int | None = None
        try:
            self.offset = os.stat(path).st_size
        except OSError:
            self.offset = None

    @property
    def readable(self) -> bool:
        return self.offset is not None and os.access(self.path, os.R_OK)

    def new_lines(self) -> list:
        if self.offset is None:
            return []
        try:
            with open(self.path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                # A rotated (truncated or replaced) log starts again from its beginning.
                handle.seek(self.offset if size >= self.offset else 0)
                data = handle.read(_MAX_LOG_READ)
        except OSError:
            return []
        return data.decode("utf-8", errors="replace").splitlines()


def fatal_lines(lines: list, masters: set) -> tuple:
    """(fatal, other serious): emerg from anyone, alert/crit from a master; alert/crit from workers are only reported."""
    fatal, other = [], []
    for line in lines:
        match = _LOG_LINE_RE.match(line.strip())
        if not match or match.group("level") not in _FATAL_LEVELS:
            continue
        pid = match.group("pid")
        if match.group("level") == "emerg" or pid is None or int(pid) in masters:
            fatal.append(line.strip())
        else:
            other.append(line.strip())
    return fatal, other


# --------------------------------------------------------------------------- running nginx


def run_command(args: list, timeout: float = COMMAND_TIMEOUT) -> tuple:
    """(rc, stdout, stderr) of a command run without a shell; a missing program or a timeout is an NginxError."""
    return _command.run(args, timeout, NginxError)


class Nginx:
    """How to test and reload this host's nginx, and how to tell that a reload took."""

    def __init__(self, binary: str, conf: str, reload_command: list, pid_file: str, error_log: str,
                 reload_timeout: float, proc: ProcReader | None = None, runner=None, clock=time.monotonic, sleep=time.sleep) -> None:
        self.binary = binary
        self.conf = conf
        self.reload_command = list(reload_command)
        self.pid_file = pid_file
        self.error_log = error_log
        self.reload_timeout = reload_timeout
        self.proc = proc or ProcReader()
        self.runner = runner or run_command
        self.clock = clock
        self.sleep = sleep
        self.warnings: list = []

    def test_config(self) -> None:
        command = [self.binary, "-t", "-c", self.conf]
        try:
            rc, out, err = self.runner(command)
        except NginxError as exc:
            raise NginxError(f"cannot run nginx_binary: {exc}", param="nginx_binary") from None
        if rc != 0:
            text = (err.strip() or out.strip() or f"exit code {rc}")
            raise NginxError(f"`{' '.join(command)}` failed:\n{text}")

    def master(self) -> int | None:
        return running_master(self.proc, self.pid_file)

    def reload(self) -> dict:
        """Run reload_command and wait until the master runs new workers; fail on a fatal error-log line."""
        master = self.master()
        if master is None:
            raise NginxError(f"nginx is not running: no live process in {self.pid_file}", param="pid_file")
        old_active, _old = workers(self.proc, master)
        log = ErrorLog(self.error_log)
        started = self.clock()
        try:
            rc, out, err = self.runner(self.reload_command, timeout=max(COMMAND_TIMEOUT, self.reload_timeout))
        except NginxError as exc:
            raise NginxError(f"reload_command failed: {exc}", param="reload_command") from None
        if rc != 0:
            text = (err.strip() or out.strip() or "no output")
            raise NginxError(f"`{' '.join(self.reload_command)}` exited with {rc}:\n{text}")
        return self._wait_for_new_workers(master, old_active, log, started)

    def _wait_for_new_workers(self, master: int, old_active: list, log: ErrorLog, started: float) -> dict:
        deadline = started + self.reload_timeout
        masters = {master}
        settled_by = None
        while True:
            current = self.master() or master
            masters.add(current)
            fatal, other = fatal_lines(log.new_lines(), masters)
            if fatal:
                raise NginxError(f"nginx logged in {self.error_log} while reloading:\n" + "\n".join(fatal))
            active, _shutting_down = workers(self.proc, current) if self.proc.alive(current) else ([], [])
            new = [pid for pid in active if pid not in old_active]
            if new and settled_by is None:
                # A worker just forked still carries the master's title; give its siblings a moment to show up.
                settled_by = min(deadline, self.clock() + SETTLE_SECONDS)
            if new and (len(new) >= len(old_active) or self.clock() >= settled_by):
                self.warnings.extend(f"nginx logged during the reload: {line}" for line in other)
                return {
                    "master_pid": current,
                    "old_workers": old_active,
                    "new_workers": new,
                    "seconds": round(self.clock() - started, 3),
                }
            if not self.proc.alive(current):
                raise NginxError(f"the nginx master process {current} is gone after the reload (see {self.error_log} and `systemctl status nginx`)")
            if self.clock() >= deadline:
                where = f"and {self.error_log} has nothing at emerg, alert or crit level" if log.readable else (
                    f"and its error log {self.error_log} could not be read")
                raise NginxError(
                    f"nginx did not start new worker processes within {self.reload_timeout:g}s of `{' '.join(self.reload_command)}` "
                    f"(master {current}, workers still {', '.join(map(str, active)) or 'none'}) {where}: the new configuration "
                    "was not loaded"
                )
            self.sleep(POLL_INTERVAL)


# --------------------------------------------------------------------------- is the target colour up?

_ADDRESS_RE = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9_.-]+))(?::(?P<port>[0-9]{1,5}))?$")


def connect_target(address: str) -> tuple:
    """(family, address) to connect to for an upstream ``server`` address; nginx's default port is 80."""
    if address.startswith("unix:"):
        return socket.AF_UNIX, address[len("unix:"):]
    match = _ADDRESS_RE.fullmatch(address)
    if not match:
        raise ValueError(f"cannot tell host and port from {address!r}")
    port = int(match.group("port") or 80)
    if match.group("v6"):
        return socket.AF_INET6, (match.group("v6"), port)
    return None, (match.group("host"), port)


def probe_address(address: str, timeout: float = CONNECT_TIMEOUT) -> str | None:
    """None when a TCP (or unix socket) connection succeeds within ``timeout``, else why not."""
    try:
        family, target = connect_target(address)
    except ValueError as exc:
        return str(exc)
    try:
        if family is None:
            with socket.create_connection(target, timeout=timeout):
                return None
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(target)
            return None
    except socket.timeout:
        return f"no answer within {timeout:g}s"
    except OSError as exc:
        return exc.strerror or str(exc)


def probe_servers(upstream: Upstream, timeout: float = CONNECT_TIMEOUT, probe=probe_address) -> list:
    """Try every server of an upstream at once; a server marked ``down`` is not tried."""
    results = [dict(server.summary(), reachable=False, error="marked down") for server in upstream.servers]
    todo = [i for i, server in enumerate(upstream.servers) if not server.down]
    if todo:
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(16, len(todo))) as pool:
            errors = pool.map(lambda i: probe(upstream.servers[i].address, timeout), todo)
            for index, error in zip(todo, errors):
                results[index].update(reachable=error is None, error=error)
    return results


def describe_unreachable(results: list) -> str:
    return ", ".join(f"{r['address']}: {r['error']}" for r in results)


# --------------------------------------------------------------------------- the switch


def apply_switch(plan: SwitchPlan, nginx: Nginx, write=None) -> dict:
    """Write, test, reload, prove; on any failure put everything back (and reload again if nginx was reloaded).

    All of it holds the router's lock: a reload loads every app's files, so none may be half-way through a provision.
    """
    with _fs.locked(os.path.join(plan.layout.conf_dir, LOCK_FILE)):
        return _apply_switch(plan, nginx, write or _fs.atomic_write)


def _apply_switch(plan: SwitchPlan, nginx: Nginx, write) -> dict:
    layout = plan.layout
    if nginx.master() is None:
        raise SwitchFailed(
            f"nginx is not running (no live process in {nginx.pid_file}): start it first, or set pid_file to the "
            f"`pid` of {nginx.conf}. Nothing was changed",
            reload_attempted=False, restored=True,
        )
    done = {"weighted": False, "preview": False, "live": False}
    try:
        if plan.weighted_changed:
            write(layout.path(WEIGHTED_FILE), plan.weighted_after)
            done["weighted"] = True
        if plan.preview_changed:
            swap_link(plan.preview.path, plan.preview_after)
            done["preview"] = True
        if plan.live_changed:
            swap_link(plan.live.path, plan.live_after)
            done["live"] = True
    except OSError as exc:
        problems = restore(plan, done, write)
        raise SwitchFailed(
            f"{_what(plan)} failed writing in {layout.app_dir}: {exc.strerror or exc}. " + _restored_text(plan, problems, None),
            reload_attempted=False, restored=not problems,
        ) from None
    try:
        nginx.test_config()
    except NginxError as exc:
        problems = restore(plan, done, write)
        raise SwitchFailed(
            f"{_what(plan)} failed: nginx rejected the new configuration, so it was not reloaded.\n{exc}\n"
            + _restored_text(plan, problems, None),
            reload_attempted=False, restored=not problems,
        ) from None
    try:
        return nginx.reload()
    except NginxError as exc:
        problems = restore(plan, done, write)
        reloaded = reload_error = None
        if not problems:
            try:
                reloaded = nginx.reload()
            except NginxError as again:
                reload_error = str(again)
        raise SwitchFailed(
            f"{_what(plan)} failed at the reload: {exc}\n" + _restored_text(plan, problems, reloaded, reload_error),
            reload_attempted=True, restored=reloaded is not None,
        ) from None


def restore(plan: SwitchPlan, done: dict, write=None) -> list:
    """Put back what a failed switch changed, in reverse order; return what could not be put back."""
    write = write or _fs.atomic_write
    problems = []
    for key, link in (("live", plan.live), ("preview", plan.preview)):
        if done[key]:
            try:
                _put_back_link(link)
            except OSError as exc:
                problems.append(f"could not restore {link.path} -> {link.raw}: {exc.strerror or exc}")
    if done["weighted"]:
        path = plan.layout.path(WEIGHTED_FILE)
        try:
            if plan.weighted_before is None:
                os.unlink(path)
            else:
                write(path, plan.weighted_before)
                _set_times(path, plan.weighted_times)
        except OSError as exc:
            problems.append(f"could not restore {path}: {exc.strerror or exc}")
    return problems


def _what(plan: SwitchPlan) -> str:
    share = "all" if plan.weight == 100 else f"{plan.weight}%"
    return f"routing {share} of {plan.layout.app}'s live traffic to {plan.colour}"


def _restored_text(plan: SwitchPlan, problems: list, reloaded: dict | None, reload_error: str | None = None) -> str:
    if problems:
        return (
            "Restoring the previous files ALSO failed, check nginx by hand (`nginx -t`, the links in "
            f"{plan.layout.app_dir}): " + "; ".join(problems)
        )
    links = f"{LIVE_LINK} -> {plan.live.raw or '(none)'}, {PREVIEW_LINK} -> {plan.preview.raw or '(none)'}"
    text = f"The previous links were restored ({links})"
    if plan.weighted_changed:
        text += f" and {WEIGHTED_FILE} was put back as it was"
    if reload_error is not None:
        return (
            text + f", but reloading nginx with them failed too, so the cause lies outside {plan.layout.app_dir}: "
            f"{reload_error}\nCheck nginx by hand (`nginx -t`, its error log, `systemctl status nginx`) before reloading it again."
        )
    if reloaded is None:
        return text + "; nginx still runs its previous configuration."
    workers_text = ", ".join(map(str, reloaded["new_workers"]))
    return text + f", and nginx was reloaded with them (master {reloaded['master_pid']}, new workers {workers_text})."


# --------------------------------------------------------------------------- reporting (nginx_info)


def _link_state(layout: Layout, link_name: str, allowed: tuple, problems: list) -> Link | None:
    try:
        link = read_link(layout, link_name, allowed)
    except NginxError as exc:
        problems.append(str(exc))
        return None
    if not link.exists:
        problems.append(f"{link.path} does not exist: nginx -t fails until the nginx role renders it or nginx_traffic sets it")
    elif not os.path.exists(layout.path(link.name)):
        problems.append(f"{link.path} points at {link.raw}, which does not exist: nginx -t fails until it does")
    return link


def _mtime(path: str) -> float | None:
    try:
        return os.lstat(path).st_mtime
    except OSError:
        return None


def read_config(layout: Layout, pid_file: str, proc: ProcReader | None = None) -> dict:
    """What routes the app: the live and preview links, the upstream files, the weighted file, and whether nginx's
    workers loaded them. Disagreements become problems; none is resolved by guessing."""
    proc = proc or ProcReader()
    problems: list = []
    if not os.path.isdir(layout.app_dir):
        problems.append(f"{layout.app_dir} does not exist: render the app's nginx files with the bluegreen.core.nginx role")
    upstreams: dict = {}
    servers: dict = {}
    for colour in _validate.COLOURS:
        try:
            upstreams[colour] = read_upstream(layout, upstream_file(colour))
            servers[colour] = [server.summary() for server in upstreams[colour].servers]
        except NginxError as exc:
            problems.append(str(exc))
            servers[colour] = []
    live = _link_state(layout, LIVE_LINK, live_files(), problems)
    preview = _link_state(layout, PREVIEW_LINK, preview_files(), problems)
    live_target = live.name if live else None
    weights = None
    if live_target == WEIGHTED_FILE:
        weights = _weighted_report(layout, upstreams, problems)
    elif live_target is not None:
        weights = weights_for(colour_of_target(live_target))
    split = live_target == WEIGHTED_FILE
    live_colour = None if split or weights is None else next(c for c, w in weights.items() if w == 100)
    preview_colour = colour_of_target(preview.name) if preview else None
    if live_colour is not None and preview_colour == live_colour:
        problems.append(
            f"{PREVIEW_LINK} and {LIVE_LINK} both serve {live_colour}: the preview listener should serve the idle colour; "
            f"run nginx_traffic with colour={live_colour} to fix it"
        )
    processes = _process_report(layout, pid_file, proc, [live, preview] + ([layout.path(WEIGHTED_FILE)] if split else []), problems)
    return dict(live_target=live_target, weights=weights, split=split, preview_colour=preview_colour, servers=servers,
                problems=problems, **processes)


def _weighted_report(layout: Layout, upstreams: dict, problems: list) -> dict | None:
    path = layout.path(WEIGHTED_FILE)
    try:
        text = _fs.read_text(path)
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}")
        return None
    if text is None or len(upstreams) < 2:
        return None
    try:
        weighted = parse_upstream(text, path)
    except NginxError as exc:
        problems.append(str(exc))
        return None
    weights = weights_of(weighted, upstreams["blue"], upstreams["green"], problems)
    if weights is not None and 0 < weights["green"] < 100:
        try:
            expected = render_weighted(upstreams["blue"], upstreams["green"], weights["green"])
        except NginxError:
            expected = None
        if expected is not None and expected != text:
            problems.append(
                f"{path} is not what upstream-blue.conf and upstream-green.conf give for blue {weights['blue']}% / green "
                f"{weights['green']}% (edited by hand, or the colour files changed since): run nginx_traffic again"
            )
    return weights


def _process_report(layout: Layout, pid_file: str, proc: ProcReader, changed: list, problems: list) -> dict:
    report = {"master_pid": None, "workers": [], "workers_shutting_down": []}
    try:
        pid = read_pid_file(pid_file)
    except NginxError as exc:
        problems.append(str(exc))
        return report
    if pid is None:
        problems.append(f"nginx is not running: {pid_file} does not exist or holds no PID")
        return report
    if not proc.alive(pid):
        problems.append(f"nginx is not running: {pid_file} names PID {pid}, which is not a running process (a stale pid file)")
        return report
    active, old = workers(proc, pid)
    report.update(master_pid=pid, workers=active, workers_shutting_down=old)
    if not active:
        problems.append(f"the nginx master {pid} has no worker process")
        return report
    starts = [start for start in (proc.start_time(worker) for worker in active) if start is not None]
    loaded_at = max(starts) if starts else None
    for item in changed:
        if item is None:
            continue
        path = item.path if isinstance(item, Link) else item
        changed_at = _mtime(path)
        # Start times come from clock ticks; a second of slack keeps rounding from raising false alarms.
        if loaded_at is not None and changed_at is not None and changed_at > loaded_at + 1.0:
            problems.append(
                f"{path} changed after nginx's workers started, so nginx has not loaded it yet: run `nginx -t` and "
                "reload nginx, or nginx_traffic, to make it live"
            )
    return report

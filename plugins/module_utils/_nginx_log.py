# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Each colour's requests and 5xx responses on Nginx, from the app's counts log: its format, its path, and the tail the
watch reads.

PRIVATE to the bluegreen.core collection: may change without notice.

Nginx (open source) keeps no count per upstream. So the app's live locations (``_nginx_apps.locations``) log every
request to the app's counts log, one line each, in the app's own ``log_format`` (``_nginx_apps.app_site``), fields
separated by one space:

  $msec $status <the app's colour variable> $upstream_response_time
  1767225600.123 200 green 0.004
  1767225600.125 502 blue 0.001, 0.003       a retry: one time per server tried, the last one answered
  1767225600.126 301 - -                     no app server (a redirect): nginx logs an empty value as "-"

The colour is that of the server that answered (the map of ``$upstream_addr`` in the app's file). The last field is
the one that can hold spaces, so it comes last. ``CountsLog`` tails the file for the watch after a switch
(``_routers.nginx.Nginx.sample``), from its end when the watch begins, across logrotate's rotations.
"""

from __future__ import annotations

import os
import re

from ansible_collections.bluegreen.core.plugins.module_utils import _validate

LOG_DIR = "/var/log/nginx"
# Debian's access log, which the app's live locations keep writing beside the counts log (an access_log at location
# level stops the ones it would inherit).
DEFAULT_ACCESS_LOG = "/var/log/nginx/access.log"
# The fields of a line; {colour} is the app's colour variable (_nginx_apps.colour_variable).
FIELDS = ("$msec", "$status", "{colour}", "$upstream_response_time")
# Files of the log replaced by a rotation that are still read, for the lines a worker writes before it reopens its log.
RETIRED_MAX = 4

_PATH_RE = re.compile(r"^/[A-Za-z0-9_.@+/-]*$")
_SECONDS_RE = re.compile(r"^[0-9]+(?:\.[0-9]+)?$")
_STATUS_RE = re.compile(r"^[0-9]{3}$")
# The separators of $upstream_response_time: ", " between the servers tried, " : " between upstream groups.
_TIMES_SPLIT_RE = re.compile(r"[\s,:]+")


def default_path(app: str) -> str:
    """The app's counts log unless told otherwise: in nginx's log folder, so that Debian's logrotate rotates it with
    the others (and its postrotate makes nginx reopen it)."""
    return os.path.join(LOG_DIR, f"bluegreen-{_validate.name(app, 'app')}.log")


def _file(value: object, param: str) -> str:
    if (not isinstance(value, str) or not _PATH_RE.fullmatch(value) or value.endswith("/")
            or "/../" in value + "/" or "/./" in value + "/"):
        raise _validate.ValidationError(
            f"{param} must be the absolute path of a file, of letters, digits, '_', '.', '-', '+', '@' and '/' (nginx "
            f"reads it as it is), without '..', got {value!r}", param)
    return value


def counts_path(value: object, app: str, param: str = "counts_log") -> str:
    """The app's counts log: ``value``, or ``default_path`` when it is empty."""
    return default_path(app) if value in (None, "") else _file(value, param)


def access_path(value: object, param: str = "access_log") -> str | None:
    """The access log the app's live locations keep writing (nginx's combined format), or None: ``off`` or empty."""
    return None if value in (None, "", "off") else _file(value, param)


def log_format(colour_variable: str) -> str:
    """The text of the app's ``log_format``."""
    return " ".join(FIELDS).format(colour=colour_variable)


def parse(line: str) -> tuple | None:
    """(colour or None, status, the last upstream time in ms or None) of one line of the counts log; None for a line
    not in its format. A line with no colour ("-") is a request no app server of a colour answered."""
    parts = line.split(" ", 3)
    if len(parts) != 4:
        return None
    seconds, status, colour, times = parts
    if not _SECONDS_RE.fullmatch(seconds) or not _STATUS_RE.fullmatch(status):
        return None
    if colour in ("", "-"):
        colour = None
    elif colour not in _validate.COLOURS:
        return None
    tokens = [token for token in _TIMES_SPLIT_RE.split(times.strip()) if token]
    if not tokens or any(token != "-" and not _SECONDS_RE.fullmatch(token) for token in tokens):
        return None
    last = tokens[-1]
    return colour, int(status), None if last == "-" else round(float(last) * 1000)


class _File:
    """One open file of the log, and the start of a line read from it whose end nginx has not written yet."""

    def __init__(self, path: str, at_end: bool) -> None:
        self.handle = open(path, "rb", buffering=0)  # noqa: SIM115 (kept open between reads, closed by CountsLog.close)
        stat = os.fstat(self.handle.fileno())
        self.identity = (stat.st_dev, stat.st_ino)
        if at_end:
            self.handle.seek(0, os.SEEK_END)
        self.partial = b""

    def lines(self) -> tuple:
        """(the whole lines written since the last read, how many part-lines a truncation cut off)."""
        cut = 0
        if os.fstat(self.handle.fileno()).st_size < self.handle.tell():
            # Truncated in place (logrotate's copytruncate): what the file holds now was written after it.
            self.handle.seek(0)
            cut, self.partial = int(bool(self.partial)), b""
        data = self.handle.read() or b""
        if not data:
            return [], cut
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        return lines, cut

    def close(self) -> None:
        self.handle.close()


class CountsLog:
    """The app's counts log, counted from the moment ``start`` opened it: each colour's requests and 5xx responses (500
    to 599) since then, and the upstream times of the colour's requests of the latest read.

    The file is kept open and only what nginx appended is read. A rotation loses no line and counts none twice: a
    file renamed away (logrotate's ``create``, Debian's) is read to its end, then the new one from its start, and the
    old one is still read on each later read, for the lines a worker writes before it reopens its log; a file
    truncated in place (``copytruncate``) is read again from its start (the lines written between the last read and
    the truncation are in the copy, and are lost)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.current: _File | None = None
        self.retired: list = []
        self.requests = dict.fromkeys(_validate.COLOURS, 0)
        self.http_5xx = dict.fromkeys(_validate.COLOURS, 0)
        self.times: dict = {colour: [] for colour in _validate.COLOURS}
        self.skipped = 0  # lines not in the format (and lines a truncation cut)
        self.uncoloured = 0  # requests an app server answered whose address the colour map does not know

    def start(self) -> bool:
        """Open the log at its end: what it holds already is not counted. False when it does not exist."""
        try:
            self.current = _File(self.path, at_end=True)
        except FileNotFoundError:
            return False
        return True

    def read(self) -> None:
        """Count what nginx wrote since the last read (or ``start``)."""
        self.times = {colour: [] for colour in _validate.COLOURS}
        for old in self.retired:
            self._count(*old.lines())
        self._count(*self.current.lines())
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return  # renamed away and not created again yet: nginx still writes the file held open
        if (stat.st_dev, stat.st_ino) == self.current.identity:
            return
        try:
            new = _File(self.path, at_end=False)
        except FileNotFoundError:
            return
        self.retired.append(self.current)
        while len(self.retired) > RETIRED_MAX:
            self.retired.pop(0).close()
        self.current = new
        self._count(*new.lines())

    def _count(self, lines: list, cut: int) -> None:
        self.skipped += cut
        for raw in lines:
            parsed = parse(raw.decode("utf-8", errors="replace"))
            if parsed is None:
                self.skipped += 1
                continue
            colour, status, upstream_ms = parsed
            if colour is None:
                self.uncoloured += int(upstream_ms is not None)
                continue
            self.requests[colour] += 1
            self.http_5xx[colour] += int(500 <= status <= 599)
            if upstream_ms is not None:
                self.times[colour].append(upstream_ms)

    def counts(self, colour: str) -> dict:
        """The colour's cumulative counts, as the watch samples them (``_watch.Sample``): the response time is the mean
        of the latest read's requests of the colour (None without any)."""
        times = self.times[colour]
        return {"requests": self.requests[colour], "http_5xx": self.http_5xx[colour],
                "response_ms": round(sum(times) / len(times)) if times else None, "healthy": None}

    def note(self) -> str | None:
        """Why the counts may be short, or None."""
        reasons = []
        if self.skipped:
            reasons.append(f"{self.skipped} not in its format")
        if self.uncoloured:
            reasons.append(f"{self.uncoloured} answered by an app server the colour map does not know (a server given "
                           "by host name has no colour)")
        if not reasons:
            return None
        return f"{self.skipped + self.uncoloured} lines of {self.path} were not counted: {', '.join(reasons)}"

    def close(self) -> None:
        for each in [*self.retired, *([self.current] if self.current else [])]:
            each.close()
        self.retired, self.current = [], None

# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP probes for the health_check module: many checks at once, bounded in time.

PRIVATE to the bluegreen.core collection: may change without notice.

Standard library only, because it runs on router and app hosts. Each check runs in its own
daemon thread; a semaphore bounds how many requests are in flight. Every request is bounded
by its timeout (connect, TLS, headers and body together), and the whole call by a deadline,
so a hanging server can never keep a play waiting.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from email.message import Message
from urllib.parse import urlsplit

MODES = ("until_healthy", "watch")
METHODS = ("GET", "HEAD")
BODY_LIMIT = 1024 * 1024
EXCERPT_CHARS = 200
# How much of a failing response's body its reason quotes.
SAID_CHARS = 80
MAX_CONCURRENCY = 256
USER_AGENT = "bluegreen.core-health_check"
# Response headers reported for every check, besides the ones a check asserts on.
REPORTED_HEADERS = ("Content-Type", "Content-Length", "Location", "X-Bluegreen-Colour")
# How long past the deadline (plus one request timeout) we wait for a stuck thread,
# e.g. one blocked in a DNS lookup, which no socket timeout covers.
JOIN_GRACE_S = 1.0

_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_FORBIDDEN_URL_CHARS_RE = re.compile(r"[\x00-\x20\x7f]")


class CheckError(ValueError):
    """An option or a check is invalid; the message names the parameter."""


@dataclass(frozen=True)
class Check:
    """One validated check."""

    index: int
    name: str
    url: str
    scheme: str
    host: str
    port: int
    target: str
    method: str = "GET"
    headers: dict = field(default_factory=dict)
    status: tuple = (200,)
    body_regex: re.Pattern | None = None
    json_path: tuple | None = None
    json_value: str | None = None
    header: dict = field(default_factory=dict)
    max_latency_ms: int | None = None
    timeout: float = 5.0
    # A header that does not match yet is not a failure until one answer matched it, or this many seconds into the
    # call: another router's listener, which commits at the same instant as the prober's but may come late.
    header_grace_s: float | None = None


@dataclass(frozen=True)
class Settings:
    """The validated top-level options."""

    mode: str = "until_healthy"
    timeout: float = 5.0
    retries: int = 0
    interval: float = 1.0
    consecutive_successes: int = 1
    deadline: float | None = None
    concurrency: int = 16
    duration: float | None = None
    failure_threshold: int = 1

    def deadline_for(self, checks: list) -> float:
        """Seconds the whole call may take; derived from the other options unless set."""
        if self.deadline is not None:
            return self.deadline
        longest = max((c.timeout for c in checks), default=self.timeout)
        if self.mode == "watch":
            return float(self.duration or 0) + longest
        rounds = math.ceil(len(checks) / self.concurrency) if checks else 1
        return rounds * (1 + self.retries) * longest + self.retries * self.interval


@dataclass
class Attempt:
    """The outcome of one request."""

    ok: bool
    error: str | None = None
    status: int | None = None
    latency_ms: int | None = None
    headers: dict = field(default_factory=dict)
    body_excerpt: str | None = None
    # Whether the answer had a passing status and the expected headers (None: no answer, or a failing status).
    header_matched: bool | None = None


# ---------------------------------------------------------------------------------------------
# Validation


def _number(value: object, param: str, minimum: float, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CheckError(f"{param} must be a number, got {value!r}")
    if not math.isfinite(value) or value < minimum or (strict and value == minimum):
        relation = "greater than" if strict else "at least"
        raise CheckError(f"{param} must be {relation} {minimum:g}, got {value!r}")
    return float(value)


def _integer(value: object, param: str, minimum: int, strict: bool = False) -> int:
    number = _number(value, param, minimum, strict)
    if number != int(number):
        raise CheckError(f"{param} must be a whole number, got {value!r}")
    return int(number)


def parse_settings(params: dict) -> Settings:
    """Validate the top-level options (a module's params, or any dict with those keys)."""
    mode = params.get("mode") or "until_healthy"
    if mode not in MODES:
        raise CheckError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    settings = Settings(
        mode=mode,
        timeout=_number(params.get("timeout", 5.0), "timeout", 0, strict=True),
        retries=_integer(params.get("retries", 0), "retries", 0),
        interval=_number(params.get("interval", 1.0), "interval", 0),
        consecutive_successes=_integer(params.get("consecutive_successes", 1), "consecutive_successes", 1),
        deadline=_optional_number(params.get("deadline"), "deadline"),
        concurrency=_integer(params.get("concurrency", 16), "concurrency", 1),
        duration=_optional_number(params.get("duration"), "duration"),
        failure_threshold=_integer(params.get("failure_threshold", 1), "failure_threshold", 1),
    )
    if settings.concurrency > MAX_CONCURRENCY:
        raise CheckError(f"concurrency must be at most {MAX_CONCURRENCY}, got {settings.concurrency}")
    if mode == "watch":
        if settings.duration is None:
            raise CheckError("duration is required when mode=watch (seconds to keep probing)")
        if settings.interval <= 0:
            raise CheckError("interval must be greater than 0 when mode=watch")
    elif settings.consecutive_successes > 1 + settings.retries:
        raise CheckError(
            f"consecutive_successes={settings.consecutive_successes} needs at least that many attempts, "
            f"but retries={settings.retries} allows {1 + settings.retries}; "
            f"set retries to at least {settings.consecutive_successes - 1}"
        )
    return settings


def _optional_number(value: object, param: str) -> float | None:
    return None if value is None else _number(value, param, 0, strict=True)


def parse_checks(raw: object, default_timeout: float = 5.0) -> list:
    """Validate the ``checks`` option into a list of ``Check``."""
    if not isinstance(raw, list) or not raw:
        raise CheckError("checks must be a non-empty list of checks, each with at least a url")
    return [parse_check(item, index, default_timeout) for index, item in enumerate(raw)]


def app_health_check(url: str, host: str | None = None, status: object = None, name: str | None = None) -> dict:
    """The app's own health check, as a check for ``parse_checks``: GET ``url`` with ``host`` as its Host header (the
    role variable bluegreen_health_host; none when empty) and ``status`` as the codes that pass (bluegreen_health_status;
    200 when None). The Host also names the TLS server (SNI) of an https url."""
    check: dict = {"url": url}
    if name:
        check["name"] = name
    if host:
        check["headers"] = {"Host": host}
    if status is not None:
        check["status"] = list(status)
    return check


def parse_check(raw: object, index: int, default_timeout: float = 5.0) -> Check:
    where = f"checks[{index}]"
    if not isinstance(raw, dict):
        raise CheckError(f"{where} must be a dictionary with at least a url, got {raw!r}")
    url = raw.get("url")
    scheme, host, port, target = _parse_url(url, f"{where}.url")
    method = str(raw.get("method") or "GET").upper()
    if method not in METHODS:
        raise CheckError(f"{where}.method must be GET or HEAD, got {raw.get('method')!r}")
    body_regex = _regex(raw.get("body_regex"), f"{where}.body_regex")
    json_path = _json_path(raw.get("json_path"), f"{where}.json_path")
    json_value = raw.get("json_value")
    if json_value is not None and json_path is None:
        raise CheckError(f"{where}.json_value needs json_path (which field to compare)")
    if method == "HEAD" and (body_regex is not None or json_path is not None):
        raise CheckError(f"{where}: body_regex and json_path need a body; use method GET instead of HEAD")
    name = raw.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise CheckError(f"{where}.name must be a non-empty string, got {name!r}")
    timeout = raw.get("timeout")
    return Check(
        index=index,
        name=name if name is not None else str(url),
        url=str(url),
        scheme=scheme,
        host=host,
        port=port,
        target=target,
        method=method,
        headers=_request_headers(raw.get("headers"), f"{where}.headers"),
        status=_statuses(raw.get("status"), f"{where}.status"),
        body_regex=body_regex,
        json_path=json_path,
        json_value=None if json_value is None else str(json_value),
        header=_header_expectations(raw.get("header"), f"{where}.header"),
        max_latency_ms=_optional_int(raw.get("max_latency_ms"), f"{where}.max_latency_ms"),
        timeout=default_timeout if timeout is None else _number(timeout, f"{where}.timeout", 0, strict=True),
        header_grace_s=_optional_number(raw.get("header_grace_s"), f"{where}.header_grace_s"),
    )


def _parse_url(url: object, param: str) -> tuple:
    if not isinstance(url, str) or not url:
        raise CheckError(f"{param} is required: an http:// or https:// URL")
    if _FORBIDDEN_URL_CHARS_RE.search(url):
        raise CheckError(f"{param} {url!r} contains a space, newline or control character")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise CheckError(f"{param} {url!r} must start with http:// or https://")
    if parts.username is not None or parts.password is not None:
        raise CheckError(f"{param} {url!r} carries credentials; send an Authorization header in headers instead")
    try:
        port = parts.port
    except ValueError:
        raise CheckError(f"{param} {url!r} has an invalid port (use 1-65535)") from None
    if not parts.hostname:
        raise CheckError(f"{param} {url!r} has no host")
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    elif not 1 <= port <= 65535:
        raise CheckError(f"{param} {url!r} has an invalid port (use 1-65535)")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port, target


def _regex(value: object, param: str) -> re.Pattern | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise CheckError(f"{param} must be a string (a Python regular expression), got {value!r}")
    try:
        return re.compile(value)
    except re.error as exc:
        raise CheckError(f"{param} {value!r} is not a valid regular expression: {exc}") from None


def _json_path(value: object, param: str) -> tuple | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or any(not part for part in value.split(".")):
        raise CheckError(f"{param} must be a dot path such as 'status' or 'data.version', got {value!r}")
    return tuple(value.split("."))


def _text_value(value: object, param: str) -> str:
    if isinstance(value, (dict, list, tuple)) or value is None:
        raise CheckError(f"{param} must be a string, got {value!r}")
    text = str(value)
    if "\r" in text or "\n" in text or "\x00" in text:
        raise CheckError(f"{param} must not contain a newline or NUL character")
    return text


def _header_name(name: object, param: str) -> str:
    if not isinstance(name, str) or not _HEADER_NAME_RE.match(name):
        raise CheckError(f"{param} has an invalid header name {name!r}")
    return name


def _request_headers(value: object, param: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CheckError(f"{param} must be a dictionary of header name to value, got {value!r}")
    headers = {_header_name(k, param): _text_value(v, f"{param}.{k}") for k, v in value.items()}
    lower = [name.lower() for name in headers]
    twice = sorted({name for name in headers if lower.count(name.lower()) > 1})
    if twice:
        # Both would be sent: two Host headers are a request a server must refuse (RFC 9112).
        raise CheckError(f"{param} names one header twice, in another case: {', '.join(twice)} (header names are case-insensitive)")
    return headers


def _header_expectations(value: object, param: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CheckError(f"{param} must be a dictionary of header name to regular expression, got {value!r}")
    return {_header_name(k, param): _regex(_text_value(v, f"{param}.{k}"), f"{param}.{k}") for k, v in value.items()}


def _statuses(value: object, param: str) -> tuple:
    if value is None:
        return (200,)
    if not isinstance(value, (list, tuple)) or not value:
        raise CheckError(f"{param} must be a non-empty list of HTTP status codes, got {value!r}")
    codes = []
    for position, code in enumerate(value):
        if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
            raise CheckError(f"{param}[{position}] must be an HTTP status code between 100 and 599, got {code!r}")
        codes.append(code)
    return tuple(codes)


def _optional_int(value: object, param: str) -> int | None:
    return None if value is None else _integer(value, param, 0, strict=True)


def ssl_context(validate_certs: bool = True, ca_path: str | None = None) -> ssl.SSLContext:
    """The TLS context for https checks; ``ca_path`` (file or directory) replaces the system CAs."""
    if not validate_certs:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if ca_path is None:
        return ssl.create_default_context()
    if not os.path.exists(ca_path):
        raise CheckError(f"ca_path {ca_path!r} does not exist on this host")
    try:
        if os.path.isdir(ca_path):
            return ssl.create_default_context(capath=ca_path)
        return ssl.create_default_context(cafile=ca_path)
    except (ssl.SSLError, OSError) as exc:
        raise CheckError(f"ca_path {ca_path!r} is not a readable PEM CA bundle: {exc}") from None


# ---------------------------------------------------------------------------------------------
# One request


def probe(check: Check, context: ssl.SSLContext | None = None) -> Attempt:
    """Send one request and judge the response. Never raises for network or HTTP errors."""
    started = time.monotonic()
    ends_at = started + check.timeout
    connection = _connection(check, context)
    try:
        connection.request(check.method, check.target, headers=_outgoing_headers(check))
        _limit_wait(connection, ends_at)
        response = connection.getresponse()
        body = b"" if check.method == "HEAD" else _read_body(response, connection, ends_at)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a reported reason, not a traceback
        return Attempt(ok=False, error=describe_error(exc, check), latency_ms=_elapsed_ms(started))
    finally:
        connection.close()
    latency_ms = _elapsed_ms(started)
    text = _decode(body, response)
    headers = _selected_headers(response, check)
    error = judge(check, response.status, response.headers, text, latency_ms)
    return Attempt(
        ok=error is None,
        error=error,
        status=response.status,
        latency_ms=latency_ms,
        headers=headers,
        body_excerpt=text[:EXCERPT_CHARS],
        header_matched=None if response.status not in check.status else header_reason(check, response.headers) is None,
    )


class _NamedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to an address with another TLS server name: the name sent by SNI (which picks the router's certificate
    and server) and checked against the certificate is the request's Host, as a browser would send it."""

    def __init__(self, host: str, port: int, server_name: str, **kwargs: object) -> None:
        super().__init__(host, port, **kwargs)
        self.server_name = server_name

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.server_name)


def _connection(check: Check, context: ssl.SSLContext | None) -> http.client.HTTPConnection:
    if check.scheme == "https":
        context = context or ssl.create_default_context()
        named = next((value for name, value in check.headers.items() if name.lower() == "host"), None)
        if named:
            server_name = named.rsplit(":", 1)[0] if not named.endswith("]") else named
            return _NamedHTTPSConnection(check.host, check.port, server_name.strip("[]"), timeout=check.timeout, context=context)
        return http.client.HTTPSConnection(check.host, check.port, timeout=check.timeout, context=context)
    return http.client.HTTPConnection(check.host, check.port, timeout=check.timeout)


def _outgoing_headers(check: Check) -> dict:
    headers = {"User-Agent": USER_AGENT, "Connection": "close"}
    lower = {name.lower() for name in check.headers}
    headers = {k: v for k, v in headers.items() if k.lower() not in lower}
    headers.update(check.headers)
    return headers


def _limit_wait(connection: http.client.HTTPConnection, ends_at: float) -> None:
    """Give the next socket read only what is left of the request's timeout."""
    remaining = ends_at - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("request timeout used up")
    if connection.sock is not None:
        connection.sock.settimeout(remaining)


def _read_body(response: http.client.HTTPResponse, connection: http.client.HTTPConnection, ends_at: float) -> bytes:
    chunks = []
    size = 0
    while size < BODY_LIMIT:
        _limit_wait(connection, ends_at)
        chunk = response.read1(min(65536, BODY_LIMIT - size))  # one recv: the timeout check runs between
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _decode(body: bytes, response: http.client.HTTPResponse) -> str:
    charset = response.headers.get_content_charset() or "utf-8"
    try:
        return body.decode(charset, errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def _selected_headers(response: http.client.HTTPResponse, check: Check) -> dict:
    selected = {}
    for name in list(REPORTED_HEADERS) + list(check.header):
        value = response.headers.get(name)
        if value is not None:
            selected[name] = value
    return selected


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def describe_error(exc: BaseException, check: Check) -> str:
    """A plain reason for a failed request, without a traceback."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate verify failed: {exc.verify_message or exc.reason}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"timed out after {check.timeout:g}s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by the server"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve {check.host}: {exc.strerror}"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "connection closed by the server before a response"
    if isinstance(exc, http.client.HTTPException):
        return f"invalid HTTP response ({type(exc).__name__}: {exc})"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return f"{type(exc).__name__}: {exc}"


def judge(check: Check, status: int, headers: Message, text: str, latency_ms: int) -> str | None:
    """The first reason the response fails the check, or None when it passes."""
    if status not in check.status:
        reason = f"status {status} not in {list(check.status)}"
        location = headers.get("Location")
        if 300 <= status < 400 and location:
            reason += f" (redirect to {location}; redirects are not followed)"
        elif said := " ".join(text.split())[:SAID_CHARS]:
            # The app's own words on its error, as far as a line of the failure message holds them.
            reason += f" (the body begins {said!r})"
        return reason
    reason = header_reason(check, headers)
    if reason:
        return reason
    if check.body_regex is not None and not check.body_regex.search(text):
        return f"body does not match {check.body_regex.pattern!r}"
    if check.json_path is not None:
        reason = _judge_json(check, text)
        if reason:
            return reason
    if check.max_latency_ms is not None and latency_ms > check.max_latency_ms:
        return f"latency {latency_ms}ms over {check.max_latency_ms}ms"
    return None


def header_reason(check: Check, headers: Message) -> str | None:
    """The first expected response header the answer lacks or does not match, in words; None when all match."""
    for name, pattern in check.header.items():
        value = headers.get(name)
        if value is None:
            return f"header {name} is missing, expected {pattern.pattern!r}"
        if not pattern.search(value):
            return f"header {name} is {value!r}, expected {pattern.pattern!r}"
    return None


def _judge_json(check: Check, text: str) -> str | None:
    path = ".".join(check.json_path or ())
    try:
        value = json.loads(text)
    except ValueError:
        return f"body is not JSON (needed for json_path {path!r})"
    for part in check.json_path or ():
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return f"JSON path {path!r} not found in the body"
    if check.json_value is None:
        return None
    actual = value if isinstance(value, str) else json.dumps(value)
    expected = check.json_value
    if isinstance(value, bool):
        expected = expected.lower()
    if actual != expected:
        return f"JSON {path} is {actual!r}, expected {check.json_value!r}"
    return None


# ---------------------------------------------------------------------------------------------
# Many checks, concurrently


class CheckRun:
    """The progress of one check; written by its thread, read by the caller."""

    def __init__(self, check: Check) -> None:
        self.check = check
        self.attempts = 0
        self.successes = 0
        self.failures = 0
        self.consecutive_successes = 0
        self.consecutive_failures = 0
        self.latency_ms_max: int | None = None
        self.last: Attempt | None = None
        self.header_seen = False  # an answer matched the expected headers (header_grace_s)
        self.header_waits = 0  # answers whose headers did not match yet, within header_grace_s: not failures
        self.ok: bool | None = None
        self.reason: str | None = None
        self._lock = threading.Lock()

    def record(self, attempt: Attempt, elapsed_s: float = 0.0) -> None:
        """One probe's outcome, ``elapsed_s`` into the call."""
        with self._lock:
            self.attempts += 1
            self.last = attempt
            grace = self.check.header_grace_s
            self.header_seen = self.header_seen or bool(attempt.header_matched)
            if attempt.header_matched is False and grace is not None and not self.header_seen and elapsed_s < grace:
                self.header_waits += 1
                return
            if attempt.ok:
                self.successes += 1
                self.consecutive_successes += 1
                self.consecutive_failures = 0
            else:
                self.failures += 1
                self.consecutive_failures += 1
                self.consecutive_successes = 0
            if attempt.latency_ms is not None:
                self.latency_ms_max = max(self.latency_ms_max or 0, attempt.latency_ms)

    def finish(self, ok: bool, reason: str | None = None) -> None:
        with self._lock:
            self.ok = ok
            self.reason = reason

    def result(self, unfinished_reason: str) -> dict:
        with self._lock:
            last = self.last or Attempt(ok=False)
            ok = bool(self.ok)
            if ok:
                error = last.error  # watch mode: a failure under failure_threshold is still reported
            elif self.ok is None:
                error = last.error or unfinished_reason
            else:
                error = self.reason or last.error
            return {
                "name": self.check.name,
                "url": self.check.url,
                "ok": ok,
                "attempts": self.attempts,
                "successes": self.successes,
                "failures": self.failures,
                "status": last.status,
                "latency_ms": last.latency_ms,
                "latency_ms_max": self.latency_ms_max,
                "error": error,
                "headers": dict(last.headers),
                "body_excerpt": last.body_excerpt,
                **({"header_waits": self.header_waits} if self.header_waits else {}),
            }


class _Run:
    """What every check thread of one call shares."""

    def __init__(self, settings: Settings, context: ssl.SSLContext | None, deadline_s: float,
                 stop: threading.Event | None = None) -> None:
        self.settings = settings
        self.context = context
        self.started = time.monotonic()
        self.deadline_at = self.started + deadline_s
        self.stop = threading.Event() if stop is None else stop
        self.slots = threading.BoundedSemaphore(settings.concurrency)

    def remaining(self) -> float:
        return self.deadline_at - time.monotonic()

    def probe(self, run: CheckRun) -> bool:
        """One probe when a slot frees up before the deadline; False when none did or the call is stopping."""
        wait = self.remaining()
        if wait <= 0 or self.stop.is_set() or not self.slots.acquire(timeout=wait):
            return False
        try:
            if self.stop.is_set():
                return False
            run.record(probe(run.check, self.context), time.monotonic() - self.started)
            return True
        finally:
            self.slots.release()

    def pause(self, seconds: float) -> bool:
        """Sleep; False when the deadline comes first or the call is stopping."""
        if seconds > self.remaining():
            return False
        return not self.stop.wait(max(seconds, 0))


def _until_healthy(run: CheckRun, shared: _Run) -> None:
    settings = shared.settings
    needed = settings.consecutive_successes
    total = 1 + settings.retries
    for number in range(total):
        if number and not shared.pause(settings.interval):
            break
        if not shared.probe(run):
            break
        if run.consecutive_successes >= needed:
            run.finish(True)
            return
        if run.consecutive_successes + (total - run.attempts) < needed:
            break  # the attempts left cannot make enough successes in a row
    run.finish(False, _until_healthy_reason(run, shared, needed, total))


def _until_healthy_reason(run: CheckRun, shared: _Run, needed: int, total: int) -> str:
    last = run.last
    if last is None:
        return f"not probed before the deadline ({shared.deadline_at - shared.started:g}s)"
    if not last.ok:
        return last.error or "failed"
    why = "deadline passed" if run.attempts < total else "attempts ran out"
    return f"only {run.consecutive_successes} of {needed} successes in a row before the {why}"


def _watch(run: CheckRun, shared: _Run) -> None:
    settings = shared.settings
    duration = float(settings.duration or 0)
    tick = 0
    while shared.probe(run):
        if run.consecutive_failures >= settings.failure_threshold:
            run.finish(False, _breach_reason(run))
            shared.stop.set()
            return
        # Probes are due at 0, interval, 2*interval... up to the duration; a probe slower than
        # the interval makes the next one start at once instead of bunching up the missed ones.
        tick = max(tick + 1, math.ceil((time.monotonic() - shared.started) / settings.interval - 1e-9))
        due = tick * settings.interval
        if due > duration + 1e-9 or not shared.pause(shared.started + due - time.monotonic()):
            break
    if run.attempts == 0:
        run.finish(False, "not probed during the watch (all probe slots were busy, or the watch was stopped)")
    else:
        run.finish(True)


def _breach_reason(run: CheckRun) -> str:
    last_error = run.last.error if run.last else "failed"
    if run.consecutive_failures == 1:
        return str(last_error)
    return f"failed {run.consecutive_failures} times in a row, last: {last_error}"


@dataclass
class Report:
    """The outcome of one call."""

    mode: str
    results: list
    elapsed_s: float
    deadline_s: float

    @property
    def failed_checks(self) -> list:
        return [r["name"] for r in self.results if not r["ok"]]

    @property
    def passed(self) -> int:
        return sum(1 for r in self.results if r["ok"])

    @property
    def ok(self) -> bool:
        return not self.failed_checks

    def message(self) -> str:
        total = len(self.results)
        if self.ok:
            verb = "watched" if self.mode == "watch" else "passed"
            return f"all {total} health check{'s' if total != 1 else ''} {verb} in {self.elapsed_s:g}s"
        failing = [r for r in self.results if not r["ok"]]
        reasons = "; ".join(_failure_line(r) for r in failing)
        if self.mode == "watch":
            return f"health watch stopped after {self.elapsed_s:g}s, {len(failing)} of {total} failing: {reasons}"
        return f"{len(failing)} of {total} health checks failed after {self.elapsed_s:g}s: {reasons}"

    def as_dict(self) -> dict:
        return {
            "results": self.results,
            "failed_checks": self.failed_checks,
            "passed": self.passed,
            "elapsed_s": self.elapsed_s,
        }


def _failure_line(result: dict) -> str:
    label = result["name"] if result["name"] == result["url"] else f"{result['name']} ({result['url']})"
    attempts = result["attempts"]
    return f"{label}: {result['error']} [{attempts} attempt{'s' if attempts != 1 else ''}]"


def run_checks(checks: list, settings: Settings, context: ssl.SSLContext | None = None,
               stop: threading.Event | None = None) -> Report:
    """Probe every check concurrently, in ``settings.mode``; returns when all are decided.

    ``stop``: an event the caller shares with the probes (a watch of the router's counters that stops them, or that
    learns at once that a check broke, which sets it).

    Bounded: no probe starts after the deadline, each request is bounded by its timeout, and a
    thread that still has not returned (a stuck DNS lookup) is left behind as a daemon.
    """
    deadline_s = settings.deadline_for(checks)
    shared = _Run(settings, context, deadline_s, stop)
    runs = [CheckRun(check) for check in checks]
    worker = _watch if settings.mode == "watch" else _until_healthy
    threads = [threading.Thread(target=worker, args=(run, shared), name=f"health-check-{run.check.index}", daemon=True) for run in runs]
    for thread in threads:
        thread.start()
    longest = max((c.timeout for c in checks), default=settings.timeout)
    give_up_at = shared.deadline_at + longest + JOIN_GRACE_S
    for thread in threads:
        thread.join(max(0.0, give_up_at - time.monotonic()))
    shared.stop.set()
    unfinished = f"still running at the deadline ({deadline_s:g}s)"
    return Report(
        mode=settings.mode,
        results=[run.result(unfinished) for run in runs],
        elapsed_s=round(time.monotonic() - shared.started, 3),
        deadline_s=deadline_s,
    )

# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The zero-downtime load probe: three kinds of client against one router, every request recorded.

    python3 benchmarks/probe.py --url http://127.0.0.1:8080/ --duration 10 --out run.jsonl

Clients that retry hide dropped connections (Go's hey and vegeta reported 0 errors where a
non-retrying client saw about 6 per nginx 1.22 reload, when this collection was designed), so
this probe never retries. It runs, at once and each bounded in requests and seconds:

* keepalive: threads with one persistent HTTP/1.1 connection each; any failure is recorded and
  the connection replaced for the next request (idle keep-alive resets show up here);
* newconn: threads opening a new connection per request (`Connection: close`);
* stream: long-lived `GET /stream?seconds=S` requests started at the beginning, recorded as
  complete (terminating zero chunk received, duration about S) or cut, and when. With
  `chain_streams`, a stream that completes while the caller's action still runs is followed at
  once by another on the same slot, so that streams are open across the whole action however long
  it takes; a cut stream is not followed.

A run lasts `duration` seconds at most. A caller that knows when its action ended calls
finish(tail): the request clients stop `tail` seconds later (later only when they have not yet
sent `min_requests`), and the run ends when the streams in flight have ended too.

Each request records its client kind, thread, start time (epoch and offset from the run start),
latency, status, error, and the `X-Bluegreen-Colour` / `X-App-Version` headers that say who
answered. From Python, start() returns a handle to mark() events such as `switch-start` on; from
a shell, `kill -USR1 <pid>` marks `switch-start` and `kill -USR2 <pid>` `switch-end`.

Only loopback targets are contacted, or an IP address passed with --allow-host; names are never
resolved. Standard library only.
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import random
import signal
import ssl
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from urllib.parse import urlsplit

MAX_DURATION_S = 600.0
MAX_REQUESTS = 2_000_000
MAX_THREADS = 64
KINDS = ("keepalive", "newconn", "stream", "client")
COLOUR_HEADER = "X-Bluegreen-Colour"
VERSION_HEADER = "X-App-Version"
# Errors an HTTP exchange can raise: socket errors and timeouts (OSError), protocol errors
# (HTTPException: BadStatusLine, RemoteDisconnected, IncompleteRead, LineTooLong), and a
# malformed chunk size or header value (ValueError).
REQUEST_ERRORS = (OSError, http.client.HTTPException, ValueError)


class ProbeRefused(ValueError):
    """The configuration is refused before any traffic is sent (target host, bounds)."""


@dataclass(frozen=True)
class ProbeConfig:
    """What to run. Counts are per client kind; `timeout` is the socket timeout of each request.

    Streams last the whole run unless `stream_seconds` says less, so they span the switch. With
    `chain_streams`, a slot whose stream completed before finish() starts another of
    `chain_stream_seconds` (default: `stream_seconds`) while it fits before the deadline.
    """

    base_url: str
    path: str = "/"
    keepalive_threads: int = 4
    newconn_threads: int = 2
    streams: int = 1
    stream_seconds: float | None = None  # None: the whole run
    stream_path: str = "/stream"
    chain_streams: bool = False
    chain_stream_seconds: float | None = None  # None: stream_seconds
    duration: float = 10.0
    max_requests: int = 100_000
    timeout: float = 2.0
    rate: float | None = None
    allow_hosts: tuple[str, ...] = ()
    case: str = ""
    # A router that picks the app by host name: the Host header (and, over https, the TLS server name) to send, while
    # the connection still goes to the address in base_url. ca_file: the CA that signed the router's certificate
    # (https only; the certificate is always verified against it and the host name).
    host_name: str | None = None
    ca_file: str | None = None
    # Sticky clients, for a weighted step: one entry per client, the Cookie header it starts with ("" for none). Each
    # keeps the cookies the router sets and sends them back, as a browser does. `client_threads` keep-alive connections
    # take turns through the clients (thread i has clients i, i + client_threads, ...), one request each per turn.
    clients: tuple[str, ...] = ()
    client_threads: int = 2


@dataclass(frozen=True)
class Target:
    """Where requests go: the address to connect to (never a name to resolve) and the path prefix."""

    host: str
    port: int
    prefix: str
    tls: bool = False

    def url_path(self, path: str) -> str:
        """Join the base URL's path and a request path without doubling the slash."""
        return self.prefix.rstrip("/") + "/" + path.lstrip("/")


@dataclass(slots=True)
class Record:
    """One request as the client saw it; `t` is seconds since the run started (monotonic clock)."""

    kind: str
    thread: str
    seq: int
    start: float
    t: float
    latency: float | None = None
    status: int | None = None
    error: str | None = None
    error_message: str | None = None
    colour: str | None = None
    version: str | None = None
    reused: bool = False
    # Sticky clients only: which client sent it, and the Cookie header it sent.
    client: int | None = None
    cookie: str | None = None
    # Streams only.
    complete: bool | None = None
    cut_at: float | None = None
    bytes_read: int | None = None
    expected_seconds: float | None = None

    @property
    def failed(self) -> bool:
        """A request failed when it got no answer or a 5xx one (4xx are the app's business)."""
        return self.error is not None or (self.status is not None and self.status >= 500)

    def to_dict(self) -> dict:
        """The JSONL form; `type` tells records from events and the run header.

        Built by hand rather than with dataclasses.asdict, which deep-copies: a long run writes
        millions of these.
        """
        names = RECORD_FIELDS if self.kind == "stream" else REQUEST_FIELDS
        data = {"type": "request"}
        for name in names:
            data[name] = getattr(self, name)
        return data


RECORD_FIELDS = tuple(item.name for item in fields(Record))
STREAM_ONLY_FIELDS = ("complete", "cut_at", "bytes_read", "expected_seconds")
REQUEST_FIELDS = tuple(name for name in RECORD_FIELDS if name not in STREAM_ONLY_FIELDS)


@dataclass(frozen=True)
class Event:
    """Something the caller did during the run (e.g. `switch-start`), on the records' clocks."""

    name: str
    time: float
    t: float

    def to_dict(self) -> dict:
        """The JSONL form."""
        return {"type": "event", "name": self.name, "time": self.time, "t": self.t}


class EventLog:
    """Thread-safe list of events, stamped with both clocks so they line up with the records."""

    def __init__(self, started_mono: float) -> None:
        self._started = started_mono
        self._events: list[Event] = []
        self._lock = threading.Lock()

    def mark(self, name: str) -> Event:
        """Record that `name` happened now."""
        event = Event(name=name, time=time.time(), t=round(time.monotonic() - self._started, 6))
        with self._lock:
            self._events.append(event)
        return event

    def __iter__(self) -> Iterator[Event]:
        with self._lock:
            return iter(list(self._events))

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)


@dataclass
class Result:
    """A finished run: every request (sorted by start), the streams, the caller's events."""

    config: ProbeConfig
    started: float
    ended: float
    records: list[Record]
    events: list[Event] = field(default_factory=list)

    @property
    def streams(self) -> list[Record]:
        """The long-lived stream requests."""
        return [rec for rec in self.records if rec.kind == "stream"]

    def by_kind(self, kind: str) -> list[Record]:
        """The records of one client kind."""
        return [rec for rec in self.records if rec.kind == kind]

    def failures(self) -> list[Record]:
        """Every failed request, streams included (a cut stream has an error)."""
        return [rec for rec in self.records if rec.failed]

    def header(self) -> dict:
        """The JSONL first line: what ran, and when."""
        config = asdict(self.config)
        config["allow_hosts"] = list(self.config.allow_hosts)
        return {"type": "run", "case": self.config.case, "started": self.started, "ended": self.ended, "config": config}

    def lines(self) -> Iterator[dict]:
        """The run as JSONL objects: the header, the records, then the events."""
        yield self.header()
        for rec in self.records:
            yield rec.to_dict()
        for event in self.events:
            yield event.to_dict()

    def write_jsonl(self, path: str) -> None:
        """Write the run where report.py can read it."""
        with open(path, "w", encoding="utf-8") as handle:
            for line in self.lines():
                handle.write(json.dumps(line, sort_keys=True) + "\n")

    def summary(self) -> dict:
        """Counts per client kind, errors by class, colours seen, streams kept or cut."""
        seconds = max(self.ended - self.started, 1e-9)
        kinds = {}
        for kind in KINDS:
            recs = self.by_kind(kind)
            kinds[kind] = {
                "requests": len(recs),
                "failed": sum(1 for rec in recs if rec.failed),
                "errors": dict(Counter(rec.error for rec in recs if rec.error)),
                "colours": dict(Counter(rec.colour or "none" for rec in recs)),
                "rps": round(len(recs) / seconds, 1),
            }
        streams = self.streams
        return {
            "case": self.config.case,
            "seconds": round(seconds, 3),
            "kinds": kinds,
            "streams_complete": sum(1 for rec in streams if rec.complete),
            "streams_cut": [{"thread": rec.thread, "cut_at": rec.cut_at, "error": rec.error} for rec in streams if not rec.complete],
            "events": [event.to_dict() for event in self.events],
        }


def _check_host(host: str, allow_hosts: tuple[str, ...]) -> str:
    """The IP address to connect to, or ProbeRefused: loopback or an explicitly allowed IP only.

    Names other than `localhost` are refused rather than resolved, so a typo cannot send load to
    a real host; `localhost` is mapped to 127.0.0.1 without asking the resolver.
    """
    if host.lower() == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ProbeRefused(f"refusing host {host!r}: give an IP address (names are never resolved)") from None
    allowed = set()
    for entry in allow_hosts:
        try:
            allowed.add(ipaddress.ip_address(entry))
        except ValueError:
            raise ProbeRefused(f"--allow-host takes IP addresses only, not {entry!r}") from None
    if address.is_loopback or address in allowed:
        return str(address)
    raise ProbeRefused(f"refusing non-loopback host {host}: pass --allow-host {host} if it is the lab router")


def _check_bound(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ProbeRefused(f"{name} must be between {low:g} and {high:g}, not {value!r}")


def validate(config: ProbeConfig) -> Target:
    """Check the target and the bounds before anything runs; returns where to connect."""
    target = _check_target(config)
    _check_bound("duration", config.duration, 0.01, MAX_DURATION_S)
    _check_bound("max_requests", config.max_requests, 1, MAX_REQUESTS)
    _check_bound("timeout", config.timeout, 0.01, 60.0)
    for name in ("keepalive_threads", "newconn_threads", "streams"):
        _check_bound(name, getattr(config, name), 0, MAX_THREADS)
    if config.clients:
        _check_bound("client_threads", config.client_threads, 1, min(MAX_THREADS, len(config.clients)))
        _check_bound("clients", len(config.clients), 1, 100_000)
        for cookie in config.clients:
            if not isinstance(cookie, str) or any(ord(ch) < 32 or ord(ch) > 126 for ch in cookie):
                raise ProbeRefused(f"each of clients must be a Cookie header of printable ASCII (or empty), not {cookie!r}")
    total = config.keepalive_threads + config.newconn_threads + config.streams + (config.client_threads if config.clients else 0)
    _check_bound("keepalive_threads + newconn_threads + streams + client_threads", total, 1, MAX_THREADS)
    if config.streams and config.stream_seconds is not None:
        _check_bound("stream_seconds", config.stream_seconds, 0.1, config.duration)
    if config.streams and config.chain_stream_seconds is not None:
        _check_bound("chain_stream_seconds", config.chain_stream_seconds, 0.1, config.duration)
    if config.rate is not None:
        _check_bound("rate", config.rate, 0.01, 100_000.0)
    for name in ("path", "stream_path"):
        value = getattr(config, name)
        if not value.startswith("/") or any(ch.isspace() or ord(ch) < 32 for ch in value):
            raise ProbeRefused(f"{name} must start with / and hold no spaces or control characters: {value!r}")
    return target


def _check_target(config: ProbeConfig) -> Target:
    """Where base_url points, refused unless it is loopback or explicitly allowed."""
    parts = urlsplit(config.base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProbeRefused(f"base_url must be http(s)://HOST[:PORT]/..., not {config.base_url!r}")
    if parts.scheme == "https" and not (config.ca_file and config.host_name):
        raise ProbeRefused("an https base_url needs host_name and ca_file: the router's certificate is always verified")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ProbeRefused(f"base_url takes no query, fragment or credentials: {config.base_url!r}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ProbeRefused(f"bad port in {config.base_url!r}") from None
    return Target(host=_check_host(parts.hostname, config.allow_hosts), port=port, prefix=parts.path or "/",
                  tls=parts.scheme == "https")


class _Budget:
    """Requests left for one client kind, shared by its threads."""

    def __init__(self, limit: int) -> None:
        self._left = limit
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Claim one request; False once the kind has used its share."""
        with self._lock:
            if self._left <= 0:
                return False
            self._left -= 1
            return True


@dataclass
class _Run:
    """What every worker of one run shares."""

    config: ProbeConfig
    target: Target
    started_mono: float
    deadline: float
    stop: threading.Event
    budgets: dict[str, _Budget]
    # Set by finish(): the caller's action is over, so no stream is followed by another.
    finishing: threading.Event = field(default_factory=threading.Event)

    @property
    def stream_seconds(self) -> float:
        """How long the first stream of each slot is asked to last."""
        return self.config.stream_seconds or self.config.duration

    @property
    def chain_stream_seconds(self) -> float:
        """How long each following stream of a slot is asked to last (chain_streams)."""
        return self.config.chain_stream_seconds or self.stream_seconds

    def go_on(self, kind: str) -> bool:
        """Whether a worker may send another request: before the deadline, not stopped, in budget."""
        return time.monotonic() < self.deadline and not self.stop.is_set() and self.budgets[kind].take()

    def pace(self, due: float) -> float:
        """Sleep until `due` when rate-limited (waking early on stop); returns the next due time."""
        if self.config.rate is None:
            return due
        delay = due - time.monotonic()
        if delay > 0:
            self.stop.wait(min(delay, max(self.deadline - time.monotonic(), 0.0)))
        return max(due, time.monotonic() - 1.0) + 1.0 / self.config.rate

    def new_record(self, kind: str, thread: str, seq: int) -> tuple[Record, float]:
        """A record stamped with the start time on both clocks, and the monotonic start."""
        now = time.monotonic()
        rec = Record(kind=kind, thread=thread, seq=seq, start=time.time(), t=round(now - self.started_mono, 6))
        return rec, now

    def headers(self, kind: str, close: bool) -> dict[str, str]:
        """Request headers; the User-Agent names the client kind for server-side logs."""
        headers = {"User-Agent": f"bluegreen-probe ({kind})", "Accept": "*/*"}
        if self.config.host_name:
            headers["Host"] = self.config.host_name
        if close:
            headers["Connection"] = "close"
        return headers

    def connection(self) -> http.client.HTTPConnection:
        """A new connection to the target: plain, or TLS verified against ca_file for host_name."""
        if not self.target.tls:
            return http.client.HTTPConnection(self.target.host, self.target.port, timeout=self.config.timeout)
        return _NamedHTTPSConnection(self.target.host, self.target.port, self.config.host_name or "",
                                     ssl.create_default_context(cafile=self.config.ca_file), self.config.timeout)


class _NamedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to an address, with the TLS server name (SNI, and the name the certificate must hold) set apart."""

    def __init__(self, address: str, port: int, server_name: str, context: ssl.SSLContext, timeout: float) -> None:
        super().__init__(address, port, timeout=timeout, context=context)
        self._server_name = server_name
        self._tls = context

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._tls.wrap_socket(self.sock, server_hostname=self._server_name)


def _note_error(rec: Record, exc: BaseException) -> None:
    rec.error = type(exc).__name__
    rec.error_message = str(exc)[:200] or repr(exc)[:200]


def _note_response(rec: Record, resp: http.client.HTTPResponse) -> None:
    rec.status = resp.status
    rec.colour = resp.getheader(COLOUR_HEADER)
    rec.version = resp.getheader(VERSION_HEADER)


def _exchange(conn: http.client.HTTPConnection, rec: Record, path: str, headers: dict[str, str],
              jar: dict[str, str] | None = None) -> bool:
    """Send one GET and read the whole answer into `rec`; True if the connection may be reused. With `jar`, the
    cookies the answer sets go into it (name -> value).

    No retry here or anywhere: http.client reopens a closed connection only when it knows it is
    closed, and a request that fails is recorded as failed.
    """
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    _note_response(rec, resp)
    if jar is not None:
        jar.update(cookie_jar(";".join(line.split(";", 1)[0] for line in resp.headers.get_all("Set-Cookie") or [])))
    resp.read()
    return not resp.will_close


def cookie_jar(header: str) -> dict[str, str]:
    """The cookies of a Cookie header (``a=1; b=2``), name -> value."""
    pairs = (part.strip().partition("=") for part in header.split(";"))
    return {name: value for name, _sep, value in pairs if name}


def _keepalive_worker(run: _Run, index: int, out: list[Record]) -> None:
    """One persistent connection; any error is recorded and the connection replaced."""
    _persistent_worker(run, "keepalive", index, out, [None])


def _client_worker(run: _Run, index: int, out: list[Record]) -> None:
    """One persistent connection taking turns through its share of the sticky clients, each with its own cookies."""
    _persistent_worker(run, "client", index, out, list(range(index, len(run.config.clients), run.config.client_threads)))


def _persistent_worker(run: _Run, kind: str, index: int, out: list[Record], clients: list[int | None]) -> None:
    """One persistent connection of client kind ``kind``, one request per turn for each of ``clients`` (sticky
    clients' numbers, each sending the cookies it was given and set; [None]: one client with no cookies). Any error
    is recorded and the connection replaced."""
    thread = f"{kind}-{index}"
    path = run.target.url_path(run.config.path)
    jars = {client: cookie_jar(run.config.clients[client]) for client in clients if client is not None}
    conn: http.client.HTTPConnection | None = None
    used = False
    seq = 0
    due = time.monotonic()
    while clients and run.go_on(kind):
        due = run.pace(due)
        if run.stop.is_set():
            break
        if conn is None:
            conn = run.connection()
            used = False
        client = clients[seq % len(clients)]
        rec, began = run.new_record(kind, thread, seq)
        rec.reused, rec.client = used, client
        headers = run.headers(kind, close=False)
        jar = jars.get(client)
        if jar:
            rec.cookie = "; ".join(f"{name}={value}" for name, value in jar.items())
            headers["Cookie"] = rec.cookie
        try:
            keep = _exchange(conn, rec, path, headers, jar)
        except REQUEST_ERRORS as exc:
            _note_error(rec, exc)
            keep = False
        rec.latency = round(time.monotonic() - began, 6)
        out.append(rec)
        seq += 1
        used = True
        if not keep:
            conn.close()
            conn = None
    if conn is not None:
        conn.close()


def _newconn_worker(run: _Run, index: int, out: list[Record]) -> None:
    """A new connection for every request, closed afterwards: what a browser's first visit does."""
    thread = f"newconn-{index}"
    path = run.target.url_path(run.config.path)
    headers = run.headers("newconn", close=True)
    seq = 0
    due = time.monotonic()
    while run.go_on("newconn"):
        due = run.pace(due)
        if run.stop.is_set():
            break
        rec, began = run.new_record("newconn", thread, seq)
        conn = run.connection()
        try:
            _exchange(conn, rec, path, headers)
        except REQUEST_ERRORS as exc:
            _note_error(rec, exc)
        finally:
            conn.close()
        rec.latency = round(time.monotonic() - began, 6)
        out.append(rec)
        seq += 1


class StreamOverrun(Exception):
    """The stream went on well past the seconds asked for; the probe stopped reading."""


def _read_stream(run: _Run, resp: http.client.HTTPResponse, rec: Record, began: float, expected: float) -> None:
    """Read a chunked answer to its end; http.client raises IncompleteRead if it is cut.

    A chunked body ends only with the zero-size chunk, so reaching the end without an exception
    proves the whole stream arrived; a body without chunking or length cannot prove that.
    """
    hard_stop = began + expected + max(2.0, run.config.timeout) + 0.1 * expected
    rec.bytes_read = 0
    while True:
        data = resp.read1(65536)
        if not data:
            break
        rec.bytes_read += len(data)
        if time.monotonic() > hard_stop:
            raise StreamOverrun(f"still streaming after {time.monotonic() - began:.1f}s (asked for {expected:g}s)")
    if not resp.chunked and resp.length is None:
        raise http.client.IncompleteRead(b"", None)


def _one_stream(run: _Run, index: int, seq: int, seconds: float) -> Record:
    """One long-lived stream: did it survive, who served it."""
    path = run.target.url_path(run.config.stream_path) + f"?seconds={seconds:g}"
    rec, began = run.new_record("stream", f"stream-{index}", seq)
    rec.expected_seconds = seconds
    conn = run.connection()
    try:
        conn.request("GET", path, headers=run.headers("stream", close=True))
        resp = conn.getresponse()
        _note_response(rec, resp)
        _read_stream(run, resp, rec, began, seconds)
    except (*REQUEST_ERRORS, StreamOverrun) as exc:
        _note_error(rec, exc)
    finally:
        conn.close()
    ended = time.monotonic()
    rec.latency = round(ended - began, 6)
    if rec.error is None and rec.status == 200 and rec.latency < seconds - max(0.2, 0.1 * seconds):
        rec.error = "StreamShort"
        rec.error_message = f"ended after {rec.latency:.2f}s, asked for {seconds:g}s"
    rec.complete = rec.error is None and rec.status == 200
    if not rec.complete:
        rec.cut_at = round(ended - run.started_mono, 6)
    return rec


def _stream_worker(run: _Run, index: int, out: list[Record]) -> None:
    """One stream slot from the start of the run; with chain_streams, followed while the action runs.

    A slot starts a following stream only after a complete one, before finish() and when the
    stream fits before the deadline, so a cut is recorded once and the run stays bounded.
    """
    seq = 0
    seconds = run.stream_seconds
    while run.go_on("stream"):
        rec = _one_stream(run, index, seq, seconds)
        out.append(rec)
        seq += 1
        seconds = run.chain_stream_seconds
        if (not run.config.chain_streams or not rec.complete or run.finishing.is_set()
                or time.monotonic() + seconds > run.deadline):
            return


class ProbeHandle:
    """A running probe: mark events while it runs, then wait() for the Result."""

    def __init__(self, config: ProbeConfig, target: Target) -> None:
        self.config = config
        self.started = time.time()
        started_mono = time.monotonic()
        self.events = EventLog(started_mono)
        self._run = _Run(
            config=config,
            target=target,
            started_mono=started_mono,
            deadline=started_mono + config.duration,
            stop=threading.Event(),
            budgets={kind: _Budget(config.max_requests) for kind in KINDS},
        )
        self._outputs: list[list[Record]] = []
        self._request_outputs: list[list[Record]] = []
        self._threads: list[threading.Thread] = []
        self._result: Result | None = None
        plan = [(_stream_worker, config.streams), (_keepalive_worker, config.keepalive_threads), (_newconn_worker, config.newconn_threads),
                (_client_worker, config.client_threads if config.clients else 0)]
        for worker, count in plan:
            for index in range(count):
                out: list[Record] = []
                self._outputs.append(out)
                if worker is not _stream_worker:
                    self._request_outputs.append(out)
                name = f"probe-{worker.__name__.strip('_')}-{index}"
                self._threads.append(threading.Thread(target=worker, args=(self._run, index, out), name=name, daemon=True))
        for thread in self._threads:
            thread.start()

    def mark(self, name: str) -> Event:
        """Record an event (e.g. `switch-start`) at this instant."""
        return self.events.mark(name)

    def stop(self) -> None:
        """Ask every client to stop after its current request."""
        self._run.stop.set()

    def requests_sent(self) -> int:
        """Keep-alive, new-connection and sticky-client requests recorded so far."""
        return sum(len(out) for out in self._request_outputs)

    def finish(self, tail: float, min_requests: int = 0, poll: float = 0.05) -> None:
        """The caller's action is over: end the run `tail` seconds from now.

        No stream is followed by another from now on (chain_streams); the request clients stop
        after `tail` seconds, or later if they have sent fewer than `min_requests` requests by
        then, and at the run's deadline in any case. Streams in flight go on to their end
        (wait() collects them).
        """
        self._run.finishing.set()
        until = time.monotonic() + tail
        while time.monotonic() < self._run.deadline and self.running:
            if time.monotonic() >= until and self.requests_sent() >= min_requests:
                break
            self._run.stop.wait(poll)
        self.stop()

    @property
    def running(self) -> bool:
        """Whether any client is still sending."""
        return any(thread.is_alive() for thread in self._threads)

    def wait(self, timeout: float | None = None) -> Result:
        """Wait for every client to stop by itself (bounded by duration + timeout) and collect."""
        if self._result is not None:
            return self._result
        # Streams may run 10 % + max(2 s, timeout) past their length before they are stopped (_read_stream).
        limit = 1.1 * self.config.duration + 3 * self.config.timeout + 5.0 if timeout is None else timeout
        until = time.monotonic() + limit
        for thread in self._threads:
            thread.join(max(until - time.monotonic(), 0.0))
        if self.running:
            self.stop()
            raise TimeoutError(f"probe clients still running after {limit:.1f}s")
        records = sorted((rec for out in self._outputs for rec in out), key=lambda rec: (rec.t, rec.thread))
        self._result = Result(config=self.config, started=self.started, ended=time.time(), records=records, events=list(self.events))
        return self._result


def start(config: ProbeConfig) -> ProbeHandle:
    """Validate, then start every client in the background; raises ProbeRefused before any traffic."""
    target = validate(config)
    return ProbeHandle(config, target)


def run(config: ProbeConfig) -> Result:
    """Run the probe to its end in the foreground."""
    return start(config).wait()


# --------------------------------------------------------------------------- sticky clients of a weighted step

_P1, _P2, _P3, _P4, _P5, _MASK = 2654435761, 2246822519, 3266489917, 668265263, 374761393, 0xFFFFFFFF


def _rotl(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (32 - bits))) & _MASK


def xxh32(data: bytes, seed: int = 0) -> int:
    """XXH32, as HAProxy's xxh32 converter computes it (seed 0): the hash its step rules put clients in buckets by."""
    length, i = len(data), 0
    if length >= 16:
        lanes = [(seed + _P1 + _P2) & _MASK, (seed + _P2) & _MASK, seed & _MASK, (seed - _P1) & _MASK]
        while i <= length - 16:
            for lane in range(4):
                word = int.from_bytes(data[i:i + 4], "little")
                lanes[lane] = (_rotl((lanes[lane] + word * _P2) & _MASK, 13) * _P1) & _MASK
                i += 4
        value = (_rotl(lanes[0], 1) + _rotl(lanes[1], 7) + _rotl(lanes[2], 12) + _rotl(lanes[3], 18)) & _MASK
    else:
        value = (seed + _P5) & _MASK
    value = (value + length) & _MASK
    while i + 4 <= length:
        value = (_rotl((value + int.from_bytes(data[i:i + 4], "little") * _P3) & _MASK, 17) * _P4) & _MASK
        i += 4
    while i < length:
        value = (_rotl((value + data[i] * _P5) & _MASK, 11) * _P1) & _MASK
        i += 1
    value ^= value >> 15
    value = (value * _P2) & _MASK
    value ^= value >> 13
    value = (value * _P3) & _MASK
    return value ^ (value >> 16)


def sticky_bucket(cookie: str | None, name: str) -> int | None:
    """The bucket (0-99) HAProxy's step rules put a client in, from the Cookie header it sent (the hash of its cookie
    ``name``); None without that cookie."""
    value = cookie_jar(cookie or "").get(name)
    return None if value is None else xxh32(value.encode()) % 100


def sticky_clients(name: str, fresh: int = 20) -> tuple[str, ...]:
    """Sticky clients for a weighted step: 100 that come with the cookie ``name``, whose values fall in buckets 0-99
    once each (so a step's share of them is exactly its percent), in a shuffled order, then ``fresh`` that come with
    none (the router gives each one a cookie during a step)."""
    keys: dict[int, str] = {}
    number = 0
    while len(keys) < 100:
        key = f"client-{number}"
        keys.setdefault(xxh32(key.encode()) % 100, key)
        number += 1
    order = random.Random(7).sample(range(100), 100)
    return tuple(f"{name}={keys[b]}" for b in order) + ("",) * fresh


def step_figures(records: Sequence[Record], new: str, share: int, name: str) -> dict:
    """What the sticky clients saw during one step (their requests between two changes): requests, how many the
    bucketed clients (the first 100) sent and the percent ``new`` served them, and the requests whose colour was not
    the one their bucket gives (0 when every client kept its colour)."""
    mine = [rec for rec in records if rec.kind == "client" and rec.colour]
    bucketed = [rec for rec in mine if rec.client is not None and rec.client < 100]
    served = 100.0 * sum(rec.colour == new for rec in bucketed) / len(bucketed) if bucketed else None
    keyed = [rec for rec in mine if sticky_bucket(rec.cookie, name) is not None]
    wrong = [rec for rec in keyed if (rec.colour == new) != (sticky_bucket(rec.cookie, name) < share)]
    return {"step": share, "requests": len(mine), "bucketed_requests": len(bucketed),
            "served_percent": None if served is None else round(served, 1), "off_bucket": len(wrong)}


def moved_back(records: Sequence[Record], new: str) -> list[int]:
    """The sticky clients that were served by ``new`` and then by the other colour again: none during a rising ramp."""
    seen: dict[int, bool] = {}
    back = set()
    for rec in sorted((r for r in records if r.kind == "client" and r.colour), key=lambda r: r.t):
        if rec.colour == new:
            seen[rec.client] = True
        elif seen.get(rec.client):
            back.add(rec.client)
    return sorted(back)


def format_summary(summary: dict) -> str:
    """The human-readable summary the CLI prints."""
    lines = [f"probe run{' ' + summary['case'] if summary['case'] else ''}: {summary['seconds']:.1f}s"]
    for kind, data in summary["kinds"].items():
        if not data["requests"]:
            continue
        colours = ", ".join(f"{name} {count}" for name, count in sorted(data["colours"].items()))
        errors = ", ".join(f"{name} {count}" for name, count in sorted(data["errors"].items())) or "none"
        lines.append(f"  {kind:<9} {data['requests']:>8} requests  {data['failed']:>5} failed  {data['rps']:>8.1f}/s  colours: {colours}  errors: {errors}")
    total = summary["kinds"]["stream"]["requests"]
    if total:
        lines.append(f"  streams   {summary['streams_complete']}/{total} complete")
        for cut in summary["streams_cut"]:
            lines.append(f"    {cut['thread']} cut at {cut['cut_at']}s: {cut['error']}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The CLI options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:8080/")
    parser.add_argument("--path", default="/", help="path the keepalive and newconn clients GET (default /)")
    parser.add_argument("--keepalive", type=int, default=4, help="persistent-connection threads (default 4)")
    parser.add_argument("--newconn", type=int, default=2, help="new-connection-per-request threads (default 2)")
    parser.add_argument("--streams", type=int, default=1, help="long-lived /stream requests (default 1)")
    parser.add_argument("--stream-seconds", type=float, default=None, help="length of each stream, <= --duration (default: --duration)")
    parser.add_argument("--stream-path", default="/stream", help="stream endpoint (default /stream)")
    parser.add_argument("--duration", type=float, default=10.0, help=f"seconds to run, <= {MAX_DURATION_S:g} (default 10)")
    parser.add_argument("--max-requests", type=int, default=100_000, help=f"per client kind, <= {MAX_REQUESTS} (default 100000)")
    parser.add_argument("--timeout", type=float, default=2.0, help="socket timeout per request in seconds (default 2)")
    parser.add_argument("--rate", type=float, default=None, help="requests per second per thread (default: as fast as possible)")
    parser.add_argument("--allow-host", action="append", default=[], help="a non-loopback IP address that may be contacted (repeatable)")
    parser.add_argument("--case", default="", help="name of this run in reports")
    parser.add_argument("--out", help="write the run (header, records, events) as JSONL here")
    return parser


def config_from_args(args: argparse.Namespace) -> ProbeConfig:
    """The parsed CLI options as a ProbeConfig."""
    return ProbeConfig(
        base_url=args.url, path=args.path, keepalive_threads=args.keepalive, newconn_threads=args.newconn,
        streams=args.streams, stream_seconds=args.stream_seconds, stream_path=args.stream_path,
        duration=args.duration, max_requests=args.max_requests, timeout=args.timeout, rate=args.rate,
        allow_hosts=tuple(args.allow_host), case=args.case,
    )


SWITCH_SIGNALS = {signal.SIGUSR1: "switch-start", signal.SIGUSR2: "switch-end"}


def _start_marking_on_signals(config: ProbeConfig) -> tuple[ProbeHandle, dict]:
    """Start the probe with SIGUSR1 / SIGUSR2 marking switch-start / switch-end.

    Python runs signal handlers in the main thread, but the kernel hands a process-wide signal
    to any thread that does not block it, and then the main thread notices only when its wait
    ends. The clients are started with both signals blocked (threads inherit the mask), so a
    `kill -USR1` interrupts the main thread at once and the mark is on time. Returns the handle
    and the handlers replaced, for restoring.
    """
    handles: list[ProbeHandle] = []

    def on_signal(signum: int, frame: object) -> None:
        del frame
        if handles:
            handles[0].mark(SWITCH_SIGNALS[signum])

    previous = {signum: signal.signal(signum, on_signal) for signum in SWITCH_SIGNALS}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, SWITCH_SIGNALS)
    try:
        handles.append(start(config))
    except BaseException:
        _restore(previous)
        raise
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    return handles[0], previous


def _restore(handlers: dict) -> None:
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


def main(argv: list[str] | None = None) -> int:
    """CLI: 0 when nothing failed, 1 when a request failed or a stream was cut, 2 when refused."""
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    try:
        validate(config)  # refuse before touching any signal handler
    except ProbeRefused as exc:
        print(f"probe.py: {exc}", file=sys.stderr)
        return 2
    if threading.current_thread() is threading.main_thread():
        handle, previous = _start_marking_on_signals(config)
    else:
        handle, previous = start(config), {}
    try:
        result = handle.wait()
    except KeyboardInterrupt:
        handle.stop()
        result = handle.wait()
    finally:
        _restore(previous)
    if args.out:
        result.write_jsonl(args.out)
    print(format_summary(result.summary()))
    return 1 if result.failures() else 0


if __name__ == "__main__":
    sys.exit(main())

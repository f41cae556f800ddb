# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The watch after a change, inside the traffic module's call: the router's own counters of the colour and health
probes, sampled every interval, judged over a sliding window; the first breach ends it.

PRIVATE to the bluegreen.core collection: may change without notice.

The module that changed the router watches it (``base.change``): no round trip lies between the first 5xx the router
counts and the switch back. The counters are the router's (``Router.sample``: HAProxy's per-backend requests, 5xx
and response time); the probes are ``_http`` checks in watch mode, in a thread beside the sampling loop, sharing its
stop event.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ansible_collections.bluegreen.core.plugins.module_utils import _http, _validate

# The traffic modules' option (doc fragment bluegreen.core.watch).
OPTIONS = {
    "watch": {
        "type": "dict",
        "options": {
            "seconds": {"type": "float", "default": 0},
            "interval": {"type": "float", "default": 1.0},
            "window": {"type": "float", "default": 10.0},
            "max_error_rate": {"type": "float", "default": 0.01},
            "min_requests": {"type": "int", "default": 20},
            "failures": {"type": "int", "default": 2},
            "max_response_ms": {"type": "int"},
            "fail_fast": {"type": "bool", "default": True},
            "checks": {"type": "list", "elements": "dict", "default": []},
            "validate_certs": {"type": "bool", "default": True},
            "rollback": {"type": "bool", "default": True},
            "rollback_to": {"type": "str", "choices": list(_validate.COLOURS)},
        },
    },
}


@dataclass(frozen=True)
class Limits:
    """The checked watch options."""

    seconds: float
    interval: float
    window: float
    max_error_rate: float
    min_requests: int
    failures: int
    max_response_ms: int | None
    fail_fast: bool
    checks: list
    validate_certs: bool
    rollback: bool
    rollback_to: str | None


def limits(raw: dict | None) -> Limits | None:
    """The watch option checked before any I/O, or None when there is nothing to watch (no option, 0 seconds). Each
    bad value is refused naming it (watch.seconds, watch.checks[2].url, ...)."""
    if not raw or not raw.get("seconds"):
        if raw and raw.get("seconds") is not None and raw["seconds"] < 0:
            raise _validate.ValidationError(f"watch.seconds must be 0 or more, got {raw['seconds']:g}", "watch.seconds")
        return None

    def number(key: str, minimum: float, strict: bool = False) -> float:
        value = raw[key]
        if not math.isfinite(value) or value < minimum or (strict and value == minimum):
            relation = "greater than" if strict else "at least"
            raise _validate.ValidationError(f"watch.{key} must be {relation} {minimum:g}, got {value!r}", f"watch.{key}")
        return value

    seconds = number("seconds", 0, strict=True)
    interval = number("interval", 0.1)
    window = number("window", interval)
    rate = number("max_error_rate", 0)
    if rate > 1:
        raise _validate.ValidationError(f"watch.max_error_rate must be a share between 0 and 1, got {rate!r}",
                                        "watch.max_error_rate")
    minimum = int(number("min_requests", 1))
    failures = int(number("failures", 1))
    response = raw.get("max_response_ms")
    if response is not None:
        response = int(number("max_response_ms", 0, strict=True))
    try:
        checks = _http.parse_checks(raw["checks"]) if raw["checks"] else []
    except _http.CheckError as exc:
        raise _validate.ValidationError(f"watch.{exc}", "watch.checks") from None
    return Limits(seconds=seconds, interval=interval, window=window, max_error_rate=rate, min_requests=minimum,
                  failures=failures, max_response_ms=response, fail_fast=raw["fail_fast"], checks=checks,
                  validate_certs=raw["validate_certs"], rollback=raw["rollback"], rollback_to=raw.get("rollback_to"))


class SampleFailed(Exception):
    """The router's counters could not be read (the message says why)."""


@dataclass
class Sample:
    """The router's cumulative counts of the watched colour at one moment (``at``: seconds since the watch began)."""

    at: float
    requests: int
    http_5xx: int
    response_ms: int | None = None
    healthy: bool | None = None


@dataclass
class Verdict:
    """How the watch ended. ``ok`` False: ``reason`` says what broke, ``after_s`` when (since the watch began)."""

    ok: bool
    reason: str | None
    after_s: float
    watched_s: float
    requests: int | None
    http_5xx: int | None
    samples: int
    first_5xx_after_s: float | None
    probes: dict | None = None
    window: dict | None = field(default=None)

    def as_dict(self) -> dict:
        return {
            "ok": self.ok, "reason": self.reason, "after_s": self.after_s, "watched_s": self.watched_s,
            "requests": self.requests, "http_5xx": self.http_5xx, "samples": self.samples,
            "first_5xx_after_s": self.first_5xx_after_s, "window": self.window, "probes": self.probes,
        }


class Counts:
    """The samples of one watch: the totals since it began, across counter resets (a reload zeroes HAProxy's counts),
    and the counts over the sliding window."""

    def __init__(self) -> None:
        self.samples: list = []  # (at, total requests, total 5xx) since the watch began
        self.last: Sample | None = None
        self.requests = 0
        self.http_5xx = 0
        self.first_5xx_at: float | None = None
        self.unhealthy = 0  # samples in a row in which the router found no server of the colour able to serve
        self.unread = 0  # samples in a row the router did not answer
        self.unread_error = ""

    def add(self, sample: Sample) -> None:
        last = self.last
        if last is not None:
            reset = sample.requests < last.requests or sample.http_5xx < last.http_5xx
            self.requests += sample.requests if reset else sample.requests - last.requests
            self.http_5xx += sample.http_5xx if reset else sample.http_5xx - last.http_5xx
            if self.http_5xx and self.first_5xx_at is None:
                self.first_5xx_at = sample.at
        self.unhealthy = self.unhealthy + 1 if sample.healthy is False else 0
        self.last = sample
        self.samples.append((sample.at, self.requests, self.http_5xx))

    def over(self, window: float) -> tuple:
        """(requests, 5xx, seconds) over the last ``window`` seconds: from the newest sample at least that old (or the
        first one) to the newest."""
        newest = self.samples[-1]
        base = self.samples[0]
        for sample in self.samples:
            if sample[0] <= newest[0] - window:
                base = sample
        return newest[1] - base[1], newest[2] - base[2], newest[0] - base[0]


def judge(counts: Counts, limits: Limits, colour: str, final: bool, patience: int | None = None) -> str | None:
    """What broke, or None. While the watch runs (fail_fast), over the sliding window once it holds at least
    min_requests; at its end, over the whole watch, whatever the number of requests. ``patience``: how many samples
    in a row the router may go unread or find no server able to serve (failures, unless sampled more often)."""
    patience = patience or limits.failures
    if counts.unread >= patience:
        return f"the router's counters of {colour} could not be read {counts.unread} times in a row: {counts.unread_error}"
    if counts.last is None:
        return None
    if counts.unhealthy >= patience:
        return f"the router found no server of {colour} able to serve in {counts.unhealthy} samples in a row"
    if final:
        requests, errors, seconds = counts.requests, counts.http_5xx, counts.last.at
        enough = requests > 0
    elif limits.fail_fast:
        requests, errors, seconds = counts.over(limits.window)
        enough = requests >= limits.min_requests
    else:
        return None
    if enough and errors > limits.max_error_rate * requests:
        return (f"{colour} answered {errors} of {requests} requests with 5xx in {seconds:.1f}s "
                f"({100 * errors / requests:.1f}%), over max_error_rate {limits.max_error_rate:g}")
    response = counts.last.response_ms
    if limits.max_response_ms is not None and response is not None and enough and response > limits.max_response_ms:
        return f"{colour}'s response time is {response} ms on average, over max_response_ms {limits.max_response_ms}"
    return None


def watch(limits: Limits, sample: Callable[[float], Sample | None], colour: str, baseline: Sample | None,
          context_factory: Callable[[bool], object] = _http.ssl_context, every: float | None = None,
          halt: threading.Event | None = None) -> Verdict:
    """Probe the checks every ``limits.interval`` seconds and sample the router every ``every`` seconds (a router whose
    counters are cheap to read is sampled more often than the interval), for ``limits.seconds``; return at the
    first breach (the probes' failures in a row, or the counts judged by ``judge``). ``sample(at)`` returns the
    router's counts of ``colour`` at ``at`` seconds into the watch; ``baseline`` is its counts just before the change
    (None when the router counts none: then only the probes are watched). ``halt``, when set by another watch (of an
    app switched in the same step), ends this one at its next sample, with no verdict of its own."""
    every = min(limits.interval, every or limits.interval)
    # The router unread, or with no server able to serve, for as long as `failures` intervals (not samples).
    patience = limits.failures * max(1, round(limits.interval / every))
    started = time.monotonic()
    stop = threading.Event()
    report: dict = {}
    prober = None
    join_s = 1.0 + max((c.timeout for c in limits.checks), default=0)
    if limits.checks:
        settings = _http.Settings(mode="watch", duration=limits.seconds, interval=limits.interval,
                                  failure_threshold=limits.failures)
        context = context_factory(limits.validate_certs)

        def probe() -> None:
            report["report"] = _http.run_checks(limits.checks, settings, context, stop)

        prober = threading.Thread(target=probe, name="watch-probes", daemon=True)
        prober.start()

    def probes_broke() -> str | None:
        # Only the probes set the event before the watch ends: a check failed `failures` times in a row.
        if prober is None or not stop.is_set():
            return None
        prober.join(join_s)
        probes = report.get("report")
        return probes.message() if probes is not None and not probes.ok else None

    counts = Counts()
    counted = baseline is not None
    if counted:
        counts.add(baseline)
    reason = None
    tick = 0
    at = 0.0
    while reason is None and at < limits.seconds and not (halt is not None and halt.is_set()):
        tick += 1
        delay = min(tick * every, limits.seconds) - (time.monotonic() - started)
        if delay > 0:
            if stop.is_set():
                time.sleep(delay)
            else:
                stop.wait(delay)  # woken early when a probe breaks
        at = time.monotonic() - started
        if counted:
            try:
                taken = sample(at)
            except SampleFailed as exc:
                counts.unread += 1
                counts.unread_error = str(exc)
                reason = judge(counts, limits, colour, final=False, patience=patience)
            else:
                counts.unread = 0
                counted = taken is not None
                if taken is not None:
                    counts.add(taken)
                    reason = judge(counts, limits, colour, final=False, patience=patience)
        reason = reason or probes_broke()
    decided = round(time.monotonic() - started, 3)
    if reason is None and counted and not (halt is not None and halt.is_set()):
        reason = judge(counts, limits, colour, final=True, patience=patience)
    stop.set()
    if prober is not None:
        prober.join(join_s)
        probes = report.get("report")
        if reason is None and probes is not None and not probes.ok:
            reason = probes.message()
    window = None
    if counted:
        requests, errors, seconds = counts.over(limits.window)
        window = {"requests": requests, "http_5xx": errors, "seconds": round(seconds, 3)}
    return Verdict(
        ok=reason is None,
        reason=reason,
        after_s=decided,
        watched_s=round(time.monotonic() - started, 3),
        requests=counts.requests if counted else None,
        http_5xx=counts.http_5xx if counted else None,
        samples=len(counts.samples),
        first_5xx_after_s=None if counts.first_5xx_at is None else round(counts.first_5xx_at, 3),
        probes=report["report"].as_dict() if report.get("report") else None,
        window=window,
    )

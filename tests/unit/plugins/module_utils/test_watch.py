# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The watch after a change: counters judged over a sliding window, probes beside them, the first breach ends it."""

from __future__ import annotations

import time

import pytest
from ansible_collections.bluegreen.core.plugins.module_utils import _validate, _watch
from ansible_collections.bluegreen.core.tests.unit.plugins.modules.module_helpers import fake_app

DEFAULTS = {"seconds": 2.0, "interval": 0.1, "window": 1.0, "max_error_rate": 0.01, "min_requests": 20, "failures": 2,
            "max_response_ms": None, "fail_fast": True, "checks": [], "validate_certs": True, "rollback": True,
            "rollback_to": None}


def limits(**overrides):
    return _watch.limits(dict(DEFAULTS, **overrides))


class Router:
    """A router whose counts grow by ``rate`` requests a second, ``bad`` of them 5xx from ``bad_from`` seconds on."""

    def __init__(self, rate=100, bad=0.0, bad_from=0.0, response_ms=None, healthy=True, reset_at=None):
        self.rate, self.bad, self.bad_from, self.response_ms, self.healthy, self.reset_at = rate, bad, bad_from, response_ms, healthy, reset_at

    def __call__(self, at):
        start = 0.0 if self.reset_at is None or at < self.reset_at else self.reset_at
        requests = int(self.rate * (at - start))
        errors = int(self.rate * self.bad * max(0.0, at - max(self.bad_from, start)))
        return _watch.Sample(at=at, requests=requests, http_5xx=errors, response_ms=self.response_ms, healthy=self.healthy)


def baseline():
    return _watch.Sample(at=0.0, requests=0, http_5xx=0)


def test_a_good_colour_is_watched_to_the_end():
    verdict = _watch.watch(limits(seconds=0.5), Router(), "green", baseline())
    assert verdict.ok and verdict.reason is None
    assert 0.5 <= verdict.watched_s < 1.0 and verdict.samples >= 5
    assert verdict.requests >= 45 and verdict.http_5xx == 0 and verdict.first_5xx_after_s is None


def test_5xx_over_the_limit_end_the_watch_at_the_first_sample_that_has_enough_requests():
    started = time.monotonic()
    verdict = _watch.watch(limits(seconds=30), Router(rate=200, bad=1.0), "green", baseline())
    assert not verdict.ok and time.monotonic() - started < 1.0
    assert verdict.reason.startswith("green answered ") and "with 5xx" in verdict.reason and "over max_error_rate 0.01" in verdict.reason
    assert verdict.after_s < 0.5 and verdict.first_5xx_after_s is not None


def test_the_fixed_window_waits_for_its_end_and_judges_the_whole_watch():
    verdict = _watch.watch(limits(seconds=0.6, fail_fast=False), Router(rate=200, bad=1.0), "green", baseline())
    assert not verdict.ok and verdict.after_s >= 0.6


def test_too_few_requests_are_not_judged_early_but_are_at_the_end():
    verdict = _watch.watch(limits(seconds=0.5, min_requests=1000), Router(rate=100, bad=1.0), "green", baseline())
    assert not verdict.ok and verdict.after_s >= 0.5


def test_errors_under_the_limit_pass():
    assert _watch.watch(limits(seconds=0.4, max_error_rate=0.5), Router(rate=200, bad=0.2), "green", baseline()).ok


def test_the_window_slides_so_old_errors_fall_out_of_it():
    counts = _watch.Counts()
    for at, requests, errors in ((0, 0, 0), (1, 100, 50), (2, 200, 50), (3, 300, 50)):
        counts.add(_watch.Sample(at=at, requests=requests, http_5xx=errors))
    assert counts.over(1.0) == (100, 0, 1)
    assert counts.over(2.0) == (200, 0, 2)
    assert counts.over(10.0) == (300, 50, 3)


def test_a_counter_reset_counts_from_zero_again():
    counts = _watch.Counts()
    for at, requests, errors in ((0, 500, 5), (1, 600, 5), (2, 30, 3)):  # HAProxy reloaded between 1 and 2
        counts.add(_watch.Sample(at=at, requests=requests, http_5xx=errors))
    assert (counts.requests, counts.http_5xx) == (130, 3)


def test_a_slow_colour_breaks_max_response_ms():
    verdict = _watch.watch(limits(seconds=5, max_response_ms=200), Router(response_ms=900), "green", baseline())
    assert not verdict.ok and "response time is 900 ms on average, over max_response_ms 200" in verdict.reason


def test_no_server_able_to_serve_breaks_the_watch_after_failures_samples():
    verdict = _watch.watch(limits(seconds=5), Router(healthy=False), "green", baseline())
    assert not verdict.ok and "no server of green able to serve in 2 samples in a row" in verdict.reason


def test_a_router_sampled_more_often_than_the_interval_breaks_sooner():
    # Probes every second, HAProxy's counters every 0.1 s: the breach is seen within a fraction of the interval.
    verdict = _watch.watch(limits(seconds=5, interval=1.0), Router(rate=200, bad=1.0), "green", baseline(), every=0.1)
    assert not verdict.ok and "with 5xx" in verdict.reason
    assert verdict.after_s < 0.5 and verdict.samples >= 2


def test_sampled_more_often_the_router_may_stay_unhealthy_as_long_as_failures_intervals():
    # failures=2 intervals of 0.5 s, sampled every 0.1 s: 10 samples in a row, not 2.
    verdict = _watch.watch(limits(seconds=5, interval=0.5), Router(healthy=False), "green", baseline(), every=0.1)
    assert not verdict.ok and "in 10 samples in a row" in verdict.reason
    assert verdict.after_s >= 0.9


def test_a_router_that_stops_answering_breaks_the_watch():
    def broken(at):
        raise _watch.SampleFailed("connection refused")

    verdict = _watch.watch(limits(seconds=5), broken, "green", baseline())
    assert not verdict.ok and "could not be read 2 times in a row: connection refused" in verdict.reason


def test_a_failing_probe_ends_the_watch_at_once_without_counters():
    with fake_app() as app:
        started = time.monotonic()
        checks = [{"url": app.url("/status/500")}]
        verdict = _watch.watch(limits(seconds=20, checks=checks), lambda at: None, "green", None)
        assert not verdict.ok and time.monotonic() - started < 2.0
        assert "health watch stopped" in verdict.reason and verdict.requests is None


def test_good_probes_watch_to_the_end():
    with fake_app() as app:
        verdict = _watch.watch(limits(seconds=0.5, checks=[{"url": app.url("/ok")}]), Router(), "green", baseline())
        assert verdict.ok and verdict.probes["passed"] == 1


@pytest.mark.parametrize(("overrides", "param"), [
    ({"seconds": -1.0}, "watch.seconds"),
    ({"interval": 0.0}, "watch.interval"),
    ({"window": 0.05}, "watch.window"),
    ({"max_error_rate": 1.5}, "watch.max_error_rate"),
    ({"max_error_rate": -0.1}, "watch.max_error_rate"),
    ({"min_requests": 0}, "watch.min_requests"),
    ({"failures": 0}, "watch.failures"),
    ({"max_response_ms": 0}, "watch.max_response_ms"),
    ({"checks": [{"url": "ftp://x/"}]}, "watch.checks"),
    ({"checks": [{"url": "http://x/", "body_regex": "("}]}, "watch.checks"),
])
def test_bad_watch_options_are_named(overrides, param):
    with pytest.raises(_validate.ValidationError) as caught:
        limits(**overrides)
    assert caught.value.param == param


def test_no_watch_without_seconds():
    assert _watch.limits(None) is None and limits(seconds=0) is None

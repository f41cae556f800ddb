# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTTP probes of health_check, against a real server on 127.0.0.1."""

from __future__ import annotations

import threading
import time

import pytest
from ansible_collections.bluegreen.core.plugins.module_utils import _http
from ansible_collections.bluegreen.core.plugins.module_utils._http import (
    BODY_LIMIT,
    CheckError,
    Settings,
    parse_check,
    parse_checks,
    parse_settings,
    probe,
    run_checks,
    ssl_context,
)
from ansible_collections.bluegreen.core.tests.unit.plugins.modules.module_helpers import (
    closed_port,
    fake_app,
    self_signed_tls,
)


@pytest.fixture(scope="module")
def app():
    with fake_app() as server:
        yield server


@pytest.fixture(scope="module")
def tls_app(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tls")
    context = self_signed_tls(str(directory))
    if context is None:
        pytest.skip("the openssl command is not installed")
    with fake_app(context) as server:
        server.cert_path = str(directory / "cert.pem")
        yield server


def one(url: str, **options) -> dict:
    """Probe a single check once (or as settings say) and return its result."""
    settings = options.pop("settings", {})
    check = parse_check(dict(options, url=url), 0)
    report = run_checks([check], parse_settings(settings), options.pop("context", None))
    return report.results[0]


def attempt(url: str, context=None, **options):
    return probe(parse_check(dict(options, url=url), 0), context)


# ---------------------------------------------------------------------------------------------
# Validation: every message names the parameter and the check index


@pytest.mark.parametrize(
    ("check", "expected"),
    [
        ({"url": "ftp://127.0.0.1/x"}, "checks[0].url 'ftp://127.0.0.1/x' must start with http:// or https://"),
        ({"url": "127.0.0.1:8001/health"}, "must start with http:// or https://"),
        ({"url": "http:///health"}, "checks[0].url 'http:///health' has no host"),
        ({"url": "http://127.0.0.1:0/"}, "has an invalid port"),
        ({"url": "http://127.0.0.1:65536/"}, "has an invalid port"),
        ({"url": "http://127.0.0.1:http/"}, "has an invalid port"),
        ({"url": "http://127.0.0.1/a b"}, "contains a space, newline or control character"),
        ({"url": "http://127.0.0.1/\nx"}, "contains a space, newline or control character"),
        ({"url": "http://user:pw@127.0.0.1/"}, "carries credentials"),
        ({"url": ""}, "checks[0].url is required"),
        ({}, "checks[0].url is required"),
        ({"url": "http://h/", "method": "POST"}, "checks[0].method must be GET or HEAD"),
        ({"url": "http://h/", "body_regex": "v2("}, "checks[0].body_regex 'v2(' is not a valid regular expression"),
        ({"url": "http://h/", "header": {"X-A": "[a"}}, "checks[0].header.X-A '[a' is not a valid regular"),
        ({"url": "http://h/", "header": {"Bad Name": "x"}}, "checks[0].header has an invalid header name 'Bad Name'"),
        (
            {"url": "http://h/", "headers": {"Host": "a\r\nX-Evil: 1"}},
            "checks[0].headers.Host must not contain a newline",
        ),
        ({"url": "http://h/", "headers": {"X;y": "1"}}, "checks[0].headers has an invalid header name"),
        ({"url": "http://h/", "headers": {"Host": "a.example", "host": "b.example"}},
         "checks[0].headers names one header twice, in another case: Host, host"),
        ({"url": "http://h/", "json_value": "ok"}, "checks[0].json_value needs json_path"),
        ({"url": "http://h/", "json_path": "a..b"}, "checks[0].json_path must be a dot path"),
        ({"url": "http://h/", "method": "HEAD", "body_regex": "x"}, "use method GET instead of HEAD"),
        ({"url": "http://h/", "status": [99]}, "checks[0].status[0] must be an HTTP status code between 100 and 599"),
        ({"url": "http://h/", "status": [200, 600]}, "checks[0].status[1] must be an HTTP status code"),
        ({"url": "http://h/", "status": []}, "checks[0].status must be a non-empty list"),
        ({"url": "http://h/", "timeout": 0}, "checks[0].timeout must be greater than 0"),
        ({"url": "http://h/", "timeout": -1.5}, "checks[0].timeout must be greater than 0"),
        ({"url": "http://h/", "max_latency_ms": -5}, "checks[0].max_latency_ms must be greater than 0"),
        ({"url": "http://h/", "name": ""}, "checks[0].name must be a non-empty string"),
    ],
)
def test_invalid_check_is_refused_naming_the_parameter(check, expected):
    with pytest.raises(CheckError) as caught:
        parse_check(check, 0)
    assert expected in str(caught.value)


def test_the_message_names_the_index_of_the_bad_check():
    checks = [{"url": "http://127.0.0.1/a"}, {"url": "http://127.0.0.1/b"}, {"url": "gopher://127.0.0.1/"}]
    with pytest.raises(CheckError, match=r"^checks\[2\]\.url "):
        parse_checks(checks)


@pytest.mark.parametrize("raw", [None, [], "http://127.0.0.1/", [["http://127.0.0.1/"]]])
def test_checks_must_be_a_non_empty_list_of_dicts(raw):
    with pytest.raises(CheckError, match=r"checks"):
        parse_checks(raw)


def test_a_valid_check_gets_safe_defaults():
    check = parse_check({"url": "https://[::1]:8443/health?deep=1#frag"}, 3, default_timeout=2.5)
    assert (check.name, check.method, check.status, check.timeout) == (check.url, "GET", (200,), 2.5)
    assert (check.scheme, check.host, check.port, check.target) == ("https", "::1", 8443, "/health?deep=1")
    assert parse_check({"url": "http://example.test"}, 0).port == 80
    assert parse_check({"url": "http://example.test"}, 0).target == "/"
    assert parse_check({"url": "http://h/", "method": "head"}, 0).method == "HEAD"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"timeout": 0}, "timeout must be greater than 0"),
        ({"timeout": -1}, "timeout must be greater than 0"),
        ({"retries": -1}, "retries must be at least 0"),
        ({"interval": -0.5}, "interval must be at least 0"),
        ({"concurrency": 0}, "concurrency must be at least 1"),
        ({"concurrency": 10000}, "concurrency must be at most 256"),
        ({"consecutive_successes": 0}, "consecutive_successes must be at least 1"),
        ({"consecutive_successes": 3, "retries": 1}, "set retries to at least 2"),
        ({"deadline": 0}, "deadline must be greater than 0"),
        ({"failure_threshold": 0}, "failure_threshold must be at least 1"),
        ({"mode": "forever"}, "mode must be one of until_healthy, watch"),
        ({"mode": "watch"}, "duration is required when mode=watch"),
        ({"mode": "watch", "duration": -1}, "duration must be greater than 0"),
        ({"mode": "watch", "duration": 5, "interval": 0}, "interval must be greater than 0 when mode=watch"),
        ({"timeout": float("nan")}, "timeout must be greater than 0"),
        ({"retries": True}, "retries must be a number"),
        ({"retries": 1.5}, "retries must be a whole number"),
    ],
)
def test_invalid_settings_are_refused_naming_the_option(params, expected):
    with pytest.raises(CheckError) as caught:
        parse_settings(params)
    assert expected in str(caught.value)


def test_the_default_deadline_follows_retries_interval_timeout_and_rounds():
    checks = [parse_check({"url": "http://h/"}, i, default_timeout=2) for i in range(3)]
    assert Settings(timeout=2, retries=2, interval=1).deadline_for(checks) == 3 * 2 + 2 * 1
    # More checks than concurrency: they run in rounds, so the derived deadline allows for them.
    assert Settings(timeout=2, retries=0, concurrency=2).deadline_for(checks) == 2 * 2
    assert Settings(mode="watch", duration=30, timeout=2).deadline_for(checks) == 32
    assert Settings(deadline=7.5).deadline_for(checks) == 7.5


def test_ca_path_must_exist_and_be_a_ca_bundle(tmp_path):
    with pytest.raises(CheckError, match=r"ca_path '.*missing.pem' does not exist"):
        ssl_context(True, str(tmp_path / "missing.pem"))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(CheckError, match=r"is not a readable PEM CA bundle"):
        ssl_context(True, str(junk))


# ---------------------------------------------------------------------------------------------
# One request: what is judged and how failures read


def test_a_healthy_endpoint_passes_with_its_details(app):
    result = one(app.url("/json"))
    assert result["ok"] is True
    assert result["status"] == 200
    assert result["error"] is None
    assert (result["attempts"], result["successes"], result["failures"]) == (1, 1, 0)
    assert result["headers"]["Content-Type"] == "application/json"
    assert result["body_excerpt"].startswith('{"status": "ok"')
    assert 0 <= result["latency_ms"] <= result["latency_ms_max"] < 1000


def test_an_unexpected_status_is_reported_plainly(app):
    result = one(app.url("/status/500"))
    assert result["ok"] is False
    assert result["status"] == 500
    # With the app's own first words on it, on one line.
    assert result["error"] == "status 500 not in [200] (the body begins 'status 500')"
    assert one(app.url("/status/503"), status=[200, 503])["ok"] is True


def test_redirects_are_not_followed(app):
    result = one(app.url("/redirect"))
    assert result["status"] == 302
    assert result["error"] == "status 302 not in [200] (redirect to /ok; redirects are not followed)"
    assert result["headers"]["Location"] == "/ok"
    assert one(app.url("/redirect"), status=[302])["ok"] is True
    assert [r for r in app.requests if r[1] == "/ok" and r[2].get("User-Agent", "").startswith("bluegreen")] == []


def test_body_regex_is_searched_in_the_body(app):
    assert one(app.url("/json"), body_regex=r'"version": "2\.4\.\d"')["ok"] is True
    assert one(app.url("/json"), body_regex="v2")["error"] == "body does not match 'v2'"


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        ("status", "ok", None),
        ("data.version", "2.4.1", None),
        ("data.ready", "true", None),
        ("data.ready", "True", None),  # what Ansible makes of a YAML true passed as a string
        ("data.workers", "3", None),
        ("items.0.name", "a", None),
        ("data", None, None),
        ("data.version", "2.5.0", "JSON data.version is '2.4.1', expected '2.5.0'"),
        ("data.ready", "false", "JSON data.ready is 'true', expected 'false'"),
        ("data.missing", "x", "JSON path 'data.missing' not found in the body"),
        ("items.5.name", "a", "JSON path 'items.5.name' not found in the body"),
    ],
)
def test_json_path_compares_the_value_as_a_string(app, path, value, error):
    result = one(app.url("/json"), json_path=path, json_value=value)
    assert (result["ok"], result["error"]) == (error is None, error)


def test_json_path_on_a_body_that_is_not_json(app):
    assert one(app.url("/notjson"), json_path="status")["error"] == "body is not JSON (needed for json_path 'status')"


def test_response_headers_must_match_their_regex(app):
    assert one(app.url("/colour/green"), header={"X-Bluegreen-Colour": "^green$"})["ok"] is True
    wrong = one(app.url("/colour/blue"), header={"X-Bluegreen-Colour": "green"})
    assert wrong["error"] == "header X-Bluegreen-Colour is 'blue', expected 'green'"
    assert wrong["headers"]["X-Bluegreen-Colour"] == "blue"
    missing = one(app.url("/ok"), header={"X-Bluegreen-Colour": "green"})
    assert missing["error"] == "header X-Bluegreen-Colour is missing, expected 'green'"


def test_a_slow_answer_fails_max_latency(app):
    result = one(app.url("/slow/250"), max_latency_ms=100)
    assert result["ok"] is False
    assert result["error"].startswith("latency ")
    assert result["error"].endswith("ms over 100ms")
    assert result["latency_ms"] >= 250


def test_request_headers_are_sent_and_can_override_host(app):
    result = one(app.url("/echo-host"), headers={"Host": "shop.example.com", "X-Trace": "42"})
    assert result["body_excerpt"] == "host=shop.example.com"
    sent = [r[2] for r in app.requests if r[1] == "/echo-host"][-1]
    assert sent["X-Trace"] == "42"
    assert sent["User-Agent"] == "bluegreen.core-health_check"


def test_the_apps_health_check_sends_its_host_instead_of_the_address_and_passes_its_codes(app):
    check = _http.app_health_check(app.url("/status/204"), "shop.example.test:8443", [200, 204], "shop@green")
    assert check == {"url": app.url("/status/204"), "name": "shop@green", "headers": {"Host": "shop.example.test:8443"},
                     "status": [200, 204]}
    (parsed,) = parse_checks([check])
    assert [name for name in _http._outgoing_headers(parsed) if name.lower() == "host"] == ["Host"]
    report = run_checks([parsed], parse_settings({}))
    assert report.ok, report.message()
    assert [r[2]["Host"] for r in app.requests if r[1] == "/status/204"][-1] == "shop.example.test:8443"
    # Without a host, the request names the address it goes to; without codes, 200 alone passes.
    (plain,) = parse_checks([_http.app_health_check(app.url("/status/204"), "", None)])
    result = run_checks([plain], parse_settings({})).results[0]
    assert result["error"] == "status 204 not in [200]"
    assert [r[2]["Host"] for r in app.requests if r[1] == "/status/204"][-1] == f"127.0.0.1:{app.server_address[1]}"


def test_head_sends_a_head_request(app):
    result = one(app.url("/ok?head"), method="HEAD")
    assert result["ok"] is True
    assert result["body_excerpt"] == ""
    assert [r[0] for r in app.requests if r[1] == "/ok?head"] == ["HEAD"]


def test_body_excerpt_is_the_first_200_characters(app):
    assert one(app.url("/drip/300/0"))["body_excerpt"] == "x" * 200


def test_a_refused_connection_is_reported_plainly():
    result = one(f"http://127.0.0.1:{closed_port()}/health")
    assert (result["ok"], result["status"], result["error"]) == (False, None, "connection refused")


def test_a_hanging_server_times_out_after_the_request_timeout(app):
    started = time.monotonic()
    result = one(app.url("/hang"), timeout=0.3)
    assert result["error"] == "timed out after 0.3s"
    assert time.monotonic() - started < 1.0


def test_the_timeout_bounds_the_whole_request_not_each_read(app):
    # 20 bytes, one every 100 ms: each read is quick, but the request as a whole would take 2 s.
    started = time.monotonic()
    failed = attempt(app.url("/drip/20/100"), timeout=0.5)
    assert failed.error == "timed out after 0.5s"
    assert time.monotonic() - started < 0.9


def test_only_the_first_mib_of_the_body_is_read(app):
    # 2 MiB of padding, then a marker: the marker is past what a probe reads.
    assert one(app.url("/big/2097152"), body_regex="END")["error"] == "body does not match 'END'"
    assert one(app.url(f"/big/{BODY_LIMIT - 3}"), body_regex="END$")["ok"] is True


def test_tls_with_an_untrusted_certificate_is_refused_when_validating(tls_app):
    result = one(tls_app.url("/ok"), context=ssl_context(validate_certs=True))
    assert result["ok"] is False
    assert result["error"].startswith("TLS certificate verify failed")
    assert "self-signed" in result["error"] or "self signed" in result["error"]


def test_tls_without_validation_accepts_a_self_signed_certificate(tls_app):
    result = one(tls_app.url("/colour/green"), context=ssl_context(validate_certs=False))
    assert (result["ok"], result["headers"]["X-Bluegreen-Colour"]) == (True, "green")


def test_tls_validates_against_ca_path(tls_app):
    assert one(tls_app.url("/ok"), context=ssl_context(True, tls_app.cert_path))["ok"] is True


# ---------------------------------------------------------------------------------------------
# Many checks: concurrency, retries, deadline, watch


def test_checks_run_concurrently(app):
    checks = parse_checks([{"url": app.url(f"/slow/400?n={i}")} for i in range(8)])
    started = time.monotonic()
    report = run_checks(checks, parse_settings({}))
    elapsed = time.monotonic() - started
    assert report.passed == 8
    assert elapsed < 0.4 * 2, f"8 checks of 0.4s took {elapsed:.2f}s: not concurrent"


def test_concurrency_bounds_requests_in_flight(app):
    checks = parse_checks([{"url": app.url(f"/slow/150?c={i}")} for i in range(4)])
    started = time.monotonic()
    report = run_checks(checks, parse_settings({"concurrency": 2}))
    assert report.passed == 4
    assert time.monotonic() - started >= 0.3  # two rounds of two


def test_a_failing_check_is_retried_until_it_passes(app):
    result = one(app.url("/flaky/2?a"), settings={"retries": 3, "interval": 0.02})
    assert (result["ok"], result["attempts"], result["successes"], result["failures"]) == (True, 3, 1, 2)
    assert result["error"] is None


def test_a_check_that_stays_broken_uses_all_attempts(app):
    result = one(app.url("/status/500?b"), settings={"retries": 2, "interval": 0.02})
    assert (result["ok"], result["attempts"], result["error"]) == (False, 3, "status 500 not in [200] (the body begins 'status 500')")


def test_consecutive_successes_are_required_in_a_row(app):
    result = one(app.url("/flaky/1?c"), settings={"retries": 4, "interval": 0.01, "consecutive_successes": 3})
    assert (result["ok"], result["attempts"], result["successes"]) == (True, 4, 3)


def test_it_stops_once_the_attempts_left_cannot_make_enough_successes(app):
    result = one(app.url("/flaky/2?d"), settings={"retries": 3, "interval": 0.01, "consecutive_successes": 3})
    assert (result["ok"], result["attempts"]) == (False, 2)
    # With the app's own first words on it, on one line.
    assert result["error"] == "status 500 not in [200] (the body begins 'flaky')"


def test_a_passing_check_needing_more_successes_says_so(app):
    # Succeeds on attempts 2 and 3 of 3: never three in a row.
    result = one(app.url("/flaky/1?e"), settings={"retries": 2, "interval": 0.01, "consecutive_successes": 2})
    assert result["ok"] is True
    result = one(app.url("/flaky/1?f"), settings={"retries": 1, "interval": 0.01, "consecutive_successes": 2})
    assert (result["ok"], result["attempts"]) == (False, 1)


def test_the_deadline_bounds_the_call(app):
    started = time.monotonic()
    result = one(app.url("/status/500?g"), timeout=0.5, settings={"retries": 1000, "interval": 0.05, "deadline": 0.4})
    elapsed = time.monotonic() - started
    assert result["ok"] is False
    assert 2 <= result["attempts"] <= 10
    assert elapsed < 0.4 + 0.5


def test_a_request_hanging_past_the_deadline_ends_with_its_timeout(app):
    started = time.monotonic()
    result = one(app.url("/hang"), timeout=0.4, settings={"retries": 50, "interval": 0, "deadline": 0.1})
    elapsed = time.monotonic() - started
    assert result["error"] == "timed out after 0.4s"
    assert result["attempts"] == 1
    assert elapsed < 0.1 + 0.4 + 0.3


def test_the_report_counts_and_explains_failures(app):
    checks = parse_checks(
        [
            {"url": app.url("/ok"), "name": "web"},
            {"url": app.url("/status/500"), "name": "api"},
            {"url": f"http://127.0.0.1:{closed_port()}/"},
        ]
    )
    report = run_checks(checks, parse_settings({}))
    assert (report.passed, report.ok) == (1, False)
    assert report.failed_checks == ["api", checks[2].url]
    message = report.message()
    assert message.startswith("2 of 3 health checks failed after ")
    assert f"api ({checks[1].url}): status 500 not in [200] (the body begins 'status 500') [1 attempt]" in message
    assert f"{checks[2].url}: connection refused [1 attempt]" in message
    assert set(report.as_dict()) == {"results", "failed_checks", "passed", "elapsed_s"}


def test_all_passing_says_so(app):
    report = run_checks(parse_checks([{"url": app.url("/ok")}]), parse_settings({}))
    assert report.ok
    assert report.message().startswith("all 1 health check passed in ")


def test_watch_keeps_probing_for_the_duration(app):
    started = time.monotonic()
    result = one(app.url("/ok?w1"), settings={"mode": "watch", "duration": 0.5, "interval": 0.1})
    elapsed = time.monotonic() - started
    assert result["ok"] is True
    assert 4 <= result["attempts"] <= 6
    assert 0.45 <= elapsed < 0.9


def test_watch_fails_fast_when_a_check_breaches_the_threshold(app):
    checks = parse_checks([{"url": app.url("/fail-after/3?w2"), "name": "new colour"}, {"url": app.url("/ok?w3"), "name": "other"}])
    settings = parse_settings({"mode": "watch", "duration": 30, "interval": 0.05, "failure_threshold": 2})
    started = time.monotonic()
    report = run_checks(checks, settings)
    elapsed = time.monotonic() - started
    assert elapsed < 2, "the watch did not stop at the first breach"
    failing, other = report.results
    assert (failing["ok"], failing["attempts"], failing["failures"]) == (False, 5, 2)
    assert failing["error"] == "failed 2 times in a row, last: status 500 not in [200] (the body begins 'fail-after')"
    assert other["ok"] is True
    assert report.failed_checks == ["new colour"]
    assert report.message().startswith("health watch stopped after ")
    assert "new colour (" in report.message()


def test_watch_tolerates_failures_under_the_threshold(app):
    result = one(app.url("/flaky/1?w4"), settings={"mode": "watch", "duration": 0.3, "interval": 0.05, "failure_threshold": 2})
    assert result["ok"] is True
    assert result["failures"] == 1
    assert result["error"] is None


def test_watch_reports_a_single_failure_plainly(app):
    result = one(app.url("/status/502?w5"), settings={"mode": "watch", "duration": 10, "interval": 0.05})
    assert (result["ok"], result["attempts"], result["error"]) == (False, 1, "status 502 not in [200] (the body begins 'status 502')")


WATCH = {"mode": "watch", "duration": 0.5, "interval": 0.05, "failure_threshold": 2}


def test_a_peer_router_that_moves_late_is_not_a_failure_within_its_grace(app):
    # Another router's listener answers with the old colour twice (it commits late), then with the new one.
    late = one(app.url("/colours/blue,blue,green?g1"), header={"X-Bluegreen-Colour": "^green$"}, header_grace_s=10,
               settings=WATCH)
    assert (late["ok"], late["failures"], late["header_waits"]) == (True, 0, 2)
    # Without a grace, the same answers breach the watch (a router's own listener, which moved before its watch).
    strict = one(app.url("/colours/blue,blue,green?g2"), header={"X-Bluegreen-Colour": "^green$"}, settings=WATCH)
    assert strict["ok"] is False and "header X-Bluegreen-Colour is 'blue'" in strict["error"]


def test_a_peer_router_that_went_back_fails_at_once_and_one_that_never_moves_after_its_grace(app):
    back = one(app.url("/colours/green,blue?g3"), header={"X-Bluegreen-Colour": "^green$"}, header_grace_s=10,
               settings=WATCH)
    assert (back["ok"], back["attempts"], back["failures"]) == (False, 3, 2) and "header_waits" not in back
    never = one(app.url("/colours/blue?g4"), header={"X-Bluegreen-Colour": "^green$"}, header_grace_s=0.12,
                settings=WATCH)
    assert never["ok"] is False and never["header_waits"] >= 2 and never["failures"] == 2
    with pytest.raises(CheckError, match=r"checks\[0\]\.header_grace_s"):
        parse_check({"url": app.url("/ok"), "header_grace_s": -1}, 0)


def test_checks_waiting_for_a_probe_slot_past_the_deadline_say_so(app):
    checks = parse_checks([{"url": app.url("/slow/300?s1")}, {"url": app.url("/slow/300?s2")}])
    report = run_checks(checks, parse_settings({"concurrency": 1, "deadline": 0.1}))
    first, second = report.results
    assert first["ok"] is True
    assert (second["ok"], second["attempts"], second["error"]) == (False, 0, "not probed before the deadline (0.1s)")


def test_a_probe_that_never_returns_is_left_behind_in_a_daemon_thread(monkeypatch):
    release = threading.Event()

    def stuck(check, context=None):  # like a DNS lookup that no socket timeout covers
        release.wait(10)
        return _http.Attempt(ok=False, error="released at the end of the test")

    monkeypatch.setattr(_http, "probe", stuck)
    monkeypatch.setattr(_http, "JOIN_GRACE_S", 0.1)
    try:
        started = time.monotonic()
        report = run_checks(parse_checks([{"url": "http://127.0.0.1:9/"}], 0.2), parse_settings({"timeout": 0.2, "deadline": 0.2}))
        elapsed = time.monotonic() - started
        left_behind = [t for t in threading.enumerate() if t.name.startswith("health-check-")]
        assert elapsed < 0.2 + 0.2 + 0.1 + 0.3
        assert report.results[0]["error"] == "still running at the deadline (0.2s)"
        assert report.results[0]["ok"] is False
        assert left_behind
        assert all(t.daemon for t in left_behind)
    finally:
        release.set()


def test_tls_sends_the_host_header_as_the_server_name(tmp_path):
    """A router with several apps on one TLS port picks the certificate (and Nginx the server) by SNI: a probe to the
    router's address for an app's host name must ask for that name, as a browser would."""
    context = self_signed_tls(str(tmp_path))
    if context is None:
        pytest.skip("the openssl command is not installed")
    asked = []
    context.sni_callback = lambda _socket, name, _context: asked.append(name)
    with fake_app(context) as server:
        assert one(server.url("/ok"), headers={"Host": "shop.example.test:8443"}, context=ssl_context(validate_certs=False))["ok"]
        assert one(server.url("/ok"), context=ssl_context(validate_certs=False))["ok"]
        refused = one(server.url("/ok"), headers={"Host": "shop.example.test"}, context=ssl_context(True, str(tmp_path / "cert.pem")))
    # No name for an address: the server's default certificate, as before.
    assert asked == ["shop.example.test", None, "shop.example.test"]
    assert refused["ok"] is False and "shop.example.test" in refused["error"], refused

# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The load probe against a real HTTP server on 127.0.0.1 that drops, cuts and flips on cue."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time

import pytest
from ansible_collections.bluegreen.core.benchmarks import probe, report
from ansible_collections.bluegreen.core.plugins.module_utils import _haproxy
from ansible_collections.bluegreen.core.tests.unit.benchmarks.probe_server import ServerState, serve

DROP_ERRORS = {"RemoteDisconnected", "ConnectionResetError", "BrokenPipeError"}


def config(url: str, **overrides: object) -> probe.ProbeConfig:
    """A short run with all three clients; generous socket timeouts so only planned failures fail."""
    settings: dict = {"base_url": url, "keepalive_threads": 3, "newconn_threads": 2, "streams": 0,
                      "duration": 0.3, "timeout": 5.0}
    settings.update(overrides)
    return probe.ProbeConfig(**settings)


def test_records_exactly_the_dropped_requests_and_never_retries() -> None:
    state = ServerState(reset_next={"keepalive": 3, "newconn": 2})
    with serve(state) as (url, state):
        result = probe.run(config(url))

    for kind in ("keepalive", "newconn"):
        records = result.by_kind(kind)
        failed = [rec for rec in records if rec.failed]
        assert len(failed) == state.resets[kind], kind
        assert {rec.error for rec in failed} <= DROP_ERRORS
        assert all(rec.status is None and rec.colour is None for rec in failed)
        # No retry: every request the server answered or dropped is one record, and no more.
        assert len(records) == state.served[kind] + state.resets[kind]
        assert all(rec.status == 200 and rec.colour == "blue" and rec.version == "1.0.0" for rec in records if not rec.failed)


def test_keepalive_replaces_the_connection_after_a_failure_only() -> None:
    with serve(ServerState(reset_next={"keepalive": 1})) as (url, _state):
        result = probe.run(config(url, keepalive_threads=1, newconn_threads=0))
    records = result.by_kind("keepalive")
    assert records[0].failed and not records[0].reused
    assert not records[1].reused  # a fresh connection after the drop
    assert len(records) > 3 and all(rec.reused for rec in records[2:])


def test_5xx_answers_are_failures_without_an_error() -> None:
    with serve(ServerState(status=503)) as (url, _state):
        result = probe.run(config(url, duration=0.2))
    assert result.records and all(rec.failed and rec.status == 503 and rec.error is None for rec in result.records)


def test_colour_flip_and_events_line_up_with_the_records() -> None:
    with serve() as (url, state):
        handle = probe.start(config(url, duration=0.4))
        time.sleep(0.15)
        start = handle.mark("switch-start")
        state.colour = "green"
        end = handle.events.mark("switch-end")
        result = handle.wait()

    assert [event.name for event in result.events] == ["switch-start", "switch-end"]
    assert 0.1 < start.t < 0.3 and abs(start.time - (result.started + start.t)) < 0.05
    assert not result.failures()
    colours_before = {rec.colour for rec in result.records if rec.t + rec.latency < start.t}
    colours_after = {rec.colour for rec in result.records if rec.t > end.t}
    assert colours_before == {"blue"} and colours_after == {"green"}

    cut = report.cutover([rec.to_dict() for rec in result.records], [event.to_dict() for event in result.events])
    assert (cut["old_colour"], cut["new_colour"]) == ("blue", "green")
    # In-flight requests may straddle the flip, so both ends are within a request's latency of it.
    slowest_ms = max(rec.latency for rec in result.records) * 1000
    flip_ms = (end.t - start.t) * 1000
    assert -slowest_ms <= cut["to_last_old_ms"] <= flip_ms and -slowest_ms <= cut["to_first_new_ms"] <= flip_ms + 10


def test_streams_survive_or_are_recorded_as_cut_with_the_time() -> None:
    state = ServerState(reset_next={"stream-cut": 1}, cut_after_s=0.15)
    with serve(state) as (url, state):
        result = probe.run(config(url, keepalive_threads=0, newconn_threads=0, streams=2, stream_seconds=0.4, duration=0.4))

    complete = [rec for rec in result.streams if rec.complete]
    cut = [rec for rec in result.streams if not rec.complete]
    assert len(complete) == 1 and len(cut) == 1
    assert complete[0].error is None and complete[0].cut_at is None and complete[0].colour == "blue"
    assert 0.4 <= complete[0].latency < 1.0 and complete[0].bytes_read > 0
    assert cut[0].failed and cut[0].error in DROP_ERRORS | {"IncompleteRead"}
    assert 0.15 <= cut[0].cut_at < 0.4 and cut[0].colour == "blue"
    assert result.summary()["streams_complete"] == 1


def test_a_stream_that_ends_early_is_not_complete() -> None:
    with serve(ServerState(stream_seconds=0.05)) as (url, _state):
        result = probe.run(config(url, keepalive_threads=0, newconn_threads=0, streams=1, stream_seconds=0.5, duration=0.5))
    (stream,) = result.streams
    assert not stream.complete and stream.error == "StreamShort" and stream.cut_at is not None


def test_duration_bounds_the_run() -> None:
    with serve() as (url, _state):
        began = time.monotonic()
        result = probe.run(config(url, duration=0.2, streams=1))
        elapsed = time.monotonic() - began
    assert elapsed < 0.8
    # A request let through just before the deadline is stamped a moment later (a loaded machine: microseconds).
    assert result.records and max(rec.t for rec in result.records) < 0.2 + 0.01
    assert result.streams[0].complete and result.streams[0].expected_seconds == 0.2


def test_max_requests_bounds_each_client_kind() -> None:
    with serve() as (url, _state):
        began = time.monotonic()
        result = probe.run(config(url, duration=10, max_requests=40))
        elapsed = time.monotonic() - began
    assert len(result.by_kind("keepalive")) == 40 and len(result.by_kind("newconn")) == 40
    assert elapsed < 5


def test_rate_limit_per_thread() -> None:
    with serve() as (url, _state):
        result = probe.run(config(url, keepalive_threads=2, newconn_threads=0, rate=25, duration=0.4))
    per_thread = [len([rec for rec in result.records if rec.thread == name]) for name in ("keepalive-0", "keepalive-1")]
    assert all(8 <= count <= 11 for count in per_thread), per_thread


def test_finish_ends_the_run_tail_seconds_after_the_action() -> None:
    with serve() as (url, _state):
        began = time.monotonic()
        handle = probe.start(config(url, duration=20, streams=0))
        time.sleep(0.2)
        finished = time.monotonic() - began
        handle.finish(0.1)
        result = handle.wait()
        elapsed = time.monotonic() - began
    assert elapsed < 1.5
    assert result.records and max(rec.t for rec in result.records) < finished + 0.1 + 0.2


def test_finish_waits_for_the_minimum_of_requests_within_the_deadline() -> None:
    with serve() as (url, _state):
        handle = probe.start(config(url, duration=20, streams=0, keepalive_threads=2, newconn_threads=1))
        handle.finish(0.0, min_requests=300)
        result = handle.wait()
        assert len(result.records) >= 300 and handle.requests_sent() == len(result.records)
        began = time.monotonic()
        handle = probe.start(config(url, duration=0.3, streams=0, keepalive_threads=1, newconn_threads=0))
        handle.finish(0.0, min_requests=10_000_000)  # never reached: the deadline ends the run
        handle.wait()
        assert time.monotonic() - began < 1.5


def test_chained_streams_cover_the_action_and_end_after_finish() -> None:
    with serve() as (url, _state):
        began = time.monotonic()
        handle = probe.start(config(url, keepalive_threads=1, newconn_threads=0, streams=2, duration=20,
                                    stream_seconds=0.3, chain_streams=True, chain_stream_seconds=0.2))
        time.sleep(0.8)
        finished = time.monotonic() - began
        handle.finish(0.0)
        result = handle.wait()
        elapsed = time.monotonic() - began
    for slot in ("stream-0", "stream-1"):
        streams = [rec for rec in result.streams if rec.thread == slot]
        assert len(streams) >= 3 and all(rec.complete for rec in streams)
        assert [rec.seq for rec in streams] == list(range(len(streams)))
        assert streams[0].expected_seconds == 0.3 and {rec.expected_seconds for rec in streams[1:]} == {0.2}
        # Back to back: each starts as the one before ends, and the last one spans finish().
        for before, after in zip(streams, streams[1:], strict=False):
            assert 0 <= after.t - (before.t + before.latency) < 0.1
        assert streams[-1].t <= finished <= streams[-1].t + streams[-1].latency
    assert elapsed < finished + 0.2 + 0.5


def test_a_cut_stream_is_not_followed_and_streams_stay_within_the_deadline() -> None:
    state = ServerState(reset_next={"stream-cut": 1}, cut_after_s=0.1)
    with serve(state) as (url, _state):
        result = probe.run(config(url, keepalive_threads=0, newconn_threads=0, streams=1, duration=2,
                                  stream_seconds=0.3, chain_streams=True))
    assert len(result.streams) == 1 and not result.streams[0].complete
    with serve() as (url, _state):
        result = probe.run(config(url, keepalive_threads=0, newconn_threads=0, streams=1, duration=0.5,
                                  stream_seconds=0.3, chain_streams=True))
    # A second 0.3 s stream would end after the 0.5 s deadline: not started.
    assert len(result.streams) == 1 and result.streams[0].complete


@pytest.mark.parametrize("overrides", [
    {"duration": 601},
    {"max_requests": 2_000_001},
    {"keepalive_threads": 65},
    {"keepalive_threads": 40, "newconn_threads": 20, "streams": 5},
    {"keepalive_threads": 0, "newconn_threads": 0, "streams": 0},
    {"streams": 1, "stream_seconds": 2, "duration": 1},
    {"streams": 1, "chain_streams": True, "chain_stream_seconds": 2, "duration": 1},
    {"path": "no-slash"},
    {"path": "/a b"},
    {"rate": 0},
])
def test_hard_bounds_are_refused(overrides: dict) -> None:
    with pytest.raises(probe.ProbeRefused):
        probe.validate(config("http://127.0.0.1:9/", **overrides))


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list:
    """Fail the test on any resolution or connection attempt; returns the attempts seen."""
    attempts: list = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise AssertionError(f"the probe touched the network: {args}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


@pytest.mark.parametrize("url", [
    "http://10.88.0.5:8080/",
    "http://192.0.2.1/",
    "http://[2001:db8::1]:80/",
    "http://example.com/",
    "http://127.0.0.1.nip.io/",
    "https://127.0.0.1/",
    "http://user:secret@127.0.0.1/",
])
def test_non_loopback_targets_are_refused_before_any_traffic(url: str, no_network: list) -> None:
    threads_before = threading.active_count()
    with pytest.raises(probe.ProbeRefused):
        probe.start(config(url))
    assert threading.active_count() == threads_before and not no_network


def test_cli_refuses_without_allow_host(capsys: pytest.CaptureFixture, no_network: list) -> None:
    assert probe.main(["--url", "http://10.88.0.5:8080/", "--duration", "1", "--stream-seconds", "2"]) == 2
    assert "--allow-host 10.88.0.5" in capsys.readouterr().err and not no_network


def test_allow_host_admits_exactly_that_address() -> None:
    assert probe.validate(config("http://10.88.0.5:8080/", allow_hosts=("10.88.0.5",))).host == "10.88.0.5"
    assert probe.validate(config("http://[::1]:8080/base")).url_path("/stream") == "/base/stream"
    assert probe.validate(config("http://localhost:8080/")).host == "127.0.0.1"  # never resolved
    with pytest.raises(probe.ProbeRefused):
        probe.validate(config("http://10.88.0.6:8080/", allow_hosts=("10.88.0.5",)))
    with pytest.raises(probe.ProbeRefused):
        probe.validate(config("http://router.lab:8080/", allow_hosts=("router.lab",)))


def test_cli_writes_jsonl_and_a_summary(tmp_path: object, capsys: pytest.CaptureFixture) -> None:
    out = os.path.join(str(tmp_path), "run.jsonl")
    with serve(ServerState(reset_next={"newconn": 1})) as (url, _state):
        code = probe.main(["--url", url, "--duration", "0.2", "--keepalive", "2", "--newconn", "1", "--streams", "1",
                           "--case", "cli", "--out", out])
    assert code == 1  # one dropped request
    stdout = capsys.readouterr().out
    assert "probe run cli" in stdout and "1 failed" in stdout and "streams   1/1 complete" in stdout
    with open(out, encoding="utf-8") as handle:
        lines = [json.loads(line) for line in handle]
    assert lines[0]["type"] == "run" and lines[0]["case"] == "cli" and lines[0]["config"]["duration"] == 0.2
    kinds = {line["kind"] for line in lines[1:]}
    assert kinds == {"keepalive", "newconn", "stream"}
    assert all({"start", "t", "latency", "status", "error", "error_message", "colour", "version"} <= set(line) for line in lines[1:])


def test_cli_marks_switch_events_on_signals(tmp_path: object) -> None:
    out = os.path.join(str(tmp_path), "run.jsonl")
    # A harmless handler underneath, in case a signal arrives outside the probe's own handlers.
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: None)
    try:
        with serve() as (url, _state):
            # To the main thread: here the test server's threads could take a process-wide signal.
            threading.Timer(0.1, signal.pthread_kill, (threading.main_thread().ident, signal.SIGUSR1)).start()
            assert probe.main(["--url", url, "--duration", "0.3", "--streams", "0", "--out", out]) == 0
    finally:
        signal.signal(signal.SIGUSR1, previous)
    run = report.load_run(out)
    assert [event["name"] for event in run.events] == ["switch-start"]
    assert 0.05 < run.events[0]["t"] < 0.2


def test_sticky_clients_take_turns_and_keep_the_cookies_they_are_given() -> None:
    state = ServerState(set_cookie="bg=fresh; Path=/; HttpOnly")
    clients = ("bg=aa", "", "bg=cc; other=1")
    with serve(state) as (url, _state):
        result = probe.run(config(url, keepalive_threads=0, newconn_threads=0, clients=clients, client_threads=2, duration=0.3))
    records = result.by_kind("client")
    assert {rec.client for rec in records} == {0, 1, 2} and all(rec.status == 200 for rec in records)
    sent = {client: [rec.cookie for rec in records if rec.client == client] for client in (0, 1, 2)}
    assert set(sent[0]) == {"bg=aa"} and set(sent[2]) == {"bg=cc; other=1"}
    # The client that came with no cookie got one with its first answer, and sent it back from then on.
    assert sent[1][0] is None and set(sent[1][1:]) == {"bg=fresh"}
    # Thread 0 has clients 0 and 2 and alternates them.
    first = [rec.client for rec in records if rec.thread == "client-0"][:4]
    assert first == [0, 2, 0, 2]


@pytest.mark.parametrize("overrides", [{"clients": ("a=1\r\nX: y",)}, {"clients": ("a=1",), "client_threads": 2}])
def test_bad_sticky_clients_are_refused(overrides: dict) -> None:
    with pytest.raises(probe.ProbeRefused):
        probe.validate(config("http://127.0.0.1:9/", **overrides))


def test_xxh32_is_haproxys_hash() -> None:
    # Published XXH32 vectors (seed 0), both sides of the 16-byte block loop.
    assert probe.xxh32(b"") == 0x02CC5D05 and probe.xxh32(b"a") == 0x550D7456 and probe.xxh32(b"abc") == 0x32D153FF
    assert probe.xxh32(b"Nobody inspects the spammish repetition") == 0xE2293B2F


def test_the_watch_probes_sticky_key_falls_in_the_first_bucket_of_a_step() -> None:
    # HAProxy's step rules put a request in bucket xxh32(key) mod 100; bucket 0 gets the step's colour at any share.
    assert probe.xxh32(_haproxy.WATCH_STICKY_KEY.encode()) % 100 == 0


def test_sticky_clients_cover_each_bucket_once_and_step_figures_count_what_they_saw() -> None:
    clients = probe.sticky_clients("bg", fresh=2)
    assert len(clients) == 102 and clients[-2:] == ("", "")
    buckets = [probe.sticky_bucket(cookie, "bg") for cookie in clients[:100]]
    assert sorted(buckets) == list(range(100)) and probe.sticky_bucket("other=1", "bg") is None

    def rec(client: int, colour: str, t: float) -> probe.Record:
        return probe.Record(kind="client", thread="client-0", seq=0, start=t, t=t, colour=colour, client=client,
                            cookie=clients[client] or None)
    low, high = buckets.index(3), buckets.index(70)
    seen = [rec(low, "green", 1.0), rec(high, "blue", 1.1), rec(100, "blue", 1.2)]
    figures = probe.step_figures(seen, "green", 10, "bg")
    assert figures == {"step": 10, "requests": 3, "bucketed_requests": 2, "served_percent": 50.0, "off_bucket": 0}
    assert probe.step_figures([rec(high, "green", 1.0)], "green", 10, "bg")["off_bucket"] == 1
    assert probe.moved_back(seen + [rec(low, "blue", 2.0), rec(high, "green", 2.1)], "green") == [low]

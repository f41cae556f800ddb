# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The zero-downtime report on synthetic runs: cutover, windows, table, JSON, the PNG timeline."""

from __future__ import annotations

import json
import os
import struct
import zlib

import pytest
from ansible_collections.bluegreen.core.benchmarks import report


def rec(kind: str, t: float, colour: str | None = "blue", latency: float = 0.002, status: int | None = 200,
        error: str | None = None, **extra: object) -> dict:
    """One request record as probe.py writes it."""
    record = {"type": "request", "kind": kind, "thread": f"{kind}-0", "t": t, "start": 1000.0 + t, "latency": latency,
              "status": status, "error": error, "colour": colour, "version": "1.0.0"}
    record.update(extra)
    return record


def switch_run() -> report.Run:
    """Blue until just after a switch at t=5.0, green from just before its end; two drops; two streams."""
    records = [rec("keepalive", i / 100, "blue") for i in range(500)]          # 0.00 .. 4.99 blue
    records += [rec("newconn", i / 50 + 0.005, "blue") for i in range(250)]     # 0.005 .. 4.985 blue
    records += [rec("keepalive", 5.004, "green"), rec("newconn", 5.012, "blue", latency=0.5)]  # first new, last old
    records += [rec("keepalive", 5.0 + i / 100, "green") for i in range(1, 500)]  # .. 9.99 green
    records += [rec("keepalive", 5.006, None, status=None, error="RemoteDisconnected")]
    records += [rec("newconn", 7.5, "green", status=503)]
    records += [rec("newconn", 8.0, "green", status=404)]  # the app's answer, not an outage
    records += [rec("stream", 0.0, "blue", latency=10.0, complete=True, cut_at=None),
                rec("stream", 0.0, "blue", latency=5.3, status=200, error="IncompleteRead", complete=False, cut_at=5.3)]
    events = [{"type": "event", "name": "switch-start", "t": 5.0, "time": 1005.0},
              {"type": "event", "name": "switch-end", "t": 5.2, "time": 1005.2}]
    return report.Run(case="haproxy map", records=records, events=events, seconds=10.0)


def test_cutover_to_the_start_of_the_last_old_and_the_first_new_request() -> None:
    run = switch_run()
    cut = report.cutover(run.records, run.events)
    assert cut["old_colour"] == "blue" and cut["new_colour"] == "green"
    assert cut["to_last_old_ms"] == pytest.approx(12.0) and cut["to_first_new_ms"] == pytest.approx(4.0)
    assert report.switch_window(cut) == pytest.approx((4.0, 6.012))


def test_streams_do_not_count_as_old_colour_traffic() -> None:
    run = switch_run()
    late_stream = rec("stream", 9.0, "blue")  # counted, it would move the last old-colour request to 9.0
    assert report.cutover([*run.records, late_stream], run.events) == report.cutover(run.records, run.events)


def test_no_switch_event_means_no_cutover_and_all_steady() -> None:
    run = switch_run()
    run.events = []
    summary = report.summarise(run)
    assert summary["cutover"]["to_last_old_ms"] is None and summary["switch_window"] is None
    assert summary["latency"]["switch"]["count"] == 0
    assert "n/a" in report.markdown_table([summary])


def test_summary_counts_failures_latency_streams_and_rate() -> None:
    summary = report.summarise(switch_run())
    kinds = summary["kinds"]
    assert kinds["keepalive"] == {"requests": 1001, "failed": 1, "errors": {"RemoteDisconnected": 1}, "rps": 100.1}
    assert kinds["newconn"]["requests"] == 253 and kinds["newconn"]["failed"] == 1  # the 503; the 404 is not a failure
    assert summary["requests_per_s"] == pytest.approx(125.4)
    assert summary["latency"]["switch"]["max_ms"] == 500.0  # the slow last-old request is inside the window
    assert summary["latency"]["steady"]["max_ms"] == 2.0
    assert summary["latency"]["switch"]["count"] + summary["latency"]["steady"]["count"] == 1001 - 1 + 253
    streams = summary["streams"]
    assert streams["total"] == 2 and streams["survived"] == 1
    assert [each["cut_at"] for each in streams["each"]] == [None, 5.3]


def test_percentile_is_nearest_rank() -> None:
    values = [float(value) for value in range(1, 101)]
    assert report.percentile(values, 50) == 50.0 and report.percentile(values, 99) == 99.0
    assert report.percentile([3.0], 99) == 3.0 and report.percentile([], 50) is None
    assert report.latency_stats([0.001, 0.002, 0.010]) == {"count": 3, "p50_ms": 2.0, "p99_ms": 10.0, "max_ms": 10.0}


def test_markdown_table_has_one_row_per_case_and_json_round_trips() -> None:
    other = switch_run()
    other.case = "nginx reload"
    summaries = [report.summarise(switch_run()), report.summarise(other)]
    table = report.markdown_table(summaries)
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert len(rows) == 3  # header + two cases
    assert all(row.count("|") == rows[0].count("|") for row in rows)
    assert rows[1].startswith("| haproxy map | 1,001 / 253 | 1 / 1 | 1/2 | 12.0 | 4.0 | ")
    data = json.loads(report.to_json(summaries))
    assert [case["case"] for case in data["cases"]] == ["haproxy map", "nginx reload"]
    assert data["cases"][0]["cutover"]["to_last_old_ms"] == 12.0


def test_timeline_bins_per_colour_errors_and_events() -> None:
    data = report.timeline(switch_run())
    assert data["bin_s"] == 0.1 and len(data["errors"]) == 100
    assert set(data["colours"]) == {"blue", "green"}
    assert data["colours"]["blue"][0] == pytest.approx(150.0)  # 10 keepalive + 5 newconn in the first 100 ms
    assert data["errors"][50] == 1 and data["errors"][53] == 1 and data["errors"][75] == 1  # drop, cut stream, 503
    assert data["events"] == [("switch-start", 5.0), ("switch-end", 5.2)]


def test_axis_scales_are_round_and_close_to_the_data() -> None:
    assert [report.nice_ceiling(value) for value in (0, 0.7, 7, 2712, 3100, 9000)] == [1.0, 0.8, 8.0, 3000.0, 4000.0, 10000.0]
    assert [report.time_step(seconds) for seconds in (0.5, 2, 10, 60, 600)] == [0.1, 0.2, 1.0, 5.0, 60.0]


def decode_png(blob: bytes) -> tuple[int, int, bytes]:
    """Width, height and raw scanlines of an 8-bit RGB PNG (enough to check what report.py writes)."""
    assert blob[:8] == b"\x89PNG\r\n\x1a\n"
    offset, chunks = 8, {}
    while offset < len(blob):
        (length,) = struct.unpack(">I", blob[offset:offset + 4])
        kind, data = blob[offset + 4:offset + 8], blob[offset + 8:offset + 8 + length]
        assert struct.unpack(">I", blob[offset + 8 + length:offset + 12 + length])[0] == zlib.crc32(kind + data)
        chunks[kind] = chunks.get(kind, b"") + data
        offset += 12 + length
    width, height, depth, colour_type = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour_type) == (8, 2) and b"IEND" in chunks
    return width, height, zlib.decompress(chunks[b"IDAT"])


def test_png_timeline_is_a_valid_picture_with_the_series_colours() -> None:
    blob = report.timeline_png(switch_run())
    width, height, raw = decode_png(blob)
    assert (width, height) == (1000, 480) and len(raw) == height * (1 + 3 * width)
    assert 2_000 < len(blob) < 200_000
    for colour in (report.SERIES["blue"], report.SERIES["green"], report.ERROR_RED, report.EVENT_PURPLE):
        assert bytes(colour) in raw


def test_write_report_and_cli(tmp_path: object, capsys: pytest.CaptureFixture) -> None:
    run = switch_run()
    path = os.path.join(str(tmp_path), "run.jsonl")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(json.dumps({"type": "run", "case": "haproxy map", "started": 1000.0, "ended": 1010.0}) + "\n")
        for line in run.records:
            handle.write(json.dumps(line) + "\n")
        handle.write(json.dumps({"type": "event", "name": "switch-start", "time": 1005.0}) + "\n")  # no t: from the header
    out_dir = os.path.join(str(tmp_path), "out")
    assert report.main([path, path, "--out-dir", out_dir]) == 0
    assert "| haproxy map #2 |" in capsys.readouterr().out
    assert sorted(os.listdir(out_dir)) == ["haproxy_map.png", "haproxy_map_2.png", "report.json", "report.md"]
    with open(os.path.join(out_dir, "report.json"), encoding="utf-8") as handle:
        cases = json.load(handle)["cases"]
    assert cases[0]["cutover"]["to_last_old_ms"] == pytest.approx(12.0) and cases[0]["timeline_png"] == "haproxy_map.png"


def test_unreadable_run_is_an_error_not_a_traceback(tmp_path: object, capsys: pytest.CaptureFixture) -> None:
    path = os.path.join(str(tmp_path), "bad.jsonl")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("{not json\n")
    assert report.main([path]) == 2
    assert "line 1: not JSON" in capsys.readouterr().err
    with pytest.raises(ValueError, match="line 2: not a probe.py record"):
        report.parse_lines(['{"type": "run", "started": 1.0}', '{"type": "request", "kind": "newconn"}'], "case")
    with pytest.raises(ValueError, match="no header to place it"):
        report.parse_lines(['{"type": "event", "name": "switch-start", "time": 5.0}'], "case")

# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn probe runs into the zero-downtime report: a Markdown table, JSON, and a PNG timeline per case.

    python3 benchmarks/report.py run-haproxy.jsonl run-nginx.jsonl --out-dir benchmarks/results/zero_downtime

Each run (a JSONL file written by probe.py, with its `switch-start` / `switch-end` events) is
one case, one table row and one picture. A request failed when it got no answer or a 5xx one.
The cutover is measured from `switch-start` to the START of the last request the old colour
served (so a request that began on the old colour and ended late is not counted twice), and to
the first request the new colour served; the old colour is the one that served most requests
before the switch. Latency is compared inside the switch window (switch-start - 1 s .. the later
of switch-start and the last old-colour request, + 1 s) and outside it (steady state).

Everything but main() is a pure function of the records, so it is tested without a network.
The PNG is written with the standard library (zlib) and a built-in 5x7 font: no plotting
dependency to pin for one picture.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import struct
import sys
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

REQUEST_KINDS = ("keepalive", "newconn")
KINDS = (*REQUEST_KINDS, "stream")
BIN_S = 0.1
WINDOW_PAD_S = 1.0


@dataclass
class Run:
    """One probe run as read back: records and events carry `t`, seconds since the run started."""

    case: str
    records: list[dict]
    events: list[dict] = field(default_factory=list)
    seconds: float | None = None


def parse_lines(lines: Iterable[str], default_case: str) -> Run:
    """A Run from probe.py's JSONL lines; events given only as epoch `time` get `t` from the header."""
    header: dict = {}
    records: list[dict] = []
    events: list[dict] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"line {number}: not JSON ({exc})") from None
        if not isinstance(item, dict) or (item.get("type") == "request" and "t" not in item):
            raise ValueError(f"line {number}: not a probe.py record, event or run header")
        kind = item.get("type")
        if kind == "run":
            header = item
        elif kind == "request":
            records.append(item)
        elif kind == "event":
            events.append(item)
    started = header.get("started")
    for event in events:
        if event.get("t") is None:
            if started is None:
                raise ValueError(f"event {event.get('name')!r} has no `t` and the run has no header to place it")
            if not isinstance(event.get("time"), (int, float)):
                raise ValueError(f"event {event.get('name')!r} has neither `t` nor `time`")
            event["t"] = event["time"] - started
    seconds = None
    if header.get("ended") is not None and started is not None:
        seconds = header["ended"] - started
    return Run(case=header.get("case") or default_case, records=records, events=events, seconds=seconds)


def load_run(path: str) -> Run:
    """Read one probe.py JSONL file; the case is named by its header, or else by the file name."""
    with open(path, encoding="utf-8") as handle:
        return parse_lines(handle, os.path.splitext(os.path.basename(path))[0])


def is_failed(record: dict) -> bool:
    """No answer, or a 5xx answer: what a user would have seen as an outage."""
    status = record.get("status")
    return record.get("error") is not None or (status is not None and status >= 500)


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile (a value that was really observed); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(pct / 100.0 * len(ordered)), 1)
    return ordered[rank - 1]


def latency_stats(latencies_s: Sequence[float]) -> dict:
    """Count, p50, p99 and max in milliseconds."""
    def millis(value: float | None) -> float | None:
        return None if value is None else round(value * 1000.0, 3)

    return {
        "count": len(latencies_s),
        "p50_ms": millis(percentile(latencies_s, 50)),
        "p99_ms": millis(percentile(latencies_s, 99)),
        "max_ms": millis(max(latencies_s) if latencies_s else None),
    }


def event_t(events: Iterable[dict], name: str) -> float | None:
    """When the first event called `name` happened (seconds since the run started)."""
    times = [event["t"] for event in events if event.get("name") == name]
    return min(times) if times else None


def _routed(records: Iterable[dict]) -> list[dict]:
    """Requests that say who served them; streams are left out: they start before any switch."""
    return [rec for rec in records if rec.get("kind") != "stream" and rec.get("colour")]


def cutover(records: Sequence[dict], events: Sequence[dict]) -> dict:
    """How long after `switch-start` the old colour stopped getting and the new one started getting requests.

    The old colour is the one that served most requests before switch-start; the new colour the
    one other than it that served most after. Times are from switch-start to request starts, in
    ms. They can be negative: the router picks the colour when the request reaches it, so a
    request started just before switch-start may be served by the new colour.
    """
    switch = event_t(events, "switch-start")
    result: dict = {"switch_start_t": switch, "old_colour": None, "new_colour": None,
                    "last_old_t": None, "first_new_t": None, "to_last_old_ms": None, "to_first_new_ms": None}
    if switch is None:
        return result
    routed = _routed(records)
    before = Counter(rec["colour"] for rec in routed if rec["t"] < switch)
    if not before:
        return result
    old = before.most_common(1)[0][0]
    after = Counter(rec["colour"] for rec in routed if rec["t"] >= switch and rec["colour"] != old)
    new = after.most_common(1)[0][0] if after else None
    result["old_colour"], result["new_colour"] = old, new
    result["last_old_t"] = max(rec["t"] for rec in routed if rec["colour"] == old)
    result["to_last_old_ms"] = round((result["last_old_t"] - switch) * 1000.0, 3)
    if new is not None:
        result["first_new_t"] = min(rec["t"] for rec in routed if rec["colour"] == new)
        result["to_first_new_ms"] = round((result["first_new_t"] - switch) * 1000.0, 3)
    return result


def switch_window(cut: dict) -> tuple[float, float] | None:
    """The stretch where the switch can affect latency; None when there was no switch."""
    switch = cut["switch_start_t"]
    if switch is None:
        return None
    last_old = cut["last_old_t"] if cut["last_old_t"] is not None else switch
    return (switch - WINDOW_PAD_S, max(last_old, switch) + WINDOW_PAD_S)


def run_seconds(run: Run) -> float:
    """The run's length from its header, or else from its records."""
    if run.seconds:
        return run.seconds
    ends = [rec["t"] + (rec.get("latency") or 0.0) for rec in run.records]
    return max(ends, default=0.0) or 1e-9


def kind_stats(records: Sequence[dict], seconds: float) -> dict:
    """Per client kind: requests, failed, errors by class, requests per second."""
    stats = {}
    for kind in KINDS:
        recs = [rec for rec in records if rec.get("kind") == kind]
        stats[kind] = {
            "requests": len(recs),
            "failed": sum(1 for rec in recs if is_failed(rec)),
            "errors": dict(sorted(Counter(rec["error"] for rec in recs if rec.get("error")).items())),
            "rps": round(len(recs) / seconds, 1) if seconds > 0 else None,
        }
    return stats


def stream_stats(records: Sequence[dict]) -> dict:
    """Which streams survived; for a cut one, when (s since run start), why, and who served it."""
    streams = [rec for rec in records if rec.get("kind") == "stream"]
    return {
        "total": len(streams),
        "survived": sum(1 for rec in streams if rec.get("complete")),
        "each": [
            {"thread": rec.get("thread"), "colour": rec.get("colour"), "survived": bool(rec.get("complete")),
             "seconds": rec.get("latency"), "cut_at": rec.get("cut_at"), "error": rec.get("error")}
            for rec in streams
        ],
    }


def summarise(run: Run) -> dict:
    """Everything the table, the JSON and the reader need about one case."""
    seconds = run_seconds(run)
    cut = cutover(run.records, run.events)
    window = switch_window(cut)
    answered = [rec for rec in run.records if rec.get("kind") != "stream" and rec.get("status") is not None]
    inside = [rec["latency"] for rec in answered if window and window[0] <= rec["t"] <= window[1]]
    outside = [rec["latency"] for rec in answered if not (window and window[0] <= rec["t"] <= window[1])]
    requests = sum(1 for rec in run.records if rec.get("kind") in REQUEST_KINDS)
    return {
        "case": run.case,
        "seconds": round(seconds, 3),
        "kinds": kind_stats(run.records, seconds),
        "requests_per_s": round(requests / seconds, 1) if seconds > 0 else None,
        "cutover": cut,
        "switch_window": list(window) if window else None,
        "latency": {"switch": latency_stats(inside), "steady": latency_stats(outside)},
        "streams": stream_stats(run.records),
        "events": [{"name": event.get("name"), "t": event["t"]} for event in run.events],
    }


def _num(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _triple(stats: dict) -> str:
    return " / ".join(_num(stats[key]) for key in ("p50_ms", "p99_ms", "max_ms"))


def markdown_table(summaries: Sequence[dict]) -> str:
    """One row per case, with the definitions under the table so it can be pasted as is."""
    head = ("| case | requests keepalive / newconn | failed keepalive / newconn | streams survived "
            "| to last old (ms) | to first new (ms) | switch p50 / p99 / max (ms) | steady p50 / p99 / max (ms) | req/s |")
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for summary in summaries:
        kinds, cut, streams = summary["kinds"], summary["cutover"], summary["streams"]
        lines.append(" | ".join([
            f"| {summary['case']}",
            f"{kinds['keepalive']['requests']:,} / {kinds['newconn']['requests']:,}",
            f"{kinds['keepalive']['failed']:,} / {kinds['newconn']['failed']:,}",
            f"{streams['survived']}/{streams['total']}",
            _num(cut["to_last_old_ms"]),
            _num(cut["to_first_new_ms"]),
            _triple(summary["latency"]["switch"]),
            _triple(summary["latency"]["steady"]),
            _num(summary["requests_per_s"], 0) + " |",
        ]))
    lines += [
        "",
        "Failed: no answer (reset, closed, timeout) or a 5xx answer; nothing is retried. "
        "To last old / first new: from `switch-start` to the start of the last request served by the old colour / "
        "of the first served by the new one (negative: started just before the switch, routed after it). "
        "Switch latency: requests started from 1 s before `switch-start` to 1 s after the last old-colour request; "
        "steady: all others. req/s: keepalive + newconn.",
    ]
    return "\n".join(lines) + "\n"


def to_json(summaries: Sequence[dict]) -> str:
    """The machine-readable report."""
    return json.dumps({"cases": list(summaries)}, indent=2, sort_keys=True) + "\n"


# --- timeline data ------------------------------------------------------------------------------

def _span(run: Run) -> float:
    """Seconds from the run start to the last request start, cut or event: the time axis.

    Not the run's end: after the deadline no request starts, and a bin holding only the tail of
    the run would look like a drop in traffic.
    """
    times = [rec["t"] for rec in run.records] + [rec["cut_at"] for rec in run.records if rec.get("cut_at") is not None]
    times += [event["t"] for event in run.events]
    return max(max(times, default=0.0) + 1e-6, BIN_S)


def timeline(run: Run, bin_s: float = BIN_S) -> dict:
    """Requests per second per colour in `bin_s` bins by start time, failures per bin, events.

    A failed request counts under `errors`, not under a colour: it has none. A cut stream counts
    as an error in the bin where it was cut, not where it started.
    """
    seconds = _span(run)
    count = max(math.ceil(seconds / bin_s), 1)
    colours: dict[str, list[float]] = {}
    errors = [0] * count

    def slot(t: float) -> int:
        return min(max(int(t / bin_s + 1e-9), 0), count - 1)  # 5.3 / 0.1 is 52.99...

    for rec in run.records:
        if is_failed(rec):
            at = rec.get("cut_at") if rec.get("kind") == "stream" and rec.get("cut_at") is not None else rec["t"]
            errors[slot(at)] += 1
        elif rec.get("kind") != "stream":
            series = colours.setdefault(rec.get("colour") or "unknown", [0.0] * count)
            series[slot(rec["t"])] += 1.0 / bin_s
    return {
        "bin_s": bin_s,
        "seconds": seconds,
        "colours": dict(sorted(colours.items())),
        "errors": errors,
        "events": sorted(((event.get("name", "?"), event["t"]) for event in run.events), key=lambda item: item[1]),
    }


def nice_ceiling(value: float) -> float:
    """The smallest round number >= value for an axis top: 1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten.

    Each divides into five round ticks, and the top is never much above the data.
    """
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0):
        if value <= step * power * (1 + 1e-9):
            return step * power
    return 10.0 * power


def time_step(seconds: float, most: int = 12) -> float:
    """A tick spacing for the time axis that gives at most `most` ticks."""
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300):
        if seconds / step <= most:
            return float(step)
    return 600.0


# --- a small raster canvas and PNG writer ---------------------------------------------------------

# 5x7 glyphs, row-major, 5 bits per row, top row in the highest bits; g, p, q and y are drawn two
# rows lower (their tails hang below the line). Unknown characters print as '?'.
GLYPHS = {
    '0': 0x3A33AE62E, '1': 0x11842108E, '2': 0x3A211111F, '3': 0x7C441062E, '4': 0x08CA97C42, '5': 0x7E1E0862E, '6': 0x1910F462E, '7': 0x7C2222108,
    '8': 0x3A317462E, '9': 0x3A317844C, 'A': 0x3A31FC631, 'B': 0x7A31F463E, 'C': 0x3A308422E, 'D': 0x72518C65C, 'E': 0x7E10F421F, 'F': 0x7E10F4210,
    'G': 0x3A30BC62F, 'H': 0x4631FC631, 'I': 0x38842108E, 'J': 0x1C4210A4C, 'K': 0x4654C5251, 'L': 0x42108421F, 'M': 0x4775AC631, 'N': 0x4639ACE31,
    'O': 0x3A318C62E, 'P': 0x7A31F4210, 'Q': 0x3A318D64D, 'R': 0x7A31F5251, 'S': 0x3E107043E, 'T': 0x7C8421084, 'U': 0x46318C62E, 'V': 0x46318C544,
    'W': 0x4631AD6AA, 'X': 0x462A22A31, 'Y': 0x462A21084, 'Z': 0x7C222221F, 'a': 0x000E0BE2F, 'b': 0x4216CC63E, 'c': 0x000E8422E, 'd': 0x042D9C62F,
    'e': 0x000E8FE0E, 'f': 0x1928E2108, 'g': 0x3E319B42E, 'h': 0x4216CC631, 'i': 0x100C2108E, 'j': 0x080610A4C, 'k': 0x4212A6292, 'l': 0x30842108E,
    'm': 0x001AAD631, 'n': 0x0016CC631, 'o': 0x000E8C62E, 'p': 0x5B31CDA10, 'q': 0x36719B421, 'r': 0x0016CC210, 's': 0x000E8383E, 't': 0x211C42126,
    'u': 0x00118C66D, 'v': 0x00118C544, 'w': 0x00118D6AA, 'x': 0x001151151, 'y': 0x46319B42E, 'z': 0x001F1111F, '-': 0x0000F8000, '.': 0x00000018C,
    ',': 0x000003088, ':': 0x018C03180, '/': 0x002222200, '(': 0x088842082, ')': 0x208210888, '%': 0x632222263, '_': 0x00000001F, '+': 0x0084F9080,
    '=': 0x001F07C00, '<': 0x088882082, '>': 0x208208888, '[': 0x39084210E, ']': 0x38421084E, '#': 0x295F57D4A, "'": 0x108800000, '?': 0x3A2111004,
    '!': 0x108421004, '*': 0x009575480, ' ': 0,
}
GLYPH_W, GLYPH_H, ADVANCE = 5, 7, 6
DESCENDERS = frozenset("gpqy")

Colour = tuple[int, int, int]
WHITE: Colour = (255, 255, 255)
BLACK: Colour = (0, 0, 0)
GRID: Colour = (225, 225, 225)
ERROR_RED: Colour = (214, 39, 40)
EVENT_PURPLE: Colour = (118, 42, 131)
SERIES: dict[str, Colour] = {"blue": (31, 119, 180), "green": (44, 160, 44)}
OTHERS: tuple[Colour, ...] = ((255, 127, 14), (127, 127, 127), (140, 86, 75), (23, 190, 207))


class Canvas:
    """An RGB raster with just what a timeline needs: lines, boxes, text, PNG output."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(WHITE * (width * height))

    def dot(self, x: int, y: int, colour: Colour) -> None:
        """One pixel; anything off the canvas is ignored."""
        if 0 <= x < self.width and 0 <= y < self.height:
            offset = (y * self.width + x) * 3
            self.pixels[offset:offset + 3] = bytes(colour)

    def box(self, x0: int, y0: int, x1: int, y1: int, colour: Colour) -> None:
        """A filled rectangle, corners included."""
        for y in range(min(y0, y1), max(y0, y1) + 1):
            for x in range(min(x0, x1), max(x0, x1) + 1):
                self.dot(x, y, colour)

    def line(self, x0: int, y0: int, x1: int, y1: int, colour: Colour, dash: int = 0) -> None:
        """Bresenham's line; `dash` > 0 draws `dash` pixels on, `dash` off."""
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err, step = dx + dy, 0
        while True:
            if not dash or (step // dash) % 2 == 0:
                self.dot(x0, y0, colour)
            if x0 == x1 and y0 == y1:
                return
            doubled = 2 * err
            if doubled >= dy:
                err += dy
                x0 += sx
            if doubled <= dx:
                err += dx
                y0 += sy
            step += 1

    def text(self, x: int, y: int, text: str, colour: Colour = BLACK, scale: int = 1, vertical: bool = False) -> None:
        """Text from the 5x7 font with its top-left at (x, y); vertical text reads bottom to top."""
        for index, char in enumerate(text):
            bits = GLYPHS.get(char, GLYPHS["?"])
            drop = 2 if char in DESCENDERS else 0
            for row in range(GLYPH_H):
                for col in range(GLYPH_W):
                    if not bits >> ((GLYPH_H - 1 - row) * GLYPH_W + (GLYPH_W - 1 - col)) & 1:
                        continue
                    along, across = (index * ADVANCE + col) * scale, (row + drop) * scale
                    if vertical:
                        self.box(x + across, y - along - scale + 1, x + across + scale - 1, y - along, colour)
                    else:
                        self.box(x + along, y + across, x + along + scale - 1, y + across + scale - 1, colour)

    def png(self) -> bytes:
        """The canvas as a PNG (8-bit RGB, no filtering, zlib-compressed)."""
        stride = self.width * 3
        raw = b"".join(b"\x00" + bytes(self.pixels[row * stride:(row + 1) * stride]) for row in range(self.height))
        return png_bytes(self.width, self.height, raw)


def text_width(text: str, scale: int = 1) -> int:
    """Pixels a line of text takes."""
    return max(len(text) * ADVANCE - 1, 0) * scale


def png_bytes(width: int, height: int, scanlines: bytes) -> bytes:
    """A PNG file from filtered scanlines (each row prefixed by its filter byte)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(scanlines, 9)) + chunk(b"IEND", b"")


# --- the timeline picture ----------------------------------------------------------------------

@dataclass(frozen=True)
class Frame:
    """Where the plot area sits on the canvas and what its axes span."""

    left: int
    top: int
    right: int
    bottom: int
    seconds: float
    y_max: float

    def x(self, t: float) -> int:
        """Canvas column of a time (s since the run started)."""
        return self.left + round((self.right - self.left) * min(max(t / self.seconds, 0.0), 1.0))

    def y(self, value: float) -> int:
        """Canvas row of a requests/s value."""
        return self.bottom - round((self.bottom - self.top) * min(max(value / self.y_max, 0.0), 1.0))


def series_colour(name: str, index: int) -> Colour:
    """Blue is blue and green is green; anything else gets a distinct other colour."""
    return SERIES.get(name, OTHERS[index % len(OTHERS)])


def _axes(canvas: Canvas, frame: Frame) -> None:
    """Grid, ticks, tick labels and axis titles."""
    for tick in range(6):
        value = frame.y_max * tick / 5
        y = frame.y(value)
        canvas.line(frame.left, y, frame.right, y, GRID)
        label = f"{value:,.0f}" if frame.y_max >= 10 else f"{value:g}"
        canvas.text(frame.left - 6 - text_width(label), y - 3, label)
    step = time_step(frame.seconds)
    for tick in range(int(frame.seconds / step + 1e-9) + 1):
        value = tick * step
        x = frame.x(value)
        canvas.line(x, frame.top, x, frame.bottom, GRID)
        canvas.line(x, frame.bottom, x, frame.bottom + 4, BLACK)
        label = f"{value:g}"
        canvas.text(x - text_width(label) // 2, frame.bottom + 8, label)
    canvas.line(frame.left, frame.top, frame.left, frame.bottom, BLACK)
    canvas.line(frame.left, frame.bottom, frame.right, frame.bottom, BLACK)
    title = "time since the probe started (s)"
    canvas.text((frame.left + frame.right - text_width(title, 2)) // 2, frame.bottom + 24, title, scale=2)
    ylabel = "requests/s"
    canvas.text(8, (frame.top + frame.bottom + text_width(ylabel, 2)) // 2, ylabel, scale=2, vertical=True)


def _series(canvas: Canvas, frame: Frame, values: Sequence[float], bin_s: float, colour: Colour) -> None:
    """A 2-pixel step line: each bin is flat across its 100 ms."""
    previous_y = None
    for index, value in enumerate(values):
        x0, x1, y = frame.x(index * bin_s), frame.x((index + 1) * bin_s), frame.y(value)
        if previous_y is not None:
            canvas.line(x0, previous_y, x0, y, colour)
            canvas.line(x0 + 1, previous_y, x0 + 1, y, colour)
        canvas.line(x0, y, x1, y, colour)
        canvas.line(x0, y - 1, x1, y - 1, colour)
        previous_y = y


def _cross(canvas: Canvas, x: int, y: int, colour: Colour, size: int = 4) -> None:
    for offset in (0, 1):
        canvas.line(x - size + offset, y - size, x + size + offset, y + size, colour)
        canvas.line(x - size + offset, y + size, x + size + offset, y - size, colour)


def _errors(canvas: Canvas, frame: Frame, errors: Sequence[int], bin_s: float) -> None:
    """A red cross on the time axis for every bin with failures, with the count above it when > 1."""
    for index, count in enumerate(errors):
        if count:
            x = frame.x((index + 0.5) * bin_s)
            _cross(canvas, x, frame.bottom - 6, ERROR_RED)
            if count > 1:
                canvas.text(x - text_width(str(count)) // 2, frame.bottom - 20, str(count), ERROR_RED)


def _events(canvas: Canvas, frame: Frame, events: Sequence[tuple[str, float]]) -> None:
    """A dashed vertical line per event, labelled at the top, labels stepped down so they don't overlap."""
    for index, (name, t) in enumerate(events):
        x = frame.x(t)
        canvas.line(x, frame.top, x, frame.bottom, EVENT_PURPLE, dash=4)
        canvas.line(x + 1, frame.top, x + 1, frame.bottom, EVENT_PURPLE, dash=4)
        label = f"{name} {t:.2f}s"
        lx = x + 4 if x + 4 + text_width(label) <= frame.right else x - 4 - text_width(label)
        canvas.text(lx, frame.top + 4 + 10 * (index % 4), label, EVENT_PURPLE)


def _legend(canvas: Canvas, x: int, y: int, entries: Sequence[tuple[str, Colour, str]]) -> None:
    """A legend row above the plot, so it never hides data: (label, colour, mark), mark line|cross|dash."""
    for label, colour, mark in entries:
        if mark == "cross":
            _cross(canvas, x + 12, y + 7, colour)
        else:
            for offset in (6, 7):
                canvas.line(x, y + offset, x + 24, y + offset, colour, dash=4 if mark == "dash" else 0)
        canvas.text(x + 30, y, label, colour if mark != "line" else BLACK, scale=2)
        x += 30 + text_width(label, 2) + 28


def render_timeline(data: dict, title: str, width: int = 1000, height: int = 480) -> bytes:
    """The PNG of a timeline(): requests/s per colour, errors, switch events, labelled axes, legend."""
    peak = max((max(values) for values in data["colours"].values()), default=0.0)
    # Headroom above the peak keeps the event labels off the data.
    frame = Frame(left=84, top=68, right=width - 24, bottom=height - 64, seconds=max(data["seconds"], data["bin_s"]),
                  y_max=nice_ceiling(peak * 1.25))
    canvas = Canvas(width, height)
    canvas.text(frame.left, 12, title, scale=2)
    _axes(canvas, frame)
    entries = []
    for index, (name, values) in enumerate(data["colours"].items()):
        colour = series_colour(name, index)
        _series(canvas, frame, values, data["bin_s"], colour)
        entries.append((f"{name} ({sum(values) * data['bin_s']:,.0f})", colour, "line"))
    _errors(canvas, frame, data["errors"], data["bin_s"])
    _events(canvas, frame, data["events"])
    entries.append((f"failed ({sum(data['errors']):,})", ERROR_RED, "cross"))
    if data["events"]:
        entries.append(("switch events", EVENT_PURPLE, "dash"))
    _legend(canvas, frame.left, 40, entries)
    return canvas.png()


def timeline_png(run: Run, bin_s: float = BIN_S) -> bytes:
    """The picture of one case."""
    title = f"{run.case}: requests per second by serving colour ({bin_s * 1000:g} ms bins)"
    return render_timeline(timeline(run, bin_s), title)


def safe_name(case: str) -> str:
    """A file name for a case: letters, digits, dot, dash and underscore only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", case).strip("._") or "case"


def unique_cases(runs: list[Run]) -> list[Run]:
    """Give repeated case names a #2, #3... so each row and picture is told apart."""
    seen: Counter = Counter()
    for run in runs:
        seen[run.case] += 1
        if seen[run.case] > 1:
            run.case = f"{run.case} #{seen[run.case]}"
    return runs


def write_report(runs: list[Run], out_dir: str) -> list[dict]:
    """Write report.md, report.json and <case>.png into out_dir; returns the summaries."""
    os.makedirs(out_dir, exist_ok=True)
    summaries = [summarise(run) for run in runs]
    for run, summary in zip(runs, summaries, strict=True):
        picture = os.path.join(out_dir, safe_name(run.case) + ".png")
        with open(picture, "wb") as handle:
            handle.write(timeline_png(run))
        summary["timeline_png"] = os.path.basename(picture)
    with open(os.path.join(out_dir, "report.md"), "w", encoding="utf-8") as handle:
        handle.write(markdown_table(summaries))
    with open(os.path.join(out_dir, "report.json"), "w", encoding="utf-8") as handle:
        handle.write(to_json(summaries))
    return summaries


def main(argv: list[str] | None = None) -> int:
    """CLI: print the table; with --out-dir also write the JSON and the pictures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="JSONL files written by probe.py (one case each)")
    parser.add_argument("--out-dir", help="write report.md, report.json and one PNG timeline per case here")
    args = parser.parse_args(argv)
    try:
        runs = unique_cases([load_run(path) for path in args.runs])
    except (OSError, ValueError) as exc:
        print(f"report.py: {exc}", file=sys.stderr)
        return 2
    if args.out_dir:
        summaries = write_report(runs, args.out_dir)
    else:
        summaries = [summarise(run) for run in runs]
    print(markdown_table(summaries), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())

# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The app's counts log on Nginx: its format and access_log lines as the app's files render them, its paths, and the
tail the watch reads (partial lines, rotations, lines it cannot count)."""

from __future__ import annotations

import os

import pytest
from ansible_collections.bluegreen.core.plugins.module_utils import _nginx_apps, _nginx_log, _validate

CLAIM = {"app": "shop.eu", "path_prefix": "/", "tls_redirect": False, "tls_port": None, "bind_address": "*", "hostnames": [],
         "preview_hostnames": [], "manage": "full", "listen_port": 80, "preview_port": 8080}
OPTIONS = {"colour_header": True, "proxy_next_upstream": "error timeout", "proxy_connect_timeout": "5s",
           "proxy_send_timeout": "60s", "proxy_read_timeout": "60s", "counts_log": "/var/log/nginx/bluegreen-shop.eu.log",
           "access_log": "/var/log/nginx/access.log"}
SERVERS = {"blue": ["10.0.0.5:8001"], "green": ["10.0.0.5:8002"]}
PATHS = {"conf_dir": "/etc/nginx/bluegreen", "cert_dir": "/etc/nginx/bluegreen-certs"}


# --------------------------------------------------------------------------- the app's files


def test_the_app_file_defines_its_own_log_format_with_the_colour_map_even_without_the_header():
    site = _nginx_apps.app_site(CLAIM, SERVERS, PATHS, dict(OPTIONS, colour_header=False))
    assert "log_format bluegreen_shop_eu_counts '$msec $status $bluegreen_shop_eu_colour $upstream_response_time';" in site
    # The colour map is written whatever colour_header says: the log needs it.
    assert "map $upstream_addr $bluegreen_shop_eu_colour {" in site and '"~(?:^|\\s)10\\.0\\.0\\.5:8002$" green;' in site
    assert "add_header X-Bluegreen-Colour" not in site
    assert "add_header X-Bluegreen-Colour" in _nginx_apps.app_site(CLAIM, SERVERS, PATHS, OPTIONS)
    assert _nginx_apps.log_format_name("shop.eu") == "bluegreen_shop_eu_counts"


def test_the_live_locations_write_the_counts_log_and_the_access_log_and_the_preview_ones_neither():
    live = _nginx_apps.locations(dict(CLAIM, path_prefix="/shop"), "live", OPTIONS)
    counts = "    access_log /var/log/nginx/bluegreen-shop.eu.log bluegreen_shop_eu_counts;\n"
    access = "    access_log /var/log/nginx/access.log;\n"
    # Both locations of a path prefix (/shop/ and = /shop) log, each to both files.
    assert live.count(counts) == 2 and live.count(access) == 2
    assert "access_log" not in _nginx_apps.locations(CLAIM, "preview", OPTIONS)
    # The app's own listeners: the live one logs, the preview one does not.
    site = _nginx_apps.app_site(CLAIM, SERVERS, PATHS, OPTIONS)
    live_server, preview_server = site.split("listen 80;")[1].split("listen 8080;")
    assert "access_log /var/log/nginx/bluegreen-shop.eu.log bluegreen_shop_eu_counts;" in live_server
    assert "access_log /var/log/nginx/access.log;" in live_server and "access_log" not in preview_server


def test_without_an_access_log_the_live_locations_write_the_counts_log_only():
    live = _nginx_apps.locations(CLAIM, "live", dict(OPTIONS, access_log=None))
    assert [line.strip() for line in live.splitlines() if "access_log" in line] == [
        "access_log /var/log/nginx/bluegreen-shop.eu.log bluegreen_shop_eu_counts;"]


@pytest.mark.parametrize(("value", "expected"), [
    (None, "/var/log/nginx/bluegreen-shop.log"),
    ("", "/var/log/nginx/bluegreen-shop.log"),
    ("/srv/logs/shop-counts.log", "/srv/logs/shop-counts.log"),
])
def test_the_counts_log_defaults_to_one_per_app_in_nginx_s_log_folder(value, expected):
    assert _nginx_log.counts_path(value, "shop") == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("off", None), ("", None), (None, None), ("/var/log/nginx/access.log", "/var/log/nginx/access.log"),
])
def test_the_access_log_is_a_file_or_off(value, expected):
    assert _nginx_log.access_path(value) == expected


@pytest.mark.parametrize("value", ["relative.log", "/var/log/nginx/", "/var/log/../etc/passwd", "/var/log/a b.log",
                                   "/var/log/a;b.log", "/var/log/$host.log", "/var/log/a'b.log", 42])
def test_a_log_path_nginx_would_read_otherwise_is_refused_naming_the_option(value):
    with pytest.raises(_validate.ValidationError, match="counts_log must be the absolute path of a file") as raised:
        _nginx_log.counts_path(value, "shop")
    assert raised.value.param == "counts_log"
    with pytest.raises(_validate.ValidationError, match="access_log must be the absolute path of a file"):
        _nginx_log.access_path(value)


# --------------------------------------------------------------------------- a line


@pytest.mark.parametrize(("line", "expected"), [
    ("1767225600.123 200 green 0.004", ("green", 200, 4)),
    ("1767225600.123 502 blue 0.001, 0.003", ("blue", 502, 3)),  # a retry: the last server answered
    ("1767225600.123 504 blue 5.000, -", ("blue", 504, None)),  # the last server gave no response
    ("1767225600.123 200 blue 0.002, 0.003 : 0.010", ("blue", 200, 10)),  # an internal redirect to another upstream
    ("1767225600.123 301 - -", (None, 301, None)),  # no app server: nginx logs an empty value as "-"
    ("1767225600 499 green 0.120", ("green", 499, 120)),
])
def test_a_line_gives_its_colour_status_and_last_upstream_time(line, expected):
    assert _nginx_log.parse(line) == expected


@pytest.mark.parametrize("line", [
    "", "garbage", "1767225600.123 200 green", "1767225600.123 20 green 0.004", "1767225600.123 2000 green 0.004",
    "now 200 green 0.004", "1767225600.123 200 purple 0.004", "1767225600.123 200 green soon",
    '127.0.0.1 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl"',
])
def test_a_line_not_in_the_format_is_none(line):
    assert _nginx_log.parse(line) is None


# --------------------------------------------------------------------------- the tail


class Log:
    """A counts log nginx would write, in a temporary folder."""

    def __init__(self, path) -> None:
        self.path = str(path)

    def write(self, *lines: str, end: str = "\n") -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write("".join(line + "\n" for line in lines[:-1]) + (lines[-1] + end if lines else ""))

    def lines(self, colour: str, count: int, status: int = 200, seconds: str = "0.010") -> list:
        return [f"1767225600.{index:03d} {status} {colour} {seconds}" for index in range(count)]


@pytest.fixture
def log(tmp_path):
    path = tmp_path / "bluegreen-shop.log"
    path.write_text("1767225500.000 500 green 0.001\n" * 3)  # before the watch: never counted
    return Log(path)


def started(log: Log) -> _nginx_log.CountsLog:
    counts = _nginx_log.CountsLog(log.path)
    assert counts.start()
    return counts


def totals(counts: _nginx_log.CountsLog, colour: str) -> tuple:
    sample = counts.counts(colour)
    return sample["requests"], sample["http_5xx"]


def test_counts_start_at_zero_from_the_end_of_the_log(log):
    counts = started(log)
    assert counts.counts("green") == {"requests": 0, "http_5xx": 0, "response_ms": None, "healthy": None}
    counts.read()
    assert totals(counts, "green") == (0, 0) and counts.note() is None


def test_each_read_counts_only_the_new_lines_per_colour_and_5xx_from_500_to_599(log):
    counts = started(log)
    log.write(*log.lines("green", 2, 499), *log.lines("green", 3, 500), *log.lines("green", 1, 599), *log.lines("green", 4, 600),
              *log.lines("blue", 5, 503))
    counts.read()
    assert totals(counts, "green") == (10, 4) and totals(counts, "blue") == (5, 5)
    counts.read()
    assert totals(counts, "green") == (10, 4)
    log.write(*log.lines("green", 2, 502))
    counts.read()
    assert totals(counts, "green") == (12, 6)


def test_the_response_time_is_the_mean_of_the_latest_read_of_the_colour(log):
    counts = started(log)
    log.write("1.0 200 green 0.010", "1.0 200 green 0.001, 0.030", "1.0 200 blue 0.500", "1.0 504 green 1.000, -")
    counts.read()
    assert counts.counts("green")["response_ms"] == 20 and counts.counts("blue")["response_ms"] == 500
    counts.read()
    assert counts.counts("green")["response_ms"] is None and totals(counts, "green") == (3, 1)


def test_a_line_nginx_has_not_finished_waits_for_its_end(log):
    counts = started(log)
    log.write("1767225600.001 500 gre", end="")
    counts.read()
    assert totals(counts, "green") == (0, 0) and counts.skipped == 0
    log.write("en 0.004", "1767225600.002 200 green 0.0", end="")
    counts.read()
    assert totals(counts, "green") == (1, 1)
    log.write("05")
    counts.read()
    assert totals(counts, "green") == (2, 1) and counts.counts("green")["response_ms"] == 5 and counts.skipped == 0


def test_lines_with_no_colour_count_for_none_and_malformed_lines_are_skipped_and_noted(log):
    counts = started(log)
    log.write("1767225600.001 301 - -", "1767225600.002 502 - 0.003", "not a line of ours", "1767225600.003 500 green 0.004")
    counts.read()
    assert totals(counts, "green") == (1, 1) and totals(counts, "blue") == (0, 0)
    assert (counts.skipped, counts.uncoloured) == (1, 1)
    assert counts.note() == (f"2 lines of {log.path} were not counted: 1 not in its format, 1 answered by an app server the "
                             "colour map does not know (a server given by host name has no colour)")


def test_a_rotation_by_rename_loses_no_line_and_counts_none_twice(log):
    counts = started(log)
    log.write(*log.lines("green", 2, 500))
    counts.read()
    assert totals(counts, "green") == (2, 2)
    # logrotate (create): the file is renamed, nginx still writes it, a new one is created.
    os.rename(log.path, log.path + ".1")
    old = Log(log.path + ".1")
    old.write(*log.lines("green", 3, 500))
    counts.read()  # the path is missing: the open file is read on
    assert totals(counts, "green") == (5, 5)
    old.write(*log.lines("green", 1, 500), "1767225600.999 200 gre", end="")
    log.write(*log.lines("green", 4))
    counts.read()  # a new file: the old one read to its end, the new one from its start
    assert totals(counts, "green") == (10, 6)
    # A worker that had not reopened its log yet finishes its line in the old file, then writes the new one.
    old.write("en 0.004")
    log.write(*log.lines("green", 1, 503))
    counts.read()
    assert totals(counts, "green") == (12, 7) and counts.skipped == 0
    counts.read()
    assert totals(counts, "green") == (12, 7)
    counts.close()


def test_a_rotation_is_never_a_drop_in_the_counts(log):
    counts = started(log)
    log.write(*log.lines("green", 5))
    counts.read()
    seen = [totals(counts, "green")]
    for _rotation in range(6):
        os.replace(log.path, log.path + ".1")
        log.write(*log.lines("green", 1))
        counts.read()
        seen.append(totals(counts, "green"))
    assert seen == [(n, 0) for n in range(5, 12)] and len(counts.retired) == _nginx_log.RETIRED_MAX


def test_a_copytruncate_reads_the_file_again_from_its_start(log):
    counts = started(log)
    log.write(*log.lines("green", 4, 500), "1767225600.999 500 gr", end="")
    counts.read()
    assert totals(counts, "green") == (4, 4)
    # logrotate (copytruncate): the same file, emptied where it is; nginx appends to it again.
    with open(log.path, "r+b") as handle:
        handle.truncate(0)
    log.write(*log.lines("green", 2, 502))
    counts.read()
    assert totals(counts, "green") == (6, 6) and counts.skipped == 1  # the line the truncation cut


def test_a_missing_log_does_not_start(tmp_path):
    counts = _nginx_log.CountsLog(str(tmp_path / "missing.log"))
    assert not counts.start()


def test_a_log_that_cannot_be_read_raises_the_os_error(log):
    counts = started(log)
    os.rename(log.path, log.path + ".1")
    os.mkdir(log.path)  # rotated into something that is not a file
    with pytest.raises(IsADirectoryError):
        counts.read()

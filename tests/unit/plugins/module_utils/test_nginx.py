# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Nginx switch's pieces: upstream parsing, weighted files, links, /proc, the error log."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
from ansible_collections.bluegreen.core.plugins.module_utils import _nginx, _validate
from ansible_collections.bluegreen.core.plugins.module_utils._nginx import NginxError
from ansible_collections.bluegreen.core.tests.unit.plugins import nginx_fake


def upstream(text: str, path: str = "/x/upstream-blue.conf") -> _nginx.Upstream:
    return _nginx.parse_upstream(text, path)


# --------------------------------------------------------------------------- parsing


def test_parses_a_rendered_multi_line_upstream_with_comments_and_parameters():
    parsed = upstream(
        "# rendered by the nginx role\n"
        "upstream shop_live {\n"
        "    server 10.0.0.5:8001 max_fails=3 fail_timeout=5s;  # first host\n"
        "    server 10.0.0.6:8001 weight=2 backup;\n"
        "    server [::1]:8001 down;\n"
        "    keepalive 32;\n"
        "}\n"
    )
    assert parsed.name == "shop_live"
    assert [s.address for s in parsed.servers] == ["10.0.0.5:8001", "10.0.0.6:8001", "[::1]:8001"]
    assert [s.summary() for s in parsed.servers] == [
        {"address": "10.0.0.5:8001", "weight": 1, "backup": False, "down": False, "parameters": ["max_fails=3", "fail_timeout=5s"]},
        {"address": "10.0.0.6:8001", "weight": 2, "backup": True, "down": False, "parameters": ["weight=2", "backup"]},
        {"address": "[::1]:8001", "weight": 1, "backup": False, "down": True, "parameters": ["down"]},
    ]
    assert [s.active for s in parsed.servers] == [True, False, False]
    assert [d.render() for d in parsed.others] == ["keepalive 32;"]


def test_parses_the_one_line_form_quotes_and_a_hash_inside_a_word():
    parsed = upstream('upstream shop_live { server "10.0.0.5:8001"; zone shop#1 64k; }')
    assert parsed.servers[0].address == "10.0.0.5:8001"
    assert [d.values for d in parsed.others] == [["zone", "shop#1", "64k"]]


@pytest.mark.parametrize(("text", "expected"), [
    ("", "must hold one `upstream <name> { ... }` block"),
    ("server 10.0.0.5:8001;", "must hold one `upstream <name> { ... }` block"),
    ("upstream a { server 10.0.0.5:8001; }\nupstream b { server 10.0.0.6:8001; }", "line 2: unexpected text after the upstream a block"),
    ("upstream a { server 10.0.0.5:8001 }", "missing `;` after `server 10.0.0.5:8001`"),
    ("upstream a { server 10.0.0.5:8001;", "the upstream a block is not closed"),
    ("upstream a { if x { } }", "unexpected block inside upstream a"),
    ("upstream a { keepalive 32; }", "has no server line"),
    ("upstream a { server 10.0.0.5:8001 weight=x; }", "has a weight that is not a number: weight=x"),
    ("upstream a { server 10.0.0.5:8001 weight=0; }", "nginx needs a weight of 1 or more"),
    ('upstream a { server "10.0.0.5:8001; }', "an unterminated quote"),
    ("upstream a { server; }", "a server line needs an address"),
])
def test_refuses_what_it_cannot_read_naming_the_file(text, expected):
    with pytest.raises(NginxError, match="^/x/upstream-blue.conf") as caught:
        upstream(text)
    assert expected in str(caught.value)


# --------------------------------------------------------------------------- weighted upstream


BLUE = "upstream shop_live { server 10.0.0.5:8001; server 10.0.0.6:8001; keepalive 32; }"
GREEN = "upstream shop_live { server 10.0.0.5:8002; server 10.0.0.6:8002; keepalive 32; }"


def test_render_weighted_gives_each_colour_its_percent_as_server_weights():
    text = _nginx.render_weighted(upstream(BLUE), upstream(GREEN, "/x/upstream-green.conf"), 10)
    assert text == (
        "# Written by bluegreen.core.nginx_traffic: blue 90%, green 10% of live traffic.\n"
        "# Built from upstream-blue.conf and upstream-green.conf; rewritten on each weighted step. Do not edit.\n"
        "upstream shop_live {\n"
        "    # blue 90%\n"
        "    server 10.0.0.5:8001 weight=90;\n"
        "    server 10.0.0.6:8001 weight=90;\n"
        "    # green 10%\n"
        "    server 10.0.0.5:8002 weight=10;\n"
        "    server 10.0.0.6:8002 weight=10;\n"
        "    keepalive 32;\n"
        "}\n"
    )
    # What it writes, it can read back.
    assert upstream(text).name == "shop_live"


def test_render_weighted_refuses_0_and_100_percent():
    for percent in (0, 100):
        with pytest.raises(ValueError):
            _nginx.render_weighted(upstream(BLUE), upstream(GREEN), percent)


def test_render_weighted_needs_the_same_upstream_name_in_both_colours():
    other = upstream("upstream shop_green { server 10.0.0.5:8002; }", "/x/upstream-green.conf")
    with pytest.raises(NginxError, match="both colours must define the same upstream name"):
        _nginx.render_weighted(upstream(BLUE), other, 50)


def test_a_colour_with_only_backup_or_down_servers_cannot_take_a_share():
    only_backup = upstream("upstream shop_live { server 10.0.0.5:8002 backup; server 10.0.0.6:8002 down; }", "/x/upstream-green.conf")
    with pytest.raises(NginxError, match="upstream-green.conf has no server that is neither `down` nor `backup`"):
        _nginx.render_weighted(upstream(BLUE), only_backup, 50)


@pytest.mark.parametrize("green", range(1, 100))
def test_uneven_colours_get_exactly_their_share_and_read_back(green):
    blue = upstream("upstream s { server 10.0.0.1:1; server 10.0.0.2:1 weight=2; server 10.0.0.3:1 backup; }")
    green_up = upstream("upstream s { server 10.0.0.1:2; server 10.0.0.2:2; server 10.0.0.3:2; server 10.0.0.4:2 weight=4; }")
    weighted = upstream(_nginx.render_weighted(blue, green_up, green), "/x/upstream-weighted.conf")
    sums = {"blue": 0, "green": 0}
    for server in weighted.servers:
        if server.active:
            sums["blue" if server.address.endswith(":1") else "green"] += server.weight
    assert sums["green"] * 100 == green * (sums["blue"] + sums["green"])
    # Within a colour the servers keep their relative weights (1:2 for blue).
    assert weighted.servers[1].weight == 2 * weighted.servers[0].weight
    assert _nginx.weights_of(weighted, blue, green_up, []) == {"blue": 100 - green, "green": green}


def test_weights_of_reports_a_server_it_cannot_place():
    problems: list = []
    weighted = upstream("upstream s { server 10.9.9.9:1 weight=5; }", "/x/upstream-weighted.conf")
    assert _nginx.weights_of(weighted, upstream(BLUE), upstream(GREEN), problems) is None
    assert problems == [
        "server 10.9.9.9:1 of /x/upstream-weighted.conf is in neither upstream-blue.conf nor upstream-green.conf, so its "
        "share cannot be given a colour: run nginx_traffic again to rebuild the weighted file"
    ]


# --------------------------------------------------------------------------- links


@pytest.fixture
def lab(tmp_path, monkeypatch):
    running = nginx_fake.Lab(str(tmp_path))
    monkeypatch.setattr(_nginx, "PROC_ROOT", running.proc_root)
    yield running
    running.close()


def layout(lab) -> _nginx.Layout:
    return _nginx.Layout(lab.conf_dir, "shop")


def test_swap_link_replaces_the_link_in_one_rename_and_leaves_no_temporary(lab):
    _nginx.swap_link(lab.path("live.conf"), "upstream-green.conf")
    assert lab.link("live.conf") == "upstream-green.conf"
    assert sorted(os.listdir(lab.app_dir)) == sorted(["live.conf", "preview.conf", "upstream-blue.conf", "upstream-green.conf",
                                                      "preview-blue.conf", "preview-green.conf"])


def test_swap_link_removes_its_temporary_when_the_rename_fails(lab, monkeypatch):
    def refuse(src, dst):
        raise OSError(13, "Permission denied")

    monkeypatch.setattr(_nginx.os, "replace", refuse)
    with pytest.raises(OSError):
        _nginx.swap_link(lab.path("live.conf"), "upstream-green.conf")
    assert lab.link("live.conf") == "upstream-blue.conf"
    assert not [entry for entry in os.listdir(lab.app_dir) if entry.startswith(".")]


def test_read_link_accepts_an_absolute_target_inside_the_app_folder(lab):
    os.unlink(lab.path("live.conf"))
    os.symlink(lab.path("upstream-green.conf"), lab.path("live.conf"))
    link = _nginx.read_link(layout(lab), "live.conf", _nginx.live_files())
    assert (link.name, link.raw) == ("upstream-green.conf", lab.path("upstream-green.conf"))


@pytest.mark.parametrize(("target", "expected"), [
    ("../other/upstream-blue.conf", "points outside"),
    ("/etc/passwd", "points outside"),
    ("preview-blue.conf", "points at preview-blue.conf, which is none of upstream-blue.conf, upstream-green.conf, upstream-weighted.conf"),
])
def test_read_link_refuses_links_that_are_not_the_apps(lab, target, expected):
    os.unlink(lab.path("live.conf"))
    os.symlink(target, lab.path("live.conf"))
    with pytest.raises(NginxError, match=expected):
        _nginx.read_link(layout(lab), "live.conf", _nginx.live_files())


def test_read_link_says_what_a_non_link_is(lab):
    os.unlink(lab.path("live.conf"))
    os.mkdir(lab.path("live.conf"))
    with pytest.raises(NginxError, match="live.conf is a directory, not a symlink"):
        _nginx.read_link(layout(lab), "live.conf", _nginx.live_files())


def test_a_failed_write_puts_back_what_was_already_changed(lab, monkeypatch):
    real_swap = _nginx.swap_link

    def swap_but_fail_on_live(path, target):
        if path.endswith("live.conf"):
            raise OSError(28, "No space left on device")
        real_swap(path, target)

    lab.write("upstream-weighted.conf", "# an old step\n")
    before = lab.snapshot()
    plan = _nginx.plan_switch(layout(lab), "blue", 30, True)  # rewrites the weighted file and moves the preview to blue
    assert plan.weighted_changed and plan.preview_changed and plan.live_changed
    nginx = _nginx.Nginx(os.path.join(lab.bin, "nginx"), lab.nginx_conf, [os.path.join(lab.bin, "reload")], lab.pid_file,
                         lab.error_log, 1.0)
    monkeypatch.setattr(_nginx, "swap_link", swap_but_fail_on_live)
    with pytest.raises(_nginx.SwitchFailed) as caught:
        _nginx.apply_switch(plan, nginx)
    assert "failed writing in" in str(caught.value) and "No space left on device" in str(caught.value)
    assert caught.value.restored and not caught.value.reload_attempted
    assert lab.snapshot() == before and lab.nginx_calls() == [] and lab.reloads() == []


# --------------------------------------------------------------------------- /proc


def test_proc_reader_finds_children_from_the_task_files(lab):
    proc = _nginx.ProcReader(lab.proc_root)
    assert proc.children(nginx_fake.MASTER) == [1001, 1002]
    assert proc.parent(1001) == nginx_fake.MASTER
    assert proc.cmdline(1001) == "nginx: worker process"
    assert proc.alive(1001) and not proc.alive(4242)


def test_proc_reader_falls_back_to_scanning_parents_without_task_children(lab):
    for pid in lab.proc.pids():
        os.unlink(os.path.join(lab.proc_root, str(pid), "task", str(pid), "children"))
    assert _nginx.ProcReader(lab.proc_root).children(nginx_fake.MASTER) == [1001, 1002]


def test_workers_are_told_apart_by_their_title(lab):
    lab.proc.add(1003, nginx_fake.MASTER, "nginx: worker process is shutting down")
    lab.proc.add(1004, nginx_fake.MASTER, "nginx: cache manager process")
    assert _nginx.workers(_nginx.ProcReader(lab.proc_root), nginx_fake.MASTER) == ([1001, 1002], [1003])


def test_a_command_name_with_spaces_and_parentheses_does_not_confuse_stat(tmp_path):
    os.makedirs(tmp_path / "77")
    (tmp_path / "77" / "stat").write_text("77 (odd) name)) Z 5 " + "0 " * 17 + "100 0\n")
    proc = _nginx.ProcReader(str(tmp_path))
    assert proc.parent(77) == 5 and not proc.alive(77)  # a zombie is not alive


def test_start_time_is_a_unix_time(lab):
    started = _nginx.ProcReader(lab.proc_root).start_time(1001)
    assert abs(started - (time.time() - 60)) < 1


def test_proc_reader_reads_the_real_proc():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(10)"])
    try:
        proc = _nginx.ProcReader()
        assert child.pid in proc.children(os.getpid())
        deadline = time.monotonic() + 5
        while "time.sleep(10)" not in proc.cmdline(child.pid) and time.monotonic() < deadline:
            time.sleep(0.01)  # between fork and exec the child has no command line yet
        assert "time.sleep(10)" in proc.cmdline(child.pid)
        assert abs(proc.start_time(child.pid) - time.time()) < 5
    finally:
        child.kill()
        child.wait()


def test_read_pid_file(tmp_path):
    path = tmp_path / "nginx.pid"
    assert _nginx.read_pid_file(str(path)) is None
    path.write_text("812\n")
    assert _nginx.read_pid_file(str(path)) == 812
    path.write_text("not a pid\n")
    assert _nginx.read_pid_file(str(path)) is None


# --------------------------------------------------------------------------- the error log


def test_fatal_lines_emerg_from_anyone_alert_and_crit_only_from_the_master():
    lines = [
        "2025/01/01 12:00:00 [notice] 1000#1000: signal process started",
        "2025/01/01 12:00:00 [emerg] 1000#1000: bind() to 0.0.0.0:80 failed (98: Address already in use)",
        "2025/01/01 12:00:00 [alert] 1001#1001: *3 open socket #12 left in connection 4",
        "2025/01/01 12:00:00 [crit] 1000#1000: pread() failed",
        "nginx: [emerg] unknown directive \"x\" in /etc/nginx/nginx.conf:3",
        "2025/01/01 12:00:00 [error] 1001#1001: *4 connect() failed (111: Connection refused) while connecting to upstream",
    ]
    fatal, other = _nginx.fatal_lines(lines, {1000})
    assert fatal == [lines[1], lines[3], lines[4]]
    assert other == [lines[2]]


def test_error_log_reads_only_what_came_after_and_survives_rotation(tmp_path):
    path = tmp_path / "error.log"
    path.write_text("old line\n")
    log = _nginx.ErrorLog(str(path))
    assert log.readable and log.new_lines() == []
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("new line\n")
    assert log.new_lines() == ["new line"]
    path.write_text("x\n")  # rotated: shorter than where we started
    assert log.new_lines() == ["x"]


def test_a_missing_error_log_is_not_readable_and_has_no_lines(tmp_path):
    log = _nginx.ErrorLog(str(tmp_path / "missing.log"))
    assert not log.readable and log.new_lines() == []


# --------------------------------------------------------------------------- reachability


@pytest.mark.parametrize(("address", "expected"), [
    ("10.0.0.5:8001", (None, ("10.0.0.5", 8001))),
    ("app.internal", (None, ("app.internal", 80))),
    ("[::1]:8001", (socket.AF_INET6, ("::1", 8001))),
    ("unix:/run/app.sock", (socket.AF_UNIX, "/run/app.sock")),
])
def test_connect_target(address, expected):
    assert _nginx.connect_target(address) == expected


def test_connect_target_refuses_what_is_not_an_address():
    with pytest.raises(ValueError, match="cannot tell host and port"):
        _nginx.connect_target("http://x/")


def test_probe_servers_tries_each_server_once_and_skips_those_marked_down(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        unix_path = str(tmp_path / "app.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix_listener:
            unix_listener.bind(unix_path)
            unix_listener.listen(1)
            closed = nginx_fake.closed_port()
            parsed = upstream(
                f"upstream s {{ server 127.0.0.1:{port}; server 127.0.0.1:{closed}; server unix:{unix_path}; server 127.0.0.1:{port} down; }}"
            )
            results = _nginx.probe_servers(parsed, timeout=1.0)
    assert [(r["reachable"], r["error"]) for r in results] == [
        (True, None), (False, "Connection refused"), (True, None), (False, "marked down"),
    ]


def test_share_is_a_percentage_from_1_to_100():
    assert _validate.share(1) == 1 and _validate.share(100) == 100
    for bad in (0, 101, True, "50", 5.5, None):
        with pytest.raises(_validate.ValidationError, match="weight must be a whole percentage from 1 to 100"):
            _validate.share(bad)


# --------------------------------------------------------------------------- waiting for the reload


class ScriptedProc:
    """A master whose children change poll by poll, as a real reload shows them."""

    def __init__(self, polls: list) -> None:
        self.polls = polls
        self.calls = 0

    def alive(self, pid: int) -> bool:
        return True

    def children(self, pid: int) -> list:
        children = self.polls[min(self.calls, len(self.polls) - 1)]
        self.calls += 1
        return sorted(children)

    def cmdline(self, pid: int) -> str:
        return {1: "nginx: worker process is shutting down", 2: "nginx: master process nginx"}.get(pid % 10, "nginx: worker process")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def waiting_nginx(tmp_path, proc, clock) -> _nginx.Nginx:
    return _nginx.Nginx("nginx", "/etc/nginx/nginx.conf", ["true"], str(tmp_path / "pid"), str(tmp_path / "error.log"), 5.0,
                        proc=proc, clock=clock, sleep=clock.sleep)


def test_the_wait_gives_a_just_forked_worker_time_to_take_its_title(tmp_path):
    # Old workers 10 and 20; the new 32 still has the master's title on the first poll.
    proc = ScriptedProc([[10, 20], [11, 21, 30, 32], [11, 21, 30, 40]])
    clock = Clock()
    result = waiting_nginx(tmp_path, proc, clock)._wait_for_new_workers(5, [10, 20], _nginx.ErrorLog(str(tmp_path / "none")), 0.0)
    assert result["new_workers"] == [30, 40] and result["old_workers"] == [10, 20]


def test_the_wait_settles_for_fewer_new_workers_after_a_second(tmp_path):
    proc = ScriptedProc([[11, 21, 30]])  # worker_processes went from 2 to 1
    clock = Clock()
    result = waiting_nginx(tmp_path, proc, clock)._wait_for_new_workers(5, [10, 20], _nginx.ErrorLog(str(tmp_path / "none")), 0.0)
    assert result["new_workers"] == [30] and 1.0 <= clock.now < 1.2

# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import json
import os

import pytest
import yaml
from ansible_collections.bluegreen.core.plugins.module_utils import _lock, _nginx
from ansible_collections.bluegreen.core.plugins.modules import nginx_info, nginx_traffic
from ansible_collections.bluegreen.core.tests.unit.plugins import nginx_fake
from ansible_collections.bluegreen.core.tests.unit.plugins.modules.module_helpers import documented_options, run_module


@pytest.fixture
def lab(tmp_path, monkeypatch):
    running = nginx_fake.Lab(str(tmp_path))
    monkeypatch.setattr(_nginx, "PROC_ROOT", running.proc_root)
    yield running
    running.close()


def info(lab: nginx_fake.Lab, check_mode: bool = False, **args: object):
    base = {"app": "shop", "conf_dir": lab.conf_dir, "pid_file": lab.pid_file, "state_dir": lab.state_dir}
    base.update(args)
    return run_module(nginx_info.main, base, check_mode=check_mode)


def switch(lab: nginx_fake.Lab, **args: object) -> None:
    done = run_module(nginx_traffic.main, lab.args(**args))
    assert not done.failed, done.msg


def write_history(lab: nginx_fake.Lab, *records: object) -> None:
    directory = os.path.join(lab.state_dir, "shop")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "history.jsonl"), "a", encoding="utf-8") as handle:
        for record in records:
            handle.write((record if isinstance(record, str) else json.dumps(record)) + "\n")


def test_a_consistent_app_is_reported_without_problems(lab):
    done = info(lab)
    assert not done.failed and done["changed"] is False
    assert (done["live_colour"], done["live_target"], done["split"], done["preview_colour"]) == ("blue", "upstream-blue.conf", False, "green")
    assert done["weights"] == {"blue": 100, "green": 0}
    assert done["consistent"] is True and done["problems"] == [] and done.warnings == []
    assert (done["master_pid"], done["workers"], done["workers_shutting_down"]) == (1000, [1001, 1002], [])
    assert done["servers"]["green"] == [
        {"address": f"127.0.0.1:{port}", "weight": 1, "backup": False, "down": False, "parameters": []} for port in lab.ports["green"]
    ]
    assert done["history"] == [] and done["last_switch"] is None and done["previous_colour"] is None and done["lock"] is None


def test_reads_but_writes_nothing_and_runs_the_same_in_check_mode(lab):
    before = lab.snapshot()
    done = info(lab, check_mode=True)
    assert not done.failed and done["live_colour"] == "blue"
    assert lab.snapshot() == before and not os.path.exists(lab.state_dir)


def test_after_a_switch_it_reports_the_history_and_the_old_workers_shutting_down(lab):
    switch(lab, colour="green", actor="ci")
    done = info(lab)
    assert (done["live_colour"], done["preview_colour"], done["previous_colour"]) == ("green", "blue", "blue")
    assert (done["workers"], done["workers_shutting_down"]) == ([1003, 1004], [1001, 1002])
    assert done["last_switch"]["to"] == "green" and done["last_switch"]["actor"] == "ci"
    assert done["consistent"] is True, done["problems"]


def test_a_weighted_step_is_reported_as_a_split(lab):
    switch(lab, colour="green", weight=10)
    done = info(lab)
    assert (done["live_colour"], done["split"], done["live_target"]) == (None, True, "upstream-weighted.conf")
    assert done["weights"] == {"blue": 90, "green": 10}
    assert done["preview_colour"] == "green" and done["previous_colour"] is None
    assert done["consistent"] is True, done["problems"]


@pytest.mark.parametrize("green", [1, 33, 50, 99])
def test_split_weights_read_back_as_written(lab, green):
    switch(lab, colour="green", weight=green)
    assert info(lab)["weights"] == {"blue": 100 - green, "green": green}


def test_a_history_that_disagrees_with_the_link_is_a_problem_and_a_warning(lab):
    write_history(lab, {"time": "2025-01-01T12:00:00Z", "from": "blue", "to": "green", "weight": 100, "result": "ok", "actor": "bob"})
    done = info(lab)
    assert done["consistent"] is False
    (problem,) = done["problems"]
    assert problem.startswith("the last recorded switch of shop (2025-01-01T12:00:00Z, by bob) sent 100% to green, but live.conf routes live traffic to blue")
    assert done.warnings == [problem]


def test_a_recorded_weighted_step_matches_only_the_same_split(lab):
    switch(lab, colour="green", weight=10)
    write_history(lab, {"time": "t", "from": None, "to": "green", "weight": 50, "result": "ok", "actor": "x"})
    problems = info(lab)["problems"]
    assert len(problems) == 1 and "sent 50% to green, but live.conf routes live traffic to split blue 90% / green 10%" in problems[0]


def test_damaged_history_is_reported(lab):
    write_history(lab, "{not json", {"from": "green", "to": "blue", "result": "ok"})
    done = info(lab)
    assert done["consistent"] is False and any("line 1 is not JSON" in p for p in done["problems"])


def test_missing_files_are_problems(lab):
    os.unlink(lab.path("upstream-green.conf"))
    os.unlink(lab.path("preview.conf"))
    done = info(lab)
    assert done["live_colour"] == "blue" and done["servers"]["green"] == []
    assert any(p.startswith(f"{lab.path('upstream-green.conf')} does not exist") for p in done["problems"])
    assert any(p.startswith(f"{lab.path('preview.conf')} does not exist") for p in done["problems"])
    assert done["consistent"] is False
    # No problem of nginx's is drift that a switch to a named colour may write over: the roles refuse every run.
    assert done["sources_agree"] is False and done["drifted"] is False


def test_a_dangling_live_link_is_a_problem(lab):
    os.unlink(lab.path("upstream-blue.conf"))
    done = info(lab)
    assert any(p == f"{lab.path('live.conf')} points at upstream-blue.conf, which does not exist: nginx -t fails until it does"
               for p in done["problems"])


def test_a_live_conf_that_is_a_regular_file_is_a_problem_not_a_crash(lab):
    os.unlink(lab.path("live.conf"))
    lab.write("live.conf", "upstream shop_live { server 127.0.0.1:1; }\n")
    done = info(lab)
    assert not done.failed and done["live_colour"] is None and done["live_target"] is None
    assert any("is a regular file, not a symlink" in p for p in done["problems"])


def test_preview_and_live_on_the_same_colour_is_a_problem(lab):
    os.unlink(lab.path("preview.conf"))
    os.symlink("preview-blue.conf", lab.path("preview.conf"))
    assert any("both serve blue" in p for p in info(lab)["problems"])


def test_nginx_not_running_or_a_stale_pid_file_is_a_problem(lab):
    lab.proc.remove(nginx_fake.MASTER)
    done = info(lab)
    assert done["master_pid"] is None and done["workers"] == []
    assert any("names PID 1000, which is not a running process (a stale pid file)" in p for p in done["problems"])
    os.unlink(lab.pid_file)
    assert any("does not exist or holds no PID" in p for p in info(lab)["problems"])


def test_a_link_changed_after_the_workers_started_means_nginx_was_not_reloaded(lab):
    os.unlink(lab.path("live.conf"))
    os.symlink("upstream-green.conf", lab.path("live.conf"))  # by hand, without a reload; workers started 60 s ago
    done = info(lab)
    assert any(p.startswith(f"{lab.path('live.conf')} changed after nginx's workers started, so nginx has not loaded it yet")
               for p in done["problems"])


def test_a_weighted_file_rewritten_without_a_reload_is_noticed(lab):
    switch(lab, colour="green", weight=10)
    for pid in lab.proc.workers()["active"]:
        lab.proc.remove(pid)
        lab.proc.add(pid, nginx_fake.MASTER, "nginx: worker process", age=30)
    problems = info(lab)["problems"]
    assert any(p.startswith(f"{lab.path('upstream-weighted.conf')} changed after nginx's workers started") for p in problems)


def test_links_restored_after_a_failed_switch_keep_their_times_so_no_false_alarm(lab):
    lab.write_upstream("green", extra="BROKEN;")
    mtime = os.lstat(lab.path("live.conf")).st_mtime_ns
    assert run_module(nginx_traffic.main, lab.args(colour="green")).failed
    assert os.lstat(lab.path("live.conf")).st_mtime_ns == mtime
    assert info(lab)["problems"] == []


def test_a_step_from_all_green_to_green_10_percent_is_consistent(lab):
    switch(lab, colour="green")
    switch(lab, colour="green", weight=10)
    done = info(lab)
    assert done["weights"] == {"blue": 90, "green": 10} and done["consistent"] is True, done["problems"]
    assert done["history"][-1]["from"] == "green" and done["history"][-1]["from_weights"] == {"blue": 0, "green": 100}


def test_a_hand_edited_weighted_file_is_a_problem(lab):
    switch(lab, colour="green", weight=10)
    text = lab.read("upstream-weighted.conf").replace("keepalive 32;", "keepalive 8;")
    lab.write("upstream-weighted.conf", text)
    problems = info(lab)["problems"]
    assert any("is not what upstream-blue.conf and upstream-green.conf give for blue 90% / green 10%" in p for p in problems)


def test_a_weighted_file_with_a_server_of_neither_colour_is_a_problem(lab):
    switch(lab, colour="green", weight=10)
    lab.write_upstream("green", ["127.0.0.1:9"])  # the colour's servers changed since the step
    done = info(lab)
    assert done["weights"] is None and done["split"] is True
    assert any("is in neither upstream-blue.conf nor upstream-green.conf" in p for p in done["problems"])


def test_lock_and_history_limit(lab):
    for number in range(6):
        to, other = ("green", "blue") if number % 2 == 0 else ("blue", "green")
        write_history(lab, {"time": f"t{number}", "from": other, "to": to, "weight": 100, "result": "ok"})
    assert _lock.try_acquire_lock(lab.state_dir, "shop", "awx job 7", 600)[0]
    done = info(lab, history_limit=2)
    assert len(done["history"]) == 2 and done["lock"]["owner"] == "awx job 7"
    assert info(lab, history_limit=0)["history"] == []


@pytest.mark.parametrize(("args", "expected"), [
    ({"app": "shop;x"}, "is not a safe name"),
    ({"history_limit": -1}, "history_limit must be 0 or more"),
    ({"conf_dir": "etc/nginx"}, "conf_dir must be an absolute path"),
])
def test_bad_options_are_refused(lab, args, expected):
    done = info(lab, **args)
    assert done.failed and expected in done.msg


def test_documentation_matches_the_argument_spec():
    documented = documented_options(nginx_info)
    spec = nginx_info.argument_spec()
    assert set(documented) == set(spec)
    for name, option in spec.items():
        assert documented[name]["type"] == option["type"], name
        assert documented[name].get("default") == option.get("default"), name
    returned = yaml.safe_load(nginx_info.RETURN)
    assert {"live_colour", "weights", "split", "workers_shutting_down", "problems", "consistent"} <= set(returned)


def test_the_counters_note_says_where_the_watch_counts_each_colour(lab):
    counts_log = os.path.join(lab.root, "bluegreen-shop.log")
    read = info(lab, counts_log=counts_log)
    assert read["counters"] is None and read["counters_note"] == (
        f"nginx keeps no totals per colour: the watch after a switch counts each colour's requests and 5xx in what nginx "
        f"appends to the app's counts log, {counts_log}, which does not exist (provision the app again with "
        "bluegreen.core.nginx so that nginx writes it)")
    open(counts_log, "w").close()  # noqa: SIM115
    assert info(lab, counts_log=counts_log)["counters_note"].endswith(f"the app's counts log, {counts_log}")

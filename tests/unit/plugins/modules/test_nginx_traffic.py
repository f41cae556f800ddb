# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import contextlib
import os
import re
import threading
import time

import pytest
import yaml
from ansible_collections.bluegreen.core.plugins.module_utils import _nginx, _nginx_log
from ansible_collections.bluegreen.core.plugins.modules import nginx_traffic
from ansible_collections.bluegreen.core.tests.unit.plugins import nginx_fake
from ansible_collections.bluegreen.core.tests.unit.plugins.modules.module_helpers import documented_options, fake_app, run_module


@pytest.fixture
def lab(tmp_path, monkeypatch):
    running = nginx_fake.Lab(str(tmp_path))
    monkeypatch.setattr(_nginx, "PROC_ROOT", running.proc_root)
    yield running
    running.close()


def run(lab: nginx_fake.Lab, check_mode: bool = False, **args: object):
    return run_module(nginx_traffic.main, lab.args(**args), check_mode=check_mode)


def weighted_text(lab: nginx_fake.Lab, blue: int, green: int) -> str:
    b1, b2 = lab.ports["blue"]
    g1, g2 = lab.ports["green"]
    return (
        f"# Written by bluegreen.core.nginx_traffic: blue {blue}%, green {green}% of live traffic.\n"
        "# Built from upstream-blue.conf and upstream-green.conf; rewritten on each weighted step. Do not edit.\n"
        "upstream shop_live {\n"
        f"    # blue {blue}%\n"
        f"    server 127.0.0.1:{b1} weight={blue};\n"
        f"    server 127.0.0.1:{b2} weight={blue};\n"
        f"    # green {green}%\n"
        f"    server 127.0.0.1:{g1} weight={green};\n"
        f"    server 127.0.0.1:{g2} weight={green};\n"
        "    keepalive 32;\n"
        "}\n"
    )


# --------------------------------------------------------------------------- switching


def test_switch_to_green_swaps_both_links_tests_reloads_and_records(lab):
    done = run(lab, colour="green", versions={"blue": "1.4.2", "green": "1.5.0"}, actor="ci", reason="release 1.5.0")
    assert not done.failed, done.msg
    assert done["changed"] is True
    assert (lab.link("live.conf"), lab.link("preview.conf")) == ("upstream-green.conf", "preview-blue.conf")
    assert lab.nginx_calls() == [["-t", "-c", lab.nginx_conf]]
    assert lab.reloads() == ["ok"]
    assert lab.loaded_live() == "upstream-green.conf"
    assert (done["colour"], done["weight"], done["weights"], done["live_target"]) == ("green", 100, {"green": 100, "blue": 0}, "upstream-green.conf")
    assert done["previous"] == {"live_target": "upstream-blue.conf", "colour": "blue", "weights": {"blue": 100, "green": 0}}
    assert (done["previous_colour"], done["preview_colour"]) == ("blue", "blue")
    reload = done["reload"]
    assert (reload["master_pid"], reload["old_workers"], reload["new_workers"]) == (1000, [1001, 1002], [1003, 1004])
    assert isinstance(reload["seconds"], float) and 0 <= reload["seconds"] < 3
    assert [s["address"] for s in done["servers"]] == [f"127.0.0.1:{port}" for port in lab.ports["green"]]
    assert all(s["reachable"] and s["error"] is None for s in done["servers"])
    (record,) = lab.history_lines()
    assert record == done["history_entry"]
    assert {k: record[k] for k in ("action", "from", "to", "weight", "from_weights", "actor", "reason", "result", "router")} == {
        "action": "switch", "from": "blue", "to": "green", "weight": 100, "from_weights": {"blue": 100, "green": 0},
        "actor": "ci", "reason": "release 1.5.0", "result": "ok", "router": "nginx",
    }
    assert record["versions"] == {"blue": "1.4.2", "green": "1.5.0"} and record["reload_s"] == reload["seconds"]
    assert not [entry for entry in os.listdir(lab.app_dir) if entry.startswith(".")], "a temporary link was left behind"


def test_second_run_changes_nothing_and_does_not_reload(lab):
    assert run(lab, colour="green")["changed"] is True
    again = run(lab, colour="green")
    assert not again.failed and again["changed"] is False
    assert again["reload"] is None and again["history_entry"] is None
    assert lab.reloads() == ["ok"] and len(lab.nginx_calls()) == 1 and len(lab.history_lines()) == 1
    assert again["previous_colour"] == "green"


def test_switching_back_is_a_rollback_to_an_untouched_colour(lab):
    run(lab, colour="green")
    back = run(lab, colour="blue", action="rollback")
    assert back["changed"] and (lab.link("live.conf"), lab.link("preview.conf")) == ("upstream-blue.conf", "preview-green.conf")
    assert [(r["action"], r["from"], r["to"]) for r in lab.history_lines()] == [("switch", "blue", "green"), ("rollback", "green", "blue")]


def test_check_mode_reports_the_change_with_a_diff_and_changes_nothing(lab):
    before = lab.snapshot()
    done = run(lab, check_mode=True, colour="green", _ansible_diff=True)
    assert not done.failed and done["changed"] is True
    assert lab.snapshot() == before
    assert lab.nginx_calls() == [] and lab.reloads() == [] and lab.history_lines() == []
    assert done["reload"] is None and done["history_entry"] is None
    assert done["diff"] == [{
        "before": "live.conf -> upstream-blue.conf\npreview.conf -> preview-green.conf\n",
        "after": "live.conf -> upstream-green.conf\npreview.conf -> preview-blue.conf\n",
        "before_header": f"{lab.app_dir}/ (links)",
        "after_header": f"{lab.app_dir}/ (links)",
    }]


def test_check_mode_diff_shows_the_weighted_file_it_would_write(lab):
    done = run(lab, check_mode=True, colour="green", weight=10, _ansible_diff=True)
    links, weighted = done["diff"]
    assert links["after"] == "live.conf -> upstream-weighted.conf\npreview.conf -> preview-green.conf\n"
    assert weighted == {"before": "", "after": weighted_text(lab, 90, 10),
                        "before_header": lab.path("upstream-weighted.conf"), "after_header": lab.path("upstream-weighted.conf")}
    assert lab.read("upstream-weighted.conf") is None


def test_no_diff_without_diff_mode(lab):
    assert "diff" not in run(lab, colour="green").result


def test_weighted_steps_10_50_100(lab):
    ten = run(lab, colour="green", weight=10)
    assert not ten.failed and ten["changed"]
    assert lab.link("live.conf") == "upstream-weighted.conf" and lab.read("upstream-weighted.conf") == weighted_text(lab, 90, 10)
    # The preview keeps serving the incoming colour until it has all the traffic.
    assert lab.link("preview.conf") == "preview-green.conf" and ten["preview_colour"] == "green"
    assert ten["weights"] == {"green": 10, "blue": 90} and ten["previous_colour"] == "blue"
    assert lab.loaded_live() == "upstream-weighted.conf"

    assert run(lab, colour="green", weight=10)["changed"] is False
    fifty = run(lab, colour="green", weight=50)
    assert fifty["changed"] and lab.read("upstream-weighted.conf") == weighted_text(lab, 50, 50)
    assert fifty["previous"] == {"live_target": "upstream-weighted.conf", "colour": None, "weights": {"blue": 90, "green": 10}}

    hundred = run(lab, colour="green", weight=100)
    assert hundred["changed"] and lab.link("live.conf") == "upstream-green.conf" and lab.link("preview.conf") == "preview-blue.conf"
    assert lab.loaded_live() == "upstream-green.conf"
    assert [(r["from"], r["to"], r["weight"], r["from_weights"]) for r in lab.history_lines()] == [
        ("blue", "green", 10, {"blue": 100, "green": 0}),
        (None, "green", 50, {"blue": 90, "green": 10}),
        (None, "green", 100, {"blue": 50, "green": 50}),
    ]
    assert lab.reloads() == ["ok", "ok", "ok"]


def test_a_weight_for_blue_gives_blue_that_share(lab):
    run(lab, colour="green")
    done = run(lab, colour="blue", weight=25)
    assert done["weights"] == {"blue": 25, "green": 75}
    assert lab.read("upstream-weighted.conf") == weighted_text(lab, 25, 75)
    assert lab.link("preview.conf") == "preview-blue.conf"


def test_weighted_file_keeps_server_parameters_and_balances_uneven_colours(lab):
    b1, _b2 = lab.ports["blue"]
    g1, g2 = lab.ports["green"]
    lab.write_upstream("blue", [f"127.0.0.1:{b1} max_fails=3 fail_timeout=5s"])
    lab.write_upstream("green", [f"127.0.0.1:{g1}", f"127.0.0.1:{g2} weight=3", "127.0.0.1:9 backup"], extra="keepalive 16;")
    assert not run(lab, colour="green", weight=20).failed
    text = lab.read("upstream-weighted.conf")
    # Blue's one server carries 80% of the common total 4; green's 1:3 split of 20% is kept.
    assert f"server 127.0.0.1:{b1} weight=320 max_fails=3 fail_timeout=5s;" in text
    assert f"server 127.0.0.1:{g1} weight=20;" in text and f"server 127.0.0.1:{g2} weight=60;" in text
    assert "server 127.0.0.1:9 weight=20 backup;" in text
    # Directives other than server come from blue's file, then those only green's file has.
    assert text.count("keepalive") == 1 and "keepalive 32;" in text


# --------------------------------------------------------------------------- failures put everything back


def test_nginx_t_failure_restores_the_link_byte_for_byte_and_fails_with_nginxs_text(lab):
    os.unlink(lab.path("live.conf"))
    os.symlink("./upstream-blue.conf", lab.path("live.conf"))  # an unusual but valid spelling must come back as is
    lab.write_upstream("green", extra="BROKEN;")
    before = lab.snapshot()
    done = run(lab, colour="green")
    assert done.failed and done["changed"] is False
    assert f'unknown directive "BROKEN" in {lab.path("live.conf")}:' in done.msg
    assert f"nginx: configuration file {lab.nginx_conf} test failed" in done.msg
    assert "nginx rejected the new configuration, so it was not reloaded" in done.msg
    assert "The previous links were restored (live.conf -> ./upstream-blue.conf, preview.conf -> preview-green.conf)" in done.msg
    assert lab.snapshot() == before and lab.link("live.conf") == "./upstream-blue.conf"
    assert lab.reloads() == [] and lab.history_lines() == []


def test_nginx_t_failure_removes_a_weighted_file_it_created(lab):
    lab.write_upstream("green", extra="BROKEN;")
    before = lab.snapshot()
    done = run(lab, colour="green", weight=10)
    assert done.failed and "put back as it was" in done.msg
    assert lab.snapshot() == before and lab.read("upstream-weighted.conf") is None


def test_nginx_t_failure_restores_a_weighted_file_it_rewrote(lab):
    run(lab, colour="green", weight=10)
    lab.write_upstream("green", [f"127.0.0.1:{lab.ports['green'][0]}"], extra="BROKEN;")
    before = lab.snapshot()
    assert run(lab, colour="green", weight=50).failed
    assert lab.snapshot() == before


def test_a_reload_that_starts_no_new_workers_is_undone(lab):
    lab.plan_reloads("stuck", "ok")
    before = lab.snapshot()
    started = time.monotonic()
    done = run(lab, colour="green", reload_timeout=0.3)
    assert done.failed and done["changed"] is False
    assert time.monotonic() - started < 3
    assert "failed at the reload: nginx did not start new worker processes within 0.3s" in done.msg
    assert "workers still 1001, 1002" in done.msg
    assert "and nginx was reloaded with them (master 1000, new workers 1003, 1004)" in done.msg
    assert lab.snapshot() == before
    assert lab.reloads() == ["stuck", "ok"] and lab.loaded_live() == "upstream-blue.conf"
    (record,) = lab.history_lines()
    assert record["result"] == "failed" and record["to"] == "green" and "did not start new worker" in record["error"]


def test_an_emerg_in_the_error_log_after_the_reload_is_undone_at_once(lab):
    lab.plan_reloads("emerg", "ok")
    before = lab.snapshot()
    started = time.monotonic()
    done = run(lab, colour="green", reload_timeout=5.0)
    assert done.failed
    assert time.monotonic() - started < 4, "an emerg line must fail the wait at once, not after reload_timeout"
    assert f"nginx logged in {lab.error_log} while reloading:" in done.msg
    assert "[emerg] 1000#1000: bind() to 127.0.0.1:80 failed (98: Address already in use)" in done.msg
    assert lab.snapshot() == before and lab.loaded_live() == "upstream-blue.conf"


def test_a_failing_reload_command_is_undone_with_its_output(lab):
    lab.plan_reloads("fail", "ok")
    done = run(lab, colour="green")
    assert done.failed and "exited with 1" in done.msg and "Job for nginx.service failed" in done.msg
    assert lab.link("live.conf") == "upstream-blue.conf" and lab.loaded_live() == "upstream-blue.conf"


def test_when_the_reload_after_restoring_fails_too_the_message_says_so_and_changed_is_true(lab):
    lab.plan_reloads("stuck", "stuck")
    done = run(lab, colour="green", reload_timeout=0.2)
    assert done.failed and done["changed"] is True
    assert "The previous links were restored (live.conf -> upstream-blue.conf, preview.conf -> preview-green.conf), but reloading " \
           "nginx with them failed too, so the cause lies outside" in done.msg
    assert done.msg.endswith("Check nginx by hand (`nginx -t`, its error log, `systemctl status nginx`) before reloading it again.")
    assert lab.link("live.conf") == "upstream-blue.conf"


def test_an_alert_from_an_old_worker_is_a_warning_not_a_failure(lab):
    lab.plan_reloads("ok-alert")
    done = run(lab, colour="green")
    assert not done.failed and lab.link("live.conf") == "upstream-green.conf"
    assert any("open socket #15 left in connection 3" in warning for warning in done.warnings)


def test_nginx_not_running_fails_before_changing_anything(lab):
    os.unlink(lab.pid_file)
    before = lab.snapshot()
    done = run(lab, colour="green")
    assert done.failed and f"nginx is not running (no live process in {lab.pid_file})" in done.msg
    assert "Nothing was changed" in done.msg and lab.snapshot() == before and lab.nginx_calls() == []


def test_check_mode_only_warns_when_nginx_is_not_running(lab):
    lab.proc.remove(nginx_fake.MASTER)
    done = run(lab, check_mode=True, colour="green")
    assert not done.failed and done["changed"] is True
    assert any("a real run would fail" in warning for warning in done.warnings)


# --------------------------------------------------------------------------- the target must be up


def test_refuses_a_colour_whose_servers_all_refuse_connections(lab):
    down = [f"127.0.0.1:{nginx_fake.closed_port()}", f"127.0.0.1:{nginx_fake.closed_port()}"]
    lab.write_upstream("green", down)
    before = lab.snapshot()
    done = run(lab, colour="green")
    assert done.failed
    assert done.msg.startswith(f"refusing to route shop to green: none of the 2 servers of {lab.path('upstream-green.conf')} accepts a TCP connection (")
    assert f"{down[0]}: Connection refused" in done.msg and f"{down[1]}: Connection refused" in done.msg
    assert done.msg.endswith("start them, or use force=true to switch anyway")
    assert lab.snapshot() == before and lab.nginx_calls() == [] and lab.reloads() == []


def test_a_server_marked_down_is_not_tried_and_does_not_count(lab):
    lab.write_upstream("green", [f"127.0.0.1:{lab.ports['green'][0]} down"])
    done = run(lab, colour="green")
    assert done.failed and "marked down" in done.msg


def test_one_reachable_server_is_enough(lab):
    lab.write_upstream("green", [f"127.0.0.1:{nginx_fake.closed_port()}", f"127.0.0.1:{lab.ports['green'][0]}"])
    done = run(lab, colour="green")
    assert not done.failed and [s["reachable"] for s in done["servers"]] == [False, True]


def test_force_switches_without_trying_the_servers(lab):
    lab.write_upstream("green", [f"127.0.0.1:{nginx_fake.closed_port()}"])
    done = run(lab, colour="green", force=True)
    assert not done.failed and done["changed"] and lab.link("live.conf") == "upstream-green.conf"
    assert done["servers"][0]["reachable"] is None


def test_already_routed_to_a_down_colour_warns_instead_of_failing(lab):
    lab.write_upstream("blue", [f"127.0.0.1:{nginx_fake.closed_port()}"])
    done = run(lab, colour="blue")
    assert not done.failed and done["changed"] is False
    assert any("none of its servers accepts a TCP connection" in warning for warning in done.warnings)


# --------------------------------------------------------------------------- inputs and damaged trees


@pytest.mark.parametrize("app", ["shop;evil", "../shop", "shop app", "shop\n", "", ".hidden", "a/b"])
def test_unsafe_app_names_are_refused_before_any_io(lab, app):
    done = run(lab, app=app, colour="green")
    assert done.failed and done.msg.startswith("app ") and "is not a safe name" in done.msg
    assert lab.nginx_calls() == []


@pytest.mark.parametrize("weight", [0, 101, -5, True])
def test_weights_outside_1_to_100_are_refused(lab, weight):
    done = run(lab, colour="green", weight=weight)
    assert done.failed and done.msg.startswith("weight must be a whole percentage from 1 to 100")
    assert lab.link("live.conf") == "upstream-blue.conf"


def test_an_unknown_colour_is_refused(lab):
    done = run(lab, colour="red")
    assert done.failed and "colour" in done.msg and "blue, green" in done.msg


@pytest.mark.parametrize(("args", "expected"), [
    ({"reload_command": []}, "reload_command must name a command"),
    ({"reload_command": ["systemctl", "reload\nnginx"]}, "reload_command[1] must be a non-empty string"),
    ({"reload_timeout": 0}, "reload_timeout must be above 0"),
    ({"nginx_binary": ""}, "nginx_binary must be a non-empty string"),
    ({"conf_dir": "relative/dir"}, "conf_dir must be an absolute path"),
    ({"actor": "two\nlines"}, "actor must be one printable line"),
    ({"versions": {"green": "../1.5"}}, "versions.green '../1.5' is not a safe version"),
])
def test_bad_options_name_the_parameter(lab, args, expected):
    done = run(lab, colour="green", **args)
    assert done.failed and expected in done.msg


def test_a_live_conf_that_is_a_regular_file_is_reported_as_such(lab):
    os.unlink(lab.path("live.conf"))
    lab.write("live.conf", "upstream shop_live { server 127.0.0.1:1; }\n")
    done = run(lab, colour="green")
    assert done.failed and done.msg.startswith(f"{lab.path('live.conf')} is a regular file, not a symlink")
    assert lab.read("live.conf") == "upstream shop_live { server 127.0.0.1:1; }\n"


def test_a_live_conf_pointing_outside_the_app_folder_is_refused(lab, tmp_path):
    os.unlink(lab.path("live.conf"))
    os.symlink(str(tmp_path / "elsewhere.conf"), lab.path("live.conf"))
    done = run(lab, colour="green")
    assert done.failed and f"points outside {lab.app_dir} (-> {tmp_path / 'elsewhere.conf'})" in done.msg


def test_a_missing_app_folder_names_conf_dir(lab, tmp_path):
    done = run(lab, colour="green", conf_dir=str(tmp_path / "nowhere"))
    assert done.failed and "does not exist" in done.msg and "conf_dir" in done.msg


def test_a_missing_preview_file_is_reported_and_preview_false_skips_it(lab):
    os.unlink(lab.path("preview-blue.conf"))
    done = run(lab, colour="green")
    assert done.failed and "preview-blue.conf does not exist" in done.msg and "preview=false" in done.msg
    kept = run(lab, colour="green", preview=False)
    assert not kept.failed and lab.link("preview.conf") == "preview-green.conf" and kept["preview_colour"] == "green"


def test_a_missing_live_link_is_created(lab):
    os.unlink(lab.path("live.conf"))
    done = run(lab, colour="blue")
    assert not done.failed and done["changed"] and lab.link("live.conf") == "upstream-blue.conf"
    assert done["previous"] == {"live_target": None, "colour": None, "weights": None}


def test_a_missing_nginx_binary_fails_and_restores(lab):
    done = run(lab, colour="green", nginx_binary="/nonexistent/nginx")
    assert done.failed and "cannot run nginx_binary: /nonexistent/nginx was not found" in done.msg
    assert lab.link("live.conf") == "upstream-blue.conf"


def test_documentation_matches_the_argument_spec():
    documented = documented_options(nginx_traffic)
    spec = nginx_traffic.argument_spec()
    assert set(documented) == set(spec)
    for name, option in spec.items():
        assert documented[name]["type"] == option["type"], name
        assert documented[name].get("default") == option.get("default"), name
    assert isinstance(yaml.safe_load(nginx_traffic.EXAMPLES), list)
    assert "reload" in yaml.safe_load(nginx_traffic.RETURN)


def test_a_rollback_works_when_the_colour_being_left_has_a_damaged_file(lab):
    run(lab, colour="green")
    lab.write("upstream-green.conf", "this is not an upstream\n")
    back = run(lab, colour="blue", action="rollback")
    assert not back.failed and lab.link("live.conf") == "upstream-blue.conf" and lab.loaded_live() == "upstream-blue.conf"
    assert back["previous"]["colour"] == "green"
    # A weighted step needs both colours' servers.
    step = run(lab, colour="blue", weight=50)
    assert step.failed and step.msg.startswith(f"{lab.path('upstream-green.conf')} must hold one `upstream <name> {{ ... }}` block")


def test_the_diff_shows_an_unchanged_link_as_it_is_written(lab):
    os.unlink(lab.path("preview.conf"))
    os.symlink("./preview-green.conf", lab.path("preview.conf"))
    done = run(lab, check_mode=True, colour="green", preview=False, _ansible_diff=True)
    assert done["diff"][0]["before"] == "live.conf -> upstream-blue.conf\npreview.conf -> ./preview-green.conf\n"
    assert done["diff"][0]["after"] == "live.conf -> upstream-green.conf\npreview.conf -> ./preview-green.conf\n"


# --------------------------------------------------------------------------- colour=previous, lock_owner: a rollback in one call


def test_previous_with_the_lock_rolls_back_in_one_call(lab):
    assert not run(lab, colour="green", versions={"blue": "1.0.0", "green": "2.0.0"}).failed
    back = run(lab, colour="previous", action="rollback", lock_owner="ci", versions={"blue": "1.0.0", "green": "2.0.0"})
    assert not back.failed, back
    assert (back["changed"], back["colour"], back["previous_colour"]) == (True, "blue", "green")
    assert lab.history_lines()[-1]["action"] == "rollback" and lab.history_lines()[-1]["to"] == "blue"
    assert not os.path.exists(os.path.join(lab.state_dir, "shop", "lock"))


def test_previous_refuses_a_changed_release_and_a_weight(lab):
    run(lab, colour="green", versions={"blue": "1.0.0", "green": "2.0.0"})
    refused = run(lab, colour="previous", versions={"blue": "3.0.0", "green": "2.0.0"})
    assert refused.failed and "it ran 1.0.0 when it was live, but now holds 3.0.0" in refused["msg"]
    assert len(lab.history_lines()) == 1
    weighted = run(lab, colour="previous", weight=50)
    assert weighted.failed and "weight must be 100 with colour=previous" in weighted["msg"]


# --------------------------------------------------------------------------- the watch, on the app's counts log

WATCH = {"seconds": 20, "interval": 0.1, "window": 1.0, "min_requests": 20}


@contextlib.contextmanager
def nginx_logging(path: str, colour: str, status: int, per_tick: int = 10, ticks: int = 60, pause: float = 0.05):
    """While inside, nginx logs ``per_tick`` requests of ``colour`` answered with ``status`` to the counts log every
    ``pause`` seconds (a bounded loop in a thread)."""
    stop = threading.Event()

    def serve() -> None:
        for _tick in range(ticks):
            with open(path, "a", encoding="utf-8") as handle:
                handle.write("".join(f"{time.time():.3f} {status} {colour} 0.001, 0.004\n" for _line in range(per_tick)))
            if stop.wait(pause):
                return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


@pytest.fixture
def counts_log(lab):
    path = os.path.join(lab.root, "bluegreen-shop.log")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("1767225500.000 500 green 0.001\n" * 50)  # before the watch: never counted
    return path


def test_the_watch_switches_back_at_once_when_the_new_colour_answers_5xx_with_no_probe(lab, counts_log):
    versions = {"blue": "1.0.0", "green": "2.0.0"}
    started = time.monotonic()
    with nginx_logging(counts_log, "green", 500):
        done = run(lab, colour="green", action="release", versions=versions, watch=WATCH, counts_log=counts_log, lock_owner="ci run 1")
    assert done.failed and done["changed"] and time.monotonic() - started < 10, done.msg
    assert "the watch of green found after" in done.msg and "Switched all the traffic back to blue" in done.msg
    assert re.search(r"green answered \d+ of \d+ requests with 5xx", done.msg), done.msg
    assert done["watch"]["rolled_back"] and done["watch"]["after_s"] < 3 and done["rolled_back_to"] == "blue"
    assert done["watch"]["probes"] is None and done["watch"]["counts_note"] is None
    assert lab.link("live.conf") == "upstream-blue.conf" and lab.reloads() == ["ok", "ok"]
    release, back = lab.history_lines()
    assert (release["action"], release["to"], back["action"], back["from"], back["to"]) == (
        "release", "green", "auto-rollback", "green", "blue")
    assert back["reason"].startswith("green answered") and 0 < back["watch"]["http_5xx"] == back["watch"]["requests"]
    assert not os.path.exists(os.path.join(lab.state_dir, "shop", "lock"))


def test_a_good_colour_is_counted_to_the_end_of_the_watch_and_stays(lab, counts_log):
    with nginx_logging(counts_log, "green", 200), nginx_logging(counts_log, "blue", 503, per_tick=2):
        done = run(lab, colour="green", watch=dict(WATCH, seconds=0.6, max_response_ms=10), counts_log=counts_log)
    assert not done.failed and done["changed"], done.msg
    watch = done["watch"]
    assert watch["ok"] and not watch["rolled_back"] and watch["requests"] > 0 and watch["http_5xx"] == 0, watch
    assert watch["counts_note"] is None and lab.link("live.conf") == "upstream-green.conf"


def test_a_slow_colour_is_switched_back_on_its_upstream_time(lab, counts_log):
    with nginx_logging(counts_log, "green", 200):
        done = run(lab, colour="green", watch=dict(WATCH, max_response_ms=3), counts_log=counts_log)
    assert done.failed and "green's response time is 4 ms on average, over max_response_ms 3" in done.msg, done.msg
    assert lab.link("live.conf") == "upstream-blue.conf"


def test_without_the_counts_log_and_without_probes_the_watch_is_refused_before_any_change(lab):
    missing = os.path.join(lab.root, "nowhere.log")
    done = run(lab, colour="green", watch=WATCH, counts_log=missing)
    assert done.failed and done["param"] == "watch.checks", done
    assert done.msg == (f"watch.checks must list at least one probe: nginx writes no counts log at {missing} (provision the app "
                        "again with bluegreen.core.nginx so that nginx writes it), so the probes are all the watch has")
    assert lab.link("live.conf") == "upstream-blue.conf" and lab.reloads() == [] and lab.nginx_calls() == []
    assert lab.history_lines() == []


def test_without_the_counts_log_the_watch_relies_on_its_probes_and_says_why(lab):
    missing = os.path.join(lab.root, "nowhere.log")
    with fake_app() as app:
        done = run(lab, colour="green", watch=dict(WATCH, seconds=0.5, checks=[{"url": app.url("/ok")}]), counts_log=missing)
    assert not done.failed and done["changed"], done.msg
    watch = done["watch"]
    assert watch["ok"] and watch["requests"] is None and watch["probes"]["passed"]
    assert watch["counts_note"] == f"nginx writes no counts log at {missing} (provision the app again with bluegreen.core.nginx so that nginx writes it)"


def test_the_default_counts_log_is_the_app_s_in_nginx_s_log_folder(lab, monkeypatch):
    monkeypatch.setattr(_nginx_log, "LOG_DIR", lab.root)
    path = os.path.join(lab.root, "bluegreen-shop.log")
    open(path, "w").close()  # noqa: SIM115 (nginx created it when it loaded the app's configuration)
    with nginx_logging(path, "green", 502):
        done = run(lab, colour="green", watch=WATCH)
    assert done.failed and re.search(r"green answered \d+ of \d+ requests with 5xx", done.msg), done.msg


def test_a_counts_log_that_cannot_be_read_fails_before_any_change(lab):
    os.mkdir(os.path.join(lab.root, "a-folder.log"))
    done = run(lab, colour="green", watch=WATCH, counts_log=os.path.join(lab.root, "a-folder.log"))
    assert done.failed and done["param"] == "counts_log", done
    assert done.msg.startswith(f"the counts log {lab.root}/a-folder.log cannot be read: Is a directory")
    assert lab.link("live.conf") == "upstream-blue.conf" and lab.reloads() == []


def test_a_counts_log_that_can_no_longer_be_read_during_the_watch_fails_its_samples(lab, counts_log):
    def break_it() -> None:
        time.sleep(0.5)
        os.rename(counts_log, counts_log + ".1")
        os.mkdir(counts_log)  # what the path holds now cannot be read as a log

    thread = threading.Thread(target=break_it, daemon=True)
    thread.start()
    done = run(lab, colour="green", watch=WATCH, counts_log=counts_log)
    thread.join(5)
    assert done.failed and "the router's counters of green could not be read 2 times in a row" in done.msg, done.msg
    assert f"the counts log {counts_log} cannot be read: Is a directory" in done.msg
    assert lab.link("live.conf") == "upstream-blue.conf"


@pytest.mark.parametrize("value", ["relative.log", "/var/log/nginx/"])
def test_a_bad_counts_log_is_refused_naming_it_before_any_io(lab, value):
    done = run(lab, colour="green", counts_log=value)
    assert done.failed and done["param"] == "counts_log" and "counts_log must be the absolute path of a file" in done.msg
    assert lab.reloads() == []

# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure parts of `make bench`: map parsing, the reload baseline's config rewrite, flip cutovers, targets."""

from __future__ import annotations

import dataclasses

import pytest
from ansible_collections.bluegreen.core.benchmarks import bench

CFG = """frontend demo_live
    bind *:80
    use_backend %[str(demo),map(/etc/haproxy/maps/demo.map,demo_green)]

frontend demo_preview
    bind *:8080
    use_backend %[str(demo.preview),map(/etc/haproxy/maps/demo.map,demo_blue)]
"""


def rec(t: float, colour: str, kind: str = "keepalive") -> dict:
    return {"kind": kind, "t": t, "colour": colour, "status": 200, "error": None, "latency": 0.001}


def test_other_colour() -> None:
    assert bench.other_colour("blue") == "green"
    assert bench.other_colour("green") == "blue"
    with pytest.raises(ValueError):
        bench.other_colour("red")


def test_live_from_map() -> None:
    assert bench.live_from_map("demo demo_green\ndemo.preview demo_blue\n") == "green"
    assert bench.live_from_map("# comment\nother other_blue\ndemo demo_blue\n") == "blue"
    with pytest.raises(ValueError):
        bench.live_from_map("demo.preview demo_blue\n")


def test_rewrite_use_backend_touches_only_the_live_line() -> None:
    out = bench.rewrite_use_backend(CFG, "demo", "blue")
    assert "    use_backend demo_blue\n" in out
    assert "use_backend %[str(demo.preview),map(/etc/haproxy/maps/demo.map,demo_blue)]" in out
    assert "str(demo),map" not in out
    assert out.count("\n") == CFG.count("\n")


def test_rewrite_use_backend_refuses_what_it_cannot_find() -> None:
    with pytest.raises(ValueError, match="found 0"):
        bench.rewrite_use_backend(CFG, "shop", "blue")
    with pytest.raises(ValueError):
        bench.rewrite_use_backend(CFG, "demo", "red")


def test_flip_cutovers() -> None:
    started = 1000.0
    flips = [{"flip": 1, "to": "green", "time": 1001.0, "ms": 0.2}, {"flip": 2, "to": "blue", "time": 1002.0, "ms": 0.3}]
    records = [rec(0.5, "blue"), rec(1.003, "blue"), rec(1.01, "green"), rec(1.5, "green"),
               rec(1.9, "blue"), rec(2.0005, "green"), rec(2.1, "blue"), rec(1.2, "blue", kind="stream")]
    out = bench.flip_cutovers(records, flips, started)
    assert [flip["to_last_old_ms"] for flip in out] == [3.0, 0.5]
    assert out[0]["set_map_ms"] == 0.2 and out[1]["t"] == 2.0
    # No old-colour request after a flip: None, not zero.
    assert bench.flip_cutovers([rec(1.5, "green")], flips[:1], started)[0]["to_last_old_ms"] is None


def test_overlap_ms() -> None:
    assert bench.overlap_ms({"last_old_t": 5.012, "first_new_t": 5.004}) == 8.0
    assert bench.overlap_ms({"last_old_t": None, "first_new_t": 5.0}) is None


def summary(failed: int = 0, requests: int = 30_000, p99: float = 2.0, steady: float = 1.5, survived: int = 2) -> dict:
    kinds = {"keepalive": {"requests": requests, "failed": failed}, "newconn": {"requests": requests // 3, "failed": 0},
             "stream": {"requests": 2, "failed": 2 - survived}}
    return {"case": "x", "kinds": kinds, "streams": {"total": 2, "survived": survived},
            "latency": {"switch": {"p99_ms": p99}, "steady": {"p99_ms": steady}}}


def test_judge_all_met() -> None:
    flips = [{"flip": i, "to_last_old_ms": 3.0, "set_map_ms": 0.2} for i in range(20)]
    rows = bench.judge({"switch": summary(), "rollback": summary(), "flips": summary()},
                       {"flips": flips, "router_cutover_ms": {"switch": 0.4},
                        "floor": {"rollback_s": 3.0, "noop_s": 2.5, "ratio": 1.2}})
    assert rows and all(row["met"] for row in rows)
    table = bench.verdict_table(rows)
    assert table.startswith("| target | measured | met |") and "**no**" not in table


def test_judge_reports_misses() -> None:
    rows = bench.judge({"switch": summary(failed=3, requests=1000, p99=9.0, survived=1)},
                       {"flips": [{"flip": 1, "to_last_old_ms": 80.0, "set_map_ms": 0.2}],
                        "floor": {"rollback_s": 6.0, "noop_s": 2.0, "ratio": 3.0}})
    missed = {row["target"] for row in rows if row["met"] is False}
    assert "switch: 0 failed requests, every client kind" in missed
    assert any("requests" in target for target in missed)
    assert any("flips" in target for target in missed)
    assert "switch: streams survive" in missed
    assert any("p99" in target for target in missed)
    assert any("rollback wall time" in target for target in missed)
    assert "**no**" in bench.verdict_table(rows)


def test_p99_ratio_and_median() -> None:
    assert bench.p99_ratio(summary(p99=3.0, steady=1.5)) == 2.0
    assert bench.p99_ratio(summary(p99=None)) is None
    assert bench.median_s([3.0, 1.0, 2.0]) == 2.0
    assert bench.median_s([]) is None


def test_explain_gives_one_reason_per_kind_of_miss() -> None:
    rows = [{"target": "switch: p99 in switch window <= 2x steady", "met": False},
            {"target": "rollback: p99 in switch window <= 2x steady", "met": False},
            {"target": "flips: p99 in switch window <= 2x steady", "met": True},
            {"target": "rollback wall time <= 1.5x no-op playbook", "met": False}]
    notes = bench.explain(rows)
    assert notes[0].startswith("Why") and len(notes) == 4
    assert bench.explain([{"target": "x", "met": True}]) == []


def test_explain_takes_the_first_matching_reason() -> None:
    notes = bench.explain([{"target": "switch: 0 failed requests, every client kind", "met": False}])
    assert len(notes) == 3 and "failed requests" in notes[2]


def test_judge_nginx_rows_report_keepalive_without_a_target() -> None:
    nginx = summary(failed=5)
    flips = [{"flip": i, "to_last_old_ms": 120.0 if i == 3 else None, "set_map_ms": 900.0} for i in range(20)]
    rows = bench.judge({"switch": summary(), "nginx-switch": nginx, "nginx-flips": summary(), "nginx-release": summary()},
                       {"flips": [], "nginx_flips": flips, "router_cutover_ms": {"nginx-switch": 950.0}})
    by_target = {row["target"]: row for row in rows}
    assert by_target["nginx-switch: 0 failed requests, new-connection clients and streams"]["met"] is True
    keepalive = by_target["nginx-switch: keep-alive failures (reported; nginx 1.22 reload race)"]
    assert keepalive["met"] is None and keepalive["measured"] == "keepalive 5/30,000"
    assert by_target["nginx: >= 20 flips"]["met"] is True
    assert "nginx-release: streams survive" not in by_target
    assert by_target["nginx-flips: streams survive"]["met"] is True
    assert by_target["nginx-flips: cutover (switch start -> last old-colour request start; reported)"]["met"] is None
    assert by_target["nginx-switch: link swap + nginx -t + reload until new workers (from history; reported)"]["met"] is None
    assert by_target["nginx-release: p99 in switch window <= 2x steady"]["met"] is True


def test_judge_nginx_newconn_failure_is_a_miss() -> None:
    broken = summary()
    broken["kinds"]["newconn"]["failed"] = 1
    rows = bench.judge({"nginx-rollback": broken}, {})
    assert {row["target"] for row in rows if row["met"] is False} == {
        "nginx-rollback: 0 failed requests, new-connection clients and streams", ">= 20 flips",
        "switch + rollback + flips: >= 50,000 requests"}


def test_inventory_yaml_matches_the_committed_inventory() -> None:
    yaml = pytest.importorskip("yaml")
    import os

    with open(os.path.join(os.path.dirname(bench.__file__), "inventory.yml"), encoding="utf-8") as handle:
        committed = yaml.safe_load(handle)
    assert yaml.safe_load(bench.inventory_yaml("bluegreen-bench", ["router"], ["app1", "app2"])) == committed
    nginx = yaml.safe_load(bench.inventory_yaml("bluegreen-bench", ["nginx"], ["app1", "app2"], "nginx"))
    assert nginx["all"]["vars"]["bluegreen_router"] == "nginx"
    assert nginx["all"]["children"]["bluegreen_routers"]["hosts"] == {"nginx": {"ansible_host": "bluegreen-bench-nginx"}}


@pytest.mark.parametrize("args", [("p", ["r"], ["a"], "alb"), ("p", [], ["a"]), ("p", ["r x"], ["a"]), ("../p", ["r"], ["a"])])
def test_inventory_yaml_refuses(args: tuple) -> None:
    with pytest.raises(ValueError):
        bench.inventory_yaml(*args)


def test_flips_section_per_router() -> None:
    flips = [{"flip": 1, "to_last_old_ms": None, "set_map_ms": 0.5}, {"flip": 2, "to_last_old_ms": 2.5, "set_map_ms": 0.7}]
    haproxy = bench.flips_section(flips, "flips")
    assert "## The 2 flips" in haproxy and "In 1 of 2 flips" in haproxy and "none, 2.5" in haproxy
    assert "`set map` commands took 0.60 ms median, 0.70 ms max" in haproxy
    nginx = bench.flips_section([{"flip": 1, "to_last_old_ms": None, "set_map_ms": None}], "nginx")
    assert "## The 1 Nginx flips" in nginx and "apply_switch" in nginx and "every flip" in nginx


def test_nginx_role_committed_outside_git(tmp_path) -> None:
    assert bench.nginx_role_committed(str(tmp_path)) == (False, "not run: roles/nginx missing")
    (tmp_path / "roles" / "nginx" / "tasks").mkdir(parents=True)
    (tmp_path / "roles" / "nginx" / "tasks" / "main.yml").write_text("---\n")
    assert bench.nginx_role_committed(str(tmp_path)) == (True, "")


def test_nginx_section_names_the_reason() -> None:
    nginx = summary(failed=4)
    nginx["kinds"]["keepalive"]["errors"] = {"RemoteDisconnected": 4}
    text = bench.nginx_section({"nginx-switch": nginx, "nginx-rollback": summary()})
    assert "New-connection clients: 0 failed of 20,000" in text
    assert "4 failed of 60,000 (RemoteDisconnected: 4)" in text and "1.27.4" in text


def test_inventory_yaml_with_router_addresses() -> None:
    yaml = pytest.importorskip("yaml")
    text = bench.inventory_yaml("p", ["router1", "router2"], ["app1"], "haproxy", {"router2": "10.88.0.2"})
    hosts = yaml.safe_load(text)["all"]["children"]["bluegreen_routers"]["hosts"]
    assert hosts == {"router1": {"ansible_host": "p-router1"},
                     "router2": {"ansible_host": "p-router2", "bluegreen_address": "10.88.0.2"}}
    with pytest.raises(ValueError):
        bench.inventory_yaml("p", ["router1"], ["app1"], "haproxy", {"router1": "10.0.0.1\nx: y"})


def test_profile_section_and_proposal() -> None:
    from ansible_collections.bluegreen.core.benchmarks import scale

    tasks = [{"task": "bluegreen.core.switch : Take the lock", "s": 1.0}, {"task": "Route traffic", "s": 0.5}]
    prof = {"rollback": {"tasks": tasks, "summary": scale.breakdown(tasks, 8.0)},
            "noop": {"tasks": [], "summary": scale.breakdown([{"task": "ping", "s": 0.5}], 4.0)}}
    text = bench.profile_section(prof, "on the bench lab")
    assert "## Where the rollback's time goes" in text and "on the bench lab" in text
    assert "may take 6.00 s; it took 8.00 s, so 2.00 s have to go" in text
    # A task of at least three quarters of the no-op's module call (0.5 s) runs a module: both here.
    assert "2 tasks that run a module on a host take 1.50 s" in text
    assert "1 tasks that run a module on a host take 1.00 s" in bench.rollback_proposal(prof["rollback"], prof["noop"], slow_s=0.8)
    assert bench.rollback_proposal(prof["rollback"], {}) == ""


def test_scale_section() -> None:
    from ansible_collections.bluegreen.core.benchmarks import scale

    rows = [scale.size_row(1, 2, [4.0], [10.0], [9.0]), scale.size_row(3, 2, [4.5], [12.0], [11.0]),
            scale.size_row(1, 4, [5.0], [13.0], [12.0])]
    text = bench.scale_section({"measured": "now", "rounds": 3, "forks": 5, "sizes": rows, "lab": {"routers": 3, "apps": 4},
                                "prepare_s": 0, "scale_seconds": 300})
    assert "from 1 to 3 routers and 2 to 4 app hosts" in text and "not counting provisioning" in text
    assert "switch 10.00 -> 12.00 s" in text and "switch 10.00 -> 13.00 s" in text


def test_inventory_yaml_with_router_kinds_provisions_both_routers_at_once() -> None:
    yaml = pytest.importorskip("yaml")
    text = bench.inventory_yaml("bluegreen-bench", ["router", "nginx"], ["app1", "app2"], "haproxy",
                                router_kinds={"nginx": "nginx"})
    data = yaml.safe_load(text)
    assert data["all"]["vars"]["bluegreen_router"] == "haproxy"
    assert data["all"]["children"]["bluegreen_routers"]["hosts"] == {
        "router": {"ansible_host": "bluegreen-bench-router"},
        "nginx": {"ansible_host": "bluegreen-bench-nginx", "bluegreen_router": "nginx"}}
    for kinds in ({"nginx": "alb"}, {"other": "nginx"}):
        with pytest.raises(ValueError):
            bench.inventory_yaml("p", ["router", "nginx"], ["app1"], "haproxy", router_kinds=kinds)


def test_cases_reach_the_request_target_together() -> None:
    assert 3 * bench.MIN_CASE_REQUESTS >= bench.TARGET_MIN_REQUESTS
    assert set(bench.CASE_STREAMS_S) == set(bench.ALL_CASES) - {"flips", "nginx-flips"}


def test_a_case_ends_tail_seconds_after_its_action(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from ansible_collections.bluegreen.core.tests.unit.benchmarks.probe_server import serve

    monkeypatch.setattr(bench, "WORK", str(tmp_path))
    with serve() as (url, state):
        runner = bench.Bench("127.0.0.1", scale=0.1)
        config = runner.probe_config

        def local(case: str, duration: float, ip: object = None, stream_seconds: object = None) -> object:
            return dataclasses.replace(config(case, duration, None, stream_seconds), base_url=url, timeout=5.0)

        monkeypatch.setattr(runner, "probe_config", local)

        def action(handle: object) -> None:
            handle.mark("switch-start")
            time.sleep(0.5)
            state.colour = "green"
            handle.mark("switch-end")

        began = time.monotonic()
        # Streams of 0.5 s (scaled) against a 0.8 s action: followed by chained streams until it ends.
        result = runner.case("switch", "switch", 5, 60, action)
        elapsed = time.monotonic() - began
    assert elapsed < 0.3 + 0.5 + 0.5 + 1.0 + 1.0  # lead + action + tail + a chained stream + slack; the limit is 6 s
    assert runner.extras["commands_s"]["switch"] >= 0.5 and "switch" in runner.runs
    streams = result.streams
    assert len(streams) >= 3 and all(rec.complete for rec in streams)
    assert {rec.colour for rec in result.records if rec.kind != "stream"} == {"blue", "green"}


@pytest.mark.parametrize("returncode", [0, 2])
def test_prepare_provisions_both_routers_in_one_run_or_falls_back(
        tmp_path, monkeypatch: pytest.MonkeyPatch, returncode: int) -> None:
    import subprocess

    ran: list[list[str]] = []
    monkeypatch.setattr(bench, "WORK", str(tmp_path))
    monkeypatch.setattr(bench, "PROVISION_INVENTORY", str(tmp_path / "inventory-provision.yml"))
    monkeypatch.setattr(bench, "sh", lambda command, timeout=0, quiet=True: ran.append(command) or "")
    monkeypatch.setattr(bench.subprocess, "run", lambda command, **kwargs: ran.append(command) or
                        subprocess.CompletedProcess(command, returncode, "out", ""))
    assert bench.prepare(nginx=True) is (returncode == 0)
    playbooks = [command for command in ran if command[0] == "ansible-playbook"]
    assert playbooks[0][1:] == ["-i", bench.PROVISION_INVENTORY, "bluegreen.core.provision"]
    assert "bluegreen_router: nginx" in (tmp_path / "inventory-provision.yml").read_text()
    rest = [command[3] for command in playbooks[1:]]
    assert rest == (["bluegreen.core.release", "bluegreen.core.release"] if returncode == 0 else
                    ["bluegreen.core.provision", "bluegreen.core.release", "bluegreen.core.release"])
    assert all(command[2] == bench.INVENTORY for command in playbooks[1:])


def test_the_nginx_flip_library_holds_every_module_it_imports():
    import os
    import re

    folder = os.path.join(os.path.dirname(bench.__file__), "..", "plugins", "module_utils")
    for name in bench.NGINX_FLIP_MODULES:
        with open(os.path.join(folder, name), encoding="utf-8") as handle:
            text = handle.read()
        imported = set(re.findall(r"plugins\.module_utils(?:\._[a-z]+)? import ([_a-z, ]+)", text))
        imported |= set(re.findall(r"plugins\.module_utils\.(_[a-z]+) import", text))
        names = {part.strip() for group in imported for part in group.split(",") if part.strip().startswith("_")}
        assert {f"{module}.py" for module in names} <= set(bench.NGINX_FLIP_MODULES), name


def test_revert_figures_time_the_switch_back_from_the_first_5xx_and_count_the_window() -> None:
    from ansible_collections.bluegreen.core.benchmarks import probe

    base = bench.stamp_epoch("2026-12-01T10:00:00.000000Z")
    records = [probe.Record(kind="keepalive", thread="k1", seq=i, start=base + 0.1 * i - 0.5, t=0.0, status=200)
               for i in range(30)]
    for record in records[10:20]:  # answered 500 while the broken colour was live
        record.status = 500
    run = probe.Result(config=probe.ProbeConfig(base_url="http://127.0.0.1/"), started=base - 1, ended=base + 3, records=records)
    release = {"time": "2026-12-01T10:00:00.000000Z"}
    back = {"time": "2026-12-01T10:00:01.600000Z", "reason": "5xx", "watch": {"after_s": 1.05}}
    figures = bench.revert_figures(run, release, back, 15)
    assert figures["back_after_first_5xx_s"] == 1.1 and figures["back_after_switch_s"] == 1.6
    assert (figures["failed"], figures["window_requests"], figures["dropped"], figures["router_after_s"]) == (10, 25, 0, 1.05)
    rows = bench.judge({}, {"revert": {"fail-fast": figures}})
    assert [(row["met"]) for row in rows if "500" in row["target"]] == [True, False]
    assert "| fail-fast | 1.10 s | 1.60 s | 10 of 25 (40.0%) | 0 |" in bench.revert_section({"fail-fast": figures})


def test_the_ramp_is_judged_on_failures_and_each_steps_share_and_reported_per_step() -> None:
    ramp = {"from": "blue", "to": "green", "watch_s": 5, "requests": 9000, "failed": 0, "switch_s": 31.5, "moved_back": [],
            "steps": [{"step": 10, "seconds": 6.1, "requests": 700, "bucketed_requests": 580, "served_percent": 10.3, "off_bucket": 0},
                      {"step": 50, "seconds": 6.0, "requests": 690, "bucketed_requests": 575, "served_percent": 49.2, "off_bucket": 0},
                      {"step": 100, "seconds": 5.2, "requests": 600, "bucketed_requests": 500, "served_percent": 100.0, "off_bucket": 0}]}
    rows = [row for row in bench.judge({}, {"ramp": ramp}) if row["target"].startswith("ramp")]
    assert [row["met"] for row in rows] == [True, True]
    assert "10% -> 10.3%" in rows[1]["measured"] and "0 moved back" in rows[1]["measured"]
    worse = dict(ramp, failed=3, moved_back=[7], steps=[dict(ramp["steps"][0], served_percent=14.0)])
    assert [row["met"] for row in bench.judge({}, {"ramp": worse}) if row["target"].startswith("ramp")] == [False, False]
    text = bench.ramp_section(ramp)
    assert "| 50 % | 6.0 | 690 | 49.2 % of 575 | 0 |" in text and "0 of 9000 requests failed" in text

# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import os
import socket
import tempfile
import time

import pytest
from ansible_collections.bluegreen.core.plugins.module_utils import _haproxy, _validate
from ansible_collections.bluegreen.core.plugins.module_utils._haproxy import HAProxyError, RuntimeAPI
from ansible_collections.bluegreen.core.tests.unit.plugins import haproxy_fake
from ansible_collections.bluegreen.core.tests.unit.plugins.haproxy_fake import FakeHAProxy, Lab, server

MAP = "/etc/haproxy/maps/shop.map"


@pytest.fixture
def lab(tmp_path):
    with Lab(str(tmp_path)) as running:
        yield running


def api_for(lab: Lab, timeout: float = 2.0) -> RuntimeAPI:
    return RuntimeAPI(lab.fake.address, timeout)


# --------------------------------------------------------------------------- addresses and commands


@pytest.mark.parametrize(
    "address, family, target",
    [
        ("/run/haproxy/admin.sock", socket.AF_UNIX, "/run/haproxy/admin.sock"),
        ("unix@/run/haproxy/admin.sock", socket.AF_UNIX, "/run/haproxy/admin.sock"),
        ("127.0.0.1:9999", socket.AF_INET, ("127.0.0.1", 9999)),
        ("ipv4@127.0.0.1:9999", socket.AF_INET, ("127.0.0.1", 9999)),
        ("localhost:9999", socket.AF_INET, ("localhost", 9999)),
        ("[::1]:9999", socket.AF_INET6, ("::1", 9999)),
        ("ipv6@[::1]:9999", socket.AF_INET6, ("::1", 9999)),
    ],
)
def test_parse_address_accepts_unix_and_tcp(address, family, target):
    assert _haproxy.parse_address(address) == (family, target)


@pytest.mark.parametrize(
    "address",
    ["", "admin.sock", "run/haproxy/admin.sock", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "/run/a b.sock",
     "/run/admin.sock\n", "127.0.0.1:99;show", "/" + "x" * 120, None],
)
def test_parse_address_refuses_anything_else_naming_socket(address):
    with pytest.raises(HAProxyError) as caught:
        _haproxy.parse_address(address)
    assert caught.value.param == "socket"
    assert "socket" in str(caught.value)


def test_build_command_joins_safe_arguments():
    assert _haproxy.build_command("set", "map", MAP, "shop", "shop_green") == f"set map {MAP} shop shop_green"


@pytest.mark.parametrize("bad", ["shop green", "shop;show stat", "shop\\", "shop\nshow", "a\tb", "", "x\x00", "x\r"])
def test_build_command_refuses_whitespace_separators_and_escapes(bad):
    with pytest.raises(HAProxyError, match="refusing to send"):
        _haproxy.build_command("set", "map", MAP, "shop", bad)


# --------------------------------------------------------------------------- parsers


def test_parse_stat_csv_reads_real_haproxy_2_6_output():
    rows = _haproxy.parse_stat_csv(haproxy_fake.REAL_SHOW_STAT_SHOP_BLUE.rstrip("\n"))
    assert [row["svname"] for row in rows] == ["shop_blue_1", "shop_blue_2", "BACKEND"]
    first = rows[0]
    assert first["pxname"] == "shop_blue"
    assert first["status"] == "UP"
    assert first["scur"] == 0 and first["stot"] == 1 and first["hrsp_2xx"] == 1
    assert first["addr"] == "127.0.0.1:18101"
    assert first["check_status"] == "L7OK"
    assert first["slim"] is None  # empty field
    assert "" not in first and "-" not in first  # trailing comma and the "-" separator column
    summary = _haproxy.backend_summary("shop_blue", rows)
    assert summary["up"] == 2 and summary["total"] == 2
    assert summary["requests"] == 2 and summary["http_2xx"] == 2 and summary["sessions"] == 0


def test_parse_stat_csv_refuses_an_error_text():
    with pytest.raises(HAProxyError, match="unexpected answer to show stat"):
        _haproxy.parse_stat_csv("No such proxy.")


def test_parse_map_entries_keeps_order_and_values():
    text = "0x563f2526bf60 shop shop_blue\n0x563f25184f30 shop.preview shop_green\n"
    assert _haproxy.parse_map_entries(text) == [
        {"id": "0x563f2526bf60", "key": "shop", "value": "shop_blue"},
        {"id": "0x563f25184f30", "key": "shop.preview", "value": "shop_green"},
    ]
    assert _haproxy.parse_map_entries("") == []


def test_parse_get_map_found_and_not_found():
    found = 'type=str, case=sensitive, found=yes, idx=tree, key="shop", value="shop_blue", type="str"'
    assert _haproxy.parse_get_map(found) == {"found": True, "key": "shop", "value": "shop_blue"}
    assert _haproxy.parse_get_map("type=str, case=sensitive, found=no")["found"] is False
    with pytest.raises(HAProxyError):
        _haproxy.parse_get_map("Unknown map identifier. Please use #<id> or <file>.")


def test_parse_map_list_reads_real_show_map_line():
    text = (
        "# id (file) description\n2 (/etc/haproxy/maps/shop.map) pattern loaded from file '/etc/haproxy/maps/shop.map' "
        "used by map at file 'hap.cfg' line 14, by map at file 'hap.cfg' line 17. curr_ver=0 next_ver=0 entry_cnt=2\n"
    )
    assert [entry["file"] for entry in _haproxy.parse_map_list(text)] == ["/etc/haproxy/maps/shop.map"]


# --------------------------------------------------------------------------- map files


def test_render_map_file_replaces_keys_in_place_and_keeps_other_lines():
    before = "# maps for shop\nother other_blue\nshop shop_blue\nshop.preview   shop_green\n\nlast x\n"
    after = _haproxy.render_map_file(before, {"shop": "shop_green", "shop.preview": "shop_blue"})
    assert after == "# maps for shop\nother other_blue\nshop shop_green\nshop.preview shop_blue\n\nlast x\n"


def test_render_map_file_appends_missing_keys_and_is_stable():
    after = _haproxy.render_map_file("other other_blue", {"shop": "shop_green", "shop.preview": "shop_blue"})
    assert after == "other other_blue\nshop shop_green\nshop.preview shop_blue\n"
    assert _haproxy.render_map_file(after, {"shop": "shop_green", "shop.preview": "shop_blue"}) == after
    assert _haproxy.render_map_file(None, {"shop": "shop_blue"}) == "shop shop_blue\n"


def test_render_map_file_keeps_a_matching_line_byte_for_byte():
    before = "shop\tshop_green\n"
    assert _haproxy.render_map_file(before, {"shop": "shop_green"}) == before


def test_render_map_file_updates_every_duplicate_of_a_key():
    after = _haproxy.render_map_file("shop shop_blue\nshop shop_blue\n", {"shop": "shop_green"})
    assert after == "shop shop_green\nshop shop_green\n"


def test_map_file_values_reads_first_occurrence_and_skips_comments():
    assert _haproxy.map_file_values("# c\nshop shop_blue\nshop shop_green\n") == {"shop": "shop_blue"}


@pytest.mark.parametrize("path", ["maps/shop.map", "/etc/haproxy/maps/sh op.map", "/etc/haproxy/../shadow", "/a;b", ""])
def test_validate_map_file_refuses_unsafe_paths(path):
    with pytest.raises(_validate.ValidationError, match="map_file"):
        _haproxy.validate_map_file(path)


def test_layout_defaults_and_validation():
    layout = _haproxy.Layout("shop")
    assert layout.map_file == "/etc/haproxy/maps/bluegreen.map"
    assert layout.backends == {"blue": "shop_blue", "green": "shop_green"}
    assert layout.preview_key == "shop.preview"
    assert layout.colour_of("shop_green") == "green" and layout.colour_of("other") is None
    with pytest.raises(_validate.ValidationError, match="backends.green"):
        _haproxy.Layout("shop", backends={"green": "x;y"})
    with pytest.raises(_validate.ValidationError, match="must differ"):
        _haproxy.Layout("shop", backends={"blue": "same", "green": "same"})
    with pytest.raises(_validate.ValidationError, match="app"):
        _haproxy.Layout("shop\nshow stat")


# --------------------------------------------------------------------------- the client against the fake


def test_client_reads_maps_and_stats_over_unix_socket(lab):
    api = api_for(lab)
    assert [entry["file"] for entry in api.list_maps()] == [lab.map_file]
    assert [(e["key"], e["value"]) for e in api.map_entries(lab.map_file)] == [("shop", "shop_blue"), ("shop.preview", "shop_green")]
    assert api.get_map(lab.map_file, "shop") == "shop_blue"
    assert api.get_map(lab.map_file, "nokey") is None
    blue = api.backend("shop_blue")
    assert blue["up"] == 2 and [s["name"] for s in blue["servers"]] == ["shop_blue_1", "shop_blue_2"]
    assert lab.fake.commands[-1] == "show stat shop_blue 6 -1"


def test_client_works_over_tcp(tmp_path):
    with Lab(str(tmp_path), tcp=True) as tcp_lab:
        assert tcp_lab.fake.address.startswith("127.0.0.1:")
        assert RuntimeAPI(tcp_lab.fake.address).get_map(tcp_lab.map_file, "shop") == "shop_blue"
        assert RuntimeAPI("ipv4@" + tcp_lab.fake.address).get_map(tcp_lab.map_file, "shop") == "shop_blue"


def test_set_map_changes_runtime_and_adds_a_missing_entry(lab):
    api = api_for(lab)
    api.set_map(lab.map_file, "shop", "shop_green")
    api.set_map(lab.map_file, "new", "new_blue")
    assert lab.runtime() == {"shop": "shop_green", "shop.preview": "shop_green", "new": "new_blue"}
    assert lab.fake.sent("add map") == [f"add map {lab.map_file} new new_blue"]


def test_unknown_map_names_map_file_and_lists_known_maps(lab):
    with pytest.raises(HAProxyError) as caught:
        api_for(lab).map_entries("/etc/haproxy/maps/other.map")
    assert caught.value.param == "map_file"
    assert "/etc/haproxy/maps/other.map" in str(caught.value) and lab.map_file in str(caught.value)


def test_unknown_backend_names_backends(lab):
    with pytest.raises(HAProxyError) as caught:
        api_for(lab).backend("nope")
    assert caught.value.param == "backends" and "'nope'" in str(caught.value)


def test_a_frontend_is_not_a_backend(lab):
    with pytest.raises(HAProxyError, match="frontend, not a backend"):
        api_for(lab).backend("live")


def test_permission_denied_answer_asks_for_level_admin(lab):
    lab.fake.fail_next("set map", haproxy_fake.PERMISSION_DENIED)
    with pytest.raises(HAProxyError, match="level admin"):
        api_for(lab).set_map(lab.map_file, "shop", "shop_green")


def test_unknown_command_answer_is_an_error(lab):
    lab.fake.fail_next("show map", haproxy_fake.UNKNOWN_COMMAND)
    with pytest.raises(HAProxyError, match="does not know the command `show map`"):
        api_for(lab).list_maps()


def test_any_other_answer_to_set_map_is_an_error(lab):
    lab.fake.fail_next("set map", "Out of memory error.\n\n")
    with pytest.raises(HAProxyError, match="Out of memory"):
        api_for(lab).set_map(lab.map_file, "shop", "shop_green")


def test_missing_socket_says_so_and_names_socket(tmp_path):
    path = str(tmp_path / "admin.sock")
    with pytest.raises(HAProxyError) as caught:
        RuntimeAPI(path, 1).run("show", "map")
    assert caught.value.param == "socket"
    assert f"socket {path} does not exist" in str(caught.value) and "stats socket" in str(caught.value)
    # The router did not answer: the switch role's message leads with that, not with the option.
    assert caught.value.fields == {"router_unreachable": True}


def test_stale_socket_file_is_connection_refused():
    directory = tempfile.mkdtemp(prefix="bghap")
    path = os.path.join(directory, "stale.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()
    try:
        with pytest.raises(HAProxyError, match="connection refused") as caught:
            RuntimeAPI(path, 1).run("show", "map")
        assert caught.value.fields == {"router_unreachable": True}
    finally:
        os.unlink(path)
        os.rmdir(directory)


def test_permission_denied_on_the_socket_file_suggests_become(lab, monkeypatch):
    def refuse(self, target):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    with pytest.raises(HAProxyError, match="become: true"):
        api_for(lab).run("show", "map")


def test_unresponsive_socket_fails_within_the_timeout(lab):
    lab.fake.hang = True
    started = time.monotonic()
    with pytest.raises(HAProxyError) as caught:
        api_for(lab, timeout=0.2).run("show", "map")
    assert time.monotonic() - started < 1.5
    assert caught.value.param == "timeout" and "within 0.2s" in str(caught.value)


def test_timeout_must_be_positive():
    with pytest.raises(HAProxyError, match="timeout"):
        RuntimeAPI("/run/haproxy/admin.sock", 0)


# --------------------------------------------------------------------------- drain


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_wait_for_drain_completes_when_sessions_and_queue_reach_zero(lab):
    lab.fake.backends["shop_blue"] = [server("shop_blue_1", scur=2, qcur=1), server("shop_blue_2", scur=1)]

    def finish_one(fake, command):
        if command.startswith("show stat shop_blue"):
            for srv in fake.backends["shop_blue"]:
                if srv["qcur"]:
                    srv["qcur"] -= 1
                elif srv["scur"]:
                    srv["scur"] -= 1

    lab.fake.on_command = finish_one
    clock = FakeClock()
    outcome = _haproxy.wait_for_drain(api_for(lab), "shop_blue", timeout=30, interval=0.5, clock=clock, sleep=clock.sleep)
    assert outcome == {"backend": "shop_blue", "completed": True, "remaining_sessions": 0, "waited_s": 1.0}


def test_wait_for_drain_gives_up_at_the_timeout_without_killing_anything(lab):
    lab.fake.backends["shop_blue"] = [server("shop_blue_1", scur=3)]
    clock = FakeClock()
    outcome = _haproxy.wait_for_drain(api_for(lab), "shop_blue", timeout=2, interval=0.5, clock=clock, sleep=clock.sleep)
    assert outcome["completed"] is False and outcome["remaining_sessions"] == 3 and outcome["waited_s"] == 2.0
    assert not [c for c in lab.fake.commands if c.startswith(("shutdown", "set server", "disable"))]


# --------------------------------------------------------------------------- the switch


def test_plan_reports_changes_only_when_something_differs(lab):
    layout = _haproxy.Layout("shop", lab.map_file)
    plan = _haproxy.plan_switch(api_for(lab), layout, "green", True)
    assert plan.changed and plan.runtime_changes == ["shop", "shop.preview"] and plan.moves_live_traffic
    assert plan.previous_colour == "blue"
    same = _haproxy.plan_switch(api_for(lab), layout, "blue", True)
    assert not same.changed and not same.moves_live_traffic


def test_apply_switch_writes_the_file_before_the_cutover_and_verifies(lab):
    layout = _haproxy.Layout("shop", lab.map_file)
    api = api_for(lab)
    plan = _haproxy.plan_switch(api, layout, "green", True)
    seen = {}

    def write(path, content):
        seen["commands_before_write"] = list(lab.fake.commands)
        _haproxy._fs.atomic_write(path, content)

    timing = _haproxy.apply_switch(api, plan, write=write)
    assert not [c for c in seen["commands_before_write"] if c.startswith("set")]
    assert lab.runtime() == {"shop": "shop_green", "shop.preview": "shop_blue"}
    assert lab.map_text() == "shop shop_green\nshop.preview shop_blue\n"
    assert timing["cutover_ms"] is not None and timing["total_ms"] >= timing["cutover_ms"]


def test_apply_switch_restores_file_and_runtime_when_verification_fails(lab):
    layout = _haproxy.Layout("shop", lab.map_file)
    api = api_for(lab)
    plan = _haproxy.plan_switch(api, layout, "green", True)
    before = lab.map_bytes()
    lab.fake.ignore_sets = True  # HAProxy acknowledges but keeps the old value
    with pytest.raises(_haproxy.SwitchFailed) as caught:
        _haproxy.apply_switch(api, plan)
    assert caught.value.cutover_attempted and caught.value.restored
    assert lab.map_bytes() == before
    assert "were restored" in str(caught.value)


def test_apply_switch_changes_only_its_own_lines_of_a_shared_map_even_if_another_app_wrote_since_the_plan(lab):
    layout = _haproxy.Layout("shop", lab.map_file)
    api = api_for(lab)
    plan = _haproxy.plan_switch(api, layout, "green", True)
    # Another app's switch rewrote its own line after this plan was made.
    with open(lab.map_file, "a", encoding="utf-8") as handle:
        handle.write("cart cart_blue\n")
    _haproxy.apply_switch(api, plan)
    assert lab.map_text() == "shop shop_green\nshop.preview shop_blue\ncart cart_blue\n"
    assert os.path.exists(_haproxy.map_lock_path(lab.map_file))


def test_a_failed_switch_restores_its_own_lines_and_keeps_another_apps(lab):
    layout = _haproxy.Layout("shop", lab.map_file)
    api = api_for(lab)
    plan = _haproxy.plan_switch(api, layout, "green", True)
    with open(lab.map_file, "a", encoding="utf-8") as handle:
        handle.write("cart cart_green\n")
    lab.fake.ignore_sets = True
    with pytest.raises(_haproxy.SwitchFailed):
        _haproxy.apply_switch(api, plan)
    assert lab.map_text() == "shop shop_blue\nshop.preview shop_green\ncart cart_green\n"


def test_render_map_file_removes_keys_set_to_none():
    text = "# header\nshop shop_blue\nshop.preview shop_green\ncart cart_blue\n"
    assert _haproxy.render_map_file(text, {"shop": None, "shop.preview": None}) == "# header\ncart cart_blue\n"


def test_fake_server_answers_unknown_commands_like_haproxy():
    with FakeHAProxy() as fake:
        assert RuntimeAPI(fake.address).run("frobnicate").startswith("Unknown command")


# --------------------------------------------------------------------------- several apps in one step

@pytest.fixture
def two_apps(tmp_path):
    with Lab(str(tmp_path), map_text=haproxy_fake.TWO_APPS_MAP, backends=haproxy_fake.two_apps_backends()) as running:
        yield running


def group_plans(lab: Lab, api: RuntimeAPI, colours: dict) -> list:
    return [_haproxy.plan_switch(api, _haproxy.Layout(app, lab.map_file), colour, True) for app, colour in colours.items()]


def test_apply_group_switches_several_apps_in_one_commit_and_keeps_every_other_entry(two_apps):
    api = api_for(two_apps)
    plans = group_plans(two_apps, api, {"shop": "green", "cart": "blue"})
    timing = _haproxy.apply_group(api, plans)
    assert two_apps.fake.sent("set map") == [] and len(two_apps.fake.sent("commit map")) == 1
    assert two_apps.runtime() == {"shop": "shop_green", "shop.preview": "shop_blue", "cart": "cart_blue",
                                  "cart.preview": "cart_green", "other": "other_blue"}
    assert two_apps.map_text() == "shop shop_green\nshop.preview shop_blue\ncart cart_blue\ncart.preview cart_green\nother other_blue\n"
    assert timing["cutover_ms"] is not None


def test_apply_group_puts_everything_back_when_the_commit_does_not_take(two_apps):
    api = api_for(two_apps)
    plans = group_plans(two_apps, api, {"shop": "green", "cart": "blue"})
    before_file, before_runtime = two_apps.map_bytes(), two_apps.runtime()
    two_apps.fake.ignore_sets = True  # HAProxy acknowledges the commit but keeps the old entries
    with pytest.raises(_haproxy.SwitchFailed) as caught:
        _haproxy.apply_group(api, plans)
    assert caught.value.cutover_attempted and caught.value.restored
    assert "switching shop, cart together failed" in str(caught.value) and "were restored" in str(caught.value)
    assert two_apps.map_bytes() == before_file and two_apps.runtime() == before_runtime


def test_apply_group_changes_nothing_when_haproxy_refuses_the_prepare(two_apps):
    api = api_for(two_apps)
    plans = group_plans(two_apps, api, {"shop": "green", "cart": "blue"})
    before_file = two_apps.map_bytes()
    two_apps.fake.fail_next("prepare map", "Permission denied\n\n")
    with pytest.raises(_haproxy.SwitchFailed) as caught:
        _haproxy.apply_group(api, plans)
    assert not caught.value.cutover_attempted and "Permission denied" in str(caught.value)
    assert two_apps.map_bytes() == before_file and two_apps.fake.sent("commit map") == []

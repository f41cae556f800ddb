# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import os

import pytest
from ansible_collections.bluegreen.core.plugins.module_utils import _haproxy
from ansible_collections.bluegreen.core.plugins.modules import haproxy_maintenance
from ansible_collections.bluegreen.core.tests.unit.plugins.haproxy_fake import FakeHAProxy, default_backends, entries_from, make_map, run_module

MAP = "shop shop_blue\nshop.preview shop_green\nother other_green\n"


@pytest.fixture
def router(tmp_path):
    map_dir = str(tmp_path / "maps")
    map_file = os.path.join(map_dir, "bluegreen.map")
    make_map(map_file, MAP)
    backends = dict(default_backends(), shop_maintenance=[])
    with FakeHAProxy(maps={map_file: entries_from(MAP)}, backends=backends) as fake:
        yield fake, map_dir, map_file


def run(router, check: bool = False, diff: bool = False, **args):
    fake, map_dir, _map_file = router
    extra = {"_ansible_check_mode": check, "_ansible_diff": diff}
    return run_module(haproxy_maintenance, {"app": "shop", "socket": fake.address, "map_dir": map_dir, "timeout": 2.0,
                                            **extra, **args})


def text(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def test_on_adds_the_key_at_runtime_and_in_the_file_and_leaves_the_colours(router):
    fake, _map_dir, map_file = router
    result = run(router, state="on")
    assert not result["failed"], result
    assert (result["changed"], result["maintenance"], result["was"]) == (True, True, False)
    assert fake.runtime(map_file) == {"shop": "shop_blue", "shop.preview": "shop_green", "other": "other_green",
                                      "shop:maintenance": "shop_maintenance"}
    assert text(map_file) == MAP + "shop:maintenance shop_maintenance\n"
    assert fake.sent("add map") == [f"add map {map_file} shop:maintenance shop_maintenance"]
    assert fake.sent("set map") == []


def test_on_twice_changes_nothing_and_off_puts_everything_back(router):
    fake, _map_dir, map_file = router
    run(router, state="on")
    fake.commands.clear()
    again = run(router, state="on")
    assert (again["changed"], again["was"]) == (False, True)
    assert fake.sent("add map") == [] and fake.writes() == []
    off = run(router, state="off")
    assert (off["changed"], off["maintenance"], off["was"]) == (True, False, True)
    assert text(map_file) == MAP
    assert "shop:maintenance" not in fake.runtime(map_file)


def test_check_mode_reports_the_diff_and_changes_nothing(router):
    fake, _map_dir, map_file = router
    result = run(router, check=True, diff=True, state="on")
    assert result["changed"] is True
    assert result["diff"]["after"] == MAP + "shop:maintenance shop_maintenance\n" and result["diff"]["before"] == MAP
    assert text(map_file) == MAP and "shop:maintenance" not in fake.runtime(map_file)
    assert fake.writes() == []


def test_a_router_without_the_maintenance_backend_is_refused_changing_nothing(router):
    fake, _map_dir, map_file = router
    del fake.backends["shop_maintenance"]
    result = run(router, state="on")
    assert result["failed"] and result["param"] == "app"
    assert "no backend shop_maintenance" in result["msg"] and "bluegreen.core.provision" in result["msg"]
    assert text(map_file) == MAP and "shop:maintenance" not in fake.runtime(map_file)


def test_a_refused_runtime_change_puts_the_file_back(router):
    fake, _map_dir, map_file = router
    fake.fail_next("add map", "Unknown map identifier. Please use #<id> or <file>.\n\n")
    result = run(router, state="on")
    assert result["failed"], result
    assert "HAProxy and the map file are as they were" in result["msg"]
    assert text(map_file) == MAP and "shop:maintenance" not in fake.runtime(map_file)


def test_the_switch_keeps_the_maintenance_key(router):
    fake, _map_dir, map_file = router
    run(router, state="on")
    api = _haproxy.RuntimeAPI(fake.address, 2.0)
    layout = _haproxy.Layout("shop", map_file)
    _haproxy.apply_switch(api, _haproxy.plan_switch(api, layout, "green", True))
    assert fake.runtime(map_file)["shop:maintenance"] == "shop_maintenance"
    assert "shop:maintenance shop_maintenance" in text(map_file)
    assert _haproxy.read_routing(api, layout)["maintenance"] is True

# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""haproxy_apps_traffic against the fake runtime API: several apps of one map switched in one commit."""

from __future__ import annotations

import json
import os
import time

import pytest
from ansible_collections.bluegreen.core.plugins.modules import haproxy_apps_traffic
from ansible_collections.bluegreen.core.tests.unit.plugins import haproxy_fake
from ansible_collections.bluegreen.core.tests.unit.plugins.haproxy_fake import Lab, run_module
from ansible_collections.bluegreen.core.tests.unit.plugins.modules.test_haproxy_traffic import WATCH, _answer_5xx_on

TWO_APPS = haproxy_fake.TWO_APPS_MAP
VERSIONS = {"shop": {"blue": "1.0.0", "green": "2.0.0"}, "cart": {"blue": "5.1.0", "green": "5.0.0"}}


@pytest.fixture
def lab(tmp_path):
    with Lab(str(tmp_path), map_text=TWO_APPS, backends=haproxy_fake.two_apps_backends()) as running:
        yield running


def run(lab: Lab, colours: dict | None = None, **args: object) -> dict:
    colours = colours or {"shop": "green", "cart": "blue"}
    apps = [{"app": app, "colour": colour, "versions": VERSIONS[app]} for app, colour in colours.items()]
    return run_module(haproxy_apps_traffic, dict({"apps": apps, "socket": lab.fake.address, "map_file": lab.map_file,
                                                  "state_dir": lab.state_dir, "timeout": 2.0}, **args))


def history(lab: Lab, app: str) -> list:
    path = os.path.join(lab.state_dir, app, "history.jsonl")
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def test_several_apps_switch_in_one_commit_and_each_history_names_the_others(lab):
    done = run(lab, actor="ci", lock_owner="ci run 7", lock_release=True)
    assert not done["failed"] and done["changed"], done
    assert len(lab.fake.sent("commit map")) == 1 and lab.fake.sent("set map") == []
    assert lab.runtime() == {"shop": "shop_green", "shop.preview": "shop_blue", "cart": "cart_blue", "cart.preview": "cart_green",
                             "other": "other_blue"}
    assert [(a["app"], a["previous_colour"], a["colour"]) for a in done["apps"]] == [("shop", "blue", "green"), ("cart", "green", "blue")]
    for app, colour in (("shop", "green"), ("cart", "blue")):
        (record,) = history(lab, app)
        assert (record["to"], record["together"], record["versions"], record["actor"]) == (colour, ["shop", "cart"], VERSIONS[app], "ci")
    assert not os.path.exists(os.path.join(lab.state_dir, "shop", "lock"))
    assert not run(lab)["changed"]


def test_no_app_switches_when_one_target_has_no_server_up(lab):
    lab.fake.backends["cart_blue"][0]["status"] = "DOWN"
    done = run(lab)
    assert done["failed"] and "refusing to route cart to blue: none of its 1 servers is UP" in done["msg"]
    assert "No app was switched" in done["msg"]
    assert lab.fake.writes() == [] and lab.map_text() == TWO_APPS


def test_no_app_switches_when_one_release_last_failed(lab):
    os.makedirs(os.path.join(lab.state_dir, "cart"))
    with open(os.path.join(lab.state_dir, "cart", "history.jsonl"), "w", encoding="utf-8") as handle:
        handle.write(json.dumps({"action": "auto-rollback", "from": "blue", "to": "green", "weights": {"blue": 0, "green": 100},
                                 "from_weights": {"blue": 100, "green": 0}, "versions": VERSIONS["cart"], "result": "ok",
                                 "router": "haproxy", "time": "2026-12-01T10:00:00.000000Z", "reason": "5xx"}) + "\n")
    done = run(lab)
    assert done["failed"] and "cannot route cart to blue" in done["msg"] and "No app was switched" in done["msg"], done["msg"]
    assert lab.fake.writes() == []
    assert run(lab, force=True)["changed"]


def test_check_mode_changes_nothing_and_shows_the_map(lab):
    done = run(lab, _ansible_check_mode=True, _ansible_diff=True)
    assert not done["failed"] and done["changed"] and lab.fake.writes() == []
    assert "shop shop_green\n" in done["diff"]["after"] and "cart cart_blue\n" in done["diff"]["after"]


def test_the_watch_of_one_app_switches_every_app_back_in_one_step(lab):
    started = time.monotonic()
    _answer_5xx_on(lab, "cart_blue")
    done = run(lab, action="release", watch=WATCH)
    assert done["failed"] and time.monotonic() - started < 6, done
    assert "the watch of cart found after" in done["msg"] and "Switched every app of the step (shop, cart) back" in done["msg"]
    assert len(lab.fake.sent("commit map")) == 2 and lab.runtime()["shop"] == "shop_blue" and lab.runtime()["cart"] == "cart_green"
    assert lab.map_text() == TWO_APPS
    assert [r["action"] for r in history(lab, "shop")] == ["release", "auto-rollback"]
    assert history(lab, "cart")[-1]["reason"].startswith("cart: cart blue answered")


def test_an_app_listed_twice_is_refused(lab):
    done = run_module(haproxy_apps_traffic, {"apps": [{"app": "shop", "colour": "green"}, {"app": "shop", "colour": "blue"}],
                                             "socket": lab.fake.address, "map_file": lab.map_file, "state_dir": lab.state_dir})
    assert done["failed"] and "apps lists shop twice" in done["msg"] and lab.fake.writes() == []

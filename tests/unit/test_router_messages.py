# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The message roles/switch/tasks/call.yml fails with when a router call failed, rendered by Ansible's own templating
from the task file as it ships (its Jinja is in a folded YAML scalar, where a backslash stays a backslash)."""

from __future__ import annotations

import pathlib

import pytest
import yaml

CALL = pathlib.Path(__file__).resolve().parents[2] / "roles" / "switch" / "tasks" / "call.yml"
HAPROXY = {"bluegreen_router": "haproxy", "bluegreen_app": "demo", "_bluegreen_kind": {"api": False},
           "_bluegreen_router_variables": {"socket": "bluegreen_haproxy_socket"}}


def _message_template() -> str:
    def find(node):
        if isinstance(node, dict):
            if node.get("name") == "Say what the router refused":
                return node["ansible.builtin.fail"]["msg"]
            node = list(node.values())
        if isinstance(node, list):
            return next((found for found in map(find, node) if found), None)
        return None

    found = find(yaml.safe_load(CALL.read_text(encoding="utf-8")))
    assert found, f"no task 'Say what the router refused' in {CALL}"
    return found


def render(routers: list, failed: list) -> str:
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    variables = dict(HAPROXY, _bluegreen_router_hosts=routers, _bluegreen_router_failed=failed)
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(_message_template()))


def test_a_router_that_does_not_answer_leads_with_its_own_words_and_one_period():
    said = render(["lb1", "lb2"], [{"msg": "nothing is listening on socket /run/haproxy/admin.sock (connection refused).",
                                    "param": "socket", "router_unreachable": True, "item": "lb2"}])
    assert said == ("Cannot reach the haproxy router lb2 for demo: nothing is listening on socket /run/haproxy/admin.sock "
                    "(connection refused). If it runs there, bluegreen_haproxy_socket must name its admin socket. "
                    "Nothing was called or changed.")


@pytest.mark.parametrize("msg", ["permission denied", "permission denied."])
def test_a_refused_setting_names_its_variable_and_ends_the_router_s_words_with_one_period(msg):
    said = render(["lb1"], [{"msg": msg, "param": "socket", "item": "lb1"}])
    assert said == ("Cannot use the haproxy router for demo: it needs bluegreen_haproxy_socket to be right. permission denied. "
                    "Nothing was called or changed.")


def test_several_routers_failures_are_one_sentence():
    said = render(["lb1", "lb2"], [{"msg": "lb1 broke.", "item": "lb1"}, {"msg": "lb2 broke", "item": "lb2"}])
    assert said == "lb1: lb1 broke; lb2: lb2 broke."

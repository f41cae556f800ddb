# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The outcome module as Ansible runs it, on a temporary state directory."""

from __future__ import annotations

import pytest
from ansible_collections.bluegreen.core.plugins.module_utils import _history
from ansible_collections.bluegreen.core.plugins.modules import outcome
from ansible_collections.bluegreen.core.tests.unit.plugins.modules.module_helpers import run_module


def run(state_dir: str, check_mode: bool = False, **args):
    args = dict({"app": "shop", "colour": "green", "version": "2.0.0", "result": "failed", "reason": "/ answered 500",
                 "actor": "ci", "router": "haproxy", "state_dir": state_dir}, **args)
    return run_module(outcome.main, args, check_mode=check_mode)


def test_a_failed_smoke_test_is_recorded_and_read_as_the_colour_outcome(tmp_path):
    done = run(str(tmp_path))
    assert not done.failed and done["changed"]
    records, problems = _history.read(str(tmp_path), "shop")
    assert problems == [] and records == [done["record"]]
    assert {k: records[0][k] for k in ("action", "colour", "result", "error", "router", "versions")} == {
        "action": "smoke-test", "colour": "green", "result": "failed", "error": "/ answered 500", "router": "haproxy",
        "versions": {"blue": None, "green": "2.0.0"}}
    assert _history.outcomes(records)["green"]["outcome"] == "failed its smoke test"


def test_check_mode_writes_nothing(tmp_path):
    done = run(str(tmp_path), check_mode=True)
    assert done["changed"] and done["record"]["result"] == "failed"
    assert _history.read(str(tmp_path), "shop") == ([], [])


@pytest.mark.parametrize(("args", "param"), [
    ({"app": "shop\n"}, "app"),
    ({"version": "2.0.0; rm -rf /"}, "version"),
    ({"reason": "two\nlines"}, "reason"),
    ({"actor": "x" * 201}, "actor"),
])
def test_bad_input_is_named_and_writes_nothing(tmp_path, args, param):
    done = run(str(tmp_path), **args)
    assert done.failed and done["param"] == param, done.result
    assert _history.read(str(tmp_path), "shop") == ([], [])

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


def test_a_migration_is_recorded_with_its_host_and_output_and_only_its_failure_marks_the_release(tmp_path):
    details = {"host": "app1", "rc": 0, "seconds": 1.5, "output": "applied 0002_author.sql"}
    done = run(str(tmp_path), check="migrate", result="ok", reason=None, details=details)
    assert not done.failed and {k: done["record"][k] for k in ("action", "colour", "result", *details)} == dict(
        details, action="migrate", colour="green", result="ok")
    records, _problems = _history.read(str(tmp_path), "shop")
    assert "green" not in _history.outcomes(records)
    assert _history.describe_record(records[0]).endswith("migrate of green (2.0.0) on app1 ok by ci")
    failed = run(str(tmp_path), check="migrate", reason="the migration exited with 1", details=dict(details, rc="1", seconds="0.4"))
    assert (failed["record"]["rc"], failed["record"]["seconds"]) == (1, 0.4)
    records, _problems = _history.read(str(tmp_path), "shop")
    assert _history.outcomes(records)["green"]["outcome"] == "failed its migration"
    with pytest.raises(_history.ReleaseFailed, match="failed its migration"):
        _history.check_outcome(records, "green", "2.0.0")


@pytest.mark.parametrize("details", [{"password": "x"}, {"rc": "zero"}, {"seconds": -1}, {"host": "two\nlines"}])
def test_bad_details_are_refused(tmp_path, details):
    done = run(str(tmp_path), check="migrate", details=details)
    assert done.failed and done["param"] in ("details", "details.host")
    assert _history.read(str(tmp_path), "shop") == ([], [])

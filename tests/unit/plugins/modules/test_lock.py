# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lock module as Ansible runs it, on a temporary state directory."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest
import yaml
from ansible_collections.bluegreen.core.plugins.module_utils import _history, _lock
from ansible_collections.bluegreen.core.plugins.modules import lock
from ansible_collections.bluegreen.core.tests.unit.plugins.modules.module_helpers import (
    run_module,
)


@pytest.fixture(autouse=True)
def fast_polling(monkeypatch):
    monkeypatch.setattr(_lock, "LOCK_POLL_S", 0.05)


@pytest.fixture
def state_dir(tmp_path):
    return str(tmp_path / "state")


def run(state_dir: str, check_mode: bool = False, **args):
    args.setdefault("app", "shop")
    args.setdefault("owner", "awx-job-42")
    return run_module(lock.main, dict(args, state_dir=state_dir), check_mode=check_mode)


def held_by(state_dir: str, owner: str, expires_epoch: float | None = None) -> dict:
    os.makedirs(os.path.join(state_dir, "shop"), exist_ok=True)
    record = {"owner": owner, "since": "2026-01-31T10:00:00.123456Z", "pid": 1}
    record["expires_epoch"] = time.time() + 600 if expires_epoch is None else expires_epoch
    with open(_lock.lock_path(state_dir, "shop"), "w") as handle:
        json.dump(record, handle)
    return record


def owner_on_disk(state_dir: str) -> str | None:
    holder = _lock.read_lock(state_dir, "shop")
    return None if holder is None else holder["owner"]


# ---------------------------------------------------------------------------------------------
# present


def test_taking_a_free_lock(state_dir):
    done = run(state_dir, ttl=120)
    assert (done.failed, done["changed"], done["app"]) == (False, True, "shop")
    assert done["holder"]["owner"] == "awx-job-42"
    assert done["holder"]["expires_epoch"] == pytest.approx(time.time() + 120, abs=5)
    assert done["holder"]["expires"].endswith("Z")
    assert (done["broken_lock"], done["waited_s"] < 0.5) == (None, True)
    assert owner_on_disk(state_dir) == "awx-job-42"


def test_taking_it_again_with_the_same_owner_changes_nothing(state_dir):
    first = run(state_dir)
    again = run(state_dir)
    assert (again.failed, again["changed"]) == (False, False)
    assert again["holder"] == first["holder"]


def test_a_lock_held_by_another_owner_fails_at_once_by_default(state_dir):
    held_by(state_dir, "alice@ctl")
    started = time.monotonic()
    done = run(state_dir)
    assert time.monotonic() - started < 0.5
    assert done.failed is True
    assert done.msg.startswith("app shop is locked by alice@ctl since 2026-01-31T10:00:00Z (expires ")
    assert done.msg.endswith("); another run is changing it. Wait for it (bluegreen_lock_wait in the roles, lock_wait here), or, "
                             "if that run is dead, release the lock with the bluegreen.core.unlock playbook")
    assert done["holder"]["owner"] == "alice@ctl"
    assert owner_on_disk(state_dir) == "alice@ctl"


def test_it_waits_for_the_holder_to_release(state_dir):
    held_by(state_dir, "alice")
    releaser = threading.Timer(0.3, _lock.release_lock, args=(state_dir, "shop", "alice"))
    releaser.start()
    try:
        done = run(state_dir, wait=5)
    finally:
        releaser.join()
    assert (done.failed, done["changed"], done["holder"]["owner"]) == (False, True, "awx-job-42")
    assert 0.25 <= done["waited_s"] < 2


def test_waiting_runs_out_and_fails_with_the_holder(state_dir):
    held_by(state_dir, "alice")
    started = time.monotonic()
    done = run(state_dir, wait=1)
    elapsed = time.monotonic() - started
    assert done.failed is True
    assert 1 <= elapsed < 2
    assert "locked by alice" in done.msg
    assert "(waited 1" in done.msg
    assert done["waited_s"] >= 1


def test_a_stale_lock_is_broken_with_a_loud_warning(state_dir):
    dead = held_by(state_dir, "awx-job-41", expires_epoch=time.time() - 5)
    done = run(state_dir)
    assert (done.failed, done["changed"]) == (False, True)
    assert done["broken_lock"]["owner"] == "awx-job-41"
    assert done["broken_lock"]["since"] == dead["since"]
    assert done["holder"]["owner"] == "awx-job-42"
    assert len(done.warnings) == 1
    assert done.warnings[0].startswith("break the stale lock of shop held by awx-job-41 since 2026-01-31T10:00:00Z")
    assert owner_on_disk(state_dir) == "awx-job-42"


def test_an_unreadable_lock_is_held_until_forced(state_dir):
    os.makedirs(os.path.join(state_dir, "shop"))
    with open(_lock.lock_path(state_dir, "shop"), "w") as handle:
        handle.write("{truncated")
    done = run(state_dir)
    assert done.failed is True
    assert "no expiry recorded" in done.msg
    assert run(state_dir, state="absent", force=True)["changed"] is True
    assert run(state_dir)["changed"] is True


# ---------------------------------------------------------------------------------------------
# absent


def test_releasing_our_lock(state_dir):
    run(state_dir)
    done = run(state_dir, state="absent")
    assert (done.failed, done["changed"], done["holder"]) == (False, True, None)
    assert owner_on_disk(state_dir) is None
    assert done.warnings == []


def test_releasing_when_there_is_no_lock_changes_nothing(state_dir):
    done = run(state_dir, state="absent")
    assert (done.failed, done["changed"], done["holder"]) == (False, False, None)
    assert not os.path.exists(state_dir)


def test_releasing_another_owners_lock_fails_without_force(state_dir):
    held_by(state_dir, "alice")
    done = run(state_dir, state="absent")
    assert done.failed is True
    assert done.msg.startswith("app shop is locked by alice since 2026-01-31T10:00:00Z (expires ")
    assert "not by awx-job-42; release it with force=true only if that release is dead" in done.msg
    assert owner_on_disk(state_dir) == "alice"


def test_force_releases_another_owners_lock_with_a_warning(state_dir):
    held_by(state_dir, "alice")
    done = run(state_dir, state="absent", force=True)
    assert (done.failed, done["changed"]) == (False, True)
    assert owner_on_disk(state_dir) is None
    assert done.warnings[0].startswith("drop the lock of shop held by alice")


# ---------------------------------------------------------------------------------------------
# check mode: never creates or removes


def test_check_mode_predicts_taking_a_free_lock(state_dir):
    done = run(state_dir, check_mode=True)
    assert (done.failed, done["changed"], done["holder"]["owner"]) == (False, True, "awx-job-42")
    assert not os.path.exists(state_dir)


def test_check_mode_with_our_lock_changes_nothing(state_dir):
    run(state_dir)
    assert run(state_dir, check_mode=True)["changed"] is False


def test_check_mode_fails_when_another_owner_holds_it(state_dir):
    held_by(state_dir, "alice")
    done = run(state_dir, check_mode=True)
    assert done.failed is True
    assert "locked by alice" in done.msg


def test_check_mode_predicts_breaking_a_stale_lock_without_breaking_it(state_dir):
    held_by(state_dir, "dead", expires_epoch=1.0)
    done = run(state_dir, check_mode=True)
    assert (done.failed, done["changed"], done["broken_lock"]["owner"]) == (False, True, "dead")
    assert done.warnings[0].startswith("would break the stale lock of shop held by dead")
    assert owner_on_disk(state_dir) == "dead"


def test_check_mode_release_keeps_the_lock(state_dir):
    run(state_dir)
    done = run(state_dir, check_mode=True, state="absent")
    assert (done.failed, done["changed"]) == (False, True)
    assert owner_on_disk(state_dir) == "awx-job-42"
    held_by(state_dir, "alice")
    forced = run(state_dir, check_mode=True, state="absent", force=True)
    assert forced["changed"] is True
    assert forced.warnings[0].startswith("would drop the lock of shop held by alice")
    assert owner_on_disk(state_dir) == "alice"


# ---------------------------------------------------------------------------------------------
# inputs and errors


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"app": "shop;reload"}, "app 'shop;reload' is not a safe name"),
        ({"app": "../etc"}, "app '../etc' is not a safe name"),
        ({"app": "shop\n"}, "is not a safe name"),
        ({"owner": ""}, "owner must be 1-200 printable characters"),
        ({"owner": "alice\nbob"}, "owner must be 1-200 printable characters"),
        ({"owner": "x" * 201}, "owner must be 1-200 printable characters"),
        ({"wait": -1}, "wait must be 0 or more seconds"),
        ({"ttl": 0}, "ttl must be at least 1 second"),
        ({"state_dir": "relative/dir"}, "state_dir must be an absolute path"),
    ],
)
def test_invalid_input_fails_naming_the_option(state_dir, args, expected):
    if "state_dir" in args:
        done = run_module(lock.main, dict({"app": "shop", "owner": "me"}, **args))
    else:
        done = run(state_dir, **args)
    assert done.failed is True
    assert expected in done.msg


def test_an_owner_with_spaces_and_symbols_is_fine(state_dir):
    assert run(state_dir, owner="alice@ctl run 2026-01-31T10:00 (#42)")["changed"] is True


def test_an_unwritable_state_dir_fails_without_a_traceback(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    done = run_module(lock.main, {"app": "shop", "owner": "me", "state_dir": str(blocker / "state")})
    assert done.failed is True
    assert done.msg.startswith(f"cannot take the lock of shop in {blocker / 'state'}: ")
    assert "Traceback" not in done.msg


def test_documentation_matches_the_argument_spec():
    documented = yaml.safe_load(lock.DOCUMENTATION)["options"]
    documented["state_dir"] = {"type": "path", "default": _history.DEFAULT_STATE_DIR}  # from the doc fragment
    assert set(documented) == set(lock.ARGUMENT_SPEC)
    for name, spec in lock.ARGUMENT_SPEC.items():
        assert documented[name]["type"] == spec["type"], name
        assert documented[name].get("default") == spec.get("default"), name
    assert set(yaml.safe_load(lock.RETURN)) == {"app", "holder", "broken_lock", "waited_s"}
    assert isinstance(yaml.safe_load(lock.EXAMPLES), list)


def test_the_lock_records_the_controller_and_its_holder_names_it(state_dir):
    controller = {"host": "ctl1", "pid": 31337, "started": "2026-01-31T09:59:58Z"}
    assert not run(state_dir, owner="alice", controller=controller).failed
    with open(os.path.join(state_dir, "shop", "lock"), encoding="utf-8") as handle:
        assert json.load(handle)["controller"] == controller
    done = run(state_dir, owner="bob")
    assert done.failed and done["holder"]["controller"] == controller
    assert "locked by alice (controller ctl1, PID 31337, started 2026-01-31T09:59:58Z) since " in done.msg

# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Atomic writes, the release history and the per-app lock, on a temporary state directory."""

from __future__ import annotations

import json
import os
import stat
import threading
import time

import pytest
from ansible_collections.bluegreen.core.plugins.module_utils import _state
from ansible_collections.bluegreen.core.plugins.module_utils._state import (
    StateError,
    append_history,
    atomic_write,
    last_switch,
    lock_expired,
    lock_path,
    read_history,
    read_lock,
    read_text,
    release_lock,
    try_acquire_lock,
)


def mode_of(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# ---------------------------------------------------------------------------------------------
# atomic_write


def test_atomic_write_creates_a_file_with_a_default_mode(tmp_path):
    target = tmp_path / "app.map"
    atomic_write(str(target), "shop green\n")
    assert target.read_text() == "shop green\n"
    assert mode_of(target) == 0o644
    assert os.listdir(tmp_path) == ["app.map"]


def test_atomic_write_applies_an_explicit_mode(tmp_path):
    target = tmp_path / "secret.cfg"
    atomic_write(str(target), "x", mode=0o600)
    assert mode_of(target) == 0o600


def test_atomic_write_keeps_the_mode_of_the_file_it_replaces(tmp_path):
    target = tmp_path / "app.map"
    target.write_text("shop blue\n")
    os.chmod(target, 0o640)
    atomic_write(str(target), "shop green\n")
    assert (target.read_text(), mode_of(target)) == ("shop green\n", 0o640)


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_atomic_write_keeps_the_owner_of_the_file_it_replaces(tmp_path):
    target = tmp_path / "app.map"
    target.write_text("shop blue\n")
    os.chown(target, 4321, 4322)
    atomic_write(str(target), "shop green\n")
    info = os.stat(target)
    assert (info.st_uid, info.st_gid) == (4321, 4322)


def test_atomic_write_replaces_the_inode_in_one_rename(tmp_path):
    target = tmp_path / "app.map"
    target.write_text("old\n")
    before = os.stat(target).st_ino
    atomic_write(str(target), "new\n")
    assert os.stat(target).st_ino != before  # a reader holding the old file keeps reading old content


def test_a_failed_rename_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "app.map"
    target.write_text("shop blue\n")

    def refuse(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_state.os, "replace", refuse)
    with pytest.raises(OSError, match="No space left"):
        atomic_write(str(target), "shop green\n")
    assert target.read_text() == "shop blue\n"
    assert os.listdir(tmp_path) == ["app.map"]


def test_a_failed_write_leaves_no_temp_file(tmp_path):
    target = tmp_path / "app.map"
    with pytest.raises(UnicodeEncodeError):
        atomic_write(str(target), "bad \udc80 surrogate")
    assert os.listdir(tmp_path) == []


def test_read_text_of_a_missing_file_is_none(tmp_path):
    assert read_text(str(tmp_path / "nothing")) is None


# ---------------------------------------------------------------------------------------------
# history


def test_history_is_appended_in_order_with_time_and_app(tmp_path):
    state = str(tmp_path)
    first = append_history(state, "shop", {"from": "blue", "to": "green", "result": "ok", "by": "awx-job-42"})
    append_history(state, "shop", {"from": "green", "to": "blue", "result": "ok"})
    records, problems = read_history(state, "shop")
    assert problems == []
    assert [(r["from"], r["to"]) for r in records] == [("blue", "green"), ("green", "blue")]
    assert records[0] == first
    assert first["app"] == "shop"
    assert first["time"].endswith("Z")
    assert mode_of(tmp_path / "shop") == 0o750
    assert mode_of(tmp_path / "shop" / "history.jsonl") == 0o640
    lines = (tmp_path / "shop" / "history.jsonl").read_text().splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0])["by"] == "awx-job-42"


def test_a_damaged_history_line_is_reported_not_skipped_silently(tmp_path):
    state = str(tmp_path)
    append_history(state, "shop", {"to": "green", "from": "blue", "result": "ok"})
    with open(tmp_path / "shop" / "history.jsonl", "a") as handle:
        handle.write('{"to": "blue", "trunc\n')
        handle.write("\n")
        handle.write("[1, 2]\n")
    append_history(state, "shop", {"to": "blue", "from": "green", "result": "ok"})
    records, problems = read_history(state, "shop")
    assert [r["to"] for r in records] == ["green", "blue"]
    assert len(problems) == 2
    assert "line 2 is not JSON" in problems[0]
    assert "line 4 is not an object" in problems[1]
    assert "history.jsonl" in problems[0]


def test_history_limit_keeps_the_newest(tmp_path):
    state = str(tmp_path)
    for number in range(5):
        append_history(state, "shop", {"n": number})
    assert [r["n"] for r in read_history(state, "shop", limit=2)[0]] == [3, 4]
    assert read_history(state, "shop", limit=0)[0] == []
    assert len(read_history(state, "shop")[0]) == 5


def test_no_history_yet_is_empty(tmp_path):
    assert read_history(str(tmp_path), "shop") == ([], [])


def test_last_switch_is_the_newest_successful_change_of_colour():
    records = [
        {"from": "blue", "to": "green", "result": "ok", "n": 1},
        {"from": "green", "to": "blue", "result": "failed", "n": 2},
        {"from": "green", "to": "green", "result": "ok", "n": 3},
    ]
    assert last_switch(records)["n"] == 1
    assert last_switch([]) is None


# ---------------------------------------------------------------------------------------------
# the lock


def test_the_first_owner_takes_the_lock(tmp_path):
    acquired, holder, broken = try_acquire_lock(str(tmp_path), "shop", "awx-job-42", ttl=60)
    assert (acquired, broken) == (True, None)
    assert holder["owner"] == "awx-job-42"
    assert holder["expires_epoch"] == pytest.approx(time.time() + 60, abs=5)
    assert read_lock(str(tmp_path), "shop") == holder
    assert mode_of(lock_path(str(tmp_path), "shop")) == 0o640


def test_a_second_owner_is_refused_while_the_first_holds_it(tmp_path):
    state = str(tmp_path)
    try_acquire_lock(state, "shop", "alice", ttl=60)
    acquired, holder, broken = try_acquire_lock(state, "shop", "bob", ttl=60)
    assert (acquired, holder["owner"], broken) == (False, "alice", None)
    # Another app is independent.
    assert try_acquire_lock(state, "blog", "bob", ttl=60)[0] is True


def test_the_same_owner_again_keeps_its_lock(tmp_path):
    state = str(tmp_path)
    first = try_acquire_lock(state, "shop", "alice", ttl=60)[1]
    acquired, holder, broken = try_acquire_lock(state, "shop", "alice", ttl=60)
    assert (acquired, holder, broken) == (True, first, None)


def test_a_stale_lock_is_broken_after_its_expiry(tmp_path, monkeypatch):
    state = str(tmp_path)
    dead = try_acquire_lock(state, "shop", "dead-job", ttl=10)[1]
    assert try_acquire_lock(state, "shop", "bob", ttl=60)[0] is False
    later = time.time() + 11
    monkeypatch.setattr(_state.time, "time", lambda: later)
    acquired, holder, broken = try_acquire_lock(state, "shop", "bob", ttl=60)
    assert (acquired, holder["owner"], broken) == (True, "bob", dead)
    assert read_lock(state, "shop")["owner"] == "bob"


def test_lock_expired():
    assert lock_expired({"expires_epoch": 100.0}, now=100.0) is True
    assert lock_expired({"expires_epoch": 100.0}, now=99.9) is False
    assert lock_expired({"owner": "no expiry"}, now=1e12) is False


def test_an_unreadable_lock_still_counts_as_held(tmp_path):
    os.makedirs(tmp_path / "shop")
    (tmp_path / "shop" / "lock").write_text("garbage{")
    holder = read_lock(str(tmp_path), "shop")
    assert holder["owner"].startswith("unknown")
    assert try_acquire_lock(str(tmp_path), "shop", "bob", ttl=60)[0] is False


def test_release_by_the_owner(tmp_path):
    state = str(tmp_path)
    try_acquire_lock(state, "shop", "alice", ttl=60)
    released, holder = release_lock(state, "shop", "alice")
    assert (released, holder["owner"]) == (True, "alice")
    assert read_lock(state, "shop") is None
    assert release_lock(state, "shop", "alice") == (False, None)


def test_release_refuses_another_owner_unless_forced(tmp_path):
    state = str(tmp_path)
    try_acquire_lock(state, "shop", "alice", ttl=60)
    with pytest.raises(StateError, match=r"held by 'alice' since .*, not by 'bob'; use force=true only"):
        release_lock(state, "shop", "bob")
    assert read_lock(state, "shop")["owner"] == "alice"
    released, holder = release_lock(state, "shop", "bob", force=True)
    assert (released, holder["owner"]) == (True, "alice")
    assert read_lock(state, "shop") is None


def _race(state: str, owners: list, ttl: int = 60) -> list:
    """Every owner tries at the same moment; returns who believes it got the lock."""
    barrier = threading.Barrier(len(owners))
    winners: list = []

    def contend(owner: str) -> None:
        barrier.wait()
        if try_acquire_lock(state, "shop", owner, ttl)[0]:
            winners.append(owner)

    threads = [threading.Thread(target=contend, args=(owner,)) for owner in owners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return winners


def test_only_one_of_many_simultaneous_owners_wins(tmp_path):
    for round_number in range(10):
        state = str(tmp_path / str(round_number))
        winners = _race(state, [f"job-{n}" for n in range(12)])
        assert len(winners) == 1, winners
        assert read_lock(state, "shop")["owner"] == winners[0]


def test_only_one_owner_wins_when_many_break_the_same_stale_lock(tmp_path):
    for round_number in range(10):
        state = str(tmp_path / str(round_number))
        os.makedirs(os.path.join(state, "shop"))
        with open(lock_path(state, "shop"), "w") as handle:
            json.dump({"owner": "dead-job", "since": "2020-01-01T00:00:00Z", "expires_epoch": 1.0}, handle)
        winners = _race(state, [f"job-{n}" for n in range(12)])
        assert len(winners) == 1, winners
        assert read_lock(state, "shop")["owner"] == winners[0]


def test_previous_colour_is_the_from_of_the_switch_that_made_the_live_colour_live():
    records = [
        {"result": "ok", "from": "blue", "to": "green"},
        {"result": "ok", "from": "green", "to": "blue"},
        {"result": "failed", "from": "blue", "to": "green"},
    ]
    assert _state.previous_colour(records, "blue") == "green"
    assert _state.previous_colour(records, "green") == "blue"
    assert _state.previous_colour(records, None) is None
    assert _state.previous_colour([], "blue") is None


def test_default_actor_prefers_explicit_then_awx_then_user():
    assert _state.default_actor({"BLUEGREEN_ACTOR": "ci", "USER": "bob"}) == "ci"
    assert _state.default_actor({"AWX_JOB_ID": "42", "USER": "bob"}) == "awx job 42"
    assert _state.default_actor({"USER": "bob\n"}) == "bob"
    assert _state.default_actor({}).startswith("uid ")


def test_previous_colour_after_a_switch_in_weighted_steps_is_the_colour_live_before_the_first_step():
    records = [
        {"result": "ok", "from": "green", "to": "blue"},
        {"result": "ok", "from": "blue", "to": None, "weights": {"blue": 90, "green": 10}},
        {"result": "ok", "from": None, "to": None, "weights": {"blue": 50, "green": 50}},
        {"result": "ok", "from": None, "to": "green", "weights": {"blue": 0, "green": 100}},
    ]
    assert _state.previous_colour(records, "green") == "blue"
    assert _state.previous_colour(records[:1], "blue") == "green"
    # A split that began from nothing known gives no previous colour, never a guess.
    assert _state.previous_colour(records[2:], "green") is None

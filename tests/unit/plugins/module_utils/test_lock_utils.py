# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The per-app lock, on a temporary state directory."""

from __future__ import annotations

import json
import os
import stat
import threading
import time

import pytest
from ansible_collections.bluegreen.core.plugins.module_utils import _lock
from ansible_collections.bluegreen.core.plugins.module_utils._lock import (
    StateError,
    lock_expired,
    lock_path,
    read_lock,
    release_lock,
    try_acquire_lock,
)


def mode_of(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


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
    monkeypatch.setattr(_lock.time, "time", lambda: later)
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

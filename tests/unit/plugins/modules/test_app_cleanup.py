# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import os

import pytest
from ansible_collections.bluegreen.core.plugins.modules import app_cleanup
from ansible_collections.bluegreen.core.tests.unit.plugins.modules.module_helpers import run_module


@pytest.fixture
def root(tmp_path):
    """Releases 1.0.0 (oldest) to 5.0.0, blue linked to 1.0.0 and green to 4.0.0, and a staging folder two hours old."""
    for number in range(1, 6):
        folder = tmp_path / "releases" / f"{number}.0.0"
        folder.mkdir(parents=True)
        os.utime(folder, (number * 1000, number * 1000))
    os.symlink("releases/1.0.0", tmp_path / "blue")
    os.symlink("releases/4.0.0", tmp_path / "green")
    staging = tmp_path / "releases" / ".staging-6.0.0"
    staging.mkdir()
    os.utime(staging, (1, 1))
    return tmp_path


def listing(root) -> list:
    return sorted(os.listdir(root / "releases"))


def test_check_mode_lists_what_would_go_and_removes_nothing(root):
    before = listing(root)
    done = run_module(app_cleanup.main, {"root": str(root), "keep": 1}, check_mode=True)
    assert done["changed"] is True
    assert sorted(os.path.basename(path) for path in done["removed"]) == [".staging-6.0.0", "2.0.0", "3.0.0"]
    assert listing(root) == before


def test_keep_one_leaves_the_newest_and_every_linked_release_and_a_second_run_changes_nothing(root):
    done = run_module(app_cleanup.main, {"root": str(root), "keep": 1})
    assert done["changed"] is True and done["kept"] == ["5.0.0", "4.0.0", "1.0.0"]
    assert listing(root) == ["1.0.0", "4.0.0", "5.0.0"]
    again = run_module(app_cleanup.main, {"root": str(root), "keep": 1})
    assert again["changed"] is False and again["removed"] == []


def test_keep_below_one_is_refused_naming_it_and_a_missing_root_has_nothing_to_prune(root, tmp_path):
    refused = run_module(app_cleanup.main, {"root": str(root), "keep": 0})
    assert refused.failed and refused["param"] == "keep" and "keep must be 1 or more" in refused.msg
    assert len(listing(root)) == 6
    empty = run_module(app_cleanup.main, {"root": str(tmp_path / "none"), "keep": 2})
    assert empty.failed is False and empty["changed"] is False

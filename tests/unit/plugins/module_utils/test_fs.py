# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Atomic writes, on a temporary directory."""

from __future__ import annotations

import os
import stat

import pytest
from ansible_collections.bluegreen.core.plugins.module_utils import _fs
from ansible_collections.bluegreen.core.plugins.module_utils._fs import atomic_write, read_text


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

    monkeypatch.setattr(_fs.os, "replace", refuse)
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

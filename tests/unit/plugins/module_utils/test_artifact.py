# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release archives: formats, checksums, stripping, modes, and every member that must be refused."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile

import pytest
from ansible_collections.bluegreen.core.plugins.module_utils import _artifact

GID = os.getgid()


def tar(path, entries: list, mode: str = "w:gz") -> str:
    """entries: (name, kind, data-or-linkname, mode)."""
    with tarfile.open(path, mode) as archive:
        for name, kind, data, perm in entries:
            info = tarfile.TarInfo(name)
            info.mode = perm
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            elif kind == "file":
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
            else:
                info.type = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE}[kind]
                info.linkname = data or ""
                archive.addfile(info)
    return str(path)


def unpack(path, tmp_path, strip="auto", executable=None) -> str:
    target = tmp_path / "out"
    target.mkdir()
    with _artifact.Archive(str(path)) as archive:
        archive.extract(str(target), _artifact.strip_folder(archive, strip, executable), GID)
    return str(target)


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:xz", "w:bz2"])
def test_every_tar_compression_is_read(tmp_path, mode):
    path = tar(tmp_path / "a.tar", [("bin/start", "file", b"#!/bin/sh\n", 0o755)], mode)
    out = unpack(path, tmp_path, executable="bin/start")
    assert open(os.path.join(out, "bin/start")).read() == "#!/bin/sh\n"


def test_a_zip_is_read_with_its_modes_and_links(tmp_path):
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as archive:
        info = zipfile.ZipInfo("shop-1.0/run.sh")
        info.external_attr = (stat.S_IFREG | 0o700) << 16
        archive.writestr(info, "#!/bin/sh\n")
        archive.writestr("shop-1.0/README", "plain, no Unix mode recorded")
        link = zipfile.ZipInfo("shop-1.0/current")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "run.sh")
    out = unpack(path, tmp_path)
    assert stat.S_IMODE(os.stat(os.path.join(out, "run.sh")).st_mode) == 0o755
    assert stat.S_IMODE(os.stat(os.path.join(out, "README")).st_mode) == 0o644
    assert os.readlink(os.path.join(out, "current")) == "run.sh"


def test_one_top_folder_is_stripped_and_a_0700_root_is_made_readable(tmp_path):
    path = tar(tmp_path / "a.tgz", [("shop-3.1.0", "dir", None, 0o700), ("shop-3.1.0/lib", "dir", None, 0o700),
                                    ("shop-3.1.0/shop.py", "file", b"x", 0o600), ("shop-3.1.0/lib/x.so", "file", b"y", 0o4711)])
    out = unpack(path, tmp_path)
    assert sorted(os.listdir(out)) == ["lib", "shop.py"]
    assert stat.S_IMODE(os.stat(os.path.join(out, "lib")).st_mode) == 0o755
    assert stat.S_IMODE(os.stat(os.path.join(out, "shop.py")).st_mode) == 0o644
    # setuid never survives: executable for all, writable by root only.
    assert stat.S_IMODE(os.stat(os.path.join(out, "lib/x.so")).st_mode) == 0o755


@pytest.mark.parametrize(("strip", "executable", "expected"), [
    ("auto", None, ["start"]),
    ("auto", "bin/start", ["bin"]),      # the executable is at the archive's root: nothing to strip
    ("false", None, ["bin"]),
    ("true", "bin/start", ["start"]),
])
def test_strip_auto_keeps_a_folder_the_executable_is_in(tmp_path, strip, executable, expected):
    path = tar(tmp_path / "a.tgz", [("bin/start", "file", b"x", 0o755)])
    assert sorted(os.listdir(unpack(path, tmp_path, strip, executable))) == expected


def test_strip_true_without_one_top_folder_is_refused(tmp_path):
    path = tar(tmp_path / "a.tgz", [("a", "file", b"x", 0o644), ("b", "file", b"x", 0o644)])
    with pytest.raises(_artifact.ArtifactError, match="no single top folder") as caught:
        unpack(path, tmp_path, "true")
    assert caught.value.param == "artifact_strip"


@pytest.mark.parametrize(("entries", "why"), [
    ([("../x", "file", b"x", 0o644)], "a path outside the release"),
    ([("/etc/passwd", "file", b"x", 0o644)], "a path outside the release"),
    ([("a/../../x", "file", b"x", 0o644)], "a path outside the release"),
    ([("etc", "symlink", "/etc", 0o777)], "points outside the release"),
    ([("app/up", "symlink", "../..", 0o777)], "points outside the release"),
    ([("pipe", "fifo", None, 0o644)], "a FIFO"),
    # Stripping the top folder would make this link point out of the release.
    ([("top/x", "file", b"x", 0o644), ("top/link", "symlink", "../x", 0o777)], "points outside the release"),
    ([("top/a", "symlink", "b", 0o777), ("top/b", "symlink", ".", 0o777), ("top/a/c", "file", b"x", 0o644)],
     "also holds a file or folder"),
])
def test_members_outside_the_release_are_refused(tmp_path, entries, why):
    path = tar(tmp_path / "bad.tgz", entries)
    with pytest.raises(_artifact.ArtifactError, match=why) as caught:
        unpack(path, tmp_path)
    assert caught.value.param == "artifact"


def test_a_link_chain_leading_out_is_refused_after_it_is_made(tmp_path):
    # Each link alone stays inside; together they lead out.
    path = tar(tmp_path / "bad.tgz", [("f", "file", b"x", 0o644), ("d/x", "file", b"x", 0o644),
                                      ("d/up", "symlink", "..", 0o777), ("out", "symlink", "d/up/..", 0o777)])
    with pytest.raises(_artifact.ArtifactError, match="points outside|leads outside"):
        unpack(path, tmp_path)


def test_hard_links_are_copies(tmp_path):
    path = tar(tmp_path / "a.tgz", [("a", "file", b"data", 0o755), ("b", "hardlink", "a", 0o755)])
    out = unpack(path, tmp_path)
    assert open(os.path.join(out, "b")).read() == "data"
    assert os.stat(os.path.join(out, "a")).st_ino != os.stat(os.path.join(out, "b")).st_ino


@pytest.mark.parametrize("value", ["md5:abc", "sha256:xyz", "sha256:" + "0" * 63, "0" * 64, 12])
def test_a_checksum_in_the_wrong_format_is_refused(value):
    with pytest.raises(_artifact.ArtifactError, match="sha256: followed by 64 hex digits") as caught:
        _artifact.checksum(value, "artifact_checksum")
    assert caught.value.param == "artifact_checksum"


def test_a_checksum_is_checked_before_anything_is_unpacked(tmp_path):
    path = tar(tmp_path / "a.tgz", [("x", "file", b"x", 0o644)])
    actual = _artifact.sha256_of(path)
    assert _artifact.checksum(actual.upper().replace("SHA256", "sha256")) == actual
    assert _artifact.verify(path, actual) == actual
    with pytest.raises(_artifact.ArtifactError, match=f"checksum is {actual}, not the sha256:0+ given"):
        _artifact.verify(path, "sha256:" + "0" * 64)

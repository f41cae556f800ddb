# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release archives as CI builds them: tar (plain, gz, xz, bz2) or zip, checked, stripped and unpacked safely.

PRIVATE to the bluegreen.core collection: may change without notice.

Nothing is written before every member is checked: a path outside the release (absolute, ``..``), a link pointing
out of it, or a device is refused, naming the member. Unpacked files get modes of our own, whatever the archive
holds: folders 0755, files 0755 when the archive made them executable for anyone, else 0644. So a release is
readable by the app's user and writable by nobody but root, even from an archive whose root folder is 0700.
Links are made last, once every file is in place, so no member is ever written through a link.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import tarfile
import zipfile
from dataclasses import dataclass

from ansible_collections.bluegreen.core.plugins.module_utils._errors import BluegreenError

CHECKSUM_RE = re.compile(r"sha256:([0-9a-f]{64})")
STRIP_CHOICES = ("auto", "true", "false")
_CHUNK = 1024 * 1024


class ArtifactError(BluegreenError):
    """The artifact cannot be used; the message names the member or the checksum at fault."""


# --------------------------------------------------------------------------- checksums


def checksum(value: object, param: str = "checksum") -> str | None:
    """A checksum as given (``sha256:<64 hex>``, case ignored), lower-cased; None when empty."""
    if value in (None, ""):
        return None
    text = str(value).strip().lower() if isinstance(value, str) else None
    if text is None or not CHECKSUM_RE.fullmatch(text):
        raise ArtifactError(f"{param} must be sha256: followed by 64 hex digits (what `sha256sum` prints), got "
                            f"{str(value)[:80]!r}", param)
    return text


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def verify(path: str, expected: str | None, param: str = "checksum") -> str:
    """The artifact's checksum; raises when ``expected`` is given and differs (before anything is unpacked)."""
    actual = sha256_of(path)
    if expected is not None and actual != expected:
        raise ArtifactError(f"the artifact's checksum is {actual}, not the {expected} given in {param}: refusing to unpack "
                            "it (a wrong or partial download, or another build than the one meant)", param)
    return actual


# --------------------------------------------------------------------------- members


@dataclass
class Member:
    name: str        # the path inside the release, normalised (no leading ./, no trailing /)
    kind: str        # file, dir, symlink or hardlink
    executable: bool
    link: str = ""   # a symlink's target, or a hardlink's member name
    source: object = None  # the TarInfo or ZipInfo


def _normal(name: str, where: str) -> str:
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if name.startswith("/") or ".." in parts or "\0" in name:
        raise ArtifactError(f"{where} holds {name!r}, a path outside the release: refusing to unpack it", "artifact")
    return "/".join(parts)


def _tar_members(archive: tarfile.TarFile, where: str) -> list:
    members = []
    for info in archive.getmembers():
        name = _normal(info.name, where)
        if info.isdir():
            kind = "dir"
        elif info.issym():
            kind = "symlink"
        elif info.islnk():
            kind = "hardlink"
        elif info.isreg():
            kind = "file"
        else:
            what = {tarfile.CHRTYPE: "a character device", tarfile.BLKTYPE: "a block device",
                    tarfile.FIFOTYPE: "a FIFO"}.get(info.type, f"a member of tar type {info.type!r}")
            raise ArtifactError(f"{where} holds {info.name!r}, {what}: refusing to unpack it", "artifact")
        link = _normal(info.linkname, where) if kind == "hardlink" else info.linkname if kind == "symlink" else ""
        members.append(Member(name, kind, bool(info.mode & 0o111), link, info))
    return members


def _zip_members(archive: zipfile.ZipFile, where: str) -> list:
    members = []
    for info in archive.infolist():
        name = _normal(info.filename, where)
        mode = info.external_attr >> 16
        if info.is_dir() or stat.S_ISDIR(mode):
            kind = "dir"
        elif stat.S_ISLNK(mode):
            kind = "symlink"
        elif stat.S_IFMT(mode) == 0 or stat.S_ISREG(mode):
            kind = "file"  # zip tools that record no Unix type (Windows, some CI) mean a plain file
        else:
            raise ArtifactError(f"{where} holds {info.filename!r}, which is neither a file, a folder nor a link: "
                                "refusing to unpack it", "artifact")
        link = archive.read(info).decode("utf-8", "surrogateescape") if kind == "symlink" else ""
        members.append(Member(name, kind, bool(mode & 0o111), link, info))
    return members


class Archive:
    """An open release archive and its checked members. Use as a context manager."""

    def __init__(self, path: str, where: str = "the artifact") -> None:
        self.where = where
        try:
            if zipfile.is_zipfile(path):
                self._zip = zipfile.ZipFile(path)  # noqa: SIM115 - closed by close()
                self._tar = None
                self.members = _zip_members(self._zip, where)
            else:
                self._tar = tarfile.open(path)  # noqa: SIM115 - closed by close(); the compression comes from the file
                self._zip = None
                self.members = _tar_members(self._tar, where)
        except tarfile.ReadError:
            self.close()
            raise ArtifactError(f"{where} is not a tar archive (plain, gz, xz or bz2) nor a zip archive", "artifact") from None
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
            self.close()
            raise ArtifactError(f"{where} is a damaged archive this host cannot read ({exc})", "artifact") from None
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for handle in (getattr(self, "_tar", None), getattr(self, "_zip", None)):
            if handle is not None:
                handle.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def top_folder(self) -> str | None:
        """The one folder every member is in, when there is one and nothing beside it (``shop-3.1.0/``)."""
        tops = {member.name.split("/", 1)[0] for member in self.members if member.name}
        if len(tops) != 1:
            return None
        top = tops.pop()
        inside = [member for member in self.members if member.name != top]
        if not inside or any(member.name == top and member.kind != "dir" for member in self.members):
            return None
        return top

    def has(self, name: str, prefix: str | None = None) -> bool:
        wanted = f"{prefix}/{name}" if prefix else name
        return any(member.name == wanted for member in self.members)

    def open(self, member: Member):
        if self._zip is not None:
            return self._zip.open(member.source)
        return self._tar.extractfile(member.source)

    def extract(self, target: str, strip: str | None, gid: int) -> list:
        """Unpack into the existing, empty folder ``target`` without the top folder ``strip``; files owned by root and
        ``gid``. Returns the members unpacked (their names inside the release)."""
        members = []
        for original in self.members:
            member = original
            if strip is not None:
                if member.name == strip:
                    continue
                name = member.name[len(strip) + 1:]
                link = member.link[len(strip) + 1:] if member.kind == "hardlink" else member.link
                if member.kind == "hardlink" and not member.link.startswith(strip + "/"):
                    raise ArtifactError(f"{self.where} holds the hard link {original.name!r} to "
                                        f"{original.link!r}, outside its folder {strip}/", "artifact")
                member = Member(name, member.kind, member.executable, link, member.source)
            if not member.name:
                continue
            if member.kind == "symlink":
                resolved = os.path.normpath(os.path.join(os.path.dirname(member.name), member.link))
                if member.link.startswith("/") or resolved == ".." or resolved.startswith("../"):
                    raise ArtifactError(f"{self.where} holds the link {member.name!r} -> {member.link!r}, which points "
                                        "outside the release: refusing to unpack it", "artifact")
            members.append(member)
        for member in [m for m in members if m.kind in ("dir", "file")]:
            path = os.path.join(target, member.name)
            _make_parents(target, member.name, gid)
            if member.kind == "dir":
                if not os.path.isdir(path):
                    os.mkdir(path, 0o755)
                _own(path, 0o755, gid)
                continue
            if os.path.lexists(path) and not os.path.isfile(path):
                raise ArtifactError(f"{self.where} holds {member.name!r} twice, once as a folder", "artifact")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out, self.open(member) as source:
                shutil.copyfileobj(source, out, _CHUNK)
            _own(path, 0o755 if member.executable else 0o644, gid)
        for member in [m for m in members if m.kind == "hardlink"]:
            source, path = os.path.join(target, member.link), os.path.join(target, member.name)
            if not os.path.isfile(source) or os.path.islink(source):
                raise ArtifactError(f"{self.where} holds the hard link {member.name!r} to {member.link!r}, which is not a "
                                    "file of the archive", "artifact")
            _make_parents(target, member.name, gid)
            shutil.copyfile(source, path, follow_symlinks=False)
            _own(path, os.stat(source).st_mode & 0o777, gid)
        for member in [m for m in members if m.kind == "symlink"]:
            path = os.path.join(target, member.name)
            _make_parents(target, member.name, gid)
            if os.path.lexists(path):
                raise ArtifactError(f"{self.where} holds the link {member.name!r} where it also holds a file or folder",
                                    "artifact")
            os.symlink(member.link, path)
            os.lchown(path, 0, gid)
            real = os.path.realpath(path)
            if os.path.commonpath([real, os.path.realpath(target)]) != os.path.realpath(target):
                raise ArtifactError(f"{self.where} holds the link {member.name!r} -> {member.link!r}, which leads "
                                    "outside the release through another link: refusing to unpack it", "artifact")
        return members


def _make_parents(target: str, name: str, gid: int) -> None:
    """The folders above ``name`` (an archive may leave them out), refusing to go through a link."""
    path = target
    for part in name.split("/")[:-1]:
        path = os.path.join(path, part)
        if os.path.islink(path):
            raise ArtifactError(f"the artifact holds {name!r} below the link {part!r}: refusing to write through a link",
                                "artifact")
        if not os.path.isdir(path):
            os.mkdir(path, 0o755)
            _own(path, 0o755, gid)


def _own(path: str, mode: int, gid: int) -> None:
    os.lchown(path, 0, gid)
    os.chmod(path, mode)


def strip_folder(archive: Archive, strip: str, executable: str | None) -> str | None:
    """The top folder to strip: ``true`` strips it (and fails without one), ``false`` never; ``auto`` strips it when
    the archive has one and ``executable`` (when given) is not at the archive's root."""
    top = archive.top_folder()
    if strip == "false":
        return None
    if strip == "true":
        if top is None:
            raise ArtifactError(f"{archive.where} has no single top folder to strip (artifact_strip=true): give "
                                "artifact_strip=auto or false", "artifact_strip")
        return top
    if top is None or (executable and archive.has(executable)):
        return None
    return top

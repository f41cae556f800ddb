#!/usr/bin/env python3
# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Package the demo app as a versioned release tarball, like a CI pipeline would.

    python3 examples/demo-app/build.py --version 2.0.0 [--broken health|500] [--out DIR]

The tarball holds bin/start, app.py, VERSION (and BROKEN for a broken build) at its root,
with fixed owners and times, so the same inputs always give the same bytes.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "src")
VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$")


def _add(archive: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = 0
    info.uname = info.gname = "root"
    archive.addfile(info, io.BytesIO(data))


def build(version: str, broken: str | None, out: str) -> str:
    if not VERSION_RE.match(version) or ".." in version:
        raise SystemExit(f"--version {version!r} is not a safe version string")
    os.makedirs(out, exist_ok=True)
    suffix = f"-broken-{broken}" if broken else ""
    path = os.path.join(out, f"demo-app-{version}{suffix}.tar.gz")
    files = [("app.py", 0o755), ("bin/start", 0o755)]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.GNU_FORMAT) as archive:
        for name, mode in files:
            with open(os.path.join(SRC, name), "rb") as handle:
                _add(archive, name, handle.read(), mode)
        _add(archive, "VERSION", (version + "\n").encode(), 0o644)
        if broken:
            _add(archive, "BROKEN", (broken + "\n").encode(), 0o644)
    # gzip embeds a timestamp; zero it so rebuilding gives identical bytes.
    data = bytearray(buffer.getvalue())
    data[4:8] = b"\0\0\0\0"
    # Written beside, then renamed: a release reading the artifact never sees it half-written (Molecule's scenarios
    # run side by side and build the same versions into one folder).
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "wb") as handle:
        handle.write(bytes(data))
    os.replace(temporary, path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", required=True)
    parser.add_argument("--broken", choices=["health", "500"], help="build a deliberately broken release")
    parser.add_argument("--out", default=os.path.join(HERE, "dist"))
    args = parser.parse_args(argv)
    print(build(args.version, args.broken, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

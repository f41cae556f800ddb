#!/usr/bin/env python3
# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Package the notes app as CI builds it: one top-level folder, its dependencies as wheels.

    python3 examples/notes-app/build.py --version 1.0.0 [--broken build|crash|migrate] [--mode-0700]
                                        [--schema N] [--format tar.gz|zip] [--out DIR]

The archive, notes-<version>[-broken-<how>][-mode-0700].tar.gz (or .zip), holds one folder notes-<version>/
with the app (notes/), requirements.txt, build.sh (the deploy's build step: a venv from the wheels, offline)
and wheels/: every requirement as a cp311 manylinux2014 x86_64 or pure-Python wheel. The wheels are
downloaded once into .cache/notes-wheels at the repository root, and again only when requirements.txt
changes; later builds need no network. Owners, modes and times are fixed, so the same inputs always give
the same bytes.

--broken build: build.sh fails (exit 1, a message on stderr). --broken crash: the app raises at import.
--broken migrate: the release ships one more migration, which changes the schema and then fails.
--mode-0700: the top-level folder's entry has mode 0700, as some CI archives do.
--schema N: ship only the migrations notes/migrations/0001 to N (the release then needs schema N), for the
expand/contract example of docs/migrations.md; by default, all of them.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CACHE = os.path.join(REPO, ".cache", "notes-wheels")
VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$")
PLATFORM = ["--platform", "manylinux2014_x86_64", "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311"]
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # zip's earliest time
BROKEN_MIGRATION = (
    "-- A migration broken on purpose (build.py --broken migrate): its first statement works, its second fails,\n"
    "-- so the migration is rolled back as a whole.\n"
    "ALTER TABLE notes ADD COLUMN tags TEXT;\n"
    "INSERT INTO no_such_table VALUES (1);\n"
)
BROKEN_BUILD = (
    'echo "notes: this build is broken on purpose (build.py --broken build), stopping before the venv" >&2\n'
    "exit 1\n"
)


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def wheels() -> list[str]:
    """The cached wheels for requirements.txt, downloaded first if it changed since they were."""
    requirements = _read(os.path.join(HERE, "requirements.txt"))
    stamp = os.path.join(CACHE, "requirements.txt")
    if not (os.path.exists(stamp) and _read(stamp) == requirements):
        fresh = f"{CACHE}.partial"
        shutil.rmtree(fresh, ignore_errors=True)
        command = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--only-binary=:all:",
                   *PLATFORM, "-r", os.path.join(HERE, "requirements.txt"), "-d", fresh]
        print("notes: downloading the wheels into .cache/notes-wheels", file=sys.stderr)
        if subprocess.run(command, stdout=sys.stderr, check=False).returncode:
            raise SystemExit("notes: pip download failed, see above")
        with open(os.path.join(fresh, "requirements.txt"), "wb") as handle:
            handle.write(requirements)
        shutil.rmtree(CACHE, ignore_errors=True)
        os.replace(fresh, CACHE)
    return sorted(os.path.join(CACHE, name) for name in os.listdir(CACHE) if name.endswith(".whl"))


def contents(version: str, broken: str | None, schema: int | None = None) -> list[tuple[str, bytes | None, int]]:
    """(path, data or None for a folder, mode), folders before what they hold, in a fixed order."""
    folders = ("notes", "notes/templates", "notes/migrations")
    entries: list[tuple[str, bytes | None, int]] = [(folder, None, 0o755) for folder in folders]
    shipped = 0
    for folder in folders:
        for name in sorted(os.listdir(os.path.join(HERE, folder))):
            path = os.path.join(HERE, folder, name)
            if not os.path.isfile(path) or not name.endswith((".py", ".html", ".sql")):  # editors' or Python's leftovers
                continue
            if name.endswith(".sql"):
                if schema is not None and int(name[:4]) > schema:
                    continue
                shipped = max(shipped, int(name[:4]))
            entries.append((f"{folder}/{name}", _read(path), 0o644))
    if schema is not None and shipped != schema:
        raise SystemExit(f"--schema {schema}: notes/migrations/ has migrations up to {shipped} only")
    if broken == "migrate":
        entries.append((f"notes/migrations/{shipped + 1:04d}_broken.sql", BROKEN_MIGRATION.encode(), 0o644))
    info = {"version": version, **({"broken": broken} if broken else {})}
    entries.append(("notes/build-info.json", (json.dumps(info, sort_keys=True) + "\n").encode(), 0o644))
    script = _read(os.path.join(HERE, "build.sh")).decode()
    if broken == "build":
        if "\nset -eu\n" not in script:
            raise SystemExit("notes: build.sh has no `set -eu` line to break the build after")
        script = script.replace("\nset -eu\n", "\nset -eu\n" + BROKEN_BUILD, 1)
    entries.append(("build.sh", script.encode(), 0o755))
    entries.append(("requirements.txt", _read(os.path.join(HERE, "requirements.txt")), 0o644))
    entries.append(("wheels", None, 0o755))
    entries.extend((f"wheels/{os.path.basename(path)}", _read(path), 0o644) for path in wheels())
    return entries


def _tar(path: str, top: str, top_mode: int, entries: list[tuple[str, bytes | None, int]]) -> None:
    buffer = io.BytesIO()
    # gzip.GzipFile rather than tarfile's "w:gz": no file name and a zero time in the gzip header.
    with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=buffer, mtime=0) as compressed, \
            tarfile.open(fileobj=compressed, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for name, data, mode in [(top, None, top_mode), *((f"{top}/{n}", d, m) for n, d, m in entries)]:
            info = tarfile.TarInfo(name)
            info.mode = mode
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if data is None:
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            else:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    _write(path, buffer.getvalue())


def _write(path: str, data: bytes) -> None:
    """Written beside, then renamed: a release reading the artifact never sees it half-written."""
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)


def _zip(path: str, top: str, top_mode: int, entries: list[tuple[str, bytes | None, int]]) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data, mode in [(top, None, top_mode), *((f"{top}/{n}", d, m) for n, d, m in entries)]:
            info = zipfile.ZipInfo(name + ("/" if data is None else ""), date_time=ZIP_EPOCH)
            info.create_system = 3  # unix, so that unzip applies the modes
            if data is None:
                info.external_attr = ((0o040000 | mode) << 16) | 0x10  # a folder, and MS-DOS's folder flag
                archive.writestr(info, b"")
            else:
                info.external_attr = (0o100000 | mode) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, data, compresslevel=9)
    _write(path, buffer.getvalue())


def build(version: str, broken: str | None, mode_0700: bool, fmt: str, out: str, schema: int | None = None) -> str:
    if not VERSION_RE.match(version) or ".." in version:
        raise SystemExit(f"--version {version!r} is not a safe version string")
    entries = contents(version, broken, schema)
    os.makedirs(out, exist_ok=True)
    suffix = ((f"-broken-{broken}" if broken else "") + ("-mode-0700" if mode_0700 else "")
              + (f"-schema-{schema}" if schema is not None else ""))
    path = os.path.join(out, f"notes-{version}{suffix}.{fmt}")
    (_zip if fmt == "zip" else _tar)(path, f"notes-{version}", 0o700 if mode_0700 else 0o755, entries)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", required=True)
    parser.add_argument("--broken", choices=["build", "crash", "migrate"], help="build a deliberately broken release")
    parser.add_argument("--schema", type=int, help="ship the migrations up to this number only")
    parser.add_argument("--mode-0700", action="store_true", help="give the top-level folder's entry mode 0700")
    parser.add_argument("--format", choices=["tar.gz", "zip"], default="tar.gz")
    parser.add_argument("--out", default=os.path.join(HERE, "dist"))
    args = parser.parse_args(argv)
    print(build(args.version, args.broken, args.mode_0700, args.format, args.out, args.schema))
    return 0


if __name__ == "__main__":
    sys.exit(main())

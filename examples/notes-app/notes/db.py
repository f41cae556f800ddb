# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The notes in SQLite (NOTES_DATABASE), with the schema migrations the release ships in notes/migrations/.

Each migration is a file NNNN_<name>.sql, applied once, in order, in a transaction of its own by
``python -m notes.migrate``; the table schema_migrations lists those applied. A release needs the
migrations it ships (SCHEMA, the highest number) and refuses to start on a database behind them. It
starts on a database ahead of them: the migrations only expand the schema (docs/migrations.md), so a
rollback to an older release finds a schema it can use.
"""

from __future__ import annotations

import os
import re
import sqlite3

MIGRATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations")
NAME_RE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migrations() -> list[tuple[int, str]]:
    """(number, path) of each migration the release ships, in order."""
    found = []
    for name in sorted(os.listdir(MIGRATIONS)) if os.path.isdir(MIGRATIONS) else []:
        match = NAME_RE.match(name)
        if match:
            found.append((int(match.group(1)), os.path.join(MIGRATIONS, name)))
    return found


SCHEMA = max((number for number, _path in migrations()), default=0)


def connect(path: str) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), waiting up to 10 s for another writer."""
    connection = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA busy_timeout = 10000")
    return connection


def applied(connection: sqlite3.Connection) -> int:
    """The highest migration applied to the database, 0 for a new one."""
    connection.execute("CREATE TABLE IF NOT EXISTS schema_migrations (number INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                       "applied TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)")
    return connection.execute("SELECT COALESCE(MAX(number), 0) FROM schema_migrations").fetchone()[0]


def columns(connection: sqlite3.Connection) -> set[str]:
    return {row[1] for row in connection.execute("PRAGMA table_info(notes)")}


class Notes:
    """The notes table; the author column is written and read only by a release whose schema has it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.connection = connect(path)
        have = applied(self.connection)
        if have < SCHEMA:
            raise RuntimeError(
                f"notes: the database {path} is at schema {have} and this release needs {SCHEMA}: run its migration "
                "first (python -m notes.migrate, the release's bluegreen_migrate_command)")
        self.authors = SCHEMA >= 2

    def add(self, note: dict) -> None:
        names = ["text", "time", "version", "colour"] + (["author"] if self.authors else [])
        self.connection.execute(f"INSERT INTO notes ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                                [note.get(name) for name in names])

    def newest(self, count: int) -> list[dict]:
        names = ["text", "time", "version", "colour"] + (["author"] if self.authors else [])
        rows = self.connection.execute(f"SELECT {', '.join(names)} FROM notes ORDER BY id DESC LIMIT ?", (count,))
        return [dict(zip(names, row, strict=True)) for row in rows]

# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Apply the release's schema migrations to NOTES_DATABASE:  .venv/bin/python -m notes.migrate

Each migration not yet applied runs in a transaction of its own, with its row in schema_migrations, so a
migration that fails leaves the database as the one before it left it. Run again, it does nothing. The
exit status is 0 when the database is at the release's schema or ahead of it.
"""

from __future__ import annotations

import os
import sys

from notes import db


def main() -> int:
    path = os.environ.get("NOTES_DATABASE")
    if not path:
        print("notes.migrate: NOTES_DATABASE is not set; there is no database to migrate", file=sys.stderr)
        return 2
    connection = db.connect(path)
    connection.execute("BEGIN IMMEDIATE")  # one migrator at a time
    have = db.applied(connection)
    connection.execute("COMMIT")
    print(f"notes.migrate: {path} is at schema {have}; this release ships {db.SCHEMA}")
    for number, migration in db.migrations():
        if number <= have:
            continue
        with open(migration, encoding="utf-8") as handle:
            script = handle.read()
        name = os.path.basename(migration)
        try:
            connection.execute("BEGIN IMMEDIATE")
            # Statement by statement (sqlite3's executescript would commit first); every one is DDL or DML.
            for statement in (part.strip() for part in _statements(script)):
                if statement:
                    connection.execute(statement)
            connection.execute("INSERT INTO schema_migrations (number, name) VALUES (?, ?)", (number, name))
            connection.execute("COMMIT")
        except Exception as exc:  # noqa: BLE001 - any failure is reported and undone
            connection.execute("ROLLBACK")
            print(f"notes.migrate: {name} failed and was rolled back, the database stays at schema {have}: {exc}",
                  file=sys.stderr)
            return 1
        have = number
        print(f"notes.migrate: applied {name}")
    print(f"notes.migrate: {path} is at schema {have}")
    return 0


def _statements(script: str) -> list[str]:
    """The script's statements: its lines without -- comments, split at each ';' that ends one."""
    text = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("--"))
    return text.split(";")


if __name__ == "__main__":
    sys.exit(main())

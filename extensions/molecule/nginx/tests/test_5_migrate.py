# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The expand/contract example of docs/migrations.md on the scenario's router: examples/notes-app/ with its notes in
SQLite in the app's shared dir (NOTES_DATABASE), as the app "notesdb" on one app host (both colours there share the
database file) on a port of its own, released with bluegreen_migrate_command.

1.0.0 ships schema 1, 2.0.0 schema 2 (a column added, which 1.0.0 does not name), and a release refuses to start on a
database behind its schema, so a release that succeeds shows its migration ran before its colour started. A rollback
to 1.0.0 serves on the expanded schema and migrates nothing; a release whose migration fails switches nothing, leaves
the database and the idle colour as they were, and is recorded failed with the migration's output.

Runs after the many-apps tests; takes the app off the router and its host at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml
from lab_helpers import APPS, PROJECT, ROUTER, host, playbook

APP = "notesdb"
ON = APPS[0]
ARTIFACTS = os.path.join(PROJECT, ".cache", "artifacts")
BUILD = os.path.join(PROJECT, "examples", "notes-app", "build.py")
VARS = os.path.join(PROJECT, "examples", "notes-app", "notes.yml")
SETTINGS = {
    "bluegreen_app": APP,
    "bluegreen_app_group": "notesdb_hosts",
    "bluegreen_ports": {"blue": 8411, "green": 8412},
    "bluegreen_listen_port": 8410,
    "bluegreen_preview_port": 8490,
    "bluegreen_health_host": "",
    "bluegreen_app_env": {"NOTES_DATABASE": "data/notes.sqlite3"},
    "bluegreen_migrate_command": ".venv/bin/python -m notes.migrate",
}
ROOT = f"/opt/bluegreen/{APP}"
HISTORY = f"/var/lib/bluegreen/{APP}/history.jsonl"


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("notesdb")
    inventory = folder / "notesdb.yml"
    inventory.write_text(yaml.safe_dump({"notesdb_hosts": {"hosts": {ON: None}}}))

    def build(version: str, *extra: str) -> str:
        done = subprocess.run([sys.executable, BUILD, "--version", version, *extra, "--out", ARTIFACTS],
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout.strip().splitlines()[-1]

    artifacts = {"1.0.0": build("1.0.0", "--schema", "1"), "2.0.0": build("2.0.0", "--schema", "2"),
                 "3.0.0": build("3.0.0", "--broken", "migrate")}
    return {"inventory": str(inventory), "artifacts": artifacts}


def run(lab: dict, name: str, *extra: str):
    return playbook(name, f"@{VARS}", json.dumps(SETTINGS), *extra, extra_inventory=lab["inventory"])


def release(lab: dict, version: str, *extra: str):
    return run(lab, "release", f"bluegreen_version={version}", f"bluegreen_artifact={lab['artifacts'][version]}", *extra)


def served(path: str = "/", data: dict | None = None) -> tuple:
    """(status, body) of one request through the router's listener for the app."""
    body = f"-X POST -H 'Content-Type: application/json' --data '{json.dumps(data)}'" if data else ""
    out = host(ROUTER).check_output(f"curl -s -m 5 {body} -w '\\n%{{http_code}}' http://127.0.0.1:8410{path}")
    text, _sep, status = out.rpartition("\n")
    return int(status), text


def schema() -> list:
    """The migrations applied to the database, read on the app host."""
    out = host(ON).check_output(
        f"python3 -c \"import sqlite3; print([r[0] for r in sqlite3.connect('{ROOT}/shared/data/notes.sqlite3')"
        ".execute('SELECT name FROM schema_migrations ORDER BY number')])\"")
    return eval(out)  # noqa: S307 - a list of names the line above printed


def records(action: str | None = None) -> list:
    text = host(ROUTER).file(HISTORY).content_string
    found = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [r for r in found if action is None or r["action"] == action]


def colours() -> dict:
    """Each colour's release and main PID on the app host."""
    out = {}
    for colour in ("blue", "green"):
        link = host(ON).file(f"{ROOT}/{colour}")
        pid = host(ON).check_output(f"systemctl show -p MainPID --value {APP}@{colour}")
        out[colour] = (os.path.basename(link.linked_to) if link.exists else None, pid)
    return out


def test_a_first_release_creates_the_schema_before_its_colour_starts(lab):
    assert run(lab, "provision").returncode == 0
    result = release(lab, "1.0.0")
    assert result.returncode == 0, result.output
    assert "notes.migrate: applied 0001_notes.sql" in result.output and f"on {ON}" in result.output
    assert schema() == ["0001_notes.sql"]
    assert served("/notes", {"text": "written by 1.0.0"})[0] == 201
    (migrate,) = records("migrate")
    assert (migrate["result"], migrate["host"], migrate["rc"], migrate["versions"][migrate["colour"]]) == ("ok", ON, 0, "1.0.0")
    assert "applied 0001_notes.sql" in migrate["output"]


def test_the_expanding_release_starts_only_because_its_migration_ran_first(lab):
    result = release(lab, "2.0.0")
    assert result.returncode == 0, result.output
    assert schema() == ["0001_notes.sql", "0002_author.sql"]
    status, text = served("/notes", {"text": "written by 2.0.0", "author": "ann"})
    assert status == 201 and json.loads(text)["author"] == "ann", text
    page = served("/")[1]
    assert "written by 1.0.0" in page and "ann," in page


def test_a_rollback_to_the_release_before_works_on_the_expanded_schema_and_migrates_nothing(lab):
    before = records("migrate")
    result = run(lab, "rollback")
    assert result.returncode == 0, result.output
    assert "notes.migrate" not in result.output and records("migrate") == before
    status, text = served("/notes", {"text": "written by 1.0.0 after the rollback"})
    assert status == 201 and json.loads(text)["version"] == "1.0.0" and "author" not in json.loads(text)
    page = served("/")[1]
    assert "written by 2.0.0" in page and "after the rollback" in page


def test_a_failing_migration_switches_nothing_and_leaves_the_database_and_the_idle_colour_as_they_were(lab):
    before, applied, migrations = colours(), schema(), records("migrate")
    result = release(lab, "3.0.0")
    assert result.returncode != 0
    assert "0003_broken.sql failed and was rolled back" in result.output and "exited with 1" in result.output, result.output
    assert "no such table: no_such_table" in result.output
    assert colours() == before and schema() == applied
    assert served("/notes", {"text": "still served by 1.0.0"})[0] == 201
    assert records("migrate")[:-1] == migrations  # one record of it, however the run ended
    failed = records("migrate")[-1]
    assert (failed["result"], failed["host"], failed["rc"], failed["versions"][failed["colour"]]) == ("failed", ON, 1, "3.0.0")
    assert "0003_broken.sql failed" in failed["output"]
    assert records()[-1] == failed  # nothing switched
    status = run(lab, "status")
    assert f"(3.0.0) on {ON} failed by" in status.output and "0003_broken.sql" not in status.output, status.output
    # A rollback typed right after: the idle colour still holds 2.0.0, which was rolled back by hand before. The failed
    # migration of another release does not clear that, so it is refused and 1.0.0 stays live.
    hurried = run(lab, "rollback")
    assert hurried.returncode != 0 and "2.0.0 was rolled back" in hurried.output, hurried.output[-3000:]
    assert colours() == before and records()[-1] == failed


def test_a_migration_host_outside_the_colour_is_refused_before_anything_changes(lab):
    before, history = colours(), records()
    # A host of the inventory that this run does not deploy to: the router.
    result = release(lab, "2.0.0", f"bluegreen_migrate_host={ROUTER}")
    assert result.returncode != 0
    assert f"bluegreen_migrate_host is \"{ROUTER}\", which is not one of the hosts" in result.output, result.output
    assert colours() == before and records() == history


def test_the_app_is_taken_off_the_router_and_its_host(lab):
    assert run(lab, "provision", "bluegreen_app_state=absent").returncode == 0
    assert not host(ON).file(ROOT).exists

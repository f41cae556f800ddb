# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""bluegreen.core.app_migrate on a temporary release folder, run as the user who runs the tests."""

from __future__ import annotations

import grp
import json
import os
import pwd

import pytest
from ansible_collections.bluegreen.core.plugins.module_utils import _release
from ansible_collections.bluegreen.core.plugins.modules import app_migrate
from ansible_collections.bluegreen.core.tests.unit.plugins.modules.module_helpers import run_module

USER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name


@pytest.fixture
def root(tmp_path):
    release = tmp_path / "releases" / "2.0.0"
    release.mkdir(parents=True)
    (release / "migrate.sh").write_text('echo "migrating $BLUEGREEN_APP $BLUEGREEN_VERSION for $BLUEGREEN_COLOUR in $PWD"\n'
                                        'echo "db at $DB_URL as $DB_PASSWORD"\n')
    _release.write_record(str(release), {"complete": True, "sha256": None}, os.getgid())
    return tmp_path


def run(root, check_mode: bool = False, **overrides):
    args = {"app": "shop", "version": "2.0.0", "colour": "green", "root": str(root), "user": USER, "group": GROUP,
            "command": "sh migrate.sh", "env": {"DB_URL": "sqlite:///data/shop.db"}, "secrets": {"DB_PASSWORD": "hunter2!"}}
    args.update(overrides)
    return run_module(app_migrate.main, args, check_mode=check_mode)


def test_the_command_runs_in_the_release_with_the_colours_environment_and_no_secret_in_its_output(root):
    done = run(root)
    assert done.failed is False and done["changed"] is True and done["rc"] == 0, done.result
    release = str(root / "releases" / "2.0.0")
    assert done["release"] == release and done["output"].splitlines() == [
        f"migrating shop 2.0.0 for green in {release}", "db at sqlite:///data/shop.db as ********"]
    assert "hunter2" not in json.dumps(done.result)


def test_a_failing_migration_fails_with_its_output_and_exit_status(root):
    done = run(root, command="echo 'ALTER TABLE notes: no such table' >&2; exit 3")
    assert done.failed and done["param"] == "command" and done["rc"] == 3 and done["changed"] is True
    assert "exited with 3" in done.msg and "ALTER TABLE notes: no such table" in done.msg


def test_a_migration_past_its_timeout_is_killed(root):
    done = run(root, command="sleep 30", timeout=1)
    assert done.failed and done["rc"] is None and "did not finish within 1s and was killed" in done.msg


def test_check_mode_runs_nothing(root):
    done = run(root, check_mode=True, command="touch ran")
    assert done.failed is False and done["changed"] is True and done["rc"] is None
    assert not (root / "releases" / "2.0.0" / "ran").exists()


@pytest.mark.parametrize(("override", "param", "words"), [
    ({"version": "3.0.0"}, "version", "is not a complete release"),
    ({"command": "  "}, "command", "must be a shell command line"),
    ({"timeout": 0}, "timeout", "timeout"),
    ({"app": "a b"}, "app", "app"),
])
def test_bad_input_is_refused_naming_the_option_and_runs_nothing(root, override, param, words):
    done = run(root, **dict({"command": "touch ran"}, **override))
    assert done.failed and done["param"] == param and words in done.msg, done.result
    assert done["changed"] is False and not (root / "releases" / "2.0.0" / "ran").exists()


def test_an_incomplete_release_is_refused(root):
    _release.write_record(str(root / "releases" / "2.0.0"), {"complete": False}, os.getgid())
    done = run(root)
    assert done.failed and "is not a complete release" in done.msg

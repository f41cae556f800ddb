#!/usr/bin/python
# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: app_migrate
short_description: Run a release's database migration once, on one app host, before its colour starts
version_added: 0.4.0
description:
  - Runs O(command) with C(/bin/sh), as O(user), in the release's folder C(<root>/releases/<version>), with the colour's
    environment (O(env) and O(secrets)) and C(BLUEGREEN_APP), C(BLUEGREEN_VERSION), C(BLUEGREEN_COLOUR),
    C(BLUEGREEN_RELEASE_DIR); C(HOME) is the release folder.
  - The C(release) and C(deploy) playbooks run it with C(bluegreen_migrate_command), on one host of the colour they
    deploy to, after the release is unpacked and built on every host and before the colour is pointed at it and
    restarted, so that the new release starts on the schema it needs and the live colour keeps serving meanwhile.
    A rollback never runs it. See C(docs/migrations.md) for migrations both releases can run on.
  - Its output's last lines are returned, with every value of O(secrets) hidden, and kept in the app's history.
author:
  - bluegreen.core maintainers (@bluegreen)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - bluegreen.core.attributes
attributes:
  check_mode:
    support: full
    details: Runs nothing; says what it would run.
  diff_mode:
    support: none
  idempotent:
    description: The command runs on every call; a migration tool that records what it applied (as most do) makes it idempotent.
    support: none
  platform:
    platforms: posix
options:
  app:
    description: The app, as C(BLUEGREEN_APP).
    type: str
    required: true
  version:
    description: The release to migrate for; its folder C(<root>/releases/<version>) must be complete (unpacked and built).
    type: str
    required: true
  colour:
    description: The colour the release is deployed to, as C(BLUEGREEN_COLOUR).
    type: str
    required: true
    choices: [blue, green]
  root:
    description: The app's root on the host.
    type: path
    required: true
  user:
    description: The user the command runs as (the app's user).
    type: str
    required: true
  group:
    description: The group the command runs with. Defaults to O(user).
    type: str
  command:
    description: The migration, a shell command line such as C(.venv/bin/python -m notes.migrate).
    type: str
    required: true
  env:
    description: The colour's environment (its values are not shown).
    type: dict
    default: {}
  secrets:
    description: More of the environment, C(no_log); any of these values in the output is replaced by C(********).
    type: dict
    default: {}
  timeout:
    description: Seconds the command may run; past it, its processes are killed and the module fails.
    type: int
    default: 600
seealso:
  - module: bluegreen.core.app_release
"""

EXAMPLES = r"""
- name: Migrate the database for notes 2.0.0, deployed to green
  bluegreen.core.app_migrate:
    app: notes
    version: 2.0.0
    colour: green
    root: /opt/bluegreen/notes
    user: notes
    command: .venv/bin/python -m notes.migrate
    env: {NOTES_DATABASE: data/notes.sqlite3}
  become: true
"""

RETURN = r"""
command:
  description: The command run (or, in check mode, that would be run).
  returned: always
  type: str
  sample: .venv/bin/python -m notes.migrate
release:
  description: The release folder it ran in.
  returned: always
  type: str
  sample: /opt/bluegreen/notes/releases/2.0.0
rc:
  description: The command's exit status; null when it ran out of time or did not run (check mode).
  returned: always
  type: int
  sample: 0
seconds:
  description: How long it ran.
  returned: always
  type: float
  sample: 1.4
output:
  description: The last lines of its output (stdout and stderr together), with the values of O(secrets) hidden.
  returned: always
  type: str
  sample: "notes.migrate: applied 0002_author.sql"
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bluegreen.core.plugins.module_utils import _release, _validate
from ansible_collections.bluegreen.core.plugins.module_utils._errors import BluegreenError, os_error_text

# The output's last lines kept, in the result and in the history.
OUTPUT_LINES = 30


def argument_spec() -> dict:
    return {
        "app": {"type": "str", "required": True},
        "version": {"type": "str", "required": True},
        "colour": {"type": "str", "required": True, "choices": list(_validate.COLOURS)},
        "root": {"type": "path", "required": True},
        "user": {"type": "str", "required": True},
        "group": {"type": "str"},
        "command": {"type": "str", "required": True},
        "env": {"type": "dict", "default": {}},
        "secrets": {"type": "dict", "default": {}, "no_log": True},
        "timeout": {"type": "int", "default": 600},
    }


def hidden(text: str, secrets: dict) -> str:
    """``text`` with every value of ``secrets`` of 3 characters or more replaced, the longest first (a shorter value
    may be part of a longer one)."""
    for value in sorted({str(v) for v in secrets.values() if len(str(v)) >= 3}, key=len, reverse=True):
        text = text.replace(value, _release.HIDDEN)
    return text


def run(params: dict, check_mode: bool) -> dict:
    _validate.name(params["app"], "app")
    _validate.version(params["version"], "version")
    _validate.name(params["user"], "user")
    _validate.at_least(params["timeout"], 1, "timeout", " seconds")
    command = params["command"]
    if not command.strip() or "\0" in command:
        raise BluegreenError("command must be a shell command line", "command")
    release = _release.release_path(params["root"], params["version"])
    result = {"changed": True, "command": command, "release": release, "rc": None, "seconds": 0.0, "output": ""}
    if check_mode:
        return result
    if not _release.is_release_dir(release) or not _release.is_complete(_release.read_record(release)):
        raise BluegreenError(f"{release} is not a complete release, so there is nothing to migrate from: deploy "
                             f"{params['version']} first", "version")
    user = params["user"]
    uid, gid = _release.user_id(user), _release.group_id(params["group"] or user)
    env = dict(_release.build_env(release, params["app"], params["version"], user, dict(params["env"], **params["secrets"])),
               BLUEGREEN_COLOUR=params["colour"])
    started = time.monotonic()
    rc, output = _release._run_as(command, release, uid, gid, env, params["timeout"])
    result.update(rc=rc, seconds=round(time.monotonic() - started, 1),
                  output=hidden(_release.tail(output, OUTPUT_LINES), params["secrets"]))
    if rc != 0:
        why = f"did not finish within {params['timeout']}s and was killed" if rc is None else f"exited with {rc}"
        raise BluegreenError(f"the migration `{command}` {why}, as {user} in {release}. Its output ends with:\n"
                             f"{result['output'] or '(nothing)'}", "command", fields=result)
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        result = run(module.params, module.check_mode)
    except BluegreenError as exc:
        # Changed only when the command ran (its result is in the fields): bad input changed nothing.
        module.fail_json(msg=str(exc), **({"param": exc.param} if exc.param else {}), **dict(exc.fields, changed=bool(exc.fields)))
    except OSError as exc:
        module.fail_json(msg=f"running the migration failed: {os_error_text(exc)}", param="command")
    module.exit_json(**result)


if __name__ == "__main__":
    main()

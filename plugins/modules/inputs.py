# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: inputs
short_description: Check the inputs of one of the collection's playbooks, before it changes anything
version_added: 0.2.0
description:
  - Checks, on the controller, every C(bluegreen_*) variable the named playbook takes that is set for the host, and the
    ones it needs. Each has its own rule (a safe name, a whole number of seconds in range, rising percentages, an
    archive on the controller, a path starting with C(/), checks whose regex compiles, ...). Patterns match the whole
    value, so a trailing newline is refused.
  - Fails on the first variable that is wrong, naming it and the host, with no traceback; nothing runs on the host.
  - Every playbook of the collection runs it first. Values of C(bluegreen_app_env) and C(bluegreen_app_secrets) are
    never shown.
  - The hook files of C(bluegreen_hooks) must be files on the controller; a relative path is read from the directory
    the run started in (the project directory in AWX). They are returned as absolute paths, for the playbook to
    include.
author:
  - bluegreen.core maintainers (@bluegreen)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - bluegreen.core.attributes
attributes:
  action:
    description: Runs on the controller as an action plugin.
    support: full
    details: Nothing runs on the host.
  check_mode:
    support: full
    details: Checks the same in check mode.
  diff_mode:
    support: none
  idempotent:
    description: Changes nothing.
    support: full
  platform:
    platforms: all
options:
  playbook:
    description: The playbook whose inputs to check.
    type: str
    required: true
    choices: [provision, deploy, release, smoke_test, switch, rollback, status, unlock, parity]
seealso:
  - module: bluegreen.core.app_release
"""

EXAMPLES = r"""
- name: Check the release's inputs before anything changes
  bluegreen.core.inputs:
    playbook: release
"""

RETURN = r"""
checked:
  description: The variables checked.
  returned: success
  type: list
  elements: str
  sample: [bluegreen_app, bluegreen_artifact, bluegreen_monitor_seconds, bluegreen_version]
hooks:
  description:
    - The hook files of C(bluegreen_hooks) by phase, each phase a list of absolute paths on the controller; empty
      without hooks, or for a playbook that runs none.
  returned: success
  type: dict
  sample: {before_switch: [/srv/project/hooks/check.yml]}
param:
  description: The variable that failed (C(bluegreen_hooks.<phase>) for one hook).
  returned: failure
  type: str
  sample: bluegreen_monitor_seconds
host:
  description: The host whose variables were checked.
  returned: always
  type: str
"""

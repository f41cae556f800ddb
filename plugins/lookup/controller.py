# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: controller
author: bluegreen.core maintainers (@bluegreen)
version_added: 0.2.0
short_description: The controller running this playbook, as the app's lock records it
description:
  - Returns one dict, the host name of the controller, the PID of its C(ansible-playbook) process and when that process
    started (UTC, ISO 8601; null where the system has no C(/proc)).
  - The roles record it in the app's lock, so that the lock's holder names its controller, PID and start, and so that
    C(bluegreen.core.unlock) can tell a lock whose run was killed on this controller.
options: {}
"""

EXAMPLES = r"""
- name: Say who runs this
  ansible.builtin.debug:
    msg: "{{ query('bluegreen.core.controller') | first }}"
"""

RETURN = r"""
_raw:
  description: One dict.
  type: list
  elements: dict
  contains:
    host: {description: The controller's host name., type: str}
    pid: {description: The PID of the ansible-playbook process., type: int}
    started: {description: When that process started; null where the system does not say., type: str}
"""

from ansible.plugins.lookup import LookupBase
from ansible_collections.bluegreen.core.plugins.plugin_utils import _controller


class LookupModule(LookupBase):
    def run(self, terms: list, variables: dict | None = None, **kwargs: object) -> list:
        return [_controller.identity()]

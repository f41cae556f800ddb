# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks a playbook's inputs for one host, on the controller, before the playbook changes anything
(plugin_utils/_inputs.py has the rules). Nothing runs on the host. Returns the hook files the playbook runs, each an
absolute path on the controller (``hooks``, every phase a list; empty without hooks)."""

from __future__ import annotations

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase
from ansible_collections.bluegreen.core.plugins.plugin_utils import _inputs


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: object = None, task_vars: dict | None = None) -> dict:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        playbook = self._task.args.get("playbook")
        host = task_vars.get("inventory_hostname", "?")
        values = {}
        try:
            for variable in _inputs.RULES:
                if variable in task_vars:
                    values[variable] = self._templar.template(task_vars[variable])
            checked = _inputs.check(playbook, values)
        except _inputs.InputError as exc:
            param = str(exc).split(" ", 1)[0].rstrip(":")
            return dict(result, failed=True, param=param if param.startswith("bluegreen_") else "playbook", host=host,
                        msg=f"bluegreen.core.{playbook} cannot run on {host}: {exc}. Nothing was changed.")
        except AnsibleError as exc:
            return dict(result, failed=True, host=host,
                        msg=f"bluegreen.core.{playbook} cannot run on {host}: a variable could not be templated: {exc}. "
                            "Nothing was changed.")
        return dict(result, changed=False, checked=sorted(checked), host=host, hooks=checked.get("bluegreen_hooks", {}),
                    msg=f"{len(checked)} inputs of bluegreen.core.{playbook} checked on {host}")

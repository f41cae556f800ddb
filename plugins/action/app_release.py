# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Copies a controller-side artifact to the host, then runs bluegreen.core.app_release there: one task, so that a
deploy is a file transfer and one module call."""

from __future__ import annotations

import os

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.plugins.action import ActionBase
from ansible_collections.bluegreen.core.plugins.module_utils import _release


def hide_env(result: dict) -> dict:
    """The env values out of the task's invocation: the module hides them in its own output, but a module that fails
    before its main code runs (a bad option type) returns its arguments as given."""
    arguments = (result.get("invocation") or {}).get("module_args")
    if isinstance(arguments, dict):
        result["invocation"]["module_args"] = _release.hide_env(arguments)
    return result


class ActionModule(ActionBase):
    TRANSFERS_FILES = True

    def run(self, tmp: object = None, task_vars: dict | None = None) -> dict:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp  # tmp no longer has any effect
        args = dict(self._task.args)
        artifact = args.get("artifact")
        try:
            if artifact and not args.get("remote_artifact"):
                if "://" in str(artifact):
                    raise AnsibleActionFail(f"artifact {artifact!r}: a URL needs remote_artifact=true (the host fetches it)")
                try:
                    source = self._loader.get_real_file(self._find_needle("files", os.path.expanduser(str(artifact))))
                except AnsibleError:
                    # Not on the controller: fine if the release is in place on the host already; the module says so if not.
                    args.update(artifact=None, remote_artifact=True, missing_artifact=str(artifact))
                else:
                    # Copied in check mode too (into the task's temporary folder, removed below): the module checks
                    # its checksum against the release in place, and says what a real run would refuse.
                    remote = self._connection._shell.join_path(self._connection._shell.tmpdir, "artifact")
                    self._transfer_file(source, remote)
                    self._fixup_perms2((self._connection._shell.tmpdir, remote))
                    args.update(artifact=remote, remote_artifact=True)
            result.update(self._execute_module(module_name="bluegreen.core.app_release", module_args=args, task_vars=task_vars))
            return hide_env(result)
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)

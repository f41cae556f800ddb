#!/usr/bin/python
# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: app_cleanup
short_description: Prune an app's old releases on one app host
version_added: 0.4.0
description:
  - Removes the oldest release folders of C(<root>/releases/) beyond the O(keep) newest (by when each was put in
    place), never one a colour links to, and staging folders older than an hour that an interrupted deploy left.
  - The same pruning a deploy does after it succeeds (M(bluegreen.core.app_release)'s O(bluegreen.core.app_release#module:keep_releases)),
    on demand, for example with a lower O(keep) to free disk space.
author:
  - bluegreen.core maintainers (@bluegreen)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - bluegreen.core.attributes
attributes:
  check_mode:
    support: full
    details: Lists what it would remove, removing nothing.
  diff_mode:
    support: none
  idempotent:
    description: A second run with the same O(keep) finds nothing more to remove.
    support: full
  platform:
    platforms: posix
options:
  root:
    description: The app's root on the host, the folder of C(releases/) and the C(blue) and C(green) links.
    type: path
    required: true
  keep:
    description: How many of the newest releases to keep, besides those a colour links to; 1 or more.
    type: int
    default: 5
seealso:
  - module: bluegreen.core.app_release
"""

EXAMPLES = r"""
- name: Keep only the two newest releases of shop, and those its colours run
  bluegreen.core.app_cleanup:
    root: /opt/bluegreen/shop
    keep: 2
  become: true
"""

RETURN = r"""
removed:
  description: The folders removed (in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: [/opt/bluegreen/shop/releases/1.2.0]
kept:
  description: The release folders left, newest first.
  returned: always
  type: list
  elements: str
  sample: [2.0.0, 1.9.0]
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bluegreen.core.plugins.module_utils import _release, _validate
from ansible_collections.bluegreen.core.plugins.module_utils._errors import BluegreenError, os_error_text


def main() -> None:
    module = AnsibleModule(argument_spec={"root": {"type": "path", "required": True}, "keep": {"type": "int", "default": 5}},
                           supports_check_mode=True)
    root, keep = module.params["root"], module.params["keep"]
    try:
        _validate.at_least(keep, 1, "keep", " releases")
        parent = _release.releases_dir(root)
        if not os.path.isdir(parent):
            module.exit_json(changed=False, removed=[], kept=[])
        removed = _release.prune(root, keep, dry_run=module.check_mode)
        left = [entry for entry in os.scandir(parent) if entry.is_dir(follow_symlinks=False) and entry.path not in removed
                and not entry.name.startswith((_release.STAGING_PREFIX, _release.ASIDE_PREFIX))]
    except BluegreenError as exc:
        module.fail_json(msg=str(exc), **({"param": exc.param} if exc.param else {}))
    except OSError as exc:
        module.fail_json(msg=f"pruning the releases in {root} failed: {os_error_text(exc)}")
    kept = [entry.name for entry in sorted(left, key=lambda e: e.stat(follow_symlinks=False).st_mtime, reverse=True)]
    module.exit_json(changed=bool(removed), removed=removed, kept=kept)


if __name__ == "__main__":
    main()

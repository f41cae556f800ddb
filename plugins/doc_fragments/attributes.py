# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Every module of the collection is in its action group.
    DOCUMENTATION = r"""
attributes:
  action_group:
    description: Use C(group/bluegreen.core.bluegreen) in C(module_defaults) to set common options.
    support: full
    membership:
      - bluegreen.core.bluegreen
"""

    # The info modules: they only read.
    INFO = r"""
attributes:
  check_mode:
    description: Read-only; runs the same in check mode.
    support: full
  diff_mode:
    description: Changes nothing, so there is no diff.
    support: N/A
  idempotent:
    description: Changes nothing.
    support: full
"""

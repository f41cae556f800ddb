# -*- coding: utf-8 -*-
# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Where a router host keeps each app's history and lock.
    DOCUMENTATION = r"""
options:
  state_dir:
    description:
      - Directory on the target host that holds one folder per app with C(history.jsonl) (the append-only
        release history) and C(lock) (present while a release holds the app).
    type: path
    default: /var/lib/bluegreen
"""

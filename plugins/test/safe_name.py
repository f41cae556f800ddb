# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The test behind every name that reaches a router configuration, a unit or a path: the same rule the modules apply."""

from __future__ import annotations

from ansible_collections.bluegreen.core.plugins.module_utils import _validate


def safe_name(value: object) -> bool:
    """Whether ``value`` is a safe app, backend or server name (``_validate.name``: 1-63 letters, digits, '_', '-' or
    '.', starting with a letter or digit; the whole value, so a trailing newline fails too)."""
    try:
        _validate.name(value)
    except _validate.ValidationError:
        return False
    return True


class TestModule:
    def tests(self) -> dict:
        return {"safe_name": safe_name}

# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parity of the two colours (docs/parity.md): where blue and green differ across the app hosts that run them, from
what bluegreen.core.app_info read on each, and that drift as the lines of a table."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.bluegreen.core.plugins.module_utils import _parity


def parity(fleet_hosts: dict, hostvars: dict, play_hosts: list, info_var: str, app: str, topology: str = "slots") -> dict:
    """The parity report (bluegreen_parity) from each app host's registered app_info result (``info_var``)."""
    readings = {}
    for colour in _parity.COLOURS:
        for host in fleet_hosts[colour]:
            result = (hostvars[host].get(info_var) if host in hostvars and host in play_hosts else None) or {}
            if result.get("failed") or result.get("skipped") or "colours" not in result:
                continue
            readings[host] = {"colours": result["colours"], "packages": result.get("packages")}
    try:
        return _parity.compare(fleet_hosts, readings, app, topology)
    except ValueError as exc:
        raise AnsibleFilterError(f"parity: {exc}") from None


def parity_lines(report: dict) -> list:
    """The report as the lines of a table: what was compared, then one row per difference."""
    return _parity.table(report)


def parity_reason(report: dict) -> str:
    """The drift in one sentence, for a run that stops on it."""
    return _parity.reason(report)


class FilterModule:
    def filters(self) -> dict:
        return {"parity": parity, "parity_lines": parity_lines, "parity_reason": parity_reason}

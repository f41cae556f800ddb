# -*- coding: utf-8 -*-
# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small pure helpers for the roles' templates: host addresses and HTTP check lists."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def app_address(host: str, hostvars: dict) -> str:
    """The address a router uses to reach an app host: bluegreen_address, else its default IPv4 fact."""
    host_vars = hostvars[host] if host in hostvars else {}
    address = host_vars.get("bluegreen_address")
    if not address:
        facts = host_vars.get("ansible_facts") or {}
        address = (facts.get("default_ipv4") or {}).get("address")
    if not address:
        raise AnsibleFilterError(
            f"host {host} has no address for the router: set bluegreen_address for it, "
            "or gather its facts (ansible_default_ipv4) in an earlier play"
        )
    return str(address)


def expand_checks(checks: list, targets: list) -> list:
    """Every check (health_check format, with a path) against every target.

    A target is {name, base_url, header (optional dict merged into each check's header)}.
    """
    result = []
    for target in targets:
        for index, check in enumerate(checks):
            if not isinstance(check, dict) or not str(check.get("path", "")).startswith("/"):
                raise AnsibleFilterError(f"check {index} needs a path starting with '/', got {check!r}")
            item = {key: value for key, value in check.items() if key != "path"}
            item["url"] = target["base_url"].rstrip("/") + check["path"]
            item["name"] = f"{target['name']} {check.get('name', check['path'])}"
            if target.get("header"):
                item["header"] = dict(check.get("header") or {}, **target["header"])
            result.append(item)
    return result


class FilterModule:
    def filters(self) -> dict:
        return {"app_address": app_address, "expand_checks": expand_checks}

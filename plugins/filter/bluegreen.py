# -*- coding: utf-8 -*-
# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small pure helpers for the roles' templates: host addresses, HTTP check lists and fleets."""

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


def expand_checks(checks: list, targets: list, host: str = "") -> list:
    """Every check (health_check format, with a path) against every target; ``host`` (bluegreen_health_host) is the
    Host header of each check that sends none of its own.

    A target is {name, base_url, header (optional: merged into each check's expected response headers), headers
    (optional: merged into each check's request headers, such as the Host a router picks the app by), header_grace_s
    (optional: how long a header that does not match yet is not a failure, unless one answer matched it)}. A target's
    request header replaces the check's of the same name in any case, so one Host is sent: a check's own Host (the
    health check's bluegreen_health_host) where the target has none (an app server, a listener of the app's own), the
    target's where the router picks the app by that name (another would reach another app, or none).
    """
    result = []
    for target in targets:
        for index, check in enumerate(checks):
            if not isinstance(check, dict) or not str(check.get("path", "")).startswith("/"):
                raise AnsibleFilterError(f"check {index} needs a path starting with '/', got {check!r}")
            item = {key: value for key, value in check.items() if key not in ("path", "headers")}
            headers = dict(check.get("headers") or {})
            if host and not any(name.lower() == "host" for name in headers):
                headers["Host"] = host
            item["url"] = target["base_url"].rstrip("/") + check["path"]
            item["name"] = f"{target['name']} {check.get('name', check['path'])}"
            if target.get("header"):
                item["header"] = dict(check.get("header") or {}, **target["header"])
            if target.get("header_grace_s") is not None:
                item["header_grace_s"] = target["header_grace_s"]
            if target.get("headers"):
                replaced = {name.lower() for name in target["headers"]}
                headers = dict({name: value for name, value in headers.items() if name.lower() not in replaced},
                               **target["headers"])
            if headers:
                item["headers"] = headers
            result.append(item)
    return result


def fleets(app_hosts: list, hostvars: dict, groups: dict, topology: str = "slots", fleet_groups: dict | None = None) -> dict:
    """The app hosts that run each colour: {"blue": [...], "green": [...]}.

    slots: every app host runs both colours. fleets: each host runs one colour, set by its host var
    bluegreen_colour or by membership of the colour's group (fleet_groups, default bluegreen_blue and
    bluegreen_green). A host with no colour, in both, or a colour with no host is an error.
    """
    hosts = list(app_hosts or [])
    if topology == "slots":
        return {"blue": hosts, "green": hosts}
    if topology != "fleets":
        raise AnsibleFilterError(f"bluegreen_topology must be slots or fleets, got {topology!r}")
    fleet_groups = fleet_groups or {"blue": "bluegreen_blue", "green": "bluegreen_green"}
    result = {"blue": [], "green": []}
    for host in hosts:
        host_vars = hostvars[host] if host in hostvars else {}
        colours = set()
        declared = host_vars.get("bluegreen_colour")
        if declared not in (None, ""):
            if declared not in ("blue", "green"):
                raise AnsibleFilterError(f"host {host} has bluegreen_colour {declared!r}: it must be blue or green")
            colours.add(declared)
        in_groups = [colour for colour in ("blue", "green") if host in (groups.get(fleet_groups.get(colour, "")) or [])]
        colours.update(in_groups)
        if len(colours) > 1:
            raise AnsibleFilterError(
                f"host {host} is in both fleets (groups {', '.join(fleet_groups[c] for c in in_groups) or 'none'}, "
                f"bluegreen_colour {declared!r}): a host runs one colour in the fleets topology; "
                "take it out of one fleet"
            )
        if not colours:
            raise AnsibleFilterError(
                f"host {host} has no colour: in the fleets topology, put it in the group {fleet_groups['blue']} "
                f"or {fleet_groups['green']}, or set its bluegreen_colour to blue or green"
            )
        result[colours.pop()].append(host)
    for colour in ("blue", "green"):
        if not result[colour]:
            raise AnsibleFilterError(
                f"the {colour} fleet has no hosts: in the fleets topology each colour needs at least one app host "
                f"(group {fleet_groups[colour]} or bluegreen_colour: {colour})"
            )
    return result


def colour_servers(fleets_: dict, hostvars: dict, ports: dict) -> dict:
    """Each colour's servers for a router: ``{colour: [{name, address, port}]}`` from ``fleets`` (the fleets filter)."""
    return {colour: [{"name": host, "address": app_address(host, hostvars), "port": int(ports[colour])} for host in fleets_[colour]]
            for colour in ("blue", "green")}


class FilterModule:
    def filters(self) -> dict:
        return {"app_address": app_address, "colour_servers": colour_servers, "expand_checks": expand_checks, "fleets": fleets}

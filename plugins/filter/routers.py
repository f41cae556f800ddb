# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the roles need from the routers' drivers and states, without naming a router kind: the kind's traits, the
common state of each router, the lines of the status, the versions on the app hosts and the targets to probe."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.bluegreen.core.plugins.filter.bluegreen import app_address
from ansible_collections.bluegreen.core.plugins.module_utils import _history
from ansible_collections.bluegreen.core.plugins.module_utils._errors import BluegreenError
from ansible_collections.bluegreen.core.plugins.module_utils._routers import kinds

COLOURS = ("blue", "green")


def router(kind: object) -> dict:
    """What the roles need to know about the router kind in bluegreen_router (api, preview, steps, counters)."""
    try:
        return kinds.traits(kind)
    except BluegreenError as exc:
        raise AnsibleFilterError(str(exc)) from None


def router_states(results: list) -> list:
    """The common state of each router (a looped info or traffic module read), labelled with its inventory host
    when the router has no label of its own."""
    states = []
    for result in results:
        state = {key: result.get(key) for key in kinds.STATE_KEYS}
        state["label"] = state["label"] or result.get("item")
        states.append(state)
    return states


def router_share(routers: list, play_hosts: list, host: str) -> list:
    """The routers that ``host`` reaches in a task the play's hosts run side by side (each delegating to its own
    routers): of n play hosts, the i-th takes the routers i, i+n, i+2n... So every router is reached once, and up to
    one per play host (and per fork) at the same moment."""
    if host not in play_hosts:
        return []
    return list(routers)[play_hosts.index(host)::len(play_hosts)]


def router_results(routers: list, hostvars: dict, play_hosts: list, var: str, jobs: str | None = None) -> list:
    """The results of a looped task run by the play hosts side by side (router_share), registered on each host as
    ``var``: one per router, in the order of ``routers``; a router no host reached has none. ``jobs``: where the hosts
    registered the async_status of the calls they started as async jobs; each started call's result is then its job's
    (a job that had not ended is a failure, saying so)."""
    ended = {}
    for host in play_hosts if jobs else ():
        for job in ((hostvars.get(host, {}).get(jobs) or {}).get("results") or []):
            started = job.get("item") if isinstance(job.get("item"), dict) else {}
            if started.get("ansible_job_id"):
                ended[started["ansible_job_id"]] = dict(job, item=started.get("item"))
    found = {}
    for host in play_hosts:
        registered = hostvars.get(host, {}).get(var) or {}
        for result in registered.get("results") or []:
            own = _job_result(result, ended) if jobs else result
            found[own.get("item")] = own
    return [found[router] for router in routers if router in found]


def _job_result(result: dict, ended: dict) -> dict:
    """A call's result, or, for a call started as an async job, its job's (``ended``: the collected jobs by id)."""
    job = result.get("ansible_job_id")
    if not job or not result.get("started") or result.get("finished"):
        return result
    own = ended.get(job, result)
    if not own.get("finished") and not own.get("unreachable"):
        own = dict(own, failed=True, msg=f"its call, started as the async job {job}, had not ended when the wait for it did")
    return own


def colour_versions(fleet_hosts: dict, hostvars: dict, play_hosts: list, links_var: str) -> dict:
    """The release each colour points at on the app hosts that run it, from each host's registered
    ``find -printf '%f %l\n'`` of the colour links (``links_var``): {blue: version or None, green: ...}. Hosts
    that disagree give "a + b"; a host without the link counts as "(none)"."""
    versions = {}
    for colour in COLOURS:
        found: list = []
        for host in fleet_hosts[colour]:
            if host not in play_hosts:
                continue
            lines = (hostvars[host].get(links_var) or {}).get("stdout_lines") or []
            target = next((line.split(" ", 1)[1] for line in lines if line.startswith(colour + " ")), None)
            version = "(none)" if target is None else target.rsplit("/", 1)[-1]
            if version not in found:
                found.append(version)
        versions[colour] = None if found in ([], ["(none)"]) else " + ".join(sorted(found))
    return versions


def stopped_hosts(fleet_hosts: dict, hostvars: dict, play_hosts: list, links_var: str) -> dict:
    """The app hosts of each colour where bluegreen_standby stopped its unit (it is not active and carries the standby
    mark), from the ``unit <colour> <state> <standby or ->`` lines of the same registered read as colour_versions:
    {blue: [host...], green: [...]}. A colour stopped by hand, or crashed, is not listed."""
    stopped: dict = {}
    for colour in COLOURS:
        stopped[colour] = []
        for host in fleet_hosts[colour]:
            if host not in play_hosts:
                continue
            lines = (hostvars[host].get(links_var) or {}).get("stdout_lines") or []
            fields = next((line.split() for line in lines if line.startswith(f"unit {colour} ")), [])
            if len(fields) == 4 and fields[2] != "active" and fields[3] == "standby":
                stopped[colour].append(host)
    return stopped


def probe_targets(hosts: list, hostvars: dict, port: object, prober: str, label: str, colour: str | None = None,
                  host_name: str | None = None, scheme: str = "http", path: str = "", step_headers: dict | None = None,
                  step_colour: str | None = None, peer_grace_s: float | None = None) -> list:
    """Probe targets for expand_checks: each host's address (127.0.0.1 for the prober itself) on ``port``, named
    "<host> <label>"; with ``colour`` (a regex), every answer must carry a matching X-Bluegreen-Colour header; with
    ``host_name``, each request carries it as its Host header (a router that picks the app by host name), and ``path``
    (the app's path prefix there) goes before each check's path. ``step_headers``: per host, the headers that send a
    request to a weighted step's colour (its router state's step_probe_headers); a host that has them is probed with
    them, and its answers must match ``step_colour`` instead. ``peer_grace_s``: for every host but the prober, how long
    an answer of the other colour is not a failure until one answer was of the expected colour (another router, which
    moves at the prober's instant, may come late)."""
    if scheme not in ("http", "https"):
        raise AnsibleFilterError(f"probe_targets: scheme must be http or https, got {scheme!r}")
    targets = []
    for host in hosts:
        target = {
            "name": f"{host} {label}",
            "base_url": f"{scheme}://{'127.0.0.1' if host == prober else app_address(host, hostvars)}:{int(port)}{(path or '').rstrip('/')}",
        }
        stepping = (step_headers or {}).get(host) if step_colour else None
        if colour or stepping:
            target["header"] = {"X-Bluegreen-Colour": step_colour if stepping else colour}
        headers = dict({"Host": host_name} if host_name else {}, **(stepping or {}))
        if headers:
            target["headers"] = headers
        if peer_grace_s is not None and host != prober and "header" in target:
            target["header_grace_s"] = float(peer_grace_s)
        targets.append(target)
    return targets


def endpoint_targets(endpoints: list, label: str) -> list:
    """Probe targets for expand_checks from a router's endpoints of a colour (host:port, as the router reaches them)."""
    return [{"name": f"{endpoint} {label}", "base_url": f"http://{endpoint}"} for endpoint in endpoints]


def live_server_changes(state: dict, servers: dict) -> list:
    """What to try before a provision changes the servers of a colour with live traffic: for each colour the router
    state (``state``: its weights and endpoints) gives a share of the live traffic, and whose servers (``host:port``)
    would become others (``servers``), each of its servers now and of its new ones, as {colour, server, host, port,
    now}."""
    weights, endpoints = (state or {}).get("weights") or {}, (state or {}).get("endpoints") or {}
    found = []
    for colour in COLOURS:
        before, after = list(endpoints.get(colour) or []), list((servers or {}).get(colour) or [])
        if not weights.get(colour) or not before or sorted(before) == sorted(after):
            continue
        for now, group in ((True, before), (False, after)):
            for server in group:
                host, _sep, port = server.rpartition(":")
                found.append({"colour": colour, "server": server, "host": host.strip("[]"), "port": int(port), "now": now})
    return found


def status_lines(states: list, versions: dict, stopped: dict | None = None) -> list:
    """What the status playbook shows: each router's live colour and problems, each colour's release with the outcome
    of its last release where it is the release the colour holds now (the first router's history), and the first
    router's history tail, newest first."""
    lines = []
    for state in states:
        lines.append(f"{state['label']}: live colour {state['live_colour'] or 'unknown'} ({state['says']}), "
                     f"blue {state['colours']['blue']}, green {state['colours']['green']}")
        lines.extend(f"PROBLEM on {state['label']}: {problem}" for problem in state["problems"])
        if state.get("maintenance"):
            lines.append(f"MAINTENANCE on {state['label']}: the app's live traffic gets its maintenance page (503); "
                         "bluegreen.core.maintenance with bluegreen_maintenance=off serves it again")
    splits = {state["label"]: _history.describe(state.get("weights")) for state in states}
    if len(set(splits.values())) > 1:
        lines.append("PROBLEM: the routers disagree, " + ", ".join(f"{label} sends {split}" for label, split in splits.items())
                     + ": a release or switch refuses to run until they agree; bluegreen.core.switch with bluegreen_switch_to"
                     "=blue or green makes them")
    first = states[0] if states else {}
    # While the traffic is split, both colours have live traffic: each is named with its share, not as idle.
    shares = _history.shares(first.get("weights")) if first.get("live_colour") is None else None
    for colour in COLOURS:
        version = (versions or {}).get(colour)
        role = (f"LIVE with {shares[colour]}% of the traffic" if shares and shares[colour] else
                "LIVE" if colour == first.get("live_colour") else "idle")
        line = f"{colour}: version {version or 'none'} ({role})"
        if version and (stopped or {}).get(colour):
            line += f", STOPPED on {', '.join(stopped[colour])} (bluegreen_standby; a switch or rollback to it starts it first)"
        outcome = _history.outcome_of_release((first.get("outcomes") or {}).get(colour), version)
        if outcome:
            line += f"; {'FAILED: ' if outcome['failed'] else ''}{_history.describe_outcome(outcome)}"
        lines.append(line)
    for record in reversed(first.get("history") or []):
        lines.append("history: " + _history.describe_record(record))
    return lines


def failed_release(states: list, versions: dict, colour: str) -> str | None:
    """Why the routers refuse live traffic to ``colour``: the outcome of the release it holds (``versions``), as the
    first router's history has it, in words ("3.1.0 failed its smoke test at <time> (why)") when it failed; else None.
    An outcome recorded with no version is taken for the release the colour holds, as the routers take it."""
    first = (states or [{}])[0] or {}
    outcome = _history.outcome_of_release((first.get("outcomes") or {}).get(colour), (versions or {}).get(colour))
    return _history.describe_outcome(outcome) if outcome and outcome["failed"] else None


def run_result(states: list, versions: dict, written: list, playbook: str, app: str, failure: str | None = None,
               check_mode: bool = False, actor: str | None = None, changed: bool = False) -> dict:
    """What a playbook publishes with set_stats as bluegreen_result, for later nodes of an AWX workflow: the outcome of
    the run, the live colour and the split it left, each colour's release with the outcome of its last release, and the
    history records this run wrote (``written``, as the first router holds them, oldest first). The colours start from
    the routers' states read at the start of the run (``states``) and follow every record written since; a change that
    failed on its way leaves the live colour unknown (None) rather than guessed."""
    first = (states or [{}])[0] or {}
    records = [record for record in written or [] if isinstance(record, dict)]
    weights = _history.shares(first.get("weights")) or _history.full(first.get("live_colour"))
    live = first.get("live_colour")
    switched = False
    for record in records:
        if (record.get("action") or "switch") in _history.VERDICTS:
            continue
        after = _history.weights_after(record)
        if record.get("result") == "ok" and after is not None:
            weights, live, switched = after, _history.live_colour(after), True
        else:
            weights, live = None, None
    outcomes = dict(first.get("outcomes") or {})
    outcomes.update(_history.outcomes(records))
    colours = {}
    for colour in COLOURS:
        version = (versions or {}).get(colour)
        outcome = _history.outcome_of_release(outcomes.get(colour), version)
        colours[colour] = {
            "version": version,
            "live": colour == live,
            "share": None if weights is None else weights[colour],
            "outcome": outcome["outcome"] if outcome else None,
            "failed": bool(outcome and outcome["failed"]),
        }
    if failure:
        result = "failed"
    elif switched or changed or playbook in ("status", "smoke_test", "parity"):
        result = "ok"
    else:
        result = "unchanged"
    return {
        "app": app,
        "playbook": playbook,
        "outcome": result,
        "live_colour": live,
        "maintenance": any(bool(state.get("maintenance")) for state in states or []),
        "colours": colours,
        "history": records,
        "message": failure or None,
        "check_mode": bool(check_mode),
        "actor": actor,
    }


def apps_to_switch(requested: list, versions: dict) -> list:
    """For a step that switches several apps: each app ({app, version}) with the colour that holds its release and the
    release in each colour (``versions``: {app: {blue, green}}), for haproxy_apps_traffic. A release in neither colour
    (or in both, which says nothing about where to go) fails, naming the app."""
    apps = []
    for item in requested:
        app, version = item["app"], str(item["version"])
        held = (versions or {}).get(app) or {}
        colours = [colour for colour in COLOURS if held.get(colour) == version]
        if len(colours) != 1:
            where = ", ".join(f"{colour} {held.get(colour) or 'none'}" for colour in COLOURS)
            raise AnsibleFilterError(
                f"{app}: release {version} is in {'both colours' if colours else 'neither colour'} ({where}); deploy it "
                "to the idle colour first (bluegreen.core.deploy), then switch. Nothing was changed")
        apps.append({"app": app, "colour": colours[0], "versions": {colour: held.get(colour) for colour in COLOURS}})
    return apps


class FilterModule:
    def filters(self) -> dict:
        return {"router": router, "router_states": router_states, "router_share": router_share,
                "router_results": router_results, "apps_to_switch": apps_to_switch,
                "colour_versions": colour_versions, "stopped_hosts": stopped_hosts, "probe_targets": probe_targets,
                "endpoint_targets": endpoint_targets, "live_server_changes": live_server_changes,
                "status_lines": status_lines, "failed_release": failed_release, "run_result": run_result}

# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The router contract: what every router driver does, and the one flow every module runs over it.

PRIVATE to the bluegreen.core collection: may change without notice.

A driver (``Router`` subclass, one per router kind) knows one router: how to read which colour it
serves, how to plan a change of the split, how to apply it with verification and restore, and what
it says about itself. Everything else is here, once, for every kind (docs/architecture.md):

- the modules: ``run(Driver)`` builds the AnsibleModule of a ``<kind>_traffic`` module, ``run(Driver,
  info=True)`` that of a ``<kind>_info`` module, and catches every user or host error in one place;
- a change (``change``): inputs checked before any I/O, the app's lock held around the call when asked,
  ``colour: previous`` resolved from the history, the plan, the gate, check and diff mode, the
  apply, and one history record, ok or failed, in one schema (``_history``);
- the state every read returns (``state``): the same keys for every router.
"""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bluegreen.core.plugins.module_utils import _history, _lock, _validate, _watch
from ansible_collections.bluegreen.core.plugins.module_utils._errors import BluegreenError, os_error_text


class SwitchFailed(BluegreenError):
    """Applying a change failed. ``attempted``: live traffic may have moved (a history record is due);
    ``restored``: what was changed has been put back. ``fields`` go into the module's failed result."""

    def __init__(self, message: str, *, attempted: bool, restored: bool, **fields: object) -> None:
        super().__init__(message, fields=fields)
        self.attempted = attempted
        self.restored = restored


class Refused(BluegreenError):
    """The router will not take the change as asked (the target has no healthy server, ...). Nothing changed."""

    def __init__(self, message: str, **fields: object) -> None:
        super().__init__(message, fields=fields)


class Router:
    """One router kind. Subclasses set the class attributes and implement the methods below."""

    KIND = ""  # its name in bluegreen_router and in kinds.KINDS, where the roles find its traits
    COUNTERS = False  # sample() gives the router's own counts of a colour (kinds.KINDS says the same as "counters")
    SAMPLE_EVERY_S: float | None = None  # how often the watch samples the counts, when more often than watch.interval
    counts_note: str | None = None  # why sample()'s counts may be short (set by sample(): CloudWatch had no data)
    # Module options: where the router and the app's routing are (both modules), the traffic module's own,
    # the info module's own; AnsibleModule's keyword arguments (mutually_exclusive, ...) for both, and the traffic
    # module's own (lists added to those of both).
    OPTIONS: dict = {}
    CHANGE_OPTIONS: dict = {}
    READ_OPTIONS: dict = {}
    CONSTRAINTS: dict = {}
    CHANGE_CONSTRAINTS: dict = {}

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params

    # ---- inputs

    def validate(self) -> None:
        """Check the router's own options before any I/O; raise ValidationError naming the option."""

    def requested(self) -> tuple:
        """What the traffic module was asked for: (colour, weights). ``colour`` is blue, green, previous or
        None; ``weights`` (None for previous) is the split asked for, in the router's own units: ``weight`` percent
        to the colour (all of it for a router with no ``weight`` option)."""
        colour, weight = self.params["colour"], self.params.get("weight", 100)
        if colour not in _validate.COLOURS:
            return colour, None
        return colour, {colour: weight, _validate.other_colour(colour): 100 - weight}

    def validate_weight(self) -> None:
        """The ``weight`` option of a router that takes weighted steps: 1-100, and 100 with colour=previous."""
        params = self.params
        if params["colour"] == "previous" and params["weight"] != 100:
            raise _validate.ValidationError(
                f"weight must be 100 with colour=previous (a rollback moves all traffic), got {params['weight']}", "weight")
        _validate.share(params["weight"])

    def connect(self) -> None:
        """Open what the router needs (a socket client, an API session) after the inputs are checked."""

    # ---- reading

    def current(self) -> dict | None:
        """The split the router applies now ({blue, green}), or None when it cannot tell."""
        raise NotImplementedError

    def read(self, limit: int) -> dict:
        """The state (``state()``) with what the router adds about itself."""
        raise NotImplementedError

    # ---- changing

    def plan(self, colour: str | None, weights: dict):
        """What must change so that the router applies ``weights`` (``colour`` is the colour the request named,
        if any). The plan has ``changed``, ``moves_live_traffic``, ``weights`` and ``from_weights`` (percent or
        the router's own units: the history takes shares of them) and ``diff()``."""
        raise NotImplementedError

    def gate(self, plan) -> dict:
        """Check the target may take the traffic; return fields for the result, or raise Refused."""
        return {}

    def result(self, plan, gate: dict) -> dict:
        """The module's result before the change is applied."""
        raise NotImplementedError

    def check(self, plan) -> None:
        """In check mode, when the plan changes something: warn about what would make a real run fail."""

    def stage(self, plan) -> dict:
        """The first phase of a change made on several routers at once (the ``stage`` option of a router that has it):
        prove the router can take the plan, changing no routing; raise an error naming what it cannot do. Return what
        to add to the result."""
        raise NotImplementedError

    def apply(self, plan) -> dict:
        """Apply the plan, verify it, put back what was changed on any failure (raise SwitchFailed); return
        what to add to the result (timings, ...)."""
        raise NotImplementedError

    def unchanged(self, plan) -> None:
        """When the change needs nothing here, outside check mode, before its watch: what the router does instead (a
        commit at an instant waits for it, so that its watch starts when the other routers move)."""

    def after(self, plan, result: dict) -> None:
        """After a change (or none was needed), outside check mode: what the router does next (drain, wait)."""

    def details(self, plan, result: dict) -> dict:
        """What the router adds to its history record (timings, the listener, the record)."""
        return {}

    def failure_fields(self) -> dict:
        """Fields every failed result of this router carries (the API calls made, ...)."""
        return {}

    # ---- watching

    def sample(self, colour: str) -> dict | None:
        """The router's own cumulative counts of ``colour``, for the watch after a change: {requests, http_5xx,
        response_ms (null when unknown), healthy (whether a server of it can serve; null when unknown)}; None when the
        router counts none, or (its first sample, setting ``counts_note`` to say why) has nothing to count in this call:
        the watch then relies on its probes."""
        return None


# --------------------------------------------------------------------------- the state


def state(router: Router, *, weights: dict | None, sources_agree: bool, problems: list, says: str, colours: dict,
          healthy: dict, counters: dict | None, history: dict, lock: dict | None, label: str | None = None,
          counters_note: str | None = None, endpoints: dict | None = None, maintenance: bool = False,
          drifted: bool = False, step_probe_headers: dict | None = None) -> dict:
    """The state every router returns from a read (kinds.STATE_KEYS).

    ``weights``: the split the router applies now. ``sources_agree``: whether the router's own sources agree (HAProxy's
    runtime map and its map file, Nginx's links and the configuration its workers loaded). ``drifted``: whether they
    disagree only in that each names a routing and the two differ, so that writing one routing to both mends them
    (HAProxy's runtime map and map file; someone changed one by hand). ``problems``: what the
    router found wrong; the history's problems (``history``, ``_history.report``'s result) are added to them, and
    ``consistent`` is true when the sources agree and there is no problem at all. ``says``: what the router's sources
    say, in a few words. ``colours``: what serves each colour, in a few words. ``endpoints``: per colour, the host:port
    addresses the router sends that colour's traffic to (None for an API router). ``healthy``: whether the router finds
    each colour able to serve (a server UP, healthy targets), None where it cannot tell. ``counters``: each colour's
    requests and 5xx responses as the router counts them (None where it counts none, ``counters_note`` saying why).
    ``label``: how an API router names itself (None for a router host, which its inventory name names).
    ``maintenance``: whether the router answers the app's live traffic with its maintenance page.
    ``step_probe_headers``: the request headers that send a probe to a weighted step's colour whenever the step gives it
    any share (a sticky key in the first bucket); None where the router has no such buckets."""
    problems = problems + history["problems"]
    return {
        "router": router.KIND,
        "label": label,
        "live_colour": _history.live_colour(weights),
        "previous_colour": history["previous_colour"],
        "weights": _history.shares(weights),
        "sources_agree": sources_agree,
        "drifted": drifted,
        "consistent": sources_agree and not problems,
        "problems": problems,
        "says": says,
        "colours": colours,
        "endpoints": endpoints,
        "healthy": healthy,
        "counters": counters,
        "counters_note": counters_note if counters is None else None,
        "history": history["history"],
        "last_switch": history["last_switch"],
        "outcomes": history["outcomes"],
        "lock": lock,
        "maintenance": maintenance,
        "step_probe_headers": step_probe_headers,
    }


def read_lock(params: dict) -> dict | None:
    return _lock.read_lock(params["state_dir"], params["app"])


# --------------------------------------------------------------------------- a change


def change(driver: Router) -> dict:
    """One traffic module call: check, lock, resolve, plan, gate, apply, record, watch (and switch back)."""
    module, params = driver.module, driver.params
    who = _history.validated(params)
    limits = _watch.limits(params["watch"])
    colour, weights = driver.requested()
    if colour is None and weights is None:
        return read(driver)
    driver.connect()
    # A stage that ends well keeps the lock it took, for its commit, which releases it (lock_release); a stage given
    # lock_release only checks that no other run holds it (on a router other than the one that holds the app's lock).
    keep = bool(params.get("stage")) and not params["lock_release"]
    with _lock.holding_lock(params["state_dir"], params["app"], params["lock_owner"], params["lock_ttl"],
                            params["lock_wait"], module.check_mode, params["lock_controller"], keep=keep):
        if colour == "previous":
            colour, weights = previous(driver, who["versions"])
        plan = driver.plan(colour, weights)
        if plan.changed and params["action"] not in ("auto-rollback", "release") and not params["force"]:
            check_outcomes(driver, plan, who["versions"])
        result = driver.result(plan, driver.gate(plan))
        if module._diff:
            result["diff"] = plan.diff()
        if module.check_mode:
            if plan.changed:
                driver.check(plan)
            return result
        if params.get("stage"):
            # Everything above is checked; nothing is applied or recorded, and no watch runs: the commit does that.
            result.update(driver.stage(plan) if plan.changed else {}, changed=False, staged=True)
            return result
        watching = None if limits is None else watched(driver, plan, limits)
        baseline = None if watching is None else counted(driver, watching[0], limits)
        if plan.changed:
            try:
                result.update(driver.apply(plan))
            except SwitchFailed as exc:
                result.update(exc.fields)
                if exc.attempted:
                    result["history_entry"] = record(driver, who, plan, result, "failed", error=str(exc),
                                                     weights=exc.fields.get("weights"))
                result["changed"] = not exc.restored
                raise Refused(str(exc), **result) from None
            result["history_entry"] = record(driver, who, plan, result, "ok")
        else:
            driver.unchanged(plan)
        if watching is not None:
            watch(driver, who, limits, watching, baseline, result)
        driver.after(plan, result)
    if params["lock_release"] and params["lock_owner"] is not None and not module.check_mode:
        _lock.release_lock(params["state_dir"], params["app"], params["lock_owner"])
    return result


def previous(driver: Router, versions: dict) -> tuple:
    """The colour a rollback goes to (from the history, checked against ``versions``), and all the traffic for it."""
    params = driver.params
    records, _problems = _history.read(params["state_dir"], params["app"])
    try:
        colour = _history.rollback_target(records, _history.live_colour(driver.current()), versions, params["force"])
    except _history.RollbackRefused as exc:
        raise _history.RollbackRefused(f"cannot route {params['app']} to its previous colour: {exc}", param="colour") from None
    return colour, _history.full(colour)


def rising_colours(plan) -> list:
    """The colours the planned change gives more of the live traffic than they had."""
    after, before = _history.shares(plan.weights), _history.shares(plan.from_weights)
    return [c for c in _validate.COLOURS if after and after[c] > (before[c] if before else 0)]


def check_outcomes(driver: Router, plan, versions: dict) -> None:
    """Refuse a change that gives a colour more of the live traffic when the release it holds last failed (a switch
    back by the watch, a rollback from it, a failed smoke test), as the history says (_history.check_outcome)."""
    params = driver.params
    rising = rising_colours(plan)
    if not rising:
        return
    try:
        records, _problems = _history.read(params["state_dir"], params["app"])
    except OSError as exc:
        # Not known to have failed: the change goes ahead, as it does when its record cannot be written.
        driver.module.warn(f"the history in {params['state_dir']} could not be read, so the outcome of the release "
                           f"{' and '.join(rising)} holds was not checked: {os_error_text(exc)}")
        return
    for colour in rising:
        try:
            _history.check_outcome(records, colour, versions.get(colour))
        except _history.ReleaseFailed as exc:
            # A rollback goes to the colour that was live before: after a rollback, that is the release it left.
            why = (" A rollback goes to the colour that was live before the last switch; it does not go back to a release "
                   "that failed there, which a rollback just left or the watch switched back from."
                   if params["colour"] == "previous" else "")
            raise _history.ReleaseFailed(f"cannot route {params['app']} as asked: {exc}{why}", param=exc.param) from None


def record(driver: Router, who: dict, plan, result: dict, outcome: str, error: str | None = None,
           weights: dict | None = None, action: str | None = None, reason: str | None = None,
           **details: object) -> dict | None:
    """Append the change to the app's history (unless history=false); a history that cannot be written is a
    warning, never a failure: the change itself is done. ``weights``: the split the router reports after a
    failed change, when it is not the planned one. ``action``/``reason``: the watch's switch back, not the call's."""
    params = driver.params
    if not params["history"]:
        return None
    entry = _history.entry(
        router=driver.KIND, action=action or params["action"], target=plan.colour, weights=weights or plan.weights,
        from_weights=plan.from_weights, versions=who["versions"], actor=who["actor"], reason=reason or who["reason"],
        result=outcome, error=error, **dict(driver.details(plan, result), **details),
    )
    try:
        return _history.append(params["state_dir"], params["app"], entry)
    except OSError as exc:
        driver.module.warn(f"the result ({outcome}) could not be added to the history in {params['state_dir']}: {exc}")
        return None


# --------------------------------------------------------------------------- the watch


def watched(driver: Router, plan, limits) -> tuple:
    """(the colour the watch watches, the colour a breach switches all the traffic back to), decided before the change:
    the colour the change gives more of the traffic (or the one it named), and watch.rollback_to or the colour that had
    all the live traffic before it. Either missing is refused, naming the option, before anything changes."""
    rising = rising_colours(plan)
    back = limits.rollback_to or _history.live_colour(plan.from_weights)
    colour = rising[0] if rising else plan.colour or (back and _validate.other_colour(back))
    if colour is None:
        raise _validate.ValidationError("watch needs a colour to watch: name it with colour, or set watch.rollback_to "
                                        "(the colour to switch back to)", "watch.rollback_to")
    if limits.rollback and (back is None or back == colour):
        raise _validate.ValidationError(
            f"watch.rollback_to must name the colour to switch back to if {colour} fails: the router "
            f"{'sent it no single colour before this change' if back is None else 'already sends everything to ' + colour}",
            "watch.rollback_to")
    if limits.checks == [] and not driver.COUNTERS:
        raise _validate.ValidationError(f"watch.checks must list at least one probe: the {driver.KIND} router counts no "
                                        "requests or 5xx per colour, so the probes are all the watch has", "watch.checks")
    return colour, back


def counted(driver: Router, colour: str, limits) -> _watch.Sample | None:
    """The router's counts of the colour just before the change: the watch's baseline. A router that counts but has
    nothing to count now (Nginx without the app's counts log) leaves the watch to its probes: with none, that is refused
    as ``watched`` refuses a router that counts nothing, naming watch.checks and why (``counts_note``), before anything
    changes."""
    baseline = sample(driver, colour, 0.0, limits)
    if baseline is None and limits.checks == []:
        why = driver.counts_note or f"the {driver.KIND} router has no counts of {colour}"
        raise _validate.ValidationError(f"watch.checks must list at least one probe: {why}, so the probes are all the "
                                        "watch has", "watch.checks")
    return baseline


def sample(driver: Router, colour: str, at: float, limits) -> _watch.Sample | None:
    """The router's counts of ``colour`` for the watch; a router that does not answer is a failed sample."""
    try:
        counts = driver.sample(colour)
    except (BluegreenError, OSError) as exc:
        if at == 0.0:
            raise
        raise _watch.SampleFailed(str(exc)) from None
    return None if counts is None else _watch.Sample(at=at, **counts)


def watch(driver: Router, who: dict, limits, watching: tuple, baseline, result: dict) -> None:
    """Watch the colour; on a breach switch all the traffic back to the other colour (unless watch.rollback=false),
    record it as an auto-rollback with what broke, and fail the call saying so."""
    params = driver.params
    colour, back = watching
    verdict = _watch.watch(limits, lambda at: sample(driver, colour, at, limits), colour, baseline,
                           every=driver.SAMPLE_EVERY_S)
    result["watch"] = dict(verdict.as_dict(), colour=colour, rolled_back=False, counts_note=driver.counts_note)
    if verdict.ok:
        return
    found = f"the watch of {colour} found after {verdict.after_s:g}s: {verdict.reason}"
    if not limits.rollback:
        raise Refused(f"{params['app']}: {found}. watch.rollback=false: the traffic was left as it is.", **result)
    plan = driver.plan(back, _history.full(back))
    try:
        reverted = driver.apply(plan) if plan.changed else {}
    except SwitchFailed as exc:
        result["history_entry"] = record(driver, who, plan, dict(result, **exc.fields), "failed", error=str(exc),
                                         action="auto-rollback", reason=verdict.reason[:_history.REASON_MAX])
        raise Refused(f"{params['app']}: {found}; switching back to {back} FAILED: {exc}", **result) from None
    result["watch"]["rolled_back"] = True
    result["rolled_back_to"] = back
    result["history_entry"] = record(driver, who, plan, dict(result, **reverted), "ok", action="auto-rollback",
                                     reason=verdict.reason[:_history.REASON_MAX],
                                     watch={"after_s": verdict.after_s, "first_5xx_after_s": verdict.first_5xx_after_s,
                                            "requests": verdict.requests, "http_5xx": verdict.http_5xx})
    raise Refused(f"{params['app']}: {found}. Switched all the traffic back to {back}; {colour} keeps its release for "
                  "inspection, and is refused live traffic until a fixed release is deployed (or force=true).", **result)


# --------------------------------------------------------------------------- the modules


def argument_spec(driver_class: type, info: bool) -> dict:
    spec = {"app": {"type": "str", "required": True}}
    spec.update(driver_class.OPTIONS)
    spec.update(_lock.LOCK_OPTIONS)
    if info:
        spec.update(_history.READ_OPTIONS)
        spec.update(driver_class.READ_OPTIONS)
    else:
        spec.update(_history.OPTIONS)
        spec.update(_watch.OPTIONS)
        spec["lock_release"] = {"type": "bool", "default": False}
        spec.update(driver_class.CHANGE_OPTIONS)
    return spec


def run(driver_class: type, info: bool = False) -> None:
    """The whole main() of a router's traffic module, or (``info``) of its info module."""
    constraints = dict(driver_class.CONSTRAINTS)
    for key, value in ({} if info else driver_class.CHANGE_CONSTRAINTS).items():
        constraints[key] = constraints.get(key, []) + value
    module = AnsibleModule(argument_spec=argument_spec(driver_class, info), supports_check_mode=True, **constraints)
    driver = driver_class(module)
    params = module.params
    try:
        _validate.name(params["app"], "app")
        if params["lock_owner"] is not None:
            _lock.validate_lock_inputs(params["lock_owner"], params["lock_wait"], params["lock_ttl"], prefix="lock_")
        driver.validate()
        result = read(driver) if info else change(driver)
    except BluegreenError as exc:
        fail(module, str(exc), dict(exc.fields, **({"param": exc.param} if exc.param else {})), driver)
    except OSError as exc:
        fail(module, f"reading or writing the files of {params['app']} on this host failed: {os_error_text(exc)}", {}, driver)
    module.exit_json(**result)


def read(driver: Router) -> dict:
    """A read (an info module, or a traffic module given nothing to change): every problem is also a warning. With
    lock_owner, the app's lock is taken first and kept, for the changes the run makes after it."""
    params = driver.params
    limit = _history.validate_limit(params)
    taken = None
    if params["lock_owner"] is not None:
        taken = _lock.acquire_lock(params["state_dir"], params["app"], params["lock_owner"], params["lock_ttl"],
                                   params["lock_wait"], driver.module.check_mode, params["lock_controller"])
    try:
        driver.connect()
        result = dict(driver.read(limit), changed=False, app=params["app"])
    except BaseException:
        # A read that fails leaves no lock behind that it took itself.
        if taken is not None and taken["changed"] and not driver.module.check_mode:
            _lock.release_lock(params["state_dir"], params["app"], params["lock_owner"])
        raise
    for problem in result["problems"]:
        driver.module.warn(problem)
    return result


def fail(module: AnsibleModule, message: str, fields: dict, driver: Router) -> None:
    """Fail the module with the message, what the error carries, and what every failure of the router carries."""
    module.fail_json(msg=message, **dict(driver.failure_fields(), **fields))

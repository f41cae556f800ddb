# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The per-app release history: one record schema for every router, one reader, one limit.

PRIVATE to the bluegreen.core collection: may change without notice.

Each router host (or, for an API router, the host that calls the API) keeps
``<state_dir>/<app>/history.jsonl``, append-only, one JSON object per line. Every router writes the
same record (docs/architecture.md, "The history"):

  time, app, router, action, result, actor, reason    who did what, when, with what outcome
  from           the colour that had all the live traffic before, or null when it was split
  to             the colour the change routes to (the one a request named), or, for a change given only
                 as weights, the colour that has all the traffic after it; null while it is split
  weight         the percent of the live traffic ``to`` has after the change (null without ``to``)
  weights        the percent of the live traffic each colour has after the change {blue, green}
  from_weights   the same before the change (null when the router could not tell)
  versions       the release each colour ran {blue, green}
  error          why a failed change failed (only with result failed)
plus what the router adds about itself (HAProxy cutover_ms, Nginx reload_s, the ALB listener, the
Route 53 record). Records written before this schema (Nginx's ``weight`` only, the AWS routers'
``previous_weights``) are read into it.
"""

from __future__ import annotations

import datetime
import json
import os

from ansible_collections.bluegreen.core.plugins.module_utils import _fs, _validate
from ansible_collections.bluegreen.core.plugins.module_utils._errors import BluegreenError

DEFAULT_STATE_DIR = "/var/lib/bluegreen"
# The newest records an info module (or a read) returns unless asked for another number.
HISTORY_LIMIT = 20
# What a traffic module's change is: a switch; a release (a switch to a release the same run deployed and smoke-tested);
# a rollback (back to the previous colour, by hand); an auto-rollback (back to the colour that was live, by the watch).
ACTIONS = ("switch", "release", "rollback", "auto-rollback")
# What the outcome module records about a release that no change of the router shows (docs/architecture.md): its smoke
# test, and its database migration (with the host it ran on, its exit status, its time and its output's last lines).
VERDICTS = ("smoke-test", "migrate")
# What a verdict record may carry beside the schema's keys, and the longest output it keeps.
VERDICT_DETAILS = ("host", "rc", "seconds", "output")
OUTPUT_MAX = 8000
ACTOR_MAX = 200
REASON_MAX = 1000

# The options every traffic module takes to describe the change in the history (doc fragment bluegreen.core.history).
OPTIONS = {
    "state_dir": {"type": "path", "default": DEFAULT_STATE_DIR},
    "history": {"type": "bool", "default": True},
    "versions": {"type": "dict", "options": {"blue": {"type": "str"}, "green": {"type": "str"}}},
    "actor": {"type": "str"},
    "action": {"type": "str", "default": "switch", "choices": list(ACTIONS)},
    "reason": {"type": "str"},
}
# The options every info module (and an AWS traffic module's read) takes (doc fragment bluegreen.core.history.read).
READ_OPTIONS = {
    "state_dir": {"type": "path", "default": DEFAULT_STATE_DIR},
    "history_limit": {"type": "int", "default": HISTORY_LIMIT},
}


class RollbackRefused(BluegreenError):
    """There is no colour to roll back to, or it no longer holds the release it ran when it was live."""


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def app_dir(state_dir: str, app: str) -> str:
    return os.path.join(state_dir, app)


def history_path(state_dir: str, app: str) -> str:
    return os.path.join(app_dir(state_dir, app), "history.jsonl")


# --------------------------------------------------------------------------- inputs


def default_actor(environ: dict | None = None) -> str:
    """Who runs this, as far as the module's own environment on the router host can tell."""
    environ = os.environ if environ is None else environ
    for variable, template in (("BLUEGREEN_ACTOR", "{}"), ("AWX_JOB_ID", "awx job {}"), ("TOWER_JOB_ID", "tower job {}"),
                               ("SUDO_USER", "{}"), ("USER", "{}"), ("LOGNAME", "{}")):
        value = environ.get(variable)
        if value:
            cleaned = "".join(ch for ch in value if ch.isprintable())[:ACTOR_MAX]
            if cleaned:
                return template.format(cleaned)[:ACTOR_MAX]
    return f"uid {os.getuid()}"


def validated(params: dict) -> dict:
    """The history options of a traffic module (OPTIONS), checked: versions, actor and reason."""
    actor = params.get("actor")
    reason = params.get("reason")
    return {
        "versions": _validate.colour_strings(params.get("versions"), "versions", _validate.version),
        "actor": default_actor() if actor is None else _validate.text(actor, "actor", ACTOR_MAX),
        "reason": None if reason is None else _validate.text(reason, "reason", REASON_MAX),
    }


def validate_limit(params: dict) -> int:
    return _validate.at_least(params["history_limit"], 0, "history_limit", " records")


# --------------------------------------------------------------------------- weights


def shares(weights: dict | None) -> dict | None:
    """Weights as whole percents of the live traffic ({blue: 1, green: 0} is {blue: 100, green: 0}); None if none."""
    if not isinstance(weights, dict):
        return None
    try:
        values = {c: int(weights[c]) for c in _validate.COLOURS}
    except (KeyError, TypeError, ValueError):
        return None
    total = sum(values.values())
    if total <= 0 or min(values.values()) < 0:
        return None
    green = round(100 * values["green"] / total)
    if values["blue"] and values["green"]:
        green = min(99, max(1, green))  # a split stays a split, however uneven
    return {"blue": 100 - green, "green": green}


def full(colour: str | None) -> dict | None:
    """All the live traffic to ``colour``."""
    return None if colour not in _validate.COLOURS else {c: 100 if c == colour else 0 for c in _validate.COLOURS}


def live_colour(weights: dict | None) -> str | None:
    """The colour with all the live traffic, or None while it is split (or unknown)."""
    split = shares(weights)
    return next((c for c in _validate.COLOURS if split and split[c] == 100), None)


def describe(weights: dict | None) -> str:
    split = shares(weights)
    if split is None:
        return "no known split"
    colour = live_colour(split)
    return colour if colour else f"split blue {split['blue']}% / green {split['green']}%"


# --------------------------------------------------------------------------- records


def entry(*, router: str, action: str, target: str | None, weights: dict, from_weights: dict | None, versions: dict,
          actor: str, reason: str | None, result: str, error: str | None = None, **details: object) -> dict:
    """One history record in the schema above; ``target`` is the colour the request named, if it named one."""
    after = shares(weights)
    to = target if target in _validate.COLOURS else live_colour(after)
    record = {
        "action": action,
        "from": live_colour(from_weights),
        "to": to,
        "weight": after[to] if to and after else None,
        "weights": after,
        "from_weights": shares(from_weights),
        "versions": versions,
        "actor": actor,
        "reason": reason,
        "result": result,
        "router": router,
    }
    record.update(details)
    if error is not None:
        record["error"] = error
    return record


def verdict(*, check: str, colour: str, version: str | None, result: str, reason: str | None, actor: str,
            router: str | None, details: dict | None = None) -> dict:
    """The record of a check of one colour's release that moved no traffic (the outcome module): the schema's keys,
    with no split, the colour in ``colour``, why it failed in ``error``, and the ``details`` of VERDICT_DETAILS given."""
    record = {
        "action": check,
        "colour": colour,
        "from": None,
        "to": None,
        "weight": None,
        "weights": None,
        "from_weights": None,
        "versions": {c: version if c == colour else None for c in _validate.COLOURS},
        "actor": actor,
        "reason": None if result == "failed" else reason,
        "result": result,
        "router": router,
    }
    if result == "failed":
        record["error"] = reason or "failed"
    record.update({key: value for key, value in (details or {}).items() if key in VERDICT_DETAILS})
    return record


def normalised(record: dict) -> dict:
    """A record as the schema has it, whatever the version that wrote it (the AWS routers' ``previous_weights`` is
    ``from_weights``; a record with no ``weight`` gave ``to`` all the traffic)."""
    if "from_weights" not in record and "previous_weights" in record:
        record = dict(record, from_weights=shares(record["previous_weights"]))
        del record["previous_weights"]
    return record


def weights_after(record: dict) -> dict | None:
    """The split a record left behind."""
    recorded = shares(record.get("weights"))
    if recorded is not None:
        return recorded
    to, weight = record.get("to"), record.get("weight")
    if to not in _validate.COLOURS:
        return None
    share = weight if isinstance(weight, int) and 0 <= weight <= 100 else 100
    return {c: share if c == to else 100 - share for c in _validate.COLOURS}


def append(state_dir: str, app: str, record: dict) -> dict:
    """Append one record; returns it with its time and app filled in."""
    line_record = {"time": utc_now(), "app": app}
    line_record.update(record)
    directory = app_dir(state_dir, app)
    os.makedirs(directory, mode=0o750, exist_ok=True)
    line = json.dumps(line_record, sort_keys=True, separators=(",", ":")) + "\n"
    # O_APPEND writes of one short line are atomic with respect to other appenders.
    fd = os.open(history_path(state_dir, app), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return line_record


def read(state_dir: str, app: str, limit: int | None = None) -> tuple[list, list]:
    """Return (records oldest first, problems). A damaged line is reported, never skipped silently."""
    path = history_path(state_dir, app)
    text = _fs.read_text(path)
    records: list = []
    problems: list = []
    if text is None:
        return records, problems
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            problems.append(f"{path} line {number} is not JSON: {exc}")
            continue
        if not isinstance(record, dict):
            problems.append(f"{path} line {number} is not an object")
            continue
        records.append(normalised(record))
    if limit is not None and limit >= 0:
        records = records[-limit:] if limit else []
    return records, problems


# --------------------------------------------------------------------------- what the records say


def last_switch(records: list) -> dict | None:
    """The newest record that moved all the live traffic to another colour."""
    for record in reversed(records):
        if (record.get("result") == "ok" and record.get("to") and record.get("from") != record.get("to")
                and record.get("weight") in (100, None)):
            return record
    return None


def previous_colour(records: list, live: str | None) -> str | None:
    """The colour that was live before the newest successful switch to the live colour: where a rollback goes.

    A switch in weighted steps leaves records whose ``from`` is null (the traffic was split); the
    colour that was live before it is the ``from`` of the step that began the split. A split that began from the
    live colour and came back to it (a step switched back by the watch) goes back to the colour the step gave a share.
    """
    if live is None:
        return None
    arrived = False
    for record in reversed(records):
        if record.get("result") != "ok":
            continue
        if not arrived:
            if record.get("to") != live or record.get("from") == live:
                continue
            arrived = True
        source = record.get("from")
        if source is None:
            continue  # a step of a split: the colour live before it is further back
        if source == live:
            target = record.get("to")
            return target if target in _validate.COLOURS and target != live else None
        return source if source in _validate.COLOURS else None
    return None


def rollback_target(records: list, live: str | None, versions: dict, force: bool) -> str:
    """The colour a rollback goes to, checked against the versions its hosts hold now (``versions``, from the
    app hosts; None where unknown). Raise RollbackRefused, saying why and what to do, when there is none or when
    it no longer holds the release it ran when it was live (unless ``force``)."""
    if live is None:
        raise RollbackRefused("the router sends the live traffic to no single colour now (a ramp in weighted steps that did "
                              "not finish), so there is no previous one; name the colour that gets all of it instead "
                              "(colour=blue or green; bluegreen.core.switch with bluegreen_switch_to=blue or green in the roles)")
    target = previous_colour(records, live)
    stays = f"{live} stays live."
    if target is None:
        raise RollbackRefused(
            "the history records no earlier switch to go back to; name the colour instead (colour=blue or green; "
            f"bluegreen_switch_to=blue or green in the roles). {stays}")
    now = versions.get(target)
    if now is None and any(versions.values()) and not force:
        raise RollbackRefused(f"{target} has no release on the app hosts; deploy one first. {stays}")
    was = ((last_switch(records) or {}).get("versions") or {}).get(target)
    if was is not None and now is not None and was != now and not force:
        raise RollbackRefused(
            f"not rolling back to {target}: it ran {was} when it was live, but now holds {now}. Deploy {was} to it "
            "first (bluegreen.core.deploy), or pass force=true (bluegreen_force=true in the roles) to route to what it "
            f"holds now. {stays}")
    return target


# --------------------------------------------------------------------------- release outcomes

# What a colour's release did last. The failures: nothing routes live traffic to such a release again unless forced.
LIVE = "live"
REPLACED = "replaced"
SMOKE_TESTED = "passed its smoke test"
FAILED_OUTCOMES = {
    "auto-rollback": "switched back by the watch",
    "rollback": "rolled back",
    "smoke-test": "failed its smoke test",
    "migrate": "failed its migration",
}


class ReleaseFailed(BluegreenError):
    """The colour a change would send live traffic to holds a release whose last outcome was a failure."""


def _outcome(record: dict, colour: str, outcome: str, failed: bool) -> dict:
    return {
        "version": (record.get("versions") or {}).get(colour),
        "outcome": outcome,
        "failed": failed,
        "time": record.get("time"),
        "actor": record.get("actor"),
        # Why, for a failure only: the reason of the switch back that made the other colour live is not this one's.
        "reason": (record.get("error") or record.get("reason")) if failed else None,
    }


def outcomes(records: list) -> dict:
    """What each colour's release did last, from the records oldest first: {colour: {version, outcome, failed, time,
    actor, reason}}, a colour with no record left out. A colour that takes live traffic is live (with its share
    while split); a rollback or the watch's switch back marks the colour it left as failed; a colour a normal switch
    left is replaced; the outcome module's smoke-test records mark the colour they name."""
    return _outcomes(records)[0]


def _outcomes(records: list) -> tuple:
    """outcomes(), and beside it the last outcome of each release a colour had: {(colour, version): outcome}."""
    found: dict = {}
    of_release: dict = {}
    for record in records:
        action = record.get("action") or "switch"
        if action in VERDICTS:
            colour = record.get("colour")
            failed = record.get("result") != "ok"
            # A migration that worked says nothing of the release yet: its smoke test does.
            if colour in _validate.COLOURS and (failed or action == "smoke-test"):
                found[colour] = _outcome(record, colour, FAILED_OUTCOMES[action] if failed else SMOKE_TESTED, failed)
                of_release[(colour, found[colour]["version"])] = found[colour]
            continue
        after = weights_after(record)
        if record.get("result") != "ok" or after is None:
            continue
        before = shares(record.get("from_weights")) or {}
        for colour in _validate.COLOURS:
            share = after[colour]
            had = before.get(colour, 0) > 0 or (colour in found and found[colour]["outcome"].startswith(LIVE))
            if action in ("rollback", "auto-rollback") and record.get("to") == _validate.other_colour(colour) and share == 0:
                found[colour] = _outcome(record, colour, FAILED_OUTCOMES[action], True)
            elif share:
                found[colour] = _outcome(record, colour, LIVE if share == 100 else f"{LIVE} with {share}% of the traffic", False)
            elif had:
                found[colour] = _outcome(record, colour, REPLACED, False)
            else:
                continue
            of_release[(colour, found[colour]["version"])] = found[colour]
    return found, of_release


def outcome_of_release(outcome: dict | None, version: str | None) -> dict | None:
    """The colour's outcome if it is of the release the colour holds now (``version``), else None: an outcome recorded
    with no version (an older record, or a colour whose release was not known) is taken for the current release."""
    return outcome if outcome and outcome.get("version") in (None, version) else None


def describe_outcome(outcome: dict) -> str:
    """One colour's outcome as words of a sentence: "2.0.0 was switched back by the watch at <time> (why)"."""
    said = outcome["outcome"]
    if said.startswith(LIVE):
        said = f"is {said} since"
    elif said.startswith(("failed", "passed")):
        said = f"{said} at"
    else:
        said = f"was {said} at"
    reason = f" ({outcome['reason']})" if outcome.get("reason") else ""
    return f"{outcome.get('version') or '(version unknown)'} {said} {outcome.get('time') or 'an unknown time'}{reason}"


def describe_record(record: dict) -> str:
    """One history record in a line: when, what, from where to where, the result and who."""
    action = record.get("action") or "switch"
    if action in VERDICTS:
        version = (record.get("versions") or {}).get(record.get("colour"))
        where = f" on {record['host']}" if record.get("host") else ""
        what = f"{action} of {record.get('colour')} ({version or 'version unknown'}){where}"
    else:
        weight = record.get("weight")
        share = f" {weight}%" if isinstance(weight, int) and weight != 100 else ""
        what = f"{action} {record.get('from') or 'a split'} -> {record.get('to') or 'a split'}{share}"
    why = record.get("error") or record.get("reason")
    return (f"{record.get('time')} {what} {record.get('result') or '?'} by {record.get('actor') or '?'}"
            + (f": {why}" if why else ""))


def check_outcome(records: list, colour: str, holds: str | None) -> None:
    """Raise ReleaseFailed when live traffic must not go to ``colour``: the last outcome of the release it holds
    (``holds``, from the app hosts; None when unknown) was a failure. A colour that holds another release than the
    one that failed is not refused. What counts is the last outcome of the release the colour holds: a newer record
    of another release (a migration that failed before the colour took that release, say) does not clear it."""
    last, of_release = _outcomes(records)
    outcome = last.get(colour)
    if holds is not None and outcome and outcome.get("version") not in (None, holds):
        outcome = of_release.get((colour, holds))
    if not outcome or not outcome["failed"]:
        return
    failed = outcome.get("version")
    if holds is not None and failed is not None and holds != failed:
        return
    if holds is None:
        unknown = (" The call did not say which release it holds now (versions), so it is taken to be the same one."
                   if failed is not None else "")
    else:
        unknown = "" if failed is not None else " The history does not say which release that was, so it is taken to be this one."
    raise ReleaseFailed(
        f"not routing live traffic to {colour}: its release {describe_outcome(outcome)}.{unknown} Deploy a fixed release "
        "(bluegreen.core.release), or pass force=true (bluegreen_force=true in the roles) to route to it anyway.",
        param="colour")


def report(state_dir: str, app: str, weights: dict | None, where: str, limit: int,
           mismatch: str = "sent {sent}, but {where} routes live traffic to {now}") -> dict:
    """What the history says beside the split the router reports (``weights``, read from ``where``): the newest
    ``limit`` records, the last switch, the colour a rollback goes to, each colour's release outcome, and the problems (damaged lines, a router
    whose split is not the one the newest change recorded: changed outside this collection, or undone). ``mismatch``
    words that problem in the router's terms, from {to}, {sent}, {where} and {now}."""
    records, problems = read(state_dir, app)
    applied = next((r for r in reversed(records) if r.get("result") == "ok" and weights_after(r) is not None), None)
    now = shares(weights)
    if applied is not None and now is not None and weights_after(applied) != now:
        to = applied.get("to")
        sent = f"{weights_after(applied)[to]}% to {to}" if to in _validate.COLOURS else describe(weights_after(applied))
        said = mismatch.format(to=applied.get("to"), sent=sent, where=where, now=describe(now))
        problems.append(f"the last recorded switch of {app} ({applied.get('time')}, by {applied.get('actor')}) {said}: "
                        "it was changed outside bluegreen.core, or undone")
    live = live_colour(now)
    return {
        "history": records[-limit:] if limit else [],
        "last_switch": last_switch(records),
        "previous_colour": previous_colour(records, live),
        "outcomes": outcomes(records),
        "problems": problems,
    }

# -*- coding: utf-8 -*-
# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""AWS connection, ALB forward-action and Route 53 weighted-record helpers for the AWS routers.

PRIVATE to the bluegreen.core collection: may change without notice.

Plain boto3 (no amazon.aws dependency). The import is guarded: without boto3 the modules
load, document themselves and fail with ``missing_required_lib('boto3')``.

Neither moto nor botocore checks the ranges below (weights, target group ARNs), so
everything is validated here before any AWS call (research/switch_mechanics.md, 3.3).
"""

from __future__ import annotations

import calendar
import copy
import importlib
import importlib.util
import re
import time

from ansible_collections.bluegreen.core.plugins.module_utils import _history, _validate
from ansible_collections.bluegreen.core.plugins.module_utils._errors import BluegreenError

# boto3 is imported by the first Connection, not here: importing it costs about 0.15 s in every process that does,
# and a module that fails on its inputs, or the documentation, needs none of it.
HAS_BOTO3 = all(importlib.util.find_spec(name) is not None for name in ("boto3", "botocore"))
BOTO3_IMPORT_ERROR = None if HAS_BOTO3 else "No module named 'boto3' (or 'botocore') on the host the module runs on"

ALB_MAX_WEIGHT = 999
ROUTE53_MAX_WEIGHT = 255
# Full traffic for a colour set by `colour:`; the other colour gets 0.
FULL_WEIGHT = 100
POLL_INTERVAL = 5.0
STICKINESS_MAX_SECONDS = 604800
# Bounded network waits: a dead endpoint fails the task instead of hanging it.
CONNECT_TIMEOUT = 10
READ_TIMEOUT = 30
MAX_ATTEMPTS = 4

NO_CREDENTIALS = (
    "no AWS credentials found: set access_key and secret_key (and session_token for temporary credentials), "
    "or profile, or the environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN) "
    "or AWS_PROFILE, or run where an instance or container role provides them"
)
_DENIED_CODES = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation")
# IAM action prefixes of the services whose signing name differs from it.
IAM_PREFIXES = {"monitoring": "cloudwatch"}


class AwsError(BluegreenError):
    """An AWS call or its inputs failed; ``param`` names the module option at fault, ``code`` is AWS's error code."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message, param)
        self.code = code


# --------------------------------------------------------------------------- connection


def argument_spec() -> dict:
    """Connection options, named and aliased as amazon.aws names them."""
    return {
        "region": {"type": "str", "aliases": ["aws_region", "ec2_region"]},
        "profile": {"type": "str", "aliases": ["aws_profile"]},
        "access_key": {"type": "str", "aliases": ["aws_access_key_id", "aws_access_key"], "no_log": True},
        "secret_key": {"type": "str", "aliases": ["aws_secret_access_key", "aws_secret_key"], "no_log": True},
        "session_token": {"type": "str", "aliases": ["aws_session_token", "security_token"], "no_log": True},
        "endpoint_url": {"type": "str", "aliases": ["aws_endpoint_url", "ec2_url"]},
    }


# For AnsibleModule(..., **MODULE_CONSTRAINTS) together with argument_spec().
MODULE_CONSTRAINTS = {
    "required_together": [["access_key", "secret_key"]],
    "mutually_exclusive": [["profile", "access_key"], ["profile", "session_token"]],
    "required_by": {"session_token": ["access_key", "secret_key"]},
}

_ENDPOINT_RE = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+(?::[0-9]{1,5})?/?$")
_REGION_RE = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}$")


class Connection:
    """A boto3 session whose credentials were found before any call, and a log of the calls made.

    ``calls`` lists every API call as its IAM action (``elasticloadbalancing:ModifyListener``),
    in order, failed ones included: the modules return it as ``api_calls``.
    """

    def __init__(self, params: dict) -> None:
        self.params = params
        self.calls: list = []
        self.boto3 = importlib.import_module("boto3")
        self.config = importlib.import_module("botocore.config")
        self.exceptions = importlib.import_module("botocore.exceptions")
        self.xform_name = importlib.import_module("botocore").xform_name
        self.errors = (self.exceptions.BotoCoreError, self.exceptions.ClientError)
        self._secrets = [v for v in (params.get("access_key"), params.get("secret_key"), params.get("session_token")) if v]
        endpoint = params.get("endpoint_url")
        if endpoint is not None and not _ENDPOINT_RE.fullmatch(endpoint):
            raise AwsError(f"endpoint_url must be http(s)://host[:port], got {endpoint!r}", param="endpoint_url")
        region = params.get("region")
        if region is not None and not _REGION_RE.fullmatch(region):
            raise AwsError(f"region must be an AWS region name such as eu-west-1, got {region!r}", param="region")
        self.session = self._session()

    def redact(self, text: object) -> str:
        """Never let a secret reach a message, even if an AWS library put it there."""
        text = str(text)
        for secret in self._secrets:
            text = text.replace(secret, "********")
        return text

    def _session(self) -> object:
        params = self.params
        try:
            session = self.boto3.session.Session(
                aws_access_key_id=params.get("access_key"),
                aws_secret_access_key=params.get("secret_key"),
                aws_session_token=params.get("session_token"),
                profile_name=params.get("profile"),
                region_name=params.get("region"),
            )
        except self.exceptions.ProfileNotFound:
            raise AwsError(
                f"profile {params.get('profile')!r} is not in the AWS config files (~/.aws/config, ~/.aws/credentials "
                "or AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE)", param="profile",
            ) from None
        try:
            credentials = session.get_credentials()
        except self.errors as exc:
            raise AwsError(f"could not load AWS credentials: {self.redact(exc)}") from None
        if credentials is None:
            raise AwsError(NO_CREDENTIALS)
        return session

    def client(self, service: str, region: str | None = None) -> object:
        """A client for ``service``; ``region`` (from an ARN) wins over the session's default."""
        region = region or self.params.get("region") or self.session.region_name
        if region is None and service == "route53":
            region = "us-east-1"  # Route 53 is global; its requests are signed for us-east-1.
        if region is None:
            raise AwsError("no AWS region: set region, or AWS_REGION / AWS_DEFAULT_REGION", param="region")
        config = self.config.Config(
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
            user_agent_extra="bluegreen.core",
        )
        try:
            return self.session.client(service, region_name=region, endpoint_url=self.params.get("endpoint_url"), config=config)
        except (ValueError, *self.errors) as exc:
            raise AwsError(f"could not create the AWS {service} client: {self.redact(exc)}") from None

    def call(self, client: object, operation: str, **kwargs: object) -> dict:
        """Call ``operation`` (PascalCase, as in the API reference); errors become AwsError."""
        signing_name = client.meta.service_model.signing_name  # type: ignore[attr-defined]
        action = f"{IAM_PREFIXES.get(signing_name, signing_name)}:{operation}"
        self.calls.append(action)
        try:
            return getattr(client, self.xform_name(operation))(**kwargs)
        except self.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "Unknown"))
            message = self.redact(error.get("Message", exc))
            if code in _DENIED_CODES:
                raise AwsError(
                    f"AWS denied {action} ({code}: {message}); the IAM policy of these credentials needs that action "
                    "(the module's notes list every action it uses)", code=code,
                ) from None
            raise AwsError(f"{action} failed: {code}: {message}", code=code) from None
        except self.exceptions.BotoCoreError as exc:
            raise AwsError(f"{action} failed: {self.redact(exc)}") from None


def wait_until(check: object, timeout: float, interval: float | None = None) -> tuple:
    """Call ``check()`` until it returns (True, value) or ``timeout`` seconds pass; at least once.

    Returns (done, last value, seconds waited). Never sleeps past the deadline.
    """
    interval = POLL_INTERVAL if interval is None else interval
    started = time.monotonic()
    deadline = started + max(0.0, timeout)
    while True:
        done, value = check()  # type: ignore[operator]
        remaining = deadline - time.monotonic()
        if done or remaining <= 0:
            return done, value, round(time.monotonic() - started, 3)
        time.sleep(min(interval, remaining))


# --------------------------------------------------------------------------- weights


def colour_weights(colour: str, full: int = FULL_WEIGHT) -> dict:
    """All traffic to ``colour``: ``green`` is {blue: 0, green: 100}."""
    _validate.colour(colour)
    return {c: (full if c == colour else 0) for c in _validate.COLOURS}


def desired_weights(params: dict, maximum: int) -> dict | None:
    """The weights asked for, or None when neither weights nor a colour is given (the module only reads) or the
    colour is ``previous`` (the history says which)."""
    if params.get("weights") is not None:
        return _validate.weights(params["weights"], "weights", maximum)
    if params.get("colour") in (None, "previous"):
        return None
    return colour_weights(_validate.colour(params["colour"]))


# The colour with all the weight, or None when traffic is split (or nothing gets any).
live_colour = _history.live_colour


def same_split(current: dict | None, desired: dict) -> bool:
    """Whether both send the same share of traffic to each colour ({blue: 0, green: 1} == {blue: 0, green: 100}).

    A current set with no weight at all is never the same: Route 53 then answers with every
    record, an ALB cannot have it.
    """
    if not current:
        return False
    current_total = current["blue"] + current["green"]
    desired_total = desired["blue"] + desired["green"]
    if current_total == 0 or desired_total == 0:
        return False
    return current["blue"] * desired_total == desired["blue"] * current_total


# --------------------------------------------------------------------------- ALB: ARNs

_PARTITION = r"(?P<partition>aws(?:-[a-z]+)*)"
_ARN_PREFIX = _PARTITION + r":elasticloadbalancing:(?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}):(?P<account>[0-9]{12})"
_LB_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?"
_ID = r"[0-9a-f]{1,32}"
_ARN_RES = {
    "listener": re.compile(rf"^arn:{_ARN_PREFIX}:listener/(?P<listener>app/{_LB_NAME}/{_ID}/{_ID})$"),
    "rule": re.compile(rf"^arn:{_ARN_PREFIX}:listener-rule/(?P<listener>app/{_LB_NAME}/{_ID}/{_ID})/{_ID}$"),
    "target_group": re.compile(rf"^arn:{_ARN_PREFIX}:targetgroup/{_LB_NAME}/{_ID}$"),
}
_ARN_FORMATS = {
    "listener": "arn:aws:elasticloadbalancing:<region>:<12-digit account>:listener/app/<load balancer name>/<id>/<id>",
    "rule": "arn:aws:elasticloadbalancing:<region>:<12-digit account>:listener-rule/app/<load balancer name>/<id>/<id>/<id>",
    "target_group": "arn:aws:elasticloadbalancing:<region>:<12-digit account>:targetgroup/<name>/<hex id>",
}


def parse_arn(value: object, kind: str, param: str) -> dict:
    """Split an Application Load Balancer listener, listener-rule or target group ARN, or fail naming ``param``."""
    match = _ARN_RES[kind].fullmatch(value) if isinstance(value, str) else None
    if match is None:
        hint = ""
        if isinstance(value, str) and (":listener/net/" in value or ":listener-rule/net/" in value):
            hint = " (a Network Load Balancer's; only Application Load Balancers split traffic by weight)"
        raise _validate.ValidationError(f"{param} {value!r} is not a valid ARN{hint}: expected {_ARN_FORMATS[kind]}", param)
    return match.groupdict()


def validate_alb_params(params: dict) -> dict:
    """Check every ALB input before any AWS call; each error names its parameter."""
    listener = parse_arn(params["listener_arn"], "listener", "listener_arn")
    if params.get("rule_arn") is not None:
        rule = parse_arn(params["rule_arn"], "rule", "rule_arn")
        if (rule["partition"], rule["region"], rule["account"], rule["listener"]) != (
            listener["partition"], listener["region"], listener["account"], listener["listener"],
        ):
            raise _validate.ValidationError(f"rule_arn {params['rule_arn']!r} is not a rule of listener_arn {params['listener_arn']!r}", "rule_arn")
    groups = params.get("target_groups") or {}
    if not isinstance(groups, dict) or set(groups) != set(_validate.COLOURS):
        raise _validate.ValidationError(f"target_groups must be a dict with exactly the keys blue and green, got {groups!r}", "target_groups")
    for colour in _validate.COLOURS:
        parsed = parse_arn(groups[colour], "target_group", f"target_groups.{colour}")
        if (parsed["partition"], parsed["region"]) != (listener["partition"], listener["region"]):
            raise _validate.ValidationError(
                f"target_groups.{colour} {groups[colour]!r} is in {parsed['partition']}/{parsed['region']}, "
                f"but the listener is in {listener['partition']}/{listener['region']}", f"target_groups.{colour}",
            )
    if groups["blue"] == groups["green"]:
        raise _validate.ValidationError(f"target_groups.blue and target_groups.green are the same target group {groups['blue']!r}", "target_groups")
    region = params.get("region")
    if region is not None and region != listener["region"]:
        raise _validate.ValidationError(f"region {region!r} does not match the region of listener_arn ({listener['region']})", "region")
    weights = desired_weights(params, ALB_MAX_WEIGHT)
    stickiness = desired_stickiness(params.get("stickiness"))
    if params.get("health_timeout", 0) < 0:
        raise _validate.ValidationError(f"health_timeout must be 0 or more seconds, got {params['health_timeout']}", "health_timeout")
    return {"region": listener["region"], "weights": weights, "stickiness": stickiness}


def desired_stickiness(value: dict | None) -> dict | None:
    """The TargetGroupStickinessConfig to set, or None to keep the current one."""
    if value is None:
        return None
    if not value.get("enabled"):
        return {"Enabled": False}
    seconds = value.get("duration_seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 1 <= seconds <= STICKINESS_MAX_SECONDS:
        raise _validate.ValidationError(
            f"stickiness.duration_seconds must be 1 to {STICKINESS_MAX_SECONDS} seconds when stickiness.enabled is true, got {seconds!r}",
            "stickiness.duration_seconds",
        )
    return {"Enabled": True, "DurationSeconds": seconds}


# --------------------------------------------------------------------------- ALB: actions


def forward_index(actions: list, where: str) -> int:
    """The position of the one forward action in a listener's or rule's actions."""
    forwards = [i for i, action in enumerate(actions) if action.get("Type") == "forward"]
    if not forwards:
        kinds = ", ".join(str(a.get("Type")) for a in actions) or "no actions at all"
        raise AwsError(f"{where} has no forward action; it has: {kinds}. Point it at a target group first")
    if len(forwards) > 1:
        raise AwsError(f"{where} has {len(forwards)} forward actions; the module changes exactly one")
    return forwards[0]


def forward_groups(action: dict) -> list:
    """(target group ARN, weight) pairs of a forward action; a bare TargetGroupArn is that group with weight 1."""
    tuples = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
    if tuples:
        return [(t["TargetGroupArn"], int(t.get("Weight", 1))) for t in tuples]
    if action.get("TargetGroupArn"):
        return [(action["TargetGroupArn"], 1)]
    return []


def current_weights(action: dict, target_groups: dict, where: str) -> dict:
    """The colours' weights in a forward action. A group that is not blue or green stops the module:
    replacing the action would drop its traffic."""
    by_arn = {arn: colour for colour, arn in target_groups.items()}
    weights = dict.fromkeys(_validate.COLOURS, 0)
    foreign = []
    for arn, weight in forward_groups(action):
        if arn in by_arn:
            weights[by_arn[arn]] += weight
        else:
            foreign.append(f"{arn} (weight {weight})")
    if foreign:
        raise AwsError(
            f"the forward action of {where} also sends traffic to {', '.join(foreign)}, which is neither target_groups.blue "
            "nor target_groups.green; the module would drop it, so it changes nothing. Remove that group first, or name it "
            "in target_groups", param="target_groups",
        )
    return weights


def current_stickiness(action: dict) -> dict:
    config = (action.get("ForwardConfig") or {}).get("TargetGroupStickinessConfig") or {}
    if config.get("Enabled"):
        return {"Enabled": True, "DurationSeconds": config.get("DurationSeconds")}
    return {"Enabled": False}


def stickiness_result(config: dict) -> dict:
    return {"enabled": bool(config.get("Enabled")), "duration_seconds": config.get("DurationSeconds") if config.get("Enabled") else None}


def rebuild_actions(actions: list, index: int, target_groups: dict, weights: dict, stickiness: dict) -> list:
    """The full action list for ModifyListener/ModifyRule (they replace the whole list): every action as it was,
    except the forward action, whose target groups become blue and green with ``weights``."""
    rebuilt = []
    for position, original in enumerate(actions):
        action = copy.deepcopy(original)
        if position == index:
            action.pop("TargetGroupArn", None)  # with two groups only ForwardConfig may name them
            action["ForwardConfig"] = {
                "TargetGroups": [{"TargetGroupArn": target_groups[c], "Weight": weights[c]} for c in _validate.COLOURS],
                "TargetGroupStickinessConfig": dict(stickiness),
            }
        else:
            oidc = action.get("AuthenticateOidcConfig")
            if oidc is not None and "ClientSecret" not in oidc:
                # Describe never returns the secret; without this flag Modify would demand it.
                oidc["UseExistingClientSecret"] = True
        rebuilt.append(action)
    return rebuilt


# --------------------------------------------------------------------------- ALB: target health


def group_health(descriptions: list) -> dict:
    """A target group's targets and whether it may take traffic: at least one target, all of them healthy."""
    targets = []
    for item in descriptions:
        target = item.get("Target") or {}
        health = item.get("TargetHealth") or {}
        targets.append({
            "id": target.get("Id"),
            "port": target.get("Port"),
            "state": health.get("State"),
            "reason": health.get("Reason"),
            "description": health.get("Description"),
        })
    healthy = bool(targets) and all(t["state"] == "healthy" for t in targets)
    return {"healthy": healthy, "targets": targets}


def describe_unhealthy(colour: str, arn: str, health: dict) -> str:
    if not health["targets"]:
        return f"{colour} ({arn}) has no registered targets"
    bad = []
    for target in health["targets"]:
        if target["state"] == "healthy":
            continue
        detail = f" ({target['reason']}: {target['description']})" if target.get("reason") else ""
        port = f":{target['port']}" if target.get("port") is not None else ""
        bad.append(f"{target['id']}{port} {target['state']}{detail}")
    return f"{colour} ({arn}) has targets that are not healthy: {'; '.join(bad)}"


# --------------------------------------------------------------------------- Route 53

# Record types that weighted routing supports (not NS or SOA).
ROUTE53_TYPES = ("A", "AAAA", "CAA", "CNAME", "DS", "HTTPS", "MX", "NAPTR", "PTR", "SPF", "SRV", "SSHFP", "SVCB", "TLSA", "TXT")
# Ids are upper-case letters and digits; AWS's start with Z, moto's need not.
_ZONE_ID_RE = re.compile(r"^(?:/hostedzone/)?(?P<id>[A-Z0-9]{1,32})$")
_DNS_NAME_RE = re.compile(r"^(?:\*\.)?(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.$")
_OCTAL_ESCAPE_RE = re.compile(r"\\([0-7]{3})")


def zone_id(value: object) -> str:
    match = _ZONE_ID_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise _validate.ValidationError(f"zone_id must be a hosted zone id such as Z0123456789ABCDEFGHIJ, got {value!r}", "zone_id")
    return match.group("id")


def dns_name(value: object, param: str) -> str:
    """A fully qualified name, lower case, with its final dot, as Route 53 lists it."""
    if not isinstance(value, str):
        raise _validate.ValidationError(f"{param} must be a DNS name, got {value!r}", param)
    name = value.strip().lower()
    name = name if name.endswith(".") else name + "."
    if len(name) > 255 or not _DNS_NAME_RE.fullmatch(name):
        raise _validate.ValidationError(
            f"{param} {value!r} is not a valid DNS name (letters, digits, '-' and '_' in dot-separated labels, an optional leading '*.')", param,
        )
    return name


def listed_name(value: str) -> str:
    """A name as Route 53 returns it (octal escapes such as \\052 for '*'), in the form dns_name() gives."""
    name = _OCTAL_ESCAPE_RE.sub(lambda m: chr(int(m.group(1), 8)), value).lower()
    return name if name.endswith(".") else name + "."


def set_identifiers(value: dict | None) -> dict:
    identifiers = {c: c for c in _validate.COLOURS}
    identifiers.update({c: v for c, v in (value or {}).items() if v is not None})
    for colour in _validate.COLOURS:
        ident = identifiers[colour]
        if not isinstance(ident, str) or not 1 <= len(ident) <= 128 or not ident.isprintable():
            raise _validate.ValidationError(f"set_identifiers.{colour} must be 1 to 128 printable characters, got {ident!r}", f"set_identifiers.{colour}")
    if identifiers["blue"] == identifiers["green"]:
        raise _validate.ValidationError(f"set_identifiers.blue and set_identifiers.green are both {identifiers['blue']!r}", "set_identifiers")
    return identifiers


def validate_route53_params(params: dict) -> dict:
    """Check every Route 53 input before any AWS call; each error names its parameter."""
    inputs = {
        "zone_id": zone_id(params["zone_id"]) if params.get("zone_id") is not None else None,
        "zone": dns_name(params["zone"], "zone") if params.get("zone") is not None else None,
        "name": dns_name(params["name"], "name"),
        "type": params["type"],
        "set_identifiers": set_identifiers(params.get("set_identifiers")),
        "weights": desired_weights(params, ROUTE53_MAX_WEIGHT),
    }
    if inputs["type"] not in ROUTE53_TYPES:
        raise _validate.ValidationError(f"type must be one of {', '.join(ROUTE53_TYPES)}, got {inputs['type']!r}", "type")
    if inputs["zone"] is not None:
        check_in_zone(inputs["name"], inputs["zone"])
    if params.get("wait_timeout", 0) < 0:
        raise _validate.ValidationError(f"wait_timeout must be 0 or more seconds, got {params['wait_timeout']}", "wait_timeout")
    return inputs


def check_in_zone(name: str, zone: str) -> None:
    if name != zone and not name.endswith("." + zone):
        raise _validate.ValidationError(f"name {name} is not in the hosted zone {zone}", "name")


def weighted_records(record_sets: list, name: str, rtype: str) -> dict:
    """SetIdentifier -> record for the weighted records of ``name``/``rtype`` among ``record_sets``."""
    found = {}
    for record in record_sets:
        if listed_name(record.get("Name", "")) == name and record.get("Type") == rtype and record.get("SetIdentifier") is not None:
            found[record["SetIdentifier"]] = record
    return found


def pick_records(found: dict, identifiers: dict, name: str, rtype: str, zone: str) -> dict:
    """Colour -> record; both must exist and be weighted records with the same TTL."""
    records = {}
    for colour in _validate.COLOURS:
        ident = identifiers[colour]
        record = found.get(ident)
        if record is None:
            others = ", ".join(sorted(found)) or "none"
            raise AwsError(
                f"hosted zone {zone} has no {rtype} record {name} with set identifier {ident!r} (set_identifiers.{colour}); "
                f"set identifiers found: {others}. Create both weighted records first: this module only changes their weights",
                param=f"set_identifiers.{colour}",
            )
        if "Weight" not in record:
            raise AwsError(
                f"the {rtype} record {name} with set identifier {ident!r} is not a weighted record (it has no Weight)",
                param=f"set_identifiers.{colour}",
            )
        records[colour] = record
    ttls = {c: record_ttl(records[c]) for c in _validate.COLOURS}
    if ttls["blue"] != ttls["green"]:
        shown = ", ".join(f"{c} ({identifiers[c]}): {'alias' if ttls[c] is None else ttls[c]}" for c in _validate.COLOURS)
        raise AwsError(
            f"the weighted {rtype} records {name} have different TTLs ({shown}); Route 53 wants one TTL for all records "
            "of a weighted set, and clients would cache one colour longer than the other. Make the TTLs equal first",
        )
    return records


def record_ttl(record: dict) -> int | None:
    """The record's TTL; None for an alias record (it takes its target's TTL)."""
    return None if "AliasTarget" in record else record.get("TTL")


def record_weights(records: dict) -> dict:
    return {c: int(records[c]["Weight"]) for c in _validate.COLOURS}


def upsert_changes(records: dict, weights: dict) -> list:
    """Two UPSERTs that copy each record exactly, changing only its Weight."""
    changes = []
    for colour in _validate.COLOURS:
        record = copy.deepcopy(records[colour])
        record["Weight"] = weights[colour]
        changes.append({"Action": "UPSERT", "ResourceRecordSet": record})
    return changes


def ttl_note(ttl: int | None, previous: dict) -> str:
    """How long the colours that served before must keep serving: cached answers still point at them."""
    serving = " and ".join(c for c in _validate.COLOURS if previous.get(c)) or "both colours"
    if ttl is None:
        return (
            "these are alias records: resolvers and clients cache the answer for the TTL of the alias target "
            f"(60 seconds for a load balancer), some longer; keep {serving} serving at least that long"
        )
    return f"resolvers and clients may keep the previous answer for the TTL of {ttl} seconds, some longer; keep {serving} serving at least that long"


# --------------------------------------------------------------------------- CloudWatch

_TIME_RE = re.compile(r"^(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})T(?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.[0-9]{1,6})?Z$")


def parse_utc(value: object, param: str) -> float:
    """Seconds since the epoch of an ISO 8601 UTC time (2025-01-01T12:00:00Z, fractions allowed)."""
    match = _TIME_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise _validate.ValidationError(f"{param} must be a UTC time such as 2025-01-01T12:00:00Z, got {value!r}", param)
    try:
        return calendar.timegm(time.strptime(f"{match.group('date')}T{match.group('time')}", "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        raise _validate.ValidationError(f"{param} {value!r} is not a real date and time", param) from None


def metric_dimensions(listener_arn: str, target_group_arn: str) -> list:
    """CloudWatch's LoadBalancer and TargetGroup dimensions of a target group behind the listener's load balancer."""
    balancer = "/".join(parse_arn(listener_arn, "listener", "listener_arn")["listener"].split("/")[:3])
    group = "targetgroup/" + target_group_arn.split(":targetgroup/", 1)[1]
    return [{"Name": "LoadBalancer", "Value": balancer}, {"Name": "TargetGroup", "Value": group}]

# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ALB router: the weights of two target groups in a listener's (or rule's) forward action (``_aws``).

PRIVATE to the bluegreen.core collection: may change without notice.
"""

from __future__ import annotations

import datetime
import time

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.bluegreen.core.plugins.module_utils import _aws, _history, _validate
from ansible_collections.bluegreen.core.plugins.module_utils._routers import base


class AwsRouter(base.Router):
    """What the AWS routers share: boto3, the connection, the API calls made, and where they live."""

    CONSTRAINTS = _aws.MODULE_CONSTRAINTS
    CHANGE_CONSTRAINTS = {"mutually_exclusive": [["colour", "weights"]]}
    conn = None

    def validate(self) -> None:
        if not _aws.HAS_BOTO3:
            self.module.fail_json(msg=missing_required_lib("boto3"), exception=_aws.BOTO3_IMPORT_ERROR)

    def requested(self) -> tuple:
        colour = self.params.get("colour")  # an info module has none: it only reads
        return colour, None if colour == "previous" else self.inputs["weights"]

    def connect(self) -> None:
        self.conn = _aws.Connection(self.params)

    def failure_fields(self) -> dict:
        return {"changed": False, "api_calls": self.conn.calls if self.conn is not None else []}


def _targets_text(health: dict) -> str:
    healthy, total = sum(t["state"] == "healthy" for t in health["targets"]), len(health["targets"])
    return f"all {total} targets healthy" if health["healthy"] else f"{healthy}/{total} targets healthy"


class AlbPlan:
    def __init__(self, colour: str | None, actions: list, index: int, previous: dict, desired: dict,
                 stickiness_before: dict, stickiness_after: dict) -> None:
        self.colour = colour
        self.actions = actions
        self.index = index
        self.from_weights = previous
        self.stickiness_before = stickiness_before
        self.stickiness_after = stickiness_after
        self.changed = not _aws.same_split(previous, desired) or stickiness_after != stickiness_before
        self.moves_live_traffic = self.changed
        self.weights = desired if self.changed else previous

    def diff(self) -> dict:
        return {
            "before": {"weights": self.from_weights, "stickiness": _aws.stickiness_result(self.stickiness_before)},
            "after": {"weights": self.weights, "stickiness": _aws.stickiness_result(self.stickiness_after)},
        }


class Alb(AwsRouter):
    KIND = "alb"
    COUNTERS = True
    OPTIONS = {
        **_aws.argument_spec(),
        "listener_arn": {"type": "str", "required": True},
        "rule_arn": {"type": "str"},
        "target_groups": {"type": "dict", "required": True, "options": {
            "blue": {"type": "str", "required": True},
            "green": {"type": "str", "required": True},
        }},
    }
    READ_OPTIONS = {"metrics_since": {"type": "str"}}
    CHANGE_OPTIONS = {
        "colour": {"type": "str", "choices": [*_validate.COLOURS, "previous"]},
        "weights": {"type": "dict", "options": {
            "blue": {"type": "int", "required": True},
            "green": {"type": "int", "required": True},
        }},
        "health_timeout": {"type": "int", "default": 60},
        "force": {"type": "bool", "default": False},
        "metrics_since": {"type": "str"},
        "stickiness": {"type": "dict", "options": {
            "enabled": {"type": "bool", "required": True},
            "duration_seconds": {"type": "int"},
        }},
        "history_limit": {"type": "int", "default": _history.HISTORY_LIMIT},
    }

    def validate(self) -> None:
        super().validate()
        params = self.params
        self.inputs = _aws.validate_alb_params(params)
        self.inputs["metrics_since"] = None
        if params["metrics_since"] is not None:
            if self.inputs["weights"] is not None or params.get("colour") is not None:
                raise _validate.ValidationError("metrics_since only goes with a read (leave colour and weights out)", "metrics_since")
            self.inputs["metrics_since"] = _aws.parse_utc(params["metrics_since"], "metrics_since")
        self.groups = dict(params["target_groups"])
        self.where = f"rule {params['rule_arn']}" if params["rule_arn"] else f"listener {params['listener_arn']}"

    def connect(self) -> None:
        super().connect()
        self.client = self.conn.client("elbv2", self.inputs["region"])
        self.watch_since: float | None = None  # when the watch's first sample was taken
        self.watch_counts: tuple | None = None  # (monotonic time asked, CloudWatch's counts then)

    # ---- the listener

    def read_actions(self) -> list:
        params = self.params
        listener_arn = params["listener_arn"]
        try:
            listeners = self.conn.call(self.client, "DescribeListeners", ListenerArns=[listener_arn])["Listeners"]
        except _aws.AwsError as exc:
            if exc.code == "ListenerNotFound":
                raise _aws.AwsError(f"listener_arn {listener_arn} does not exist (ListenerNotFound)", param="listener_arn") from None
            raise
        if not params["rule_arn"]:
            return listeners[0].get("DefaultActions") or []
        try:
            rule = self.conn.call(self.client, "DescribeRules", RuleArns=[params["rule_arn"]])["Rules"][0]
        except _aws.AwsError as exc:
            if exc.code == "RuleNotFound":
                raise _aws.AwsError(f"rule_arn {params['rule_arn']} does not exist (RuleNotFound)", param="rule_arn") from None
            raise
        if rule.get("IsDefault"):
            raise _aws.AwsError(
                f"rule_arn {params['rule_arn']} is the listener's default rule: leave rule_arn out to change the default actions",
                param="rule_arn",
            )
        return rule.get("Actions") or []

    def forward(self) -> tuple:
        """(actions, index of the forward action, weights now) after checking both target groups exist."""
        actions = self.read_actions()
        index = _aws.forward_index(actions, self.where)
        weights = _aws.current_weights(actions[index], self.groups, self.where)
        for colour in _validate.COLOURS:
            arn = self.groups[colour]
            try:
                self.conn.call(self.client, "DescribeTargetGroups", TargetGroupArns=[arn])
            except _aws.AwsError as exc:
                if exc.code == "TargetGroupNotFound":
                    raise _aws.AwsError(f"target_groups.{colour} {arn} does not exist (TargetGroupNotFound)",
                                        param=f"target_groups.{colour}") from None
                raise
        return actions, index, weights

    def read_health(self) -> dict:
        return {
            colour: _aws.group_health(
                self.conn.call(self.client, "DescribeTargetHealth", TargetGroupArn=self.groups[colour]).get("TargetHealthDescriptions") or []
            )
            for colour in _validate.COLOURS
        }

    def read_metrics(self, since: float) -> tuple:
        """({colour: {requests, http_5xx}}, None), or (None, why CloudWatch could not give them)."""
        cloudwatch = self.conn.client("cloudwatch", self.inputs["region"])
        start = since - since % 60  # ALB metrics come in whole minutes
        end = time.time()
        end += 60 - end % 60
        window = {"StartTime": datetime.datetime.fromtimestamp(start, datetime.timezone.utc),
                  "EndTime": datetime.datetime.fromtimestamp(end, datetime.timezone.utc), "Period": 60, "Statistics": ["Sum"]}
        metrics, points_seen = {}, False
        for colour in _validate.COLOURS:
            dimensions = _aws.metric_dimensions(self.params["listener_arn"], self.groups[colour])
            metrics[colour] = {}
            for key, metric in (("requests", "RequestCount"), ("http_5xx", "HTTPCode_Target_5XX_Count")):
                try:
                    answer = self.conn.call(cloudwatch, "GetMetricStatistics", Namespace="AWS/ApplicationELB", MetricName=metric,
                                            Dimensions=dimensions, **window)
                except _aws.AwsError as exc:
                    return None, f"CloudWatch could not be read: {exc}"
                points = answer.get("Datapoints") or []
                points_seen = points_seen or (key == "requests" and bool(points))
                metrics[colour][key] = int(sum(p.get("Sum", 0) for p in points))
        if not points_seen:
            return None, (
                f"CloudWatch has no RequestCount datapoints for either target group since "
                f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(start))}: an ALB publishes them only for minutes with "
                "requests, a minute or more late, and a test endpoint such as moto publishes none"
            )
        return metrics, None

    # ---- watching

    # CloudWatch gets ALB counts by the minute, a minute or more late: asked at most this often during a watch.
    CLOUDWATCH_EVERY_S = 10.0

    def sample(self, colour: str) -> dict:
        """The colour's target group health on every sample, and CloudWatch's RequestCount and HTTPCode_Target_5XX_Count
        since the watch began (counted from 0 while CloudWatch has no datapoints; refreshed every CLOUDWATCH_EVERY_S)."""
        health = _aws.group_health(self.conn.call(self.client, "DescribeTargetHealth", TargetGroupArn=self.groups[colour])
                                   .get("TargetHealthDescriptions") or [])
        now = time.monotonic()
        if self.watch_counts is None or now - self.watch_counts[0] >= self.CLOUDWATCH_EVERY_S:
            self.watch_since = self.watch_since or time.time()
            metrics, self.counts_note = self.read_metrics(self.watch_since)
            self.watch_counts = (now, (metrics or {}).get(colour) or {"requests": 0, "http_5xx": 0})
        cached = self.watch_counts
        healthy = any(target["state"] == "healthy" for target in health["targets"])
        return dict(cached[1], response_ms=None, healthy=healthy)

    # ---- reading

    def current(self) -> dict:
        return self.forward()[2]

    def read(self, limit: int) -> dict:
        """Only read: the weights, the groups' health, the history on this host and, with metrics_since, CloudWatch."""
        params = self.params
        actions, index, weights = self.forward()
        health = self.read_health()
        result = {
            "listener_arn": params["listener_arn"],
            "rule_arn": params["rule_arn"],
            "previous_weights": _history.shares(weights),
            "previous_live_colour": _aws.live_colour(weights),
            "stickiness": _aws.stickiness_result(_aws.current_stickiness(actions[index])),
            "health": health,
            "health_waited_s": 0.0,
            "api_calls": self.conn.calls,
            "note": None,
            "history_entry": None,
        }
        if self.inputs["metrics_since"] is not None:
            result["metrics"], result["metrics_problem"] = self.read_metrics(self.inputs["metrics_since"])
        stickiness = result["stickiness"]
        state = base.state(
            self,
            label=f"alb {params['listener_arn'].split(':')[-1]}" + (f" rule {params['rule_arn'].split('/')[-1]}" if params["rule_arn"] else ""),
            weights=weights,
            sources_agree=True,
            problems=[],
            says=f"weights blue {weights['blue']}, green {weights['green']}"
                 + (f", stickiness {stickiness['duration_seconds']}s" if stickiness["enabled"] else ""),
            colours={c: _targets_text(health[c]) for c in _validate.COLOURS},
            healthy={c: health[c]["healthy"] for c in _validate.COLOURS},
            counters=result.get("metrics"),
            counters_note=result.get("metrics_problem") or "no CloudWatch counts were asked for (metrics_since)",
            history=_history.report(params["state_dir"], params["app"], weights, self.where, limit),
            lock=base.read_lock(params),
        )
        return dict(result, **state)

    # ---- changing

    def plan(self, colour: str | None, weights: dict) -> AlbPlan:
        actions, index, previous = self.forward()
        before = _aws.current_stickiness(actions[index])
        return AlbPlan(colour, actions, index, previous, weights, before, self.inputs["stickiness"] or before)

    def gate(self, plan: AlbPlan) -> dict:
        """Wait for the groups that will get traffic to be healthy; refuse (changing nothing) when they stay unhealthy."""
        serving = [c for c in _validate.COLOURS if plan.weights[c] > 0]

        def check() -> tuple:
            health = self.read_health()
            return all(health[c]["healthy"] for c in serving), health

        must_wait = plan.changed and not self.params["force"]
        healthy, health, waited = _aws.wait_until(check, self.params["health_timeout"] if must_wait else 0)
        gate = {"health": health, "health_waited_s": waited}
        if healthy:
            return gate
        problems = "; ".join(_aws.describe_unhealthy(c, self.groups[c], health[c]) for c in serving if not health[c]["healthy"])
        if must_wait:
            fields = self.result(plan, gate)
            fields["changed"] = False
            raise base.Refused(
                f"refusing to give traffic to an unhealthy target group after waiting {waited}s (health_timeout): {problems}. "
                "Nothing was changed; register healthy targets, or use force=true",
                **fields,
            )
        if plan.changed:
            self.module.warn(f"changing the weights with force=true although {problems}")
        else:
            self.module.warn(f"the weights are already as asked, but {problems}")
        return gate

    def result(self, plan: AlbPlan, gate: dict) -> dict:
        sticky = plan.stickiness_after
        return {
            "changed": plan.changed,
            "colour": plan.colour or _aws.live_colour(plan.weights),
            "listener_arn": self.params["listener_arn"],
            "rule_arn": self.params["rule_arn"],
            "weights": plan.weights,
            "previous_weights": plan.from_weights,
            "live_colour": _aws.live_colour(plan.weights),
            "previous_live_colour": _aws.live_colour(plan.from_weights),
            "stickiness": _aws.stickiness_result(sticky),
            "health": gate["health"],
            "health_waited_s": gate["health_waited_s"],
            "api_calls": self.conn.calls,
            "note": (
                f"target group stickiness is on ({sticky.get('DurationSeconds')} s): clients already bound to a "
                "target group keep reaching it for that long after the switch; keep the old colour serving at least that long"
            ) if sticky.get("Enabled") and plan.changed else None,
            "history_entry": None,
        }

    def apply(self, plan: AlbPlan) -> dict:
        """Send the whole action list, then check AWS reports the weights asked for."""
        rebuilt = _aws.rebuild_actions(plan.actions, plan.index, self.groups, plan.weights, plan.stickiness_after)
        params = self.params
        try:
            if params["rule_arn"]:
                answer = self.conn.call(self.client, "ModifyRule", RuleArn=params["rule_arn"], Actions=rebuilt)
                applied = answer["Rules"][0].get("Actions") or []
            else:
                answer = self.conn.call(self.client, "ModifyListener", ListenerArn=params["listener_arn"], DefaultActions=rebuilt)
                applied = answer["Listeners"][0].get("DefaultActions") or []
        except _aws.AwsError as exc:
            raise base.SwitchFailed(str(exc), attempted=True, restored=True) from None
        got = _aws.current_weights(applied[_aws.forward_index(applied, self.where)], self.groups, self.where)
        if got != plan.weights:
            raise base.SwitchFailed(f"AWS accepted the change of {self.where}, but now reports weights {got} instead of {plan.weights}",
                                    attempted=True, restored=False, weights=got, live_colour=_aws.live_colour(got))
        return {}

    def details(self, plan: AlbPlan, result: dict) -> dict:
        return {"listener_arn": self.params["listener_arn"], "rule_arn": self.params["rule_arn"]}

#!/usr/bin/python
# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: elb_traffic
short_description: Shift an Application Load Balancer's traffic between a blue and a green target group
version_added: 0.1.0
description:
  - Sets the weights of the blue and green target groups in the forward action of an ALB listener's default
    actions, or of one of its rules (O(rule_arn)). All traffic at once with O(colour), or a share with O(weights)
    for weighted steps (for example 10, 50, then 100 percent).
  - Every other action of the listener or rule (authentication, redirects, fixed responses) and every other rule is
    kept as it is; the action list is rebuilt from what AWS reports, replacing only the forward action's target groups.
  - Refuses to give weight to a target group unless all of its registered targets are C(healthy), waiting up to
    O(health_timeout) seconds for them; a group with no targets counts as unhealthy. O(force=true) skips this gate.
  - Validates every input before the first API call, and checks that both target groups exist (the ELB API does not
    check this when a listener is modified).
  - Weights are compared as shares of traffic, so a listener that forwards to green alone (a plain C(TargetGroupArn),
    or weights 0 and 1) already matches O(colour=green) and is left alone.
  - Appends a record to the app's history on the host the module runs on for each change.
author:
  - bluegreen.core maintainers (@bluegreen)
extends_documentation_fragment:
  - bluegreen.core.aws
  - bluegreen.core.aws.history
  - bluegreen.core.state
options:
  listener_arn:
    description:
      - The ARN of the Application Load Balancer listener,
        C(arn:aws:elasticloadbalancing:<region>:<account>:listener/app/<name>/<id>/<id>).
    type: str
    required: true
  rule_arn:
    description:
      - Change the forward action of this rule of the listener instead of the listener's default actions,
        C(arn:aws:elasticloadbalancing:<region>:<account>:listener-rule/app/<name>/<id>/<id>/<id>).
      - Must be a rule of O(listener_arn), and not its default rule (leave O(rule_arn) out for that).
    type: str
  target_groups:
    description: The ARN of the target group of each colour, C(arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>).
    type: dict
    required: true
    suboptions:
      blue:
        description: Target group of the blue colour.
        type: str
        required: true
      green:
        description: Target group of the green colour.
        type: str
        required: true
  colour:
    description:
      - Send all traffic to this colour; C(green) means weights C(blue=0), C(green=100).
      - At most one of O(colour) and O(weights). Leave both out to only read; the module then reports the current
        weights, the history on the host it runs on (RV(previous_colour), RV(last_switch), RV(history), RV(problems)),
        and changes nothing.
    type: str
    choices: [blue, green]
  weights:
    description:
      - The weight of each colour's target group, whole numbers from 0 to 999, not both 0. Each gets
        weight / (sum of weights) of the requests.
      - At most one of O(colour) and O(weights). Leave both out to only read; the module then reports the current
        weights, the history on the host it runs on (RV(previous_colour), RV(last_switch), RV(history), RV(problems)),
        and changes nothing.
    type: dict
    suboptions:
      blue:
        description: Weight of the blue target group.
        type: int
        required: true
      green:
        description: Weight of the green target group.
        type: int
        required: true
  health_timeout:
    description:
      - Seconds to wait for every registered target of each group that will get a weight above 0 to be C(healthy)
        (polled with C(DescribeTargetHealth) every 5 seconds). When they pass, the module fails and changes nothing.
      - C(0) checks once, without waiting.
    type: int
    default: 60
  force:
    description:
      - Change the weights even when a group that gets traffic has no targets or unhealthy ones (a warning names them).
    type: bool
    default: false
  metrics_since:
    description:
      - With a read (no O(colour) or O(weights)), also sum each colour's C(RequestCount) and C(HTTPCode_Target_5XX_Count)
        from CloudWatch (C(AWS/ApplicationELB), per target group) from this UTC time, for example C(2025-01-01T12:00:00Z), to now.
      - CloudWatch counts whole minutes and publishes an ALB's metrics a minute or more late, so a short window may show
        nothing yet; the module then returns RV(metrics=null) and says why in RV(metrics_problem), and does not fail.
    type: str
  stickiness:
    description:
      - Target group stickiness of the forward action. Left as it is when not set.
      - While it is on, a client keeps reaching the group it was bound to for O(stickiness.duration_seconds) after a switch.
    type: dict
    suboptions:
      enabled:
        description: Whether stickiness is on.
        type: bool
        required: true
      duration_seconds:
        description: How long a client stays with its target group, 1 to 604800 seconds. Required when O(stickiness.enabled=true), ignored otherwise.
        type: int
attributes:
  check_mode:
    description: Reads the listener, the target groups and their health, reports what would change; calls no Modify API.
    support: full
  diff_mode:
    description: Shows the weights and stickiness before and after.
    support: full
  idempotent:
    description: A second run with the same inputs reports no change and calls no Modify API.
    support: full
  platform:
    description: Runs on any host with Python and boto3, usually the controller (C(delegate_to=localhost)); talks only to the AWS API.
    support: full
    platforms: posix
  action_group:
    description: Use C(group/bluegreen.core.bluegreen) in C(module_defaults) to set common options.
    support: full
    membership:
      - bluegreen.core.bluegreen
notes:
  - "API calls, in order: C(elasticloadbalancing:DescribeListeners), C(elasticloadbalancing:DescribeRules) (only with
    O(rule_arn)), C(elasticloadbalancing:DescribeTargetGroups) (once per colour),
    C(elasticloadbalancing:DescribeTargetHealth) (once per colour and poll; once per colour in a read), then, only when the weights or the stickiness
    change and not in check mode, C(elasticloadbalancing:ModifyListener) or C(elasticloadbalancing:ModifyRule)."
  - "A read with O(metrics_since) also calls C(cloudwatch:GetMetricStatistics) four times (two metrics per colour)."
  - The least-privilege IAM policy is those actions; see C(docs/aws.md) in the collection.
  - A weight change does not wait for the deregistration delay; in-flight requests to the old group complete, and
    new ones follow the new weights. Deregistering the old colour's targets is a separate, later step.
seealso:
  - module: bluegreen.core.route53_traffic
  - name: Application Load Balancer listeners, forward actions
    description: Weighted target groups and target group stickiness.
    link: https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-listeners.html
"""

EXAMPLES = r"""
- name: Send all of shop's traffic to green
  bluegreen.core.elb_traffic:
    app: shop
    listener_arn: "{{ shop_listener_arn }}"
    target_groups:
      blue: "{{ shop_blue_tg_arn }}"
      green: "{{ shop_green_tg_arn }}"
    colour: green
    versions:
      blue: 1.4.2
      green: 1.5.0
  delegate_to: localhost

- name: Canary - 10 percent of the /api rule to green, with stickiness off
  bluegreen.core.elb_traffic:
    app: shop
    listener_arn: "{{ shop_listener_arn }}"
    rule_arn: "{{ shop_api_rule_arn }}"
    target_groups:
      blue: "{{ shop_blue_tg_arn }}"
      green: "{{ shop_green_tg_arn }}"
    weights:
      blue: 90
      green: 10
    stickiness:
      enabled: false
  delegate_to: localhost

- name: Roll back to blue with a named profile
  bluegreen.core.elb_traffic:
    app: shop
    profile: production
    listener_arn: "{{ shop_listener_arn }}"
    target_groups:
      blue: "{{ shop_blue_tg_arn }}"
      green: "{{ shop_green_tg_arn }}"
    colour: blue
    action: rollback
    reason: error rate above 1 percent
  delegate_to: localhost
"""

RETURN = r"""
listener_arn:
  description: The listener.
  returned: always
  type: str
  sample: arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2
rule_arn:
  description: The rule whose forward action was changed, or null for the listener's default actions.
  returned: always
  type: str
weights:
  description: The weights after the run (in check mode, the weights a real run would set).
  returned: always
  type: dict
  sample: {blue: 0, green: 100}
previous_weights:
  description:
    - The weights before the run. A group missing from the forward action has weight 0; a forward action with a plain
      C(TargetGroupArn) gives that group weight 1.
  returned: always
  type: dict
  sample: {blue: 100, green: 0}
live_colour:
  description: The colour that has all the weight after the run, or null when the traffic is split.
  returned: always
  type: str
  sample: green
previous_live_colour:
  description: The colour that had all the weight before the run, or null when the traffic was split.
  returned: always
  type: str
  sample: blue
stickiness:
  description: The forward action's target group stickiness after the run.
  returned: always
  type: dict
  sample: {enabled: false, duration_seconds: null}
health:
  description:
    - Each colour's target group health as C(DescribeTargetHealth) last reported it.
    - Each colour's C(healthy) is true when its group has targets and all of them are C(healthy).
  returned: always
  type: dict
  sample:
    blue:
      healthy: true
      targets: [{id: i-0abc, port: 80, state: healthy, reason: null, description: null}]
    green:
      healthy: false
      targets: [{id: i-0def, port: 80, state: unused, reason: Target.InvalidState, description: Target is in the stopped state}]
health_waited_s:
  description: Seconds spent waiting for the target groups to become healthy.
  returned: always
  type: float
  sample: 0.1
api_calls:
  description: Every AWS API call the run made, as IAM actions, in order.
  returned: always
  type: list
  elements: str
  sample: [elasticloadbalancing:DescribeListeners, elasticloadbalancing:ModifyListener]
note:
  description: What else delays the switch for some clients (target group stickiness), or null.
  returned: always
  type: str
history_entry:
  description: The record appended to the history; null when nothing changed, in check mode or with O(history=false).
  returned: always
  type: dict
  sample:
    time: "2025-01-01T12:00:00.000000Z"
    app: shop
    action: switch
    from: blue
    to: green
    weights: {blue: 0, green: 100}
    previous_weights: {blue: 100, green: 0}
    router: alb
    result: ok
previous_colour:
  description:
    - The colour that was live before the newest switch to the live colour, from the history on the host the module
      runs on (where a rollback goes); null when the history does not tell.
  returned: when neither O(colour) nor O(weights) is given
  type: str
  sample: blue
last_switch:
  description: The newest successful history record that changed the live colour, or null.
  returned: when neither O(colour) nor O(weights) is given
  type: dict
history:
  description: The newest O(history_limit) history records, oldest first.
  returned: when neither O(colour) nor O(weights) is given
  type: list
  elements: dict
problems:
  description:
    - Damaged history lines, and weights that differ from the last change the history records (a change made
      outside this collection, or recorded on another host).
  returned: when neither O(colour) nor O(weights) is given
  type: list
  elements: str
metrics:
  description:
    - Each colour's target group C(RequestCount) and C(HTTPCode_Target_5XX_Count) summed by CloudWatch from the
      minute of O(metrics_since) to now; null when CloudWatch gave none (see RV(metrics_problem)).
  returned: when O(metrics_since) is given
  type: dict
  sample: {blue: {requests: 0, http_5xx: 0}, green: {requests: 1520, http_5xx: 2}}
metrics_problem:
  description: Why RV(metrics) is null, or null.
  returned: when O(metrics_since) is given
  type: str
  sample: "CloudWatch has no RequestCount datapoints for either target group since 2025-01-01T12:00:00Z: ..."
diff:
  description: The weights and stickiness before and after.
  returned: in diff mode
  type: dict
  sample:
    before: {weights: {blue: 100, green: 0}, stickiness: {enabled: false, duration_seconds: null}}
    after: {weights: {blue: 0, green: 100}, stickiness: {enabled: false, duration_seconds: null}}
"""

import datetime
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.bluegreen.core.plugins.module_utils import _aws, _validate

ROUTER = "alb"


def argument_spec() -> dict:
    spec = _aws.argument_spec()
    spec.update(_aws.history_argument_spec())
    spec.update({
        "listener_arn": {"type": "str", "required": True},
        "rule_arn": {"type": "str"},
        "target_groups": {"type": "dict", "required": True, "options": {
            "blue": {"type": "str", "required": True},
            "green": {"type": "str", "required": True},
        }},
        "colour": {"type": "str", "choices": list(_validate.COLOURS)},
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
    })
    return spec


class Switch:
    """One run: read the listener (or rule) and the groups, decide, gate on health, modify, verify."""

    def __init__(self, module: AnsibleModule, inputs: dict, conn: _aws.Connection) -> None:
        self.module = module
        self.params = module.params
        self.inputs = inputs
        self.conn = conn
        self.client = conn.client("elbv2", inputs["region"])
        self.groups = dict(self.params["target_groups"])
        self.where = f"rule {self.params['rule_arn']}" if self.params["rule_arn"] else f"listener {self.params['listener_arn']}"

    def read_actions(self) -> list:
        listener_arn = self.params["listener_arn"]
        try:
            listeners = self.conn.call(self.client, "DescribeListeners", ListenerArns=[listener_arn])["Listeners"]
        except _aws.AwsError as exc:
            if exc.code == "ListenerNotFound":
                raise _aws.AwsError(f"listener_arn {listener_arn} does not exist (ListenerNotFound)", param="listener_arn") from None
            raise
        if not self.params["rule_arn"]:
            return listeners[0].get("DefaultActions") or []
        try:
            rule = self.conn.call(self.client, "DescribeRules", RuleArns=[self.params["rule_arn"]])["Rules"][0]
        except _aws.AwsError as exc:
            if exc.code == "RuleNotFound":
                raise _aws.AwsError(f"rule_arn {self.params['rule_arn']} does not exist (RuleNotFound)", param="rule_arn") from None
            raise
        if rule.get("IsDefault"):
            raise _aws.AwsError(
                f"rule_arn {self.params['rule_arn']} is the listener's default rule: leave rule_arn out to change the default actions",
                param="rule_arn",
            )
        return rule.get("Actions") or []

    def check_groups_exist(self) -> None:
        for colour in _validate.COLOURS:
            arn = self.groups[colour]
            try:
                self.conn.call(self.client, "DescribeTargetGroups", TargetGroupArns=[arn])
            except _aws.AwsError as exc:
                if exc.code == "TargetGroupNotFound":
                    raise _aws.AwsError(f"target_groups.{colour} {arn} does not exist (TargetGroupNotFound)", param=f"target_groups.{colour}") from None
                raise

    def read_health(self) -> dict:
        return {
            colour: _aws.group_health(
                self.conn.call(self.client, "DescribeTargetHealth", TargetGroupArn=self.groups[colour]).get("TargetHealthDescriptions") or []
            )
            for colour in _validate.COLOURS
        }

    def gate(self, weights: dict, changing: bool) -> tuple:
        """(health, seconds waited, refusal). A refusal means a group that would get traffic stayed unhealthy."""
        serving = [c for c in _validate.COLOURS if weights[c] > 0]

        def check() -> tuple:
            health = self.read_health()
            return all(health[c]["healthy"] for c in serving), health

        must_wait = changing and not self.params["force"]
        healthy, health, waited = _aws.wait_until(check, self.params["health_timeout"] if must_wait else 0)
        if healthy:
            return health, waited, None
        problems = "; ".join(_aws.describe_unhealthy(c, self.groups[c], health[c]) for c in serving if not health[c]["healthy"])
        if must_wait:
            return health, waited, (
                f"refusing to give traffic to an unhealthy target group after waiting {waited}s (health_timeout): {problems}. "
                "Nothing was changed; register healthy targets, or use force=true"
            )
        if changing:
            self.module.warn(f"changing the weights with force=true although {problems}")
        else:
            self.module.warn(f"the weights are already as asked, but {problems}")
        return health, waited, None

    def read(self) -> dict:
        """Only read: the weights, the groups' health, the history on this host and, with metrics_since, CloudWatch."""
        actions = self.read_actions()
        index = _aws.forward_index(actions, self.where)
        weights = _aws.current_weights(actions[index], self.groups, self.where)
        self.check_groups_exist()
        result = {
            "changed": False,
            "listener_arn": self.params["listener_arn"],
            "rule_arn": self.params["rule_arn"],
            "weights": weights,
            "previous_weights": weights,
            "live_colour": _aws.live_colour(weights),
            "previous_live_colour": _aws.live_colour(weights),
            "stickiness": _aws.stickiness_result(_aws.current_stickiness(actions[index])),
            "health": self.read_health(),
            "health_waited_s": 0.0,
            "api_calls": self.conn.calls,
            "note": None,
            "history_entry": None,
        }
        result.update(_aws.history_report(self.params, self.where, weights))
        if self.inputs["metrics_since"] is not None:
            result["metrics"], result["metrics_problem"] = self.read_metrics(self.inputs["metrics_since"])
        return result

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

    def run(self) -> dict:
        desired = self.inputs["weights"]
        if desired is None:
            return self.read()
        actions = self.read_actions()
        index = _aws.forward_index(actions, self.where)
        previous = _aws.current_weights(actions[index], self.groups, self.where)
        self.check_groups_exist()
        stickiness_before = _aws.current_stickiness(actions[index])
        stickiness_after = self.inputs["stickiness"] or stickiness_before
        changed = not _aws.same_split(previous, desired) or stickiness_after != stickiness_before
        weights = desired if changed else previous
        health, waited, refusal = self.gate(weights, changed)
        result = {
            "changed": changed,
            "listener_arn": self.params["listener_arn"],
            "rule_arn": self.params["rule_arn"],
            "weights": weights,
            "previous_weights": previous,
            "live_colour": _aws.live_colour(weights),
            "previous_live_colour": _aws.live_colour(previous),
            "stickiness": _aws.stickiness_result(stickiness_after),
            "health": health,
            "health_waited_s": waited,
            "api_calls": self.conn.calls,
            "note": None,
            "history_entry": None,
        }
        if stickiness_after.get("Enabled") and changed:
            result["note"] = (
                f"target group stickiness is on ({stickiness_after.get('DurationSeconds')} s): clients already bound to a "
                "target group keep reaching it for that long after the switch; keep the old colour serving at least that long"
            )
        if refusal is not None:
            self.module.fail_json(msg=refusal, **dict(result, changed=False))
        if self.module._diff:
            result["diff"] = {
                "before": {"weights": previous, "stickiness": _aws.stickiness_result(stickiness_before)},
                "after": {"weights": weights, "stickiness": _aws.stickiness_result(stickiness_after)},
            }
        if self.module.check_mode or not changed:
            return result
        rebuilt = _aws.rebuild_actions(actions, index, self.groups, weights, stickiness_after)
        try:
            applied = self.modify(rebuilt)
        except _aws.AwsError as exc:
            self.record(previous, weights, "failed", error=str(exc))
            raise
        got = _aws.current_weights(applied[_aws.forward_index(applied, self.where)], self.groups, self.where)
        if got != weights:
            message = f"AWS accepted the change of {self.where}, but now reports weights {got} instead of {weights}"
            result.update(weights=got, live_colour=_aws.live_colour(got))
            result["history_entry"] = self.record(previous, got, "failed", error=message)
            self.module.fail_json(msg=message, **result)
        result["history_entry"] = self.record(previous, weights, "ok")
        return result

    def modify(self, actions: list) -> list:
        """Send the whole action list; returns the actions as AWS reports them afterwards."""
        if self.params["rule_arn"]:
            answer = self.conn.call(self.client, "ModifyRule", RuleArn=self.params["rule_arn"], Actions=actions)
            return answer["Rules"][0].get("Actions") or []
        answer = self.conn.call(self.client, "ModifyListener", ListenerArn=self.params["listener_arn"], DefaultActions=actions)
        return answer["Listeners"][0].get("DefaultActions") or []

    def record(self, previous: dict, weights: dict, result: str, error: str | None = None) -> dict | None:
        if not self.params["history"]:
            return None
        extra = {"listener_arn": self.params["listener_arn"], "rule_arn": self.params["rule_arn"]}
        if error is not None:
            extra["error"] = error
        entry = _aws.history_entry(ROUTER, self.params, self.inputs["who"], previous, weights, result, **extra)
        return _aws.append_history(self.module, entry)


def run(module: AnsibleModule) -> dict:
    try:
        inputs = _aws.validate_alb_params(module.params)
        inputs["who"] = _aws.validate_history_params(module.params)
        inputs["metrics_since"] = None
        if module.params["metrics_since"] is not None:
            if inputs["weights"] is not None:
                raise _validate.ValidationError("metrics_since only goes with a read (leave colour and weights out)")
            inputs["metrics_since"] = _aws.parse_utc(module.params["metrics_since"], "metrics_since")
    except _validate.ValidationError as exc:
        module.fail_json(msg=str(exc), changed=False, api_calls=[])
    conn = None
    try:
        conn = _aws.Connection(module.params)
        return Switch(module, inputs, conn).run()
    except _aws.AwsError as exc:
        module.fail_json(msg=str(exc), changed=False, api_calls=conn.calls if conn is not None else [])


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        mutually_exclusive=[["colour", "weights"], *_aws.MODULE_CONSTRAINTS["mutually_exclusive"]],
        required_together=_aws.MODULE_CONSTRAINTS["required_together"],
        required_by=_aws.MODULE_CONSTRAINTS["required_by"],
    )
    if not _aws.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3"), exception=_aws.BOTO3_IMPORT_ERROR)
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()

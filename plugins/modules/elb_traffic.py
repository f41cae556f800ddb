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
author:
  - bluegreen.core maintainers (@bluegreen)
extends_documentation_fragment:
  - bluegreen.core.aws
  - bluegreen.core.aws.alb
  - bluegreen.core.aws.colour
  - bluegreen.core.state
  - bluegreen.core.state.read
  - bluegreen.core.state.traffic
  - bluegreen.core.watch
  - bluegreen.core.state.lock
  - bluegreen.core.attributes
options:
  weights:
    description:
      - The weight of each colour's target group, whole numbers from 0 to 999, not both 0. Each gets
        weight / (sum of weights) of the requests.
      - At most one of O(colour) and O(weights). Leave both out to only read (see O(colour)).
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
      - With O(colour=previous), also roll back to a colour that no longer holds the release it ran when it was live.
      - Also route live traffic to a release whose last outcome in the history was a failure (see O(versions)).
    type: bool
    default: false
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
  description: The record added to the history (its schema is in C(docs/architecture.md)); null when nothing was applied.
  returned: always
  type: dict
  sample: {time: "2025-01-01T12:00:00.000000Z", app: shop, router: alb, action: switch, result: ok, from: blue, to: null,
           weight: null, weights: {blue: 90, green: 10}, from_weights: {blue: 100, green: 0}, versions: {blue: 1.4.2, green: 1.5.0},
           actor: ci, reason: null, listener_arn: "arn:aws:elasticloadbalancing:...", rule_arn: null}
diff:
  description: The weights and stickiness before and after.
  returned: in diff mode
  type: dict
  sample:
    before: {weights: {blue: 100, green: 0}, stickiness: {enabled: false, duration_seconds: null}}
    after: {weights: {blue: 0, green: 100}, stickiness: {enabled: false, duration_seconds: null}}
"""


from ansible_collections.bluegreen.core.plugins.module_utils._routers import base
from ansible_collections.bluegreen.core.plugins.module_utils._routers.alb import Alb


def argument_spec() -> dict:
    return base.argument_spec(Alb, info=False)


def main() -> None:
    base.run(Alb)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: elb_info
short_description: Report which colour of an app an Application Load Balancer serves, its target groups' health and the history
version_added: 0.1.0
description:
  - Reads the weights of the blue and green target groups in the forward action of an ALB listener's default actions, or
    of one of its rules (O(rule_arn)), each group's target health, and the app's history and lock on the host the module
    runs on; with O(metrics_since), each colour's request and 5xx counts from CloudWatch.
  - The listener's weights are the truth about what is live. When the last change the history records set other weights,
    the module says so in RV(problems), emits each problem as a warning and sets RV(consistent=false).
  - The same read as M(bluegreen.core.elb_traffic) given neither O(bluegreen.core.elb_traffic#module:colour) nor
    O(bluegreen.core.elb_traffic#module:weights). Changes nothing.
author:
  - bluegreen.core maintainers (@bluegreen)
extends_documentation_fragment:
  - bluegreen.core.aws
  - bluegreen.core.aws.alb
  - bluegreen.core.state
  - bluegreen.core.state.read
  - bluegreen.core.state.lock
  - bluegreen.core.attributes
  - bluegreen.core.attributes.info
attributes:
  platform:
    description: Runs on any host with Python and boto3, usually the controller (C(delegate_to=localhost)); talks only to the AWS API.
    support: full
    platforms: posix
notes:
  - "API calls: C(elasticloadbalancing:DescribeListeners), C(elasticloadbalancing:DescribeRules) (only with O(rule_arn)),
    C(elasticloadbalancing:DescribeTargetGroups) and C(elasticloadbalancing:DescribeTargetHealth) (once per colour), and
    with O(metrics_since) C(cloudwatch:GetMetricStatistics) four times."
seealso:
  - module: bluegreen.core.elb_traffic
"""

EXAMPLES = r"""
- name: Find out which colour of shop the load balancer serves
  bluegreen.core.elb_info:
    app: shop
    listener_arn: "{{ shop_listener_arn }}"
    target_groups:
      blue: "{{ shop_blue_tg_arn }}"
      green: "{{ shop_green_tg_arn }}"
  delegate_to: localhost
  register: shop_routing

- name: Count green's 5xx responses since the switch
  bluegreen.core.elb_info:
    app: shop
    listener_arn: "{{ shop_listener_arn }}"
    target_groups:
      blue: "{{ shop_blue_tg_arn }}"
      green: "{{ shop_green_tg_arn }}"
    metrics_since: "{{ switched_at }}"
  delegate_to: localhost
  register: shop_counts
"""

RETURN = r"""
app:
  description: The app.
  returned: always
  type: str
  sample: shop
router:
  description: The router kind, C(alb).
  returned: always
  type: str
  sample: alb
label:
  description: The listener (and rule) as a status names it.
  returned: always
  type: str
  sample: alb app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2
live_colour:
  description: The colour whose target group has all the weight; null while the traffic is split.
  returned: always
  type: str
  sample: green
weights:
  description: The percent of the requests each colour's target group gets.
  returned: always
  type: dict
  sample: {blue: 0, green: 100}
previous_colour:
  description: Where a rollback goes, from the history on this host (the colour live before the newest switch); or null.
  returned: always
  type: str
  sample: blue
sources_agree:
  description: Always true; the forward action is the router's one source.
  returned: always
  type: bool
drifted:
  description: Always false; the forward action is the router's one source.
  returned: always
  type: bool
step_probe_headers:
  description: Always null; the listener weighs requests, not sticky buckets.
  returned: always
  type: dict
consistent:
  description: True when the history's last change agrees with the listener's weights and no history line is damaged.
  returned: always
  type: bool
problems:
  description: What disagrees or is damaged, in plain words; each is also emitted as a warning.
  returned: always
  type: list
  elements: str
says:
  description: The weights (and the stickiness, when on), in a few words.
  returned: always
  type: str
  sample: weights blue 0, green 100
colours:
  description: How many of each target group's registered targets are healthy.
  returned: always
  type: dict
  sample: {blue: all 2 targets healthy, green: 1/2 targets healthy}
endpoints:
  description: Null; the targets are reached through the load balancer, and the app hosts are probed directly.
  returned: always
  type: dict
healthy:
  description: Whether each colour's target group has targets, all of them healthy.
  returned: always
  type: dict
  sample: {blue: true, green: false}
counters_note:
  description: Why RV(counters) is null (no O(metrics_since), or CloudWatch has no datapoints yet).
  returned: always
  type: str
counters:
  description: RV(metrics), each colour's request and 5xx counts; null without O(metrics_since) or when CloudWatch has none.
  returned: always
  type: dict
health:
  description: Each colour's target group health, C(healthy) when it has targets and all are healthy.
  returned: always
  type: dict
  sample: {blue: {healthy: true, targets: [{id: i-0abc, port: 8001, state: healthy, reason: null, description: null}]}}
stickiness:
  description: Target group stickiness of the forward action.
  returned: always
  type: dict
  sample: {enabled: false, duration_seconds: null}
listener_arn:
  description: The listener read.
  returned: always
  type: str
rule_arn:
  description: The rule read, or null for the listener's default actions.
  returned: always
  type: str
metrics:
  description: Each colour's C(RequestCount) and C(HTTPCode_Target_5XX_Count) since O(metrics_since); null when CloudWatch has none.
  returned: when O(metrics_since) is given
  type: dict
  sample: {blue: {requests: 0, http_5xx: 0}, green: {requests: 1520, http_5xx: 2}}
metrics_problem:
  description: Why RV(metrics) is null, or null.
  returned: when O(metrics_since) is given
  type: str
history: {description: "The newest O(history_limit) records of the app's history on this host, oldest first.", returned: always,
          type: list, elements: dict}
outcomes:
  description:
    - What each colour's release did last, from the history, keyed by colour (a colour with no record is left out).
    - C(outcome) is V(live) (or V(live with N% of the traffic)), V(replaced), V(passed its smoke test), or a failure
      (C(failed) true) V(switched back by the watch), V(rolled back) or V(failed its smoke test). A traffic
      module refuses to send live traffic to a release whose last outcome was a failure, unless forced.
  returned: always
  type: dict
  sample: {green: {version: 2.0.0, outcome: switched back by the watch, failed: true, time: "2025-01-01T12:00:05.000000Z",
                   actor: alice, reason: "green answered 50 of 50 requests with 5xx"}}
last_switch:
  description: The newest successful record that moved all the traffic to another colour, or null.
  returned: always
  type: dict
lock: {description: "The holder of the app's release lock on this host, or null when it is free.", returned: always, type: dict}
maintenance: {description: "Whether the app gets a maintenance page; always false (only HAProxy has one).", returned: always, type: bool}
api_calls: {description: "Every AWS API call made, as its IAM action, in order.", returned: always, type: list, elements: str}
"""

from ansible_collections.bluegreen.core.plugins.module_utils._routers import base
from ansible_collections.bluegreen.core.plugins.module_utils._routers.alb import Alb


def argument_spec() -> dict:
    return base.argument_spec(Alb, info=True)


def main() -> None:
    base.run(Alb, info=True)


if __name__ == "__main__":
    main()

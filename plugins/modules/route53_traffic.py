#!/usr/bin/python
# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: route53_traffic
short_description: Shift DNS traffic between a blue and a green weighted Route 53 record
version_added: 0.1.0
description:
  - Sets the weights of the two weighted records of one name and type, the blue one and the green one (told apart by
    their set identifiers, O(set_identifiers)), in one change batch of two C(UPSERT)s, then waits until Route 53 reports
    the change C(INSYNC) on all its name servers.
  - All traffic at once with O(colour), or a share with O(weights).
  - Each record is copied exactly as Route 53 lists it (values or alias target, TTL, health check) with only its
    C(Weight) changed. The module never creates or deletes records; both must exist.
  - Refuses records whose TTLs differ, since clients would cache one colour longer than the other.
  - DNS switching is not instant. After C(INSYNC), resolvers and clients still answer from their cache for up to the
    records' TTL (some for longer), so the old colour must keep serving at least that long. RV(note) says so with the TTL.
  - Weights are compared as shares of traffic, so records with weights 0 and 1 already match O(colour=green).
author:
  - bluegreen.core maintainers (@bluegreen)
extends_documentation_fragment:
  - bluegreen.core.aws
  - bluegreen.core.aws.route53
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
      - The weight of each colour's record, whole numbers from 0 to 255, not both 0. Route 53 answers with each
        record for weight / (sum of weights) of the queries.
      - At most one of O(colour) and O(weights). Leave both out to only read (see O(colour)).
    type: dict
    suboptions:
      blue:
        description: Weight of the blue record.
        type: int
        required: true
      green:
        description: Weight of the green record.
        type: int
        required: true
  force:
    description:
      - With O(colour=previous), roll back even when the previous colour no longer holds the release it ran when it was
        live (see O(versions)).
      - Also route live traffic to a release whose last outcome in the history was a failure (see O(versions)).
    type: bool
    default: false
  wait:
    description: Wait until Route 53 reports the change C(INSYNC) (polled with C(GetChange) every 5 seconds).
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for C(INSYNC) with O(wait=true). When they pass, the module fails with RV(ignore:changed=true),
        since the change was accepted and Route 53 goes on propagating it.
    type: int
    default: 120
attributes:
  check_mode:
    description: Reads the zone and the records, reports what would change; sends no change batch.
    support: full
  diff_mode:
    description: Shows the weights before and after.
    support: full
  idempotent:
    description: A second run with the same inputs reports no change and sends no change batch.
    support: full
  platform:
    description: Runs on any host with Python and boto3, usually the controller (C(delegate_to=localhost)); talks only to the AWS API.
    support: full
    platforms: posix
notes:
  - "API calls, in order: C(route53:GetHostedZone) (with O(zone_id)) or C(route53:ListHostedZonesByName) (with O(zone)),
    C(route53:ListResourceRecordSets), then, only when the weights change and not in check mode,
    C(route53:ChangeResourceRecordSets) and, with O(wait=true), C(route53:GetChange) until C(INSYNC)."
  - The least-privilege IAM policy is those actions; see C(docs/aws.md) in the collection.
  - Route 53 routes to every record of a weighted set in proportion to its weight; other records of the same name and
    type (other set identifiers) keep their weights and their share, and the module warns about them.
seealso:
  - module: bluegreen.core.elb_traffic
  - name: Route 53 weighted routing
    description: Weights, set identifiers and how resolvers pick a record.
    link: https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/routing-policy-weighted.html
"""

EXAMPLES = r"""
- name: Send all of shop.example.com to green
  bluegreen.core.route53_traffic:
    app: shop
    zone: example.com
    name: shop.example.com
    colour: green
  delegate_to: localhost

- name: Half of the queries to each colour, without waiting for INSYNC
  bluegreen.core.route53_traffic:
    app: shop
    zone_id: Z0123456789ABCDEFGHIJ
    name: shop.example.com
    type: AAAA
    set_identifiers:
      blue: shop-blue
      green: shop-green
    weights:
      blue: 50
      green: 50
    wait: false
  delegate_to: localhost

- name: Roll back to blue, then keep green serving for the TTL
  block:
    - name: Send all of shop.example.com to blue
      bluegreen.core.route53_traffic:
        app: shop
        zone: example.com
        name: shop.example.com
        colour: blue
        action: rollback
      register: shop_dns
      delegate_to: localhost

    - name: Wait for clients that cached the green answer
      ansible.builtin.pause:
        seconds: "{{ shop_dns.ttl | default(60, true) }}"
      when: shop_dns is changed
"""

RETURN = r"""
zone_id:
  description: The hosted zone's id.
  returned: always
  type: str
  sample: Z0123456789ABCDEFGHIJ
zone:
  description: The hosted zone's name, with its final dot.
  returned: always
  type: str
  sample: example.com.
name:
  description: The records' name, lower case with its final dot, as Route 53 lists it.
  returned: always
  type: str
  sample: shop.example.com.
type:
  description: The records' type.
  returned: always
  type: str
  sample: A
set_identifiers:
  description: The set identifier of each colour's record.
  returned: always
  type: dict
  sample: {blue: blue, green: green}
weights:
  description: The weights after the run (in check mode, the weights a real run would set).
  returned: always
  type: dict
  sample: {blue: 0, green: 100}
previous_weights:
  description: The weights before the run.
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
ttl:
  description: The records' TTL in seconds; null for alias records, which take their target's TTL.
  returned: always
  type: int
  sample: 60
note:
  description: How long clients may keep the previous answer, and so how long the old colour must keep serving.
  returned: always
  type: str
  sample: resolvers and clients may keep the previous answer for the TTL of 60 seconds, some longer; keep blue serving at least that long
change:
  description: The change batch, or null when nothing was sent.
  returned: always
  type: dict
  contains:
    id:
      description: The change's id.
      type: str
      sample: /change/C2682N5HXP0BZ4
    status:
      description: C(PENDING) or C(INSYNC) when the module returned.
      type: str
      sample: INSYNC
    waited_s:
      description: Seconds spent waiting for C(INSYNC).
      type: float
      sample: 31.2
api_calls:
  description: Every AWS API call the run made, as IAM actions, in order.
  returned: always
  type: list
  elements: str
  sample: [route53:ListHostedZonesByName, route53:ListResourceRecordSets, route53:ChangeResourceRecordSets, route53:GetChange]
history_entry:
  description: The record added to the history (its schema is in C(docs/architecture.md)); null when nothing was applied.
  returned: always
  type: dict
  sample: {time: "2025-01-01T12:00:00.000000Z", app: shop, router: route53, action: rollback, result: ok, from: green, to: blue,
           weight: 100, weights: {blue: 100, green: 0}, from_weights: {blue: 0, green: 100}, versions: {blue: 1.4.2, green: 1.5.0},
           actor: ci, reason: error rate, zone_id: Z0123456789ABCDEFGHIJ, name: shop.example.com., type: A, change_status: INSYNC}
diff:
  description: The weights before and after.
  returned: in diff mode
  type: dict
  sample:
    before: {weights: {blue: 100, green: 0}, ttl: 60}
    after: {weights: {blue: 0, green: 100}, ttl: 60}
"""


from ansible_collections.bluegreen.core.plugins.module_utils._routers import base
from ansible_collections.bluegreen.core.plugins.module_utils._routers.route53 import Route53


def argument_spec() -> dict:
    return base.argument_spec(Route53, info=False)


def main() -> None:
    base.run(Route53)


if __name__ == "__main__":
    main()

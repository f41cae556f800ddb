#!/usr/bin/python
# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: route53_info
short_description: Report which colour of an app two weighted Route 53 records send DNS queries to, and the history
version_added: 0.1.0
description:
  - Reads the weights and TTL of the two weighted records of one name and type, the blue one and the green one (told apart
    by their set identifiers), and the app's history and lock on the host the module runs on.
  - The records' weights are the truth about what is live. When the last change the history records set other weights,
    the module says so in RV(problems), emits each problem as a warning and sets RV(consistent=false).
  - The same read as M(bluegreen.core.route53_traffic) given neither O(bluegreen.core.route53_traffic#module:colour) nor
    O(bluegreen.core.route53_traffic#module:weights). Changes nothing.
author:
  - bluegreen.core maintainers (@bluegreen)
extends_documentation_fragment:
  - bluegreen.core.aws
  - bluegreen.core.aws.route53
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
  - "API calls: C(route53:GetHostedZone) (with O(zone_id)) or C(route53:ListHostedZonesByName) (with O(zone)), then
    C(route53:ListResourceRecordSets)."
seealso:
  - module: bluegreen.core.route53_traffic
"""

EXAMPLES = r"""
- name: Find out which colour of shop DNS answers with
  bluegreen.core.route53_info:
    app: shop
    zone: example.com
    name: shop.example.com
  delegate_to: localhost
  register: shop_routing
"""

RETURN = r"""
app:
  description: The app.
  returned: always
  type: str
  sample: shop
router:
  description: The router kind, C(route53).
  returned: always
  type: str
  sample: route53
label:
  description: The records' name and type, as a status names them.
  returned: always
  type: str
  sample: route53 shop.example.com. A
live_colour:
  description: The colour whose record has all the weight; null while the queries are split.
  returned: always
  type: str
  sample: green
weights:
  description: The percent of the queries each colour's record gets.
  returned: always
  type: dict
  sample: {blue: 0, green: 100}
previous_colour:
  description: Where a rollback goes, from the history on this host (the colour live before the newest switch); or null.
  returned: always
  type: str
  sample: blue
sources_agree:
  description: Always true; the records are the router's one source.
  returned: always
  type: bool
drifted:
  description: Always false; the records are the router's one source.
  returned: always
  type: bool
step_probe_headers:
  description: Always null; the records weigh answers, not requests.
  returned: always
  type: dict
consistent:
  description: True when the history's last change agrees with the records' weights and no history line is damaged.
  returned: always
  type: bool
problems:
  description: What disagrees or is damaged, in plain words; each is also emitted as a warning.
  returned: always
  type: list
  elements: str
says:
  description: The weights and the TTL, in a few words.
  returned: always
  type: str
  sample: weights blue 0, green 100, TTL 60s
colours:
  description: Each colour's record, by its set identifier.
  returned: always
  type: dict
  sample: {blue: set identifier blue, green: set identifier green}
endpoints:
  description: Null; the app hosts are probed directly.
  returned: always
  type: dict
healthy:
  description: Null for each colour; DNS does not tell whether a colour can serve.
  returned: always
  type: dict
  sample: {blue: null, green: null}
counters_note:
  description: Why RV(counters) is null.
  returned: always
  type: str
  sample: Route 53 answers DNS queries and sees no HTTP responses, so it counts no 5xx per colour
counters:
  description: Null; DNS sees no HTTP response, so there is no count of 5xx responses per colour.
  returned: always
  type: dict
zone_id:
  description: The hosted zone's id.
  returned: always
  type: str
  sample: Z0123456789ABCDEFGHIJ
zone:
  description: The hosted zone's name.
  returned: always
  type: str
  sample: example.com.
name:
  description: The records' name, fully qualified.
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
ttl:
  description: The records' TTL in seconds; null for alias records (they take the alias target's).
  returned: always
  type: int
  sample: 60
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
  description: The newest successful record that moved all the queries to another colour, or null.
  returned: always
  type: dict
lock: {description: "The holder of the app's release lock on this host, or null when it is free.", returned: always, type: dict}
maintenance: {description: "Whether the app gets a maintenance page; always false (only HAProxy has one).", returned: always, type: bool}
api_calls: {description: "Every AWS API call made, as its IAM action, in order.", returned: always, type: list, elements: str}
"""

from ansible_collections.bluegreen.core.plugins.module_utils._routers import base
from ansible_collections.bluegreen.core.plugins.module_utils._routers.route53 import Route53


def argument_spec() -> dict:
    return base.argument_spec(Route53, info=True)


def main() -> None:
    base.run(Route53, info=True)


if __name__ == "__main__":
    main()

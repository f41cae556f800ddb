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
  - Appends a record to the app's history on the host the module runs on for each change.
author:
  - bluegreen.core maintainers (@bluegreen)
extends_documentation_fragment:
  - bluegreen.core.aws
  - bluegreen.core.aws.history
  - bluegreen.core.state
options:
  zone_id:
    description:
      - The hosted zone's id, such as C(Z0123456789ABCDEFGHIJ) (C(/hostedzone/) in front is accepted).
      - Exactly one of O(zone_id) and O(zone) is required.
    type: str
  zone:
    description:
      - The hosted zone's name, such as C(example.com). Fails when several zones have that name (a public and a
        private one, say); use O(zone_id) then.
      - Exactly one of O(zone_id) and O(zone) is required.
    type: str
  name:
    description: The records' fully qualified name, such as C(shop.example.com), in the hosted zone.
    type: str
    required: true
  type:
    description: The records' type.
    type: str
    default: A
    choices: [A, AAAA, CAA, CNAME, DS, HTTPS, MX, NAPTR, PTR, SPF, SRV, SSHFP, SVCB, TLSA, TXT]
  set_identifiers:
    description: The set identifier of each colour's record.
    type: dict
    suboptions:
      blue:
        description: Set identifier of the blue record.
        type: str
        default: blue
      green:
        description: Set identifier of the green record.
        type: str
        default: green
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
      - The weight of each colour's record, whole numbers from 0 to 255, not both 0. Route 53 answers with each
        record for weight / (sum of weights) of the queries.
      - At most one of O(colour) and O(weights). Leave both out to only read; the module then reports the current
        weights, the history on the host it runs on (RV(previous_colour), RV(last_switch), RV(history), RV(problems)),
        and changes nothing.
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
  action_group:
    description: Use C(group/bluegreen.core.bluegreen) in C(module_defaults) to set common options.
    support: full
    membership:
      - bluegreen.core.bluegreen
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
    router: route53
    result: ok
    change_status: INSYNC
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
diff:
  description: The weights before and after.
  returned: in diff mode
  type: dict
  sample:
    before: {weights: {blue: 100, green: 0}, ttl: 60}
    after: {weights: {blue: 0, green: 100}, ttl: 60}
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.bluegreen.core.plugins.module_utils import _aws, _validate

ROUTER = "route53"
# Route 53 returns at most 300 record sets a page; a weighted set has at most 100 records.
_PAGE = "300"


def argument_spec() -> dict:
    spec = _aws.argument_spec()
    spec.update(_aws.history_argument_spec())
    spec.update({
        "zone_id": {"type": "str"},
        "zone": {"type": "str"},
        "name": {"type": "str", "required": True},
        "type": {"type": "str", "default": "A", "choices": list(_aws.ROUTE53_TYPES)},
        "set_identifiers": {"type": "dict", "options": {
            "blue": {"type": "str", "default": "blue"},
            "green": {"type": "str", "default": "green"},
        }},
        "colour": {"type": "str", "choices": list(_validate.COLOURS)},
        "weights": {"type": "dict", "options": {
            "blue": {"type": "int", "required": True},
            "green": {"type": "int", "required": True},
        }},
        "wait": {"type": "bool", "default": True},
        "wait_timeout": {"type": "int", "default": 120},
    })
    return spec


class Switch:
    """One run: find the zone and the two records, decide, send one change batch, wait for INSYNC."""

    def __init__(self, module: AnsibleModule, inputs: dict, conn: _aws.Connection) -> None:
        self.module = module
        self.params = module.params
        self.inputs = inputs
        self.conn = conn
        self.client = conn.client("route53")
        self.zone_id = inputs["zone_id"]

    def find_zone(self) -> tuple:
        """(zone id, zone name)."""
        if self.inputs["zone_id"] is not None:
            ident = self.inputs["zone_id"]
            try:
                zone = self.conn.call(self.client, "GetHostedZone", Id=ident)["HostedZone"]
            except _aws.AwsError as exc:
                if exc.code == "NoSuchHostedZone":
                    raise _aws.AwsError(f"zone_id {ident}: no such hosted zone (NoSuchHostedZone)", param="zone_id") from None
                raise
            name = _aws.listed_name(zone["Name"])
            try:
                _aws.check_in_zone(self.inputs["name"], name)
            except _validate.ValidationError as exc:
                raise _aws.AwsError(str(exc), param="name") from None
            return ident, name
        name = self.inputs["zone"]
        answer = self.conn.call(self.client, "ListHostedZonesByName", DNSName=name, MaxItems="100")
        zones = [z for z in answer.get("HostedZones") or [] if _aws.listed_name(z["Name"]) == name]
        if not zones:
            raise _aws.AwsError(f"zone {name}: no hosted zone has that name", param="zone")
        if len(zones) > 1:
            found = ", ".join(
                f"{z['Id'].split('/')[-1]} ({'private' if (z.get('Config') or {}).get('PrivateZone') else 'public'})" for z in zones
            )
            raise _aws.AwsError(f"zone {name}: several hosted zones have that name ({found}); give zone_id instead", param="zone")
        return zones[0]["Id"].split("/")[-1], name

    def read_record_sets(self, ident: str) -> list:
        """The record sets from the records' name and type on, while they still have that name and type."""
        name, rtype = self.inputs["name"], self.inputs["type"]
        kwargs = {"HostedZoneId": ident, "StartRecordName": name, "StartRecordType": rtype, "MaxItems": _PAGE}
        found: list = []
        seen = set()
        while True:
            page = self.conn.call(self.client, "ListResourceRecordSets", **kwargs)
            found.extend(page.get("ResourceRecordSets") or [])
            position = (page.get("NextRecordName"), page.get("NextRecordType"), page.get("NextRecordIdentifier"))
            if (not page.get("IsTruncated") or position in seen or position[0] is None
                    or _aws.listed_name(position[0]) != name or position[1] != rtype):
                return found
            seen.add(position)
            kwargs.update(StartRecordName=position[0], StartRecordType=position[1])
            if position[2] is not None:
                kwargs["StartRecordIdentifier"] = position[2]

    def warn_about_others(self, found: dict) -> None:
        ours = set(self.inputs["set_identifiers"].values())
        others = [f"{ident} (weight {record.get('Weight')})" for ident, record in sorted(found.items()) if ident not in ours]
        if others:
            self.module.warn(
                f"{self.inputs['name']} {self.inputs['type']} also has the weighted records {', '.join(others)}; "
                "they keep their weights and their share of the queries"
            )

    def wait_for_sync(self, change: dict) -> dict:
        status = {"id": change["Id"], "status": change["Status"], "waited_s": 0.0}
        if change["Status"] == "INSYNC" or not self.params["wait"]:
            return status

        def check() -> tuple:
            info = self.conn.call(self.client, "GetChange", Id=change["Id"])["ChangeInfo"]
            return info["Status"] == "INSYNC", info["Status"]

        _done, status["status"], status["waited_s"] = _aws.wait_until(check, self.params["wait_timeout"])
        return status

    def run(self) -> dict:
        desired = self.inputs["weights"]
        name, rtype, identifiers = self.inputs["name"], self.inputs["type"], self.inputs["set_identifiers"]
        if desired is None:
            return self.read()
        ident, zone = self.find_zone()
        self.zone_id = ident
        found = _aws.weighted_records(self.read_record_sets(ident), name, rtype)
        records = _aws.pick_records(found, identifiers, name, rtype, ident)
        self.warn_about_others(found)
        previous = _aws.record_weights(records)
        ttl = _aws.record_ttl(records["blue"])
        changed = not _aws.same_split(previous, desired)
        weights = desired if changed else previous
        result = {
            "changed": changed,
            "zone_id": ident,
            "zone": zone,
            "name": name,
            "type": rtype,
            "set_identifiers": identifiers,
            "weights": weights,
            "previous_weights": previous,
            "live_colour": _aws.live_colour(weights),
            "previous_live_colour": _aws.live_colour(previous),
            "ttl": ttl,
            "note": _aws.ttl_note(ttl, previous),
            "change": None,
            "api_calls": self.conn.calls,
            "history_entry": None,
        }
        if self.module._diff:
            result["diff"] = {"before": {"weights": previous, "ttl": ttl}, "after": {"weights": weights, "ttl": ttl}}
        if self.module.check_mode or not changed:
            return result
        batch = {
            "Comment": f"bluegreen.core {self.params['app']}: weights blue {weights['blue']}, green {weights['green']}",
            "Changes": _aws.upsert_changes(records, weights),
        }
        try:
            change = self.conn.call(self.client, "ChangeResourceRecordSets", HostedZoneId=ident, ChangeBatch=batch)["ChangeInfo"]
        except _aws.AwsError as exc:
            self.record(previous, weights, "failed", error=str(exc))
            raise
        result["change"] = self.wait_for_sync(change)
        result["history_entry"] = self.record(previous, weights, "ok", change_status=result["change"]["status"])
        if self.params["wait"] and result["change"]["status"] != "INSYNC":
            self.module.fail_json(
                msg=(
                    f"Route 53 accepted change {change['Id']} but still reports it {result['change']['status']} after "
                    f"{result['change']['waited_s']}s (wait_timeout); it goes on propagating. Run again to check"
                ),
                **result,
            )
        return result

    def read(self) -> dict:
        """Only read: the weights and TTL of the two records, and the history on this host."""
        name, rtype, identifiers = self.inputs["name"], self.inputs["type"], self.inputs["set_identifiers"]
        ident, zone = self.find_zone()
        self.zone_id = ident
        found = _aws.weighted_records(self.read_record_sets(ident), name, rtype)
        records = _aws.pick_records(found, identifiers, name, rtype, ident)
        self.warn_about_others(found)
        weights = _aws.record_weights(records)
        result = {
            "changed": False,
            "zone_id": ident,
            "zone": zone,
            "name": name,
            "type": rtype,
            "set_identifiers": identifiers,
            "weights": weights,
            "previous_weights": weights,
            "live_colour": _aws.live_colour(weights),
            "previous_live_colour": _aws.live_colour(weights),
            "ttl": _aws.record_ttl(records["blue"]),
            "note": None,
            "change": None,
            "api_calls": self.conn.calls,
            "history_entry": None,
        }
        result.update(_aws.history_report(self.params, f"{name} {rtype} in zone {zone}", weights))
        return result

    def record(self, previous: dict, weights: dict, result: str, **extra: object) -> dict | None:
        if not self.params["history"]:
            return None
        extra.update(zone_id=self.zone_id, name=self.inputs["name"], type=self.inputs["type"])
        entry = _aws.history_entry(ROUTER, self.params, self.inputs["who"], previous, weights, result, **extra)
        return _aws.append_history(self.module, entry)


def run(module: AnsibleModule) -> dict:
    try:
        inputs = _aws.validate_route53_params(module.params)
        inputs["who"] = _aws.validate_history_params(module.params)
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
        mutually_exclusive=[["colour", "weights"], ["zone_id", "zone"], *_aws.MODULE_CONSTRAINTS["mutually_exclusive"]],
        required_one_of=[["zone_id", "zone"]],
        required_together=_aws.MODULE_CONSTRAINTS["required_together"],
        required_by=_aws.MODULE_CONSTRAINTS["required_by"],
    )
    if not _aws.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3"), exception=_aws.BOTO3_IMPORT_ERROR)
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()

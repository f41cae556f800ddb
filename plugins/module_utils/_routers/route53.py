# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Route 53 router: the weights of two weighted records, changed in one batch and waited for (``_aws``).

PRIVATE to the bluegreen.core collection: may change without notice.
"""

from __future__ import annotations

from ansible_collections.bluegreen.core.plugins.module_utils import _aws, _history, _validate
from ansible_collections.bluegreen.core.plugins.module_utils._routers import base
from ansible_collections.bluegreen.core.plugins.module_utils._routers.alb import AwsRouter

# Route 53 returns at most 300 record sets a page; a weighted set has at most 100 records.
_PAGE = "300"


class Route53Plan:
    def __init__(self, colour: str | None, zone: tuple, records: dict, desired: dict) -> None:
        self.colour = colour
        self.zone_id, self.zone = zone
        self.records = records
        self.from_weights = _aws.record_weights(records)
        self.ttl = _aws.record_ttl(records["blue"])
        self.changed = not _aws.same_split(self.from_weights, desired)
        self.moves_live_traffic = self.changed
        self.weights = desired if self.changed else self.from_weights

    def diff(self) -> dict:
        return {"before": {"weights": self.from_weights, "ttl": self.ttl}, "after": {"weights": self.weights, "ttl": self.ttl}}


class Route53(AwsRouter):
    KIND = "route53"
    OPTIONS = {
        **_aws.argument_spec(),
        "zone_id": {"type": "str"},
        "zone": {"type": "str"},
        "name": {"type": "str", "required": True},
        "type": {"type": "str", "default": "A", "choices": list(_aws.ROUTE53_TYPES)},
        "set_identifiers": {"type": "dict", "options": {
            "blue": {"type": "str", "default": "blue"},
            "green": {"type": "str", "default": "green"},
        }},
    }
    CHANGE_OPTIONS = {
        "colour": {"type": "str", "choices": [*_validate.COLOURS, "previous"]},
        "weights": {"type": "dict", "options": {
            "blue": {"type": "int", "required": True},
            "green": {"type": "int", "required": True},
        }},
        "force": {"type": "bool", "default": False},
        "wait": {"type": "bool", "default": True},
        "wait_timeout": {"type": "int", "default": 120},
        "history_limit": {"type": "int", "default": _history.HISTORY_LIMIT},
    }
    CONSTRAINTS = {
        **AwsRouter.CONSTRAINTS,
        "mutually_exclusive": [["zone_id", "zone"], *AwsRouter.CONSTRAINTS["mutually_exclusive"]],
        "required_one_of": [["zone_id", "zone"]],
    }

    def validate(self) -> None:
        super().validate()
        self.inputs = _aws.validate_route53_params(self.params)

    def connect(self) -> None:
        super().connect()
        self.client = self.conn.client("route53")

    # ---- the records

    def find_zone(self) -> tuple:
        """(zone id, zone name)."""
        inputs = self.inputs
        if inputs["zone_id"] is not None:
            ident = inputs["zone_id"]
            try:
                zone = self.conn.call(self.client, "GetHostedZone", Id=ident)["HostedZone"]
            except _aws.AwsError as exc:
                if exc.code == "NoSuchHostedZone":
                    raise _aws.AwsError(f"zone_id {ident}: no such hosted zone (NoSuchHostedZone)", param="zone_id") from None
                raise
            name = _aws.listed_name(zone["Name"])
            try:
                _aws.check_in_zone(inputs["name"], name)
            except _validate.ValidationError as exc:
                raise _aws.AwsError(str(exc), param="name") from None
            return ident, name
        name = inputs["zone"]
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

    def records(self) -> tuple:
        """((zone id, zone name), colour -> record), warning about other weighted records of the same name."""
        inputs = self.inputs
        zone = self.find_zone()
        found = _aws.weighted_records(self.read_record_sets(zone[0]), inputs["name"], inputs["type"])
        records = _aws.pick_records(found, inputs["set_identifiers"], inputs["name"], inputs["type"], zone[0])
        ours = set(inputs["set_identifiers"].values())
        others = [f"{ident} (weight {record.get('Weight')})" for ident, record in sorted(found.items()) if ident not in ours]
        if others:
            self.module.warn(
                f"{inputs['name']} {inputs['type']} also has the weighted records {', '.join(others)}; "
                "they keep their weights and their share of the queries"
            )
        return zone, records

    def describe(self, zone: tuple, ttl: int | None) -> dict:
        """What both the read and a change return about the records."""
        inputs = self.inputs
        return {
            "zone_id": zone[0],
            "zone": zone[1],
            "name": inputs["name"],
            "type": inputs["type"],
            "set_identifiers": inputs["set_identifiers"],
            "ttl": ttl,
            "change": None,
            "api_calls": self.conn.calls,
            "history_entry": None,
        }

    # ---- reading

    def current(self) -> dict:
        return _aws.record_weights(self.records()[1])

    def read(self, limit: int) -> dict:
        """Only read: the weights and TTL of the two records, and the history on this host."""
        inputs = self.inputs
        zone, records = self.records()
        weights = _aws.record_weights(records)
        ttl = _aws.record_ttl(records["blue"])
        where = f"{inputs['name']} {inputs['type']} in zone {zone[1]}"
        state = base.state(
            self,
            label=f"route53 {inputs['name']} {inputs['type']}",
            weights=weights,
            sources_agree=True,
            problems=[],
            says=f"weights blue {weights['blue']}, green {weights['green']}, TTL " + (f"{ttl}s" if ttl is not None else "of the alias target"),
            colours={c: f"set identifier {inputs['set_identifiers'][c]}" for c in _validate.COLOURS},
            healthy=dict.fromkeys(_validate.COLOURS),  # DNS does not tell
            counters=None,
            counters_note="Route 53 answers DNS queries and sees no HTTP responses, so it counts no 5xx per colour",
            history=_history.report(self.params["state_dir"], self.params["app"], weights, where, limit),
            lock=base.read_lock(self.params),
        )
        return dict(self.describe(zone, ttl), previous_weights=state["weights"],
                    previous_live_colour=state["live_colour"], note=None, **state)

    # ---- changing

    def plan(self, colour: str | None, weights: dict) -> Route53Plan:
        zone, records = self.records()
        return Route53Plan(colour, zone, records, weights)

    def result(self, plan: Route53Plan, gate: dict) -> dict:
        return dict(
            self.describe((plan.zone_id, plan.zone), plan.ttl),
            changed=plan.changed,
            colour=plan.colour or _aws.live_colour(plan.weights),
            weights=plan.weights,
            previous_weights=plan.from_weights,
            live_colour=_aws.live_colour(plan.weights),
            previous_live_colour=_aws.live_colour(plan.from_weights),
            note=_aws.ttl_note(plan.ttl, plan.from_weights),
        )

    def apply(self, plan: Route53Plan) -> dict:
        """One change batch of two UPSERTs, then (with wait=true) GetChange until INSYNC or wait_timeout."""
        batch = {
            "Comment": f"bluegreen.core {self.params['app']}: weights blue {plan.weights['blue']}, green {plan.weights['green']}",
            "Changes": _aws.upsert_changes(plan.records, plan.weights),
        }
        try:
            change = self.conn.call(self.client, "ChangeResourceRecordSets", HostedZoneId=plan.zone_id, ChangeBatch=batch)["ChangeInfo"]
        except _aws.AwsError as exc:
            raise base.SwitchFailed(str(exc), attempted=True, restored=True) from None
        status = {"id": change["Id"], "status": change["Status"], "waited_s": 0.0}
        if change["Status"] != "INSYNC" and self.params["wait"]:

            def check() -> tuple:
                info = self.conn.call(self.client, "GetChange", Id=change["Id"])["ChangeInfo"]
                return info["Status"] == "INSYNC", info["Status"]

            _done, status["status"], status["waited_s"] = _aws.wait_until(check, self.params["wait_timeout"])
        return {"change": status}

    def details(self, plan: Route53Plan, result: dict) -> dict:
        details = {"zone_id": plan.zone_id, "name": self.inputs["name"], "type": self.inputs["type"]}
        if result["change"] is not None:
            details["change_status"] = result["change"]["status"]
        return details

    def after(self, plan: Route53Plan, result: dict) -> None:
        change = result["change"]
        if change is not None and self.params["wait"] and change["status"] != "INSYNC":
            raise base.Refused(
                f"Route 53 accepted change {change['id']} but still reports it {change['status']} after {change['waited_s']}s "
                "(wait_timeout); it goes on propagating. Run again to check",
                **result,
            )

# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""route53_traffic as Ansible runs it, against botocore's Stubber: every AWS call is expected and checked;
an unexpected one fails the test. The moto-backed suite in tests/aws covers the real API round trip."""

from __future__ import annotations

import datetime
import json
import re

import pytest
from ansible_collections.bluegreen.core.plugins.module_utils import _aws
from ansible_collections.bluegreen.core.plugins.modules import route53_traffic
from ansible_collections.bluegreen.core.tests.unit.plugins.modules.aws_stubs import stubbed_aws
from ansible_collections.bluegreen.core.tests.unit.plugins.modules.module_helpers import run_module

ZONE_ID = "Z0123456789ABCDEFGHIJ"
NAME = "shop.example.com."
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
NOW = datetime.datetime(2025, 1, 1, 12, 0, 0)


@pytest.fixture
def aws(monkeypatch, tmp_path):
    return stubbed_aws(monkeypatch, tmp_path)


@pytest.fixture
def args(tmp_path):
    return {"app": "shop", "zone_id": ZONE_ID, "name": "shop.example.com", "access_key": "AKIDEXAMPLE", "secret_key": SECRET,
            "state_dir": str(tmp_path / "state"), "actor": "ci"}


def record(ident: str, weight: int, value: str, ttl: int = 60, **extra: object) -> dict:
    rrset = {"Name": NAME, "Type": "A", "SetIdentifier": ident, "Weight": weight, "TTL": ttl, "ResourceRecords": [{"Value": value}]}
    rrset.update(extra)
    return rrset


BLUE = record("blue", 100, "192.0.2.10", HealthCheckId="11111111-2222-3333-4444-555555555555")
GREEN = record("green", 0, "192.0.2.20")


def queue_reads(aws, *records: dict, zone_name: str = "example.com.") -> None:
    aws.respond("get_hosted_zone", {"HostedZone": {"Id": f"/hostedzone/{ZONE_ID}", "Name": zone_name, "CallerReference": "x"},
                                    "DelegationSet": {"NameServers": ["ns-1.example.net"]}}, {"Id": ZONE_ID})
    aws.respond("list_resource_record_sets", {"ResourceRecordSets": list(records), "IsTruncated": False, "MaxItems": "300"},
                {"HostedZoneId": ZONE_ID, "StartRecordName": NAME, "StartRecordType": "A", "MaxItems": "300"})


def change_info(status: str) -> dict:
    return {"ChangeInfo": {"Id": "/change/C2682N5HXP0BZ4", "Status": status, "SubmittedAt": NOW}}


def expected_batch(blue: int, green: int) -> dict:
    return {"HostedZoneId": ZONE_ID, "ChangeBatch": {
        "Comment": f"bluegreen.core shop: weights blue {blue}, green {green}",
        "Changes": [{"Action": "UPSERT", "ResourceRecordSet": dict(BLUE, Weight=blue)},
                    {"Action": "UPSERT", "ResourceRecordSet": dict(GREEN, Weight=green)}]}}


def history(args: dict) -> list:
    try:
        with open(f"{args['state_dir']}/shop/history.jsonl", encoding="utf-8") as handle:
            return [json.loads(line) for line in handle]
    except FileNotFoundError:
        return []


def test_switch_sends_two_upserts_copying_the_records_and_waits_for_insync(aws, args):
    queue_reads(aws, BLUE, GREEN, dict(BLUE, Name="other.example.com."))
    aws.respond("change_resource_record_sets", change_info("PENDING"), expected_batch(0, 100))
    aws.respond("get_change", change_info("PENDING"), {"Id": "/change/C2682N5HXP0BZ4"})
    aws.respond("get_change", change_info("INSYNC"), {"Id": "/change/C2682N5HXP0BZ4"})
    done = run_module(route53_traffic.main, dict(args, colour="green", _ansible_diff=True))
    aws.assert_all_used()
    assert done.failed is False, done.result
    assert done["changed"] is True
    assert (done["weights"], done["previous_weights"]) == ({"blue": 0, "green": 100}, {"blue": 100, "green": 0})
    assert (done["live_colour"], done["previous_live_colour"], done["ttl"]) == ("green", "blue", 60)
    assert done["change"]["status"] == "INSYNC" and done["change"]["id"] == "/change/C2682N5HXP0BZ4"
    assert done["note"].endswith("TTL of 60 seconds, some longer; keep blue serving at least that long")
    assert (done["zone_id"], done["zone"], done["name"]) == (ZONE_ID, "example.com.", NAME)
    assert done["api_calls"] == ["route53:GetHostedZone", "route53:ListResourceRecordSets", "route53:ChangeResourceRecordSets",
                                 "route53:GetChange", "route53:GetChange"]
    assert done["diff"] == {"before": {"weights": {"blue": 100, "green": 0}, "ttl": 60},
                            "after": {"weights": {"blue": 0, "green": 100}, "ttl": 60}}
    (entry,) = history(args)
    assert entry == done["history_entry"]
    assert {k: entry[k] for k in ("from", "to", "router", "result", "change_status", "zone_id", "name", "type")} == {
        "from": "blue", "to": "green", "router": "route53", "result": "ok", "change_status": "INSYNC",
        "zone_id": ZONE_ID, "name": NAME, "type": "A",
    }
    assert SECRET not in json.dumps(done.result)


def test_a_zone_found_by_name(aws, args):
    del args["zone_id"]
    aws.respond("list_hosted_zones_by_name", {
        "HostedZones": [{"Id": f"/hostedzone/{ZONE_ID}", "Name": "example.com.", "CallerReference": "x"},
                        {"Id": "/hostedzone/ZOTHER", "Name": "example.org.", "CallerReference": "y"}],
        "IsTruncated": False, "MaxItems": "100"}, {"DNSName": "example.com.", "MaxItems": "100"})
    aws.respond("list_resource_record_sets", {"ResourceRecordSets": [BLUE, GREEN], "IsTruncated": False, "MaxItems": "300"})
    done = run_module(route53_traffic.main, dict(args, zone="Example.com", colour="blue"))
    aws.assert_all_used()
    assert done.failed is False and done["changed"] is False and done["zone_id"] == ZONE_ID


def test_two_zones_with_the_name_are_refused(aws, args):
    del args["zone_id"]
    aws.respond("list_hosted_zones_by_name", {
        "HostedZones": [{"Id": "/hostedzone/ZPUBLIC", "Name": "example.com.", "CallerReference": "x"},
                        {"Id": "/hostedzone/ZPRIVATE", "Name": "example.com.", "CallerReference": "y", "Config": {"PrivateZone": True}}],
        "IsTruncated": False, "MaxItems": "100"})
    done = run_module(route53_traffic.main, dict(args, zone="example.com", colour="green"))
    assert done.failed and done.msg == (
        "zone example.com.: several hosted zones have that name (ZPUBLIC (public), ZPRIVATE (private)); give zone_id instead"
    )


def test_an_unknown_zone_id_is_named(aws, args):
    aws.error("get_hosted_zone", "NoSuchHostedZone", "No hosted zone found")
    done = run_module(route53_traffic.main, dict(args, colour="green"))
    assert done.failed and done.msg == f"zone_id {ZONE_ID}: no such hosted zone (NoSuchHostedZone)"


def test_a_name_outside_the_zone_is_refused_before_reading_records(aws, args):
    aws.respond("get_hosted_zone", {"HostedZone": {"Id": ZONE_ID, "Name": "example.org.", "CallerReference": "x"}})
    done = run_module(route53_traffic.main, dict(args, colour="green"))
    aws.assert_all_used()
    assert done.failed and done.msg == "name shop.example.com. is not in the hosted zone example.org."
    assert done["api_calls"] == ["route53:GetHostedZone"]


def test_wait_false_returns_pending(aws, args):
    queue_reads(aws, BLUE, GREEN)
    aws.respond("change_resource_record_sets", change_info("PENDING"), expected_batch(50, 50))
    done = run_module(route53_traffic.main, dict(args, weights={"blue": 50, "green": 50}, wait=False))
    aws.assert_all_used()
    assert done["changed"] is True and done["change"]["status"] == "PENDING" and done["live_colour"] is None
    assert "route53:GetChange" not in done["api_calls"]


def test_pending_past_wait_timeout_fails_as_changed(aws, args):
    queue_reads(aws, BLUE, GREEN)
    aws.respond("change_resource_record_sets", change_info("PENDING"), expected_batch(0, 100))
    aws.respond("get_change", change_info("PENDING"))
    done = run_module(route53_traffic.main, dict(args, colour="green", wait_timeout=0))
    aws.assert_all_used()
    assert done.failed and done["changed"] is True
    assert done.msg.startswith("Route 53 accepted change /change/C2682N5HXP0BZ4 but still reports it PENDING after")
    assert history(args)[0]["change_status"] == "PENDING"


def test_check_mode_sends_no_change(aws, args):
    queue_reads(aws, BLUE, GREEN)
    done = run_module(route53_traffic.main, dict(args, colour="green", _ansible_diff=True), check_mode=True)
    aws.assert_all_used()
    assert done["changed"] is True and done["change"] is None and done["diff"]["after"]["weights"] == {"blue": 0, "green": 100}
    assert "route53:ChangeResourceRecordSets" not in done["api_calls"] and history(args) == []


@pytest.mark.parametrize("request_", [{"colour": "blue"}, {"weights": {"blue": 255, "green": 0}}])
def test_the_same_split_changes_nothing(aws, args, request_):
    queue_reads(aws, BLUE, GREEN)
    done = run_module(route53_traffic.main, dict(args, **request_))
    aws.assert_all_used()
    assert done.failed is False and done["changed"] is False and done["change"] is None
    assert done["weights"] == {"blue": 100, "green": 0}


def test_different_ttls_are_refused_naming_them(aws, args):
    queue_reads(aws, BLUE, dict(GREEN, TTL=300))
    done = run_module(route53_traffic.main, dict(args, colour="green"))
    aws.assert_all_used()
    assert done.failed and "different TTLs (blue (blue): 60, green (green): 300)" in done.msg
    assert "route53:ChangeResourceRecordSets" not in done["api_calls"]


def test_a_missing_record_is_named(aws, args):
    queue_reads(aws, BLUE, record("canary", 5, "192.0.2.30"))
    done = run_module(route53_traffic.main, dict(args, colour="green"))
    assert done.failed and "with set identifier 'green' (set_identifiers.green); set identifiers found: blue, canary" in done.msg


def test_custom_identifiers_alias_records_and_other_members(aws, args):
    alias = {"HostedZoneId": "Z32O12XQLNTSW2", "DNSName": "shop-123.eu-west-1.elb.amazonaws.com.", "EvaluateTargetHealth": True}
    blue = {"Name": NAME, "Type": "A", "SetIdentifier": "shop-b", "Weight": 1, "AliasTarget": alias}
    green = {"Name": NAME, "Type": "A", "SetIdentifier": "shop-g", "Weight": 0, "AliasTarget": dict(alias, DNSName="g.example.net.")}
    queue_reads(aws, blue, green, record("canary", 5, "192.0.2.30"))
    aws.respond("change_resource_record_sets", change_info("INSYNC"), {"HostedZoneId": ZONE_ID, "ChangeBatch": {
        "Comment": "bluegreen.core shop: weights blue 0, green 100",
        "Changes": [{"Action": "UPSERT", "ResourceRecordSet": dict(blue, Weight=0)},
                    {"Action": "UPSERT", "ResourceRecordSet": dict(green, Weight=100)}]}})
    done = run_module(route53_traffic.main, dict(args, colour="green", set_identifiers={"blue": "shop-b", "green": "shop-g"}))
    aws.assert_all_used()
    assert done.failed is False and done["ttl"] is None and "alias target" in done["note"]
    assert any("also has the weighted records canary (weight 5)" in w for w in done.warnings)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"weights": {"blue": 256, "green": 0}}, r"^weights\.blue must be between 0 and 255, got 256$"),
        ({"weights": {"blue": 0, "green": 0}}, r"^weights must not all be 0"),
        ({"weights": {"blue": 0, "green": True}}, r"^weights\.green must be between 0 and 255, got True$"),
        ({"colour": "green", "zone_id": "Z 1"}, r"^zone_id must be a hosted zone id"),
        ({"colour": "green", "name": "shop.example.com;"}, r"^name .* is not a valid DNS name"),
        ({"colour": "green", "set_identifiers": {"blue": "same", "green": "same"}}, r"^set_identifiers\.blue and set_identifiers\.green"),
        ({"colour": "green", "zone_id": None, "zone": "example.org"}, r"^name shop\.example\.com\. is not in the hosted zone"),
        ({"colour": "green", "wait_timeout": -1}, r"^wait_timeout must be 0 or more"),
    ],
)
def test_bad_inputs_fail_before_any_aws_call(aws, args, overrides, message):
    given = {key: value for key, value in dict(args, **overrides).items() if value is not None}
    done = run_module(route53_traffic.main, given)
    assert done.failed and done["changed"] is False
    assert re.match(message, done.msg), done.msg
    assert done["api_calls"] == [] and aws.stubbers == []


def test_missing_credentials_fail_before_any_call(aws, args):
    del args["access_key"], args["secret_key"]
    done = run_module(route53_traffic.main, dict(args, colour="green"))
    assert done.failed and done.msg == _aws.NO_CREDENTIALS and aws.stubbers == []


def test_zone_and_zone_id_exclude_each_other(aws, args):
    done = run_module(route53_traffic.main, dict(args, zone="example.com", colour="green"))
    assert done.failed and "mutually exclusive" in done.msg and aws.stubbers == []

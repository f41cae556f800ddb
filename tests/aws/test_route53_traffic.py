# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""route53_traffic against a real moto server: what the hosted zone says after each run."""

from __future__ import annotations

from ansible_collections.bluegreen.core.plugins.modules import route53_traffic
from ansible_collections.bluegreen.core.tests.aws.moto_lab import CREDENTIALS, Zone, weighted
from ansible_collections.bluegreen.core.tests.unit.plugins.modules.module_helpers import run_module


def switch(lab: Zone, moto, tmp_path, check_mode: bool = False, **args: object):
    base = {"app": "shop", "zone_id": lab.zone_id, "name": "shop.example.com", "endpoint_url": moto.url,
            "state_dir": str(tmp_path / "state"), "wait_timeout": 10, **CREDENTIALS}
    base.update(args)
    return run_module(route53_traffic.main, {k: v for k, v in base.items() if v is not None}, check_mode=check_mode)


def test_switch_to_green_waits_for_insync_and_copies_the_records(zone, moto, tmp_path):
    before = zone.records()
    bystander = zone.records("other.example.com.")
    done = switch(zone, moto, tmp_path, colour="green")
    assert done.failed is False, done.result
    assert done["changed"] is True and done["change"]["status"] == "INSYNC"
    assert zone.weights() == {"blue": 0, "green": 100}
    after = zone.records()
    assert after == {ident: dict(rrset, Weight=after[ident]["Weight"]) for ident, rrset in before.items()}
    assert zone.records("other.example.com.") == bystander
    assert (done["ttl"], done["live_colour"]) == (60, "green")
    assert "TTL of 60 seconds" in done["note"] and "keep blue serving" in done["note"]
    again = switch(zone, moto, tmp_path, colour="green")
    assert again["changed"] is False and "route53:ChangeResourceRecordSets" not in again["api_calls"]


def test_steps_and_rollback_by_zone_name(zone, moto, tmp_path):
    for weights in ({"blue": 90, "green": 10}, {"blue": 50, "green": 50}):
        done = switch(zone, moto, tmp_path, zone_id=None, zone="example.com", weights=weights)
        assert done.failed is False and done["live_colour"] is None, done.result
        assert zone.weights() == weights
    done = switch(zone, moto, tmp_path, colour="blue", action="rollback")
    assert done["changed"] is True and zone.weights() == {"blue": 100, "green": 0}
    assert done["history_entry"]["action"] == "rollback"


def test_different_ttls_are_refused(zone, moto, tmp_path):
    zone.upsert(weighted(zone.name, "green", 0, "192.0.2.20", ttl=300))
    before = zone.records()
    done = switch(zone, moto, tmp_path, colour="green")
    assert done.failed and "different TTLs (blue (blue): 60, green (green): 300)" in done.msg
    assert zone.records() == before


def test_check_mode_changes_nothing(zone, moto, tmp_path):
    before = zone.records()
    done = switch(zone, moto, tmp_path, check_mode=True, colour="green")
    assert done["changed"] is True and done["change"] is None
    assert zone.records() == before
    assert "route53:ChangeResourceRecordSets" not in done["api_calls"]


def test_a_missing_record_is_refused(zone, moto, tmp_path):
    done = switch(zone, moto, tmp_path, colour="green", set_identifiers={"blue": "blue", "green": "shop-green"})
    assert done.failed and "with set identifier 'shop-green' (set_identifiers.green)" in done.msg
    assert zone.weights() == {"blue": 100, "green": 0}


def test_a_read_reports_the_weights_and_where_a_rollback_goes_after_steps(zone, moto, tmp_path):
    for weights in ({"blue": 90, "green": 10}, {"blue": 50, "green": 50}, {"blue": 0, "green": 100}):
        assert switch(zone, moto, tmp_path, weights=weights)["changed"] is True
    read = switch(zone, moto, tmp_path, history_limit=2)
    assert read.failed is False, read.result
    assert (read["changed"], read["weights"], read["live_colour"], read["ttl"]) == (False, {"blue": 0, "green": 100}, "green", 60)
    assert read["previous_colour"] == "blue" and read["problems"] == [] and len(read["history"]) == 2
    assert read["api_calls"] == ["route53:GetHostedZone", "route53:ListResourceRecordSets"]

# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""elb_traffic against a real moto server: what the listener says after each run."""

from __future__ import annotations

import json

from ansible_collections.bluegreen.core.plugins.modules import elb_traffic
from ansible_collections.bluegreen.core.tests.aws.moto_lab import CREDENTIALS, Alb
from ansible_collections.bluegreen.core.tests.unit.plugins.modules.module_helpers import run_module

MUTATING = {"elasticloadbalancing:ModifyListener", "elasticloadbalancing:ModifyRule"}


def switch(alb: Alb, moto, tmp_path, check_mode: bool = False, **args: object):
    base = {"app": "shop", "listener_arn": alb.listener_arn, "target_groups": dict(alb.target_groups), "endpoint_url": moto.url,
            "state_dir": str(tmp_path / "state"), "health_timeout": 0, "actor": "pytest", **CREDENTIALS}
    base.update(args)
    return run_module(elb_traffic.main, base, check_mode=check_mode)


def history(tmp_path) -> list:
    with open(tmp_path / "state" / "shop" / "history.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def test_full_switch_to_green_and_a_rerun_changes_nothing(alb, moto, tmp_path):
    rules_before = alb.rules()
    done = switch(alb, moto, tmp_path, colour="green")
    assert done.failed is False, done.result
    assert done["changed"] is True and done["live_colour"] == "green" and done["previous_live_colour"] == "blue"
    assert alb.weights() == {"blue": 0, "green": 100}
    assert done["health"]["green"]["healthy"] is True and len(done["health"]["green"]["targets"]) == 2
    # The listener's rules (the /api forward, the /old redirect) are as they were.
    assert [r for r in alb.rules() if r["Priority"] != "default"] == [r for r in rules_before if r["Priority"] != "default"]
    again = switch(alb, moto, tmp_path, colour="green")
    assert again["changed"] is False and not set(again["api_calls"]) & MUTATING
    assert len(history(tmp_path)) == 1


def test_weighted_steps_10_50_100(alb, moto, tmp_path):
    seen = []
    for weights in ({"blue": 90, "green": 10}, {"blue": 50, "green": 50}, {"blue": 0, "green": 100}):
        done = switch(alb, moto, tmp_path, weights=weights)
        assert done.failed is False and done["changed"] is True, done.result
        seen.append((alb.weights(), done["live_colour"]))
    assert seen == [({"blue": 90, "green": 10}, None), ({"blue": 50, "green": 50}, None), ({"blue": 0, "green": 100}, "green")]
    assert [(e["from"], e["to"]) for e in history(tmp_path)] == [("blue", None), (None, None), (None, "green")]


def test_rollback_goes_back_to_blue(alb, moto, tmp_path):
    assert switch(alb, moto, tmp_path, colour="green")["changed"] is True
    done = switch(alb, moto, tmp_path, colour="blue", action="rollback", reason="error rate")
    assert done["changed"] is True and done["previous_live_colour"] == "green"
    assert alb.weights() == {"blue": 100, "green": 0}
    last = history(tmp_path)[-1]
    assert (last["action"], last["from"], last["to"], last["reason"]) == ("rollback", "green", "blue", "error rate")


def test_a_target_group_without_targets_gets_no_traffic(alb, moto, tmp_path):
    empty = alb.target_group("shop-empty")
    before = alb.default_actions()
    done = switch(alb, moto, tmp_path, colour="green", target_groups={"blue": alb.target_groups["blue"], "green": empty}, health_timeout=1)
    assert done.failed and f"green ({empty}) has no registered targets" in done.msg
    assert done["health_waited_s"] >= 1
    assert alb.default_actions() == before
    assert not set(done["api_calls"]) & MUTATING


def test_a_stopped_instance_makes_the_group_unhealthy_unless_forced(alb, moto, tmp_path):
    alb.ec2.stop_instances(InstanceIds=[alb.instances["green"][0]])
    before = alb.default_actions()
    refused = switch(alb, moto, tmp_path, colour="green")
    assert refused.failed and f"{alb.instances['green'][0]}:80 unused (Target.InvalidState" in refused.msg
    assert alb.default_actions() == before
    forced = switch(alb, moto, tmp_path, colour="green", force=True)
    assert forced.failed is False and forced["changed"] is True and forced.warnings
    assert alb.weights() == {"blue": 0, "green": 100}


def test_check_mode_changes_nothing(alb, moto, tmp_path):
    before, rules = alb.default_actions(), alb.rules()
    done = switch(alb, moto, tmp_path, check_mode=True, colour="green", _ansible_diff=True)
    assert done["changed"] is True and done["diff"]["after"]["weights"] == {"blue": 0, "green": 100}
    assert alb.default_actions() == before and alb.rules() == rules
    assert not set(done["api_calls"]) & MUTATING
    assert not (tmp_path / "state").exists()


def test_a_rule_switch_leaves_the_default_actions_and_other_rules_alone(alb, moto, tmp_path):
    default_before = alb.default_actions()
    redirect_before = alb.rule_actions(alb.static_rule_arn)
    done = switch(alb, moto, tmp_path, rule_arn=alb.api_rule_arn, weights={"blue": 50, "green": 50})
    assert done.failed is False and done["changed"] is True, done.result
    assert alb.weights(alb.rule_actions(alb.api_rule_arn)) == {"blue": 50, "green": 50}
    assert alb.default_actions() == default_before
    assert alb.rule_actions(alb.static_rule_arn) == redirect_before


def test_other_actions_of_the_listener_are_kept(alb, moto, tmp_path):
    oidc = {"Type": "authenticate-oidc", "Order": 1, "AuthenticateOidcConfig": {
        "Issuer": "https://idp.example.com", "AuthorizationEndpoint": "https://idp.example.com/a",
        "TokenEndpoint": "https://idp.example.com/t", "UserInfoEndpoint": "https://idp.example.com/u", "ClientId": "shop",
        "ClientSecret": "only-for-moto"}}
    alb.elbv2.modify_listener(ListenerArn=alb.listener_arn, DefaultActions=[
        oidc, {"Type": "forward", "Order": 2, "TargetGroupArn": alb.target_groups["blue"]}])
    done = switch(alb, moto, tmp_path, colour="green")
    assert done.failed is False, done.result
    actions = alb.default_actions()
    assert actions[0] == oidc
    assert alb.weights(actions) == {"blue": 0, "green": 100}


def test_a_listener_without_forward_action_is_refused(alb, moto, tmp_path):
    redirect = {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}
    alb.elbv2.modify_listener(ListenerArn=alb.listener_arn, DefaultActions=[redirect])
    before = alb.default_actions()
    done = switch(alb, moto, tmp_path, colour="green")
    assert done.failed and "has no forward action; it has: redirect" in done.msg
    assert alb.default_actions() == before


def test_a_target_group_that_does_not_exist_is_refused(alb, moto, tmp_path):
    # moto's ModifyListener would accept it; the module must not get that far.
    ghost = alb.target_groups["green"].rsplit("/", 1)[0] + "/0123456789abcdef"
    before = alb.default_actions()
    done = switch(alb, moto, tmp_path, colour="green", target_groups={"blue": alb.target_groups["blue"], "green": ghost})
    assert done.failed and done.msg == f"target_groups.green {ghost} does not exist (TargetGroupNotFound)"
    assert alb.default_actions() == before


def test_weights_out_of_range_never_reach_moto(alb, moto, tmp_path):
    before = alb.default_actions()
    done = switch(alb, moto, tmp_path, weights={"blue": 0, "green": 1000})
    assert done.failed and done.msg == "weights.green must be between 0 and 999, got 1000" and done["api_calls"] == []
    assert alb.default_actions() == before


def test_a_read_reports_weights_health_history_and_says_when_cloudwatch_has_no_metrics(alb, moto, tmp_path):
    assert switch(alb, moto, tmp_path, colour="green")["changed"] is True
    read = switch(alb, moto, tmp_path, metrics_since="2025-01-01T12:00:00Z")
    assert read.failed is False, read.result
    assert (read["changed"], read["weights"], read["live_colour"], read["previous_colour"]) == (False, {"blue": 0, "green": 100}, "green", "blue")
    assert read["health"]["green"]["healthy"] is True and read["problems"] == [] and len(read["history"]) == 1
    assert read["metrics"] is None and "no RequestCount datapoints" in read["metrics_problem"]
    assert "cloudwatch:GetMetricStatistics" in read["api_calls"] and not set(read["api_calls"]) & MUTATING
    # A change made outside the collection is a problem the read reports.
    alb.elbv2.modify_listener(ListenerArn=alb.listener_arn, DefaultActions=[{"Type": "forward", "TargetGroupArn": alb.target_groups["blue"]}])
    read = switch(alb, moto, tmp_path)
    assert read["live_colour"] == "blue" and "changed outside bluegreen.core" in read["problems"][0]


def test_metrics_since_must_be_a_utc_time_and_goes_with_a_read_only(alb, moto, tmp_path):
    bad = switch(alb, moto, tmp_path, metrics_since="yesterday")
    assert bad.failed and "metrics_since must be a UTC time" in bad.msg and bad["api_calls"] == []
    mixed = switch(alb, moto, tmp_path, colour="green", metrics_since="2025-01-01T12:00:00Z")
    assert mixed.failed and "metrics_since only goes with a read" in mixed.msg and mixed["api_calls"] == []

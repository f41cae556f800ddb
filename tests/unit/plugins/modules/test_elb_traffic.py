# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""elb_traffic as Ansible runs it, against botocore's Stubber: every AWS call is expected and checked;
an unexpected one fails the test. The moto-backed suite in tests/aws covers the real API round trip."""

from __future__ import annotations

import copy
import json
import re

import pytest
from ansible_collections.bluegreen.core.plugins.module_utils import _aws
from ansible_collections.bluegreen.core.plugins.modules import elb_traffic
from ansible_collections.bluegreen.core.tests.unit.plugins.modules.aws_stubs import StubbedAws, stubbed_aws
from ansible_collections.bluegreen.core.tests.unit.plugins.modules.module_helpers import run_module

PREFIX = "arn:aws:elasticloadbalancing:eu-west-1:123456789012"
LISTENER = f"{PREFIX}:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2"
RULE = f"{PREFIX}:listener-rule/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
BLUE = f"{PREFIX}:targetgroup/shop-blue/73e2d6bc24d8a067"
GREEN = f"{PREFIX}:targetgroup/shop-green/2453ed029918f21f"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
MUTATING = ("elasticloadbalancing:ModifyListener", "elasticloadbalancing:ModifyRule")
OIDC = {
    "Type": "authenticate-oidc", "Order": 1,
    "AuthenticateOidcConfig": {"Issuer": "https://idp.example.com", "AuthorizationEndpoint": "https://idp.example.com/a",
                               "TokenEndpoint": "https://idp.example.com/t", "UserInfoEndpoint": "https://idp.example.com/u",
                               "ClientId": "shop"},
}


@pytest.fixture
def aws(monkeypatch, tmp_path):
    return stubbed_aws(monkeypatch, tmp_path)


@pytest.fixture
def args(tmp_path):
    return {"app": "shop", "listener_arn": LISTENER, "target_groups": {"blue": BLUE, "green": GREEN},
            "access_key": "AKIDEXAMPLE", "secret_key": SECRET, "state_dir": str(tmp_path / "state"), "actor": "ci"}


def forward(*weights: tuple, stickiness: dict | None = None) -> dict:
    config = {"TargetGroups": [{"TargetGroupArn": arn, "Weight": weight} for arn, weight in weights]}
    config["TargetGroupStickinessConfig"] = stickiness or {"Enabled": False}
    return {"Type": "forward", "Order": 2, "ForwardConfig": config}


def healthy(*ids: str) -> dict:
    return {"TargetHealthDescriptions": [{"Target": {"Id": i, "Port": 80}, "TargetHealth": {"State": "healthy"}} for i in ids]}


def queue_reads(aws: StubbedAws, actions: list, blue_health: dict | None = None, green_health: dict | None = None,
                rule: dict | None = None) -> None:
    aws.respond("describe_listeners", {"Listeners": [{"ListenerArn": LISTENER, "DefaultActions": actions}]}, {"ListenerArns": [LISTENER]})
    if rule is not None:
        aws.respond("describe_rules", {"Rules": [rule]}, {"RuleArns": [rule["RuleArn"]]})
    aws.respond("describe_target_groups", {"TargetGroups": [{"TargetGroupArn": BLUE}]}, {"TargetGroupArns": [BLUE]})
    aws.respond("describe_target_groups", {"TargetGroups": [{"TargetGroupArn": GREEN}]}, {"TargetGroupArns": [GREEN]})
    queue_health(aws, blue_health, green_health)


def queue_health(aws: StubbedAws, blue: dict | None = None, green: dict | None = None) -> None:
    aws.respond("describe_target_health", blue or healthy("i-blue1"), {"TargetGroupArn": BLUE})
    aws.respond("describe_target_health", green or healthy("i-green1", "i-green2"), {"TargetGroupArn": GREEN})


def history(args: dict) -> list:
    path = f"{args['state_dir']}/shop/history.jsonl"
    try:
        with open(path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle]
    except FileNotFoundError:
        return []


def test_colour_green_rebuilds_the_actions_keeping_the_others(aws, args):
    actions = [copy.deepcopy(OIDC), {"Type": "forward", "Order": 2, "TargetGroupArn": BLUE}]
    queue_reads(aws, actions)
    expected_oidc = copy.deepcopy(OIDC)
    expected_oidc["AuthenticateOidcConfig"]["UseExistingClientSecret"] = True
    sent = [expected_oidc, forward((BLUE, 0), (GREEN, 100))]
    aws.respond("modify_listener", {"Listeners": [{"ListenerArn": LISTENER, "DefaultActions": [OIDC, forward((BLUE, 0), (GREEN, 100))]}]},
                {"ListenerArn": LISTENER, "DefaultActions": sent})
    done = run_module(elb_traffic.main, dict(args, colour="green", versions={"blue": "1.4.2", "green": "1.5.0"}, _ansible_diff=True))
    assert done.failed is False, done.result
    aws.assert_all_used()
    assert done["changed"] is True
    assert done["weights"] == {"blue": 0, "green": 100}
    assert done["previous_weights"] == {"blue": 1, "green": 0}
    assert (done["live_colour"], done["previous_live_colour"]) == ("green", "blue")
    assert done["health"]["green"]["healthy"] is True and len(done["health"]["green"]["targets"]) == 2
    assert done["api_calls"][-1] == "elasticloadbalancing:ModifyListener"
    assert done["diff"] == {
        "before": {"weights": {"blue": 1, "green": 0}, "stickiness": {"enabled": False, "duration_seconds": None}},
        "after": {"weights": {"blue": 0, "green": 100}, "stickiness": {"enabled": False, "duration_seconds": None}},
    }
    (entry,) = history(args)
    assert entry == done["history_entry"]
    assert {k: entry[k] for k in ("action", "from", "to", "router", "result", "actor", "listener_arn", "rule_arn")} == {
        "action": "switch", "from": "blue", "to": "green", "router": "alb", "result": "ok", "actor": "ci",
        "listener_arn": LISTENER, "rule_arn": None,
    }
    assert entry["versions"] == {"blue": "1.4.2", "green": "1.5.0"} and entry["weights"] == {"blue": 0, "green": 100}
    assert SECRET not in json.dumps(done.result)


def test_check_mode_reads_and_reports_but_modifies_nothing(aws, args):
    queue_reads(aws, [forward((BLUE, 100), (GREEN, 0))])
    done = run_module(elb_traffic.main, dict(args, weights={"blue": 90, "green": 10}, _ansible_diff=True), check_mode=True)
    aws.assert_all_used()
    assert done["changed"] is True and done["weights"] == {"blue": 90, "green": 10}
    assert done["live_colour"] is None and done["previous_live_colour"] == "blue"
    assert done["diff"]["after"]["weights"] == {"blue": 90, "green": 10}
    assert not set(done["api_calls"]) & set(MUTATING)
    assert done["history_entry"] is None and history(args) == []


@pytest.mark.parametrize(
    ("actions", "request_"),
    [
        ([forward((BLUE, 0), (GREEN, 100))], {"colour": "green"}),
        ([{"Type": "forward", "TargetGroupArn": GREEN}], {"colour": "green"}),  # a bare ARN is all the traffic
        ([forward((GREEN, 1))], {"weights": {"blue": 0, "green": 7}}),
        ([forward((BLUE, 1), (GREEN, 9))], {"weights": {"blue": 10, "green": 90}}),
    ],
)
def test_the_same_split_changes_nothing(aws, args, actions, request_):
    queue_reads(aws, actions)
    done = run_module(elb_traffic.main, dict(args, **request_))
    aws.assert_all_used()
    assert done.failed is False and done["changed"] is False
    assert not set(done["api_calls"]) & set(MUTATING)
    assert done["history_entry"] is None


def test_weighted_step_on_a_rule(aws, args):
    rule = {"RuleArn": RULE, "Priority": "10", "IsDefault": False,
            "Conditions": [{"Field": "path-pattern", "Values": ["/api/*"]}], "Actions": [forward((BLUE, 100), (GREEN, 0))]}
    queue_reads(aws, [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}], rule=rule)
    applied = forward((BLUE, 50), (GREEN, 50))
    aws.respond("modify_rule", {"Rules": [dict(rule, Actions=[applied])]}, {"RuleArn": RULE, "Actions": [applied]})
    done = run_module(elb_traffic.main, dict(args, rule_arn=RULE, weights={"blue": 50, "green": 50}))
    aws.assert_all_used()
    assert done["changed"] is True and done["weights"] == {"blue": 50, "green": 50} and done["live_colour"] is None
    assert done["api_calls"] == [
        "elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeRules", "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth",
        "elasticloadbalancing:DescribeTargetHealth", "elasticloadbalancing:ModifyRule",
    ]
    assert history(args)[0]["rule_arn"] == RULE


def test_the_default_rule_is_refused_naming_rule_arn(aws, args):
    rule = {"RuleArn": RULE, "Priority": "default", "IsDefault": True, "Conditions": [], "Actions": [forward((BLUE, 1))]}
    aws.respond("describe_listeners", {"Listeners": [{"ListenerArn": LISTENER, "DefaultActions": [forward((BLUE, 1))]}]})
    aws.respond("describe_rules", {"Rules": [rule]})
    done = run_module(elb_traffic.main, dict(args, rule_arn=RULE, colour="green"))
    assert done.failed and done.msg.startswith(f"rule_arn {RULE} is the listener's default rule")


def test_a_listener_without_forward_action_is_refused(aws, args):
    aws.respond("describe_listeners", {"Listeners": [{"ListenerArn": LISTENER, "DefaultActions": [
        copy.deepcopy(OIDC), {"Type": "redirect", "Order": 2, "RedirectConfig": {"Protocol": "HTTPS", "StatusCode": "HTTP_301"}}]}]})
    done = run_module(elb_traffic.main, dict(args, colour="green"))
    aws.assert_all_used()
    assert done.failed and done["changed"] is False
    assert done.msg.startswith(f"listener {LISTENER} has no forward action; it has: authenticate-oidc, redirect")
    assert done["api_calls"] == ["elasticloadbalancing:DescribeListeners"]


def test_a_missing_target_group_is_named(aws, args):
    aws.respond("describe_listeners", {"Listeners": [{"ListenerArn": LISTENER, "DefaultActions": [forward((BLUE, 1))]}]})
    aws.respond("describe_target_groups", {"TargetGroups": [{"TargetGroupArn": BLUE}]})
    aws.error("describe_target_groups", "TargetGroupNotFound", "One or more target groups not found")
    done = run_module(elb_traffic.main, dict(args, colour="green"))
    aws.assert_all_used()
    assert done.failed and done.msg == f"target_groups.green {GREEN} does not exist (TargetGroupNotFound)"
    assert not set(done["api_calls"]) & set(MUTATING)


def test_a_missing_listener_is_named(aws, args):
    aws.error("describe_listeners", "ListenerNotFound", "The specified listener does not exist.")
    done = run_module(elb_traffic.main, dict(args, colour="green"))
    assert done.failed and done.msg == f"listener_arn {LISTENER} does not exist (ListenerNotFound)"


def test_a_third_target_group_in_the_forward_action_is_refused(aws, args):
    legacy = f"{PREFIX}:targetgroup/legacy/0123456789abcdef"
    aws.respond("describe_listeners", {"Listeners": [{"ListenerArn": LISTENER, "DefaultActions": [forward((BLUE, 1), (legacy, 1))]}]})
    done = run_module(elb_traffic.main, dict(args, colour="green"))
    assert done.failed and "legacy/0123456789abcdef (weight 1)" in done.msg and "neither target_groups.blue" in done.msg


def test_a_group_without_targets_gets_no_traffic(aws, args):
    queue_reads(aws, [forward((BLUE, 1))], green_health={"TargetHealthDescriptions": []})
    done = run_module(elb_traffic.main, dict(args, colour="green", health_timeout=0))
    aws.assert_all_used()
    assert done.failed and done["changed"] is False
    assert done.msg.startswith("refusing to give traffic to an unhealthy target group after waiting")
    assert f"green ({GREEN}) has no registered targets" in done.msg and "force=true" in done.msg
    assert done["health"]["green"] == {"healthy": False, "targets": []}
    assert not set(done["api_calls"]) & set(MUTATING)
    assert history(args) == []


def test_the_health_gate_waits_for_targets_to_become_healthy(aws, args):
    initial = {"TargetHealthDescriptions": [{"Target": {"Id": "i-green1", "Port": 80},
                                             "TargetHealth": {"State": "initial", "Reason": "Elb.InitialHealthChecking"}}]}
    queue_reads(aws, [forward((BLUE, 1))], green_health=initial)
    queue_health(aws, None, initial)
    queue_health(aws, None, healthy("i-green1"))
    aws.respond("modify_listener", {"Listeners": [{"ListenerArn": LISTENER, "DefaultActions": [forward((BLUE, 0), (GREEN, 100))]}]})
    done = run_module(elb_traffic.main, dict(args, colour="green", health_timeout=10))
    aws.assert_all_used()
    assert done.failed is False and done["changed"] is True
    assert done["api_calls"].count("elasticloadbalancing:DescribeTargetHealth") == 6
    assert done["health"]["green"]["healthy"] is True


def test_only_groups_that_get_traffic_are_gated(aws, args):
    # Back to blue while green is broken: that is exactly what a rollback needs.
    queue_reads(aws, [forward((BLUE, 0), (GREEN, 100))], green_health={"TargetHealthDescriptions": []})
    aws.respond("modify_listener", {"Listeners": [{"ListenerArn": LISTENER, "DefaultActions": [forward((BLUE, 100), (GREEN, 0))]}]})
    done = run_module(elb_traffic.main, dict(args, colour="blue", action="rollback", health_timeout=0))
    aws.assert_all_used()
    assert done.failed is False and done["live_colour"] == "blue"
    assert history(args)[0]["action"] == "rollback"


def test_force_switches_to_an_unhealthy_group_with_a_warning(aws, args):
    stopped = {"TargetHealthDescriptions": [{"Target": {"Id": "i-green1", "Port": 80}, "TargetHealth": {
        "State": "unused", "Reason": "Target.InvalidState", "Description": "Target is in the stopped state"}}]}
    queue_reads(aws, [forward((BLUE, 1))], green_health=stopped)
    aws.respond("modify_listener", {"Listeners": [{"ListenerArn": LISTENER, "DefaultActions": [forward((BLUE, 0), (GREEN, 100))]}]})
    done = run_module(elb_traffic.main, dict(args, colour="green", force=True))
    assert done.failed is False and done["changed"] is True
    assert any("i-green1:80 unused (Target.InvalidState" in w for w in done.warnings)


def test_stickiness_alone_is_a_change_and_is_noted(aws, args):
    queue_reads(aws, [forward((BLUE, 0), (GREEN, 100))])
    sticky = forward((BLUE, 0), (GREEN, 100), stickiness={"Enabled": True, "DurationSeconds": 300})
    aws.respond("modify_listener", {"Listeners": [{"ListenerArn": LISTENER, "DefaultActions": [sticky]}]},
                {"ListenerArn": LISTENER, "DefaultActions": [sticky]})
    done = run_module(elb_traffic.main, dict(args, colour="green", stickiness={"enabled": True, "duration_seconds": 300}))
    aws.assert_all_used()
    assert done["changed"] is True and done["stickiness"] == {"enabled": True, "duration_seconds": 300}
    assert "stickiness is on (300 s)" in done["note"]


def test_aws_reporting_other_weights_after_modify_fails(aws, args):
    queue_reads(aws, [forward((BLUE, 1))])
    aws.respond("modify_listener", {"Listeners": [{"ListenerArn": LISTENER, "DefaultActions": [forward((BLUE, 1))]}]})
    done = run_module(elb_traffic.main, dict(args, colour="green"))
    assert done.failed and done["changed"] is True
    assert "now reports weights {'blue': 1, 'green': 0}" in done.msg
    assert history(args)[0]["result"] == "failed"


def test_access_denied_names_the_iam_action_and_never_the_secret(aws, args):
    queue_reads(aws, [forward((BLUE, 1))])
    aws.error("modify_listener", "AccessDenied", f"not allowed for key AKIDEXAMPLE / {SECRET}")
    done = run_module(elb_traffic.main, dict(args, colour="green"))
    aws.assert_all_used()
    assert done.failed and done.msg.startswith("AWS denied elasticloadbalancing:ModifyListener (AccessDenied")
    assert SECRET not in json.dumps(done.result)
    (entry,) = history(args)
    assert entry["result"] == "failed" and SECRET not in json.dumps(entry)


def test_an_unwritable_history_is_a_warning(aws, args, tmp_path):
    (tmp_path / "file").write_text("")
    queue_reads(aws, [forward((BLUE, 1))])
    aws.respond("modify_listener", {"Listeners": [{"ListenerArn": LISTENER, "DefaultActions": [forward((BLUE, 0), (GREEN, 100))]}]})
    done = run_module(elb_traffic.main, dict(args, colour="green", state_dir=str(tmp_path / "file")))
    assert done.failed is False and done["history_entry"] is None
    assert any("could not be added to the history" in w for w in done.warnings)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"weights": {"blue": 1000, "green": 0}}, r"^weights\.blue must be between 0 and 999, got 1000$"),
        ({"weights": {"blue": -1, "green": 1}}, r"^weights\.blue must be between 0 and 999, got -1$"),
        ({"weights": {"blue": 0, "green": 0}}, r"^weights must not all be 0"),
        ({"weights": {"blue": True, "green": 0}}, r"^weights\.blue must be between 0 and 999, got True$"),
        ({"colour": "green", "listener_arn": "arn:aws:elasticloadbalancing:eu-west-1:1:listener/app/x"}, r"^listener_arn .* is not a valid ARN"),
        ({"colour": "green", "target_groups": {"blue": BLUE, "green": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/x"}},
         r"^target_groups\.green .* is not a valid ARN"),
        ({"colour": "green", "rule_arn": RULE.replace("shop", "other")}, r"^rule_arn .* is not a rule of listener_arn"),
        ({"colour": "green", "region": "us-east-1"}, r"^region 'us-east-1' does not match"),
        ({"colour": "green", "app": "shop;x"}, r"^app 'shop;x' is not a safe name"),
        ({"colour": "green", "reason": "two\nlines"}, r"^reason must be one printable line"),
        ({"colour": "green", "stickiness": {"enabled": True}}, r"^stickiness\.duration_seconds must be 1 to 604800"),
    ],
)
def test_bad_inputs_fail_before_any_aws_call(aws, args, overrides, message):
    done = run_module(elb_traffic.main, dict(args, **overrides))
    assert done.failed and done["changed"] is False
    assert re.match(message, done.msg), done.msg
    assert done["api_calls"] == [] and aws.stubbers == []


def test_colour_and_weights_exclude_each_other(aws, args):
    done = run_module(elb_traffic.main, dict(args, colour="green", weights={"blue": 0, "green": 1}))
    assert done.failed and "mutually exclusive" in done.msg and aws.stubbers == []


def test_without_colour_or_weights_it_only_reads(aws, args):
    queue_reads(aws, [forward((BLUE, 100), (GREEN, 0))], healthy("i-1"), healthy("i-2"))
    done = run_module(elb_traffic.main, dict(args))
    assert done.failed is False, done.result
    assert (done["changed"], done["weights"], done["live_colour"], done["previous_colour"]) == (False, {"blue": 100, "green": 0}, "blue", None)
    assert not set(done["api_calls"]) & set(MUTATING)


def test_missing_credentials_fail_before_any_call(aws, args):
    del args["access_key"], args["secret_key"]
    done = run_module(elb_traffic.main, dict(args, colour="green"))
    assert done.failed and done.msg == _aws.NO_CREDENTIALS
    assert done["api_calls"] == [] and aws.stubbers == []


def test_a_key_without_its_secret_is_refused(aws, args):
    del args["secret_key"]
    done = run_module(elb_traffic.main, dict(args, colour="green"))
    assert done.failed and "parameters are required together: access_key, secret_key" in done.msg

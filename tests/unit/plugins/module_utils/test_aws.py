# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWS helpers: weight arithmetic, ARN checks, action rebuilding, record checks, credentials."""

from __future__ import annotations

import copy

import pytest
from ansible_collections.bluegreen.core.plugins.module_utils import _aws
from ansible_collections.bluegreen.core.plugins.module_utils._validate import ValidationError
from botocore.stub import Stubber

PREFIX = "arn:aws:elasticloadbalancing:eu-west-1:123456789012"
LISTENER = f"{PREFIX}:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2"
RULE = f"{PREFIX}:listener-rule/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
BLUE = f"{PREFIX}:targetgroup/shop-blue/73e2d6bc24d8a067"
GREEN = f"{PREFIX}:targetgroup/shop-green/2453ed029918f21f"
GROUPS = {"blue": BLUE, "green": GREEN}


def alb_params(**overrides: object) -> dict:
    params = {"listener_arn": LISTENER, "rule_arn": None, "target_groups": dict(GROUPS), "colour": "green", "weights": None,
              "region": None, "stickiness": None, "health_timeout": 60}
    params.update(overrides)
    return params


@pytest.fixture
def no_aws_env(monkeypatch, tmp_path):
    """No credentials from the environment, the config files or an instance role; nothing leaves the machine."""
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE",
                     "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ROLE_ARN",
                     "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def connection_params(**overrides: object) -> dict:
    params = {"region": None, "profile": None, "access_key": "AKIDEXAMPLE", "secret_key": "s3cr3t-Value/xyz",
              "session_token": None, "endpoint_url": None}
    params.update(overrides)
    return params


# --------------------------------------------------------------------------- weights


def test_colour_weights_give_everything_to_one_colour():
    assert _aws.colour_weights("green") == {"blue": 0, "green": 100}
    assert _aws.colour_weights("blue") == {"blue": 100, "green": 0}
    with pytest.raises(ValidationError, match="colour"):
        _aws.colour_weights("red")


def test_desired_weights_come_from_colour_or_weights():
    assert _aws.desired_weights({"colour": "blue", "weights": None}, 999) == {"blue": 100, "green": 0}
    assert _aws.desired_weights({"colour": None, "weights": {"blue": 90, "green": 10}}, 999) == {"blue": 90, "green": 10}
    with pytest.raises(ValidationError, match=r"^weights\.green must be between 0 and 255, got 256$"):
        _aws.desired_weights({"colour": None, "weights": {"blue": 0, "green": 256}}, 255)


@pytest.mark.parametrize(
    ("weights", "expected"),
    [({"blue": 0, "green": 100}, "green"), ({"blue": 1, "green": 0}, "blue"), ({"blue": 10, "green": 90}, None),
     ({"blue": 0, "green": 0}, None), (None, None)],
)
def test_live_colour_is_the_colour_with_all_the_weight(weights, expected):
    assert _aws.live_colour(weights) == expected


@pytest.mark.parametrize(
    ("current", "desired", "same"),
    [
        ({"blue": 0, "green": 1}, {"blue": 0, "green": 100}, True),  # a bare TargetGroupArn is weight 1: all of it
        ({"blue": 1, "green": 9}, {"blue": 10, "green": 90}, True),
        ({"blue": 10, "green": 90}, {"blue": 50, "green": 50}, False),
        ({"blue": 100, "green": 0}, {"blue": 0, "green": 100}, False),
        ({"blue": 0, "green": 0}, {"blue": 1, "green": 1}, False),  # Route 53 with all weights 0: rewrite them
        (None, {"blue": 1, "green": 0}, False),
    ],
)
def test_same_split_compares_shares_of_traffic(current, desired, same):
    assert _aws.same_split(current, desired) is same


# --------------------------------------------------------------------------- ALB inputs


def test_valid_alb_params_give_the_listener_region():
    assert _aws.validate_alb_params(alb_params(rule_arn=RULE, region="eu-west-1")) == {
        "region": "eu-west-1", "weights": {"blue": 0, "green": 100}, "stickiness": None,
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"listener_arn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shop/50dc"}, r"^listener_arn .* is not a valid ARN"),
        ({"listener_arn": LISTENER.replace("123456789012", "12345")}, r"^listener_arn "),
        ({"listener_arn": LISTENER + "\n"}, r"^listener_arn "),
        ({"listener_arn": LISTENER.replace("listener/app/", "listener/net/")}, r"^listener_arn .*Network Load Balancer"),
        ({"listener_arn": LISTENER.replace(":elasticloadbalancing:", ":ec2:")}, r"^listener_arn "),
        ({"listener_arn": None}, r"^listener_arn None is not a valid ARN"),
        ({"rule_arn": LISTENER}, r"^rule_arn .* is not a valid ARN"),
        ({"rule_arn": RULE.replace("f2f7dc8efc522ab2", "0000000000000000")}, r"^rule_arn .* is not a rule of listener_arn"),
        ({"target_groups": {"blue": BLUE, "green": "shop-green"}}, r"^target_groups\.green 'shop-green' is not a valid ARN"),
        ({"target_groups": {"blue": BLUE + "/x", "green": GREEN}}, r"^target_groups\.blue "),
        ({"target_groups": {"blue": BLUE, "green": GREEN.replace("eu-west-1", "us-east-1")}}, r"^target_groups\.green .* is in aws/us-east-1"),
        ({"target_groups": {"blue": BLUE, "green": BLUE}}, r"^target_groups\.blue and target_groups\.green are the same"),
        ({"target_groups": {"blue": BLUE}}, r"^target_groups must be a dict with exactly the keys blue and green"),
        ({"region": "us-east-1"}, r"^region 'us-east-1' does not match the region of listener_arn \(eu-west-1\)"),
        ({"colour": None, "weights": {"blue": 1000, "green": 0}}, r"^weights\.blue must be between 0 and 999, got 1000$"),
        ({"colour": None, "weights": {"blue": 0, "green": 0}}, r"^weights must not all be 0"),
        ({"colour": None, "weights": {"blue": False, "green": 1}}, r"^weights\.blue must be between 0 and 999, got False$"),
        ({"stickiness": {"enabled": True, "duration_seconds": None}}, r"^stickiness\.duration_seconds must be 1 to 604800"),
        ({"stickiness": {"enabled": True, "duration_seconds": 604801}}, r"^stickiness\.duration_seconds "),
        ({"health_timeout": -1}, r"^health_timeout must be 0 or more seconds"),
    ],
)
def test_alb_params_are_refused_naming_the_parameter(overrides, message):
    with pytest.raises(ValidationError, match=message):
        _aws.validate_alb_params(alb_params(**overrides))


def test_other_partitions_and_regions_are_accepted():
    arn = "arn:aws-us-gov:elasticloadbalancing:us-gov-west-1:123456789012:listener/app/a-b/0123456789abcdef/fedcba9876543210"
    assert _aws.parse_arn(arn, "listener", "listener_arn")["region"] == "us-gov-west-1"


@pytest.mark.parametrize(
    ("stickiness", "expected"),
    [(None, None), ({"enabled": False, "duration_seconds": 300}, {"Enabled": False}),
     ({"enabled": True, "duration_seconds": 300}, {"Enabled": True, "DurationSeconds": 300})],
)
def test_desired_stickiness(stickiness, expected):
    assert _aws.desired_stickiness(stickiness) == expected


# --------------------------------------------------------------------------- ALB actions

OIDC = {
    "Type": "authenticate-oidc", "Order": 1,
    "AuthenticateOidcConfig": {"Issuer": "https://idp.example.com", "AuthorizationEndpoint": "https://idp.example.com/auth",
                               "TokenEndpoint": "https://idp.example.com/token", "UserInfoEndpoint": "https://idp.example.com/me",
                               "ClientId": "shop"},
}


def test_forward_index_finds_the_one_forward_action():
    assert _aws.forward_index([OIDC, {"Type": "forward", "TargetGroupArn": BLUE, "Order": 2}], "listener x") == 1


def test_an_action_list_without_forward_is_refused_listing_what_it_has():
    with pytest.raises(_aws.AwsError, match=r"^listener x has no forward action; it has: authenticate-oidc, redirect\. "):
        _aws.forward_index([OIDC, {"Type": "redirect", "RedirectConfig": {"StatusCode": "HTTP_301"}}], "listener x")
    with pytest.raises(_aws.AwsError, match=r"has no forward action; it has: no actions at all"):
        _aws.forward_index([], "listener x")


def test_two_forward_actions_are_refused():
    with pytest.raises(_aws.AwsError, match="has 2 forward actions"):
        _aws.forward_index([{"Type": "forward", "TargetGroupArn": BLUE}, {"Type": "forward", "TargetGroupArn": GREEN}], "rule x")


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ({"Type": "forward", "TargetGroupArn": BLUE}, {"blue": 1, "green": 0}),
        # What AWS itself returns for a single group: both forms, weight 1.
        ({"Type": "forward", "TargetGroupArn": GREEN, "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": GREEN, "Weight": 1}]}},
         {"blue": 0, "green": 1}),
        ({"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": BLUE, "Weight": 30},
                                                                {"TargetGroupArn": GREEN, "Weight": 70}]}}, {"blue": 30, "green": 70}),
        ({"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": GREEN}]}}, {"blue": 0, "green": 1}),
    ],
)
def test_current_weights_of_a_forward_action(action, expected):
    assert _aws.current_weights(action, GROUPS, "listener x") == expected


def test_a_forward_action_to_another_group_is_refused_rather_than_dropped():
    other = f"{PREFIX}:targetgroup/legacy/0123456789abcdef"
    action = {"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": BLUE, "Weight": 1},
                                                                    {"TargetGroupArn": other, "Weight": 0}]}}
    with pytest.raises(_aws.AwsError, match=r"also sends traffic to .*legacy/0123456789abcdef \(weight 0\)") as raised:
        _aws.current_weights(action, GROUPS, "listener x")
    assert raised.value.param == "target_groups"


def test_rebuild_replaces_only_the_forward_action_and_keeps_the_rest():
    actions = [
        copy.deepcopy(OIDC),
        {"Type": "forward", "Order": 2, "TargetGroupArn": BLUE,
         "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": BLUE, "Weight": 1}],
                           "TargetGroupStickinessConfig": {"Enabled": True, "DurationSeconds": 30}}},
    ]
    before = copy.deepcopy(actions)
    rebuilt = _aws.rebuild_actions(actions, 1, GROUPS, {"blue": 10, "green": 90}, {"Enabled": True, "DurationSeconds": 30})
    assert actions == before  # the input is not modified
    assert rebuilt[1] == {
        "Type": "forward", "Order": 2,
        "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": BLUE, "Weight": 10}, {"TargetGroupArn": GREEN, "Weight": 90}],
                          "TargetGroupStickinessConfig": {"Enabled": True, "DurationSeconds": 30}},
    }
    # Describe never returns the OIDC client secret; Modify must be told to keep it.
    expected_oidc = copy.deepcopy(OIDC)
    expected_oidc["AuthenticateOidcConfig"]["UseExistingClientSecret"] = True
    assert rebuilt[0] == expected_oidc


def test_rebuild_keeps_a_given_oidc_secret_and_other_action_types():
    oidc = copy.deepcopy(OIDC)
    oidc["AuthenticateOidcConfig"]["ClientSecret"] = "given"
    fixed = {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503"}}
    rebuilt = _aws.rebuild_actions([oidc, fixed, {"Type": "forward", "TargetGroupArn": GREEN}], 2, GROUPS,
                                   {"blue": 0, "green": 100}, {"Enabled": False})
    assert rebuilt[0] == oidc and rebuilt[1] == fixed


def test_current_stickiness():
    assert _aws.current_stickiness({"Type": "forward", "TargetGroupArn": BLUE}) == {"Enabled": False}
    config = {"TargetGroups": [], "TargetGroupStickinessConfig": {"Enabled": True, "DurationSeconds": 60}}
    assert _aws.current_stickiness({"Type": "forward", "ForwardConfig": config}) == {"Enabled": True, "DurationSeconds": 60}
    assert _aws.stickiness_result({"Enabled": False}) == {"enabled": False, "duration_seconds": None}


# --------------------------------------------------------------------------- target health


def test_a_group_without_targets_is_unhealthy():
    health = _aws.group_health([])
    assert health == {"healthy": False, "targets": []}
    assert _aws.describe_unhealthy("green", GREEN, health) == f"green ({GREEN}) has no registered targets"


def test_one_target_that_is_not_healthy_makes_the_group_unhealthy():
    health = _aws.group_health([
        {"Target": {"Id": "i-1", "Port": 80}, "TargetHealth": {"State": "healthy"}},
        {"Target": {"Id": "i-2", "Port": 80},
         "TargetHealth": {"State": "unused", "Reason": "Target.InvalidState", "Description": "Target is in the stopped state"}},
    ])
    assert health["healthy"] is False
    assert [t["state"] for t in health["targets"]] == ["healthy", "unused"]
    assert _aws.describe_unhealthy("blue", BLUE, health).endswith(
        "has targets that are not healthy: i-2:80 unused (Target.InvalidState: Target is in the stopped state)"
    )
    assert _aws.group_health([{"Target": {"Id": "i-1"}, "TargetHealth": {"State": "healthy"}}])["healthy"] is True


# --------------------------------------------------------------------------- waiting


def test_wait_until_returns_as_soon_as_the_check_passes():
    answers = iter([(False, "PENDING"), (True, "INSYNC")])
    done, value, waited = _aws.wait_until(lambda: next(answers), timeout=5, interval=0.01)
    assert (done, value) == (True, "INSYNC") and waited < 1


def test_wait_until_checks_once_more_at_the_deadline_and_gives_up():
    calls = []

    def check():
        calls.append(1)
        return False, len(calls)

    done, value, waited = _aws.wait_until(check, timeout=0.05, interval=0.02)
    assert done is False and value == len(calls) >= 2
    assert 0.05 <= waited < 1
    calls.clear()
    assert _aws.wait_until(check, timeout=0)[0:2] == (False, 1)


# --------------------------------------------------------------------------- Route 53 inputs and records


def r53_params(**overrides: object) -> dict:
    params = {"zone_id": "Z0123456789ABCDEFGHIJ", "zone": None, "name": "Shop.Example.com", "type": "A",
              "set_identifiers": None, "colour": "green", "weights": None, "wait_timeout": 120}
    params.update(overrides)
    return params


def test_route53_params_are_normalised():
    inputs = _aws.validate_route53_params(r53_params(zone_id="/hostedzone/Z0123456789ABCDEFGHIJ"))
    assert inputs == {"zone_id": "Z0123456789ABCDEFGHIJ", "zone": None, "name": "shop.example.com.", "type": "A",
                      "set_identifiers": {"blue": "blue", "green": "green"}, "weights": {"blue": 0, "green": 100}}
    assert _aws.validate_route53_params(r53_params(zone_id=None, zone="example.com.", name="*.example.com"))["name"] == "*.example.com."


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"colour": None, "weights": {"blue": 256, "green": 0}}, r"^weights\.blue must be between 0 and 255, got 256$"),
        ({"colour": None, "weights": {"blue": 0, "green": 0}}, r"^weights must not all be 0"),
        ({"colour": None, "weights": {"blue": 0, "green": True}}, r"^weights\.green must be between 0 and 255, got True$"),
        ({"zone_id": "hostedzone/Z1"}, r"^zone_id must be a hosted zone id"),
        ({"zone_id": "Z1;rm"}, r"^zone_id "),
        ({"name": "shop example.com"}, r"^name 'shop example.com' is not a valid DNS name"),
        ({"name": "shop..example.com"}, r"^name "),
        ({"name": "-shop.example.com"}, r"^name "),
        ({"zone_id": None, "zone": "example.org", "name": "shop.example.com"}, r"^name shop\.example\.com\. is not in the hosted zone example\.org\.$"),
        ({"zone_id": None, "zone": "ample.com", "name": "shop.example.com"}, r"^name .* is not in the hosted zone ample\.com\.$"),
        ({"set_identifiers": {"blue": "x", "green": "x"}}, r"^set_identifiers\.blue and set_identifiers\.green are both 'x'$"),
        ({"set_identifiers": {"blue": "", "green": "g"}}, r"^set_identifiers\.blue must be 1 to 128 printable characters"),
        ({"set_identifiers": {"blue": "b", "green": "g\n"}}, r"^set_identifiers\.green must be 1 to 128"),
        ({"type": "NS"}, r"^type must be one of A, AAAA"),
        ({"wait_timeout": -5}, r"^wait_timeout must be 0 or more seconds"),
    ],
)
def test_route53_params_are_refused_naming_the_parameter(overrides, message):
    with pytest.raises(ValidationError, match=message):
        _aws.validate_route53_params(r53_params(**overrides))


def test_listed_names_are_decoded_for_comparison():
    assert _aws.listed_name("\\052.Example.com.") == "*.example.com."
    assert _aws.listed_name("shop.example.com") == "shop.example.com."


def record(ident: str, weight: int, value: str, ttl: int | None = 60, **extra: object) -> dict:
    rrset = {"Name": "shop.example.com.", "Type": "A", "SetIdentifier": ident, "Weight": weight}
    if ttl is not None:
        rrset.update(TTL=ttl, ResourceRecords=[{"Value": value}])
    rrset.update(extra)
    return rrset


IDS = {"blue": "blue", "green": "green"}


def test_weighted_records_keep_only_the_name_and_type():
    sets = [record("blue", 100, "192.0.2.10"), record("green", 0, "192.0.2.20"), dict(record("blue", 1, "x"), Type="AAAA"),
            dict(record("blue", 1, "x"), Name="other.example.com."), {"Name": "shop.example.com.", "Type": "A", "TTL": 5}]
    assert sorted(_aws.weighted_records(sets, "shop.example.com.", "A")) == ["blue", "green"]


def test_pick_records_needs_both_identifiers():
    found = {"blue": record("blue", 100, "192.0.2.10"), "canary": record("canary", 0, "192.0.2.30")}
    with pytest.raises(_aws.AwsError, match=r"no A record shop\.example\.com\. with set identifier 'green'.*found: blue, canary") as raised:
        _aws.pick_records(found, IDS, "shop.example.com.", "A", "Z1")
    assert raised.value.param == "set_identifiers.green"


def test_pick_records_refuses_a_record_that_is_not_weighted():
    latency = {"Name": "shop.example.com.", "Type": "A", "SetIdentifier": "green", "Region": "eu-west-1", "TTL": 60}
    found = {"blue": record("blue", 100, "192.0.2.10"), "green": latency}
    with pytest.raises(_aws.AwsError, match="is not a weighted record"):
        _aws.pick_records(found, IDS, "shop.example.com.", "A", "Z1")


def test_pick_records_refuses_different_ttls_naming_them():
    found = {"blue": record("blue", 100, "192.0.2.10", ttl=60), "green": record("green", 0, "192.0.2.20", ttl=300)}
    with pytest.raises(_aws.AwsError, match=r"have different TTLs \(blue \(blue\): 60, green \(green\): 300\)"):
        _aws.pick_records(found, IDS, "shop.example.com.", "A", "Z1")
    alias = record("green", 0, "", ttl=None, AliasTarget={"HostedZoneId": "Z2", "DNSName": "lb.example.com.", "EvaluateTargetHealth": True})
    with pytest.raises(_aws.AwsError, match=r"\(blue \(blue\): 60, green \(green\): alias\)"):
        _aws.pick_records({"blue": found["blue"], "green": alias}, IDS, "shop.example.com.", "A", "Z1")


def test_upserts_copy_each_record_exactly_changing_only_the_weight():
    records = {"blue": record("blue", 100, "192.0.2.10", HealthCheckId="hc-1"), "green": record("green", 0, "192.0.2.20")}
    before = copy.deepcopy(records)
    changes = _aws.upsert_changes(records, {"blue": 0, "green": 100})
    assert records == before
    assert [c["Action"] for c in changes] == ["UPSERT", "UPSERT"]
    assert changes[0]["ResourceRecordSet"] == dict(before["blue"], Weight=0)
    assert changes[1]["ResourceRecordSet"] == dict(before["green"], Weight=100)
    assert _aws.record_weights(records) == {"blue": 100, "green": 0}


def test_ttl_note_says_how_long_the_old_colour_must_serve():
    assert _aws.ttl_note(60, {"blue": 100, "green": 0}).endswith("TTL of 60 seconds, some longer; keep blue serving at least that long")
    assert "keep blue and green serving" in _aws.ttl_note(300, {"blue": 50, "green": 50})
    assert "alias target" in _aws.ttl_note(None, {"blue": 1, "green": 0})


# --------------------------------------------------------------------------- credentials and calls


def test_missing_credentials_fail_before_any_call_naming_options_and_variables(no_aws_env):
    with pytest.raises(_aws.AwsError) as raised:
        _aws.Connection(connection_params(access_key=None, secret_key=None))
    message = str(raised.value)
    for word in ("access_key", "secret_key", "profile", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        assert word in message


def test_an_unknown_profile_is_named(no_aws_env):
    with pytest.raises(_aws.AwsError, match=r"^profile 'nope' is not in the AWS config files") as raised:
        _aws.Connection(connection_params(access_key=None, secret_key=None, profile="nope"))
    assert raised.value.param == "profile"


def test_credentials_from_a_profile_are_found(no_aws_env, tmp_path, monkeypatch):
    (tmp_path / "credentials").write_text("[ci]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile-secret\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    conn = _aws.Connection(connection_params(access_key=None, secret_key=None, profile="ci"))
    assert conn.session.get_credentials().access_key == "AKIDPROFILE"


@pytest.mark.parametrize(
    ("overrides", "param"),
    [({"endpoint_url": "ftp://127.0.0.1"}, "endpoint_url"), ({"endpoint_url": "http://127.0.0.1:5000/x y"}, "endpoint_url"),
     ({"region": "eu west 1"}, "region")],
)
def test_bad_endpoint_or_region_is_refused(no_aws_env, overrides, param):
    with pytest.raises(_aws.AwsError, match=f"^{param} ") as raised:
        _aws.Connection(connection_params(**overrides))
    assert raised.value.param == param


def test_a_region_is_needed_except_for_route53(no_aws_env):
    conn = _aws.Connection(connection_params())
    with pytest.raises(_aws.AwsError, match=r"^no AWS region: set region, or AWS_REGION"):
        conn.client("elbv2")
    assert conn.client("route53").meta.region_name in ("us-east-1", "aws-global")  # botocore names the global endpoint
    assert conn.client("elbv2", "eu-west-1").meta.region_name == "eu-west-1"


def test_calls_are_recorded_as_iam_actions_and_errors_never_show_secrets(no_aws_env):
    params = connection_params()
    conn = _aws.Connection(params)
    client = conn.client("elbv2", "eu-west-1")
    with Stubber(client) as stubber:
        stubber.add_response("describe_target_groups", {"TargetGroups": []}, {"TargetGroupArns": [BLUE]})
        stubber.add_client_error("modify_listener", "AccessDenied", f"User AKIDEXAMPLE with secret {params['secret_key']} may not")
        stubber.add_client_error("describe_listeners", "ListenerNotFound", "The specified listener does not exist.")
        conn.call(client, "DescribeTargetGroups", TargetGroupArns=[BLUE])
        with pytest.raises(_aws.AwsError) as denied:
            conn.call(client, "ModifyListener", ListenerArn=LISTENER, DefaultActions=[])
        with pytest.raises(_aws.AwsError) as missing:
            conn.call(client, "DescribeListeners", ListenerArns=[LISTENER])
    assert conn.calls == ["elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:ModifyListener",
                          "elasticloadbalancing:DescribeListeners"]
    assert str(denied.value).startswith("AWS denied elasticloadbalancing:ModifyListener (AccessDenied: ")
    assert params["secret_key"] not in str(denied.value) and "********" in str(denied.value)
    assert missing.value.code == "ListenerNotFound"
    assert str(missing.value) == "elasticloadbalancing:DescribeListeners failed: ListenerNotFound: The specified listener does not exist."

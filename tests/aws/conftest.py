# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the AWS tests: one real moto server on 127.0.0.1 for the session, reset before each test.

The ``moto_server`` of the virtualenv that runs pytest is started on a free loopback port, waited
for (bounded), and stopped at the end whatever happened. Run with ``pytest tests/aws``.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator

import pytest
from ansible_collections.bluegreen.core.plugins.module_utils import _aws
from ansible_collections.bluegreen.core.tests.aws.moto_lab import (
    AWS_VARIABLES,
    REGION,
    Alb,
    MotoServer,
    Zone,
    client,
    running_moto,
    weighted,
)


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    with tempfile.TemporaryDirectory(prefix="bluegreen-moto-") as log_dir, running_moto(log_dir) as server:
        yield server


@pytest.fixture(autouse=True)
def clean_moto(moto: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path) -> MotoServer:
    """Empty moto state and no AWS settings from the environment or config files: each test sets up what it uses."""
    moto.reset()
    for variable in AWS_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(_aws, "POLL_INTERVAL", 0.05)
    return moto


@pytest.fixture
def alb(clean_moto: MotoServer) -> Alb:
    ec2 = client(clean_moto, "ec2")
    elbv2 = client(clean_moto, "elbv2")
    vpc_id = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"{REGION}{zone}")["Subnet"]["SubnetId"]
               for i, zone in ((1, "a"), (2, "b"))]
    lb_arn = elbv2.create_load_balancer(Name="shop", Subnets=subnets, Type="application")["LoadBalancers"][0]["LoadBalancerArn"]
    groups, instances = {}, {}
    for colour in ("blue", "green"):
        groups[colour] = elbv2.create_target_group(Name=f"shop-{colour}", Protocol="HTTP", Port=80, VpcId=vpc_id,
                                                   TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]
        reservation = ec2.run_instances(ImageId="ami-12c6146b", MinCount=2, MaxCount=2, InstanceType="t3.micro",
                                        SubnetId=subnets[0])
        instances[colour] = [i["InstanceId"] for i in reservation["Instances"]]
        elbv2.register_targets(TargetGroupArn=groups[colour], Targets=[{"Id": i, "Port": 80} for i in instances[colour]])
    listener_arn = elbv2.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80, DefaultActions=[
        {"Type": "forward", "TargetGroupArn": groups["blue"]},
    ])["Listeners"][0]["ListenerArn"]
    api_rule = elbv2.create_rule(ListenerArn=listener_arn, Priority=10, Conditions=[{"Field": "path-pattern", "Values": ["/api/*"]}],
                                 Actions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [
                                     {"TargetGroupArn": groups["blue"], "Weight": 100},
                                     {"TargetGroupArn": groups["green"], "Weight": 0}]}}])["Rules"][0]["RuleArn"]
    static_rule = elbv2.create_rule(ListenerArn=listener_arn, Priority=20, Conditions=[{"Field": "path-pattern", "Values": ["/old/*"]}],
                                    Actions=[{"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443",
                                                                                     "StatusCode": "HTTP_301"}}])["Rules"][0]["RuleArn"]
    return Alb(elbv2, ec2, listener_arn, api_rule, static_rule, groups, instances, vpc_id, {"lb_arn": lb_arn, "subnets": subnets})


@pytest.fixture
def zone(clean_moto: MotoServer) -> Zone:
    route53 = client(clean_moto, "route53")
    zone_id = route53.create_hosted_zone(Name="example.com", CallerReference=f"bluegreen-{time.monotonic_ns()}")["HostedZone"]["Id"]
    made = Zone(route53, zone_id.split("/")[-1])
    for rrset in (weighted(made.name, "blue", 100, "192.0.2.10"), weighted(made.name, "green", 0, "192.0.2.20"),
                  weighted("other.example.com.", "blue", 7, "198.51.100.7")):
        made.upsert(rrset)
    return made

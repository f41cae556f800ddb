# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The moto lab of the AWS tests: a moto_server process on 127.0.0.1, and the ALB and Route 53 setups.

conftest.py turns these into fixtures. Every wait is bounded; nothing talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field

import boto3
import pytest

HOST = "127.0.0.1"
REGION = "eu-west-1"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
# Dummy credentials: moto accepts any; they are passed to the modules as options.
CREDENTIALS = {"access_key": "testing", "secret_key": "testing"}
AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
    "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


def moto_server_command() -> str:
    """moto_server of the Python that runs the tests (the project's virtualenv), else the one on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "moto_server")
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which("moto_server")
    if found is None:
        pytest.exit("moto_server is not installed (pip install 'moto[server]'): the AWS tests need it", returncode=4)
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class MotoServer:
    process: subprocess.Popen
    url: str
    log_path: str
    clients: dict = field(default_factory=dict)

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200, f"moto reset answered {response.status}"

    def log_tail(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as handle:
            return handle.read()[-4000:]


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


@contextlib.contextmanager
def running_moto(log_dir: str) -> Iterator[MotoServer]:
    """Start moto_server on a free loopback port, wait (bounded) until it answers, always stop it."""
    command = moto_server_command()
    last_error = ""
    for _attempt in range(3):  # the free port may be taken between choosing and binding it
        port = free_port()
        log_path = os.path.join(log_dir, f"moto-{port}.log")
        with open(log_path, "wb") as log:
            process = subprocess.Popen([command, "-H", HOST, "-p", str(port)], stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
        atexit.register(stop, process)  # also when the session dies before its fixtures are torn down
        server = MotoServer(process, f"http://{HOST}:{port}", log_path)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline and process.poll() is None and not answers(f"{server.url}/moto-api/data.json"):
                time.sleep(0.1)
            if process.poll() is None and answers(f"{server.url}/moto-api/data.json"):
                yield server
                return
            last_error = server.log_tail()
        finally:
            stop(process)
    pytest.fail(f"moto_server did not start on {HOST} within {START_TIMEOUT}s:\n{last_error}")


def client(moto: MotoServer, service: str) -> object:
    """A client for the tests' own set-up and checks (one per service for the session: they keep no state)."""
    if service not in moto.clients:
        moto.clients[service] = boto3.client(service, region_name=REGION, endpoint_url=moto.url, aws_access_key_id="testing",
                                             aws_secret_access_key="testing")
    return moto.clients[service]


@dataclass
class Alb:
    """An ALB with a listener forwarding to blue, a rule of its own, and a blue and a green target group."""

    elbv2: object
    ec2: object
    listener_arn: str
    api_rule_arn: str
    static_rule_arn: str
    target_groups: dict
    instances: dict
    vpc_id: str
    extra: dict = field(default_factory=dict)

    def default_actions(self) -> list:
        return self.elbv2.describe_listeners(ListenerArns=[self.listener_arn])["Listeners"][0]["DefaultActions"]

    def rules(self) -> list:
        return [{k: r[k] for k in ("RuleArn", "Priority", "Conditions", "Actions")}
                for r in self.elbv2.describe_rules(ListenerArn=self.listener_arn)["Rules"]]

    def rule_actions(self, rule_arn: str) -> list:
        return self.elbv2.describe_rules(RuleArns=[rule_arn])["Rules"][0]["Actions"]

    def weights(self, actions: list | None = None) -> dict:
        """Colour -> weight of the forward action, as AWS (moto) reports it."""
        actions = self.default_actions() if actions is None else actions
        (action,) = [a for a in actions if a["Type"] == "forward"]
        by_arn = {arn: colour for colour, arn in self.target_groups.items()}
        tuples = (action.get("ForwardConfig") or {}).get("TargetGroups") or [{"TargetGroupArn": action["TargetGroupArn"], "Weight": 1}]
        return {by_arn[t["TargetGroupArn"]]: t.get("Weight", 1) for t in tuples}

    def target_group(self, name: str) -> str:
        return self.elbv2.create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=self.vpc_id,
                                              TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]


@dataclass
class Zone:
    """A hosted zone with two weighted A records for shop.example.com (blue 100, green 0, TTL 60) and a bystander."""

    route53: object
    zone_id: str
    name: str = "shop.example.com."

    def records(self, name: str | None = None) -> dict:
        """SetIdentifier -> record set of ``name``, as moto lists it."""
        name = name or self.name
        sets = self.route53.list_resource_record_sets(HostedZoneId=self.zone_id)["ResourceRecordSets"]
        return {r["SetIdentifier"]: r for r in sets if r["Name"] == name and "SetIdentifier" in r}

    def weights(self) -> dict:
        return {ident: r["Weight"] for ident, r in self.records().items()}

    def upsert(self, rrset: dict) -> None:
        self.route53.change_resource_record_sets(HostedZoneId=self.zone_id,
                                                 ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": rrset}]})


def weighted(name: str, ident: str, weight: int, address: str, ttl: int = 60) -> dict:
    return {"Name": name, "Type": "A", "SetIdentifier": ident, "Weight": weight, "TTL": ttl, "ResourceRecords": [{"Value": address}]}

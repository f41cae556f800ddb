# -*- coding: utf-8 -*-
# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The app whose history the AWS modules keep on the host they run on, and how they authenticate: the options and
    # aliases amazon.aws users know, plain boto3 underneath.
    DOCUMENTATION = r"""
options:
  app:
    description:
      - The app's name. It names the app's history and lock on the host the module runs on
        (C(<state_dir>/<app>/history.jsonl)), often the controller with C(delegate_to=localhost).
      - Letters, digits, C(_), C(-) and C(.), starting with a letter or digit.
    type: str
    required: true
  region:
    description:
      - The AWS region.
      - M(bluegreen.core.elb_traffic) takes the region from O(bluegreen.core.elb_traffic#module:listener_arn);
        when set, this option must match it. M(bluegreen.core.route53_traffic) does not need it (Route 53 is global).
      - If not set, boto3 reads E(AWS_REGION) or E(AWS_DEFAULT_REGION), then the profile.
    type: str
    aliases: [aws_region, ec2_region]
  profile:
    description:
      - A named profile of the AWS config files (C(~/.aws/config), C(~/.aws/credentials)) on the host the module runs on.
      - If not set, boto3 reads E(AWS_PROFILE).
      - Mutually exclusive with O(access_key) and O(session_token).
    type: str
    aliases: [aws_profile]
  access_key:
    description:
      - The AWS access key id. Set together with O(secret_key).
      - If not set, boto3 reads E(AWS_ACCESS_KEY_ID).
    type: str
    aliases: [aws_access_key_id, aws_access_key]
  secret_key:
    description:
      - The AWS secret access key. Set together with O(access_key).
      - If not set, boto3 reads E(AWS_SECRET_ACCESS_KEY).
    type: str
    aliases: [aws_secret_access_key, aws_secret_key]
  session_token:
    description:
      - The session token of temporary credentials, with O(access_key) and O(secret_key).
      - If not set, boto3 reads E(AWS_SESSION_TOKEN).
    type: str
    aliases: [aws_session_token, security_token]
  endpoint_url:
    description:
      - Send the API calls to this URL instead of the AWS endpoint, for example a VPC endpoint or a test
        server such as moto (C(http://127.0.0.1:5000)).
      - If not set, boto3 reads E(AWS_ENDPOINT_URL).
    type: str
    aliases: [aws_endpoint_url, ec2_url]
requirements:
  - boto3
notes:
  - Credentials are resolved by boto3 in its usual order (options, environment, profile, config files, container or
    instance role). When none are found the module fails before any API call, naming these options and variables.
  - The secret options are never shown in results, errors or logs.
  - Each API call is retried up to 3 times on throttling or network errors; connecting waits at most 10 seconds and
    each answer at most 30.
"""

    # How the AWS traffic modules are told where the traffic goes, beside their own O(weights).
    COLOUR = r"""
options:
  colour:
    description:
      - Send all traffic to this colour; C(green) means weights C(blue=0), C(green=100).
      - C(previous) sends it all back to the colour that was live before the newest switch, as the app's history on the
        host the module runs on records it; with O(versions) it refuses when that colour no longer holds the release it
        ran when it was live, unless O(force=true).
      - At most one of O(colour) and O(weights). Leave both out to only read; the module then returns the router's state
        (what its info module returns) and changes nothing.
    type: str
    choices: [blue, green, previous]
"""

    # Where an app's ALB routing is: the listener (or one of its rules) and the target group of each colour.
    ALB = r"""
options:
  listener_arn:
    description:
      - The ARN of the Application Load Balancer listener,
        C(arn:aws:elasticloadbalancing:<region>:<account>:listener/app/<name>/<id>/<id>).
    type: str
    required: true
  rule_arn:
    description:
      - Change the forward action of this rule of the listener instead of the listener's default actions,
        C(arn:aws:elasticloadbalancing:<region>:<account>:listener-rule/app/<name>/<id>/<id>/<id>).
      - Must be a rule of O(listener_arn), and not its default rule (leave O(rule_arn) out for that).
    type: str
  target_groups:
    description: The ARN of the target group of each colour, C(arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>).
    type: dict
    required: true
    suboptions:
      blue:
        description: Target group of the blue colour.
        type: str
        required: true
      green:
        description: Target group of the green colour.
        type: str
        required: true
  metrics_since:
    description:
      - Also sum each colour's C(RequestCount) and C(HTTPCode_Target_5XX_Count)
        from CloudWatch (C(AWS/ApplicationELB), per target group) from this UTC time, for example C(2025-01-01T12:00:00Z), to now.
      - CloudWatch counts whole minutes and publishes an ALB's metrics a minute or more late, so a short window may show
        nothing yet; the module then returns C(metrics=null) and says why in C(metrics_problem), and does not fail.
      - M(bluegreen.core.elb_traffic) takes it only with a read, given neither a colour nor weights.
    type: str
"""

    # Where an app's Route 53 routing is: the hosted zone and the two weighted records.
    ROUTE53 = r"""
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
"""

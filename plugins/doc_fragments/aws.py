# -*- coding: utf-8 -*-
# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # How the AWS modules authenticate: the options and aliases amazon.aws users know, plain boto3 underneath.
    DOCUMENTATION = r"""
options:
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

    # The release history the AWS modules keep on the host they run on, as haproxy_traffic does on the router.
    HISTORY = r"""
options:
  app:
    description:
      - The app's name. It names the history folder (C(<state_dir>/<app>/history.jsonl)).
      - Letters, digits, C(_), C(-) and C(.), starting with a letter or digit.
    type: str
    required: true
  history:
    description:
      - Append a record of each change to the app's history on the host the module runs on (often the controller,
        with C(delegate_to=localhost)). A history that cannot be written is a warning, not a failure.
    type: bool
    default: true
  versions:
    description: The version each colour runs, recorded in the history. Not used for routing.
    type: dict
    suboptions:
      blue:
        description: Version of the blue colour, or null when unknown.
        type: str
      green:
        description: Version of the green colour, or null when unknown.
        type: str
  actor:
    description:
      - Who or what ran the switch, recorded in the history. One printable line, at most 200 characters.
      - Defaults to the first set of E(BLUEGREEN_ACTOR), E(AWX_JOB_ID), E(TOWER_JOB_ID), E(SUDO_USER), E(USER) and
        E(LOGNAME) in the module's environment.
    type: str
  action:
    description: Why the weights change, recorded in the history.
    type: str
    choices: [switch, rollback, auto-rollback]
    default: switch
  reason:
    description: A free-text reason recorded in the history. One printable line, at most 1000 characters.
    type: str
  history_limit:
    description: With a read (no O(colour) or O(weights)), how many of the newest history records to return.
    type: int
    default: 5
"""

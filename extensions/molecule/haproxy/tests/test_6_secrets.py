# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""No secret in a log or a diff: a deploy with values in bluegreen_app_env and bluegreen_app_secrets, run with
--check --diff and with -vvv as a user would, never prints a value; the colour's environment file on the app hosts
gets them, readable by no one else."""

from __future__ import annotations

import json
import os

import pytest
from lab_helpers import APP, APPS, PROJECT, host, module, playbook

ARTIFACTS = os.path.join(PROJECT, ".cache", "artifacts")
ENV_VALUE = "env-value-Qx7pW2"
SECRET_VALUE = "secret-value-Zr9kL4"
VALUES = json.dumps({"bluegreen_app_env": {"DB_PASSWORD": ENV_VALUE, "LOG_LEVEL": "info"},
                     "bluegreen_app_secrets": {"API_TOKEN": SECRET_VALUE}})
DEPLOY = ("bluegreen_version=2.0.0", f"bluegreen_artifact={ARTIFACTS}/demo-app-2.0.0.tar.gz", VALUES)


@pytest.fixture
def verbose(monkeypatch):
    monkeypatch.setenv("ANSIBLE_VERBOSITY", "3")


def idle_colour() -> str:
    live = module("haproxy_info", {"app": APP})["live_colour"]
    return "green" if live == "blue" else "blue"


def test_check_diff_shows_the_env_file_change_by_name_but_no_value(verbose):
    idle = idle_colour()
    before = {app_host: host(app_host).file(f"/etc/bluegreen/{APP}/{idle}.env").content_string for app_host in APPS}
    result = playbook("deploy", *DEPLOY, check=True)
    assert result.returncode == 0, result.output[-3000:]
    assert ENV_VALUE not in result.output and SECRET_VALUE not in result.output
    assert "DB_PASSWORD" in result.output
    after = {app_host: host(app_host).file(f"/etc/bluegreen/{APP}/{idle}.env").content_string for app_host in APPS}
    assert after == before


def test_a_verbose_deploy_prints_no_value_and_the_env_file_gets_them(verbose):
    idle = idle_colour()
    result = playbook("deploy", *DEPLOY)
    assert result.returncode == 0, result.output[-3000:]
    assert ENV_VALUE not in result.output and SECRET_VALUE not in result.output
    for app_host in APPS:
        env_file = host(app_host).file(f"/etc/bluegreen/{APP}/{idle}.env")
        assert f'DB_PASSWORD="{ENV_VALUE}"' in env_file.content_string
        assert f'API_TOKEN="{SECRET_VALUE}"' in env_file.content_string
        assert env_file.mode & 0o007 == 0, oct(env_file.mode)

# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health_check module as Ansible runs it: arguments in, exit_json/fail_json out."""

from __future__ import annotations

import time

import pytest
import yaml
from ansible_collections.bluegreen.core.plugins.modules import health_check
from ansible_collections.bluegreen.core.tests.unit.plugins.modules.module_helpers import (
    closed_port,
    fake_app,
    run_module,
    self_signed_tls,
)


@pytest.fixture(scope="module")
def app():
    with fake_app() as server:
        yield server


def run(args: dict, check_mode: bool = False):
    return run_module(health_check.main, args, check_mode=check_mode)


def test_healthy_checks_pass_and_change_nothing(app):
    done = run({"checks": [{"url": app.url("/ok"), "name": "web"}, {"url": app.url("/json"), "json_path": "status"}]})
    assert done.failed is False
    assert done["changed"] is False
    assert done["passed"] == 2
    assert done["failed_checks"] == []
    assert done.msg.startswith("all 2 health checks passed in ")
    assert [r["name"] for r in done["results"]] == ["web", app.url("/json")]
    assert isinstance(done["elapsed_s"], float)


def test_a_failing_check_fails_the_task_with_one_readable_message(app):
    done = run(
        {
            "checks": [
                {"url": app.url("/colour/blue"), "name": "preview", "header": {"X-Bluegreen-Colour": "green"}},
                {"url": f"http://127.0.0.1:{closed_port()}/health", "name": "app2"},
                {"url": app.url("/ok"), "name": "fine"},
            ]
        }
    )
    assert done.failed is True
    assert done["failed_checks"] == ["preview", "app2"]
    assert done["passed"] == 1
    assert "2 of 3 health checks failed" in done.msg
    assert "preview (" in done.msg
    assert "header X-Bluegreen-Colour is 'blue', expected 'green'" in done.msg
    assert "app2 (" in done.msg
    assert "connection refused" in done.msg
    assert len(done["results"]) == 3


def test_fail_on_error_false_returns_the_results_without_failing(app):
    done = run({"checks": [{"url": app.url("/status/500")}], "fail_on_error": False})
    assert done.failed is False
    assert done["failed_checks"] == [app.url("/status/500")]
    assert done["results"][0]["error"] == "status 500 not in [200] (the body begins 'status 500')"


def test_check_mode_probes_as_normal(app):
    before = len([r for r in app.requests if r[1] == "/ok?dry"])
    done = run({"checks": [{"url": app.url("/ok?dry")}]}, check_mode=True)
    assert (done.failed, done["changed"], done["passed"]) == (False, False, 1)
    assert len([r for r in app.requests if r[1] == "/ok?dry"]) == before + 1
    failing = run({"checks": [{"url": app.url("/status/503")}]}, check_mode=True)
    assert failing.failed is True


def test_retries_and_deadline_through_the_module(app):
    started = time.monotonic()
    done = run(
        {
            "checks": [{"url": app.url("/status/500?m")}],
            "retries": 1000,
            "interval": 0.05,
            "deadline": 0.3,
            "timeout": 0.5,
        }
    )
    assert done.failed is True
    assert time.monotonic() - started < 0.3 + 0.5
    assert done["results"][0]["attempts"] > 1


def test_watch_mode_through_the_module(app):
    done = run(
        {
            "checks": [{"url": app.url("/fail-after/2?m"), "name": "green"}],
            "mode": "watch",
            "duration": 20,
            "interval": 0.05,
            "failure_threshold": 2,
        }
    )
    assert done.failed is True
    assert done["results"][0]["attempts"] == 4
    assert done.msg.startswith("health watch stopped after ")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            {"checks": [{"url": "http://127.0.0.1/"}, {"url": "file:///etc/passwd"}]},
            "checks[1].url 'file:///etc/passwd'",
        ),
        ({"checks": [{"url": "http://127.0.0.1/", "body_regex": "(("}]}, "checks[0].body_regex '((' is not a valid"),
        ({"checks": [{"url": "http://127.0.0.1/"}], "timeout": -1}, "timeout must be greater than 0"),
        ({"checks": [{"url": "http://127.0.0.1/"}], "retries": -2}, "retries must be at least 0"),
        ({"checks": [{"url": "http://127.0.0.1/"}], "mode": "watch"}, "duration is required when mode=watch"),
        ({"checks": [{"url": "http://127.0.0.1/", "status": [0]}]}, "checks[0].status[0] must be an HTTP status"),
        ({"checks": [{"url": "http://127.0.0.1/"}], "ca_path": "/nonexistent/ca.pem"}, "ca_path '/nonexistent/ca.pem'"),
    ],
)
def test_invalid_input_fails_naming_the_parameter(args, expected):
    done = run(args)
    assert done.failed is True
    assert expected in done.msg
    assert "Traceback" not in done.msg
    assert "results" not in done.result


def test_argument_spec_errors_come_from_ansible(app):
    assert "value of mode must be one of" in run({"checks": [{"url": app.url("/ok")}], "mode": "sometimes"}).msg
    unknown = run({"checks": [{"url": app.url("/ok"), "expect": 200}]})
    assert unknown.failed is True
    assert "expect" in unknown.msg
    assert "missing required arguments: url" in run({"checks": [{"name": "x"}]}).msg


def test_validate_certs_is_on_by_default(app, tmp_path):
    context = self_signed_tls(str(tmp_path))
    if context is None:
        pytest.skip("the openssl command is not installed")
    with fake_app(context) as tls:
        refused = run({"checks": [{"url": tls.url("/ok")}]})
        assert refused.failed is True
        assert "TLS certificate verify failed" in refused.msg
        assert run({"checks": [{"url": tls.url("/ok")}], "validate_certs": False}).failed is False
        trusted = run({"checks": [{"url": tls.url("/ok")}], "ca_path": str(tmp_path / "cert.pem")})
        assert trusted.failed is False


def _documented(text: str) -> dict:
    return yaml.safe_load(text)


def test_documentation_matches_the_argument_spec():
    options = _documented(health_check.DOCUMENTATION)["options"]
    assert set(options) == set(health_check.ARGUMENT_SPEC)
    assert set(options["checks"]["suboptions"]) == set(health_check.CHECK_SPEC)
    for name, spec in health_check.ARGUMENT_SPEC.items():
        assert options[name]["type"] == spec["type"], name
        assert options[name].get("default") == spec.get("default"), name
    for name, spec in health_check.CHECK_SPEC.items():
        assert options["checks"]["suboptions"][name].get("default") == spec.get("default"), name


def test_examples_and_return_are_valid_yaml():
    assert isinstance(_documented(health_check.EXAMPLES), list)
    returned = _documented(health_check.RETURN)
    assert set(returned) == {"results", "failed_checks", "passed", "elapsed_s"}

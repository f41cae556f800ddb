# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""botocore Stubber wiring shared by the AWS module tests: every expected call queued, any other fails."""

from __future__ import annotations

from ansible_collections.bluegreen.core.plugins.module_utils import _aws
from botocore.stub import Stubber


class StubbedAws:
    """Gives every client the module creates a Stubber loaded with the responses queued here, in order."""

    def __init__(self) -> None:
        self.queue: list = []
        self.stubbers: list = []

    def respond(self, method: str, response: dict, expected: dict | None = None) -> None:
        self.queue.append(("response", method, response, expected))

    def error(self, method: str, code: str, message: str = "error") -> None:
        self.queue.append(("error", method, code, message))

    def attach(self, client: object) -> object:
        stubber = Stubber(client)
        for kind, method, payload, extra in self.queue:
            if kind == "response":
                stubber.add_response(method, payload, extra)
            else:
                stubber.add_client_error(method, payload, extra)
        stubber.activate()
        self.stubbers.append(stubber)
        return client

    def assert_all_used(self) -> None:
        for stubber in self.stubbers:
            stubber.assert_no_pending_responses()


def stubbed_aws(monkeypatch, tmp_path) -> StubbedAws:
    """No AWS settings from the environment or files; every client the modules create gets the stubs."""
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE",
                     "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
                     "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(_aws, "POLL_INTERVAL", 0.01)
    stubs = StubbedAws()
    real_client = _aws.Connection.client
    monkeypatch.setattr(_aws.Connection, "client", lambda self, *a, **kw: stubs.attach(real_client(self, *a, **kw)))
    return stubs

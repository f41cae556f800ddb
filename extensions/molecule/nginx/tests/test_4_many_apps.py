# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Many apps on the scenario's Nginx router: service-a and service-b of examples/many-apps/ (its service-c is set up
as service-a is), each with its own server block by host name on 443 with TLS and HTTP/2 (a CA this test makes; the load client verifies every
certificate), port 80 redirecting to 443, beside the scenario's own app (moved to a host name first).

Every step on one app reloads nginx, and a reload touches every app's keep-alive clients: nginx 1.22 closes their
idle connections as the old workers leave, and a client that sends on one as it closes sees a reset. The test counts
those on the other apps during each step and prints them (the figures docs/nginx.md quotes); it fails on any failure
of a new connection, on any 5xx, and on any change to the other apps' files.

Runs last in the scenario: it takes the router's port 80 from the demo app's own listener.
"""

from __future__ import annotations

import json
import time

import pytest
from lab_helpers import APP, APPS, ROUTER, host, playbook
from many_apps import B_PEM_ON_ROUTER, answer, finish, load, make_pki, release, run

# What a client may see when nginx closes an idle keep-alive connection under it, and nothing else.
RESETS = {"RemoteDisconnected", "ConnectionResetError", "BrokenPipeError", "ConnectionAbortedError"}
FIGURES: dict = {}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def part(app: str) -> str:
    """The app's part of the router: its file, its locations, its upstream files and links, its certificate."""
    return host(ROUTER).check_output(
        f"cd /etc/nginx && sha256sum conf.d/bluegreen-{app}.conf bluegreen/{app}/*.conf && ls -l --time-style=+ bluegreen/{app} | "
        f"grep -- '->' | sed 's/.* live/live/; s/.* preview/preview/' && (sha256sum bluegreen-certs/{app}.pem 2>/dev/null || true)"
    )


def reload_effect(handle, app: str, step: str) -> set:
    """Stop the load client on an app another step reloaded under; no new connection or 5xx failed, only keep-alive
    connections nginx closed. Keeps the figures for the summary at the end, and returns the colours that answered."""
    summary, result = finish(handle, app)
    kinds = summary["kinds"]
    assert kinds["newconn"]["requests"] > 10 and kinds["keepalive"]["requests"] > 10, (app, kinds)
    assert kinds["newconn"]["failed"] == 0, (app, step, kinds["newconn"], [r.to_dict() for r in result.failures()][:5])
    unexpected = [r.to_dict() for r in result.failures() if r.error not in RESETS]
    assert not unexpected, (app, step, unexpected[:5])
    FIGURES.setdefault(step, {})[app] = {kind: f"{kinds[kind]['failed']} of {kinds[kind]['requests']}" for kind in ("keepalive", "newconn")}
    # The colours that answered (a reset request has none).
    return {rec.colour for rec in result.records if rec.kind in ("keepalive", "newconn") and not rec.failed}


def test_the_scenario_app_moves_from_its_own_port_to_a_host_name():
    result = playbook("provision", json.dumps({"bluegreen_hostnames": ["demo.example.com"]}))
    assert result.returncode == 0, result.output
    got = answer("-H 'Host: demo.example.com' http://127.0.0.1/")
    assert got["status"] == "200" and got["colour"], got
    assert "listen 80;" not in host(ROUTER).file(f"/etc/nginx/conf.d/bluegreen-{APP}.conf").content_string
    assert answer("-H 'Host: nobody.example.com' http://127.0.0.1/")["status"] == "404"


def test_the_first_service_serves_https_by_its_name_with_http2_and_redirects_http(pki):
    result = run("provision", "service-a", pki)
    assert result.returncode == 0, result.output
    assert pki["pems"]["service-a"].split("-----BEGIN PRIVATE KEY-----")[1][:40] not in result.output
    result = release("service-a", "1.0.0", pki)
    assert result.returncode == 0, result.output
    got = answer("https://a.example.com/")
    assert (got["status"], got["http"], got["version"]) == ("200", "2", "1.0.0"), got
    assert answer("https://preview.a.example.com/")["colour"] != got["colour"]
    redirected = answer("'http://a.example.com/some/path?q=1'")
    assert (redirected["status"], redirected["location"]) == ("301", "https://a.example.com/some/path?q=1"), redirected
    assert answer("-H 'Host: demo.example.com' http://127.0.0.1/")["status"] == "200"
    # A host name no app has: no certificate is given away.
    assert host(ROUTER).run("curl -sS -m 5 -k --resolve nobody.example.com:443:127.0.0.1 https://nobody.example.com/").rc != 0


def test_provisioning_another_service_leaves_the_first_unchanged(pki):
    before = {app: part(app) for app in ("service-a", APP)}
    handle = load("service-a", pki)
    time.sleep(2)
    result = run("provision", "service-b", pki)
    reload_effect(handle, "service-a", "provision service-b")
    assert result.returncode == 0, result.output
    assert {app: part(app) for app in ("service-a", APP)} == before
    result = release("service-b", "1.0.0", pki)
    assert result.returncode == 0, result.output
    assert answer("https://b.example.com/")["version"] == "1.0.0"


def test_releasing_one_service_leaves_the_other_serving(pki):
    before = part("service-b")
    handle = load("service-b", pki)
    time.sleep(2)
    result = release("service-a", "2.0.0", pki)
    assert reload_effect(handle, "service-b", "release service-a") == {answer("https://b.example.com/")["colour"]}
    assert result.returncode == 0, result.output
    assert answer("https://a.example.com/")["version"] == "2.0.0"
    assert part("service-b") == before


# One claim another app holds and one certificate the router cannot read: on real hosts, each stops the playbook naming
# its variable and changes nothing. Every other refusal of nginx_app (a shared name with another certificate, ...) is
# in tests/unit/plugins/modules/test_nginx_app.py, against Debian's nginx -t.
@pytest.mark.parametrize(("override", "variable", "words"), [
    ({"bluegreen_hostnames": ["a.example.com"]}, "bluegreen_hostnames", "apps service-a and service-d both claim the host name and path a.example.com/"),
    ({"bluegreen_hostnames": ["d.example.com"], "bluegreen_tls_certificate": "/etc/ssl/private/missing.pem"}, "bluegreen_tls_certificate",
     "cannot read /etc/ssl/private/missing.pem"),
])
def test_a_service_that_claims_what_another_has_is_refused_and_changes_nothing(pki, override, variable, words):
    router = host(ROUTER)
    files = "/etc/nginx/nginx.conf /etc/nginx/conf.d/* /etc/nginx/bluegreen/*/*"
    before = router.check_output(f"sha256sum {files}")
    extra = dict({"bluegreen_app": "service-d", "bluegreen_ports": {"blue": 8401, "green": 8402},
                  "bluegreen_preview_hostnames": ["preview.d.example.com"]}, **override)
    result = run("provision", "service-a", pki, json.dumps(extra))
    assert result.returncode != 0
    said = " ".join(result.output.split())  # Ansible wraps long messages
    assert words in said and f"(set by {variable})" in said, said
    assert "service-d on the Nginx router" in result.output
    assert router.check_output(f"sha256sum {files}") == before
    assert not router.file("/etc/nginx/bluegreen/service-d").exists
    assert answer("https://a.example.com/")["status"] == "200"


def test_removing_a_service_leaves_the_others_serving_and_clears_its_hosts(pki):
    before = {app: part(app) for app in ("service-a", APP)}
    handle = load("service-a", pki)
    time.sleep(2)
    result = run("provision", "service-b", pki, "bluegreen_app_state=absent")
    reload_effect(handle, "service-a", "remove service-b")
    assert result.returncode == 0, result.output
    assert {app: part(app) for app in ("service-a", APP)} == before
    router = host(ROUTER)
    assert not router.file("/etc/nginx/conf.d/bluegreen-service-b.conf").exists
    assert not router.file("/etc/nginx/bluegreen/service-b").exists
    assert not router.file("/etc/nginx/bluegreen-certs/service-b.pem").exists
    assert router.file(B_PEM_ON_ROUTER).exists  # the operator's own file it was read from stays
    assert "b.example.com" not in router.file("/etc/nginx/conf.d/bluegreen.conf").content_string
    assert answer("-H 'Host: b.example.com' http://127.0.0.1/")["status"] == "404"
    for name in APPS:
        assert not host(name).file("/etc/systemd/system/service-b@.service").exists
    again = run("provision", "service-b", pki, "bluegreen_app_state=absent")
    recap = [line for line in again.output.split("PLAY RECAP")[-1].splitlines() if "ok=" in line]
    assert again.returncode == 0 and recap and all("changed=0" in line for line in recap), again.output


def test_the_reload_figures():
    """What every step's reload did to the other apps' clients (printed for docs/nginx.md and the release notes)."""
    for step, apps in FIGURES.items():
        said = [f"{app} keep-alive {f['keepalive']} failed, new connections {f['newconn']} failed" for app, f in apps.items()]
        print(f"nginx reload, {step}: " + "; ".join(said))
    assert set(FIGURES) == {"provision service-b", "release service-a", "remove service-b"}

# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Many apps on the scenario's router: service-a and service-b of examples/many-apps/ (its service-c is set up as
service-a is), each chosen by its host name on 443 with TLS (a CA this test makes; the load client verifies every
certificate), port 80 redirecting to 443, beside the scenario's own app (moved to a host name first). Provisioning,
releasing and removing one app drops no request of the others and leaves their part of the router byte-identical.

Runs first in the scenario: it takes the router's port 80 from the demo app's own listener.
"""

from __future__ import annotations

import json
import os
import time

import pytest
import yaml
from lab_helpers import APP, APP_CFG, APPS, MAP_FILE, ROUTER, build_demo, host, playbook
from many_apps import ARTIFACTS, B_PEM_ON_ROUTER, EXAMPLES, NAMES, ROUTER_VARS, answer, load, make_pki, no_failures, release, run


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def release_6():
    """The demo app's 6.0.0, beside the releases the scenario's prepare built."""
    build_demo("6.0.0", ARTIFACTS)


def part(app: str) -> dict:
    """The app's part of the router: its file, its map lines and routes, its certificate."""
    router = host(ROUTER)
    keys = (app, app + ".preview")

    def lines(path: str) -> list:
        return [line for line in router.file(path).content_string.splitlines() if set(line.split(" ")[:2]) & set(keys)]
    pem = f"/etc/haproxy/bluegreen/certs/{app}.pem"
    return {"file": router.file(f"/etc/haproxy/bluegreen.d/{app}.cfg").content_string, "map": lines(MAP_FILE),
            "routes": lines("/etc/haproxy/maps/routes.map"), "pem": router.file(pem).sha256sum if router.file(pem).exists else None}


def test_the_scenario_app_moves_from_its_own_port_to_a_host_name():
    result = playbook("provision", json.dumps({"bluegreen_hostnames": ["demo.example.com"]}))
    assert result.returncode == 0, result.output
    got = answer("-H 'Host: demo.example.com' http://127.0.0.1/")
    assert got["status"] == "200" and got["colour"], got
    assert "frontend demo_live" not in host(ROUTER).file(APP_CFG).content_string
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
    # The scenario's app, without TLS, is not redirected.
    assert answer("-H 'Host: demo.example.com' http://127.0.0.1/")["status"] == "200"


def test_provisioning_another_service_drops_nothing_and_leaves_the_first_unchanged(pki):
    before = {app: part(app) for app in ("service-a", APP)}
    handle = load("service-a", pki)
    time.sleep(2)
    result = run("provision", "service-b", pki)
    no_failures(handle, "service-a")
    assert result.returncode == 0, result.output
    assert {app: part(app) for app in ("service-a", APP)} == before
    result = release("service-b", "1.0.0", pki)
    assert result.returncode == 0, result.output
    assert answer("https://b.example.com/")["version"] == "1.0.0"


def test_releasing_one_service_drops_nothing_on_the_other(pki):
    before = part("service-b")
    handle = load("service-b", pki)
    time.sleep(2)
    result = release("service-a", "2.0.0", pki)
    assert set(no_failures(handle, "service-b")["kinds"]["keepalive"]["colours"]) == {answer("https://b.example.com/")["colour"]}
    assert result.returncode == 0, result.output
    assert answer("https://a.example.com/")["version"] == "2.0.0"
    assert part("service-b") == before


def test_services_released_together_switch_in_one_step_and_no_client_sees_a_mixed_pair(pki, release_6):
    for app in ("service-a", "service-b"):
        for name, *extra in (("deploy", "bluegreen_version=6.0.0", f"bluegreen_artifact={ARTIFACTS}/demo-app-6.0.0.tar.gz"),
                             ("smoke_test",)):
            result = run(name, app, pki, *extra)
            assert result.returncode == 0, (name, app, result.output)
    old = {app: answer(f"https://{NAMES[app]}/")["version"] for app in ("service-a", "service-b")}
    handles = {app: load(app, pki, seconds=90) for app in ("service-a", "service-b")}
    time.sleep(3)
    step = [{"app": "service-a", "version": "6.0.0"}, {"app": "service-b", "version": "6.0.0"}]
    result = playbook("switch_apps", json.dumps({"bluegreen_switch_apps": step}))
    time.sleep(3)
    records: dict = {}
    for app, handle in handles.items():
        no_failures(handle, app, records)
    assert result.returncode == 0, result.output
    served = [rec for recs in records.values() for rec in recs if rec.status == 200]
    before = [rec for app, recs in records.items() for rec in recs if rec.status == 200 and rec.version == old[app]]
    after = [rec for rec in served if rec.version == "6.0.0"]
    assert before and after and len(before) + len(after) == len(served)
    # One commit for both: no request of either app that began after a client had a 6.0.0 answer got an old release.
    assert max(rec.start for rec in before) < min(rec.start + rec.latency for rec in after)
    for app in ("service-a", "service-b"):
        assert answer(f"https://{NAMES[app]}/")["version"] == "6.0.0"
        lines = host(ROUTER).file(f"/var/lib/bluegreen/{app}/history.jsonl").content_string.splitlines()
        (record,) = [r for r in map(json.loads, lines) if r.get("together")]
        assert record["together"] == ["service-a", "service-b"] and record["result"] == "ok"


def release_apps(pki, *apps: tuple):
    """bluegreen.core.release_apps with each app's own variables (its file in examples/many-apps/) in its vars; each app
    is (app, version) or (app, version, artifact file name)."""
    listed = []
    for app, version, *artifact in apps:
        with open(os.path.join(EXAMPLES, f"{app}.yml"), encoding="utf-8") as handle:
            own = yaml.safe_load(handle)
        own.pop("bluegreen_app")
        name = artifact[0] if artifact else f"demo-app-{version}.tar.gz"
        listed.append({"app": app, "version": version, "artifact": f"{ARTIFACTS}/{name}", "vars": own})
    return playbook("release_apps", json.dumps({"bluegreen_release_apps": listed}), json.dumps(ROUTER_VARS), f"@{pki['vault']}")


def test_release_apps_deploys_and_tests_each_then_switches_them_together(pki):
    result = release_apps(pki, ("service-a", "2.0.0"), ("service-b", "1.0.0"))
    assert result.returncode == 0, result.output
    assert pki["pems"]["service-a"].split("-----BEGIN PRIVATE KEY-----")[1][:40] not in result.output
    for app, version in (("service-a", "2.0.0"), ("service-b", "1.0.0")):
        assert answer(f"https://{NAMES[app]}/")["version"] == version
        lines = host(ROUTER).file(f"/var/lib/bluegreen/{app}/history.jsonl").content_string.splitlines()
        assert json.loads(lines[-1])["together"] == ["service-a", "service-b"], lines[-1]


def test_release_apps_switches_none_when_one_fails_its_smoke_test(pki):
    before = host(ROUTER).file(MAP_FILE).content_string
    b_history = host(ROUTER).file("/var/lib/bluegreen/service-b/history.jsonl").content_string.splitlines()
    result = release_apps(pki, ("service-a", "1.0.0"), ("service-b", "3.1.0", "demo-app-3.1.0-broken-500.tar.gz"))
    said = " ".join(result.output.split())
    assert result.returncode != 0 and "service-b 3.1.0 failed in" in said and "No app was switched" in said, said
    assert "status 500" in said, said
    assert host(ROUTER).file(MAP_FILE).content_string == before
    assert answer("https://a.example.com/")["version"] == "2.0.0" and answer("https://b.example.com/")["version"] == "1.0.0"
    lines = host(ROUTER).file("/var/lib/bluegreen/service-b/history.jsonl").content_string.splitlines()
    assert lines[:len(b_history)] == b_history
    (smoke,) = map(json.loads, lines[len(b_history):])
    assert (smoke["action"], smoke["result"], smoke["versions"][smoke["colour"]]) == ("smoke-test", "failed", "3.1.0"), smoke
    # service-b's idle colour is back on the release it had; service-a's waits, deployed and unswitched.
    assert answer("https://preview.b.example.com/")["version"] == "6.0.0"
    assert answer("https://preview.a.example.com/")["version"] == "1.0.0"


def test_a_step_with_a_release_in_neither_colour_switches_nothing(pki):
    before = host(ROUTER).file(MAP_FILE).content_string
    step = [{"app": "service-a", "version": "2.0.0"}, {"app": "service-b", "version": "9.9.9"}]
    result = playbook("switch_apps", json.dumps({"bluegreen_switch_apps": step}))
    assert result.returncode != 0 and "service-b: release 9.9.9 is in neither colour" in " ".join(result.output.split()), result.output
    assert host(ROUTER).file(MAP_FILE).content_string == before


# One claim another app holds and one certificate the router cannot read: on real hosts, each stops the playbook naming
# its variable and changes nothing. Every other refusal of haproxy_app (a preview port that is the live one, a file with
# no certificate, ...) is in tests/unit/plugins/modules/test_haproxy_app.py, against Debian's haproxy -c and openssl.
@pytest.mark.parametrize(("override", "variable", "words"), [
    ({"bluegreen_hostnames": ["a.example.com"]}, "bluegreen_hostnames", "apps service-a and service-d both claim the host name and path a.example.com/"),
    ({"bluegreen_hostnames": ["d.example.com"], "bluegreen_tls_certificate": "/etc/ssl/private/missing.pem"}, "bluegreen_tls_certificate",
     "cannot read /etc/ssl/private/missing.pem"),
])
def test_a_service_that_claims_what_another_has_is_refused_and_changes_nothing(pki, override, variable, words):
    router = host(ROUTER)
    files = "/etc/haproxy/haproxy.cfg /etc/haproxy/bluegreen.d/* /etc/haproxy/maps/*.map"
    before = router.check_output(f"sha256sum {files}")
    extra = dict({"bluegreen_app": "service-d", "bluegreen_ports": {"blue": 8401, "green": 8402},
                  "bluegreen_preview_hostnames": ["preview.d.example.com"]}, **override)
    result = run("provision", "service-a", pki, json.dumps(extra))
    assert result.returncode != 0
    said = " ".join(result.output.split())  # Ansible wraps long messages
    assert words in said and f"(set by {variable})" in said, said
    assert "service-d on the HAProxy router" in result.output
    assert router.check_output(f"sha256sum {files}") == before
    assert answer("https://a.example.com/")["status"] == "200"


def test_removing_a_service_drops_nothing_on_the_others_and_clears_its_hosts(pki):
    before = {app: part(app) for app in ("service-a", APP)}
    handle = load("service-a", pki)
    time.sleep(2)
    result = run("provision", "service-b", pki, "bluegreen_app_state=absent")
    no_failures(handle, "service-a")
    assert result.returncode == 0, result.output
    assert {app: part(app) for app in ("service-a", APP)} == before
    router = host(ROUTER)
    assert not router.file("/etc/haproxy/bluegreen.d/service-b.cfg").exists
    assert "service-b" not in router.file("/etc/haproxy/maps/routes.map").content_string
    assert "service-b" not in router.file(MAP_FILE).content_string
    assert answer("-H 'Host: b.example.com' http://127.0.0.1/")["status"] == "404"
    # Its certificate went with it (a client that verifies refuses the router's certificate for b.example.com), and the
    # operator's own file it was read from stays.
    assert router.run("curl -sS -m 5 --cacert /tmp/bluegreen-test-ca.pem --resolve b.example.com:443:127.0.0.1 "
                      "https://b.example.com/").rc == 60
    assert router.file(B_PEM_ON_ROUTER).exists
    for name in APPS:
        app_host = host(name)
        assert not app_host.file("/etc/systemd/system/service-b@.service").exists
        assert not app_host.file("/opt/bluegreen/service-b").exists
        assert not app_host.service("service-b@blue").is_running
    again = run("provision", "service-b", pki, "bluegreen_app_state=absent")
    recap = [line for line in again.output.split("PLAY RECAP")[-1].splitlines() if "ok=" in line]
    assert again.returncode == 0 and recap and all("changed=0" in line for line in recap), again.output

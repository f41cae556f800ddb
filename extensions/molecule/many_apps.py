# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the many-apps tests of the apps and nginx scenarios share: service-a and service-b of examples/many-apps/, a CA
and certificates made by the test, curl on the router, and the load client over TLS."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

from lab_helpers import PROJECT, ROUTER, address, host, playbook

sys.path.insert(0, PROJECT)
from benchmarks import probe  # noqa: E402  (the project root is on the path only from here)

EXAMPLES = os.path.join(PROJECT, "examples", "many-apps")
ARTIFACTS = os.path.join(PROJECT, ".cache", "artifacts")
NAMES = {"service-a": "a.example.com", "service-b": "b.example.com"}
# What examples/many-apps/inventory.yml sets for every app, given here as extra vars on the scenario's inventory.
ROUTER_VARS = {"bluegreen_tls_redirect": True, "bluegreen_preview_port": 0, "bluegreen_listen_port": 80, "bluegreen_tls_port": 443}
B_PEM_ON_ROUTER = "/etc/ssl/private/b.example.com.pem"


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_pki(folder) -> dict:
    """A CA, and for each app a certificate for its host name and its preview host name, with the key, in one PEM;
    the CA on the router for curl, service-b's PEM as a file on the router, the others in a vault file."""
    ca_key, ca = str(folder / "ca.key"), str(folder / "ca.pem")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", ca_key,
            "-out", ca, "-days", "2", "-subj", "/CN=bluegreen lab test CA")
    pems = {}
    for app, name in NAMES.items():
        key, csr, cert, ext = (str(folder / f"{name}.{suffix}") for suffix in ("key", "csr", "crt", "ext"))
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={name}")
        with open(ext, "w", encoding="ascii") as handle:
            handle.write(f"subjectAltName=DNS:{name},DNS:preview.{name}\n")
        openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext)
        with open(cert, encoding="ascii") as c, open(key, encoding="ascii") as k:
            pems[app] = c.read() + k.read()
    router = host(ROUTER)
    # service-b's certificate is a file already on the router, as examples/many-apps/service-b.yml says.
    encoded = base64.b64encode(pems["service-b"].encode()).decode()
    router.run_expect([0], "install -d -m 0700 /etc/ssl/private && echo %s | base64 -d > %s && chmod 0600 %s", encoded, B_PEM_ON_ROUTER,
                      B_PEM_ON_ROUTER)
    with open(ca, encoding="ascii") as handle:
        router.run_expect([0], "echo %s | base64 -d > /tmp/bluegreen-test-ca.pem", base64.b64encode(handle.read().encode()).decode())
    secrets = str(folder / "vault.json")
    with open(secrets, "w", encoding="utf-8") as handle:
        json.dump({"vault_service_a_pem": pems["service-a"]}, handle)
    os.chmod(secrets, 0o600)
    return {"ca": ca, "vault": secrets, "pems": pems}


def run(name: str, app: str, pki: dict, *extra: str):
    """A playbook for one of examples/many-apps/'s apps, with its file, the router's settings and the vault."""
    return playbook(name, f"@{EXAMPLES}/{app}.yml", json.dumps(ROUTER_VARS), f"@{pki['vault']}", *extra)


def release(app: str, version: str, pki: dict):
    return run("release", app, pki, f"bluegreen_version={version}", f"bluegreen_artifact={ARTIFACTS}/demo-app-{version}.tar.gz")


def curl(*args: str) -> str:
    """curl on the router, to itself, verifying the certificates against the test's CA."""
    resolve = " ".join(f"--resolve {name}:443:127.0.0.1 --resolve {prefix}{name}:443:127.0.0.1 --resolve {name}:80:127.0.0.1"
                       for name in NAMES.values() for prefix in ("", "preview."))
    command = f"curl -sS -m 5 --cacert /tmp/bluegreen-test-ca.pem {resolve} " + " ".join(args)
    return host(ROUTER).check_output(command)


def answer(url: str) -> dict:
    out = curl("-o /dev/null -w '%{http_code}|%{http_version}|%header{x-bluegreen-colour}|%header{x-app-version}|%{redirect_url}'",
               url).split("|")
    out += [""] * (5 - len(out))
    return dict(zip(("status", "http", "colour", "version", "location"), out[:5], strict=True))


def load(app: str, pki: dict, seconds: int = 120) -> probe.ProbeHandle:
    """The load client against one app, over TLS by its host name, verifying the router's certificate."""
    router = address(ROUTER)
    return probe.start(probe.ProbeConfig(
        base_url=f"https://{router}:443/", host_name=NAMES[app], ca_file=pki["ca"], allow_hosts=(router,), case=f"many apps {app}",
        keepalive_threads=2, newconn_threads=1, streams=0, duration=seconds, max_requests=20_000, rate=15.0, timeout=5.0,
    ))


def finish(handle: probe.ProbeHandle, app: str, records: dict | None = None) -> tuple:
    """Stop the load client; its summary and result."""
    handle.stop()
    result = handle.wait(timeout=30)
    if records is not None:
        records[app] = result.records
    summary = result.summary()
    print(app, summary)
    return summary, result


def no_failures(handle: probe.ProbeHandle, app: str, records: dict | None = None) -> dict:
    summary, result = finish(handle, app, records)
    for kind in ("keepalive", "newconn"):
        counts = summary["kinds"][kind]
        assert counts["requests"] > 10, (app, counts)
        assert counts["failed"] == 0, (app, kind, counts, [r.to_dict() for r in result.failures()][:5])
    return summary

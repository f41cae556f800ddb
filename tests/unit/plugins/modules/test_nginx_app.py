# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""nginx_app against Debian's real ``nginx -t`` (unpacked by scripts/bootstrap.sh) and ``openssl``, on files in a
temporary directory."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess

import pytest
from ansible_collections.bluegreen.core.plugins.modules import nginx_app
from ansible_collections.bluegreen.core.tests.unit.plugins.modules.module_helpers import run_module
from ansible_collections.bluegreen.core.tests.unit.plugins.modules.test_haproxy_app import make_pem

_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
NGINX = os.path.join(_ROOT, ".cache", "nginx", "usr", "sbin", "nginx")
if not os.access(NGINX, os.X_OK):
    NGINX = shutil.which("nginx") or NGINX

pytestmark = pytest.mark.skipif(not (os.access(NGINX, os.X_OK) and shutil.which("openssl")), reason="needs nginx (make bootstrap) and openssl")


@pytest.fixture(scope="module")
def pems(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("pems"))
    return {name: make_pem(directory, name) for name in ("shop.example.test", "other.example.test")}


class Router:
    def __init__(self, root: str) -> None:
        self.root = root
        self.paths = {"conf_dir": f"{root}/bluegreen", "site_dir": f"{root}/conf.d", "cert_dir": f"{root}/certs",
                      "nginx_conf": f"{root}/nginx.conf", "nginx_binary": NGINX}
        os.makedirs(f"{root}/conf.d")
        os.makedirs(f"{root}/tmp")
        temp = "\n".join(f"    {kind}_temp_path {root}/tmp/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        self.write("nginx.conf", f"pid {root}/nginx.pid;\nerror_log {root}/error.log;\nevents {{}}\nhttp {{\n{temp}\n"
                                 f"    access_log off;\n    include {root}/conf.d/*.conf;\n    include {root}/sites/*.conf;\n}}\n")

    def write(self, name: str, text: str) -> None:
        path = os.path.join(self.root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)

    def upstreams(self, app: str) -> None:
        """What the bluegreen.core.nginx role writes before the module runs: the upstream files and the links."""
        for kind, colour, port in (("upstream", "blue", 8001), ("upstream", "green", 8002), ("preview", "blue", 8001), ("preview", "green", 8002)):
            name = "live" if kind == "upstream" else "preview"
            self.write(f"bluegreen/{app}/{kind}-{colour}.conf", f"upstream {app}_{name} {{\n    server 10.0.0.11:{port};\n}}\n")
        for link, target in (("live.conf", "upstream-green.conf"), ("preview.conf", "preview-blue.conf")):
            if not os.path.islink(f"{self.root}/bluegreen/{app}/{link}"):
                os.symlink(target, f"{self.root}/bluegreen/{app}/{link}")

    def run(self, app: str, check_mode: bool = False, diff: bool = False, **args):
        if args.get("state") != "absent":
            self.upstreams(app)
        full = dict(self.paths, app=app, router="lb1", servers={"blue": ["10.0.0.11:8001"], "green": ["10.0.0.11:8002"]})
        full.update(args)
        if diff:
            full["_ansible_diff"] = True
        return run_module(nginx_app.main, full, check_mode=check_mode)

    def text(self, *parts: str) -> str | None:
        path = os.path.join(self.root, *parts)
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as handle:
            return handle.read()

    def snapshot(self) -> dict:
        files = {}
        for folder, _dirs, names in os.walk(self.root):
            for name in names:
                path = os.path.join(folder, name)
                if name.endswith(".lock") or "/tmp/" in path:
                    continue
                files[os.path.relpath(path, self.root)] = os.readlink(path) if os.path.islink(path) else open(path, "rb").read()  # noqa: SIM115
        return files

    def check(self) -> None:
        subprocess.run([NGINX, "-t", "-q", "-c", self.paths["nginx_conf"]], check=True, capture_output=True)


@pytest.fixture
def router(tmp_path):
    return Router(str(tmp_path))


def shop(router, pems, **args):
    return router.run("shop", hostnames=["shop.example.test", "www.shop.example.test"], tls_certificate_content=pems["shop.example.test"],
                      tls_redirect=True, preview_port=0, preview_hostnames=["preview.shop.example.test"], **args)


def test_apps_side_by_side_each_keeps_its_part_byte_identical(router, pems):
    first = shop(router, pems)
    assert not first.failed, first.msg
    shop_part = {k: v for k, v in router.snapshot().items() if "shop" in k}
    cart = router.run("cart", listen_port=8081, preview_port=8082)
    assert not cart.failed and cart["changed"], cart.msg
    api = router.run("api", hostnames=["shop.example.test"], path_prefix="/api/", preview_port=9090)
    assert not api.failed, api.msg
    assert {k: v for k, v in router.snapshot().items() if "shop" in k} == shop_part
    assert api["routes"] == ["preview.shop.example.test shop.preview", "shop.example.test/api api", "www.shop.example.test shop",
                             "shop.example.test shop"]
    shared = router.text("conf.d", "bluegreen.conf")
    # One server per host name, on the shared ports; TLS where an app on the host name has a certificate.
    assert shared.count("server_name ") == 3 and "listen 80 default_server;" in shared and "ssl_reject_handshake on;" in shared
    block = next(part for part in shared.split("\n\nserver {") if "server_name shop.example.test;" in part)
    assert "listen 443 ssl http2;" in block and f"ssl_certificate {router.root}/certs/shop.pem;" in block
    assert f"include {router.root}/bluegreen/api/locations.conf;\n    include {router.root}/bluegreen/shop/locations.conf;" in block
    assert f"include {router.root}/bluegreen/shop/preview-locations.conf;" in shared
    assert "location /api/ {" in router.text("bluegreen", "api", "locations.conf")
    assert "location = /api {" in router.text("bluegreen", "api", "locations.conf")
    assert "return 301 https://$host$request_uri;" in router.text("bluegreen", "shop", "locations.conf")
    assert "listen 8081;" in router.text("conf.d", "bluegreen-cart.conf") and "listen 80;" not in router.text("conf.d", "bluegreen-shop.conf")
    assert oct(os.stat(f"{router.root}/certs/shop.pem").st_mode & 0o777) == "0o600"
    router.check()
    again = shop(router, pems)
    assert not again.failed and not again["changed"] and again["files"] == []


def test_a_host_name_with_only_deeper_paths_answers_404_at_its_root(router):
    assert not router.run("api", hostnames=["api.example.test"], path_prefix="/v1").failed
    shared = router.text("conf.d", "bluegreen.conf")
    assert 'location / {\n        default_type text/plain;\n        return 404 "No app is routed here' in shared
    # Its own preview port serves every path (the smoke test probes its health path there), its host name only /v1.
    site = router.text("conf.d", "bluegreen-api.conf")
    preview = site[site.index("listen 8080;"):]
    assert preview.startswith("listen 8080;\n    location / {\n") and "proxy_pass http://api_preview;" in preview
    assert "location /v1/ {" in router.text("bluegreen", "api", "preview-locations.conf")
    router.check()


@pytest.mark.parametrize(("args", "param", "words"), [
    ({"hostnames": ["shop.example.test"]}, "hostnames", "apps shop and cart both claim the host name and path shop.example.test/"),
    ({"preview_port": 8080, "listen_port": 9000}, "preview_port", "port 8080, which cart wants for its own listener, is already used by shop"),
    ({"hostnames": ["Not_A_Host"]}, "hostnames", "'Not_A_Host' is not a valid DNS host name"),
    ({"hostnames": ["cart.example.test"], "path_prefix": "/a b"}, "path_prefix", "must be '/' or '/'-separated segments"),
    ({"tls_certificate": "/nonexistent/cart.pem", "hostnames": ["cart.example.test"], "preview_port": 9001}, "tls_certificate",
     "cannot read /nonexistent/cart.pem"),
    ({"tls_certificate_content": "hello", "hostnames": ["cart.example.test"], "preview_port": 9001}, "tls_certificate_content", "has no certificate"),
    ({"proxy_read_timeout": "soon"}, "proxy_read_timeout", "must be an nginx time"),
    ({"servers": {"blue": ["10.0.0.11"], "green": []}}, "servers", "is not address:port"),
])
def test_bad_input_names_the_parameter_the_app_and_the_router_and_writes_nothing(router, pems, args, param, words):
    assert not router.run("shop", hostnames=["shop.example.test"], tls_certificate_content=pems["shop.example.test"]).failed
    router.upstreams("cart")
    before = router.snapshot()
    result = router.run("cart", **args)
    assert result.failed and result["param"] == param, result
    assert result.msg.startswith("Cannot route cart on the Nginx router lb1: ") and words in result.msg, result.msg
    assert router.snapshot() == before


def test_a_host_name_served_with_two_certificates_is_refused(router, pems):
    assert not router.run("shop", hostnames=["shop.example.test"], tls_certificate_content=pems["shop.example.test"]).failed
    router.upstreams("api")
    before = router.snapshot()
    result = router.run("api", hostnames=["shop.example.test"], path_prefix="/api", preview_port=9090,
                        tls_certificate_content=pems["other.example.test"])
    assert result.failed and result["param"] == "tls_certificate", result
    assert "apps shop and api both serve shop.example.test with TLS, with different certificates" in result.msg
    assert router.snapshot() == before
    same = router.run("api", hostnames=["shop.example.test"], path_prefix="/api", preview_port=9090,
                      tls_certificate_content=pems["shop.example.test"])
    assert not same.failed, same.msg
    router.check()


def test_what_nginx_refuses_is_put_back_and_nginx_says_why(router):
    assert not router.run("cart", listen_port=8081, preview_port=8082).failed
    before = router.snapshot()
    result = router.run("cart", listen_port=8081, preview_port=8082, proxy_next_upstream="error bogus")
    assert result.failed and "nginx refuses the new configuration" in result.msg and 'invalid value "bogus"' in result.msg, result.msg
    assert "Every file was put back as it was" in result.msg
    assert router.snapshot() == before


def test_a_write_that_fails_half_way_is_put_back(router, monkeypatch):
    assert not router.run("cart", listen_port=8081, preview_port=8082).failed
    router.upstreams("api")
    before = router.snapshot()
    real = nginx_app._fs.atomic_write

    def full_disk(path, text, mode=None):
        if path.endswith("/bluegreen.conf"):  # the shared file, written after the app's own files
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, text, mode=mode)
    monkeypatch.setattr(nginx_app._fs, "atomic_write", full_disk)
    result = router.run("api", hostnames=["api.example.test"], preview_port=9090)
    assert result.failed and "writing the new files failed (No space left on device" in result.msg, result.msg
    assert "Every file was put back" in result.msg
    assert router.snapshot() == before


def test_absent_takes_the_app_off_and_leaves_the_others_as_they_were(router, pems):
    assert not shop(router, pems).failed
    assert not router.run("api", hostnames=["shop.example.test"], path_prefix="/api", preview_port=9090).failed
    shop_part = {k: v for k, v in router.snapshot().items() if "shop" in k}
    gone = router.run("api", state="absent", diff=True)
    assert not gone.failed and gone["changed"], gone.msg
    assert f"{router.root}/bluegreen/api" in gone["files"] and not os.path.exists(f"{router.root}/bluegreen/api")
    assert router.text("conf.d", "bluegreen-api.conf") is None and "api" not in router.text("conf.d", "bluegreen.conf")
    assert {k: v for k, v in router.snapshot().items() if "shop" in k} == shop_part
    router.check()
    assert not router.run("api", state="absent")["changed"]
    last = router.run("shop", state="absent")
    assert not last.failed and router.text("conf.d", "bluegreen.conf") is None and router.text("certs", "shop.pem") is None
    router.check()


def test_absent_is_put_back_when_an_operator_server_still_includes_the_app(router):
    assert not router.run("cart", manage="app", preview_port=8082).failed
    assert router.text("conf.d", "bluegreen.conf") is None and "listen 80;" not in router.text("conf.d", "bluegreen-cart.conf")
    router.write("sites/www.conf", f"server {{\n    listen 80;\n    server_name www.example.test;\n"
                                   f"    include {router.root}/bluegreen/cart/locations.conf;\n}}\n")
    router.check()
    before = router.snapshot()
    result = router.run("cart", state="absent", manage="app")
    assert result.failed and "locations.conf" in result.msg and "Every file was put back" in result.msg, result.msg
    assert router.snapshot() == before


def test_check_mode_shows_the_diff_without_the_certificate_and_writes_nothing(router, pems):
    before = router.snapshot()
    result = shop(router, pems, check_mode=True, diff=True)
    assert not result.failed and result["changed"], result.msg
    assert router.snapshot() == before
    shown = json.dumps(result.result)
    assert "PRIVATE KEY" not in shown and "(certificate and key, sha256 " in shown
    assert "server_name shop.example.test;" in shown

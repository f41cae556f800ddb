# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""nginx_app against Debian's real ``nginx -t`` (unpacked by scripts/bootstrap.sh) and ``openssl``, on files in a
temporary directory."""

from __future__ import annotations

import errno
import hashlib
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
        # nginx -t opens (creates) the log files the configuration names: the apps' counts logs and the access log.
        os.makedirs(f"{root}/logs")
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
        full = dict(self.paths, app=app, router="lb1", servers={"blue": ["10.0.0.11:8001"], "green": ["10.0.0.11:8002"]},
                    counts_log=f"{self.root}/logs/bluegreen-{app}.log", access_log=f"{self.root}/logs/access.log")
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
                relative = os.path.relpath(path, self.root)
                # nginx's own temporary folders and pid and log files are not the router's configuration.
                if name.endswith(".lock") or relative.startswith(("tmp/", "logs/")) or relative in ("nginx.pid", "error.log"):
                    continue
                files[relative] = os.readlink(path) if os.path.islink(path) else open(path, "rb").read()  # noqa: SIM115
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
    ({"counts_log": "logs/cart.log"}, "counts_log", "counts_log must be the absolute path of a file"),
    ({"access_log": "/var/log/nginx/$host.log"}, "access_log", "access_log must be the absolute path of a file"),
    ({"counts_log": "/var/log/nginx/access.log", "access_log": "/var/log/nginx/access.log"}, "counts_log",
     "counts_log and access_log are both /var/log/nginx/access.log"),
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
    router.upstreams("shop")
    before = router.snapshot()
    result = shop(router, pems, check_mode=True, diff=True)
    assert not result.failed and result["changed"], result.msg
    assert router.snapshot() == before
    shown = json.dumps(result.result)
    assert "PRIVATE KEY" not in shown and "(certificate and key, sha256 " in shown
    assert "server_name shop.example.test;" in shown


class Colours:
    """Blue and green as two HTTP servers on loopback, each answering its name (with 200, or its status in ``statuses``)."""

    def __init__(self, statuses: dict | None = None) -> None:
        import http.server
        import threading

        self.servers = {}
        for colour in ("blue", "green"):
            class Handler(http.server.BaseHTTPRequestHandler):
                name = colour.encode()
                status = (statuses or {}).get(colour, 200)

                def do_GET(self) -> None:  # noqa: N802 - the standard library's name
                    self.send_response(self.status)
                    self.send_header("Content-Length", str(len(self.name)))
                    self.end_headers()
                    self.wfile.write(self.name)

                def log_message(self, *args: object) -> None:
                    pass
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
            self.servers[colour] = server

    def address(self, colour: str) -> str:
        return f"127.0.0.1:{self.servers[colour].server_address[1]}"

    def close(self) -> None:
        for server in self.servers.values():
            server.shutdown()
            server.server_close()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_preview_value_reaches_the_idle_colour_on_the_live_port_of_a_real_nginx(router):
    import http.client
    import time

    # Quotes, a backslash, '$', braces and ';' in the value: nginx's configuration holds it quoted and escaped.
    secret = 'tester-7b1e"9c\\0d$x{4f};'
    colours = Colours()
    live_port, preview_port = free_port(), free_port()
    try:
        result = router.run("cart", listen_port=live_port, preview_port=preview_port, preview_value=secret, preview_cookie="bg-preview",
                            servers={"blue": [colours.address("blue")], "green": [colours.address("green")]}, diff=True)
        assert not result.failed and result["changed"], result.msg
        # The upstreams as the role writes them (green live, blue the idle colour), on loopback.
        router.write("bluegreen/cart/upstream-green.conf", f"upstream cart_live {{\n    server {colours.address('green')};\n}}\n")
        router.write("bluegreen/cart/preview-blue.conf", f"upstream cart_preview {{\n    server {colours.address('blue')};\n}}\n")
        match = f"{router.root}/bluegreen/cart/preview-match.conf"
        assert oct(os.stat(match).st_mode & 0o777) == "0o600"
        # The value (escaped for a regular expression in quotes) is in that file only, and in no result or diff.
        assert [name for name, data in router.snapshot().items() if isinstance(data, bytes) and b"7b1e" in data] == ["bluegreen/cart/preview-match.conf"]
        assert secret not in json.dumps(result.result) and "(the preview value's maps, sha256 " in json.dumps(result.result)
        digest = hashlib.sha256(secret.encode()).hexdigest().upper()
        assert result["apps"]["cart"]["preview_match"] == {"header": "X-Bluegreen-Preview", "cookie": "bg-preview", "sha256": digest}
        nginx = subprocess.Popen([NGINX, "-c", router.paths["nginx_conf"], "-g", "daemon off; master_process off;"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            def served(headers: dict) -> str:
                deadline = time.monotonic() + 5
                while True:
                    connection = http.client.HTTPConnection("127.0.0.1", live_port, timeout=5)
                    try:
                        connection.request("GET", "/", headers=headers)
                        return connection.getresponse().read().decode()
                    except ConnectionRefusedError:
                        assert time.monotonic() < deadline and nginx.poll() is None, nginx.stdout.read() if nginx.poll() is not None else ""
                        time.sleep(0.05)
                    finally:
                        connection.close()

            assert served({}) == "green"
            assert served({"X-Bluegreen-Preview": secret}) == "blue"
            assert served({"X-Bluegreen-Preview": secret + "x"}) == "green"
            assert served({"X-Bluegreen-Preview": "tester"}) == "green"
            assert served({"Cookie": f"a=1; bg-preview={secret}; b=2"}) == "blue"
            assert served({"Cookie": f"bg-preview={secret}"}) == "blue"
            assert served({"Cookie": f"xbg-preview={secret}"}) == "green"
            assert served({"Cookie": f"bg-preview={secret}x"}) == "green"
        finally:
            nginx.terminate()
            nginx.wait(timeout=10)
    finally:
        colours.close()
    # Turned off, the file goes and the live locations proxy to the live upstream again.
    off = router.run("cart", listen_port=live_port, preview_port=preview_port)
    assert not off.failed and match in off["files"] and not os.path.exists(match), off.msg
    assert "proxy_pass http://cart_live;" in router.text("conf.d", "bluegreen-cart.conf")
    router.check()


@pytest.mark.parametrize(("args", "param", "words"), [
    ({"preview_header": "X_Preview"}, "preview_header", "nginx ignores headers with by default"),
    ({"preview_header": "X Preview"}, "preview_header", "is not a valid header or cookie name"),
    ({"preview_header": "", "preview_cookie": None}, "preview_header", "needs preview_header or preview_cookie"),
    ({"preview_cookie": "bg;x"}, "preview_cookie", "is not a valid header or cookie name"),
])
def test_a_preview_the_router_cannot_read_is_refused_naming_the_parameter(router, args, param, words):
    router.upstreams("cart")
    before = router.snapshot()
    result = router.run("cart", preview_value="abc", **args)
    assert result.failed and result["param"] == param and words in result.msg, result.msg
    assert router.snapshot() == before
    newline = router.run("cart", preview_value="abc\n}")
    assert newline.failed and newline["param"] == "preview_value" and "}" not in newline.msg


# --------------------------------------------------------------------------- the counts log


def test_the_counts_log_and_the_access_log_are_written_by_the_live_locations_and_off_leaves_the_second_out(router):
    assert not router.run("cart", listen_port=8081, preview_port=8082).failed
    locations = router.text("bluegreen", "cart", "locations.conf")
    assert f"    access_log {router.root}/logs/bluegreen-cart.log bluegreen_cart_counts;\n" in locations
    assert f"    access_log {router.root}/logs/access.log;\n" in locations
    assert "access_log" not in router.text("bluegreen", "cart", "preview-locations.conf")
    assert "log_format bluegreen_cart_counts '$msec $status $bluegreen_cart_colour $upstream_response_time';" in router.text(
        "conf.d", "bluegreen-cart.conf")
    # nginx -t created both files, as nginx does when it loads them.
    assert os.path.exists(f"{router.root}/logs/bluegreen-cart.log") and os.path.exists(f"{router.root}/logs/access.log")
    off = router.run("cart", listen_port=8081, preview_port=8082, access_log="off", colour_header=False, diff=True)
    assert not off.failed and off["changed"], off.msg
    locations = router.text("bluegreen", "cart", "locations.conf")
    assert [line.strip() for line in locations.splitlines() if "access_log" in line] == [
        f"access_log {router.root}/logs/bluegreen-cart.log bluegreen_cart_counts;"]
    # The colour map stays without the header: the counts log needs it.
    assert "map $upstream_addr $bluegreen_cart_colour {" in router.text("conf.d", "bluegreen-cart.conf")
    router.check()


def test_the_documentation_gives_the_log_options_as_the_argument_spec_does():
    import yaml

    documented = yaml.safe_load(nginx_app.DOCUMENTATION)["options"]
    for name in ("counts_log", "access_log"):
        spec = nginx_app.ARGUMENT_SPEC[name]
        assert (documented[name]["type"], documented[name].get("default")) == (spec["type"], spec.get("default")), name
    assert isinstance(yaml.safe_load(nginx_app.EXAMPLES), list)


def test_a_real_nginx_logs_each_colour_s_requests_and_5xx_where_the_watch_counts_them(router):
    import http.client
    import time

    from ansible_collections.bluegreen.core.plugins.module_utils import _nginx_log

    colours = Colours(statuses={"green": 503})
    live_port, preview_port = free_port(), free_port()
    try:
        result = router.run("cart", listen_port=live_port, preview_port=preview_port,
                            servers={"blue": [colours.address("blue")], "green": [colours.address("green")]})
        assert not result.failed, result.msg
        # Both colours in the live upstream, as in a weighted step: nginx takes turns.
        router.write("bluegreen/cart/upstream-green.conf",
                     f"upstream cart_live {{\n    server {colours.address('blue')};\n    server {colours.address('green')};\n}}\n")
        router.write("bluegreen/cart/preview-blue.conf", f"upstream cart_preview {{\n    server {colours.address('blue')};\n}}\n")
        nginx = subprocess.Popen([NGINX, "-c", router.paths["nginx_conf"], "-g", "daemon off; master_process off;"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            counts = _nginx_log.CountsLog(f"{router.root}/logs/bluegreen-cart.log")
            assert counts.start()

            def status(port: int) -> int:
                deadline = time.monotonic() + 5
                while True:
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                    try:
                        connection.request("GET", "/")
                        response = connection.getresponse()
                        response.read()
                        return response.status
                    except ConnectionRefusedError:
                        assert time.monotonic() < deadline and nginx.poll() is None, nginx.stdout.read() if nginx.poll() is not None else ""
                        time.sleep(0.05)
                    finally:
                        connection.close()

            assert sorted(status(live_port) for _request in range(10)) == [200] * 5 + [503] * 5
            # The preview listener is the smoke test's, not the users': not counted.
            assert {status(preview_port) for _request in range(4)} == {200}
            deadline = time.monotonic() + 5
            while counts.requests["blue"] + counts.requests["green"] < 10 and time.monotonic() < deadline:
                time.sleep(0.05)
                counts.read()
            assert (counts.requests, counts.http_5xx) == ({"blue": 5, "green": 5}, {"blue": 0, "green": 5})
            assert counts.note() is None
            with open(f"{router.root}/logs/access.log", encoding="utf-8") as handle:
                assert sum('"GET / HTTP/1.1" 503 ' in line for line in handle) == 5
        finally:
            nginx.terminate()
            nginx.wait(timeout=10)
    finally:
        colours.close()

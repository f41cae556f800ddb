# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""haproxy_app against the real ``haproxy -c`` and ``openssl`` of this machine, on files in a temporary directory."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess

import pytest
from ansible_collections.bluegreen.core.plugins.module_utils import _haproxy_apps
from ansible_collections.bluegreen.core.plugins.modules import haproxy_app
from ansible_collections.bluegreen.core.tests.unit.plugins.modules.module_helpers import run_module

pytestmark = pytest.mark.skipif(not (shutil.which("haproxy") and shutil.which("openssl")), reason="needs haproxy and openssl")

MAIN = """global
    stats socket /run/haproxy/admin.sock mode 660 level admin
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
"""


def make_pem(directory: str, name: str) -> str:
    key, cert = os.path.join(directory, f"{name}.key"), os.path.join(directory, f"{name}.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN={name}"], check=True, capture_output=True)
    with open(cert, encoding="ascii") as c, open(key, encoding="ascii") as k:
        return c.read() + k.read()


@pytest.fixture(scope="module")
def pems(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("pems"))
    return {name: make_pem(directory, name) for name in ("shop.example.test", "other.example.test")}


class Router:
    def __init__(self, root: str) -> None:
        self.root = root
        self.paths = {"config": f"{root}/haproxy.cfg", "conf_dir": f"{root}/bluegreen.d", "map_dir": f"{root}/maps",
                      "cert_dir": f"{root}/certs"}

    def run(self, app: str, check_mode: bool = False, diff: bool = False, **args):
        full = dict(self.paths, app=app, router="lb1", main_config=MAIN,
                    servers={"blue": [{"name": "web1", "address": "10.0.0.11", "port": 8001}],
                             "green": [{"name": "web1", "address": "10.0.0.11", "port": 8002}]})
        full.update(args)
        if diff:
            full["_ansible_diff"] = True
        return run_module(haproxy_app.main, full, check_mode=check_mode)

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
                if name.endswith(".lock"):
                    continue
                with open(os.path.join(folder, name), "rb") as handle:
                    files[os.path.relpath(os.path.join(folder, name), self.root)] = handle.read()
        return files

    def check(self) -> None:
        subprocess.run(["haproxy", "-c", "-q", "-f", self.paths["config"], "-f", self.paths["conf_dir"]], check=True)


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
    assert router.text("maps", "routes.map").splitlines()[1:] == [
        "preview.shop.example.test shop.preview", "shop.example.test/api api", "www.shop.example.test shop", "shop.example.test shop",
    ]
    assert router.text("maps", "bluegreen.map") == (
        "shop shop_green\nshop.preview shop_blue\nshop.share 0\ncart cart_green\ncart.preview cart_blue\ncart.share 0\n"
        "api api_green\napi.preview api_blue\napi.share 0\n"
    )
    shared = router.text("bluegreen.d", "00-bluegreen.cfg")
    assert f"bind *:443 ssl crt {router.root}/certs/ alpn h2,http/1.1" in shared and "bind *:80\n" in shared
    assert "redirect prefix https://%[var(txn.bg_host)] code 301 if !{ ssl_fc } { var(txn.bg_app) -m str shop shop.preview }" in shared
    assert "frontend cart_live" in router.text("bluegreen.d", "cart.cfg") and "frontend shop_live" not in router.text("bluegreen.d", "shop.cfg")
    assert oct(os.stat(f"{router.root}/certs/shop.pem").st_mode & 0o777) == "0o600"
    router.check()
    again = shop(router, pems)
    assert not again.failed and not again["changed"] and again["files"] == []


def test_a_provision_never_undoes_a_switch_and_moves_a_single_file_layout_map_over(router):
    os.makedirs(f"{router.root}/maps")
    with open(f"{router.root}/maps/cart.map", "w", encoding="utf-8") as handle:
        handle.write("cart cart_blue\ncart.preview cart_green\n")
    result = router.run("cart")
    assert not result.failed, result.msg
    assert router.text("maps", "bluegreen.map") == "cart cart_blue\ncart.preview cart_green\ncart.share 0\n"
    assert router.text("maps", "cart.map") is None
    # A switch, and a weighted step in progress, are the map's: a provision changes neither.
    mid_step = "cart cart_green\ncart.preview cart_blue\ncart.share 30\ncart.step cart_blue\n"
    with open(f"{router.root}/maps/bluegreen.map", "w", encoding="utf-8") as handle:
        handle.write(mid_step)
    assert not router.run("cart")["changed"]
    assert router.text("maps", "bluegreen.map") == mid_step


@pytest.mark.parametrize(("args", "param", "words"), [
    ({"hostnames": ["shop.example.test"]}, "hostnames", "apps shop and cart both claim the host name and path shop.example.test/"),
    ({"preview_port": 8080, "listen_port": 9000}, "preview_port", "port 8080, which cart wants for its own listener, is already used by shop"),
    ({"listen_port": 443}, "listen_port", "used by shop for the shared TLS listener"),
    ({"hostnames": ["Not_A_Host"]}, "hostnames", "'Not_A_Host' is not a valid DNS host name"),
    ({"hostnames": ["shop.example.test:8443"]}, "hostnames", "is not a valid DNS host name"),
    ({"hostnames": ["cart.example.test"], "path_prefix": "/a b"}, "path_prefix", "must be '/' or '/'-separated segments"),
    ({"tls_certificate": "/nonexistent/cart.pem", "hostnames": ["cart.example.test"], "preview_port": 9001}, "tls_certificate",
     "cannot read /nonexistent/cart.pem"),
    ({"tls_certificate_content": "hello", "hostnames": ["cart.example.test"], "preview_port": 9001}, "tls_certificate_content", "has no certificate"),
    ({"listen_port": 8081, "preview_port": 8081}, "preview_port", "also the live listener's port"),
    ({"health_host": "shop.example.test/health"}, "health_host", "'shop.example.test/health' is not a host name or host:port"),
    ({"health_host": "shop.example.test:99999"}, "health_host", "is not a host name or host:port"),
    ({"health_status": [200, 700]}, "health_status", "health_status[1] must be an HTTP status code from 100 to 599"),
    ({"health_status": [200, 204, 200]}, "health_status", "health_status lists 200 twice"),
    ({"health_status": []}, "health_status", "health_status must be a non-empty list"),
    ({"health_path": "/health#ok"}, "health_path", "without spaces, quotes, '\\' or '#'"),
    ({"maintenance_page": "x" * 12289}, "maintenance_page", "maintenance_page is 12289 bytes; HAProxy serves a page of at most 12288"),
    ({"maintenance_page": "  "}, "maintenance_page", "maintenance_page must be the page's text"),
    ({"maintenance_retry_after": -1}, "maintenance_retry_after", "maintenance_retry_after must be 0 or more"),
])
def test_bad_input_names_the_parameter_the_app_and_the_router_and_writes_nothing(router, pems, args, param, words):
    assert not router.run("shop", hostnames=["shop.example.test"], tls_certificate_content=pems["shop.example.test"]).failed
    before = router.snapshot()
    result = router.run("cart", **args)
    assert result.failed and result["param"] == param, result.result
    assert result.msg.startswith("Cannot route cart on the HAProxy router lb1: ") and words in result.msg, result.msg
    assert router.snapshot() == before


def test_the_servers_health_check_sends_the_health_host_and_takes_the_health_status(router):
    assert not router.run("cart").failed
    # Without a host and with the one status 200, the check is the one every earlier provision wrote.
    assert "    option httpchk GET /health\n    http-check expect status 200\n" in router.text("bluegreen.d", "cart.cfg")
    result = router.run("cart", health_path="/healthz?deep=1", health_host="Cart.Example.test:8443", health_status=[200, 204])
    assert not result.failed and result["changed"], result.msg
    text = router.text("bluegreen.d", "cart.cfg")
    for colour in ("blue", "green"):
        backend = text.split(f"backend cart_{colour}\n", 1)[1].split("\n\n", 1)[0]
        assert backend.splitlines()[1:4] == [
            "    option httpchk",
            "    http-check send meth GET uri /healthz?deep=1 ver HTTP/1.1 hdr Host cart.example.test:8443",
            "    http-check expect status 200,204",
        ], backend
    router.check()
    assert not router.run("cart", health_path="/healthz?deep=1", health_host="cart.example.test:8443", health_status=[200, 204])["changed"]


def test_a_certificate_without_its_key_or_with_another_key_is_refused(router, pems, tmp_path):
    certificate_only = pems["shop.example.test"].split("-----BEGIN PRIVATE KEY-----")[0]
    result = router.run("shop", hostnames=["shop.example.test"], tls_certificate_content=certificate_only)
    assert result.failed and "has no private key" in result.msg
    mixed = certificate_only + "-----BEGIN PRIVATE KEY-----" + pems["other.example.test"].split("-----BEGIN PRIVATE KEY-----")[1]
    result = router.run("shop", hostnames=["shop.example.test"], tls_certificate_content=mixed)
    assert result.failed and "the private key in the content of tls_certificate is not the certificate's" in result.msg
    assert pems["shop.example.test"][:30] not in result.msg
    unreadable = tmp_path / "garbage.pem"
    unreadable.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nx\n")
    result = router.run("shop", hostnames=["shop.example.test"], tls_certificate=str(unreadable))
    assert result.failed and "openssl cannot read the certificate in the file" in result.msg
    assert not os.path.exists(f"{router.root}/certs")


def test_haproxy_refusing_the_candidate_writes_nothing_and_quotes_haproxy(router):
    assert not router.run("cart").failed
    before = router.snapshot()
    result = router.run("cart", main_config=MAIN + "    frobnicate on\n")
    assert result.failed and "HAProxy refuses the new configuration, so nothing was written" in result.msg
    assert "frobnicate" in result.msg and router.root + "/haproxy.cfg" in result.msg
    assert router.snapshot() == before


def test_check_mode_writes_nothing_and_the_diff_never_shows_the_key(router, pems):
    result = shop(router, pems, check_mode=True, diff=True)
    assert not result.failed and result["changed"], result.msg
    assert router.snapshot() == {}
    shown = repr(result["diff"])
    assert "PRIVATE KEY" not in shown and "(certificate and key, sha256 " in shown
    assert any(d["after_header"].endswith("routes.map") for d in result["diff"])


def test_absent_takes_one_app_off_and_leaves_the_others(router, pems):
    assert not shop(router, pems).failed
    assert not router.run("cart", listen_port=8081, preview_port=8082).failed
    cart_part = router.text("bluegreen.d", "cart.cfg")
    result = router.run("shop", state="absent")
    assert not result.failed and result["changed"], result.msg
    assert router.text("bluegreen.d", "shop.cfg") is None and router.text("certs", "shop.pem") is None
    assert router.text("bluegreen.d", "00-bluegreen.cfg") is None
    assert router.text("maps", "bluegreen.map") == "cart cart_green\ncart.preview cart_blue\ncart.share 0\n"
    assert router.text("bluegreen.d", "cart.cfg") == cart_part
    assert list(result["apps"]) == ["cart"]
    router.check()
    assert not router.run("shop", state="absent")["changed"]


def test_each_app_has_a_maintenance_backend_with_its_page_which_its_key_turns_on(router, pems):
    assert not shop(router, pems, maintenance_page="<h1>Back at noon</h1>\n", maintenance_retry_after=900).failed
    assert not router.run("cart", listen_port=8081, preview_port=8082).failed
    page = f"{router.root}/bluegreen.d/shop.maintenance.html"
    assert router.text("bluegreen.d", "shop.maintenance.html") == "<h1>Back at noon</h1>\n"
    assert "Down for maintenance" in router.text("bluegreen.d", "cart.maintenance.html")
    map_file = f"{router.root}/maps/bluegreen.map"
    assert (f'backend shop_maintenance\n    http-request return status 503 content-type "text/html; charset=utf-8" file {page} '
            "hdr Retry-After 900\n") in router.text("bluegreen.d", "shop.cfg")
    # The shop is chosen by host name in the shared listener; cart has its own listener: each checks its key first.
    shared = router.text("bluegreen.d", "00-bluegreen.cfg")
    rule = f"use_backend shop_maintenance if {{ var(txn.bg_app) -m str shop }} {{ str(shop:maintenance),map({map_file}) -m found }}"
    assert shared.index(rule) < shared.index("use_backend %[var(txn.bg_app)")
    cart = router.text("bluegreen.d", "cart.cfg")
    assert cart.index(f"use_backend cart_maintenance if {{ str(cart:maintenance),map({map_file}) -m found }}") < cart.index(
        "use_backend %[str(cart)")
    router.check()
    with open(map_file, "a", encoding="utf-8") as handle:
        handle.write("shop:maintenance shop_maintenance\n")
    assert not router.run("shop", state="absent").failed
    assert router.text("bluegreen.d", "shop.maintenance.html") is None
    assert router.text("maps", "bluegreen.map") == "cart cart_green\ncart.preview cart_blue\ncart.share 0\n"


def test_manage_app_writes_only_the_apps_part(router):
    os.makedirs(router.root, exist_ok=True)
    operator = MAIN + "\nfrontend www\n    bind *:80\n" + "\n".join(_haproxy_apps.operator_lines({"routes_file": f"{router.root}/maps/routes.map"})) + (
        f"\n    use_backend %[var(txn.bg_app),map({router.root}/maps/bluegreen.map)] if {{ var(txn.bg_app) -m found }}\n")
    with open(router.paths["config"], "w", encoding="utf-8") as handle:
        handle.write(operator)
    result = router.run("shop", manage="app", main_config=None, hostnames=["shop.example.test"])
    assert not result.failed, result.msg
    assert router.text("haproxy.cfg") == operator
    assert router.text("bluegreen.d", "00-bluegreen.cfg") is None
    part = router.text("bluegreen.d", "shop.cfg")
    assert "frontend shop_live" not in part and "frontend shop_preview" in part and "backend shop_green" in part
    router.check()


def test_each_listener_gets_the_step_rules_of_its_sticky_key_and_haproxy_takes_them(router, pems):
    assert not shop(router, pems, sticky_by="header", sticky_name="X-User-Id").failed
    assert not router.run("cart", listen_port=8081, preview_port=8082).failed
    map_file = f"{router.root}/maps/bluegreen.map"
    cart = router.text("bluegreen.d", "cart.cfg")
    # The router's own cookie (bluegreen_cart), given to a client with no cookie while a step is on.
    assert "http-request set-var(txn.bg_key) req.cook(bluegreen_cart) if { var(txn.bg_share) -m int gt 0 }" in cart
    assert 'http-response add-header Set-Cookie "bluegreen_cart=%[var(txn.bg_new)]; Path=/;' in cart
    step = (f"use_backend %[str(cart.step),map({map_file})] if {{ str(cart.step),map({map_file}) -m found }} "
            "{ var(txn.bg_bucket),sub(txn.bg_share) -m int lt 0 }")
    assert cart.index("http-request set-var(txn.bg_bucket)") < cart.index("use_backend cart_maintenance") < cart.index(step)
    assert cart.index(step) < cart.index("use_backend %[str(cart),")
    # The shop is chosen by host name: its rules are its own, and it sets no cookie.
    shared = router.text("bluegreen.d", "00-bluegreen.cfg")
    assert "set-var(txn.bg_key) req.hdr(X-User-Id) if { var(txn.bg_app) -m str shop } { var(txn.bg_share) -m int gt 0 }" in shared
    assert "Set-Cookie" not in shared and "if { var(txn.bg_app) -m str shop } { str(shop.step)" in shared
    router.check()


@pytest.mark.parametrize("args, words", [
    ({"sticky_name": "a b"}, "is not a valid cookie or header name"),
    ({"sticky_name": "x#y"}, "is not a valid cookie or header name"),
    ({"sticky_by": "header"}, "sticky_name must name the header"),
])
def test_a_bad_sticky_key_is_refused_naming_it_and_nothing_is_written(router, args, words):
    result = router.run("cart", **args)
    assert result.failed and result["param"] == "sticky_name" and words in result.msg
    assert router.snapshot() == {}


def test_manage_app_gets_no_step_rules_and_no_share_entry(router):
    with open(router.paths["config"], "w", encoding="utf-8") as handle:
        handle.write(MAIN)
    result = router.run("cart", manage="app", main_config=None)
    assert not result.failed, result.msg
    assert "bg_share" not in router.text("bluegreen.d", "cart.cfg") and "cart.share" not in router.text("maps", "bluegreen.map")


def test_a_preview_value_reaches_the_idle_colour_on_the_live_listener_and_only_its_hash_is_written(router, pems):
    secret = "tester-7b1e9c0d4f"
    assert not shop(router, pems, preview_value=secret, preview_cookie="bg_preview").failed
    result = router.run("cart", listen_port=8081, preview_port=8082, preview_value=secret, _ansible_diff=True)
    assert not result.failed, result.msg
    digest = hashlib.sha256(secret.encode()).hexdigest().upper()
    map_file = f"{router.root}/maps/bluegreen.map"
    cart = router.text("bluegreen.d", "cart.cfg")
    rule = f"use_backend %[str(cart.preview),map({map_file})] if {{ req.hdr(X-Bluegreen-Preview),sha2(256),hex -m str {digest} }}"
    assert rule in cart and cart.index(rule) < cart.index("use_backend cart_maintenance")
    shared = router.text("bluegreen.d", "00-bluegreen.cfg")
    assert f"if {{ var(txn.bg_app) -m str shop }} {{ req.cook(bg_preview),sha2(256),hex -m str {digest} }}" in shared
    written = b"".join(router.snapshot().values())
    assert secret.encode() not in written and secret not in repr(result.result)
    router.check()


def test_a_preview_value_with_a_newline_is_refused_without_showing_it(router):
    result = router.run("cart", preview_value="abc\nuse_backend evil")
    assert result.failed and result["param"] == "preview_value" and "evil" not in result.msg and router.snapshot() == {}
    result = router.run("cart", preview_value="abc", preview_header="", preview_cookie=None)
    assert result.failed and result["param"] == "preview_header"


def test_new_servers_for_the_live_colour_where_nothing_answers_are_refused_and_nothing_is_written(router):
    """New bluegreen_ports for the live colour (green, a new app's) would send its traffic where nothing listens: every
    live request would get a 503. The idle colour's port may change, and so may the live colour's once it answers
    at the new port, or when it did not answer before either."""
    with socket.socket() as live_now, socket.socket() as live_next, socket.socket() as closed:
        for listener in (live_now, live_next, closed):
            listener.bind(("127.0.0.1", 0))
        live_now.listen()
        port = {name: sock.getsockname()[1] for name, sock in (("now", live_now), ("next", live_next), ("closed", closed))}

        def servers(blue: int, green: int) -> dict:
            return {colour: [{"name": "web1", "address": "127.0.0.1", "port": p}] for colour, p in (("blue", blue), ("green", green))}

        assert not router.run("cart", servers=servers(9001, port["now"])).failed
        before = router.snapshot()
        refused = router.run("cart", servers=servers(9001, port["closed"]))
        assert refused.failed and refused["param"] == "servers", refused
        assert (f"its live colour, green, would be sent to 127.0.0.1:{port['closed']}, where nothing accepts a connection "
                f"from lb1, instead of 127.0.0.1:{port['now']}, which answers") in refused.msg
        assert router.run("cart", servers=servers(9001, port["closed"]), check_mode=True).failed
        assert router.snapshot() == before
        # The idle colour's port changes; then the live colour's, to a port where its release answers already.
        assert router.run("cart", servers=servers(9002, port["now"]))["changed"]
        live_next.listen()
        assert router.run("cart", servers=servers(9002, port["next"]))["changed"]
        # Nothing answering before (the release stopped): nothing is made worse, so it goes ahead.
        live_next.close()
        assert router.run("cart", servers=servers(9002, port["closed"]))["changed"]

# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test helpers: run a module's main() in-process (feed it arguments, catch exit_json/fail_json
and warnings), and a fake HTTP app on 127.0.0.1 for the health_check probes."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock

import yaml
from ansible.module_utils import basic


@dataclass
class ModuleResult:
    """What a module returned: ``failed`` says whether it called fail_json."""

    failed: bool
    result: dict
    warnings: list = field(default_factory=list)

    def __getitem__(self, key: str) -> object:
        return self.result[key]

    @property
    def msg(self) -> str:
        return str(self.result.get("msg", ""))


class _ModuleExit(Exception):
    def __init__(self, failed: bool, result: dict) -> None:
        super().__init__(result.get("msg"))
        self.failed = failed
        self.result = result


@contextlib.contextmanager
def module_args(args: dict) -> Iterator[None]:
    """Expose ``args`` to any AnsibleModule created inside, whatever the ansible-core version."""
    try:  # ansible-core >= 2.19
        from ansible.module_utils.testing import patch_module_args
    except ImportError:
        payload = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()
        with mock.patch.object(basic, "_ANSIBLE_ARGS", payload):
            yield
    else:
        with patch_module_args(args):
            yield


def run_module(main: Callable[[], None], args: dict, check_mode: bool = False) -> ModuleResult:
    """Call ``main`` with ``args``; returns what it passed to exit_json or fail_json."""
    args = dict(args)
    if check_mode:
        args["_ansible_check_mode"] = True
    warnings: list = []

    def exit_json(self: basic.AnsibleModule, **kwargs: object) -> None:
        raise _ModuleExit(False, kwargs)

    def fail_json(self: basic.AnsibleModule, msg: str = "", **kwargs: object) -> None:
        kwargs.pop("exception", None)
        raise _ModuleExit(True, dict(kwargs, msg=msg, failed=True))

    def warn(self: basic.AnsibleModule, warning: str, *unused: object, **kw: object) -> None:
        warnings.append(warning)

    with contextlib.ExitStack() as stack:
        stack.enter_context(module_args(args))
        stack.enter_context(mock.patch.object(basic.AnsibleModule, "exit_json", exit_json))
        stack.enter_context(mock.patch.object(basic.AnsibleModule, "fail_json", fail_json))
        stack.enter_context(mock.patch.object(basic.AnsibleModule, "warn", warn))
        try:
            main()
        except _ModuleExit as done:
            return ModuleResult(done.failed, done.result, warnings)
    raise AssertionError("the module returned without calling exit_json or fail_json")


def documented_options(module: object) -> dict:
    """A module's documented options with those of its doc fragments, as ansible-doc merges them."""
    doc = yaml.safe_load(module.DOCUMENTATION)  # type: ignore[attr-defined]
    options: dict = {}
    for name in doc.get("extends_documentation_fragment", []):
        fragment, _dot, part = name.removeprefix("bluegreen.core.").partition(".")
        cls = importlib.import_module(f"ansible_collections.bluegreen.core.plugins.doc_fragments.{fragment}").ModuleDocFragment
        options.update(yaml.safe_load(getattr(cls, (part or "documentation").upper())).get("options") or {})
    options.update(doc.get("options") or {})
    return options


# ---------------------------------------------------------------------------------------------
# A fake app for HTTP probes: a real server on 127.0.0.1, port chosen by the kernel.

FAKE_JSON = {"status": "ok", "data": {"version": "2.4.1", "ready": True, "workers": 3}, "items": [{"name": "a"}]}


class _FakeAppHandler(BaseHTTPRequestHandler):
    """Routes: /ok /status/<code> /slow/<ms> /json /colour/<c> /colours/<c,c,...> /redirect /flaky/<n> /fail-after/<n>
    /drip/<chunks>/<ms> /big/<bytes> /hang /echo-host /notjson."""

    server: FakeAppServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self._route(head=True)

    def do_GET(self) -> None:
        self._route(head=False)

    def _route(self, head: bool) -> None:
        parts = [p for p in self.path.split("?")[0].split("/") if p]
        route, rest = (parts[0], parts[1:]) if parts else ("", [])
        hits = self.server.count(self.path)
        self.server.requests.append((self.command, self.path, dict(self.headers.items())))
        if route == "ok":
            self._send(200, b"ok", head=head)
        elif route == "status":
            self._send(int(rest[0]), f"status {rest[0]}".encode(), head=head)
        elif route == "slow":
            if self.server.closing.wait(int(rest[0]) / 1000):
                return
            self._send(200, b"slow ok", head=head)
        elif route == "json":
            self._send(200, json.dumps(FAKE_JSON).encode(), "application/json", head=head)
        elif route == "notjson":
            self._send(200, b"<html>not json</html>", "text/html", head=head)
        elif route == "colour":
            self._send(200, f"served by {rest[0]}".encode(), extra={"X-Bluegreen-Colour": rest[0]}, head=head)
        elif route == "colours":
            # The n-th request gets the n-th colour of the list, the last one from then on.
            colours = rest[0].split(",")
            colour = colours[min(hits, len(colours)) - 1]
            self._send(200, f"served by {colour}".encode(), extra={"X-Bluegreen-Colour": colour}, head=head)
        elif route == "redirect":
            self._send(302, b"", extra={"Location": "/ok"}, head=head)
        elif route == "flaky":
            self._send(500 if hits <= int(rest[0]) else 200, b"flaky", head=head)
        elif route == "fail-after":
            self._send(200 if hits <= int(rest[0]) else 500, b"fail-after", head=head)
        elif route == "drip":
            self._drip(int(rest[0]), int(rest[1]))
        elif route == "hang":
            self.server.closing.wait(30)
        elif route == "big":
            self._send(200, b"a" * int(rest[0]) + b"END", head=head)
        elif route == "echo-host":
            self._send(200, f"host={self.headers.get('Host')}".encode(), head=head)
        else:
            self._send(404, b"not found", head=head)

    def _send(self, code: int, body: bytes, ctype: str = "text/plain", extra: dict | None = None, head: bool = False):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _drip(self, chunks: int, pause_ms: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(chunks))
        self.end_headers()
        for _chunk in range(chunks):
            self.wfile.write(b"x")
            self.wfile.flush()
            if self.server.closing.wait(pause_ms / 1000):
                return


class FakeAppServer(ThreadingHTTPServer):
    daemon_threads = True
    # Many concurrent probes at once in the concurrency tests.
    request_queue_size = 128

    def __init__(self, tls_context: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _FakeAppHandler)
        self.closing = threading.Event()
        self.requests: list = []
        self._hits: dict = {}
        self._hits_lock = threading.Lock()
        if tls_context is not None:
            self.socket = tls_context.wrap_socket(self.socket, server_side=True)
        self.scheme = "https" if tls_context is not None else "http"

    def count(self, path: str) -> int:
        with self._hits_lock:
            self._hits[path] = self._hits.get(path, 0) + 1
            return self._hits[path]

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server_address[1]}{path}"

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a probe that gave up (timeout, TLS refusal) is expected in these tests


@contextlib.contextmanager
def fake_app(tls_context: ssl.SSLContext | None = None) -> Iterator[FakeAppServer]:
    server = FakeAppServer(tls_context)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.closing.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def self_signed_tls(directory: str) -> ssl.SSLContext | None:
    """A server TLS context with a fresh self-signed cert for 127.0.0.1, or None without openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    key = os.path.join(directory, "key.pem")
    cert = os.path.join(directory, "cert.pem")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context

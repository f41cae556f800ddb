#!/usr/bin/env python3
# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bluegreen.core demo app: a small stdlib HTTP service released in two colours.

Every response names the release (X-App-Version) and the host (X-App-Host).
Environment: PORT (required), BLUEGREEN_COLOUR (blue|green), BIND (default 0.0.0.0).
The release directory holds VERSION and, for a deliberately broken build, BROKEN
("health": /health answers 503; "500": every page but /health answers 500).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))


def _read(name: str, default: str = "") -> str:
    try:
        with open(os.path.join(HERE, name), encoding="utf-8") as handle:
            return handle.read().strip()
    except FileNotFoundError:
        return default


VERSION = _read("VERSION", "unknown")
BROKEN = _read("BROKEN")
COLOUR = os.environ.get("BLUEGREEN_COLOUR", "unknown")
HOST = socket.gethostname()
STARTED = time.time()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "bluegreen-demo"
    # Headers and body go out in two writes; without TCP_NODELAY a keep-alive client waits
    # for the delayed ACK (about 40 ms) on every request.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass  # one line per request would flood the journal under load

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-App-Version", VERSION)
        self.send_header("X-App-Host", HOST)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: dict) -> None:
        self._send(status, (json.dumps(payload) + "\n").encode(), "application/json")

    def do_HEAD(self) -> None:  # noqa: N802 - stdlib naming
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        path = self.path.split("?", 1)[0]
        if path == "/health":
            if BROKEN == "health":
                self._json(503, {"status": "failing", "version": VERSION, "colour": COLOUR})
            else:
                self._json(200, {"status": "ok", "version": VERSION, "colour": COLOUR,
                                 "uptime_s": round(time.time() - STARTED, 1)})
            return
        if BROKEN == "500":
            self._json(500, {"error": "this build is broken on purpose", "version": VERSION})
            return
        if path == "/stream":
            self._stream()
            return
        if path == "/":
            page = (
                f"<!doctype html><title>demo-app {VERSION}</title>"
                f"<h1>demo-app version {VERSION}</h1><p>served by the {COLOUR} colour</p>\n"
            )
            self._send(200, page.encode(), "text/html; charset=utf-8")
            return
        self._json(404, {"error": "not found", "path": path})

    def _stream(self) -> None:
        """A long-lived chunked response, for proving a switch leaves streams alone."""
        query = self.path.partition("?")[2]
        params = dict(part.partition("=")[::2] for part in query.split("&") if part)
        try:
            seconds = min(max(float(params.get("seconds", "10")), 0.1), 300.0)
        except ValueError:
            seconds = 10.0
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("X-App-Version", VERSION)
        self.end_headers()
        deadline = time.monotonic() + seconds
        tick = 0
        while time.monotonic() < deadline:
            line = f"tick {tick} version {VERSION} colour {COLOUR}\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()
            tick += 1
            time.sleep(0.1)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class Server(ThreadingHTTPServer):
    # The default backlog of 5 drops connection attempts under load (seen as 1 s SYN retries).
    request_queue_size = 128
    daemon_threads = True


def main() -> int:
    port = int(os.environ["PORT"])
    server = Server((os.environ.get("BIND", "0.0.0.0"), port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: server.shutdown())
    print(f"demo-app {VERSION} ({COLOUR}) listening on port {port}", flush=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    thread.join()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

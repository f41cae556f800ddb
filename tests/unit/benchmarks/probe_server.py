# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A stand-in router for the probe tests: a real HTTP/1.1 server on 127.0.0.1, in a thread.

It answers with the colour in `colour` (flip it mid-run), serves a chunked /stream, and can be
told to drop the next N requests of a client kind (closing the socket without answering: key
`keepalive` or `newconn`) or to cut the next N streams part-way (key `stream-cut`), so the tests know exactly which failures the probe must see.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STREAM_TICK_S = 0.05


@dataclass
class ServerState:
    """What the server does next; tests change it while the probe runs."""

    colour: str = "blue"
    version: str = "1.0.0"
    reset_next: dict[str, int] = field(default_factory=dict)
    cut_after_s: float = 0.2
    status: int = 200
    stream_seconds: float | None = None  # stream this long whatever the client asks for
    set_cookie: str | None = None  # a Set-Cookie line for each request that came without a Cookie header
    served: dict[str, int] = field(default_factory=dict)
    resets: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, key: str) -> bool:
        """Consume one planned failure of `reset_next[key]` (thread-safe), counting it in `resets`."""
        with self.lock:
            if self.reset_next.get(key, 0) <= 0:
                return False
            self.reset_next[key] -= 1
            self.resets[key] = self.resets.get(key, 0) + 1
            return True

    def count(self, kind: str) -> None:
        """Count an answered request."""
        with self.lock:
            self.served[kind] = self.served.get(kind, 0) + 1


def _kind(user_agent: str) -> str:
    """The probe names its client kind in the User-Agent: `bluegreen-probe (keepalive)`."""
    return user_agent.partition("(")[2].rstrip(")") or "other"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; no 40 ms ACK wait
    state: ServerState

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        """Quiet: the tests read the probe's records, not the server's log."""

    def _drop(self) -> None:
        """Close without answering: every other drop is an RST (SO_LINGER 0, no FIN first)."""
        self.close_connection = True
        if sum(self.state.resets.values()) % 2 == 0:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()  # the fd closes with rfile/wfile, before socketserver's FIN

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        """Answer, drop, or stream, as the state says."""
        kind = _kind(self.headers.get("User-Agent", ""))
        if self.state.take(kind):
            self._drop()
            return
        if self.path.startswith("/stream"):
            self._stream()
            return
        body = f"hello from {self.state.colour}\n".encode()
        self.send_response(self.state.status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Bluegreen-Colour", self.state.colour)
        self.send_header("X-App-Version", self.state.version)
        if self.state.set_cookie and not self.headers.get("Cookie"):
            self.send_header("Set-Cookie", self.state.set_cookie)
        self.end_headers()
        self.wfile.write(body)
        self.state.count(kind)

    def _stream(self) -> None:
        """Chunked lines every STREAM_TICK_S for ?seconds=S, or cut part-way when told to."""
        seconds = self.state.stream_seconds or float(self.path.partition("seconds=")[2] or "1")
        cut = self.state.take("stream-cut")
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("X-Bluegreen-Colour", self.state.colour)
        self.send_header("X-App-Version", self.state.version)
        self.end_headers()
        began = time.monotonic()
        while time.monotonic() - began < seconds:
            if cut and time.monotonic() - began >= self.state.cut_after_s:
                self._drop()
                return
            line = b"tick\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()
            time.sleep(STREAM_TICK_S)
        self.wfile.write(b"0\r\n\r\n")
        self.state.count("stream")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many new connections at once must not wait on SYN retries


@contextlib.contextmanager
def serve(state: ServerState | None = None) -> Iterator[tuple[str, ServerState]]:
    """Run the server for the duration of a `with`; yields its base URL and its state."""
    state = state or ServerState()
    handler = type("Handler", (_Handler,), {"state": state})
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)

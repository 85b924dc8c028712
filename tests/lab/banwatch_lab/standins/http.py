"""The stand-ins' HTTPS serving: requests in, a stand-in's answer out, every request logged.

A stand-in is a function from a `Request` to a `Response`; it never raises for what a client
sends. Should it raise anyway (a bug of the stand-in), the client gets a 500 and the traceback
goes to the server's log, so a test sees the failure instead of a hang.
"""

from __future__ import annotations

import json
import ssl
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_BODY = 1 << 20


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Response:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


Standin = Callable[[Request], Response]


def serve(address: tuple[str, int], standin: Standin, tls: tuple[str, str], log: Callable[[str], None]) -> \
        ThreadingHTTPServer:
    """A threaded HTTPS server for `standin` on (address, port) with (certificate, key), serving in
    a background thread."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 <= length <= MAX_BODY:
                self._send(Response(413, {"error": {"code": 413, "message": "Request too large."}}))
                return
            split = urlsplit(self.path)
            request = Request(self.command, split.path, parse_qs(split.query, keep_blank_values=True),
                              {name.lower(): value for name, value in self.headers.items()}, self.rfile.read(length))
            with lock:
                try:
                    response = standin(request)
                except Exception:  # noqa: BLE001 - a stand-in bug: answered 500, logged with its traceback
                    log(traceback.format_exc())
                    response = Response(500, {"error": {"code": 500, "message": "stand-in failure (see its log)"}})
            log(json.dumps({"method": request.method, "path": request.path, "status": response.status}))
            self._send(response)

        def _send(self, response: Response) -> None:
            payload = json.dumps(response.body).encode()
            self.send_response(response.status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            """Requests are logged as JSON lines by `_answer`."""

    server = ThreadingHTTPServer(address, Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server

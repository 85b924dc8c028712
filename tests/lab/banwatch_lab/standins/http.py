"""The stand-ins' HTTPS serving: requests in, a stand-in's answer out, every request logged.

A stand-in is a function from a `Request` to a `Response`; it never raises for what a client
sends. Should it raise anyway (a bug of the stand-in), the client gets a 500 and the traceback
goes to the server's log, so a test sees the failure instead of a hang.
"""

from __future__ import annotations

import json
import os
import ssl
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from banwatch.core.atomic import write_atomic

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
            payload = b"" if response.status == 204 else json.dumps(response.body).encode()
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


def injected_fault(faults_file: str | None, request: Request) -> int | None:
    """The status a test asked this request to fail with: faults.json, [{"method", "path", "status"}]."""
    if faults_file is None or not os.path.exists(faults_file):
        return None
    with open(faults_file, encoding="utf-8") as handle:
        faults = json.load(handle)
    return next((fault["status"] for fault in faults
                 if fault["method"] == request.method and fault["path"] == request.path), None)


def json_body(raw: bytes) -> tuple[bool, Any]:
    """(parsed, the value): a body that is not UTF-8 JSON is (False, None)."""
    try:
        return True, json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return False, None


class StateFile:
    """A stand-in's state, kept in a JSON file: written after each change, so a restarted stand-in
    and the tests read what was written, and read again when the file changed, so a test sets
    the state (a device's apps, its last report) by writing the file."""

    def __init__(self, state_file: str) -> None:
        self.state_file = state_file
        self.state: dict[str, Any] = _load(state_file)
        self.state_stamp = _stamp(state_file)

    def _reload(self) -> None:
        stamp = _stamp(self.state_file)
        if stamp != self.state_stamp:
            self.state, self.state_stamp = _load(self.state_file), stamp

    def _save(self) -> None:
        write_atomic(self.state_file, json.dumps(self.state, indent=2, sort_keys=True).encode(), 0o600,
                     durable=False)
        self.state_stamp = _stamp(self.state_file)


def _load(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _stamp(path: str) -> tuple[int, int, int]:
    """Which version of the file: state files are replaced whole (a new inode), never edited."""
    status = os.stat(path)
    return status.st_ino, status.st_mtime_ns, status.st_size

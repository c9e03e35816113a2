"""A small but real HTTP intake on loopback, with the contract of `kubetrail serve`.

    POST /plain/batch   X-SEKOIAIO-INTAKE-KEY (or Authorization: Bearer), optional gzip body
    200 {"event_ids": [...], "errors": [{"index", "status", "message"}]}   events over 250 KiB
    401 unknown key, 413 body over 16 MiB, 429/503 + Retry-After when told to fail

Lines are stored in a dict keyed by the sha256 of (key, line): the same line sent twice is
stored once, as the real intake's idempotency promises. `stop()` closes the port (connection
refused), `start()` opens it again on the same port with the store intact.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final

EVENT_LIMIT: Final = 250 * 1024
REQUEST_LIMIT: Final = 16 * 1024 * 1024


@dataclass(frozen=True)
class Request:
    status: int
    lines: int
    gzip: bool


@dataclass
class Failure:
    status: int
    retry_after: str | None
    remaining: int  # how many requests still fail; -1: until cleared


class FakeIntake:
    def __init__(self, keys: tuple[str, ...] = ("test-key",)) -> None:
        self.keys = set(keys)
        self.key = keys[0]
        self.lock = threading.Lock()
        self.store: dict[str, bytes] = {}
        self.stored_at: dict[str, float] = {}  # time.monotonic() of the first storage
        self.received = 0  # lines received, duplicates included
        self.requests: list[Request] = []
        self.failure: Failure | None = None
        with socket.socket() as s:  # a free port, kept across stop/start
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: ThreadingHTTPServer | None = None
        self._connections: set[socket.socket] = set()

    def start(self) -> None:
        if self._server is not None:
            return
        self._server = _QuietServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self.lock:  # kept-alive connections too: a stopped intake answers nothing
            for conn in self._connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            self._connections.clear()

    def fail(self, status: int, retry_after: str | None = None, times: int = -1) -> None:
        with self.lock:
            self.failure = Failure(status, retry_after, times)

    def heal(self) -> None:
        with self.lock:
            self.failure = None

    def stored_lines(self) -> list[bytes]:
        with self.lock:
            return list(self.store.values())

    def _answer(self, key: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            failure = self.failure
            if failure is not None:
                failure.remaining -= 1
                if failure.remaining == 0:
                    self.failure = None
                headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
                return failure.status, headers, b'{"message": "told to fail"}'
        if key not in self.keys:
            return 401, {}, b'{"message": "unknown intake key"}'
        if len(body) > REQUEST_LIMIT:
            return 413, {}, b'{"message": "request too large"}'
        ids: list[str] = []
        errors: list[dict[str, object]] = []
        with self.lock:
            for index, line in enumerate(body.split(b"\n")):
                if len(line) > EVENT_LIMIT:  # read at call time: tests lower it
                    errors.append({"index": index, "status": 413, "message": "event too large"})
                    ids.append("")
                    continue
                digest = hashlib.sha256(key.encode() + b"\0" + line).hexdigest()
                if digest not in self.store:
                    self.store[digest] = line
                    self.stored_at[digest] = time.monotonic()
                self.received += 1
                ids.append(digest[:32])
        answer: dict[str, object] = {"event_ids": ids}
        if errors:
            answer["errors"] = errors
        return 200, {}, json.dumps(answer).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        intake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with intake.lock:
                    intake._connections.add(self.connection)

            def finish(self) -> None:
                super().finish()
                with intake.lock:
                    intake._connections.discard(self.connection)

            def do_POST(self) -> None:
                expected = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(expected)
                if len(body) < expected:  # the client died mid-request: nothing was sent
                    self.close_connection = True
                    return
                zipped = self.headers.get("Content-Encoding") == "gzip"
                if zipped:
                    body = gzip.decompress(body)
                key = self.headers.get("X-SEKOIAIO-INTAKE-KEY") or ""
                auth = self.headers.get("Authorization", "")
                if not key and auth.startswith("Bearer "):
                    key = auth.removeprefix("Bearer ")
                headers: dict[str, str]
                if self.path != "/plain/batch":
                    status, headers, answer = 404, {}, b"{}"
                else:
                    status, headers, answer = intake._answer(key, body)
                with intake.lock:
                    intake.requests.append(Request(status, body.count(b"\n") + 1, zipped))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A client killed with SIGKILL mid-request is what the tests do on purpose."""

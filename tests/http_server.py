"""A real HTTP server on 127.0.0.1 with faults that tests can switch on.

Usage::

    with FaultyServer({"/a.gz": data}) as server:
        server.faults.drop_after_bytes = 1000
        server.faults.drop_requests = 1
        fetch(server.url("/a.gz"), dest)
        assert server.requests[1].range == "bytes=1000-"

or take the ``http_server`` fixture (import it into a conftest.py or test module).
Fault counters count GET requests to the server as a whole, in arrival order, and every
request is recorded in ``server.requests`` so tests can assert what the client did.
The server speaks HTTP/1.0 (one request per connection), so a body without
Content-Length simply ends when the connection closes.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Faults:
    """Switchable faults; the defaults serve every file correctly."""

    # Close the connection after this many body bytes on the first ``drop_requests`` GETs.
    drop_after_bytes: int | None = None
    drop_requests: int = 0
    # Answer ``error_status`` (no body) to the first ``error_requests`` GETs.
    error_requests: int = 0
    error_status: int = 500
    # Sleep before answering the first ``stall_requests`` GETs (to trigger client timeouts).
    stall_requests: int = 0
    stall_seconds: float = 1.0
    # Serve every body with one byte in the middle flipped (a .gz then fails its CRC).
    corrupt_gzip: bool = False
    # Send no Content-Length header.
    no_content_length: bool = False
    # Answer 200 with the whole body even when a Range is asked for.
    ignore_range: bool = False
    # Send bodies in blocks of ``trickle_bytes``, ``trickle_seconds`` apart (a slow link).
    trickle_bytes: int | None = None
    trickle_seconds: float = 0.01


@dataclass(frozen=True)
class Request:
    """One request the server saw, and the status it answered."""

    path: str
    range: str | None
    status: int


@dataclass
class _State:
    files: dict[str, bytes]
    faults: Faults = field(default_factory=Faults)
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def corrupted(data: bytes) -> bytes:
    """Return ``data`` with the middle byte inverted (same length, different content)."""
    if not data:
        return data
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    state: _State  # set on a per-server subclass

    def log_message(self, format, *args):  # signature fixed by the base class
        pass  # keep pytest output clean; tests read server.requests instead

    def do_GET(self):  # name fixed by the base class
        faults = self.state.faults
        range_header = self.headers.get("Range")
        with self.state.lock:  # numbering and recording in one step, so counters stay exact
            index = len(self.state.requests)  # 0-based position of this GET
            status, body, headers = self._plan(index, faults, range_header)
            self.state.requests.append(Request(self.path, range_header, status))

        if index < faults.stall_requests:
            time.sleep(faults.stall_seconds)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if index < faults.drop_requests and faults.drop_after_bytes is not None:
            self.wfile.write(body[: faults.drop_after_bytes])
            self._drop_connection()
            return
        block = faults.trickle_bytes or len(body) or 1
        for start in range(0, len(body), block):
            if start:
                time.sleep(faults.trickle_seconds)
            self.wfile.write(body[start : start + block])

    def _plan(self, index: int, faults: Faults, range_header: str | None):
        """Choose status, body and headers for this request."""
        if index < faults.error_requests:
            return faults.error_status, b"", {"Content-Length": "0"}
        data = self.state.files.get(self.path)
        if data is None:
            return 404, b"", {"Content-Length": "0"}
        if faults.corrupt_gzip:
            data = corrupted(data)
        status, body, headers = 200, data, {}
        if range_header and not faults.ignore_range:
            start = _range_start(range_header)
            if start is None or start >= len(data):
                return 416, b"", {"Content-Range": f"bytes */{len(data)}", "Content-Length": "0"}
            status, body = 206, data[start:]
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        headers["Content-Type"] = "application/octet-stream"
        headers["Accept-Ranges"] = "bytes"
        if not faults.no_content_length:
            headers["Content-Length"] = str(len(body))
        return status, body, headers

    def _drop_connection(self):
        self.wfile.flush()
        with contextlib.suppress(OSError):  # the client may already be gone
            self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True


def _range_start(value: str) -> int | None:
    """Parse ``bytes=START-`` (the only form the downloader sends); None if unusable."""
    unit, _, spec = value.partition("=")
    first, _, _ = spec.partition("-")
    if unit.strip() != "bytes" or not first.strip().isdigit():
        return None
    return int(first)


class FaultyServer:
    """A threaded HTTP server on 127.0.0.1 (a free port) serving ``files`` by path."""

    def __init__(self, files: dict[str, bytes] | None = None, faults: Faults | None = None):
        self._state = _State(files=dict(files or {}), faults=faults or Faults())
        handler = type("Handler", (_Handler,), {"state": self._state})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False  # a stalled handler must not block shutdown
        self._thread: threading.Thread | None = None

    @property
    def files(self) -> dict[str, bytes]:
        return self._state.files

    @property
    def faults(self) -> Faults:
        return self._state.faults

    @faults.setter
    def faults(self, value: Faults) -> None:
        self._state.faults = value

    @property
    def requests(self) -> list[Request]:
        with self._state.lock:
            return list(self._state.requests)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def start(self) -> FaultyServer:
        # A short poll interval makes stop() (and so each test's teardown) quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FaultyServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


@pytest.fixture
def http_server():
    """A running FaultyServer with no files and no faults; add both in the test."""
    with FaultyServer() as server:
        yield server

"""The mock provider's HTTP server (stdlib ``http.server``, one daemon thread per connection)."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections import deque
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from ._core import (
    INVALID_JSON,
    MockResponse,
    _error_response,
    _provider_for_path,
    build_response,
    parse_fault,
)

__all__ = ["MockProvider"]

logger = logging.getLogger(__name__)

_REASONS = {s.value: s.phrase for s in HTTPStatus}
_REASONS[529] = "Site Overloaded"


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for idle keep-alive connections
    request_queue_size = 2048  # listen backlog: 1,000 clients may connect at once
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], provider: MockProvider) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.provider = provider
        self.connections: set[socket.socket] = set()
        self.accepted = 0
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Client resets and broken pipes are normal for fault injection; never print tracebacks for them.
        logger.debug("mock provider: error while serving %s", client_address, exc_info=True)

    def close_connections(self) -> None:
        with self.connections_lock:
            conns = list(self.connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True  # small writes (SSE chunks) must not wait for delayed ACKs
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)
            self.server.accepted += 1

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            with self.server.connections_lock:
                self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # quiet: tests and benchmarks send thousands of requests

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
        except OSError:
            self.close_connection = True
            return
        except ValueError:  # bad Content-Length or chunk size: answer, then drop the unreadable stream
            self.close_connection = True
            self._send(_error_response(_provider_for_path(self.path), 400, "Invalid request framing."))
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        if "x-mock-output" in headers:  # http.client decodes headers as latin-1; clients may send UTF-8
            try:
                headers["x-mock-output"] = headers["x-mock-output"].encode("latin-1").decode("utf-8")
            except UnicodeError:
                pass
        try:
            resp = self.server.provider.handle(self.command, self.path, headers, body)
        except Exception:  # never let a bug kill the connection thread silently
            logger.exception("mock provider: failed to build a response")
            resp = _error_response("openai", 500, "mock provider internal error")
        try:
            self._send(resp)
        except OSError:  # client went away (timeouts, cancelled streams)
            self.close_connection = True

    do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = _dispatch

    def _abort(self) -> None:
        """End the connection after what was written (FIN after pending data, no terminating chunk)."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _send(self, resp: MockResponse) -> None:
        if resp.delay:
            time.sleep(resp.delay)
        if resp.disconnect:
            self._abort()
            return
        close = self.close_connection
        streaming = resp.chunks is not None
        chunked = streaming and self.request_version != "HTTP/1.0"
        lines = [f"HTTP/1.1 {resp.status} {_REASONS.get(resp.status, 'Unknown')}"]
        lines += [f"{k}: {v}" for k, v in resp.headers]
        if not streaming:
            lines.append(f"content-length: {len(resp.body)}")
        elif chunked:
            lines.append("transfer-encoding: chunked")
        else:
            close = True  # HTTP/1.0 stream: the end of the body is the end of the connection
        if close:
            lines.append("connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        write = self.wfile.write
        if not streaming:
            if resp.truncate:
                write(head + resp.body[: len(resp.body) // 2])
                self._abort()
            else:
                write(head + resp.body)  # one write: head and body in one segment
                self.close_connection = close
            return
        frames = (
            [b"%x\r\n%s\r\n" % (len(c), c) for c in resp.chunks or ()] if chunked else list(resp.chunks or ())
        )
        end = b"" if resp.truncate or not chunked else b"0\r\n\r\n"
        if resp.chunk_delay and frames:
            write(head + frames[0])
            for frame in frames[1:-1]:
                time.sleep(resp.chunk_delay)
                write(frame)
            if len(frames) > 1:
                time.sleep(resp.chunk_delay)
                write(frames[-1] + end)
            elif end:
                write(end)
        else:
            # No pacing requested: one write (fewer syscalls under load). The last event always travels with
            # the terminating chunk, so clients that stop at [DONE] can still see the end and reuse the socket.
            write(head + b"".join(frames) + end)
        if resp.truncate:
            self._abort()
            return
        self.close_connection = close


class MockProvider:
    """A local HTTP server speaking the OpenAI, Azure OpenAI and Anthropic (+ Vertex, Bedrock) APIs.

    ``with MockProvider() as mock: openai.OpenAI(base_url=mock.openai_base_url, api_key="x")``.
    See the package docstring (``otel_llm.testing``) for endpoints, headers, faults and token formulas.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._port = port
        #: Received requests: dicts with method, path, query, headers (lower-case keys), json (or None).
        self.requests: list[dict[str, Any]] = []
        #: Request model -> model reported in responses (simulates a silent provider-side model update).
        self.response_model_overrides: dict[str, str] = {}
        self._faults: deque[str] = deque()
        self._lock = threading.Lock()
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._accepted_before_stop = 0

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> MockProvider:
        if self._server is not None:
            return self
        self._server = _HTTPServer((self.host, self._port), self)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="otel-llm-mock",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        self._accepted_before_stop = server.accepted
        server.shutdown()
        server.server_close()
        server.close_connections()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> MockProvider:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted so far (lets tests check keep-alive reuse)."""
        server = self._server
        return server.accepted if server is not None else self._accepted_before_stop

    @property
    def connections_open(self) -> int:
        """TCP connections open right now (lets tests check that clients are served concurrently)."""
        server = self._server
        if server is None:
            return 0
        with server.connections_lock:
            return len(server.connections)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}"

    @property
    def openai_base_url(self) -> str:
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    # -- behaviour ---------------------------------------------------------------------------------------------

    def fail_next(self, fault: str, count: int = 1) -> None:
        """Give the next ``count`` requests (any endpoint) this fault, then serve normally again."""
        parse_fault(fault)  # raise ValueError now rather than on the request
        with self._lock:
            self._faults.extend([fault] * count)

    def reset(self) -> None:
        """Forget queued faults and recorded requests (model overrides are kept)."""
        with self._lock:
            self._faults.clear()
            self.requests.clear()

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> MockResponse:
        """Record the request, apply a queued fault, build the response (shared by server and transports)."""
        try:
            parsed = json.loads(body) if body else None
        except (ValueError, UnicodeDecodeError):
            parsed = INVALID_JSON
        path_only, _, query = path.partition("?")
        record = {
            "method": method,
            "path": path_only,
            "query": query,
            "headers": headers,
            "json": None if parsed is INVALID_JSON else parsed,
        }
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
            self.requests.append(record)
        return build_response(
            method,
            path,
            headers,
            body,
            fault=fault,
            model_overrides=self.response_model_overrides,
            parsed_body=parsed,
        )

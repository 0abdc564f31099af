"""In-process ``httpx2.MockTransport`` versions of the mock provider (no sockets; for overhead benchmarks)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

from ._core import MockResponse, build_response

if TYPE_CHECKING:
    import httpx2

    from ._server import MockProvider

__all__ = ["async_mock_transport", "mock_transport"]

_Handle = Callable[[str, str, dict[str, str], bytes], MockResponse]


def _handler_for(provider: MockProvider | None) -> _Handle:
    if provider is not None:
        return provider.handle  # shares fail_next, request recording and model overrides

    def handle(method: str, path: str, headers: dict[str, str], body: bytes) -> MockResponse:
        return build_response(method, path, headers, body)

    return handle


def _request_parts(request: httpx2.Request) -> tuple[str, str, dict[str, str]]:
    # httpx2 Headers.items() already yields lower-case keys.
    return request.method, request.url.raw_path.decode("ascii"), dict(request.headers.items())


def _disconnected(httpx2: Any, request: httpx2.Request) -> Exception:
    return httpx2.RemoteProtocolError("Server disconnected without sending a response.", request=request)


def _truncated(httpx2: Any, request: httpx2.Request) -> Exception:
    return httpx2.RemoteProtocolError(
        "peer closed connection without sending complete message body (incomplete chunked read)",
        request=request,
    )


def mock_transport(provider: MockProvider | None = None) -> httpx2.MockTransport:
    """A sync ``httpx2.MockTransport`` serving the mock provider in-process.

    ``openai.OpenAI(base_url="http://mock/v1", api_key="x", http_client=httpx2.Client(transport=mock_transport()))``.
    Without ``provider`` nothing is recorded and only the ``x-mock-*`` headers steer responses; with a
    :class:`MockProvider` (started or not) its ``fail_next`` queue, ``requests`` and model overrides apply.
    """
    import httpx2

    handle = _handler_for(provider)

    class _Body(httpx2.SyncByteStream):
        def __init__(self, request: httpx2.Request, resp: MockResponse) -> None:
            self._request, self._resp = request, resp

        def __iter__(self) -> Iterator[bytes]:
            resp = self._resp
            if resp.chunks is None:  # truncated JSON body
                yield resp.body[: len(resp.body) // 2]
                raise _truncated(httpx2, self._request)
            for i, chunk in enumerate(resp.chunks):
                if resp.chunk_delay and i:
                    time.sleep(resp.chunk_delay)
                yield chunk
            if resp.truncate:
                raise _truncated(httpx2, self._request)

    def handler(request: httpx2.Request) -> httpx2.Response:
        method, path, headers = _request_parts(request)
        resp = handle(method, path, headers, request.content)
        if resp.delay:
            time.sleep(resp.delay)
        if resp.disconnect:
            raise _disconnected(httpx2, request)
        if resp.chunks is None and not resp.truncate:
            return httpx2.Response(resp.status, headers=resp.headers, content=resp.body, request=request)
        return httpx2.Response(
            resp.status, headers=resp.headers, stream=_Body(request, resp), request=request
        )

    return httpx2.MockTransport(handler)


def async_mock_transport(provider: MockProvider | None = None) -> httpx2.MockTransport:
    """The asyncio counterpart of :func:`mock_transport` (delays use ``asyncio.sleep``)."""
    import httpx2

    handle = _handler_for(provider)

    class _Body(httpx2.AsyncByteStream):
        def __init__(self, request: httpx2.Request, resp: MockResponse) -> None:
            self._request, self._resp = request, resp

        async def __aiter__(self) -> AsyncIterator[bytes]:
            resp = self._resp
            if resp.chunks is None:
                yield resp.body[: len(resp.body) // 2]
                raise _truncated(httpx2, self._request)
            for i, chunk in enumerate(resp.chunks):
                if resp.chunk_delay and i:
                    await asyncio.sleep(resp.chunk_delay)
                yield chunk
            if resp.truncate:
                raise _truncated(httpx2, self._request)

    async def handler(request: httpx2.Request) -> httpx2.Response:
        method, path, headers = _request_parts(request)
        resp = handle(method, path, headers, request.content)
        if resp.delay:
            await asyncio.sleep(resp.delay)
        if resp.disconnect:
            raise _disconnected(httpx2, request)
        if resp.chunks is None and not resp.truncate:
            return httpx2.Response(resp.status, headers=resp.headers, content=resp.body, request=request)
        return httpx2.Response(
            resp.status, headers=resp.headers, stream=_Body(request, resp), request=request
        )

    return httpx2.MockTransport(handler)

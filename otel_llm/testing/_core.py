"""Pure response building for the mock provider.

One function, :func:`build_response`, maps a request (method, path, lower-cased headers, raw body) to a
:class:`MockResponse` (status, headers, body bytes or a list of streamed byte chunks, plus fault actions such
as delays, truncation or disconnection). The HTTP server (``_server.py``) and the in-process ``httpx2``
transports (``_transport.py``) both call it, so both produce exactly the same payloads.

Stdlib only: this module ships in the package and sits inside benchmark timings, so it avoids heavy
imports and keeps per-request work small (cached word splitting, cached fault parsing).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import struct
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

__all__ = [
    "DEFAULT_CHUNKS",
    "DEFAULT_WORDS",
    "FaultSpec",
    "MockResponse",
    "build_response",
    "count_words",
    "default_output_text",
    "parse_fault",
    "split_pieces",
]

#: Words of the default output text; ``x-mock-chunks: N`` yields the first N words (cycling).
DEFAULT_WORDS: tuple[str, ...] = (
    "The",
    "mock",
    "provider",
    "wrote",
    "this",
    "deterministic",
    "reply",
    "for",
    "your",
    "request",
)
#: Default number of output words (= streamed content chunks = output tokens).
DEFAULT_CHUNKS = 5
#: Token overhead added per message (and per system prompt / instructions) to the word count.
PER_MESSAGE_TOKENS = 3
#: Embedding vector length when the request has no ``dimensions``.
DEFAULT_EMBEDDING_DIMENSIONS = 8

_JSON_CT = "application/json"
_SSE_CT = "text/event-stream; charset=utf-8"
_EVENTSTREAM_CT = "application/vnd.amazon.eventstream"

_UNSET: Any = object()
#: Sentinel for ``build_response(parsed_body=...)``: the caller failed to decode the body as JSON.
INVALID_JSON: Any = object()

# Request ids: a process-wide counter is cheaper than uuid4 and still unique per process.
_ids = itertools.count(1)


def _new_id() -> str:
    return f"{next(_ids):024x}"


# --------------------------------------------------------------------------------------------------------------
# Response container and faults
# --------------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class MockResponse:
    """What to send back. ``chunks`` is set for streamed bodies (SSE / AWS event-stream), else ``body``.

    The sender (server or transport) adds Content-Length / Transfer-Encoding itself and implements the
    fault actions: ``delay`` before anything is sent, ``chunk_delay`` between chunks, ``truncate`` (JSON:
    send half the body then close; streams: ``chunks`` already holds only the first few events, close
    without the end of the body), ``disconnect`` (close without any response).
    """

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    chunks: list[bytes] | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0
    truncate: bool = False
    disconnect: bool = False


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """A parsed ``x-mock-fault`` value (comma-separated parts may be combined, e.g. ``slow-chunks:0.1,truncate``)."""

    status: int | None = None
    retry_after: str | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0
    malformed: bool = False
    truncate: bool = False
    disconnect: bool = False
    stream_error: bool = False
    response_failed: bool = False


@lru_cache(maxsize=256)
def parse_fault(value: str) -> FaultSpec:
    """Parse a fault string; raises ``ValueError`` for unknown faults.

    Known parts: an HTTP status ``400``..``599`` (``429`` gets ``retry-after: 0``; ``429:SECONDS`` sets it),
    ``slow:SECONDS``, ``slow-chunks:SECONDS``, ``malformed``, ``truncate``, ``disconnect``, ``stream-error``,
    ``response-failed`` (Responses API only: a response with status ``failed``; streams end with
    ``response.failed`` after half the events).
    """
    kw: dict[str, Any] = {}
    for raw in value.split(","):
        part = raw.strip().lower()
        name, _, arg = part.partition(":")
        if name.isdigit() and 400 <= int(name) <= 599:
            kw["status"] = int(name)
            if arg:
                float(arg)  # validate
                kw["retry_after"] = arg
            elif int(name) == 429:
                kw["retry_after"] = "0"
        elif name in ("slow", "slow-chunks"):
            seconds = float(arg)
            if seconds < 0:
                raise ValueError(f"negative delay in fault {value!r}")
            kw["delay" if name == "slow" else "chunk_delay"] = seconds
        elif name in ("malformed", "truncate", "disconnect", "stream-error", "response-failed") and not arg:
            kw[name.replace("-", "_")] = True
        else:
            raise ValueError(f"unknown mock fault {raw.strip()!r} in {value!r}")
    return FaultSpec(**kw)


# --------------------------------------------------------------------------------------------------------------
# Token arithmetic (documented in the package docstring)
# --------------------------------------------------------------------------------------------------------------


def count_words(text: str) -> int:
    return len(text.split())


_PIECE_RE = re.compile(r"\s*\S+")


@lru_cache(maxsize=1024)
def split_pieces(text: str) -> tuple[str, ...]:
    """Split text into streamed pieces: one per whitespace-separated word, leading whitespace attached.

    Concatenating the pieces gives back ``text`` exactly; the number of pieces is the output token count.
    """
    pieces = _PIECE_RE.findall(text)
    if not pieces:
        return (text,) if text else ()
    tail = len(text) - sum(map(len, pieces))
    if tail:  # trailing whitespace goes with the last piece
        pieces[-1] += text[-tail:]
    return tuple(pieces)


@lru_cache(maxsize=256)
def default_output_text(chunks: int = DEFAULT_CHUNKS) -> str:
    """The default reply with ``chunks`` words (``DEFAULT_WORDS`` repeated as needed)."""
    n = len(DEFAULT_WORDS)
    return " ".join(DEFAULT_WORDS[i % n] for i in range(chunks))


def _collect_text(value: Any, out: list[str]) -> None:
    """Collect message text: strings, ``text`` of content parts, nested ``content``, tool ``output``."""
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, list):
        for v in value:
            _collect_text(v, out)
    elif isinstance(value, dict):
        text = value.get("text")
        if isinstance(text, str):
            out.append(text)
        elif "content" in value:
            _collect_text(value["content"], out)
        elif isinstance(value.get("output"), str):
            out.append(value["output"])


def _text_of(value: Any) -> str:
    out: list[str] = []
    _collect_text(value, out)
    return " ".join(out)


def _message_tokens(messages: Any) -> int:
    if isinstance(messages, str):
        return count_words(messages) + PER_MESSAGE_TOKENS
    if not isinstance(messages, list):
        return 0
    return sum(count_words(_text_of(m)) + PER_MESSAGE_TOKENS for m in messages)


def _last_user_text(messages: Any) -> str:
    if isinstance(messages, str):
        return messages
    if isinstance(messages, list):
        for m in reversed(messages):
            if isinstance(m, dict) and m.get("role", "user") == "user" and "content" in m:
                return _text_of(m)
    return ""


def _is_tool_result(messages: Any) -> bool:
    """True when the conversation ends with a tool result, so the mock answers with text (ends agent loops)."""
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return False
    last = messages[-1]
    if last.get("role") in ("tool", "function") or last.get("type") in (
        "function_call_output",
        "custom_tool_call_output",
    ):
        return True
    content = last.get("content")
    return isinstance(content, list) and any(
        isinstance(c, dict) and c.get("type") == "tool_result" for c in content
    )


# --------------------------------------------------------------------------------------------------------------
# JSON-schema example values (structured outputs and tool-call arguments)
# --------------------------------------------------------------------------------------------------------------

_STRING_FORMATS = {
    "date-time": "2025-01-01T00:00:00Z",
    "date": "2025-01-01",
    "time": "12:00:00",
    "email": "user@example.com",
    "uri": "https://example.com",
    "url": "https://example.com",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "192.0.2.1",
    "hostname": "example.com",
}


def _resolve_ref(ref: str, root: dict[str, Any]) -> Any:
    if not ref.startswith("#"):
        return {}
    node: Any = root
    for part in ref.lstrip("#").split("/"):
        if not part:
            continue
        part = part.replace("~1", "/").replace("~0", "~")
        node = node.get(part, {}) if isinstance(node, dict) else {}
    return node


def schema_example(schema: Any, root: Any = None, key: str = "value", depth: int = 0) -> Any:
    """A plausible instance of a JSON schema: required properties (all if none listed), typed values."""
    if root is None:
        root = schema
    if not isinstance(schema, dict) or depth > 12:
        return f"mock {key}"
    if "$ref" in schema:
        return schema_example(_resolve_ref(schema["$ref"], root), root, key, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for combinator in ("anyOf", "oneOf", "allOf"):
        options = schema.get(combinator)
        if isinstance(options, list) and options:
            non_null = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            return schema_example((non_null or options)[0], root, key, depth + 1)
    typ = schema.get("type")
    if isinstance(typ, list):
        typ = next((t for t in typ if t != "null"), "null")
    if typ is None:
        typ = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if typ == "object":
        props = schema.get("properties") or {}
        required = schema.get("required")
        keys = required if isinstance(required, list) else list(props)
        return {k: schema_example(props.get(k, {}), root, k, depth + 1) for k in keys}
    if typ == "array":
        count = min(max(int(schema.get("minItems", 1)), 1), 3)
        return [schema_example(schema.get("items", {}), root, key, depth + 1) for _ in range(count)]
    if typ in ("integer", "number"):
        value: float = 1 if typ == "integer" else 1.5
        if isinstance(schema.get("minimum"), int | float):
            value = max(value, schema["minimum"])
        if isinstance(schema.get("exclusiveMinimum"), int | float):
            value = max(value, schema["exclusiveMinimum"] + 1)
        if isinstance(schema.get("maximum"), int | float):
            value = min(value, schema["maximum"])
        return int(value) if typ == "integer" else float(value)
    if typ == "boolean":
        return True
    if typ == "null":
        return None
    text = _STRING_FORMATS.get(schema.get("format", ""), f"mock {key}")
    min_len = schema.get("minLength")
    if isinstance(min_len, int) and len(text) < min_len:
        text = text + "x" * (min_len - len(text))
    max_len = schema.get("maxLength")
    if isinstance(max_len, int) and len(text) > max_len:
        text = text[:max_len]
    return text


def _json_text(obj: Any) -> str:
    # Default separators keep spaces, so the JSON splits into several word pieces when streamed.
    return json.dumps(obj, ensure_ascii=False)


# --------------------------------------------------------------------------------------------------------------
# Request context
# --------------------------------------------------------------------------------------------------------------


class _BadRequest(Exception):
    pass


@dataclass(slots=True)
class _Ctx:
    provider: str  # "openai" | "anthropic" | "bedrock"  (error/body style)
    op: str
    body: dict[str, Any]
    model: str
    stream: bool
    chunks: int
    output: str | None
    cached: int
    cache_creation: int
    cache_creation_1h: int
    reasoning: int
    overrides: Mapping[str, str] | None
    tool_arguments: str | None = None
    failed: bool = False  # the response-failed fault
    azure: bool = False  # an Azure OpenAI path (/openai/...)

    @property
    def response_model(self) -> str:
        if self.overrides:
            return self.overrides.get(self.model, self.model)
        return self.model


def _int_header(headers: Mapping[str, str], name: str, default: int) -> int:
    raw = headers.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _BadRequest(f"header {name} must be a non-negative integer, got {raw!r}") from None
    if value < 0:
        raise _BadRequest(f"header {name} must be a non-negative integer, got {raw!r}")
    return value


def _output_text(ctx: _Ctx) -> str:
    return ctx.output if ctx.output is not None else default_output_text(ctx.chunks)


# --------------------------------------------------------------------------------------------------------------
# Encoders
# --------------------------------------------------------------------------------------------------------------


# One reusable compact encoder: json.dumps with non-default arguments builds a new encoder per call.
_encode = json.JSONEncoder(separators=(",", ":")).encode


def _dumps(obj: Any) -> bytes:
    return _encode(obj).encode()


def _sse_data(obj: Any) -> bytes:
    return b"data: " + _dumps(obj) + b"\n\n"


def _sse_event(obj: dict[str, Any]) -> bytes:
    return b"event: " + obj["type"].encode() + b"\ndata: " + _dumps(obj) + b"\n\n"


def _es_header(name: str, value: str) -> bytes:
    n, v = name.encode(), value.encode()
    return bytes((len(n),)) + n + b"\x07" + struct.pack(">H", len(v)) + v  # 7 = string header value


def eventstream_frame(headers: list[tuple[str, str]], payload: bytes) -> bytes:
    """One AWS event-stream message: prelude (lengths + CRC32), headers, payload, message CRC32."""
    header_bytes = b"".join(_es_header(k, v) for k, v in headers)
    prelude = struct.pack(">II", 16 + len(header_bytes) + len(payload), len(header_bytes))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + header_bytes + payload
    return message + struct.pack(">I", zlib.crc32(message))


_CHUNK_HEADERS = [(":event-type", "chunk"), (":content-type", _JSON_CT), (":message-type", "event")]


def _bedrock_chunk(obj: dict[str, Any]) -> bytes:
    # Bedrock wraps each Anthropic stream event as {"bytes": base64(event JSON)} in a "chunk" event.
    payload = _dumps({"bytes": base64.b64encode(_dumps(obj)).decode()})
    return eventstream_frame(_CHUNK_HEADERS, payload)


def _bedrock_exception(exception_type: str, message: str) -> bytes:
    headers = [
        (":exception-type", exception_type),
        (":content-type", _JSON_CT),
        (":message-type", "exception"),
    ]
    return eventstream_frame(headers, _dumps({"message": message}))


# --------------------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------------------

_ERROR_PREFIX = {
    400: "Invalid request",
    401: "Incorrect API key provided for request",
    403: "Permission denied for request",
    404: "The model or resource does not exist for request",
    408: "Request timed out",
    409: "Conflict while processing request",
    413: "Request too large",
    422: "Unprocessable request",
    429: "Rate limit reached for request",
    500: "The server had an error while processing your request",
    502: "Bad gateway while processing request",
    503: "The service is temporarily unavailable for request",
    504: "Gateway timeout while processing request",
    529: "Overloaded while processing request",
}
_OPENAI_ERROR = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}
_ANTHROPIC_ERROR = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_BEDROCK_ERROR = {
    400: "ValidationException",
    401: "UnrecognizedClientException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    503: "ServiceUnavailableException",
}


def _error_message(status: int, snippet: str) -> str:
    prefix = _ERROR_PREFIX.get(status, f"Mock error {status} for request")
    return f"{prefix}: {snippet[:40]}" if snippet else prefix


def _error_response(
    provider: str,
    status: int,
    message: str,
    retry_after: str | None = None,
    delay: float = 0.0,
    code: str | None = None,
) -> MockResponse:
    rid = _new_id()
    headers = [("content-type", _JSON_CT)]
    if provider == "openai":
        etype, default_code = _OPENAI_ERROR.get(
            status, ("server_error" if status >= 500 else "invalid_request_error", None)
        )
        code = code or default_code
        body = {"error": {"message": message, "type": etype, "param": None, "code": code}}
        headers.append(("x-request-id", f"req_{rid}"))
    elif provider == "bedrock":
        etype = _BEDROCK_ERROR.get(status, "InternalServerException")
        body = {"message": message}
        headers += [
            ("x-amzn-errortype", f"{etype}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
            ("x-amzn-requestid", rid),
        ]
    else:
        etype = _ANTHROPIC_ERROR.get(status, "api_error")
        body = {"type": "error", "error": {"type": etype, "message": message}, "request_id": f"req_{rid}"}
        headers.append(("request-id", f"req_{rid}"))
    if retry_after is not None:
        headers.append(("retry-after", retry_after))
    return MockResponse(status, headers, _dumps(body), delay=delay)


def _provider_for_path(path: str) -> str:
    if path.startswith("/model/"):
        return "bedrock"
    if "/messages" in path or "/publishers/anthropic/" in path:
        return "anthropic"
    return "openai"


# --------------------------------------------------------------------------------------------------------------
# Routing
# --------------------------------------------------------------------------------------------------------------

# OpenAI (/v1), Azure OpenAI (/openai/deployments/{d}, /openai, /openai/v1) and a bare base_url (no prefix).
_OPENAI_RE = re.compile(
    r"^(?:/v1|/openai/v1|/openai/deployments/(?P<deployment>[^/]+)|/openai)?"
    r"/(?P<op>chat/completions|completions|embeddings|responses)/?$"
)
_ANTHROPIC_RE = re.compile(r"^(?:/v1)?/messages/?$")
_COUNT_TOKENS_RE = re.compile(r"^(?:/v1)?/messages/count_tokens/?$")
_VERTEX_RE = re.compile(
    r"^(?:/v1(?:beta1)?)?/projects/[^/]+/locations/[^/]+/publishers/anthropic/models/"
    r"(?P<model>[^/]+?):(?P<op>rawPredict|streamRawPredict)$"
)
_BEDROCK_RE = re.compile(r"^/model/(?P<model>[^/]+)/(?P<op>invoke|invoke-with-response-stream)$")


def _route(path: str) -> tuple[str, str, str | None, bool | None] | None:
    """-> (provider style, operation, model from path, stream forced by path) or None."""
    m = _OPENAI_RE.match(path)
    if m:
        deployment = m.group("deployment")
        return "openai", m.group("op"), unquote(deployment) if deployment else None, None
    if _ANTHROPIC_RE.match(path):
        return "anthropic", "messages", None, None
    if _COUNT_TOKENS_RE.match(path):
        return "anthropic", "count_tokens", None, None
    m = _VERTEX_RE.match(path)
    if m:
        if m.group("model") == "count-tokens":  # Vertex token counting keeps the model in the body
            return "anthropic", "count_tokens", None, False
        return "anthropic", "messages", unquote(m.group("model")), m.group("op") == "streamRawPredict"
    m = _BEDROCK_RE.match(path)
    if m:
        return (
            "bedrock",
            "messages",
            unquote(m.group("model")),
            m.group("op") == "invoke-with-response-stream",
        )
    return None


# --------------------------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------------------------


def build_response(
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    fault: str | None = None,
    model_overrides: Mapping[str, str] | None = None,
    parsed_body: Any = _UNSET,
) -> MockResponse:
    """Build the mock response for one request. ``headers`` must have lower-case keys.

    ``fault`` (e.g. from ``MockProvider.fail_next``) takes precedence over the ``x-mock-fault`` header.
    ``parsed_body`` lets a caller that already decoded ``body`` skip a second ``json.loads``
    (pass ``INVALID_JSON`` when decoding failed).
    Never raises for bad input: problems become 4xx responses.
    """
    raw_path = path.partition("?")[0]
    route = _route(raw_path)
    provider = route[0] if route else _provider_for_path(raw_path)
    fault_value = fault or headers.get("x-mock-fault")
    spec: FaultSpec | None = None
    if fault_value:
        try:
            spec = parse_fault(fault_value)
        except ValueError as exc:
            return _error_response(provider, 400, str(exc))
    if route is None:
        return _error_response(provider, 404, f"Unknown request URL: {method} {raw_path}", code="unknown_url")
    provider, op, path_model, path_stream = route
    if method.upper() != "POST":
        return _error_response(provider, 405, f"Method {method} not allowed for {raw_path}")
    if parsed_body is _UNSET:
        try:
            parsed_body = json.loads(body) if body else None
        except (ValueError, UnicodeDecodeError):
            parsed_body = INVALID_JSON
    data = parsed_body
    if data is INVALID_JSON:
        return _error_response(provider, 400, "We could not parse the JSON body of your request.")
    if not isinstance(data, dict):
        return _error_response(provider, 400, "The request body must be a JSON object.")
    try:
        ctx = _make_ctx(provider, op, data, headers, path_model, path_stream, model_overrides)
    except _BadRequest as exc:
        return _error_response(provider, 400, str(exc))
    ctx.azure = raw_path.startswith("/openai/")

    delay = spec.delay if spec else 0.0
    if spec is not None:
        if spec.disconnect:
            return MockResponse(0, [], disconnect=True, delay=delay)
        if spec.status is not None:
            snippet = _snippet(ctx)
            return _error_response(
                provider, spec.status, _error_message(spec.status, snippet), spec.retry_after, delay
            )
        if spec.response_failed:
            if op != "responses":
                return _error_response(provider, 400, "fault response-failed applies to /responses only")
            ctx.failed = True
    try:
        resp = _HANDLERS[op](ctx)
    except _BadRequest as exc:
        return _error_response(provider, 400, str(exc), delay=delay)
    if spec is not None:
        _apply_stream_faults(ctx, resp, spec)
    return resp


def _make_ctx(
    provider: str,
    op: str,
    data: dict[str, Any],
    headers: Mapping[str, str],
    path_model: str | None,
    path_stream: bool | None,
    overrides: Mapping[str, str] | None,
) -> _Ctx:
    # Vertex/Bedrock carry the model in the path; Azure may carry only the deployment there.
    model = data.get("model") or path_model if provider == "openai" else path_model or data.get("model")
    if not isinstance(model, str) or not model:
        raise _BadRequest("you must provide a model parameter")
    if op in ("chat/completions", "messages", "count_tokens") and not isinstance(data.get("messages"), list):
        raise _BadRequest("messages: field required (a list)")
    if op == "messages":
        if not isinstance(data.get("max_tokens"), int):
            raise _BadRequest("max_tokens: field required (an integer)")
        # Vertex and Bedrock reject requests without anthropic_version in the body.
        if (provider == "bedrock" or path_stream is not None) and "anthropic_version" not in data:
            raise _BadRequest("anthropic_version: field required")
    if op == "embeddings" and "input" not in data:
        raise _BadRequest("input: field required")
    stream = bool(data.get("stream")) if path_stream is None else path_stream
    return _Ctx(
        provider=provider,
        op=op,
        body=data,
        model=model,
        stream=stream,
        chunks=_int_header(headers, "x-mock-chunks", DEFAULT_CHUNKS),
        output=_output_header(headers),
        tool_arguments=headers.get("x-mock-tool-arguments"),
        cached=_int_header(headers, "x-mock-cached-tokens", 0),
        cache_creation=_int_header(headers, "x-mock-cache-creation-tokens", 0),
        cache_creation_1h=_int_header(headers, "x-mock-cache-creation-1h-tokens", 0),
        reasoning=_int_header(headers, "x-mock-reasoning-tokens", 0),
        overrides=overrides,
    )


def _output_header(headers: Mapping[str, str]) -> str | None:
    """`x-mock-output`, or `x-mock-output-base64` for replies a header cannot carry (newlines)."""
    encoded = headers.get("x-mock-output-base64")
    if encoded is not None:
        try:
            return base64.b64decode(encoded).decode("utf-8")
        except ValueError:
            raise _BadRequest("x-mock-output-base64: not valid base64 of UTF-8 text") from None
    return headers.get("x-mock-output")


def _snippet(ctx: _Ctx) -> str:
    b = ctx.body
    if ctx.op in ("chat/completions", "messages", "count_tokens"):
        return _last_user_text(b.get("messages"))
    if ctx.op == "responses":
        return _last_user_text(b.get("input"))
    value = b.get("input") if ctx.op == "embeddings" else b.get("prompt")
    if isinstance(value, list) and value and isinstance(value[0], str):
        value = value[0]
    return value if isinstance(value, str) else ""


def _apply_stream_faults(ctx: _Ctx, resp: MockResponse, spec: FaultSpec) -> None:
    resp.delay = spec.delay
    if resp.status != 200:
        return
    if resp.chunks is None:
        if spec.malformed:
            resp.body = b'{"id": "mock-malformed", "object": ' + resp.body[:20]
        resp.truncate = spec.truncate
        return
    resp.chunk_delay = spec.chunk_delay
    keep = max(1, len(resp.chunks) // 2)
    if spec.malformed:
        if ctx.provider == "bedrock":
            resp.chunks = resp.chunks[:keep] + [b"\x00\x00\x00\x10garbage-frame!!"]
        elif ctx.provider == "anthropic":
            resp.chunks = resp.chunks[:keep] + [b'event: content_block_delta\ndata: {"type": "content_bl\n\n']
        else:
            resp.chunks = resp.chunks[:keep] + [b'data: {"id": "mock-malformed", "choices": [\n\n']
    if spec.stream_error:
        resp.chunks = resp.chunks[:keep] + [_stream_error_event(ctx, keep)]
    if spec.truncate:
        resp.chunks = resp.chunks[:keep]
        resp.truncate = True


def _stream_error_event(ctx: _Ctx, sequence_number: int) -> bytes:
    message = _error_message(529 if ctx.provider != "openai" else 500, _snippet(ctx))
    if ctx.provider == "bedrock":
        return _bedrock_exception("modelStreamErrorException", message)
    if ctx.provider == "anthropic":
        return _sse_event({"type": "error", "error": {"type": "overloaded_error", "message": message}})
    if ctx.op == "responses":
        return _sse_event(
            {
                "type": "error",
                "code": "server_error",
                "message": message,
                "param": None,
                "sequence_number": sequence_number,
            }
        )
    return _sse_data({"error": {"message": message, "type": "server_error", "param": None, "code": None}})


def _json_response(provider: str, obj: dict[str, Any]) -> MockResponse:
    rid = _new_id()
    if provider == "openai":
        hdr = ("x-request-id", f"req_{rid}")
    elif provider == "bedrock":
        hdr = ("x-amzn-requestid", rid)
    else:
        hdr = ("request-id", f"req_{rid}")
    return MockResponse(200, [("content-type", _JSON_CT), hdr], _dumps(obj))


def _stream_response(provider: str, chunks: list[bytes]) -> MockResponse:
    rid = _new_id()
    if provider == "bedrock":
        headers = [("content-type", _EVENTSTREAM_CT), ("x-amzn-requestid", rid)]
    else:
        headers = [
            ("content-type", _SSE_CT),
            ("cache-control", "no-cache"),
            ("x-request-id" if provider == "openai" else "request-id", f"req_{rid}"),
        ]
    return MockResponse(200, headers, chunks=chunks)


# --------------------------------------------------------------------------------------------------------------
# Tools and structured output selection
# --------------------------------------------------------------------------------------------------------------


def _pick_tool(tools: Any, tool_choice: Any, conversation: Any, kind: str) -> tuple[str, Any] | None:
    """-> (tool name, parameters schema) of the tool to call, or None to answer with text."""
    if not isinstance(tools, list) or not tools or _is_tool_result(conversation):
        return None
    if tool_choice == "none" or (isinstance(tool_choice, dict) and tool_choice.get("type") == "none"):
        return None
    forced = None
    if isinstance(tool_choice, dict):
        fn = tool_choice.get("function")
        forced = fn.get("name") if isinstance(fn, dict) else tool_choice.get("name")
    candidates: list[tuple[str, Any]] = []
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        if kind == "chat":
            fn = tool.get("function")
            if (
                tool.get("type", "function") == "function"
                and isinstance(fn, dict)
                and isinstance(fn.get("name"), str)
            ):
                candidates.append((fn["name"], fn.get("parameters")))
        elif kind == "responses":
            if tool.get("type") == "function" and isinstance(tool.get("name"), str):
                candidates.append((tool["name"], tool.get("parameters")))
        elif isinstance(tool.get("name"), str):
            candidates.append((tool["name"], tool.get("input_schema")))
    for name, params in candidates:
        if forced is None or name == forced:
            return name, params
    return None


def _tool_arguments(ctx: _Ctx, params: Any) -> str:
    """Arguments valid for the tool's schema, or `x-mock-tool-arguments` as given (tests of
    invalid arguments)."""
    if ctx.tool_arguments is not None:
        return ctx.tool_arguments
    return _json_text(schema_example(params) if isinstance(params, dict) and params.get("properties") else {})


def _content_text(ctx: _Ctx, fmt: Any) -> str:
    """Output text honouring structured-output requests (``x-mock-output`` always wins)."""
    if ctx.output is not None or not isinstance(fmt, dict):
        return _output_text(ctx)
    ftype = fmt.get("type")
    if ftype == "json_schema":
        schema = fmt.get("schema")
        if schema is None and isinstance(fmt.get("json_schema"), dict):
            schema = fmt["json_schema"].get("schema")
        return _json_text(schema_example(schema if isinstance(schema, dict) else {"type": "object"}))
    if ftype == "json_object":
        return _json_text({"message": _output_text(ctx)})
    return _output_text(ctx)


# --------------------------------------------------------------------------------------------------------------
# OpenAI: chat completions
# --------------------------------------------------------------------------------------------------------------


def _openai_usage(ctx: _Ctx, input_tokens: int, output_tokens: int) -> dict[str, Any]:
    prompt = input_tokens + ctx.cached
    completion = output_tokens + ctx.reasoning
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": ctx.cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": ctx.reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


@lru_cache(maxsize=4096)
def _content_choice(index: int, piece: str) -> bytes:
    choice = {"index": index, "delta": {"content": piece}, "logprobs": None, "finish_reason": None}
    return _dumps(choice) + b"]}\n\n"


def _service_tier(body: dict[str, Any]) -> str:
    """The tier an OpenAI response reports: the requested one, `default` for `auto` or none."""
    tier = body.get("service_tier")
    return tier if tier in ("default", "flex", "priority", "scale") else "default"


# Azure OpenAI streams start with the prompt's content-filter results: no choices, empty id and model.
_AZURE_PROMPT_FILTER_CHUNK = _sse_data(
    {
        "id": "",
        "object": "",
        "created": 0,
        "model": "",
        "choices": [],
        "prompt_filter_results": [
            {
                "prompt_index": 0,
                "content_filter_results": {
                    category: {"filtered": False, "severity": "safe"}
                    for category in ("hate", "self_harm", "sexual", "violence")
                },
            }
        ],
    }
)


def _chat(ctx: _Ctx) -> MockResponse:
    b = ctx.body
    messages = b["messages"]
    n = b.get("n") or 1
    if not isinstance(n, int) or not 1 <= n <= 128:
        raise _BadRequest("n must be an integer between 1 and 128")
    tool = _pick_tool(b.get("tools"), b.get("tool_choice"), messages, "chat")
    input_tokens = _message_tokens(messages)
    cid = f"chatcmpl-{_new_id()}"
    created = int(time.time())
    model = ctx.response_model
    if tool is not None:
        text = _tool_arguments(ctx, tool[1])
        call_ids = [f"call_{_new_id()}" for _ in range(n)]
        finish = "tool_calls"
    else:
        text = _content_text(ctx, b.get("response_format"))
        finish = "stop"
    pieces = split_pieces(text)
    usage = _openai_usage(ctx, input_tokens, n * len(pieces))

    if not ctx.stream:
        choices = []
        for i in range(n):
            if tool is not None:
                call = {
                    "id": call_ids[i],
                    "type": "function",
                    "function": {"name": tool[0], "arguments": text},
                }
                message = {
                    "role": "assistant",
                    "content": None,
                    "refusal": None,
                    "annotations": [],
                    "tool_calls": [call],
                }
            else:
                message = {"role": "assistant", "content": text, "refusal": None, "annotations": []}
            choices.append({"index": i, "message": message, "logprobs": None, "finish_reason": finish})
        return _json_response(
            "openai",
            {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": choices,
                "usage": usage,
                "service_tier": _service_tier(b),
                "system_fingerprint": "fp_mock",
            },
        )

    include_usage = bool((b.get("stream_options") or {}).get("include_usage"))
    base = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "service_tier": _service_tier(b),
        "system_fingerprint": "fp_mock",
    }
    if include_usage:
        base["usage"] = None  # real API: null on every chunk except the last

    # Template: every chunk shares the same envelope; only the encoded choice differs.
    prefix = b"data: " + _dumps(base)[:-1] + b',"choices":['

    def chunk(index: int, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return prefix + _dumps(choice) + b"]}\n\n"

    out: list[bytes] = []
    if ctx.azure:
        out.append(_AZURE_PROMPT_FILTER_CHUNK)
    for i in range(n):
        if tool is not None:
            call = {
                "index": 0,
                "id": call_ids[i],
                "type": "function",
                "function": {"name": tool[0], "arguments": ""},
            }
            out.append(
                chunk(i, {"role": "assistant", "content": None, "tool_calls": [call], "refusal": None})
            )
        else:
            out.append(chunk(i, {"role": "assistant", "content": "", "refusal": None}))
    for piece in pieces:
        for i in range(n):
            if tool is not None:
                out.append(chunk(i, {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
            else:
                out.append(prefix + _content_choice(i, piece))
    for i in range(n):
        out.append(chunk(i, {}, finish))
    if include_usage:
        out.append(_sse_data({**base, "choices": [], "usage": usage}))
    out.append(b"data: [DONE]\n\n")
    return _stream_response("openai", out)


# --------------------------------------------------------------------------------------------------------------
# OpenAI: legacy completions
# --------------------------------------------------------------------------------------------------------------


def _completions(ctx: _Ctx) -> MockResponse:
    b = ctx.body
    prompt = b.get("prompt", "")
    prompts = prompt if isinstance(prompt, list) and all(isinstance(p, str) for p in prompt) else [prompt]
    input_tokens = sum(
        (count_words(p) if isinstance(p, str) else len(p) if isinstance(p, list) else 0) + PER_MESSAGE_TOKENS
        for p in prompts
    )
    text = _output_text(ctx)
    pieces = split_pieces(text)
    usage = _openai_usage(ctx, input_tokens, len(pieces))
    base = {
        "id": f"cmpl-{_new_id()}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": ctx.response_model,
        "system_fingerprint": "fp_mock",
    }
    if not ctx.stream:
        choice = {"text": text, "index": 0, "logprobs": None, "finish_reason": "stop"}
        return _json_response("openai", {**base, "choices": [choice], "usage": usage})
    out = [
        _sse_data({**base, "choices": [{"text": p, "index": 0, "logprobs": None, "finish_reason": None}]})
        for p in pieces
    ]
    out.append(
        _sse_data({**base, "choices": [{"text": "", "index": 0, "logprobs": None, "finish_reason": "stop"}]})
    )
    if (b.get("stream_options") or {}).get("include_usage"):
        out.append(_sse_data({**base, "choices": [], "usage": usage}))
    out.append(b"data: [DONE]\n\n")
    return _stream_response("openai", out)


# --------------------------------------------------------------------------------------------------------------
# OpenAI: embeddings
# --------------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _vector(dims: int, index: int) -> tuple[tuple[float, ...], str]:
    # Deterministic float32-exact values (k/64), so float and base64 encodings decode identically.
    values = tuple(((index * 7 + k * 3) % 64 - 32) / 64 for k in range(dims))
    return values, base64.b64encode(struct.pack(f"<{dims}f", *values)).decode()


def _embeddings(ctx: _Ctx) -> MockResponse:
    b = ctx.body
    raw = b["input"]
    if isinstance(raw, str) or (isinstance(raw, list) and raw and all(isinstance(t, int) for t in raw)):
        inputs: list[Any] = [raw]
    elif isinstance(raw, list) and raw:
        inputs = raw
    else:
        raise _BadRequest("input must be a non-empty string or array")
    dims = b.get("dimensions") or DEFAULT_EMBEDDING_DIMENSIONS
    if not isinstance(dims, int) or not 1 <= dims <= 4096:
        raise _BadRequest("dimensions must be an integer between 1 and 4096")
    b64 = b.get("encoding_format") == "base64"
    data = []
    tokens = 0
    for i, item in enumerate(inputs):
        tokens += count_words(item) if isinstance(item, str) else len(item) if isinstance(item, list) else 0
        floats, encoded = _vector(dims, i)
        data.append({"object": "embedding", "index": i, "embedding": encoded if b64 else list(floats)})
    return _json_response(
        "openai",
        {
            "object": "list",
            "data": data,
            "model": ctx.response_model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        },
    )


# --------------------------------------------------------------------------------------------------------------
# OpenAI: Responses API
# --------------------------------------------------------------------------------------------------------------


_RAW_EVENT = b'event: %s\ndata: {"type":"%s",%s,"sequence_number":%d}\n\n'


@lru_cache(maxsize=4096)
def _json_piece(piece: str) -> bytes:
    return _dumps(piece)


def _responses(ctx: _Ctx) -> MockResponse:
    b = ctx.body
    inp = b.get("input", [])
    instructions = b.get("instructions")
    input_tokens = _message_tokens(inp)
    if isinstance(instructions, str):
        input_tokens += count_words(instructions) + PER_MESSAGE_TOKENS
    tool = _pick_tool(b.get("tools"), b.get("tool_choice"), inp, "responses")
    text_cfg = b.get("text") if isinstance(b.get("text"), dict) else {}
    text = _tool_arguments(ctx, tool[1]) if tool is not None else _content_text(ctx, text_cfg.get("format"))
    pieces = split_pieces(text)
    now = time.time()
    rid = f"resp_{_new_id()}"

    output: list[dict[str, Any]] = []
    if ctx.reasoning:  # reasoning models emit a reasoning item first
        output.append({"id": f"rs_{_new_id()}", "type": "reasoning", "summary": [], "status": "completed"})
    if tool is not None:
        item: dict[str, Any] = {
            "id": f"fc_{_new_id()}",
            "type": "function_call",
            "status": "completed",
            "call_id": f"call_{_new_id()}",
            "name": tool[0],
            "arguments": text,
        }
    else:
        part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        item = {
            "id": f"msg_{_new_id()}",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [part],
        }
    output.append(item)
    prompt = input_tokens + ctx.cached
    completion = len(pieces) + ctx.reasoning
    usage = {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": ctx.cached, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": ctx.reasoning},
        "total_tokens": prompt + completion,
    }
    response: dict[str, Any] = {
        "id": rid,
        "object": "response",
        "created_at": now,
        "status": "completed",
        "completed_at": now,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": instructions,
        "max_output_tokens": b.get("max_output_tokens"),
        "max_tool_calls": b.get("max_tool_calls"),
        "model": ctx.response_model,
        "output": output,
        "parallel_tool_calls": b.get("parallel_tool_calls", True),
        "previous_response_id": b.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "service_tier": _service_tier(b),
        "store": b.get("store", True),
        "temperature": b.get("temperature", 1.0),
        "text": {"format": text_cfg.get("format") or {"type": "text"}},
        "tool_choice": b.get("tool_choice", "auto"),
        "tools": b.get("tools", []),
        "top_p": b.get("top_p", 1.0),
        "truncation": b.get("truncation", "disabled"),
        "usage": usage,
        "user": b.get("user"),
        "metadata": b.get("metadata") or {},
    }
    failed = None
    if ctx.failed:  # how the API reports a response that failed after it started
        error = {"code": "server_error", "message": _error_message(500, _snippet(ctx))}
        failed = {
            **response,
            "status": "failed",
            "completed_at": None,
            "error": error,
            "output": [],
            "usage": None,
        }
    if not ctx.stream:
        return _json_response("openai", failed or response)

    seq = itertools.count()
    events: list[bytes] = []

    def emit(obj: dict[str, Any]) -> None:
        obj["sequence_number"] = next(seq)
        events.append(_sse_event(obj))

    def emit_raw(etype: bytes, members: bytes) -> None:
        # Pre-encoded members: the big response object is encoded once, deltas come from a template.
        events.append(_RAW_EVENT % (etype, etype, members, next(seq)))

    pending = {**response, "status": "in_progress", "completed_at": None, "output": [], "usage": None}
    pending_json = b'"response":' + _dumps(pending)
    emit_raw(b"response.created", pending_json)
    emit_raw(b"response.in_progress", pending_json)
    idx = len(output) - 1
    if ctx.reasoning:
        emit(
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": {**output[0], "status": "in_progress"},
            }
        )
        emit({"type": "response.output_item.done", "output_index": 0, "item": output[0]})
    iid = item["id"]
    if tool is not None:
        emit(
            {
                "type": "response.output_item.added",
                "output_index": idx,
                "item": {**item, "arguments": "", "status": "in_progress"},
            }
        )
        for piece in pieces:
            emit(
                {
                    "type": "response.function_call_arguments.delta",
                    "item_id": iid,
                    "output_index": idx,
                    "delta": piece,
                }
            )
        emit(
            {
                "type": "response.function_call_arguments.done",
                "item_id": iid,
                "output_index": idx,
                "arguments": text,
            }
        )
    else:
        emit(
            {
                "type": "response.output_item.added",
                "output_index": idx,
                "item": {**item, "status": "in_progress", "content": []},
            }
        )
        empty_part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        emit(
            {
                "type": "response.content_part.added",
                "item_id": iid,
                "output_index": idx,
                "content_index": 0,
                "part": empty_part,
            }
        )
        delta_members = b'"item_id":%s,"output_index":%d,"content_index":0,"logprobs":[],"delta":' % (
            _dumps(iid),
            idx,
        )
        for piece in pieces:
            emit_raw(b"response.output_text.delta", delta_members + _json_piece(piece))
        emit(
            {
                "type": "response.output_text.done",
                "item_id": iid,
                "output_index": idx,
                "content_index": 0,
                "text": text,
                "logprobs": [],
            }
        )
        emit(
            {
                "type": "response.content_part.done",
                "item_id": iid,
                "output_index": idx,
                "content_index": 0,
                "part": item["content"][0],
            }
        )
    emit({"type": "response.output_item.done", "output_index": idx, "item": item})
    if failed is not None:
        del events[max(1, len(events) // 2) :]
        seq = itertools.count(len(events))
        emit_raw(b"response.failed", b'"response":' + _dumps(failed))
    else:
        emit_raw(b"response.completed", b'"response":' + _dumps(response))
    return _stream_response("openai", events)


# --------------------------------------------------------------------------------------------------------------
# Anthropic Messages (first party, Vertex, Bedrock)
# --------------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _text_delta_event(piece: str, bedrock: bool) -> bytes:
    event = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}
    return _bedrock_chunk(event) if bedrock else _sse_event(event)


def _anthropic_input_tokens(body: dict[str, Any]) -> int:
    tokens = _message_tokens(body["messages"])
    system = body.get("system")
    if system:
        tokens += count_words(_text_of(system)) + PER_MESSAGE_TOKENS
    return tokens


def _count_tokens(ctx: _Ctx) -> MockResponse:
    return _json_response(ctx.provider, {"input_tokens": _anthropic_input_tokens(ctx.body)})


def _messages(ctx: _Ctx) -> MockResponse:
    b = ctx.body
    messages = b["messages"]
    input_tokens = _anthropic_input_tokens(b)
    tool = _pick_tool(b.get("tools"), b.get("tool_choice"), messages, "anthropic")
    if tool is not None:
        text = _tool_arguments(ctx, tool[1])
        block: dict[str, Any] = {
            "type": "tool_use",
            "id": f"toolu_{_new_id()}",
            "name": tool[0],
            "input": json.loads(text),
        }
        stop_reason = "tool_use"
    else:
        cfg = b.get("output_config") if isinstance(b.get("output_config"), dict) else {}
        text = _content_text(ctx, cfg.get("format") or b.get("output_format"))
        block = {"type": "text", "text": text}
        stop_reason = "end_turn"
    pieces = split_pieces(text)
    output_tokens = len(pieces)
    # Anthropic semantics: input_tokens EXCLUDES cache reads and cache writes (reported separately).
    usage: dict[str, Any] = {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": ctx.cache_creation + ctx.cache_creation_1h,
        "cache_read_input_tokens": ctx.cached,
        "cache_creation": {
            "ephemeral_5m_input_tokens": ctx.cache_creation,
            "ephemeral_1h_input_tokens": ctx.cache_creation_1h,
        },
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }
    message = {
        "id": f"msg_{_new_id()}",
        "type": "message",
        "role": "assistant",
        "model": ctx.response_model,
        "content": [block],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }
    if not ctx.stream:
        return _json_response(ctx.provider, message)

    bedrock = ctx.provider == "bedrock"
    enc = _bedrock_chunk if bedrock else _sse_event
    start_usage = {**usage, "output_tokens": 1}
    out = [
        enc(
            {
                "type": "message_start",
                "message": {**message, "content": [], "stop_reason": None, "usage": start_usage},
            }
        )
    ]
    if tool is not None:
        out.append(enc({"type": "content_block_start", "index": 0, "content_block": {**block, "input": {}}}))
    else:
        out.append(
            enc({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
        )
    if not bedrock:
        out.append(_sse_event({"type": "ping"}))
    for piece in pieces:
        if tool is not None:
            delta = {"type": "input_json_delta", "partial_json": piece}
            out.append(enc({"type": "content_block_delta", "index": 0, "delta": delta}))
        else:
            out.append(_text_delta_event(piece, bedrock))
    out.append(enc({"type": "content_block_stop", "index": 0}))
    # message_delta usage is cumulative (final totals), like the real API.
    final_usage = {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": ctx.cache_creation + ctx.cache_creation_1h,
        "cache_read_input_tokens": ctx.cached,
        "output_tokens": output_tokens,
    }
    out.append(
        enc(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": final_usage,
            }
        )
    )
    stop: dict[str, Any] = {"type": "message_stop"}
    if bedrock:
        stop["amazon-bedrock-invocationMetrics"] = {
            "inputTokenCount": input_tokens,
            "outputTokenCount": output_tokens,
            "invocationLatency": 1,
            "firstByteLatency": 1,
            "cacheReadInputTokenCount": ctx.cached,
            "cacheWriteInputTokenCount": ctx.cache_creation + ctx.cache_creation_1h,
        }
    out.append(enc(stop))
    return _stream_response(ctx.provider, out)


_HANDLERS = {
    "chat/completions": _chat,
    "completions": _completions,
    "embeddings": _embeddings,
    "responses": _responses,
    "messages": _messages,
    "count_tokens": _count_tokens,
}

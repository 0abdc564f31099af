"""A call's content in the GenAI conventions' message JSON, and the small pure helpers that build it.

Shapes (semantic-conventions-genai, `gen_ai.input.messages` / `gen_ai.output.messages` /
`gen_ai.system_instructions` / `gen_ai.tool.definitions` JSON schemas):
messages are `{"role", "parts", "name"?}` (output messages add `"finish_reason"`), system
instructions and tool definitions are plain lists of parts / tool objects.

Every helper here is total: odd input (None, unknown part types, SDK objects whose attributes
raise, values that are not JSON) is skipped or turned into a string, never raised. Nothing is
capped here (redaction truncates later), with one exception: inline binary data (base64 images,
audio, files) is never copied; a `blob` part records its modality, MIME type and size instead.
Only lists and tuples are ever iterated, never other iterables: the app may have passed a
generator the SDK has yet to consume.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

# Extra (non-spec) property on a blob part whose inline data was left out: its decoded size.
OMITTED_BYTES = "otel_llm.omitted_bytes"

# The SDKs' "argument not given" sentinels (openai/anthropic NotGiven and Omit).
_SENTINEL_TYPES = frozenset({"NotGiven", "Omit"})
_SKIP = object()
_MAX_DEPTH = 32
# Long strings made only of base64 characters are inline binary data, not text.
_BASE64_PROBE = 512
_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-\r\n")
_LIST_TYPES = (list, tuple)


class CallContent:
    """One call's content as the spec's JSON-ready structures (raw: redaction happens later).

    `system_instructions` and `tool_definitions` are None when the request had none;
    `output_messages` is filled after the response (or the stream's end). `_stream` is the
    provider adapter's private accumulator while a stream is read.
    """

    __slots__ = ("input_messages", "system_instructions", "tool_definitions", "output_messages", "_stream")

    def __init__(
        self,
        input_messages: list[dict[str, Any]] | None = None,
        system_instructions: list[dict[str, Any]] | None = None,
        tool_definitions: list[dict[str, Any]] | None = None,
    ) -> None:
        self.input_messages: list[dict[str, Any]] = input_messages if input_messages is not None else []
        self.system_instructions = system_instructions or None
        self.tool_definitions = tool_definitions or None
        self.output_messages: list[dict[str, Any]] = []
        self._stream: Any = None

    def __repr__(self) -> str:  # never the content itself: reprs end up in logs
        return (
            f"CallContent(input_messages={len(self.input_messages)}, "
            f"output_messages={len(self.output_messages)})"
        )


# -- reading SDK objects and TypedDicts alike -------------------------------------------------------


def field(obj: Any, key: str) -> Any:
    """`obj[key]` for dicts, `obj.key` for SDK objects; None when missing, a sentinel, or raising."""
    if isinstance(obj, dict):
        value = obj.get(key)
    else:
        try:
            value = getattr(obj, key, None)
        except Exception:
            return None
    if value is not None and type(value).__name__ in _SENTINEL_TYPES:
        return None
    return value


def items(value: Any) -> list[Any] | tuple[Any, ...]:
    """`value` when it is a list or tuple, else empty (other iterables are never consumed)."""
    return value if isinstance(value, _LIST_TYPES) else ()


def text_of(value: Any) -> str | None:
    """A string as is, a number stringified, else None (objects, containers, sentinels)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    return None


def each(values: Any, convert: Callable[[Any], Any]) -> list[Any]:
    """`convert` over a list/tuple, skipping items whose conversion fails or returns None."""
    out = []
    for value in items(values):
        try:
            converted = convert(value)
        except Exception:
            continue
        if converted is not None:
            out.append(converted)
    return out


# -- JSON-safe conversion -------------------------------------------------------------------------


def to_json(value: Any) -> Any:
    """`value` as plain JSON data (dict/list/str/int/float/bool/None); never raises.

    Pydantic models go through `model_dump(mode="json", exclude_none=True)`; anything else
    unknown is stringified. Inline binary data (bytes, base64 strings, data: URLs) is replaced by
    a short placeholder naming its size.
    """
    converted = _to_json(value, 0)
    return None if converted is _SKIP else converted


def _to_json(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, str):
        return _scrub(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth >= _MAX_DEPTH:
        return _safe_str(value)
    if isinstance(value, dict):
        out = {}
        for key, item in list(value.items()):
            converted = _to_json(item, depth + 1)
            if converted is not _SKIP:
                out[key if isinstance(key, str) else _safe_str(key)] = converted
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        return [c for c in (_to_json(item, depth + 1) for item in list(value)) if c is not _SKIP]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes omitted>"
    if type(value).__name__ in _SENTINEL_TYPES:
        return _SKIP
    try:
        dump = getattr(value, "model_dump", None)
        if callable(dump):
            return _to_json(dump(mode="json", exclude_none=True), depth + 1)
    except Exception:
        pass
    return _safe_str(value)


def _scrub(text: str) -> str:
    """A data: URL or a long base64 run as a placeholder; any other string unchanged."""
    if len(text) < _BASE64_PROBE:
        return text
    if text.startswith("data:"):
        mime, size = data_url_info(text)
        if size is not None:
            return f"<{mime or 'data'} data URL, {size} bytes omitted>"
    elif _looks_base64(text[:_BASE64_PROBE]):
        return f"<base64 data, {base64_size(text)} bytes omitted>"
    return text


def _looks_base64(probe: str) -> bool:
    # Letters and digits both present: a long run of dashes or of one letter is not data.
    return (
        _BASE64_CHARS.issuperset(probe)
        and any(c.isdigit() for c in probe)
        and any(c.isalpha() for c in probe)
    )


def _safe_str(value: Any) -> str:
    try:
        return str(value)
    except Exception:
        return f"<{type(value).__name__}>"


def parse_arguments(value: Any) -> Any:
    """Tool-call arguments: a JSON string parsed into data when it parses, else kept as given."""
    if isinstance(value, str):
        try:
            return _to_json(json.loads(value, parse_constant=str), 0)
        except (ValueError, RecursionError):
            return value
    return to_json(value)


# -- inline data ---------------------------------------------------------------------------------


def base64_size(data: str) -> int:
    """Decoded size in bytes of a base64 string (without reading it)."""
    return len(data) * 3 // 4


def data_url_info(url: str) -> tuple[str | None, int | None]:
    """(MIME type, decoded size) of a `data:` URL; size None when `url` is not one."""
    if not url.startswith("data:"):
        return None, None
    comma = url.find(",", 0, 256)
    if comma < 0:
        return None, None
    header = url[5:comma]
    mime = header.split(";", 1)[0] or None
    payload = len(url) - comma - 1
    size = payload * 3 // 4 if header.endswith(";base64") else payload
    return mime, size


# -- parts and messages -----------------------------------------------------------------------------


def text_part(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}


def reasoning_part(content: str) -> dict[str, Any]:
    return {"type": "reasoning", "content": content}


def tool_call_part(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    return {
        "type": "tool_call",
        "id": text_of(call_id),
        "name": text_of(name) or "",
        "arguments": parse_arguments(arguments),
    }


def tool_call_response_part(call_id: Any, response: Any) -> dict[str, Any]:
    return {"type": "tool_call_response", "id": text_of(call_id), "response": response}


def server_tool_call_part(call_id: Any, name: Any, details: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "server_tool_call",
        "id": text_of(call_id),
        "name": text_of(name) or "",
        "server_tool_call": details,
    }


def server_tool_call_response_part(call_id: Any, details: dict[str, Any]) -> dict[str, Any]:
    return {"type": "server_tool_call_response", "id": text_of(call_id), "server_tool_call_response": details}


def uri_part(modality: str, uri: str, mime_type: str | None = None) -> dict[str, Any]:
    """A media reference by URL; a `data:` URL becomes a blob placeholder instead."""
    if uri.startswith("data:"):
        mime, size = data_url_info(uri)
        return blob_part(modality, mime or mime_type, size or 0)
    part: dict[str, Any] = {"type": "uri", "modality": modality, "uri": uri}
    if mime_type:
        part["mime_type"] = mime_type
    return part


def file_part(modality: str, file_id: str, mime_type: str | None = None) -> dict[str, Any]:
    part: dict[str, Any] = {"type": "file", "modality": modality, "file_id": file_id}
    if mime_type:
        part["mime_type"] = mime_type
    return part


def blob_part(
    modality: str, mime_type: str | None, size: int, transcript: str | None = None
) -> dict[str, Any]:
    """Inline binary data, recorded without the data: `content` is empty and the decoded size
    goes in `otel_llm.omitted_bytes` (content size matters more than the pixels)."""
    part: dict[str, Any] = {"type": "blob", "modality": modality}
    if mime_type:
        part["mime_type"] = mime_type
    part["content"] = ""
    part[OMITTED_BYTES] = size
    if transcript:
        part["transcript"] = transcript
    return part


def generic_part(kind: str, value: Any) -> dict[str, Any]:
    """A part of a type the conventions do not name: its own fields, JSON-safe (its `status` dropped)."""
    data = to_json(value)
    part: dict[str, Any] = {"type": kind}
    if isinstance(data, dict):
        part.update((k, v) for k, v in data.items() if k not in ("type", "status"))
    elif data is not None:
        part["content"] = data
    return part


def message(role: str, parts: list[dict[str, Any]], name: Any = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": role, "parts": parts}
    name = text_of(name)
    if name:
        msg["name"] = name
    return msg


def output_message(parts: list[dict[str, Any]], finish_reason: str | None) -> dict[str, Any]:
    """An assistant output message; `finish_reason` left out when the provider gave none."""
    msg: dict[str, Any] = {"role": "assistant", "parts": parts}
    if finish_reason:
        msg["finish_reason"] = finish_reason
    return msg


def append_part(messages: list[dict[str, Any]], role: str, part: dict[str, Any]) -> None:
    """Add `part` to the last message when it has `role`, else start a new message."""
    if messages and messages[-1]["role"] == role:
        messages[-1]["parts"].append(part)
    else:
        messages.append(message(role, [part]))


def response_value(parts: list[dict[str, Any]]) -> Any:
    """A tool result's `response`: the text of a single text part, else the list of parts."""
    if len(parts) == 1 and parts[0].get("type") == "text":
        return parts[0]["content"]
    return parts

"""Anthropic SDK (and AnthropicBedrock / AnthropicVertex) mapped onto Invocation.

Anthropic reports `input_tokens` WITHOUT cache reads and cache creations; the GenAI conventions
want them included, so the input total is the sum of the three. In streams, `message_start`
carries the input side and `message_delta` the cumulative output count (never add them up).
"""

from __future__ import annotations

from typing import Any

from .. import messages as m
from .. import semconv as sc
from ..invocation import Invocation
from ..messages import CallContent, field, items, text_of
from ..wrapper import Adapter, Surface
from ._common import base_attributes, given, missing_finish_reason, put, server_of, stop_sequences


def _usage(inv: Invocation, usage: Any) -> None:
    """Apply an Anthropic usage object (Message.usage or a message_delta's cumulative usage)."""
    uncached = getattr(usage, "input_tokens", None)
    cache_read = getattr(usage, "cache_read_input_tokens", None)
    cache_creation = getattr(usage, "cache_creation_input_tokens", None)
    if cache_read is not None:
        inv.cache_read_tokens = cache_read
    if cache_creation is not None:
        inv.cache_creation_tokens = cache_creation
    # The 1-hour part of the writes costs more; only Message.usage has it (not message_delta's).
    lifetimes = getattr(usage, "cache_creation", None)
    one_hour = getattr(lifetimes, "ephemeral_1h_input_tokens", None) if lifetimes is not None else None
    if one_hour is not None:
        inv.cache_creation_1h_tokens = one_hour
    if uncached is not None:
        inv.input_tokens = uncached + (inv.cache_read_tokens or 0) + (inv.cache_creation_tokens or 0)
    output = getattr(usage, "output_tokens", None)
    if output is not None:
        inv.output_tokens = output
    details = getattr(usage, "output_tokens_details", None)
    thinking = getattr(details, "thinking_tokens", None) if details is not None else None
    if thinking is not None:
        inv.reasoning_tokens = thinking


class Messages(Adapter):
    def request(self, instance: Any, kwargs: dict[str, Any], stream: bool) -> Invocation:
        client = instance._client
        host, port = server_of(client)
        provider = getattr(client, "_gen_ai_provider_name", None) or "anthropic"
        model = given(kwargs.get("model"))
        attrs = base_attributes(sc.OPERATION_CHAT, provider, model, host, port, stream)
        put(attrs, sc.GEN_AI_REQUEST_MAX_TOKENS, given(kwargs.get("max_tokens")))
        put(attrs, sc.GEN_AI_REQUEST_TEMPERATURE, given(kwargs.get("temperature")))
        put(attrs, sc.GEN_AI_REQUEST_TOP_P, given(kwargs.get("top_p")))
        put(attrs, sc.GEN_AI_REQUEST_TOP_K, given(kwargs.get("top_k")))
        put(attrs, sc.GEN_AI_REQUEST_STOP_SEQUENCES, stop_sequences(given(kwargs.get("stop_sequences"))))
        if given(kwargs.get("output_format")) is not None or isinstance(kwargs.get("output_format"), type):
            attrs[sc.GEN_AI_OUTPUT_TYPE] = "json"
        return Invocation(
            sc.OPERATION_CHAT, provider, model if isinstance(model, str) else None, attrs, host, port, stream
        )

    def response(self, inv: Invocation, result: Any) -> None:
        inv.response_id = getattr(result, "id", None)
        inv.response_model = getattr(result, "model", None)
        stop_reason = getattr(result, "stop_reason", None)
        if stop_reason:
            inv.finish_reasons = [stop_reason]
        usage = getattr(result, "usage", None)
        if usage is not None:
            _usage(inv, usage)

    def chunk(self, inv: Invocation, chunk: Any) -> None:
        kind = chunk.type
        if kind == "message_start":
            message = chunk.message
            inv.response_id = message.id
            inv.response_model = message.model
            _usage(inv, message.usage)
        elif kind == "message_delta":
            stop_reason = chunk.delta.stop_reason
            if stop_reason:
                inv.finish_reasons = [stop_reason]
            _usage(inv, chunk.usage)
        if inv.content is not None:
            _stream_event(inv.content, chunk, kind)

    def stream_end(self, inv: Invocation) -> None:
        content = inv.content
        if content is None or content._stream is None:
            return
        parts: list[dict[str, Any]] = []
        for _, (block, fragments) in sorted(content._stream.items()):
            try:
                parts.extend(_block_parts(_streamed_block(block, fragments)))
            except Exception:
                continue
        reason = _finish(inv.finish_reasons[0]) if inv.finish_reasons else missing_finish_reason(inv)
        content.output_messages = [m.output_message(parts, reason)]

    def output_schemas(self, kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        tools = {}
        for tool in items(kwargs.get("tools")):  # never another iterable: the SDK has yet to read it
            if isinstance(tool, dict) and tool.get("type") in (None, "custom"):
                schema = tool.get("input_schema")
                if isinstance(schema, dict):
                    tools[str(tool.get("name"))] = schema
        return None, tools

    def input_content(self, kwargs: dict[str, Any]) -> CallContent:
        history: list[dict[str, Any]] = []
        for message in items(kwargs.get("messages")):
            try:
                history.extend(_input_messages(message))
            except Exception:
                continue
        # `system=` is given apart from the history: the conventions' system instructions.
        system = kwargs.get("system")
        if isinstance(system, str):
            instructions = [m.text_part(system)]
        else:
            instructions = [part for block in items(system) for part in _safe_block_parts(block)]
        return CallContent(history, instructions, m.each(kwargs.get("tools"), _tool_definition))

    def output_content(self, inv: Invocation, result: Any) -> None:
        if inv.content is None:
            return
        parts = [part for block in items(field(result, "content")) for part in _safe_block_parts(block)]
        inv.content.output_messages = [m.output_message(parts, _finish(field(result, "stop_reason")))]


# -- content ------------------------------------------------------------------------------------------

# Anthropic stop reasons -> the conventions' FinishReason values (others, e.g. pause_turn, pass through).
_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_call",
    "refusal": "content_filter",
}
_RESULT_SUFFIX = "_tool_result"


def _finish(reason: Any) -> str | None:
    return _FINISH_REASONS.get(reason, reason) if isinstance(reason, str) and reason else None


def _input_messages(message: Any) -> list[dict[str, Any]]:
    """One Anthropic message as messages: tool results travel in user messages, but they are the
    tool's words, so each run of `tool_result` blocks becomes a `tool` message, in order."""
    role = text_of(field(message, "role"))
    content = field(message, "content")
    if role is None:
        if content is None:
            return []  # not a message at all
        role = "user"
    if not isinstance(content, list | tuple):
        text = text_of(content)
        return [m.message(role, [m.text_part(text)] if text is not None else [])]
    out: list[dict[str, Any]] = []
    for block in content:
        block_role = "tool" if field(block, "type") == "tool_result" else role
        for part in _safe_block_parts(block):
            m.append_part(out, block_role, part)
    return out or [m.message(role, [])]


def _safe_block_parts(block: Any) -> list[dict[str, Any]]:
    try:
        return _block_parts(block)
    except Exception:
        return []


def _block_parts(block: Any) -> list[dict[str, Any]]:
    """The parts of one content block (a request's or a response's: same shapes)."""
    if isinstance(block, str):
        return [m.text_part(block)]
    kind = text_of(field(block, "type")) or "unknown"
    if kind == "text":
        return [m.text_part(text_of(field(block, "text")) or "")]
    if kind in ("image", "document"):
        return _source_parts(kind, field(block, "source"))
    if kind == "tool_use":
        return [m.tool_call_part(field(block, "id"), field(block, "name"), field(block, "input"))]
    if kind == "tool_result":
        return [m.tool_call_response_part(field(block, "tool_use_id"), _tool_result(field(block, "content")))]
    if kind == "thinking":
        return [m.reasoning_part(text_of(field(block, "thinking")) or "")]
    if kind == "redacted_thinking":  # encrypted: only its presence is worth recording
        return [{"type": "redacted_thinking"}]
    if kind in ("server_tool_use", "mcp_tool_use"):
        name = field(block, "name")
        details = {"type": text_of(name) or kind, "input": m.to_json(field(block, "input"))}
        return [m.server_tool_call_part(field(block, "id"), name, details)]
    if kind.endswith(_RESULT_SUFFIX):  # web_search_tool_result, code_execution_tool_result, ...
        details = {"type": kind[: -len(_RESULT_SUFFIX)], "content": m.to_json(field(block, "content"))}
        return [m.server_tool_call_response_part(field(block, "tool_use_id"), details)]
    return [m.generic_part(kind, block)]


def _source_parts(modality: str, source: Any) -> list[dict[str, Any]]:
    kind = field(source, "type")
    if kind == "base64":
        data = field(source, "data")
        size = m.base64_size(data) if isinstance(data, str) else 0
        return [m.blob_part(modality, text_of(field(source, "media_type")), size)]
    if kind == "url":
        return [m.uri_part(modality, text_of(field(source, "url")) or "")]
    if kind == "file":
        return [m.file_part(modality, text_of(field(source, "file_id")) or "")]
    if kind == "text":  # a plain-text document is text
        return [m.text_part(text_of(field(source, "data")) or "")]
    if kind == "content":
        content = field(source, "content")
        if isinstance(content, str):
            return [m.text_part(content)]
        return [part for block in items(content) for part in _safe_block_parts(block)]
    return [m.generic_part(text_of(kind) or "unknown", source)]


def _tool_result(content: Any) -> Any:
    if isinstance(content, str):
        return content
    return m.response_value([part for block in items(content) for part in _safe_block_parts(block)])


def _tool_definition(tool: Any) -> dict[str, Any] | None:
    name = text_of(field(tool, "name"))
    if not name:
        return None
    kind = text_of(field(tool, "type"))
    if kind not in (None, "custom"):  # server and client-schema tools: web_search_20250305, bash_...
        return {"type": kind, "name": name}
    definition: dict[str, Any] = {"type": "function", "name": name}
    description = field(tool, "description")
    if description is not None:
        definition["description"] = text_of(description)
    schema = field(tool, "input_schema")
    if schema is not None:
        definition["parameters"] = m.to_json(schema)
    return definition


def _stream_event(content: CallContent, event: Any, kind: str) -> None:
    """Collect content blocks by index: the block from its start event, then its deltas."""
    if kind == "content_block_delta":
        slot = content._stream.get(event.index) if content._stream else None
        if slot is None:
            return
        delta = event.delta
        dtype = delta.type
        if dtype == "text_delta":
            slot[1].append(delta.text)
        elif dtype == "input_json_delta":
            slot[1].append(delta.partial_json)
        elif dtype == "thinking_delta":
            slot[1].append(delta.thinking)
    elif kind == "content_block_start":
        if content._stream is None:
            content._stream = {}
        content._stream[event.index] = (event.content_block, [])


def _streamed_block(block: Any, fragments: list[str]) -> Any:
    """A streamed block as the complete block a non-streamed message would hold."""
    kind = field(block, "type")
    if kind == "text":
        return {"type": "text", "text": (text_of(field(block, "text")) or "") + "".join(fragments)}
    if kind == "thinking":
        return {
            "type": "thinking",
            "thinking": (text_of(field(block, "thinking")) or "") + "".join(fragments),
        }
    if kind in ("tool_use", "server_tool_use", "mcp_tool_use"):
        arguments = m.parse_arguments("".join(fragments)) if fragments else field(block, "input")
        return {"type": kind, "id": field(block, "id"), "name": field(block, "name"), "input": arguments}
    return block


def surfaces() -> list[Surface]:
    import anthropic
    from anthropic import _response

    streams = (anthropic.Stream, anthropic.AsyncStream)
    raws = (_response.APIResponse, _response.AsyncAPIResponse)
    messages = Messages()
    module = "anthropic.resources.messages.messages"
    return [
        Surface(module, "Messages.create", messages, False, streams, raws),
        Surface(module, "AsyncMessages.create", messages, True, streams, raws),
        Surface(module, "Messages.parse", messages, False, streams, raws),
        Surface(module, "AsyncMessages.parse", messages, True, streams, raws),
        Surface(module, "Messages.stream", messages, False, streams, raws, kind="stream_manager"),
        Surface(module, "AsyncMessages.stream", messages, True, streams, raws, kind="stream_manager"),
    ]


STREAM_CLOSE = (("anthropic", "Stream.close", False), ("anthropic", "AsyncStream.close", True))
RAW_PARSE = (
    ("anthropic._response", "APIResponse.parse", False),
    ("anthropic._response", "AsyncAPIResponse.parse", True),
)
ATTEMPTS = (
    ("anthropic._base_client", "SyncAPIClient._attempt_request", False),
    ("anthropic._base_client", "AsyncAPIClient._attempt_request", True),
)

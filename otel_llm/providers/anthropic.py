"""Anthropic SDK (and AnthropicBedrock / AnthropicVertex) mapped onto Invocation.

Anthropic reports `input_tokens` WITHOUT cache reads and cache creations; the GenAI conventions
want them included, so the input total is the sum of the three. In streams, `message_start`
carries the input side and `message_delta` the cumulative output count (never add them up).
"""

from __future__ import annotations

from typing import Any

from .. import semconv as sc
from ..invocation import Invocation
from ..wrapper import Adapter, Surface
from ._common import base_attributes, given, put, server_of, stop_sequences


def _usage(inv: Invocation, usage: Any) -> None:
    """Apply an Anthropic usage object (Message.usage or a message_delta's cumulative usage)."""
    uncached = getattr(usage, "input_tokens", None)
    cache_read = getattr(usage, "cache_read_input_tokens", None)
    cache_creation = getattr(usage, "cache_creation_input_tokens", None)
    if cache_read is not None:
        inv.cache_read_tokens = cache_read
    if cache_creation is not None:
        inv.cache_creation_tokens = cache_creation
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

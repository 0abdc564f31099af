"""OpenAI SDK (and Azure, Bedrock and OpenAI-compatible servers) mapped onto Invocation.

Pure mapping: request kwargs -> Invocation, response objects and stream chunks -> Invocation fields.
OpenAI's `prompt_tokens` already include cached tokens and `completion_tokens` include reasoning
tokens, which is what the GenAI conventions want.
"""

from __future__ import annotations

from typing import Any

from .. import semconv as sc
from ..invocation import Invocation
from ..wrapper import Adapter, Surface
from ._common import base_attributes, given, put, server_of, stop_sequences

# Hosts of OpenAI-compatible services -> gen_ai.provider.name (docs/providers.md has the table).
HOST_PROVIDERS: dict[str, str] = {
    "api.openai.com": "openai",
    "api.groq.com": "groq",
    "api.deepseek.com": "deepseek",
    "api.x.ai": "x_ai",
    "openrouter.ai": "openrouter",
    "api.mistral.ai": "mistral_ai",
    "generativelanguage.googleapis.com": "gcp.gemini",
    "api.together.xyz": "together",
    "api.fireworks.ai": "fireworks",
    "api.perplexity.ai": "perplexity",
    "api.cohere.ai": "cohere",
    "api.cohere.com": "cohere",
}
HOST_SUFFIX_PROVIDERS: tuple[tuple[str, str], ...] = (
    (".openai.azure.com", "azure.ai.openai"),
    (".services.ai.azure.com", "azure.ai.openai"),
    (".amazonaws.com", "aws.bedrock"),
)
# Well-known local servers, by port.
PORT_PROVIDERS = {11434: "ollama"}


def provider_of(client: Any, host: str | None, port: int | None) -> str:
    name = type(client).__name__
    if "Azure" in name:
        return "azure.ai.openai"
    if "Bedrock" in name:
        return "aws.bedrock"
    if host:
        found = HOST_PROVIDERS.get(host)
        if found:
            return found
        for suffix, provider in HOST_SUFFIX_PROVIDERS:
            if host.endswith(suffix):
                return provider
    if port in PORT_PROVIDERS:
        return PORT_PROVIDERS[port]
    # Unknown host: an OpenAI-compatible server (vLLM, a proxy, a mock) speaking OpenAI's API.
    return "openai"


def _start(operation: str, instance: Any, kwargs: dict[str, Any], stream: bool) -> Invocation:
    client = instance._client
    host, port = server_of(client)
    provider = provider_of(client, host, port)
    model = given(kwargs.get("model"))
    attrs = base_attributes(operation, provider, model, host, port, stream)
    return Invocation(
        operation, provider, model if isinstance(model, str) else None, attrs, host, port, stream
    )


def _output_type(response_format: Any) -> str | None:
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind in ("json_object", "json_schema"):
        return "json"
    if kind == "text":
        return "text"
    if isinstance(response_format, type):  # chat.completions.parse(response_format=PydanticModel)
        return "json"
    return None


def _usage_from_chat(inv: Invocation, usage: Any) -> None:
    inv.input_tokens = getattr(usage, "prompt_tokens", None)
    inv.output_tokens = getattr(usage, "completion_tokens", None)
    details = getattr(usage, "prompt_tokens_details", None)
    if details is not None:
        inv.cache_read_tokens = getattr(details, "cached_tokens", None)
    details = getattr(usage, "completion_tokens_details", None)
    if details is not None:
        inv.reasoning_tokens = getattr(details, "reasoning_tokens", None)


class ChatCompletions(Adapter):
    operation = sc.OPERATION_CHAT

    def request(self, instance: Any, kwargs: dict[str, Any], stream: bool) -> Invocation:
        inv = _start(self.operation, instance, kwargs, stream)
        attrs = inv.attributes
        max_tokens = given(kwargs.get("max_completion_tokens"))
        put(
            attrs,
            sc.GEN_AI_REQUEST_MAX_TOKENS,
            max_tokens if max_tokens is not None else given(kwargs.get("max_tokens")),
        )
        put(attrs, sc.GEN_AI_REQUEST_TEMPERATURE, given(kwargs.get("temperature")))
        put(attrs, sc.GEN_AI_REQUEST_TOP_P, given(kwargs.get("top_p")))
        put(attrs, sc.GEN_AI_REQUEST_SEED, given(kwargs.get("seed")))
        put(attrs, sc.GEN_AI_REQUEST_FREQUENCY_PENALTY, given(kwargs.get("frequency_penalty")))
        put(attrs, sc.GEN_AI_REQUEST_PRESENCE_PENALTY, given(kwargs.get("presence_penalty")))
        put(attrs, sc.GEN_AI_REQUEST_STOP_SEQUENCES, stop_sequences(given(kwargs.get("stop"))))
        choices = given(kwargs.get("n"))
        if isinstance(choices, int) and choices != 1:
            attrs[sc.GEN_AI_REQUEST_CHOICE_COUNT] = choices
        put(attrs, sc.GEN_AI_OUTPUT_TYPE, _output_type(kwargs.get("response_format")))
        return inv

    def response(self, inv: Invocation, result: Any) -> None:
        inv.response_id = getattr(result, "id", None)
        inv.response_model = getattr(result, "model", None)
        inv.finish_reasons = [
            c.finish_reason for c in (getattr(result, "choices", None) or []) if c.finish_reason
        ]
        usage = getattr(result, "usage", None)
        if usage is not None:
            _usage_from_chat(inv, usage)

    def chunk(self, inv: Invocation, chunk: Any) -> None:
        if inv.response_id is None:
            inv.response_id = chunk.id
            inv.response_model = chunk.model
            inv.stream_state = {}
        for choice in chunk.choices:
            if choice.finish_reason:
                inv.stream_state[choice.index] = choice.finish_reason
        usage = chunk.usage
        if usage is not None:
            _usage_from_chat(inv, usage)

    def stream_end(self, inv: Invocation) -> None:
        if inv.stream_state:
            inv.finish_reasons = [reason for _, reason in sorted(inv.stream_state.items())]


class TextCompletions(ChatCompletions):
    """The legacy /completions API: same shapes as chat for what we record."""

    operation = sc.OPERATION_TEXT_COMPLETION


def _usage_from_responses(inv: Invocation, usage: Any) -> None:
    inv.input_tokens = getattr(usage, "input_tokens", None)
    inv.output_tokens = getattr(usage, "output_tokens", None)
    details = getattr(usage, "input_tokens_details", None)
    if details is not None:
        inv.cache_read_tokens = getattr(details, "cached_tokens", None)
    details = getattr(usage, "output_tokens_details", None)
    if details is not None:
        inv.reasoning_tokens = getattr(details, "reasoning_tokens", None)


_TERMINAL_RESPONSE_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


class Responses(Adapter):
    def request(self, instance: Any, kwargs: dict[str, Any], stream: bool) -> Invocation:
        inv = _start(sc.OPERATION_CHAT, instance, kwargs, stream)
        attrs = inv.attributes
        put(attrs, sc.GEN_AI_REQUEST_MAX_TOKENS, given(kwargs.get("max_output_tokens")))
        put(attrs, sc.GEN_AI_REQUEST_TEMPERATURE, given(kwargs.get("temperature")))
        put(attrs, sc.GEN_AI_REQUEST_TOP_P, given(kwargs.get("top_p")))
        text = given(kwargs.get("text"))
        if isinstance(text, dict):
            put(attrs, sc.GEN_AI_OUTPUT_TYPE, _output_type(text.get("format")))
        elif isinstance(kwargs.get("text_format"), type):  # responses.parse(text_format=PydanticModel)
            attrs[sc.GEN_AI_OUTPUT_TYPE] = "json"
        return inv

    def response(self, inv: Invocation, result: Any) -> None:
        inv.response_id = getattr(result, "id", None)
        inv.response_model = getattr(result, "model", None)
        status = getattr(result, "status", None)
        if status == "completed":
            inv.finish_reasons = ["stop"]
        elif status == "incomplete":
            details = getattr(result, "incomplete_details", None)
            inv.finish_reasons = [getattr(details, "reason", None) or "incomplete"]
        elif status:
            inv.finish_reasons = [status]
        usage = getattr(result, "usage", None)
        if usage is not None:
            _usage_from_responses(inv, usage)

    def chunk(self, inv: Invocation, chunk: Any) -> None:
        kind = chunk.type
        if kind in _TERMINAL_RESPONSE_EVENTS:
            self.response(inv, chunk.response)
        elif inv.response_id is None and kind == "response.created":
            inv.response_id = chunk.response.id
            inv.response_model = chunk.response.model


class Embeddings(Adapter):
    def request(self, instance: Any, kwargs: dict[str, Any], stream: bool) -> Invocation:
        inv = _start(sc.OPERATION_EMBEDDINGS, instance, kwargs, False)
        encoding = given(kwargs.get("encoding_format"))
        if isinstance(encoding, str):
            inv.attributes[sc.GEN_AI_REQUEST_ENCODING_FORMATS] = [encoding]
        put(inv.attributes, sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT, given(kwargs.get("dimensions")))
        return inv

    def response(self, inv: Invocation, result: Any) -> None:
        inv.response_model = getattr(result, "model", None)
        usage = getattr(result, "usage", None)
        if usage is not None:
            inv.input_tokens = getattr(usage, "prompt_tokens", None)
        data = getattr(result, "data", None)
        if data and isinstance(getattr(data[0], "embedding", None), list):
            inv.response_attributes[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = len(data[0].embedding)


def surfaces() -> list[Surface]:
    """Every OpenAI SDK method we patch. Helpers that call these (chat.completions.stream,
    responses.stream) are covered through them, so they are not patched themselves."""
    import openai
    from openai import _legacy_response, _response

    streams = (openai.Stream, openai.AsyncStream)
    raws = (_legacy_response.LegacyAPIResponse, _response.APIResponse, _response.AsyncAPIResponse)
    chat, text, responses, embeddings = ChatCompletions(), TextCompletions(), Responses(), Embeddings()
    table = [
        ("openai.resources.chat.completions.completions", "Completions", chat, ("create", "parse")),
        ("openai.resources.completions", "Completions", text, ("create",)),
        ("openai.resources.responses.responses", "Responses", responses, ("create", "parse")),
        ("openai.resources.embeddings", "Embeddings", embeddings, ("create",)),
    ]
    found = []
    for module, cls, adapter, methods in table:
        for method in methods:
            for prefix, is_async in (("", False), ("Async", True)):
                found.append(Surface(module, f"{prefix}{cls}.{method}", adapter, is_async, streams, raws))
    return found


# Class-level hooks: (module, attribute, async?) for stream close, raw-response parse and HTTP attempts.
STREAM_CLOSE = (("openai", "Stream.close", False), ("openai", "AsyncStream.close", True))
RAW_PARSE = (
    ("openai._legacy_response", "LegacyAPIResponse.parse", False),
    ("openai._response", "APIResponse.parse", False),
    ("openai._response", "AsyncAPIResponse.parse", True),
)
ATTEMPTS = (
    ("openai._base_client", "SyncAPIClient._send_request", False),
    ("openai._base_client", "AsyncAPIClient._send_request", True),
)

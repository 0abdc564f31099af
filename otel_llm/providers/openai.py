"""OpenAI SDK (and Azure, Bedrock and OpenAI-compatible servers) mapped onto Invocation.

Pure mapping: request kwargs -> Invocation, response objects and stream chunks -> Invocation fields.
OpenAI's `prompt_tokens` already include cached tokens and `completion_tokens` include reasoning
tokens, which is what the GenAI conventions want.
"""

from __future__ import annotations

import re
from typing import Any

from .. import messages as m
from .. import semconv as sc
from ..invocation import Invocation
from ..messages import CallContent, field, items, text_of
from ..wrapper import Adapter, Surface
from ._common import base_attributes, given, missing_finish_reason, put, server_of, stop_sequences

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
        inv.service_tier = getattr(result, "service_tier", None)
        inv.finish_reasons = [
            c.finish_reason for c in (getattr(result, "choices", None) or []) if c.finish_reason
        ]
        usage = getattr(result, "usage", None)
        if usage is not None:
            _usage_from_chat(inv, usage)

    def chunk(self, inv: Invocation, chunk: Any) -> None:
        if inv.stream_state is None:
            inv.stream_state = {}
        # Azure's first chunk (prompt filter results) has an empty id and model: take the first real ones.
        if not inv.response_id:
            inv.response_id = chunk.id or None
        if not inv.response_model:
            inv.response_model = chunk.model or None
        if inv.service_tier is None:
            inv.service_tier = getattr(chunk, "service_tier", None)  # legacy completions have none
        for choice in chunk.choices:
            if choice.finish_reason:
                inv.stream_state[choice.index] = choice.finish_reason
        usage = chunk.usage
        if usage is not None:
            _usage_from_chat(inv, usage)
        if inv.content is not None:
            self._content_chunk(inv.content, chunk)

    def stream_end(self, inv: Invocation) -> None:
        if inv.stream_state:
            inv.finish_reasons = [reason for _, reason in sorted(inv.stream_state.items())]
        if inv.content is not None:
            inv.content.output_messages = _streamed_choices(inv)

    def output_schemas(self, kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        response_format = kwargs.get("response_format")
        schema = None
        if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
            spec = response_format.get("json_schema")
            schema = spec.get("schema") if isinstance(spec, dict) else None
        tools = {}
        for tool in items(kwargs.get("tools")):  # never another iterable: the SDK has yet to read it
            function = tool.get("function") if isinstance(tool, dict) else None
            if isinstance(function, dict) and isinstance(function.get("parameters"), dict):
                tools[str(function.get("name"))] = function["parameters"]
        return schema, tools

    def input_content(self, kwargs: dict[str, Any]) -> CallContent:
        # System/developer messages stay in the chat history: the conventions keep
        # `gen_ai.system_instructions` for instructions passed separately from it.
        history = m.each(kwargs.get("messages"), _chat_message)
        tools = m.each(kwargs.get("tools"), _chat_tool_definition)
        tools += m.each(kwargs.get("functions"), _function_definition)  # pre-tools `functions=`
        return CallContent(history, None, tools)

    def output_content(self, inv: Invocation, result: Any) -> None:
        if inv.content is None:
            return
        inv.content.output_messages = m.each(field(result, "choices"), _chat_choice)

    def _content_chunk(self, content: CallContent, chunk: Any) -> None:
        state = content._stream
        if state is None:
            state = content._stream = {}
        for choice in chunk.choices:
            delta = choice.delta
            if delta is None:
                continue
            acc = state.get(choice.index)
            if acc is None:
                acc = state[choice.index] = _ChoiceStream()
            acc.add(delta)


class TextCompletions(ChatCompletions):
    """The legacy /completions API: same shapes as chat for what we record."""

    operation = sc.OPERATION_TEXT_COMPLETION

    def input_content(self, kwargs: dict[str, Any]) -> CallContent:
        return CallContent(_prompt_messages(kwargs.get("prompt")))

    def output_content(self, inv: Invocation, result: Any) -> None:
        if inv.content is None:
            return
        inv.content.output_messages = m.each(field(result, "choices"), _completion_choice)

    def _content_chunk(self, content: CallContent, chunk: Any) -> None:
        state = content._stream
        if state is None:
            state = content._stream = {}
        for choice in chunk.choices:
            if choice.text:
                acc = state.get(choice.index)
                if acc is None:
                    acc = state[choice.index] = _ChoiceStream()
                acc.text.append(choice.text)


# -- content: chat completions ----------------------------------------------------------------------

# OpenAI finish reasons -> the conventions' FinishReason values (others pass through).
_FINISH_REASONS = {"tool_calls": "tool_call", "function_call": "tool_call"}
_AUDIO_MIME = {"wav": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac", "opus": "audio/opus"}


def _prompt_messages(prompt: Any) -> list[dict[str, Any]]:
    """Completion prompts or embedding inputs: one user message, a text part per string.
    Token-id inputs (lists of ints) are not text and are left out."""
    prompts = [prompt] if isinstance(prompt, str) else [p for p in items(prompt) if isinstance(p, str)]
    return [m.message("user", [m.text_part(p) for p in prompts])] if prompts else []


def _finish(reason: Any) -> str | None:
    return _FINISH_REASONS.get(reason, reason) if isinstance(reason, str) and reason else None


def _chat_message(message: Any) -> dict[str, Any] | None:
    role = text_of(field(message, "role"))
    content = field(message, "content")
    if role is None:
        if content is None:
            return None  # not a message at all
        role = "user"
    if role == "tool":
        parts = [m.tool_call_response_part(field(message, "tool_call_id"), _tool_result(content))]
        return m.message("tool", parts)
    if role == "function":  # the pre-tools API: the function's name is all that links the result
        return m.message(
            "tool", [m.tool_call_response_part(None, _tool_result(content))], field(message, "name")
        )
    parts = _assistant_parts(message, content) if role == "assistant" else _content_parts(content)
    return m.message(role, parts, field(message, "name"))


def _content_parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [m.text_part(content)]
    if isinstance(content, list | tuple):
        return m.each(content, _content_part)
    text = text_of(content)
    return [m.text_part(text)] if text is not None else []


def _content_part(part: Any) -> dict[str, Any]:
    if isinstance(part, str):
        return m.text_part(part)
    kind = text_of(field(part, "type")) or "unknown"
    if kind == "text":
        return m.text_part(text_of(field(part, "text")) or "")
    if kind == "image_url":
        image = field(part, "image_url")
        url = image if isinstance(image, str) else text_of(field(image, "url"))
        return m.uri_part("image", url or "")
    if kind == "input_audio":
        audio = field(part, "input_audio")
        data = field(audio, "data")
        size = m.base64_size(data) if isinstance(data, str) else 0
        return m.blob_part("audio", _AUDIO_MIME.get(field(audio, "format")), size)
    if kind == "file":
        return _file_part(field(part, "file"))
    if kind == "refusal":
        return {"type": "refusal", "content": text_of(field(part, "refusal")) or ""}
    return m.generic_part(kind, part)


def _file_part(file: Any) -> dict[str, Any]:
    """A chat `file` part (documents such as PDFs): by id, or inline data left out."""
    file_id = text_of(field(file, "file_id"))
    if file_id:
        return m.file_part("document", file_id)
    data = field(file, "file_data")
    if isinstance(data, str) and data.startswith("data:"):
        return m.uri_part("document", data)
    return m.blob_part("document", None, m.base64_size(data) if isinstance(data, str) else 0)


def _tool_result(content: Any) -> Any:
    return m.response_value(_content_parts(content))


def _assistant_parts(message: Any, content: Any) -> list[dict[str, Any]]:
    """An assistant message's parts, from a request's history or a response choice alike."""
    parts: list[dict[str, Any]] = []
    # OpenAI-compatible servers (DeepSeek, vLLM, OpenRouter) return reasoning in an extra field.
    for key in ("reasoning_content", "reasoning"):
        reasoning = field(message, key)
        if isinstance(reasoning, str) and reasoning:
            parts.append(m.reasoning_part(reasoning))
            break
    if isinstance(content, str):
        if content:
            parts.append(m.text_part(content))
    elif content is not None:
        parts.extend(_content_parts(content))
    refusal = field(message, "refusal")
    if isinstance(refusal, str) and refusal:
        parts.append({"type": "refusal", "content": refusal})
    parts.extend(m.each(field(message, "tool_calls"), _tool_call))
    call = field(message, "function_call")
    if call is not None:
        parts.append(m.tool_call_part(None, field(call, "name"), field(call, "arguments")))
    audio = field(message, "audio")
    data = field(audio, "data") if audio is not None else None
    if isinstance(data, str):  # a request's history only holds the audio's id: nothing to record
        parts.append(m.blob_part("audio", None, m.base64_size(data), text_of(field(audio, "transcript"))))
    return parts


def _tool_call(call: Any) -> dict[str, Any] | None:
    if field(call, "type") == "custom":
        custom = field(call, "custom")
        part = m.tool_call_part(field(call, "id"), field(custom, "name"), None)
        part["arguments"] = text_of(field(custom, "input"))  # free-form text, not JSON
        return part
    function = field(call, "function")
    if function is None:
        return None
    return m.tool_call_part(field(call, "id"), field(function, "name"), field(function, "arguments"))


def _chat_choice(choice: Any) -> dict[str, Any]:
    message = field(choice, "message")
    parts = _assistant_parts(message, field(message, "content")) if message is not None else []
    return m.output_message(parts, _finish(field(choice, "finish_reason")))


def _completion_choice(choice: Any) -> dict[str, Any]:
    text = text_of(field(choice, "text"))
    return m.output_message([m.text_part(text)] if text else [], _finish(field(choice, "finish_reason")))


def _function_definition(function: Any) -> dict[str, Any] | None:
    name = text_of(field(function, "name"))
    if not name:
        return None
    definition: dict[str, Any] = {"type": "function", "name": name}
    description = field(function, "description")
    if description is not None:
        definition["description"] = text_of(description)
    parameters = field(function, "parameters")
    if parameters is not None:
        definition["parameters"] = m.to_json(parameters)
    return definition


def _chat_tool_definition(tool: Any) -> dict[str, Any] | None:
    kind = text_of(field(tool, "type")) or "function"
    if kind == "function":
        return _function_definition(field(tool, "function"))
    if kind == "custom":
        custom = field(tool, "custom")
        definition = {"type": "custom", "name": text_of(field(custom, "name")) or "custom"}
        description = field(custom, "description")
        if description is not None:
            definition["description"] = text_of(description)
        return definition
    return {"type": kind, "name": text_of(field(tool, "name")) or kind}


class _ChoiceStream:
    """One streamed choice's deltas, joined at the stream's end."""

    __slots__ = ("text", "reasoning", "refusal", "tools", "audio_size", "transcript")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.refusal: list[str] = []
        # tool-call index -> [id, name, argument fragments]; -1 is a pre-tools function_call.
        self.tools: dict[int, list[Any]] = {}
        self.audio_size = 0
        self.transcript: list[str] = []

    def add(self, delta: Any) -> None:
        if delta.content:
            self.text.append(delta.content)
        if delta.refusal:
            self.refusal.append(delta.refusal)
        extra = delta.model_extra  # OpenAI-compatible servers' reasoning deltas are extra fields
        if extra:
            reasoning = extra.get("reasoning_content") or extra.get("reasoning")
            if isinstance(reasoning, str):
                self.reasoning.append(reasoning)
        for call in delta.tool_calls or ():
            self._tool(call.index, call.id, call.function)
        if delta.function_call is not None:
            self._tool(-1, None, delta.function_call)
        audio = delta.audio
        if audio is not None:
            if isinstance(audio.data, str):
                self.audio_size += m.base64_size(audio.data)
            if audio.transcript:
                self.transcript.append(audio.transcript)

    def _tool(self, index: int, call_id: Any, function: Any) -> None:
        slot = self.tools.get(index)
        if slot is None:
            slot = self.tools[index] = [None, None, []]
        if call_id and not slot[0]:
            slot[0] = call_id
        if function is None:
            return
        # Servers differ on repeating the name in later deltas; the first one wins.
        if function.name and not slot[1]:
            slot[1] = function.name
        if function.arguments:
            slot[2].append(function.arguments)

    def message(self) -> dict[str, Any]:
        """The choice as the message a non-streamed response would have held."""
        calls = []
        for index, (call_id, name, fragments) in sorted(self.tools.items()):
            if index >= 0:
                calls.append(
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": name, "arguments": "".join(fragments)},
                    }
                )
        message: dict[str, Any] = {
            "content": "".join(self.text),
            "refusal": "".join(self.refusal),
            "reasoning_content": "".join(self.reasoning),
            "tool_calls": calls,
        }
        legacy = self.tools.get(-1)
        if legacy is not None:
            message["function_call"] = {"name": legacy[1], "arguments": "".join(legacy[2])}
        return message


def _streamed_choices(inv: Invocation) -> list[dict[str, Any]]:
    content = inv.content
    state: dict[int, _ChoiceStream] = (content._stream if content is not None else None) or {}
    reasons: dict[int, str] = inv.stream_state or {}
    out = []
    for index in sorted(set(state) | set(reasons)):
        acc = state.get(index)
        parts: list[dict[str, Any]] = []
        if acc is not None:
            message = acc.message()
            parts = _assistant_parts(message, message["content"])
            if acc.audio_size or acc.transcript:
                parts.append(m.blob_part("audio", None, acc.audio_size, "".join(acc.transcript)))
        out.append(m.output_message(parts, _finish(reasons.get(index)) or missing_finish_reason(inv)))
    return out


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
# An error code fit for `error.type` (bounded metric labels): OpenAI's are snake_case identifiers.
_ERROR_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_ERROR_TYPE_OTHER = "_OTHER"  # the conventions' error.type for an error with no usable code


def _failure(inv: Invocation, error: Any) -> None:
    """Record a failure the API reports in its response rather than as an HTTP error: a stream's
    `error` event (openai yields it instead of raising) or a response whose status is `failed`."""
    code = field(error, "code")
    found = isinstance(code, str) and _ERROR_CODE.fullmatch(code)
    inv.response_attributes[sc.ERROR_TYPE] = code if found else _ERROR_TYPE_OTHER


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
        inv.service_tier = getattr(result, "service_tier", None)
        status = getattr(result, "status", None)
        if status == "completed":
            inv.finish_reasons = ["stop"]
        elif status == "incomplete":
            details = getattr(result, "incomplete_details", None)
            inv.finish_reasons = [getattr(details, "reason", None) or "incomplete"]
        elif status:
            inv.finish_reasons = [status]
            if status == "failed":
                _failure(inv, getattr(result, "error", None))
        usage = getattr(result, "usage", None)
        if usage is not None:
            _usage_from_responses(inv, usage)

    def chunk(self, inv: Invocation, chunk: Any) -> None:
        kind = chunk.type
        if kind in _TERMINAL_RESPONSE_EVENTS:
            self.response(inv, chunk.response)
        elif kind == "error":
            _failure(inv, chunk)
        elif inv.response_id is None and kind == "response.created":
            inv.response_id = chunk.response.id
            inv.response_model = chunk.response.model
        if inv.content is not None:
            _response_event(inv, inv.content, chunk, kind)

    def stream_end(self, inv: Invocation) -> None:
        content = inv.content
        if content is not None and isinstance(content._stream, _ResponseStream):
            # No terminal event (truncated or closed early): what the deltas built so far.
            content.output_messages = content._stream.messages(inv)

    def input_content(self, kwargs: dict[str, Any]) -> CallContent:
        given_input = kwargs.get("input")
        history: list[dict[str, Any]] = []
        if isinstance(given_input, str):
            history.append(m.message("user", [m.text_part(given_input)]))
        else:
            _response_items(given_input, history)
        # `instructions` are given apart from the history: the conventions' system instructions.
        # (System/developer messages inside `input` stay in the history.)
        instructions = kwargs.get("instructions")
        system = None
        if isinstance(instructions, str):
            system = [m.text_part(instructions)]
        elif isinstance(instructions, list | tuple):
            system = [part for message in _response_items(instructions, []) for part in message["parts"]]
        return CallContent(history, system, m.each(kwargs.get("tools"), _response_tool_definition))

    def output_content(self, inv: Invocation, result: Any) -> None:
        if inv.content is not None:
            inv.content.output_messages = _response_messages(result)


# -- content: responses ----------------------------------------------------------------------------

# Output items of tools the app runs itself (the model asks, the client executes): tool calls.
_CLIENT_TOOL_CALLS = frozenset({"computer_call", "local_shell_call", "shell_call", "apply_patch_call"})
_ITEM_BOOKKEEPING = frozenset({"type", "id", "status", "call_id"})
_INCOMPLETE_REASONS = {"max_output_tokens": "length", "content_filter": "content_filter"}


def _response_items(values: Any, history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Append Responses input items to `history` as messages.

    A `message` item is one message. Other items (function calls and their outputs, reasoning,
    built-in tool calls) join the previous message when it has the same role, the way one chat
    message holds an assistant turn's reasoning, text and tool calls.
    """
    for item in items(values):
        try:
            role, parts = _item_parts(item)
        except Exception:
            continue
        if not role:
            continue
        if text_of(field(item, "type")) in (None, "message"):
            history.append(m.message(role, parts))
        else:
            for part in parts:
                m.append_part(history, role, part)
    return history


def _item_parts(item: Any) -> tuple[str, list[dict[str, Any]]]:
    """(role, parts) of one Responses item, input or output; role "" for what is no item."""
    kind = text_of(field(item, "type"))
    role = text_of(field(item, "role"))
    if kind in (None, "message"):
        content = field(item, "content")
        if role is None and content is None:
            return "", []
        return role or "user", _response_content(content)
    if kind == "function_call":
        return "assistant", [
            m.tool_call_part(field(item, "call_id"), field(item, "name"), field(item, "arguments"))
        ]
    if kind == "custom_tool_call":
        part = m.tool_call_part(field(item, "call_id"), field(item, "name"), None)
        part["arguments"] = text_of(field(item, "input"))  # free-form text, not JSON
        return "assistant", [part]
    if kind in ("function_call_output", "custom_tool_call_output"):
        return "tool", [
            m.tool_call_response_part(field(item, "call_id"), _response_output(field(item, "output")))
        ]
    if kind == "reasoning":
        texts = [field(s, "text") for s in items(field(item, "summary"))]
        texts += [field(c, "text") for c in items(field(item, "content"))]
        return "assistant", [m.reasoning_part(t) for t in texts if isinstance(t, str) and t]
    if kind == "image_generation_call":
        result = field(item, "result")
        size = m.base64_size(result) if isinstance(result, str) else 0
        return "assistant", [m.blob_part("image", _image_mime(field(item, "output_format")), size)]
    if kind.endswith("_output"):  # computer_call_output, local_shell_call_output, ...
        return "tool", [m.tool_call_response_part(field(item, "call_id"), m.to_json(field(item, "output")))]
    details = {k: v for k, v in (m.to_json(item) or {}).items() if k not in _ITEM_BOOKKEEPING}
    if kind in _CLIENT_TOOL_CALLS:
        return "assistant", [m.tool_call_part(field(item, "call_id"), kind[: -len("_call")], details)]
    if kind.endswith("_call"):  # built-in tools the provider runs: web_search_call, mcp_call, ...
        name = kind[: -len("_call")]
        return "assistant", [m.server_tool_call_part(field(item, "id"), name, {"type": name, **details})]
    return role or "user", [m.generic_part(kind, item)]


def _image_mime(output_format: Any) -> str | None:
    if not isinstance(output_format, str):
        return None
    return "image/svg+xml" if output_format == "svg" else f"image/{output_format}"


def _response_content(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [m.text_part(content)]
    if isinstance(content, list | tuple):
        return m.each(content, _response_content_part)
    text = text_of(content)
    return [m.text_part(text)] if text is not None else []


def _response_content_part(part: Any) -> dict[str, Any]:
    if isinstance(part, str):
        return m.text_part(part)
    kind = text_of(field(part, "type")) or "unknown"
    if kind in ("input_text", "output_text", "text"):
        return m.text_part(text_of(field(part, "text")) or "")
    if kind == "refusal":
        return {"type": "refusal", "content": text_of(field(part, "refusal")) or ""}
    if kind == "input_image":
        file_id = text_of(field(part, "file_id"))
        if file_id:
            return m.file_part("image", file_id)
        return m.uri_part("image", text_of(field(part, "image_url")) or "")
    if kind == "input_file":
        file_id = text_of(field(part, "file_id"))
        if file_id:
            return m.file_part("document", file_id)
        url = text_of(field(part, "file_url"))
        if url:
            return m.uri_part("document", url)
        return _file_part({"file_data": field(part, "file_data")})
    if kind == "input_audio":
        return _content_part(part)
    return m.generic_part(kind, part)


def _response_output(output: Any) -> Any:
    if isinstance(output, str):
        return output
    if isinstance(output, list | tuple):
        return m.response_value(m.each(output, _response_content_part))
    return m.to_json(output)


def _response_messages(response: Any) -> list[dict[str, Any]]:
    """A response's output items as one assistant message: a response is a single generation."""
    parts: list[dict[str, Any]] = []
    for item in items(field(response, "output")):
        try:
            parts.extend(_item_parts(item)[1])
        except Exception:
            continue
    return [m.output_message(parts, _response_finish(response, parts))]


def _response_finish(response: Any, parts: list[dict[str, Any]]) -> str | None:
    status = field(response, "status")
    if status == "completed":
        return "tool_call" if any(p["type"] == "tool_call" for p in parts) else "stop"
    if status == "incomplete":
        reason = field(field(response, "incomplete_details"), "reason")
        return _INCOMPLETE_REASONS.get(reason, reason) if isinstance(reason, str) else "length"
    if status == "failed":
        return "error"
    return status if isinstance(status, str) and status not in ("in_progress", "queued") else None


def _response_tool_definition(tool: Any) -> dict[str, Any] | None:
    kind = text_of(field(tool, "type")) or "function"
    if kind == "function":
        return _function_definition(tool)
    name = text_of(field(tool, "name")) or text_of(field(tool, "server_label")) or kind
    definition: dict[str, Any] = {"type": kind, "name": name}
    description = field(tool, "description")
    if kind == "custom" and description is not None:
        definition["description"] = text_of(description)
    return definition


class _ResponseStream:
    """Output items of a Responses stream as its events arrive (used only without a terminal event)."""

    __slots__ = ("items", "done", "text", "arguments", "reasoning")

    def __init__(self) -> None:
        self.items: dict[int, Any] = {}
        self.done: set[int] = set()
        self.text: dict[int, list[str]] = {}
        self.arguments: dict[int, list[str]] = {}
        self.reasoning: dict[int, list[str]] = {}

    def messages(self, inv: Invocation) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        for index in sorted(set(self.items) | set(self.text) | set(self.arguments) | set(self.reasoning)):
            try:
                parts.extend(self._parts(index))
            except Exception:
                continue
        failed = sc.ERROR_TYPE in inv.response_attributes  # an `error` event ended the stream
        reason = "error" if failed else missing_finish_reason(inv)
        return [m.output_message(parts, reason)] if parts else []

    def _parts(self, index: int) -> list[dict[str, Any]]:
        item = self.items.get(index)
        if index in self.done:
            return _item_parts(item)[1]
        kind = field(item, "type")
        if kind == "function_call" or index in self.arguments:
            arguments = "".join(self.arguments.get(index, ()))
            return [m.tool_call_part(field(item, "call_id"), field(item, "name"), arguments)]
        parts = [m.reasoning_part("".join(self.reasoning[index]))] if index in self.reasoning else []
        if index in self.text:
            parts.append(m.text_part("".join(self.text[index])))
        return parts


def _response_event(inv: Invocation, content: CallContent, event: Any, kind: str) -> None:
    if kind in _TERMINAL_RESPONSE_EVENTS:
        content.output_messages = _response_messages(event.response)
        content._stream = None
        return
    state = content._stream
    if state is None:
        if content.output_messages:
            return
        state = content._stream = _ResponseStream()
    if kind == "response.output_text.delta":
        state.text.setdefault(event.output_index, []).append(event.delta)
    elif kind == "response.function_call_arguments.delta":
        state.arguments.setdefault(event.output_index, []).append(event.delta)
    elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
        state.reasoning.setdefault(event.output_index, []).append(event.delta)
    elif kind == "response.output_item.added":
        state.items[event.output_index] = event.item
    elif kind == "response.output_item.done":
        state.items[event.output_index] = event.item
        state.done.add(event.output_index)


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

    def input_content(self, kwargs: dict[str, Any]) -> CallContent:
        return CallContent(_prompt_messages(kwargs.get("input")))

    def output_content(self, inv: Invocation, result: Any) -> None:
        """Vectors are not messages: embeddings have no output messages."""


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
STREAM_CLOSE = (
    ("openai", "Stream.close", False),
    ("openai", "AsyncStream.close", True),
    # The stream helpers' close() closes the HTTP response, not their Stream: hooked apart.
    ("openai.lib.streaming.chat._completions", "ChatCompletionStream.close", False),
    ("openai.lib.streaming.chat._completions", "AsyncChatCompletionStream.close", True),
    ("openai.lib.streaming.responses._responses", "ResponseStream.close", False),
    ("openai.lib.streaming.responses._responses", "AsyncResponseStream.close", True),
)
RAW_PARSE = (
    ("openai._legacy_response", "LegacyAPIResponse.parse", False),
    ("openai._response", "APIResponse.parse", False),
    ("openai._response", "AsyncAPIResponse.parse", True),
)
ATTEMPTS = (
    ("openai._base_client", "SyncAPIClient._send_request", False),
    ("openai._base_client", "AsyncAPIClient._send_request", True),
)

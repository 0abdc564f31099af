"""Request kwargs, responses and stream chunks of the real SDKs -> the GenAI conventions' message JSON.

Real clients talk to the mock provider WITHOUT instrumentation to obtain real response and chunk
objects; those are fed to the adapters' content methods directly, the way the core calls them.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import anthropic
import openai
import pytest
from anthropic.types import (
    Message,
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawContentBlockStopEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
)
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response

from otel_llm import messages as m
from otel_llm import semconv as sc
from otel_llm.invocation import Invocation
from otel_llm.messages import OMITTED_BYTES, CallContent
from otel_llm.providers import anthropic as anthropic_provider
from otel_llm.providers import openai as openai_provider
from otel_llm.testing import default_output_text

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40).decode()
PNG_URL = f"data:image/png;base64,{PNG}"
PDF = base64.b64encode(b"%PDF-1.7 " + bytes(range(256)) * 8).decode()
WAV = base64.b64encode(b"RIFF" + bytes(200)).decode()
WEATHER_PARAMETERS = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
CHAT_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": WEATHER_PARAMETERS,
        },
    }
]
MOCK_ARGUMENTS = {"city": "mock city"}
TEXT = default_output_text(12)
CHUNKS = {"x-mock-chunks": "12"}


# -- helpers ---------------------------------------------------------------------------------------


def run(adapter: Any, resource: Any, kwargs: dict[str, Any], headers: dict[str, str] | None = None):
    """One call the way the core drives an adapter: request, input_content, then the result."""
    stream = bool(kwargs.get("stream"))
    inv = adapter.request(resource, kwargs, stream)
    inv.content = adapter.input_content(kwargs)
    result = resource.create(**kwargs, extra_headers=headers or {})
    if stream:
        for chunk in result:
            adapter.chunk(inv, chunk)
        finish_stream(adapter, inv, "complete")
    else:
        adapter.response(inv, result)
        adapter.output_content(inv, result)
    check(inv.content)
    return inv.content, result


def feed(adapter: Any, resource: Any, kwargs: dict[str, Any], chunks: list[Any], how: str) -> Invocation:
    inv = adapter.request(resource, kwargs, True)
    inv.content = adapter.input_content(kwargs)
    for chunk in chunks:
        adapter.chunk(inv, chunk)
    finish_stream(adapter, inv, how)
    check(inv.content)
    return inv


def finish_stream(adapter: Any, inv: Invocation, how: str) -> None:
    inv.response_attributes[sc.STREAM_END] = how  # what the wrapper sets before stream_end
    adapter.stream_end(inv)


# Required properties per part type, from the semantic-conventions-genai JSON schemas.
PART_REQUIRED = {
    "text": {"content"},
    "tool_call": {"name"},
    "tool_call_response": {"response"},
    "server_tool_call": {"name", "server_tool_call"},
    "server_tool_call_response": {"server_tool_call_response"},
    "blob": {"modality", "content"},
    "file": {"modality", "file_id"},
    "uri": {"modality", "uri"},
    "reasoning": {"content"},
}


def check(content: CallContent) -> None:
    """Every structure is strict JSON and follows the schemas' required shapes."""
    for value in (
        content.input_messages,
        content.system_instructions,
        content.tool_definitions,
        content.output_messages,
    ):
        json.dumps(value, allow_nan=False)
    for message in content.input_messages + content.output_messages:
        assert isinstance(message["role"], str)
        for part in message["parts"]:
            check_part(part)
    for part in content.system_instructions or []:
        check_part(part)
    for tool in content.tool_definitions or []:
        assert isinstance(tool["type"], str) and isinstance(tool["name"], str), tool


def check_part(part: dict[str, Any]) -> None:
    assert isinstance(part["type"], str), part
    assert PART_REQUIRED.get(part["type"], set()) <= part.keys(), part
    if part["type"] in ("text", "reasoning"):
        assert isinstance(part["content"], str)


def dumped(content: CallContent) -> str:
    return json.dumps(
        [
            content.input_messages,
            content.system_instructions,
            content.tool_definitions,
            content.output_messages,
        ]
    )


def text_out(text: str, finish: str = "stop") -> list[dict[str, Any]]:
    return [{"role": "assistant", "parts": [{"type": "text", "content": text}], "finish_reason": finish}]


# -- OpenAI chat completions ---------------------------------------------------------------------


def test_chat_history_keeps_system_messages_and_records_media_without_their_data(openai_client):
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in English."}]},
        {
            "role": "user",
            "name": "ada",
            "content": [
                {"type": "text", "text": "What is in these?"},
                {"type": "image_url", "image_url": {"url": PNG_URL, "detail": "low"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
                {"type": "input_audio", "input_audio": {"data": WAV, "format": "wav"}},
                {"type": "file", "file": {"file_id": "file-abc"}},
                {
                    "type": "file",
                    "file": {"file_data": f"data:application/pdf;base64,{PDF}", "filename": "a.pdf"},
                },
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "rainy, 57°F"},
    ]
    content, _ = run(
        openai_provider.ChatCompletions(),
        openai_client.chat.completions,
        {"model": "gpt-4o", "messages": messages},
    )
    assert content.system_instructions is None
    assert content.tool_definitions is None
    assert content.input_messages == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "developer", "parts": [{"type": "text", "content": "Answer in English."}]},
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "What is in these?"},
                {
                    "type": "blob",
                    "modality": "image",
                    "mime_type": "image/png",
                    "content": "",
                    OMITTED_BYTES: len(PNG) * 3 // 4,
                },
                {"type": "uri", "modality": "image", "uri": "https://example.com/cat.jpg"},
                {
                    "type": "blob",
                    "modality": "audio",
                    "mime_type": "audio/wav",
                    "content": "",
                    OMITTED_BYTES: len(WAV) * 3 // 4,
                },
                {"type": "file", "modality": "document", "file_id": "file-abc"},
                {
                    "type": "blob",
                    "modality": "document",
                    "mime_type": "application/pdf",
                    "content": "",
                    OMITTED_BYTES: len(PDF) * 3 // 4,
                },
            ],
            "name": "ada",
        },
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}
            ],
        },
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "call_1", "response": "rainy, 57°F"}],
        },
    ]
    everything = dumped(content)
    for payload in (PNG, WAV, PDF):
        assert payload[:64] not in everything
    assert content.output_messages == text_out(default_output_text())


def test_chat_tool_definitions_and_tool_call_output(openai_client):
    content, result = run(
        openai_provider.ChatCompletions(),
        openai_client.chat.completions,
        {
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": "Weather in Paris?"}],
            "tools": CHAT_TOOLS,
        },
    )
    assert content.tool_definitions == [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": WEATHER_PARAMETERS,
        }
    ]
    call = result.choices[0].message.tool_calls[0]
    assert content.output_messages == [
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": call.id, "name": "get_weather", "arguments": MOCK_ARGUMENTS}
            ],
            "finish_reason": "tool_call",
        }
    ]


def test_chat_stream_text_equals_the_non_streamed_text(openai_client):
    kwargs = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Tell me a story"}], "n": 2}
    adapter = openai_provider.ChatCompletions()
    plain, _ = run(adapter, openai_client.chat.completions, kwargs, CHUNKS)
    streamed, _ = run(
        adapter,
        openai_client.chat.completions,
        {**kwargs, "stream": True, "stream_options": {"include_usage": True}},
        CHUNKS,
    )
    assert plain.output_messages == text_out(TEXT) * 2
    assert streamed.output_messages == plain.output_messages
    assert streamed.input_messages == plain.input_messages


def test_chat_streamed_tool_call_arguments_are_reassembled(openai_client):
    kwargs = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Weather?"}], "tools": CHAT_TOOLS}
    adapter = openai_provider.ChatCompletions()
    plain, result = run(adapter, openai_client.chat.completions, kwargs)
    streamed, _ = run(adapter, openai_client.chat.completions, {**kwargs, "stream": True})
    [message] = streamed.output_messages
    [part] = message["parts"]
    assert part["arguments"] == MOCK_ARGUMENTS
    assert part["id"].startswith("call_") and part["name"] == "get_weather"
    assert message["finish_reason"] == "tool_call"
    assert plain.output_messages[0]["parts"][0]["arguments"] == MOCK_ARGUMENTS


def test_chat_response_message_objects_fed_back_into_the_history(openai_client):
    adapter = openai_provider.ChatCompletions()
    first = openai_client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Weather?"}], tools=CHAT_TOOLS
    )
    reply = first.choices[0].message  # the SDK object itself, as agent loops append it
    call = reply.tool_calls[0]
    history = [
        {"role": "user", "content": "Weather?"},
        reply,
        {"role": "tool", "tool_call_id": call.id, "content": [{"type": "text", "text": "sunny"}]},
    ]
    content, _ = run(adapter, openai_client.chat.completions, {"model": "gpt-4o", "messages": history})
    assert content.input_messages[1:] == [
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": call.id, "name": "get_weather", "arguments": MOCK_ARGUMENTS}
            ],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": call.id, "response": "sunny"}]},
    ]


def test_chat_stream_cut_short_keeps_the_text_so_far(openai_client):
    kwargs = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Tell me a story"}], "stream": True}
    adapter = openai_provider.ChatCompletions()
    chunks = list(openai_client.chat.completions.create(**kwargs, extra_headers=CHUNKS))
    closed = feed(adapter, openai_client.chat.completions, kwargs, chunks[:4], "closed")
    # The role chunk, then three words; a stream closed by the app did not finish: no reason.
    assert closed.content.output_messages == [
        {"role": "assistant", "parts": [{"type": "text", "content": "The mock provider"}]}
    ]
    failed = feed(adapter, openai_client.chat.completions, kwargs, chunks[:4], "error")
    assert failed.content.output_messages[0]["finish_reason"] == "error"


def test_chat_reasoning_of_openai_compatible_servers(openai_client):
    """DeepSeek/vLLM-style `reasoning_content` extra fields, streamed and not."""
    base = {"id": "c1", "created": 0, "model": "deepseek-reasoner"}
    completion = ChatCompletion.model_validate(
        {
            **base,
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "42", "reasoning_content": "6 times 7."},
                }
            ],
        }
    )
    chunks = [
        ChatCompletionChunk.model_validate(
            {
                **base,
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "finish_reason": reason}],
            }
        )
        for delta, reason in (
            ({"role": "assistant", "reasoning_content": "6 times "}, None),
            ({"reasoning_content": "7."}, None),
            ({"content": "42"}, None),
            ({}, "stop"),
        )
    ]
    expected = [
        {
            "role": "assistant",
            "parts": [{"type": "reasoning", "content": "6 times 7."}, {"type": "text", "content": "42"}],
            "finish_reason": "stop",
        }
    ]
    adapter = openai_provider.ChatCompletions()
    kwargs = {"model": "deepseek-reasoner", "messages": [{"role": "user", "content": "6*7?"}]}
    inv = adapter.request(openai_client.chat.completions, kwargs, False)
    inv.content = adapter.input_content(kwargs)
    adapter.output_content(inv, completion)
    assert inv.content.output_messages == expected
    streamed = feed(adapter, openai_client.chat.completions, {**kwargs, "stream": True}, chunks, "complete")
    assert streamed.content.output_messages == expected


def test_content_off_leaves_the_stream_path_untouched(openai_client):
    adapter = openai_provider.ChatCompletions()
    kwargs = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    inv = adapter.request(openai_client.chat.completions, kwargs, True)
    for chunk in openai_client.chat.completions.create(**kwargs):
        adapter.chunk(inv, chunk)
    adapter.stream_end(inv)
    assert inv.content is None
    assert inv.finish_reasons == ["stop"]


# -- OpenAI legacy completions and embeddings ----------------------------------------------------


def test_text_completion_prompt_and_output(openai_client):
    adapter = openai_provider.TextCompletions()
    kwargs = {"model": "gpt-3.5-turbo-instruct", "prompt": "Once upon a time"}
    plain, _ = run(adapter, openai_client.completions, kwargs, CHUNKS)
    streamed, _ = run(adapter, openai_client.completions, {**kwargs, "stream": True}, CHUNKS)
    assert plain.input_messages == [
        {"role": "user", "parts": [{"type": "text", "content": "Once upon a time"}]}
    ]
    assert plain.output_messages == text_out(TEXT)
    assert streamed.output_messages == plain.output_messages


def test_embeddings_input_is_user_text_without_output_messages(openai_client):
    adapter = openai_provider.Embeddings()
    content, _ = run(
        adapter, openai_client.embeddings, {"model": "text-embedding-3-small", "input": ["first", "second"]}
    )
    assert content.input_messages == [
        {
            "role": "user",
            "parts": [{"type": "text", "content": "first"}, {"type": "text", "content": "second"}],
        }
    ]
    assert content.output_messages == []
    tokens = adapter.input_content({"input": [[1, 2, 3]]})
    assert tokens.input_messages == []


# -- OpenAI Responses ------------------------------------------------------------------------------


def test_responses_string_input_and_instructions(openai_client):
    adapter = openai_provider.Responses()
    kwargs = {"model": "gpt-4o", "input": "Tell me a story", "instructions": "Be brief."}
    plain, _ = run(adapter, openai_client.responses, kwargs, CHUNKS)
    streamed, _ = run(adapter, openai_client.responses, {**kwargs, "stream": True}, CHUNKS)
    assert plain.system_instructions == [{"type": "text", "content": "Be brief."}]
    assert plain.input_messages == [
        {"role": "user", "parts": [{"type": "text", "content": "Tell me a story"}]}
    ]
    assert plain.output_messages == text_out(TEXT)
    assert streamed.output_messages == plain.output_messages


def test_responses_item_list_input(openai_client):
    adapter = openai_provider.Responses()
    first = openai_client.responses.create(
        model="gpt-4o", input="Tell me a story", extra_headers={"x-mock-output": "Once upon a time"}
    )
    reasoning = {
        "type": "reasoning",
        "id": "rs_1",
        "summary": [{"type": "summary_text", "text": "Paris weather needed."}],
    }
    items = [
        {"role": "system", "content": "You are a helpful assistant"},
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "Look at these"},
                {"type": "input_image", "image_url": PNG_URL, "detail": "auto"},
                {"type": "input_image", "file_id": "file-img", "detail": "auto"},
                {"type": "input_file", "file_id": "file-doc"},
                {"type": "input_file", "file_data": PDF, "filename": "a.pdf"},
            ],
        },
        *first.output,  # the SDK's output message object, fed back as agents do
        reasoning,
        {
            "type": "function_call",
            "call_id": "call_9",
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
        },
        {"type": "function_call_output", "call_id": "call_9", "output": "rainy"},
    ]
    content, _ = run(adapter, openai_client.responses, {"model": "gpt-4o", "input": items})
    assert content.system_instructions is None
    size = len(PNG) * 3 // 4
    assert content.input_messages == [
        {"role": "system", "parts": [{"type": "text", "content": "You are a helpful assistant"}]},
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "Look at these"},
                {
                    "type": "blob",
                    "modality": "image",
                    "mime_type": "image/png",
                    "content": "",
                    OMITTED_BYTES: size,
                },
                {"type": "file", "modality": "image", "file_id": "file-img"},
                {"type": "file", "modality": "document", "file_id": "file-doc"},
                {"type": "blob", "modality": "document", "content": "", OMITTED_BYTES: len(PDF) * 3 // 4},
            ],
        },
        {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": "Once upon a time"},
                {"type": "reasoning", "content": "Paris weather needed."},
                {"type": "tool_call", "id": "call_9", "name": "get_weather", "arguments": {"city": "Paris"}},
            ],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_9", "response": "rainy"}]},
    ]
    assert PNG[:64] not in dumped(content) and PDF[:64] not in dumped(content)


def test_responses_tools_and_tool_call_output(openai_client):
    adapter = openai_provider.Responses()
    tools = [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Weather",
            "parameters": WEATHER_PARAMETERS,
        },
        {"type": "web_search"},
    ]
    kwargs = {"model": "gpt-4o", "input": "Weather?", "tools": tools}
    plain, result = run(adapter, openai_client.responses, kwargs)
    streamed, _ = run(adapter, openai_client.responses, {**kwargs, "stream": True})
    assert plain.tool_definitions == [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Weather",
            "parameters": WEATHER_PARAMETERS,
        },
        {"type": "web_search", "name": "web_search"},
    ]
    call = result.output[-1]
    assert plain.output_messages == [
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": call.call_id, "name": "get_weather", "arguments": MOCK_ARGUMENTS}
            ],
            "finish_reason": "tool_call",
        }
    ]
    [message] = streamed.output_messages
    assert message["parts"][0]["arguments"] == MOCK_ARGUMENTS
    assert message["finish_reason"] == "tool_call"


def test_responses_reasoning_summary_in_output(openai_client):
    result = openai_client.responses.create(
        model="o4-mini", input="Think", extra_headers={"x-mock-reasoning-tokens": "8"}
    )
    data = result.model_dump(mode="json")
    data["output"][0]["summary"] = [{"type": "summary_text", "text": "Considering options."}]
    adapter = openai_provider.Responses()
    inv = adapter.request(openai_client.responses, {"model": "o4-mini"}, False)
    inv.content = adapter.input_content({"model": "o4-mini", "input": "Think"})
    adapter.output_content(inv, Response.model_validate(data))
    assert inv.content.output_messages == [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "Considering options."},
                {"type": "text", "content": default_output_text()},
            ],
            "finish_reason": "stop",
        }
    ]


def test_responses_stream_without_terminal_event_is_rebuilt_from_deltas(openai_client):
    adapter = openai_provider.Responses()
    for kwargs, expected in (
        ({"model": "gpt-4o", "input": "Tell me a story"}, [{"type": "text", "content": TEXT}]),
        (
            {
                "model": "gpt-4o",
                "input": "Weather?",
                "tools": [{"type": "function", "name": "get_weather", "parameters": WEATHER_PARAMETERS}],
            },
            [{"type": "tool_call", "name": "get_weather", "arguments": MOCK_ARGUMENTS}],
        ),
    ):
        kwargs["stream"] = True
        events = list(openai_client.responses.create(**kwargs, extra_headers=CHUNKS))
        assert events[-1].type == "response.completed"
        # Cut before the item is done: only deltas are known.
        cut = [e for e in events if e.type not in ("response.output_item.done", "response.completed")]
        inv = feed(adapter, openai_client.responses, kwargs, cut, "error")
        [message] = inv.content.output_messages
        parts = [{k: v for k, v in p.items() if k != "id"} for p in message["parts"]]
        assert parts == expected
        assert message["finish_reason"] == "error"


# -- Anthropic -----------------------------------------------------------------------------------


def test_anthropic_system_string_and_list_forms(anthropic_client):
    adapter = anthropic_provider.Messages()
    base = {"model": "claude-haiku-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": "Hello"}]}
    text, _ = run(adapter, anthropic_client.messages, {**base, "system": "Be brief."})
    blocks, _ = run(
        adapter,
        anthropic_client.messages,
        {
            **base,
            "system": [
                {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "Answer in French."},
            ],
        },
    )
    none, _ = run(adapter, anthropic_client.messages, base)
    assert text.system_instructions == [{"type": "text", "content": "Be brief."}]
    assert blocks.system_instructions == [
        {"type": "text", "content": "Be brief."},
        {"type": "text", "content": "Answer in French."},
    ]
    assert none.system_instructions is None
    assert text.input_messages == [{"role": "user", "parts": [{"type": "text", "content": "Hello"}]}]
    assert text.output_messages == text_out(default_output_text())


def test_anthropic_history_with_media_thinking_and_tool_results(anthropic_client):
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
                {
                    "type": "document",
                    "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
                },
                {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "Notes"}},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Need the weather.", "signature": "sig"},
                {"type": "redacted_thinking", "data": "c2VjcmV0"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "rainy"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": [
                        {"type": "text", "text": "map:"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/jpeg", "data": PNG},
                        },
                    ],
                },
                {"type": "text", "text": "Thanks"},
            ],
        },
    ]
    content, _ = run(
        anthropic_provider.Messages(),
        anthropic_client.messages,
        {"model": "claude-haiku-4-5", "max_tokens": 50, "messages": messages},
    )
    size = len(PNG) * 3 // 4
    assert content.input_messages == [
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "What is this?"},
                {
                    "type": "blob",
                    "modality": "image",
                    "mime_type": "image/png",
                    "content": "",
                    OMITTED_BYTES: size,
                },
                {"type": "uri", "modality": "image", "uri": "https://example.com/cat.jpg"},
                {
                    "type": "blob",
                    "modality": "document",
                    "mime_type": "application/pdf",
                    "content": "",
                    OMITTED_BYTES: len(PDF) * 3 // 4,
                },
                {"type": "text", "content": "Notes"},
            ],
        },
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "Need the weather."},
                {"type": "redacted_thinking"},
                {"type": "text", "content": "Checking."},
                {"type": "tool_call", "id": "toolu_1", "name": "get_weather", "arguments": {"city": "Paris"}},
            ],
        },
        {
            "role": "tool",
            "parts": [
                {"type": "tool_call_response", "id": "toolu_1", "response": "rainy"},
                {
                    "type": "tool_call_response",
                    "id": "toolu_2",
                    "response": [
                        {"type": "text", "content": "map:"},
                        {
                            "type": "blob",
                            "modality": "image",
                            "mime_type": "image/jpeg",
                            "content": "",
                            OMITTED_BYTES: size,
                        },
                    ],
                },
            ],
        },
        {"role": "user", "parts": [{"type": "text", "content": "Thanks"}]},
    ]
    assert PNG[:64] not in dumped(content) and PDF[:64] not in dumped(content)
    assert "c2VjcmV0" not in dumped(content)


def test_anthropic_tools_and_tool_use_output_streamed_and_not(anthropic_client):
    tools = [
        {"name": "get_weather", "description": "Weather for a city", "input_schema": WEATHER_PARAMETERS},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
    ]
    kwargs = {
        "model": "claude-haiku-4-5",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "Weather?"}],
        "tools": tools,
    }
    adapter = anthropic_provider.Messages()
    plain, result = run(adapter, anthropic_client.messages, kwargs)
    streamed, _ = run(adapter, anthropic_client.messages, {**kwargs, "stream": True})
    assert plain.tool_definitions == [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": WEATHER_PARAMETERS,
        },
        {"type": "web_search_20250305", "name": "web_search"},
    ]
    block = result.content[0]
    assert plain.output_messages == [
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": block.id, "name": "get_weather", "arguments": MOCK_ARGUMENTS}
            ],
            "finish_reason": "tool_call",
        }
    ]
    [message] = streamed.output_messages
    assert message["parts"][0]["arguments"] == MOCK_ARGUMENTS
    assert message["finish_reason"] == "tool_call"


def test_anthropic_stream_text_equals_the_non_streamed_text(anthropic_client):
    kwargs = {
        "model": "claude-haiku-4-5",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "Story"}],
    }
    adapter = anthropic_provider.Messages()
    plain, _ = run(adapter, anthropic_client.messages, kwargs, CHUNKS)
    streamed, _ = run(adapter, anthropic_client.messages, {**kwargs, "stream": True}, CHUNKS)
    assert plain.output_messages == text_out(TEXT)
    assert streamed.output_messages == plain.output_messages


def test_anthropic_response_blocks_fed_back_into_the_history(anthropic_client):
    tools = [{"name": "get_weather", "input_schema": WEATHER_PARAMETERS}]
    first = anthropic_client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=50,
        messages=[{"role": "user", "content": "Weather?"}],
        tools=tools,
    )
    history = [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": first.content},  # SDK block objects, as agent loops do
    ]
    content = anthropic_provider.Messages().input_content({"messages": history, "tools": tools})
    check(content)
    assert content.input_messages[1] == {
        "role": "assistant",
        "parts": [
            {
                "type": "tool_call",
                "id": first.content[0].id,
                "name": "get_weather",
                "arguments": MOCK_ARGUMENTS,
            }
        ],
    }
    assert content.tool_definitions == [
        {"type": "function", "name": "get_weather", "parameters": WEATHER_PARAMETERS}
    ]


def _thinking_message() -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [
            {"type": "thinking", "thinking": "The user greets me.", "signature": "sig"},
            {"type": "text", "text": "Hello!"},
        ],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 9},
    }


def test_anthropic_thinking_blocks_streamed_and_not(anthropic_client):
    adapter = anthropic_provider.Messages()
    kwargs = {"model": "claude-sonnet-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}]}
    expected = [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "The user greets me."},
                {"type": "text", "content": "Hello!"},
            ],
            "finish_reason": "stop",
        }
    ]
    inv = adapter.request(anthropic_client.messages, kwargs, False)
    inv.content = adapter.input_content(kwargs)
    message = Message.model_validate(_thinking_message())
    adapter.response(inv, message)
    adapter.output_content(inv, message)
    assert inv.content.output_messages == expected

    start = {**_thinking_message(), "content": [], "stop_reason": None}
    events = [
        RawMessageStartEvent.model_validate({"type": "message_start", "message": start}),
        RawContentBlockStartEvent.model_validate(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "thinking", "thinking": "", "signature": ""},
            }
        ),
        *(
            RawContentBlockDeltaEvent.model_validate(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "thinking_delta", "thinking": piece},
                }
            )
            for piece in ("The user ", "greets me.")
        ),
        RawContentBlockDeltaEvent.model_validate(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "signature_delta", "signature": "sig"},
            }
        ),
        RawContentBlockStopEvent.model_validate({"type": "content_block_stop", "index": 0}),
        RawContentBlockStartEvent.model_validate(
            {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}
        ),
        RawContentBlockDeltaEvent.model_validate(
            {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hello!"}}
        ),
        RawContentBlockStopEvent.model_validate({"type": "content_block_stop", "index": 1}),
        RawMessageDeltaEvent.model_validate(
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}}
        ),
    ]
    streamed = feed(adapter, anthropic_client.messages, {**kwargs, "stream": True}, events, "complete")
    assert streamed.content.output_messages == expected
    assert streamed.finish_reasons == ["end_turn"]


# -- odd input -----------------------------------------------------------------------------------


class Hostile:
    """An object whose every attribute read raises."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"no {name}")

    def __str__(self) -> str:
        raise RuntimeError("no str")


class Opaque:
    def __str__(self) -> str:
        return "opaque-object"


def _odd_messages() -> list[Any]:
    deep: dict[str, Any] = {}
    cursor = deep
    for _ in range(100):
        cursor["next"] = {}
        cursor = cursor["next"]
    return [
        None,
        Hostile(),
        42,
        {"role": "user", "content": None},
        {"role": "user", "content": 7},
        {
            "role": "user",
            "content": [None, Hostile(), {"type": "mystery", "blob": b"\x00\x01"}, {"text": "typeless"}],
        },
        {"role": "user", "content": (p for p in ["generator content"])},
        {
            "role": "assistant",
            "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{not json"}}],
        },
        {
            "role": "assistant",
            "tool_calls": [Hostile(), {"function": {"name": "g", "arguments": {"x": {1, 2}}}}],
        },
        {
            "role": "tool",
            "tool_call_id": Hostile(),
            "content": [{"type": "text", "text": "ok"}, {"type": "x"}],
        },
        {"role": "user", "content": [{"type": "text", "text": "nan", "extra": math.nan}]},
        {
            "role": Hostile(),
            "content": [{"type": "weird", "payload": {"deep": deep, "obj": Opaque(), "n": math.inf}}],
        },
        {"type": "function_call", "call_id": None, "name": None, "arguments": "NaN"},
        {
            "type": "function_call_output",
            "call_id": "c",
            "output": [Hostile(), {"type": "input_text", "text": "t"}],
        },
        {"type": "reasoning", "summary": None, "content": [{"text": 3}]},
        {"type": "web_search_call", "id": "ws", "action": {"query": "q", "raw": PNG}},
        {"type": "unknown_item", "data": Hostile()},
        {
            "role": "user",
            "content": [{"type": "image", "source": None}, {"type": "document", "source": Hostile()}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": 5, "content": None}]},
    ]


@pytest.mark.parametrize(
    "adapter",
    [
        openai_provider.ChatCompletions(),
        openai_provider.TextCompletions(),
        openai_provider.Responses(),
        openai_provider.Embeddings(),
        anthropic_provider.Messages(),
    ],
    ids=lambda a: type(a).__name__,
)
def test_odd_input_never_raises_and_stays_json(adapter):
    generator = (x for x in [{"role": "user", "content": "not yet consumed"}])
    kwargs_variants = [
        {},
        {"messages": None, "input": None, "prompt": None, "tools": None, "system": None},
        {"messages": _odd_messages(), "input": _odd_messages(), "prompt": [Hostile(), "p", 3]},
        {"messages": generator, "input": generator, "tools": generator},
        {
            "tools": [
                None,
                Hostile(),
                {"type": "function"},
                {"type": "function", "function": Hostile()},
                {"name": 3},
            ]
        },
        {
            "system": [Hostile(), {"type": "text", "text": None}],
            "instructions": [{"role": "system", "content": "i"}],
        },
        {"messages": openai.NOT_GIVEN, "system": anthropic.NOT_GIVEN, "tools": openai.NOT_GIVEN},
    ]
    for kwargs in kwargs_variants:
        content = adapter.input_content(kwargs)
        check(content)
    # Apps may pass generators; the SDK must still find them unread.
    assert next(generator) == {"role": "user", "content": "not yet consumed"}
    # Output of an odd result object.
    inv = Invocation("chat", "openai", "m", {})
    inv.content = CallContent()
    for result in (None, Hostile(), {"choices": [None, {"message": Hostile()}]}, {"output": [Hostile()]}):
        adapter.output_content(inv, result)
        check(inv.content)


def test_json_helpers_never_raise():
    assert m.parse_arguments('{"a": 1}') == {"a": 1}
    assert m.parse_arguments("{not json") == "{not json"
    assert m.parse_arguments('{"x": NaN}') == {"x": "NaN"}
    assert m.parse_arguments("") == ""
    assert m.to_json({"b": b"abc", "s": {1}, "o": Opaque(), "h": Hostile(), "f": math.nan, 3: "k"}) == {
        "b": "<3 bytes omitted>",
        "s": [1],
        "o": "opaque-object",
        "h": "<Hostile>",
        "f": "nan",
        "3": "k",
    }
    assert m.to_json({"image": PNG_URL}) == {
        "image": f"<image/png data URL, {len(PNG) * 3 // 4} bytes omitted>"
    }
    assert m.to_json(PNG).startswith("<base64 data,")
    prose = "word " * 200
    assert m.to_json(prose) == prose
    assert m.to_json({"a": openai.NOT_GIVEN, "b": None}) == {"b": None}
    assert m.to_json(openai.types.CompletionUsage(prompt_tokens=1, completion_tokens=2, total_tokens=3)) == {
        "prompt_tokens": 1,
        "completion_tokens": 2,
        "total_tokens": 3,
    }
    assert m.field(Hostile(), "x") is None
    assert (
        repr(CallContent([{"role": "user", "parts": []}]))
        == "CallContent(input_messages=1, output_messages=0)"
    )

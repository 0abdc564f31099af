"""Tests of otel_llm.testing (the mock LLM provider), driven through the real openai/anthropic SDK clients."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Literal

import anthropic
import httpx2
import openai
import pytest
from pydantic import BaseModel

from otel_llm.testing import (
    MockProvider,
    async_mock_transport,
    build_response,
    default_output_text,
    mock_transport,
    schema_example,
    split_pieces,
)

REPO = Path(__file__).resolve().parents[1]
CLAUDE = "claude-sonnet-5"  # a current (non-deprecated) model name, so the SDK emits no warning
PROMPT = "What is the weather in Paris today?"  # 7 words -> 7 + 3 = 10 input tokens
MESSAGES = [{"role": "user", "content": PROMPT}]
DEFAULT_TEXT = "The mock provider wrote this"
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
    "required": ["city"],
}
CHAT_TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}}]
ANTHROPIC_TOOLS = [
    {
        "name": "get_weather",
        "description": "Weather for a city",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
            "required": ["city", "days"],
        },
    }
]


@pytest.fixture(scope="module")
def mock() -> MockProvider:
    with MockProvider() as provider:
        yield provider


@pytest.fixture(autouse=True)
def _clean(mock: MockProvider) -> None:
    mock.reset()
    mock.response_model_overrides.clear()


@pytest.fixture
def oai(mock: MockProvider) -> openai.OpenAI:
    with openai.OpenAI(base_url=mock.openai_base_url, api_key="x", max_retries=0) as client:
        yield client


@pytest.fixture
def ant(mock: MockProvider) -> anthropic.Anthropic:
    with anthropic.Anthropic(base_url=mock.anthropic_base_url, api_key="x", max_retries=0) as client:
        yield client


# ----------------------------------------------------------------------------------------------------------
# Basics and token formula
# ----------------------------------------------------------------------------------------------------------


def test_token_helpers() -> None:
    assert default_output_text() == DEFAULT_TEXT
    assert default_output_text(12).split()[10:] == ["The", "mock"]  # the word list cycles
    assert split_pieces("a  b c ") == ("a", "  b", " c ")
    assert "".join(split_pieces(" x y")) == " x y"
    assert split_pieces("") == ()


def test_schema_example_handles_refs_and_combinators() -> None:
    schema = {
        "type": "object",
        "$defs": {"Item": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 5}}}},
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}, "minItems": 2},
            "maybe": {"anyOf": [{"type": "null"}, {"type": "number"}]},
            "when": {"type": "string", "format": "date-time"},
            "flag": {"type": "boolean"},
            "kind": {"const": "k"},
        },
    }
    assert schema_example(schema) == {
        "items": [{"n": 5}, {"n": 5}],
        "maybe": 1.5,
        "when": "2025-01-01T00:00:00Z",
        "flag": True,
        "kind": "k",
    }


def test_openai_chat_json(mock: MockProvider, oai: openai.OpenAI) -> None:
    r = oai.chat.completions.create(model="gpt-5", messages=MESSAGES)
    assert r.object == "chat.completion"
    assert r.model == "gpt-5"
    assert r.choices[0].message.content == DEFAULT_TEXT
    assert r.choices[0].finish_reason == "stop"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (10, 5, 15)
    assert r.usage.prompt_tokens_details.cached_tokens == 0
    assert r.usage.completion_tokens_details.reasoning_tokens == 0
    assert r._request_id.startswith("req_")

    [req] = mock.requests
    assert req["method"] == "POST" and req["path"] == "/v1/chat/completions"
    assert req["headers"]["authorization"] == "Bearer x"
    assert req["json"]["messages"] == MESSAGES


def test_openai_multi_turn_input_tokens(oai: openai.OpenAI) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},  # 2 + 3
        {"role": "user", "content": [{"type": "text", "text": "d e f"}]},  # 3 + 3
        {"role": "assistant", "content": "ok"},  # 1 + 3
        {"role": "user", "content": "again"},  # 1 + 3
    ]
    r = oai.chat.completions.create(model="gpt-5", messages=messages, extra_headers={"x-mock-chunks": "2"})
    assert r.usage.prompt_tokens == 19
    assert r.usage.completion_tokens == 2
    assert r.choices[0].message.content == "The mock"


def test_openai_chat_usage_headers(oai: openai.OpenAI) -> None:
    headers = {
        "x-mock-cached-tokens": "4",
        "x-mock-reasoning-tokens": "6",
        "x-mock-output": "Exactly three words",
    }
    r = oai.chat.completions.create(model="o4", messages=MESSAGES, extra_headers=headers)
    assert r.choices[0].message.content == "Exactly three words"
    u = r.usage
    assert (u.prompt_tokens, u.prompt_tokens_details.cached_tokens) == (14, 4)  # cached included
    assert (u.completion_tokens, u.completion_tokens_details.reasoning_tokens) == (9, 6)  # reasoning included
    assert u.total_tokens == 23


def test_openai_service_tier_echoes_the_request(oai: openai.OpenAI) -> None:
    create = oai.chat.completions.create
    assert create(model="gpt-5", messages=MESSAGES).service_tier == "default"
    assert create(model="gpt-5", messages=MESSAGES, service_tier="auto").service_tier == "default"
    assert create(model="gpt-5", messages=MESSAGES, service_tier="priority").service_tier == "priority"
    chunks = list(create(model="gpt-5", messages=MESSAGES, service_tier="flex", stream=True))
    assert {c.service_tier for c in chunks} == {"flex"}
    assert oai.responses.create(model="gpt-5", input="hi", service_tier="flex").service_tier == "flex"


def test_openai_chat_stream_without_usage(oai: openai.OpenAI) -> None:
    chunks = list(
        oai.chat.completions.create(
            model="gpt-5", messages=MESSAGES, stream=True, extra_headers={"x-mock-chunks": "3"}
        )
    )
    assert all(c.usage is None for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    contents = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert contents == ["The", " mock", " provider"]
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert len({c.id for c in chunks}) == 1


def test_openai_chat_stream_include_usage(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="gpt-5",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"x-mock-cached-tokens": "4", "x-mock-reasoning-tokens": "2"},
    )
    chunks = list(stream)
    assert all(c.usage is None for c in chunks[:-1])
    last = chunks[-1]
    assert last.choices == []
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (14, 7, 21)
    assert last.usage.prompt_tokens_details.cached_tokens == 4
    assert last.usage.completion_tokens_details.reasoning_tokens == 2
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == DEFAULT_TEXT


def test_openai_chat_n2(oai: openai.OpenAI) -> None:
    r = oai.chat.completions.create(model="gpt-5", messages=MESSAGES, n=2)
    assert [c.index for c in r.choices] == [0, 1]
    assert all(c.message.content == DEFAULT_TEXT for c in r.choices)
    assert r.usage.completion_tokens == 10  # summed over choices

    chunks = list(
        oai.chat.completions.create(
            model="gpt-5", messages=MESSAGES, n=2, stream=True, stream_options={"include_usage": True}
        )
    )
    texts = {0: "", 1: ""}
    for c in chunks:
        for choice in c.choices:
            texts[choice.index] += choice.delta.content or ""
    assert texts == {0: DEFAULT_TEXT, 1: DEFAULT_TEXT}
    assert chunks[-1].usage.completion_tokens == 10


def test_openai_chat_tools(oai: openai.OpenAI) -> None:
    r = oai.chat.completions.create(model="gpt-5", messages=MESSAGES, tools=CHAT_TOOLS)
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "mock city"}
    assert r.usage.completion_tokens == 3  # '{"city":', ' "mock', ' city"}'

    # A tool result as the last message ends the loop with a text answer.
    follow_up = [
        *MESSAGES,
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    r2 = oai.chat.completions.create(model="gpt-5", messages=follow_up, tools=CHAT_TOOLS)
    assert r2.choices[0].finish_reason == "stop" and r2.choices[0].message.content == DEFAULT_TEXT
    none = oai.chat.completions.create(model="gpt-5", messages=MESSAGES, tools=CHAT_TOOLS, tool_choice="none")
    assert none.choices[0].message.tool_calls is None


def test_openai_chat_tools_stream(oai: openai.OpenAI) -> None:
    chunks = list(
        oai.chat.completions.create(model="gpt-5", messages=MESSAGES, tools=CHAT_TOOLS, stream=True)
    )
    arg_parts = [
        c.choices[0].delta.tool_calls[0].function.arguments
        for c in chunks
        if c.choices and c.choices[0].delta.tool_calls and c.choices[0].delta.tool_calls[0].function.arguments
    ]
    assert len(arg_parts) == 3
    assert json.loads("".join(arg_parts)) == {"city": "mock city"}
    assert chunks[0].choices[0].delta.tool_calls[0].function.name == "get_weather"
    assert chunks[-1].choices[0].finish_reason == "tool_calls"

    with oai.chat.completions.stream(model="gpt-5", messages=MESSAGES, tools=CHAT_TOOLS) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.tool_calls[0].function.arguments == '{"city": "mock city"}'


class Step(BaseModel):
    explanation: str
    output: int


class Answer(BaseModel):
    steps: list[Step]
    final_answer: str
    confidence: float
    kind: Literal["math", "other"]
    note: str | None


def test_openai_structured_output(oai: openai.OpenAI) -> None:
    parsed = oai.chat.completions.parse(model="gpt-5", messages=MESSAGES, response_format=Answer)
    answer = parsed.choices[0].message.parsed
    assert isinstance(answer, Answer)
    assert answer.kind == "math" and answer.steps[0].output == 1

    r = oai.chat.completions.create(model="gpt-5", messages=MESSAGES, response_format={"type": "json_object"})
    assert json.loads(r.choices[0].message.content) == {"message": DEFAULT_TEXT}
    assert r.usage.completion_tokens == len(split_pieces(r.choices[0].message.content))

    resp = oai.responses.parse(model="gpt-5", input="solve it", text_format=Answer)
    assert isinstance(resp.output_parsed, Answer)


def test_openai_responses_json(oai: openai.OpenAI) -> None:
    headers = {"x-mock-cached-tokens": "2", "x-mock-reasoning-tokens": "7"}
    r = oai.responses.create(
        model="gpt-5", input="hello world", instructions="Be brief.", extra_headers=headers
    )
    assert r.status == "completed" and r.output_text == DEFAULT_TEXT
    assert [o.type for o in r.output] == ["reasoning", "message"]
    u = r.usage
    # input: ("hello world" 2 + 3) + (instructions 2 + 3) = 10, + 2 cached; output: 5 + 7 reasoning
    assert (u.input_tokens, u.input_tokens_details.cached_tokens) == (12, 2)
    assert (u.output_tokens, u.output_tokens_details.reasoning_tokens) == (12, 7)
    assert u.total_tokens == 24

    items = [
        {"role": "user", "content": [{"type": "input_text", "text": "a b c"}]},
        {"role": "user", "content": "d"},
    ]
    assert oai.responses.create(model="gpt-5", input=items).usage.input_tokens == 10


def test_openai_responses_stream(oai: openai.OpenAI) -> None:
    events = list(oai.responses.create(model="gpt-5", input="hello world", stream=True))
    assert [e.sequence_number for e in events] == list(range(len(events)))
    types = [e.type for e in events]
    assert types == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 5,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert events[0].response.usage is None
    assert events[-1].response.usage.output_tokens == 5

    with oai.responses.stream(model="gpt-5", input="hello world") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == DEFAULT_TEXT
    assert (final.usage.input_tokens, final.usage.output_tokens) == (5, 5)


def test_openai_responses_tools(oai: openai.OpenAI) -> None:
    tools = [{"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA}]
    r = oai.responses.create(model="gpt-5", input=PROMPT, tools=tools)
    [call] = r.output
    assert call.type == "function_call" and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "mock city"}

    with oai.responses.stream(model="gpt-5", input=PROMPT, tools=tools) as stream:
        deltas = [e.delta for e in stream if e.type == "response.function_call_arguments.delta"]
        final = stream.get_final_response()
    assert len(deltas) == 3 and final.output[0].arguments == "".join(deltas)

    follow = [{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}]
    assert oai.responses.create(model="gpt-5", input=follow, tools=tools).output_text == DEFAULT_TEXT


def test_openai_embeddings(mock: MockProvider, oai: openai.OpenAI) -> None:
    r = oai.embeddings.create(model="text-embedding-3-small", input=["one two three", "four"])
    assert mock.requests[-1]["json"]["encoding_format"] == "base64"  # the SDK's default
    assert len(r.data) == 2 and [d.index for d in r.data] == [0, 1]
    assert all(len(d.embedding) == 8 and isinstance(d.embedding[0], float) for d in r.data)
    assert (r.usage.prompt_tokens, r.usage.total_tokens) == (4, 4)

    floats = oai.embeddings.create(model="m", input=["one two three", "four"], encoding_format="float")
    assert [d.embedding for d in floats.data] == [d.embedding for d in r.data]
    raw = oai.embeddings.create(model="m", input="x", encoding_format="base64", dimensions=4)
    assert len(base64.b64decode(raw.data[0].embedding)) == 16


def test_openai_legacy_completions(oai: openai.OpenAI) -> None:
    r = oai.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say this is a test")
    assert r.choices[0].text == DEFAULT_TEXT
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (8, 5)
    chunks = list(
        oai.completions.create(
            model="gpt-3.5-turbo-instruct", prompt="x", stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(c.choices[0].text for c in chunks if c.choices) == DEFAULT_TEXT
    assert chunks[-1].usage.completion_tokens == 5


def test_azure_openai(mock: MockProvider) -> None:
    client = openai.AzureOpenAI(azure_endpoint=mock.url, api_key="x", api_version="2024-10-21", max_retries=0)
    r = client.chat.completions.create(model="my-deployment", messages=MESSAGES)
    assert r.choices[0].message.content == DEFAULT_TEXT and r.usage.prompt_tokens == 10
    req = mock.requests[-1]
    assert req["path"] == "/openai/deployments/my-deployment/chat/completions"
    assert req["query"] == "api-version=2024-10-21"
    assert req["headers"]["api-key"] == "x"

    chunks = list(client.chat.completions.create(model="my-deployment", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == DEFAULT_TEXT
    # Like Azure, the stream starts with the prompt's filter results: no choices, empty id and model.
    first = chunks[0]
    assert (first.id, first.model, first.choices) == ("", "", [])
    assert first.model_extra["prompt_filter_results"][0]["prompt_index"] == 0
    assert chunks[1].id and chunks[1].model == "my-deployment"
    assert client.embeddings.create(model="emb", input="a b").usage.prompt_tokens == 2
    assert mock.requests[-1]["path"] == "/openai/deployments/emb/embeddings"
    assert client.responses.create(model="dep", input="hi").output_text == DEFAULT_TEXT
    assert mock.requests[-1]["path"] == "/openai/responses"

    pinned = openai.AzureOpenAI(
        azure_endpoint=mock.url, api_key="x", api_version="2024-10-21", azure_deployment="pinned"
    )
    pinned.chat.completions.create(model="gpt-5", messages=MESSAGES)
    assert mock.requests[-1]["path"] == "/openai/deployments/pinned/chat/completions"


def test_response_model_override(mock: MockProvider, oai: openai.OpenAI, ant: anthropic.Anthropic) -> None:
    mock.response_model_overrides["gpt-5"] = "gpt-5-2026-11-01"
    mock.response_model_overrides[CLAUDE] = "claude-sonnet-5-20261101"
    assert oai.chat.completions.create(model="gpt-5", messages=MESSAGES).model == "gpt-5-2026-11-01"
    assert oai.chat.completions.create(model="gpt-4o", messages=MESSAGES).model == "gpt-4o"
    assert (
        ant.messages.create(model=CLAUDE, max_tokens=8, messages=MESSAGES).model == "claude-sonnet-5-20261101"
    )


# ----------------------------------------------------------------------------------------------------------
# Anthropic (first party, Vertex, Bedrock)
# ----------------------------------------------------------------------------------------------------------


def test_anthropic_messages_json(mock: MockProvider, ant: anthropic.Anthropic) -> None:
    headers = {"x-mock-cached-tokens": "100", "x-mock-cache-creation-tokens": "20"}
    m = ant.messages.create(
        model=CLAUDE, max_tokens=64, system="Be brief.", messages=MESSAGES, extra_headers=headers
    )
    assert m.type == "message" and m.role == "assistant" and m.model == CLAUDE
    assert [b.type for b in m.content] == ["text"] and m.content[0].text == DEFAULT_TEXT
    assert m.stop_reason == "end_turn"
    # input_tokens EXCLUDES cache reads/writes: 10 (prompt) + 5 (system "Be brief." 2 + 3)
    assert m.usage.input_tokens == 15
    assert m.usage.cache_read_input_tokens == 100
    assert m.usage.cache_creation_input_tokens == 20
    assert m.usage.output_tokens == 5
    assert mock.requests[-1]["path"] == "/v1/messages"
    assert "anthropic-version" in mock.requests[-1]["headers"]


def test_anthropic_one_hour_cache_writes(ant: anthropic.Anthropic) -> None:
    headers = {"x-mock-cache-creation-tokens": "20", "x-mock-cache-creation-1h-tokens": "30"}
    m = ant.messages.create(model=CLAUDE, max_tokens=64, messages=MESSAGES, extra_headers=headers)
    assert m.usage.input_tokens == 10  # writes excluded
    assert m.usage.cache_creation_input_tokens == 50  # both lifetimes
    assert m.usage.cache_creation.ephemeral_5m_input_tokens == 20
    assert m.usage.cache_creation.ephemeral_1h_input_tokens == 30
    events = list(
        ant.messages.create(
            model=CLAUDE, max_tokens=64, messages=MESSAGES, stream=True, extra_headers=headers
        )
    )
    assert events[0].message.usage.cache_creation.ephemeral_1h_input_tokens == 30
    assert events[-2].usage.cache_creation_input_tokens == 50  # message_delta: the total only


def test_anthropic_raw_sse_events(mock: MockProvider) -> None:
    body = {"model": CLAUDE, "max_tokens": 8, "messages": MESSAGES, "stream": True}
    r = httpx2.post(mock.url + "/v1/messages", json=body, headers={"x-mock-cached-tokens": "3"})
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [block.split("\n") for block in r.text.strip().split("\n\n")]
    names = [e[0].removeprefix("event: ") for e in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * 5,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = json.loads(events[0][1].removeprefix("data: "))
    assert start["message"]["usage"]["input_tokens"] == 10
    assert start["message"]["usage"]["cache_read_input_tokens"] == 3
    assert start["message"]["usage"]["output_tokens"] == 1
    delta = json.loads(events[-2][1].removeprefix("data: "))
    assert delta["usage"]["output_tokens"] == 5 and delta["delta"]["stop_reason"] == "end_turn"


def test_anthropic_stream(ant: anthropic.Anthropic) -> None:
    events = list(ant.messages.create(model=CLAUDE, max_tokens=64, messages=MESSAGES, stream=True))
    assert events[0].type == "message_start" and events[0].message.usage.output_tokens == 1
    assert events[-2].type == "message_delta" and events[-2].usage.output_tokens == 5
    assert events[-1].type == "message_stop"

    with ant.messages.stream(
        model=CLAUDE, max_tokens=64, messages=MESSAGES, extra_headers={"x-mock-cached-tokens": "7"}
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == final.content[0].text == DEFAULT_TEXT
    assert (final.usage.input_tokens, final.usage.cache_read_input_tokens, final.usage.output_tokens) == (
        10,
        7,
        5,
    )
    assert final.stop_reason == "end_turn"


def test_anthropic_tools(ant: anthropic.Anthropic) -> None:
    m = ant.messages.create(model=CLAUDE, max_tokens=64, messages=MESSAGES, tools=ANTHROPIC_TOOLS)
    assert m.stop_reason == "tool_use"
    [block] = m.content
    assert block.type == "tool_use" and block.name == "get_weather" and block.id.startswith("toolu_")
    assert block.input == {"city": "mock city", "days": 1}
    assert m.usage.output_tokens == 5

    events = list(
        ant.messages.create(
            model=CLAUDE, max_tokens=64, messages=MESSAGES, tools=ANTHROPIC_TOOLS, stream=True
        )
    )
    partials = [e.delta.partial_json for e in events if e.type == "content_block_delta"]
    assert len(partials) == 5 and json.loads("".join(partials)) == block.input

    with ant.messages.stream(model=CLAUDE, max_tokens=64, messages=MESSAGES, tools=ANTHROPIC_TOOLS) as stream:
        final = stream.get_final_message()
    assert final.content[0].input == block.input and final.stop_reason == "tool_use"

    follow = [
        *MESSAGES,
        {"role": "assistant", "content": [block.model_dump(exclude_none=True)]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "sunny"}]},
    ]
    reply = ant.messages.create(model=CLAUDE, max_tokens=64, messages=follow, tools=ANTHROPIC_TOOLS)
    assert reply.stop_reason == "end_turn"


def test_anthropic_count_tokens(ant: anthropic.Anthropic) -> None:
    counted = ant.messages.count_tokens(model=CLAUDE, system="Be brief.", messages=MESSAGES)
    assert counted.input_tokens == 15


def test_anthropic_vertex(mock: MockProvider) -> None:
    client = anthropic.AnthropicVertex(
        base_url=mock.url + "/v1",
        region="us-east5",
        project_id="mock-project",
        access_token="x",
        max_retries=0,
    )
    m = client.messages.create(model="claude-sonnet-5@20260101", max_tokens=16, messages=MESSAGES)
    assert m.model == "claude-sonnet-5@20260101" and m.content[0].text == DEFAULT_TEXT
    assert m.usage.input_tokens == 10
    req = mock.requests[-1]
    assert req["path"].endswith(
        "/projects/mock-project/locations/us-east5/publishers/anthropic/models/"
        "claude-sonnet-5@20260101:rawPredict"
    )
    assert req["json"]["anthropic_version"] and req["headers"]["authorization"] == "Bearer x"

    with client.messages.stream(model="claude-sonnet-5", max_tokens=16, messages=MESSAGES) as stream:
        final = stream.get_final_message()
    assert mock.requests[-1]["path"].endswith(":streamRawPredict")
    assert final.content[0].text == DEFAULT_TEXT and final.usage.output_tokens == 5
    assert client.messages.count_tokens(model="claude-sonnet-5", messages=MESSAGES).input_tokens == 10


def test_anthropic_bedrock(mock: MockProvider) -> None:
    client = anthropic.AnthropicBedrock(base_url=mock.url, aws_region="us-east-1", api_key="x", max_retries=0)
    model = "anthropic.claude-sonnet-5-v1:0"
    m = client.messages.create(model=model, max_tokens=16, messages=MESSAGES)
    assert m.model == model and m.content[0].text == DEFAULT_TEXT and m.usage.input_tokens == 10
    assert mock.requests[-1]["path"] == f"/model/{model}/invoke"

    pytest.importorskip("botocore")  # the SDK decodes AWS event-stream frames with botocore
    with client.messages.stream(
        model=model, max_tokens=16, messages=MESSAGES, extra_headers={"x-mock-cached-tokens": "2"}
    ) as stream:
        final = stream.get_final_message()
    assert mock.requests[-1]["path"] == f"/model/{model}/invoke-with-response-stream"
    assert final.content[0].text == DEFAULT_TEXT
    assert (final.usage.input_tokens, final.usage.cache_read_input_tokens, final.usage.output_tokens) == (
        10,
        2,
        5,
    )

    with pytest.raises(anthropic.APIStatusError) as info:
        list(
            client.messages.create(
                model=model,
                max_tokens=16,
                messages=MESSAGES,
                stream=True,
                extra_headers={"x-mock-fault": "stream-error"},
            )
        )
    assert "modelStreamErrorException" in str(info.value)


def test_bedrock_eventstream_framing() -> None:
    eventstream = pytest.importorskip("botocore.eventstream")
    body = json.dumps(
        {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5, "messages": MESSAGES}
    ).encode()
    resp = build_response("POST", "/model/m/invoke-with-response-stream", {}, body)
    assert resp.headers[0] == ("content-type", "application/vnd.amazon.eventstream")
    buffer = eventstream.EventStreamBuffer()
    buffer.add_data(b"".join(resp.chunks))
    frames = list(buffer)
    assert len(frames) == len(resp.chunks)
    decoded = [json.loads(base64.b64decode(json.loads(f.payload)["bytes"])) for f in frames]
    assert decoded[0]["type"] == "message_start" and decoded[-1]["type"] == "message_stop"
    assert frames[0].headers[":event-type"] == "chunk"
    # message CRC covers everything before it
    first = resp.chunks[0]
    assert struct.unpack(">I", first[-4:])[0] == __import__("zlib").crc32(first[:-4])


# ----------------------------------------------------------------------------------------------------------
# Faults
# ----------------------------------------------------------------------------------------------------------


def test_fail_next_429_is_retried(mock: MockProvider) -> None:
    client = openai.OpenAI(base_url=mock.openai_base_url, api_key="x", max_retries=2)
    mock.fail_next("429", 1)
    r = client.chat.completions.create(model="gpt-5", messages=MESSAGES)
    assert r.choices[0].message.content == DEFAULT_TEXT
    assert len(mock.requests) == 2
    assert mock.requests[1]["headers"]["x-stainless-retry-count"] == "1"


def test_fail_next_529_is_retried_by_anthropic(mock: MockProvider) -> None:
    client = anthropic.Anthropic(base_url=mock.url, api_key="x", max_retries=2)
    mock.fail_next("529:0.01", 1)
    assert (
        client.messages.create(model=CLAUDE, max_tokens=8, messages=MESSAGES).content[0].text == DEFAULT_TEXT
    )
    assert len(mock.requests) == 2


def test_header_fault_500_applies_to_every_retry(mock: MockProvider, oai: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        oai.chat.completions.create(model="gpt-5", messages=MESSAGES, extra_headers={"x-mock-fault": "500"})
    assert info.value.status_code == 500
    # providers echo the prompt in error messages; the mock does too (first 40 characters)
    assert info.value.body["message"].endswith(PROMPT[:40])
    assert info.value.body["type"] == "server_error"

    retrying = openai.OpenAI(base_url=mock.openai_base_url, api_key="x", max_retries=1)
    mock.reset()
    with pytest.raises(openai.InternalServerError):
        retrying.chat.completions.create(
            model="gpt-5", messages=MESSAGES, extra_headers={"x-mock-fault": "500"}, timeout=5
        )
    assert len(mock.requests) == 2


@pytest.mark.parametrize(
    ("fault", "openai_error", "anthropic_error"),
    [
        ("400", openai.BadRequestError, anthropic.BadRequestError),
        ("401", openai.AuthenticationError, anthropic.AuthenticationError),
        ("404", openai.NotFoundError, anthropic.NotFoundError),
        ("429", openai.RateLimitError, anthropic.RateLimitError),
        ("503", openai.InternalServerError, anthropic.ServiceUnavailableError),
        ("529", openai.InternalServerError, anthropic.OverloadedError),
    ],
)
def test_status_faults(
    oai: openai.OpenAI, ant: anthropic.Anthropic, fault: str, openai_error: type, anthropic_error: type
) -> None:
    headers = {"x-mock-fault": fault}
    with pytest.raises(openai_error) as oinfo:
        oai.chat.completions.create(model="gpt-5", messages=MESSAGES, extra_headers=headers)
    assert PROMPT[:20] in oinfo.value.message
    with pytest.raises(anthropic_error) as ainfo:
        ant.messages.create(model=CLAUDE, max_tokens=8, messages=MESSAGES, extra_headers=headers)
    assert ainfo.value.body["type"] == "error" and PROMPT[:20] in ainfo.value.body["error"]["message"]
    if fault == "429":
        assert ainfo.value.body["error"]["type"] == "rate_limit_error"
        assert ainfo.value.response.headers["retry-after"] == "0"
        assert oinfo.value.code == "rate_limit_exceeded"


def test_retry_after_seconds(mock: MockProvider) -> None:
    r = httpx2.post(
        mock.openai_base_url + "/chat/completions",
        json={"model": "m", "messages": MESSAGES},
        headers={"x-mock-fault": "429:7"},
    )
    assert r.status_code == 429 and r.headers["retry-after"] == "7"
    assert r.json()["error"]["message"] == "Rate limit reached for request: " + PROMPT[:40]


def test_malformed(oai: openai.OpenAI, ant: anthropic.Anthropic) -> None:
    headers = {"x-mock-fault": "malformed"}
    with pytest.raises(ValueError):  # json.JSONDecodeError from the SDK's response parsing
        oai.chat.completions.create(model="gpt-5", messages=MESSAGES, extra_headers=headers)
    with pytest.raises(ValueError):
        list(
            oai.chat.completions.create(model="gpt-5", messages=MESSAGES, stream=True, extra_headers=headers)
        )
    with pytest.raises(ValueError):
        ant.messages.create(model=CLAUDE, max_tokens=8, messages=MESSAGES, extra_headers=headers)


def test_truncate(oai: openai.OpenAI, ant: anthropic.Anthropic) -> None:
    headers = {"x-mock-fault": "truncate"}
    with pytest.raises(openai.APIConnectionError):
        oai.chat.completions.create(model="gpt-5", messages=MESSAGES, extra_headers=headers)
    received = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in oai.chat.completions.create(
            model="gpt-5", messages=MESSAGES, stream=True, extra_headers=headers
        ):
            received.append(chunk)
    assert 0 < len(received) < 7 and all(c.choices[0].finish_reason is None for c in received)

    events = []
    with pytest.raises((anthropic.APIConnectionError, httpx2.RemoteProtocolError)):
        for event in ant.messages.create(
            model=CLAUDE, max_tokens=8, messages=MESSAGES, stream=True, extra_headers=headers
        ):
            events.append(event.type)
    assert events and "message_stop" not in events


def test_disconnect(mock: MockProvider) -> None:
    client = openai.OpenAI(base_url=mock.openai_base_url, api_key="x", max_retries=1)
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(
            model="gpt-5", messages=MESSAGES, extra_headers={"x-mock-fault": "disconnect"}, timeout=5
        )
    assert len(mock.requests) == 2  # the header fault also hits the retry
    ant = anthropic.Anthropic(base_url=mock.url, api_key="x", max_retries=0)
    with pytest.raises(anthropic.APIConnectionError):
        ant.messages.create(
            model=CLAUDE, max_tokens=8, messages=MESSAGES, extra_headers={"x-mock-fault": "disconnect"}
        )


def test_stream_error(oai: openai.OpenAI, ant: anthropic.Anthropic) -> None:
    headers = {"x-mock-fault": "stream-error"}
    with pytest.raises(openai.APIError) as oinfo:
        list(
            oai.chat.completions.create(model="gpt-5", messages=MESSAGES, stream=True, extra_headers=headers)
        )
    assert PROMPT[:20] in oinfo.value.message

    events = list(oai.responses.create(model="gpt-5", input=PROMPT, stream=True, extra_headers=headers))
    assert events[-1].type == "error" and PROMPT[:20] in events[-1].message
    with (
        pytest.raises(RuntimeError, match="response.completed"),
        oai.responses.stream(model="gpt-5", input=PROMPT, extra_headers=headers) as stream,
    ):
        stream.get_final_response()

    with pytest.raises(anthropic.APIStatusError) as ainfo:
        list(
            ant.messages.create(
                model=CLAUDE, max_tokens=8, messages=MESSAGES, stream=True, extra_headers=headers
            )
        )
    assert ainfo.value.body["error"]["type"] == "overloaded_error"


def test_response_failed(oai: openai.OpenAI) -> None:
    headers = {"x-mock-fault": "response-failed"}
    r = oai.responses.create(model="gpt-5", input=PROMPT, extra_headers=headers)
    assert (r.status, r.error.code, r.output) == ("failed", "server_error", [])
    assert PROMPT[:20] in r.error.message

    events = list(oai.responses.create(model="gpt-5", input=PROMPT, stream=True, extra_headers=headers))
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert "response.completed" not in [e.type for e in events]
    assert events[-1].type == "response.failed" and events[-1].response.error.code == "server_error"

    with pytest.raises(openai.BadRequestError, match="/responses only"):
        oai.chat.completions.create(model="gpt-5", messages=MESSAGES, extra_headers=headers)


def test_slow_and_slow_chunks(mock: MockProvider) -> None:
    client = openai.OpenAI(base_url=mock.openai_base_url, api_key="x", max_retries=0, timeout=0.2)
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(
            model="gpt-5", messages=MESSAGES, extra_headers={"x-mock-fault": "slow:1"}
        )

    oai = openai.OpenAI(base_url=mock.openai_base_url, api_key="x", max_retries=0)
    start = time.perf_counter()
    r = oai.chat.completions.create(
        model="gpt-5", messages=MESSAGES, extra_headers={"x-mock-fault": "slow:0.2"}
    )
    assert time.perf_counter() - start >= 0.2 and r.choices[0].message.content == DEFAULT_TEXT

    stamps = []
    stream = oai.chat.completions.create(
        model="gpt-5", messages=MESSAGES, stream=True, extra_headers={"x-mock-fault": "slow-chunks:0.05"}
    )
    for _ in stream:
        stamps.append(time.perf_counter())
    assert len(stamps) == 7 and stamps[-1] - stamps[0] >= 0.25


def test_bad_requests(mock: MockProvider) -> None:
    r = httpx2.post(mock.url + "/v1/nope", json={})
    assert r.status_code == 404 and "error" in r.json()
    r = httpx2.post(
        mock.openai_base_url + "/chat/completions",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    r = httpx2.post(mock.url + "/v1/messages", json={"model": CLAUDE, "messages": MESSAGES})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"  # max_tokens missing
    r = httpx2.post(
        mock.openai_base_url + "/chat/completions",
        json={"model": "m", "messages": MESSAGES},
        headers={"x-mock-fault": "explode"},
    )
    assert r.status_code == 400 and "explode" in r.json()["error"]["message"]
    r = httpx2.post(
        mock.openai_base_url + "/chat/completions",
        json={"model": "m", "messages": MESSAGES},
        headers={"x-mock-chunks": "-1"},
    )
    assert r.status_code == 400
    with pytest.raises(ValueError):
        mock.fail_next("explode")

    # Garbage on the wire must not take the server down.
    with socket.create_connection(("127.0.0.1", mock.port), timeout=5) as sock:
        sock.sendall(b"\x00\x01garbage\r\n\r\n")
        sock.recv(1024)
    r = httpx2.post(mock.openai_base_url + "/chat/completions", json={"model": "m", "messages": MESSAGES})
    assert r.status_code == 200


def test_reset_and_fault_queue(mock: MockProvider, oai: openai.OpenAI) -> None:
    mock.fail_next("500", 2)
    mock.reset()
    assert oai.chat.completions.create(model="gpt-5", messages=MESSAGES).choices[0].message.content
    assert len(mock.requests) == 1
    mock.fail_next("404", 2)
    for _ in range(2):
        with pytest.raises(openai.NotFoundError):
            oai.embeddings.create(model="m", input="x")
    assert oai.embeddings.create(model="m", input="x").usage.prompt_tokens == 1


def test_keep_alive_reuse_after_streams(mock: MockProvider) -> None:
    ant = anthropic.Anthropic(base_url=mock.url, api_key="x")
    before = mock.connections_accepted
    for _ in range(3):
        assert (
            len(list(ant.messages.create(model=CLAUDE, max_tokens=8, messages=MESSAGES, stream=True))) == 10
        )
    ant.messages.create(model=CLAUDE, max_tokens=8, messages=MESSAGES)
    assert mock.connections_accepted - before == 1

    # The sync openai Stream stops reading at [DONE] and closes its connection (SDK behaviour); the next
    # request must still work on a fresh connection.
    oai = openai.OpenAI(base_url=mock.openai_base_url, api_key="x")
    for _ in range(2):
        assert len(list(oai.chat.completions.create(model="m", messages=MESSAGES, stream=True))) == 7
    assert oai.chat.completions.create(model="m", messages=MESSAGES).usage.total_tokens == 15


async def test_async_openai_streams_reuse_connection(mock: MockProvider) -> None:
    client = openai.AsyncOpenAI(base_url=mock.openai_base_url, api_key="x")
    before = mock.connections_accepted
    for _ in range(3):
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        assert len([c async for c in stream]) == 7
    async with client.responses.stream(model="m", input="hi") as stream:
        assert (await stream.get_final_response()).output_text == DEFAULT_TEXT
    assert mock.connections_accepted - before == 1
    await client.close()


# ----------------------------------------------------------------------------------------------------------
# In-process transports
# ----------------------------------------------------------------------------------------------------------


def test_sync_transport() -> None:
    http = httpx2.Client(transport=mock_transport())
    client = openai.OpenAI(base_url="http://mock/v1", api_key="x", http_client=http, max_retries=0)
    r = client.chat.completions.create(
        model="gpt-5", messages=MESSAGES, extra_headers={"x-mock-cached-tokens": "1"}
    )
    assert r.choices[0].message.content == DEFAULT_TEXT
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (11, 5)
    chunks = list(
        client.chat.completions.create(
            model="gpt-5", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].usage.total_tokens == 15
    assert client.embeddings.create(model="m", input="a b").usage.prompt_tokens == 2

    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(
            model="gpt-5", messages=MESSAGES, extra_headers={"x-mock-fault": "disconnect"}
        )
    with pytest.raises(openai.APIConnectionError):
        list(
            client.chat.completions.create(
                model="gpt-5", messages=MESSAGES, stream=True, extra_headers={"x-mock-fault": "truncate"}
            )
        )
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(
            model="gpt-5", messages=MESSAGES, extra_headers={"x-mock-fault": "429"}
        )

    ant = anthropic.Anthropic(
        base_url="http://mock", api_key="x", http_client=httpx2.Client(transport=mock_transport())
    )
    with ant.messages.stream(model=CLAUDE, max_tokens=8, messages=MESSAGES) as stream:
        assert stream.get_final_message().usage.output_tokens == 5


def test_transport_shares_provider_state() -> None:
    provider = MockProvider()  # not started: the transport uses its state only
    client = openai.OpenAI(
        base_url="http://mock/v1",
        api_key="x",
        max_retries=0,
        http_client=httpx2.Client(transport=mock_transport(provider)),
    )
    provider.fail_next("500")
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-5", messages=MESSAGES)
    provider.response_model_overrides["gpt-5"] = "gpt-5-new"
    assert client.chat.completions.create(model="gpt-5", messages=MESSAGES).model == "gpt-5-new"
    assert len(provider.requests) == 2


def test_transport_and_server_payloads_match(mock: MockProvider) -> None:
    body = {"model": "gpt-5", "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}}
    over_http = httpx2.post(mock.openai_base_url + "/chat/completions", json=body).text
    in_process = (
        httpx2.Client(transport=mock_transport()).post("http://mock/v1/chat/completions", json=body).text
    )

    def normalise(text: str) -> list[object]:
        out = []
        for line in text.split("\n\n"):
            if line.startswith("data: {"):
                obj = json.loads(line[6:])
                obj.pop("id"), obj.pop("created")
                out.append(obj)
        return out

    assert normalise(over_http) == normalise(in_process)


async def test_async_transport() -> None:
    http = httpx2.AsyncClient(transport=async_mock_transport())
    client = openai.AsyncOpenAI(base_url="http://mock/v1", api_key="x", http_client=http, max_retries=0)
    r = await client.responses.create(model="gpt-5", input="hello world")
    assert r.output_text == DEFAULT_TEXT and r.usage.input_tokens == 5
    stream = await client.chat.completions.create(model="gpt-5", messages=MESSAGES, stream=True)
    assert len([c async for c in stream]) == 7
    with pytest.raises(openai.APIConnectionError):
        await client.chat.completions.create(
            model="gpt-5", messages=MESSAGES, extra_headers={"x-mock-fault": "truncate"}
        )

    ant = anthropic.AsyncAnthropic(
        base_url="http://mock", api_key="x", http_client=httpx2.AsyncClient(transport=async_mock_transport())
    )
    start = time.perf_counter()
    async with ant.messages.stream(
        model=CLAUDE, max_tokens=8, messages=MESSAGES, extra_headers={"x-mock-fault": "slow-chunks:0.02"}
    ) as stream:
        final = await stream.get_final_message()
    assert final.content[0].text == DEFAULT_TEXT and time.perf_counter() - start >= 0.15


# ----------------------------------------------------------------------------------------------------------
# Concurrency and the command line
# ----------------------------------------------------------------------------------------------------------


async def test_200_concurrent_sdk_requests(mock: MockProvider) -> None:
    limits = httpx2.Limits(max_connections=200, max_keepalive_connections=200)
    oai = openai.AsyncOpenAI(
        base_url=mock.openai_base_url,
        api_key="x",
        max_retries=0,
        http_client=httpx2.AsyncClient(limits=limits),
    )
    ant = anthropic.AsyncAnthropic(
        base_url=mock.url, api_key="x", max_retries=0, http_client=httpx2.AsyncClient(limits=limits)
    )

    async def one(i: int) -> int:
        if i % 4 == 0:
            stream = await oai.chat.completions.create(
                model="m",
                messages=MESSAGES,
                stream=True,
                stream_options={"include_usage": True},
                extra_headers={"x-mock-fault": "slow:0.2"},
            )
            return [c async for c in stream][-1].usage.total_tokens
        if i % 4 == 1:
            return (await oai.chat.completions.create(model="m", messages=MESSAGES)).usage.total_tokens
        if i % 4 == 2:
            async with ant.messages.stream(model=CLAUDE, max_tokens=8, messages=MESSAGES) as stream:
                usage = (await stream.get_final_message()).usage
            return usage.input_tokens + usage.output_tokens
        return (await oai.responses.create(model="m", input=PROMPT)).usage.total_tokens

    start = time.perf_counter()
    results = await asyncio.gather(*(one(i) for i in range(200)))
    assert results == [15] * 200
    assert time.perf_counter() - start < 20
    await oai.close()
    await ant.close()


async def test_1000_concurrent_connections(mock: MockProvider) -> None:
    """1,000 simultaneous TCP connections (raw asyncio: httpx2's pool itself is slow at that size).

    Each request is held for a second, so the server must hold many connections open at once; how fast
    they are accepted depends on the machine (a full accept queue costs SYN retries), so only a hang is
    bounded, never the speed."""
    body = json.dumps({"model": "m", "messages": MESSAGES}).encode()
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: mock\r\nContent-Type: application/json\r\n"
        b"x-mock-fault: slow:1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )

    async def one() -> dict[str, object]:
        reader, writer = await asyncio.open_connection("127.0.0.1", mock.port)
        try:
            writer.write(request)
            status = await reader.readline()
            assert status.startswith(b"HTTP/1.1 200")
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            return json.loads(await reader.readexactly(length))
        finally:
            writer.close()

    peak = 0

    async def watch_open_connections() -> None:
        nonlocal peak
        while True:
            peak = max(peak, mock.connections_open)
            await asyncio.sleep(0.02)

    watcher = asyncio.create_task(watch_open_connections())
    try:
        results = await asyncio.wait_for(asyncio.gather(*(one() for _ in range(1000))), 300)
    finally:
        watcher.cancel()
    assert len(results) == 1000 and all(r["usage"]["total_tokens"] == 15 for r in results)
    assert mock.connections_accepted >= 1000
    assert peak >= 50, f"at most {peak} connections were open at once"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli() -> None:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with subprocess.Popen(
        [sys.executable, "-m", "otel_llm.testing", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    ) as proc:
        try:
            line = proc.stdout.readline().strip()
            assert line == f"mock provider listening on http://127.0.0.1:{port}", proc.stderr.read()
            with openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0) as client:
                assert client.chat.completions.create(model="m", messages=MESSAGES).usage.total_tokens == 15
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()

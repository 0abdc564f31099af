"""Anthropic SDK: real clients over real HTTP to the mock provider; exactly one span per call."""

from __future__ import annotations

import anthropic
import pytest
from conftest import points

MESSAGES = [{"role": "user", "content": "Say hello to the world"}]
TOOLS = [
    {
        "name": "get_weather",
        "description": "Weather for a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]
CACHE_HEADERS = {"x-mock-cached-tokens": "100", "x-mock-cache-creation-tokens": "20"}


def test_messages_create_counts_cache_tokens_inside_input(instrumented, anthropic_client):
    message = anthropic_client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=100,
        messages=MESSAGES,
        system="Be brief.",
        stop_sequences=["END"],
        extra_headers=CACHE_HEADERS,
    )
    span = instrumented.only_span()
    a = span.attributes
    assert span.name == "chat claude-haiku-4-5"
    assert a["gen_ai.provider.name"] == "anthropic"
    assert a["gen_ai.request.max_tokens"] == 100
    assert a["gen_ai.request.stop_sequences"] == ("END",)
    usage = message.usage
    assert a["gen_ai.usage.input_tokens"] == usage.input_tokens + 100 + 20
    assert a["gen_ai.usage.cache_read.input_tokens"] == 100
    assert a["gen_ai.usage.cache_creation.input_tokens"] == 20
    assert a["gen_ai.usage.output_tokens"] == usage.output_tokens
    assert a["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert a["gen_ai.response.id"] == message.id
    # claude-haiku-4-5: $1 input, $0.10 cache read, $1.25 cache write, $5 output per MTok.
    expected = usage.input_tokens * 1e-6 + 100 * 0.1e-6 + 20 * 1.25e-6 + usage.output_tokens * 5e-6
    assert a["otel_llm.cost"] == pytest.approx(expected)
    assert a["otel_llm.cost.saved"] == pytest.approx(100 * (1e-6 - 0.1e-6))
    found = instrumented.metrics()
    assert [p.sum for p in points(found, "gen_ai.client.token.usage", gen_ai__token__type="input")] == [
        usage.input_tokens + 120
    ]


@pytest.mark.parametrize("capture_content", ["off", "all"])
def test_one_shot_iterables_reach_the_sdk_unread(capture, anthropic_client, mock, capture_content):
    # The SDK types messages, tools and system as Iterable: a generator must still be sent in full.
    capture(capture_content=capture_content)
    message = anthropic_client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=100,
        messages=iter(MESSAGES),
        tools=(t for t in TOOLS),
        system=iter([{"type": "text", "text": "Be brief."}]),
    )
    body = mock.requests[-1]["json"]
    assert body["messages"] == MESSAGES
    assert body["tools"] == TOOLS
    assert body["system"] == [{"type": "text", "text": "Be brief."}]
    assert message.stop_reason == "tool_use"


@pytest.mark.parametrize("stream", [False, True])
def test_one_hour_cache_writes_priced_at_their_own_rate(instrumented, anthropic_client, stream):
    from genai_prices import Usage, calc_price

    headers = {"x-mock-cache-creation-tokens": "2000", "x-mock-cache-creation-1h-tokens": "3000"}
    result = anthropic_client.messages.create(
        model="claude-haiku-4-5", max_tokens=100, messages=MESSAGES, stream=stream, extra_headers=headers
    )
    if stream:
        list(result)
    a = instrumented.only_span().attributes
    assert a["gen_ai.usage.cache_creation.input_tokens"] == 5000
    usage = Usage(
        input_tokens=a["gen_ai.usage.input_tokens"],
        output_tokens=a["gen_ai.usage.output_tokens"],
        cache_write_tokens=5000,
        cache_write_1h_tokens=3000,
    )
    expected = calc_price(usage, "claude-haiku-4-5", provider_id="anthropic").total_price
    assert a["otel_llm.cost"] == pytest.approx(float(expected))


async def test_async_messages_create(instrumented, async_anthropic_client):
    message = await async_anthropic_client.messages.create(
        model="claude-haiku-4-5", max_tokens=100, messages=MESSAGES
    )
    a = instrumented.only_span().attributes
    assert a["gen_ai.usage.output_tokens"] == message.usage.output_tokens


def test_stream_true_keeps_type_and_counts_output_once(instrumented, anthropic_client):
    stream = anthropic_client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=100,
        messages=MESSAGES,
        stream=True,
        extra_headers={**CACHE_HEADERS, "x-mock-chunks": "7"},
    )
    assert type(stream) is anthropic.Stream
    events = list(stream)
    delta = [e for e in events if e.type == "message_delta"][0]
    start = [e for e in events if e.type == "message_start"][0]
    a = instrumented.only_span().attributes
    # message_delta's output count is cumulative: adding message_start's 1 would be off by one.
    assert a["gen_ai.usage.output_tokens"] == delta.usage.output_tokens == 7
    assert a["gen_ai.usage.input_tokens"] == start.message.usage.input_tokens + 120
    assert a["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert a["otel_llm.stream.end"] == "complete"
    assert a["gen_ai.response.time_to_first_chunk"] > 0


async def test_async_stream_true(instrumented, async_anthropic_client):
    stream = await async_anthropic_client.messages.create(
        model="claude-haiku-4-5", max_tokens=100, messages=MESSAGES, stream=True
    )
    assert type(stream) is anthropic.AsyncStream
    events = [e async for e in stream]
    delta = [e for e in events if e.type == "message_delta"][0]
    assert instrumented.only_span().attributes["gen_ai.usage.output_tokens"] == delta.usage.output_tokens


def test_stream_helper_text_stream_and_final_message(instrumented, anthropic_client):
    with anthropic_client.messages.stream(
        model="claude-haiku-4-5", max_tokens=100, messages=MESSAGES
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == final.content[0].text
    span = instrumented.only_span()
    assert span.attributes["gen_ai.request.stream"] is True
    assert span.attributes["gen_ai.usage.output_tokens"] == final.usage.output_tokens


async def test_async_stream_helper(instrumented, async_anthropic_client):
    async with async_anthropic_client.messages.stream(
        model="claude-haiku-4-5", max_tokens=100, messages=MESSAGES
    ) as stream:
        final = await stream.get_final_message()
    assert instrumented.only_span().attributes["gen_ai.usage.output_tokens"] == final.usage.output_tokens


def test_tools(instrumented, anthropic_client):
    message = anthropic_client.messages.create(
        model="claude-haiku-4-5", max_tokens=100, messages=MESSAGES, tools=TOOLS
    )
    assert message.content[-1].type == "tool_use"
    assert instrumented.only_span().attributes["gen_ai.response.finish_reasons"] == ("tool_use",)


def test_stream_tools(instrumented, anthropic_client):
    with anthropic_client.messages.stream(
        model="claude-haiku-4-5", max_tokens=100, messages=MESSAGES, tools=TOOLS
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert instrumented.only_span().attributes["gen_ai.response.finish_reasons"] == ("tool_use",)


def test_with_raw_response(instrumented, anthropic_client):
    raw = anthropic_client.messages.with_raw_response.create(
        model="claude-haiku-4-5", max_tokens=100, messages=MESSAGES
    )
    message = raw.parse()
    assert isinstance(message, anthropic.types.Message)
    assert instrumented.only_span().attributes["gen_ai.response.id"] == message.id


def test_sdk_own_tracing_is_off_while_instrumented(instrumented, anthropic_client):
    # A global SDK tracer provider is set (conftest), so anthropic 2.x would open its own span.
    anthropic_client.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=MESSAGES)
    assert len(instrumented.spans()) == 1
    assert instrumented.spans()[0].instrumentation_scope.name == "otel_llm"


def test_sdk_own_tracing_returns_after_uninstrument(telemetry, anthropic_client):
    import otel_llm

    otel_llm.instrument()
    otel_llm.uninstrument()
    anthropic_client.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=MESSAGES)
    scopes = {s.instrumentation_scope.name for s in telemetry.spans()}
    assert "otel_llm" not in scopes
    assert scopes, "anthropic's own tracing should be back once we uninstrument"


def test_vertex_provider_name(instrumented, mock):
    client = anthropic.AnthropicVertex(
        base_url=mock.url + "/v1",
        region="us-east5",
        project_id="mock-project",
        access_token="x",
        max_retries=0,
    )
    client.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=MESSAGES)
    assert instrumented.only_span().attributes["gen_ai.provider.name"] == "gcp.vertex_ai"


def test_bedrock_provider_name(instrumented, mock):
    client = anthropic.AnthropicBedrock(base_url=mock.url, aws_region="us-east-1", api_key="x", max_retries=0)
    message = client.messages.create(model="anthropic.claude-haiku-4-5", max_tokens=10, messages=MESSAGES)
    a = instrumented.only_span().attributes
    assert a["gen_ai.provider.name"] == "aws.bedrock"
    assert a["gen_ai.usage.output_tokens"] == message.usage.output_tokens

"""OpenAI SDK: real clients over real HTTP to the mock provider; sync/async/stream parity."""

from __future__ import annotations

import json

import openai
import pytest
from conftest import points

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello to the world"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def _usage_attrs(span):
    a = span.attributes
    return a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]


def test_chat_create_span_attributes_and_metrics(instrumented, openai_client, mock):
    result = openai_client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, temperature=0.3, top_p=0.9, max_tokens=50, seed=7, stop=["END"]
    )
    assert isinstance(result, openai.types.chat.ChatCompletion)
    span = instrumented.only_span()
    a = span.attributes
    assert span.name == "chat gpt-4o"
    assert span.kind.name == "CLIENT"
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-4o"
    assert a["gen_ai.request.temperature"] == 0.3
    assert a["gen_ai.request.top_p"] == 0.9
    assert a["gen_ai.request.max_tokens"] == 50
    assert a["gen_ai.request.seed"] == 7
    assert a["gen_ai.request.stop_sequences"] == ("END",)
    assert a["gen_ai.request.stream"] is False
    assert a["gen_ai.response.id"] == result.id
    assert a["gen_ai.response.model"] == result.model
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert _usage_attrs(span) == (result.usage.prompt_tokens, result.usage.completion_tokens)
    assert a["server.address"] == "127.0.0.1"
    assert a["server.port"] == int(mock.url.rsplit(":", 1)[1])
    assert "gen_ai.system" not in a
    assert a["otel_llm.cost"] > 0

    found = instrumented.metrics()
    tokens = points(found, "gen_ai.client.token.usage", gen_ai__token__type="input")
    assert [p.sum for p in tokens] == [result.usage.prompt_tokens]
    tokens = points(found, "gen_ai.client.token.usage", gen_ai__token__type="output")
    assert [p.sum for p in tokens] == [result.usage.completion_tokens]
    duration = points(found, "gen_ai.client.operation.duration", gen_ai__response__model=result.model)
    assert [p.count for p in duration] == [1]
    assert list(duration[0].explicit_bounds[:3]) == [0.01, 0.02, 0.04]
    assert sum(p.value for p in points(found, "otel_llm.cost")) == pytest.approx(a["otel_llm.cost"])


async def test_async_chat_create_matches_sync(instrumented, async_openai_client):
    result = await async_openai_client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    span = instrumented.only_span()
    assert _usage_attrs(span) == (result.usage.prompt_tokens, result.usage.completion_tokens)
    assert span.attributes["gen_ai.response.id"] == result.id


def test_cached_and_reasoning_tokens_are_inside_the_totals(instrumented, openai_client):
    result = openai_client.chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,
        extra_headers={"x-mock-cached-tokens": "8", "x-mock-reasoning-tokens": "3"},
    )
    a = instrumented.only_span().attributes
    assert a["gen_ai.usage.cache_read.input_tokens"] == 8
    assert a["gen_ai.usage.reasoning.output_tokens"] == 3
    assert a["gen_ai.usage.input_tokens"] == result.usage.prompt_tokens
    assert a["gen_ai.usage.output_tokens"] == result.usage.completion_tokens
    assert a["otel_llm.cost.saved"] > 0


def test_n_choices_and_tool_calls(instrumented, openai_client):
    result = openai_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, n=2, tools=TOOLS)
    a = instrumented.only_span().attributes
    assert a["gen_ai.request.choice.count"] == 2
    assert list(a["gen_ai.response.finish_reasons"]) == [c.finish_reason for c in result.choices]
    assert result.choices[0].message.tool_calls[0].function.name == "get_weather"


@pytest.mark.parametrize("capture_content", ["off", "all"])
def test_one_shot_iterables_reach_the_sdk_unread(capture, openai_client, mock, capture_content):
    # The SDK types messages and tools as Iterable: a generator must still be sent in full.
    capture(capture_content=capture_content)
    result = openai_client.chat.completions.create(
        model="gpt-4o", messages=iter(MESSAGES), tools=(t for t in TOOLS)
    )
    body = mock.requests[-1]["json"]
    assert body["messages"] == MESSAGES
    assert body["tools"] == TOOLS
    assert result.choices[0].finish_reason == "tool_calls"
    response = openai_client.responses.create(
        model="gpt-4o", input="hi", tools=iter([{"type": "function", **TOOLS[0]["function"]}])
    )
    assert len(mock.requests[-1]["json"]["tools"]) == 1
    assert response.output[0].type == "function_call"


@pytest.mark.parametrize("include_usage", [True, False])
def test_stream_keeps_type_and_records_usage(instrumented, openai_client, include_usage):
    kwargs = {"stream_options": {"include_usage": True}} if include_usage else {}
    stream = openai_client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, extra_headers={"x-mock-chunks": "6"}, **kwargs
    )
    assert type(stream) is openai.Stream
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    span = instrumented.only_span()
    a = span.attributes
    assert a["gen_ai.request.stream"] is True
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["otel_llm.stream.end"] == "complete"
    assert a["gen_ai.response.time_to_first_chunk"] > 0
    if include_usage:
        assert a["gen_ai.usage.output_tokens"] == chunks[-1].usage.completion_tokens
        assert "otel_llm.usage.missing" not in a
    else:
        assert "gen_ai.usage.output_tokens" not in a
        assert a["otel_llm.usage.missing"] is True
    found = instrumented.metrics()
    assert [p.count for p in points(found, "gen_ai.client.operation.time_to_first_chunk")] == [1]
    per_chunk = points(found, "gen_ai.client.operation.time_per_output_chunk")
    assert sum(p.count for p in per_chunk) == len(chunks) - 1


async def test_async_stream_keeps_type_and_records_usage(instrumented, async_openai_client):
    stream = await async_openai_client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    assert type(stream) is openai.AsyncStream
    chunks = [c async for c in stream]
    a = instrumented.only_span().attributes
    assert a["gen_ai.usage.output_tokens"] == chunks[-1].usage.completion_tokens
    assert a["otel_llm.stream.end"] == "complete"


def test_stream_tool_call_finish_reason(instrumented, openai_client):
    stream = openai_client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, tools=TOOLS, stream=True
    )
    for _ in stream:
        pass
    assert instrumented.only_span().attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)


def test_stream_helper_gives_one_span(instrumented, openai_client):
    with openai_client.chat.completions.stream(
        model="gpt-4o", messages=MESSAGES, stream_options={"include_usage": True}
    ) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    span = instrumented.only_span()
    assert span.attributes["gen_ai.usage.output_tokens"] == final.usage.completion_tokens
    assert span.attributes["gen_ai.request.stream"] is True


def test_parse_helper(instrumented, openai_client):
    from pydantic import BaseModel

    class Weather(BaseModel):
        city: str

    result = openai_client.chat.completions.parse(model="gpt-4o", messages=MESSAGES, response_format=Weather)
    assert isinstance(result.choices[0].message.parsed, Weather)
    a = instrumented.only_span().attributes
    assert a["gen_ai.output.type"] == "json"
    assert a["gen_ai.usage.output_tokens"] == result.usage.completion_tokens


def test_with_raw_response_returns_sdk_objects(instrumented, openai_client):
    raw = openai_client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
    assert type(raw).__name__ == "LegacyAPIResponse"
    completion = raw.parse()
    assert isinstance(completion, openai.types.chat.ChatCompletion)
    assert raw.parse() is completion
    span = instrumented.only_span()
    assert span.attributes["gen_ai.usage.input_tokens"] == completion.usage.prompt_tokens


def test_with_raw_response_stream_parse(instrumented, openai_client):
    raw = openai_client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    stream = raw.parse()
    assert type(stream) is openai.Stream
    chunks = list(stream)
    assert (
        instrumented.only_span().attributes["gen_ai.usage.output_tokens"]
        == chunks[-1].usage.completion_tokens
    )


def test_with_streaming_response(instrumented, openai_client):
    with openai_client.chat.completions.with_streaming_response.create(
        model="gpt-4o", messages=MESSAGES
    ) as raw:
        completion = raw.parse()
    assert instrumented.only_span().attributes["gen_ai.response.id"] == completion.id


async def test_async_with_raw_response(instrumented, async_openai_client):
    raw = await async_openai_client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=MESSAGES
    )
    completion = raw.parse()
    assert instrumented.only_span().attributes["gen_ai.response.id"] == completion.id


def test_responses_create(instrumented, openai_client):
    response = openai_client.responses.create(model="gpt-4o", input="Say hello", max_output_tokens=40)
    span = instrumented.only_span()
    a = span.attributes
    assert span.name == "chat gpt-4o"
    assert a["gen_ai.request.max_tokens"] == 40
    assert a["gen_ai.response.id"] == response.id
    assert a["gen_ai.usage.input_tokens"] == response.usage.input_tokens
    assert a["gen_ai.usage.output_tokens"] == response.usage.output_tokens
    assert a["gen_ai.response.finish_reasons"] == ("stop",)


def test_responses_stream_gives_one_span_with_usage(instrumented, openai_client):
    stream = openai_client.responses.create(model="gpt-4o", input="Say hello", stream=True)
    events = list(stream)
    completed = [e for e in events if e.type == "response.completed"][0]
    a = instrumented.only_span().attributes
    assert a["gen_ai.usage.output_tokens"] == completed.response.usage.output_tokens
    assert a["gen_ai.response.id"] == completed.response.id
    assert a["gen_ai.response.time_to_first_chunk"] > 0


def test_responses_stream_helper(instrumented, openai_client):
    with openai_client.responses.stream(model="gpt-4o", input="Say hello") as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    assert instrumented.only_span().attributes["gen_ai.usage.output_tokens"] == final.usage.output_tokens


def test_responses_stream_error_event_records_the_error_code(capture, openai_client):
    # openai yields the stream's `error` event instead of raising: the call still failed.
    telemetry = capture(capture_content="all")
    events = list(
        openai_client.responses.create(
            model="gpt-4o", input="Say hello", stream=True, extra_headers={"x-mock-fault": "stream-error"}
        )
    )
    assert events[-1].type == "error"
    span = telemetry.only_span()
    assert span.attributes["error.type"] == "server_error"
    assert span.status.status_code.name == "ERROR"
    [event] = telemetry.content_events()
    [output] = event.body["gen_ai.output.messages"]
    assert output["finish_reason"] == "error"


@pytest.mark.parametrize("stream", [False, True])
def test_responses_failed_records_the_error_code(instrumented, openai_client, stream):
    result = openai_client.responses.create(
        model="gpt-4o", input="Say hello", stream=stream, extra_headers={"x-mock-fault": "response-failed"}
    )
    if stream:
        assert list(result)[-1].type == "response.failed"
    else:
        assert result.status == "failed"
    span = instrumented.only_span()
    assert span.attributes["error.type"] == "server_error"
    assert span.attributes["gen_ai.response.finish_reasons"] == ("failed",)
    assert span.status.status_code.name == "ERROR"
    found = instrumented.metrics()
    assert [
        p.count for p in points(found, "gen_ai.client.operation.duration", error__type="server_error")
    ] == [1]


async def test_async_responses_stream(instrumented, async_openai_client):
    stream = await async_openai_client.responses.create(model="gpt-4o", input="Say hello", stream=True)
    events = [e async for e in stream]
    completed = [e for e in events if e.type == "response.completed"][0]
    assert (
        instrumented.only_span().attributes["gen_ai.usage.input_tokens"]
        == completed.response.usage.input_tokens
    )


def test_embeddings(instrumented, openai_client):
    result = openai_client.embeddings.create(model="text-embedding-3-small", input=["hello world"])
    span = instrumented.only_span()
    a = span.attributes
    assert span.name == "embeddings text-embedding-3-small"
    assert a["gen_ai.operation.name"] == "embeddings"
    assert a["gen_ai.usage.input_tokens"] == result.usage.prompt_tokens
    assert a["gen_ai.embeddings.dimension.count"] == len(result.data[0].embedding)
    assert a["otel_llm.cost"] > 0


def test_azure_client_provider_name(instrumented, mock):
    client = openai.AzureOpenAI(azure_endpoint=mock.url, api_key="k", api_version="2024-10-21", max_retries=0)
    client.chat.completions.create(model="my-deployment", messages=MESSAGES)
    assert instrumented.only_span().attributes["gen_ai.provider.name"] == "azure.ai.openai"


def test_azure_stream_takes_id_and_model_after_the_prompt_filter_chunk(instrumented, mock):
    client = openai.AzureOpenAI(azure_endpoint=mock.url, api_key="k", api_version="2024-10-21", max_retries=0)
    chunks = list(client.chat.completions.create(model="my-deployment", messages=MESSAGES, stream=True))
    assert chunks[0].id == "" and chunks[0].model == ""  # Azure's prompt-filter chunk
    a = instrumented.only_span().attributes
    assert a["gen_ai.response.id"] == chunks[1].id
    assert a["gen_ai.response.model"] == chunks[1].model
    assert a["gen_ai.response.finish_reasons"] == ("stop",)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("api.groq.com", "groq"),
        ("api.deepseek.com", "deepseek"),
        ("api.x.ai", "x_ai"),
        ("openrouter.ai", "openrouter"),
        ("myresource.openai.azure.com", "azure.ai.openai"),
        ("vllm.internal", "openai"),
    ],
)
def test_compatible_servers_named_by_host(host, expected):
    from otel_llm.providers.openai import provider_of

    assert provider_of(openai.OpenAI(api_key="k"), host, 443) == expected


def test_ollama_by_port():
    from otel_llm.providers.openai import provider_of

    assert provider_of(openai.OpenAI(api_key="k"), "localhost", 11434) == "ollama"


@pytest.mark.parametrize("api", ["chat", "chat-stream", "responses", "responses-stream"])
@pytest.mark.parametrize("tier", ["priority", "flex"])
def test_service_tier_selects_the_tier_prices(instrumented, openai_client, api, tier):
    from genai_prices import Usage, calc_price

    stream = api.endswith("stream")
    if api.startswith("chat"):
        options = {"stream_options": {"include_usage": True}} if stream else {}
        result = openai_client.chat.completions.create(
            model="gpt-5", messages=MESSAGES, service_tier=tier, stream=stream, **options
        )
    else:
        result = openai_client.responses.create(model="gpt-5", input="hi", service_tier=tier, stream=stream)
    if stream:
        list(result)
    a = instrumented.only_span().attributes
    usage = Usage(input_tokens=a["gen_ai.usage.input_tokens"], output_tokens=a["gen_ai.usage.output_tokens"])
    expected = calc_price(usage, "gpt-5", provider_id="openai", price_context={"service_tier": tier})
    assert expected.total_price != calc_price(usage, "gpt-5", provider_id="openai").total_price
    assert a["otel_llm.cost"] == pytest.approx(float(expected.total_price))


def test_unknown_model_is_counted_unpriced(instrumented, openai_client):
    openai_client.chat.completions.create(model="my-private-model", messages=MESSAGES)
    a = instrumented.only_span().attributes
    assert "otel_llm.cost" not in a
    found = instrumented.metrics()
    assert (
        sum(
            p.value
            for p in points(found, "otel_llm.cost.unpriced", gen_ai__request__model="my-private-model")
        )
        == 1
    )


def test_price_override_applies(telemetry, openai_client):
    import otel_llm

    otel_llm.instrument(price_overrides={"my-private-model": {"input_mtok": 1_000_000, "output_mtok": 0}})
    try:
        result = openai_client.chat.completions.create(model="my-private-model", messages=MESSAGES)
    finally:
        otel_llm.uninstrument()
    a = telemetry.only_span().attributes
    assert a["otel_llm.cost"] == pytest.approx(result.usage.prompt_tokens * 1.0)
    assert a["otel_llm.cost.source"] == "override"


def test_json_body_sent_unchanged(instrumented, openai_client, mock):
    openai_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, temperature=0.5)
    body = mock.requests[-1]["json"]
    assert body == {"model": "gpt-4o", "messages": MESSAGES, "temperature": 0.5}
    json.dumps(body)


def test_metrics_carry_exemplars_linking_to_the_calls_span(instrumented, openai_client):
    # Measurements are recorded off the caller's thread, with the call's context, so the
    # exemplar still points at the call's span.
    openai_client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    span = instrumented.only_span()
    [point] = points(instrumented.metrics(), "gen_ai.client.operation.duration")
    assert point.exemplars
    assert point.exemplars[0].span_id == span.context.span_id
    assert point.exemplars[0].trace_id == span.context.trace_id


def test_metric_backlog_is_recorded_on_the_callers_thread(instrumented, openai_client, monkeypatch):
    from otel_llm import telemetry

    openai_client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # start the worker
    instrumented.reset()
    monkeypatch.setattr(telemetry, "MAX_PENDING_BATCHES", -1)  # as if the worker were far behind

    # Anything still sent to the queue would be lost here, so only the caller-side path can pass.
    class DroppingQueue:
        def qsize(self) -> int:
            return 0

        def put(self, item: object) -> None:
            pass

    monkeypatch.setattr(telemetry.METRIC_WORKER, "_queue", DroppingQueue())
    result = openai_client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    monkeypatch.undo()
    found = instrumented.metrics()
    tokens = points(found, "gen_ai.client.token.usage", gen_ai__token__type="input")
    assert [p.sum for p in tokens] == [result.usage.prompt_tokens]

"""Streams finalise exactly once: exhausted, closed early, interrupted, or dropped unread."""

from __future__ import annotations

import gc
import warnings

import anthropic
import openai
import pytest

MESSAGES = [{"role": "user", "content": "Tell me a story"}]
CHUNKS = {"x-mock-chunks": "10"}


def _openai_stream(client):
    return client.chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=CHUNKS,
    )


def test_closed_early_ends_span_once(instrumented, openai_client):
    stream = _openai_stream(openai_client)
    first = next(iter(stream))
    assert first.choices
    stream.close()
    [span] = instrumented.genai_spans()
    assert span.attributes["otel_llm.stream.end"] == "closed"
    assert span.attributes["otel_llm.stream.chunks"] == 1
    # Closing again, or iterating the closed stream, adds nothing.
    stream.close()
    del stream
    gc.collect()
    assert len(instrumented.genai_spans()) == 1


def test_context_manager_closes_and_ends_span(instrumented, openai_client):
    with _openai_stream(openai_client) as stream:
        for index, _ in enumerate(stream):
            if index == 2:
                break
    [span] = instrumented.genai_spans()
    assert span.attributes["otel_llm.stream.end"] == "closed"


def test_dropped_stream_still_ends_its_span(instrumented, openai_client):
    stream = _openai_stream(openai_client)
    assert instrumented.genai_spans() == []
    del stream
    gc.collect()
    [span] = instrumented.genai_spans()
    assert span.attributes["otel_llm.stream.end"] == "dropped"


def test_partially_read_dropped_stream_ends_once(instrumented, anthropic_client):
    stream = anthropic_client.messages.create(
        model="claude-haiku-4-5", max_tokens=50, messages=MESSAGES, stream=True, extra_headers=CHUNKS
    )
    next(iter(stream))
    del stream
    gc.collect()
    [span] = instrumented.genai_spans()
    assert span.attributes["otel_llm.stream.end"] in ("closed", "dropped")
    assert span.attributes["gen_ai.usage.input_tokens"] > 0


def test_exception_in_the_apps_loop_ends_span(instrumented, openai_client):
    stream = _openai_stream(openai_client)
    with pytest.raises(ZeroDivisionError):
        for _ in stream:
            1 / 0  # noqa: B018
    stream.close()
    [span] = instrumented.genai_spans()
    assert span.attributes["otel_llm.stream.end"] == "closed"


def test_response_attribute_and_next_still_work(instrumented, openai_client):
    stream = _openai_stream(openai_client)
    assert stream.response.status_code == 200
    chunks = []
    while True:
        try:
            chunks.append(next(stream))
        except StopIteration:
            break
    [span] = instrumented.genai_spans()
    assert span.attributes["otel_llm.stream.chunks"] == len(chunks)
    assert span.attributes["gen_ai.usage.output_tokens"] == chunks[-1].usage.completion_tokens


async def test_async_close_ends_span(instrumented, async_openai_client):
    stream = await async_openai_client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, extra_headers=CHUNKS
    )
    async for _ in stream:
        break
    await stream.close()
    [span] = instrumented.genai_spans()
    assert span.attributes["otel_llm.stream.end"] == "closed"


async def test_async_anthropic_stream_context_manager(instrumented, async_anthropic_client):
    stream = await async_anthropic_client.messages.create(
        model="claude-haiku-4-5", max_tokens=50, messages=MESSAGES, stream=True
    )
    async with stream:
        async for _ in stream:
            pass
    [span] = instrumented.genai_spans()
    assert span.attributes["otel_llm.stream.end"] == "complete"


def test_anthropic_stream_helper_closed_early(instrumented, anthropic_client):
    with anthropic_client.messages.stream(
        model="claude-haiku-4-5", max_tokens=50, messages=MESSAGES, extra_headers=CHUNKS
    ) as stream:
        for _ in stream.text_stream:
            break
    [span] = instrumented.genai_spans()
    assert span.attributes["otel_llm.stream.end"] == "closed"
    assert isinstance(stream, anthropic.lib.streaming.MessageStream)


def test_openai_chat_stream_helper_left_early_ends_span(instrumented, openai_client):
    with openai_client.chat.completions.stream(
        model="gpt-4o", messages=MESSAGES, extra_headers=CHUNKS
    ) as stream:
        for _ in stream:
            break
    # `stream` is still referenced: the span ended on leaving the block, not at garbage collection.
    [span] = instrumented.genai_spans()
    assert span.attributes["otel_llm.stream.end"] == "closed"
    assert isinstance(stream, openai.lib.streaming.chat.ChatCompletionStream)


def test_openai_responses_stream_helper_left_early_ends_span(instrumented, openai_client):
    with openai_client.responses.stream(model="gpt-4o", input="Tell me a story") as stream:
        for _ in stream:
            break
    [span] = instrumented.genai_spans()
    assert span.attributes["otel_llm.stream.end"] == "closed"


async def test_async_openai_chat_stream_helper_left_early_ends_span(instrumented, async_openai_client):
    async with async_openai_client.chat.completions.stream(
        model="gpt-4o", messages=MESSAGES, extra_headers=CHUNKS
    ) as stream:
        async for _ in stream:
            break
    [span] = instrumented.genai_spans()
    assert span.attributes["otel_llm.stream.end"] == "closed"


def test_openai_chat_stream_helper_read_to_the_end_is_complete(instrumented, openai_client):
    with openai_client.chat.completions.stream(model="gpt-4o", messages=MESSAGES) as stream:
        completion = stream.get_final_completion()
    [span] = instrumented.genai_spans()
    assert span.attributes["otel_llm.stream.end"] == "complete"
    assert completion.choices[0].message.content


async def test_async_anthropic_stream_manager_never_entered_leaves_no_coroutine_of_ours(
    instrumented, async_anthropic_client
):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        manager = async_anthropic_client.messages.stream(
            model="claude-haiku-4-5", max_tokens=50, messages=MESSAGES
        )
        del manager
        gc.collect()
    # The SDK's own un-awaited request is the app's (the same without us); none may be ours.
    assert [str(w.message) for w in caught if "call_async" in str(w.message)] == []
    assert instrumented.genai_spans() == []
    async with async_anthropic_client.messages.stream(
        model="claude-haiku-4-5", max_tokens=50, messages=MESSAGES
    ) as stream:
        text = [t async for t in stream.text_stream]
    [span] = instrumented.genai_spans()
    assert span.attributes["otel_llm.stream.end"] == "complete"
    assert text


def test_time_per_output_chunk_recorded_for_each_chunk_after_the_first(instrumented, anthropic_client):
    stream = anthropic_client.messages.create(
        model="claude-haiku-4-5", max_tokens=50, messages=MESSAGES, stream=True, extra_headers=CHUNKS
    )
    events = list(stream)
    found = instrumented.metrics()
    assert sum(p.count for p in found["gen_ai.client.operation.time_per_output_chunk"]) == len(events) - 1
    assert sum(p.count for p in found["gen_ai.client.operation.time_to_first_chunk"]) == 1


def test_stream_parsed_from_a_temporary_raw_response_ends_when_read(instrumented, openai_client):
    stream = openai_client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    ).parse()
    gc.collect()  # the raw response is gone; the stream is not
    assert instrumented.genai_spans() == []
    chunks = list(stream)
    [span] = instrumented.genai_spans()
    assert span.attributes["otel_llm.stream.end"] == "complete"
    assert span.attributes["otel_llm.stream.chunks"] == len(chunks)
    assert span.attributes["gen_ai.usage.output_tokens"] == chunks[-1].usage.completion_tokens


async def test_async_stream_parsed_from_a_temporary_raw_response_ends_when_read(
    instrumented, async_openai_client
):
    raw = await async_openai_client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    stream = raw.parse()
    del raw
    gc.collect()
    assert instrumented.genai_spans() == []
    chunks = [chunk async for chunk in stream]
    [span] = instrumented.genai_spans()
    assert span.attributes["otel_llm.stream.end"] == "complete"
    assert span.attributes["otel_llm.stream.chunks"] == len(chunks)


def test_anthropic_stream_parsed_from_a_temporary_raw_response_ends_when_read(instrumented, anthropic_client):
    stream = anthropic_client.messages.with_raw_response.create(
        model="claude-haiku-4-5", max_tokens=50, messages=MESSAGES, stream=True
    ).parse()
    gc.collect()
    events = list(stream)
    [span] = instrumented.genai_spans()
    assert span.attributes["otel_llm.stream.end"] == "complete"
    assert span.attributes["otel_llm.stream.chunks"] == len(events)
    assert span.attributes["gen_ai.usage.output_tokens"] > 0


def test_uninstrumented_stream_type_unchanged(openai_client):
    assert type(_openai_stream(openai_client)) is openai.Stream

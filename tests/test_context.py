"""Context and concurrency: parentage across threads and tasks, one span per call, clean (un)instrument."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx2
import openai
import pytest
import wrapt
from opentelemetry import context, trace
from opentelemetry.instrumentation.utils import _SUPPRESS_INSTRUMENTATION_KEY

import otel_llm
from otel_llm import attribution, validators
from otel_llm.patching import PATCHERS

tracer = trace.get_tracer("app")


def _ask(client, words: int):
    return client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "w " * words}]
    )


def test_span_is_child_of_the_apps_span(instrumented, openai_client):
    with tracer.start_as_current_span("handle-request") as parent:
        _ask(openai_client, 3)
    span = instrumented.only_span()
    assert span.parent.span_id == parent.get_span_context().span_id
    assert span.context.trace_id == parent.get_span_context().trace_id


def test_threads_keep_their_own_parents(instrumented, openai_client):
    parents: dict[int, int] = {}

    def work(words: int) -> None:
        with tracer.start_as_current_span(f"job-{words}") as parent:
            _ask(openai_client, words)
            parents[words] = parent.get_span_context().span_id

    threads = [threading.Thread(target=work, args=(n,)) for n in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spans = instrumented.genai_spans()
    assert len(spans) == 8
    for span in spans:
        # Input tokens = words + 3 (mock formula) identify which thread made the call.
        words = span.attributes["gen_ai.usage.input_tokens"] - 3
        assert span.parent.span_id == parents[words]


async def test_thousand_concurrent_async_calls(instrumented, mock, caplog):
    # 1,000 concurrent calls over a pool of 100 connections (the mock server is thread-per-connection).
    http_client = openai.DefaultAsyncHttpxClient(limits=httpx2.Limits(max_connections=100))
    client = openai.AsyncOpenAI(
        base_url=mock.openai_base_url, api_key="k", max_retries=0, http_client=http_client
    )
    parents: dict[int, int] = {}

    async def one(words: int) -> int:
        with tracer.start_as_current_span(f"task-{words}") as parent:
            parents[words] = parent.get_span_context().span_id
            result = await _ask_async(client, words)
            return result.usage.prompt_tokens

    caplog.set_level(logging.ERROR, logger="opentelemetry.context")
    results = await asyncio.gather(*(one(n) for n in range(1, 1001)))
    assert results == [n + 3 for n in range(1, 1001)]
    spans = instrumented.genai_spans()
    assert len(spans) == 1000
    for span in spans:
        words = span.attributes["gen_ai.usage.input_tokens"] - 3
        assert span.parent.span_id == parents[words]
    assert "Failed to detach context" not in caplog.text


async def _ask_async(client, words: int):
    return await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "w " * words}]
    )


def test_instrument_twice_adds_nothing(telemetry, openai_client):
    otel_llm.instrument()
    otel_llm.instrument()
    try:
        _ask(openai_client, 2)
    finally:
        otel_llm.uninstrument()
    assert len(telemetry.genai_spans()) == 1


def test_uninstrument_restores_the_originals(telemetry, openai_client):
    from openai.resources.chat.completions.completions import Completions

    original = Completions.__dict__["create"]
    otel_llm.instrument()
    assert hasattr(Completions.__dict__["create"], "_self_wrapper")
    otel_llm.uninstrument()
    assert Completions.__dict__["create"] is original
    assert otel_llm.instrumented_providers() == []
    _ask(openai_client, 2)
    assert telemetry.genai_spans() == []


def test_suppress_instrumentation_key_is_honoured(instrumented, openai_client):
    token = context.attach(context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
    try:
        result = _ask(openai_client, 2)
    finally:
        context.detach(token)
    assert result.choices
    assert instrumented.genai_spans() == []


def test_another_instrumentor_is_detected_and_reported(telemetry, openai_client, caplog):
    from openai.resources.chat.completions.completions import Completions

    def foreign(wrapped, instance, args, kwargs):
        return wrapped(*args, **kwargs)

    original = Completions.__dict__["create"]
    wrapt.wrap_function_wrapper(Completions, "create", foreign)
    try:
        caplog.set_level(logging.WARNING, logger="otel_llm")
        otel_llm.instrument()
        try:
            assert any("Completions.create" in c for c in PATCHERS["openai"].conflicts)
            assert "also instrumented by" in caplog.text
            _ask(openai_client, 2)
        finally:
            otel_llm.uninstrument()
    finally:
        Completions.create = original
    assert len(telemetry.genai_spans()) == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX-only")
def test_calls_in_a_forked_child_are_recorded(instrumented, openai_client):
    _ask(openai_client, 1)  # resolve providers and warm the price table in the parent
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: a gunicorn/Celery worker after fork
        try:
            instrumented.reset()
            _ask(openai_client, 5)
            count = len(instrumented.genai_spans())
            os.write(write_end, str(count).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    assert os.read(read_end, 16) == b"1"
    assert status == 0


def test_submit_passes_fn_and_layers_keywords_to_the_task(instrumented):
    def task(fn=None, layers=None):
        return fn, layers

    with ThreadPoolExecutor(max_workers=1) as pool, otel_llm.attributes(feature="f"):
        assert pool.submit(task, fn="a").result() == ("a", None)
        assert pool.submit(task, layers="b").result() == (None, "b")


def test_a_pool_thread_started_inside_a_layer_does_not_keep_it_for_later_tasks(instrumented, openai_client):
    with ThreadPoolExecutor(max_workers=1) as pool:
        with (
            otel_llm.attributes(feature="alice-feature", user_id="alice"),
            otel_llm.expect(validators.json(), on_fail="raise"),
        ):
            pool.submit(lambda: None).result()  # the pool's only thread starts here
        pool.submit(_ask, openai_client, 2).result()  # not JSON: must not raise
    span = instrumented.only_span()
    assert "otel_llm.feature" not in span.attributes and "user.id" not in span.attributes


async def test_run_in_executor_tasks_get_the_callers_layers_not_the_threads_first(
    instrumented, openai_client
):
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=1) as pool:
        with otel_llm.attributes(feature="first"):
            await loop.run_in_executor(pool, lambda: None)
        await loop.run_in_executor(pool, _ask, openai_client, 2)
        with otel_llm.attributes(feature="second"):
            await loop.run_in_executor(pool, _ask, openai_client, 2)
    plain, second = instrumented.genai_spans()
    assert "otel_llm.feature" not in plain.attributes
    assert second.attributes["otel_llm.feature"] == "second"


def test_a_pool_task_never_sees_a_layer_an_earlier_task_left_entered(instrumented):
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(lambda: otel_llm.attributes(feature="left-open").__enter__()).result()
        assert pool.submit(attribution.current).result() == {}
        with otel_llm.attributes(tenant="acme"):
            assert pool.submit(attribution.current).result() == {"otel_llm.tenant": "acme"}


def test_uninstrument_keeps_thread_patches_another_library_added_after_ours(telemetry):
    seen = []

    def other_library(wrapped, instance, args, kwargs):
        seen.append(wrapped.__name__)
        return wrapped(*args, **kwargs)

    otel_llm.instrument()
    wrapt.wrap_function_wrapper(threading.Thread, "start", other_library)
    wrapt.wrap_function_wrapper(ThreadPoolExecutor, "submit", other_library)
    try:
        otel_llm.uninstrument()
        with ThreadPoolExecutor(max_workers=1) as pool, otel_llm.attributes(feature="f"):
            assert pool.submit(attribution.current).result() == {}  # ours passes through
        assert seen == ["submit", "start"]
    finally:
        for owner, name in ((threading.Thread, "start"), (ThreadPoolExecutor, "submit")):
            setattr(owner, name, vars(owner)[name].__wrapped__)  # ours again, then the original
        otel_llm.instrument()
        otel_llm.uninstrument()
    assert not hasattr(vars(threading.Thread)["start"], "__wrapped__")
    assert not hasattr(vars(ThreadPoolExecutor)["submit"], "__wrapped__")

"""otel_llm.attributes(): on every span inside, feature and prompt version (bounded) on metrics,
never user ids; following asyncio tasks; selecting validation rules and per-feature budgets."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest
from conftest import points

import otel_llm
from otel_llm import attribution, validators
from otel_llm.guards import Budget, BudgetExceededError

MESSAGES = [{"role": "user", "content": "hi"}]


def _chat(client, output: str = "ok"):
    return client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, max_tokens=20, extra_headers={"x-mock-output": output}
    )


def test_attributes_go_on_spans_and_only_feature_and_prompt_version_on_metrics(instrumented, openai_client):
    with otel_llm.attributes(
        feature="support-reply", prompt_version="v7", user_id="u-123", tenant="acme", plan="pro"
    ):
        _chat(openai_client)
        with otel_llm.attributes(prompt_version="v8"):
            _chat(openai_client)
    _chat(openai_client)
    first, nested, outside = instrumented.genai_spans()
    assert first.attributes["otel_llm.feature"] == "support-reply"
    assert first.attributes["otel_llm.prompt.version"] == "v7"
    assert first.attributes["user.id"] == "u-123"
    assert first.attributes["otel_llm.tenant"] == "acme"
    assert first.attributes["otel_llm.attr.plan"] == "pro"
    assert nested.attributes["otel_llm.prompt.version"] == "v8"
    assert nested.attributes["otel_llm.feature"] == "support-reply"
    assert "otel_llm.feature" not in outside.attributes
    found = instrumented.metrics()
    durations = points(found, "gen_ai.client.operation.duration")
    assert {
        (p.attributes.get("otel_llm.feature"), p.attributes.get("otel_llm.prompt.version")) for p in durations
    } == {
        ("support-reply", "v7"),
        ("support-reply", "v8"),
        (None, None),
    }
    for metric in found.values():
        for p in metric:
            assert "user.id" not in p.attributes and "otel_llm.tenant" not in p.attributes


def test_metric_values_are_bounded(instrumented, openai_client, monkeypatch):
    monkeypatch.setattr(attribution, "MAX_VALUES", 2)
    monkeypatch.setattr(attribution, "_seen", {key: set() for key in attribution._METRIC_KEYS})
    for i in range(4):
        with otel_llm.attributes(feature=f"f{i}"):
            _chat(openai_client)
    features = {
        p.attributes.get("otel_llm.feature")
        for p in points(instrumented.metrics(), "gen_ai.client.operation.duration")
    }
    assert features == {"f0", "f1", "other"}
    assert instrumented.genai_spans()[-1].attributes["otel_llm.feature"] == "f3"  # spans keep the value


async def test_attributes_follow_asyncio_tasks_and_decorators(instrumented, async_openai_client):
    @otel_llm.attributes(feature="async-feature")
    async def ask():
        return await async_openai_client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, max_tokens=5
        )

    await asyncio.gather(ask(), ask())
    assert [s.attributes["otel_llm.feature"] for s in instrumented.genai_spans()] == ["async-feature"] * 2


def test_bad_attribute_values_raise():
    with pytest.raises(TypeError, match="feature"):
        otel_llm.attributes(feature=["a", "b"])


def test_rules_and_budgets_select_calls_by_feature(telemetry, openai_client):
    otel_llm.instrument(
        validation=[{"feature": "extract*", "prompt_version": "v2", "validators": [{"type": "json"}]}],
        budgets=[Budget(limit_usd=1e-9, scope="feature", name="per-feature")],
    )
    try:
        _chat(openai_client, "no feature: no rule, no budget")
        with (
            otel_llm.attributes(feature="extract-order", prompt_version="v2"),
            pytest.raises(BudgetExceededError),
        ):
            _chat(openai_client)
        otel_llm.instrument(
            validation=[{"feature": "extract*", "prompt_version": "v2", "validators": [{"type": "json"}]}]
        )
        with otel_llm.attributes(feature="extract-order", prompt_version="v1"):
            _chat(openai_client, "not json")  # another prompt version: no rule
        with otel_llm.attributes(feature="extract-order", prompt_version="v2"):
            _chat(openai_client, "not json")
    finally:
        otel_llm.uninstrument()
    plain, blocked, other_version, checked = telemetry.genai_spans()
    assert not [e for e in plain.events if e.name == "gen_ai.evaluation.result"]
    assert blocked.attributes["error.type"] == "BudgetExceededError"
    assert not [e for e in other_version.events if e.name == "gen_ai.evaluation.result"]
    [event] = [e for e in checked.events if e.name == "gen_ai.evaluation.result"]
    assert event.attributes["gen_ai.evaluation.score.label"] == "fail"


def test_attributes_can_be_read_where_calls_are_made():
    assert attribution.current() == {}
    with otel_llm.attributes(feature="x"):
        assert attribution.feature() == "x" and dict(attribution.current()) == {"otel_llm.feature": "x"}
    assert attribution.feature() is None


def test_attributes_follow_plain_threads_and_thread_pools(instrumented, openai_client):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    class Worker(threading.Thread):  # a subclass with its own run() is covered too
        def run(self):
            _chat(openai_client)

    with otel_llm.attributes(feature="threaded", prompt_version="v2"):
        plain = threading.Thread(target=_chat, args=(openai_client,))
        plain.start()
        plain.join()
        worker = Worker()
        worker.start()
        worker.join()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda _: _chat(openai_client), range(2)))
            pool.submit(_chat, openai_client).result()
    outside = threading.Thread(target=_chat, args=(openai_client,))
    outside.start()
    outside.join()
    spans = instrumented.genai_spans()
    assert [s.attributes.get("otel_llm.feature") for s in spans] == ["threaded"] * 5 + [None]
    assert {s.attributes.get("otel_llm.prompt.version") for s in spans[:5]} == {"v2"}
    durations = points(instrumented.metrics(), "gen_ai.client.operation.duration")
    assert {p.attributes.get("otel_llm.feature"): p.count for p in durations} == {"threaded": 5, None: 1}


def test_expectations_follow_threads_and_threads_start_clean_after_uninstrument(instrumented, openai_client):
    import threading

    results = []

    def call():
        try:
            _chat(openai_client, output="not json")
            results.append("returned")
        except otel_llm.OutputValidationError:
            results.append("raised")

    with otel_llm.expect(otel_llm.validators.json(), on_fail="raise"):
        thread = threading.Thread(target=call)
        thread.start()
        thread.join()
    otel_llm.uninstrument()
    assert type(vars(threading.Thread)["start"]).__name__ == "function"  # the patch is gone
    with otel_llm.attributes(feature="after"):
        thread = threading.Thread(target=lambda: results.append(attribution.feature()))
        thread.start()
        thread.join()
    assert results == ["raised", None]


SUPPORT = otel_llm.attributes(feature="support")


async def test_one_attributes_object_can_be_used_by_concurrent_tasks(instrumented, async_openai_client):
    second_inside, first_left = asyncio.Event(), asyncio.Event()

    async def handler(entered: asyncio.Event | None, wait_for: asyncio.Event):
        with SUPPORT:
            if entered:
                entered.set()
            await wait_for.wait()  # the first task in leaves first
            await async_openai_client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, max_tokens=5
            )
        first_left.set()

    await asyncio.gather(handler(None, second_inside), handler(second_inside, first_left))
    assert [s.attributes["otel_llm.feature"] for s in instrumented.genai_spans()] == ["support"] * 2
    assert attribution.current() == {}


def test_one_expect_object_can_be_used_by_concurrent_threads(instrumented, openai_client):
    must_be_json = otel_llm.expect(validators.json(), on_fail="raise")
    first_inside, second_inside, first_left = threading.Event(), threading.Event(), threading.Event()
    errors = []

    def handler(entered: threading.Event, wait_for: threading.Event):
        try:
            with must_be_json:
                entered.set()
                wait_for.wait(5)  # the first thread in leaves first
                _chat(openai_client, "not json")
        except Exception as exc:
            errors.append(type(exc).__name__)
        first_left.set()

    first = threading.Thread(target=handler, args=(first_inside, second_inside))
    second = threading.Thread(target=handler, args=(second_inside, first_left))
    first.start()
    first_inside.wait(5)
    second.start()
    first.join()
    second.join()
    assert errors == ["OutputValidationError"] * 2


def test_a_decorated_generator_has_the_layer_in_every_step_and_keeps_send_throw_close(
    instrumented, openai_client
):
    @otel_llm.attributes(feature="sync-gen")
    def replies():
        received = yield _chat(openai_client)
        with otel_llm.attributes(prompt_version="v2"):  # a block of the body's own across yields
            yield received
            yield _chat(openai_client)
        return "done"

    gen = replies()
    next(gen)
    assert attribution.current() == {}  # the layer stays inside the generator
    assert gen.send("sent") == "sent"
    next(gen)
    with pytest.raises(StopIteration) as stop:
        next(gen)
    assert stop.value.value == "done"
    first, second = instrumented.genai_spans()
    assert first.attributes["otel_llm.feature"] == "sync-gen"
    assert "otel_llm.prompt.version" not in first.attributes
    assert second.attributes["otel_llm.feature"] == "sync-gen"
    assert second.attributes["otel_llm.prompt.version"] == "v2"

    closed = []

    @otel_llm.attributes(feature="f")
    def handles_errors():
        try:
            yield 1
        except KeyError:
            yield attribution.feature()
        finally:
            closed.append(attribution.feature())

    gen = handles_errors()
    next(gen)
    assert gen.throw(KeyError()) == "f"
    gen.close()
    assert closed == ["f"]


async def test_a_decorated_async_generator_has_the_layer_in_every_step(instrumented, async_openai_client):
    closed = []

    async def chat():
        return await async_openai_client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, max_tokens=5
        )

    @otel_llm.attributes(feature="async-gen")
    async def replies():
        try:
            received = yield await chat()
            yield received
            yield await chat()
            yield "not thrown"
        except KeyError:
            yield "thrown"
        finally:
            closed.append(attribution.feature())

    gen = replies()
    await gen.__anext__()
    assert attribution.current() == {}
    assert await gen.asend("sent") == "sent"
    await gen.__anext__()
    assert await gen.athrow(KeyError()) == "thrown"
    await gen.aclose()
    assert closed == ["async-gen"]
    assert [s.attributes.get("otel_llm.feature") for s in instrumented.genai_spans()] == ["async-gen"] * 2


def test_expect_raise_on_a_generator_function_checks_its_calls(instrumented, openai_client):
    @otel_llm.expect(validators.json(), on_fail="raise")
    def replies():
        yield _chat(openai_client, "not json")

    with pytest.raises(otel_llm.OutputValidationError):
        list(replies())


def test_a_decorated_generator_resumed_from_other_threads_never_raises(instrumented, openai_client):
    @otel_llm.attributes(feature="streamed")
    def replies():
        with otel_llm.attributes(prompt_version="v2"):  # left in another thread than it was entered
            yield _chat(openai_client)
            yield _chat(openai_client)

    def in_a_new_thread(step):  # each step in a copy of the caller's context, as anyio does
        context, results = contextvars.copy_context(), []
        thread = threading.Thread(target=lambda: results.append(context.run(step)))
        thread.start()
        thread.join()
        return results[0]

    gen = replies()
    while in_a_new_thread(lambda: next(gen, None)) is not None:
        pass
    assert [s.attributes["otel_llm.feature"] for s in instrumented.genai_spans()] == ["streamed"] * 2

"""Budgets, rate limits and the loop guard with real SDK clients against the mock provider (and a
real redis-server for the shared store): they stop calls before the provider sees them, reserve the
worst case so concurrent calls cannot overshoot, reconcile with the actual usage, record every
decision, and keep acting with telemetry disabled."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest
from conftest import points

import otel_llm
from otel_llm.guards import (
    Budget,
    BudgetExceededError,
    LoopDetectedError,
    LoopGuard,
    RateLimit,
    RateLimitedError,
    guard_key,
    window_of,
)
from otel_llm.telemetry import get_guards

MODEL = "gpt-4o-mini"  # priced by genai-prices: 0.15 / 0.60 USD per million tokens


def _chat(client, text: str = "Hello there", **extra):
    return client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": text}], max_tokens=100, **extra
    )


@pytest.fixture
def guarded(telemetry):
    """instrument() with the given guards; uninstrument() afterwards."""

    def start(**settings):
        otel_llm.instrument(**settings)
        return telemetry

    yield start
    otel_llm.uninstrument()
    otel_llm.instrument()  # back to no guards
    otel_llm.uninstrument()


def _worst_case_usd() -> float:
    """What one _chat() reserves: its estimated input plus max_tokens of output, priced."""
    from otel_llm.guards import CallInfo, estimate_input_tokens

    info = CallInfo("openai", MODEL, {"messages": [{"role": "user", "content": "Hello there"}]})
    return get_guards().prices.cost("openai", MODEL, estimate_input_tokens(info.kwargs), 100).usd


def _decisions(found, guard: str, decision: str) -> float:
    return sum(
        p.value
        for p in points(
            found, "otel_llm.guard.decisions", otel_llm__guard=guard, otel_llm__guard__decision=decision
        )
    )


def test_budget_blocks_before_the_provider_is_called_and_reconciles_with_actual_cost(
    guarded, openai_client, mock
):
    guarded(budgets=[Budget(limit_usd=1.0)])
    worst = _worst_case_usd()
    otel_llm.uninstrument()
    budget = Budget(limit_usd=worst * 2.5, window="day", name="small")
    telemetry = guarded(budgets=[budget])
    guards = get_guards()
    _chat(openai_client)
    first = guards.spent(budget)
    assert 0 < first < worst / 2  # reconciled: the actual usage is far below max_tokens
    _chat(openai_client)
    _chat(openai_client)  # three fit in 2.5 worst cases: each is given back what it did not use
    assert guards.spent(budget) == pytest.approx(3 * first)
    label, expires_at = window_of("day", time.time())
    guards.store.adjust(
        f"budget:small:all:{label}", budget.limit_usd - guards.spent(budget) - worst / 2, expires_at
    )
    sent = len(mock.requests)
    with pytest.raises(BudgetExceededError, match="small"):
        _chat(openai_client)  # its worst case no longer fits
    assert len(mock.requests) == sent  # no money spent: the provider never saw it
    spans = telemetry.genai_spans()
    assert spans[-1].attributes["error.type"] == "BudgetExceededError"
    assert spans[-1].attributes["otel_llm.guard.decisions"] == ("budget:block",)
    assert spans[0].attributes["otel_llm.guard.decisions"] == ("budget:allow",)
    found = telemetry.metrics()
    assert _decisions(found, "budget", "allow") == 3 and _decisions(found, "budget", "block") == 1
    [limit] = points(found, "otel_llm.budget.limit", otel_llm__guard__name="small")
    assert limit.value == pytest.approx(worst * 2.5)
    [gauge] = points(found, "otel_llm.budget.spent", otel_llm__guard__name="small")
    assert gauge.value == pytest.approx(guards.spent(budget))


def test_concurrent_calls_cannot_overshoot_the_budget(guarded, openai_client):
    guarded(budgets=[Budget(limit_usd=1.0)])
    worst = _worst_case_usd()
    otel_llm.uninstrument()
    # room for exactly 5 worst cases: with reservations, at most 5 of 20 concurrent calls pass
    guarded(budgets=[Budget(limit_usd=worst * 5.5, name="tight")])
    outcomes: list[str] = []
    gate = threading.Barrier(20)

    def call():
        gate.wait()
        try:
            _chat(openai_client, extra_headers={"x-mock-fault": "slow:0.3"})
            outcomes.append("ok")
        except BudgetExceededError:
            outcomes.append("blocked")

    threads = [threading.Thread(target=call) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert outcomes.count("ok") == 5 and outcomes.count("blocked") == 15


def test_warn_budget_lets_calls_through_and_records_warn(guarded, openai_client):
    telemetry = guarded(budgets=[Budget(limit_usd=1e-9, action="warn", name="tiny")])
    reply = _chat(openai_client)
    assert reply.choices[0].message.content
    [span] = telemetry.genai_spans()
    assert span.attributes["otel_llm.guard.decisions"] == ("budget:warn",)
    assert _decisions(telemetry.metrics(), "budget", "warn") == 1


def test_budget_scopes_by_model_and_by_key(guarded, openai_client):
    guarded(budgets=[Budget(limit_usd=1e-9, scope="key", name="per-tenant")])
    _chat(openai_client)  # no key set: a per-key budget does not apply
    with guard_key("tenant-1"), pytest.raises(BudgetExceededError):
        _chat(openai_client)
    otel_llm.uninstrument()
    guarded(budgets=[Budget(limit_usd=1e-9, scope="model", name="per-model")])
    with pytest.raises(BudgetExceededError):
        _chat(openai_client)


def test_unpriced_models_pass_and_are_counted(guarded, openai_client):
    telemetry = guarded(budgets=[Budget(limit_usd=1e-9)])
    openai_client.chat.completions.create(
        model="my-private-model", messages=[{"role": "user", "content": "hi"}], max_tokens=5
    )
    [span] = telemetry.genai_spans()
    assert span.attributes["otel_llm.guard.decisions"] == ("budget:allow",)


def test_rate_limit_reject_and_wait(guarded, openai_client, mock):
    telemetry = guarded(rate_limits=[RateLimit(requests_per_minute=2, action="reject", name="rpm")])
    _chat(openai_client)
    _chat(openai_client)
    sent = len(mock.requests)
    with pytest.raises(RateLimitedError, match="rpm"):
        _chat(openai_client)
    assert len(mock.requests) == sent
    assert _decisions(telemetry.metrics(), "rate_limit", "reject") == 1
    otel_llm.uninstrument()

    telemetry = guarded(rate_limits=[RateLimit(requests_per_minute=1, action="wait", max_wait_seconds=0.5)])
    _chat(openai_client)
    started = time.monotonic()
    with pytest.raises(RateLimitedError, match="waited up to 0.5"):
        _chat(openai_client)  # the next minute is further away than the wait allows
    assert time.monotonic() - started < 0.5


def test_rate_limit_wait_sleeps_until_the_next_minute(guarded, openai_client, monkeypatch):
    import otel_llm.guards as guards_module

    slept: list[float] = []
    clock = [1_800_000_000.0 + 50]  # 10 s before a minute ends

    def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(guards_module.time, "time", lambda: clock[0])
    monkeypatch.setattr(guards_module.time, "sleep", fake_sleep)
    telemetry = guarded(rate_limits=[RateLimit(requests_per_minute=1, action="wait", max_wait_seconds=30)])
    _chat(openai_client)
    _chat(openai_client)  # waits for the next minute, then goes
    assert len(slept) == 1 and 9.9 < slept[0] < 10.1
    second = telemetry.genai_spans()[-1]
    assert second.attributes["otel_llm.guard.decisions"] == ("rate_limit:wait",)


def test_tokens_per_minute_counts_estimated_input_and_reconciles(guarded, openai_client):
    guarded(rate_limits=[RateLimit(tokens_per_minute=10_000, action="reject")])
    _chat(openai_client, "word " * 1000)  # ~1250 tokens estimated, actual usage reconciled
    with pytest.raises(RateLimitedError):
        _chat(openai_client, "word " * 40_000)  # ~50,000 estimated: more than the minute allows


def test_loop_guard_blocks_the_same_request_repeated(guarded, openai_client):
    telemetry = guarded(loop_guard=LoopGuard(max_repeats=3, window=60))
    for _ in range(3):
        _chat(openai_client, "same question")
    _chat(openai_client, "a different question")
    with pytest.raises(LoopDetectedError, match="more than 3 times"):
        _chat(openai_client, "same question")
    assert _decisions(telemetry.metrics(), "loop", "block") == 1


async def test_async_calls_are_guarded_and_wait_without_blocking_the_loop(guarded, async_openai_client):
    guarded(rate_limits=[RateLimit(requests_per_minute=1, action="reject")])
    await async_openai_client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=5
    )
    with pytest.raises(RateLimitedError):
        await async_openai_client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=5
        )
    ticks = 0

    async def ticker():
        nonlocal ticks
        for _ in range(5):
            await asyncio.sleep(0.01)
            ticks += 1

    otel_llm.uninstrument()
    guarded(rate_limits=[RateLimit(requests_per_minute=1, action="wait", max_wait_seconds=0.05)])
    await async_openai_client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=5
    )
    results = await asyncio.gather(
        ticker(),
        async_openai_client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=5
        ),
        return_exceptions=True,
    )
    assert isinstance(results[1], RateLimitedError)


def test_guards_act_with_telemetry_disabled(guarded, openai_client, monkeypatch, mock):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    telemetry = guarded(loop_guard=LoopGuard(max_repeats=1), budgets=[Budget(limit_usd=1.0, name="b")])
    _chat(openai_client, "once")
    with pytest.raises(LoopDetectedError):
        _chat(openai_client, "once")
    assert telemetry.genai_spans() == []  # nothing recorded, but the guard acted
    assert 0 < get_guards().spent(Budget(limit_usd=1.0, name="b")) < 0.001  # reconciled from the result


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"budgets": [{"limit_usd": -1}]}, "limit_usd"),
        ({"budgets": [{"limit_usd": 1, "window": "week"}]}, "window"),
        ({"rate_limits": [{}]}, "requests_per_minute"),
        ({"rate_limits": [{"requests_per_minute": 5, "action": "queue"}]}, "action"),
        ({"loop_guard": {"max_repeats": 0}}, "max_repeats"),
        ({"budgets": [{"limit_usd": 1}], "guard_store": "mysql://x"}, "guard store"),
        ({"budgets": [{"limit_usd": 1}], "guard_fail": "sometimes"}, "guard_fail"),
        ({"budgets": "lots"}, "list"),
    ],
)
def test_bad_guard_configuration_raises_at_instrument(settings, message):
    with pytest.raises(otel_llm.ConfigError, match=message):
        otel_llm.instrument(**settings)


@pytest.fixture(scope="module")
def redis_url():
    from otel_llm.testing.redis_server import RedisServer

    with RedisServer() as server:
        yield server.url


def test_redis_store_shares_the_budget_between_instrumented_processes(
    guarded, openai_client, redis_url, mock
):
    import subprocess
    import sys
    import textwrap

    budget = {"limit_usd": 1e-9, "action": "warn", "name": "shared"}
    guarded(budgets=[budget], guard_store=redis_url)
    child = textwrap.dedent(
        f"""
        import openai, otel_llm
        otel_llm.instrument(budgets=[{budget!r}], guard_store={redis_url!r})
        client = openai.OpenAI(base_url={mock.openai_base_url!r}, api_key="k", max_retries=0)
        client.chat.completions.create(model={MODEL!r}, messages=[{{"role": "user", "content": "hi"}}], max_tokens=5)
        """
    )
    env = {**os.environ, "OTEL_SDK_DISABLED": "true"}
    subprocess.run([sys.executable, "-c", child], check=True, timeout=60, env=env)
    spent_by_child = get_guards().spent(Budget(**budget))
    assert spent_by_child > 0  # the child's spend is visible here
    _chat(openai_client)
    assert get_guards().spent(Budget(**budget)) > spent_by_child


def test_unreachable_redis_fails_open_by_default_and_closed_when_asked(guarded, openai_client):
    from otel_llm.testing.stack import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"
    telemetry = guarded(budgets=[Budget(limit_usd=1.0)], guard_store=url)
    started = time.monotonic()
    assert _chat(openai_client).choices[0].message.content  # open: the call goes on
    assert time.monotonic() - started < 3
    assert telemetry.genai_spans()[-1].attributes["otel_llm.guard.decisions"] == ("budget:allow",)
    errors = points(telemetry.metrics(), "otel_llm.instrumentation.errors", otel_llm__step="guard_store")
    assert sum(p.value for p in errors) == 1  # counted
    otel_llm.uninstrument()
    guarded(budgets=[Budget(limit_usd=1.0)], guard_store=url, guard_fail="closed")
    with pytest.raises(BudgetExceededError, match="unreachable"):
        _chat(openai_client)


def test_a_loop_across_a_window_boundary_is_caught(guarded, openai_client, monkeypatch):
    import otel_llm.guards as guards_module

    clock = [1_800_000_000.0 + 55]  # 5 s before a 60 s slot ends
    monkeypatch.setattr(guards_module.time, "time", lambda: clock[0])
    guarded(loop_guard=LoopGuard(max_repeats=3, window=60))
    _chat(openai_client, "again")
    _chat(openai_client, "again")
    clock[0] += 10  # the next slot
    _chat(openai_client, "again")
    with pytest.raises(LoopDetectedError):
        _chat(openai_client, "again")  # 4 within 10 s


GUARDS_FILE = """
[guards]
fail = "closed"
budgets = [{ limit_usd = 1e-9, window = "month", name = "from-file" }]
loop_guard = { max_repeats = 2, window = 30 }
"""


def test_guards_from_the_configuration_file(guarded, openai_client, tmp_path):
    path = tmp_path / "otel-llm.toml"
    path.write_text(GUARDS_FILE)
    guarded(config_file=str(path))
    guards = get_guards()
    assert guards.fail_open is False
    assert guards.loop_guard == LoopGuard(max_repeats=2, window=30)
    with pytest.raises(BudgetExceededError, match="from-file"):
        _chat(openai_client)


def test_a_call_made_while_the_app_handles_an_exception_is_not_mistaken_for_a_stopped_one(
    guarded, openai_client
):
    telemetry = guarded(budgets=[Budget(limit_usd=100.0)])
    try:
        raise KeyError("the app's own error, being handled")
    except KeyError:
        reply = _chat(openai_client)  # a fallback call inside an except block
    assert reply.choices[0].message.content
    [span] = telemetry.genai_spans()
    assert "error.type" not in span.attributes
    assert span.attributes["otel_llm.guard.decisions"] == ("budget:allow",)


def test_a_failure_inside_the_guards_never_reaches_the_app(guarded, openai_client, monkeypatch):
    telemetry = guarded(budgets=[Budget(limit_usd=1.0)])

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug in the price table")

    monkeypatch.setattr(get_guards().prices, "cost", broken)
    reply = _chat(openai_client)  # goes on, unguarded
    assert reply.choices[0].message.content
    errors = points(telemetry.metrics(), "otel_llm.instrumentation.errors", otel_llm__step="guards")
    assert sum(p.value for p in errors) >= 1
    [span] = telemetry.genai_spans()
    assert "error.type" not in span.attributes

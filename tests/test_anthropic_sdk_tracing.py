"""anthropic 2.x traces its own calls once a tracer provider exists (conftest sets one). While
instrumented, the calls otel-llm traces get exactly one span, ours, and the request still carries
the trace context; the calls otel-llm does not trace keep the SDK's own span."""

from __future__ import annotations

import wrapt
from opentelemetry import trace

import otel_llm

MESSAGES = [{"role": "user", "content": "Hello"}]


def _traceparent(mock) -> str:
    """trace id and parent span id of the last request's traceparent (flags vary: W3C random bit)."""
    version, trace_id, span_id, _flags = mock.requests[-1]["headers"]["traceparent"].split("-")
    return f"{version}-{trace_id}-{span_id}"


def test_the_request_carries_the_context_of_our_span(instrumented, mock, anthropic_client):
    with trace.get_tracer("app").start_as_current_span("handle-request") as app_span:
        anthropic_client.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=MESSAGES)
    (ours,) = [s for s in instrumented.spans() if s.instrumentation_scope.name == "otel_llm"]
    context = ours.get_span_context()
    assert _traceparent(mock) == f"00-{context.trace_id:032x}-{context.span_id:016x}"
    assert ours.parent.span_id == app_span.get_span_context().span_id
    assert [s.name for s in instrumented.spans()] == [ours.name, "handle-request"]  # no SDK span


async def test_async_requests_carry_it_too(instrumented, mock, async_anthropic_client):
    await async_anthropic_client.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=MESSAGES)
    (ours,) = instrumented.spans()
    assert _traceparent(mock) == f"00-{ours.context.trace_id:032x}-{ours.context.span_id:016x}"


def test_calls_otel_llm_does_not_trace_keep_the_sdks_own_span(instrumented, mock, anthropic_client):
    anthropic_client.beta.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=MESSAGES)
    (span,) = instrumented.spans()
    assert span.instrumentation_scope.name != "otel_llm"  # the SDK's, as without otel-llm
    assert _traceparent(mock).split("-")[2] == f"{span.context.span_id:016x}"


def test_uninstrument_leaves_a_patch_applied_after_ours(telemetry, anthropic_client):
    seen: list[str] = []

    def other_library(wrapped, instance, args, kwargs):
        seen.append("other")
        return wrapped(*args, **kwargs)

    from anthropic.resources.messages.messages import Messages

    sdk_create = vars(Messages)["create"]
    otel_llm.instrument()
    wrapt.wrap_function_wrapper(Messages, "create", other_library)
    try:
        otel_llm.uninstrument()
        anthropic_client.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=MESSAGES)
        assert seen == ["other"]
    finally:
        Messages.create = sdk_create

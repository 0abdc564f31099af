"""Errors reach the app untouched and the telemetry; internal failures never reach the app."""

from __future__ import annotations

import anthropic
import openai
import pytest
from conftest import points
from opentelemetry.trace import StatusCode

import otel_llm
from otel_llm import telemetry as core_module
from otel_llm.cost import PriceBook
from otel_llm.providers import anthropic as anthropic_adapters
from otel_llm.providers import openai as openai_adapters

SECRET_PROMPT = "my card is 4111 1111 1111 1111 please help"
MESSAGES = [{"role": "user", "content": SECRET_PROMPT}]


def _no_prompt_anywhere(span):
    blob = repr(dict(span.attributes)) + repr([(e.name, dict(e.attributes)) for e in span.events])
    blob += repr(span.status.description)
    assert "4111" not in blob


@pytest.mark.parametrize(
    ("fault", "error_class"),
    [
        ("429", openai.RateLimitError),
        ("500", openai.InternalServerError),
        ("401", openai.AuthenticationError),
        ("400", openai.BadRequestError),
        ("404", openai.NotFoundError),
    ],
)
def test_openai_status_errors(instrumented, openai_client, fault, error_class):
    with pytest.raises(error_class) as caught:
        openai_client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, extra_headers={"x-mock-fault": fault}
        )
    assert SECRET_PROMPT[:20] in str(caught.value), "the mock echoes the prompt, like providers do"
    span = instrumented.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == error_class.__name__
    assert span.attributes["error.type"] == error_class.__name__
    [event] = [e for e in span.events if e.name == "exception"]
    assert event.attributes["exception.type"] == f"openai.{error_class.__name__}"
    assert "exception.message" not in event.attributes
    _no_prompt_anywhere(span)
    found = instrumented.metrics()
    assert [
        p.count for p in points(found, "gen_ai.client.operation.duration", error__type=error_class.__name__)
    ] == [1]


def test_the_app_gets_the_same_exception_as_without_us(telemetry, openai_client):
    def call():
        try:
            openai_client.chat.completions.create(
                model="gpt-4o", messages=MESSAGES, extra_headers={"x-mock-fault": "429"}
            )
        except openai.RateLimitError as exc:
            return exc
        raise AssertionError("expected an error")

    bare = call()
    otel_llm.instrument()
    try:
        ours = call()
    finally:
        otel_llm.uninstrument()
    assert type(ours) is type(bare)
    assert str(ours) == str(bare)
    assert ours.status_code == bare.status_code
    assert ours.body == bare.body
    # The innermost frames are the SDK's, not ours.
    tb = ours.__traceback__
    while tb.tb_next:
        tb = tb.tb_next
    assert "openai" in tb.tb_frame.f_code.co_filename


def test_one_frame_of_ours_between_the_app_and_the_sdk(instrumented, openai_client, anthropic_client):
    """Each frame of ours shifts where a warning the SDK raises with a `stacklevel` points (the
    Anthropic SDK's model deprecation warning); the wrapper's own frame is the one left."""
    fault = {"x-mock-fault": "429"}

    def ours(caught):
        return [
            e for e in caught.traceback if e.path.name == "wrapper.py" and e.path.parent.name == "otel_llm"
        ]

    with pytest.raises(openai.RateLimitError) as caught:
        openai_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, extra_headers=fault)
    assert len(ours(caught)) == 1
    manager = anthropic_client.messages.stream(
        model="claude-haiku-4-5", max_tokens=10, messages=MESSAGES, extra_headers=fault
    )
    with pytest.raises(anthropic.RateLimitError) as caught, manager:
        pass
    assert len(ours(caught)) == 1


def test_timeout(instrumented, mock):
    client = openai.OpenAI(base_url=mock.openai_base_url, api_key="k", max_retries=0, timeout=0.3)
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, extra_headers={"x-mock-fault": "slow:2"}
        )
    assert instrumented.only_span().attributes["error.type"] == "APITimeoutError"


def test_connection_error(instrumented):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert instrumented.only_span().attributes["error.type"] == "APIConnectionError"


def test_retries_made_by_the_sdk_are_visible(instrumented, mock):
    client = openai.OpenAI(base_url=mock.openai_base_url, api_key="k", max_retries=3)
    mock.fail_next("429", 2)
    result = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert result.choices
    span = instrumented.only_span()
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes["otel_llm.retry.attempts"] == 3
    assert span.attributes["otel_llm.retry.statuses"] == ("429", "429", "200")
    found = instrumented.metrics()
    assert (
        sum(p.value for p in points(found, "otel_llm.retry.attempts", otel_llm__attempt__outcome="429")) == 2
    )


def test_retry_storm_that_fails_shows_every_attempt(instrumented, mock):
    client = anthropic.Anthropic(base_url=mock.anthropic_base_url, api_key="k", max_retries=2)
    with pytest.raises(anthropic.APIStatusError) as caught:
        client.messages.create(
            model="claude-haiku-4-5", max_tokens=10, messages=MESSAGES, extra_headers={"x-mock-fault": "529"}
        )
    span = instrumented.only_span()
    assert span.attributes["otel_llm.retry.statuses"] == ("529", "529", "529")
    assert span.attributes["error.type"] == type(caught.value).__name__ == "OverloadedError"
    found = instrumented.metrics()
    assert sum(p.value for p in points(found, "otel_llm.retry.attempts")) == 2


def test_anthropic_rate_limit(instrumented, anthropic_client):
    with pytest.raises(anthropic.RateLimitError):
        anthropic_client.messages.create(
            model="claude-haiku-4-5", max_tokens=10, messages=MESSAGES, extra_headers={"x-mock-fault": "429"}
        )
    span = instrumented.only_span()
    assert span.attributes["error.type"] == "RateLimitError"
    _no_prompt_anywhere(span)


def test_error_inside_a_stream(instrumented, anthropic_client):
    stream = anthropic_client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=10,
        messages=MESSAGES,
        stream=True,
        extra_headers={"x-mock-fault": "stream-error"},
    )
    with pytest.raises(anthropic.APIStatusError):
        for _ in stream:
            pass
    span = instrumented.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["otel_llm.stream.end"] == "error"
    _no_prompt_anywhere(span)


def test_truncated_stream_ends_the_span(instrumented, openai_client):
    stream = openai_client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, extra_headers={"x-mock-fault": "truncate"}
    )
    try:
        for _ in stream:
            pass
    except Exception:  # openai 3.0 raises httpx2.RemoteProtocolError, later versions wrap it
        pass
    span = instrumented.only_span()
    assert span.attributes["otel_llm.stream.end"] in ("complete", "error")
    assert "gen_ai.usage.output_tokens" not in span.attributes


# -- fault injection: every telemetry step fails, the app sees exactly what it would see without us ----------


def _boom(*args, **kwargs):
    raise RuntimeError("injected")


FAULTS = {
    "request": (openai_adapters.ChatCompletions, "request"),
    "response": (openai_adapters.ChatCompletions, "response"),
    "chunk": (openai_adapters.ChatCompletions, "chunk"),
    "stream_end": (openai_adapters.ChatCompletions, "stream_end"),
    "start": (core_module.Telemetry, "start"),
    "finish": (core_module.Telemetry, "finish"),
    "cost": (PriceBook, "cost"),
}


def _chat(client, stream):
    kwargs = {"stream": True, "stream_options": {"include_usage": True}} if stream else {}
    result = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, **kwargs)
    if stream:
        assert type(result) is openai.Stream
        return [c.model_dump(exclude={"id", "created"}) for c in result]
    return result.model_dump(exclude={"id", "created"})


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("step", sorted(FAULTS))
def test_injected_fault_never_reaches_the_app(telemetry, openai_client, monkeypatch, step, stream):
    expected = _chat(openai_client, stream)
    owner, attribute = FAULTS[step]
    monkeypatch.setattr(owner, attribute, _boom)
    otel_llm.instrument()
    try:
        assert _chat(openai_client, stream) == expected
    finally:
        otel_llm.uninstrument()
    if (step in ("chunk", "stream_end") and not stream) or (step == "response" and stream):
        return  # the step does not run for this kind of call
    found = telemetry.metrics()
    assert sum(p.value for p in points(found, "otel_llm.instrumentation.errors")) >= 1


def test_injected_metric_failure_never_reaches_the_app(telemetry, openai_client, monkeypatch):
    otel_llm.instrument()
    try:
        core = core_module.get_core()
        monkeypatch.setattr(core.duration, "record", _boom)
        result = openai_client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    finally:
        otel_llm.uninstrument()
    assert result.choices[0].message.content
    found = telemetry.metrics()
    assert (
        sum(p.value for p in points(found, "otel_llm.instrumentation.errors", otel_llm__step="metrics")) == 1
    )


@pytest.mark.parametrize("step", ["request", "response", "chunk"])
def test_injected_fault_in_anthropic_adapter(telemetry, anthropic_client, monkeypatch, step):
    def call():
        stream = anthropic_client.messages.create(
            model="claude-haiku-4-5", max_tokens=10, messages=MESSAGES, stream=True
        )
        return [e.type for e in stream]

    expected = call()
    monkeypatch.setattr(anthropic_adapters.Messages, step, _boom)
    otel_llm.instrument()
    try:
        assert call() == expected
    finally:
        otel_llm.uninstrument()


@pytest.mark.parametrize(
    ("variable", "value"),
    [("OTEL_EXPORTER_OTLP_COMPRESSION", "bogus"), ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://[::1")],
)
def test_exporter_that_cannot_be_built_never_reaches_the_app(
    telemetry, openai_client, anthropic_client, monkeypatch, caplog, variable, value
):
    """The gRPC exporter raises at construction on these; the app's calls go on unrecorded, and
    the setup is tried once, not on every call."""
    import logging

    from opentelemetry.sdk.trace import TracerProvider

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    monkeypatch.setenv(variable, value)
    # We build our own exporters only when the app set no tracer provider: pretend it set none.
    monkeypatch.setattr(core_module, "_is_configured", lambda p: not isinstance(p, TracerProvider))
    monkeypatch.setattr(core_module.STATE, "own_tracer_provider", None)
    otel_llm.instrument()
    try:
        with caplog.at_level(logging.WARNING, logger="otel_llm"):
            for _ in range(2):
                assert openai_client.chat.completions.create(model="gpt-4o", messages=MESSAGES).choices
            assert anthropic_client.messages.create(
                model="claude-haiku-4-5", max_tokens=10, messages=MESSAGES
            ).content
    finally:
        otel_llm.uninstrument()
    assert [s for s in telemetry.spans() if s.instrumentation_scope.name == "otel_llm"] == []
    [warning] = [r.getMessage() for r in caplog.records if "telemetry is off" in r.getMessage()]
    assert variable in warning and "traces exporter" in warning
    found = telemetry.metrics()
    assert [p.value for p in points(found, "otel_llm.instrumentation.errors", otel_llm__step="setup")] == [1]


def test_internal_error_logs_name_the_class_and_place_never_the_message(caplog):
    """An internal exception's message can quote content; the debug log keeps only class and place."""
    import logging

    from otel_llm import telemetry

    telemetry._reported_steps.discard("test-step")
    try:
        raise ValueError(f"could not parse {SECRET_PROMPT}")
    except ValueError as exc:
        with caplog.at_level(logging.DEBUG, logger="otel_llm"):
            telemetry.report_self_error("test-step", exc)
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "ValueError" in logged and "test_errors.py" in logged
    assert SECRET_PROMPT[:20] not in logged
    assert all(r.exc_info is None for r in caplog.records)

"""Content capture: off by default, `sampled` and `all`, redacted by real Presidio on the content
worker (never on the caller's thread), emitted as the spec's event linked to the call's span or
set on the span; and failing closed when the redactor fails, is slow, or the queue is full."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any

import openai
import pytest
from conftest import points
from opentelemetry import _logs
from opentelemetry.sdk._logs import LogRecordProcessor

import otel_llm
from otel_llm.content import CONTENT
from otel_llm.telemetry import METRIC_WORKER, get_core

EMAIL = "maria.lopez@example.org"
OPENAI_KEY = "sk-proj-" + "Q7x" * 12
CARD = "4111 1111 1111 1111"
PROMPT = f"Email {EMAIL} about card {CARD}; the key is {OPENAI_KEY}."


def _chat(client: Any, content: str = PROMPT, **extra: Any) -> Any:
    return client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": "You are terse."}, {"role": "user", "content": content}],
        **extra,
    )


def _exported_bytes(telemetry) -> str:
    """Everything a backend would receive from this process: span and event JSON."""
    spans = [s.to_json() for s in telemetry.spans()]
    events = [
        json.dumps({"body": e.body, "attributes": dict(e.attributes or {})})
        for e in telemetry.content_events()
    ]
    return "\n".join(spans + events)


def test_off_by_default_exports_no_content(instrumented, openai_client):
    _chat(openai_client)
    assert instrumented.content_events() == []
    exported = _exported_bytes(instrumented)
    assert EMAIL not in exported and "You are terse" not in exported
    assert "gen_ai.input.messages" not in exported


def test_all_emits_the_redacted_event_linked_to_the_span(capture, openai_client):
    telemetry = capture(capture_content="all")
    _chat(openai_client)
    [event] = telemetry.content_events()
    span = telemetry.only_span()
    assert event.trace_id == span.context.trace_id and event.span_id == span.context.span_id
    assert event.attributes["gen_ai.operation.name"] == "chat"
    assert event.attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert event.attributes["gen_ai.response.id"] == span.attributes["gen_ai.response.id"]
    assert event.attributes["otel_llm.content.reason"] == "all"
    body = event.body
    [user] = [m for m in body["gen_ai.input.messages"] if m["role"] == "user"]
    text = user["parts"][0]["content"]
    assert EMAIL not in text and OPENAI_KEY not in text and CARD not in text
    assert "<EMAIL_ADDRESS>" in text and "<CREDIT_CARD>" in text  # placeholders keep the type
    assert body["gen_ai.output.messages"][0]["role"] == "assistant"
    assert body["gen_ai.output.messages"][0]["parts"][0]["content"]
    # The span itself carries no content in the event placement.
    assert "gen_ai.input.messages" not in span.attributes
    assert EMAIL not in _exported_bytes(telemetry)
    found = telemetry.metrics()
    assert sum(p.value for p in points(found, "otel_llm.content.records")) == 1
    assert (
        sum(
            p.value
            for p in points(found, "otel_llm.content.redacted", otel_llm__entity__type="EMAIL_ADDRESS")
        )
        >= 1
    )


def test_streamed_output_is_captured_when_the_stream_ends(capture, openai_client):
    telemetry = capture(capture_content="all")
    stream = _chat(openai_client, stream=True, stream_options={"include_usage": True})
    streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    [event] = telemetry.content_events()
    assert event.body["gen_ai.output.messages"][0]["parts"][0]["content"] == streamed


def test_sampled_captures_the_review_sample_and_failed_calls(capture, openai_client):
    telemetry = capture(capture_content="sampled", sample_rate=0.0)
    _chat(openai_client)
    with pytest.raises(openai.InternalServerError):
        _chat(openai_client, extra_headers={"x-mock-fault": "500"})
    [event] = telemetry.content_events()
    assert event.attributes["otel_llm.content.reason"] == "error"
    assert event.attributes["error.type"] == "InternalServerError"
    assert "gen_ai.output.messages" not in event.body
    assert EMAIL not in json.dumps(event.body)

    telemetry.reset()
    otel_llm.instrument(capture_content="sampled", sample_rate=1.0)
    for _ in range(3):
        _chat(openai_client)
    events = telemetry.content_events()
    assert len(events) == 3 and {e.attributes["otel_llm.content.reason"] for e in events} == {"sample"}


def test_span_placement_sets_redacted_content_then_ends_the_span_at_the_call_end(
    capture, openai_client, monkeypatch
):
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")
    telemetry = capture()
    real = CONTENT.redactor_factory

    def slow_factory(settings):
        redactor = real(settings)
        original = redactor.redact

        def redact(texts):
            time.sleep(0.3)  # redaction takes longer than the call; the span must not include it
            return original(texts)

        redactor.redact = redact
        return redactor

    CONTENT.redactor_factory = slow_factory
    otel_llm.instrument()
    began = time.time_ns()
    _chat(openai_client)
    returned = time.time_ns()
    assert telemetry.content_events() == []  # SPAN_ONLY: no event
    span = telemetry.only_span()
    messages = json.loads(span.attributes["gen_ai.input.messages"])
    assert EMAIL not in span.attributes["gen_ai.input.messages"]
    assert any(m["role"] == "user" for m in messages)
    assert began <= span.end_time <= returned


def test_presidio_runs_on_the_worker_thread_only(capture, openai_client):
    threads = []
    real = CONTENT.redactor_factory

    def spying_factory(settings):
        threads.append(("init", threading.current_thread().name))
        redactor = real(settings)
        original = redactor.redact

        def redact(texts):
            threads.append(("redact", threading.current_thread().name))
            return original(texts)

        redactor.redact = redact
        return redactor

    CONTENT.redactor_factory = spying_factory
    telemetry = capture(capture_content="all")
    _chat(openai_client)
    assert len(telemetry.content_events()) == 1
    assert threads and {name for _, name in threads} == {"otel-llm-content"}


def test_calls_queued_while_the_worker_is_busy_are_redacted_in_one_pass(capture, openai_client):
    """Under load the worker takes what has queued up (up to 32 calls) into one redaction pass;
    each call still gets its own event with its own content and entity counts."""
    gate = threading.Event()
    passes: list[int] = []
    real = CONTENT.redactor_factory

    def gated_factory(settings):
        redactor = real(settings)
        original = redactor.redact

        def redact(texts):
            gate.wait(10)  # the first pass waits while more calls queue up
            passes.append(len(texts))
            return original(texts)

        redactor.redact = redact
        return redactor

    CONTENT.redactor_factory = gated_factory
    telemetry = capture(capture_content="all")
    prompts = [f"Mail {i}-{EMAIL}, card {CARD}" if i % 2 else f"Call +44 20 7946 03{i:02d}" for i in range(6)]
    for prompt in prompts:
        _chat(openai_client, content=prompt)
    gate.set()
    events = telemetry.content_events()
    assert len(events) == 6 and len(passes) < 6  # fewer passes than calls
    users = sorted(
        m["parts"][0]["content"]
        for e in events
        for m in e.body["gen_ai.input.messages"]
        if m["role"] == "user"
    )
    assert users == sorted(["Mail <EMAIL_ADDRESS>, card <CREDIT_CARD>"] * 3 + ["Call <PHONE_NUMBER>"] * 3)
    found = telemetry.metrics()
    redacted = {
        entity: sum(
            p.value for p in points(found, "otel_llm.content.redacted", otel_llm__entity__type=entity)
        )
        for entity in ("EMAIL_ADDRESS", "CREDIT_CARD", "PHONE_NUMBER")
    }
    assert redacted == {"EMAIL_ADDRESS": 3, "CREDIT_CARD": 3, "PHONE_NUMBER": 3}
    assert EMAIL not in _exported_bytes(telemetry)


def _drops(telemetry, reason: str) -> float:
    return sum(
        p.value
        for p in points(telemetry.metrics(), "otel_llm.content.dropped", otel_llm__drop__reason=reason)
    )


def test_a_redactor_that_cannot_load_drops_content(capture, openai_client):
    def broken(settings):
        raise RuntimeError("spaCy is missing")

    CONTENT.redactor_factory = broken
    telemetry = capture(capture_content="all")
    reply = _chat(openai_client)
    assert reply.choices[0].message.content  # the app is unaffected
    _chat(openai_client)
    assert CONTENT.drain(30)
    found = telemetry.metrics()
    assert telemetry.content_events() == []
    assert EMAIL not in _exported_bytes(telemetry)
    assert len(telemetry.genai_spans()) == 2
    dropped = points(found, "otel_llm.content.dropped", otel_llm__drop__reason="redaction_error")
    assert sum(p.value for p in dropped) == 2
    # the failure to load is an internal error, counted once (it fails while warming up, before
    # the first call) so the InstrumentationErrors alert sees it
    errors = points(found, "otel_llm.instrumentation.errors", otel_llm__step="redactor_init")
    assert sum(p.value for p in errors) == 1


def test_a_redactor_that_raises_drops_content_and_still_ends_spans(capture, openai_client, monkeypatch):
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_AND_EVENT")

    class Failing:
        notice = None

        def redact(self, texts):
            raise ValueError(f"cannot analyse {texts[0][:20]}")

    CONTENT.redactor_factory = lambda settings: Failing()
    telemetry = capture()
    _chat(openai_client)
    assert telemetry.content_events() == []
    [span] = telemetry.genai_spans()
    assert "gen_ai.input.messages" not in span.attributes
    assert EMAIL not in _exported_bytes(telemetry)
    assert _drops(telemetry, "redaction_error") == 1


def test_a_full_queue_drops_content_never_exports_it_raw(capture, openai_client):
    gate = threading.Event()
    busy = threading.Event()

    class Blocked:
        notice = None

        def redact(self, texts):
            busy.set()
            gate.wait(10)
            return type(
                "R",
                (),
                {"texts": ["<REDACTED>"] * len(texts), "entities": {}, "truncated": [False] * len(texts)},
            )()

    CONTENT.redactor_factory = lambda settings: Blocked()
    telemetry = capture(capture_content="all")
    otel_llm.instrument(capture_content="all")
    CONTENT.configure(type(CONTENT.settings)(mode="all", queue_size=2))
    _chat(openai_client)  # the worker takes it and stays busy
    assert busy.wait(10)
    started = time.perf_counter()
    for _ in range(6):
        _chat(openai_client)
    assert time.perf_counter() - started < 5  # callers never wait on the queue
    gate.set()
    events = telemetry.content_events()
    assert len(events) == 3  # the busy one, then the two the queue held (in one pass)
    assert _drops(telemetry, "queue_full") == 4
    assert EMAIL not in _exported_bytes(telemetry)


def test_content_older_than_the_timeout_is_dropped(capture, openai_client):
    class Slow:
        notice = None

        def redact(self, texts):
            time.sleep(0.5)
            return type("R", (), {"texts": list(texts), "entities": {}, "truncated": [False] * len(texts)})()

    CONTENT.redactor_factory = lambda settings: Slow()
    telemetry = capture(capture_content="all")
    CONTENT.configure(type(CONTENT.settings)(mode="all", timeout_seconds=0.2))
    _chat(openai_client)
    assert telemetry.content_events() == []
    assert _drops(telemetry, "timeout") == 1


FORK_APP = r"""
import json, os, sys
import openai
from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
import otel_llm

logs = InMemoryLogRecordExporter()
_logs.set_logger_provider(LoggerProvider())
_logs.get_logger_provider().add_log_record_processor(SimpleLogRecordProcessor(logs))
trace.set_tracer_provider(TracerProvider())
metrics.set_meter_provider(MeterProvider())
otel_llm.instrument(capture_content="all")
client = openai.OpenAI(base_url=sys.argv[1], api_key="x", max_retries=0)
prompt = sys.argv[2]
client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}])
otel_llm.flush(60)
pid = os.fork()
if pid == 0:
    logs.clear()
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}])
    otel_llm.flush(60)
    bodies = [json.dumps(r.log_record.body) for r in logs.get_finished_logs()]
    with open(sys.argv[3], "w") as out:
        json.dump(bodies, out)
    os._exit(0)
os.waitpid(pid, 0)
"""


def test_a_forked_child_redacts_and_emits_its_own_content(mock, tmp_path):
    import os
    import subprocess
    import sys

    result_path = tmp_path / "child.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    subprocess.run(
        [sys.executable, "-c", FORK_APP, mock.openai_base_url, PROMPT, str(result_path)],
        env=env,
        check=True,
        timeout=120,
    )
    bodies = json.loads(result_path.read_text())
    assert len(bodies) == 1
    assert EMAIL not in bodies[0] and "<EMAIL_ADDRESS>" in bodies[0]


class _AppLogProcessor(LogRecordProcessor):
    """An app's log processor with a bug: raises on the events named in `raise_on`."""

    def __init__(self) -> None:
        self.raise_on: set[str] = set()

    def on_emit(self, log_record: Any) -> None:
        if log_record.log_record.event_name in self.raise_on:
            raise RuntimeError("app processor bug")

    emit = on_emit

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


_APP_LOG_PROCESSOR = _AppLogProcessor()
_logs.get_logger_provider().add_log_record_processor(_APP_LOG_PROCESSOR)


@pytest.fixture
def app_log_processor() -> Any:
    yield _APP_LOG_PROCESSOR
    _APP_LOG_PROCESSOR.raise_on.clear()


def test_a_feedback_event_the_app_fails_to_emit_does_not_stop_the_content_worker(
    capture, openai_client, monkeypatch, app_log_processor
):
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")
    telemetry = capture(capture_content="all")
    reply = _chat(openai_client)
    assert otel_llm.flush(30)  # the call is known to feedback
    app_log_processor.raise_on.add("otel_llm.feedback")
    otel_llm.record_feedback(reply, score=0, comment=f"wrong, write to {EMAIL}")
    assert otel_llm.flush(30)
    errors = points(telemetry.metrics(), "otel_llm.instrumentation.errors", otel_llm__step="content")
    assert sum(p.value for p in errors) >= 1
    _chat(openai_client)  # still redacted, set on its span and the span ended by the worker
    assert otel_llm.flush(30)
    spans = telemetry.genai_spans()
    assert len(spans) == 2
    assert all("gen_ai.input.messages" in s.attributes for s in spans)
    assert EMAIL not in _exported_bytes(telemetry)


def test_a_batch_that_raises_drops_its_content_ends_its_spans_and_the_worker_goes_on(
    capture, openai_client, monkeypatch
):
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")
    telemetry = capture(capture_content="all")

    def bug(core):  # a bug outside every per-record guard (not in the warm-up, without a core)
        if core is not None:
            raise RuntimeError("worker bug")

    CONTENT._get_redactor = bug  # shadows the method for this call only
    try:
        _chat(openai_client)
        assert otel_llm.flush(30)
    finally:
        del CONTENT._get_redactor
    [span] = telemetry.genai_spans()  # ended, without content
    assert "gen_ai.input.messages" not in span.attributes
    found = telemetry.metrics()
    dropped = points(found, "otel_llm.content.dropped", otel_llm__drop__reason="redaction_error")
    assert sum(p.value for p in dropped) == 1
    errors = points(found, "otel_llm.instrumentation.errors", otel_llm__step="content")
    assert sum(p.value for p in errors) == 1
    telemetry.reset()
    _chat(openai_client)
    assert otel_llm.flush(30)
    [span] = telemetry.genai_spans()
    assert EMAIL not in span.attributes["gen_ai.input.messages"]


def test_a_metric_batch_that_raises_is_counted_and_the_metric_worker_goes_on(instrumented, openai_client):
    METRIC_WORKER.put((get_core(), None, 5))  # not a list of measurements: the batch raises
    assert METRIC_WORKER.drain(10)
    _chat(openai_client)
    found = instrumented.metrics()
    assert points(found, "gen_ai.client.operation.duration")
    errors = points(found, "otel_llm.instrumentation.errors", otel_llm__step="metrics")
    assert sum(p.value for p in errors) == 1


OTHER_EMAIL = "bob.jones@example.com"
PHONE = "+1 212 555 0123"
# Tool arguments whose keys look like the message schema's, a dict keyed by an e-mail address,
# secrets nested under secret-like keys and a card number given as a JSON number.
TOOL_ARGUMENTS = {
    "id": EMAIL,
    "type": f"card {CARD}",
    "role": f"call me at {PHONE}",
    "members": {EMAIL: "owner", OTHER_EMAIL: "viewer"},
    "password": {"value": "hunter2-S3cret!"},
    "api_key": {"primary": "sk-live-abc123"},
    "card_number": 4111111111111111,
    "count": 3,
}
LEAKS = (EMAIL, OTHER_EMAIL, CARD, "555 0123", "hunter2-S3cret!", "sk-live-abc123", "4111111111111111")


def _assert_arguments_redacted(arguments: dict[str, Any]) -> None:
    assert arguments["id"] == "<EMAIL_ADDRESS>"
    assert arguments["type"] == "card <CREDIT_CARD>"
    assert arguments["role"] == "call me at <PHONE_NUMBER>"
    assert arguments["members"] == {"<EMAIL_ADDRESS>": "owner", "<EMAIL_ADDRESS> (2)": "viewer"}
    assert arguments["password"] == arguments["api_key"] == "<SECRET>"
    assert arguments["card_number"] == "<CREDIT_CARD>"
    assert arguments["count"] == 3  # numbers the redactor keeps stay numbers


def test_tool_arguments_are_redacted_whatever_their_keys(capture, openai_client):
    telemetry = capture(capture_content="all")
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    history = [
        {"role": "user", "content": "Who owns the account?"},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": json.dumps(TOOL_ARGUMENTS)},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "not found"},
        {"role": "user", "content": "Try again."},
    ]
    openai_client.chat.completions.create(
        model="gpt-4o-mini",
        messages=history,
        tools=tools,
        extra_headers={"x-mock-tool-arguments": json.dumps(TOOL_ARGUMENTS)},
    )
    [event] = telemetry.content_events()
    exported = _exported_bytes(telemetry)
    assert not [leak for leak in LEAKS if leak in exported]
    [assistant] = [m for m in event.body["gen_ai.input.messages"] if m["role"] == "assistant"]
    [asked] = assistant["parts"]
    [output] = event.body["gen_ai.output.messages"]
    [called] = output["parts"]
    for part in (asked, called):
        assert part["type"] == "tool_call" and part["id"].startswith("call_")  # structure kept
        _assert_arguments_redacted(part["arguments"])
    assert output["role"] == "assistant" and output["finish_reason"] == "tool_call"


def test_every_free_form_payload_is_redacted_and_only_the_schema_fields_are_kept():
    """Tool results, server tool calls and their results, tool parameter schemas and the fields of
    parts of unknown types: keys and values below the message and part level are content."""
    from otel_llm import messages as m
    from otel_llm.config import ContentSettings
    from otel_llm.content import _default_redactor, collect_strings, content_parts, fill

    content = m.CallContent(
        input_messages=[
            m.message(
                "user", [m.text_part(f"Mail {EMAIL}"), m.uri_part("image", "https://example.com/a.png")]
            ),
            m.message("tool", [m.tool_call_response_part("call_1", TOOL_ARGUMENTS)]),
        ],
        system_instructions=[m.text_part("Be terse.")],
        tool_definitions=[
            {
                "type": "function",
                "name": "lookup",
                "parameters": {"type": "object", "properties": {EMAIL: {"type": "string"}}},
            }
        ],
    )
    content.output_messages = [
        m.output_message(
            [
                m.server_tool_call_part(
                    "srv_1", "web_search", {"type": "web_search", "input": TOOL_ARGUMENTS}
                ),
                m.server_tool_call_response_part(
                    "srv_1", {"type": "web_search", "content": [TOOL_ARGUMENTS]}
                ),
                m.generic_part("search_result", TOOL_ARGUMENTS),
            ],
            "stop",
        )
    ]
    texts: list[str] = []
    secrets: Counter[str] = Counter()
    template = collect_strings(content_parts(content), texts, secrets)
    result = _default_redactor(ContentSettings()).redact(texts)
    redacted = fill(template, list(result.texts))
    assert not [leak for leak in LEAKS if leak in json.dumps(redacted)]
    assert secrets["SECRET"] == 2 * 4
    [user, tool] = redacted["gen_ai.input.messages"]
    assert user["role"] == "user" and user["parts"][1]["modality"] == "image"
    [response] = tool["parts"]
    assert response["type"] == "tool_call_response" and response["id"] == "call_1"
    _assert_arguments_redacted(response["response"])
    [tool_definition] = redacted["gen_ai.tool.definitions"]
    assert tool_definition["type"] == "function"
    assert tool_definition["parameters"]["properties"] == {"<EMAIL_ADDRESS>": {"type": "string"}}
    [output] = redacted["gen_ai.output.messages"]
    call, call_result, other = output["parts"]
    assert call["type"] == "server_tool_call" and call["id"] == "srv_1"
    _assert_arguments_redacted(call["server_tool_call"]["input"])
    _assert_arguments_redacted(call_result["server_tool_call_response"]["content"][0])
    # a part of a type the conventions do not name: its own fields are content
    assert other["type"] == "search_result" and other["id"] == "<EMAIL_ADDRESS>"

"""record_feedback() and report_issue(): events linked to the call (by span context here, by
response id anywhere), metrics by feature, model and prompt version, comments redacted like prompts."""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from conftest import LOG_EXPORTER, points
from opentelemetry import trace

import otel_llm
from otel_llm import attribution, feedback
from otel_llm.content import CONTENT

EMAIL = "maria.lopez@example.org"


def events(name: str) -> list[Any]:
    assert otel_llm.flush(30)
    return [r.log_record for r in LOG_EXPORTER.get_finished_logs() if r.log_record.event_name == name]


def _chat(client: Any) -> Any:
    return client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=10
    )


def test_feedback_on_a_response_is_linked_to_its_call_and_its_comment_redacted(capture, openai_client):
    telemetry = capture(capture_content="sampled", sample_rate=0.0)
    with otel_llm.attributes(feature="support-reply", prompt_version="v7"):
        response = _chat(openai_client)
    otel_llm.record_feedback(
        response, score=0, label="thumbs_down", edit_seconds=42.5, comment=f"wrong, mail me at {EMAIL}"
    )
    span = telemetry.only_span()
    [event] = events("otel_llm.feedback")
    assert (event.trace_id, event.span_id) == (span.context.trace_id, span.context.span_id)
    assert dict(event.attributes) == {
        "gen_ai.response.id": response.id,
        "gen_ai.response.model": response.model,
        "otel_llm.feature": "support-reply",
        "otel_llm.prompt.version": "v7",
        "otel_llm.feedback.score": 0.0,
        "otel_llm.feedback.label": "thumbs_down",
        "otel_llm.feedback.edit_seconds": 42.5,
    }
    assert event.body == {"otel_llm.feedback.comment": "wrong, mail me at <EMAIL_ADDRESS>"}
    found = telemetry.metrics()
    labels = {
        "otel_llm.feature": "support-reply",
        "gen_ai.response.model": response.model,
        "otel_llm.prompt.version": "v7",
    }
    [received] = points(found, "otel_llm.feedback.received")
    assert dict(received.attributes) == {**labels, "otel_llm.feedback.label": "thumbs_down"}
    assert received.value == 1
    [score] = points(found, "otel_llm.feedback.score")
    assert dict(score.attributes) == labels and (score.count, score.sum) == (1, 0.0)
    [edit] = points(found, "otel_llm.feedback.edit_time")
    assert dict(edit.attributes) == labels and (edit.count, edit.sum) == (1, 42.5)


def test_without_a_target_feedback_goes_to_the_last_call_of_this_context(capture, openai_client):
    telemetry = capture()
    _chat(openai_client)
    last = _chat(openai_client)
    otel_llm.record_feedback(score=1)
    [event] = events("otel_llm.feedback")
    assert event.attributes["gen_ai.response.id"] == last.id
    assert event.span_id == telemetry.genai_spans()[-1].context.span_id

    errors = []

    def elsewhere():
        try:
            otel_llm.record_feedback(score=1)
        except ValueError as exc:
            errors.append(str(exc))

    thread = threading.Thread(target=elsewhere)  # no call was made in that thread's context
    thread.start()
    thread.join()
    assert errors and "no provider call was made in this context" in errors[0]


def test_a_pool_task_never_gives_feedback_to_the_call_of_an_earlier_task(capture, openai_client):
    capture()

    def feedback_without_a_target():
        try:
            otel_llm.record_feedback(score=0)
        except ValueError as exc:
            return str(exc)

    with ThreadPoolExecutor(max_workers=1) as pool:  # both tasks run on the same thread
        pool.submit(_chat, openai_client).result()
        error = pool.submit(feedback_without_a_target).result()
    assert error and "no provider call was made in this context" in error
    assert events("otel_llm.feedback") == []


def test_a_request_on_a_reused_thread_never_gives_feedback_to_an_earlier_requests_call(
    capture, openai_client
):
    """Sync servers serve request after request on one thread: the server span tells them apart."""
    capture()
    server = trace.get_tracer("server")
    with server.start_as_current_span("GET /chat"):
        _chat(openai_client)
        otel_llm.record_feedback(score=1)  # same request: linked
    with server.start_as_current_span("POST /feedback"), pytest.raises(ValueError, match="another trace"):
        otel_llm.record_feedback(score=0)
    otel_llm.record_feedback(score=1)  # outside any request (a script, a worker): the last call
    assert [e.attributes["otel_llm.feedback.score"] for e in events("otel_llm.feedback")] == [1, 1]


def test_a_response_id_links_here_and_labels_come_from_arguments_elsewhere(capture, openai_client):
    telemetry = capture()
    with otel_llm.attributes(feature="search"):
        response = _chat(openai_client)
    otel_llm.record_feedback(response.id, label="accepted")
    # an id this process never saw: a handler in another process; arguments give the labels
    otel_llm.record_feedback("chatcmpl-from-elsewhere", score=4, model="gpt-4o", feature="search")
    otel_llm.report_issue("chatcmpl-from-elsewhere", category="wrong_answer")
    here, elsewhere = events("otel_llm.feedback")
    assert here.span_id == telemetry.only_span().context.span_id
    assert elsewhere.trace_id == 0  # not linkable to a trace, but joinable by response id
    assert elsewhere.attributes["gen_ai.response.id"] == "chatcmpl-from-elsewhere"
    [issue] = events("otel_llm.issue.report")
    assert dict(issue.attributes) == {
        "gen_ai.response.id": "chatcmpl-from-elsewhere",
        "otel_llm.issue.category": "wrong_answer",
    }
    found = telemetry.metrics()
    [scored] = points(found, "otel_llm.feedback.score")
    assert dict(scored.attributes) == {
        "otel_llm.feature": "search",
        "gen_ai.response.model": "gpt-4o",
        "otel_llm.prompt.version": "unknown",
    }
    [report] = points(found, "otel_llm.issue.reports")
    assert dict(report.attributes) == {
        "otel_llm.feature": "unknown",
        "gen_ai.response.model": "unknown",
        "otel_llm.prompt.version": "unknown",
        "otel_llm.issue.category": "wrong_answer",
    }
    received = sorted(
        (p.attributes["gen_ai.response.model"], p.attributes.get("otel_llm.feedback.label"), p.value)
        for p in points(found, "otel_llm.feedback.received")
    )
    assert received == [("gpt-4o", None, 1), ("gpt-4o-mini", "accepted", 1)]


def test_a_span_context_target_links_the_event(capture, openai_client):
    telemetry = capture()
    tracer = otel_llm.telemetry.get_core().tracer
    with tracer.start_as_current_span("handler") as span:
        otel_llm.record_feedback(span, score=3)
    [event] = events("otel_llm.feedback")
    assert event.span_id == span.get_span_context().span_id
    assert "gen_ai.response.id" not in event.attributes
    assert telemetry.spans("handler")


def test_issue_description_is_redacted_and_with_capture_off_comments_never_leave(
    capture, openai_client, caplog
):
    capture(capture_content="all")
    response = _chat(openai_client)
    otel_llm.report_issue(response, category="harmful", description=f"it leaked {EMAIL}")
    [issue] = events("otel_llm.issue.report")
    assert issue.body == {"otel_llm.issue.description": "it leaked <EMAIL_ADDRESS>"}

    LOG_EXPORTER.clear()
    otel_llm.instrument(capture_content="off")
    response = _chat(openai_client)
    feedback._comment_notice_shown = False
    with caplog.at_level(logging.WARNING, logger="otel_llm"):
        otel_llm.record_feedback(response, score=1, comment=f"great, {EMAIL}")
    [event] = events("otel_llm.feedback")
    assert event.body == {} and event.attributes["otel_llm.feedback.score"] == 1.0
    assert EMAIL not in json.dumps(
        [dict(r.log_record.attributes or {}) for r in LOG_EXPORTER.get_finished_logs()]
    )
    assert "content capture off" in caplog.text


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({}, ValueError),
        ({"score": "5"}, TypeError),
        ({"score": float("nan")}, TypeError),
        ({"score": True}, TypeError),
        ({"score": 10**400}, TypeError),  # too large for a float
        ({"edit_seconds": 10**400}, TypeError),
        ({"edit_seconds": -1}, ValueError),
        ({"label": 3}, TypeError),
        ({"comment": b"bytes"}, TypeError),
    ],
)
def test_bad_feedback_arguments_raise_clear_errors(instrumented, kwargs, error):
    with pytest.raises(error):
        otel_llm.record_feedback("resp-1", **kwargs)


def test_long_labels_categories_and_names_are_cut_to_256_characters(capture, monkeypatch):
    monkeypatch.setattr(attribution, "_seen", {})
    telemetry = capture()
    names = {"feature": "f" * 5000, "model": "m" * 5000, "prompt_version": "v" * 5000}
    otel_llm.record_feedback("resp-1", score=1, label="l" * 5_000_000, **names)
    otel_llm.report_issue("resp-1", category="c" * 1_000_000, **names)
    [feedback_event] = events("otel_llm.feedback")
    [issue_event] = events("otel_llm.issue.report")
    found = telemetry.metrics()
    [received] = points(found, "otel_llm.feedback.received")
    [report] = points(found, "otel_llm.issue.reports")
    for recorded in (feedback_event, issue_event, received, report):
        texts = {
            k: v for k, v in recorded.attributes.items() if isinstance(v, str) and k != "gen_ai.response.id"
        }
        assert len(texts) == 4 and {len(v) for v in texts.values()} == {256}, texts


def test_bad_targets_and_categories_raise(instrumented):
    with pytest.raises(TypeError, match="target must be"):
        otel_llm.record_feedback(object(), score=1)
    with pytest.raises(ValueError, match="category"):
        otel_llm.report_issue("resp-1", category="")


def test_feedback_in_a_process_never_instrumented_is_a_silent_no_op():
    import subprocess
    import sys

    script = (
        "import otel_llm\n"
        "otel_llm.record_feedback('resp-1', score=1, comment='x')\n"
        "otel_llm.report_issue('resp-1', category='bug')\n"
        "from otel_llm import telemetry\n"
        "assert telemetry.STATE.own_logger_provider is None and telemetry.get_core() is None\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok" and done.stderr == ""


def test_an_earlier_calls_response_id_links_through_the_index_of_recent_calls(capture, openai_client):
    from otel_llm.telemetry import METRIC_WORKER

    telemetry = capture()
    first = _chat(openai_client)
    _chat(openai_client)
    assert METRIC_WORKER.drain(10)  # the index is updated by the metric worker, off the caller's thread
    otel_llm.record_feedback(first.id, score=2)
    [event] = events("otel_llm.feedback")
    assert event.span_id == telemetry.genai_spans()[0].context.span_id
    assert event.attributes["gen_ai.response.model"] == first.model


def test_when_the_comment_cannot_be_redacted_the_feedback_is_kept_without_it(capture, openai_client):
    class Broken:
        def redact(self, texts):
            raise RuntimeError("redactor broke")

    CONTENT.redactor_factory = lambda settings: Broken()
    telemetry = capture(capture_content="all")
    response = _chat(openai_client)
    otel_llm.record_feedback(response, score=0, comment=f"mail {EMAIL}")
    feedback_events = events("otel_llm.feedback")
    assert [e.body for e in feedback_events] == [{}]
    assert feedback_events[0].attributes["otel_llm.feedback.score"] == 0.0
    dropped = points(
        telemetry.metrics(), "otel_llm.content.dropped", otel_llm__drop__reason="redaction_error"
    )
    assert sum(p.value for p in dropped) == 2  # the call's content and the comment

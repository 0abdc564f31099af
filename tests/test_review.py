"""The review sample: calls in it (deterministic by trace id) emit an `otel_llm.review.sample`
event with the redacted input and output, validation results, versions and the call's ids."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import LOG_EXPORTER

import otel_llm
from otel_llm import validators
from otel_llm.content import in_review_sample

EMAIL = "maria.lopez@example.org"
PROMPT = f"Write to {EMAIL} about the refund."


def review_events() -> list[Any]:
    assert otel_llm.flush(30)
    return [
        r.log_record
        for r in LOG_EXPORTER.get_finished_logs()
        if r.log_record.event_name == "otel_llm.review.sample"
    ]


def _chat(client: Any, output: str = "Done.", **headers: str) -> Any:
    return client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": "You are terse."}, {"role": "user", "content": PROMPT}],
        extra_headers={"x-mock-output": output, **headers},
    )


def test_a_sampled_call_emits_its_redacted_review_record(capture, openai_client):
    telemetry = capture(capture_content="sampled", sample_rate=1.0)
    with (
        otel_llm.attributes(feature="refunds", prompt_version="v3", user_id="u-1"),
        otel_llm.expect(validators.json(), validators.max_length(1000)),
    ):
        _chat(openai_client, output=f"not json, mail {EMAIL}")
    [event] = review_events()
    span = telemetry.only_span()
    assert (event.trace_id, event.span_id) == (span.context.trace_id, span.context.span_id)
    attrs = dict(event.attributes)
    assert attrs == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": span.attributes["gen_ai.response.model"],
        "gen_ai.response.id": span.attributes["gen_ai.response.id"],
        "otel_llm.feature": "refunds",
        "otel_llm.prompt.version": "v3",
        "otel_llm.review.sample_rate": 1.0,
    }
    body = event.body
    assert set(body) == {"gen_ai.input.messages", "gen_ai.output.messages", "otel_llm.validation"}
    assert [m["role"] for m in body["gen_ai.input.messages"]] == ["system", "user"]
    text = json.dumps(body)
    assert EMAIL not in text and "<EMAIL_ADDRESS>" in text
    assert "not json, mail <EMAIL_ADDRESS>" in json.dumps(body["gen_ai.output.messages"])
    failed, passed = body["otel_llm.validation"]
    assert failed["name"] == "json" and failed["label"] == "fail" and failed["explanation"]
    assert passed == {"name": "max_length", "label": "pass"}  # no empty explanation
    assert "u-1" not in text + json.dumps(attrs)  # user ids stay on the span only


def test_the_review_sample_is_the_share_of_trace_ids_the_rate_gives(capture, openai_client):
    telemetry = capture(capture_content="all", sample_rate=0.5)
    for _ in range(40):
        _chat(openai_client)
    spans = telemetry.genai_spans()
    expected = {s.context.span_id for s in spans if in_review_sample(s.context.trace_id, 0.5)}
    got = {e.span_id for e in review_events()}
    assert got == expected and 0 < len(got) < 40
    # capture `all` still emits the details event for every call
    assert len(telemetry.content_events()) == 40


def test_failed_calls_outside_the_sample_are_captured_but_not_review_samples(capture, openai_client):
    import openai

    telemetry = capture(capture_content="sampled", sample_rate=0.0)
    with pytest.raises(openai.InternalServerError):
        _chat(openai_client, **{"x-mock-fault": "500"})
    assert len(telemetry.content_events()) == 1
    assert review_events() == []


def test_no_review_sample_without_content_capture(instrumented, openai_client):
    _chat(openai_client)
    assert review_events() == []

"""Feedback across processes through the real collector and Prometheus: the app makes a call, a
separate feedback handler (another process, as a later thumbs-down would be) records feedback and
an issue by response id; the events join the call by response id, and the feedback metrics reach
Prometheus under the names docs/telemetry.md lists."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from otel_llm.testing.stack import otlp_attributes, wait_until

APP = textwrap.dedent(
    """
    import json, sys
    import openai
    import otel_llm

    otel_llm.instrument()
    client = openai.OpenAI(base_url=sys.argv[1], api_key="e2e", max_retries=0)
    with otel_llm.attributes(feature="support-reply", prompt_version="v7"):
        response = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    otel_llm.record_feedback(response, score=4, edit_seconds=30, label="accepted")  # in the app: linked
    assert otel_llm.flush(60)
    print(json.dumps({"id": response.id, "model": response.model}))
    """
)

HANDLER = textwrap.dedent(
    """
    import sys
    import otel_llm

    otel_llm.instrument()
    response_id, model = sys.argv[1], sys.argv[2]
    otel_llm.record_feedback(response_id, score=1, label="thumbs_down", edit_seconds=90,
                             comment="wrong, write to maria.lopez@example.org",
                             feature="support-reply", model=model, prompt_version="v7")
    otel_llm.report_issue(response_id, category="wrong_answer", description="see ticket 12")
    assert otel_llm.flush(60)
    """
)


def _run(script: str, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", script, *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_feedback_from_another_process_joins_the_call_by_response_id(stack, mock):
    base = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    app_env = {**base, **stack.app_environment("e2e-feedback-app")}
    handler_env = {
        **base,
        **stack.app_environment("e2e-feedback-handler"),
        "OTEL_LLM_CAPTURE_CONTENT": "sampled",
        "OTEL_LLM_SAMPLE_RATE": "0",
    }
    call = json.loads(_run(APP, app_env, mock.openai_base_url).strip().splitlines()[-1])
    _run(HANDLER, handler_env, call["id"], call["model"])

    [span] = wait_until(
        lambda: [
            s for s in stack.collector.spans() if s["attributes"].get("gen_ai.response.id") == call["id"]
        ],
        30,
        what="the call's span",
    )
    in_app = wait_until(lambda: stack.collector.log_records("e2e-feedback-app", "otel_llm.feedback"), 30)
    [linked] = in_app
    assert (linked["traceId"], linked["spanId"]) == (span["traceId"], span["spanId"])
    handled = wait_until(
        lambda: stack.collector.log_records("e2e-feedback-handler", "otel_llm.feedback"), 30, what="feedback"
    )
    [feedback] = handled
    attributes = otlp_attributes(feedback["attributes"])
    assert (
        attributes["gen_ai.response.id"]
        == call["id"]
        == otlp_attributes(linked["attributes"])["gen_ai.response.id"]
    )
    assert feedback.get("traceId", "") == ""  # another process: joined by response id, not by trace
    body = json.dumps(feedback["body"])
    assert "maria.lopez@example.org" not in body and "<EMAIL_ADDRESS>" in body
    [issue] = wait_until(
        lambda: stack.collector.log_records("e2e-feedback-handler", "otel_llm.issue.report"), 30, what="issue"
    )
    assert otlp_attributes(issue["attributes"])["otel_llm.issue.category"] == "wrong_answer"

    prometheus = stack.prometheus
    selector = 'job="e2e-feedback-handler",otel_llm_feature="support-reply",otel_llm_prompt_version="v7"'
    checks = {
        f'sum(otel_llm_feedback_received_total{{{selector},otel_llm_feedback_label="thumbs_down"}})': 1,
        f"sum(otel_llm_feedback_score_sum{{{selector}}})": 1,
        f"sum(otel_llm_feedback_score_count{{{selector}}})": 1,
        f"sum(otel_llm_feedback_edit_time_seconds_sum{{{selector}}})": 90,
        'sum(otel_llm_issue_reports_total{job="e2e-feedback-handler",otel_llm_issue_category="wrong_answer",'
        'otel_llm_feature="unknown"})': 1,
        f'sum(otel_llm_feedback_score_sum{{job="e2e-feedback-app",gen_ai_response_model="{call["model"]}"}})': 4,
    }
    for expr, expected in checks.items():
        wait_until(lambda expr=expr: prometheus.value(expr) is not None, 60, what=expr)
        assert prometheus.value(expr) == expected, expr

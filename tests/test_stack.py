"""End to end through the real binaries: an instrumented app -> otelcol-llm (collector/config.yaml)
-> Prometheus (remote write) and the traces/logs files -> alert rules -> Alertmanager -> webhook."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import run_workload

from otel_llm.testing.stack import COLLECTOR_DIR, Collector, StackError, wait_until

JOB_TOTALS = "e2e-totals"

# Labels a metric series may carry: the bounded metric attributes, `job`/`instance` from the
# resource, and the two promoted resource attributes. Anything else means every resource
# attribute leaked into labels.
ALLOWED_LABELS = {
    "__name__",
    "job",
    "instance",
    "le",
    "deployment_environment_name",
    "service_owner",
    "otel_scope_name",
    "otel_scope_version",
    "otel_scope_schema_url",
    "gen_ai_operation_name",
    "gen_ai_provider_name",
    "gen_ai_request_model",
    "gen_ai_response_model",
    "gen_ai_token_type",
    "server_address",
    "server_port",
    "error_type",
}


def test_collector_configs_validate(tmp_path):
    """The user's config alone (docker-compose defaults), with the extras file, with the local
    overlay, as a gateway, and the agent's config."""
    base = [COLLECTOR_DIR / "config.yaml"]
    extras = [*base, COLLECTOR_DIR / "config-extras.yaml"]
    local = [*extras, COLLECTOR_DIR / "config-local.yaml"]
    gateway = [*base, COLLECTOR_DIR / "gateway.yaml"]
    agent = [COLLECTOR_DIR / "agent.yaml"]
    for configs in (base, extras, local, gateway, agent):
        collector = Collector(tmp_path / "validate", "http://127.0.0.1:9/api/v1/write", configs=configs)
        collector.env["GATEWAY_ENDPOINTS"] = "[127.0.0.1:14317, 127.0.0.1:24317]"
        result = collector.validate()
        assert result.returncode == 0, (configs, result.stdout, result.stderr)


def test_collector_rejects_a_broken_config(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("processors:\n  batch:\n    send_batch_sizee: 10\n")
    collector = Collector(tmp_path / "validate", "http://127.0.0.1:9/api/v1/write")
    collector.configs.append(broken)
    result = collector.validate()
    assert result.returncode != 0
    assert "send_batch_sizee" in result.stderr + result.stdout


@pytest.fixture(scope="module")
def totals_run(stack, mock):
    """60 calls (OpenAI chat, OpenAI stream, Anthropic), every 5th answered with a 500."""
    return run_workload(stack, mock, JOB_TOTALS, rate=20, seconds=3, error_every=5)


def _wait_value(stack, expr, expected, timeout=30.0):
    """Waits until the query's single value equals `expected`; returns it (or the last seen)."""
    seen = []

    def matches():
        value = stack.prometheus.value(expr)
        seen.append(value)
        return value is not None and math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-12)

    try:
        wait_until(matches, timeout, what=expr)
    except Exception:
        pytest.fail(f"{expr}: expected {expected}, last values {seen[-3:]}")
    return seen[-1]


def test_metrics_in_prometheus_equal_the_calls_made(stack, totals_run):
    job = f'job="{JOB_TOTALS}"'
    assert totals_run["calls"] == 60 and totals_run["errors"] == 12
    _wait_value(stack, f"sum(gen_ai_client_operation_duration_seconds_count{{{job}}})", totals_run["calls"])
    _wait_value(
        stack,
        f'sum(gen_ai_client_operation_duration_seconds_count{{{job},error_type!=""}})',
        totals_run["errors"],
    )
    _wait_value(
        stack,
        f'sum(gen_ai_client_operation_duration_seconds_count{{{job},error_type="InternalServerError"}})',
        totals_run["errors"],
    )
    for token_type in ("input", "output"):
        _wait_value(
            stack,
            f'sum(gen_ai_client_token_usage_sum{{{job},gen_ai_token_type="{token_type}"}})',
            totals_run["tokens"][token_type],
        )
    by_provider = {
        r["metric"]["gen_ai_provider_name"]: r["value"]
        for r in stack.prometheus.query(
            f"sum by (gen_ai_provider_name) (gen_ai_client_operation_duration_seconds_count{{{job}}})"
        )
    }
    kinds = totals_run["calls_by_kind"]
    assert by_provider == {
        "openai": kinds["openai_chat"] + kinds["openai_stream"],
        "anthropic": kinds["anthropic"],
    }


def test_cost_in_prometheus_equals_the_spans_cost(stack, totals_run):
    spans = _wait_spans(stack, JOB_TOTALS, totals_run["calls"])
    span_cost = sum(s["attributes"].get("otel_llm.cost", 0.0) for s in spans)
    assert span_cost > 0
    _wait_value(stack, f'sum(otel_llm_cost_USD_total{{job="{JOB_TOTALS}"}})', span_cost)


def test_metric_labels_are_bounded_and_carry_environment_and_owner(stack, totals_run):
    _wait_value(
        stack,
        f'sum(gen_ai_client_operation_duration_seconds_count{{job="{JOB_TOTALS}"}})',
        totals_run["calls"],
    )
    series = stack.prometheus.series(f'{{job="{JOB_TOTALS}",__name__=~"gen_ai_.*|otel_llm_.*"}}')
    assert series
    for labels in series:
        assert set(labels) <= ALLOWED_LABELS, set(labels) - ALLOWED_LABELS
        assert labels["deployment_environment_name"] == "e2e"
        assert labels["service_owner"] == "team-llm"
    # The other resource attributes (SDK, process, host) stay on target_info, not on every series.
    target_info = stack.prometheus.series(f'target_info{{job="{JOB_TOTALS}"}}')
    assert target_info and "telemetry_sdk_language" in target_info[0]


def _wait_spans(stack, service, count, timeout=30.0):
    def spans():
        found = [s for s in stack.collector.spans() if s["resource"].get("service.name") == service]
        return found if len(found) >= count else None

    try:
        return wait_until(spans, timeout, what=f"{count} spans of {service}")
    except Exception:
        got = [s for s in stack.collector.spans() if s["resource"].get("service.name") == service]
        pytest.fail(f"expected {count} spans of {service} in the collector's output, found {len(got)}")


def test_spans_reach_the_collector_with_the_semconv_attributes(stack, totals_run):
    spans = _wait_spans(stack, JOB_TOTALS, totals_run["calls"])
    assert len(spans) == totals_run["calls"]
    required = {
        "gen_ai.operation.name",
        "gen_ai.provider.name",
        "gen_ai.request.model",
        "server.address",
        "server.port",
    }
    succeeded = [s for s in spans if "error.type" not in s["attributes"]]
    failed = [s for s in spans if "error.type" in s["attributes"]]
    assert len(failed) == totals_run["errors"]
    for span in spans:
        attributes = span["attributes"]
        assert required <= set(attributes), required - set(attributes)
        assert span["name"] == f"{attributes['gen_ai.operation.name']} {attributes['gen_ai.request.model']}"
        assert span["kind"] == 3  # SPAN_KIND_CLIENT
        assert "gen_ai.system" not in attributes
        assert span["resource"]["deployment.environment.name"] == "e2e"
    for span in succeeded:
        attributes = span["attributes"]
        for key in (
            "gen_ai.response.model",
            "gen_ai.response.id",
            "gen_ai.usage.input_tokens",
            "otel_llm.cost",
        ):
            assert key in attributes, (span["name"], key)
    for span in failed:
        assert span["attributes"]["error.type"] == "InternalServerError"
        assert span["status"]["code"] == 2  # STATUS_CODE_ERROR
    tokens = sum(s["attributes"]["gen_ai.usage.input_tokens"] for s in succeeded)
    assert tokens == totals_run["tokens"]["input"]
    streams = [s for s in succeeded if s["attributes"].get("gen_ai.request.stream")]
    assert streams and all("gen_ai.response.time_to_first_chunk" in s["attributes"] for s in streams)
    # One time-to-first-chunk observation per successful stream.
    _wait_value(
        stack,
        f'sum(gen_ai_client_operation_time_to_first_chunk_seconds_count{{job="{JOB_TOTALS}"}})',
        len(streams),
    )


def test_exemplars_link_metrics_to_the_traces(stack, totals_run):
    spans = _wait_spans(stack, JOB_TOTALS, totals_run["calls"])
    trace_ids = {s["traceId"] for s in spans}

    def exemplars():
        now = time.time()
        data = stack.prometheus.api(
            "query_exemplars",
            query=f'gen_ai_client_operation_duration_seconds_bucket{{job="{JOB_TOTALS}"}}',
            start=str(now - 600),
            end=str(now + 60),
        )
        return [e for group in data for e in group["exemplars"]]

    found = wait_until(exemplars, 30, what="exemplars")
    linked = [e["labels"].get("trace_id") for e in found]
    assert linked and set(linked) <= trace_ids


def test_delta_temporality_apps_keep_exact_totals(stack, mock):
    """An app exporting delta temporality: the collector's delta_to_cumulative keeps the sum."""
    job = "e2e-delta"
    result = run_workload(
        stack,
        mock,
        job,
        rate=10,
        seconds=4,
        env={"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "delta"},
    )
    assert result["calls"] == 40
    _wait_value(stack, f'sum(gen_ai_client_operation_duration_seconds_count{{job="{job}"}})', result["calls"])
    _wait_value(
        stack,
        f'sum(gen_ai_client_token_usage_sum{{job="{job}",gen_ai_token_type="output"}})',
        result["tokens"]["output"],
    )


def test_an_alert_rule_fires_and_alertmanager_notifies_the_webhook(stack, mock):
    job = "e2e-alerting"
    # long enough that every series is exported several times with growing counts (rate() needs
    # two samples that differ), even on a loaded machine
    run_workload(stack, mock, job, rate=10, seconds=8, error_every=2)

    def ours() -> list[dict]:
        return [
            alert
            for message in stack.webhook.notifications()
            for alert in message.get("alerts", [])
            if alert["labels"].get("alertname") == "HighErrorRate" and alert["labels"].get("job") == job
        ]

    def firing():
        return next((alert for alert in ours() if alert["status"] == "firing"), None)

    try:
        # (generous: on a loaded machine remote write and the rule evaluation can lag)
        alert = wait_until(firing, 180, interval=0.5, what="the HighErrorRate notification")
    except StackError as exc:
        # say where the chain stopped: no series, no alert in Prometheus, or no notification
        series = stack.prometheus.query(f'gen_ai_client_operation_duration_seconds_count{{job="{job}"}}')
        alerts = stack.prometheus.query(f'ALERTS{{alertname="HighErrorRate",job="{job}"}}')
        received = [(a["status"], a.get("startsAt"), a.get("endsAt")) for a in ours()]
        raise AssertionError(
            f"{exc}; series: {series}; ALERTS: {alerts}; notifications: {received}"
        ) from None
    assert alert["labels"]["severity"] == "critical"
    assert alert["labels"]["service_owner"] == "team-llm"
    assert alert["labels"]["gen_ai_provider_name"] in {"openai", "anthropic"}
    assert alert["annotations"]["runbook_url"]
    assert job in alert["annotations"]["summary"]


COLLECTOR_REDACTION_APP = textwrap.dedent(
    """
    import sys
    from opentelemetry import trace
    from opentelemetry._logs import LogRecord
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    resource = Resource.create({"service.name": "e2e-redaction"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter()))
    secrets = sys.argv[1:]
    with tracer_provider.get_tracer("e2e").start_as_current_span("leaky") as span:
        span.set_attribute("app.note", "retrying with " + secrets[0])
        span.set_attribute("app.api_key", "abc123")
        span.set_attribute("payment", "card " + secrets[1])
        span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
    logger_provider.get_logger("e2e").emit(
        LogRecord(body="user said: my key is " + secrets[2] + " and card " + secrets[1])
    )
    tracer_provider.shutdown()
    logger_provider.shutdown()
    """
)


def test_collector_masks_credentials_and_card_numbers(stack):
    """Defence in depth: secrets that reach the collector leave it masked, in spans and log bodies."""
    openai_key = "sk-proj-" + "Ab3" * 10
    card = "4111 1111 1111 1111"
    anthropic_key = "sk-ant-api03-" + "Zq9" * 10
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
        "OTEL_EXPORTER_OTLP_ENDPOINT": stack.collector.otlp_http_endpoint,
    }
    subprocess.run(
        [sys.executable, "-c", COLLECTOR_REDACTION_APP, openai_key, card, anthropic_key],
        env=env,
        check=True,
        timeout=60,
    )
    span = _wait_spans(stack, "e2e-redaction", 1)[0]
    attributes = span["attributes"]
    assert openai_key not in attributes["app.note"] and "****" in attributes["app.note"]
    assert attributes["app.api_key"] != "abc123"
    assert "1111" not in attributes["payment"]
    assert attributes["gen_ai.request.model"] == "gpt-4o-mini"

    def log_bodies():
        bodies = [r["body"].get("stringValue", "") for r in stack.collector.log_records()]
        return [b for b in bodies if b.startswith("user said")]

    body = wait_until(log_bodies, 30, what="the log record")[0]
    assert anthropic_key not in body and "4111" not in body
    assert "****" in body


def test_prometheus_names_are_the_ones_the_semconv_helper_derives(stack, totals_run):
    """docs/telemetry.md lists names from semconv.prometheus_name; the real translation must agree."""
    from otel_llm import semconv as sc

    _wait_value(
        stack,
        f'sum(gen_ai_client_operation_duration_seconds_count{{job="{JOB_TOTALS}"}})',
        totals_run["calls"],
    )
    present = set(stack.prometheus.api("label/__name__/values"))
    expected = {
        f"{sc.prometheus_name(sc.METRIC_TOKEN_USAGE, '{token}', 'histogram')}_count",
        f"{sc.prometheus_name(sc.METRIC_OPERATION_DURATION, 's', 'histogram')}_bucket",
        f"{sc.prometheus_name(sc.METRIC_TIME_TO_FIRST_CHUNK, 's', 'histogram')}_sum",
        f"{sc.prometheus_name(sc.METRIC_TIME_PER_OUTPUT_CHUNK, 's', 'histogram')}_count",
        sc.prometheus_name(sc.METRIC_COST, "USD", "counter"),
    }
    assert expected <= present, expected - present


RAW_CONTENT_EVENT_APP = textwrap.dedent(
    """
    import sys, time
    from opentelemetry import context, metrics, trace
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from otel_llm.cost import PriceBook
    from otel_llm.telemetry import Telemetry

    provider = LoggerProvider(resource=Resource.create({"service.name": "e2e-raw-content"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter()))
    core = Telemetry(trace.get_tracer("e2e"), metrics.get_meter("e2e"), PriceBook({}), provider.get_logger("otel_llm"))
    key, card, token = sys.argv[1:4]
    body = {
        "gen_ai.input.messages": [
            {"role": "user", "parts": [{"type": "text", "content": f"use {key} and pay with {card}"}]},
            {"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "pay",
                                              "arguments": {"api_key": "plain-value", "card": card}}]},
        ],
        "gen_ai.system_instructions": [{"type": "text", "content": f"Authorization: Bearer {token}"}],
    }
    core.emit_event(
        "gen_ai.client.inference.operation.details",
        context.get_current(),
        time.time_ns(),
        {"gen_ai.operation.name": "chat"},
        body,
    )
    provider.shutdown()
    """
)


def test_collector_masks_secrets_in_raw_content_events(stack):
    """The SDK's content event, as Telemetry.emit_event builds it, sent raw (as if the SDK's
    redaction were off or had missed something): the collector masks keys, cards and tokens
    inside the structured body and keeps the structure."""
    openai_key = "sk-proj-" + "Rw4" * 10
    card = "5500 0000 0000 0004"
    token = "abcdefghijklmnopqrstuvwxyz012345"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
        "OTEL_EXPORTER_OTLP_ENDPOINT": stack.collector.otlp_http_endpoint,
    }
    subprocess.run(
        [sys.executable, "-c", RAW_CONTENT_EVENT_APP, openai_key, card, token],
        env=env,
        check=True,
        timeout=60,
    )

    def records():
        return stack.collector.log_records(service="e2e-raw-content")

    [record] = wait_until(records, 30, what="the raw content event")
    assert record["eventName"] == "gen_ai.client.inference.operation.details"
    raw = json.dumps(record)
    for secret in (openai_key, card, card.replace(" ", ""), token, "plain-value"):
        assert secret not in raw, secret
    assert "kvlistValue" in record["body"]  # still a structured body
    assert "gen_ai.input.messages" in raw and "****" in raw

"""Privacy: what the SDK redacted before content left the process, what it dropped instead (fail
closed), and the collector's redaction processor (defence in depth)."""

from __future__ import annotations

from grafana_foundation_sdk.builders.bargauge import Panel as BarGauge
from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries

from .common import (
    COLLECTOR,
    CONTENT_DROPPED,
    CONTENT_RECORDS,
    CONTENT_REDACTED,
    OTELCOL_PROCESSOR_IN,
    OTELCOL_PROCESSOR_OUT,
    SERVICE,
    SERVICE_VARIABLES,
    by,
    default_bargauge,
    default_timeseries,
    increase,
    new_dashboard,
    query,
    rate,
)

UID = "otel-llm-privacy"

REDACTION_PROCESSOR = 'processor="redaction"'


def redacted_by_type() -> BarGauge:
    return default_bargauge(
        "Entities redacted by type",
        "short",
        "Personal data and secrets replaced in exported content in the time range, by entity type.",
    ).with_target(
        query(by("otel_llm_entity_type", increase(CONTENT_REDACTED, SERVICE)), "{{otel_llm_entity_type}}")
    )


def dropped_by_reason() -> BarGauge:
    return (
        default_bargauge(
            "Content dropped by reason",
            "short",
            "Calls whose content was dropped instead of exported in the time range (queue full, redaction "
            "error, timeout). Anything here means content capture is failing closed.",
        )
        .with_target(
            query(by("otel_llm_drop_reason", increase(CONTENT_DROPPED, SERVICE)), "{{otel_llm_drop_reason}}")
        )
        .no_value("0")
    )


def content_records() -> Timeseries:
    return (
        default_timeseries(
            "Content records per minute",
            "short",
            "Redacted content records exported (calls, feedback comments, issue descriptions) and dropped.",
        )
        .with_target(query(f"{by('', rate(CONTENT_RECORDS, SERVICE))} * 60", "exported"))
        .with_target(query(f"{by('', rate(CONTENT_DROPPED, SERVICE))} * 60", "dropped"))
    )


def collector_redaction() -> Timeseries:
    return (
        default_timeseries(
            "Collector redaction processor: items in and out",
            "short",
            "Items per second through the collector's redaction processor, by signal. The processor "
            "exposes no count of the values it masked (see dashboards/README.md); in and out differ "
            "only if it dropped data.",
        )
        .with_target(
            query(
                by("otel_signal", rate(OTELCOL_PROCESSOR_IN, COLLECTOR, REDACTION_PROCESSOR)),
                "in: {{otel_signal}}",
            )
        )
        .with_target(
            query(
                by("otel_signal", rate(OTELCOL_PROCESSOR_OUT, COLLECTOR, REDACTION_PROCESSOR)),
                "out: {{otel_signal}}",
            )
        )
    )


def dashboard() -> Dashboard:
    return (
        new_dashboard(
            UID,
            "otel-llm / Privacy",
            "Redaction of captured content in the SDK and the collector, and content dropped to stay private.",
            SERVICE_VARIABLES,
        )
        .with_panel(redacted_by_type())
        .with_panel(dropped_by_reason())
        .with_panel(content_records())
        .with_panel(collector_redaction())
    )

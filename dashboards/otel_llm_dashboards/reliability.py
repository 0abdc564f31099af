"""Reliability: provider errors, SDK retries and 429s, otel-llm's own errors, and whether the
telemetry itself gets through the collector."""

from __future__ import annotations

from collections.abc import Callable

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.builders.stat import Panel as Stat
from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries

from .common import (
    CALL,
    CALL_VARIABLES,
    COLLECTOR,
    DURATION,
    OTELCOL_ITEMS,
    OTELCOL_QUEUE_CAPACITY,
    OTELCOL_QUEUE_SIZE,
    RETRIES,
    SELF_ERRORS,
    SERVICE,
    by,
    default_stat,
    default_timeseries,
    increase,
    new_dashboard,
    otelcol_enqueue_failed,
    otelcol_refused,
    otelcol_send_failed,
    query,
    rate,
    ratio,
    ratio_thresholds,
    sel,
)

UID = "otel-llm-reliability"


def errors_by_type() -> Timeseries:
    return default_timeseries(
        "Errors by type", "reqps", "Calls that raised, per second, by exception class (error.type)."
    ).with_target(
        query(by("error_type", rate(f"{DURATION}_count", CALL, 'error_type!=""')), "{{error_type}}")
    )


def retries_by_outcome() -> Timeseries:
    return default_timeseries(
        "SDK retries by outcome",
        "reqps",
        "HTTP attempts the provider SDK retried, per second, by what the attempt got (429, 5xx, a timeout).",
    ).with_target(query(by("otel_llm_attempt_outcome", rate(RETRIES, CALL)), "{{otel_llm_attempt_outcome}}"))


def rate_limited_stat() -> Stat:
    return (
        default_stat(
            "429s retried in range",
            "short",
            "Attempts answered 429 (rate limited) that the SDK retried. Calls that still failed show as "
            "RateLimitError under Errors by type.",
        )
        .with_target(query(by("", increase(RETRIES, CALL, 'otel_llm_attempt_outcome="429"')), "429"))
        .height(8)
        .span(12)
        .no_value("0")
    )


def self_errors() -> Timeseries:
    return default_timeseries(
        "Instrumentation self-errors per minute",
        "short",
        "Internal otel-llm failures, swallowed and counted (the app's calls were unaffected), by step; "
        "guard_store: the guards' shared store was unreachable.",
    ).with_target(query(f"{by('otel_llm_step', rate(SELF_ERRORS, SERVICE))} * 60", "{{otel_llm_step}}"))


def _collector_items(title: str, description: str, metric: Callable[[str], str], group: str) -> Timeseries:
    """One query per kind of item (spans, metric points, log records) of a collector counter."""
    panel = default_timeseries(title, "short", description)
    for items in OTELCOL_ITEMS:
        legend = f"{{{{{group}}}}}: {items.replace('_', ' ')}"
        panel.with_target(query(by(group, rate(metric(items), COLLECTOR)), legend))
    return panel


def export_failures() -> Timeseries:
    return _collector_items(
        "Telemetry export failures",
        "Items per second the collector failed to send (after its retries) and dropped, by exporter. "
        "These series exist only once an export has failed.",
        otelcol_send_failed,
        "exporter",
    )


def queue_full() -> Timeseries:
    return _collector_items(
        "Telemetry dropped: sending queue full",
        "Items per second dropped because an exporter's sending queue was full (a backend down for long). "
        "These series exist only once the queue has been full.",
        otelcol_enqueue_failed,
        "exporter",
    )


def refused() -> Timeseries:
    return _collector_items(
        "Telemetry refused by the collector",
        "Items per second the collector refused (memory limiter): the SDKs retry them.",
        otelcol_refused,
        "receiver",
    )


def queue_fill() -> Timeseries:
    return (
        default_timeseries(
            "Collector sending queue fill",
            "percentunit",
            "How full each exporter's sending queue is; at 100 % new telemetry is dropped.",
        )
        .with_target(
            query(
                by(
                    "exporter",
                    ratio(sel(OTELCOL_QUEUE_SIZE, COLLECTOR), sel(OTELCOL_QUEUE_CAPACITY, COLLECTOR)),
                    "max",
                ),
                "{{exporter}}",
            )
        )
        .max(1)
        .thresholds(ratio_thresholds())
    )


def dashboard() -> Dashboard:
    return (
        new_dashboard(
            UID,
            "otel-llm / Reliability",
            "Provider errors, retries and rate limits, instrumentation self-errors and telemetry delivery.",
            CALL_VARIABLES,
        )
        .with_panel(errors_by_type())
        .with_panel(retries_by_outcome())
        .with_panel(rate_limited_stat())
        .with_panel(self_errors())
        .with_panel(export_failures())
        .with_panel(queue_full())
        .with_panel(refused())
        .with_panel(queue_fill())
    )

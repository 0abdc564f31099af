"""Overview: traffic, errors, latency, time to first chunk, tokens and cost of the LLM calls."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.builders.stat import Panel as Stat
from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries

from .common import (
    CALL,
    CALL_VARIABLES,
    COST,
    DURATION,
    TIME_TO_FIRST_CHUNK,
    TOKENS,
    by,
    default_stat,
    default_timeseries,
    new_dashboard,
    or_zero,
    quantile,
    query,
    rate,
    ratio,
)

UID = "otel-llm-overview"

REQUESTS = by("", rate(f"{DURATION}_count", CALL))
ERRORS = by("", rate(f"{DURATION}_count", CALL, 'error_type!=""'))
COST_PER_HOUR = f"{by('', rate(COST, CALL))} * 3600"


def requests_stat() -> Stat:
    return default_stat(
        "Requests per second", "reqps", "Instrumented provider calls per second."
    ).with_target(query(REQUESTS, "requests/s"))


def error_rate_stat() -> Stat:
    return (
        default_stat("Error rate", "percentunit", "Share of calls that raised (any error.type).")
        .with_target(query(ratio(or_zero(ERRORS, REQUESTS), REQUESTS), "errors"))
        .max(1)
    )


def latency_stat() -> Stat:
    return default_stat(
        "p95 latency", "s", "95th percentile of the call duration (streams: until the end)."
    ).with_target(query(quantile(0.95, DURATION, CALL), "p95", exemplar=True))


def cost_stat() -> Stat:
    return default_stat(
        "Cost per hour", "currencyUSD", "Spend per hour at the current rate (priced calls)."
    ).with_target(query(COST_PER_HOUR, "USD/h"))


def requests_by_provider() -> Timeseries:
    return default_timeseries(
        "Requests per second by provider", "reqps", "Calls per second, by provider."
    ).with_target(
        query(by("gen_ai_provider_name", rate(f"{DURATION}_count", CALL)), "{{gen_ai_provider_name}}")
    )


def error_rate_by_provider() -> Timeseries:
    errors = by("gen_ai_provider_name", rate(f"{DURATION}_count", CALL, 'error_type!=""'))
    calls = by("gen_ai_provider_name", rate(f"{DURATION}_count", CALL))
    return (
        default_timeseries(
            "Error rate by provider", "percentunit", "Share of calls that raised, by provider."
        )
        .with_target(query(ratio(or_zero(errors, calls), calls), "{{gen_ai_provider_name}}"))
        .max(1)
    )


def latency() -> Timeseries:
    panel = default_timeseries(
        "Latency",
        "s",
        "Call duration percentiles (streams: until the stream ended). Exemplars link to the call's trace in Tempo.",
    )
    for q in (0.5, 0.95, 0.99):
        panel.with_target(query(quantile(q, DURATION, CALL), f"p{round(q * 100)}", exemplar=True))
    return panel


def time_to_first_chunk() -> Timeseries:
    return default_timeseries(
        "Time to first chunk p95 by model",
        "s",
        "Streams only: from the call to the first chunk, 95th percentile. Exemplars link to traces.",
    ).with_target(
        query(
            quantile(0.95, TIME_TO_FIRST_CHUNK, CALL, group="gen_ai_request_model"),
            "{{gen_ai_request_model}}",
            exemplar=True,
        )
    )


def tokens() -> Timeseries:
    return default_timeseries(
        "Tokens per second",
        "short",
        "Input tokens (cache reads included) and output tokens (reasoning included) per second.",
    ).with_target(query(by("gen_ai_token_type", rate(f"{TOKENS}_sum", CALL)), "{{gen_ai_token_type}}"))


def cost_by_model() -> Timeseries:
    return default_timeseries(
        "Cost per hour by model", "currencyUSD", "Spend per hour at the current rate, by request model."
    ).with_target(query(f"{by('gen_ai_request_model', rate(COST, CALL))} * 3600", "{{gen_ai_request_model}}"))


def dashboard() -> Dashboard:
    return (
        new_dashboard(
            UID,
            "otel-llm / Overview",
            "Health of the LLM calls: traffic, errors, latency, tokens and cost.",
            CALL_VARIABLES,
        )
        .with_panel(requests_stat())
        .with_panel(error_rate_stat())
        .with_panel(latency_stat())
        .with_panel(cost_stat())
        .with_panel(requests_by_provider())
        .with_panel(error_rate_by_provider())
        .with_panel(latency())
        .with_panel(time_to_first_chunk())
        .with_panel(tokens())
        .with_panel(cost_by_model())
    )

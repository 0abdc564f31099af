"""Model versions: which dated model versions answer behind each alias, and versions that are new
(a provider's silent model update appears as a new `gen_ai_response_model` value)."""

from __future__ import annotations

from grafana_foundation_sdk.builders.bargauge import Panel as BarGauge
from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.builders.table import Panel as Table
from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries

from .common import (
    CALL,
    CALL_VARIABLES,
    DURATION,
    by,
    default_bargauge,
    default_table,
    default_timeseries,
    increase,
    new_dashboard,
    query,
    rate,
    sel,
    table_query,
)

UID = "otel-llm-models"

RESPONDED = 'gen_ai_response_model!=""'
MODEL = "gen_ai_provider_name, gen_ai_request_model, gen_ai_response_model"
# As the ModelVersionChanged alert: a version is new if nothing answered as it in the 7 days before.
BASELINE = "7d"


def traffic_by_response_model() -> Timeseries:
    return default_timeseries(
        "Traffic by response model",
        "reqps",
        "Calls per second by the model version that answered (gen_ai.response.model).",
    ).with_target(
        query(
            by("gen_ai_provider_name, gen_ai_response_model", rate(f"{DURATION}_count", CALL, RESPONDED)),
            "{{gen_ai_provider_name}} {{gen_ai_response_model}}",
        )
    )


def versions_by_alias() -> BarGauge:
    return default_bargauge(
        "Calls by requested model and version",
        "short",
        "Calls in the time range: which versions answer each alias.",
    ).with_target(
        query(
            by("gen_ai_request_model, gen_ai_response_model", increase(f"{DURATION}_count", CALL, RESPONDED)),
            "{{gen_ai_request_model}} → {{gen_ai_response_model}}",
        )
    )


def new_versions_query(recent: str) -> str:
    """Response models with calls in the last `recent` but none in the `BASELINE` before it."""
    series = sel(f"{DURATION}_count", CALL, RESPONDED)
    seen = by(MODEL, f"last_over_time({series}[{recent}])", "group")
    before = by(MODEL, f"last_over_time({series}[{BASELINE}] offset {recent})", "group")
    return f"{seen}\nunless\n{before}"


def new_versions(recent: str, title: str) -> Table:
    return default_table(
        title, f"Response models that answered in the last {recent} but not in the {BASELINE} before."
    ).with_target(table_query(new_versions_query(recent)))


def dashboard() -> Dashboard:
    return (
        new_dashboard(
            UID,
            "otel-llm / Model versions",
            "Model versions behind each alias and new versions (silent provider-side updates).",
            CALL_VARIABLES,
        )
        .with_panel(traffic_by_response_model())
        .with_panel(versions_by_alias())
        .with_panel(new_versions("1h", "New versions in the last hour"))
        .with_panel(new_versions("1d", "New versions in the last day"))
    )

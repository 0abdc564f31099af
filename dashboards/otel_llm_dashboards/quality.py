"""Quality: output validation, user feedback, editing time, issue reports, and the review sample
(redacted calls in Loki) for people to read."""

from __future__ import annotations

from grafana_foundation_sdk.builders.bargauge import Panel as BarGauge
from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.builders.logs import Panel as Logs
from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries
from grafana_foundation_sdk.models.common import LogsSortOrder

from .common import (
    EDIT_TIME,
    FEEDBACK_RECEIVED,
    FEEDBACK_SCORE,
    ISSUE_REPORTS,
    LOKI,
    SERVICE,
    SERVICE_VARIABLES,
    VALIDATION,
    by,
    default_bargauge,
    default_timeseries,
    increase,
    logs_query,
    new_dashboard,
    or_zero,
    quantile,
    query,
    rate,
    ratio,
)

UID = "otel-llm-quality"

# Review-sample records carry otel_llm.review.sample_rate, which Loki keeps as structured metadata.
REVIEW_SAMPLES = '{service_name=~"$service"} | otel_llm_review_sample_rate != ""'


def _pass_rate(group: str) -> str:
    passed = by(group, rate(VALIDATION, SERVICE, 'otel_llm_validation_result="pass"'))
    validated = by(group, rate(VALIDATION, SERVICE))
    return ratio(or_zero(passed, validated), validated)


def pass_rate_by_validator() -> Timeseries:
    return (
        default_timeseries(
            "Validation pass rate by validator",
            "percentunit",
            "Share of validated outputs that passed, by validator (expect(), configured rules, schemas).",
        )
        .with_target(query(_pass_rate("otel_llm_validator"), "{{otel_llm_validator}}"))
        .max(1)
    )


def pass_rate_by_prompt_version() -> Timeseries:
    return (
        default_timeseries(
            "Validation pass rate by prompt version",
            "percentunit",
            "Share of validated outputs that passed, by feature and prompt version: compare versions.",
        )
        .with_target(
            query(
                _pass_rate("otel_llm_feature, otel_llm_prompt_version"),
                "{{otel_llm_feature}} {{otel_llm_prompt_version}}",
            )
        )
        .max(1)
    )


def feedback_score() -> Timeseries:
    group = "otel_llm_feature, otel_llm_prompt_version"
    mean = ratio(
        by(group, rate(f"{FEEDBACK_SCORE}_sum", SERVICE)), by(group, rate(f"{FEEDBACK_SCORE}_count", SERVICE))
    )
    return default_timeseries(
        "Mean feedback score by feature and prompt version",
        "short",
        "Mean of the scores given with record_feedback(score=...), on the app's own scale.",
    ).with_target(query(mean, "{{otel_llm_feature}} {{otel_llm_prompt_version}}"))


def feedback_received() -> BarGauge:
    return default_bargauge(
        "Feedback by label", "short", "Feedback received in the time range, by label (empty: no label given)."
    ).with_target(
        query(
            by("otel_llm_feedback_label", increase(FEEDBACK_RECEIVED, SERVICE)), "{{otel_llm_feedback_label}}"
        )
    )


def editing_time() -> Timeseries:
    mean = ratio(
        by("otel_llm_feature", rate(f"{EDIT_TIME}_sum", SERVICE)),
        by("otel_llm_feature", rate(f"{EDIT_TIME}_count", SERVICE)),
    )
    return (
        default_timeseries(
            "Editing time",
            "s",
            "Seconds users spent editing an output before using it (record_feedback(edit_seconds=...)).",
        )
        .with_target(query(mean, "mean {{otel_llm_feature}}"))
        .with_target(query(quantile(0.9, EDIT_TIME, SERVICE), "p90 (all features)"))
        .span(24)  # a row of its own, so the two issue-report panels share the next one
    )


def issue_reports() -> BarGauge:
    return default_bargauge(
        "Issue reports by category", "short", "report_issue(...) calls in the time range, by category."
    ).with_target(
        query(by("otel_llm_issue_category", increase(ISSUE_REPORTS, SERVICE)), "{{otel_llm_issue_category}}")
    )


def issue_reports_by_feature() -> BarGauge:
    # What the QualityReportsSpike alert counts (per feature; "unknown" when the report named none).
    return default_bargauge(
        "Issue reports by feature", "short", "report_issue(...) calls in the time range, by feature."
    ).with_target(query(by("otel_llm_feature", increase(ISSUE_REPORTS, SERVICE)), "{{otel_llm_feature}}"))


def review_samples() -> Logs:
    return (
        Logs()
        .title("Review samples")
        .description(
            "Calls in the review sample (OTEL_LLM_SAMPLE_RATE), redacted: input, output and validation results. "
            "Export them for review with `otel-llm review export`."
        )
        .datasource(LOKI)
        .with_target(logs_query(REVIEW_SAMPLES))
        .show_time(True)
        .wrap_log_message(True)
        .prettify_log_message(True)
        .enable_log_details(True)
        .sort_order(LogsSortOrder.DESCENDING)
        .height(12)
        .span(24)
    )


def dashboard() -> Dashboard:
    return (
        new_dashboard(
            UID,
            "otel-llm / Quality",
            "Validation results, user feedback, editing time, issue reports and the review sample.",
            SERVICE_VARIABLES,
        )
        .with_panel(pass_rate_by_validator())
        .with_panel(pass_rate_by_prompt_version())
        .with_panel(feedback_score())
        .with_panel(feedback_received())
        .with_panel(editing_time())
        .with_panel(issue_reports())
        .with_panel(issue_reports_by_feature())
        .with_panel(review_samples())
    )

"""Cost and budgets: spend by model and feature, budgets against their limits, the month-end
forecast, cache savings, calls without a price, and what the guards decided."""

from __future__ import annotations

from grafana_foundation_sdk.builders.bargauge import Panel as BarGauge
from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.builders.stat import Panel as Stat
from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries

from .common import (
    BUDGET_LIMIT,
    BUDGET_SPENT,
    CALL,
    CALL_VARIABLES,
    COST,
    COST_SAVED,
    GUARD_DECISIONS,
    RANGE,
    SERVICE,
    UNPRICED,
    by,
    default_bargauge,
    default_stat,
    default_timeseries,
    increase,
    new_dashboard,
    query,
    rate,
    ratio,
    ratio_thresholds,
    sel,
)

UID = "otel-llm-cost"

# A budget counted in a shared store (Redis) is reported by every process; one counted in memory
# is enforced per process. `max` is right for both: the shared total, or the fullest process.
BUDGET = "otel_llm_guard_name, otel_llm_budget_window, otel_llm_budget_scope"
BUDGET_LEGEND = "{{otel_llm_guard_name}} {{otel_llm_budget_scope}} ({{otel_llm_budget_window}})"


def spend_stat() -> Stat:
    return (
        default_stat("Spend in range", "currencyUSD", "Cost of the priced calls in the time range.")
        .with_target(query(by("", increase(COST, CALL)), "USD"))
        .no_value("0")
    )


def forecast_stat() -> Stat:
    return default_stat(
        "Month-end forecast",
        "currencyUSD",
        "This month's spend if the time range's average rate held for the whole month (rate x days "
        "in this month): a run-rate forecast, since Prometheus keeps 15 days, not a whole month. "
        "Choose a range of a day or more.",
    ).with_target(query(f"{by('', rate(COST, CALL, window=RANGE))} * days_in_month() * 86400", "USD/month"))


def savings_stat() -> Stat:
    return (
        default_stat(
            "Cache savings in range",
            "currencyUSD",
            "What cached input would have cost at the uncached rate, minus what it cost.",
        )
        .with_target(query(by("", increase(COST_SAVED, CALL)), "USD"))
        .no_value("0")
    )


def unpriced_stat() -> Stat:
    return (
        default_stat(
            "Unpriced calls in range",
            "short",
            "Calls that reported usage but whose model has no price: add a price override.",
        )
        .with_target(query(by("", increase(UNPRICED, CALL)), "calls"))
        .no_value("0")
    )


def spend_by_model() -> BarGauge:
    return default_bargauge(
        "Spend by model", "currencyUSD", "Cost in the time range, by request model."
    ).with_target(query(by("gen_ai_request_model", increase(COST, CALL)), "{{gen_ai_request_model}}"))


def spend_by_feature() -> BarGauge:
    return default_bargauge(
        "Spend by feature",
        "currencyUSD",
        "Cost in the time range, by the app's feature (otel_llm.attributes(feature=...)); "
        "calls without one are shown with an empty name.",
    ).with_target(query(by("otel_llm_feature", increase(COST, CALL)), "{{otel_llm_feature}}"))


def spend_rate_by_feature() -> Timeseries:
    return default_timeseries(
        "Spend per hour by feature", "currencyUSD", "Spend per hour at the current rate, by feature."
    ).with_target(query(f"{by('otel_llm_feature', rate(COST, CALL))} * 3600", "{{otel_llm_feature}}"))


def budget_used() -> BarGauge:
    return (
        default_bargauge(
            "Budget used",
            "percentunit",
            "What each budget's current window holds, against its limit (budgets by tenant key report no gauge).",
        )
        .with_target(
            query(
                ratio(
                    by(BUDGET, sel(BUDGET_SPENT, SERVICE), "max"),
                    by(BUDGET, sel(BUDGET_LIMIT, SERVICE), "max"),
                ),
                BUDGET_LEGEND,
            )
        )
        .thresholds(ratio_thresholds())
    )


def budget_spent() -> Timeseries:
    return (
        default_timeseries(
            "Budget spent and limit", "currencyUSD", "Spent in each budget's current window, and its limit."
        )
        .with_target(query(by(BUDGET, sel(BUDGET_SPENT, SERVICE), "max"), f"spent: {BUDGET_LEGEND}"))
        .with_target(query(by(BUDGET, sel(BUDGET_LIMIT, SERVICE), "max"), f"limit: {BUDGET_LEGEND}"))
    )


def unpriced_by_model() -> BarGauge:
    return default_bargauge(
        "Unpriced calls by model", "short", "Calls without a price in the time range, by model and reason."
    ).with_target(
        query(
            by(
                "gen_ai_provider_name, gen_ai_request_model, otel_llm_unpriced_reason",
                increase(UNPRICED, CALL),
            ),
            "{{gen_ai_provider_name}} {{gen_ai_request_model}} ({{otel_llm_unpriced_reason}})",
        )
    )


def guard_decisions() -> Timeseries:
    return default_timeseries(
        "Guard decisions per minute",
        "short",
        "Budget, rate-limit and loop guard decisions (allow, warn, block, wait, reject), by guard.",
    ).with_target(
        query(
            f"{by('otel_llm_guard, otel_llm_guard_decision', rate(GUARD_DECISIONS, CALL))} * 60",
            "{{otel_llm_guard}}: {{otel_llm_guard_decision}}",
        )
    )


def dashboard() -> Dashboard:
    return (
        new_dashboard(
            UID,
            "otel-llm / Cost and budgets",
            "Spend by model and feature, budgets, forecast, cache savings, unpriced calls and guard decisions.",
            CALL_VARIABLES,
        )
        .with_panel(spend_stat())
        .with_panel(forecast_stat())
        .with_panel(savings_stat())
        .with_panel(unpriced_stat())
        .with_panel(spend_by_model())
        .with_panel(spend_by_feature())
        .with_panel(spend_rate_by_feature())
        .with_panel(budget_used())
        .with_panel(budget_spent())
        .with_panel(unpriced_by_model())
        .with_panel(guard_decisions())
    )

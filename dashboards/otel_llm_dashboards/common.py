"""What every otel-llm dashboard shares: datasources, variables, label selectors, metric names and
panel defaults. Queries are written against these names only, so a renamed metric or label is
changed here once."""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, loki, prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders import common as viz
from grafana_foundation_sdk.builders.dashboard import (
    AnnotationQuery,
    Dashboard,
    DashboardLink,
    DatasourceVariable,
    QueryVariable,
    ThresholdsConfig,
)
from grafana_foundation_sdk.models import common as viz_models
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DashboardLinkType,
    DataSourceRef,
    Threshold,
    ThresholdsMode,
    VariableOption,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from otel_llm import semconv as sc

TAG = "otel-llm"

# The datasource uids are fixed by dashboards/provisioning/datasources.yaml. Prometheus panels
# follow the $datasource variable; logs always come from the provisioned Loki.
PROMETHEUS = DataSourceRef(type_val="prometheus", uid="${datasource}")
LOKI = DataSourceRef(type_val="loki", uid="loki")

# -- metric names (the collector's Prometheus translation, derived as otel-llm derives them) ------
DURATION = sc.prometheus_name(sc.METRIC_OPERATION_DURATION, "s", "histogram")
TIME_TO_FIRST_CHUNK = sc.prometheus_name(sc.METRIC_TIME_TO_FIRST_CHUNK, "s", "histogram")
TOKENS = sc.prometheus_name(sc.METRIC_TOKEN_USAGE, "{token}", "histogram")
COST = sc.prometheus_name(sc.METRIC_COST, "USD", "counter")
COST_SAVED = sc.prometheus_name(sc.METRIC_COST_SAVED, "USD", "counter")
UNPRICED = sc.prometheus_name(sc.METRIC_UNPRICED_CALLS, "{call}", "counter")
RETRIES = sc.prometheus_name(sc.METRIC_RETRY_ATTEMPTS, "{attempt}", "counter")
SELF_ERRORS = sc.prometheus_name(sc.METRIC_SELF_ERRORS, "{error}", "counter")
CONTENT_RECORDS = sc.prometheus_name(sc.METRIC_CONTENT_RECORDS, "{record}", "counter")
CONTENT_REDACTED = sc.prometheus_name(sc.METRIC_CONTENT_REDACTED, "{entity}", "counter")
CONTENT_DROPPED = sc.prometheus_name(sc.METRIC_CONTENT_DROPPED, "{record}", "counter")
VALIDATION = sc.prometheus_name(sc.METRIC_VALIDATION_RESULTS, "{result}", "counter")
GUARD_DECISIONS = sc.prometheus_name(sc.METRIC_GUARD_DECISIONS, "{decision}", "counter")
BUDGET_LIMIT = sc.prometheus_name(sc.METRIC_BUDGET_LIMIT, "USD", "gauge")
BUDGET_SPENT = sc.prometheus_name(sc.METRIC_BUDGET_SPENT, "USD", "gauge")
FEEDBACK_RECEIVED = sc.prometheus_name(sc.METRIC_FEEDBACK_RECEIVED, "{feedback}", "counter")
FEEDBACK_SCORE = sc.prometheus_name(sc.METRIC_FEEDBACK_SCORE, "{score}", "histogram")
EDIT_TIME = sc.prometheus_name(sc.METRIC_FEEDBACK_EDIT_TIME, "s", "histogram")
ISSUE_REPORTS = sc.prometheus_name(sc.METRIC_ISSUE_REPORTS, "{report}", "counter")

# The collector's own metrics, as otelcol-llm (v0.161.0) exposes them to Prometheus' scrape: no
# `_total` suffix. The failure counters appear only once something failed.
OTELCOL_PROCESSOR_IN = "otelcol_processor_incoming_items"
OTELCOL_PROCESSOR_OUT = "otelcol_processor_outgoing_items"
OTELCOL_QUEUE_SIZE = "otelcol_exporter_queue_size"
OTELCOL_QUEUE_CAPACITY = "otelcol_exporter_queue_capacity"
OTELCOL_ITEMS = ("spans", "metric_points", "log_records")


def otelcol_send_failed(items: str) -> str:
    return f"otelcol_exporter_send_failed_{items}"


def otelcol_enqueue_failed(items: str) -> str:
    return f"otelcol_exporter_enqueue_failed_{items}"


def otelcol_refused(items: str) -> str:
    return f"otelcol_receiver_refused_{items}"


# -- label selectors ---------------------------------------------------------------------------
# Every metric carries the service (`job`) and environment; call metrics also the provider and
# request model. The collector's own metrics come from Prometheus scraping it as `otel-collector`
# (alerts/prometheus.yml and the test stack use the same job name).
SERVICE = 'job=~"$service", deployment_environment_name=~"$environment"'
CALL = f'{SERVICE}, gen_ai_provider_name=~"$provider", gen_ai_request_model=~"$model"'
COLLECTOR = 'job="otel-collector"'
# Grafana's windows: one step's rate, and the whole time range (for totals in stat panels).
RATE = "$__rate_interval"
RANGE = "$__range"

# Series every instrumented (or feedback-recording) service exports: where the service and
# environment variables find their values.
_ANY_SERVICE = f'__name__=~"{DURATION}_count|{FEEDBACK_RECEIVED}"'


def sel(metric: str, labels: str, *extra: str) -> str:
    """A vector selector: `metric{labels, extra...}`."""
    return f"{metric}{{{', '.join((labels, *extra))}}}"


def rate(metric: str, labels: str, *extra: str, window: str = RATE) -> str:
    return f"rate({sel(metric, labels, *extra)}[{window}])"


def increase(metric: str, labels: str, *extra: str) -> str:
    return f"increase({sel(metric, labels, *extra)}[{RANGE}])"


def by(labels: str, expr: str, op: str = "sum") -> str:
    """`sum by (labels) (expr)`; an empty `labels` aggregates everything."""
    return f"{op} by ({labels}) ({expr})" if labels else f"{op}({expr})"


def quantile(q: float, metric: str, labels: str, group: str = "") -> str:
    """`histogram_quantile` over the rate of a histogram's buckets, optionally per `group`."""
    grouping = f"le, {group}" if group else "le"
    return f"histogram_quantile({q}, {by(grouping, rate(f'{metric}_bucket', labels))})"


def ratio(numerator: str, denominator: str) -> str:
    return f"{numerator}\n/\n{denominator}"


def or_zero(expr: str, like: str) -> str:
    """`expr`, or 0 for each series of `like` that it lacks: no errors among calls is a rate of
    0, while no calls at all stays no data (never a constant such as `vector(0)`)."""
    return f"({expr} or {like} * 0)"


# -- variables ---------------------------------------------------------------------------------


def datasource_variable() -> DatasourceVariable:
    return (
        DatasourceVariable("datasource")
        .label("Data source")
        .type("prometheus")
        .current(VariableOption(selected=True, text="Prometheus", value="prometheus"))
    )


def _query_variable(name: str, label: str, query: str, all_value: str = ".*") -> QueryVariable:
    return (
        QueryVariable(name)
        .label(label)
        .datasource(PROMETHEUS)
        .query(query)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(all_value)
        .current(VariableOption(selected=True, text="All", value="$__all"))
    )


def service_variable() -> QueryVariable:
    # ".+" rather than ".*" for All: Loki refuses a stream selector that can match an empty value.
    return _query_variable("service", "Service", f"label_values({{{_ANY_SERVICE}}}, job)", all_value=".+")


def environment_variable() -> QueryVariable:
    return _query_variable(
        "environment",
        "Environment",
        f'label_values({{{_ANY_SERVICE}, job=~"$service"}}, deployment_environment_name)',
    )


def provider_variable() -> QueryVariable:
    return _query_variable(
        "provider", "Provider", f"label_values({DURATION}_count{{{SERVICE}}}, gen_ai_provider_name)"
    )


def model_variable() -> QueryVariable:
    return _query_variable(
        "model",
        "Model",
        f'label_values({DURATION}_count{{{SERVICE}, gen_ai_provider_name=~"$provider"}}, gen_ai_request_model)',
    )


SERVICE_VARIABLES = (datasource_variable, service_variable, environment_variable)
CALL_VARIABLES = (*SERVICE_VARIABLES, provider_variable, model_variable)


# -- dashboards and panels ---------------------------------------------------------------------


def new_dashboard(uid: str, title: str, description: str, variables: tuple) -> Dashboard:
    builder = (
        Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([TAG])
        .time("now-1h", "now")
        .refresh("1m")
        .timezone("browser")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .annotation(
            AnnotationQuery()
            .name("Annotations & Alerts")
            .datasource(DataSourceRef(type_val="grafana", uid="-- Grafana --"))
            .built_in(1)
            .enable(True)
            .hide(True)
            .icon_color("rgba(0, 211, 255, 1)")
            .type("dashboard")
        )
        .link(
            DashboardLink("otel-llm dashboards")
            .type(DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )
    for variable in variables:
        builder.with_variable(variable())
    return builder


def query(expr: str, legend: str = "__auto", exemplar: bool = False) -> prometheus.Dataquery:
    """A range query; one over the whole time range (`$__range`) is instant: only its value at
    the end of the range is shown."""
    built = prometheus.Dataquery().datasource(PROMETHEUS).expr(expr).legend_format(legend)
    return (built.instant() if RANGE in expr else built.range()).exemplar(exemplar)


def table_query(expr: str) -> prometheus.Dataquery:
    """An instant query shown as a table (one row per series)."""
    return prometheus.Dataquery().datasource(PROMETHEUS).expr(expr).instant().format(PromQueryFormat.TABLE)


def logs_query(expr: str) -> loki.Dataquery:
    return loki.Dataquery().datasource(LOKI).expr(expr).query_type("range")


def _thresholds(*steps: tuple[float | None, str]) -> ThresholdsConfig:
    return (
        ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=value, color=color) for value, color in steps])
    )


GREEN = ((None, "green"),)
RATIO_THRESHOLDS = ((None, "green"), (0.8, "orange"), (1.0, "red"))


def default_timeseries(title: str, unit: str, description: str) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(PROMETHEUS)
        .unit(unit)
        .min(0)
        .line_width(1)
        .fill_opacity(10)
        .show_points(viz_models.VisibilityMode.NEVER)
        .legend(
            viz.VizLegendOptions()
            .display_mode(viz_models.LegendDisplayMode.LIST)
            .placement(viz_models.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
        .tooltip(
            viz.VizTooltipOptions()
            .mode(viz_models.TooltipDisplayMode.MULTI)
            .sort(viz_models.SortOrder.DESCENDING)
        )
        .thresholds(_thresholds(*GREEN))
        .height(8)
        .span(12)
    )


def default_stat(title: str, unit: str, description: str) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(PROMETHEUS)
        .unit(unit)
        .graph_mode(viz_models.BigValueGraphMode.AREA)
        .color_mode(viz_models.BigValueColorMode.VALUE)
        .reduce_options(viz.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .thresholds(_thresholds(*GREEN))
        .height(4)
        .span(6)
    )


def default_bargauge(title: str, unit: str, description: str) -> bargauge.Panel:
    return (
        bargauge.Panel()
        .title(title)
        .description(description)
        .datasource(PROMETHEUS)
        .unit(unit)
        .min(0)
        .display_mode(viz_models.BarGaugeDisplayMode.BASIC)
        .orientation(viz_models.VizOrientation.HORIZONTAL)
        .reduce_options(viz.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .thresholds(_thresholds(*GREEN))
        .height(8)
        .span(12)
    )


def default_table(title: str, description: str) -> table.Panel:
    return table.Panel().title(title).description(description).datasource(PROMETHEUS).height(8).span(12)


def ratio_thresholds() -> ThresholdsConfig:
    return _thresholds(*RATIO_THRESHOLDS)

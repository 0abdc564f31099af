"""The telemetry core: the only module that touches tracers and meters.

`Telemetry.start()` opens the call's span; `Telemetry.finish()` sets the response attributes,
prices the call, records the metrics and ends the span, exactly once. Providers (tracer and meter)
are resolved lazily at the first instrumented call: the app's global ones when it configured
OpenTelemetry, otherwise our own SDK providers exporting OTLP as the standard `OTEL_*` variables say.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import os
import threading
import time
import traceback
from collections.abc import Callable
from itertools import pairwise
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from . import attribution, feedback
from . import semconv as sc
from .config import Settings
from .content import CONTENT, ContentRecord, in_review_sample
from .cost import PriceBook
from .invocation import Invocation
from .version import __version__
from .worker import BackgroundWorker

logger = logging.getLogger("otel_llm")

SCOPE = "otel_llm"
INVOCATION_KEY = otel_context.create_key("otel_llm.invocation")

_reported_steps: set[str] = set()


class Telemetry:
    def __init__(
        self,
        tracer: trace.Tracer,
        meter: metrics.Meter,
        prices: PriceBook,
        event_logger: Any = None,
        event_logger_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.tracer = tracer
        self.prices = prices
        # Emits events (content, review samples, feedback). Created at the first event when content
        # capture is off, so an app that never sends feedback never sets up a logs pipeline.
        self._event_logger = event_logger
        self._event_logger_factory = event_logger_factory
        self._event_logger_lock = threading.Lock()
        self.token_usage = meter.create_histogram(
            sc.METRIC_TOKEN_USAGE,
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=list(sc.TOKEN_BUCKETS),
        )
        self.duration = meter.create_histogram(
            sc.METRIC_OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=list(sc.DURATION_BUCKETS),
        )
        self.time_to_first_chunk = meter.create_histogram(
            sc.METRIC_TIME_TO_FIRST_CHUNK,
            unit="s",
            description="Time from issuing the request to receiving the first chunk of the response stream.",
            explicit_bucket_boundaries_advisory=list(sc.DURATION_BUCKETS),
        )
        self.time_per_output_chunk = meter.create_histogram(
            sc.METRIC_TIME_PER_OUTPUT_CHUNK,
            unit="s",
            description="Time between consecutive output chunks, recorded for each chunk after the first.",
            explicit_bucket_boundaries_advisory=list(sc.TIME_PER_CHUNK_BUCKETS),
        )
        self.cost = meter.create_counter(
            sc.METRIC_COST, unit="USD", description="Cost of GenAI calls in USD."
        )
        self.cost_saved = meter.create_counter(
            sc.METRIC_COST_SAVED, unit="USD", description="What cached input tokens saved, in USD."
        )
        self.unpriced = meter.create_counter(
            sc.METRIC_UNPRICED_CALLS, unit="{call}", description="Calls whose cost could not be priced."
        )
        self.retries = meter.create_counter(
            sc.METRIC_RETRY_ATTEMPTS,
            unit="{attempt}",
            description="HTTP attempts that failed and were retried by the provider SDK.",
        )
        self.self_errors = _self_error_counter(meter)
        self.content_records = meter.create_counter(
            sc.METRIC_CONTENT_RECORDS,
            unit="{record}",
            description="Calls whose redacted content was emitted.",
        )
        self.content_redacted = meter.create_counter(
            sc.METRIC_CONTENT_REDACTED,
            unit="{entity}",
            description="Personal data and secrets replaced in captured content, by entity type.",
        )
        self.content_drops = meter.create_counter(
            sc.METRIC_CONTENT_DROPPED,
            unit="{record}",
            description="Calls whose content was dropped instead of exported, by reason.",
        )
        self.redaction_seconds = meter.create_histogram(
            sc.METRIC_REDACTION_DURATION,
            unit="s",
            description="Time the background worker spent redacting one call's content.",
            explicit_bucket_boundaries_advisory=[
                0.001,
                0.0025,
                0.005,
                0.01,
                0.025,
                0.05,
                0.1,
                0.25,
                0.5,
                1,
                2.5,
            ],
        )

        self.validation_results = meter.create_counter(
            sc.METRIC_VALIDATION_RESULTS,
            unit="{result}",
            description="Output validation results, by validator and pass/fail.",
        )
        self.guard_decisions = meter.create_counter(
            sc.METRIC_GUARD_DECISIONS,
            unit="{decision}",
            description="Decisions of the configured guards (budgets, rate limits, loop guard).",
        )
        self.feedback_received = meter.create_counter(
            sc.METRIC_FEEDBACK_RECEIVED,
            unit="{feedback}",
            description="User feedback received, by feature, model, prompt version and label.",
        )
        self.feedback_score = meter.create_histogram(
            sc.METRIC_FEEDBACK_SCORE,
            unit="{score}",
            description="User satisfaction scores (on the app's own scale).",
            explicit_bucket_boundaries_advisory=list(sc.FEEDBACK_SCORE_BUCKETS),
        )
        self.feedback_edit_time = meter.create_histogram(
            sc.METRIC_FEEDBACK_EDIT_TIME,
            unit="s",
            description="Time users spent editing an output before using it.",
            explicit_bucket_boundaries_advisory=list(sc.EDIT_TIME_BUCKETS),
        )
        self.issue_reports = meter.create_counter(
            sc.METRIC_ISSUE_REPORTS,
            unit="{report}",
            description="Quality issues reported by users, by category.",
        )
        meter.create_observable_gauge(
            sc.METRIC_BUDGET_LIMIT,
            callbacks=[lambda options: _budget_observations(spent=False)],
            unit="USD",
            description="Each configured budget's limit per window.",
        )
        meter.create_observable_gauge(
            sc.METRIC_BUDGET_SPENT,
            callbacks=[lambda options: _budget_observations(spent=True)],
            unit="USD",
            description="What each configured budget's current window has spent (reserved calls included).",
        )

    def record_guards(self, inv: Invocation, decisions: list) -> None:
        """The guards' decisions for this call: on its span and in the decisions counter."""
        if not decisions:
            return
        inv.span.set_attribute(sc.GUARD_DECISIONS, [f"{d.guard}:{d.decision}" for d in decisions])
        base = {sc.GEN_AI_PROVIDER_NAME: inv.provider}
        if inv.request_model:
            base[sc.GEN_AI_REQUEST_MODEL] = inv.request_model
        METRIC_WORKER.submit(
            self,
            inv.context,
            [
                (
                    self.guard_decisions.add,
                    1,
                    {**base, sc.GUARD: d.guard, sc.GUARD_DECISION: d.decision, sc.GUARD_NAME: d.name},
                )
                for d in decisions
            ],
        )

    @property
    def event_logger(self) -> Any:
        if self._event_logger is None and self._event_logger_factory is not None:
            with self._event_logger_lock:
                if self._event_logger is None and self._event_logger_factory is not None:
                    factory, self._event_logger_factory = self._event_logger_factory, None
                    try:
                        self._event_logger = factory()
                    except Exception as exc:  # tried once: events are lost, the rest still records
                        logger.warning("otel-llm: events (content, feedback) are not exported: %s", exc)
                        self.self_error("setup", exc.__cause__ or exc)
        return self._event_logger

    # -- span lifecycle --------------------------------------------------------------------------

    def start(self, inv: Invocation) -> None:
        name = f"{inv.operation} {inv.request_model}" if inv.request_model else inv.operation
        attributes = inv.attributes
        app = attribution.current()
        if app:  # the app's otel_llm.attributes(...): all on the span, the allow-listed on metrics
            attributes = {**app, **attributes}
            inv.labels = attribution.metric_labels(app)
            inv.app_attributes = app
        span = self.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
        inv.span = span
        inv.call_ref = feedback.call_started(span.get_span_context(), inv.request_model, app)
        inv.context = otel_context.set_value(INVOCATION_KEY, inv, trace.set_span_in_context(span))
        inv.start_time = time.perf_counter()

    def finish(self, inv: Invocation, error: BaseException | None = None) -> None:
        """Record everything about a finished call. Idempotent: only the first call does anything."""
        if inv.finished:
            return
        inv.finished = True
        end = inv.end_time if inv.end_time is not None else time.perf_counter()
        span = inv.span
        attrs: dict[str, Any] = dict(inv.response_attributes)
        # Metric measurements are recorded by a background worker, off the caller's thread.
        measurements: list[Measurement] = []
        metric_attrs: dict[str, Any] = {
            sc.GEN_AI_OPERATION_NAME: inv.operation,
            sc.GEN_AI_PROVIDER_NAME: inv.provider,
            **inv.labels,
        }
        if inv.request_model:
            metric_attrs[sc.GEN_AI_REQUEST_MODEL] = inv.request_model
        if inv.server_address:
            metric_attrs[sc.SERVER_ADDRESS] = inv.server_address
        if inv.server_port:
            metric_attrs[sc.SERVER_PORT] = inv.server_port
        if inv.response_model:
            attrs[sc.GEN_AI_RESPONSE_MODEL] = inv.response_model
            metric_attrs[sc.GEN_AI_RESPONSE_MODEL] = inv.response_model
        if inv.response_id:
            attrs[sc.GEN_AI_RESPONSE_ID] = inv.response_id
        if inv.call_ref is not None and feedback.call_finished(
            inv.call_ref, inv.response_id, inv.response_model
        ):
            # Indexing the call for feedback by id takes a lock: the metric worker does it.
            measurements.append((feedback.remember, inv.call_ref, None))
        if inv.finish_reasons:
            attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] = inv.finish_reasons
        for key, value in (
            (sc.GEN_AI_USAGE_INPUT_TOKENS, inv.input_tokens),
            (sc.GEN_AI_USAGE_OUTPUT_TOKENS, inv.output_tokens),
            (sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, inv.cache_read_tokens),
            (sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, inv.cache_creation_tokens),
            (sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, inv.reasoning_tokens),
        ):
            if value is not None:
                attrs[key] = value

        # A failure the provider reported inside its response (an adapter set error.type) is one too.
        error_type = type(error).__qualname__ if error is not None else attrs.get(sc.ERROR_TYPE)
        failed = error_type is not None
        if failed:
            attrs[sc.ERROR_TYPE] = error_type
            metric_attrs[sc.ERROR_TYPE] = error_type
            # Only the class or code: provider messages echo prompts, so the message is content.
            span.set_status(Status(StatusCode.ERROR, error_type))
        if error is not None:
            span.add_event("exception", {"exception.type": f"{type(error).__module__}.{error_type}"})

        if len(inv.attempts) > 1:
            attrs[sc.RETRY_ATTEMPTS] = len(inv.attempts)
            attrs[sc.RETRY_STATUSES] = inv.attempts
            # Every attempt but the last was retried, whether the call finally succeeded or not.
            for outcome in inv.attempts[:-1]:
                measurements.append((self.retries.add, 1, {**metric_attrs, sc.ATTEMPT_OUTCOME: outcome}))

        chunk_times = inv.chunk_times
        if inv.stream:
            attrs[sc.STREAM_CHUNKS] = len(chunk_times)
            if chunk_times:
                ttfc = chunk_times[0] - inv.start_time
                attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = ttfc
                measurements.append((self.time_to_first_chunk.record, ttfc, metric_attrs))
                gaps = [later - earlier for earlier, later in pairwise(chunk_times)]
                measurements.append((self.time_per_output_chunk.record, gaps, metric_attrs))

        try:
            self._record_usage_and_cost(inv, attrs, metric_attrs, measurements, failed=failed)
        except Exception as exc:  # a price-table surprise must not cost the rest of the telemetry
            self.self_error("cost", exc)

        measurements.append((self.duration.record, end - inv.start_time, metric_attrs))
        span.set_attributes(attrs)
        if inv.validation is not None:
            self._record_validation(inv, metric_attrs, measurements)
        end_ns = time.time_ns() - int((time.perf_counter() - end) * 1e9)
        handed_over = False
        if inv.content is not None and CONTENT.enabled:
            try:
                handed_over = self._hand_over_content(inv, attrs, failed, end_ns)
            except Exception as exc:
                self.self_error("content", exc)
        if not handed_over:
            span.end(end_time=end_ns)
        METRIC_WORKER.submit(self, inv.context, measurements)

    def _record_validation(
        self, inv: Invocation, metric_attrs: dict[str, Any], measurements: list[Measurement]
    ) -> None:
        for result in inv.validation.results:
            event = {
                sc.GEN_AI_EVALUATION_NAME: result.name,
                sc.GEN_AI_EVALUATION_SCORE_VALUE: 1.0 if result.passed else 0.0,
                sc.GEN_AI_EVALUATION_SCORE_LABEL: result.label,
            }
            if result.explanation:
                event[sc.GEN_AI_EVALUATION_EXPLANATION] = result.explanation
            if inv.response_id:
                event[sc.GEN_AI_RESPONSE_ID] = inv.response_id
            inv.span.add_event(sc.EVENT_EVALUATION_RESULT, event)
            labels = {**metric_attrs, sc.VALIDATOR: result.name, sc.VALIDATION_RESULT: result.label}
            labels.pop(sc.ERROR_TYPE, None)
            measurements.append((self.validation_results.add, 1, labels))

    def _hand_over_content(self, inv: Invocation, attrs: dict[str, Any], failed: bool, end_ns: int) -> bool:
        """Queue the call's raw content for the redaction worker. True when the worker now owns
        ending the span (span placements): it sets the redacted content first."""
        span_context = inv.span.get_span_context()
        invalid = inv.validation is not None and inv.validation.failed
        reason = CONTENT.reason(span_context.trace_id, failed, invalid)
        if reason is None:
            return False
        settings = CONTENT.settings
        owns_span = settings.placement in ("span", "span_and_event")
        event_attributes = {
            sc.GEN_AI_OPERATION_NAME: inv.operation,
            sc.GEN_AI_PROVIDER_NAME: inv.provider,
        }
        for key in (sc.GEN_AI_REQUEST_MODEL, sc.GEN_AI_RESPONSE_MODEL, sc.GEN_AI_RESPONSE_ID, sc.ERROR_TYPE):
            value = attrs.get(key) if key != sc.GEN_AI_REQUEST_MODEL else inv.request_model
            if value:
                event_attributes[key] = value
        review = None
        if in_review_sample(span_context.trace_id, settings.sample_rate):
            review_attributes = dict(event_attributes)
            for key in (sc.FEATURE, sc.PROMPT_VERSION):
                value = inv.app_attributes.get(key)
                if value is not None:
                    review_attributes[key] = value
            review_attributes[sc.REVIEW_SAMPLE_RATE] = settings.sample_rate
            validation = [
                {
                    "name": r.name,
                    "label": r.label,
                    **({"explanation": r.explanation} if r.explanation else {}),
                }
                for r in (inv.validation.results if inv.validation is not None else ())
            ]
            review = (review_attributes, validation)
        record = ContentRecord(
            content=inv.content,
            span_context=inv.context,
            span=inv.span if owns_span else None,
            end_ns=end_ns,
            deadline=time.monotonic() + settings.timeout_seconds,
            reason=reason,
            attributes=event_attributes,
            core=self,
            review=review,
        )
        return CONTENT.submit(record) and owns_span

    # -- content (called by the content worker) ------------------------------------------------------

    def emit_event(
        self, name: str, ctx: Any, timestamp_ns: int, attributes: dict[str, Any], body: dict[str, Any]
    ) -> None:
        """One event (a log record) linked to the span in `ctx`."""
        event_logger = self.event_logger
        if event_logger is None:
            return
        from opentelemetry._logs import LogRecord, SeverityNumber

        event_logger.emit(
            LogRecord(
                timestamp=timestamp_ns,
                context=ctx,
                severity_number=SeverityNumber.INFO,
                body=body,
                attributes=attributes,
                event_name=name,
            )
        )

    def content_exported(self, entities: Any) -> None:
        self.content_records.add(1)
        for entity, count in entities.items():
            self.content_redacted.add(count, {sc.ENTITY_TYPE: entity})

    def content_dropped(self, count: int, reason: str) -> None:
        try:
            self.content_drops.add(count, {sc.DROP_REASON: reason})
        except Exception as exc:
            report_self_error("content_dropped", exc)

    def redaction_duration(self, seconds: float) -> None:
        self.redaction_seconds.record(seconds)

    def _record_usage_and_cost(
        self,
        inv: Invocation,
        attrs: dict[str, Any],
        metric_attrs: dict[str, Any],
        measurements: list[Measurement],
        failed: bool,
    ) -> None:
        if inv.input_tokens is None and inv.output_tokens is None:
            if not failed:
                # The server sent no usage (e.g. a stream without include_usage): say so, price nothing.
                attrs[sc.USAGE_MISSING] = True
            return
        if inv.input_tokens is not None:
            input_attrs = {**metric_attrs, sc.GEN_AI_TOKEN_TYPE: sc.TOKEN_TYPE_INPUT}
            measurements.append((self.token_usage.record, inv.input_tokens, input_attrs))
        if inv.output_tokens is not None:
            output_attrs = {**metric_attrs, sc.GEN_AI_TOKEN_TYPE: sc.TOKEN_TYPE_OUTPUT}
            measurements.append((self.token_usage.record, inv.output_tokens, output_attrs))
        model = inv.response_model or inv.request_model
        if not model:
            measurements.append((self.unpriced.add, 1, {**metric_attrs, sc.UNPRICED_REASON: "no_model"}))
            return
        cost = self.prices.cost(
            inv.provider,
            model,
            inv.input_tokens or 0,
            inv.output_tokens or 0,
            inv.cache_read_tokens or 0,
            inv.cache_creation_tokens or 0,
            cache_write_1h_tokens=inv.cache_creation_1h_tokens or 0,
            service_tier=inv.service_tier,
        )
        if (
            cost is None
            and inv.response_model
            and inv.request_model
            and inv.request_model != inv.response_model
        ):
            # A dated response model ("gpt-4o-2024-08-06") may be unknown where the alias is priced.
            cost = self.prices.cost(
                inv.provider,
                inv.request_model,
                inv.input_tokens or 0,
                inv.output_tokens or 0,
                inv.cache_read_tokens or 0,
                inv.cache_creation_tokens or 0,
                cache_write_1h_tokens=inv.cache_creation_1h_tokens or 0,
                service_tier=inv.service_tier,
            )
        if cost is None:
            measurements.append((self.unpriced.add, 1, {**metric_attrs, sc.UNPRICED_REASON: "unknown_model"}))
            return
        attrs[sc.COST] = cost.usd
        attrs[sc.PRICE_SOURCE] = cost.source
        measurements.append((self.cost.add, cost.usd, metric_attrs))
        if inv.cache_read_tokens:
            attrs[sc.COST_SAVED] = cost.saved_usd
            measurements.append((self.cost_saved.add, cost.saved_usd, metric_attrs))

    # -- self errors -----------------------------------------------------------------------------

    def self_error(self, step: str, exc: BaseException) -> None:
        report_self_error(step, exc)
        try:
            self.self_errors.add(1, {sc.SELF_ERROR_STEP: step, sc.ERROR_TYPE: type(exc).__qualname__})
        except Exception:  # noqa: S110 - the counter itself failing must stay silent too
            pass


# Beyond this many queued calls the caller records its own measurements (bounded memory).
MAX_PENDING_BATCHES = 10_000

# A measurement: (instrument.record or instrument.add, value or list of values, attributes); any
# callable taking (value, attributes, context=) works, e.g. feedback.remember.
Measurement = tuple[Callable[..., None], Any, dict[str, Any]]


class _MetricWorker(BackgroundWorker):
    """Records metric measurements on a background thread, so the SDK's per-record attribute
    cleaning and hashing (tens of microseconds each; one per stream chunk for
    time_per_output_chunk) stays off the caller's thread. Each batch carries the call's context,
    so exemplars still link to the call's trace. `drain()` waits until everything queued is in
    the meters (flush() and shutdown call it)."""

    def __init__(self) -> None:
        super().__init__("otel-llm-metrics")

    def submit(self, core: Telemetry, ctx: Any, measurements: list[Measurement]) -> None:
        self.ensure_started()
        if self.backlog() > MAX_PENDING_BATCHES:
            # The worker is behind: record here rather than let the backlog grow (nothing is lost).
            self._record(core, ctx, measurements)
        else:
            self.put((core, ctx, measurements))

    def on_start(self, first: bool) -> None:
        if first:
            # Registered after the SDK providers exist, so it runs before their own shutdown.
            atexit.register(self.drain, 2.0)

    def handle(self, item: Any) -> None:
        self._record(*item)

    @staticmethod
    def _record(core: Telemetry, ctx: Any, measurements: list[Measurement]) -> None:
        for record, value, attributes in measurements:
            try:
                if isinstance(value, list):
                    for one in value:
                        record(one, attributes, context=ctx)
                else:
                    record(value, attributes, context=ctx)
            except Exception as exc:
                core.self_error("metrics", exc)


METRIC_WORKER = _MetricWorker()


def report_self_error(step: str, exc: BaseException) -> None:
    """Log an internal failure once per step, at debug level: the app must never notice us.

    Only the exception class and where it was raised: an exception message can quote content
    (a provider error echoing the prompt, a parse error quoting the payload).
    """
    if step not in _reported_steps:
        _reported_steps.add(step)
        frames = traceback.extract_tb(exc.__traceback__)
        where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
        logger.debug(
            "otel-llm internal error in %s: %s at %s (swallowed; the app is unaffected)",
            step,
            type(exc).__qualname__,
            where,
        )


# -- provider resolution ----------------------------------------------------------------------------


def _budget_observations(spent: bool) -> list[Any]:
    """One observation per budget (and per model for budgets by model, the models this process
    has seen); budgets by app key report no gauge (the keys are unbounded)."""
    from opentelemetry.metrics import Observation

    guards = STATE.guards
    if guards is None:
        return []
    out = []
    for budget in guards.budgets:
        if budget.scope == "key":
            continue
        for scope in guards.scopes_seen(budget):
            attrs = {sc.GUARD_NAME: budget.label, sc.BUDGET_WINDOW: budget.window, sc.BUDGET_SCOPE: scope}
            value = guards.spent(budget, scope) if spent else budget.limit_usd
            if value == value:  # NaN: the store is unreachable, report nothing
                out.append(Observation(value, attrs))
    return out


class _State:
    """Process-wide state: the settings, and the lazily resolved core."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.settings: Settings | None = None
        self.prices: PriceBook | None = None
        # the configured guards (None when none is): they act even when telemetry is disabled
        self.guards: Any = None
        self.core: Telemetry | None = None
        self.resolved = False
        # SDK providers we created ourselves (None when the app brought its own).
        self.own_tracer_provider: Any = None
        self.own_meter_provider: Any = None
        self.own_logger_provider: Any = None
        self.own_exporters: list[Any] = []
        self.exit_hook_registered = False


STATE = _State()


def _reinit_locks_in_child() -> None:
    # A fork while another thread held a lock would leave the child's copy locked forever.
    STATE.lock = threading.Lock()
    if STATE.prices is not None:
        STATE.prices.reinit_lock()


os.register_at_fork(after_in_child=_reinit_locks_in_child)


def configure(settings: Settings) -> None:
    prices = PriceBook(dict(settings.price_overrides))
    guards = _build_guards(settings, prices)  # (a bad guard store raises before anything changes)
    with STATE.lock:
        STATE.settings = settings
        STATE.prices = prices
        STATE.guards = guards
        STATE.core = None
        STATE.resolved = False
    CONTENT.configure(settings.content)
    STATE.prices.warm_up()


def _build_guards(settings: Settings, prices: PriceBook) -> Any:
    config = settings.guards
    if not config.active:
        return None
    from .config import ConfigError
    from .guard_store import MemoryStore, RedisStore
    from .guards import Guards

    if config.store == "memory":
        store = MemoryStore()
    else:
        try:
            store = RedisStore(config.store)
        except (ImportError, ValueError) as exc:
            raise ConfigError(f"guard store {config.store!r}: {exc}") from None
    return Guards(config.budgets, config.rate_limits, config.loop_guard, store, config.fail_open, prices)


def validation_rules() -> tuple:
    """The configured validation rules."""
    settings = STATE.settings
    return settings.validation_rules if settings is not None else ()


def rules_for(inv: Invocation) -> tuple:
    """The expectations of the configured validation rules that apply to this call."""
    return tuple(rule.expectation for rule in validation_rules() if rule.applies(inv))


def get_guards() -> Any:
    """The configured guards, or None."""
    return STATE.guards


def get_core() -> Telemetry | None:
    """The telemetry core, resolving providers at the first instrumented call. None when disabled
    or when the providers could not be set up: calls then pass through unrecorded. Never raises."""
    if STATE.resolved:
        return STATE.core
    with STATE.lock:
        if not STATE.resolved:
            try:
                STATE.core = _resolve()
            except Exception as exc:  # e.g. an invalid OTEL_EXPORTER_OTLP_* value
                STATE.core = None
                _setup_failed(exc)
            # Also after a failure: trying again would fail again, on every call.
            STATE.resolved = True
    return STATE.core


def _setup_failed(exc: Exception) -> None:
    """Say why nothing is recorded (a warning: the operator must fix a setting); count it when a
    meter is at hand."""
    reason = str(exc) if isinstance(exc, _ExporterSetupError) else f"{type(exc).__name__}: {exc}"
    logger.warning("otel-llm: telemetry is off; LLM calls pass through unrecorded: %s", reason)
    meter_provider = metrics.get_meter_provider()
    if not _is_configured(meter_provider):
        meter_provider = STATE.own_meter_provider
    if meter_provider is None:
        return
    try:
        meter = metrics.get_meter(SCOPE, __version__, meter_provider=meter_provider)
        error_type = type(exc.__cause__ or exc).__qualname__  # the exporter's error, not our wrapper
        _self_error_counter(meter).add(1, {sc.SELF_ERROR_STEP: "setup", sc.ERROR_TYPE: error_type})
    except Exception as err:
        report_self_error("setup", err)


def _self_error_counter(meter: metrics.Meter) -> Any:
    return meter.create_counter(
        sc.METRIC_SELF_ERRORS,
        unit="{error}",
        description="Internal otel-llm failures that were swallowed (the app was not affected).",
    )


# The API's placeholders before an app sets a provider (names, since the proxy classes are private).
_PLACEHOLDER_PROVIDERS = {
    "ProxyTracerProvider",
    "NoOpTracerProvider",
    "_ProxyMeterProvider",
    "NoOpMeterProvider",
    "ProxyLoggerProvider",
    "NoOpLoggerProvider",
}


def _is_configured(provider: Any) -> bool:
    return type(provider).__name__ not in _PLACEHOLDER_PROVIDERS


def _resolve() -> Telemetry | None:
    settings = STATE.settings
    if settings is None or settings.sdk_disabled or STATE.prices is None:
        return None
    tracer_provider = trace.get_tracer_provider()
    meter_provider = metrics.get_meter_provider()
    if not _is_configured(tracer_provider):
        tracer_provider = _own_tracer_provider()
    if not _is_configured(meter_provider):
        meter_provider = _own_meter_provider()
    tracer = trace.get_tracer(SCOPE, __version__, tracer_provider=tracer_provider)
    meter = metrics.get_meter(SCOPE, __version__, meter_provider=meter_provider)
    core = Telemetry(tracer, meter, STATE.prices, None, _event_logger)
    if settings.content.mode != "off":
        _ = core.event_logger  # set up now rather than at the first event
    return core


def _event_logger() -> Any:
    from opentelemetry import _logs

    logger_provider = _logs.get_logger_provider()
    if not _is_configured(logger_provider):
        logger_provider = _own_logger_provider()
    return logger_provider.get_logger(SCOPE, __version__)


def _exporter_choice(variable: str) -> str:
    value = os.environ.get(variable, "otlp").strip().lower() or "otlp"
    return value.split(",")[0].strip()


def _otlp_protocol(signal: str) -> str:
    return (
        os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()


# Our own exporters outlast a collector restart or a short outage instead of dropping data after
# the SDK's 10 s: with 45 s an OTLP exporter retries one batch for about 30 s (backoff 1+2+4+8+16 s),
# and the span queue holds what arrives meanwhile (50 calls/s for 30 s is 1,500 spans). The
# standard OTEL_EXPORTER_OTLP_*TIMEOUT and OTEL_BSP_MAX_QUEUE_SIZE variables override both.
EXPORT_TIMEOUT_SECONDS = 45.0
SPAN_QUEUE_SIZE = 8192
# At interpreter exit we flush for at most this long, then abandon retries: exit stays prompt.
EXIT_FLUSH_SECONDS = 5.0


def _otlp_exporter_options(signal: str) -> dict[str, Any]:
    if os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_TIMEOUT") or os.environ.get("OTEL_EXPORTER_OTLP_TIMEOUT"):
        return {}
    return {"timeout": EXPORT_TIMEOUT_SECONDS}


def _span_queue_options() -> dict[str, Any]:
    return {} if os.environ.get("OTEL_BSP_MAX_QUEUE_SIZE") else {"max_queue_size": SPAN_QUEUE_SIZE}


# Per signal: the module and class of the OTLP exporter (under opentelemetry.exporter.otlp.proto.<http|grpc>).
_OTLP_EXPORTERS = {
    "TRACES": ("trace_exporter", "OTLPSpanExporter"),
    "METRICS": ("metric_exporter", "OTLPMetricExporter"),
    "LOGS": ("_log_exporter", "OTLPLogExporter"),
}


class _ExporterSetupError(Exception):
    """An exporter could not be built from the OTEL_* variables."""


def _own_exporter(signal: str, console: Callable[[], Any]) -> Any:
    """The exporter OTEL_<signal>_EXPORTER asks for (OTLP by default), or None for `none`."""
    choice = _exporter_choice(f"OTEL_{signal}_EXPORTER")
    try:
        if choice == "otlp":
            protocol = "grpc" if _otlp_protocol(signal) == "grpc" else "http"
            module_name, class_name = _OTLP_EXPORTERS[signal]
            module = importlib.import_module(f"opentelemetry.exporter.otlp.proto.{protocol}.{module_name}")
            exporter = getattr(module, class_name)(**_otlp_exporter_options(signal))
        elif choice == "console":
            exporter = console()
        else:
            return None
    except Exception as exc:
        # The exporter's own message may not name the variable (`Invalid IPv6 URL`): we list the
        # ones in play (names only: OTEL_EXPORTER_OTLP_HEADERS can hold credentials).
        raise _ExporterSetupError(
            f"the {signal.lower()} exporter could not be built ({type(exc).__name__}: {exc}); "
            f"check {', '.join(_exporter_variables(signal)) or 'the installed exporter packages'}"
        ) from exc
    STATE.own_exporters.append(exporter)
    return exporter


def _exporter_variables(signal: str) -> list[str]:
    """The OTEL_* variables set that configure `signal`'s exporter."""
    other_signals = tuple(f"OTEL_EXPORTER_OTLP_{other}_" for other in _OTLP_EXPORTERS if other != signal)
    return sorted(
        name
        for name in os.environ
        if name.startswith(("OTEL_EXPORTER_OTLP_", f"OTEL_{signal}_EXPORTER"))
        and not name.startswith(other_signals)
    )


def _own_tracer_provider() -> Any:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    if STATE.own_tracer_provider is None:  # instrument() again: keep exporting through the same one
        provider = TracerProvider(resource=Resource.create(), shutdown_on_exit=False)
        exporter = _own_exporter("TRACES", ConsoleSpanExporter)
        if exporter is not None:
            provider.add_span_processor(BatchSpanProcessor(exporter, **_span_queue_options()))
        STATE.own_tracer_provider = provider
        _register_exit_hook()
    return STATE.own_tracer_provider


def _own_meter_provider() -> Any:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    if STATE.own_meter_provider is None:
        exporter = _own_exporter("METRICS", ConsoleMetricExporter)
        readers = [PeriodicExportingMetricReader(exporter)] if exporter is not None else []
        STATE.own_meter_provider = MeterProvider(
            resource=Resource.create(), metric_readers=readers, shutdown_on_exit=False
        )
        _register_exit_hook()
    return STATE.own_meter_provider


def _own_logger_provider() -> Any:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, ConsoleLogRecordExporter
    from opentelemetry.sdk.resources import Resource

    if STATE.own_logger_provider is None:
        provider = LoggerProvider(resource=Resource.create(), shutdown_on_exit=False)
        exporter = _own_exporter("LOGS", ConsoleLogRecordExporter)
        if exporter is not None:
            provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
        STATE.own_logger_provider = provider
        _register_exit_hook()
    return STATE.own_logger_provider


def _register_exit_hook() -> None:
    if not STATE.exit_hook_registered:
        STATE.exit_hook_registered = True
        atexit.register(shutdown_own_providers)


def shutdown_own_providers(flush_seconds: float = EXIT_FLUSH_SECONDS) -> None:
    """At exit: flush our own providers for a bounded time, then stop their exporters.

    Stopping the exporters interrupts a retry backoff, so an unreachable collector cannot hold the
    exiting app for the whole export timeout. The providers' worker threads are daemons.
    """
    try:
        flush(flush_seconds)
        for exporter in STATE.own_exporters:
            exporter.shutdown()
    except Exception as exc:
        report_self_error("shutdown", exc)


def flush(timeout_seconds: float = 5.0) -> bool:
    """Export everything recorded so far; returns False when the deadline passed first.

    Flushes our own providers, or the app's global SDK providers when it brought its own. The
    caller waits at most `timeout_seconds` even when an exporter keeps retrying an unreachable
    endpoint: the flush runs in a helper thread that is left to finish in the background.
    """
    deadline = time.monotonic() + timeout_seconds
    # Content first: the worker may still end spans and emit events.
    drained = CONTENT.drain(timeout_seconds)
    drained = METRIC_WORKER.drain(max(deadline - time.monotonic(), 0.001)) and drained
    timeout_seconds = max(deadline - time.monotonic(), 0.001)
    tracer_provider = STATE.own_tracer_provider or trace.get_tracer_provider()
    meter_provider = STATE.own_meter_provider or metrics.get_meter_provider()
    from opentelemetry import _logs

    providers = [tracer_provider, meter_provider, STATE.own_logger_provider or _logs.get_logger_provider()]
    results: list[bool] = [drained]

    def run() -> None:
        for provider in providers:
            force_flush = getattr(provider, "force_flush", None)
            if force_flush is None:
                continue
            try:
                results.append(force_flush(max(int(timeout_seconds * 1000), 1)) is not False)
            except Exception as exc:
                report_self_error("flush", exc)
                results.append(False)

    worker = threading.Thread(target=run, name="otel-llm-flush", daemon=True)
    worker.start()
    worker.join(timeout_seconds)
    return not worker.is_alive() and all(results)

"""User feedback and issue reports about a call: `record_feedback(...)` and `report_issue(...)`.

    response = client.chat.completions.create(...)
    otel_llm.record_feedback(response, score=0, label="thumbs_down", comment=text)
    otel_llm.report_issue(response.id, category="wrong_answer", description=text)

The target is the SDK's response object, a response id, a span or span context, or (omitted) the
last provider call of the current thread or asyncio task. Each gives an event (`otel_llm.feedback`,
`otel_llm.issue.report`) linked to the call's trace when its span context is known here, and always
carrying `gen_ai.response.id` when the id is known, so feedback handled later in another process
(a thumbs-down from the browser) still joins the call by response id. Metrics count feedback and
reports by feature, model and prompt version: from the arguments, else from the call when this
process made it, else "unknown". Comments and descriptions are content: exported only while
content capture is on, redacted on the content worker first, like prompts.
"""

from __future__ import annotations

import contextvars
import logging
import math
import threading
import time
from collections import OrderedDict
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext

from . import attribution, scoping
from . import semconv as sc

__all__ = ["record_feedback", "report_issue"]

logger = logging.getLogger("otel_llm")

# Recent calls this process made, to link feedback given by response id or span context.
RECENT_CALLS = 4096


class CallRef:
    """What feedback needs to know about a call; made when the call starts, completed at its end."""

    __slots__ = ("span_context", "response_id", "model", "feature", "prompt_version")

    def __init__(
        self,
        span_context: SpanContext | None,
        model: str | None = None,
        feature: str | None = None,
        prompt_version: str | None = None,
        response_id: str | None = None,
    ) -> None:
        self.span_context = span_context
        self.model = model
        self.feature = feature
        self.prompt_version = prompt_version
        self.response_id = response_id


_LAST_CALL: contextvars.ContextVar[CallRef | None] = contextvars.ContextVar(
    "otel_llm_last_call", default=None
)
# A pool task must not give feedback to the call an earlier task on its thread made.
scoping.fresh_in_each_task(_LAST_CALL, None)


class _RecentCalls:
    """Bounded maps from response id and from span id to the call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_response: OrderedDict[str, CallRef] = OrderedDict()
        self._by_span: OrderedDict[int, CallRef] = OrderedDict()

    def add(self, ref: CallRef) -> None:
        with self._lock:
            for index, key in ((self._by_response, ref.response_id), (self._by_span, _span_id(ref))):
                if key is None:
                    continue
                index[key] = ref  # type: ignore[index]
                if len(index) > RECENT_CALLS:
                    index.popitem(last=False)

    def by_response(self, response_id: str) -> CallRef | None:
        with self._lock:
            return self._by_response.get(response_id)

    def by_span(self, span_id: int) -> CallRef | None:
        with self._lock:
            return self._by_span.get(span_id)

    def clear(self) -> None:
        with self._lock:
            self._by_response.clear()
            self._by_span.clear()


RECENT = _RecentCalls()


def _span_id(ref: CallRef) -> int | None:
    return ref.span_context.span_id if ref.span_context is not None else None


# -- called by the telemetry core ----------------------------------------------------------------------


def call_started(span_context: SpanContext, model: str | None, app: Any) -> CallRef:
    """The call becomes the current one of the caller's context (the target of a bare record_feedback())."""
    feature = app.get(sc.FEATURE)
    version = app.get(sc.PROMPT_VERSION)
    ref = CallRef(
        span_context,
        model,
        None if feature is None else str(feature),
        None if version is None else str(version),
    )
    _LAST_CALL.set(ref)
    return ref


def call_finished(ref: CallRef, response_id: str | None, response_model: str | None) -> bool:
    """Completes the call's reference; True when it has a response id to be remembered by."""
    ref.response_id = response_id
    if response_model:
        ref.model = response_model
    return response_id is not None


def remember(ref: CallRef, _attributes: Any = None, context: Any = None) -> None:
    """Index a finished call for feedback given later by response id or span (run by the metric
    worker, off the caller's thread)."""
    RECENT.add(ref)


# -- the public API ----------------------------------------------------------------------------------


def record_feedback(
    target: Any = None,
    *,
    score: float | None = None,
    label: str | None = None,
    edit_seconds: float | None = None,
    comment: str | None = None,
    feature: str | None = None,
    model: str | None = None,
    prompt_version: str | None = None,
) -> None:
    """Record a user's feedback on a call: a score on the app's own scale (e.g. 0 or 1 for thumbs,
    1-5 stars), a label ("thumbs_down", "accepted", ...), the seconds the user spent editing the
    output, and a free-text comment (content: exported only redacted, and only with capture on).

    Without a target, the feedback goes to the last provider call of the current thread or asyncio
    task (a thread pool task starts with none), and only when it belongs to the trace of the
    current span, if there is one: a sync server that reuses its threads for requests keeps that
    call from one request to the next, and the request's span tells them apart. Without a traced
    request (no server instrumentation), pass the response or its id there.

    Raises ValueError/TypeError for bad arguments (nothing given, a score that is not a finite
    number, no target and no call made in this context); otherwise never raises.
    """
    if score is None and label is None and edit_seconds is None and comment is None:
        raise ValueError("record_feedback() needs at least one of score, label, edit_seconds, comment")
    if score is not None:
        _check_number("score", score, minimum=None)
    if edit_seconds is not None:
        _check_number("edit_seconds", edit_seconds, minimum=0.0)
    _check_text("label", label)
    _check_text("comment", comment)
    label = None if label is None else label[: attribution.MAX_LENGTH]
    ref = _resolve_target("record_feedback", target)
    attributes: dict[str, Any] = {}
    if score is not None:
        attributes[sc.FEEDBACK_SCORE] = float(score)
    if label is not None:
        attributes[sc.FEEDBACK_LABEL] = label
    if edit_seconds is not None:
        attributes[sc.FEEDBACK_EDIT_SECONDS] = float(edit_seconds)
    _record(
        "feedback",
        ref,
        attributes,
        {sc.FEEDBACK_COMMENT: comment} if comment else {},
        feature,
        model,
        prompt_version,
        lambda core, labels: _feedback_metrics(core, labels, score, label, edit_seconds),
    )


def report_issue(
    target: Any = None,
    *,
    category: str,
    description: str | None = None,
    feature: str | None = None,
    model: str | None = None,
    prompt_version: str | None = None,
) -> None:
    """Report a quality issue with a call (the user support path): a category the team chooses
    ("wrong_answer", "harmful", "formatting", ...) and a description (content, like comments).
    The target as for record_feedback()."""
    if not isinstance(category, str) or not category.strip():
        raise ValueError("report_issue() needs a category (a non-empty string)")
    category = category[: attribution.MAX_LENGTH]
    _check_text("description", description)
    ref = _resolve_target("report_issue", target)
    _record(
        "issue",
        ref,
        {sc.ISSUE_CATEGORY: category},
        {sc.ISSUE_DESCRIPTION: description} if description else {},
        feature,
        model,
        prompt_version,
        lambda core, labels: core.issue_reports.add(
            1, {**labels, sc.ISSUE_CATEGORY: attribution.bounded(sc.ISSUE_CATEGORY, category)}
        ),
    )


# -- internals -----------------------------------------------------------------------------------------


def _check_number(name: str, value: Any, minimum: float | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not _finite(value):
        raise TypeError(f"{name} must be a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum:g}, got {value!r}")


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def _check_text(name: str, value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")


def _resolve_target(function: str, target: Any) -> CallRef:
    if target is None:
        ref = _LAST_CALL.get()
        if ref is None:
            raise ValueError(
                f"{function}(): no target given and no provider call was made in this context; "
                "pass the response, its id, or the call's span context"
            )
        current = trace.get_current_span().get_span_context()
        if (
            current.is_valid
            and ref.span_context is not None
            and ref.span_context.trace_id != current.trace_id
        ):
            # A server that reuses threads: the last call belongs to an earlier request's trace.
            raise ValueError(
                f"{function}(): no target given and the last provider call in this context belongs to "
                "another trace (an earlier request on a reused thread); pass the response or its id"
            )
        return ref
    if isinstance(target, str):
        if not target:
            raise ValueError(f"{function}(): the response id is empty")
        return _known(target) or CallRef(None, response_id=target)
    get_span_context = getattr(target, "get_span_context", None)
    if callable(get_span_context):  # a span
        target = get_span_context()
    if isinstance(target, SpanContext):
        known = RECENT.by_span(target.span_id) if target.is_valid else None
        return known or CallRef(target if target.is_valid else None)
    response_id = getattr(target, "id", None)  # the SDK's response object
    if isinstance(response_id, str) and response_id:
        return _known(response_id) or CallRef(None, response_id=response_id)
    raise TypeError(
        f"{function}(): the target must be a response, a response id, a span or a span context, "
        f"got {type(target).__name__}"
    )


def _known(response_id: str) -> CallRef | None:
    """The call with this response id, if this process made it: the context's last call (its
    index entry may still be on the metric worker's queue), else the recent calls."""
    last = _LAST_CALL.get()
    if last is not None and last.response_id == response_id:
        return last
    return RECENT.by_response(response_id)


def _labels(
    ref: CallRef, feature: str | None, model: str | None, prompt_version: str | None
) -> dict[str, str]:
    """Metric attributes: the arguments, else what the call knew, else "unknown"; cut and bounded."""
    return {
        key: attribution.bounded(key, str(value)[: attribution.MAX_LENGTH]) if value else sc.UNKNOWN
        for key, value in (
            (sc.FEATURE, feature or ref.feature),
            (sc.GEN_AI_RESPONSE_MODEL, model or ref.model),
            (sc.PROMPT_VERSION, prompt_version or ref.prompt_version),
        )
    }


def _feedback_metrics(
    core: Any, labels: dict[str, str], score: float | None, label: str | None, edit_seconds: float | None
) -> None:
    received = dict(labels)
    if label is not None:
        received[sc.FEEDBACK_LABEL] = attribution.bounded(sc.FEEDBACK_LABEL, label)
    core.feedback_received.add(1, received)
    if score is not None:
        core.feedback_score.record(float(score), labels)
    if edit_seconds is not None:
        core.feedback_edit_time.record(float(edit_seconds), labels)


_comment_notice_shown = False


def _record(
    kind: str,
    ref: CallRef,
    attributes: dict[str, Any],
    texts: dict[str, str],
    feature: str | None,
    model: str | None,
    prompt_version: str | None,
    record_metrics: Any,
) -> None:
    from .content import CONTENT, TextRecord
    from .telemetry import get_core

    core = get_core()
    if core is None:  # not instrumented, or OTEL_SDK_DISABLED
        return
    try:
        labels = _labels(ref, feature, model, prompt_version)
        record_metrics(core, labels)
        if ref.response_id:
            attributes[sc.GEN_AI_RESPONSE_ID] = ref.response_id
        for key, value in labels.items():
            if value != sc.UNKNOWN:
                attributes[key] = value
        ctx = None
        if ref.span_context is not None:
            ctx = trace.set_span_in_context(NonRecordingSpan(ref.span_context))
        event = sc.EVENT_FEEDBACK if kind == "feedback" else sc.EVENT_ISSUE_REPORT
        now = time.time_ns()
        if texts and CONTENT.enabled:
            record = TextRecord(
                event,
                texts,
                span_context=ctx,
                end_ns=now,
                deadline=time.monotonic() + CONTENT.settings.timeout_seconds,
                attributes=attributes,
                core=core,
            )
            if CONTENT.submit(record):
                return  # the worker emits the event once the text is redacted
        elif texts:
            _note_text_dropped()
        core.emit_event(event, ctx, now, attributes, {})
    except Exception as exc:  # feedback is telemetry: never let it break the app's handler
        core.self_error("feedback", exc)


def _note_text_dropped() -> None:
    global _comment_notice_shown
    if not _comment_notice_shown:
        _comment_notice_shown = True
        logger.warning(
            "otel-llm: feedback comments and issue descriptions are content; with content capture off "
            "they are not exported (set OTEL_LLM_CAPTURE_CONTENT=sampled to export them redacted)"
        )

"""Prompts and outputs: decided on the caller's thread, redacted and emitted on a background worker.

The caller only decides whether a call's content is captured (`off`, `sampled`: the review sample
by trace id plus failed calls, `all`) and hands the raw content to a bounded queue. A worker
thread imports Presidio lazily, redacts, and only then emits the
`gen_ai.client.inference.operation.details` event (a log record linked to the call's span) and,
in the span placements, sets the redacted content on the span before ending it with the call's
original end time. Calls in the review sample also get an `otel_llm.review.sample` event. Feedback
comments and issue descriptions take the same path (their events wait for the redacted text).
Redaction fails closed: a full queue, a redactor that fails to load or raises, or a record older
than the timeout is dropped and counted, never exported raw.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from opentelemetry import trace

from . import semconv as sc
from .config import ContentSettings
from .messages import OMITTED_BYTES
from .worker import BackgroundWorker

EVENT_NAME = "gen_ai.client.inference.operation.details"

# Keys whose values are structure, not content, only where the GenAI message schema defines them:
# on a message, and on a part by its type (system instructions and tool definitions are lists of
# parts). Anywhere else (tool arguments and results, server tool call details, parameter schemas,
# the SDK's fields on a part of another type) the same keys are the app's data: keys and values
# alike are redacted.
MESSAGE_KEYS = frozenset({"role", "finish_reason"})
_CALL_KEYS = frozenset({"type", "id"})
_MEDIA_KEYS = frozenset({"type", "mime_type", "modality"})
PART_KEYS = {
    "tool_call": _CALL_KEYS,
    "tool_call_response": _CALL_KEYS,
    "server_tool_call": _CALL_KEYS,
    "server_tool_call_response": _CALL_KEYS,
    "uri": _MEDIA_KEYS,
    "file": _MEDIA_KEYS,
    "blob": _MEDIA_KEYS | {OMITTED_BYTES},
}
OTHER_PART_KEYS = frozenset({"type"})
# The schema levels of each content attribute; a message's `parts` are its next level.
SCHEMA_LEVELS = {
    sc.GEN_AI_INPUT_MESSAGES: ("message", "part"),
    sc.GEN_AI_OUTPUT_MESSAGES: ("message", "part"),
    sc.GEN_AI_SYSTEM_INSTRUCTIONS: ("part",),
    sc.GEN_AI_TOOL_DEFINITIONS: ("part",),
}
# Everything under a key like these is a secret whatever it looks like (tool arguments, JSON).
SECRET_KEY = re.compile(
    r"(?i)(pass(word|wd|phrase)?|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credential)"
)
SECRET_PLACEHOLDER = "<SECRET>"

# What a reviewer reads: the conversation and the output (tool definitions stay in the details event).
REVIEW_PARTS = frozenset({sc.GEN_AI_SYSTEM_INSTRUCTIONS, sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES})

REASON_ALL = "all"
REASON_SAMPLE = "sample"
REASON_ERROR = "error"
REASON_VALIDATION = "validation"


def in_review_sample(trace_id: int, rate: float) -> bool:
    """Deterministic by trace id (as the SDK's TraceIdRatioBased sampler): every process and every
    signal agrees on which traces are in the review sample."""
    if rate <= 0.0:
        return False
    if rate >= 1.0:
        return True
    return (trace_id & 0xFFFF_FFFF_FFFF_FFFF) < int(rate * (1 << 64))


class ContentRecord:
    """One call's raw content and the identifiers its event needs; lives only in the queue."""

    __slots__ = (
        "content",
        "span_context",
        "span",
        "end_ns",
        "deadline",
        "reason",
        "attributes",
        "core",
        "review",
        "done",
    )

    def __init__(
        self,
        content: Any,
        span_context: Any,
        span: Any,
        end_ns: int,
        deadline: float,
        reason: str,
        attributes: dict[str, Any],
        core: Any,
        review: tuple[dict[str, Any], list[dict[str, Any]]] | None = None,
    ) -> None:
        self.content = content
        self.span_context = span_context
        self.span = span  # set only when the worker must put content on the span and end it
        self.end_ns = end_ns
        self.deadline = deadline
        self.reason = reason
        self.attributes = attributes
        self.core = core
        # (event attributes, validation results) when the call is in the review sample
        self.review = review
        self.done = False  # emitted or dropped: a failed batch drops only the records left

    def parts(self) -> dict[str, Any]:
        """The texts to redact, as message JSON by key."""
        return content_parts(self.content)

    def emit(self, placement: str, redacted: dict, entities: Counter, truncated: bool) -> None:
        """The redacted content on the span and/or as the details event, and the review sample."""
        attributes = dict(self.attributes)
        attributes[sc.CONTENT_REASON] = self.reason
        if truncated:
            attributes[sc.CONTENT_TRUNCATED] = True
        if placement in ("span", "span_and_event") and self.span is not None:
            self.span.set_attributes(
                {key: json.dumps(value, ensure_ascii=False) for key, value in redacted.items()}
            )
            if truncated:
                self.span.set_attribute(sc.CONTENT_TRUNCATED, True)
        self.end_span()
        if placement in ("event", "span_and_event"):
            self.core.emit_event(EVENT_NAME, self.span_context, self.end_ns, attributes, redacted)
        if self.review is not None:
            review_attributes, validation = self.review
            body = {key: value for key, value in redacted.items() if key in REVIEW_PARTS}
            body[sc.REVIEW_VALIDATION] = validation
            self.core.emit_event(
                sc.EVENT_REVIEW_SAMPLE, self.span_context, self.end_ns, review_attributes, body
            )
        self.core.content_exported(entities)
        self.done = True

    def drop(self, reason: str) -> None:
        """Fail closed: nothing (more) of the content is exported, the span still ends. Never raises
        (the worker calls it when something else already failed); once per record."""
        if self.done:
            return
        self.done = True
        self.core.content_dropped(1, reason)
        try:
            self.close_without_content()
        except Exception as exc:  # e.g. an app's span or log processor that raises
            self.core.self_error("content", exc)

    def close_without_content(self) -> None:
        self.end_span()

    def end_span(self) -> None:
        span, self.span = self.span, None
        if span is not None:
            span.end(end_time=self.end_ns)


class TextRecord(ContentRecord):
    """A feedback comment or issue description (`content`: key -> text) and the event that waits
    for it to be redacted."""

    __slots__ = ("event",)

    def __init__(self, event: str, texts: dict[str, str], **fields: Any) -> None:
        super().__init__(texts, span=None, reason=event, **fields)
        self.event = event

    def parts(self) -> dict[str, Any]:
        return self.content

    def emit(self, placement: str, redacted: dict, entities: Counter, truncated: bool) -> None:
        self.core.emit_event(self.event, self.span_context, self.end_ns, self.attributes, redacted)
        self.core.content_exported(entities)
        self.done = True

    def close_without_content(self) -> None:
        # the event itself is kept, without the text
        self.core.emit_event(self.event, self.span_context, self.end_ns, self.attributes, {})


def content_parts(content: Any) -> dict[str, Any]:
    """The message JSON of a CallContent, keyed by the semantic-convention attribute names."""
    parts: dict[str, Any] = {}
    for key, value in (
        (sc.GEN_AI_INPUT_MESSAGES, getattr(content, "input_messages", None)),
        (sc.GEN_AI_OUTPUT_MESSAGES, getattr(content, "output_messages", None)),
        (sc.GEN_AI_SYSTEM_INSTRUCTIONS, getattr(content, "system_instructions", None)),
        (sc.GEN_AI_TOOL_DEFINITIONS, getattr(content, "tool_definitions", None)),
    ):
        if value:
            parts[key] = value
    return parts


def collect_strings(parts: dict[str, Any], out: list[str], secrets: Counter[str]) -> dict[str, Any]:
    """Walk a record's parts (message JSON by attribute name): texts to redact go to `out`, values
    under secret-like keys are replaced right away. Returns a template in which each collected text
    is an index."""
    return {key: _schema(value, SCHEMA_LEVELS.get(key, ()), out, secrets) for key, value in parts.items()}


def _schema(value: Any, levels: tuple[str, ...], out: list[str], secrets: Counter[str]) -> Any:
    """A list of messages or parts: values of their structural keys are kept as they are, the rest
    is content."""
    if not levels or not isinstance(value, list | tuple):
        return _content(value, out, secrets)
    inner = levels[1:]
    template: list[Any] = []
    for item in value:
        if not isinstance(item, dict):
            template.append(_content(item, out, secrets))
            continue
        kind = item.get("type")
        if levels[0] == "message":
            structural = MESSAGE_KEYS
        else:
            structural = PART_KEYS.get(kind, OTHER_PART_KEYS) if isinstance(kind, str) else OTHER_PART_KEYS
        fields = {}
        for key, field in item.items():
            if key in structural and not isinstance(field, dict | list | tuple):
                fields[key] = _Literal(field)
            elif key == "parts" and inner:
                fields[key] = _schema(field, inner, out, secrets)
            else:
                fields[key] = _content(field, out, secrets, str(key))
        template.append(fields)
    return template


def _content(value: Any, out: list[str], secrets: Counter[str], key: str | None = None) -> Any:
    """Free-form content: every string, number and dict key goes to the redactor; a secret-like
    key hides its whole value, however nested."""
    if key is not None and value is not None and SECRET_KEY.search(key):
        secrets["SECRET"] += 1
        return _Literal(SECRET_PLACEHOLDER)
    if isinstance(value, str):
        out.append(value)
        return _Slot(len(out) - 1)
    if isinstance(value, dict):
        return _Dict(
            [(_content(str(k), out, secrets), _content(v, out, secrets, str(k))) for k, v in value.items()]
        )
    if isinstance(value, list | tuple):
        return [_content(item, out, secrets) for item in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        # A card or phone number may come as a JSON number (tool arguments).
        out.append(str(value))
        return _Number(len(out) - 1, value)
    return _Literal(value)


def fill(template: Any, texts: list[str]) -> Any:
    if isinstance(template, _Number):
        text = texts[template.index]
        return template.value if text == str(template.value) else text
    if isinstance(template, _Slot):
        return texts[template.index]
    if isinstance(template, _Literal):
        return template.value
    if isinstance(template, _Dict):
        filled: dict[str, Any] = {}
        for key_template, value_template in template.items:
            key = unique = fill(key_template, texts)
            n = 1
            while unique in filled:  # keys redacted alike (two e-mail addresses) must not overwrite
                n += 1
                unique = f"{key} ({n})"
            filled[unique] = fill(value_template, texts)
        return filled
    if isinstance(template, dict):
        return {k: fill(v, texts) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(item, texts) for item in template]
    return template


class _Slot:
    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


class _Number(_Slot):
    """A number redacted as its text: kept as the number when the redactor changed nothing."""

    __slots__ = ("value",)

    def __init__(self, index: int, value: int | float) -> None:
        super().__init__(index)
        self.value = value


class _Dict:
    """A free-form dict whose keys are redacted too: (key template, value template) pairs."""

    __slots__ = ("items",)

    def __init__(self, items: list[tuple[Any, Any]]) -> None:
        self.items = items


class _Literal:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class ContentPipeline(BackgroundWorker):
    """The bounded queue and the worker thread that redacts and emits content."""

    max_batch = 32
    step = "content"

    def __init__(self) -> None:
        super().__init__("otel-llm-content")
        self.settings = ContentSettings()
        # The redactor and the settings it was built for (rebuilt when the settings change).
        self._redactor: Any = None
        self._redactor_settings: ContentSettings | None = None
        # a redactor that failed to load while warming up (no core to count it on yet)
        self._init_error: BaseException | None = None
        self.redactor_factory: Callable[[ContentSettings], Any] = _default_redactor
        self.notice_shown = False

    def configure(self, settings: ContentSettings) -> None:
        self.settings = settings
        if settings.mode != "off":
            _import_modules_sdks_peek_at()
            # Load Presidio now, in the background, so the first captured call does not wait.
            self.put(_WARM_UP)

    # -- caller's thread ---------------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        return self.settings.mode != "off"

    def reason(self, trace_id: int, failed: bool, invalid: bool = False) -> str | None:
        """Why this call's content is captured, or None when it is not. `sampled` captures the
        review sample, calls that failed and calls whose output failed validation."""
        mode = self.settings.mode
        if mode == "all":
            return REASON_ALL
        if mode == "sampled":
            if in_review_sample(trace_id, self.settings.sample_rate):
                return REASON_SAMPLE
            if failed:
                return REASON_ERROR
            if invalid:
                return REASON_VALIDATION
        return None

    def submit(self, record: ContentRecord) -> bool:
        """Queue a record without blocking; False (and counted) when the queue is full. The queue
        is bounded here rather than by its size, so a new configuration never strands records."""
        self.ensure_started()
        if self.backlog() >= self.settings.queue_size:
            record.core.content_dropped(1, "queue_full")
            return False
        self.put(record)
        return True

    def on_start(self, first: bool) -> None:
        # A forked child builds its own redactor (a parent's may hold a lock held at fork time).
        self._redactor = None
        self._redactor_settings = None
        self._init_error = None

    # -- worker thread ---------------------------------------------------------------------------

    def handle(self, item: Any) -> None:
        self.handle_batch([item])

    def handle_batch(self, items: list[Any]) -> None:
        """Calls that queued up while the worker was busy are redacted in one pass (far cheaper
        per call than one pass each); a single call is a batch of one."""
        records = [item for item in items if item is not _WARM_UP]
        if len(records) < len(items):
            self._get_redactor(None)
        live = []
        for record in records:
            if time.monotonic() > record.deadline:
                record.drop("timeout")
            else:
                live.append(record)
        if not live:
            return
        redactor = self._get_redactor(live[0].core)
        if redactor is None:
            for record in live:
                record.drop("redaction_error")
            return
        prepared = []
        for record in live:
            try:
                texts: list[str] = []
                secrets: Counter[str] = Counter()
                template = collect_strings(record.parts(), texts, secrets)
                prepared.append((record, template, texts, secrets))
            except Exception as exc:  # never let one record stop the worker or the others
                record.core.self_error("content", exc)
                record.drop("redaction_error")
        redacted = None
        if len(prepared) > 1:
            try:
                redacted = self._redact(redactor, prepared)
            except Exception as exc:  # each record on its own, so a failure drops only its own
                prepared[0][0].core.self_error("redaction", exc)
        if redacted is None:
            redacted = []
            for item in prepared:
                try:
                    redacted += self._redact(redactor, [item])
                except Exception as exc:
                    item[0].core.self_error("redaction", exc)
                    item[0].drop("redaction_error")
        for record, content, entities, truncated in redacted:
            if time.monotonic() > record.deadline:
                record.drop("timeout")
                continue
            try:
                record.emit(self.settings.placement, content, entities, truncated)
            except Exception as exc:
                record.core.self_error("content", exc)
                record.drop("redaction_error")

    def batch_failed(self, items: list[Any], exc: Exception) -> None:
        """Fail closed for the records the failed batch left: dropped, their spans ended."""
        records = [item for item in items if isinstance(item, ContentRecord)]
        if records:
            records[0].core.self_error(self.step, exc)
        else:
            super().batch_failed(items, exc)
        for record in records:
            record.drop("redaction_error")

    @staticmethod
    def _redact(redactor: Any, prepared: list[tuple[ContentRecord, Any, list[str], Counter]]) -> list[tuple]:
        """One redaction pass over the records' texts: (record, redacted content, entities found,
        truncated) for each."""
        texts = [text for _, _, record_texts, _ in prepared for text in record_texts]
        started = time.perf_counter()
        result = redactor.redact(texts)
        prepared[0][0].core.redaction_duration(time.perf_counter() - started)
        if len(result.texts) != len(texts):
            raise RuntimeError("the redactor returned a different number of texts")
        per_text = getattr(result, "text_entities", None)
        if per_text is None and len(prepared) > 1:
            raise RuntimeError("the redactor gives no findings per text")
        out = []
        position = 0
        for record, template, record_texts, secrets in prepared:
            end = position + len(record_texts)
            entities = (
                Counter(result.entities) if per_text is None else sum(per_text[position:end], Counter())
            )
            entities.update(secrets)
            content = fill(template, list(result.texts[position:end]))
            out.append((record, content, entities, any(result.truncated[position:end])))
            position = end
        return out

    def _get_redactor(self, core: Any) -> Any:
        settings = self.settings
        if self._redactor_settings is settings:
            if self._init_error is not None and core is not None:
                # Failed while warming up, before any call's core was known: count it now, once.
                core.self_error("redactor_init", self._init_error)
                self._init_error = None
            return self._redactor
        self._redactor, self._redactor_settings, self._init_error = None, settings, None
        try:
            self._redactor = self.redactor_factory(settings)
        except Exception as exc:  # fail closed: without a redactor nothing is exported
            if core is not None:
                core.self_error("redactor_init", exc)
            else:
                from .telemetry import report_self_error

                report_self_error("redactor_init", exc)
                self._init_error = exc
            return None
        notice = getattr(self._redactor, "notice", None)
        if notice and not self.notice_shown:
            self.notice_shown = True
            import logging

            logging.getLogger("otel_llm").warning("otel-llm content redaction: %s", notice)
        return self._redactor


_WARM_UP = object()

# Modules the provider SDKs look up in sys.modules without importing them (openai and anthropic
# check for a loaded legacy `httpx` on every response). spaCy imports httpx, so if the content
# worker's import of Presidio were the first, an app thread could find it half-initialised.
PEEKED_MODULES = ("httpx",)


def _import_modules_sdks_peek_at() -> None:
    import importlib
    import importlib.util

    for name in PEEKED_MODULES:
        try:
            if importlib.util.find_spec(name) is not None:
                importlib.import_module(name)
        except Exception:  # noqa: S110 - not installed or broken: then nobody can peek at it either
            pass


def _default_redactor(settings: ContentSettings) -> Any:
    # Imported here, on the worker thread: Presidio and spaCy take seconds to load.
    from .redaction import RedactionSettings, Redactor

    return Redactor(
        RedactionSettings(
            entities=settings.entities,
            score_threshold=settings.score_threshold,
            operator=settings.operator,
            salt=settings.salt,
            allow_list=settings.allow_list,
            max_chars=settings.max_chars,
            spacy_model=settings.spacy_model,
        )
    )


def span_context_of(span: Any) -> Any:
    return trace.set_span_in_context(span)


CONTENT = ContentPipeline()

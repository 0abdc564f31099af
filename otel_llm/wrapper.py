"""The one generic wrapper: sync, async and streaming logic written once for every provider surface.

Rules it keeps (docs/design in DESIGN.md section 5):
- the app gets the very object the SDK returned (streams keep their class: we swap the stream's
  private iterator for an observing generator instead of proxying the stream) and the very
  exception the SDK raised;
- every telemetry step is guarded; a failure is counted and the call goes on untouched;
- a stream finalises exactly once: exhausted, closed, failed or dropped.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY

from . import semconv as sc
from . import validation
from .content import CONTENT
from .guard_store import StoreUnavailable
from .guards import CallInfo, GuardError, Ticket
from .invocation import Invocation
from .messages import CallContent
from .telemetry import (
    INVOCATION_KEY,
    Telemetry,
    get_core,
    get_guards,
    report_self_error,
    rules_for,
    validation_rules,
)

_WATCH_ATTR = "_otel_llm_watch"
_RAW_ATTR = "_otel_llm_raw"


class Adapter:
    """What a provider module implements for one API operation: pure data mapping, no telemetry API."""

    def request(self, instance: Any, kwargs: dict[str, Any], stream: bool) -> Invocation:
        raise NotImplementedError

    def response(self, inv: Invocation, result: Any) -> None:
        raise NotImplementedError

    def chunk(self, inv: Invocation, chunk: Any) -> None:
        """Called for every stream item: keep it to a few attribute reads."""

    def stream_end(self, inv: Invocation) -> None:
        """Called once when a stream ends, to turn accumulated chunk state into Invocation fields."""

    def input_content(self, kwargs: dict[str, Any]) -> Any:
        """The request's messages as a CallContent (only called when content may be captured)."""
        return None

    def output_content(self, inv: Invocation, result: Any) -> None:
        """Fill `inv.content.output_messages` from a non-streamed result."""

    def output_schemas(self, kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """The structured-output schemas a request carries: (the response format's JSON Schema or
        None, {tool name: its input JSON Schema}). Outputs are checked against them (recorded)."""
        return None, {}


@dataclass(frozen=True)
class Surface:
    """One patched SDK method: `module`.`name` (e.g. "Completions.create")."""

    module: str
    name: str
    adapter: Adapter
    is_async: bool
    stream_types: tuple[type, ...]
    raw_types: tuple[type, ...]
    # "call": the method performs the request; "stream_manager": it returns a manager whose
    # `__enter__` performs it (Anthropic's messages.stream()).
    kind: str = "call"


# -- the call -----------------------------------------------------------------------------------------


def _begin(
    surface: Surface, instance: Any, kwargs: dict[str, Any], stream: bool
) -> tuple[Telemetry, Invocation] | None:
    core = get_core()
    # The standard suppress key (opentelemetry-instrumentation's is_instrumentation_enabled reads the same).
    if core is None or otel_context.get_value(_SUPPRESS_INSTRUMENTATION_KEY):
        return None
    try:
        inv = surface.adapter.request(instance, kwargs, stream)
    except Exception as exc:
        core.self_error("request", exc)
        return None
    try:
        core.start(inv)
    except Exception as exc:
        core.self_error("start", exc)
        return None
    if CONTENT.enabled:
        try:
            # Known now: `all`, or a call in the review sample (by its trace id). Failed calls
            # of `sampled` mode get their input captured when they fail (see _failed).
            if CONTENT.reason(inv.span.get_span_context().trace_id, failed=False) is not None:
                inv.content = surface.adapter.input_content(kwargs)
        except Exception as exc:
            core.self_error("content", exc)
    try:
        _expectations(core, surface, inv, kwargs)
    except Exception as exc:
        core.self_error("validation", exc)
    return core, inv


def _expectations(core: Telemetry, surface: Surface, inv: Invocation, kwargs: dict[str, Any]) -> None:
    """The call's output expectations: the app's `expect(...)`, configured rules for its model,
    and the schemas the request carries. The output is then collected (as for content capture)."""
    expectations = validation.active() + rules_for(inv)
    response_schema, tool_schemas = surface.adapter.output_schemas(kwargs)
    if response_schema is not None or tool_schemas:
        expectations += validation.schema_expectations(response_schema, tool_schemas)
    if not expectations:
        return
    inv.expectations = expectations
    if inv.content is None:
        # the input too when content capture is on: a call that fails validation is captured
        inv.content = surface.adapter.input_content(kwargs) if CONTENT.enabled else CallContent()


def _validate(core: Telemetry, inv: Invocation) -> None:
    """Check the output against the call's expectations (before the span ends, so the results are
    on it)."""
    if not inv.expectations or inv.content is None:
        return
    try:
        inv.validation = validation.check(inv.expectations, inv.content.output_messages)
    except Exception as exc:
        core.self_error("validation", exc)


def _raise_if_invalid(inv: Invocation, response: Any) -> None:
    """The only place validation acts on the app: an `expect(..., on_fail="raise")` that failed."""
    outcome = inv.validation
    if outcome is not None and outcome.to_raise:
        raise validation.OutputValidationError(response, outcome.to_raise)


def _failed(
    core: Telemetry,
    inv: Invocation,
    exc: BaseException,
    surface: Surface | None = None,
    kwargs: dict[str, Any] | None = None,
) -> None:
    if inv.content is None and kwargs is not None and surface is not None and CONTENT.enabled:
        try:
            inv.content = surface.adapter.input_content(kwargs)
        except Exception as err:
            core.self_error("content", err)
    try:
        core.finish(inv, exc)
    except Exception as err:
        core.self_error("finish", err)
    _settle(inv, failed=True)


def _on_result(core: Telemetry, surface: Surface, inv: Invocation, result: Any) -> Any:
    """Route the SDK's result to the right recorder; always returns `result` itself."""
    try:
        if isinstance(result, surface.stream_types):
            _watch_stream(core, surface, inv, result)
            return result
        if isinstance(result, surface.raw_types):
            _defer_to_parse(core, surface, inv, result)
            return result
        inv.end_time = time.perf_counter()
        surface.adapter.response(inv, result)
        if inv.content is not None:
            surface.adapter.output_content(inv, result)
    except Exception as exc:
        core.self_error("response", exc)
    _validate(core, inv)
    try:
        core.finish(inv)
    except Exception as exc:
        core.self_error("finish", exc)
    _settle(inv, failed=False)
    _raise_if_invalid(inv, result)
    return result


def _begin_call(surface: Surface, instance: Any, request: dict[str, Any]) -> tuple | None:
    stream = surface.kind == "stream_manager" or bool(request.get("stream"))
    return _begin(surface, instance, request, stream) or _begin_unrecorded(surface, instance, request, stream)


# The wrapt wrapper of every surface is `partial(call_sync or call_async, surface)`: a partial adds
# no Python frame, so the SDK method runs one frame below the app's, not three. (A warning the SDK
# raises with a `stacklevel` counts our frames too; one remains, so it is still attributed to us.)


def call_sync(
    surface: Surface,
    wrapped: Callable[..., Any],
    instance: Any,
    args: tuple,
    kwargs: dict[str, Any],
    request: dict[str, Any] | None = None,
) -> Any:
    """Call `wrapped(*args, **kwargs)` as one recorded call; `request`: the call's keyword arguments
    when they are not `kwargs` (a stream manager's stored request takes none)."""
    request = kwargs if request is None else request
    begun = _begin_call(surface, instance, request)
    if begun is None:
        return wrapped(*args, **kwargs)
    core, inv = begun
    guarded = _guarded(inv, request)
    if guarded is not None:
        try:
            guarded[0].before(guarded[2], guarded[1])
        except BaseException as exc:
            _after_guards(begun, guarded, exc)
        else:
            _after_guards(begun, guarded, None)
    token = otel_context.attach(inv.context) if inv.context is not None else None
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        _failed(core, inv, exc, surface, request)
        raise
    finally:
        if token is not None:
            otel_context.detach(token)
    return _on_result(core, surface, inv, result)


async def call_async(
    surface: Surface,
    wrapped: Callable[..., Any],
    instance: Any,
    args: tuple,
    kwargs: dict[str, Any],
    request: dict[str, Any] | None = None,
) -> Any:
    request = kwargs if request is None else request
    begun = _begin_call(surface, instance, request)
    if begun is None:
        return await wrapped(*args, **kwargs)
    core, inv = begun
    guarded = _guarded(inv, request)
    if guarded is not None:
        try:
            await guarded[0].before_async(guarded[2], guarded[1])
        except BaseException as exc:
            _after_guards(begun, guarded, exc)
        else:
            _after_guards(begun, guarded, None)
    token = otel_context.attach(inv.context) if inv.context is not None else None
    try:
        result = await wrapped(*args, **kwargs)
    except BaseException as exc:
        _failed(core, inv, exc, surface, request)
        raise
    finally:
        if token is not None:
            otel_context.detach(token)
    return _on_result(core, surface, inv, result)


# -- telemetry off: guards and raising expectations still act -----------------------------------------


class _NullCore:
    """Stands in for the telemetry core when telemetry is off (OTEL_SDK_DISABLED, no core) but a
    guard or an `expect(..., on_fail="raise")` must still act: it records nothing."""

    def finish(self, inv: Invocation, error: BaseException | None = None) -> None:
        inv.finished = True

    def self_error(self, step: str, exc: BaseException) -> None:
        report_self_error(step, exc)

    def record_guards(self, inv: Invocation, decisions: list) -> None:
        pass


_NULL_CORE = _NullCore()


def _begin_unrecorded(
    surface: Surface, instance: Any, kwargs: dict[str, Any], stream: bool
) -> tuple[Any, Invocation] | None:
    try:
        raising = tuple(e for e in validation.active() if e.on_fail == "raise")
        if get_guards() is None and not raising and not validation_rules():
            return None
        inv = surface.adapter.request(instance, kwargs, stream)
        raising += tuple(e for e in rules_for(inv) if e.on_fail == "raise")
        if get_guards() is None and not raising:
            return None
        if raising:
            inv.expectations = raising
            inv.content = CallContent()
        return _NULL_CORE, inv
    except Exception as exc:
        report_self_error("request", exc)
        return None


# -- guards ------------------------------------------------------------------------------------------


def _guarded(inv: Invocation, kwargs: dict[str, Any]) -> tuple | None:
    """(guards, ticket, call info) when guards are configured."""
    guards = get_guards()
    if guards is None:
        return None
    return guards, Ticket(), CallInfo(inv.provider, inv.request_model, kwargs)


def _after_guards(begun: tuple, guarded: tuple, raised: BaseException | None) -> None:
    """Record the decisions. A call a guard stopped (or whose wait was interrupted) ends here, its
    span with the error, which is re-raised; an internal failure of ours is counted and the call
    goes on unguarded."""
    guards, ticket, info = guarded
    core, inv = begun
    try:
        core.record_guards(inv, ticket.decisions)
        if ticket.store_unavailable:  # counted per call; logged once
            core.self_error("guard_store", StoreUnavailable())
    except Exception as exc:
        core.self_error("guards", exc)
    if raised is None:
        inv.guard = guarded
        return
    if isinstance(raised, Exception) and not isinstance(raised, GuardError):
        core.self_error("guards", raised)
        try:
            guards.release(ticket)
        except Exception as exc:
            core.self_error("guards", exc)
        return
    _failed(core, inv, raised)
    raise raised


def _settle(inv: Invocation, failed: bool) -> None:
    """Reconcile what the guards reserved with the call's actual usage."""
    guarded, inv.guard = inv.guard, None
    if guarded is None:
        return
    guards, ticket, info = guarded
    usage = None
    if not failed:
        usage = (
            inv.input_tokens,
            inv.output_tokens,
            inv.cache_read_tokens or 0,
            inv.cache_creation_tokens or 0,
        )
    try:
        guards.after(ticket, info, usage)
    except Exception as exc:
        report_self_error("guards", exc)


def make_wrapper(surface: Surface) -> Callable[..., Any]:
    """The wrapt wrapper for `surface` (called positionally by wrapt 1.x and 2.x alike)."""
    if surface.kind == "stream_manager":
        return _manager_wrapper(surface)
    return partial(call_async if surface.is_async else call_sync, surface)


def _manager_wrapper(surface: Surface) -> Callable[..., Any]:
    """Wrap a method returning a stream manager: the request happens when the manager is entered."""

    def wrapper(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
        manager = wrapped(*args, **kwargs)
        try:
            attr = next(
                f"_{cls.__name__}__api_request"
                for cls in type(manager).__mro__
                if f"_{cls.__name__}__api_request" in vars(manager)
            )
            original = getattr(manager, attr)
            if surface.is_async:
                # The SDK stored an un-awaited coroutine; ours awaits it inside the span, and is made
                # only when awaited (a manager never entered must not leave a second one un-awaited).
                setattr(
                    manager,
                    attr,
                    _AwaitLater(partial(call_async, surface, lambda: original, instance, (), {}, kwargs)),
                )
            else:
                setattr(manager, attr, partial(call_sync, surface, original, instance, (), {}, kwargs))
        except Exception as exc:
            report_self_error("stream_manager", exc)
        return manager

    return wrapper


class _AwaitLater:
    """An awaitable that makes its coroutine when awaited."""

    __slots__ = ("make",)

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make

    def __await__(self) -> Any:
        return self.make().__await__()


# -- streams -----------------------------------------------------------------------------------------


class _StreamWatch:
    """Per-stream recorder; holds no reference to the stream so a dropped stream can be collected."""

    __slots__ = ("core", "adapter", "inv", "stream_ref", "__weakref__")

    def __init__(self, core: Telemetry, adapter: Adapter, inv: Invocation) -> None:
        self.core = core
        self.adapter = adapter
        self.inv = inv
        self.stream_ref: Callable[[], Any] = lambda: None  # (weak: a dropped stream is collected)

    def end(self, how: str, error: BaseException | None = None) -> None:
        inv = self.inv
        if inv.finished:
            return
        try:
            inv.response_attributes[sc.STREAM_END] = how
            self.adapter.stream_end(inv)
        except Exception as exc:
            self.core.self_error("stream_end", exc)
        if how == "complete":  # a stream closed or dropped early has no output to judge
            _validate(self.core, inv)
        try:
            self.core.finish(inv, error)
        except Exception as exc:
            self.core.self_error("finish", exc)
        _settle(inv, failed=error is not None)


def _watch_sync(inner: Iterator[Any], watch: _StreamWatch) -> Iterator[Any]:
    # The per-chunk hot path: one timestamp append and one adapter call, nothing else.
    stamp = watch.inv.chunk_times.append
    on_chunk, inv = watch.adapter.chunk, watch.inv
    try:
        for item in inner:
            stamp(time.perf_counter())
            try:
                on_chunk(inv, item)
            except Exception as exc:
                watch.core.self_error("chunk", exc)
            yield item
    except GeneratorExit:
        watch.end("closed")
        raise
    except BaseException as exc:
        watch.end("error", exc)
        raise
    watch.end("complete")
    _raise_if_invalid(watch.inv, watch.stream_ref())


async def _watch_async(inner: AsyncIterator[Any], watch: _StreamWatch) -> AsyncIterator[Any]:
    stamp = watch.inv.chunk_times.append
    on_chunk, inv = watch.adapter.chunk, watch.inv
    try:
        async for item in inner:
            stamp(time.perf_counter())
            try:
                on_chunk(inv, item)
            except Exception as exc:
                watch.core.self_error("chunk", exc)
            yield item
    except GeneratorExit:
        watch.end("closed")
        raise
    except BaseException as exc:
        watch.end("error", exc)
        raise
    watch.end("complete")
    _raise_if_invalid(watch.inv, watch.stream_ref())


def _watch_stream(core: Telemetry, surface: Surface, inv: Invocation, stream: Any) -> None:
    inv.stream = True
    watch = _StreamWatch(core, surface.adapter, inv)
    inner = stream._iterator
    stream._iterator = (
        _watch_async(inner, watch) if hasattr(inner, "__anext__") else _watch_sync(inner, watch)
    )
    vars(stream)[_WATCH_ATTR] = watch
    watch.stream_ref = weakref.ref(stream)
    # A stream the app never finishes still ends its span when it is garbage collected.
    weakref.finalize(stream, watch.end, "dropped")


def stream_close_wrapper(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    """Class-level hook on Stream.close / AsyncStream.close, and on the close of the OpenAI stream
    helpers (chat.completions.stream(), responses.stream()): closing early ends the span."""
    state = getattr(instance, "__dict__", {})
    # A helper closes the HTTP response, not the Stream it reads (openai 3.x): its watch is there.
    watch = state.get(_WATCH_ATTR) or getattr(state.get("_raw_stream"), "__dict__", {}).get(_WATCH_ATTR)
    if watch is not None:
        watch.end("closed")
    return wrapped(*args, **kwargs)


# -- raw responses (with_raw_response / with_streaming_response) --------------------------------------


def _defer_to_parse(core: Telemetry, surface: Surface, inv: Invocation, raw: Any) -> None:
    """The SDK returned its raw-response wrapper: record when the app parses it (or drops it)."""
    if not inv.stream:
        inv.end_time = time.perf_counter()
    dropped = weakref.finalize(raw, _raw_dropped, core, inv)
    vars(raw)[_RAW_ATTR] = (core, surface, inv, dropped)


def _raw_dropped(core: Telemetry, inv: Invocation) -> None:
    if not inv.finished:
        # Never parsed: nothing of the response is known (finish() marks the usage missing).
        if inv.stream:
            inv.response_attributes[sc.STREAM_END] = "dropped"
        try:
            core.finish(inv)
        except Exception as exc:
            core.self_error("finish", exc)
        _settle(inv, failed=False)


def _after_parse(raw: Any, parsed: Any, error: BaseException | None) -> None:
    pending = getattr(raw, "__dict__", {}).pop(_RAW_ATTR, None)
    if pending is None:
        return
    core, surface, inv, dropped = pending
    # Parsed: a parsed stream now ends by its own watch, not when this (often temporary) raw goes.
    dropped.detach()
    if error is not None:
        _failed(core, inv, error)
        return
    # A parse with `to=` another type is the app's business; we map what the SDK would give.
    _on_result(core, surface, inv, parsed)


def raw_parse_wrapper(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    try:
        parsed = wrapped(*args, **kwargs)
    except BaseException as exc:
        _after_parse(instance, None, exc)
        raise
    _after_parse(instance, parsed, None)
    return parsed


async def async_raw_parse_wrapper(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    try:
        parsed = await wrapped(*args, **kwargs)
    except BaseException as exc:
        _after_parse(instance, None, exc)
        raise
    _after_parse(instance, parsed, None)
    return parsed


# -- HTTP attempts (SDK retries) ----------------------------------------------------------------------


def _status_of(result: Any) -> str:
    response = result[0] if isinstance(result, tuple) else result
    return str(getattr(response, "status_code", "unknown"))


def attempt_wrapper(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    """Class-level hook on the SDK's per-attempt send: records each attempt's outcome on the call."""
    inv = otel_context.get_value(INVOCATION_KEY)
    if inv is None:
        return wrapped(*args, **kwargs)
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        inv.attempts.append(type(exc).__qualname__)
        raise
    inv.attempts.append(_status_of(result))
    return result


async def async_attempt_wrapper(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    inv = otel_context.get_value(INVOCATION_KEY)
    if inv is None:
        return await wrapped(*args, **kwargs)
    try:
        result = await wrapped(*args, **kwargs)
    except BaseException as exc:
        inv.attempts.append(type(exc).__qualname__)
        raise
    inv.attempts.append(_status_of(result))
    return result

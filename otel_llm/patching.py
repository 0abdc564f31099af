"""One patcher per provider SDK: patch with wrapt on instrument, restore on uninstrument.

The adapters and the generic wrapper do the work; this module only decides what to patch (when
the SDK's modules are imported), reports other GenAI instrumentors, and switches off Anthropic's
own spans. `instrumentation.py` wraps these in BaseInstrumentors for `opentelemetry-instrument`;
`otel_llm.instrument()` uses them directly so the one-line set-up stays cheap to import.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import wrapt
from opentelemetry import context as otel_context
from opentelemetry import trace

from . import telemetry
from .wrapper import (
    async_attempt_wrapper,
    async_raw_parse_wrapper,
    attempt_wrapper,
    make_wrapper,
    raw_parse_wrapper,
    stream_close_wrapper,
)

logger = logging.getLogger("otel_llm")

_OUR_WRAPPER = "_otel_llm_wrapper"


def _resolve(module: str, name: str) -> tuple[Any, str] | None:
    """(owner object, attribute) for "Class.method" in `module`, or None when this SDK lacks it."""
    try:
        owner: Any = importlib.import_module(module)
    except ImportError:
        return None
    *path, attribute = name.split(".")
    for part in path:
        owner = getattr(owner, part, None)
        if owner is None:
            return None
    if attribute not in vars(owner):
        return None
    return owner, attribute


def _other_instrumentor(current: Any) -> str | None:
    """Name the foreign wrapper when another instrumentation already wrapped this method."""
    # Duck-typed: wrapt 2.x's FunctionWrapper is no longer an ObjectProxy subclass.
    while (wrapper := getattr(current, "_self_wrapper", None)) is not None:
        if not getattr(wrapper, _OUR_WRAPPER, False):
            return getattr(wrapper, "__module__", None) or repr(wrapper)
        current = current.__wrapped__
    return None


class ProviderPatcher:
    """Patches one provider SDK; `provider_module` names both the SDK and our mapping module."""

    def __init__(self, provider_module: str) -> None:
        self.provider_module = provider_module
        self._patched: list[tuple[Any, str, Any]] = []
        self.conflicts: list[str] = []
        # Bumped by uninstrument(): post-import hooks from an earlier instrument() then do nothing.
        self._generation = 0
        self.active = False

    def _patch(self, module: str, name: str, wrapper: Any) -> None:
        """Patch now if `module` is loaded, else when it is first imported (the SDKs load resources lazily)."""
        if module in sys.modules:
            self._patch_now(module, name, wrapper)
        else:
            self._when_imported(module, lambda: self._patch_now(module, name, wrapper))

    def _when_imported(self, module: str, action: Any) -> None:
        generation = self._generation

        def hook(_module: Any) -> None:
            if generation == self._generation and self.active:
                try:
                    action()
                except Exception as exc:  # an import of the app's must never fail because of us
                    telemetry.report_self_error("patch", exc)

        wrapt.register_post_import_hook(hook, module)

    def _patch_now(self, module: str, name: str, wrapper: Any) -> None:
        found = _resolve(module, name)
        if found is None:
            return
        owner, attribute = found
        original = vars(owner)[attribute]
        other = _other_instrumentor(original)
        if other:
            self.conflicts.append(f"{module}.{name} is also wrapped by {other}")
            telemetry.logger.warning(
                "otel-llm: %s.%s is also instrumented by %s; each call may produce two GenAI spans. "
                "Disable the other GenAI instrumentation for this SDK.",
                module,
                name,
                other,
            )
        setattr(wrapper, _OUR_WRAPPER, True)
        wrapt.wrap_function_wrapper(owner, attribute, wrapper)
        self._patched.append((owner, attribute, original, vars(owner)[attribute]))

    def instrument(self) -> None:
        """Idempotent. Nothing of the SDK is imported here: patching waits for the app's import,
        so an app that never imports an installed SDK pays nothing for it."""
        if self.active:
            return
        self.active = True
        self._when_imported(self.provider_module, self._patch_sdk)

    def _patch_sdk(self) -> None:
        provider = importlib.import_module(f"otel_llm.providers.{self.provider_module}")
        for surface in provider.surfaces():
            self._patch(surface.module, surface.name, make_wrapper(surface))
        for module, name, _is_async in provider.STREAM_CLOSE:
            self._patch(module, name, stream_close_wrapper)
        for module, name, is_async in provider.RAW_PARSE:
            self._patch(module, name, async_raw_parse_wrapper if is_async else raw_parse_wrapper)
        for module, name, is_async in provider.ATTEMPTS:
            self._patch(module, name, async_attempt_wrapper if is_async else attempt_wrapper)

    def uninstrument(self) -> None:
        self._generation += 1
        self.active = False
        while self._patched:
            owner, attribute, original, ours = self._patched.pop()
            if vars(owner).get(attribute) is ours:
                setattr(owner, attribute, original)
            else:
                # Another library wrapped it after us: restoring would remove its patch too.
                logger.debug("otel-llm: %s.%s was patched again after us; left in place", owner, attribute)
        self.conflicts.clear()


class _PropagateOnlyTracer(trace.NoOpTracer):
    """Its spans record nothing and carry the current span's context: the SDK still sends that
    context as `traceparent`, which then names our GenAI span."""

    def start_span(
        self, name: str, context: otel_context.Context | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        return trace.NonRecordingSpan(trace.get_current_span(context).get_span_context())


_PROPAGATE_ONLY = _PropagateOnlyTracer()


class AnthropicPatcher(ProviderPatcher):
    def _patch_sdk(self) -> None:
        super()._patch_sdk()
        # anthropic 2.x opens its own span per call once a tracer provider exists. Inside the calls
        # we trace, ours replaces it (exactly one GenAI span per call) but the SDK still propagates
        # the trace context; every other call (beta, batches, count_tokens) keeps the SDK's span.
        found = _resolve("anthropic._base_client", "BaseClient._tracer")
        if found is not None:
            owner, attribute = found
            sdk_tracer = vars(owner)[attribute]

            def tracer(client: Any) -> Any:
                own = sdk_tracer.__get__(client, type(client))
                if own is None or otel_context.get_value(telemetry.INVOCATION_KEY) is None:
                    return own
                return _PROPAGATE_ONLY

            ours = property(tracer)
            setattr(owner, attribute, ours)
            self._patched.append((owner, attribute, sdk_tracer, ours))


PATCHERS: dict[str, ProviderPatcher] = {
    "openai": ProviderPatcher("openai"),
    "anthropic": AnthropicPatcher("anthropic"),
}

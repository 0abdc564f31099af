"""BaseInstrumentor per provider SDK: patch with wrapt on instrument, restore on uninstrument.

Registered under the `opentelemetry_instrumentor` entry point, so `opentelemetry-instrument
python app.py` works too. The adapters and the generic wrapper do the work; this module only
decides what to patch, reports other GenAI instrumentors, and switches off Anthropic's own spans.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Collection
from typing import Any

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from . import telemetry
from .config import load_settings
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


class _ProviderInstrumentor(BaseInstrumentor):
    """Shared body; subclasses name the SDK and its provider mapping module."""

    package = ""
    provider_module = ""

    def __init__(self) -> None:
        if not hasattr(self, "_patched"):
            self._patched: list[tuple[Any, str, Any]] = []
            self.conflicts: list[str] = []

    def instrumentation_dependencies(self) -> Collection[str]:
        return (self.package,)

    def _patch(self, module: str, name: str, wrapper: Any) -> None:
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
        self._patched.append((owner, attribute, original))

    def _instrument(self, **kwargs: Any) -> None:
        if telemetry.STATE.settings is None:
            telemetry.configure(load_settings())
        provider = importlib.import_module(f"otel_llm.providers.{self.provider_module}")
        for surface in provider.surfaces():
            self._patch(surface.module, surface.name, make_wrapper(surface))
        for module, name, _is_async in provider.STREAM_CLOSE:
            self._patch(module, name, stream_close_wrapper)
        for module, name, is_async in provider.RAW_PARSE:
            self._patch(module, name, async_raw_parse_wrapper if is_async else raw_parse_wrapper)
        for module, name, is_async in provider.ATTEMPTS:
            self._patch(module, name, async_attempt_wrapper if is_async else attempt_wrapper)

    def _uninstrument(self, **kwargs: Any) -> None:
        while self._patched:
            owner, attribute, original = self._patched.pop()
            setattr(owner, attribute, original)
        self.conflicts.clear()


class OpenAIInstrumentor(_ProviderInstrumentor):
    package = "openai >= 1.0"
    provider_module = "openai"


class AnthropicInstrumentor(_ProviderInstrumentor):
    package = "anthropic >= 0.30"
    provider_module = "anthropic"

    def _instrument(self, **kwargs: Any) -> None:
        super()._instrument(**kwargs)
        # anthropic 2.x opens its own span per call once a tracer provider exists; ours replaces it
        # (exactly one GenAI span per call), so its tracer is hidden while we instrument.
        found = _resolve("anthropic._base_client", "BaseClient._tracer")
        if found is not None:
            owner, attribute = found
            self._patched.append((owner, attribute, vars(owner)[attribute]))
            setattr(owner, attribute, property(lambda client: None))


INSTRUMENTORS = {"openai": OpenAIInstrumentor, "anthropic": AnthropicInstrumentor}

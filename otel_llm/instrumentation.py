"""BaseInstrumentor per provider SDK, registered under the `opentelemetry_instrumentor` entry
point so `opentelemetry-instrument python app.py` instruments with otel-llm too."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from . import scoping, telemetry
from .config import load_settings
from .patching import PATCHERS


class _ProviderInstrumentor(BaseInstrumentor):
    package = ""
    provider = ""

    def instrumentation_dependencies(self) -> Collection[str]:
        return (self.package,)

    def _instrument(self, **kwargs: Any) -> None:
        if telemetry.STATE.settings is None:
            telemetry.configure(load_settings())
        scoping.carry_into_threads()  # as otel_llm.instrument() does: attributes follow into threads
        PATCHERS[self.provider].instrument()

    def _uninstrument(self, **kwargs: Any) -> None:
        PATCHERS[self.provider].uninstrument()
        if not any(patcher.active for patcher in PATCHERS.values()):
            scoping.stop_carrying_into_threads()


class OpenAIInstrumentor(_ProviderInstrumentor):
    package = "openai >= 3.0"
    provider = "openai"


class AnthropicInstrumentor(_ProviderInstrumentor):
    package = "anthropic >= 2.0"
    provider = "anthropic"

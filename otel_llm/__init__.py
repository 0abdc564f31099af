"""otel-llm: OpenTelemetry GenAI spans, metrics and cost for the OpenAI and Anthropic SDKs.

    import otel_llm.auto          # or: otel_llm.instrument()

Public API: `instrument(**overrides)`, `uninstrument()`, `flush(timeout_seconds)`, `ConfigError`.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from . import telemetry
from .config import ConfigError, load_settings
from .version import __version__

__all__ = ["ConfigError", "__version__", "flush", "instrument", "instrumented_providers", "uninstrument"]


def instrument(**overrides: Any) -> None:
    """Patch every installed provider SDK. Idempotent; a bad setting raises ConfigError.

    Keyword arguments win over `OTEL_LLM_*` variables, which win over the `OTEL_LLM_CONFIG` file.
    """
    from .instrumentation import INSTRUMENTORS

    settings = load_settings(overrides)
    telemetry.configure(settings)
    for name in settings.providers:
        if importlib.util.find_spec(name) is None:
            continue
        instrumentor = INSTRUMENTORS[name]()
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument()


def uninstrument() -> None:
    """Restore every patched SDK method. Telemetry already recorded is still exported."""
    from .instrumentation import INSTRUMENTORS

    for cls in INSTRUMENTORS.values():
        instrumentor = cls()
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()


def instrumented_providers() -> list[str]:
    """Names of the provider SDKs currently instrumented."""
    from .instrumentation import INSTRUMENTORS

    return [name for name, cls in INSTRUMENTORS.items() if cls().is_instrumented_by_opentelemetry]


def flush(timeout_seconds: float = 5.0) -> bool:
    """Export all recorded telemetry now (end of a serverless invocation, before exit).

    Returns False when `timeout_seconds` passed first; never raises.
    """
    return telemetry.flush(timeout_seconds)

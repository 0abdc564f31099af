"""otel-llm: OpenTelemetry GenAI spans, metrics and cost for the OpenAI and Anthropic SDKs.

    import otel_llm.auto          # or: otel_llm.instrument()

Public API: `instrument(**overrides)`, `uninstrument()`, `flush(timeout_seconds)`, `ConfigError`;
output validation: `expect(*validators, on_fail=...)`, `validators`, `OutputValidationError`;
guards: `Budget`, `RateLimit`, `LoopGuard`, `guard_key` and their errors; `attributes(...)`;
the quality loop: `record_feedback(...)`, `report_issue(...)`.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from . import guards, scoping, telemetry, validators
from .attribution import attributes
from .config import ConfigError, load_settings
from .feedback import record_feedback, report_issue
from .guards import (
    Budget,
    BudgetExceededError,
    LoopDetectedError,
    LoopGuard,
    RateLimit,
    RateLimitedError,
    guard_key,
)
from .validation import OutputValidationError, expect
from .version import __version__

__all__ = [
    "Budget",
    "BudgetExceededError",
    "ConfigError",
    "LoopDetectedError",
    "LoopGuard",
    "RateLimit",
    "RateLimitedError",
    "attributes",
    "guard_key",
    "guards",
    "OutputValidationError",
    "__version__",
    "expect",
    "flush",
    "instrument",
    "instrumented_providers",
    "record_feedback",
    "report_issue",
    "uninstrument",
    "validators",
]


def instrument(**overrides: Any) -> None:
    """Patch every installed provider SDK. Idempotent; a bad setting raises ConfigError.

    Keyword arguments win over `OTEL_LLM_*` variables, which win over the `OTEL_LLM_CONFIG` file.
    """
    from .patching import PATCHERS

    settings = load_settings(overrides)
    telemetry.configure(settings)
    scoping.carry_into_threads()
    for name in settings.providers:
        if importlib.util.find_spec(name) is not None:
            PATCHERS[name].instrument()


def uninstrument() -> None:
    """Restore every patched SDK method. Telemetry already recorded is still exported."""
    from .patching import PATCHERS

    for patcher in PATCHERS.values():
        patcher.uninstrument()
    scoping.stop_carrying_into_threads()


def instrumented_providers() -> list[str]:
    """Names of the provider SDKs currently instrumented."""
    from .patching import PATCHERS

    return [name for name, patcher in PATCHERS.items() if patcher.active]


def flush(timeout_seconds: float = 5.0) -> bool:
    """Export all recorded telemetry now (end of a serverless invocation, before exit).

    Returns False when `timeout_seconds` passed first; never raises.
    """
    return telemetry.flush(timeout_seconds)

"""One provider call as plain data: what the adapters fill in and the telemetry core records."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .messages import CallContent


_NONE: Mapping[str, Any] = MappingProxyType({})


class Invocation:
    """Request facts (set before the call), response facts (set by the adapters) and timing.

    Adapters only assign fields here; they never touch spans or meters. Token counts follow the
    GenAI conventions: `input_tokens` includes cache reads/creations, `output_tokens` includes
    reasoning tokens.
    """

    __slots__ = (
        "operation",
        "provider",
        "request_model",
        "server_address",
        "server_port",
        "stream",
        "attributes",
        "response_id",
        "response_model",
        "finish_reasons",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_creation_tokens",
        # the part of cache_creation_tokens written for 1 hour (Anthropic), priced apart
        "cache_creation_1h_tokens",
        "reasoning_tokens",
        # the service tier the response reports (OpenAI "priority", "flex"...): selects tier prices
        "service_tier",
        "response_attributes",
        "chunk_times",
        "attempts",
        "stream_state",
        # Raw content (messages.CallContent) when the core decided this call's content may be
        # captured, or its output must be validated.
        "content",
        # validation.Expectation tuple for this call, and its validation.Outcome once checked
        "expectations",
        "validation",
        # (guards.Guards, guards.Ticket, guards.CallInfo) when guards reserved for this call
        "guard",
        # the app's allow-listed attributes for metrics (otel_llm.attributes: feature, prompt version)
        "labels",
        # every attribute of the app's otel_llm.attributes(...) in effect at the call
        "app_attributes",
        # feedback.CallRef: what feedback on this call links to
        "call_ref",
        # Owned by the telemetry core.
        "span",
        "context",
        "start_time",
        "end_time",
        "finished",
    )

    def __init__(
        self,
        operation: str,
        provider: str,
        request_model: str | None,
        attributes: dict[str, Any],
        server_address: str | None = None,
        server_port: int | None = None,
        stream: bool = False,
    ) -> None:
        self.operation = operation
        self.provider = provider
        self.request_model = request_model
        self.server_address = server_address
        self.server_port = server_port
        self.stream = stream
        self.attributes = attributes
        self.response_id: str | None = None
        self.response_model: str | None = None
        self.finish_reasons: list[str] = []
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.cache_read_tokens: int | None = None
        self.cache_creation_tokens: int | None = None
        self.cache_creation_1h_tokens: int | None = None
        self.reasoning_tokens: int | None = None
        self.service_tier: str | None = None
        self.response_attributes: dict[str, Any] = {}
        # perf_counter() of each stream chunk; appended on the hot path, turned into metrics at the end.
        self.chunk_times: list[float] = []
        # Outcome of each HTTP attempt the SDK made ("200", "429", "APITimeoutError", ...).
        self.attempts: list[str] = []
        # Scratch space for a provider's stream accumulator (e.g. finish reasons per choice).
        self.stream_state: Any = None
        self.content: CallContent | None = None
        self.expectations: tuple = ()
        self.validation: Any = None
        self.guard: Any = None
        self.labels: dict[str, str] = {}
        self.app_attributes: Mapping[str, Any] = _NONE
        self.call_ref: Any = None
        self.span: Any = None
        self.context: Any = None
        self.start_time = 0.0
        self.end_time: float | None = None
        self.finished = False

"""Per-call overhead of otel-llm against bare SDK calls, a hand-written floor, and OpenTelemetry's own
OpenAI instrumentation. Numbers are printed, never asserted.

    python benchmarks/overhead.py            # full run (a few minutes on 2 cores)
    python benchmarks/overhead.py --quick    # 10x fewer calls
    python benchmarks/overhead.py --json results.json --profile

Everything is in process: the SDKs talk to an `httpx2.MockTransport` whose handler returns precomputed
bytes, so what is measured is SDK + instrumentation CPU time, never a network. benchmarks/README.md
explains the rows.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import importlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

import otel_llm

CHUNKS = 50
MODEL_OPENAI, RESPONSE_MODEL_OPENAI = "gpt-4o-mini", "gpt-4o-mini-2024-07-18"
MODEL_ANTHROPIC, RESPONSE_MODEL_ANTHROPIC = "claude-haiku-4-5", "claude-haiku-4-5-20251001"
INPUT_TOKENS, OUTPUT_TOKENS = 12, CHUNKS
MESSAGES = [{"role": "user", "content": "Say fifty words."}]
OFFICIAL_MODULES = ("opentelemetry.instrumentation.genai.openai", "opentelemetry.instrumentation.openai_v2")
OFFICIAL_DISTS = (
    "opentelemetry-instrumentation-genai-openai",
    "opentelemetry-instrumentation-openai-v2",
    "opentelemetry-util-genai",
)
DEFAULT_OFFICIAL_PYTHON = "/tmp/bench-official/bin/python"
NOT_INSTALLED = "official: not installed (pip install -r benchmarks/requirements-official.txt)"

# scenario -> (provider, label, stream?)
SCENARIOS: dict[str, tuple[str, str, bool]] = {
    "openai.chat": ("openai", "OpenAI chat", False),
    "openai.chat.stream": ("openai", f"OpenAI chat stream ({CHUNKS} chunks)", True),
    "anthropic.messages": ("anthropic", "Anthropic messages", False),
    "anthropic.messages.stream": ("anthropic", f"Anthropic stream ({CHUNKS} deltas)", True),
}
VARIANTS = ("bare", "floor", "otel-llm", "sdk-native", "official")


# -- canned provider responses -----------------------------------------------------------------------


def _words() -> list[str]:
    return [f"w{i} " for i in range(CHUNKS)]


def _sse(data: dict[str, Any], event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _openai_json() -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1700000000,
            "model": RESPONSE_MODEL_OPENAI,
            "system_fingerprint": "fp_bench",
            "service_tier": "default",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(_words()), "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": INPUT_TOKENS,
                "completion_tokens": OUTPUT_TOKENS,
                "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
            },
        }
    ).encode()


def _openai_sse() -> list[bytes]:
    base = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": RESPONSE_MODEL_OPENAI,
        "system_fingerprint": "fp_bench",
        "service_tier": "default",
    }
    events = []
    for i, word in enumerate(_words()):
        delta: dict[str, Any] = {"content": word}
        if i == 0:
            delta["role"] = "assistant"
        last = i == CHUNKS - 1
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": "stop" if last else None}
        events.append(_sse({**base, "choices": [choice], "usage": None}))
    usage = {
        "prompt_tokens": INPUT_TOKENS,
        "completion_tokens": OUTPUT_TOKENS,
        "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }
    events.append(_sse({**base, "choices": [], "usage": usage}))
    events.append(b"data: [DONE]\n\n")
    return events


def _anthropic_usage(output: int) -> dict[str, Any]:
    return {
        "input_tokens": INPUT_TOKENS,
        "output_tokens": output,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "service_tier": "standard",
    }


def _anthropic_json() -> bytes:
    return json.dumps(
        {
            "id": "msg_bench",
            "type": "message",
            "role": "assistant",
            "model": RESPONSE_MODEL_ANTHROPIC,
            "content": [{"type": "text", "text": "".join(_words())}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": _anthropic_usage(OUTPUT_TOKENS),
        }
    ).encode()


def _anthropic_sse() -> list[bytes]:
    message = {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": RESPONSE_MODEL_ANTHROPIC,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": _anthropic_usage(1),
    }
    events = [
        _sse({"type": "message_start", "message": message}, "message_start"),
        _sse(
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            "content_block_start",
        ),
    ]
    for word in _words():
        events.append(
            _sse(
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word}},
                "content_block_delta",
            )
        )
    events.append(_sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
    events.append(
        _sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": OUTPUT_TOKENS},
            },
            "message_delta",
        )
    )
    events.append(_sse({"type": "message_stop"}, "message_stop"))
    return events


def make_transport(scenario: str) -> httpx2.MockTransport:
    """A transport answering every request with the scenario's precomputed bytes (one SSE event per read)."""
    provider, _, stream = SCENARIOS[scenario]
    if not stream:
        body = _openai_json() if provider == "openai" else _anthropic_json()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]

        def handler(request: httpx2.Request) -> httpx2.Response:
            return httpx2.Response(200, headers=headers, content=body)

    else:
        events = _openai_sse() if provider == "openai" else _anthropic_sse()
        headers = [(b"content-type", b"text/event-stream; charset=utf-8")]

        def handler(request: httpx2.Request) -> httpx2.Response:
            return httpx2.Response(200, headers=headers, content=iter(events))

    return httpx2.MockTransport(handler)


# -- telemetry pipeline shared by every row ----------------------------------------------------------


class CountingNullExporter(SpanExporter):
    """Drops every span; counts them per instrumentation scope so each row proves it produced spans."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def export(self, spans: Any) -> SpanExportResult:
        counts = self.counts
        for span in spans:
            counts[span.instrumentation_scope.name] += 1
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


class Pipeline:
    def __init__(self) -> None:
        self.exporter = CountingNullExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(BatchSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        trace.set_tracer_provider(self.tracer_provider)
        metrics.set_meter_provider(self.meter_provider)

    def flush(self) -> None:
        self.tracer_provider.force_flush()

    def metric_points(self) -> dict[str, dict[str, int]]:
        """scope -> metric -> histogram measurements recorded; counters ("(series)") count data points only."""
        out: dict[str, dict[str, int]] = {}
        data = self.reader.get_metrics_data()
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                scope = out.setdefault(sm.scope.name, {})
                for metric in sm.metrics:
                    total = 0
                    for point in metric.data.data_points:
                        total += getattr(point, "count", 1)
                    histogram = "Histogram" in type(metric.data).__name__
                    key = metric.name if histogram else f"{metric.name}(series)"
                    scope[key] = scope.get(key, 0) + total
        return out


# -- the rows ----------------------------------------------------------------------------------------


class Clients:
    """One SDK client per scenario (each with its own canned transport)."""

    def __init__(self) -> None:
        self.by_scenario: dict[str, Any] = {}
        self.native: dict[str, Any] = {}
        for scenario, (provider, _, _) in SCENARIOS.items():
            http = httpx2.Client(transport=make_transport(scenario))
            if provider == "openai":
                self.by_scenario[scenario] = openai.OpenAI(
                    api_key="x", base_url="http://bench/v1", http_client=http, max_retries=0
                )
            else:
                # Anthropic 2.x opens its own span per call when a tracer provider exists; `bare` must be bare.
                self.by_scenario[scenario] = anthropic.Anthropic(
                    api_key="x",
                    base_url="http://bench",
                    http_client=http,
                    max_retries=0,
                    open_telemetry=False,
                )
                self.native[scenario] = anthropic.Anthropic(
                    api_key="x",
                    base_url="http://bench",
                    http_client=httpx2.Client(transport=make_transport(scenario)),
                    max_retries=0,
                    open_telemetry={},
                )


def bare_calls(clients: Clients, native: bool = False) -> dict[str, Callable[[], Any]]:
    """The un-instrumented call per scenario; streams are fully consumed."""
    oc = clients.by_scenario["openai.chat"]
    ocs = clients.by_scenario["openai.chat.stream"]
    src = clients.native if native else clients.by_scenario
    ac = src["anthropic.messages"]
    acs = src["anthropic.messages.stream"]

    def openai_chat() -> Any:
        return oc.chat.completions.create(
            model=MODEL_OPENAI, messages=MESSAGES, max_tokens=64, temperature=0.2
        )

    def openai_stream() -> Any:
        stream = ocs.chat.completions.create(
            model=MODEL_OPENAI,
            messages=MESSAGES,
            max_tokens=64,
            temperature=0.2,
            stream=True,
            stream_options={"include_usage": True},
        )
        for _ in stream:
            pass

    def anthropic_messages() -> Any:
        return ac.messages.create(model=MODEL_ANTHROPIC, max_tokens=64, messages=MESSAGES)

    def anthropic_stream() -> Any:
        for _ in acs.messages.create(model=MODEL_ANTHROPIC, max_tokens=64, messages=MESSAGES, stream=True):
            pass

    return {
        "openai.chat": openai_chat,
        "openai.chat.stream": openai_stream,
        "anthropic.messages": anthropic_messages,
        "anthropic.messages.stream": anthropic_stream,
    }


class Floor:
    """The least any instrumentation must do: one CLIENT span with otel-llm's attribute set, current for the
    duration of the call, plus the same metric records (duration, 2 token histograms, cost; streams: TTFC
    and one time_per_output_chunk per chunk after the first). No price lookup, no SDK patching."""

    COST_OPENAI = 3.6e-05
    COST_ANTHROPIC = 8.1e-04

    def __init__(self, clients: Clients) -> None:
        from otel_llm import semconv as sc

        self.sc = sc
        self.tracer = trace.get_tracer("bench.floor")
        meter = metrics.get_meter("bench.floor")
        self.token_usage = meter.create_histogram(
            sc.METRIC_TOKEN_USAGE, unit="{token}", explicit_bucket_boundaries_advisory=list(sc.TOKEN_BUCKETS)
        )
        self.duration = meter.create_histogram(
            sc.METRIC_OPERATION_DURATION,
            unit="s",
            explicit_bucket_boundaries_advisory=list(sc.DURATION_BUCKETS),
        )
        self.ttfc = meter.create_histogram(
            sc.METRIC_TIME_TO_FIRST_CHUNK,
            unit="s",
            explicit_bucket_boundaries_advisory=list(sc.DURATION_BUCKETS),
        )
        self.tpoc = meter.create_histogram(
            sc.METRIC_TIME_PER_OUTPUT_CHUNK,
            unit="s",
            explicit_bucket_boundaries_advisory=list(sc.TIME_PER_CHUNK_BUCKETS),
        )
        self.cost = meter.create_counter(sc.METRIC_COST, unit="USD")
        self.clients = clients

    def _request_attrs(self, provider: str, model: str, stream: bool) -> dict[str, Any]:
        sc = self.sc
        attrs: dict[str, Any] = {
            sc.GEN_AI_OPERATION_NAME: "chat",
            sc.GEN_AI_PROVIDER_NAME: provider,
            sc.GEN_AI_REQUEST_MODEL: model,
            sc.SERVER_ADDRESS: "bench",
            sc.SERVER_PORT: 80,
            sc.GEN_AI_REQUEST_STREAM: stream,
            sc.GEN_AI_REQUEST_MAX_TOKENS: 64,
        }
        if provider == "openai":
            attrs[sc.GEN_AI_REQUEST_TEMPERATURE] = 0.2
        return attrs

    def _finish(
        self,
        span: Any,
        start: float,
        provider: str,
        request_model: str,
        response_id: str,
        response_model: str,
        finish_reason: str,
        input_tokens: int,
        output_tokens: int,
        cost: float,
        chunk_times: list[float] | None,
    ) -> None:
        sc = self.sc
        end = time.perf_counter()
        metric_attrs = {
            sc.GEN_AI_OPERATION_NAME: "chat",
            sc.GEN_AI_PROVIDER_NAME: provider,
            sc.GEN_AI_REQUEST_MODEL: request_model,
            sc.SERVER_ADDRESS: "bench",
            sc.SERVER_PORT: 80,
            sc.GEN_AI_RESPONSE_MODEL: response_model,
        }
        attrs: dict[str, Any] = {
            sc.GEN_AI_RESPONSE_MODEL: response_model,
            sc.GEN_AI_RESPONSE_ID: response_id,
            sc.GEN_AI_RESPONSE_FINISH_REASONS: [finish_reason],
            sc.GEN_AI_USAGE_INPUT_TOKENS: input_tokens,
            sc.GEN_AI_USAGE_OUTPUT_TOKENS: output_tokens,
            sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 0,
            (
                sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS
                if provider == "openai"
                else sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS
            ): 0,
            sc.COST: cost,
            sc.PRICE_SOURCE: "genai-prices",
        }
        if chunk_times is not None:
            attrs[sc.STREAM_END] = "complete"
            attrs[sc.STREAM_CHUNKS] = len(chunk_times)
            if chunk_times:
                ttfc = chunk_times[0] - start
                attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = ttfc
                self.ttfc.record(ttfc, metric_attrs)
                previous = chunk_times[0]
                for at in chunk_times[1:]:
                    self.tpoc.record(at - previous, metric_attrs)
                    previous = at
        self.token_usage.record(input_tokens, {**metric_attrs, sc.GEN_AI_TOKEN_TYPE: "input"})
        self.token_usage.record(output_tokens, {**metric_attrs, sc.GEN_AI_TOKEN_TYPE: "output"})
        self.cost.add(cost, metric_attrs)
        self.duration.record(end - start, metric_attrs)
        span.set_attributes(attrs)
        span.end()

    def _start(self, provider: str, model: str, stream: bool) -> tuple[Any, Any, float]:
        span = self.tracer.start_span(
            f"chat {model}", kind=SpanKind.CLIENT, attributes=self._request_attrs(provider, model, stream)
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        return span, token, time.perf_counter()

    def calls(self) -> dict[str, Callable[[], Any]]:
        oc = self.clients.by_scenario["openai.chat"]
        ocs = self.clients.by_scenario["openai.chat.stream"]
        ac = self.clients.by_scenario["anthropic.messages"]
        acs = self.clients.by_scenario["anthropic.messages.stream"]
        perf = time.perf_counter

        def openai_chat() -> Any:
            span, token, start = self._start("openai", MODEL_OPENAI, False)
            try:
                result = oc.chat.completions.create(
                    model=MODEL_OPENAI, messages=MESSAGES, max_tokens=64, temperature=0.2
                )
            finally:
                otel_context.detach(token)
            usage = result.usage
            self._finish(
                span, start, "openai", MODEL_OPENAI, result.id, result.model, result.choices[0].finish_reason,
                usage.prompt_tokens, usage.completion_tokens, self.COST_OPENAI, None,
            )  # fmt: skip
            return result

        def openai_stream() -> Any:
            span, token, start = self._start("openai", MODEL_OPENAI, True)
            try:
                stream = ocs.chat.completions.create(
                    model=MODEL_OPENAI,
                    messages=MESSAGES,
                    max_tokens=64,
                    temperature=0.2,
                    stream=True,
                    stream_options={"include_usage": True},
                )
            finally:
                otel_context.detach(token)
            times: list[float] = []
            usage = first = finish = None
            for chunk in stream:
                times.append(perf())
                if first is None:
                    first = chunk
                if chunk.usage is not None:
                    usage = chunk.usage
                for choice in chunk.choices:
                    if choice.finish_reason:
                        finish = choice.finish_reason
            self._finish(
                span, start, "openai", MODEL_OPENAI, first.id, first.model, finish,
                usage.prompt_tokens, usage.completion_tokens, self.COST_OPENAI, times,
            )  # fmt: skip

        def anthropic_messages() -> Any:
            span, token, start = self._start("anthropic", MODEL_ANTHROPIC, False)
            try:
                result = ac.messages.create(model=MODEL_ANTHROPIC, max_tokens=64, messages=MESSAGES)
            finally:
                otel_context.detach(token)
            usage = result.usage
            self._finish(
                span, start, "anthropic", MODEL_ANTHROPIC, result.id, result.model, result.stop_reason,
                usage.input_tokens, usage.output_tokens, self.COST_ANTHROPIC, None,
            )  # fmt: skip
            return result

        def anthropic_stream() -> Any:
            span, token, start = self._start("anthropic", MODEL_ANTHROPIC, True)
            try:
                stream = acs.messages.create(
                    model=MODEL_ANTHROPIC, max_tokens=64, messages=MESSAGES, stream=True
                )
            finally:
                otel_context.detach(token)
            times: list[float] = []
            message = None
            input_tokens = output_tokens = 0
            finish = None
            for event in stream:
                times.append(perf())
                kind = event.type
                if kind == "message_start":
                    message = event.message
                    input_tokens = message.usage.input_tokens
                elif kind == "message_delta":
                    finish = event.delta.stop_reason
                    output_tokens = event.usage.output_tokens
            self._finish(
                span, start, "anthropic", MODEL_ANTHROPIC, message.id, message.model, finish,
                input_tokens, output_tokens, self.COST_ANTHROPIC, times,
            )  # fmt: skip

        return {
            "openai.chat": openai_chat,
            "openai.chat.stream": openai_stream,
            "anthropic.messages": anthropic_messages,
            "anthropic.messages.stream": anthropic_stream,
        }


def official_module() -> str | None:
    for name in OFFICIAL_MODULES:
        try:
            if importlib.util.find_spec(name) is not None:
                return name
        except ModuleNotFoundError:
            continue
    return None


_MISSING = object()


def _sdk_class_attributes() -> dict[tuple[int, str], tuple[type, str, Any]]:
    """Every attribute of every class defined in the loaded openai/anthropic modules."""
    out: dict[tuple[int, str], tuple[type, str, Any]] = {}
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(("openai", "anthropic")):
            continue
        for obj in list(vars(module).values()):
            # type(obj), not isinstance(): the SDKs keep lazy proxies in modules that import on inspection.
            if issubclass(type(obj), type) and obj.__module__.startswith(("openai", "anthropic")):
                for attr, value in list(vars(obj).items()):
                    out[(id(obj), attr)] = (obj, attr, value)
    return out


SDK_MODULES_PATCHED = (
    "openai.resources.chat.completions.completions",
    "openai.resources.completions",
    "openai.resources.responses.responses",
    "openai.resources.embeddings",
    "anthropic.resources.messages.messages",
)


class Patch:
    """The class attributes an instrumentor's `instrument()` replaced, found by diffing the SDK classes before
    and after it. Rows interleaved call by call swap these (the very wrappers `instrument()` installed) in and
    out between calls, since re-instrumenting takes milliseconds."""

    def __init__(self, instrument: Callable[[], None], uninstrument: Callable[[], None]) -> None:
        # otel-llm patches SDK modules when the app first imports them: load them all up front so that
        # instrument() patches everything at once and the diff below sees every patch.
        for module in SDK_MODULES_PATCHED:
            importlib.import_module(module)
        instrument()  # a first cycle imports every module instrument() touches, so the diff sees only patches
        uninstrument()
        before = _sdk_class_attributes()
        instrument()
        after = _sdk_class_attributes()
        # Only what an instrumentor installs: wrapt wrappers (and otel-llm's replacement property).
        self.changes: list[tuple[type, str, Any, Any]] = []
        for key, (owner, attr, value) in after.items():
            old = before[key][2] if key in before else _MISSING
            # Duck-typed: wrapt 2.x's FunctionWrapper is not a `wrapt.ObjectProxy` subclass.
            if old is not value and (isinstance(value, property) or hasattr(value, "__wrapped__")):
                self.changes.append((owner, attr, old, value))
        self._uninstrument = uninstrument
        self.off()

    def _apply(self, patched: bool) -> None:
        for owner, attr, old, new in self.changes:
            value = new if patched else old
            if value is _MISSING:
                if attr in vars(owner):
                    delattr(owner, attr)
            else:
                setattr(owner, attr, value)

    def on(self) -> None:
        self._apply(True)

    def off(self) -> None:
        self._apply(False)

    def close(self) -> None:
        """Back to the instrumentor's own state, then its real uninstrument()."""
        self.on()
        self._uninstrument()

    def names(self) -> list[str]:
        return sorted(f"{owner.__module__}.{owner.__qualname__}.{attr}" for owner, attr, _, _ in self.changes)


class Variant:
    """A row kind: how to switch it on and off, and which call to time per scenario."""

    def __init__(
        self,
        name: str,
        calls: dict[str, Callable[[], Any]],
        setup: Callable[[], None] = lambda: None,
        teardown: Callable[[], None] = lambda: None,
        scenarios: tuple[str, ...] = tuple(SCENARIOS),
        patch: Patch | None = None,
        close: Callable[[], None] = lambda: None,
    ) -> None:
        self.name = name
        self.calls = {s: c for s, c in calls.items() if s in scenarios}
        self.patch = patch
        self.setup = patch.on if patch is not None else setup
        self.teardown = patch.off if patch is not None else teardown
        self.close = patch.close if patch is not None else close
        self.calls_made = 0


def _instrumented_variant(
    name: str,
    calls: dict[str, Callable[[], Any]],
    instrument: Callable[[], None],
    uninstrument: Callable[[], None],
    interleave: str,
    scenarios: tuple[str, ...] = tuple(SCENARIOS),
) -> Variant:
    if interleave == "call":
        return Variant(name, calls, scenarios=scenarios, patch=Patch(instrument, uninstrument))
    return Variant(name, calls, instrument, uninstrument, scenarios=scenarios)


def build_variants(
    names: list[str], clients: Clients, pipeline: Pipeline, interleave: str
) -> dict[str, Variant]:
    out: dict[str, Variant] = {}
    bare = bare_calls(clients)
    for name in names:
        if name == "bare":
            out[name] = Variant("bare", bare)
        elif name == "floor":
            out[name] = Variant("floor", Floor(clients).calls())
        elif name == "otel-llm":
            out[name] = _instrumented_variant(
                name, bare, otel_llm.instrument, otel_llm.uninstrument, interleave
            )
        elif name == "sdk-native":
            out[name] = Variant(
                "sdk-native",
                bare_calls(clients, native=True),
                scenarios=("anthropic.messages", "anthropic.messages.stream"),
            )
        elif name == "official":
            module = official_module()
            if module is None:
                continue
            instrumentor = importlib.import_module(module).OpenAIInstrumentor()

            def instrument(inst: Any = instrumentor) -> None:
                inst.instrument(
                    tracer_provider=pipeline.tracer_provider, meter_provider=pipeline.meter_provider
                )

            out[name] = _instrumented_variant(
                name,
                bare,
                instrument,
                instrumentor.uninstrument,
                interleave,
                scenarios=("openai.chat", "openai.chat.stream"),
            )
    return out


# -- measurement -------------------------------------------------------------------------------------


def time_calls(fn: Callable[[], Any], n: int, out: list[int]) -> None:
    pc = time.perf_counter_ns
    append = out.append
    for _ in range(n):
        t0 = pc()
        fn()
        append(pc() - t0)


def measure_per_call(
    variants: dict[str, Variant], scenarios: list[str], n_plain: int, n_stream: int, warmup: int, blocks: int
) -> dict[tuple[str, str], list[list[int]]]:
    """Rows interleaved call by call (rotating order), so slow phases of the machine hit every row alike.
    Before every call, every instrumentor's patches are re-applied (on for the row's own, off for the rest),
    so each row pays the same attribute-cache invalidation. Samples are split into `blocks` blocks."""
    order = list(variants.values())
    patches = [v.patch for v in order if v.patch is not None]

    def enter(variant: Variant) -> None:
        for patch in patches:
            if patch is not variant.patch:
                patch.off()
        if variant.patch is not None:
            variant.patch.on()

    samples: dict[tuple[str, str], list[list[int]]] = {}
    pc = time.perf_counter_ns
    for scenario in scenarios:
        stream = SCENARIOS[scenario][2]
        members = [v for v in order if scenario in v.calls]
        n_warm = max(warmup // 4, 5) if stream else warmup
        for variant in members:
            enter(variant)
            fn = variant.calls[scenario]
            for _ in range(n_warm):
                fn()
            variant.calls_made += n_warm
        total = n_stream if stream else n_plain
        collected: dict[str, list[int]] = {v.name: [] for v in members}
        gc.collect()
        for i in range(total):
            shift = i % len(members)
            for variant in members[shift:] + members[:shift]:
                enter(variant)
                fn = variant.calls[scenario]
                t0 = pc()
                fn()
                collected[variant.name].append(pc() - t0)
        size = max(-(-total // blocks), 1)
        for variant in members:
            variant.calls_made += total
            values = collected[variant.name]
            samples[(variant.name, scenario)] = [values[k : k + size] for k in range(0, total, size)]
    for patch in patches:
        patch.off()
    return samples


def percentile(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


def measure(
    variants: dict[str, Variant], scenarios: list[str], n_plain: int, n_stream: int, warmup: int, rounds: int
) -> dict[tuple[str, str], list[list[int]]]:
    """Per (row, scenario): one list of per-call nanoseconds per round."""
    samples: dict[tuple[str, str], list[list[int]]] = {}
    order = list(variants.values())
    # Warm-up: every (row, scenario) pair, so imports, caches and lazy resolution happen outside timing.
    for variant in order:
        variant.setup()
        try:
            for scenario in scenarios:
                fn = variant.calls.get(scenario)
                if fn is None:
                    continue
                n = warmup if not SCENARIOS[scenario][2] else max(warmup // 4, 5)
                for _ in range(n):
                    fn()
                variant.calls_made += n
        finally:
            variant.teardown()
    # Timed rounds: every row runs a slice of every scenario each round, in a rotating order.
    for r in range(rounds):
        shift = r % len(order)
        for variant in order[shift:] + order[:shift]:
            variant.setup()
            try:
                for scenario in scenarios:
                    fn = variant.calls.get(scenario)
                    if fn is None:
                        continue
                    total = n_stream if SCENARIOS[scenario][2] else n_plain
                    n = total // rounds + (1 if r < total % rounds else 0)
                    for _ in range(3):  # re-warm after (un)instrumenting
                        fn()
                    gc.collect()
                    batch: list[int] = []
                    time_calls(fn, n, batch)
                    samples.setdefault((variant.name, scenario), []).append(batch)
                    variant.calls_made += n + 3
            finally:
                variant.teardown()
    return samples


def summarize(samples: dict[tuple[str, str], list[list[int]]], source: str) -> list[dict[str, Any]]:
    rows = []
    for (variant, scenario), batches in samples.items():
        ordered = sorted(v for batch in batches for v in batch)
        rows.append(
            {
                "scenario": scenario,
                "variant": variant,
                "n": len(ordered),
                "median_us": statistics.median(ordered) / 1000,
                "p99_us": percentile(ordered, 0.99) / 1000,
                "mean_us": statistics.fmean(ordered) / 1000,
                "round_medians_us": [statistics.median(b) / 1000 if b else None for b in batches],
                "source": source,
            }
        )
    return rows


def add_overheads(rows: list[dict[str, Any]]) -> None:
    """overhead = median(row) - median(bare); `paired` = median over rounds of the same difference taken
    within each round (cancels drift between rounds), `spread` = half the IQR of those per-round values."""
    bare = {(r["scenario"], r["source"]): r for r in rows if r["variant"] == "bare"}
    for row in rows:
        base = bare.get((row["scenario"], row["source"]))
        if base is None:
            continue
        row["overhead_us"] = row["median_us"] - base["median_us"]
        row["ratio"] = row["median_us"] / base["median_us"]
        diffs = [
            a - b
            for a, b in zip(row["round_medians_us"], base["round_medians_us"], strict=False)
            if a is not None and b is not None
        ]
        if len(diffs) >= 2 and row is not base:
            q = statistics.quantiles(diffs, n=4)
            row["paired_overhead_us"] = statistics.median(diffs)
            row["paired_spread_us"] = (q[2] - q[0]) / 2
        if SCENARIOS[row["scenario"]][2]:
            row["per_chunk_us"] = row["overhead_us"] / CHUNKS


# -- official row in its own venv --------------------------------------------------------------------


def official_python(arg: str | None) -> str | None:
    candidate = arg or os.environ.get("OTEL_LLM_BENCH_OFFICIAL_PYTHON") or DEFAULT_OFFICIAL_PYTHON
    return candidate if candidate and Path(candidate).exists() else None


def run_official_subprocess(python: str, args: argparse.Namespace) -> dict[str, Any] | None:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out_path = handle.name
    cmd = [
        python,
        str(Path(__file__).resolve()),
        "--worker",
        "--variants",
        "bare,floor,otel-llm,official",
        "--scenarios",
        "openai.chat,openai.chat.stream",
        "--json",
        out_path,
        "--interleave",
        args.interleave,
        "--rounds",
        str(args.rounds),
        "--calls",
        str(args.calls),
        "--stream-calls",
        str(args.stream_calls),
        "--warmup",
        str(args.warmup),
    ]
    if args.quick:
        cmd.append("--quick")
    print(f"  running the official row in {python} ...", flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    try:
        if proc.returncode != 0:
            print(f"  official worker failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
            return None
        return json.loads(Path(out_path).read_text())
    finally:
        Path(out_path).unlink(missing_ok=True)


# -- import time -------------------------------------------------------------------------------------

_IMPORT_SNIPPET = """
import json, sys, threading, time
t0, c0 = time.perf_counter(), time.process_time()
if {pre}:
    import openai, anthropic
t1, c1 = time.perf_counter(), time.process_time()
sys.stderr.write("@@MARK@@\\n"); sys.stderr.flush()
if {otel}:
    import otel_llm.auto
t2, c2 = time.perf_counter(), time.process_time()
# instrument() may finish loading in background threads (the price snapshot): wait for them.
for thread in threading.enumerate():
    if thread is not threading.current_thread() and thread.name.startswith("otel-llm"):
        thread.join(30)
t3, c3 = time.perf_counter(), time.process_time()
print(json.dumps([t1 - t0, t2 - t1, t3 - t2, c1 - c0, c2 - c1, c3 - c2]))
"""


def _import_run(pre: bool, otel: bool, importtime: bool = False) -> tuple[list[float], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    cmd = [sys.executable]
    if importtime:
        cmd += ["-X", "importtime"]
    cmd += ["-c", _IMPORT_SNIPPET.format(pre=pre, otel=otel)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def measure_import_time(runs: int) -> dict[str, Any]:
    """Wall and CPU time of the imports in fresh interpreters, median of `runs`, the three kinds interleaved."""
    _import_run(True, True)  # compile .pyc files once, untimed
    alone, sdks, both = [], [], []
    for _ in range(runs):
        alone.append(_import_run(False, True)[0])
        sdks.append(_import_run(True, False)[0])
        both.append(_import_run(True, True)[0])

    def med(values: list[list[float]], *idx: int) -> float:
        return statistics.median(sum(v[i] for i in idx) for v in values) * 1000.0

    def low(values: list[list[float]], *idx: int) -> float:
        return min(sum(v[i] for i in idx) for v in values) * 1000.0

    _, stderr = _import_run(True, True, importtime=True)
    after = stderr.split("@@MARK@@", 1)[-1]
    entries = []
    for line in after.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = line[len("import time:") :].split("|", 2)
        depth = (len(name) - len(name.lstrip())) // 2
        entries.append((name.strip(), int(self_us), int(cum_us), depth))
    top_level = sorted((e for e in entries if e[3] <= 1), key=lambda e: -e[2])[:8]
    return {
        "runs": runs,
        "otel_llm_auto_alone_ms": med(alone, 1),
        "openai_anthropic_ms": med(sdks, 0),
        "openai_anthropic_then_otel_llm_auto_ms": med(both, 0, 1),
        "attributable_to_otel_llm_ms": med(both, 0, 1) - med(sdks, 0),
        "attributable_to_otel_llm_min_ms": low(both, 0, 1) - low(sdks, 0),
        "otel_llm_auto_after_sdks_ms": med(both, 1),
        "otel_llm_auto_after_sdks_cpu_ms": med(both, 4),
        "background_after_import_ms": med(both, 2),
        "background_after_import_cpu_ms": med(both, 5),
        "importtime_top_cumulative": [
            {"module": m, "self_ms": s / 1000, "cumulative_ms": c / 1000, "depth": d}
            for m, s, c, d in top_level
        ],
    }


# -- memory ------------------------------------------------------------------------------------------


def _rss_kb() -> int:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except OSError:
        return 0


def measure_memory(
    variants: dict[str, Variant], scenarios: list[str], calls: int, warmup: int, pipeline: Pipeline
) -> list[dict[str, Any]]:
    out = []
    tracemalloc.start()
    try:
        for scenario in scenarios:
            for name in ("bare", "floor", "otel-llm"):
                variant = variants.get(name)
                if variant is None or scenario not in variant.calls:
                    continue
                fn = variant.calls[scenario]
                variant.setup()
                try:
                    for _ in range(warmup):
                        fn()
                    pipeline.flush()
                    gc.collect()
                    tracemalloc.reset_peak()
                    before, _ = tracemalloc.get_traced_memory()
                    rss_before = _rss_kb()
                    for _ in range(calls):
                        fn()
                    _, peak = tracemalloc.get_traced_memory()
                    pipeline.flush()
                    gc.collect()
                    after, _ = tracemalloc.get_traced_memory()
                    rss_after = _rss_kb()
                    variant.calls_made += warmup + calls
                finally:
                    variant.teardown()
                out.append(
                    {
                        "scenario": scenario,
                        "variant": name,
                        "calls": calls,
                        "retained_kb": (after - before) / 1024,
                        "retained_bytes_per_call": (after - before) / calls,
                        "peak_above_start_kb": (peak - before) / 1024,
                        "rss_growth_kb": rss_after - rss_before,
                    }
                )
    finally:
        tracemalloc.stop()
    return out


# -- profile -----------------------------------------------------------------------------------------


def _ours(filename: str) -> str | None:
    norm = filename.replace("\\", "/")
    if "/otel_llm/" in norm:
        return "otel_llm/" + norm.rsplit("/otel_llm/", 1)[1]
    if "/opentelemetry/" in norm:
        return "opentelemetry/" + norm.rsplit("/opentelemetry/", 1)[1]
    return None


def profile_otel_llm(
    variant: Variant, scenarios: list[str], n_plain: int, n_stream: int, top: int
) -> dict[str, Any]:
    """cProfile the otel-llm row; top self-time functions in otel_llm and the OpenTelemetry SDK/API."""
    groups = {
        "non-stream": [s for s in scenarios if not SCENARIOS[s][2]],
        "stream": [s for s in scenarios if SCENARIOS[s][2]],
    }
    out: dict[str, Any] = {}
    for group, members in groups.items():
        members = [s for s in members if s in variant.calls]
        if not members:
            continue
        n = n_stream if group == "stream" else n_plain
        variant.setup()
        try:
            for s in members:
                for _ in range(20):
                    variant.calls[s]()
            profiler = cProfile.Profile()
            profiler.enable()
            for s in members:
                fn = variant.calls[s]
                for _ in range(n):
                    fn()
            profiler.disable()
        finally:
            variant.teardown()
        stats = pstats.Stats(profiler)
        total_calls = n * len(members)
        entries = []
        all_tt = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
        ours_tt = 0.0
        for (filename, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            where = _ours(filename)
            if where is None:
                continue
            ours_tt += tt
            entries.append(
                {
                    "function": f"{where}:{line}({func})",
                    "ncalls_per_call": nc / total_calls,
                    "self_us_per_call": tt / total_calls * 1e6,
                    "cum_us_per_call": ct / total_calls * 1e6,
                }
            )
        entries.sort(key=lambda e: -e["self_us_per_call"])
        out[group] = {
            "scenarios": members,
            "calls": total_calls,
            "profiled_us_per_call": all_tt / total_calls * 1e6,
            "otel_llm_and_opentelemetry_self_us_per_call": ours_tt / total_calls * 1e6,
            "top": entries[:top],
            "top_otel_llm": [e for e in entries if e["function"].startswith("otel_llm/")][:top],
        }
    return out


# -- output ------------------------------------------------------------------------------------------


def _fmt(value: Any, spec: str = ".1f") -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    return format(value, spec)


def print_table(rows: list[dict[str, Any]], scenarios: list[str]) -> None:
    order = {v: i for i, v in enumerate(VARIANTS)}
    header = (
        f"{'scenario':<31} {'row':<11} {'n':>5} {'median us':>10} {'p99 us':>9} {'overhead us':>12} "
        f"{'paired us':>16} {'ratio':>7} {'us/chunk':>9}"
    )
    print(header)
    print("-" * len(header))
    for scenario in scenarios:
        label = SCENARIOS[scenario][1]
        these = sorted(
            (r for r in rows if r["scenario"] == scenario),
            key=lambda r: (r["source"] != "in-process", order.get(r["variant"], 99)),
        )
        for row in these:
            name = row["variant"] + ("*" if row["source"] != "in-process" else "")
            is_base = row["variant"] == "bare"
            overhead = None if is_base else row.get("overhead_us")
            paired = row.get("paired_overhead_us")
            paired_text = "-" if paired is None else f"{paired:+.1f} ±{row['paired_spread_us']:.1f}"
            ratio = row.get("ratio")
            print(
                f"{label:<31} {name:<11} {row['n']:>5} {_fmt(row['median_us']):>10} {_fmt(row['p99_us']):>9} "
                f"{_fmt(overhead, '+.1f'):>12} {paired_text:>16} "
                f"{(_fmt(ratio, '.3f') + 'x') if ratio and not is_base else '-':>7} "
                f"{_fmt(row.get('per_chunk_us') if overhead is not None else None, '+.2f'):>9}"
            )
            label = ""
        print()


def versions() -> dict[str, str]:
    out = {}
    for dist in (
        "otel-llm",
        "openai",
        "anthropic",
        "httpx2",
        "opentelemetry-api",
        "opentelemetry-sdk",
        "opentelemetry-instrumentation",
        "wrapt",
        "genai-prices",
        *OFFICIAL_DISTS,
    ):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


SCOPES = {
    "floor": "bench.floor",
    "otel-llm": "otel_llm",
    "official": "opentelemetry.instrumentation.genai.openai",
    "sdk-native": "com.anthropic.sdk.python",
}


def check_span_counts(variants: dict[str, Variant], spans: dict[str, int]) -> list[str]:
    """Each instrumented row produced exactly one span per call, and no other row produced any."""
    problems = []
    for name, scope in SCOPES.items():
        expected = variants[name].calls_made if name in variants else 0
        got = spans.get(scope, 0)
        if got != expected:
            problems.append(f"{name}: {got} spans in scope {scope!r} for {expected} calls")
    return problems


# -- main --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="10x fewer calls")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument(
        "--calls", type=int, default=3000, help="timed calls per non-stream row (default 3000)"
    )
    parser.add_argument(
        "--stream-calls", type=int, default=1000, help="timed calls per stream row (default 1000)"
    )
    parser.add_argument("--warmup", type=int, default=200, help="untimed calls per row first (default 200)")
    parser.add_argument(
        "--interleave",
        choices=("call", "batch"),
        default="call",
        help="call: rows alternate call by call, instrumentors' patches swapped in and out between calls "
        "(default); batch: rows alternate in rounds of batches, with real instrument()/uninstrument() per batch",
    )
    parser.add_argument(
        "--rounds", type=int, default=20, help="rounds (batch) or blocks for the paired stat (call)"
    )
    parser.add_argument("--variants", default=",".join(VARIANTS), help="rows to run (comma-separated)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="scenarios to run (comma-separated)")
    parser.add_argument(
        "--official-python", help=f"interpreter with the official package (default {DEFAULT_OFFICIAL_PYTHON})"
    )
    parser.add_argument("--skip-calls", action="store_true", help="skip the per-call latency table")
    parser.add_argument("--skip-import", action="store_true", help="skip the import-time measurement")
    parser.add_argument("--skip-memory", action="store_true", help="skip the memory measurement")
    parser.add_argument(
        "--memory-calls", type=int, default=2000, help="calls per memory measurement (default 2000)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the otel-llm rows; print top self time"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    div = 10 if args.quick else 1
    n_plain, n_stream = max(args.calls // div, 10), max(args.stream_calls // div, 10)
    warmup = max(args.warmup // div, 10)
    rounds = max(args.rounds // (2 if args.quick else 1), 1)
    memory_calls = max(args.memory_calls // div, 20)
    scenarios = [s for s in args.scenarios.split(",") if s in SCENARIOS]
    wanted = [v for v in args.variants.split(",") if v in VARIANTS]
    worker = args.worker
    say = (lambda *a, **k: None) if worker else print

    pipeline = Pipeline()  # global providers first, so every instrumentation uses them
    clients = Clients()
    variants = build_variants(wanted, clients, pipeline, args.interleave)
    results: dict[str, Any] = {
        "meta": {
            "python": sys.version.split()[0],
            "executable": sys.executable,
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "versions": versions(),
            "calls": {"non_stream": n_plain, "stream": n_stream, "warmup": warmup, "rounds": rounds},
            "interleave": args.interleave,
            "patched_attributes": {v.name: v.patch.names() for v in variants.values() if v.patch is not None},
            "chunks": CHUNKS,
            "span_processor": "BatchSpanProcessor -> null exporter",
            "metric_reader": "InMemoryMetricReader (collected once, at the end)",
        }
    }

    say(f"otel-llm overhead benchmark — Python {results['meta']['python']}, {os.cpu_count()} CPUs")
    say("  " + ", ".join(f"{k} {v}" for k, v in results["meta"]["versions"].items()))
    say(
        f"  {n_plain} non-stream / {n_stream} stream calls per row after {warmup} warm-up, {CHUNKS} chunks per stream; "
        + (
            f"rows interleaved call by call ({rounds} blocks for the paired column)"
            if args.interleave == "call"
            else f"rows interleaved in {rounds} rounds of batches"
        )
    )
    for v in variants.values():
        if v.patch is not None:
            say(
                f"  {v.name}: instrument() patched {len(v.patch.changes)} SDK class attributes (swapped per call)"
            )
    official_status = "in-process"
    if "official" in wanted and "official" not in variants:
        official_status = "not-installed"
    say(
        "  rows: "
        + ", ".join(variants)
        + (
            ""
            if official_status == "in-process" or "official" not in wanted
            else " (official: separate venv)"
            if official_python(args.official_python)
            else " (official: not installed)"
        )
    )
    say(flush=True)

    if not args.skip_calls:
        if args.interleave == "call":
            samples = measure_per_call(variants, scenarios, n_plain, n_stream, warmup, rounds)
        else:
            samples = measure(variants, scenarios, n_plain, n_stream, warmup, rounds)
        rows = summarize(samples, "in-process")

        sub = None
        if (
            official_status == "not-installed"
            and not worker
            and any(SCENARIOS[s][0] == "openai" for s in scenarios)
        ):
            python = official_python(args.official_python)
            if python is not None:
                pipeline.flush()
                sub = run_official_subprocess(python, args)
                if sub is not None and sub.get("official_status") == "in-process":
                    official_status = f"subprocess: {python}"
                    for row in sub["rows"]:
                        if row["variant"] in ("bare", "official"):
                            rows.append({**row, "source": "official-venv"})
                elif sub is not None:
                    official_status = "not-installed"
        add_overheads(rows)
        results["rows"] = rows

        # Telemetry check: every row really produced its spans and metrics.
        pipeline.flush()
        spans = dict(pipeline.exporter.counts)
        points = pipeline.metric_points()
        results["telemetry"] = {
            "calls_made": {v.name: v.calls_made for v in variants.values()},
            "spans_by_scope": spans,
            "metric_measurements_by_scope": points,
            "problems": check_span_counts(variants, spans),
        }

        if not worker:
            print("Per-call latency (in-process mock transport; lower is better)\n")
            print_table(rows, scenarios)
            ratios = {}
            for scenario in scenarios:
                got = {
                    r["variant"]: r for r in rows if r["scenario"] == scenario and r["source"] == "in-process"
                }
                if "otel-llm" not in got or "floor" not in got:
                    continue
                ours, floor = got["otel-llm"].get("overhead_us"), got["floor"].get("overhead_us")
                if ours is None or floor is None:
                    continue
                detail = f"({ours:+.1f} us vs {floor:+.1f} us)"
                if floor > 0:
                    ratios[scenario] = ours / floor
                    print(f"otel-llm/floor overhead, {SCENARIOS[scenario][1]}: {ours / floor:.2f}x {detail}")
                else:
                    ratios[scenario] = None
                    print(
                        f"otel-llm/floor overhead, {SCENARIOS[scenario][1]}: n/a, floor within noise {detail}"
                    )
            results["otel_llm_vs_floor"] = ratios
            print()
            if official_status == "not-installed" and "official" in wanted:
                print(NOT_INSTALLED)
            elif official_status.startswith("subprocess") and sub is not None:
                sub_rows = {(r["variant"], r["scenario"]): r for r in sub["rows"]}
                print(
                    f"* official: measured in a separate venv ({official_status.split(': ', 1)[1]}); overhead is vs"
                )
                print(
                    "  that process's own bare row. Same-process cross-check there (overhead vs bare, median us):"
                )
                for scenario in ("openai.chat", "openai.chat.stream"):
                    parts = []
                    for name in ("floor", "otel-llm", "official"):
                        row = sub_rows.get((name, scenario))
                        if row and "overhead_us" in row:
                            parts.append(f"{name} {row['overhead_us']:+.1f}")
                    if parts:
                        print(f"    {SCENARIOS[scenario][1]}: " + ", ".join(parts))
            if sub is not None:
                off_versions = {k: v for k, v in sub["meta"]["versions"].items() if k in OFFICIAL_DISTS}
                print("  official packages: " + ", ".join(f"{k} {v}" for k, v in off_versions.items()))
                spans_official = {k: v for k, v in sub["telemetry"]["spans_by_scope"].items()}
                print(f"  spans in the official venv by scope: {spans_official}")
                sub_problems = sub["telemetry"].get("problems") or []
                print(
                    "  span counts match calls there: "
                    + ("yes" if not sub_problems else "NO: " + "; ".join(sub_problems))
                )
                official_metrics = {
                    k: v
                    for k, v in sub["telemetry"]["metric_measurements_by_scope"].items()
                    if "genai" in k or "openai" in k
                }
                print(f"  official metric measurements: {official_metrics}")
                results["official"] = {
                    "status": official_status,
                    "versions": off_versions,
                    "rows": sub["rows"],
                    "telemetry": sub["telemetry"],
                }
            else:
                results["official"] = {"status": official_status}
            print(f"spans exported by scope: {spans}")
            print(f"calls made per row (incl. warm-up): {results['telemetry']['calls_made']}")
            problems = results["telemetry"]["problems"]
            print("  span counts match calls: " + ("yes" if not problems else "NO: " + "; ".join(problems)))
            for scope, by_metric in points.items():
                print(f"  metrics [{scope}]: " + ", ".join(f"{k}={v}" for k, v in sorted(by_metric.items())))
            print()

        else:
            results["official_status"] = official_status if "official" in variants else "not-installed"

    if not args.skip_import and not worker:
        print("Import time (fresh interpreter, median of 5) ...", flush=True)
        imp = measure_import_time(5)
        results["import_time"] = imp
        print(
            f"  import otel_llm.auto alone (no SDK imported yet):       {imp['otel_llm_auto_alone_ms']:7.0f} ms"
        )
        print(
            f"  import openai, anthropic:                                {imp['openai_anthropic_ms']:7.0f} ms"
        )
        print(
            f"  import openai, anthropic, otel_llm.auto:                 "
            f"{imp['openai_anthropic_then_otel_llm_auto_ms']:7.0f} ms"
        )
        print(
            f"  => attributable to otel_llm (difference of medians):     {imp['attributable_to_otel_llm_ms']:7.0f} ms"
            f"  (of minimums: {imp['attributable_to_otel_llm_min_ms']:.0f} ms; noisy: two multi-second numbers)"
        )
        print(
            f"     measured in process (otel_llm.auto after the SDKs):   {imp['otel_llm_auto_after_sdks_ms']:7.0f} ms"
            f"  ({imp['otel_llm_auto_after_sdks_cpu_ms']:.0f} ms CPU)"
        )
        print(
            f"     + background work still running after the import:    {imp['background_after_import_ms']:7.0f} ms"
            f"  ({imp['background_after_import_cpu_ms']:.0f} ms CPU; otel-llm threads, e.g. the price snapshot)"
        )
        print(
            "  -X importtime, largest imports after openai+anthropic (one run; a background thread's imports"
        )
        print("  interleave with these, so a self time can be off or negative):")
        print(f"    {'module':<52} {'self ms':>8} {'cumul. ms':>9}")
        for e in imp["importtime_top_cumulative"]:
            name = "  " * e["depth"] + e["module"]
            print(f"    {name:<52} {e['self_ms']:8.1f} {e['cumulative_ms']:9.1f}")
        print()

    if not args.skip_memory and not worker:
        print(
            f"Memory (tracemalloc, {memory_calls} calls after {warmup} warm-up; spans flushed, gc collected) ...",
            flush=True,
        )
        mem = measure_memory(variants, scenarios, memory_calls, warmup, pipeline)
        results["memory"] = mem
        print(
            f"  {'scenario':<30} {'row':<9} {'retained KB':>12} {'B/call':>8} {'peak KB':>9} {'RSS growth KB':>14}"
        )
        for m in mem:
            print(
                f"  {SCENARIOS[m['scenario']][1]:<30} {m['variant']:<9} {m['retained_kb']:>12.1f} "
                f"{m['retained_bytes_per_call']:>8.1f} {m['peak_above_start_kb']:>9.1f} {m['rss_growth_kb']:>14}"
            )
        print()

    if args.profile and not worker and "otel-llm" in variants:
        print(
            "Profile of the otel-llm rows (cProfile; its own overhead inflates small functions) ...",
            flush=True,
        )
        prof = profile_otel_llm(
            variants["otel-llm"], scenarios, max(n_plain // 2, 10), max(n_stream // 2, 10), 10
        )
        results["profile"] = prof
        for group, data in prof.items():
            print(
                f"  {group} ({', '.join(data['scenarios'])}): {data['profiled_us_per_call']:.0f} us/call profiled, "
                f"of which otel_llm + opentelemetry self time {data['otel_llm_and_opentelemetry_self_us_per_call']:.1f} us"
            )
            print(f"    {'self us/call':>12} {'cum us/call':>11} {'calls/call':>10}  function")
            for e in data["top"]:
                print(
                    f"    {e['self_us_per_call']:>12.2f} {e['cum_us_per_call']:>11.2f} {e['ncalls_per_call']:>10.1f}  {e['function']}"
                )
            print("    otel_llm's own functions only:")
            for e in data["top_otel_llm"]:
                print(
                    f"    {e['self_us_per_call']:>12.2f} {e['cum_us_per_call']:>11.2f} {e['ncalls_per_call']:>10.1f}  {e['function']}"
                )
        print()

    if args.json:
        text = json.dumps(results, indent=2, default=str)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text)
            if not worker:
                print(f"results written to {args.json}")
    for variant in variants.values():
        variant.close()
    pipeline.tracer_provider.shutdown()
    pipeline.meter_provider.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

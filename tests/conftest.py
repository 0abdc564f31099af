"""Shared fixtures: in-memory OpenTelemetry providers, the mock provider, real SDK clients."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    MeterProvider,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_llm
from otel_llm.content import CONTENT, _default_redactor
from otel_llm.telemetry import METRIC_WORKER
from otel_llm.testing import MockProvider

# Keep the SDKs' own tracing and any env-provided config out of the tests' way.
os.environ.pop("OTEL_LLM_CONFIG", None)

_DELTA = {
    kind: AggregationTemporality.DELTA
    for kind in (
        Counter,
        UpDownCounter,
        Histogram,
        ObservableCounter,
        ObservableUpDownCounter,
        ObservableGauge,
    )
}

LOG_EXPORTER = InMemoryLogRecordExporter()
_logs.set_logger_provider(LoggerProvider())
_logs.get_logger_provider().add_log_record_processor(SimpleLogRecordProcessor(LOG_EXPORTER))

SPAN_EXPORTER = InMemorySpanExporter()
METRIC_READER = InMemoryMetricReader(preferred_temporality=_DELTA)
_tracer_provider = TracerProvider()
_tracer_provider.add_span_processor(SimpleSpanProcessor(SPAN_EXPORTER))
trace.set_tracer_provider(_tracer_provider)
metrics.set_meter_provider(MeterProvider(metric_readers=[METRIC_READER]))


class Telemetry:
    """What the instrumented code under test exported."""

    def spans(self, name_prefix: str = "") -> list[ReadableSpan]:
        return [s for s in SPAN_EXPORTER.get_finished_spans() if s.name.startswith(name_prefix)]

    def genai_spans(self) -> list[ReadableSpan]:
        return [
            s for s in SPAN_EXPORTER.get_finished_spans() if "gen_ai.operation.name" in (s.attributes or {})
        ]

    def only_span(self) -> ReadableSpan:
        spans = self.genai_spans()
        assert len(spans) == 1, [s.name for s in spans]
        return spans[0]

    def metrics(self) -> dict[str, list[Any]]:
        """Data points by metric name since the previous call (delta temporality)."""
        found: dict[str, list[Any]] = {}
        # Measurements are recorded by otel-llm's background worker: wait until it has caught up.
        assert METRIC_WORKER.drain(10)
        data = METRIC_READER.get_metrics_data()
        if data is None:
            return found
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    found.setdefault(metric.name, []).extend(metric.data.data_points)
        return found

    def content_events(self) -> list[Any]:
        """The content events emitted so far (waits for the content worker to finish)."""
        assert otel_llm.flush(30)
        return [
            r.log_record
            for r in LOG_EXPORTER.get_finished_logs()
            if r.log_record.event_name == "gen_ai.client.inference.operation.details"
        ]

    def reset(self) -> None:
        CONTENT.drain(30)
        METRIC_WORKER.drain(10)
        LOG_EXPORTER.clear()
        SPAN_EXPORTER.clear()
        METRIC_READER.get_metrics_data()


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    recorded = Telemetry()
    recorded.reset()
    yield recorded
    recorded.reset()


@pytest.fixture
def instrumented(telemetry: Telemetry) -> Iterator[Telemetry]:
    otel_llm.instrument()
    try:
        yield telemetry
    finally:
        otel_llm.uninstrument()


@pytest.fixture
def capture(telemetry: Telemetry) -> Iterator[Any]:
    """instrument() with the given settings (content capture, ...); afterwards restores the default
    redactor and capture `off`."""

    def start(**settings: Any) -> Telemetry:
        otel_llm.instrument(**settings)
        return telemetry

    yield start
    otel_llm.uninstrument()
    CONTENT.redactor_factory = _default_redactor
    otel_llm.instrument()
    otel_llm.uninstrument()


@pytest.fixture(scope="session")
def mock() -> Iterator[MockProvider]:
    with MockProvider() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_mock(request: pytest.FixtureRequest) -> None:
    if "mock" in request.fixturenames:
        request.getfixturevalue("mock").reset()


@pytest.fixture
def openai_client(mock: MockProvider) -> Any:
    import openai

    return openai.OpenAI(base_url=mock.openai_base_url, api_key="test-key", max_retries=0)


@pytest.fixture
def async_openai_client(mock: MockProvider) -> Any:
    import openai

    return openai.AsyncOpenAI(base_url=mock.openai_base_url, api_key="test-key", max_retries=0)


@pytest.fixture
def anthropic_client(mock: MockProvider) -> Any:
    import anthropic

    return anthropic.Anthropic(base_url=mock.anthropic_base_url, api_key="test-key", max_retries=0)


@pytest.fixture
def async_anthropic_client(mock: MockProvider) -> Any:
    import anthropic

    return anthropic.AsyncAnthropic(base_url=mock.anthropic_base_url, api_key="test-key", max_retries=0)


def require_tool(name: str) -> str:
    """The path of a binary `make test` installs (Debian packages prometheus, prometheus-alertmanager,
    docker-compose): a missing one fails the test, never skips it."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"`{name}` is not installed. Run `make test`, which installs the Debian packages "
            "prometheus, prometheus-alertmanager and docker-compose (promtool, amtool, docker-compose)."
        )
    return path


def points(found: dict[str, list[Any]], name: str, **attrs: Any) -> list[Any]:
    """Data points of `name` whose attributes include `attrs` (dots spelled as in the attribute)."""
    wanted = {k.replace("__", "."): v for k, v in attrs.items()}
    return [p for p in found.get(name, []) if all(p.attributes.get(k) == v for k, v in wanted.items())]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The real collector, Prometheus and Alertmanager (with a webhook receiver) on loopback."""
    from otel_llm.testing.stack import Stack

    with Stack(tmp_path_factory.mktemp("stack")) as running:
        yield running


def run_workload(
    collector_stack: Any,
    mock: MockProvider,
    service: str,
    *,
    rate: float,
    seconds: float,
    error_every: int = 0,
    phases: str = "",
    env: dict[str, str] | None = None,
    background: bool = False,
) -> Any:
    """Runs otel_llm.testing.workload in a fresh process exporting to the stack's collector.

    Returns the app's JSON summary, or (background=True) the Popen and the summary path.
    """
    import subprocess
    import tempfile
    from pathlib import Path

    from otel_llm.testing import workload

    summary = Path(tempfile.mkdtemp()) / "summary.json"
    command = workload.command(
        mock.openai_base_url, mock.anthropic_base_url, rate, seconds, summary, error_every, phases
    )
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTEL_LLM_"))},
        **collector_stack.app_environment(service),
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=e2e,service.owner=team-llm",
        **(env or {}),
    }
    process = subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    if background:
        return process, summary
    return finish_workload(process, summary, timeout=seconds + 90)


def finish_workload(process: Any, summary: Any, timeout: float) -> dict[str, Any]:
    import json

    _, stderr = process.communicate(timeout=timeout)
    assert process.returncode == 0, stderr[-3000:]
    result = json.loads(summary.read_text())
    result["export_failures"] = [line for line in stderr.splitlines() if "Failed to export" in line]
    assert result["unexpected_exceptions"] == [], result["unexpected_exceptions"]
    return result

"""`make demo` / `python -m otel_llm.demo`: the mock provider, the instrumented sample app, and what it produced.

The sample app (examples/sample_app.py) is a plain app with `import otel_llm.auto`; here we give it
in-memory OpenTelemetry providers so the spans and metrics can be printed. The first request gets a
429 that the SDK retries away, so retries show too.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from . import flush
from .testing import MockProvider

SAMPLE_APP = Path(__file__).resolve().parent.parent / "examples" / "sample_app.py"


def main() -> int:
    resource = Resource.create({"service.name": "otel-llm-demo", "deployment.environment.name": "demo"})
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    trace.set_tracer_provider(tracer_provider)
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=[reader]))

    with MockProvider() as mock:
        print(f"mock provider listening on {mock.url}")
        mock.fail_next("429", 1)
        app = runpy.run_path(str(SAMPLE_APP))
        app["run"](mock.openai_base_url, mock.anthropic_base_url)
    flush()

    print(f"\n{'span':<36} {'status':<8} {'in':>5} {'out':>5} {'cost USD':>10} {'ms':>7}  notes")
    for span in sorted(spans.get_finished_spans(), key=lambda s: s.start_time):
        a = span.attributes
        notes = []
        if a.get("otel_llm.retry.statuses"):
            notes.append("attempts " + ",".join(a["otel_llm.retry.statuses"]))
        if "gen_ai.response.time_to_first_chunk" in a:
            notes.append(f"ttfc {a['gen_ai.response.time_to_first_chunk'] * 1000:.1f}ms")
        if "error.type" in a:
            notes.append(f"error {a['error.type']}")
        print(
            f"{span.name:<36} {span.status.status_code.name:<8} {a.get('gen_ai.usage.input_tokens', '-'):>5} "
            f"{a.get('gen_ai.usage.output_tokens', '-'):>5} {a.get('otel_llm.cost', 0):>10.6f} "
            f"{(span.end_time - span.start_time) / 1e6:>7.1f}  {' '.join(notes)}"
        )

    print(f"\n{'metric':<48} {'attributes':<60} value")
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                for point in metric.data.data_points:
                    keys = ("gen_ai.provider.name", "gen_ai.request.model", "gen_ai.token.type", "error.type")
                    label = ",".join(str(point.attributes[k]) for k in keys if k in point.attributes)
                    value = getattr(point, "value", None)
                    shown = (
                        f"{value:.6g}" if value is not None else f"count={point.count} sum={point.sum:.6g}"
                    )
                    print(f"{metric.name:<48} {label:<60} {shown}")
    print("\nThe collector + Prometheus + Alertmanager stack joins this demo with the bundled-stack release.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

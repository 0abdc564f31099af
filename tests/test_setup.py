"""Provider set-up, in fresh interpreters: our own OTLP export, the app's late providers,
`opentelemetry-instrument`, OTEL_SDK_DISABLED and flush()."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

CALL = """
import openai
client = openai.OpenAI(base_url={base!r}, api_key="k", max_retries=0)
client.chat.completions.create(model="gpt-4o", messages=[{{"role": "user", "content": "hi there"}}])
"""


APP_PROVIDERS_AFTER_IMPORT = """
import otel_llm.auto
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
"""


class _OtlpReceiver(ThreadingHTTPServer):
    """A minimal OTLP/HTTP endpoint that keeps what it is sent."""

    daemon_threads = True

    def __init__(self) -> None:
        self.bodies: dict[str, list[bytes]] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.bodies.setdefault(self.path, []).append(body)
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def otlp():
    server = _OtlpReceiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _run(code: str, env: dict[str, str], args: list[str] | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    full_env.update(env)
    command = args or [sys.executable, "-c", code]
    result = subprocess.run(command, env=full_env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result


def test_without_app_providers_we_export_otlp_from_the_standard_variables(otlp, mock):
    code = "import otel_llm.auto\nimport otel_llm\n" + CALL.format(base=mock.openai_base_url)
    code += "assert otel_llm.flush(10)\n"
    _run(
        code,
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp.server_address[1]}",
            "OTEL_SERVICE_NAME": "checkout-api",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=staging,service.owner=team-llm",
        },
    )
    traces = ExportTraceServiceRequest()
    traces.ParseFromString(otlp.bodies["/v1/traces"][0])
    resource_spans = traces.resource_spans[0]
    resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert resource["service.name"] == "checkout-api"
    assert resource["service.owner"] == "team-llm"
    [span] = [s for scope in resource_spans.scope_spans for s in scope.spans]
    assert span.name == "chat gpt-4o"
    names = set()
    for body in otlp.bodies["/v1/metrics"]:
        request = ExportMetricsServiceRequest()
        request.ParseFromString(body)
        for rm in request.resource_metrics:
            for sm in rm.scope_metrics:
                names.update(m.name for m in sm.metrics)
    assert {"gen_ai.client.operation.duration", "gen_ai.client.token.usage", "otel_llm.cost"} <= names


def test_app_providers_set_after_import_are_used(mock):
    # Also: otel_llm.auto imports no SDK; the SDK is patched when the app imports it.
    code = APP_PROVIDERS_AFTER_IMPORT + "import sys\nprint('openai' in sys.modules)\n"
    code += CALL.format(base=mock.openai_base_url)
    code += "print(len(exporter.get_finished_spans()), exporter.get_finished_spans()[0].name)\n"
    result = _run(code, {"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"})
    assert result.stdout.split("\n")[:2] == ["False", "1 chat gpt-4o"]


def test_sdk_disabled_records_nothing_and_changes_nothing(mock):
    code = (
        APP_PROVIDERS_AFTER_IMPORT
        + CALL.format(base=mock.openai_base_url)
        + """
print(len(exporter.get_finished_spans()))
"""
    )
    result = _run(code, {"OTEL_SDK_DISABLED": "true"})
    assert result.stdout.strip() == "0"


def test_opentelemetry_instrument_finds_our_entry_points(mock, tmp_path: Path):
    app = tmp_path / "app.py"
    # The call runs on a pool thread: attributes follow it there on this path too.
    call = CALL.format(base=mock.openai_base_url).replace(
        "client.chat.completions.create(", "call = lambda: client.chat.completions.create("
    )
    app.write_text(
        call
        + "import otel_llm\nfrom concurrent.futures import ThreadPoolExecutor\n"
        + "with otel_llm.attributes(feature='triage'), ThreadPoolExecutor(1) as pool:\n"
        + "    pool.submit(call).result()\n"
    )
    instrument = Path(sys.executable).parent / "opentelemetry-instrument"
    result = _run(
        "",
        {
            "OTEL_TRACES_EXPORTER": "console",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "httpx",
        },
        args=[str(instrument), sys.executable, str(app)],
    )
    assert '"name": "chat gpt-4o"' in result.stdout
    assert '"gen_ai.provider.name": "openai"' in result.stdout
    assert '"otel_llm.feature": "triage"' in result.stdout


def test_flush_is_bounded_when_the_endpoint_is_down(mock):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    code = "import otel_llm.auto\nimport otel_llm, time\n" + CALL.format(base=mock.openai_base_url)
    code += "start = time.monotonic()\notel_llm.flush(2)\nprint(round(time.monotonic() - start, 1))\n"
    result = _run(code, {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{dead_port}"})
    # flush(2) returns at its deadline although the exporter is still retrying.
    assert float(result.stdout.strip().splitlines()[-1]) <= 3.0

"""Scale-out: one agent (collector/agent.yaml) load-balancing to two gateways (config.yaml +
gateway.yaml), all real otelcol-llm processes on loopback. Every span of a trace must land on the
same gateway, even when the trace's spans reach the agent in different requests."""

from __future__ import annotations

import os
from collections import defaultdict

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_llm.testing.stack import COLLECTOR_DIR, Collector, Service, find_binary, free_port, wait_until

TRACES = 300
SPANS_PER_TRACE = 6


class Agent(Service):
    name = "agent"

    def __init__(self, workdir, gateway_endpoints):
        super().__init__(workdir)
        self.binary = find_binary(os.environ.get("OTELCOL_LLM", ".cache/bin/otelcol-llm"), "otelcol-llm")
        self.grpc_port, self.http_port, self.health_port, self.metrics_port = (free_port() for _ in range(4))
        self.env = {
            "AGENT_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{self.grpc_port}",
            "AGENT_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{self.http_port}",
            "AGENT_HEALTH_ENDPOINT": f"127.0.0.1:{self.health_port}",
            "AGENT_METRICS_PORT": str(self.metrics_port),
            "AGENT_STORAGE_DIR": str(workdir / "storage"),
            "GATEWAY_ENDPOINTS": "[" + ", ".join(gateway_endpoints) + "]",
            "GATEWAY_INSECURE": "true",
        }

    def command(self):
        return [self.binary, f"--config={COLLECTOR_DIR / 'agent.yaml'}"]

    def environment(self):
        return {**os.environ, **self.env}

    def ready_url(self):
        return f"http://127.0.0.1:{self.health_port}/"


@pytest.fixture
def tiers(tmp_path):
    gateways = [
        Collector(
            tmp_path / f"gateway-{index}",
            "http://127.0.0.1:9/api/v1/write",  # no metrics in this test
            configs=[
                COLLECTOR_DIR / "config.yaml",
                COLLECTOR_DIR / "gateway.yaml",
                COLLECTOR_DIR / "config-local.yaml",
            ],
        )
        for index in range(2)
    ]
    agent = Agent(tmp_path / "agent", [f"127.0.0.1:{gateway.grpc_port}" for gateway in gateways])
    services = [*gateways, agent]
    try:
        for service in services:
            service.start()
        yield agent, gateways
    finally:
        for service in reversed(services):
            service.stop()


def test_every_span_of_a_trace_reaches_the_same_gateway(tiers):
    agent, gateways = tiers
    provider = TracerProvider(resource=Resource.create({"service.name": "gateway-test"}))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{agent.http_port}/v1/traces"))
    )
    tracer = provider.get_tracer("gateway-test")
    roots = []
    for index in range(TRACES):
        root = tracer.start_span(f"request {index}")
        roots.append(root)
    # One span of every trace per round, each round flushed on its own: a trace's spans reach the
    # agent in SPANS_PER_TRACE different requests, so only routing by trace id keeps them together.
    for round_number in range(SPANS_PER_TRACE - 1):
        for root in roots:
            with tracer.start_as_current_span(
                f"step {round_number}", context=trace.set_span_in_context(root)
            ):
                pass
        provider.force_flush()
    for root in roots:
        root.end()
    provider.force_flush()
    provider.shutdown()

    def spans_by_gateway():
        found = [gateway.spans() for gateway in gateways]
        return found if sum(len(spans) for spans in found) >= TRACES * SPANS_PER_TRACE else None

    try:
        found = wait_until(spans_by_gateway, 60, interval=0.5, what="every span at the gateways")
    except Exception:
        counts = [len(gateway.spans()) for gateway in gateways]
        pytest.fail(f"gateways received {counts} spans, expected {TRACES * SPANS_PER_TRACE} in total")
    gateways_of_trace = defaultdict(set)
    spans_of_trace = defaultdict(int)
    for index, spans in enumerate(found):
        for span in spans:
            gateways_of_trace[span["traceId"]].add(index)
            spans_of_trace[span["traceId"]] += 1
    assert len(gateways_of_trace) == TRACES
    split = [trace_id for trace_id, where in gateways_of_trace.items() if len(where) > 1]
    assert split == []
    assert set(spans_of_trace.values()) == {SPANS_PER_TRACE}
    per_gateway = [sum(1 for where in gateways_of_trace.values() if index in where) for index in range(2)]
    print(f"\ntraces per gateway: {per_gateway}, split traces: {len(split)}")
    assert all(count > TRACES // 5 for count in per_gateway), per_gateway

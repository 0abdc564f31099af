"""What content capture costs the caller: latency of instrumented calls with capture `all` vs `off`.

Each variant runs in a fresh process (content settings are read at instrument()), with OpenAI chat
calls through the real SDK to the in-process mock transport (no network), the metrics and spans
going to in-memory exporters. The caller's latency is timed around each SDK call, as wall time
and as the calling thread's own CPU time (time.thread_time); Presidio runs on otel-llm's content
worker, so with `all` the caller's thread pays only for the capture decision and for building the
message JSON, while wall time also shows the worker competing for the GIL. Prints numbers, asserts nothing.

    python benchmarks/capture.py [--calls 2000] [--warmup 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

VARIANT = r"""
import json, os, sys, time, statistics
import httpx2, openai
from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
import otel_llm
from otel_llm.testing import mock_transport

mode, calls, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
spans = InMemorySpanExporter()
tracer_provider = TracerProvider(); tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
trace.set_tracer_provider(tracer_provider)
metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))
logs = InMemoryLogRecordExporter()
_logs.set_logger_provider(LoggerProvider()); _logs.get_logger_provider().add_log_record_processor(SimpleLogRecordProcessor(logs))
if mode != "bare":
    otel_llm.instrument(capture_content=mode)
client = openai.OpenAI(base_url="http://mock/v1", api_key="x", http_client=httpx2.Client(transport=mock_transport()))
messages = [
    {"role": "system", "content": "You are a support assistant for Example Corp. Answer briefly and politely."},
    {"role": "user", "content": "Hi, I am Maria Lopez, maria.lopez@example.org, +1 415 555 0132. My card 4111 1111 1111 1111 was charged twice."},
]
# Let the content worker load Presidio first, so the timed calls measure the steady state.
if mode == "all":
    client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    otel_llm.flush(120)
latencies = []
cpu = []
for i in range(warmup + calls):
    started = time.perf_counter()
    cpu_started = time.thread_time()
    client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    if i >= warmup:
        cpu.append(time.thread_time() - cpu_started)
        latencies.append(time.perf_counter() - started)
    if i % 200 == 199:
        otel_llm.flush(120)  # keep the worker's backlog from growing without bound
otel_llm.flush(120)
events = len(logs.get_finished_logs())
latencies.sort()
print(json.dumps({"mode": mode, "p50_us": latencies[len(latencies)//2]*1e6, "mean_us": statistics.fmean(latencies)*1e6,
                  "p99_us": latencies[int(len(latencies)*0.99)]*1e6, "cpu_us": statistics.fmean(cpu)*1e6, "events": events}))
"""


def run(mode: str, calls: int, warmup: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", VARIANT, mode, str(calls), str(warmup)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[dict]] = {"bare": [], "off": [], "all": []}
    started = time.monotonic()
    for _ in range(args.rounds):
        for mode in results:
            results[mode].append(run(mode, args.calls, args.warmup))
    print(f"{'capture':<8} {'p50 us':>9} {'mean us':>9} {'p99 us':>9} {'caller CPU us':>14} {'events':>7}")
    summary = {}
    for mode, rows in results.items():
        p50 = statistics.median(r["p50_us"] for r in rows)
        mean = statistics.median(r["mean_us"] for r in rows)
        p99 = statistics.median(r["p99_us"] for r in rows)
        cpu = statistics.median(r["cpu_us"] for r in rows)
        summary[mode] = (p50, mean, cpu)
        print(f"{mode:<8} {p50:>9.1f} {mean:>9.1f} {p99:>9.1f} {cpu:>14.1f} {rows[-1]['events']:>7}")
    print(
        f"\ncapture all / off: caller-thread CPU {summary['all'][2] / summary['off'][2]:.2f}x; "
        f"wall latency p50 {summary['all'][0] / summary['off'][0]:.2f}x, mean {summary['all'][1] / summary['off'][1]:.2f}x"
        f"  (off / bare: p50 {summary['off'][0] / summary['bare'][0]:.2f}x)"
        "\nWall latency includes the GIL: the content worker's Presidio work runs between this loop's"
        " calls, which here follow each other with no network wait (a real LLM call waits 100s of ms)."
        f"\n({args.rounds} rounds of {args.calls} calls per variant, medians; {time.monotonic() - started:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

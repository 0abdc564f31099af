"""What each guard costs per call, counted in memory and, when `redis-server` is installed, in a
real Redis on loopback: first the guards' own work (before + after the call, in a loop), then
instrumented OpenAI chat calls through the real SDK to the in-process mock transport (no network)
without guards and with each guard (the caller thread's CPU time per call, median over rounds; on
a busy machine this row's noise is larger than an in-memory guard). Prints numbers, asserts nothing.

    python benchmarks/guards.py [--calls 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys

VARIANT = r"""
import json, sys, time
import httpx2, openai
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
import otel_llm
from otel_llm.guards import Budget, LoopGuard, RateLimit
from otel_llm.testing import mock_transport

variant, store, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
provider = TracerProvider(); provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
trace.set_tracer_provider(provider)
metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))
guards = {
    "none": {},
    "budget": {"budgets": [Budget(limit_usd=1e6)]},
    "rate_limit": {"rate_limits": [RateLimit(requests_per_minute=1e9, tokens_per_minute=1e12)]},
    "loop": {"loop_guard": LoopGuard(max_repeats=10**9)},
}
guards["all"] = {**guards["budget"], **guards["rate_limit"], **guards["loop"]}
settings = dict(guards[variant])
if settings and store != "memory":
    settings["guard_store"] = store
otel_llm.instrument(**settings)
client = openai.OpenAI(base_url="http://mock/v1", api_key="x", http_client=httpx2.Client(transport=mock_transport()))
messages = [{"role": "user", "content": "Summarise the refund policy for order 1234 in two sentences."}]
for _ in range(200):
    client.chat.completions.create(model="gpt-4o-mini", messages=messages, max_tokens=200)
cpu = []
for _ in range(calls):
    started = time.thread_time()
    client.chat.completions.create(model="gpt-4o-mini", messages=messages, max_tokens=200)
    cpu.append(time.thread_time() - started)
cpu.sort()
print(json.dumps({"median_us": cpu[len(cpu) // 2] * 1e6}))
"""


def run(variant: str, store: str, calls: int) -> float:
    out = subprocess.run(
        [sys.executable, "-c", VARIANT, variant, store, str(calls)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["median_us"]


DIRECT = r"""
import json, sys, time
from otel_llm.cost import PriceBook
from otel_llm.guard_store import MemoryStore, RedisStore
from otel_llm.guards import Budget, CallInfo, Guards, LoopGuard, RateLimit, Ticket

variant, store, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
prices = PriceBook()
prices.warm_up()
kinds = {
    "budget": {"budgets": (Budget(limit_usd=1e9),)},
    "rate_limit": {"rate_limits": (RateLimit(requests_per_minute=1e12, tokens_per_minute=1e15),)},
    "loop": {"loop_guard": LoopGuard(max_repeats=10**12)},
}
kinds["all"] = {**kinds["budget"], **kinds["rate_limit"], **kinds["loop"]}
backend = MemoryStore() if store == "memory" else RedisStore(store)
guards = Guards(store=backend, prices=prices, **kinds[variant])
info = CallInfo("openai", "gpt-4o-mini", {"messages": [{"role": "user", "content": "Summarise the refund policy for order 1234."}], "max_tokens": 200})
usage = (40, 120, 0, 0)
for _ in range(200):
    guards.after(guards.before(info, Ticket()), info, usage)
started = time.process_time()
for _ in range(calls):
    guards.after(guards.before(info, Ticket()), info, usage)
print(json.dumps({"us": (time.process_time() - started) / calls * 1e6}))
"""


def direct(variant: str, store: str, calls: int) -> float:
    out = subprocess.run(
        [sys.executable, "-c", DIRECT, variant, store, str(calls)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["us"]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    stores = ["memory"]
    server = None
    if shutil.which("redis-server"):
        from otel_llm.testing.redis_server import RedisServer

        server = RedisServer().__enter__()
        stores.append(server.url)
    try:
        print("Guard work per call (before + after, CPU time of this process; Redis: its client side):")
        print(f"{'store':8s} {'guards':12s} {'us/call':>10s}")
        for store in stores:
            label = "memory" if store == "memory" else "redis"
            for variant in ("budget", "rate_limit", "loop", "all"):
                value = statistics.median(direct(variant, store, args.calls) for _ in range(args.rounds))
                print(f"{label:8s} {variant:12s} {value:10.1f}")
        print("\nInstrumented SDK calls end to end (mock transport), caller thread CPU per call:")
        print(f"{'store':8s} {'guards':12s} {'CPU us/call':>12s} {'+ vs none':>10s}")
        for store in stores:
            results = {}
            for variant in ("none", "budget", "rate_limit", "loop", "all"):
                results[variant] = statistics.median(
                    run(variant, store, args.calls) for _ in range(args.rounds)
                )
            for variant, value in results.items():
                label = "memory" if store == "memory" else "redis"
                extra = value - results["none"]
                print(f"{label:8s} {variant:12s} {value:12.1f} {extra:+10.1f}")
    finally:
        if server is not None:
            server.stop()
    print(f"({args.rounds} rounds of {args.calls} calls per row, medians of the caller thread's CPU time)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What a collector outage costs the app: call latency and memory while the collector is away.

Runs the steady workload (otel_llm.testing.workload: OpenAI chat, OpenAI stream and Anthropic
calls against the mock provider over real HTTP) at --rate calls/s for --seconds, in a fresh
process per scenario, exporting OTLP to the real local collector:

  bare          OTEL_SDK_DISABLED=true: the SDK calls without telemetry (the reference)
  steady        instrumented, collector up throughout
  outage        instrumented, collector stopped (SIGTERM) from --outage-start for --outage seconds
  crash         instrumented, collector killed (SIGKILL) at --outage-start, restarted 3 s later

Latency is split into phases (before / during / after the outage window) and measured inside the
app around each SDK call. It prints numbers and asserts nothing.

    python benchmarks/outage.py [--rate 50] [--seconds 40] [--outage-start 10] [--outage 20]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from otel_llm.testing import MockProvider, workload
from otel_llm.testing.stack import Stack, wait_until


def run_scenario(stack: Stack, mock: MockProvider, name: str, args: argparse.Namespace) -> dict:
    service = f"bench-{name}"
    summary_path = Path(tempfile.mkdtemp()) / "summary.json"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
        **stack.app_environment(service),
    }
    if name == "bare":
        env["OTEL_SDK_DISABLED"] = "true"
    phases = f"{args.outage_start},{args.outage_start + args.outage}"
    command = workload.command(
        mock.openai_base_url, mock.anthropic_base_url, args.rate, args.seconds, summary_path, phases=phases
    )
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    # The workload starts timing after its imports; wait for its first span-less second to pass.
    started = time.monotonic()
    startup = 2.0
    if name in ("outage", "crash"):
        time.sleep(startup + args.outage_start)
        if name == "outage":
            stack.collector.stop(signal.SIGTERM)
            time.sleep(args.outage)
        else:
            stack.collector.kill()
            time.sleep(3)
        stack.collector.start()
    process.wait(timeout=args.seconds + 120)
    summary = json.loads(summary_path.read_text())
    summary["scenario"] = name
    summary["elapsed"] = time.monotonic() - started
    if name != "bare":

        def received() -> int:
            return sum(1 for s in stack.collector.spans() if s["resource"].get("service.name") == service)

        try:
            wait_until(lambda: received() >= summary["calls"], 60, interval=1.0)
        except Exception:
            pass
        summary["spans_received"] = received()
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--outage-start", type=float, default=10.0)
    parser.add_argument("--outage", type=float, default=20.0)
    parser.add_argument("--scenarios", default="bare,steady,outage,crash")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    results = []
    with MockProvider() as mock, Stack(Path(tempfile.mkdtemp(prefix="otel-llm-bench-"))) as stack:
        for name in args.scenarios.split(","):
            print(f"running {name} ({args.seconds:.0f} s at {args.rate:.0f} calls/s)...", flush=True)
            results.append(run_scenario(stack, mock, name, args))
    print(
        f"\n{'scenario':<8} {'phase':<8} {'calls':>6} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} "
        f"{'maxRSS MB':>10} {'spans in':>9} {'lost':>5} {'raised':>6}"
    )
    baseline = {}
    for result in results:
        for index, phase in enumerate(result["latency_by_phase"]):
            label = ("before", "outage", "after")[index] if len(result["latency_by_phase"]) == 3 else "all"
            received = result.get("spans_received")
            lost = "" if received is None else result["calls"] - received
            print(
                f"{result['scenario']:<8} {label:<8} {phase['count']:>6} {phase['p50_ms']:>8.2f} "
                f"{phase['p99_ms']:>8.2f} {phase['mean_ms']:>8.2f} "
                f"{format(result['max_rss_mb'], '.1f') if index == 0 else '':>10} "
                f"{'' if received is None or index else received:>9} {'' if index else lost:>5} "
                f"{len(result['unexpected_exceptions']) if not index else '':>6}"
            )
            if result["scenario"] == "bare":
                baseline[label] = phase["p50_ms"]
    for result in results:
        if result["scenario"] != "bare":
            ratios = [
                f"{label} {phase['p50_ms'] / baseline[label]:.2f}x"
                for label, phase in zip(
                    ("before", "outage", "after"), result["latency_by_phase"], strict=False
                )
                if baseline.get(label)
            ]
            print(f"p50 vs bare, {result['scenario']}: {', '.join(ratios)}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "outage-benchmark"
    sys.exit(main())

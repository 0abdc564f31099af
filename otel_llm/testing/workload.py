"""A steady, instrumented LLM workload against the mock provider, for end-to-end tests, outage
drills and benchmarks. It records what the app itself saw, to compare with what the backends got.

    python -m otel_llm.testing.workload --openai-base-url URL --anthropic-base-url URL \\
        --rate 50 --seconds 40 --error-every 10 --summary out.json

Each tick makes one call, cycling through OpenAI chat, OpenAI stream and Anthropic messages; every
`--error-every`-th call asks the mock for a 500 (the SDK raises, the app catches it, as apps do).
The summary holds calls made, expected errors, unexpected exceptions (must be none: the
instrumentation may never raise into the app), token totals from the responses, and latencies.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(int(fraction * len(ordered)), len(ordered) - 1)]


def latency_summary(latencies: list[float]) -> dict[str, float]:
    return {
        "count": len(latencies),
        "p50_ms": _percentile(latencies, 0.50) * 1000,
        "p99_ms": _percentile(latencies, 0.99) * 1000,
        "mean_ms": (statistics.fmean(latencies) * 1000) if latencies else 0.0,
    }


def run(
    openai_base_url: str,
    anthropic_base_url: str,
    rate: float,
    seconds: float,
    error_every: int = 0,
    phases: list[float] | None = None,
) -> dict[str, Any]:
    import anthropic
    import openai

    import otel_llm

    otel_llm.instrument()
    oai = openai.OpenAI(base_url=openai_base_url, api_key="workload", max_retries=0)
    ant = anthropic.Anthropic(base_url=anthropic_base_url, api_key="workload", max_retries=0)
    tokens: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    expected_errors = 0
    unexpected: list[str] = []
    # Latency per phase: phase boundaries (seconds since start) let an outage drill compare
    # before / during / after without timing the app from outside.
    boundaries = sorted(phases or [])
    latencies: list[list[float]] = [[] for _ in range(len(boundaries) + 1)]

    def one_call(index: int) -> None:
        nonlocal expected_errors
        fault = {"x-mock-fault": "500"} if error_every and index % error_every == error_every - 1 else {}
        kind = ("openai_chat", "openai_stream", "anthropic")[index % 3]
        try:
            if kind == "openai_chat":
                response = oai.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=[{"role": "user", "content": f"question {index}"}],
                    extra_headers=fault,
                )
                tokens["input"] += response.usage.prompt_tokens
                tokens["output"] += response.usage.completion_tokens
            elif kind == "openai_stream":
                stream = oai.chat.completions.create(
                    model="gpt-4o",
                    messages=[{"role": "user", "content": f"stream {index}"}],
                    stream=True,
                    stream_options={"include_usage": True},
                    extra_headers=fault,
                )
                for chunk in stream:
                    if chunk.usage:
                        tokens["input"] += chunk.usage.prompt_tokens
                        tokens["output"] += chunk.usage.completion_tokens
            else:
                message = ant.messages.create(
                    model="claude-haiku-4-5",
                    max_tokens=100,
                    messages=[{"role": "user", "content": f"message {index}"}],
                    extra_headers=fault,
                )
                tokens["input"] += message.usage.input_tokens
                tokens["output"] += message.usage.output_tokens
            calls[kind] += 1
        except (openai.InternalServerError, anthropic.InternalServerError):
            if not fault:
                unexpected.append(f"call {index}: unexpected provider error")
            expected_errors += 1
            calls[kind] += 1
        except Exception as exc:  # anything else reaching the app is a failure of ours
            unexpected.append(f"call {index}: {type(exc).__name__}: {exc}")

    start = time.monotonic()
    index = 0
    interval = 1.0 / rate
    while True:
        due = start + index * interval
        now = time.monotonic()
        if due - start >= seconds:
            break
        if due > now:
            time.sleep(due - now)
        began = time.perf_counter()
        one_call(index)
        elapsed = time.perf_counter() - began
        phase = sum(1 for boundary in boundaries if due - start >= boundary)
        latencies[phase].append(elapsed)
        index += 1
    flushed = otel_llm.flush(30.0)
    return {
        "calls": sum(calls.values()),
        "calls_by_kind": dict(calls),
        "errors": expected_errors,
        "unexpected_exceptions": unexpected,
        "tokens": dict(tokens),
        "latency_by_phase": [latency_summary(values) for values in latencies],
        "flushed": flushed,
        "wall_seconds": time.monotonic() - start,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def command(
    openai_base_url: str,
    anthropic_base_url: str,
    rate: float,
    seconds: float,
    summary: Path,
    error_every: int = 0,
    phases: str = "",
) -> list[str]:
    """The argv that runs this workload in a fresh Python process."""
    return [
        sys.executable,
        "-m",
        "otel_llm.testing.workload",
        f"--openai-base-url={openai_base_url}",
        f"--anthropic-base-url={anthropic_base_url}",
        f"--rate={rate}",
        f"--seconds={seconds}",
        f"--error-every={error_every}",
        f"--phases={phases}",
        f"--summary={summary}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--openai-base-url", required=True)
    parser.add_argument("--anthropic-base-url", required=True)
    parser.add_argument("--rate", type=float, default=10.0, help="calls per second")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--error-every", type=int, default=0, help="every N-th call gets a 500 (0: none)")
    parser.add_argument("--phases", default="", help="comma-separated phase boundaries in seconds")
    parser.add_argument("--summary", type=Path, help="write the JSON summary here (default: stdout)")
    args = parser.parse_args(argv)
    phases = [float(value) for value in args.phases.split(",") if value]
    summary = run(
        args.openai_base_url, args.anthropic_base_url, args.rate, args.seconds, args.error_every, phases
    )
    text = json.dumps(summary, indent=2)
    if args.summary:
        args.summary.write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

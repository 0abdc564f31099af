"""Losing the collector never hurts the app: absent at start, stopped for 20 s under load, crashed,
frozen. The app's calls raise nothing, and what it sent during the outage arrives afterwards.

Each test runs its own stack, because it stops and restarts the collector. Latency during the
outage is measured by benchmarks/outage.py, not asserted here.
"""

from __future__ import annotations

import json
import signal
import time

import pytest
from conftest import finish_workload, run_workload

from otel_llm.testing.stack import Stack, wait_until


@pytest.fixture
def outage_stack(tmp_path):
    with Stack(tmp_path) as running:
        yield running


def _spans_of(stack, service):
    return [s for s in stack.collector.spans() if s["resource"].get("service.name") == service]


def _wait_for_all(stack, service, expected, timeout=90.0):
    """Waits until every call is in the traces file and in Prometheus; returns (spans, count)."""
    query = f'sum(gen_ai_client_operation_duration_seconds_count{{job="{service}"}})'
    try:
        wait_until(lambda: len(_spans_of(stack, service)) >= expected, timeout, interval=0.5, what="spans")
        wait_until(lambda: stack.prometheus.value(query) == expected, timeout, interval=0.5, what=query)
    except Exception:
        pass
    return len(_spans_of(stack, service)), stack.prometheus.value(query)


def _report(name, summary, spans, counted):
    print(
        f"\n{name}: calls={summary['calls']} spans_received={spans} prometheus_count={counted} "
        f"latency_by_phase={json.dumps(summary['latency_by_phase'])} "
        f"export_failures={summary['export_failures']}"
    )


def test_collector_absent_when_the_app_starts(outage_stack, mock):
    service = "outage-absent"
    outage_stack.collector.stop()
    process, summary_path = run_workload(outage_stack, mock, service, rate=20, seconds=6, background=True)
    time.sleep(3)
    outage_stack.collector.start()
    summary = finish_workload(process, summary_path, timeout=120)
    spans, counted = _wait_for_all(outage_stack, service, summary["calls"])
    _report("absent at start", summary, spans, counted)
    assert summary["calls"] == 120
    assert spans == summary["calls"]
    assert counted == summary["calls"]


def test_graceful_restart_after_a_20_second_outage_loses_nothing(outage_stack, mock):
    """50 calls/s; the collector gets SIGTERM at 5 s and comes back at 25 s."""
    service = "outage-20s"
    process, summary_path = run_workload(
        outage_stack, mock, service, rate=50, seconds=30, phases="5,25", background=True
    )
    time.sleep(5)
    outage_stack.collector.stop(signal.SIGTERM)
    time.sleep(20)
    outage_stack.collector.start()
    summary = finish_workload(process, summary_path, timeout=180)
    spans, counted = _wait_for_all(outage_stack, service, summary["calls"])
    _report("20 s outage, graceful", summary, spans, counted)
    assert summary["calls"] >= 1400  # the app kept its pace through the outage
    assert spans == summary["calls"]
    assert counted == summary["calls"]


def test_crash_loses_at_most_what_the_collector_held_in_memory(outage_stack, mock):
    """SIGKILL mid-load, down for 20 s: what the app sent during the outage still arrives; only
    spans the collector had accepted but not yet written are lost (its batch timeout is 1 s, so
    about a second of traffic). Metrics heal fully, since the app exports cumulative totals."""
    service = "outage-crash"
    rate = 50
    process, summary_path = run_workload(outage_stack, mock, service, rate=rate, seconds=30, background=True)
    time.sleep(5)
    outage_stack.collector.kill()
    time.sleep(20)
    outage_stack.collector.start()
    summary = finish_workload(process, summary_path, timeout=180)
    spans, counted = _wait_for_all(outage_stack, service, summary["calls"], timeout=30)
    lost = summary["calls"] - spans
    _report(f"crash (SIGKILL) and 20 s down: {lost} spans lost", summary, spans, counted)
    assert summary["calls"] >= 1400
    assert 0 <= lost <= 3 * rate  # measured: about 1.3 s of traffic at most
    assert counted == summary["calls"]


def test_a_frozen_collector_only_delays_telemetry(outage_stack, mock):
    """SIGSTOP for 10 s: connections hang instead of failing; nothing is lost once it resumes."""
    service = "outage-frozen"
    process, summary_path = run_workload(outage_stack, mock, service, rate=30, seconds=16, background=True)
    time.sleep(3)
    outage_stack.collector.process.send_signal(signal.SIGSTOP)
    try:
        time.sleep(10)
    finally:
        outage_stack.collector.process.send_signal(signal.SIGCONT)
    summary = finish_workload(process, summary_path, timeout=120)
    spans, counted = _wait_for_all(outage_stack, service, summary["calls"])
    _report("frozen 10 s", summary, spans, counted)
    assert spans == summary["calls"]
    assert counted == summary["calls"]

"""Fault scenarios drive every alert end to end: instrumented apps (real SDK clients) against the
mock provider's faults -> the real collector -> real Prometheus evaluating the e2e profile of the
generated rules (the same expressions with short windows, `alerts/generate.py --profile e2e`) ->
real Alertmanager -> the webhook, with the runbook link in each notification.

All scenarios run at once, each app under its own service name (`job`), so the whole file takes a
few minutes. The time from each fault's start to its notification is printed (run with `-s`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from otel_llm.testing.stack import Collector, Stack, free_port

ROOT = Path(__file__).resolve().parent.parent
RUNBOOKS = ROOT / "docs" / "runbooks"

# One app, its behaviour chosen by the scenario name. Every call is a real SDK call to the mock.
APP = textwrap.dedent(
    """
    import sys, threading, time
    import openai
    import otel_llm
    from otel_llm import validators

    scenario, base_url, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    settings = {}
    if scenario == "runaway-loop":
        # The month's budget only warns; the day's stops the loop once it has spent twice as much.
        settings["budgets"] = [
            otel_llm.Budget(0.002, window="month", action="warn", name="monthly"),
            otel_llm.Budget(0.004, window="day", action="block", name="runaway"),
        ]
    otel_llm.instrument(**settings)
    retries = 2 if scenario == "429-storm" else 0
    client = openai.OpenAI(base_url=base_url, api_key="e2e", max_retries=retries)
    deadline = time.monotonic() + seconds
    MESSAGES = [{"role": "user", "content": "Summarise the ticket"}]

    def chat(model="gpt-4o-mini", headers=None, content=None, **extra):
        messages = MESSAGES if content is None else [{"role": "user", "content": content}]
        try:
            return client.chat.completions.create(
                model=model, messages=messages, extra_headers=headers or {}, **extra
            )
        except (openai.APIError, otel_llm.BudgetExceededError, otel_llm.OutputValidationError):
            return None

    def slow_streams():
        while time.monotonic() < deadline:
            stream = client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, stream=True,
                stream_options={"include_usage": True}, extra_headers={"x-mock-fault": "slow:1.5"},
            )
            for _ in stream:
                pass

    n = 0
    if scenario == "slow":
        workers = [threading.Thread(target=slow_streams) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    while scenario != "slow" and time.monotonic() < deadline:
        n += 1
        if scenario == "5xx":
            chat(headers={"x-mock-fault": "500"} if n % 2 else None)
        elif scenario == "429-storm":
            chat(headers={"x-mock-fault": "429"})
        elif scenario == "invalid-output":
            with otel_llm.expect(validators.json()):
                chat(headers={"x-mock-output": "Sure! Here is the JSON you asked for"})
        elif scenario == "runaway-loop":
            # The same request again and again, until the budget blocks it. max_tokens bounds what
            # each call reserves (otherwise the model's whole output limit is reserved).
            chat(model="gpt-4o", max_tokens=20)
            time.sleep(0.05)
            continue
        elif scenario == "model-change":
            chat(model="gpt-4.1-nano")
        elif scenario in ("pii-burst", "redactor-broken"):
            chat(content=f"Customer jane.doe{n}@example.com, card 4111 1111 1111 1111, wants a refund")
        elif scenario == "issue-reports":
            with otel_llm.attributes(feature="support-reply"):
                answer = chat()
            otel_llm.report_issue(answer, category="wrong_answer")
        else:
            chat()
        time.sleep(0.2 if scenario != "traffic-stop" else 0.5)
    otel_llm.flush(10)
    """
)

# scenario -> (how long the app runs, extra environment, the alerts it must raise)
SCENARIOS: dict[str, tuple[float, dict[str, str], tuple[str, ...]]] = {
    "5xx": (90, {}, ("HighErrorRate",)),
    # Every call still gets 429 after the SDK's retries, so the calls fail too.
    "429-storm": (90, {}, ("ProviderRateLimited", "HighErrorRate")),
    "slow": (90, {}, ("LatencyHigh", "TimeToFirstChunkHigh")),
    "invalid-output": (90, {}, ("ValidationFailureRateHigh",)),
    "runaway-loop": (90, {}, ("BudgetBlocking", "CostBurnRateHigh")),
    "model-change": (150, {}, ("ModelVersionChanged",)),
    "traffic-stop": (15, {}, ("TrafficStopped",)),
    "pii-burst": (
        90,
        {"OTEL_LLM_CAPTURE_CONTENT": "sampled", "OTEL_LLM_SAMPLE_RATE": "1"},
        ("PIIRedactionSpike",),
    ),
    "redactor-broken": (
        90,
        {"OTEL_LLM_CAPTURE_CONTENT": "all", "OTEL_LLM_SPACY_MODEL": "/nonexistent/spacy-model"},
        ("ContentDropped", "InstrumentationErrors"),
    ),
    "issue-reports": (90, {}, ("QualityReportsSpike",)),
    "export-failing": (90, {}, ()),  # TelemetryExportFailing is the collector's alert, checked apart
}
# Consequences a scenario may raise besides its own alerts: the 429 storm's retries, with the
# SDK's backoff, make its calls slower than the e2e profile's 1 s latency threshold.
MAY_ALSO_RAISE = {"429-storm": {"LatencyHigh"}}
# The model-change app answers with one model version, then (after this many seconds) another.
MODEL_SWITCH_AFTER = 45.0
DEADLINE = 300.0


def _kebab(alert: str) -> str:
    import re

    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", alert).lower()


@pytest.fixture(scope="module")
def alert_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Collector]]:
    """A stack loading the e2e profile of the rules, plus a second collector whose remote-write
    target is closed (its own metrics, scraped as job otel-collector, show the failing exports)."""
    workdir = tmp_path_factory.mktemp("alert-scenarios")
    rules = workdir / "rules"
    subprocess.run(
        [sys.executable, str(ROOT / "alerts" / "generate.py"), "--profile", "e2e", "--output", str(rules)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    stack = Stack(workdir / "stack", rule_for=None, rule_files=sorted(rules.glob("*.yml")))
    broken = Collector(workdir / "broken-collector", f"http://127.0.0.1:{free_port()}/api/v1/write")
    stack.prometheus.add_scrape_job("otel-collector", f"127.0.0.1:{broken.metrics_port}")
    with stack:
        broken.start()
        try:
            yield stack, broken
        finally:
            broken.stop()


def _start(stack: Stack, mock: Any, scenario: str, endpoint: str | None = None) -> subprocess.Popen[str]:
    seconds, extra, _ = SCENARIOS[scenario]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
        **stack.app_environment(f"e2e-alert-{scenario}"),
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=e2e,service.owner=team-llm",
        **extra,
    }
    if endpoint is not None:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    return subprocess.Popen(
        [sys.executable, "-c", APP, scenario, mock.openai_base_url, str(seconds)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.timeout(DEADLINE + 120)
def test_fault_scenarios_reach_the_webhook_with_their_runbooks(alert_stack, mock):
    stack, broken = alert_stack
    mock.response_model_overrides["gpt-4.1-nano"] = "gpt-4.1-nano-2025-04-14"
    started = time.monotonic()
    fault_start: dict[str, float] = {}
    apps: dict[str, subprocess.Popen[str]] = {}
    for scenario in SCENARIOS:
        endpoint = broken.otlp_http_endpoint if scenario == "export-failing" else None
        apps[scenario] = _start(stack, mock, scenario, endpoint)
        fault_start[scenario] = time.monotonic()
    expected = {
        (alert, f"e2e-alert-{scenario}"): scenario
        for scenario, (_, _, alerts) in SCENARIOS.items()
        for alert in alerts
    }
    expected[("TelemetryExportFailing", "otel-collector")] = "export-failing"
    # The heartbeat for a dead man's switch: Prometheus evaluates and Alertmanager delivers.
    expected[("Watchdog", None)] = "watchdog"
    fault_start["watchdog"] = started
    arrived: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
    switched = False
    try:
        while time.monotonic() - started < DEADLINE:
            now = time.monotonic()
            if not switched and now - fault_start["model-change"] >= MODEL_SWITCH_AFTER:
                mock.response_model_overrides["gpt-4.1-nano"] = "gpt-4.1-nano-2026-11-01"
                fault_start["model-change"] = now
                switched = True
            if apps["traffic-stop"].poll() is not None and "traffic-stop-ended" not in fault_start:
                fault_start["traffic-stop-ended"] = now
            for at, notification in stack.webhook.timed_notifications():
                for alert in notification.get("alerts", []):
                    key = (alert["labels"].get("alertname"), alert["labels"].get("job"))
                    if alert.get("status") == "firing" and key in expected and key not in arrived:
                        arrived[key] = (at, alert)
                        print(f"  {at - started:6.1f} s  {key[0]} ({key[1]})", flush=True)
            if set(expected) <= set(arrived):
                break
            time.sleep(1)
    finally:
        for app in apps.values():
            if app.poll() is None:
                app.terminate()
        errors = {name: app.communicate(timeout=30)[1] for name, app in apps.items()}
        mock.response_model_overrides.pop("gpt-4.1-nano", None)

    missing = sorted(set(expected) - set(arrived))
    firing = sorted({(a["labels"]["alertname"], a["labels"].get("job")) for a in stack.prometheus.alerts()})
    assert not missing, f"no notification for {missing}; Prometheus alerts: {firing}; app errors: " + str(
        {name: err[-500:] for name, err in errors.items() if "Traceback" in err}
    )

    print("\nalert                      scenario          fault -> notification")
    for (alert, job), (at, payload) in sorted(arrived.items(), key=lambda item: item[1][0]):
        scenario = expected[(alert, job)]
        start = fault_start["traffic-stop-ended" if scenario == "traffic-stop" else scenario]
        print(f"{alert:<26} {scenario:<17} {at - start:6.1f} s")
        runbook = payload["annotations"]["runbook_url"]
        assert runbook.endswith(f"/docs/runbooks/{_kebab(alert)}.md"), runbook
        assert (RUNBOOKS / f"{_kebab(alert)}.md").is_file(), runbook
        assert payload["annotations"]["summary"] and payload["annotations"]["description"]
        assert payload["labels"]["severity"] in ("critical", "warning", "info")
        if job not in ("otel-collector", None):
            assert payload["labels"]["service_owner"] == "team-llm"
            assert payload["labels"]["deployment_environment_name"] == "e2e"

    # No scenario raised an alert of another kind, except the two every workload here raises:
    # TrafficStopped once its app ended, and CostBurnRateHigh (the e2e monthly budget is $0.01).
    allowed_everywhere = {"TrafficStopped", "CostBurnRateHigh"}
    for notification in stack.webhook.notifications():
        for alert in notification.get("alerts", []):
            name, job = alert["labels"].get("alertname"), alert["labels"].get("job", "")
            if job.startswith("e2e-alert-") and name not in allowed_everywhere:
                scenario = job.removeprefix("e2e-alert-")
                assert (name, job) in expected or name in MAY_ALSO_RAISE.get(scenario, ()), (
                    f"unexpected {name} for {job}"
                )

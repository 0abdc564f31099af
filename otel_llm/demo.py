"""`make demo` / `python -m otel_llm.demo`: the whole path on this machine, with real binaries.

Starts the mock provider, the local collector (collector/config.yaml + the local overlay),
Prometheus with the alert rules and Alertmanager on loopback ports, then runs the sample app
(examples/sample_app.py: one `import otel_llm.auto` line) in its own process, exporting OTLP to
the collector like any app would. It prints where to look, the metrics as Prometheus has them,
one trace from the collector's output, and the alert notifications as Alertmanager sends them.

DEMO_SECONDS=N ends it after N seconds; otherwise it runs until Ctrl-C. Either way every
process it started is stopped. Needs a source checkout (the collector and alert configs).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

from .testing import MockProvider
from .testing.stack import REPO, Stack, StackError

SAMPLE_APP = REPO / "examples" / "sample_app.py"
SERVICE = "sample-app"

QUERIES = {
    "calls per second by model": "sum by (gen_ai_request_model) (rate(gen_ai_client_operation_duration_seconds_count[1m]))",
    "error ratio": 'sum(rate(gen_ai_client_operation_duration_seconds_count{error_type!=""}[5m])) / sum(rate(gen_ai_client_operation_duration_seconds_count[5m]))',
    "p95 latency (s)": "histogram_quantile(0.95, sum by (le) (rate(gen_ai_client_operation_duration_seconds_bucket[5m])))",
    "cost per hour (USD)": "sum(rate(otel_llm_cost_USD_total[5m])) * 3600",
    "tokens by type": "sum by (gen_ai_token_type) (gen_ai_client_token_usage_sum)",
}


def _graph_url(prometheus_url: str, expr: str) -> str:
    return f"{prometheus_url}/graph?" + urllib.parse.urlencode({"g0.expr": expr, "g0.tab": "1"})


def _start_app(stack: Stack, mock: MockProvider, log_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
        **stack.app_environment(SERVICE),
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=demo,service.owner=llm-team",
        "OPENAI_BASE_URL": mock.openai_base_url,
        "ANTHROPIC_BASE_URL": mock.anthropic_base_url,
        # The recommended capture mode: the review sample plus every failed call, redacted.
        "OTEL_LLM_CAPTURE_CONTENT": "sampled",
        "OTEL_LLM_SAMPLE_RATE": "0.1",
        "SAMPLE_APP_ROUNDS": "0",
        "SAMPLE_APP_PAUSE": "1",
    }
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, str(SAMPLE_APP)], env=env, stdout=log, stderr=subprocess.STDOUT
        )


def _stop_app(app: subprocess.Popen[bytes]) -> None:
    if app.poll() is None:
        app.send_signal(signal.SIGINT)  # the app flushes its telemetry on the way out
        try:
            app.wait(15)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait(5)


def _print_alerts(stack: Stack, shown: int) -> int:
    notifications = stack.webhook.notifications()
    for message in notifications[shown:]:
        for alert in message.get("alerts", []):
            labels, annotations = alert["labels"], alert.get("annotations", {})
            if labels.get("alertname") == "Watchdog":
                print(
                    "\n  HEARTBEAT: Watchdog (always firing: Prometheus evaluates the rules and Alertmanager "
                    "delivers;\n    in production it goes to your dead man's switch, receiver `heartbeat`)"
                )
                continue
            print(
                f"\n  ALERT {alert['status'].upper()}: {labels.get('alertname')} "
                f"(severity {labels.get('severity')}, job {labels.get('job')}, owner {labels.get('service_owner')})\n"
                f"    {annotations.get('summary', '')}\n"
                f"    runbook: {annotations.get('runbook_url', '-')}"
            )
    return len(notifications)


def _status_line(stack: Stack, elapsed: float) -> str:
    def value(expr: str) -> float:
        try:
            result = stack.prometheus.query(expr)
        except (StackError, OSError):
            return 0.0
        return sum(item["value"] for item in result)

    calls = value(f'sum(gen_ai_client_operation_duration_seconds_count{{job="{SERVICE}"}})')
    errors = value(f'sum(gen_ai_client_operation_duration_seconds_count{{job="{SERVICE}",error_type!=""}})')
    cost = value(f'sum(otel_llm_cost_USD_total{{job="{SERVICE}"}})')
    return f"  {elapsed:5.0f}s  calls in Prometheus: {calls:5.0f}  errors: {errors:3.0f}  cost: ${cost:.6f}"


def _print_metrics(stack: Stack) -> None:
    print("\nMetrics in Prometheus (series names as the collector translates them):")
    rows = stack.prometheus.query(
        f'sum by (gen_ai_provider_name, gen_ai_request_model, error_type) (gen_ai_client_operation_duration_seconds_count{{job="{SERVICE}"}})'
    )
    print(f"  {'provider':<10} {'model':<24} {'error':<22} calls")
    for row in sorted(rows, key=lambda r: sorted(r["metric"].items())):
        labels = row["metric"]
        print(
            f"  {labels.get('gen_ai_provider_name', ''):<10} {labels.get('gen_ai_request_model', ''):<24} "
            f"{labels.get('error_type', '-'):<22} {row['value']:.0f}"
        )
    for row in stack.prometheus.query(
        f'sum by (gen_ai_token_type) (gen_ai_client_token_usage_sum{{job="{SERVICE}"}})'
    ):
        print(f"  tokens {row['metric'].get('gen_ai_token_type')}: {row['value']:.0f}")
    for row in stack.prometheus.query(f'sum(otel_llm_cost_USD_total{{job="{SERVICE}"}})'):
        print(f"  cost: ${row['value']:.6f}")
    by_feature = f'by (otel_llm_feature, otel_llm_prompt_version) (otel_llm_feedback_score_{{}}{{{{job="{SERVICE}"}}}})'
    for row in stack.prometheus.query(f"sum {by_feature.format('sum')} / sum {by_feature.format('count')}"):
        labels = row["metric"]
        print(
            f"  user feedback, mean score for feature {labels.get('otel_llm_feature')} "
            f"(prompt {labels.get('otel_llm_prompt_version')}): {row['value']:.2f}"
        )
    for row in stack.prometheus.query(
        f'sum by (otel_llm_issue_category) (otel_llm_issue_reports_total{{job="{SERVICE}"}})'
    ):
        print(f"  issue reports ({row['metric'].get('otel_llm_issue_category')}): {row['value']:.0f}")


def _print_trace(stack: Stack) -> None:
    spans = [s for s in stack.collector.spans() if s["resource"].get("service.name") == SERVICE]
    if not spans:
        print("\nNo spans in the collector's output yet.")
        return
    streamed = [s for s in spans if s["attributes"].get("gen_ai.request.stream")] or spans
    span = streamed[0]
    print(f"\nOne span from {stack.collector.traces_path} (trace {span['traceId']}):")
    print(
        f"  {span['name']}  ({(int(span['endTimeUnixNano']) - int(span['startTimeUnixNano'])) / 1e6:.1f} ms)"
    )
    for key, value in sorted(span["attributes"].items()):
        print(f"    {key} = {value}")


def _print_content(stack: Stack) -> None:
    records = stack.collector.log_records(event_name="gen_ai.client.inference.operation.details")
    print(
        f"\nContent records (capture `sampled`: 10% review sample + failed calls, redacted by Presidio "
        f"on a background thread): {len(records)} in {stack.collector.logs_path}"
    )
    redacted = [r for r in records if "<EMAIL_ADDRESS>" in str(r.get("body"))] or records
    if redacted:
        record = redacted[0]
        print(f"  trace {record.get('traceId')}, span {record.get('spanId')}:")
        for line in _messages_of(record.get("body", {})):
            print(f"    {line}")
    reviews = stack.collector.log_records(event_name="otel_llm.review.sample")
    print(
        f"\nReview samples: {len(reviews)}. Export them for reviewers (a CSV with columns to fill in):\n"
        f"  otel-llm review export {stack.collector.logs_path} -o review.csv"
    )


def _messages_of(body: dict[str, Any]) -> list[str]:
    """Readable lines from an OTLP/JSON body holding the message JSON."""
    from .otlp_json import otlp_value

    value = otlp_value(body) or {}
    lines = []
    for key in ("gen_ai.system_instructions", "gen_ai.input.messages", "gen_ai.output.messages"):
        for message in value.get(key) or []:
            parts = message.get("parts", []) if isinstance(message, dict) else []
            text = " ".join(str(p.get("content", p.get("type"))) for p in parts if isinstance(p, dict))
            role = message.get("role", "system") if isinstance(message, dict) else "system"
            lines.append(f"{key.split('.')[1]:<7} {role:<9} {text[:100]}")
    return lines


def main() -> int:
    seconds = float(os.environ.get("DEMO_SECONDS", "0") or 0)
    workdir = Path(tempfile.mkdtemp(prefix="otel-llm-demo-"))
    print(f"otel-llm demo (working directory {workdir})")
    app: subprocess.Popen[bytes] | None = None
    try:
        with MockProvider() as mock, Stack(workdir, rule_for="0s") as stack:
            prometheus = stack.prometheus.url
            print(
                f"\n  mock provider   {mock.url}\n"
                f"  collector       OTLP {stack.collector.otlp_http_endpoint} (config: collector/config.yaml "
                "+ config-extras.yaml + config-local.yaml)\n"
                f"  Prometheus      {prometheus}   (alert rules: alerts/rules/, `for` shortened to 0s for the demo)\n"
                f"  Alertmanager    {stack.alertmanager.url}\n"
                f"  traces file     {stack.collector.traces_path}\n"
                f"  sample app log  {workdir / 'sample-app.log'}"
            )
            print("\nReady-made queries:")
            for title, expr in QUERIES.items():
                print(f"  {title}:\n    {_graph_url(prometheus, expr)}")
            mock.fail_next("429", 1)  # the first call is rate limited and retried by the SDK
            app = _start_app(stack, mock, workdir / "sample-app.log")
            how_long = f"for {seconds:.0f} s" if seconds else "until Ctrl-C"
            print(
                f"\nSample app running {how_long}; an alert notification will appear below when a rule fires."
            )
            started = time.monotonic()
            shown = 0
            next_status = 0.0
            while not seconds or time.monotonic() - started < seconds:
                if app.poll() is not None:
                    print(f"\nThe sample app exited with code {app.returncode}; see its log.")
                    break
                shown = _print_alerts(stack, shown)
                elapsed = time.monotonic() - started
                if elapsed >= next_status:
                    print(_status_line(stack, elapsed))
                    next_status = elapsed + 5
                time.sleep(0.5)
            _stop_app(app)
            time.sleep(3)  # the last export reaches Prometheus (remote-write WAL flushes every 2 s)
            _print_metrics(stack)
            _print_trace(stack)
            _print_content(stack)
            shown = _print_alerts(stack, shown)
            if not shown:
                print("\nNo alert notification arrived yet (it takes a few seconds after the first errors).")
            else:
                print(f"\n{shown} notification(s) received by the demo's webhook from Alertmanager.")
    except KeyboardInterrupt:
        print("\nStopping.")
    except StackError as exc:
        print(f"\nCould not run the stack: {exc}", file=sys.stderr)
        return 1
    finally:
        if app is not None:
            _stop_app(app)
    print("Everything the demo started has been stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

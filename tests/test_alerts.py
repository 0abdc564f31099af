"""alerts/: rules generated from alerts/config.yaml, their promtool unit tests, and Alertmanager's
routing, inhibition and notification templates, with the real binaries (promtool 2.42, amtool and
Alertmanager 0.25, the Debian packages `make test` installs: a missing one fails, never skips).

The delivery tests run alerts/alertmanager.yml itself in a real Alertmanager; a temporary copy
changes only where notifications go (receiver URLs and secret files point at a loopback server,
the SMTP host at a closed loopback port) and the first group's wait (1s instead of 30s).
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from conftest import require_tool

from otel_llm.testing.stack import Alertmanager, WebhookReceiver, free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent
ALERTS_DIR = ROOT / "alerts"
GENERATOR = ALERTS_DIR / "generate.py"
RULES = ALERTS_DIR / "rules" / "otel-llm.yml"
ALERTMANAGER_CONFIG = ALERTS_DIR / "alertmanager.yml"
TEMPLATES = ALERTS_DIR / "templates"
UNIT_TESTS = sorted((ALERTS_DIR / "tests").glob("*.yml"))

# Every alert, with the runbook it links (docs/runbooks/, written separately).
REQUIRED = {
    "HighErrorRate": "high-error-rate.md",
    "ProviderRateLimited": "provider-rate-limited.md",
    "LatencyHigh": "latency-high.md",
    "TimeToFirstChunkHigh": "time-to-first-chunk-high.md",
    "CostBurnRateHigh": "cost-burn-rate-high.md",
    "BudgetBlocking": "budget-blocking.md",
    "ValidationFailureRateHigh": "validation-failure-rate-high.md",
    "PIIRedactionSpike": "pii-redaction-spike.md",
    "ContentDropped": "content-dropped.md",
    "ModelVersionChanged": "model-version-changed.md",
    "TrafficStopped": "traffic-stopped.md",
    "InstrumentationErrors": "instrumentation-errors.md",
    "TelemetryExportFailing": "telemetry-export-failing.md",
    "QualityReportsSpike": "quality-reports-spike.md",
    "Watchdog": "watchdog.md",
}
# The promoted resource attributes of the services in the Alertmanager tests.
SERVICE = {"deployment_environment_name": "production", "service_owner": "llm-platform"}
# The uids of the committed dashboards (test_dashboards checks that these are the six).
DASHBOARD_UIDS = {
    json.loads(path.read_text())["uid"] for path in (ROOT / "dashboards" / "json").glob("*.json")
}


def _run(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def generate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("alerts_generate", GENERATOR)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return yaml.safe_load((ALERTS_DIR / "config.yaml").read_text())


def _rules(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [rule for group in document["groups"] for rule in group["rules"]]


def _alerting_rules(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [rule for rule in _rules(document) if "alert" in rule]


def _shape(text: str) -> str:
    """An expression with its numbers and durations blanked: what a profile may not change."""
    return re.sub(r"\d+(?:\.\d+)?(?:e[-+]?\d+)?(?:ms|[smhdwy])?", "N", text)


# -- generated rules -------------------------------------------------------------------------------


def test_committed_rules_file_is_what_the_generator_writes(generate: ModuleType) -> None:
    assert RULES.read_text() == generate.render("production"), (
        "alerts/rules/otel-llm.yml is stale: run `make alerts` (.venv/bin/python alerts/generate.py)"
    )


def test_e2e_profile_renders_the_same_rules_with_its_own_windows(
    generate: ModuleType, config: dict[str, Any], tmp_path: Path
) -> None:
    result = _run([sys.executable, str(GENERATOR), "--profile", "e2e", "--output", str(tmp_path)])
    assert result.returncode == 0, result.stderr
    e2e = yaml.safe_load((tmp_path / "otel-llm.yml").read_text())
    production = yaml.safe_load(RULES.read_text())
    assert [g["name"] for g in e2e["groups"]] == [g["name"] for g in production["groups"]]
    pairs = list(zip(_rules(production), _rules(e2e), strict=True))
    for prod, short in pairs:
        assert prod.get("alert") == short.get("alert")
        assert _shape(prod["expr"]) == _shape(short["expr"]), prod.get("alert", prod.get("record"))
        assert prod.get("labels") == short.get("labels")
        assert _shape(json.dumps(prod.get("annotations"))) == _shape(json.dumps(short.get("annotations")))
    overrides = config["profiles"]["e2e"]
    exprs: dict[str, str] = {}
    for rule in _alerting_rules(e2e):
        exprs[rule["alert"]] = exprs.get(rule["alert"], "") + rule["expr"]
        settings = {**config["alerts"][rule["alert"]], **overrides.get(rule["alert"], {})}
        assert rule["for"] == settings["for"], rule["alert"]
    for name, expr in exprs.items():
        settings = {**config["alerts"][name], **overrides.get(name, {})}
        for key in ("window", "baseline", "quiet", "lookback", "month_to_date_step"):
            if key in settings:
                assert f"[{settings[key]}" in expr or f":{settings[key]}]" in expr, (name, key)
    # every alert gets the short profile
    assert set(overrides) == set(REQUIRED)


def test_an_unknown_profile_or_setting_is_refused(generate: ModuleType, config: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="unknown profile 'staging'"):
        generate.render("staging")
    broken = {**config, "profiles": {"e2e": {"LatencyHigh": {"treshold": 1}}}}
    with pytest.raises(ValueError, match="LatencyHigh has no setting"):
        generate.rules("e2e", broken)


def test_promtool_accepts_the_rules_of_both_profiles(generate: ModuleType, tmp_path: Path) -> None:
    e2e = tmp_path / "otel-llm.yml"
    e2e.write_text(generate.render("e2e"))
    for path in (RULES, e2e):
        count = len(_rules(yaml.safe_load(path.read_text())))
        result = _run([require_tool("promtool"), "check", "rules", str(path)])
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"SUCCESS: {count} rules found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    """`promtool test rules alerts/tests/*.yml`, one process per file side by side (the cost tests
    evaluate a month-long subquery at every step and take seconds each)."""
    promtool = require_tool("promtool")
    assert UNIT_TESTS
    with ThreadPoolExecutor(max_workers=len(UNIT_TESTS)) as pool:
        results = list(pool.map(lambda path: _run([promtool, "test", "rules", str(path)]), UNIT_TESTS))
    failed = [
        f"{path.name}:\n{r.stdout}{r.stderr}"
        for path, r in zip(UNIT_TESTS, results, strict=True)
        if r.returncode
    ]
    assert not failed, "\n".join(failed)


def test_every_alert_has_a_unit_test_that_sees_it_fire() -> None:
    firing: set[str] = set()
    for path in UNIT_TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                if case["exp_alerts"]:
                    firing.add(case["alertname"])
                    for alert in case["exp_alerts"]:
                        annotations = alert["exp_annotations"]
                        assert {"summary", "description", "runbook_url", "dashboard_url"} <= set(annotations)
    assert firing >= set(REQUIRED), f"no unit test sees {sorted(set(REQUIRED) - firing)} fire"


def test_every_alert_has_severity_annotations_and_links(config: dict[str, Any]) -> None:
    for rule in _alerting_rules(yaml.safe_load(RULES.read_text())):
        name = rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        annotations = rule["annotations"]
        assert {"summary", "description", "runbook_url", "dashboard_url"} <= set(annotations), name
        assert annotations["runbook_url"] == f"{config['runbook_base_url']}/{REQUIRED[name]}"
        assert annotations["runbook_url"].endswith(f"/docs/runbooks/{REQUIRED[name]}")
        dashboard = urllib.parse.urlsplit(annotations["dashboard_url"])
        base = urllib.parse.urlsplit(config["dashboard_base_url"])
        assert (dashboard.scheme, dashboard.netloc) == (base.scheme, base.netloc), name
        assert dashboard.path.removeprefix(base.path + "/") in DASHBOARD_UIDS, name
        # summaries name the service and its environment (the collector's alert: its instance;
        # the Watchdog belongs to no service)
        if name not in ("TelemetryExportFailing", "Watchdog"):
            assert "{{ $labels.job }}" in annotations["summary"], name
            assert "{{ $labels.deployment_environment_name }}" in annotations["summary"], name


def test_the_required_alerts_are_all_present(generate: ModuleType) -> None:
    names = {rule["alert"] for rule in _alerting_rules(yaml.safe_load(RULES.read_text()))}
    assert set(REQUIRED) <= names
    assert set(generate.ALERTS) == names


# -- Alertmanager configuration ----------------------------------------------------------------------


def test_amtool_accepts_the_config_and_its_templates() -> None:
    result = _run([require_tool("amtool"), "check-config", str(ALERTMANAGER_CONFIG)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert " - 1 templates" in result.stdout, result.stdout


def test_amtool_checks_the_templates_the_config_names(tmp_path: Path) -> None:
    """The templates path is relative to the config, so amtool really parses them: a broken copy
    next to a copy of the config fails."""
    shutil.copy(ALERTMANAGER_CONFIG, tmp_path / "alertmanager.yml")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "otel-llm.tmpl").write_text(
        TEMPLATES.joinpath("otel-llm.tmpl").read_text().replace("{{ end }}", "", 1)
    )
    result = _run([require_tool("amtool"), "check-config", str(tmp_path / "alertmanager.yml")])
    assert result.returncode != 0
    assert "otel-llm.tmpl" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (
            {"alertname": "HighErrorRate", "severity": "critical", "service_owner": "llm-platform"},
            "pagerduty,llm-platform-slack",
        ),
        ({"alertname": "TrafficStopped", "severity": "critical", "service_owner": "payments"}, "pagerduty"),
        (
            {"alertname": "LatencyHigh", "severity": "warning", "service_owner": "llm-platform"},
            "llm-platform-slack",
        ),
        (
            {"alertname": "ValidationFailureRateHigh", "severity": "warning", "service_owner": "payments"},
            "email",
        ),
        (
            {"alertname": "ModelVersionChanged", "severity": "info", "service_owner": "llm-platform"},
            "llm-platform-slack",
        ),
        (
            {"alertname": "ModelVersionChanged", "severity": "info", "service_owner": "payments"},
            "default-webhook",
        ),
        ({"alertname": "TelemetryExportFailing", "severity": "warning", "job": "otel-collector"}, "email"),
        ({"alertname": "Watchdog", "severity": "info"}, "heartbeat"),
    ],
)
def test_alerts_are_routed_by_severity_and_owner(labels: dict[str, str], receivers: str) -> None:
    args = [f"{key}={value}" for key, value in labels.items()]
    result = _run(
        [require_tool("amtool"), "config", "routes", "test", f"--config.file={ALERTMANAGER_CONFIG}", *args]
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == receivers


def test_the_email_names_the_alert_and_links_its_runbook_and_dashboard(tmp_path: Path) -> None:
    """E-mail is not delivered here (no SMTP server); amtool renders the e-mail receiver's
    templates with the alert a warning of an owner without a route of its own brings."""
    rule = next(
        r
        for r in _alerting_rules(yaml.safe_load(RULES.read_text()))
        if r["alert"] == "ValidationFailureRateHigh"
    )
    labels = {"job": "chat-api", **SERVICE, "service_owner": "payments", "otel_llm_validator": "json_schema"}
    alert = _alert(rule, labels, "18.18%")
    common = {
        key: alert["labels"][key] for key in ("alertname", "severity", "job", "deployment_environment_name")
    }
    data = {
        "receiver": "email",
        "status": "firing",
        "alerts": [{**alert, "status": "firing", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "0"}],
        "groupLabels": common,
        "commonLabels": common,
        "commonAnnotations": alert["annotations"],
        "externalURL": "http://127.0.0.1:9093",
    }
    (tmp_path / "data.json").write_text(json.dumps(data))
    email = next(
        r for r in yaml.safe_load(ALERTMANAGER_CONFIG.read_text())["receivers"] if r["name"] == "email"
    )
    (config,) = email["email_configs"]

    def render(text: str, kind: str = "text") -> str:
        result = _run(
            [
                require_tool("amtool"),
                "template",
                "render",
                f"--template.glob={TEMPLATES / '*.tmpl'}",
                f"--template.data={tmp_path / 'data.json'}",
                f"--template.type={kind}",
                f"--template.text={text}",
            ]
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    runbook, dashboard = alert["annotations"]["runbook_url"], alert["annotations"]["dashboard_url"]
    assert render(config["headers"]["Subject"]).strip() == (
        "[FIRING:1] ValidationFailureRateHigh chat-api (production)"
    )
    html = render(config["html"], "html")
    assert f'<a href="{runbook}">Runbook</a>' in html
    assert f'<a href="{dashboard.replace("&", "&amp;")}">Dashboard</a>' in html
    assert alert["annotations"]["summary"] in html
    text = render(config["text"])
    assert f"Runbook: {runbook}" in text and f"Dashboard: {dashboard}" in text
    assert alert["annotations"]["description"] in text


# -- a real Alertmanager ---------------------------------------------------------------------------


def _loopback_config(workdir: Path, receivers: WebhookReceiver) -> Path:
    """alerts/alertmanager.yml with every destination on loopback and a 1s first group wait."""
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    secrets = workdir / "secrets"
    secrets.mkdir()
    config["global"]["smtp_smarthost"] = f"127.0.0.1:{free_port()}"
    config["templates"] = [str(TEMPLATES / "*.tmpl")]
    config["route"]["group_wait"] = "1s"
    for receiver in config["receivers"]:
        name = receiver["name"]
        for entry in receiver.get("webhook_configs", []):
            entry["url"] = f"{receivers.base_url}/webhook/{name}"
        for entry in receiver.get("pagerduty_configs", []):
            (secrets / "pagerduty_routing_key").write_text("test-routing-key")
            entry["routing_key_file"] = str(secrets / "pagerduty_routing_key")
            entry["url"] = f"{receivers.base_url}/pagerduty"
        for entry in receiver.get("slack_configs", []):
            (secrets / f"{name}_api_url").write_text(f"{receivers.base_url}/slack/{name}")
            entry["api_url_file"] = str(secrets / f"{name}_api_url")
        for entry in receiver.get("email_configs", []):
            (secrets / "smtp_password").write_text("test-password")
            entry["auth_password_file"] = str(secrets / "smtp_password")
    path = workdir / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _alert(rule: dict[str, Any], labels: dict[str, str], value: str) -> dict[str, Any]:
    """The alert Prometheus would send for `rule` with these labels: annotations expanded."""

    def expand(template: str) -> str:
        def label(match: re.Match[str]) -> str:
            text = labels.get(match.group(1), "")
            return urllib.parse.quote_plus(text) if match.group(2) else text

        template = re.sub(r"\{\{ \$labels\.(\w+)( \| urlquery)? \}\}", label, template)
        return re.sub(r"\{\{ \$value[^}]*\}\}", value, template)

    annotations = {key: expand(text) for key, text in rule["annotations"].items()}
    assert not any("{{" in text for text in annotations.values()), annotations
    return {
        "labels": {"alertname": rule["alert"], **rule["labels"], **labels},
        "annotations": annotations,
        "startsAt": datetime.now(UTC).isoformat(),
        "generatorURL": "http://127.0.0.1:9090/graph",
    }


@pytest.fixture(scope="module")
def delivered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Posts alerts to a real Alertmanager running alerts/alertmanager.yml and collects what it
    delivers: chat-api fails (critical) and is slow; batch-worker stopped calling (critical) and
    its latency alert is still open; a warning of the critical HighErrorRate is open too."""
    rules = {rule["alert"]: rule for rule in _alerting_rules(yaml.safe_load(RULES.read_text()))}
    workdir = tmp_path_factory.mktemp("alertmanager")
    receivers = WebhookReceiver()
    alertmanager = Alertmanager(workdir, config_path=_loopback_config(workdir, receivers))
    chat = {"job": "chat-api", **SERVICE}
    batch = {"job": "batch-worker", **SERVICE}
    openai = {"gen_ai_provider_name": "openai", "gen_ai_request_model": "gpt-4o"}
    alerts = {
        "errors": _alert(rules["HighErrorRate"], {**chat, "gen_ai_provider_name": "openai"}, "12%"),
        "errors_warning": {
            **_alert(rules["HighErrorRate"], {**chat, "gen_ai_provider_name": "openai"}, "12%"),
            "labels": {
                "alertname": "HighErrorRate",
                "severity": "warning",
                **chat,
                "gen_ai_provider_name": "openai",
            },
        },
        "chat_latency": _alert(rules["LatencyHigh"], {**chat, **openai}, "31.2s"),
        "stopped": _alert(rules["TrafficStopped"], batch, "240"),
        "batch_latency": _alert(rules["LatencyHigh"], {**batch, **openai}, "25s"),
        "watchdog": _alert(rules["Watchdog"], {}, "1"),
    }
    try:
        alertmanager.start()
        alertmanager.post_alerts(list(alerts.values()))

        def arrived() -> bool:
            slack = {
                body["attachments"][0]["title"] for body in receivers.bodies("/slack/llm-platform-slack")
            }
            pages = {body["payload"]["summary"] for body in receivers.bodies("/pagerduty")}
            return (
                len(slack) >= 3
                and receivers.bodies("/webhook/heartbeat")
                and alerts["errors"]["annotations"]["summary"] in pages
                and alerts["stopped"]["annotations"]["summary"] in pages
            )

        wait_until(arrived, 30, interval=0.2, what="Alertmanager's notifications")
        time.sleep(1.5)  # the inhibited groups flush at the same moment: give them the chance to
        yield {
            "alerts": alerts,
            "slack": receivers.bodies("/slack/llm-platform-slack"),
            "pagerduty": receivers.bodies("/pagerduty"),
            "webhook": receivers.bodies("/webhook/default-webhook"),
            "heartbeat": receivers.bodies("/webhook/heartbeat"),
            "state": alertmanager.alerts(),
        }
    finally:
        alertmanager.stop()
        receivers.close()


def test_a_critical_alert_pages_with_its_runbook_and_dashboard_links(delivered: dict[str, Any]) -> None:
    alert = delivered["alerts"]["errors"]
    runbook, dashboard = alert["annotations"]["runbook_url"], alert["annotations"]["dashboard_url"]
    (event,) = [
        e for e in delivered["pagerduty"] if e["payload"]["summary"] == alert["annotations"]["summary"]
    ]
    assert event["routing_key"] == "test-routing-key"  # read from routing_key_file
    assert event["event_action"] == "trigger"
    assert event["payload"]["severity"] == "critical"
    assert {"href": runbook, "text": "Runbook"} in event["links"]
    assert {"href": dashboard, "text": "Dashboard"} in event["links"]
    details = event["payload"]["custom_details"]
    assert details["runbook_url"] == runbook
    assert details["service"] == "chat-api" and details["owner"] == "llm-platform"
    assert details["dashboard_url"] == dashboard
    assert alert["annotations"]["description"] in details["firing"]


def test_the_owners_slack_channel_gets_the_alert_with_runbook_and_dashboard_links(
    delivered: dict[str, Any],
) -> None:
    alert = delivered["alerts"]["errors"]
    runbook, dashboard = alert["annotations"]["runbook_url"], alert["annotations"]["dashboard_url"]
    assert "var-service=chat-api" in dashboard
    (message,) = [
        m
        for m in delivered["slack"]
        if m["attachments"][0]["title"] == "[FIRING:1] HighErrorRate chat-api (production)"
    ]
    assert message["channel"] == "#llm-platform-alerts"
    (attachment,) = message["attachments"]
    assert attachment["title_link"] == dashboard
    assert attachment["color"] == "danger"
    assert f"*{alert['annotations']['summary']}*" in attachment["text"]
    assert alert["annotations"]["description"] in attachment["text"]
    assert f"<{runbook}|Runbook>" in attachment["text"]
    assert f"<{dashboard}|Dashboard>" in attachment["text"]


def test_traffic_stopped_silences_the_latency_alert_of_the_same_service(delivered: dict[str, Any]) -> None:
    titles = [m["attachments"][0]["title"] for m in delivered["slack"]]
    assert "[FIRING:1] TrafficStopped batch-worker (production)" in titles
    assert "[FIRING:1] LatencyHigh chat-api (production)" in titles  # another service: delivered
    assert not [t for t in titles if "LatencyHigh batch-worker" in t]
    states = {
        (a["labels"]["alertname"], a["labels"].get("job"), a["labels"]["severity"]): a["status"]
        for a in delivered["state"]
    }
    suppressed = states[("LatencyHigh", "batch-worker", "warning")]
    assert suppressed["state"] == "suppressed" and suppressed["inhibitedBy"]
    assert states[("LatencyHigh", "chat-api", "warning")]["state"] == "active"


def test_a_critical_alert_silences_the_warning_of_the_same_name(delivered: dict[str, Any]) -> None:
    states = {
        (a["labels"]["alertname"], a["labels"].get("job"), a["labels"]["severity"]): a["status"]
        for a in delivered["state"]
    }
    assert states[("HighErrorRate", "chat-api", "warning")]["state"] == "suppressed"
    assert states[("HighErrorRate", "chat-api", "critical")]["state"] == "active"
    titles = [m["attachments"][0]["title"] for m in delivered["slack"]]
    assert titles.count("[FIRING:1] HighErrorRate chat-api (production)") == 1
    assert not delivered["webhook"]  # every alert here had a route of its own


def test_the_watchdog_reaches_the_heartbeat_receiver_and_nobody_else(delivered: dict[str, Any]) -> None:
    (heartbeat,) = delivered["heartbeat"]
    assert heartbeat["receiver"] == "heartbeat"
    assert [a["labels"]["alertname"] for a in heartbeat["alerts"]] == ["Watchdog"]
    assert heartbeat["alerts"][0]["annotations"]["runbook_url"].endswith("/docs/runbooks/watchdog.md")
    summary = delivered["alerts"]["watchdog"]["annotations"]["summary"]
    assert not [e for e in delivered["pagerduty"] if e["payload"]["summary"] == summary]
    assert not [m for m in delivered["slack"] if "Watchdog" in m["attachments"][0]["title"]]

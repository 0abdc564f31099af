"""The `otel-llm` command, run as a real subprocess (`python -m otel_llm.cli`) with a controlled
environment: every OTEL_* variable removed, then the setup under test added.

Doctor tests point the exporters at a small loopback OTLP stand-in (answers 200) so that the only
problem in a run is the one the test sets up; the healthy-setup test uses the real collector and
Prometheus of the session `stack`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import run_workload

from otel_llm.testing.redis_server import RedisServer
from otel_llm.testing.stack import free_port, wait_until

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "otel_llm.cli"]
TIMEOUT = 120


class HttpStandIn:
    """A loopback HTTP server answering every request with `status_for(headers)`; keeps each request's
    path and headers (names lower-cased)."""

    def __init__(self, status_for: Callable[[Any], int]) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                stand_in.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                self.send_response(status_for(self.headers))
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def otlp_stand_in() -> Iterator[HttpStandIn]:
    server = HttpStandIn(lambda headers: 200)
    yield server
    server.close()


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(extra)
    return env


def healthy_environment(stand_in: HttpStandIn, **extra: str) -> dict[str, str]:
    return environment(OTEL_EXPORTER_OTLP_ENDPOINT=stand_in.url, **extra)


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, *args], env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)


@dataclass
class DoctorRun:
    code: int
    checks: dict[str, dict[str, Any]]  # by id, from --json
    text: str  # the terminal report (stdout without --json)
    progress: str  # stderr without --json

    def problems(self) -> set[str]:
        return {check_id for check_id, check in self.checks.items() if check["status"] == "problem"}

    def line(self, check_id: str) -> str:
        """The terminal report's line for one check."""
        return next(line for line in self.text.splitlines() if line[8:].startswith(f"{check_id}: "))


def doctor(env: dict[str, str], *args: str) -> DoctorRun:
    """`otel-llm doctor --json` and the terminal form, side by side on the same setup."""
    json_process = start(["doctor", "--json", *args], env)
    text_process = start(["doctor", *args], env)
    json_out, json_err = json_process.communicate(timeout=TIMEOUT)
    text_out, text_err = text_process.communicate(timeout=TIMEOUT)
    report = json.loads(json_out)  # stdout holds the one JSON object and nothing else
    assert json_process.returncode == text_process.returncode, (json_err, text_err)
    assert report["ok"] is (json_process.returncode == 0)
    assert "probing" not in json_err and "importing" not in json_err  # no progress lines with --json
    checks = {check["id"]: check for check in report["checks"]}
    assert list(checks) == [
        "settings",
        "sdk_disabled",
        "exporters",
        "providers",
        "content",
        "capture_conflict",
        "temporality",
        "prices",
        "guard_store",
    ]
    return DoctorRun(json_process.returncode, checks, text_out, text_err)


def assert_only_problem(result: DoctorRun, check_id: str) -> dict[str, Any]:
    assert result.code == 1, result.text
    assert result.problems() == {check_id}, result.text
    assert result.line(check_id).startswith(f"PROBLEM {check_id}: ")
    assert result.text.splitlines()[-1] == "1 problem(s), 0 warning(s)"
    return result.checks[check_id]


def fake_broken_packages(directory: Path, *names: str) -> str:
    """A PYTHONPATH entry on which importing each of `names` fails, as if it were not installed."""
    for name in names:
        package = directory / name
        package.mkdir()
        (package / "__init__.py").write_text(f'raise ImportError("simulated: {name} is not installed")\n')
    return str(directory)


def genai_prices_rates(provider_id: str, model: str) -> Any:
    from genai_prices import data_snapshot

    _, found = data_snapshot.get_snapshot().find_provider_model(model, None, provider_id, None)
    return found.get_prices(datetime.now(UTC))


# -- doctor: a healthy setup ---------------------------------------------------------------------------

WORKLOAD_MODELS = (("openai", "gpt-4o-mini"), ("openai", "gpt-4o"), ("anthropic", "claude-haiku-4-5"))


def test_doctor_finds_nothing_wrong_with_the_real_collector_and_prometheus(stack, mock):
    job = "cli-doctor"
    run_workload(stack, mock, job, rate=10, seconds=2)
    calls_by_model = (
        f"group by (gen_ai_provider_name, gen_ai_request_model) "
        f'(gen_ai_client_operation_duration_seconds_count{{job="{job}"}})'
    )
    wait_until(lambda: len(stack.prometheus.query(calls_by_model)) == 3, 60, what="the workload's series")

    env = environment(
        OTEL_EXPORTER_OTLP_ENDPOINT=stack.collector.otlp_http_endpoint,
        # logs over gRPC: a per-signal protocol and endpoint, probed by a TCP connect
        OTEL_EXPORTER_OTLP_LOGS_PROTOCOL="grpc",
        OTEL_EXPORTER_OTLP_LOGS_ENDPOINT=stack.collector.otlp_grpc_endpoint,
        OTEL_LLM_CAPTURE_CONTENT="sampled",
    )
    result = doctor(env, "--prometheus", stack.prometheus.url)

    assert result.code == 0, result.text
    assert {check["status"] for check in result.checks.values()} <= {"ok", "info"}, result.text
    assert result.text.splitlines()[-1] == "0 problem(s), 0 warning(s)"
    exporters = result.checks["exporters"]
    assert exporters["status"] == "ok"
    assert exporters["details"] == [
        f"traces: otlp http/protobuf -> {stack.collector.otlp_http_endpoint}/v1/traces: "
        "an OTLP receiver answers (HTTP 200)",
        f"metrics: otlp http/protobuf -> {stack.collector.otlp_http_endpoint}/v1/metrics: "
        "an OTLP receiver answers (HTTP 200)",
        f"logs: otlp grpc -> {stack.collector.otlp_grpc_endpoint}: accepts connections (TCP)",
    ]
    content = result.checks["content"]
    assert content["status"] == "ok"
    assert any(d.startswith("Presidio loaded and redacted a test text") for d in content["details"])
    assert "checking Presidio (loads in a few seconds) ..." in result.progress
    assert f"querying Prometheus at {stack.prometheus.url} ..." in result.progress

    prices = result.checks["prices"]
    assert prices["status"] == "ok"
    for provider, model in WORKLOAD_MODELS:
        rates = genai_prices_rates(provider, model)
        expected = (
            f"{provider}:{model}: input ${float(rates.input_mtok):g}, output ${float(rates.output_mtok):g} "
            "per 1M tokens (genai-prices) [Prometheus]"
        )
        assert expected in prices["details"], prices["details"]
    assert prices["summary"] == f"{len(prices['details'])} model(s) priced"


# -- doctor: broken setups -----------------------------------------------------------------------------


def test_unreachable_collector_is_a_problem_with_advice():
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = doctor(environment(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint))

    exporters = assert_only_problem(result, "exporters")
    assert exporters["summary"] == "traces, metrics, logs: OTLP endpoint unreachable"
    assert f"traces: otlp http/protobuf -> {endpoint}/v1/traces: unreachable" in exporters["details"][0]
    assert "docker compose up -d" in exporters["advice"]
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in exporters["advice"]
    assert f"{endpoint}/v1/metrics: unreachable" in result.text
    assert "fix: start the collector" in result.text
    assert f"probing {endpoint}/v1/traces ..." in result.progress


def test_an_endpoint_without_a_scheme_is_a_problem_even_when_a_receiver_listens(otlp_stand_in):
    """The HTTP exporter cannot send to `host:port`: advise the scheme, not starting a collector."""
    endpoint = otlp_stand_in.url.removeprefix("http://")
    result = doctor(environment(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint))
    exporters = assert_only_problem(result, "exporters")
    assert exporters["summary"] == "traces, metrics, logs: OTLP endpoint is not an http:// or https:// URL"
    assert "OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318" in exporters["advice"]
    assert "start the collector" not in exporters["advice"]
    assert otlp_stand_in.requests == []


def test_a_nan_timeout_is_a_usage_error():
    result = run(["doctor", "--timeout", "nan"], environment())
    assert result.returncode == 2
    assert "give a finite number of seconds above 0" in result.stderr


def test_an_endpoint_that_is_not_an_otlp_receiver_is_a_problem():
    not_otlp = HttpStandIn(lambda headers: 404)
    try:
        result = doctor(environment(OTEL_EXPORTER_OTLP_ENDPOINT=not_otlp.url))
    finally:
        not_otlp.close()
    exporters = assert_only_problem(result, "exporters")
    assert exporters["summary"] == "traces, metrics, logs: OTLP endpoint answers but is not an OTLP receiver"
    assert "OTLP/HTTP address" in exporters["advice"]
    assert "answers but is not an OTLP receiver (HTTP 404" in result.text


def test_the_probe_sends_the_otlp_headers_and_rejected_credentials_are_a_problem():
    authenticated = HttpStandIn(
        lambda headers: 200 if headers.get("Authorization") == "Bearer s3cret" else 401
    )
    try:
        with_token = doctor(
            environment(
                OTEL_EXPORTER_OTLP_ENDPOINT=authenticated.url,
                OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer%20s3cret,x-team=llm",
            )
        )
        without = doctor(environment(OTEL_EXPORTER_OTLP_ENDPOINT=authenticated.url))
    finally:
        authenticated.close()

    assert with_token.code == 0, with_token.text
    assert with_token.checks["exporters"]["status"] == "ok"
    sent = [headers for path, headers in authenticated.requests if headers.get("x-team") == "llm"]
    assert sent and all(h["content-type"] == "application/x-protobuf" for h in sent)
    exporters = assert_only_problem(without, "exporters")
    assert exporters["summary"] == "traces, metrics, logs: OTLP endpoint rejected the credentials"
    assert "OTEL_EXPORTER_OTLP_HEADERS" in exporters["advice"]


@pytest.mark.parametrize(
    ("missing", "extra", "status"),
    [
        (("openai", "anthropic"), {}, "problem"),  # none of the SDKs imports
        (("anthropic",), {"OTEL_LLM_PROVIDERS": "openai,anthropic"}, "problem"),  # named, missing
        (("anthropic",), {}, "info"),  # a default provider simply not installed
    ],
)
def test_missing_provider_sdk(otlp_stand_in, tmp_path, missing, extra, status):
    env = healthy_environment(otlp_stand_in, PYTHONPATH=fake_broken_packages(tmp_path, *missing), **extra)
    result = doctor(env)

    providers = result.checks["providers"]
    assert providers["status"] == status, result.text
    for name in missing:
        assert (
            f"{name}: cannot be imported (ImportError: simulated: {name} is not installed)"
            in (providers["details"])
        )
    if status == "problem":
        assert_only_problem(result, "providers")
        assert providers["summary"] == f"provider SDK missing: {', '.join(missing)}"
        assert providers["advice"].startswith(f"pip install {' '.join(missing)}")
        assert "fix: pip install" in result.text
    else:
        assert result.code == 0, result.text
        assert providers["summary"] == "importable: openai"


def fake_distribution(directory: Path, name: str, version: str) -> None:
    """Installed-package metadata for `name` (importlib.metadata finds it on PYTHONPATH first)."""
    info = directory / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


def test_an_sdk_older_than_supported_is_a_problem(otlp_stand_in, tmp_path):
    (tmp_path / "openai").mkdir()
    (tmp_path / "openai" / "__init__.py").write_text("")
    fake_distribution(tmp_path, "openai", "2.9.0")
    result = doctor(healthy_environment(otlp_stand_in, PYTHONPATH=str(tmp_path)))

    providers = assert_only_problem(result, "providers")
    assert providers["summary"] == "provider SDK too old: openai"
    assert "openai 2.9.0: below the oldest supported 3.0.0" in providers["details"]
    assert providers["advice"] == "pip install -U 'openai>=3.0.0'"


def test_another_genai_instrumentation_installed_is_a_warning(otlp_stand_in, tmp_path):
    fake_distribution(tmp_path, "openlit", "1.30.0")
    result = doctor(healthy_environment(otlp_stand_in, PYTHONPATH=str(tmp_path)))

    assert result.code == 0, result.text
    providers = result.checks["providers"]
    assert providers["status"] == "warn"
    assert providers["summary"] == "another GenAI instrumentation is installed: openlit"
    assert "duplicate spans" in providers["advice"]
    assert result.text.splitlines()[-1] == "0 problem(s), 1 warning(s)"


def test_capture_on_without_presidio_is_a_problem(otlp_stand_in, tmp_path):
    env = healthy_environment(
        otlp_stand_in,
        OTEL_LLM_CAPTURE_CONTENT="sampled",
        PYTHONPATH=fake_broken_packages(tmp_path, "presidio_analyzer"),
    )
    result = doctor(env)

    content = assert_only_problem(result, "content")
    assert content["summary"] == (
        "content capture is on but Presidio cannot load: ImportError: simulated: presidio_analyzer is not installed"
    )
    assert "presidio-analyzer" in content["advice"]
    assert "OTEL_LLM_CAPTURE_CONTENT=off" in content["advice"]
    assert "Presidio cannot load" in result.line("content")
    assert "checking Presidio (loads in a few seconds) ..." in result.progress


def test_content_events_without_a_logs_exporter_are_a_problem(otlp_stand_in):
    env = healthy_environment(otlp_stand_in, OTEL_LLM_CAPTURE_CONTENT="all", OTEL_LOGS_EXPORTER="none")
    result = doctor(env)

    content = assert_only_problem(result, "content")
    assert "OTEL_LOGS_EXPORTER=none" in content["summary"]
    assert "goes nowhere" in content["summary"]
    assert "SPAN_ONLY" in content["advice"]
    # Presidio itself loaded and redacted the test text.
    assert any(d.startswith("Presidio loaded and redacted") for d in content["details"])
    assert result.checks["exporters"]["status"] == "info"  # logs go nowhere: reported, not a problem


def test_delta_temporality_is_a_problem_unless_ignored(otlp_stand_in):
    env = healthy_environment(otlp_stand_in, OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE="delta")
    result = doctor(env)

    temporality = assert_only_problem(result, "temporality")
    assert "Prometheus needs cumulative" in temporality["summary"]
    assert "cumulative is the default" in temporality["advice"]
    assert "--ignore temporality" in temporality["advice"]
    assert "delta_to_cumulative" in result.text

    ignored = doctor(env, "--ignore", "temporality")
    assert ignored.code == 0, ignored.text
    assert ignored.checks["temporality"]["status"] == "ignored"
    assert ignored.line("temporality").startswith("ignored temporality: ")
    assert ignored.text.splitlines()[-1] == "0 problem(s), 0 warning(s), 1 ignored"


def test_an_unknown_check_id_is_a_usage_error():
    result = run(["doctor", "--ignore", "temperature"], environment())
    assert result.returncode == 2
    assert "invalid choice: 'temperature'" in result.stderr


@pytest.mark.parametrize("source", ["variable", "config file"])
def test_an_invalid_setting_is_a_problem_and_skips_what_needs_settings(otlp_stand_in, tmp_path, source):
    if source == "variable":
        env = healthy_environment(otlp_stand_in, OTEL_LLM_CAPTURE_CONTENT="maybe")
        message = "OTEL_LLM_CAPTURE_CONTENT='maybe' is not valid; accepted values: off, sampled, all"
    else:
        config_file = tmp_path / "otel-llm.toml"
        config_file.write_text('colour = "blue"\n')
        env = healthy_environment(otlp_stand_in, OTEL_LLM_CONFIG=str(config_file))
        message = f"{config_file}: unknown key(s) ['colour']; accepted: "
    result = doctor(env)

    settings = assert_only_problem(result, "settings")
    assert settings["summary"].startswith(f"invalid setting: {message}")
    assert "docs/configuration.md" in settings["advice"]
    for check_id in ("providers", "content", "prices", "guard_store"):
        assert result.checks[check_id] == {
            "id": check_id,
            "status": "info",
            "summary": "skipped: settings invalid",
            "details": [],
            "advice": None,
        }
    assert message in result.line("settings")


def test_models_without_a_price_are_a_problem_until_the_config_file_prices_them(otlp_stand_in, tmp_path):
    result = doctor(healthy_environment(otlp_stand_in), "--model", "openai:acme-finetune-7", "gpt-4o")

    prices = assert_only_problem(result, "prices")
    assert prices["summary"] == "unpriced model(s): openai:acme-finetune-7"
    rates = genai_prices_rates("openai", "gpt-4o")
    assert prices["details"] == [
        "openai:acme-finetune-7: NO PRICE [--model]",
        f"openai:gpt-4o: input ${float(rates.input_mtok):g}, output ${float(rates.output_mtok):g} "
        "per 1M tokens (genai-prices) [--model]",
    ]
    assert "set OTEL_LLM_CONFIG to its path" in prices["advice"]
    assert '[prices."acme-finetune-7"]\ninput_mtok = ' in prices["advice"]
    assert "\noutput_mtok = " in prices["advice"]
    assert '[prices."acme-finetune-7"]' in result.text

    config_file = tmp_path / "prices.toml"
    config_file.write_text('[prices."acme-finetune-7"]\ninput_mtok = 0.4\noutput_mtok = 1.6\n')
    priced = doctor(
        healthy_environment(otlp_stand_in, OTEL_LLM_CONFIG=str(config_file)),
        "--model",
        "openai:acme-finetune-7",
        "gpt-4o",
    )
    assert priced.code == 0, priced.text
    assert priced.checks["prices"]["status"] == "ok"
    assert priced.checks["prices"]["summary"] == "2 model(s) priced"
    assert (
        "openai:acme-finetune-7: input $0.4, output $1.6 per 1M tokens (override) [--model]"
        in priced.checks["prices"]["details"]
    )


def test_no_models_to_check_is_info_and_an_unreachable_prometheus_is_a_problem(otlp_stand_in):
    healthy = doctor(healthy_environment(otlp_stand_in))
    assert healthy.code == 0, healthy.text
    assert healthy.checks["prices"]["status"] == "info"
    assert healthy.checks["prices"]["summary"] == "pass --model or --prometheus to check price coverage"

    nowhere = f"http://127.0.0.1:{free_port()}"
    result = doctor(healthy_environment(otlp_stand_in), "--prometheus", nowhere)
    prices = assert_only_problem(result, "prices")
    assert prices["summary"].startswith(f"Prometheus at {nowhere} cannot be queried")


def test_capture_settings_that_disagree(otlp_stand_in, tmp_path):
    conflict = doctor(
        healthy_environment(
            otlp_stand_in,
            OTEL_LLM_CAPTURE_CONTENT="off",
            OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="SPAN_ONLY",
        )
    )
    check = assert_only_problem(conflict, "capture_conflict")
    assert check["summary"] == (
        "OTEL_LLM_CAPTURE_CONTENT=off and OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=SPAN_ONLY "
        "disagree; OTEL_LLM_CAPTURE_CONTENT wins, so no content is captured"
    )

    config_file = tmp_path / "otel-llm.toml"
    config_file.write_text('[content]\ncapture = "all"\n')
    overridden = doctor(
        healthy_environment(otlp_stand_in, OTEL_LLM_CAPTURE_CONTENT="off", OTEL_LLM_CONFIG=str(config_file))
    )
    assert overridden.code == 0, overridden.text
    assert overridden.checks["capture_conflict"]["status"] == "warn"
    assert "overrides content.capture = 'all'" in overridden.checks["capture_conflict"]["summary"]
    assert overridden.text.splitlines()[-1] == "0 problem(s), 1 warning(s)"


def test_sdk_disabled_is_a_warning_and_nothing_is_probed():
    result = doctor(environment(OTEL_SDK_DISABLED="true"))
    assert result.code == 0, result.text
    assert result.checks["sdk_disabled"]["status"] == "warn"
    assert result.checks["sdk_disabled"]["summary"] == (
        "OTEL_SDK_DISABLED=true: nothing is recorded; guards still act"
    )
    assert result.checks["exporters"]["status"] == "info"
    assert "probing" not in result.progress


def test_an_unreachable_redis_guard_store_is_a_problem(otlp_stand_in):
    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    with RedisServer() as redis_server:
        reachable = doctor(healthy_environment(otlp_stand_in, OTEL_LLM_GUARD_STORE=redis_server.url))
    result = doctor(healthy_environment(otlp_stand_in, OTEL_LLM_GUARD_STORE=unreachable))

    assert reachable.code == 0, reachable.text
    assert reachable.checks["guard_store"]["summary"] == f"{redis_server.url} answers"
    guard_store = assert_only_problem(result, "guard_store")
    assert guard_store["summary"].startswith(f"guard store {unreachable} unreachable")
    assert "fail open" in guard_store["advice"]
    assert "OTEL_LLM_GUARD_STORE" in guard_store["advice"]


# -- prices --------------------------------------------------------------------------------------------


def test_prices_of_a_known_model_are_genai_prices_rates():
    result = run(["prices", "gpt-4o", "--json"], environment())
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)

    from importlib.metadata import version

    rates = genai_prices_rates("openai", "gpt-4o")

    def as_float(value: Any) -> float | None:
        return None if value is None else float(value)

    assert report["provider"] == "openai"
    assert report["source"] == "genai-prices"
    assert report["genai_prices_version"] == version("genai-prices")
    assert report["usd_per_mtok"] == pytest.approx(
        {
            "input": as_float(rates.input_mtok),
            "output": as_float(rates.output_mtok),
            "cache_read": as_float(rates.cache_read_mtok),
            "cache_write": as_float(rates.cache_write_mtok),
        }
    )
    expected_usd = (float(rates.input_mtok) + float(rates.output_mtok)) * 1000 / 1_000_000
    assert report["example"] == {
        "input_tokens": 1000,
        "output_tokens": 1000,
        "usd": pytest.approx(expected_usd),
    }

    text = run(["prices", "openai:gpt-4o"], environment())
    assert text.returncode == 0
    assert f"source: genai-prices {version('genai-prices')}" in text.stdout
    assert "example: 1,000 input + 1,000 output tokens cost $" in text.stdout


def test_prices_of_an_unknown_model_exit_1_with_the_toml_to_add(tmp_path):
    result = run(["prices", "acme-finetune-7"], environment())
    assert result.returncode == 1
    assert "openai:acme-finetune-7 has no price in genai-prices" in result.stdout
    assert '[prices."acme-finetune-7"]\ninput_mtok = ' in result.stdout
    assert "OTEL_LLM_CONFIG" in result.stdout

    config_file = tmp_path / "prices.toml"
    config_file.write_text('[prices."acme-finetune-7"]\ninput_mtok = 0.4\noutput_mtok = 1.6\n')
    overridden = run(["prices", "acme-finetune-7", "--json"], environment(OTEL_LLM_CONFIG=str(config_file)))
    assert overridden.returncode == 0, overridden.stderr
    report = json.loads(overridden.stdout)
    assert report["source"] == "override"
    assert report["config_file"] == str(config_file)
    assert report["usd_per_mtok"] == pytest.approx(
        {"input": 0.4, "output": 1.6, "cache_read": 0.4, "cache_write": 0.4}
    )
    text = run(["prices", "acme-finetune-7"], environment(OTEL_LLM_CONFIG=str(config_file)))
    assert f"(source: override in {config_file})" in text.stdout


# -- mock-provider -------------------------------------------------------------------------------------


def test_mock_provider_help_names_the_command():
    result = run(["mock-provider", "--help"], environment())
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: otel-llm mock-provider [-h] [--host HOST] [--port PORT]")


def test_mock_provider_command_serves_until_sigterm():
    with start(["mock-provider", "--port", "0"], environment()) as process:
        try:
            line = process.stdout.readline().strip()
            assert line.startswith("mock provider listening on http://127.0.0.1:"), process.stderr.read()
            url = line.rsplit(" ", 1)[1]
            body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}
            request = urllib.request.Request(
                f"{url}/v1/chat/completions",
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                reply = json.loads(response.read())
            assert reply["model"] == "gpt-4o-mini"
            assert reply["choices"][0]["message"]["content"]
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0
        finally:
            if process.poll() is None:
                process.kill()

"""The real collector, Prometheus and Alertmanager on free loopback ports, stopped by PID.

Used by the end-to-end tests and by `make demo`. Each service runs the repository's own
configuration (collector/config.yaml with the local overlay, alerts/rules) with only addresses,
ports and directories changed, so what is tested is what users run.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from ..otlp_json import otlp_attributes, otlp_value  # noqa: F401  (re-exported for tests)

REPO = Path(__file__).resolve().parents[2]
COLLECTOR_DIR = REPO / "collector"
COLLECTOR_CONFIGS = (
    COLLECTOR_DIR / "config.yaml",
    COLLECTOR_DIR / "config-extras.yaml",
    COLLECTOR_DIR / "config-local.yaml",
)
RULES_DIR = REPO / "alerts" / "rules"
SETUP_HINT = "run `make test` or `make demo`, which install and build what the stack needs"


class StackError(RuntimeError):
    """A service could not be found, started or queried."""


def find_binary(*names: str) -> str:
    for name in names:
        if name.startswith("/") or "/" in name:
            path = REPO / name if not name.startswith("/") else Path(name)
            if path.exists():
                return str(path)
        elif found := shutil.which(name):
            return found
    raise StackError(f"{names[0]} not found; {SETUP_HINT}")


_HANDED_OUT: set[int] = set()


def _ephemeral_ports_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port() -> int:
    """A loopback port free now, below the kernel's ephemeral range and never handed out before in
    this process. The service binds it later: a port from the ephemeral range (what binding port 0
    gives) may meanwhile become the source port of some outgoing connection, and the service then
    fails with "address already in use"."""
    top = _ephemeral_ports_start()
    bottom = max(1024, top - 16384)
    for _ in range(200):
        port = random.randrange(bottom, top)
        if port in _HANDED_OUT:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # nothing free down there
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def wait_until(
    check: Callable[[], Any], timeout: float, interval: float = 0.2, what: str = "condition"
) -> Any:
    """Polls `check` until it returns something truthy; raises StackError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:
            last_error = exc
        if time.monotonic() > deadline:
            raise StackError(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last_error})")
        time.sleep(interval)


class Service:
    """One binary started in its own process group, logged to a file, stopped by PID."""

    name = "service"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / f"{self.name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def ready_url(self) -> str:
        raise NotImplementedError

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        if self.running:
            return
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.environment(),
                cwd=self.workdir,
                start_new_session=True,
            )
        try:
            wait_until(self._ready, timeout, what=f"{self.name} to be ready")
        except StackError:
            self.stop()
            raise StackError(f"{self.name} did not start; last log lines:\n{self.log_tail()}") from None

    def _ready(self) -> bool:
        if not self.running:
            raise StackError(
                f"{self.name} exited with code {self.process.returncode if self.process else None}"
            )
        try:
            http_get(self.ready_url(), timeout=1.0)
            return True
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        """Signals the process and its group (SIGTERM: graceful; SIGKILL: crash) and waits until it
        is gone. The group id is the process's PID (start_new_session); signalling it while the
        process is still our unreaped child means the id cannot belong to anyone else yet."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Collector(Service):
    """otelcol-llm with collector/config.yaml + config-extras.yaml + config-local.yaml."""

    name = "collector"

    def __init__(
        self,
        workdir: Path,
        prometheus_remote_write_url: str,
        configs: Sequence[Path] = COLLECTOR_CONFIGS,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(workdir)
        self.binary = find_binary(os.environ.get("OTELCOL_LLM", ".cache/bin/otelcol-llm"), "otelcol-llm")
        self.configs = list(configs)
        self.grpc_port, self.http_port, self.health_port, self.metrics_port = (free_port() for _ in range(4))
        self.storage_dir = workdir / "storage"
        self.traces_path = workdir / "traces.jsonl"
        self.logs_path = workdir / "logs.jsonl"
        self.env = {
            "COLLECTOR_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{self.grpc_port}",
            "COLLECTOR_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{self.http_port}",
            "COLLECTOR_HEALTH_ENDPOINT": f"127.0.0.1:{self.health_port}",
            "COLLECTOR_METRICS_HOST": "127.0.0.1",
            "COLLECTOR_METRICS_PORT": str(self.metrics_port),
            "COLLECTOR_STORAGE_DIR": str(self.storage_dir),
            "COLLECTOR_OUTPUT_DIR": str(workdir),
            "PROMETHEUS_REMOTE_WRITE_URL": prometheus_remote_write_url,
            "DEPLOYMENT_ENVIRONMENT": "test",
            **(extra_env or {}),
        }

    @property
    def otlp_http_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def otlp_grpc_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    def command(self) -> list[str]:
        return [self.binary, *(f"--config={path}" for path in self.configs)]

    def environment(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def ready_url(self) -> str:
        return f"http://127.0.0.1:{self.health_port}/"

    def validate(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, "validate", *(f"--config={path}" for path in self.configs)],
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=60,
        )

    def spans(self) -> list[dict[str, Any]]:
        """Every span in the traces file, each with its resource attributes under "resource"."""
        found = []
        for request in read_jsonl(self.traces_path):
            for resource_spans in request.get("resourceSpans", []):
                resource = otlp_attributes(resource_spans.get("resource", {}).get("attributes", []))
                for scope_spans in resource_spans.get("scopeSpans", []):
                    for span in scope_spans.get("spans", []):
                        found.append(
                            {
                                **span,
                                "attributes": otlp_attributes(span.get("attributes", [])),
                                "resource": resource,
                            }
                        )
        return found

    def log_records(self, service: str | None = None, event_name: str | None = None) -> list[dict[str, Any]]:
        """Log records in the logs file (as OTLP/JSON), optionally of one service and one event name."""
        found = []
        for request in read_jsonl(self.logs_path):
            for resource_logs in request.get("resourceLogs", []):
                resource = otlp_attributes(resource_logs.get("resource", {}).get("attributes", []))
                if service is not None and resource.get("service.name") != service:
                    continue
                for scope_logs in resource_logs.get("scopeLogs", []):
                    for record in scope_logs.get("logRecords", []):
                        if event_name is None or record.get("eventName") == event_name:
                            found.append(record)
        return found

    def own_metrics(self) -> dict[str, float]:
        """The collector's own counters (receiver accepted/refused, exporter sent/failed), summed by name."""
        totals: dict[str, float] = {}
        text = http_get(f"http://127.0.0.1:{self.metrics_port}/metrics").decode()
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            name_and_labels, _, value = line.rpartition(" ")
            name = name_and_labels.split("{", 1)[0]
            with contextlib.suppress(ValueError):
                totals[name] = totals.get(name, 0.0) + float(value)
        return totals


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Complete JSON lines of a file another process is still writing.

    A torn last line is skipped. A collector killed mid-write leaves a partial line that the
    restarted collector's first write continues; the partial part is dropped, the rest read.
    """
    if not path.exists():
        return
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                continue
            try:
                yield json.loads(line)
            except ValueError:
                for start in (m.start() for m in re.finditer(r'\{"resource(Spans|Logs|Metrics)"', line)):
                    with contextlib.suppress(ValueError):
                        yield json.loads(line[start:])
                        break


class Prometheus(Service):
    """Prometheus with the remote-write receiver, exemplar storage and the repository's rules."""

    name = "prometheus"

    def __init__(
        self,
        workdir: Path,
        alertmanager_url: str | None = None,
        rule_files: Sequence[Path] = (),
        rule_for: str | None = None,
        evaluation_interval: str = "1s",
    ) -> None:
        super().__init__(workdir)
        self.binary = find_binary("prometheus")
        self.port = free_port()
        self.config_path = workdir / "prometheus.yml"
        rules = []
        for index, path in enumerate(rule_files):
            # The same rules, optionally with every `for:` shortened so a test need not wait minutes.
            document = yaml.safe_load(Path(path).read_text())
            if rule_for is not None:
                for group in document.get("groups", []):
                    for rule in group.get("rules", []):
                        if "alert" in rule:
                            rule["for"] = rule_for
            target = workdir / f"rules-{index}-{Path(path).name}"
            target.write_text(yaml.safe_dump(document, sort_keys=False))
            rules.append(str(target))
        config: dict[str, Any] = {
            "global": {"scrape_interval": "15s", "evaluation_interval": evaluation_interval},
            "rule_files": rules,
        }
        if alertmanager_url:
            host = urllib.parse.urlparse(alertmanager_url).netloc
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [host]}]}]}
        self.config = config
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    def add_scrape_job(self, job: str, target: str, interval: str = "1s") -> None:
        """Scrape `target` (host:port) as `job` (a further target when the job exists); call before
        start()."""
        jobs = self.config.setdefault("scrape_configs", [])
        for existing in jobs:
            if existing["job_name"] == job:
                existing["static_configs"][0]["targets"].append(target)
                break
        else:
            jobs.append(
                {"job_name": job, "scrape_interval": interval, "static_configs": [{"targets": [target]}]}
            )
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def remote_write_url(self) -> str:
        return f"{self.url}/api/v1/write"

    def command(self) -> list[str]:
        return [
            self.binary,
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-remote-write-receiver",
            "--enable-feature=exemplar-storage",
            "--log.level=warn",
        ]

    def ready_url(self) -> str:
        return f"{self.url}/-/ready"

    def api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        body = json.loads(http_get(f"{self.url}/api/v1/{path}?{query}"))
        if body.get("status") != "success":
            raise StackError(f"Prometheus {path} failed: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query; each result is {"metric": labels, "value": float}."""
        data = self.api("query", query=expr)
        return [{"metric": item["metric"], "value": float(item["value"][1])} for item in data["result"]]

    def value(self, expr: str) -> float | None:
        """The single value of an instant query, or None when it returns nothing."""
        results = self.query(expr)
        if len(results) > 1:
            raise StackError(f"{expr} returned {len(results)} series, expected one")
        return results[0]["value"] if results else None

    def series(self, match: str) -> list[dict[str, str]]:
        return self.api("series", **{"match[]": match})

    def alerts(self) -> list[dict[str, Any]]:
        return self.api("alerts")["alerts"]


class Alertmanager(Service):
    """Alertmanager routing every alert to one webhook, with short grouping so tests are quick; or,
    given `config_path`, with that configuration."""

    name = "alertmanager"

    def __init__(self, workdir: Path, webhook_url: str = "", config_path: Path | None = None) -> None:
        super().__init__(workdir)
        self.binary = find_binary("prometheus-alertmanager", "alertmanager")
        self.port = free_port()
        if config_path is not None:
            self.config_path = config_path
            return
        self.config_path = workdir / "alertmanager.yml"
        config = {
            "route": {
                "receiver": "webhook",
                "group_by": ["alertname", "job"],
                "group_wait": "1s",
                "group_interval": "5s",
                "repeat_interval": "1h",
            },
            "receivers": [
                {"name": "webhook", "webhook_configs": [{"url": webhook_url, "send_resolved": True}]}
            ],
        }
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            self.binary,
            f"--config.file={self.config_path}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ]

    def ready_url(self) -> str:
        return f"{self.url}/-/ready"

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """Send alerts as Prometheus would (API v2)."""
        request = urllib.request.Request(
            f"{self.url}/api/v2/alerts",
            data=json.dumps(alerts).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            if response.status != 200:
                raise StackError(f"Alertmanager refused the alerts: HTTP {response.status}")

    def alerts(self) -> list[dict[str, Any]]:
        return json.loads(http_get(f"{self.url}/api/v2/alerts"))


class WebhookReceiver:
    """A loopback HTTP server that keeps every JSON body POSTed to it (Alertmanager notifications),
    with its path, so one server can stand in for several receivers (webhook, Slack, PagerDuty)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        # time.monotonic() at which each notification arrived, and its path, in the order of `received`
        self.arrival_times: list[float] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                with receiver._lock, contextlib.suppress(ValueError):
                    receiver.received.append(json.loads(body))
                    receiver.arrival_times.append(time.monotonic())
                    receiver.paths.append(self.path)
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook", daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/alerts"

    def bodies(self, path: str) -> list[dict[str, Any]]:
        """What was POSTed to `path`."""
        with self._lock:
            return [body for at, body in zip(self.paths, self.received, strict=True) if at == path]

    def notifications(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.received)

    def timed_notifications(self) -> list[tuple[float, dict[str, Any]]]:
        """(arrival time as time.monotonic(), notification) pairs."""
        with self._lock:
            return list(zip(self.arrival_times, self.received, strict=True))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Stack:
    """Webhook receiver, Alertmanager, Prometheus (with the repository's rules) and the collector."""

    def __init__(
        self, workdir: Path, rule_for: str | None = "0s", rule_files: Sequence[Path] | None = None
    ) -> None:
        self.workdir = workdir
        self.webhook = WebhookReceiver()
        self.alertmanager = Alertmanager(workdir / "alertmanager", self.webhook.url)
        self.prometheus = Prometheus(
            workdir / "prometheus",
            alertmanager_url=self.alertmanager.url,
            rule_files=sorted(RULES_DIR.glob("*.yml")) if rule_files is None else rule_files,
            rule_for=rule_for,
        )
        self.collector = Collector(workdir / "collector", self.prometheus.remote_write_url)
        # The collector's own metrics (export failures, queue sizes, redactions), as docker-compose's
        # Prometheus scrapes them under the same job name.
        self.prometheus.add_scrape_job("otel-collector", f"127.0.0.1:{self.collector.metrics_port}")

    def start(self) -> Stack:
        try:
            for service in (self.alertmanager, self.prometheus, self.collector):
                service.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for service in (self.collector, self.prometheus, self.alertmanager):
            service.stop()
        self.webhook.close()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def app_environment(self, service_name: str, **extra: str) -> dict[str, str]:
        """OTEL_* variables that point an instrumented app's own exporters at this collector."""
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.collector.otlp_http_endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_SERVICE_NAME": service_name,
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            **extra,
        }

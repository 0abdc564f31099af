"""collector/config-exposed.yaml: TLS and a bearer token on both OTLP receivers, proven with the
real otelcol-llm on loopback and a self-signed certificate for 127.0.0.1 made at test time.

The collector runs config.yaml + config-exposed.yaml + config-local.yaml: config-local last, so
the pipelines write to the JSON-lines files the test reads (config-exposed.yaml only touches
receivers and extensions, so its place before or after config-local does not matter)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_llm.testing.stack import COLLECTOR_DIR, Collector, wait_until

NO_METRICS = "http://127.0.0.1:9/api/v1/write"  # no metrics in these tests
EXPOSED = [
    COLLECTOR_DIR / "config.yaml",
    COLLECTOR_DIR / "config-exposed.yaml",
    COLLECTOR_DIR / "config-local.yaml",
]


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed P-256 certificate for 127.0.0.1 (and localhost), valid for a day."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("the openssl command is needed to make a test certificate; `make test` installs it")
    cert, key = directory / "tls.crt", directory / "tls.key"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    key.chmod(0o600)
    return cert, key


def write_tokens(path: Path, *lines: str) -> None:
    path.write_text("".join(f"{line}\n" for line in lines))
    path.chmod(0o600)


def exposed_collector(workdir: Path, cert: Path, key: Path, token_file: Path) -> Collector:
    return Collector(
        workdir,
        NO_METRICS,
        configs=EXPOSED,
        extra_env={
            "COLLECTOR_TLS_CERT_FILE": str(cert),
            "COLLECTOR_TLS_KEY_FILE": str(key),
            "COLLECTOR_BEARER_TOKEN_FILE": str(token_file),
        },
    )


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    """A running collector with the exposed overlay, its certificate and its token."""
    directory = tmp_path_factory.mktemp("exposed")
    cert, key = make_certificate(directory)
    token = secrets.token_urlsafe(32)
    token_file = directory / "token"
    write_tokens(token_file, f"{token}  # tests")
    collector = exposed_collector(directory / "collector", cert, key, token_file)
    collector.start()
    try:
        yield collector, cert, token
    finally:
        collector.stop()


def trust(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


def trace_request(span_name: str) -> bytes:
    """One span as an OTLP/JSON export request."""
    now = time.time_ns()
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": [{"key": "service.name", "value": {"stringValue": "auth-test"}}]
                    },
                    "scopeSpans": [
                        {
                            "spans": [
                                {
                                    "traceId": secrets.token_hex(16),
                                    "spanId": secrets.token_hex(8),
                                    "name": span_name,
                                    "kind": 1,
                                    "startTimeUnixNano": str(now - 1_000_000),
                                    "endTimeUnixNano": str(now),
                                }
                            ]
                        }
                    ],
                }
            ]
        }
    ).encode()


def post_traces(url: str, span_name: str, headers: dict[str, str], context: ssl.SSLContext | None) -> int:
    """POSTs one span; returns the HTTP status (errors included)."""
    request = urllib.request.Request(
        url,
        data=trace_request(span_name),
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def span_names(collector: Collector) -> set[str]:
    return {span["name"] for span in collector.spans()}


def wait_for_span(collector: Collector, name: str) -> None:
    wait_until(lambda: name in span_names(collector), timeout=15, what=f"span {name!r} in the traces file")


def assert_never_arrives(collector: Collector, *names: str, control: str) -> None:
    """`control` was accepted after `names` were sent: once it is written, the others never will be."""
    wait_for_span(collector, control)
    assert not set(names) & span_names(collector)


def https_url(collector: Collector) -> str:
    return f"https://127.0.0.1:{collector.http_port}/v1/traces"


def test_exposed_overlay_validates(tmp_path):
    """As docker compose runs it (defaults for the secret paths), with extras, and for the tests."""
    base = COLLECTOR_DIR / "config.yaml"
    exposed = COLLECTOR_DIR / "config-exposed.yaml"
    extras = COLLECTOR_DIR / "config-extras.yaml"
    for configs in ([base, exposed], [base, exposed, extras], EXPOSED):
        collector = Collector(tmp_path / "validate", NO_METRICS, configs=configs)
        result = collector.validate()
        assert result.returncode == 0, (configs, result.stdout, result.stderr)
    collector = Collector(tmp_path / "validate", NO_METRICS, configs=EXPOSED)
    collector.env["COLLECTOR_TLS_MIN_VERSION"] = "1.3"
    result = collector.validate()
    assert result.returncode == 0, result.stderr


def test_https_without_a_token_is_rejected(secured):
    collector, cert, token = secured
    assert post_traces(https_url(collector), "no-token", {}, trust(cert)) == 401
    assert (
        post_traces(
            https_url(collector), "ok-after-no-token", {"Authorization": f"Bearer {token}"}, trust(cert)
        )
        == 200
    )
    assert_never_arrives(collector, "no-token", control="ok-after-no-token")


def test_https_with_a_wrong_token_is_rejected(secured):
    collector, cert, token = secured
    context = trust(cert)
    rejected = {
        "wrong-token": {"Authorization": f"Bearer {secrets.token_urlsafe(32)}"},
        "token-without-scheme": {"Authorization": token},
        # The extension compares the whole header value: the scheme is case-sensitive.
        "lowercase-scheme": {"Authorization": f"bearer {token}"},
        "token-in-another-header": {"X-Api-Key": token},
    }
    for name, headers in rejected.items():
        assert post_traces(https_url(collector), name, headers, context) == 401, name
    assert (
        post_traces(https_url(collector), "ok-after-wrong", {"Authorization": f"Bearer {token}"}, context)
        == 200
    )
    assert_never_arrives(collector, *rejected, control="ok-after-wrong")


def test_https_with_the_token_is_accepted(secured):
    collector, cert, token = secured
    assert (
        post_traces(https_url(collector), "right-token", {"Authorization": f"Bearer {token}"}, trust(cert))
        == 200
    )
    wait_for_span(collector, "right-token")
    span = next(s for s in collector.spans() if s["name"] == "right-token")
    assert span["resource"]["service.name"] == "auth-test"


def test_plain_http_is_refused_even_with_the_token(secured):
    """The token never travels in clear text to a working endpoint: the TLS port answers plain
    HTTP with Go's 400 "Client sent an HTTP request to an HTTPS server"."""
    collector, cert, token = secured
    url = f"http://127.0.0.1:{collector.http_port}/v1/traces"
    assert post_traces(url, "plain-http", {"Authorization": f"Bearer {token}"}, None) == 400
    assert (
        post_traces(https_url(collector), "ok-after-plain", {"Authorization": f"Bearer {token}"}, trust(cert))
        == 200
    )
    assert_never_arrives(collector, "plain-http", control="ok-after-plain")


def test_a_client_that_does_not_trust_the_certificate_fails_the_handshake(secured):
    collector, _cert, token = secured
    with pytest.raises(urllib.error.URLError) as caught:
        post_traces(
            https_url(collector),
            "untrusted",
            {"Authorization": f"Bearer {token}"},
            ssl.create_default_context(),
        )
    assert isinstance(caught.value.reason, ssl.SSLCertVerificationError)


def tls_handshake(port: int, cert: Path, version: ssl.TLSVersion) -> str:
    """Connects with exactly `version`; returns the negotiated version or the SSL error's text."""
    context = trust(cert)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1 constants
        context.minimum_version = context.maximum_version = version
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this OpenSSL offer old versions at all
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            return tls.version() or ""
    except ssl.SSLError as error:
        return str(error)


def test_tls_below_the_minimum_version_is_refused(secured):
    """Default min_version 1.2: the server answers a TLS 1.1 hello with a protocol_version alert."""
    collector, cert, _token = secured
    assert "ALERT_PROTOCOL_VERSION" in tls_handshake(collector.http_port, cert, ssl.TLSVersion.TLSv1_1)
    assert "ALERT_PROTOCOL_VERSION" in tls_handshake(collector.grpc_port, cert, ssl.TLSVersion.TLSv1_1)
    assert tls_handshake(collector.http_port, cert, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
    assert tls_handshake(collector.http_port, cert, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"


def test_min_version_from_the_environment(tmp_path):
    """COLLECTOR_TLS_MIN_VERSION=1.3 refuses TLS 1.2 clients."""
    cert, key = make_certificate(tmp_path)
    token_file = tmp_path / "token"
    write_tokens(token_file, secrets.token_urlsafe(32))
    collector = exposed_collector(tmp_path / "collector", cert, key, token_file)
    collector.env["COLLECTOR_TLS_MIN_VERSION"] = "1.3"
    collector.start()
    try:
        assert "ALERT_PROTOCOL_VERSION" in tls_handshake(collector.http_port, cert, ssl.TLSVersion.TLSv1_2)
        assert tls_handshake(collector.http_port, cert, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
    finally:
        collector.stop()


def otlp_environment(monkeypatch, endpoint: str, cert: Path, token: str | None) -> None:
    """What an app sets (collector/README.md): endpoint, certificate and headers from the environment."""
    for name in list(os.environ):
        if name.startswith("OTEL_EXPORTER_OTLP_"):
            monkeypatch.delenv(name)
    # `requests` lets these override the session's CA file, so the Python OTLP/HTTP exporter
    # ignores OTEL_EXPORTER_OTLP_CERTIFICATE while either is set (collector/README.md).
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", str(cert))
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "10")
    if token is not None:
        # W3C-baggage form: the space is percent-encoded (SDKs also accept a literal space).
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"authorization=Bearer%20{token}")


def export_one_span(exporter, name: str) -> SpanExportResult:
    """Sends one finished span through `exporter` and returns the exporter's result."""
    finished = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "auth-test-sdk"}))
    provider.add_span_processor(SimpleSpanProcessor(finished))
    provider.get_tracer("auth-test").start_span(name).end()
    provider.shutdown()
    try:
        return exporter.export(finished.get_finished_spans())
    finally:
        exporter.shutdown()


def test_sdk_http_exporter_configured_from_the_environment(secured, monkeypatch, caplog):
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    collector, cert, token = secured
    endpoint = f"https://127.0.0.1:{collector.http_port}"
    otlp_environment(monkeypatch, endpoint, cert, None)
    assert export_one_span(OTLPSpanExporter(), "sdk-http-no-token") == SpanExportResult.FAILURE
    assert "code: 401" in caplog.text  # refused by the collector, not failed on TLS
    otlp_environment(monkeypatch, endpoint, cert, token)
    assert export_one_span(OTLPSpanExporter(), "sdk-http-token") == SpanExportResult.SUCCESS
    assert_never_arrives(collector, "sdk-http-no-token", control="sdk-http-token")


def test_sdk_grpc_exporter_configured_from_the_environment(secured, monkeypatch, caplog):
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    collector, cert, token = secured
    endpoint = f"https://127.0.0.1:{collector.grpc_port}"
    otlp_environment(monkeypatch, endpoint, cert, None)
    # UNAUTHENTICATED is not retried, so this returns at once.
    assert export_one_span(OTLPSpanExporter(), "sdk-grpc-no-token") == SpanExportResult.FAILURE
    assert "UNAUTHENTICATED" in caplog.text  # refused by the collector, not failed on TLS
    otlp_environment(monkeypatch, endpoint, cert, secrets.token_urlsafe(32))
    assert export_one_span(OTLPSpanExporter(), "sdk-grpc-wrong-token") == SpanExportResult.FAILURE
    # Plain gRPC (no TLS) with the right token: the handshake never completes.
    otlp_environment(monkeypatch, f"http://127.0.0.1:{collector.grpc_port}", cert, token)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "3")
    assert export_one_span(OTLPSpanExporter(), "sdk-grpc-plain") == SpanExportResult.FAILURE
    otlp_environment(monkeypatch, endpoint, cert, token)
    assert export_one_span(OTLPSpanExporter(), "sdk-grpc-token") == SpanExportResult.SUCCESS
    assert_never_arrives(
        collector, "sdk-grpc-no-token", "sdk-grpc-wrong-token", "sdk-grpc-plain", control="sdk-grpc-token"
    )


def test_tokens_rotate_without_a_restart(tmp_path):
    """The token file is watched: add the new token, move apps over, then drop the old one."""
    cert, key = make_certificate(tmp_path)
    old, new = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    token_file = tmp_path / "token"
    write_tokens(token_file, f"{old}  # current")
    collector = exposed_collector(tmp_path / "collector", cert, key, token_file)
    collector.start()
    try:
        context, url = trust(cert), https_url(collector)

        def status(token: str) -> int:
            return post_traces(url, f"rotate-{token[:6]}", {"Authorization": f"Bearer {token}"}, context)

        assert (status(old), status(new)) == (200, 401)
        write_tokens(token_file, f"{new}  # current", f"{old}  # previous, until every app has moved")
        wait_until(lambda: status(new) == 200, timeout=10, what="the new token to be accepted")
        assert status(old) == 200
        write_tokens(token_file, f"{new}  # current")
        wait_until(lambda: status(old) == 401, timeout=10, what="the old token to be refused")
        assert status(new) == 200
    finally:
        collector.stop()


def test_refuses_to_start_without_the_token_file(tmp_path):
    """Fails loudly (after ~5 s of retries, for a secret mounted late) rather than starting and
    turning every app away."""
    cert, key = make_certificate(tmp_path)
    collector = exposed_collector(tmp_path / "collector", cert, key, tmp_path / "missing-token")
    result = subprocess.run(
        collector.command(), env=collector.environment(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "failed to start extensions" in result.stderr
    assert "missing-token" in result.stderr

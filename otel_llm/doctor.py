"""`otel-llm doctor`: what would stop this installation from recording what it should, and the fix.

Every check gives one `CheckResult` with a status: `ok`, `info`, `warn` or `problem` (and
`ignored`: a problem the user passed to `--ignore`). The check ids are part of the command's
interface (`--ignore ID`, the `--json` output):

- `settings`: otel-llm's settings load from the `OTEL_LLM_*` variables and the `OTEL_LLM_CONFIG`
  file. A `ConfigError` is a problem; the checks that need settings are then skipped.
- `sdk_disabled`: `OTEL_SDK_DISABLED=true` records nothing (warn); guards still act.
- `exporters`: per signal (traces, metrics, logs) the exporter, protocol and endpoint as the
  OpenTelemetry specification resolves them, and a probe of each endpoint: OTLP/HTTP gets an empty
  export request (with `OTEL_EXPORTER_OTLP_HEADERS`), gRPC a TCP connect. Unreachable, not an OTLP
  receiver, or credentials rejected are problems. Logs carry content, review samples, feedback and
  issue reports.
- `providers`: each configured provider SDK imports, at least at the oldest version the tests run
  against; another GenAI instrumentation installed beside otel-llm (duplicate spans) is a warning.
- `content`: the capture mode; when capture is on, Presidio loads the way the content worker loads
  it and redacts a test text, and the content has an exporter to go to.
- `capture_conflict`: `OTEL_LLM_CAPTURE_CONTENT` and the standard
  `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` disagree on capturing at all (problem), or
  `OTEL_LLM_CAPTURE_CONTENT` overrides a different `content.capture` in the config file (warn).
- `temporality`: delta (or lowmemory) metric temporality, which Prometheus cannot total reliably.
- `prices`: every model named with `--model`, and every model Prometheus saw in the last 7 days
  (`--prometheus URL`), has a price (genai-prices or an override in the config file).
- `guard_store`: a Redis guard store answers PING.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import socket
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging.version import InvalidVersion, Version

from . import config
from . import semconv as sc
from .config import ConfigError, Settings
from .cost import _PRICE_PROVIDER, PriceBook, Rate, Rates, _Tiered

OK, INFO, WARN, PROBLEM, IGNORED = "ok", "info", "warn", "problem", "ignored"
_SEVERITY = {OK: 0, INFO: 1, IGNORED: 1, WARN: 2, PROBLEM: 3}

CHECK_IDS = (
    "settings",
    "sdk_disabled",
    "exporters",
    "providers",
    "content",
    "capture_conflict",
    "temporality",
    "prices",
    "guard_store",
)

# The oldest SDK releases the test suite runs against (COMPAT_PINS in the Makefile).
MINIMUM_SDK_VERSIONS = {"openai": "3.0.0", "anthropic": "2.0.0"}

# Distributions that also wrap the OpenAI or Anthropic SDK with GenAI spans.
OTHER_GENAI_INSTRUMENTATIONS = (
    "opentelemetry-instrumentation-openai-v2",
    "opentelemetry-instrumentation-genai-openai",
    "opentelemetry-instrumentation-openai",
    "opentelemetry-instrumentation-anthropic",
    "openlit",
    "openinference-instrumentation-openai",
    "openinference-instrumentation-anthropic",
)

SIGNALS = ("traces", "metrics", "logs")
DEFAULT_HTTP_ENDPOINT = "http://localhost:4318"
DEFAULT_GRPC_ENDPOINT = "http://localhost:4317"
TEMPORALITY_VARIABLE = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"

# The standard capture variable's values that capture content (the others capture nothing).
STANDARD_CAPTURE_ON = frozenset({"TRUE", "EVENT_ONLY", "SPAN_ONLY", "SPAN_AND_EVENT"})
STANDARD_CAPTURE_OFF = frozenset({"", "FALSE", "NO_CONTENT"})

REDACTION_TEST_EMAIL = "jane.doe@example.com"
REDACTION_TEST_TEXT = f"Write to {REDACTION_TEST_EMAIL} or call +1 415 555 0132 about the order."

# Prometheus labels as the collector's translation spells the attributes.
_PROVIDER_LABEL = sc.GEN_AI_PROVIDER_NAME.replace(".", "_")
_REQUEST_MODEL_LABEL = sc.GEN_AI_REQUEST_MODEL.replace(".", "_")
_RESPONSE_MODEL_LABEL = sc.GEN_AI_RESPONSE_MODEL.replace(".", "_")
_CALLS_SERIES = sc.prometheus_name(sc.METRIC_OPERATION_DURATION, "s", "histogram") + "_count"
_UNPRICED_SERIES = sc.prometheus_name(sc.METRIC_UNPRICED_CALLS, "{call}", "counter")
MODELS_QUERY = (
    f"group by ({_PROVIDER_LABEL}, {_REQUEST_MODEL_LABEL}, {_RESPONSE_MODEL_LABEL}) "
    f"(max_over_time({_CALLS_SERIES}[7d]))"
)
UNPRICED_QUERY = f"sum by ({_PROVIDER_LABEL}, {_REQUEST_MODEL_LABEL}) (max_over_time({_UNPRICED_SERIES}[7d]))"


@dataclass
class CheckResult:
    id: str
    status: str
    summary: str
    details: list[str] = field(default_factory=list)
    advice: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "summary": self.summary,
            "details": self.details,
            "advice": self.advice,
        }


@dataclass
class DoctorOptions:
    models: Sequence[str] = ()
    prometheus_url: str | None = None
    timeout: float = 3.0
    ignore: Iterable[str] = ()
    # Told before each step that takes seconds (loading Presidio, probing, querying).
    progress: Callable[[str], None] = lambda message: None


def run_checks(options: DoctorOptions) -> list[CheckResult]:
    """Every check, in CHECK_IDS order; problems of ignored checks become `ignored`."""
    settings, settings_result = check_settings()

    def needing_settings(check: Callable[[Settings, DoctorOptions], CheckResult], check_id: str) -> Any:
        return lambda: _skipped(check_id) if settings is None else check(settings, options)

    steps: dict[str, Callable[[], CheckResult]] = {
        "sdk_disabled": check_sdk_disabled,
        "exporters": lambda: check_exporters(settings, options),
        "providers": needing_settings(check_providers, "providers"),
        "content": needing_settings(check_content, "content"),
        "capture_conflict": lambda: check_capture_conflict(settings),
        "temporality": check_temporality,
        "prices": needing_settings(check_prices, "prices"),
        "guard_store": needing_settings(check_guard_store, "guard_store"),
    }
    results = [settings_result, *(_run_check(check_id, step) for check_id, step in steps.items())]
    ignored = set(options.ignore)
    for result in results:
        if result.status == PROBLEM and result.id in ignored:
            result.status = IGNORED
    return results


def _run_check(check_id: str, step: Callable[[], CheckResult]) -> CheckResult:
    # One check failing in a way nobody foresaw must not hide the others' findings.
    try:
        return step()
    except Exception as exc:
        return CheckResult(
            check_id,
            PROBLEM,
            f"the check itself failed: {type(exc).__name__}: {exc}",
            advice="this is an otel-llm bug; please report it with the output of `otel-llm doctor --json`",
        )


def has_problems(results: Sequence[CheckResult]) -> bool:
    return any(result.status == PROBLEM for result in results)


def _skipped(check_id: str) -> CheckResult:
    return CheckResult(check_id, INFO, "skipped: settings invalid")


def _worst(statuses: Iterable[str]) -> str:
    return max(statuses, key=_SEVERITY.__getitem__, default=OK)


def _config_file_values(settings: Settings) -> dict[str, Any]:
    """The config file's tables (load_settings already read and validated it)."""
    if not settings.config_file:
        return {}
    with open(settings.config_file, "rb") as handle:
        return tomllib.load(handle)


# -- settings --------------------------------------------------------------------------------------


def check_settings() -> tuple[Settings | None, CheckResult]:
    try:
        settings = config.load_settings()
    except ConfigError as exc:
        return None, CheckResult(
            "settings",
            PROBLEM,
            f"invalid setting: {exc}",
            advice="fix the setting named above; docs/configuration.md lists every setting and its accepted values",
        )
    content = settings.content
    guards = settings.guards
    details = [
        f"config file: {settings.config_file or f'none ({config.OTEL_LLM_CONFIG} is not set)'}",
        f"content capture: {content.mode}, placement {content.placement}, review sample rate {content.sample_rate:g}",
        f"guards: {len(guards.budgets)} budget(s), {len(guards.rate_limits)} rate limit(s), "
        f"loop guard {'on' if guards.loop_guard else 'off'}, store {_safe_url(guards.store)}, "
        f"fail {'open' if guards.fail_open else 'closed'}",
        f"providers: {', '.join(settings.providers) or 'none'}",
    ]
    if settings.price_overrides:
        details.append(f"price overrides: {', '.join(sorted(settings.price_overrides))}")
    return settings, CheckResult("settings", OK, "settings are valid", details)


def check_sdk_disabled() -> CheckResult:
    raw = os.environ.get(config.OTEL_SDK_DISABLED, "")
    try:
        disabled = config._parse_bool(config.OTEL_SDK_DISABLED, raw)
    except ConfigError:
        return _skipped("sdk_disabled")
    if disabled:
        return CheckResult(
            "sdk_disabled",
            WARN,
            f"{config.OTEL_SDK_DISABLED}={raw}: nothing is recorded; guards still act",
            advice=f"unset {config.OTEL_SDK_DISABLED} to record telemetry",
        )
    return CheckResult("sdk_disabled", OK, "telemetry is recorded")


# -- exporters -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportTarget:
    """Where one signal goes, resolved as the OpenTelemetry SDK resolves it."""

    signal: str
    exporter: str
    protocol: str
    endpoint: str
    headers: tuple[tuple[str, str], ...]


def export_target(signal: str) -> ExportTarget:
    from .telemetry import _exporter_choice, _otlp_protocol

    upper = signal.upper()
    protocol = _otlp_protocol(upper)
    specific = os.environ.get(f"OTEL_EXPORTER_OTLP_{upper}_ENDPOINT", "").strip()
    general = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    if protocol == "grpc":
        endpoint = specific or general or DEFAULT_GRPC_ENDPOINT
    else:
        # A per-signal endpoint is used as given; the general one gets the signal's path appended.
        endpoint = specific or f"{(general or DEFAULT_HTTP_ENDPOINT).rstrip('/')}/v1/{signal}"
    headers_raw = os.environ.get(f"OTEL_EXPORTER_OTLP_{upper}_HEADERS") or os.environ.get(
        "OTEL_EXPORTER_OTLP_HEADERS", ""
    )
    return ExportTarget(
        signal,
        _exporter_choice(f"OTEL_{upper}_EXPORTER"),
        protocol,
        endpoint,
        parse_headers(headers_raw),
    )


def parse_headers(raw: str) -> tuple[tuple[str, str], ...]:
    """`k=v,k2=v2` with URL-encoded keys and values, as OTEL_EXPORTER_OTLP_HEADERS is written."""
    headers = []
    for item in raw.split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            headers.append((urllib.parse.unquote(key.strip()), urllib.parse.unquote(value.strip())))
    return tuple(headers)


@dataclass(frozen=True)
class Probe:
    status: str
    outcome: str  # the problem in a few words, for the summary; "" when fine
    detail: str


def probe_otlp_http(url: str, headers: Sequence[tuple[str, str]], timeout: float) -> Probe:
    """POSTs an empty export request: an OTLP receiver accepts it (2xx), anything else tells."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        # The HTTP exporter cannot send to it at all, whatever listens there.
        return Probe(PROBLEM, "is not an http:// or https:// URL", "is not an http:// or https:// URL")
    request = urllib.request.Request(
        url,
        data=b"",
        method="POST",
        headers={"Content-Type": "application/x-protobuf", **dict(headers)},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            code = response.status
    except urllib.error.HTTPError as exc:
        code = exc.code
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Probe(PROBLEM, "unreachable", f"unreachable ({reason})")
    if 200 <= code < 300:
        return Probe(OK, "", f"an OTLP receiver answers (HTTP {code})")
    if code in (401, 403):
        return Probe(PROBLEM, "rejected the credentials", f"rejected the credentials (HTTP {code})")
    if code in (404, 405):
        return Probe(
            PROBLEM,
            "answers but is not an OTLP receiver",
            f"answers but is not an OTLP receiver (HTTP {code} for the export path)",
        )
    if code == 429 or code >= 500:
        return Probe(WARN, "is overloaded or failing", f"answered HTTP {code}: overloaded or failing now")
    return Probe(PROBLEM, f"refused the export (HTTP {code})", f"refused an export request (HTTP {code})")


def probe_tcp(endpoint: str, timeout: float) -> Probe:
    """gRPC endpoints get a TCP connect: enough to tell whether anything listens."""
    parsed = urllib.parse.urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
    host = parsed.hostname or "localhost"
    port = parsed.port or 4317
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return Probe(OK, "", "accepts connections (TCP)")
    except OSError as exc:
        return Probe(PROBLEM, "unreachable", f"unreachable ({exc})")


_EXPORT_ADVICE = {
    "is not an http:// or https:// URL": (
        "write the endpoint as a URL with its scheme, e.g. OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 "
        "(https:// when the collector serves TLS)"
    ),
    "unreachable": (
        "start the collector (`docker compose up -d` in the otel-llm repository, or `make demo`), "
        "or set OTEL_EXPORTER_OTLP_ENDPOINT to where your collector listens"
    ),
    "answers but is not an OTLP receiver": (
        "something other than an OTLP receiver listens there: point OTEL_EXPORTER_OTLP_ENDPOINT at the "
        "collector's OTLP/HTTP address (port 4318 by default; /v1/<signal> is appended), or "
        "OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT at the full URL"
    ),
    "rejected the credentials": (
        "set OTEL_EXPORTER_OTLP_HEADERS to the credentials the collector expects, URL-encoded, "
        "e.g. authorization=Bearer%20<token>"
    ),
}


def check_exporters(settings: Settings | None, options: DoctorOptions) -> CheckResult:
    if settings is not None and settings.sdk_disabled:
        return CheckResult(
            "exporters", INFO, f"skipped: {config.OTEL_SDK_DISABLED}=true, nothing is exported"
        )
    details: list[str] = []
    statuses: list[str] = []
    failures: dict[str, list[str]] = {}  # outcome -> signals
    not_exported: list[str] = []
    probes: dict[tuple[str, str, tuple[tuple[str, str], ...]], Probe] = {}
    for signal in SIGNALS:
        target = export_target(signal)
        if target.exporter in ("none", "console"):
            details.append(
                f"{signal}: OTEL_{signal.upper()}_EXPORTER={target.exporter}: nothing is sent anywhere"
            )
            statuses.append(INFO)
            not_exported.append(signal)
            continue
        if target.exporter != "otlp":
            details.append(
                f"{signal}: OTEL_{signal.upper()}_EXPORTER={target.exporter}: otel-llm's own providers "
                "only know otlp, console and none, so nothing is exported"
            )
            statuses.append(WARN)
            not_exported.append(signal)
            continue
        if target.protocol not in ("grpc", "http/protobuf"):
            details.append(
                f"{signal}: protocol {target.protocol!r} is not one the Python exporter speaks; it sends http/protobuf"
            )
            statuses.append(WARN)
        kind = "grpc" if target.protocol == "grpc" else "http"
        key = (kind, target.endpoint, target.headers)
        if key not in probes:
            options.progress(f"probing {target.endpoint} ...")
            probes[key] = (
                probe_tcp(target.endpoint, options.timeout)
                if kind == "grpc"
                else probe_otlp_http(target.endpoint, target.headers, options.timeout)
            )
        probe = probes[key]
        details.append(f"{signal}: otlp {target.protocol} -> {target.endpoint}: {probe.detail}")
        statuses.append(probe.status)
        if probe.outcome:
            failures.setdefault(probe.outcome, []).append(signal)
    status = _worst(statuses)
    if not failures:
        summary = "the endpoints accept what otel-llm sends"
        if not_exported:
            summary = f"not exported: {', '.join(not_exported)}"
        elif status != OK:
            summary = "the endpoints answer; see the details"
        return CheckResult("exporters", status, summary, details)
    summary = "; ".join(
        f"{', '.join(signals)}: OTLP endpoint {outcome}" for outcome, signals in failures.items()
    )
    advice = "\n".join(
        _EXPORT_ADVICE.get(outcome, "check the collector's logs for why it refuses exports")
        for outcome in failures
    )
    return CheckResult("exporters", status, summary, details, advice)


# -- providers -------------------------------------------------------------------------------------


def _distribution_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _below(version: str, minimum: str) -> bool:
    try:
        return Version(version) < Version(minimum)
    except InvalidVersion:
        return False


def check_providers(settings: Settings, options: DoctorOptions) -> CheckResult:
    named_explicitly = bool(os.environ.get(config.OTEL_LLM_PROVIDERS, "").strip()) or (
        "providers" in _config_file_values(settings)
    )
    if not settings.providers:
        return CheckResult(
            "providers",
            WARN,
            "no provider SDK is configured: nothing is instrumented",
            advice=f"name providers in {config.OTEL_LLM_PROVIDERS} (e.g. openai,anthropic) or leave it unset",
        )
    options.progress("importing the provider SDKs ...")
    details: list[str] = []
    missing: list[str] = []
    outdated: list[str] = []
    importable: list[str] = []
    for provider in settings.providers:
        try:
            importlib.import_module(provider)
        except Exception as exc:  # a broken install raises anything, not only ImportError
            missing.append(provider)
            details.append(f"{provider}: cannot be imported ({type(exc).__name__}: {exc})")
            continue
        version = _distribution_version(provider) or "unknown version"
        minimum = MINIMUM_SDK_VERSIONS.get(provider)
        if minimum and _below(version, minimum):
            outdated.append(provider)
            details.append(f"{provider} {version}: below the oldest supported {minimum}")
        else:
            importable.append(provider)
            details.append(
                f"{provider} {version}: importable" + (f" (supported from {minimum})" if minimum else "")
            )

    others = [name for name in OTHER_GENAI_INSTRUMENTATIONS if _distribution_version(name)]
    problems: list[str] = []
    advice: list[str] = []
    if missing and (named_explicitly or not importable and not outdated):
        problems.append(f"provider SDK missing: {', '.join(missing)}")
        advice.append(
            f"pip install {' '.join(missing)}"
            + (
                f", or remove it from {config.OTEL_LLM_PROVIDERS} / the config file"
                if named_explicitly
                else ""
            )
        )
    elif missing:
        details.append(f"not installed, so not instrumented: {', '.join(missing)}")
    if outdated:
        problems.append(f"provider SDK too old: {', '.join(outdated)}")
        advice.append("pip install -U " + " ".join(f"'{p}>={MINIMUM_SDK_VERSIONS[p]}'" for p in outdated))
    if others:
        details.append(f"other GenAI instrumentation installed: {', '.join(others)}")
    if problems:
        return CheckResult("providers", PROBLEM, "; ".join(problems), details, "\n".join(advice))
    if others:
        return CheckResult(
            "providers",
            WARN,
            f"another GenAI instrumentation is installed: {', '.join(others)}",
            details,
            "two instrumentations give duplicate spans; otel-llm detects this at run time and reports it; "
            "uninstall or disable one",
        )
    status = INFO if missing else OK
    return CheckResult("providers", status, f"importable: {', '.join(importable)}", details)


# -- content ---------------------------------------------------------------------------------------


def check_content(settings: Settings, options: DoctorOptions) -> CheckResult:
    from .content import _default_redactor
    from .telemetry import _exporter_choice

    content = settings.content
    if content.mode == "off":
        return CheckResult(
            "content",
            OK,
            "off: no prompts or outputs leave the process",
            [
                "review samples and feedback comments need content capture: "
                f"{config.OTEL_LLM_CAPTURE_CONTENT}=sampled"
            ],
        )
    details = [f"mode {content.mode}, placement {content.placement}"]
    problems: list[tuple[str, str]] = []  # (summary, advice)
    logs_exporter = _exporter_choice("OTEL_LOGS_EXPORTER")
    if content.placement == "event" and logs_exporter == "none":
        problems.append(
            (
                "content capture is on with placement event but OTEL_LOGS_EXPORTER=none: "
                "the redacted content goes nowhere",
                "unset OTEL_LOGS_EXPORTER (otlp is the default), put content on spans "
                f"({config.OTEL_GENAI_CAPTURE}=SPAN_ONLY), or set {config.OTEL_LLM_CAPTURE_CONTENT}=off",
            )
        )
    options.progress("checking Presidio (loads in a few seconds) ...")
    started = time.perf_counter()
    try:
        redactor = _default_redactor(content)
        redacted = redactor.redact([REDACTION_TEST_TEXT])
    except Exception as exc:  # ImportError included: a missing or broken Presidio install
        problems.append(
            (
                f"content capture is on but Presidio cannot load: {type(exc).__name__}: {exc}",
                "install presidio-analyzer and presidio-anonymizer (pip install -U presidio-analyzer "
                f"presidio-anonymizer), or set {config.OTEL_LLM_CAPTURE_CONTENT}=off; "
                "until then every captured call's content is dropped",
            )
        )
    else:
        seconds = time.perf_counter() - started
        found = ", ".join(f"{entity} x{count}" for entity, count in sorted(redacted.entities.items()))
        details.append(
            f"Presidio loaded and redacted a test text in {seconds:.1f} s (found: {found or 'nothing'})"
        )
        if getattr(redactor, "ner_available", False):
            details.append(
                f"NLP engine: spaCy model {content.spacy_model or 'an installed en_core_web_* pipeline'}"
            )
        else:
            notice = getattr(redactor, "notice", None)
            details.append(f"NLP engine: none, pattern recognizers only{f' ({notice})' if notice else ''}")
        wants_email = "EMAIL_ADDRESS" in getattr(redactor, "entities", ("EMAIL_ADDRESS",))
        if wants_email and REDACTION_TEST_EMAIL in redacted.texts[0]:
            problems.append(
                (
                    "Presidio loaded but left an e-mail address in the test text",
                    "check the redaction settings (score threshold, allow-list) in docs/configuration.md",
                )
            )
    if problems:
        details += [summary for summary, _ in problems[1:]]
        return CheckResult(
            "content", PROBLEM, problems[0][0], details, "\n".join(advice for _, advice in problems)
        )
    return CheckResult(
        "content", OK, f"{content.mode}: content is redacted before it leaves the process", details
    )


def check_capture_conflict(settings: Settings | None) -> CheckResult:
    ours_raw = os.environ.get(config.OTEL_LLM_CAPTURE_CONTENT) or None  # empty counts as unset
    standard_raw = os.environ.get(config.OTEL_GENAI_CAPTURE)
    ours = ours_raw.strip().lower() if ours_raw else None
    if ours is not None and ours not in config.CAPTURE_MODES:
        return _skipped("capture_conflict")
    if ours is not None and standard_raw is not None:
        standard = standard_raw.strip().upper()
        if standard in STANDARD_CAPTURE_ON | STANDARD_CAPTURE_OFF and (ours != "off") != (
            standard in STANDARD_CAPTURE_ON
        ):
            captured = "content is captured" if ours != "off" else "no content is captured"
            return CheckResult(
                "capture_conflict",
                PROBLEM,
                f"{config.OTEL_LLM_CAPTURE_CONTENT}={ours_raw} and {config.OTEL_GENAI_CAPTURE}={standard_raw} "
                f"disagree; {config.OTEL_LLM_CAPTURE_CONTENT} wins, so {captured}",
                advice="unset one of the two, or make them agree (off = NO_CONTENT/false; sampled or all = "
                "EVENT_ONLY/SPAN_ONLY/SPAN_AND_EVENT/true)",
            )
    if ours is not None and settings is not None:
        file_capture = _config_file_values(settings).get("content", {}).get("capture")
        if file_capture is not None and str(file_capture).strip().lower() != ours:
            return CheckResult(
                "capture_conflict",
                WARN,
                f"{config.OTEL_LLM_CAPTURE_CONTENT}={ours_raw} overrides content.capture = {file_capture!r} "
                f"in {settings.config_file}",
                advice="remove one of them so the configuration says what happens",
            )
    return CheckResult("capture_conflict", OK, "the content capture settings agree")


# -- temporality -----------------------------------------------------------------------------------


def check_temporality() -> CheckResult:
    raw = os.environ.get(TEMPORALITY_VARIABLE, "")
    value = raw.strip().lower()
    if value in ("delta", "lowmemory"):
        return CheckResult(
            "temporality",
            PROBLEM,
            f"{TEMPORALITY_VARIABLE}={raw}: Prometheus needs cumulative counters",
            [
                "the bundled collector converts delta to cumulative (delta_to_cumulative), but only when "
                "every series of an app passes through that one collector",
                "other paths (Prometheus' own OTLP receiver, a second gateway collector) give wrong totals",
            ],
            f"unset {TEMPORALITY_VARIABLE} (cumulative is the default), or pass `--ignore temporality` "
            "if every path goes through the bundled collector config",
        )
    if value in ("", "cumulative"):
        return CheckResult("temporality", OK, "cumulative (what Prometheus needs)")
    return CheckResult(
        "temporality",
        WARN,
        f"{TEMPORALITY_VARIABLE}={raw} is not a known value; the SDK falls back to cumulative",
        advice=f"unset {TEMPORALITY_VARIABLE}",
    )


# -- prices ----------------------------------------------------------------------------------------


def split_model(spec: str) -> tuple[str, str]:
    """`provider:model` or a bare model -> (provider, model). Only a known provider counts as a
    prefix: fine-tuned and Bedrock model ids contain colons themselves."""
    prefix, sep, model = spec.partition(":")
    if sep and model and prefix in _PRICE_PROVIDER:
        return prefix, model
    return guess_provider(spec), spec


def guess_provider(model: str) -> str:
    # claude* is Anthropic's; gpt*, o1/o3/o4* and anything else are looked up as OpenAI's first
    # (genai-prices then matches the model in any provider).
    return "anthropic" if model.startswith("claude") else "openai"


def per_mtok(rate: Rate) -> float | None:
    """A per-token rate as USD per million tokens (the base rate of a tiered one)."""
    if rate is None:
        return None
    base = rate.base if isinstance(rate, _Tiered) else rate
    return round(base * 1_000_000, 9)


def is_tiered(rates: Rates) -> bool:
    return any(
        isinstance(rate, _Tiered) for rate in (rates.input, rates.output, rates.cache_read, rates.cache_write)
    )


def describe_rates(rates: Rates) -> str:
    def usd(rate: Rate) -> str:
        value = per_mtok(rate)
        return "not listed" if value is None else f"${value:g}"

    text = f"input {usd(rates.input)}, output {usd(rates.output)} per 1M tokens ({rates.source})"
    return text + (", tiered: higher above an input-token threshold" if is_tiered(rates) else "")


def price_snippet(models: Iterable[str], config_file: str | None) -> str:
    """The TOML that prices `models`, and where it goes."""
    lines = []
    for model in models:
        lines += [
            f"[prices.{json.dumps(model)}]",
            "input_mtok = 0.0   # USD per 1M input tokens",
            "output_mtok = 0.0  # USD per 1M output tokens",
        ]
    where = (
        f"add to {config_file} (the file {config.OTEL_LLM_CONFIG} names)"
        if config_file
        else f"put in a TOML file and set {config.OTEL_LLM_CONFIG} to its path"
    )
    optional = " and ".join(config.PRICE_FIELDS[2:])
    return f"{where}, with your real prices ({optional} are optional):\n" + "\n".join(lines)


def _prometheus_query(url: str, expr: str, timeout: float) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(f"{url.rstrip('/')}/api/v1/query?{query}", timeout=timeout) as response:
        body = json.loads(response.read())
    if body.get("status") != "success":
        raise ValueError(f"query failed: {body.get('error', body)}")
    return body["data"]["result"]


def check_prices(settings: Settings, options: DoctorOptions) -> CheckResult:
    book = PriceBook(settings.price_overrides)
    # (provider, request model, response model or "", where it was seen)
    uses: list[tuple[str, str, str, str]] = [(*split_model(spec), "", "--model") for spec in options.models]
    recorded_unpriced: set[tuple[str, str]] = set()
    problems: list[str] = []
    advice: list[str] = []
    if options.prometheus_url:
        options.progress(f"querying Prometheus at {options.prometheus_url} ...")
        try:
            series = _prometheus_query(options.prometheus_url, MODELS_QUERY, options.timeout)
            unpriced = _prometheus_query(options.prometheus_url, UNPRICED_QUERY, options.timeout)
        except Exception as exc:  # unreachable, not Prometheus, or a failing query
            problems.append(
                f"Prometheus at {options.prometheus_url} cannot be queried ({type(exc).__name__}: {exc})"
            )
            advice.append("check --prometheus: the URL of the Prometheus your collector writes to")
        else:
            for item in series:
                labels = item["metric"]
                request = labels.get(_REQUEST_MODEL_LABEL, "")
                response = labels.get(_RESPONSE_MODEL_LABEL, "")
                if request or response:
                    uses.append((labels.get(_PROVIDER_LABEL, ""), request, response, "Prometheus"))
            for item in unpriced:
                labels = item["metric"]
                if labels.get(_REQUEST_MODEL_LABEL) and float(item["value"][1]) > 0:
                    recorded_unpriced.add((labels.get(_PROVIDER_LABEL, ""), labels[_REQUEST_MODEL_LABEL]))
    if not uses and not problems:
        return CheckResult("prices", INFO, "pass --model or --prometheus to check price coverage")

    details: list[str] = []
    unpriced_models: list[str] = []
    priced_since: list[str] = []
    for provider, request, response, origin in sorted(set(uses), key=lambda use: use[:3]):
        # As the app prices a call: the response model, else the request model (a dated response
        # model may be unknown where its alias is priced).
        candidates = [model for model in (response, request) if model]
        found = next(((m, r) for m in candidates if (r := book.rates(provider, m)) is not None), None)
        name = f"{provider}:{request or response}" + (
            f" (response {response})" if response and request != response else ""
        )
        if found is None:
            unpriced_models.append(f"{provider}:{candidates[0]}")
            details.append(f"{name}: NO PRICE [{origin}]")
            continue
        details.append(f"{name}: {describe_rates(found[1])} [{origin}]")
        if (provider, request) in recorded_unpriced:
            priced_since.append(f"{provider}:{request}")
    details = list(dict.fromkeys(details))  # a model seen with and without a response model
    if unpriced_models:
        bare = sorted({model.partition(":")[2] for model in unpriced_models})
        problems.insert(0, f"unpriced model(s): {', '.join(sorted(set(unpriced_models)))}")
        advice.insert(0, price_snippet(bare, settings.config_file))
    if problems:
        return CheckResult("prices", PROBLEM, "; ".join(problems), details, "\n".join(advice))
    if priced_since:
        return CheckResult(
            "prices",
            WARN,
            f"recorded as unpriced in the last 7 days but priced with these settings: {', '.join(priced_since)}",
            details,
            "an override added since is fine once the apps restart; otherwise the apps run with other "
            "settings (OTEL_LLM_CONFIG) or another genai-prices version than this command",
        )
    return CheckResult("prices", OK, f"{len(details)} model(s) priced", details)


# -- guard store -----------------------------------------------------------------------------------


def _safe_url(url: str) -> str:
    """`url` without its password, for output."""
    parsed = urllib.parse.urlsplit(url)
    if not parsed.password:
        return url
    netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@")
    return urllib.parse.urlunsplit(parsed._replace(netloc=netloc))


def check_guard_store(settings: Settings, options: DoctorOptions) -> CheckResult:
    guards = settings.guards
    if guards.store == "memory":
        detail = (
            "each process counts on its own; a redis:// store shares budgets and rate limits"
            if guards.active
            else "no guards are configured"
        )
        return CheckResult("guard_store", OK, "memory (in-process counters)", [detail])
    url = _safe_url(guards.store)
    try:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
    except ImportError:
        return CheckResult(
            "guard_store",
            PROBLEM,
            f"the guard store is {url} but the redis package is not installed",
            advice="pip install 'otel-llm[redis]'",
        )
    options.progress(f"pinging the guard store {url} ...")
    try:
        client = redis.Redis.from_url(
            guards.store,
            socket_connect_timeout=options.timeout,
            socket_timeout=options.timeout,
            retry=Retry(NoBackoff(), 0),
        )
        client.ping()
    except Exception as exc:
        fail = "open: calls go on unguarded" if guards.fail_open else "closed: calls are stopped"
        return CheckResult(
            "guard_store",
            PROBLEM,
            f"guard store {url} unreachable ({type(exc).__name__}: {exc})",
            advice=f"while it is unreachable the guards fail {fail} ({config.OTEL_LLM_GUARD_FAIL}); "
            f"start Redis or fix {config.OTEL_LLM_GUARD_STORE}",
        )
    return CheckResult("guard_store", OK, f"{url} answers")

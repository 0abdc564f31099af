"""`otel-llm review export`: the review sample as a file people fill in (CSV or JSON lines).

Calls in the review sample emit an `otel_llm.review.sample` event (see otel_llm/content.py): the
call's redacted input and output, validation results, models, feature and prompt version. This
command collects those events and writes one row per sampled call, with empty columns for the
reviewer::

    otel-llm review export collector-output/logs.jsonl -o review.csv --since 7d
    otel-llm review export --loki http://localhost:3100 --feature refunds -o review.csv
    python -m otel_llm.review_export logs.jsonl --failed-only          # JSON lines on stdout

Inputs
------
* Files written by the collector's `file/logs` exporter (collector/config-local.yaml, format
  json): JSON lines, each one OTLP/JSON ExportLogsServiceRequest. Several files may be given;
  `-` reads standard input. A line that is not JSON or not OTLP is skipped and counted.
* Loki (`--loki URL`, docker-compose: http://localhost:3100), read with `query_range` in pages of
  `--loki-page-size` entries, oldest first; each page starts at the last timestamp of the one
  before (entries repeated there are deduplicated), so entries sharing a nanosecond across a page
  boundary are not lost. Loki's OTLP ingestion keeps log attributes, `trace_id` and `span_id` as
  structured metadata (dots become underscores) and the body map as the log line (JSON); the
  default query selects the entries carrying `otel_llm_review_sample_rate`. No Loki runs where
  this was written: the Loki path is checked only against a local server answering in the
  recorded `query_range` shape, over entries converted from real collector output as Loki's OTLP
  ingestion (v3.x) describes it, not against a running Loki.

Output
------
One row per review sample, deduplicated by (trace_id, span_id), oldest first. `--format csv`
(the default when `-o` ends in .csv) or `jsonl` (otherwise). Columns, in `COLUMNS` order:

==================  ==============================================================================
time                the call's end, ISO 8601 UTC (microseconds)
service             resource `service.name`
environment         resource `deployment.environment.name`
trace_id, span_id   the call's span (open it in Tempo/Grafana)
response_id         `gen_ai.response.id`
provider            `gen_ai.provider.name`
operation           `gen_ai.operation.name`
request_model       `gen_ai.request.model`
response_model      `gen_ai.response.model`
feature             `otel_llm.feature` (set by the app with `otel_llm.attributes`)
prompt_version      `otel_llm.prompt.version` (likewise)
error_type          `error.type` of a failed call, else empty
sample_rate         the share of calls sampled when this one was (to extrapolate counts)
validation          e.g. "json: fail (not valid JSON: ...); regex: pass"
validation_failed   true when any validation failed
system              the system instructions given apart from the messages (e.g. Anthropic's `system`)
input               the conversation sent, one "role: text" line per message; tool calls as
                    "tool_call name(arguments)", tool results as "tool_call_response id: result"
output              the model's answer, rendered the same way
review_score        for the reviewer: a score on the team's scale (e.g. 1-5)
review_label        for the reviewer: a verdict such as good / bad / needs_fix
review_notes        for the reviewer: free text (what is wrong, what the answer should have been)
reviewer            for the reviewer: who reviewed the row
==================  ==============================================================================

JSON lines objects have the same keys plus `input_messages` and `output_messages` (the GenAI
conventions' structured messages); missing values are "" there, `sample_rate` is a number (or
null) and `validation_failed` a boolean. CSV is written with the csv module (cells with newlines
are quoted), as UTF-8 with a byte-order mark when written to a file (so spreadsheets detect the
encoding); a cell starting with = + - @ gets a leading ' so spreadsheets do not run it as a
formula, and a cell longer than a spreadsheet cell holds (32,767 characters) is cut with a note
(the JSON lines export keeps everything). An existing output file is not overwritten without
`--force`: it may hold reviewers' work. All text is as the app exported it: already redacted.

Filters: `--service`, `--feature`, `--prompt-version`, `--since`/`--until` (a duration before now
such as 30m, 24h, 7d, or an ISO 8601 time; files have no lower bound by default, Loki 24h),
`--failed-only` (a validation failed or the call errored), `--limit N` (the newest N rows after
filtering, still written oldest first).

Exit status: 0 on success (also with no rows), 1 when an input cannot be read, Loki cannot be
reached or answers an error, or the output cannot be written; 2 for usage errors.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from . import semconv as sc
from .cli import positive_seconds
from .otlp_json import otlp_attributes, otlp_value

PROG = "otel-llm review export"

COLUMNS = (
    "time",
    "service",
    "environment",
    "trace_id",
    "span_id",
    "response_id",
    "provider",
    "operation",
    "request_model",
    "response_model",
    "feature",
    "prompt_version",
    "error_type",
    "sample_rate",
    "validation",
    "validation_failed",
    "system",
    "input",
    "output",
    "review_score",
    "review_label",
    "review_notes",
    "reviewer",
)
REVIEWER_COLUMNS = ("review_score", "review_label", "review_notes", "reviewer")
JSONL_EXTRA = ("input_messages", "output_messages")

# Columns copied from the event's attributes.
ATTRIBUTE_COLUMNS = {
    "response_id": sc.GEN_AI_RESPONSE_ID,
    "provider": sc.GEN_AI_PROVIDER_NAME,
    "operation": sc.GEN_AI_OPERATION_NAME,
    "request_model": sc.GEN_AI_REQUEST_MODEL,
    "response_model": sc.GEN_AI_RESPONSE_MODEL,
    "feature": sc.FEATURE,
    "prompt_version": sc.PROMPT_VERSION,
    "error_type": sc.ERROR_TYPE,
}
SERVICE_NAME = "service.name"
ENVIRONMENT = "deployment.environment.name"

DEFAULT_LOKI_SINCE = timedelta(hours=24)
DEFAULT_LOKI_PAGE_SIZE = 1000
PROGRESS_EVERY = 10_000
# Excel's (and LibreOffice's) limit on the characters in one cell.
CELL_LIMIT = 32_767
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LAST_NS = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1) * 1000
NO_SAMPLES_HINT = (
    "review samples are emitted only when content capture is `sampled` or `all` "
    "(OTEL_LLM_CAPTURE_CONTENT) and the sample rate (OTEL_LLM_SAMPLE_RATE) is above 0"
)


class InputError(Exception):
    """An input could not be read (missing file, unreachable Loki, Loki error): exit 1."""


class UsageError(Exception):
    """Arguments that parse but do not make sense together: exit 2."""


@dataclass
class Sample:
    """One review sample event, whatever it was read from. `attributes` use the OTel names."""

    time_ns: int
    service: str
    environment: str
    trace_id: str
    span_id: str
    attributes: dict[str, Any]
    body: dict[str, Any]

    @property
    def key(self) -> tuple[Any, ...]:
        if self.trace_id and self.span_id:
            return (self.trace_id, self.span_id)
        return (self.time_ns, json.dumps(self.body, sort_keys=True))


# -- arguments -------------------------------------------------------------------------------------


def _time_bound(text: str) -> datetime | timedelta:
    """A duration before now (30m, 24h, 7d, 2w) or an ISO 8601 time (UTC when no offset)."""
    match = _DURATION.match(text.strip())
    if match:
        seconds = float(match[1]) * _UNIT_SECONDS[match[2]]
        if seconds > (datetime.now(UTC) - datetime.min.replace(tzinfo=UTC)).total_seconds():
            raise argparse.ArgumentTypeError(f"{text!r} reaches back before the year 1")
        return timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a duration (30m, 24h, 7d) nor an ISO 8601 time (2026-11-03T10:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not a header of the form 'Name: value'")
    return name.strip(), value.strip()


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _loki_url(text: str) -> str:
    parsed = urllib.parse.urlparse(text)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise argparse.ArgumentTypeError(f"{text!r} is not an http(s) URL such as http://localhost:3100")
    return text.rstrip("/")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Adds the `review export` arguments to `parser` (the `otel-llm` CLI or this module's own)."""
    parser.description = "Write the review sample (otel_llm.review.sample events) as CSV or JSON lines."
    parser.add_argument(
        "inputs",
        nargs="*",
        metavar="FILE",
        help="collector file-exporter output (JSON lines of OTLP/JSON logs); '-' reads stdin",
    )
    source = parser.add_argument_group("Loki")
    source.add_argument(
        "--loki", type=_loki_url, metavar="URL", help="read from Loki, e.g. http://localhost:3100"
    )
    source.add_argument(
        "--loki-header",
        type=_header,
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="extra request header, e.g. 'X-Scope-OrgID: tenant' (repeatable)",
    )
    source.add_argument("--loki-query", metavar="LOGQL", help="LogQL query instead of the default one")
    source.add_argument(
        "--loki-page-size",
        type=_positive,
        default=DEFAULT_LOKI_PAGE_SIZE,
        metavar="N",
        help=f"entries per query_range request (default {DEFAULT_LOKI_PAGE_SIZE})",
    )
    source.add_argument(
        "--timeout",
        type=positive_seconds,
        default=30.0,
        metavar="SECONDS",
        help="per Loki request (default 30)",
    )
    filters = parser.add_argument_group("filters")
    filters.add_argument("--service", metavar="NAME", help="only this service.name")
    filters.add_argument("--feature", metavar="F", help="only this otel_llm.feature")
    filters.add_argument("--prompt-version", metavar="V", help="only this otel_llm.prompt.version")
    filters.add_argument(
        "--since",
        type=_time_bound,
        metavar="WHEN",
        help="duration before now (30m, 24h, 7d) or ISO time; default: none for files, 24h for Loki",
    )
    filters.add_argument("--until", type=_time_bound, metavar="WHEN", help="same forms; default: now")
    filters.add_argument(
        "--failed-only", action="store_true", help="only calls whose validation failed or that errored"
    )
    filters.add_argument(
        "--limit", type=_positive, metavar="N", help="only the newest N rows (after filtering)"
    )
    output = parser.add_argument_group("output")
    output.add_argument("-o", "--output", metavar="FILE", help="default: stdout")
    output.add_argument(
        "--format", choices=("jsonl", "csv"), help="default: csv when --output ends in .csv, else jsonl"
    )
    output.add_argument("--force", action="store_true", help="overwrite an existing output file")
    output.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


# -- reading collector files -----------------------------------------------------------------------


def _time_ns(value: Any) -> int:
    """A record's time in nanoseconds since the epoch; ValueError when no datetime can hold it."""
    time_ns = int(value or 0)
    if not 0 <= time_ns <= _LAST_NS:
        raise ValueError(f"time {value!r} is out of range")
    return time_ns


def _samples_in_request(request: Any) -> list[Sample]:
    """The review samples in one OTLP/JSON ExportLogsServiceRequest; raises on a malformed one."""
    if not isinstance(request, dict) or not isinstance(request.get("resourceLogs"), list):
        raise ValueError("not an OTLP/JSON logs request")
    found = []
    for resource_logs in request["resourceLogs"]:
        resource = otlp_attributes(resource_logs.get("resource", {}).get("attributes", []))
        for scope_logs in resource_logs.get("scopeLogs", []):
            for record in scope_logs.get("logRecords", []):
                if record.get("eventName") != sc.EVENT_REVIEW_SAMPLE:
                    continue
                body = otlp_value(record.get("body", {}))
                found.append(
                    Sample(
                        time_ns=_time_ns(record.get("timeUnixNano") or record.get("observedTimeUnixNano")),
                        service=str(resource.get(SERVICE_NAME) or ""),
                        environment=str(resource.get(ENVIRONMENT) or ""),
                        trace_id=str(record.get("traceId") or "").lower(),
                        span_id=str(record.get("spanId") or "").lower(),
                        attributes=otlp_attributes(record.get("attributes", [])),
                        body=body if isinstance(body, dict) else {},
                    )
                )
    return found


def _open_input(name: str) -> IO[bytes]:
    if name == "-":
        return sys.stdin.buffer
    try:
        return open(name, "rb")  # noqa: SIM115 - closed by the caller
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror or exc}") from None


def read_file(name: str, say: Any) -> tuple[list[Sample], int]:
    """(review samples, malformed lines) of one collector output file ('-': stdin)."""
    label = "stdin" if name == "-" else name
    handle = _open_input(name)
    samples: list[Sample] = []
    malformed = lines = 0
    try:
        for lines, line in enumerate(handle, 1):
            if lines % PROGRESS_EVERY == 0:
                say(f"{label}: {lines:,} lines read, {len(samples):,} review samples so far")
            if not line.strip():
                continue
            try:
                samples.extend(_samples_in_request(json.loads(line)))
            except (ValueError, TypeError, AttributeError, KeyError):
                malformed += 1
    except OSError as exc:
        raise InputError(f"cannot read {label}: {exc.strerror or exc}") from None
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()
    say(f"{label}: {lines:,} line(s), {len(samples):,} review sample(s)")
    return samples, malformed


# -- reading Loki ------------------------------------------------------------------------------------


def _logql_string(value: str) -> str:
    return json.dumps(value)  # a Go string literal: quotes and backslashes escaped


def default_loki_query(service: str | None, feature: str | None, prompt_version: str | None) -> str:
    """LogQL selecting review samples (attributes are structured metadata, dots as underscores)."""
    selector = f"{{service_name={_logql_string(service)}}}" if service else '{service_name=~".+"}'
    query = f'{selector} | {_loki_name(sc.REVIEW_SAMPLE_RATE)} != ""'
    if feature:
        query += f" | {_loki_name(sc.FEATURE)} = {_logql_string(feature)}"
    if prompt_version:
        query += f" | {_loki_name(sc.PROMPT_VERSION)} = {_logql_string(prompt_version)}"
    return query


def _loki_name(attribute: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", attribute)


def _sample_from_loki(timestamp: str, line: str, labels: dict[str, str]) -> Sample | None:
    """A review sample from one Loki entry; None when it is not one. Raises on a malformed line."""
    if _loki_name(sc.REVIEW_SAMPLE_RATE) not in labels:
        return None
    body = json.loads(line)
    if not isinstance(body, dict):
        raise ValueError("the log line is not a JSON object")
    attributes: dict[str, Any] = {}
    for name in (*ATTRIBUTE_COLUMNS.values(), sc.REVIEW_SAMPLE_RATE):
        value = labels.get(_loki_name(name))
        if value not in (None, ""):
            attributes[name] = value
    return Sample(
        time_ns=_time_ns(timestamp),
        service=labels.get(_loki_name(SERVICE_NAME), ""),
        environment=labels.get(_loki_name(ENVIRONMENT), "") or labels.get("deployment_environment", ""),
        trace_id=labels.get("trace_id", "").lower(),
        span_id=labels.get("span_id", "").lower(),
        attributes=attributes,
        body=body,
    )


def _loki_get(url: str, headers: dict[str, str], timeout: float) -> Any:
    request = urllib.request.Request(url, headers={"Accept": "application/json", **headers})
    where = url.split("?", 1)[0]
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read(500).decode("utf-8", "replace").strip()
        raise InputError(f"Loki at {where} answered HTTP {exc.code} {exc.reason}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise InputError(f"cannot reach Loki at {where}: {reason}") from None
    try:
        answer = json.loads(payload)
    except ValueError:
        raise InputError(f"Loki at {where} answered something that is not JSON") from None
    if not isinstance(answer, dict) or answer.get("status") != "success":
        raise InputError(f"Loki at {where} answered an error: {str(answer)[:500]}")
    return answer.get("data") or {}


def _loki_entries(data: Any) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(timestamp ns, line, labels) of a `streams` answer; structured metadata merged into the
    labels, also when the server sends it apart (the categorize-labels encoding)."""
    for stream in data.get("result") or []:
        labels = dict(stream.get("stream") or {})
        for value in stream.get("values") or []:
            entry_labels = labels
            if len(value) > 2 and isinstance(value[2], dict):
                entry_labels = {**labels}
                for group in value[2].values():
                    if isinstance(group, dict):
                        entry_labels.update(group)
            yield str(value[0]), str(value[1]), entry_labels


def read_loki(
    base_url: str,
    query: str,
    start_ns: int,
    end_ns: int,
    page_size: int,
    headers: dict[str, str],
    timeout: float,
    say: Any,
) -> tuple[list[Sample], int]:
    """(review samples, malformed entries) from Loki's query_range, oldest first, page by page."""
    endpoint = f"{base_url}/loki/api/v1/query_range"
    samples: list[Sample] = []
    malformed = pages = 0
    start = start_ns
    while True:
        params = {
            "query": query,
            "start": str(start),
            "end": str(end_ns),
            "limit": str(page_size),
            "direction": "forward",
        }
        data = _loki_get(f"{endpoint}?{urllib.parse.urlencode(params)}", headers, timeout)
        entries = list(_loki_entries(data))
        pages += 1
        say(f"Loki: page {pages}, {len(entries)} entries from {endpoint}")
        for timestamp, line, labels in entries:
            try:
                sample = _sample_from_loki(timestamp, line, labels)
            except (ValueError, TypeError):
                malformed += 1
                continue
            if sample is not None:
                samples.append(sample)
        if len(entries) < page_size:
            return samples, malformed
        last = max(int(timestamp) for timestamp, _, _ in entries)
        if last < start:
            raise InputError(f"Loki at {endpoint} answered entries older than the requested start")
        # The next page starts at the last timestamp (entries there repeat and are deduplicated)
        # unless the whole page had that timestamp: then past it, or paging would never end.
        start = last if last > start else last + 1


# -- rows ------------------------------------------------------------------------------------------


def _json_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def render_part(part: Any) -> str:
    """One message part as readable text."""
    if not isinstance(part, dict):
        return _json_text(part)
    kind = part.get("type")
    if kind == "text":
        return str(part.get("content") or "")
    if kind == "reasoning":
        return f"(reasoning) {part.get('content') or ''}"
    if kind in ("tool_call", "server_tool_call"):
        arguments = part.get("arguments", part.get("server_tool_call"))
        return f"{kind} {part.get('name') or ''}({'' if arguments is None else _json_text(arguments)})"
    if kind in ("tool_call_response", "server_tool_call_response"):
        response = part.get("response", part.get("server_tool_call_response"))
        if isinstance(response, list):
            response = " ".join(render_part(item) for item in response)
        return f"{kind} {part.get('id') or ''}: {'' if response is None else _json_text(response)}"
    if kind in ("blob", "uri", "file"):
        where = part.get("uri") or part.get("file_id") or part.get("mime_type") or ""
        return f"[{part.get('modality') or 'media'} {kind}{': ' + str(where) if where else ''}]"
    rest = {key: value for key, value in part.items() if key != "type"}
    return f"[{kind}] {_json_text(rest)}" if rest else f"[{kind}]"


def render_messages(messages: Any) -> str:
    """A conversation as text: one "role: text" line per message."""
    lines = []
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, dict):
            continue
        role = str(message.get("role") or "?")
        if message.get("name"):
            role = f"{role} ({message['name']})"
        parts = message.get("parts") if isinstance(message.get("parts"), list) else []
        lines.append(f"{role}: {' '.join(render_part(part) for part in parts)}")
    return "\n".join(lines)


def render_validation(results: Any) -> tuple[str, bool]:
    """("json: fail (why); regex: pass", any failed)."""
    shown, failed = [], False
    for result in results if isinstance(results, list) else []:
        if not isinstance(result, dict):
            continue
        label = str(result.get("label") or "")
        failed = failed or label == "fail"
        text = f"{result.get('name') or '?'}: {label}"
        if result.get("explanation"):
            text += f" ({result['explanation']})"
        shown.append(text)
    return "; ".join(shown), failed


def _iso(time_ns: int) -> str:
    moment = _EPOCH + timedelta(microseconds=time_ns // 1000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _rate(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def to_row(sample: Sample) -> dict[str, Any]:
    """The output row of one sample (JSON lines form; the CSV form stringifies it)."""
    body, attributes = sample.body, sample.attributes
    validation, failed = render_validation(body.get(sc.REVIEW_VALIDATION))
    system = body.get(sc.GEN_AI_SYSTEM_INSTRUCTIONS)
    row: dict[str, Any] = {
        "time": _iso(sample.time_ns),
        "service": sample.service,
        "environment": sample.environment,
        "trace_id": sample.trace_id,
        "span_id": sample.span_id,
        **{column: str(attributes.get(name) or "") for column, name in ATTRIBUTE_COLUMNS.items()},
        "sample_rate": _rate(attributes.get(sc.REVIEW_SAMPLE_RATE)),
        "validation": validation,
        "validation_failed": failed,
        "system": " ".join(render_part(part) for part in system) if isinstance(system, list) else "",
        "input": render_messages(body.get(sc.GEN_AI_INPUT_MESSAGES)),
        "output": render_messages(body.get(sc.GEN_AI_OUTPUT_MESSAGES)),
        **dict.fromkeys(REVIEWER_COLUMNS, ""),
        "input_messages": body.get(sc.GEN_AI_INPUT_MESSAGES) or [],
        "output_messages": body.get(sc.GEN_AI_OUTPUT_MESSAGES) or [],
    }
    return row


def _ns(bound: datetime | timedelta, now: datetime) -> int:
    """Nanoseconds since the epoch of a time, or of a duration before `now`."""
    moment = now - bound if isinstance(bound, timedelta) else bound
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


def _equals(value: Any, wanted: str) -> bool:
    # attributes(prompt_version=3) is exported as a number; Loki gives every label as a string
    return value is not None and str(value) == wanted


def select(
    samples: Iterable[Sample], args: argparse.Namespace, since_ns: int | None, until_ns: int | None
) -> list[Sample]:
    """Deduplicated, filtered, oldest first; with --limit the newest N."""
    unique: dict[tuple[Any, ...], Sample] = {}
    for sample in samples:
        unique.setdefault(sample.key, sample)
    kept = []
    for sample in unique.values():
        attributes = sample.attributes
        if args.service is not None and sample.service != args.service:
            continue
        if args.feature is not None and not _equals(attributes.get(sc.FEATURE), args.feature):
            continue
        if args.prompt_version is not None and not _equals(
            attributes.get(sc.PROMPT_VERSION), args.prompt_version
        ):
            continue
        if since_ns is not None and sample.time_ns < since_ns:
            continue
        if until_ns is not None and sample.time_ns > until_ns:
            continue
        if args.failed_only and not (
            attributes.get(sc.ERROR_TYPE) or render_validation(sample.body.get(sc.REVIEW_VALIDATION))[1]
        ):
            continue
        kept.append(sample)
    kept.sort(key=lambda s: (s.time_ns, s.trace_id, s.span_id))
    return kept[-args.limit :] if args.limit else kept


# -- writing ---------------------------------------------------------------------------------------


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    text = str(value)
    if text.startswith(_FORMULA_STARTS):
        text = "'" + text
    if len(text) > CELL_LIMIT:
        kept = CELL_LIMIT - 100
        text = f"{text[:kept]} [... {len(text) - kept:,} characters cut; the jsonl export has them all]"
    return text


def write_rows(rows: list[dict[str, Any]], fmt: str, stream: IO[str]) -> None:
    if fmt == "csv":
        writer = csv.writer(stream)
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([_csv_cell(row[column]) for column in COLUMNS])
    else:
        for row in rows:
            stream.write(json.dumps({key: row[key] for key in (*COLUMNS, *JSONL_EXTRA)}, ensure_ascii=False))
            stream.write("\n")


def _write_output(rows: list[dict[str, Any]], fmt: str, output: str | None) -> None:
    if output is None or output == "-":
        write_rows(rows, fmt, sys.stdout)
        sys.stdout.flush()
        return
    # Written next to the target, then renamed: a failed export never leaves half a file.
    target = Path(output)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        encoding = "utf-8-sig" if fmt == "csv" else "utf-8"
        with open(fd, "w", encoding=encoding, newline="") as stream:
            write_rows(rows, fmt, stream)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# -- command ---------------------------------------------------------------------------------------


def _check_usage(args: argparse.Namespace) -> str:
    """The output format; raises UsageError for arguments that do not fit together."""
    if not args.inputs and not args.loki:
        raise UsageError("give collector output files (or '-' for stdin) and/or --loki URL")
    if args.inputs.count("-") > 1:
        raise UsageError("'-' (stdin) can be given only once")
    output = args.output if args.output not in (None, "-") else None
    if output is not None and Path(output).exists() and not args.force:
        raise UsageError(f"{output} exists (it may hold reviewers' work); pass --force to overwrite it")
    if output is not None and not Path(output).parent.is_dir():
        raise UsageError(f"the directory of {output} does not exist")
    return args.format or ("csv" if output and output.lower().endswith(".csv") else "jsonl")


def run(args: argparse.Namespace) -> int:
    """Runs `review export` with parsed arguments; returns the exit status."""

    def say(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    def warn(message: str) -> None:
        print(f"{PROG}: {message}", file=sys.stderr, flush=True)

    try:
        fmt = _check_usage(args)
    except UsageError as exc:
        warn(f"error: {exc}")
        return 2
    now = datetime.now(UTC)
    since_ns = _ns(args.since, now) if args.since is not None else None
    until_ns = _ns(args.until, now) if args.until is not None else None
    samples: list[Sample] = []
    try:
        for name in args.inputs:  # all checked before any is read: a typo fails fast
            if name != "-" and not Path(name).is_file():
                why = "not a file" if Path(name).exists() else "no such file"
                raise InputError(f"cannot read {name}: {why}")
        for name in args.inputs:
            found, malformed = read_file(name, say)
            samples.extend(found)
            if malformed:
                warn(f"skipped {malformed} malformed line(s) in {'stdin' if name == '-' else name}")
        if args.loki:
            query = args.loki_query or default_loki_query(args.service, args.feature, args.prompt_version)
            found, malformed = read_loki(
                args.loki,
                query,
                since_ns if since_ns is not None else _ns(DEFAULT_LOKI_SINCE, now),
                (until_ns if until_ns is not None else _ns(now, now)) + 1,
                args.loki_page_size,
                dict(args.loki_header),
                args.timeout,
                say,
            )
            samples.extend(found)
            if malformed:
                warn(f"skipped {malformed} malformed Loki entr{'y' if malformed == 1 else 'ies'}")
    except InputError as exc:
        warn(f"error: {exc}")
        return 1
    selected = select(samples, args, since_ns, until_ns)
    rows = [to_row(sample) for sample in selected]
    where = args.output if args.output not in (None, "-") else "stdout"
    try:
        _write_output(rows, fmt, args.output)
    except OSError as exc:
        warn(f"error: cannot write {where}: {exc.strerror or exc}")
        return 1
    if not samples:
        searched = "; Loki was searched over the last 24h only (--since widens it)" if args.loki else ""
        warn(f"no review samples found; {NO_SAMPLES_HINT}{searched if args.since is None else ''}")
    elif not rows:
        warn(f"no review samples matched the filters ({len(samples)} read)")
    say(f"wrote {len(rows)} review record(s) to {where}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m otel_llm.review_export")
    configure_parser(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())

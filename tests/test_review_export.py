"""`otel-llm review export` over real collector output: two instrumented apps (OpenAI and
Anthropic through the mock provider) export review samples to the real collector; its file-exporter
output is exported to CSV and JSON lines and checked against the spans the collector wrote. The
Loki path runs against a local query_range server fed with the same records, converted the way
Loki's OTLP ingestion stores them (no Loki runs here)."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import textwrap
import threading
import urllib.parse
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from otel_llm import review_export
from otel_llm.testing.stack import otlp_attributes, otlp_value, read_jsonl, wait_until

EMAIL = "maria.lopez@example.org"
PROMPT = f"Write to {EMAIL} about the refund."
FORMULA_SYSTEM = "=1+2 is how sums are written"

APP = textwrap.dedent(
    """
    import sys
    import anthropic, openai
    import otel_llm
    from otel_llm import validators

    otel_llm.instrument()
    role, openai_url, anthropic_url, prompt, formula = sys.argv[1:6]
    oai = openai.OpenAI(base_url=openai_url, api_key="x", max_retries=0)
    ant = anthropic.Anthropic(base_url=anthropic_url, api_key="x", max_retries=0)
    tool = {"name": "lookup", "description": "Find an order",
            "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}
    if role == "a":
        with otel_llm.attributes(feature="refunds", prompt_version="v3"):
            oai.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "system", "content": "You are terse."}, {"role": "user", "content": prompt}],
                extra_headers={"x-mock-output": "Sure, I will write to them."})
            with otel_llm.expect(validators.json()):
                oai.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}],
                    extra_headers={"x-mock-output": "not json"})
        with otel_llm.attributes(feature="triage", prompt_version="v1"):
            ant.messages.create(model="claude-haiku-4-5", max_tokens=50, system="Be brief.",
                                messages=[{"role": "user", "content": prompt}], tools=[tool])
            try:
                oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}],
                                            extra_headers={"x-mock-fault": "500"})
            except openai.InternalServerError:
                pass
            else:
                raise SystemExit("the mock fault did not fail the call")
    else:
        with otel_llm.attributes(feature="refunds", prompt_version="v3"):
            ant.messages.create(model="claude-haiku-4-5", max_tokens=50, system=formula,
                                messages=[{"role": "user", "content": prompt}])
    assert otel_llm.flush(60)
    """
)


@dataclass
class Exported:
    """What the two apps left in the collector's output."""

    service_a: str
    service_b: str
    lines: list[str]  # the collector's log lines, reduced to our two services' resources
    spans_a: list[dict[str, Any]]  # service A's GenAI spans, by end time
    spans_b: list[dict[str, Any]]
    records: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]  # (resource, scope, record)

    def write(self, path: Path, extra: Sequence[str] = ()) -> Path:
        path.write_text("".join(line + "\n" for line in [*self.lines, *extra]))
        return path


def _genai_spans(stack: Any, service: str) -> list[dict[str, Any]]:
    spans = [
        s
        for s in stack.collector.spans()
        if s["resource"].get("service.name") == service and "gen_ai.operation.name" in s["attributes"]
    ]
    return sorted(spans, key=lambda s: int(s["endTimeUnixNano"]))


def _review_records(stack: Any, service: str) -> list[dict[str, Any]]:
    return stack.collector.log_records(service, "otel_llm.review.sample")


@pytest.fixture(scope="module")
def exported(stack: Any, mock: Any) -> Exported:
    suffix = uuid.uuid4().hex[:8]
    service_a, service_b = f"review-export-a-{suffix}", f"review-export-b-{suffix}"
    processes = []
    for role, service in (("a", service_a), ("b", service_b)):
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
            **stack.app_environment(service),
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=e2e,service.owner=team-llm",
            "OTEL_LLM_CAPTURE_CONTENT": "sampled",
            "OTEL_LLM_SAMPLE_RATE": "1",
        }
        command = [
            sys.executable,
            "-c",
            APP,
            role,
            mock.openai_base_url,
            mock.anthropic_base_url,
            PROMPT,
            FORMULA_SYSTEM,
        ]
        processes.append(subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True))
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr[-3000:]
    for service, count in ((service_a, 4), (service_b, 1)):
        wait_until(lambda s=service, n=count: len(_review_records(stack, s)) >= n, 60, what="review samples")
        wait_until(lambda s=service, n=count: len(_genai_spans(stack, s)) >= n, 60, what="spans")
    ours = {service_a, service_b}
    lines, records = [], []
    for request in read_jsonl(stack.collector.logs_path):
        resources = [
            r
            for r in request.get("resourceLogs", [])
            if otlp_attributes(r["resource"]["attributes"]).get("service.name") in ours
        ]
        if resources:
            lines.append(json.dumps({"resourceLogs": resources}))
            for resource in resources:
                for scope in resource.get("scopeLogs", []):
                    records.extend(
                        (resource["resource"], scope.get("scope", {}), r) for r in scope["logRecords"]
                    )
    return Exported(
        service_a, service_b, lines, _genai_spans(stack, service_a), _genai_spans(stack, service_b), records
    )


def export(*argv: str, capsys: Any) -> tuple[int, str, str]:
    code = review_export.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == review_export.COLUMNS
        return list(reader)


def read_jsonl_rows(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line]


def _iso(ns: str) -> str:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(ns) // 1000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _explanation(span: dict[str, Any]) -> str:
    [event] = [e for e in span.get("events", []) if e["name"] == "gen_ai.evaluation.result"]
    return otlp_attributes(event["attributes"])["gen_ai.evaluation.explanation"]


# -- files -----------------------------------------------------------------------------------------


def test_csv_has_one_row_per_sampled_call_matching_the_collectors_spans(exported, tmp_path, capsys):
    out = tmp_path / "review.csv"
    code, stdout, stderr = export(str(exported.write(tmp_path / "logs.jsonl")), "-o", str(out), capsys=capsys)
    assert code == 0, stderr
    assert stdout == ""
    assert f"wrote 5 review record(s) to {out}" in stderr
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # spreadsheets detect UTF-8 by the BOM
    rows = read_csv(out)
    rows_a = [r for r in rows if r["service"] == exported.service_a]
    # One row per call, oldest first, with the ids and end times of the spans the collector wrote.
    assert [(r["trace_id"], r["span_id"], r["time"]) for r in rows_a] == [
        (s["traceId"], s["spanId"], _iso(s["endTimeUnixNano"])) for s in exported.spans_a
    ]
    assert [r["time"] for r in rows] == sorted(r["time"] for r in rows)
    plain, invalid, tool, failed = rows_a
    spans = exported.spans_a
    for row, span in zip(rows_a, spans, strict=True):
        assert row["environment"] == "e2e"
        assert row["operation"] == "chat"
        assert row["request_model"] == span["attributes"]["gen_ai.request.model"]
        assert row["response_model"] == span["attributes"].get("gen_ai.response.model", "")
        assert row["response_id"] == span["attributes"].get("gen_ai.response.id", "")
        assert row["error_type"] == span["attributes"].get("error.type", "")
        assert row["sample_rate"] == "1"
        assert EMAIL not in json.dumps(row)
        assert "user: Write to <EMAIL_ADDRESS> about the refund." in row["input"]
        assert all(row[column] == "" for column in review_export.REVIEWER_COLUMNS)
    assert [(r["provider"], r["feature"], r["prompt_version"]) for r in rows_a] == [
        ("openai", "refunds", "v3"),
        ("openai", "refunds", "v3"),
        ("anthropic", "triage", "v1"),
        ("openai", "triage", "v1"),
    ]
    assert plain["input"] == "system: You are terse.\nuser: Write to <EMAIL_ADDRESS> about the refund."
    assert plain["output"] == "assistant: Sure, I will write to them."
    assert (plain["validation"], plain["validation_failed"], plain["system"]) == ("", "false", "")
    assert invalid["output"] == "assistant: not json"
    assert invalid["validation"] == f"json: fail ({_explanation(spans[1])})"
    assert invalid["validation"].startswith("json: fail (not valid JSON")
    assert invalid["validation_failed"] == "true"
    assert tool["system"] == "Be brief."
    assert tool["output"] == 'assistant: tool_call lookup({"q": "mock q"})'
    assert (tool["validation"], tool["validation_failed"]) == ("tool_input_schema: pass", "false")
    assert failed["error_type"] and failed["response_id"] == "" and failed["output"] == ""
    [row_b] = [r for r in rows if r["service"] == exported.service_b]
    assert (row_b["trace_id"], row_b["span_id"]) == (
        exported.spans_b[0]["traceId"],
        exported.spans_b[0]["spanId"],
    )
    # A cell a spreadsheet would run as a formula is quoted; the text is kept.
    assert row_b["system"] == "'" + FORMULA_SYSTEM


def test_jsonl_has_the_same_columns_plus_the_structured_messages(exported, tmp_path, capsys):
    logs = exported.write(tmp_path / "logs.jsonl")
    code, stdout, stderr = export(str(logs), "--service", exported.service_a, capsys=capsys)
    assert code == 0, stderr
    rows = read_jsonl_rows(stdout)
    assert "wrote 4 review record(s) to stdout" in stderr
    assert [list(r) for r in rows] == [[*review_export.COLUMNS, "input_messages", "output_messages"]] * 4
    plain, invalid, tool, failed = rows
    assert plain["input_messages"] == [
        {"role": "system", "parts": [{"type": "text", "content": "You are terse."}]},
        {
            "role": "user",
            "parts": [{"type": "text", "content": "Write to <EMAIL_ADDRESS> about the refund."}],
        },
    ]
    assert plain["output_messages"] == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Sure, I will write to them."}],
            "finish_reason": "stop",
        }
    ]
    assert tool["output_messages"][0]["parts"][0]["arguments"] == {"q": "mock q"}
    assert failed["output_messages"] == []
    assert [r["validation_failed"] for r in rows] == [False, True, False, False]
    assert {r["sample_rate"] for r in rows} == {1.0}
    assert all(r[c] == "" for r in rows for c in review_export.REVIEWER_COLUMNS)
    # -o ending in .jsonl is JSON lines too, identical to stdout.
    out = tmp_path / "review.jsonl"
    assert export(str(logs), "--service", exported.service_a, "-o", str(out), capsys=capsys)[0] == 0
    assert out.read_text() == stdout


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--feature", "triage"], ["anthropic/triage", "openai/triage"]),
        (["--prompt-version", "v3"], ["openai/refunds", "openai/refunds"]),
        (["--failed-only"], ["openai/refunds", "openai/triage"]),
        (["--limit", "2"], ["anthropic/triage", "openai/triage"]),
        (["--since", "1h"], ["openai/refunds", "openai/refunds", "anthropic/triage", "openai/triage"]),
        (["--until", "2000-01-01T00:00:00Z"], []),
    ],
)
def test_filters_select_the_right_rows(exported, tmp_path, capsys, args, expected):
    logs = exported.write(tmp_path / "logs.jsonl")
    code, stdout, stderr = export(str(logs), "--service", exported.service_a, *args, capsys=capsys)
    assert code == 0, stderr
    assert [f"{r['provider']}/{r['feature']}" for r in read_jsonl_rows(stdout)] == expected
    if not expected:
        assert "no review samples matched the filters" in stderr


def test_the_service_filter_keeps_one_service(exported, tmp_path, capsys):
    logs = exported.write(tmp_path / "logs.jsonl")
    code, stdout, _ = export(str(logs), "--service", exported.service_b, capsys=capsys)
    assert code == 0
    [row] = read_jsonl_rows(stdout)
    assert (row["service"], row["span_id"]) == (exported.service_b, exported.spans_b[0]["spanId"])


def test_the_same_file_given_twice_gives_each_call_once(exported, tmp_path, capsys):
    logs = exported.write(tmp_path / "logs.jsonl")
    once = export(str(logs), capsys=capsys)[1]
    code, twice, stderr = export(str(logs), str(logs), capsys=capsys)
    assert code == 0
    assert twice == once and len(read_jsonl_rows(twice)) == 5
    assert "wrote 5 review record(s)" in stderr


def test_malformed_lines_are_skipped_and_counted(exported, tmp_path, capsys):
    bad = [
        "not json",
        '{"resourceSpans": []}',
        "[1, 2]",
        '{"resourceLogs": [{"scopeLogs": 7}]}',
        exported.lines[0][:50],
        # a time past the year 9999, which no datetime can hold
        re.sub(
            r'"timeUnixNano": ?"\d+"', '"timeUnixNano": "999999999999999999999999"', _a_review_line(exported)
        ),
    ]
    logs = exported.write(tmp_path / "logs.jsonl", extra=bad)
    code, stdout, stderr = export(str(logs), capsys=capsys)
    assert code == 0
    assert len(read_jsonl_rows(stdout)) == 5
    assert "skipped 6 malformed line(s)" in stderr


def _a_review_line(exported: Exported) -> str:
    """One collector output line holding a single review sample record."""
    resource, scope, record = next(
        r for r in exported.records if r[2].get("eventName") == "otel_llm.review.sample"
    )
    return json.dumps(
        {"resourceLogs": [{"resource": resource, "scopeLogs": [{"scope": scope, "logRecords": [record]}]}]}
    )


def test_a_numeric_feature_or_prompt_version_matches_its_filter(exported, tmp_path, capsys):
    """attributes(feature=7, prompt_version=3) are exported as numbers; the filters take text."""
    request = json.loads(_a_review_line(exported))
    record = request["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    numbers = {"otel_llm.feature": {"intValue": "7"}, "otel_llm.prompt.version": {"intValue": "3"}}
    record["attributes"] = [a for a in record["attributes"] if a["key"] not in numbers] + [
        {"key": key, "value": value} for key, value in numbers.items()
    ]
    logs = tmp_path / "numbers.jsonl"
    logs.write_text(json.dumps(request) + "\n")
    code, stdout, stderr = export(str(logs), "--feature", "7", "--prompt-version", "3", capsys=capsys)
    assert code == 0, stderr
    [row] = read_jsonl_rows(stdout)
    assert (row["feature"], row["prompt_version"]) == ("7", "3")


def test_progress_every_10000_lines_and_quiet_silences_it(exported, tmp_path, capsys):
    filler = ['{"resourceLogs": []}'] * 20_000
    logs = exported.write(tmp_path / "logs.jsonl", extra=filler)
    code, _, stderr = export(str(logs), capsys=capsys)
    assert code == 0
    assert f"{logs}: 10,000 lines read" in stderr and f"{logs}: 20,000 lines read" in stderr
    code, stdout, stderr = export(str(logs), "--quiet", capsys=capsys)
    assert (code, stderr) == (0, "")
    assert len(read_jsonl_rows(stdout)) == 5


def test_no_review_samples_says_why_and_succeeds(exported, tmp_path, capsys):
    details_only = [
        json.dumps(
            {"resourceLogs": [{"resource": res, "scopeLogs": [{"scope": scope, "logRecords": [record]}]}]}
        )
        for res, scope, record in exported.records
        if record.get("eventName") != "otel_llm.review.sample"
    ]
    assert details_only
    logs = tmp_path / "details.jsonl"
    logs.write_text("\n".join(details_only) + "\n")
    out = tmp_path / "review.csv"
    code, _, stderr = export(str(logs), "-o", str(out), capsys=capsys)
    assert code == 0
    assert "no review samples found" in stderr and "sampled" in stderr and "OTEL_LLM_SAMPLE_RATE" in stderr
    assert read_csv(out) == []


def test_a_missing_file_exits_1_naming_it(exported, tmp_path, capsys):
    logs = exported.write(tmp_path / "logs.jsonl")
    out = tmp_path / "review.csv"
    code, stdout, stderr = export(str(logs), str(tmp_path / "missing.jsonl"), "-o", str(out), capsys=capsys)
    assert code == 1
    assert f"cannot read {tmp_path / 'missing.jsonl'}: no such file" in stderr
    assert not out.exists() and stdout == ""


def test_usage_errors_exit_2(exported, tmp_path, capsys):
    logs = str(exported.write(tmp_path / "logs.jsonl"))
    assert export(capsys=capsys)[0] == 2  # no input at all
    with pytest.raises(SystemExit) as exit_info:
        review_export.main([logs, "--since", "yesterday"])
    assert exit_info.value.code == 2
    assert "--since" in capsys.readouterr().err
    for bad in (
        ["--since", "99999999999d"],
        ["--until", "9999999d"],
        ["--loki", "http://127.0.0.1:9", "--timeout", "nan"],
    ):
        with pytest.raises(SystemExit) as exit_info:
            review_export.main([logs, *bad])
        assert exit_info.value.code == 2, bad
        assert bad[-2] in capsys.readouterr().err
    existing = tmp_path / "reviewed.csv"
    existing.write_text("scores\n")
    code, _, stderr = export(logs, "-o", str(existing), capsys=capsys)
    assert code == 2 and "--force" in stderr and existing.read_text() == "scores\n"
    assert export(logs, "-o", str(existing), "--force", capsys=capsys)[0] == 0
    assert len(read_csv(existing)) == 5


def test_the_otel_llm_command_runs_review_export(exported, tmp_path):
    out = tmp_path / "review.csv"
    logs = exported.write(tmp_path / "logs.jsonl")
    command = [
        sys.executable,
        "-m",
        "otel_llm.cli",
        "review",
        "export",
        str(logs),
        "--failed-only",
        "-o",
        str(out),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"wrote 2 review record(s) to {out}" in result.stderr
    assert [(r["service"], r["feature"]) for r in read_csv(out)] == [
        (exported.service_a, "refunds"),
        (exported.service_a, "triage"),
    ]
    missing = subprocess.run([*command[:5], str(tmp_path / "nope.jsonl")], capture_output=True, text=True)
    assert missing.returncode == 1 and "otel-llm review export: error: cannot read" in missing.stderr


def test_module_entry_point_reads_stdin_and_writes_csv(exported, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "otel_llm.review_export",
            "-",
            "--format",
            "csv",
            "--service",
            exported.service_a,
        ],
        input="\n".join(exported.lines) + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "wrote 4 review record(s) to stdout" in result.stderr
    rows = list(csv.DictReader(result.stdout.splitlines(keepends=True)))
    assert [(r["trace_id"], r["span_id"]) for r in rows] == [
        (s["traceId"], s["spanId"]) for s in exported.spans_a
    ]
    # The two-line input cell survived CSV quoting.
    assert rows[0]["input"] == "system: You are terse.\nuser: Write to <EMAIL_ADDRESS> about the refund."


# -- Loki ------------------------------------------------------------------------------------------


def _loki_name(key: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in key)


def _as_string(value: Any) -> str:
    """pcommon.Value.AsString, which Loki applies to attribute values."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value).removesuffix(".0")
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _go_json(value: Any) -> str:
    """encoding/json.Marshal of the body map's AsRaw(): sorted keys, compact, HTML-escaped."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def loki_entries(
    records: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]],
) -> list[dict[str, Any]]:
    """Collector log records as Loki's OTLP ingestion (v3) stores them: resource attributes
    configured as index labels (collector/backends/loki.yaml) in the stream, everything else as
    structured metadata, the body as the line, the record's time as the entry's."""
    index = {
        "service.name",
        "service.namespace",
        "service.instance.id",
        "deployment.environment.name",
        "service.owner",
    }
    entries = []
    for resource, scope, record in records:
        labels = {}
        for key, value in otlp_attributes(resource.get("attributes", [])).items():
            labels[_loki_name(key)] = _as_string(value)
        structured = {"scope_name": scope.get("name", ""), "scope_version": scope.get("version", "")}
        for key, value in otlp_attributes(record.get("attributes", [])).items():
            structured[_loki_name(key)] = _as_string(value)
        structured["observed_timestamp"] = record["observedTimeUnixNano"]
        structured["severity_number"] = str(record["severityNumber"])
        structured["flags"] = str(record["flags"])
        structured["trace_id"], structured["span_id"] = record["traceId"], record["spanId"]
        structured["detected_level"] = "info"
        stream = {k: v for k, v in labels.items() if k in {_loki_name(i) for i in index}}
        structured.update({k: v for k, v in labels.items() if k not in stream})
        entries.append(
            {
                "ts": int(record["timeUnixNano"]),
                "stream": stream,
                "metadata": structured,
                "line": _go_json(otlp_value(record["body"])),
            }
        )
    return sorted(entries, key=lambda e: e["ts"])


class FakeLoki:
    """query_range over recorded entries: start (inclusive), end (exclusive), limit, forward
    order, the review-sample line filter and a service_name selector; answers like Loki without
    the categorize-labels flag (structured metadata merged into each stream's labels)."""

    def __init__(self, entries: list[dict[str, Any]], fail_with: int | None = None) -> None:
        self.entries, self.fail_with = entries, fail_with
        self.requests: list[tuple[dict[str, str], dict[str, str]]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlparse(self.path)
                params = dict(urllib.parse.parse_qsl(url.query))
                fake.requests.append((params, {k.lower(): v for k, v in self.headers.items()}))
                if fake.fail_with:
                    self._send(fake.fail_with, b"too many outstanding requests")
                elif url.path != "/loki/api/v1/query_range":
                    self._send(404, b"404 page not found")
                else:
                    self._send(200, json.dumps(fake.answer(params)).encode())

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, params: dict[str, str]) -> dict[str, Any]:
        start, end, limit = int(params["start"]), int(params["end"]), int(params["limit"])
        assert params["direction"] == "forward"
        query = params["query"]
        selected = []
        for entry in self.entries:
            labels = {**entry["stream"], **entry["metadata"]}
            if not start <= entry["ts"] < end:
                continue
            if 'otel_llm_review_sample_rate != ""' in query and "otel_llm_review_sample_rate" not in labels:
                continue
            if (
                'service_name="' in query
                and f"service_name={json.dumps(labels['service_name'])}" not in query
            ):
                continue
            selected.append((entry["ts"], labels, entry["line"]))
        streams: dict[str, dict[str, Any]] = {}
        for ts, labels, line in selected[:limit]:
            key = json.dumps(labels, sort_keys=True)
            streams.setdefault(key, {"stream": labels, "values": []})["values"].append([str(ts), line])
        return {"status": "success", "data": {"resultType": "streams", "result": list(streams.values())}}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_loki(exported) -> Iterator[Any]:
    started = []

    def start(fail_with: int | None = None) -> FakeLoki:
        fake = FakeLoki(loki_entries(exported.records), fail_with)
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.close()


def test_loki_is_read_page_by_page_and_gives_the_same_rows_as_the_file(exported, fake_loki, tmp_path, capsys):
    loki = fake_loki()
    assert len([e for e in loki.entries if "otel_llm_review_sample_rate" in e["metadata"]]) == 5
    logs = exported.write(tmp_path / "logs.jsonl")
    from_file = export(str(logs), capsys=capsys)[1]
    code, from_loki, stderr = export(
        "--loki", loki.url, "--loki-page-size", "2", "--loki-header", "X-Scope-OrgID: tenant-a", capsys=capsys
    )
    assert code == 0, stderr
    # The same rows (Loki's lines have their keys sorted, so compare parsed objects).
    assert read_jsonl_rows(from_loki) == read_jsonl_rows(from_file)
    assert len(read_jsonl_rows(from_loki)) == 5
    # Pages of 2 over 5 entries, each page starting at the last timestamp of the one before:
    # [1 2] [2 3] [3 4] [4 5] [5].
    assert len(loki.requests) == 5
    assert "Loki: page 5, 1 entries" in stderr
    starts = [int(params["start"]) for params, _ in loki.requests]
    assert starts == sorted(set(starts))
    for params, headers in loki.requests:
        assert headers["x-scope-orgid"] == "tenant-a"
        assert (params["limit"], params["direction"]) == ("2", "forward")
        assert params["query"] == '{service_name=~".+"} | otel_llm_review_sample_rate != ""'
    # No --since: the last 24 hours.
    first_start = datetime.fromtimestamp(starts[0] / 1e9, UTC)
    assert abs(datetime.now(UTC) - timedelta(hours=24) - first_start) < timedelta(minutes=5)


def test_loki_entries_sharing_a_timestamp_across_a_page_boundary_are_all_read(exported, fake_loki, capsys):
    loki = fake_loki()
    samples = [e for e in loki.entries if "otel_llm_review_sample_rate" in e["metadata"]]
    samples[2]["ts"] = samples[1]["ts"]  # pages of 2: the second and third share a nanosecond
    code, stdout, stderr = export("--loki", loki.url, "--loki-page-size", "2", capsys=capsys)
    assert code == 0, stderr
    assert sorted(r["span_id"] for r in read_jsonl_rows(stdout)) == sorted(
        e["metadata"]["span_id"] for e in samples
    )


def test_loki_query_narrows_by_service(exported, fake_loki, capsys):
    loki = fake_loki()
    code, stdout, _ = export(
        "--loki", loki.url, "--service", exported.service_b, "--since", "1h", capsys=capsys
    )
    assert code == 0
    [row] = read_jsonl_rows(stdout)
    assert (row["service"], row["system"]) == (exported.service_b, FORMULA_SYSTEM)
    [(params, _)] = loki.requests
    assert params["query"] == f'{{service_name="{exported.service_b}"}} | otel_llm_review_sample_rate != ""'


def test_a_loki_error_exits_1_naming_the_url_and_status(fake_loki, capsys):
    loki = fake_loki(fail_with=500)
    code, stdout, stderr = export("--loki", loki.url, capsys=capsys)
    assert code == 1 and stdout == ""
    assert f"Loki at {loki.url}/loki/api/v1/query_range answered HTTP 500" in stderr
    assert "too many outstanding requests" in stderr


def test_an_unreachable_loki_exits_1(fake_loki, capsys):
    loki = fake_loki()
    url = loki.url
    loki.close()
    code, _, stderr = export("--loki", url, capsys=capsys)
    assert code == 1
    assert f"cannot reach Loki at {url}/loki/api/v1/query_range" in stderr


def test_the_operations_guide_sends_reviewers_scores_back_as_feedback(exported, stack, tmp_path, capsys):
    """docs/operations.md's snippet, run as written on an exported and filled-in CSV: each scored
    row becomes a feedback event joined to its call by response id, with the row's labels."""
    guide = (Path(__file__).resolve().parent.parent / "docs" / "operations.md").read_text()
    section = guide.split("To put reviewers' scores next to users'", 1)[1]
    snippet = section.split("```python\n", 1)[1].split("```", 1)[0]
    code, _, _ = export(
        str(exported.write(tmp_path / "logs.jsonl")),
        "--service",
        exported.service_a,
        "-o",
        str(tmp_path / "exported.csv"),
        capsys=capsys,
    )
    assert code == 0
    with open(tmp_path / "exported.csv", encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for number, row in enumerate(rows):
        row["review_score"] = str(number + 1) if number % 2 == 0 else ""  # reviewers skip some
    with open(tmp_path / "review.csv", "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    service = f"review-scores-{uuid.uuid4().hex[:8]}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
        **stack.app_environment(service),
    }
    done = subprocess.run(
        [sys.executable, "-c", snippet], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    scored = {row["response_id"]: float(row["review_score"]) for row in rows if row["review_score"]}
    events = wait_until(
        lambda: stack.collector.log_records(service, "otel_llm.feedback") or None, 30, what="feedback events"
    )
    got = {}
    for event in events:
        attributes = otlp_attributes(event["attributes"])
        assert attributes["otel_llm.feedback.label"] == "review"
        got[attributes["gen_ai.response.id"]] = attributes["otel_llm.feedback.score"]
    assert got == scored and len(scored) >= 2

"""The frozen PII corpus (tests/data/pii_corpus.json, 200+ planted values) sent through the real
pipeline: real SDK calls, otel-llm's redaction worker, OTLP export, the real collector, its file
exporter. Not one planted value may appear in any exported byte, and the expected number of
content records must arrive."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from otel_llm.testing.stack import read_jsonl, wait_until

CORPUS = json.loads((Path(__file__).parent / "data" / "pii_corpus.json").read_text())["texts"]

# One real SDK call per corpus text, placing the text where that kind of content really goes.
CORPUS_APP = textwrap.dedent(
    """
    import base64, json, sys
    import anthropic, openai
    import otel_llm

    otel_llm.instrument()
    corpus = json.load(open(sys.argv[1]))["texts"]
    oai = openai.OpenAI(base_url=sys.argv[2], api_key="corpus", max_retries=0)
    ant = anthropic.Anthropic(base_url=sys.argv[3], api_key="corpus", max_retries=0)
    calls = errors = 0
    for index, item in enumerate(corpus):
        text, kind = item["text"], item["kind"]
        try:
            if kind == "user_message" and index % 2:
                ant.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": text}])
            elif kind == "user_message":
                oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": text}])
            elif kind == "system_prompt" and index % 2:
                ant.messages.create(model="claude-haiku-4-5", max_tokens=50, system=text,
                                    messages=[{"role": "user", "content": "Hello"}])
            elif kind == "system_prompt":
                oai.chat.completions.create(model="gpt-4o-mini", messages=[
                    {"role": "system", "content": text}, {"role": "user", "content": "Hello"}])
            elif kind == "tool_arguments":
                oai.chat.completions.create(model="gpt-4o-mini", messages=[
                    {"role": "user", "content": "Update the customer"},
                    {"role": "assistant", "content": None, "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "update_customer", "arguments": text}}]},
                    {"role": "tool", "tool_call_id": "call_1", "content": "done"},
                ])
            elif kind == "model_output":
                stream = oai.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "Confirm the change"}], stream=True,
                    extra_headers={"x-mock-output-base64": base64.b64encode(text.encode()).decode()})
                for _ in stream:
                    pass
            elif kind == "provider_error":
                # The mock's error message echoes the prompt, as real providers' often do.
                oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": text}],
                                            extra_headers={"x-mock-fault": "500"})
            else:
                raise SystemExit(f"unknown corpus kind {kind}")
        except openai.InternalServerError as exc:
            assert text[:20] in str(exc)  # the SDK's exception does carry the content
            errors += 1
        calls += 1
    assert otel_llm.flush(120)
    print(json.dumps({"calls": calls, "errors": errors}))
    """
)


def _run_corpus(stack, mock, service, capture_env):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTEL_LLM_"))},
        **stack.app_environment(service),
        **capture_env,
    }
    corpus_path = Path(__file__).parent / "data" / "pii_corpus.json"
    result = subprocess.run(
        [sys.executable, "-c", CORPUS_APP, str(corpus_path), mock.openai_base_url, mock.anthropic_base_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _exported(stack, service):
    """Every exported line (spans and logs) of `service`, as the collector wrote it."""
    lines = []
    for path in (stack.collector.traces_path, stack.collector.logs_path):
        for request in read_jsonl(path):
            for resource in request.get("resourceSpans", []) + request.get("resourceLogs", []):
                attributes = {
                    a["key"]: a["value"].get("stringValue") for a in resource["resource"]["attributes"]
                }
                if attributes.get("service.name") == service:
                    lines.append(json.dumps(resource))
    return "\n".join(lines)


def _content_records(stack, service):
    return stack.collector.log_records(service, "gen_ai.client.inference.operation.details")


def _leaks(exported: str) -> list[str]:
    leaked = []
    for item in CORPUS:
        for planted in item["planted"]:
            value = planted["value"]
            # As written, and as JSON escapes it (private keys span lines).
            if value in exported or json.dumps(value)[1:-1] in exported:
                leaked.append(f"{planted['entity']}: {value!r} ({item['id']})")
    return leaked


@pytest.mark.parametrize(
    "mode, capture_env",
    [
        ("all", {"OTEL_LLM_CAPTURE_CONTENT": "all"}),
        ("sampled", {"OTEL_LLM_CAPTURE_CONTENT": "sampled", "OTEL_LLM_SAMPLE_RATE": "1.0"}),
    ],
)
def test_no_planted_value_leaves_the_process(stack, mock, mode, capture_env):
    service = f"corpus-{mode}"
    assert sum(len(item["planted"]) for item in CORPUS) >= 200
    summary = _run_corpus(stack, mock, service, capture_env)
    assert summary["calls"] == len(CORPUS)
    try:
        wait_until(lambda: len(_content_records(stack, service)) >= len(CORPUS), 60, what="content records")
    except Exception:
        pass
    records = _content_records(stack, service)
    assert len(records) == len(CORPUS)
    wait_until(
        lambda: (
            len([s for s in stack.collector.spans() if s["resource"].get("service.name") == service])
            >= len(CORPUS)
        ),
        30,
    )
    exported = _exported(stack, service)
    assert _leaks(exported) == []
    # The collector's value patterns (which mask inside a text, with ****) never had to act: the
    # SDK's redaction sufficed. Its key rule still masks whole values under keys such as
    # "password", which the SDK had already replaced with <SECRET>.
    assert exported.count("****") == exported.count('"stringValue": "****"')
    # Redacted content stays useful: placeholders keep the entity type.
    for placeholder in ("<EMAIL_ADDRESS>", "<PHONE_NUMBER>", "<CREDIT_CARD>", "<API_KEY>"):
        assert placeholder in exported, placeholder
    errors = [r for r in records if any(a["key"] == "error.type" for a in r.get("attributes", []))]
    assert len(errors) == summary["errors"] > 0


def test_off_exports_no_content_at_all(stack, mock):
    service = "corpus-off"
    summary = _run_corpus(stack, mock, service, {})
    assert summary["calls"] == len(CORPUS)
    wait_until(
        lambda: (
            len([s for s in stack.collector.spans() if s["resource"].get("service.name") == service])
            >= len(CORPUS)
        ),
        30,
    )
    assert _content_records(stack, service) == []
    exported = _exported(stack, service)
    assert _leaks(exported) == []
    assert "gen_ai.input.messages" not in exported

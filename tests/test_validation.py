"""Output validation with real SDK clients against the mock provider: `expect()` as a context
manager and decorator, each validator, `on_fail="raise"`, streams, tool-call arguments, and the
automatic check against the structured-output schema a request carries."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from conftest import points
from pydantic import BaseModel

import otel_llm
from otel_llm import OutputValidationError, expect, validators

MESSAGES = [{"role": "user", "content": "Give me the order as JSON."}]
GOOD = '{"order_id": 42, "items": ["tea"], "customer": {"name": "Ana"}}'
SCHEMA = {
    "type": "object",
    "properties": {"order_id": {"type": "integer"}, "items": {"type": "array", "items": {"type": "string"}}},
    "required": ["order_id", "items"],
}


class Order(BaseModel):
    order_id: int
    items: list[str]


def _chat(client, output: str | None = None, **extra):
    headers = {"x-mock-output": output} if output is not None else {}
    return client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, extra_headers=headers, **extra
    )


def _evaluations(span) -> dict[str, dict]:
    return {
        e.attributes["gen_ai.evaluation.name"]: dict(e.attributes)
        for e in span.events
        if e.name == "gen_ai.evaluation.result"
    }


def _results(found, validator: str, result: str) -> float:
    return sum(
        p.value
        for p in points(
            found,
            "otel_llm.validation.results",
            otel_llm__validator=validator,
            otel_llm__validation__result=result,
        )
    )


@pytest.mark.parametrize(
    ("validator", "name", "good", "bad", "explains"),
    [
        (validators.json(), "json", GOOD, "not json {", "not valid JSON"),
        (validators.json_schema(SCHEMA), "json_schema", GOOD, '{"order_id": "x", "items": []}', "$.order_id"),
        (validators.pydantic(Order), "pydantic:Order", GOOD, '{"order_id": 1}', "$.items: missing"),
        (validators.regex(r"order_id"), "regex", GOOD, "nothing here", "no match"),
        (
            validators.required_fields(["order_id", "customer.name"]),
            "required_fields",
            GOOD,
            '{"order_id": 1}',
            "customer.name",
        ),
        (validators.max_length(80), "max_length", GOOD, "word" * 40, "more than 80"),
        (
            validators.custom(lambda out: "tea" in out, name="mentions_tea"),
            "mentions_tea",
            GOOD,
            "coffee",
            None,
        ),
    ],
)
def test_each_validator_records_pass_and_fail_on_the_span_and_the_counter(
    instrumented, openai_client, validator, name, good, bad, explains
):
    with expect(validator):
        good_reply = _chat(openai_client, good)
        bad_reply = _chat(openai_client, bad)
    assert good_reply.choices[0].message.content == good  # the app gets its reply untouched
    assert bad_reply.choices[0].message.content == bad
    passed, failed = instrumented.genai_spans()
    assert _evaluations(passed)[name]["gen_ai.evaluation.score.label"] == "pass"
    assert _evaluations(passed)[name]["gen_ai.evaluation.score.value"] == 1.0
    event = _evaluations(failed)[name]
    assert event["gen_ai.evaluation.score.label"] == "fail" and event["gen_ai.evaluation.score.value"] == 0.0
    assert event["gen_ai.response.id"] == failed.attributes["gen_ai.response.id"]
    if explains:
        assert explains in event["gen_ai.evaluation.explanation"]
    # explanations name what failed, never the output (it is content)
    assert bad not in event.get("gen_ai.evaluation.explanation", "") or len(bad) < 4
    found = instrumented.metrics()
    assert _results(found, name, "pass") == 1 and _results(found, name, "fail") == 1


def test_raise_gives_the_app_the_response_and_the_failures(instrumented, openai_client):
    expectation = expect(validators.json(), validators.max_length(1000), on_fail="raise")
    with pytest.raises(OutputValidationError) as caught, expectation:
        _chat(openai_client, "not json")
    error = caught.value
    assert error.response.choices[0].message.content == "not json"
    assert [f.name for f in error.failures] == ["json"]
    span = instrumented.only_span()
    assert _evaluations(span)["json"]["gen_ai.evaluation.score.label"] == "fail"
    assert _evaluations(span)["max_length"]["gen_ai.evaluation.score.label"] == "pass"
    assert "error.type" not in span.attributes  # the call itself succeeded


def test_record_never_changes_what_the_app_sees_and_outside_expect_nothing_is_checked(
    instrumented, openai_client
):
    with expect(validators.json()):
        reply = _chat(openai_client, "not json")
    assert reply.choices[0].message.content == "not json"
    _chat(openai_client, "not json either")
    first, second = instrumented.genai_spans()
    assert _evaluations(first) and not _evaluations(second)


def test_decorator_sync_and_async_and_nested_expectations(instrumented, openai_client, async_openai_client):
    @expect(validators.json())
    def ask(output):
        with expect(validators.max_length(5)):
            return _chat(openai_client, output)

    ask("[1, 2, 3, 4]")
    [span] = instrumented.genai_spans()
    assert set(_evaluations(span)) == {"json", "max_length"}
    assert _evaluations(span)["max_length"]["gen_ai.evaluation.score.label"] == "fail"

    @expect(validators.json(), on_fail="raise")
    async def ask_async():
        return await async_openai_client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, extra_headers={"x-mock-output": "oops"}
        )

    async def both():
        # each task gets its own copy of the context: the expectation follows into it
        return await asyncio.gather(ask_async(), return_exceptions=True)

    [outcome] = asyncio.run(both())
    assert isinstance(outcome, OutputValidationError)


def test_stream_is_validated_when_it_ends_and_raise_comes_after_the_last_chunk(instrumented, openai_client):
    with expect(validators.json(), on_fail="raise"):
        stream = _chat(openai_client, "not json at all", stream=True)
        seen = []
        with pytest.raises(OutputValidationError) as caught:
            for chunk in stream:
                if chunk.choices:
                    seen.append(chunk.choices[0].delta.content or "")
    assert "".join(seen) == "not json at all"  # every chunk reached the app first
    assert caught.value.response is stream
    span = instrumented.only_span()
    assert _evaluations(span)["json"]["gen_ai.evaluation.score.label"] == "fail"

    with expect(validators.json(), on_fail="raise"):
        good = list(_chat(openai_client, GOOD, stream=True))
    assert good


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "create_order",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "integer"}},
                "required": ["order_id"],
            },
        },
    }
]


def test_tool_call_arguments_are_validated_by_expect_and_against_the_tool_schema(instrumented, openai_client):
    with expect(validators.required_fields(["order_id"]), target="tool_arguments"):
        openai_client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            tools=TOOLS,
            extra_headers={"x-mock-tool-arguments": '{"order_id": "forty-two"}'},
        )
        openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tools=TOOLS)
    bad, good = instrumented.genai_spans()
    # required_fields passes (the field is there), the tool's own schema does not (wrong type)
    assert _evaluations(bad)["required_fields"]["gen_ai.evaluation.score.label"] == "pass"
    assert _evaluations(bad)["tool_input_schema"]["gen_ai.evaluation.score.label"] == "fail"
    assert "$.order_id" in _evaluations(bad)["tool_input_schema"]["gen_ai.evaluation.explanation"]
    assert _evaluations(good)["tool_input_schema"]["gen_ai.evaluation.score.label"] == "pass"


def test_structured_output_schema_is_checked_automatically_and_only_recorded(instrumented, openai_client):
    response_format = {"type": "json_schema", "json_schema": {"name": "order", "schema": SCHEMA}}
    good = _chat(openai_client, None, response_format=response_format)
    bad = _chat(openai_client, '{"order_id": "x"}', response_format=response_format)
    assert json.loads(good.choices[0].message.content)["order_id"] is not None
    assert bad.choices[0].message.content == '{"order_id": "x"}'  # recorded, never raised
    first, second = instrumented.genai_spans()
    assert _evaluations(first)["response_format"]["gen_ai.evaluation.score.label"] == "pass"
    assert _evaluations(second)["response_format"]["gen_ai.evaluation.score.label"] == "fail"
    assert _results(instrumented.metrics(), "response_format", "fail") == 1


def test_anthropic_tool_input_schema_and_streamed_messages(instrumented, anthropic_client):
    tools = [
        {
            "name": "lookup",
            "input_schema": {
                "type": "object",
                "properties": {"sku": {"type": "string"}},
                "required": ["sku"],
            },
        }
    ]
    anthropic_client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=100,
        messages=MESSAGES,
        tools=tools,
        extra_headers={"x-mock-tool-arguments": '{"sku": 7}'},
    )
    with expect(validators.regex(r"^\{"), on_fail="raise"), pytest.raises(OutputValidationError):
        stream = anthropic_client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=100,
            messages=MESSAGES,
            stream=True,
            extra_headers={"x-mock-output": "plain words"},
        )
        for _ in stream:
            pass
    tool_span, stream_span = instrumented.genai_spans()
    assert _evaluations(tool_span)["tool_input_schema"]["gen_ai.evaluation.score.label"] == "fail"
    assert _evaluations(stream_span)["regex"]["gen_ai.evaluation.score.label"] == "fail"


def test_sampled_capture_keeps_the_content_of_calls_that_failed_validation(openai_client, telemetry):
    otel_llm.instrument(capture_content="sampled", sample_rate=0.0)
    try:
        with expect(validators.json()):
            _chat(openai_client, GOOD)
            _chat(openai_client, "not json")
        events = telemetry.content_events()
    finally:
        otel_llm.uninstrument()
    [event] = events
    assert event.attributes["otel_llm.content.reason"] == "validation"
    assert event.body["gen_ai.output.messages"][0]["parts"][0]["content"] == "not json"


def test_bad_expectations_raise_clear_errors():
    with pytest.raises(ValueError, match="at least one validator"):
        expect()
    with pytest.raises(ValueError, match="on_fail"):
        expect(validators.json(), on_fail="block")
    with pytest.raises(TypeError, match="otel_llm.validators"):
        expect(lambda out: True)
    with pytest.raises(ValueError, match="max_length"):
        validators.max_length(-1)
    with pytest.raises(ValueError, match="name"):
        validators.custom(lambda out: True, name="")
    import jsonschema

    with pytest.raises(jsonschema.SchemaError):
        validators.json_schema({"type": "no-such-type"})


def test_a_validator_that_raises_fails_the_output_without_breaking_the_call(instrumented, openai_client):
    def broken(output):
        raise RuntimeError("bug in the app's validator")

    with expect(validators.custom(broken, name="broken")):
        reply = _chat(openai_client, GOOD)
    assert reply.choices[0].message.content == GOOD
    event = _evaluations(instrumented.only_span())["broken"]
    assert event["gen_ai.evaluation.score.label"] == "fail"
    assert event["gen_ai.evaluation.explanation"] == "validator raised RuntimeError"


CONFIG = """
[[validation]]
model = "gpt-4o*"
on_fail = "raise"
validators = [{ type = "json" }, { type = "required_fields", names = ["order_id"] }]

[[validation]]
model = "other-model"
validators = [{ type = "max_length", n = 1 }]
"""


def test_configured_rules_apply_to_matching_models(telemetry, openai_client, tmp_path):
    path = tmp_path / "otel-llm.toml"
    path.write_text(CONFIG)
    otel_llm.instrument(config_file=str(path))
    try:
        with pytest.raises(OutputValidationError):
            _chat(openai_client, '{"id": 1}')
        assert _chat(openai_client, GOOD).choices[0].message.content == GOOD
        openai_client.chat.completions.create(
            model="gpt-3.5-turbo", messages=MESSAGES, extra_headers={"x-mock-output": "not json"}
        )  # no rule for this model
    finally:
        otel_llm.uninstrument()
    failed, passed, unmatched = telemetry.genai_spans()
    assert _evaluations(failed)["required_fields"]["gen_ai.evaluation.score.label"] == "fail"
    assert set(_evaluations(passed)) == {"json", "required_fields"}
    assert _evaluations(unmatched) == {}


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([{"validators": []}], "at least one entry"),
        ([{"validators": [{"type": "nope"}]}], "type must be one of"),
        ([{"validators": [{"type": "max_length"}]}], "missing ['n']"),
        ([{"validators": [{"type": "json"}], "on_fail": "block"}], "on_fail"),
        ([{"validators": [{"type": "json"}], "colour": "red"}], "unknown key"),
        ([{"validators": [{"type": "json_schema", "schema": {"type": 5}}]}], "json_schema"),
    ],
)
def test_bad_rules_raise_a_config_error_at_instrument(rules, message):
    with pytest.raises(otel_llm.ConfigError, match=re.escape(message)):
        otel_llm.instrument(validation=rules)


def test_raise_acts_with_telemetry_disabled(telemetry, openai_client, monkeypatch):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    otel_llm.instrument()
    try:
        with expect(validators.json(), on_fail="raise"), pytest.raises(OutputValidationError):
            _chat(openai_client, "not json")
        with expect(validators.json(), on_fail="raise"):
            stream = _chat(openai_client, "still not json", stream=True)
            with pytest.raises(OutputValidationError):
                list(stream)
        with expect(validators.json()):  # record only: with telemetry off nothing happens
            assert _chat(openai_client, "fine").choices[0].message.content == "fine"
        assert _chat(openai_client, GOOD).choices[0].message.content == GOOD
    finally:
        otel_llm.uninstrument()
    assert telemetry.genai_spans() == []

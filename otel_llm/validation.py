"""Output validation: `otel_llm.expect(...)` around code that calls a provider, and automatic
validation against the structured-output schema a request carries.

`expect` sets the expectations in a context variable (so they follow the code into threads started
with a copied context and into asyncio tasks); the wrapper reads them when a call starts and checks
the call's output when it ends (a stream when it ends). Results become `gen_ai.evaluation.result`
events on the call's span and the `otel_llm.validation.results` counter. Only an expectation with
`on_fail="raise"` acts on the app: it raises OutputValidationError after the call is recorded;
automatic validation only records.
"""

from __future__ import annotations

import contextvars
import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .scoping import ContextLayer
from .validators import ValidationResult, Validator

__all__ = ["Expectation", "OutputValidationError", "ValidationRule", "expect"]

ON_FAIL = ("record", "raise")
TARGETS = ("output", "tool_arguments")


class OutputValidationError(Exception):
    """An output failed a validator of an `expect(..., on_fail="raise")`. `response` is what the SDK
    returned (for a stream: the stream, already read to its end); `failures` the failed results."""

    def __init__(self, response: Any, failures: list[ValidationResult]) -> None:
        self.response = response
        self.failures = failures
        names = ", ".join(f"{f.name} ({f.explanation})" if f.explanation else f.name for f in failures)
        super().__init__(f"output failed validation: {names}")


@dataclass(frozen=True)
class Expectation:
    validators: tuple[Validator, ...]
    on_fail: str = "record"
    target: str = "output"
    # tool_arguments only: the tool whose arguments are checked (None: every tool call)
    tool: str | None = None


_ACTIVE: contextvars.ContextVar[tuple[Expectation, ...]] = contextvars.ContextVar(
    "otel_llm_expectations", default=()
)


class expect(ContextLayer):
    """Validate the outputs of the provider calls made inside, as a context manager or decorator:

        with otel_llm.expect(validators.json(), on_fail="raise"):
            client.chat.completions.create(...)

        @otel_llm.expect(validators.max_length(2000))
        def summarise(text): ...

    `target="tool_arguments"` checks each tool call's arguments instead of the text (`tool=` one
    tool's only). Nested expectations add up.
    """

    _var = _ACTIVE

    def __init__(
        self, *validators: Validator, on_fail: str = "record", target: str = "output", tool: str | None = None
    ) -> None:
        if not validators:
            raise ValueError("expect() needs at least one validator")
        for v in validators:
            if not isinstance(v, Validator):
                raise TypeError(f"expect() takes validators from otel_llm.validators, got {v!r}")
        if on_fail not in ON_FAIL:
            raise ValueError(f"expect(on_fail=...) must be one of {ON_FAIL}, got {on_fail!r}")
        if target not in TARGETS:
            raise ValueError(f"expect(target=...) must be one of {TARGETS}, got {target!r}")
        self.expectation = Expectation(tuple(validators), on_fail, target, tool)

    def _add(self, current: tuple[Expectation, ...]) -> tuple[Expectation, ...]:
        return (*current, self.expectation)


def active() -> tuple[Expectation, ...]:
    return _ACTIVE.get()


# -- checking a call's output ------------------------------------------------------------------------


@dataclass
class Outcome:
    """A call's validation: every result, and the failures that must raise."""

    results: list[ValidationResult] = field(default_factory=list)
    to_raise: list[ValidationResult] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(not r.passed for r in self.results)


def _texts(messages: list[dict[str, Any]]) -> Iterator[str]:
    """Each output message's text (its text parts joined)."""
    for message in messages:
        parts = [p.get("content") for p in message.get("parts", ()) if p.get("type") == "text"]
        yield "".join(p for p in parts if isinstance(p, str))


def _tool_calls(messages: list[dict[str, Any]], tool: str | None) -> Iterator[Any]:
    for message in messages:
        for part in message.get("parts", ()):
            if part.get("type") == "tool_call" and (tool is None or part.get("name") == tool):
                yield part.get("arguments")


def check(expectations: tuple[Expectation, ...], messages: list[dict[str, Any]]) -> Outcome:
    """Run each expectation's validators on the outputs it targets: one result per validator (it
    fails when any targeted output fails; the first failure explains). An expectation with nothing
    to check (no tool call for a tool_arguments one) gives no result."""
    outcome = Outcome()
    for expectation in expectations:
        if expectation.target == "output":
            outputs = list(_texts(messages))
        else:
            outputs = list(_tool_calls(messages, expectation.tool))
        if not outputs:
            continue
        for validator in expectation.validators:
            result = ValidationResult(validator.name, True)
            for output in outputs:
                checked = validator(output)
                if not checked.passed:
                    result = checked
                    break
            outcome.results.append(result)
            if not result.passed and expectation.on_fail == "raise":
                outcome.to_raise.append(result)
    return outcome


def schema_expectations(response_schema: Any, tool_schemas: dict[str, Any]) -> tuple[Expectation, ...]:
    """Automatic, record-only expectations from the schemas a request carries (a structured output
    format; tool input schemas). A schema jsonschema cannot use is skipped."""
    from .validators import json_schema

    found: list[Expectation] = []
    if isinstance(response_schema, dict):
        try:
            found.append(Expectation((json_schema(response_schema, name="response_format"),)))
        except Exception:
            pass
    for tool, schema in tool_schemas.items():
        if isinstance(schema, dict):
            try:
                validator = json_schema(schema, name="tool_input_schema")
            except Exception:
                continue
            found.append(Expectation((validator,), target="tool_arguments", tool=tool))
    return tuple(found)


@dataclass(frozen=True)
class ValidationRule:
    """A configured expectation for matching calls: globs on the request model and on the feature
    and prompt version set with otel_llm.attributes(...) (None: any)."""

    expectation: Expectation
    model: str | None = None
    feature: str | None = None
    prompt_version: str | None = None

    def applies(self, inv: Any) -> bool:
        from . import attribution

        return (
            (self.model is None or fnmatch.fnmatchcase(inv.request_model or "", self.model))
            and (self.feature is None or fnmatch.fnmatchcase(attribution.feature() or "", self.feature))
            and (
                self.prompt_version is None
                or fnmatch.fnmatchcase(attribution.prompt_version() or "", self.prompt_version)
            )
        )


_RULE_KEYS = {"model", "feature", "prompt_version", "on_fail", "target", "tool", "validators"}
_VALIDATOR_ARGS = {
    "json": (),
    "json_schema": ("schema",),
    "regex": ("pattern",),
    "required_fields": ("names",),
    "max_length": ("n",),
}


def parse_rules(where: str, raw: Any) -> tuple[ValidationRule, ...]:
    """Rules from the configuration file's `[[validation]]` tables (or instrument(validation=...)).
    Raises ValueError naming the bad entry."""
    from . import validators as v

    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list | tuple):
        raise ValueError(f"{where} must be a list of rule tables")
    rules = []
    for i, entry in enumerate(raw):
        if isinstance(entry, ValidationRule):
            rules.append(entry)
            continue
        at = f"{where}[{i}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{at} must be a table with {sorted(_RULE_KEYS)}")
        unknown = set(entry) - _RULE_KEYS
        if unknown:
            raise ValueError(f"{at} has unknown key(s) {sorted(unknown)}; accepted: {sorted(_RULE_KEYS)}")
        built = []
        for j, spec in enumerate(entry.get("validators") or ()):
            kind = spec.get("type") if isinstance(spec, dict) else None
            if kind not in _VALIDATOR_ARGS:
                raise ValueError(f"{at}.validators[{j}]: type must be one of {sorted(_VALIDATOR_ARGS)}")
            args = {key: value for key, value in spec.items() if key not in ("type", "name")}
            missing = [name for name in _VALIDATOR_ARGS[kind] if name not in args]
            extra = set(args) - set(_VALIDATOR_ARGS[kind]) - ({"full"} if kind == "regex" else set())
            if missing or extra:
                raise ValueError(
                    f"{at}.validators[{j}] ({kind}) takes {list(_VALIDATOR_ARGS[kind])}; "
                    f"missing {missing}, unknown {sorted(extra)}"
                )
            if "name" in spec and kind in ("json_schema", "regex"):
                args["name"] = spec["name"]
            try:
                built.append(getattr(v, kind)(**args))
            except Exception as exc:
                raise ValueError(f"{at}.validators[{j}] ({kind}): {exc}") from None
        if not built:
            raise ValueError(f"{at} needs at least one entry in validators")
        for key in ("model", "feature", "prompt_version"):
            if entry.get(key) is not None and not isinstance(entry[key], str):
                raise ValueError(f"{at}.{key} must be a name or a glob such as 'gpt-4o*'")
        try:
            expectation = expect(
                *built,
                on_fail=entry.get("on_fail", "record"),
                target=entry.get("target", "output"),
                tool=entry.get("tool"),
            ).expectation
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{at}: {exc}") from None
        rules.append(
            ValidationRule(expectation, entry.get("model"), entry.get("feature"), entry.get("prompt_version"))
        )
    return tuple(rules)

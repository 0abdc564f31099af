"""Output validators for `otel_llm.expect(...)` and the configuration file's validation rules.

A validator checks one output (a response's text, or one tool call's arguments) and returns a
`ValidationResult`. Explanations never quote the output: they end up in telemetry, and outputs are
content (they may hold personal data), so they name what failed (a JSON path, a field, a rule), not
the value.
"""

from __future__ import annotations

import functools
import json as _json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ValidationResult",
    "Validator",
    "custom",
    "json",
    "json_schema",
    "max_length",
    "pydantic",
    "regex",
    "required_fields",
]

_MAX_EXPLANATION = 300


@dataclass(frozen=True)
class ValidationResult:
    name: str
    passed: bool
    explanation: str | None = None

    @property
    def label(self) -> str:
        return "pass" if self.passed else "fail"


class Validator:
    """Subclasses set `name` and implement `check(output) -> (passed, explanation)`."""

    name = "validator"

    def check(self, output: Any) -> tuple[bool, str | None]:
        raise NotImplementedError

    def __call__(self, output: Any) -> ValidationResult:
        try:
            passed, explanation = self.check(output)
        except Exception as exc:  # a validator that breaks fails the output, it does not break the app
            passed, explanation = False, f"validator raised {type(exc).__name__}"
        if explanation is not None and len(explanation) > _MAX_EXPLANATION:
            explanation = explanation[: _MAX_EXPLANATION - 1] + "…"
        return ValidationResult(self.name, bool(passed), explanation)

    def __repr__(self) -> str:
        return f"<validator {self.name}>"


def _text(output: Any) -> str:
    return output if isinstance(output, str) else _json.dumps(output, ensure_ascii=False)


def _parsed(output: Any) -> tuple[bool, Any, str | None]:
    """(ok, value, explanation): a string is parsed as JSON, anything else is already data."""
    if not isinstance(output, str):
        return True, output, None
    try:
        return True, _json.loads(output), None
    except ValueError as exc:
        # the position, not the text around it
        return False, None, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"


class _Json(Validator):
    name = "json"

    def check(self, output: Any) -> tuple[bool, str | None]:
        ok, _, explanation = _parsed(output)
        return ok, explanation


@functools.lru_cache(maxsize=256)
def _compiled_schema(text: str) -> Any:
    """A jsonschema validator for a schema (its canonical JSON text), checked once: checking and
    compiling a schema costs milliseconds, and requests carry the same schemas call after call."""
    import jsonschema

    schema = _json.loads(text)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)  # a bad schema is the app's configuration error: raise now
    return cls(schema)


class _JsonSchema(Validator):
    def __init__(self, schema: dict[str, Any], name: str) -> None:
        self._validator = _compiled_schema(_json.dumps(schema, sort_keys=True, default=str))
        self.name = name

    def check(self, output: Any) -> tuple[bool, str | None]:
        ok, value, explanation = _parsed(output)
        if not ok:
            return False, explanation
        errors = sorted(self._validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        if not errors:
            return True, None
        where = "; ".join(f"{_path(error.absolute_path)}: fails '{error.validator}'" for error in errors[:5])
        return False, f"{len(errors)} schema error(s): {where}"


class _Pydantic(Validator):
    def __init__(self, model: Any, name: str | None) -> None:
        from pydantic import TypeAdapter

        self._adapter = TypeAdapter(model)
        self.name = name or f"pydantic:{getattr(model, '__name__', 'model')}"

    def check(self, output: Any) -> tuple[bool, str | None]:
        from pydantic import ValidationError

        try:
            if isinstance(output, str):
                self._adapter.validate_json(output)
            else:
                self._adapter.validate_python(output)
        except ValidationError as exc:
            # location and error type only: pydantic's messages quote the input
            where = "; ".join(f"{_path(e['loc'])}: {e['type']}" for e in exc.errors()[:5])
            return False, f"{exc.error_count()} error(s): {where}"
        return True, None


class _Regex(Validator):
    def __init__(self, pattern: str | re.Pattern[str], name: str | None, full: bool) -> None:
        self._pattern = re.compile(pattern) if isinstance(pattern, str) else pattern
        self._full = full
        self.name = name or "regex"

    def check(self, output: Any) -> tuple[bool, str | None]:
        text = _text(output)
        found = self._pattern.fullmatch(text) if self._full else self._pattern.search(text)
        if found:
            return True, None
        return False, ("does not match the whole pattern" if self._full else "no match for the pattern")


class _RequiredFields(Validator):
    name = "required_fields"

    def __init__(self, names: Iterable[str]) -> None:
        self._names = list(names)
        if not self._names or not all(isinstance(n, str) and n for n in self._names):
            raise ValueError("required_fields needs one or more field names")

    def check(self, output: Any) -> tuple[bool, str | None]:
        ok, value, explanation = _parsed(output)
        if not ok:
            return False, explanation
        if not isinstance(value, dict):
            return False, f"not a JSON object but {type(value).__name__}"
        missing = [name for name in self._names if _lookup(value, name) is _MISSING]
        if missing:
            return False, "missing fields: " + ", ".join(missing)
        return True, None


class _MaxLength(Validator):
    name = "max_length"

    def __init__(self, n: int) -> None:
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ValueError(f"max_length needs a non-negative integer, got {n!r}")
        self._n = n

    def check(self, output: Any) -> tuple[bool, str | None]:
        length = len(_text(output))
        if length <= self._n:
            return True, None
        return False, f"{length} characters, more than {self._n}"


class _Custom(Validator):
    def __init__(self, fn: Callable[[Any], Any], name: str) -> None:
        if not callable(fn):
            raise ValueError("custom needs a callable")
        self._fn = fn
        self.name = name

    def check(self, output: Any) -> tuple[bool, str | None]:
        """`fn(output)` returns True/False, or (passed, explanation); raising fails the output."""
        verdict = self._fn(output)
        if isinstance(verdict, tuple):
            passed, explanation = verdict
            return bool(passed), None if explanation is None else str(explanation)
        return bool(verdict), None


_MISSING = object()


def _lookup(value: dict[str, Any], dotted: str) -> Any:
    """A field by name; "a.b" looks inside nested objects."""
    current: Any = value
    for key in dotted.split("."):
        if not isinstance(current, dict) or key not in current:
            return _MISSING
        current = current[key]
    return current


def _path(parts: Iterable[Any]) -> str:
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)
    return "$" + text


# -- the public factories ---------------------------------------------------------------------------


def json() -> Validator:
    """The output parses as JSON."""
    return _Json()


def json_schema(schema: dict[str, Any], name: str = "json_schema") -> Validator:
    """The output is JSON valid against `schema` (any draft jsonschema knows)."""
    if not isinstance(schema, dict):
        raise ValueError("json_schema needs a JSON Schema object (a dict)")
    return _JsonSchema(schema, name)


def pydantic(model: Any, name: str | None = None) -> Validator:
    """The output validates as `model` (a pydantic model class or any type pydantic accepts)."""
    return _Pydantic(model, name)


def regex(pattern: str | re.Pattern[str], name: str | None = None, full: bool = False) -> Validator:
    """The output contains a match of `pattern` (the whole output must match when `full`)."""
    return _Regex(pattern, name, full)


def required_fields(names: Iterable[str]) -> Validator:
    """The output is a JSON object holding every field in `names` ("a.b" for nested ones)."""
    return _RequiredFields(names)


def max_length(n: int) -> Validator:
    """The output has at most `n` characters."""
    return _MaxLength(n)


def custom(fn: Callable[[Any], Any], name: str) -> Validator:
    """`fn(output)` decides: True/False or (passed, explanation). Keep explanations free of the
    output itself: they are exported as telemetry."""
    if not isinstance(name, str) or not name:
        raise ValueError("custom needs a name (it labels the validation metric)")
    return _Custom(fn, name)

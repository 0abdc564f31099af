"""Reading OTLP/JSON (the collector's file exporter output): attribute lists and AnyValues as
plain Python values. Standard library only: `otel-llm review export` uses it in production."""

from __future__ import annotations

from typing import Any


def otlp_value(value: dict[str, Any]) -> Any:
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [otlp_value(item) for item in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return otlp_attributes(value["kvlistValue"].get("values", []))
    return None


def otlp_attributes(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    return {pair["key"]: otlp_value(pair.get("value", {})) for pair in pairs}

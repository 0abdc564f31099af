"""Small helpers shared by the provider mappings (no telemetry API here)."""

from __future__ import annotations

from typing import Any

from .. import semconv as sc

_SERVER_ATTR = "_otel_llm_server"
# Tuples, not `X | Y` unions: isinstance with a tuple is faster on 3.11, and these run per call.
_SCALARS = (bool, int, float, str)
_SEQUENCES = (list, tuple)
_DATA = (bool, int, float, str, list, tuple, dict)


def put(attrs: dict[str, Any], key: str, value: Any) -> None:
    """Set `key` when `value` is a real attribute value (skips None and the SDKs' NOT_GIVEN/omit)."""
    if isinstance(value, _SCALARS):
        attrs[key] = value
    elif isinstance(value, _SEQUENCES) and value and all(isinstance(v, str) for v in value):
        attrs[key] = list(value)


def given(value: Any) -> Any:
    """`value`, or None for the SDKs' NOT_GIVEN/omit sentinels and other non-data values."""
    if value is None or isinstance(value, _DATA):
        return value
    return None


def server_of(client: Any) -> tuple[str | None, int | None]:
    """(host, port) of the client's base URL, cached on the client until its base URL changes."""
    base_url = getattr(client, "_base_url", None)
    cached = getattr(client, "__dict__", {}).get(_SERVER_ATTR)
    if cached is not None and cached[0] is base_url:
        return cached[1]
    host: str | None = None
    port: int | None = None
    if base_url is not None:
        host = base_url.host or None
        port = base_url.port or (443 if base_url.scheme == "https" else 80)
    try:
        vars(client)[_SERVER_ATTR] = (base_url, (host, port))
    except TypeError:
        pass
    return host, port


def base_attributes(
    operation: str, provider: str, model: Any, host: str | None, port: int | None, stream: bool
) -> dict:
    attrs: dict[str, Any] = {sc.GEN_AI_OPERATION_NAME: operation, sc.GEN_AI_PROVIDER_NAME: provider}
    put(attrs, sc.GEN_AI_REQUEST_MODEL, model)
    if host:
        attrs[sc.SERVER_ADDRESS] = host
    if port:
        attrs[sc.SERVER_PORT] = port
    attrs[sc.GEN_AI_REQUEST_STREAM] = stream
    return attrs


def stop_sequences(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def missing_finish_reason(inv: Any) -> str | None:
    """An output message's finish reason when the stream never gave one: "error" when the stream
    failed, else none (closed early or dropped by the app: the generation did not finish)."""
    return "error" if inv.response_attributes.get(sc.STREAM_END) == "error" else None

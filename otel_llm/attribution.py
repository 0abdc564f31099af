"""Who and what a call is for: `otel_llm.attributes(feature=..., prompt_version=..., ...)`.

The attributes follow the code in a context variable (into asyncio tasks, and into threads started
with a copied context) and go on the span of every provider call made inside. Only the feature and
the prompt version reach metric attributes, and each at most MAX_VALUES distinct values per process
(later ones are recorded as "other"), so a mistaken id cannot explode the series count; user and
tenant ids never do. Validation rules and guards can select calls by feature and prompt version.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from . import semconv as sc
from .scoping import ContextLayer

__all__ = ["attributes", "current"]

MAX_VALUES = 100
OTHER = "other"
# Longer strings are cut: a blob passed by mistake must not become an attribute or a metric label.
MAX_LENGTH = 256

_CURRENT: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "otel_llm_attributes", default=MappingProxyType({})
)
_NAMED = {
    "feature": sc.FEATURE,
    "prompt_version": sc.PROMPT_VERSION,
    "user_id": sc.USER_ID,
    "tenant": sc.TENANT,
}
_METRIC_KEYS = (sc.FEATURE, sc.PROMPT_VERSION)
_seen: dict[str, set[str]] = {key: set() for key in _METRIC_KEYS}
_seen_lock = threading.Lock()


def _span_key(name: str) -> str:
    if name in _NAMED:
        return _NAMED[name]
    return name if "." in name else f"otel_llm.attr.{name}"


class attributes(ContextLayer):
    """Attributes for the provider calls made inside, as a context manager or decorator:

        with otel_llm.attributes(feature="support-reply", prompt_version="v7", user_id=user.id):
            client.chat.completions.create(...)

    Nested blocks add to (and override) the outer ones. Values are strings, numbers or booleans;
    None leaves an attribute out.
    """

    _var = _CURRENT

    def __init__(
        self,
        feature: str | None = None,
        prompt_version: str | None = None,
        user_id: str | None = None,
        tenant: str | None = None,
        **extra: Any,
    ) -> None:
        given = {
            "feature": feature,
            "prompt_version": prompt_version,
            "user_id": user_id,
            "tenant": tenant,
            **extra,
        }
        values: dict[str, Any] = {}
        for name, value in given.items():
            if value is None:
                continue
            if not isinstance(value, str | int | float | bool):
                raise TypeError(
                    f"attributes({name}=...) must be a string, number or boolean, got {type(value).__name__}"
                )
            values[_span_key(name)] = value if not isinstance(value, str) else value[:MAX_LENGTH]
        self.values = values

    def _add(self, current: Mapping[str, Any]) -> Mapping[str, Any]:
        return {**current, **self.values}


def current() -> Mapping[str, Any]:
    """The span attributes in effect here."""
    return _CURRENT.get()


def feature() -> str | None:
    value = _CURRENT.get().get(sc.FEATURE)
    return None if value is None else str(value)


def prompt_version() -> str | None:
    value = _CURRENT.get().get(sc.PROMPT_VERSION)
    return None if value is None else str(value)


def metric_labels(values: Mapping[str, Any]) -> dict[str, str]:
    """The allow-listed attributes for metrics, bounded per process."""
    labels = {}
    for key in _METRIC_KEYS:
        value = values.get(key)
        if value is not None:
            labels[key] = bounded(key, str(value))
    return labels


def bounded(key: str, value: str) -> str:
    """`value` as a metric attribute: the first MAX_VALUES distinct values of `key` in this
    process pass, later ones become "other"."""
    seen = _seen.get(key)
    if seen is None:
        with _seen_lock:
            seen = _seen.setdefault(key, set())
    if value not in seen:
        with _seen_lock:
            if len(seen) >= MAX_VALUES:
                return OTHER
            seen.add(value)
    return value

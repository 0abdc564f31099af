"""Settings, read once: keyword arguments > `OTEL_LLM_*` variables > the TOML file > defaults.

Every setting is documented in docs/configuration.md. A bad value raises `ConfigError` naming the
setting and what it accepts, at `instrument()` time, never in the middle of a provider call.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PROVIDERS = ("openai", "anthropic")

OTEL_LLM_CONFIG = "OTEL_LLM_CONFIG"
"""Path of a TOML configuration file (price overrides and, later, guards and validation rules)."""

OTEL_LLM_PROVIDERS = "OTEL_LLM_PROVIDERS"
"""Comma-separated provider SDKs to instrument. Default: every one that is installed."""

OTEL_SDK_DISABLED = "OTEL_SDK_DISABLED"
"""Standard OpenTelemetry switch: `true` records nothing (calls pass through untouched)."""

# Top-level keys the TOML file may hold.
FILE_KEYS = frozenset({"providers", "prices"})

PRICE_FIELDS = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")


class ConfigError(ValueError):
    """A setting has a value otel-llm cannot use; the message names the setting and what it accepts."""


@dataclass(frozen=True)
class ModelRates:
    """USD per million tokens. Cache rates default to the input rate when not given."""

    input_mtok: float
    output_mtok: float
    cache_read_mtok: float | None = None
    cache_write_mtok: float | None = None


@dataclass(frozen=True)
class Settings:
    providers: tuple[str, ...] = PROVIDERS
    price_overrides: Mapping[str, ModelRates] = field(default_factory=dict)
    sdk_disabled: bool = False
    config_file: str | None = None


def _parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off", ""):
        return False
    raise ConfigError(f"{name}={raw!r} is not valid; accepted values: true, false")


def _parse_providers(name: str, raw: Any) -> tuple[str, ...]:
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise ConfigError(f"{name}={raw!r} is not valid; give a list of: {', '.join(PROVIDERS)}")
    chosen = tuple(str(item).strip().lower() for item in items if str(item).strip())
    unknown = [item for item in chosen if item not in PROVIDERS]
    if unknown:
        raise ConfigError(
            f"{name} has unknown provider(s) {unknown}; accepted values: {', '.join(PROVIDERS)}"
        )
    return chosen


def _parse_rates(name: str, model: str, raw: Any) -> ModelRates:
    if isinstance(raw, ModelRates):
        return raw
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"{name}[{model!r}] must be a table with {', '.join(PRICE_FIELDS)} (USD per 1M tokens)"
        )
    unknown = set(raw) - set(PRICE_FIELDS)
    if unknown:
        raise ConfigError(
            f"{name}[{model!r}] has unknown key(s) {sorted(unknown)}; accepted: {', '.join(PRICE_FIELDS)}"
        )
    values: dict[str, float] = {}
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(
                f"{name}[{model!r}].{key}={value!r} is not valid; give a number >= 0 (USD per 1M tokens)"
            )
        values[key] = float(value)
    for required in ("input_mtok", "output_mtok"):
        if required not in values:
            raise ConfigError(f"{name}[{model!r}] needs {required} (USD per 1M tokens)")
    return ModelRates(**values)


def _read_file(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{OTEL_LLM_CONFIG}={path!r}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{OTEL_LLM_CONFIG}={path!r} is not valid TOML: {exc}") from None


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build the one settings object from keyword overrides, the environment and the config file."""
    env = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    unknown = set(overrides) - {"providers", "price_overrides", "config_file"}
    if unknown:
        raise ConfigError(
            f"instrument() got unknown setting(s) {sorted(unknown)}; accepted: providers, price_overrides, config_file"
        )

    config_file = overrides.get("config_file") or env.get(OTEL_LLM_CONFIG) or None
    file_values = _read_file(config_file) if config_file else {}
    unknown_keys = set(file_values) - FILE_KEYS
    if unknown_keys:
        raise ConfigError(
            f"{config_file}: unknown key(s) {sorted(unknown_keys)}; accepted: {', '.join(sorted(FILE_KEYS))}"
        )

    providers: tuple[str, ...] = PROVIDERS
    if "providers" in overrides:
        providers = _parse_providers("providers", overrides["providers"])
    elif env.get(OTEL_LLM_PROVIDERS):
        providers = _parse_providers(OTEL_LLM_PROVIDERS, env[OTEL_LLM_PROVIDERS])
    elif "providers" in file_values:
        providers = _parse_providers(f"{config_file}: providers", file_values["providers"])

    # Price overrides merge: the file's table first, then keyword arguments win per model.
    prices: dict[str, ModelRates] = {}
    file_prices = file_values.get("prices", {})
    if not isinstance(file_prices, Mapping):
        raise ConfigError(f"{config_file}: [prices] must be a table of model tables")
    for model, raw in file_prices.items():
        prices[model] = _parse_rates(f"{config_file}: prices", model, raw)
    kw_prices = overrides.get("price_overrides") or {}
    if not isinstance(kw_prices, Mapping):
        raise ConfigError("price_overrides must be a dict of model -> {input_mtok, output_mtok, ...}")
    for model, raw in kw_prices.items():
        prices[model] = _parse_rates("price_overrides", model, raw)

    return Settings(
        providers=providers,
        price_overrides=prices,
        sdk_disabled=_parse_bool(OTEL_SDK_DISABLED, env.get(OTEL_SDK_DISABLED, "")),
        config_file=config_file,
    )

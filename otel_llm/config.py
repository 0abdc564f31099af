"""Settings, read once: keyword arguments > `OTEL_LLM_*` variables > the TOML file > defaults.

Every setting is documented in docs/configuration.md. A bad value raises `ConfigError` naming the
setting and what it accepts, at `instrument()` time, never in the middle of a provider call.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PROVIDERS = ("openai", "anthropic")

OTEL_LLM_CONFIG = "OTEL_LLM_CONFIG"
"""Path of a TOML configuration file (prices, content capture, redaction, validation rules, guards)."""

OTEL_LLM_PROVIDERS = "OTEL_LLM_PROVIDERS"
"""Comma-separated provider SDKs to instrument. Default: every one that is installed."""

OTEL_SDK_DISABLED = "OTEL_SDK_DISABLED"
"""Standard OpenTelemetry switch: `true` records nothing (calls pass through untouched)."""

OTEL_LLM_CAPTURE_CONTENT = "OTEL_LLM_CAPTURE_CONTENT"
"""Prompt/output capture: `off` (default), `sampled` (review sample + failed calls) or `all`."""

OTEL_GENAI_CAPTURE = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
"""The standard OpenTelemetry switch, used when OTEL_LLM_CAPTURE_CONTENT is not set; its
SPAN_ONLY / EVENT_ONLY / SPAN_AND_EVENT values also choose where content goes."""

OTEL_LLM_GUARD_STORE = "OTEL_LLM_GUARD_STORE"
"""Where the guards count: `memory` (default, this process) or a `redis://` URL (shared)."""

OTEL_LLM_GUARD_FAIL = "OTEL_LLM_GUARD_FAIL"
"""What the guards do when their shared store is unreachable: `open` (default) or `closed`."""

OTEL_LLM_SAMPLE_RATE = "OTEL_LLM_SAMPLE_RATE"
"""Share of calls in the review sample (deterministic by trace id), 0..1. Default 0.05."""

# Content capture and redaction variables (documented in docs/configuration.md).
CONTENT_VARIABLES = {
    "queue_size": "OTEL_LLM_CONTENT_QUEUE_SIZE",
    "timeout_seconds": "OTEL_LLM_CONTENT_TIMEOUT",
    "max_chars": "OTEL_LLM_CONTENT_MAX_CHARS",
    "entities": "OTEL_LLM_REDACT_ENTITIES",
    "score_threshold": "OTEL_LLM_REDACT_SCORE_THRESHOLD",
    "operator": "OTEL_LLM_REDACT_OPERATOR",
    "salt": "OTEL_LLM_REDACTION_SALT",
    "salt_file": "OTEL_LLM_REDACTION_SALT_FILE",
    "spacy_model": "OTEL_LLM_SPACY_MODEL",
}

CAPTURE_MODES = ("off", "sampled", "all")
PLACEMENTS = ("event", "span", "span_and_event")
OPERATORS = ("replace", "mask", "hash")

# Top-level keys the TOML file may hold.
FILE_KEYS = frozenset({"providers", "prices", "content", "redaction", "validation", "guards"})
GUARD_FILE_KEYS = frozenset({"budgets", "rate_limits", "loop_guard", "store", "fail"})
CONTENT_FILE_KEYS = frozenset({"capture", "sample_rate", "queue_size", "timeout_seconds", "max_chars"})
REDACTION_KEYS = frozenset(
    {"entities", "score_threshold", "operator", "salt", "salt_file", "allow_list", "spacy_model"}
)

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
class ContentSettings:
    """Prompt and output capture, and how content is redacted before it leaves the process."""

    mode: str = "off"
    placement: str = "event"
    sample_rate: float = 0.05
    queue_size: int = 1000
    timeout_seconds: float = 30.0
    max_chars: int = 20_000
    entities: tuple[str, ...] | None = None
    score_threshold: float = 0.5
    operator: str = "replace"
    salt: str | None = field(default=None, repr=False)
    allow_list: tuple[str, ...] = ()
    spacy_model: str | None = None


@dataclass(frozen=True)
class Settings:
    providers: tuple[str, ...] = PROVIDERS
    price_overrides: Mapping[str, ModelRates] = field(default_factory=dict)
    sdk_disabled: bool = False
    config_file: str | None = None
    content: ContentSettings = field(default_factory=ContentSettings)
    # validation.ValidationRule tuple: configured output checks by model
    validation_rules: tuple = ()
    guards: GuardSettings = field(default_factory=lambda: GuardSettings())


@dataclass(frozen=True)
class GuardSettings:
    budgets: tuple = ()  # guards.Budget
    rate_limits: tuple = ()  # guards.RateLimit
    loop_guard: Any = None  # guards.LoopGuard
    store: str = "memory"  # or a redis:// URL
    fail_open: bool = True

    @property
    def active(self) -> bool:
        return bool(self.budgets or self.rate_limits or self.loop_guard)


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
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
            raise ConfigError(
                f"{name}[{model!r}].{key}={value!r} is not valid; give a finite number >= 0 (USD per 1M tokens)"
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
    unknown = set(overrides) - KEYWORDS
    if unknown:
        raise ConfigError(
            f"instrument() got unknown setting(s) {sorted(unknown)}; accepted: {', '.join(sorted(KEYWORDS))}"
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
        content=_content_settings(overrides, env, file_values, config_file),
        validation_rules=_validation_rules(overrides, file_values, config_file),
        guards=_guard_settings(overrides, env, file_values, config_file),
    )


def _guard_settings(
    overrides: Mapping[str, Any],
    env: Mapping[str, str],
    file_values: Mapping[str, Any],
    config_file: str | None,
) -> GuardSettings:
    """Guards from instrument(budgets=, rate_limits=, loop_guard=, guard_store=, guard_fail=), the
    OTEL_LLM_GUARD_* variables, and the file's [guards] table (keyword arguments win per key)."""
    from .guards import Budget, LoopGuard, RateLimit

    where = f"{config_file}: guards"
    table = file_values.get("guards", {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table")
    unknown = set(table) - GUARD_FILE_KEYS
    if unknown:
        raise ConfigError(
            f"{where} has unknown key(s) {sorted(unknown)}; accepted: {sorted(GUARD_FILE_KEYS)}"
        )

    def build(name: str, cls: type, raw: Any) -> Any:
        if isinstance(raw, cls):
            return raw
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{name} must be otel_llm.{cls.__name__}(...) or a table of its fields")
        try:
            return cls(**raw)
        except TypeError as exc:
            raise ConfigError(f"{name}: {exc}") from None
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None

    def many(key: str, cls: type) -> tuple:
        raw, name = (
            (overrides[key], key)
            if overrides.get(key) is not None
            else (table.get(key, ()), f"{where}.{key}")
        )
        if isinstance(raw, cls | Mapping):
            raw = [raw]
        if not isinstance(raw, list | tuple):
            raise ConfigError(f"{name} must be a list of otel_llm.{cls.__name__}")
        return tuple(build(f"{name}[{i}]", cls, item) for i, item in enumerate(raw))

    loop_raw = (
        overrides.get("loop_guard") if overrides.get("loop_guard") is not None else table.get("loop_guard")
    )
    loop_guard = None if loop_raw is None else build("loop_guard", LoopGuard, loop_raw)
    store = overrides.get("guard_store") or env.get(OTEL_LLM_GUARD_STORE) or table.get("store") or "memory"
    if not isinstance(store, str) or not (
        store == "memory" or store.startswith(("redis://", "rediss://", "unix://"))
    ):
        raise ConfigError(f"guard store {store!r} is not valid; accepted: memory, or a redis:// URL")
    fail = overrides.get("guard_fail") or env.get(OTEL_LLM_GUARD_FAIL) or table.get("fail") or "open"
    if fail not in ("open", "closed"):
        raise ConfigError(f"guard_fail={fail!r} is not valid; accepted values: open, closed")
    return GuardSettings(
        many("budgets", Budget), many("rate_limits", RateLimit), loop_guard, store, fail == "open"
    )


def _validation_rules(
    overrides: Mapping[str, Any], file_values: Mapping[str, Any], config_file: str | None
) -> tuple:
    """The file's [[validation]] rules, then instrument(validation=[...]) ones (both apply)."""
    from .validation import parse_rules

    rules: tuple = ()
    try:
        if "validation" in file_values:
            rules += parse_rules(f"{config_file}: validation", file_values["validation"])
        if overrides.get("validation") is not None:
            rules += parse_rules("validation", overrides["validation"])
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return rules


KEYWORDS = frozenset(
    {
        "providers",
        "price_overrides",
        "config_file",
        "capture_content",
        "sample_rate",
        "redaction",
        "validation",
        "budgets",
        "rate_limits",
        "loop_guard",
        "guard_store",
        "guard_fail",
    }
)


def _capture(
    overrides: Mapping[str, Any], env: Mapping[str, str], file_content: Mapping[str, Any], where: str
) -> tuple[str, str]:
    """(mode, placement) from, strongest first: the keyword, OTEL_LLM_CAPTURE_CONTENT, the file,
    then the standard OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT, else off."""
    standard = env.get(OTEL_GENAI_CAPTURE, "").strip().upper()
    standard_modes = {
        "": ("off", "event"),
        "NO_CONTENT": ("off", "event"),
        "FALSE": ("off", "event"),
        "EVENT_ONLY": ("all", "event"),
        "TRUE": ("all", "event"),
        "SPAN_ONLY": ("all", "span"),
        "SPAN_AND_EVENT": ("all", "span_and_event"),
    }
    if standard not in standard_modes:
        raise ConfigError(
            f"{OTEL_GENAI_CAPTURE}={env.get(OTEL_GENAI_CAPTURE)!r} is not valid; accepted values: "
            "NO_CONTENT, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT, true, false"
        )
    standard_mode, placement = standard_modes[standard]
    for name, raw in (
        ("capture_content", overrides.get("capture_content")),
        (OTEL_LLM_CAPTURE_CONTENT, env.get(OTEL_LLM_CAPTURE_CONTENT) or None),
        (f"{where}: content.capture", file_content.get("capture")),
    ):
        if raw is not None:
            mode = str(raw).strip().lower()
            if mode not in CAPTURE_MODES:
                raise ConfigError(f"{name}={raw!r} is not valid; accepted values: {', '.join(CAPTURE_MODES)}")
            return mode, placement
    return standard_mode, placement


def _number(name: str, raw: Any, low: float, high: float | None, kind: type = float) -> Any:
    try:
        if isinstance(raw, bool):
            raise ValueError
        value = kind(raw)
        if not math.isfinite(value):  # NaN passes every range check below
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{name}={raw!r} is not valid; give a number") from None
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f">= {low}"
        raise ConfigError(f"{name}={raw!r} is not valid; give a number {bounds}")
    return value


def _content_settings(
    overrides: Mapping[str, Any],
    env: Mapping[str, str],
    file_values: Mapping[str, Any],
    config_file: str | None,
) -> ContentSettings:
    where = config_file or "config file"
    file_content = file_values.get("content", {})
    file_redaction = file_values.get("redaction", {})
    for table, keys, raw in (
        ("content", CONTENT_FILE_KEYS, file_content),
        ("redaction", REDACTION_KEYS, file_redaction),
    ):
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where}: [{table}] must be a table")
        unknown = set(raw) - keys
        if unknown:
            raise ConfigError(
                f"{where}: [{table}] has unknown key(s) {sorted(unknown)}; accepted: {', '.join(sorted(keys))}"
            )
    kw_redaction = overrides.get("redaction") or {}
    if not isinstance(kw_redaction, Mapping) or set(kw_redaction) - REDACTION_KEYS:
        raise ConfigError(f"redaction must be a dict with keys from: {', '.join(sorted(REDACTION_KEYS))}")

    mode, placement = _capture(overrides, env, file_content, where)

    def pick(key: str, source: Mapping[str, Any], kw: Mapping[str, Any]) -> tuple[str, Any] | None:
        """The strongest (name, value) for `key`: keyword, then environment, then file."""
        if key in kw:
            return key, kw[key]
        variable = CONTENT_VARIABLES.get(key) or (OTEL_LLM_SAMPLE_RATE if key == "sample_rate" else None)
        if variable and env.get(variable):
            return variable, env[variable]
        if key in source:
            return f"{where}: {key}", source[key]
        return None

    values: dict[str, Any] = {"mode": mode, "placement": placement}
    top_kw = {k: overrides[k] for k in ("sample_rate",) if k in overrides}
    for key, low, high, kind in (
        ("sample_rate", 0.0, 1.0, float),
        ("queue_size", 1, None, int),
        ("timeout_seconds", 0.001, None, float),
        ("max_chars", 100, None, int),
    ):
        found = pick(key, file_content, top_kw)
        if found:
            values[key] = _number(found[0], found[1], low, high, kind)
    found = pick("score_threshold", file_redaction, kw_redaction)
    if found:
        values["score_threshold"] = _number(found[0], found[1], 0.0, 1.0)
    found = pick("operator", file_redaction, kw_redaction)
    if found:
        operator = str(found[1]).strip().lower()
        if operator not in OPERATORS:
            raise ConfigError(
                f"{found[0]}={found[1]!r} is not valid; accepted values: {', '.join(OPERATORS)}"
            )
        values["operator"] = operator
    found = pick("entities", file_redaction, kw_redaction)
    if found:
        raw = found[1]
        items = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            raise ConfigError(
                f"{found[0]}={raw!r} is not valid; give entity names such as EMAIL_ADDRESS,PHONE_NUMBER"
            )
        values["entities"] = tuple(i.strip().upper() for i in items if i.strip())
    found = pick("allow_list", file_redaction, kw_redaction)
    if found:
        if not isinstance(found[1], list | tuple) or not all(isinstance(i, str) for i in found[1]):
            raise ConfigError(f"{found[0]} must be a list of strings that are never redacted")
        values["allow_list"] = tuple(found[1])
    found = pick("spacy_model", file_redaction, kw_redaction)
    if found:
        values["spacy_model"] = str(found[1])
    salt = pick("salt", {}, kw_redaction)  # a salt is never read from the config file itself
    salt_file = pick("salt_file", file_redaction, kw_redaction)
    if salt:
        values["salt"] = str(salt[1])
    elif salt_file:
        try:
            with open(salt_file[1], encoding="utf-8") as handle:
                values["salt"] = handle.read().strip()
        except OSError as exc:
            raise ConfigError(
                f"{salt_file[0]}={salt_file[1]!r}: cannot read the salt file ({exc.strerror})"
            ) from None
    if values.get("operator") == "hash" and not values.get("salt"):
        raise ConfigError(
            "the hash redaction operator needs a salt: set OTEL_LLM_REDACTION_SALT or "
            "OTEL_LLM_REDACTION_SALT_FILE (there is no default salt)"
        )
    if values.get("salt") is not None and len(values["salt"].encode()) < 16:
        raise ConfigError(
            "the redaction salt must be at least 16 bytes long (a short salt makes hashes guessable)"
        )
    if "salt" in file_redaction:
        raise ConfigError(f"{where}: [redaction] salt must not be in the config file; use salt_file")
    return ContentSettings(**values)

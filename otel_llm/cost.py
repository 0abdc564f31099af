"""Cost in USD from pydantic's `genai-prices` data, with user overrides, and never any network.

genai-prices finds the model and its rates; the arithmetic on the hot path is ours because the
library's own `calc_price` costs ~150 us per call. Rates are looked up once per (provider, model,
service tier) and cached; `tests/test_cost.py` checks our totals against `genai_prices.calc_price`.
Token counts follow the GenAI conventions: input includes cache reads and cache writes, output
includes reasoning tokens. Cache writes include the 1-hour writes (Anthropic's
`ephemeral_1h_input_tokens`), which have their own rate. The service tier the response reports
(OpenAI `priority`, `flex`, ...) selects genai-prices' tier prices (its `service_tier` price context).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from .config import ModelRates

# Our `gen_ai.provider.name` -> genai-prices provider id (None: let the library match the model).
_PRICE_PROVIDER = {
    "openai": "openai",
    "anthropic": "anthropic",
    "azure.ai.openai": "azure",
    "aws.bedrock": "aws",
    "gcp.vertex_ai": None,
    "gcp.gemini": "google",
    "groq": "groq",
    "deepseek": "deepseek",
    "mistral_ai": "mistral",
    "x_ai": "x-ai",
    "cohere": "cohere",
    "openrouter": "openrouter",
    "together": "together",
    "fireworks": "fireworks",
    "perplexity": "perplexity",
}

_MTOK = 1_000_000.0


class _Tiered:
    """A rate that rises once the request's input tokens pass a threshold (long-context pricing)."""

    __slots__ = ("base", "tiers")

    def __init__(self, base: float, tiers: list[tuple[int, float]]) -> None:
        self.base = base
        self.tiers = sorted(tiers, reverse=True)

    def at(self, total_input: int) -> float:
        for start, rate in self.tiers:
            if total_input > start:
                return rate
        return self.base


Rate = float | _Tiered | None


def _rate(value: Rate, total_input: int) -> float | None:
    if value is None or isinstance(value, float):
        return value
    return value.at(total_input)


@dataclass(frozen=True)
class Rates:
    """USD per token for one model; `source` is "genai-prices" or "override"."""

    input: Rate
    output: Rate
    cache_read: Rate
    cache_write: Rate
    cache_write_1h: Rate
    source: str


class Cost(NamedTuple):
    """One call's price; a NamedTuple because it is built on every priced call (cheap to create)."""

    usd: float
    saved_usd: float
    source: str


def _from_library(value: Any) -> Rate:
    """A genai-prices price (Decimal or TieredPrices) as our per-token rate."""
    if value is None:
        return None
    base = getattr(value, "base", None)
    if base is not None:
        return _Tiered(float(base) / _MTOK, [(int(t.start), float(t.price) / _MTOK) for t in value.tiers])
    return float(value) / _MTOK


class PriceBook:
    """Looks up and caches rates; computes the cost of one call's usage."""

    def __init__(self, overrides: dict[str, ModelRates] | None = None) -> None:
        self._overrides = dict(overrides or {})
        self._cache: dict[tuple[str, str, str | None], Rates | None] = {}
        self._lock = threading.Lock()

    def reinit_lock(self) -> None:
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Load the price snapshot in a background thread so the first call does not pay for it."""
        threading.Thread(target=self._load_snapshot, name="otel-llm-prices", daemon=True).start()

    @staticmethod
    def _load_snapshot() -> Any:
        from genai_prices import data_snapshot

        return data_snapshot.get_snapshot()

    def rates(self, provider: str, model: str, service_tier: str | None = None) -> Rates | None:
        key = (provider, model, service_tier)
        try:
            return self._cache[key]
        except KeyError:
            pass
        with self._lock:
            if key not in self._cache:
                self._cache[key] = self._lookup(provider, model, service_tier)
            return self._cache[key]

    def _lookup(self, provider: str, model: str, service_tier: str | None) -> Rates | None:
        override = self._overrides.get(model)
        if override is not None:
            per = 1 / _MTOK
            cache_write = (
                override.cache_write_mtok if override.cache_write_mtok is not None else override.input_mtok
            ) * per
            return Rates(
                input=override.input_mtok * per,
                output=override.output_mtok * per,
                cache_read=(
                    override.cache_read_mtok if override.cache_read_mtok is not None else override.input_mtok
                )
                * per,
                cache_write=cache_write,
                cache_write_1h=cache_write,  # overrides have one cache write rate
                source="override",
            )
        snapshot = self._load_snapshot()
        provider_id = _PRICE_PROVIDER.get(provider)
        found = None
        for candidate in (provider_id, None) if provider_id else (None,):
            try:
                found = snapshot.find_provider_model(model, None, candidate, None)
                break
            except LookupError:
                continue
        if found is None:
            return None
        price_provider, model_info = found
        # Like calc_price: tier prices only for a model of the provider itself, not a fallback match.
        context = None
        if service_tier and any(model_info is m for m in price_provider.models):
            context = {"service_tier": service_tier}
        # Conditional prices (a model's price change on a date) need the request time.
        prices = model_info.get_prices(datetime.now(UTC), context)
        input_rate = _from_library(getattr(prices, "input_mtok", None))
        output_rate = _from_library(getattr(prices, "output_mtok", None))
        if input_rate is None and output_rate is None:
            return None
        return Rates(
            input=input_rate,
            output=output_rate,
            cache_read=_from_library(getattr(prices, "cache_read_mtok", None)),
            cache_write=_from_library(getattr(prices, "cache_write_mtok", None)),
            cache_write_1h=_from_library(getattr(prices, "cache_write_1h_mtok", None)),
            source="genai-prices",
        )

    def cost(
        self,
        provider: str,
        model: str,
        input_tokens: int,
        output_tokens: int,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        *,
        cache_write_1h_tokens: int = 0,
        service_tier: str | None = None,
    ) -> Cost | None:
        """USD for one call, or None when the model has no price. Input counts include cache tokens;
        `cache_write_tokens` includes the `cache_write_1h_tokens`. `service_tier` is the tier the
        response reports (None: the standard prices)."""
        rates = self.rates(provider, model, service_tier)
        if rates is None:
            return None
        in_rate = _rate(rates.input, input_tokens) or 0.0
        read_rate = _rate(rates.cache_read, input_tokens)
        write_rate = _rate(rates.cache_write, input_tokens)
        if read_rate is None:
            read_rate = in_rate
        if write_rate is None:
            write_rate = in_rate
        uncached = max(input_tokens - cache_read_tokens - cache_write_tokens, 0)
        usd = (
            uncached * in_rate
            + cache_read_tokens * read_rate
            + cache_write_tokens * write_rate
            + output_tokens * (_rate(rates.output, input_tokens) or 0.0)
        )
        if cache_write_1h_tokens:
            write_1h_rate = _rate(rates.cache_write_1h, input_tokens)
            if write_1h_rate is not None:
                usd += min(cache_write_1h_tokens, cache_write_tokens) * (write_1h_rate - write_rate)
        saved = cache_read_tokens * (in_rate - read_rate)
        return Cost(usd=usd, saved_usd=saved, source=rates.source)

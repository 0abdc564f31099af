"""Cost: our fast arithmetic agrees with genai-prices, cached tokens are priced once at the cache rate."""

from __future__ import annotations

import pytest
from genai_prices import Usage, calc_price

from otel_llm.config import ModelRates
from otel_llm.cost import PriceBook

CASES = [
    ("openai", "openai", "gpt-4o", 1000, 200, 400, 0),
    ("openai", "openai", "gpt-4o-mini", 5000, 1000, 0, 0),
    ("openai", "openai", "o3-mini", 1200, 3000, 1000, 0),
    ("anthropic", "anthropic", "claude-sonnet-4-5", 3000, 500, 1000, 500),
    # Above the 200k long-context threshold the tiered rates apply.
    ("anthropic", "anthropic", "claude-sonnet-4-5", 250_000, 500, 1000, 500),
    ("anthropic", "anthropic", "claude-opus-4-1", 2000, 100, 0, 1500),
]


@pytest.mark.parametrize(("provider", "price_provider", "model", "inp", "out", "read", "write"), CASES)
def test_cost_matches_genai_prices(provider, price_provider, model, inp, out, read, write):
    expected = calc_price(
        Usage(input_tokens=inp, output_tokens=out, cache_read_tokens=read, cache_write_tokens=write),
        model,
        provider_id=price_provider,
    ).total_price
    cost = PriceBook().cost(provider, model, inp, out, read, write)
    assert cost is not None
    assert cost.usd == pytest.approx(float(expected), rel=1e-9)
    assert cost.source == "genai-prices"


def test_cached_input_priced_at_cache_rate_and_counted_once():
    book = PriceBook()
    uncached = book.cost("openai", "gpt-4o", 1000, 0, 0, 0)
    cached = book.cost("openai", "gpt-4o", 1000, 0, 400, 0)
    # gpt-4o: $2.50 input, $1.25 cached input per million tokens.
    assert uncached.usd == pytest.approx(1000 * 2.5e-6)
    assert cached.usd == pytest.approx(600 * 2.5e-6 + 400 * 1.25e-6)
    assert cached.saved_usd == pytest.approx(400 * (2.5e-6 - 1.25e-6))


def test_override_prices_custom_model():
    book = PriceBook({"ft:gpt-4o:acme": ModelRates(input_mtok=3.0, output_mtok=12.0, cache_read_mtok=1.5)})
    cost = book.cost("openai", "ft:gpt-4o:acme", 1_000_000, 500_000, 200_000, 0)
    assert cost.usd == pytest.approx(800_000 * 3e-6 + 200_000 * 1.5e-6 + 500_000 * 12e-6)
    assert cost.source == "override"


def test_override_wins_over_library():
    book = PriceBook({"gpt-4o": ModelRates(input_mtok=1.0, output_mtok=1.0)})
    assert book.cost("openai", "gpt-4o", 1_000_000, 0).usd == pytest.approx(1.0)


def test_unknown_model_is_unpriced():
    assert PriceBook().cost("openai", "no-such-model-xyz", 10, 10) is None


def test_dated_model_resolves_through_the_library():
    assert PriceBook().cost("openai", "gpt-4o-2024-08-06", 1000, 0) is not None

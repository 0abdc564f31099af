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


# (provider, price provider, model, input, output, cache writes, of which 1-hour writes)
CACHE_1H_CASES = [
    ("anthropic", "anthropic", "claude-sonnet-4-5", 100_100, 10, 100_000, 100_000),
    ("anthropic", "anthropic", "claude-sonnet-4-5", 3000, 500, 1500, 500),
    # Above the 200k long-context threshold the tiered 1-hour rate applies.
    ("anthropic", "anthropic", "claude-sonnet-4-5", 250_000, 500, 2000, 1000),
    ("anthropic", "anthropic", "claude-3-5-haiku-latest", 1000, 10, 500, 300),
    # No 1-hour rate: the 1-hour writes cost what other cache writes cost.
    ("aws.bedrock", "aws", "global.anthropic.claude-sonnet-4-20250514-v1:0", 1000, 10, 500, 300),
]


@pytest.mark.parametrize(
    ("provider", "price_provider", "model", "inp", "out", "write", "write_1h"), CACHE_1H_CASES
)
def test_one_hour_cache_writes_priced_at_their_own_rate(
    provider, price_provider, model, inp, out, write, write_1h
):
    usage = Usage(
        input_tokens=inp, output_tokens=out, cache_write_tokens=write, cache_write_1h_tokens=write_1h
    )
    expected = calc_price(usage, model, provider_id=price_provider).total_price
    cost = PriceBook().cost(provider, model, inp, out, 0, write, cache_write_1h_tokens=write_1h)
    assert cost.usd == pytest.approx(float(expected), rel=1e-9)


@pytest.mark.parametrize("tier", ["priority", "flex", "default", "no-such-tier"])
@pytest.mark.parametrize("model", ["gpt-4.1", "gpt-5", "o3"])
def test_service_tier_selects_the_tier_prices(tier, model):
    usage = Usage(input_tokens=1_000_000, output_tokens=100_000, cache_read_tokens=200_000)
    expected = calc_price(usage, model, provider_id="openai", price_context={"service_tier": tier})
    book = PriceBook()
    cost = book.cost("openai", model, 1_000_000, 100_000, 200_000, service_tier=tier)
    assert cost.usd == pytest.approx(float(expected.total_price), rel=1e-9)
    # Rates are cached per tier: the standard price is unaffected.
    standard = calc_price(usage, model, provider_id="openai").total_price
    assert book.cost("openai", model, 1_000_000, 100_000, 200_000).usd == pytest.approx(float(standard))


def test_priority_tier_costs_more_than_standard():
    book = PriceBook()
    standard = book.cost("openai", "gpt-4.1", 1_000_000, 100_000)
    priority = book.cost("openai", "gpt-4.1", 1_000_000, 100_000, service_tier="priority")
    # gpt-4.1: $2 / $8 per MTok standard, $3.50 / $14 priority.
    assert standard.usd == pytest.approx(2.8)
    assert priority.usd == pytest.approx(4.9)


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

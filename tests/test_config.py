"""Settings: precedence, the TOML file, and clear errors for bad values."""

from __future__ import annotations

import pytest

import otel_llm
from otel_llm.config import ConfigError, ModelRates, load_settings


def test_defaults_instrument_every_provider():
    settings = load_settings(environ={})
    assert settings.providers == ("openai", "anthropic")
    assert settings.sdk_disabled is False
    assert dict(settings.price_overrides) == {}


def test_keyword_beats_environment_beats_file(tmp_path):
    config = tmp_path / "otel-llm.toml"
    config.write_text('providers = ["openai"]\n[prices."my-model"]\ninput_mtok = 1.0\noutput_mtok = 2.0\n')
    env = {"OTEL_LLM_CONFIG": str(config)}
    assert load_settings(environ=env).providers == ("openai",)
    env["OTEL_LLM_PROVIDERS"] = "anthropic"
    assert load_settings(environ=env).providers == ("anthropic",)
    assert load_settings({"providers": ["openai", "anthropic"]}, environ=env).providers == (
        "openai",
        "anthropic",
    )
    assert load_settings(environ=env).price_overrides["my-model"] == ModelRates(
        input_mtok=1.0, output_mtok=2.0
    )


def test_keyword_price_overrides_merge_over_file(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(
        "[prices.a]\ninput_mtok = 1\noutput_mtok = 1\n[prices.b]\ninput_mtok = 1\noutput_mtok = 1\n"
    )
    settings = load_settings(
        {"price_overrides": {"b": {"input_mtok": 5, "output_mtok": 6}}},
        environ={"OTEL_LLM_CONFIG": str(config)},
    )
    assert settings.price_overrides["a"].input_mtok == 1
    assert settings.price_overrides["b"] == ModelRates(input_mtok=5, output_mtok=6)


@pytest.mark.parametrize(
    ("overrides", "environ", "message"),
    [
        (
            {},
            {"OTEL_LLM_PROVIDERS": "openai,cohere"},
            "OTEL_LLM_PROVIDERS has unknown provider(s) ['cohere']",
        ),
        (
            {},
            {"OTEL_SDK_DISABLED": "maybe"},
            "OTEL_SDK_DISABLED='maybe' is not valid; accepted values: true, false",
        ),
        ({"colour": "red"}, {}, "unknown setting(s) ['colour']"),
        ({"price_overrides": {"m": {"input_mtok": -1, "output_mtok": 1}}}, {}, "give a finite number >= 0"),
        ({"price_overrides": {"m": {"input_mtok": 1}}}, {}, "needs output_mtok"),
        ({"price_overrides": {"m": {"input": 1, "output_mtok": 1}}}, {}, "unknown key(s) ['input']"),
        ({}, {"OTEL_LLM_CONFIG": "/nonexistent/otel-llm.toml"}, "no such file"),
        # NaN passes every range check: without its own check it reached the content worker
        ({"sample_rate": float("nan")}, {}, "sample_rate=nan is not valid; give a number"),
        ({}, {"OTEL_LLM_SAMPLE_RATE": "nan"}, "OTEL_LLM_SAMPLE_RATE='nan' is not valid"),
        (
            {},
            {"OTEL_LLM_REDACT_SCORE_THRESHOLD": "NaN"},
            "OTEL_LLM_REDACT_SCORE_THRESHOLD='NaN' is not valid",
        ),
        ({"price_overrides": {"m": {"input_mtok": float("inf"), "output_mtok": 1}}}, {}, "is not valid"),
    ],
)
def test_bad_values_raise_clear_errors(overrides, environ, message):
    with pytest.raises(ConfigError) as caught:
        load_settings(overrides, environ=environ)
    assert message in str(caught.value)


def test_invalid_toml_is_reported(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("providers = [\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_settings(environ={"OTEL_LLM_CONFIG": str(config)})


def test_instrument_raises_config_error_before_patching(monkeypatch):
    monkeypatch.setenv("OTEL_LLM_PROVIDERS", "nope")
    with pytest.raises(ConfigError, match="OTEL_LLM_PROVIDERS"):
        otel_llm.instrument()
    assert otel_llm.instrumented_providers() == []


def test_unknown_file_key_is_an_error(tmp_path):
    config = tmp_path / "typo.toml"
    config.write_text('[price."m"]\ninput_mtok = 1\noutput_mtok = 1\n')
    with pytest.raises(
        ConfigError,
        match=r"unknown key\(s\) \['price'\]; accepted: content, guards, prices, providers, redaction, validation",
    ):
        load_settings(environ={"OTEL_LLM_CONFIG": str(config)})


def test_prometheus_names_match_the_collector_translation():
    from otel_llm.semconv import prometheus_name

    assert prometheus_name("gen_ai.client.operation.duration", "s", "histogram") == (
        "gen_ai_client_operation_duration_seconds"
    )
    assert prometheus_name("gen_ai.client.token.usage", "{token}", "histogram") == "gen_ai_client_token_usage"
    assert prometheus_name("otel_llm.cost", "USD", "counter") == "otel_llm_cost_USD_total"
    assert prometheus_name("otel_llm.cost.unpriced", "{call}", "counter") == "otel_llm_cost_unpriced_total"


def test_capture_mode_precedence_and_the_standard_variable():
    assert load_settings(environ={}).content.mode == "off"
    standard = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
    for value, mode, placement in (
        ("NO_CONTENT", "off", "event"),
        ("false", "off", "event"),
        ("true", "all", "event"),
        ("EVENT_ONLY", "all", "event"),
        ("SPAN_ONLY", "all", "span"),
        ("SPAN_AND_EVENT", "all", "span_and_event"),
    ):
        content = load_settings(environ={standard: value}).content
        assert (content.mode, content.placement) == (mode, placement), value
    # Ours wins over the standard one; the standard one still picks the placement.
    content = load_settings(environ={standard: "SPAN_ONLY", "OTEL_LLM_CAPTURE_CONTENT": "sampled"}).content
    assert (content.mode, content.placement) == ("sampled", "span")
    assert (
        load_settings({"capture_content": "all"}, {"OTEL_LLM_CAPTURE_CONTENT": "off"}).content.mode == "all"
    )
    with pytest.raises(ConfigError, match="OTEL_LLM_CAPTURE_CONTENT='some'.*off, sampled, all"):
        load_settings(environ={"OTEL_LLM_CAPTURE_CONTENT": "some"})
    with pytest.raises(ConfigError, match="OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"):
        load_settings(environ={standard: "maybe"})


def test_content_and_redaction_settings_from_file_env_and_keywords(tmp_path):
    salt = tmp_path / "salt"
    salt.write_text("pepper-and-salt-16\n")
    config = tmp_path / "otel-llm.toml"
    config.write_text(
        '[content]\ncapture = "sampled"\nsample_rate = 0.1\nmax_chars = 5000\n'
        '[redaction]\noperator = "hash"\nentities = ["EMAIL_ADDRESS", "API_KEY"]\n'
        f'allow_list = ["support@example.com"]\nsalt_file = "{salt}"\n'
    )
    content = load_settings(environ={"OTEL_LLM_CONFIG": str(config), "OTEL_LLM_SAMPLE_RATE": "0.5"}).content
    assert content.mode == "sampled" and content.sample_rate == 0.5 and content.max_chars == 5000
    assert content.operator == "hash" and content.salt == "pepper-and-salt-16"
    assert content.entities == ("EMAIL_ADDRESS", "API_KEY") and content.allow_list == ("support@example.com",)
    assert "pepper" not in repr(content)
    with pytest.raises(ConfigError, match="at least 16 bytes"):
        load_settings({"redaction": {"operator": "hash", "salt": "short"}}, {})
    with pytest.raises(ConfigError, match="needs a salt"):
        load_settings({"redaction": {"operator": "hash"}}, {})
    with pytest.raises(ConfigError, match="OTEL_LLM_SAMPLE_RATE='2'.*between 0.0 and 1.0"):
        load_settings(environ={"OTEL_LLM_SAMPLE_RATE": "2"})
    with pytest.raises(ConfigError, match="accepted values: replace, mask, hash"):
        load_settings(environ={"OTEL_LLM_REDACT_OPERATOR": "shred"})
    bad = tmp_path / "bad.toml"
    bad.write_text('[redaction]\nsalt = "in-the-file"\n')
    with pytest.raises(ConfigError, match="salt must not be in the config file"):
        load_settings(environ={"OTEL_LLM_CONFIG": str(bad)})

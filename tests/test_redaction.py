"""The redaction engine against the frozen PII corpus, real Presidio and a real spaCy pipeline.

The baseline is Presidio's default configuration as a user sets it up offline: `AnalyzerEngine` with
its default recognizer registry and a blank English spaCy pipeline saved to disk, and the default
`AnonymizerEngine`. Our engine must remove every planted value and find at least everything the
baseline finds on the corpus, computed here rather than written down.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from pathlib import Path

import phonenumbers
import pytest

from otel_llm.redaction import (
    DEFAULT_PHONE_REGIONS,
    NO_NER_NOTICE,
    SECRET_ENTITIES,
    STANDARD_SPACY_MODELS,
    RedactionSettings,
    Redactor,
)

CORPUS_PATH = Path(__file__).parent / "data" / "pii_corpus.json"
ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER = re.compile(r"<([A-Z_]+)(?::[0-9a-f]{8})?>")
SALT = "test-salt-0123456789abcdef"


@pytest.fixture(scope="module")
def corpus() -> list[dict]:
    return json.loads(CORPUS_PATH.read_text(encoding="utf-8"))["texts"]


@pytest.fixture(scope="module")
def texts(corpus) -> list[str]:
    return [entry["text"] for entry in corpus]


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor(RedactionSettings())


@pytest.fixture(scope="module")
def blank_pipeline(tmp_path_factory) -> str:
    import spacy

    path = tmp_path_factory.mktemp("spacy") / "blank_en"
    spacy.blank("en").to_disk(path)
    return str(path)


@pytest.fixture(scope="module")
def default_presidio(blank_pipeline):
    """Presidio's default configuration, offline: default registry, blank spaCy pipeline."""
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
    from presidio_anonymizer import AnonymizerEngine

    engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": blank_pipeline}])
    return AnalyzerEngine(nlp_engine=engine), AnonymizerEngine()


def findings(results_per_text) -> set[tuple[int, int, int, str]]:
    return {(i, r.start, r.end, r.entity_type) for i, results in enumerate(results_per_text) for r in results}


# -- the corpus ------------------------------------------------------------------------------------


def test_corpus_plants_at_least_200_values_of_every_kind(corpus):
    planted = [p for entry in corpus for p in entry["planted"]]
    assert len(planted) >= 200
    kinds = Counter(p["entity"] for p in planted)
    for entity in ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "URL"):
        assert kinds[entity] >= 10, entity
    for entity in ("US_SSN", "CRYPTO", *SECRET_ENTITIES):
        assert kinds[entity] >= 2, entity
    assert {entry["kind"] for entry in corpus} == {
        "user_message",
        "system_prompt",
        "tool_arguments",
        "model_output",
        "provider_error",
    }
    for entry in corpus:
        for p in entry["planted"]:
            assert entry["text"][p["start"] : p["end"]] == p["value"]


def test_corpus_phone_numbers_come_from_all_eight_default_regions(corpus):
    regions = set()
    for entry in corpus:
        for p in entry["planted"]:
            if p["entity"] != "PHONE_NUMBER":
                continue
            for region in DEFAULT_PHONE_REGIONS:
                number = phonenumbers.parse(p["value"], region)
                if phonenumbers.is_valid_number(number):
                    regions.add(phonenumbers.region_code_for_number(number))
    assert set(DEFAULT_PHONE_REGIONS) <= regions


def test_corpus_cards_pass_luhn(corpus):
    def luhn(digits: str) -> bool:
        total = 0
        for i, d in enumerate(int(c) for c in reversed(digits)):
            total += d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2)
        return total % 10 == 0

    cards = [
        re.sub(r"\D", "", p["value"]) for e in corpus for p in e["planted"] if p["entity"] == "CREDIT_CARD"
    ]
    assert cards and all(luhn(card) for card in cards)


# -- no planted value leaves ------------------------------------------------------------------------


def test_every_planted_value_is_removed_and_its_placeholder_names_the_entity(corpus, texts, redactor):
    result = redactor.redact(texts)
    assert len(result.texts) == len(texts) and result.truncated == [False] * len(texts)
    for entry, redacted in zip(corpus, result.texts, strict=True):
        for p in entry["planted"]:
            assert p["value"] not in redacted, (entry["id"], p["entity"])
        expected = Counter(p["entity"] for p in entry["planted"])
        found = Counter(PLACEHOLDER.findall(redacted))
        assert not expected - found, (entry["id"], expected - found, redacted)
    for entity in {p["entity"] for e in corpus for p in e["planted"]}:
        assert result.entities[entity] > 0, entity


def test_default_configuration_removes_planted_pii_but_not_secrets(corpus, default_presidio):
    """The baseline is a fair one (it removes every PII value), and the secret recognizers are ours."""
    analyzer, anonymizer = default_presidio
    secrets_left = 0
    for entry in corpus:
        text = entry["text"]
        redacted = anonymizer.anonymize(text, analyzer.analyze(text, language="en")).text
        for p in entry["planted"]:
            if p["entity"] in SECRET_ENTITIES:
                secrets_left += p["value"] in redacted
            else:
                assert p["value"] not in redacted, (entry["id"], p["entity"])
    assert secrets_left >= 20


@pytest.mark.parametrize("threshold", [0.0, 0.5])
def test_finds_everything_the_default_configuration_finds(texts, default_presidio, threshold):
    """Same findings as Presidio's default configuration at the same threshold, plus secrets.

    At 0 every finding counts (weak patterns included), so the tuned recognizers (windows,
    pre-filters, the screened phone matcher, one pass per batch) must find exactly the same spans;
    at 0.5 ours finds more: phone numbers (scored 0.5, Presidio 0.4) and context-boosted matches.
    """
    analyzer, _ = default_presidio
    default = findings(analyzer.analyze(text, language="en", score_threshold=threshold) for text in texts)
    redactor = Redactor(RedactionSettings(score_threshold=threshold))
    ours = findings(redactor.analyze([text])[0] for text in texts)  # one text per call, as in production
    assert findings(redactor.analyze(texts)) == ours  # and one pass over the whole batch
    assert default - ours == set()
    if threshold == 0.0:
        assert {f for f in ours if f[3] not in SECRET_ENTITIES} == default
    assert {f[3] for f in ours} >= set(SECRET_ENTITIES)


def spliced_and_mutated(texts: list[str], count: int, seed: int) -> list[str]:
    """Pieces of two corpus texts joined and mutated: characters that match ASCII letters
    case-insensitively (İ ı ſ K), digits of another script, separators, case flips, deletions."""
    rng = random.Random(seed)
    noise = [*"İıſK\u0663-.:]@/+()x09'\" \n", "A-Z]]", "::", "www.", ".com"]
    out = []
    for _ in range(count):
        a, b = rng.sample(texts, 2)
        i, j = sorted(rng.sample(range(len(a) + 1), 2))
        x, y = sorted(rng.sample(range(len(b) + 1), 2))
        chars = list(a[i:j] + rng.choice(noise) + b[x:y])
        for _ in range(rng.randint(0, 6)):
            k = rng.randrange(len(chars) + 1)
            op = rng.random()
            if op < 0.4:
                chars.insert(k, rng.choice(noise))
            elif k < len(chars) and op < 0.6:
                del chars[k]
            elif k < len(chars) and op < 0.8:
                chars[k] = chars[k].swapcase()
            elif k < len(chars) and chars[k].isdigit():
                chars[k] = str(rng.randint(0, 9))
        out.append("".join(chars))
    return out


def test_same_findings_as_presidio_on_spliced_and_mutated_text(texts, default_presidio):
    """Beyond the frozen corpus: at threshold 0 the tuned recognizers find exactly Presidio's
    spans on text they were not tuned on."""
    analyzer, _ = default_presidio
    redactor = Redactor(RedactionSettings(score_threshold=0.0))
    for text in spliced_and_mutated(texts, count=150, seed=7):
        default = {(r.start, r.end, r.entity_type) for r in analyzer.analyze(text, language="en")}
        ours = {(r.start, r.end, r.entity_type) for r in redactor.analyze([text])[0]}
        assert {f for f in ours if f[2] not in SECRET_ENTITIES} == default, text


def test_digits_of_another_script_next_to_a_window_finish_with_presidios_findings(default_presidio):
    """A pattern's \\d also matches Arabic-Indic digits: a window search that starts at one used
    to loop for ever."""
    analyzer, _ = default_presidio
    text = "call 9\u066312345678 now, DEA Ab\u06631234567, host 10.0.0.1/\u0663\u0663 and \u06631234567"
    done: list = []
    worker = threading.Thread(
        target=lambda: done.append(Redactor(RedactionSettings(score_threshold=0.0)).analyze([text])[0]),
        daemon=True,
    )
    worker.start()
    worker.join(timeout=30)
    assert done, "redaction did not finish"
    default = {(r.start, r.end, r.entity_type) for r in analyzer.analyze(text, language="en")}
    assert {(r.start, r.end, r.entity_type) for r in done[0]} == default


def test_batches_give_the_same_findings_as_single_texts(texts, redactor):
    joined = findings(redactor.analyze(texts))
    single = findings([redactor.analyze([text])[0] for text in texts])
    assert joined == single


def test_nothing_spans_two_texts_of_a_batch():
    redactor = Redactor(RedactionSettings(score_threshold=0.0))
    texts = ["my number ends 0170", "1234567 and my card 4111 1111", "1111 1111 is on file", "-----BEGIN RSA"]
    assert findings(redactor.analyze(texts)) == findings([redactor.analyze([t])[0] for t in texts])


TRICKY_PHONE_TEXTS = [
    "tel 1644 ok, call 16875 now, fax 374068.",
    "UK office 442079460958, Paris 33142685300, ring 4930901820 or 49 30 901820; from abroad 0049 30 901820 or 011 44 20 7946 0321",
    "+1 (212) 555-0147 ext. 123, 212-555-0147 x12, 212.555.0147#45, tel:+1-201-555-0123;ext=1234",
    "\uff0b49 30 901820 and \uff12\uff11\uff12\uff0d\uff15\uff15\uff15\uff0d\uff10\uff11\uff14\uff17",
    "\u0660\u0661\u0667\u0660 \u0661\u0662\u0663\u0664\u0665\u0666\u0667 (Arabic-Indic digits)",
    "(030) 1234-5678 / 5679, [0221] 4711 0815, +49 (0)30 901820, 00 55 11 98765 4321",
    "2026-03-12 14:30 and 12/03/2026, Pages 123-456 (2019), Call 1-800-FLOWERS",
    "Order NW-104233, invoice 2026/0042, EAN 4006381333931, account 12345678 routing 021000021",
    "a1b2c3d4 0170-1234567b mobile: 0171 2345678, 0172 3456789, (416) 555-0123, 0800 123 4567",
    "IL 03-6123456 IN 098765 43210 BR (11) 98765-4321 FR 01 42 68 53 00 GB 0161 496 0734",
]


def generated_phone_texts(count: int, seed: int) -> list[str]:
    """Example numbers of many regions in national, international and E.164 form, mutated (digits
    changed, inserted, deleted, punctuation added) and glued with extensions, dates, times and
    amounts."""
    rng = random.Random(seed)
    numbers = []
    for region in ("US", "GB", "DE", "FR", "IL", "IN", "CA", "BR", "IT", "ES", "AU", "JP"):
        for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE):
            example = phonenumbers.example_number_for_type(region, kind)
            for style in (
                phonenumbers.PhoneNumberFormat.NATIONAL,
                phonenumbers.PhoneNumberFormat.INTERNATIONAL,
                phonenumbers.PhoneNumberFormat.E164,
            ):
                numbers.append(phonenumbers.format_number(example, style))
    glue = [*" /(.:)a\n", ", ", " or ", " - ", "; ", " ext. 12 ", " x3 ", " 2026-01-02 ", " 14:30 "]

    def mutate(number: str) -> str:
        chars = list(number)
        for _ in range(rng.randint(0, 3)):
            k = rng.randrange(len(chars))
            op = rng.random()
            if op < 0.3 and chars[k].isdigit():
                chars[k] = str(rng.randint(0, 9))
            elif op < 0.5:
                chars.insert(k, rng.choice(" -.()"))
            elif op < 0.7:
                del chars[k]
            else:
                chars.insert(k, str(rng.randint(0, 9)))
        return "".join(chars)

    return [
        "".join(
            (
                mutate(rng.choice(numbers))
                if rng.random() < 0.8
                else str(rng.randrange(10 ** rng.randint(2, 12)))
            )
            + rng.choice(glue)
            for _ in range(rng.randint(1, 4))
        )
        for _ in range(count)
    ]


def test_phone_numbers_are_exactly_presidios_on_generated_text():
    """Several numbers in one window, valid in one region and not another, international ones
    next to national ones: each region's matcher is skipped only where it could add nothing."""
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    presidio = PhoneRecognizer()
    ours = Redactor(RedactionSettings(score_threshold=0.0, entities=("PHONE_NUMBER",)))
    generated = generated_phone_texts(count=400, seed=11)
    found = 0
    for text, results in zip(generated, ours.analyze(generated), strict=True):
        expected = {(r.start, r.end) for r in presidio.analyze(text, ["PHONE_NUMBER"])}
        assert {(r.start, r.end) for r in results} == expected, text
        found += len(expected)
    assert found > 200


def test_phone_numbers_are_exactly_presidios_on_tricky_formats():
    """Short numbers, country codes without a plus, international prefixes, extensions, full-width
    and Arabic-Indic digits, dates and codes that are not phone numbers: the windowed, screened
    matcher finds exactly what Presidio's PhoneRecognizer finds (across its eight regions)."""
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    presidio = PhoneRecognizer()
    ours = Redactor(RedactionSettings(score_threshold=0.0, entities=("PHONE_NUMBER",)))
    for text, results in zip(TRICKY_PHONE_TEXTS, ours.analyze(TRICKY_PHONE_TEXTS), strict=True):
        expected = {(r.start, r.end) for r in presidio.analyze(text, ["PHONE_NUMBER"])}
        assert {(r.start, r.end) for r in results} == expected, text
    assert any(presidio.analyze(text, ["PHONE_NUMBER"]) for text in TRICKY_PHONE_TEXTS[:1])


def test_context_words_lift_weak_patterns_over_the_threshold(redactor):
    """Presidio's context rule works without a spaCy model: a weak match (a driver's licence
    pattern scores 0.3, a month/year date 0.2) with a context word before it gains 0.35."""
    texts = ["driver license A1234567", "ref A1234567", "date of birth 04/1987", "version 04/1987"]
    assert redactor.redact(texts).texts == [
        "driver license <US_DRIVER_LICENSE>",
        "ref A1234567",
        "date of birth <DATE_TIME>",
        "version 04/1987",
    ]


def test_overlapping_findings_become_one_placeholder_covering_both():
    from presidio_analyzer import RecognizerResult

    redactor = Redactor(RedactionSettings())
    text = "abc 0123456789 xyz"
    results = [RecognizerResult("URL", 4, 10, 0.5), RecognizerResult("PHONE_NUMBER", 7, 14, 0.85)]
    assert redactor._apply(text, results) == ("abc <PHONE_NUMBER> xyz", Counter({"PHONE_NUMBER": 1}))
    results = [RecognizerResult("EMAIL_ADDRESS", 4, 14, 1.0), RecognizerResult("PASSWORD", 4, 8, 0.9)]
    assert redactor._apply(text, results)[0] == "abc <PASSWORD> xyz"  # the secret names the span


# -- secrets -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secret", "entity"),
    [
        (
            "OPENAI_API_KEY=sk-proj-Ab3dEf9hIjK1mNoPqRsTuVwXyZ0123456789abcdEFGH",
            "sk-proj-Ab3dEf9h",
            "API_KEY",
        ),
        ("x-api-key: sk-ant-api03-" + "a1B2" * 23 + "AA", "sk-ant-api03-a1B2", "API_KEY"),
        ("key=AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", "AIzaSyA1b2C3", "API_KEY"),
        ("token ghp_" + "aB3" * 12 + " leaked", "ghp_aB3aB3", "API_KEY"),
        ("GITHUB=github_pat_11ABCDEFG0123456789abc_" + "x9" * 30, "github_pat_11ABCDEFG", "API_KEY"),
        ("slack: xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "xoxb-1234567890", "API_KEY"),
        ("id AKIAIOSFODNN7EXAMPLE in us-east-1", "AKIAIOSFODNN7EXAMPLE", "AWS_ACCESS_KEY"),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "wJalrXUtnFEMI",
            "AWS_SECRET_KEY",
        ),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "eyJzdWIiOiIxMjM0",
            "JWT",
        ),
        (
            "curl -H 'Authorization: Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0' https://api",
            "9f8e7d6c5b4a",
            "BEARER_TOKEN",
        ),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
            "b3BlbnNzaC1rZXkt",
            "PRIVATE_KEY",
        ),
        (
            "truncated -----BEGIN RSA PRIVATE KEY-----\\nMIIEowIBAAKCAQEA7x",
            "MIIEowIBAAKCAQEA7x",
            "PRIVATE_KEY",
        ),
        ("db: postgres://app:S3cr3t!pw@db.example.com:5432/app", "S3cr3t!pw", "PASSWORD"),
        ('{"username": "ops", "password": "correct horse battery"}', "correct horse battery", "PASSWORD"),
        ("{'passwd': 'qwerty!2026ZZ'}", "qwerty!2026ZZ", "PASSWORD"),
        ('{\\"password\\": \\"hunter2\\"}', "hunter2", "PASSWORD"),
        ("my password is Tr0ub4dor&3.", "Tr0ub4dor&3", "PASSWORD"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA", "PASSWORD"),
        ('{"client_secret": "c7f9a1e4b2d84f0e"}', "c7f9a1e4b2d84f0e", "SECRET"),
        ("https://example.com/cb?token=abc123XYZ&state=1", "abc123XYZ", "SECRET"),
        ("refresh_token: rt_1a2b3c4d5e", "rt_1a2b3c4d5e", "SECRET"),
    ],
)
def test_secret_is_redacted_with_its_entity(redactor, text, secret, entity):
    redacted = redactor.redact([text]).texts[0]
    assert secret not in redacted
    assert f"<{entity}>" in redacted


@pytest.mark.parametrize(
    "text",
    [
        "Set max_tokens=1024 and temperature=0.2; the response used token_count: 512.",
        'The "password" field is required. The password is wrong.',
        '{"password": null, "api_key": "<SECRET>", "token": "***"}',
        "Use sk-learn style estimators and ask-me-anything sessions.",
    ],
)
def test_ordinary_text_about_secrets_is_kept(redactor, text):
    assert redactor.redact([text]).texts[0] == text


# -- operators, allow-list, threshold, truncation --------------------------------------------------


def test_mask_keeps_the_length():
    text = "write to maria@example.com or call +49 30 901820"
    redacted = Redactor(RedactionSettings(operator="mask")).redact([text]).texts[0]
    assert redacted == "write to " + "*" * len("maria@example.com") + " or call " + "*" * len("+49 30 901820")


def test_hash_is_stable_per_salt_and_keeps_the_entity_type():
    texts = ["from maria@example.com", "again maria@example.com", "other tom@example.com"]
    first = Redactor(RedactionSettings(operator="hash", salt=SALT)).redact(texts).texts
    again = Redactor(RedactionSettings(operator="hash", salt=SALT)).redact(texts).texts
    other = Redactor(RedactionSettings(operator="hash", salt=SALT[::-1])).redact(texts).texts
    hashes = [PLACEHOLDER.search(t).group(0) for t in first]
    assert all(re.fullmatch(r"<EMAIL_ADDRESS:[0-9a-f]{8}>", h) for h in hashes)
    assert hashes[0] == hashes[1] != hashes[2]
    assert first == again
    assert [PLACEHOLDER.search(t).group(0) for t in other][0] != hashes[0]
    assert all("example.com" not in t for t in first)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (RedactionSettings(operator="hash"), "salt"),
        (RedactionSettings(operator="hash", salt="short"), "16 bytes"),
        (RedactionSettings(operator="encrypt"), "operator"),
        (RedactionSettings(score_threshold=1.5), "score_threshold"),
        (RedactionSettings(entities=("EMAIL_ADDRESS", "SHOE_SIZE")), "SHOE_SIZE"),
        (RedactionSettings(phone_regions=("XX",)), "phone region"),
        (RedactionSettings(max_chars=0), "max_chars"),
        (RedactionSettings(spacy_model="en_core_web_nonexistent"), "spacy_model"),
    ],
)
def test_bad_settings_raise(settings, message):
    with pytest.raises(ValueError, match=message):
        Redactor(settings)


def test_allow_list_keeps_exact_strings():
    text = "support@acme-corp.com will answer maria@example.com"
    redacted = Redactor(RedactionSettings(allow_list=("support@acme-corp.com",))).redact([text]).texts[0]
    assert redacted == "support@acme-corp.com will answer <EMAIL_ADDRESS>"


def test_entities_select_what_is_redacted():
    text = "maria@example.com, 4111 1111 1111 1111, sk-proj-Ab3dEf9hIjK1mNoPqRsTuVwXyZ0123"
    redacted = Redactor(RedactionSettings(entities=("EMAIL_ADDRESS",))).redact([text]).texts[0]
    assert redacted == "<EMAIL_ADDRESS>, 4111 1111 1111 1111, sk-proj-Ab3dEf9hIjK1mNoPqRsTuVwXyZ0123"


def test_score_threshold_decides():
    bare, with_context = "ref 030 12345678", "call me at 030 12345678"
    assert Redactor(RedactionSettings(score_threshold=0.5)).redact([bare]).texts == ["ref <PHONE_NUMBER>"]
    strict = Redactor(RedactionSettings(score_threshold=0.8))
    # 0.5 for a valid number, +0.35 with a context word before it (Presidio's rule)
    assert strict.redact([bare, with_context]).texts == [bare, "call me at <PHONE_NUMBER>"]
    secrets = "token: abcdef123456 and sk-proj-Ab3dEf9hIjK1mNoPqRsTuVwXyZ0123"
    assert Redactor(RedactionSettings(score_threshold=0.9)).redact([secrets]).texts == [
        "token: abcdef123456 and <API_KEY>"
    ]


def test_long_text_is_truncated_and_flagged_without_a_partial_secret():
    key = "sk-proj-" + "Ab3dEf9hIjK1" * 6
    text = "hello " * 10 + key + " tail"
    redactor = Redactor(RedactionSettings(max_chars=70))
    result = redactor.redact([text, "short maria@example.com"])
    assert result.truncated == [True, False]
    assert len(result.texts[0]) <= 70
    assert result.texts[0] == "hello " * 10  # the key was cut: the partial token is dropped
    assert result.texts[1] == "short <EMAIL_ADDRESS>"


# -- cache, batches, threads ------------------------------------------------------------------------


def test_only_patterns_with_bounded_backtracking_run_without_the_regex_timeout():
    """Presidio runs every pattern with a 60 s regex timeout; ours only drops it where no input
    can make the pattern slow."""
    from presidio_analyzer.predefined_recognizers import (
        DateRecognizer,
        EmailRecognizer,
        IpRecognizer,
        UrlRecognizer,
        UsSsnRecognizer,
    )

    from otel_llm.redaction import _MAX_STEPS_PER_POSITION, _steps_per_position

    def bounded(recognizer) -> set[bool]:
        return {_steps_per_position(p.regex) <= _MAX_STEPS_PER_POSITION for p in recognizer.patterns}

    assert bounded(UsSsnRecognizer()) == {True}
    assert True in bounded(DateRecognizer())
    for keeps_timeout in (UrlRecognizer(), EmailRecognizer(), IpRecognizer()):
        assert False in bounded(keeps_timeout)
    for catastrophic in (r"(a|a){1,30}b", r"(\w+\s?)*$", r"a*b", r"(x+x+)+y"):
        assert _steps_per_position(catastrophic) > _MAX_STEPS_PER_POSITION


def test_a_batch_larger_than_the_cache_keeps_every_result(monkeypatch):
    import otel_llm.redaction as redaction

    monkeypatch.setattr(redaction, "CACHE_ENTRIES", 3)
    redactor = Redactor(RedactionSettings())
    result = redactor.redact([f"write to user{i}@example.com" for i in range(8)] + ["nothing here"])
    assert result.texts == ["write to <EMAIL_ADDRESS>"] * 8 + ["nothing here"]
    assert result.text_entities == [Counter({"EMAIL_ADDRESS": 1})] * 8 + [Counter()]
    assert result.entities == Counter({"EMAIL_ADDRESS": 8})


def test_repeated_text_is_analysed_once():
    redactor = Redactor(RedactionSettings())
    system = "You are a helpful assistant. Escalate to billing@acme-corp.com."
    first = redactor.redact([system, "hi, I'm at +44 20 7946 0321", system])
    assert redactor.analyzed_texts == 2
    second = redactor.redact([system, "thanks"])
    assert redactor.analyzed_texts == 3 and redactor.cache_hits == 2
    assert (
        first.texts[0]
        == first.texts[2]
        == second.texts[0]
        == ("You are a helpful assistant. Escalate to <EMAIL_ADDRESS>.")
    )
    assert first.entities == Counter({"EMAIL_ADDRESS": 2, "PHONE_NUMBER": 1})
    assert second.entities == Counter({"EMAIL_ADDRESS": 1})


def test_concurrent_calls_get_their_own_results(texts):
    redactor = Redactor(RedactionSettings())
    expected = [Redactor(RedactionSettings()).redact([t]).texts[0] for t in texts[:24]]
    got: dict[int, str] = {}

    def work(start: int) -> None:
        for i in range(start, 24, 4):
            got[i] = redactor.redact([texts[i]]).texts[0]

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [got[i] for i in range(24)] == expected


# -- NER -------------------------------------------------------------------------------------------


def test_saved_entity_ruler_pipeline_finds_people_and_places(tmp_path):
    import spacy

    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns(
        [
            {"label": "PERSON", "pattern": [{"LOWER": "ada"}, {"LOWER": "lovelace"}]},
            {"label": "GPE", "pattern": "London"},
            {"label": "NORP", "pattern": "Brazilian"},
        ]
    )
    nlp.to_disk(tmp_path / "ner")
    redactor = Redactor(RedactionSettings(spacy_model=str(tmp_path / "ner")))
    assert redactor.ner_available and redactor.notice is None
    result = redactor.redact(["Ada Lovelace, a Brazilian fan, moved to London; mail ada@example.com"])
    assert result.texts == ["<PERSON>, a <NRP> fan, moved to <LOCATION>; mail <EMAIL_ADDRESS>"]
    assert {"PERSON", "LOCATION", "NRP"} <= set(redactor.entities)


def test_without_ner_model_names_are_kept_and_a_notice_says_so(blank_pipeline):
    redactor = Redactor(RedactionSettings(spacy_model=blank_pipeline))
    assert not redactor.ner_available and redactor.notice == NO_NER_NOTICE
    assert "names and places" in redactor.notice
    assert redactor.redact(["Ada Lovelace moved to London"]).texts == ["Ada Lovelace moved to London"]
    assert "PERSON" not in redactor.entities


def test_default_uses_a_standard_model_only_when_installed():
    import spacy

    installed = any(spacy.util.is_package(name) for name in STANDARD_SPACY_MODELS)
    redactor = Redactor(RedactionSettings())
    assert redactor.ner_available is installed
    assert (redactor.notice is None) is installed


# -- offline ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix_list_urls", [None, "https://publicsuffix.org/list/public_suffix_list.dat"])
def test_import_and_redaction_make_no_network_call(tmp_path, suffix_list_urls):
    """Import, build and redact the corpus with every socket refused. Unset, the environment
    variable is set empty before Presidio imports tldextract, so Presidio's own e-mail recognizer
    stays offline too; set to real URLs by the app, ours still uses the bundled snapshot."""
    script = textwrap.dedent(
        """
        import json, os, socket, sys
        attempts = []
        def refuse(*args, **kwargs):
            attempts.append(repr(args[:2]))
            raise OSError("network disabled by the test")
        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.getaddrinfo = refuse
        socket.create_connection = refuse
        os.environ["TLDEXTRACT_CACHE"] = sys.argv[2]
        from otel_llm.redaction import Redactor, RedactionSettings
        texts = [e["text"] for e in json.load(open(sys.argv[1]))["texts"]]
        out = Redactor(RedactionSettings()).redact(texts).texts
        if "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS" not in os.environ or not os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"]:
            from presidio_analyzer.predefined_recognizers import EmailRecognizer
            assert EmailRecognizer().validate_result("maria@example.com")
        print(json.dumps({"attempts": attempts, "redacted": len(out), "emails": sum("<EMAIL_ADDRESS>" in t for t in out)}))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"}
    if suffix_list_urls:
        env["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = suffix_list_urls
    done = subprocess.run(
        [sys.executable, "-c", script, str(CORPUS_PATH), str(tmp_path / "tld-cache")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["attempts"] == [] and report["redacted"] == 97 and report["emails"] >= 20

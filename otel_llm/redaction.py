"""Redaction engine for captured content: Presidio's recognizers plus secret recognizers, offline.

The content pipeline's background worker imports this module lazily (importing Presidio takes about
a second) and calls `Redactor.redact()` with the texts of one call. Nothing here reaches the network:
tldextract (used by Presidio's e-mail recognizer) is pinned to its bundled public-suffix snapshot and
a spaCy model is only loaded when it is already installed or named by path, never downloaded.

What is found: every recognizer of Presidio's default English registry that needs no NER model
(e-mail, phone, card, IBAN, IP, URL, US SSN/ITIN/licence, UK NHS, crypto, date, MAC, UUID...), our
secret recognizers (API keys, AWS keys, JWTs, bearer tokens, private keys, passwords, values under
secret-like keys), and PERSON/LOCATION/NRP when a spaCy NER pipeline is available. Findings that
overlap become one placeholder covering all of them.

Speed (benchmarks/redaction.py) comes from running Presidio's own recognizers differently, not from
weaker ones; at threshold 0 the spans found are exactly Presidio's (tests/test_redaction.py):
one pass per batch over the joined texts; patterns that cannot reach the score threshold dropped,
and those that reach it only with a context word skipped where no context word occurs; expensive
patterns (URL, e-mail, IP, IBAN...) run only on the windows of the text that can hold a match, and
the non-schema URL pattern once per run of host characters; the phone matcher runs only on windows
with four digits or more, only for the regions in which one of the candidates it would parse there
can be a valid number (length, number pattern and required national prefix), a region only when it
can find something the regions before it did not, and it skips parsing candidates that cannot be
valid; phonenumbers keeps its compiled patterns; plain pattern recognizers run without Presidio's
per-match explanation objects, and without its per-call regex timeout where a pattern's
backtracking is bounded by a small constant; results are cached by content hash (system prompts and
chat history repeat on every call).
"""

from __future__ import annotations

import os

# tldextract reads this when it is first imported (Presidio imports it): an empty list of
# suffix-list URLs means "use the bundled snapshot", so it never fetches the list over HTTP.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

import bisect  # noqa: E402
import functools  # noqa: E402
import hashlib  # noqa: E402
import hmac  # noqa: E402
import re  # noqa: E402
import threading  # noqa: E402
import unicodedata  # noqa: E402
from collections import Counter, OrderedDict  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import phonenumbers  # noqa: E402
import regex  # noqa: E402
import tldextract  # noqa: E402
from phonenumbers import PhoneNumberMatcher  # noqa: E402
from phonenumbers.phonenumberutil import (  # noqa: E402
    _choose_formatting_pattern_for_number,
    _formatting_rule_has_first_group_only,
)
from presidio_analyzer import EntityRecognizer, LocalRecognizer, PatternRecognizer, RecognizerResult  # noqa: E402
from presidio_analyzer.predefined_recognizers import (  # noqa: E402
    EmailRecognizer,
    IbanRecognizer,
    PhoneRecognizer,
    SpacyRecognizer,
    UrlRecognizer,
)
from presidio_analyzer.recognizer_registry import RecognizerRegistryProvider  # noqa: E402

# Presidio's per-pattern regex timeout (pattern_recognizer reads the same variable)
_REGEX_TIMEOUT_SECONDS = int(os.environ.get("REGEX_TIMEOUT_SECONDS", 60))

__all__ = ["RedactionResult", "RedactionSettings", "Redactor", "SECRET_ENTITIES"]

# Presidio's PhoneRecognizer default regions ("GB" is the ISO code phonenumbers uses; "UK" is
# accepted as an alias).
DEFAULT_PHONE_REGIONS = ("US", "GB", "DE", "FR", "IL", "IN", "CA", "BR")
# Standard English pipelines, best NER first; used only when importable (spacy.util.is_package).
STANDARD_SPACY_MODELS = ("en_core_web_lg", "en_core_web_md", "en_core_web_sm")
# NER labels kept: names, places and nationality/religious/political groups. DATE/TIME from NER
# are noisy ("Tuesday") and dates are already found by Presidio's pattern recognizer;
# ORGANIZATION has many false positives (Presidio ignores it by default too).
NER_ENTITIES = ("PERSON", "LOCATION", "NRP")
SECRET_ENTITIES = (
    "PRIVATE_KEY",
    "API_KEY",
    "AWS_ACCESS_KEY",
    "AWS_SECRET_KEY",
    "JWT",
    "BEARER_TOKEN",
    "PASSWORD",
    "SECRET",
)
NO_NER_NOTICE = (
    "otel-llm redaction: no spaCy NER model is installed, so names and places (PERSON, LOCATION, "
    "NRP) are not detected in captured content; e-mail addresses, phone numbers, cards, IBANs, "
    "IPs, URLs, SSNs and secrets are. Install a spaCy English pipeline package (en_core_web_lg, "
    "en_core_web_md or en_core_web_sm) or name a saved pipeline in the redaction settings."
)
OPERATORS = ("replace", "mask", "hash")
CACHE_ENTRIES = 4096
# Texts of one batch are joined with this separator for a single pass of every recognizer;
# findings are mapped back to their text (and clipped at text boundaries).
_BATCH_SEPARATOR = "\n\n"
# Presidio's LemmaContextAwareEnhancer defaults: +0.35, at least 0.4, five words before the match.
_CONTEXT_BOOST = 0.35
_CONTEXT_MIN_SCORE = 0.4
_CONTEXT_WORDS = 5
_CONTEXT_CHARS = 120
_WORD = re.compile(r"\w+")
# When overlapping findings are merged into one placeholder, the label is the most specific one:
# secrets first (a password inside something that also looks like an e-mail address is a
# password), then by score and length.
_LABEL_RANK = {entity: len(SECRET_ENTITIES) - i for i, entity in enumerate(SECRET_ENTITIES)}
# Something for every recognizer to match, so all their patterns are compiled at start-up.
_WARM_UP_TEXT = (
    "call 0170 1234567, mail a.b@example.com, see https://www.example.com/x, hosts 10.0.0.1 and "
    "fe80::1, licence A1234567, IBAN DE89370400440532013000, card 4111 1111 1111 1111, SSN "
    "123-45-6789, ITIN 912-78-1234, NHS 943 476 5919, BTC 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2, on "
    "2026-01-01, MAC 00:1A:2B:3C:4D:5E, id 123e4567-e89b-12d3-a456-426614174000, DEA AB1234563"
)


@dataclass(frozen=True)
class RedactionSettings:
    """What to detect and how to replace it. Invalid values raise `ValueError` in `Redactor()`."""

    entities: tuple[str, ...] | None = None
    score_threshold: float = 0.5
    operator: str = "replace"
    salt: str | None = None
    allow_list: tuple[str, ...] = ()
    max_chars: int = 20_000
    spacy_model: str | None = None
    phone_regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS


@dataclass
class RedactionResult:
    texts: list[str]
    entities: Counter  # all texts'
    truncated: list[bool]
    text_entities: list[Counter] = field(default_factory=list)  # each text's


# ---------------------------------------------------------------------------------------------
# Secret recognizers
# ---------------------------------------------------------------------------------------------

_SECRET_KEY_WORDS = (
    r"api[_-]?key|apikey|access[_-]?key|secret(?:[_-]?key)?|client[_-]?secret|token|access[_-]?token"
    r"|refresh[_-]?token|id[_-]?token|auth[_-]?token|bearer[_-]?token|private[_-]?key|credentials?"
    r"|x-session|session[_-]?(?:id|token|secret|key)"
)
_PASSWORD_KEY_WORDS = r"password|passwd|pwd|passphrase"
# Values that are placeholders, not secrets.
_NOT_A_VALUE = r"(?!(?i:null|none|true|false|undefined|\*+|x{3,}|<[^>\n]*>|\$\{[^}\n]*\}|\{\{[^}\n]*\}\}|\[redacted\])(?![\w-]))"


def _key_value_patterns(key_words: str) -> list[re.Pattern[str]]:
    """Value under a key named like one of `key_words`, matched at a key word: JSON, escaped
    JSON, Python repr, quoted and bare key=value. The key must end with the word, so
    `max_tokens` is no token."""
    key = rf"(?i:{key_words})(?![A-Za-z0-9_-])"
    return [
        # "password": "x"  (JSON string grammar for the value)
        re.compile(rf"{key}\"\s*:\s*\"{_NOT_A_VALUE}(?P<v>(?:[^\"\\\n]|\\.)+)\""),
        # \"password\": \"x\"  (JSON inside a JSON string, e.g. tool-call arguments in an error)
        re.compile(rf"{key}\\\"\s*:\s*\\\"{_NOT_A_VALUE}(?P<v>(?:[^\"\\\n]|\\\\\\\"|\\[^\"])+)\\\""),
        # 'password': 'x'  (Python repr in exception messages)
        re.compile(rf"{key}'\s*:\s*'{_NOT_A_VALUE}(?P<v>(?:[^'\\\n]|\\.)+)'"),
        # password = "x y"  /  password: 'x'
        re.compile(rf"{key}\s*[:=]\s*(?P<q>[\"']){_NOT_A_VALUE}(?P<v>[^\"'\n]+)(?P=q)"),
        # password=x  /  password: x  /  ?token=x&  (unquoted: up to a delimiter)
        re.compile(rf"{key}[\"']?\s*[:=]\s*{_NOT_A_VALUE}(?P<u>[^\s\"'`,;&)\]}}<>]+)"),
    ]


@dataclass(frozen=True)
class _SecretSpec:
    """How one kind of secret is found. Regular expressions only run where a plain substring
    search (str.find is far cheaper than a regex scan) shows they can match: a scan pattern when
    one of its literals is in the text, an anchored pattern at each place one of the anchor words
    occurs (compared after case folding, as the patterns' (?i:...) groups match)."""

    entity: str
    score: float
    # (pattern searched through the whole text, literals one of which every match contains)
    scans: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = ()
    # patterns that start with one of the anchor words, tried where one occurs
    anchor_words: tuple[str, ...] = ()
    anchored: tuple[re.Pattern[str], ...] = ()


# A pattern's group "v" (or "u" for an unquoted value, which gives back trailing sentence
# punctuation) is the span redacted; without one, the whole match. Patterns start with their
# literal and check what precedes it with a look-behind after it, so the scan is a fast literal
# search.
_SECRET_SPECS = (
    _SecretSpec(
        "PRIVATE_KEY",
        1.0,
        (
            (
                re.compile(
                    r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
                    r"(?:.*?-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
                    r"|(?:[A-Za-z0-9+/=\s:,.-]|\\[nrt])*)",  # a block cut off (truncated, echoed)
                    re.DOTALL,
                ),
                ("PRIVATE KEY",),
            ),
        ),
    ),
    _SecretSpec(
        "API_KEY",
        0.95,
        (
            # OpenAI (sk-, sk-proj-, sk-svcacct-, sk-admin-) and Anthropic (sk-ant-api03-...)
            (
                re.compile(
                    r"sk-(?<![A-Za-z0-9_-]sk-)(?=[A-Za-z0-9_-]*[0-9])[A-Za-z0-9_-]{20,}(?![A-Za-z0-9_-])"
                ),
                ("sk-",),
            ),
            (
                re.compile(r"AIza(?<![A-Za-z0-9_-]AIza)[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"),
                ("AIza",),
            ),  # Google
            (  # GitHub
                re.compile(r"gh[pousr]_(?<![A-Za-z0-9_]gh[pousr]_)[A-Za-z0-9]{36,255}(?![A-Za-z0-9_])"),
                ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
            ),
            (
                re.compile(r"github_pat_(?<![A-Za-z0-9_]github_pat_)[A-Za-z0-9_]{22,255}(?![A-Za-z0-9_])"),
                ("github_pat_",),
            ),
            (
                re.compile(r"xox[abposr]-(?<![A-Za-z0-9-]xox[abposr]-)[A-Za-z0-9-]{10,250}(?![A-Za-z0-9-])"),
                ("xox",),
            ),  # Slack
            (re.compile(r"xapp-(?<![A-Za-z0-9-]xapp-)\d-[A-Za-z0-9-]{10,250}(?![A-Za-z0-9-])"), ("xapp-",)),
        ),
    ),
    _SecretSpec(
        "AWS_ACCESS_KEY",
        0.95,
        (
            (
                re.compile(
                    r"A(?:KIA|SIA|BIA|CCA|GPA|IDA|IPA|NPA|NVA|PKA|ROA)(?<![A-Z0-9]A...)[A-Z0-9]{16}(?![A-Z0-9])"
                ),
                ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA", "ANVA", "APKA", "AROA"),
            ),
        ),
    ),
    _SecretSpec(
        "AWS_SECRET_KEY",
        0.95,
        anchor_words=("aws", "secret"),
        anchored=(
            re.compile(
                r"(?i:aws_?secret_?(?:access_?)?key|secret_?access_?key)\\?[\"']?\s*[:=]\s*\\?[\"']?"
                r"(?P<v>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
            ),
        ),
    ),
    _SecretSpec(
        "JWT",
        0.95,
        (
            (
                re.compile(
                    r"eyJ(?<![A-Za-z0-9_-]eyJ)[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"
                ),
                ("eyJ",),
            ),
        ),
    ),
    _SecretSpec(
        "BEARER_TOKEN",
        0.9,
        anchor_words=("bearer",),
        anchored=(re.compile(r"(?i:bearer)\s+(?P<v>(?=[A-Za-z0-9._~+/-]*[0-9])[A-Za-z0-9._~+/-]{8,}=*)"),),
    ),
    _SecretSpec(
        "PASSWORD",
        0.9,
        (
            # scheme://user:password@host
            (
                re.compile(
                    r"(?i:\b[a-z][a-z0-9+.-]{1,30}://)[^\s:/@\"'<>]{0,100}:(?P<v>[^\s@/\"'<>]{1,200})@"
                ),
                ("://",),
            ),
        ),
        anchor_words=("authorization", "password", "passwd", "pwd", "passphrase"),
        anchored=(
            # Authorization: Basic base64(user:password)
            re.compile(
                r"(?i:authorization)\\?[\"']?\s*[:=]\s*\\?[\"']?(?i:basic)\s+(?P<v>[A-Za-z0-9+/]{8,}={0,2})"
            ),
            # "my password is hunter2" (the value must hold a digit, so "password is wrong" stays)
            re.compile(r"(?i:password\s+(?:is|was)\s*:?\s+)(?P<u>(?=\S*[0-9])[^\s\"'<>]{4,})"),
            *_key_value_patterns(_PASSWORD_KEY_WORDS),
        ),
    ),
    _SecretSpec(
        "SECRET",
        0.85,
        anchor_words=(
            "api_key",
            "api-key",
            "apikey",
            "access_key",
            "access-key",
            "accesskey",
            "secret",
            "token",
            "credential",
            "authorization",
            "x-session",
            "session",
            "private_key",
            "private-key",
            "privatekey",
            "key",
        ),
        anchored=(
            *_key_value_patterns(_SECRET_KEY_WORDS),
            # Authorization: <scheme> <credentials> (Bearer and Basic also have their own entity)
            re.compile(r"(?i:authorization)\\?[\"']?\s*[:=]\s*\\?[\"']?(?P<v>(?:[A-Za-z]+ +)?[^\s\"'\\,;]+)"),
            # "the service token 9dTw...": a long value with letters and digits after the word
            re.compile(
                r"(?i:token|key|secret)\s+(?:is\s+)?"
                r"(?P<v>(?=[A-Za-z0-9._~+/-]*[0-9])(?=[A-Za-z0-9._~+/-]*[A-Za-z])[A-Za-z0-9._~+/-]{16,})"
            ),
        ),
    ),
)
_TRAILING_PUNCTUATION = ".,;:!?)]}"
_last_folded: tuple[str, str] = ("", "")


def _casefolded(text: str) -> str:
    """text.casefold(), kept for the next caller: every secret recognizer asks for the same text."""
    global _last_folded
    if _last_folded[0] is not text:
        _last_folded = (text, text.casefold())
    return _last_folded[1]


class SecretRecognizer(LocalRecognizer):
    """Presidio recognizer for one kind of secret (API keys, tokens, private keys, passwords...)."""

    def __init__(self, spec: _SecretSpec) -> None:
        self.spec = spec
        # where case folding changes the text's length, anchors are found by regex instead
        self._anchor = (
            re.compile("|".join(map(re.escape, spec.anchor_words)), re.IGNORECASE)
            if spec.anchor_words
            else None
        )
        super().__init__(
            supported_entities=[spec.entity], name=f"otel_llm.{spec.entity}", supported_language="en"
        )

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list[RecognizerResult]:
        results = []
        for pattern, literals in self.spec.scans:
            if any(literal in text for literal in literals):
                results += [self._result(text, match) for match in pattern.finditer(text)]
        for position in self._anchors(text):
            for pattern in self.spec.anchored:
                match = pattern.match(text, position)
                if match:
                    results.append(self._result(text, match))
        return _deduplicated([r for r in results if r.end > r.start])

    def _anchors(self, text: str) -> list[int]:
        if not self.spec.anchor_words:
            return []
        folded = _casefolded(text)
        if len(folded) != len(text):
            return [m.start() for m in self._anchor.finditer(text)]
        positions = []
        for word in self.spec.anchor_words:
            position = folded.find(word)
            while position >= 0:
                positions.append(position)
                position = folded.find(word, position + 1)
        return sorted(set(positions))

    def _result(self, text: str, match: re.Match[str]) -> RecognizerResult:
        groups = match.re.groupindex
        if "u" in groups:
            start, end = match.span("u")
            # an unquoted value followed by sentence punctuation: the punctuation is not the value
            while end - start > 1 and text[end - 1] in _TRAILING_PUNCTUATION:
                end -= 1
        else:
            start, end = match.span("v") if "v" in groups else match.span()
        return RecognizerResult(
            entity_type=self.spec.entity,
            start=start,
            end=end,
            score=self.spec.score,
            recognition_metadata={
                RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
            },
        )


# ---------------------------------------------------------------------------------------------
# Presidio recognizers, run faster with the same findings
# ---------------------------------------------------------------------------------------------

# A bundled-snapshot extractor owned by us, so the e-mail check stays offline even when the
# process set TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS to real URLs before we were imported.
_OFFLINE_TLD = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)


class OfflineEmailRecognizer(EmailRecognizer):
    def validate_result(self, pattern_text: str) -> bool:
        return _OFFLINE_TLD(pattern_text).fqdn != ""


# Characters that can never be inside a phonenumbers match candidate (digits, its punctuation,
# plus signs, brackets, and the letters of extension labels such as "ext", "anexo", "int" are)
# and are not ':' (its time-stamp check reads past the candidate). Splitting a text at them and
# keeping one of them as context on each side gives every candidate the same neighbours, so the
# matcher finds exactly what it finds in the whole text.
_PHONE_BREAKERS = "bcdfghjklmpqruvwyzBCDFGHJKLMPQRUVWYZ\"'{}<>|!?*&@\\\\^`_$%\\n\\r"
# The shortest valid national significant number in phonenumbers' metadata is 4 digits, so a
# window with fewer digits cannot hold a valid number in any region.
_PHONE_MIN_DIGITS = min(
    min(phonenumbers.PhoneMetadata.metadata_for_region(region).general_desc.possible_length or [2])
    for region in phonenumbers.SUPPORTED_REGIONS
)
# (possessive: what a run gives back could never match what follows it, so never backtrack)
_PHONE_WINDOW = re.compile(
    rf"(?<![^{_PHONE_BREAKERS}])(?:[^{_PHONE_BREAKERS}\d]*+\d){{{_PHONE_MIN_DIGITS}}}[^{_PHONE_BREAKERS}]*+"
)
# No candidate with more digits can be valid: a national significant number has at most 17
# (phonenumbers' limit), and a country code, national prefix or carrier code add fewer than 13.
_PHONE_MAX_DIGITS = 30
_PLUS_CHARS = "+\uff0b"
_FIRST_DIGIT_OR_PLUS = re.compile(rf"[\d{_PLUS_CHARS}]")
# The matcher's methods the recorder and the screened matcher hook into; a phonenumbers release
# without them gets no screening (every region runs, results stay exact).
_RECORDER_HOOKS = all(hasattr(PhoneNumberMatcher, m) for m in ("_extract_match", "_parse_and_verify"))
_DIGIT_RUN = re.compile(r"\d+")


class _ScreenedMatcher(PhoneNumberMatcher):
    """PhoneNumberMatcher that skips parsing candidates that cannot be valid in its region.

    Parsing a candidate without a plus sign or international prefix yields a suffix of its digits
    (after a national prefix, carrier code or the country code itself) as the national
    significant number; if no suffix can be valid (see _RegionScreen), phonenumbers would reject
    the candidate too. Only that parse is skipped: the matcher's own candidate search and
    inner-match logic run unchanged. (If a phonenumbers release renames this hook, nothing is
    skipped and results stay exact.)
    """

    def __init__(self, text: str, region: str, leniency: int, screen: _RegionScreen) -> None:
        super().__init__(text, region, leniency=leniency)
        self._screen = screen

    def _parse_and_verify(self, candidate, offset):
        if not self._screen.may_be_valid(candidate):
            return None
        return super()._parse_and_verify(candidate, offset)


class _RegionScreen:
    """Whether digits can parse to a valid number in a region: the national significant number
    must match one of the number types (fixed line, mobile, toll free, ...) of a region with the
    same country code, at one of that type's lengths (phonenumbers' own validity rule)."""

    _TYPES = (
        "fixed_line",
        "mobile",
        "toll_free",
        "premium_rate",
        "shared_cost",
        "personal_number",
        "voip",
        "pager",
        "uan",
        "voicemail",
    )

    def __init__(self, region: str) -> None:
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        by_length: dict[int, list[str]] = {}
        for other in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(metadata.country_code, (region,)):
            other_metadata = phonenumbers.PhoneMetadata.metadata_for_region(other)
            general = other_metadata.general_desc
            for name in self._TYPES:
                desc = getattr(other_metadata, name, None)
                if desc is None or not desc.national_number_pattern:
                    continue
                for length in desc.possible_length or general.possible_length or ():
                    if length > 0:
                        by_length.setdefault(length, []).append(desc.national_number_pattern)
        self.by_length = {n: re.compile("|".join(f"(?:{p})" for p in ps)) for n, ps in by_length.items()}
        self.idd = re.compile(metadata.international_prefix or "(?!)")
        self.country_code = str(metadata.country_code)
        prefix = metadata.national_prefix_for_parsing
        self.national_prefix = re.compile(prefix) if prefix else None
        self.transform = metadata.national_prefix_transform_rule or None
        # digit counts a parse can turn into a valid national number: a type's length plus at
        # most the country code and the longest national prefix (or carrier code) it strips
        longest_strip = len(self.country_code) + (_max_width(prefix) if prefix else 0)
        # (from -2 with a transform rule, which may add digits as Argentina's adds a 9; without
        # one, parsing only strips digits)
        fewest = -2 if self.transform else 0
        self.lengths = frozenset(n + k for n in self.by_length for k in range(fewest, longest_strip + 1))
        # the region phonenumbers formats this country code's numbers with (its national prefix
        # rule decides whether a number written without the prefix is valid at leniency VALID)
        main = phonenumbers.region_code_for_country_code(metadata.country_code)
        self.main_metadata = phonenumbers.PhoneMetadata.metadata_for_region(main) or metadata
        main_prefix = self.main_metadata.national_prefix_for_parsing
        self.main_prefix = re.compile(main_prefix) if main_prefix else None
        self._known: dict[str, bool] = {}

    def may_be_valid(self, candidate: str) -> bool:
        digits = _plain_digits(candidate)
        # None: a plus sign, an extension or letters; let phonenumbers decide
        return digits is None or self.digits_may_be_valid(digits)

    def digits_may_be_valid(self, digits: str) -> bool:
        if len(digits) not in self.lengths and not self.idd.match(digits):
            return False
        known = self._known.get(digits)
        if known is None:
            known = self._after_idd_may_be_valid(digits) or any(
                (pattern := self.by_length.get(len(nsn))) is not None
                and pattern.fullmatch(nsn)
                and (nsn != digits or not self._needs_missing_prefix(digits))
                for nsn in self._national_numbers(digits)
            )
            if len(self._known) >= CACHE_ENTRIES * 4:
                self._known.clear()
            self._known[digits] = known
        return known

    def _after_idd_may_be_valid(self, digits: str) -> bool:
        """Digits after an international prefix parse as country code + national number; too few
        digits for both cannot be valid (the digits may still parse as a national number)."""
        match = self.idd.match(digits)
        return match is not None and len(digits) - match.end() > _PHONE_MIN_DIGITS

    def _needs_missing_prefix(self, digits: str) -> bool:
        """True when `digits`, kept whole as a national number, is written without the national
        prefix its format requires: phonenumbers' matcher rejects it at leniency VALID
        (_is_national_prefix_present_if_required)."""
        if self.main_prefix is not None and self.main_prefix.match(digits):
            return False
        rule = _choose_formatting_pattern_for_number(self.main_metadata.number_format, digits)
        return bool(
            rule is not None
            and rule.national_prefix_formatting_rule
            and not rule.national_prefix_optional_when_formatting
            and not _formatting_rule_has_first_group_only(rule.national_prefix_formatting_rule)
        )

    def _national_numbers(self, digits: str) -> set[str]:
        """Every national significant number phonenumbers.parse can derive from `digits` in this
        region (it may also keep a number unstripped): with or without the country code in
        front, with or without the national prefix (and carrier code) it strips."""
        found = {digits, self._strip_national_prefix(digits)}
        if digits.startswith(self.country_code):
            rest = digits[len(self.country_code) :]
            found |= {rest, self._strip_national_prefix(rest)}
        return found

    def _strip_national_prefix(self, number: str) -> str:
        match = self.national_prefix.match(number) if self.national_prefix is not None else None
        if match is None:
            return number
        if self.transform and match.groups() and match.groups()[-1] is not None:
            return self.national_prefix.sub(self.transform, number, count=1)
        return number[match.end() :]


# Characters of a plain number (digits and phonenumbers' punctuation, less "~" which also marks
# an extension); anything else (a plus sign, an extension label) sends the candidate to
# phonenumbers unscreened.
_NOT_PLAIN_NUMBER = re.compile(
    "[^\\d\\s\\-./()\\[\\]\u2010-\u2015\u2212\u30fc\uff0d-\uff0f\u00a0\u00ad\u200b\u2060\u3000"
    "\uff08\uff09\uff3b\uff3d\u2053\u223c]"
)


def _max_width(pattern: str) -> int:
    """The longest string a regular expression can match (capped: a bound, not a length)."""
    from re import _parser

    return min(_parser.parse(pattern).getwidth()[1], _PHONE_MAX_DIGITS)


@functools.lru_cache(maxsize=CACHE_ENTRIES)
def _plain_digits(candidate: str) -> str | None:
    """The digits of a candidate made of digits and punctuation only, else None."""
    return None if _NOT_PLAIN_NUMBER.search(candidate) else _ascii_digits(candidate)


def _ascii_digits(text: str) -> str:
    digits = "".join(_DIGIT_RUN.findall(text))
    if digits.isascii():
        return digits
    return "".join(str(unicodedata.digit(c)) for c in digits)


@dataclass
class _CandidateGroup:
    """A candidate the matcher's search found (the outer one), and what it parses for it: the
    outer candidate itself, then the inner ones it tries when that fails. Candidates are
    (offset, text)."""

    outer: tuple[int, str]
    tried: list[tuple[int, str]]


def _is_international(candidate: str) -> bool:
    """Written with a plus sign: parses to the same number in every region."""
    first = _FIRST_DIGIT_OR_PLUS.search(candidate)
    return first is not None and first.group() in _PLUS_CHARS


class _CandidateRecorder(PhoneNumberMatcher):
    """Runs the matcher's candidate search and inner-match logic with every parse failing, and
    records the candidates it would have parsed (the region is never used)."""

    def __init__(self, text: str) -> None:
        super().__init__(text, "US")
        self._groups: list[_CandidateGroup] = []

    def groups(self) -> list[_CandidateGroup]:
        for _ in self:
            pass  # nothing is ever found
        return self._groups

    def _extract_match(self, candidate, offset):
        self._groups.append(_CandidateGroup((offset, candidate), []))
        return super()._extract_match(candidate, offset)

    def _parse_and_verify(self, candidate, offset):
        self._groups[-1].tried.append((offset, candidate))
        return None


class WindowedPhoneRecognizer(PhoneRecognizer):
    """Presidio's PhoneRecognizer, run only where a phone number can be.

    Same matcher, regions and leniency, so the same findings: the matcher runs on the windows of
    the text that hold at least four digits (split at characters no candidate contains), only for
    the regions in which a candidate it would parse there can be a valid number, and skips parsing
    candidates that cannot (_ScreenedMatcher). US and CA are one numbering plan (NANP), so only
    one of them runs; a window whose only candidate is an international number ("+49 ...")
    matched whole is region-independent, so it runs once. Results per window are cached.

    A valid number scores 0.5 (Presidio: 0.4) so that, at the default threshold of 0.5, phone
    numbers are redacted without a context word: with no spaCy lemmatizer Presidio's own context
    boost never fires, and 0.4 would mean no phone number is ever redacted. With a context word
    ("call", "phone", "mobile"...) it gains 0.35 like every other recognizer.
    """

    SCORE = 0.5

    def __init__(self, supported_regions: Sequence[str], leniency: int = 1, score: float = 0.5) -> None:
        super().__init__(supported_regions=tuple(supported_regions), leniency=leniency)
        self.score = score
        regions = list(dict.fromkeys(supported_regions))
        if "US" in regions and "CA" in regions:
            regions.remove("CA")
        self.run_regions = tuple(regions)
        self._screens = {region: _RegionScreen(region) for region in regions}
        self._cache: OrderedDict[str, tuple[tuple[int, int], ...]] = OrderedDict()
        self._regions_by_digits: dict[str, tuple[str, ...]] = {}

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list[RecognizerResult]:
        results = []
        for window in _PHONE_WINDOW.finditer(text):
            offset = max(window.start() - 1, 0)
            for start, end in self._window_matches(text[offset : window.end() + 1]):
                results.append(self._result(offset + start, offset + end))
        return _deduplicated(results)

    def clear_caches(self) -> None:
        self._cache.clear()
        self._regions_by_digits.clear()
        _plain_digits.cache_clear()
        for screen in self._screens.values():
            screen._known.clear()

    def _window_matches(self, window: str) -> tuple[tuple[int, int], ...]:
        cached = self._cache.get(window)
        if cached is not None:
            self._cache.move_to_end(window)
            return cached
        groups = _CandidateRecorder(window).groups() if _RECORDER_HOOKS else None
        spans: set[tuple[int, int]] = set()
        for i, region in enumerate(self._possible_regions(groups)):
            screen = self._screens[region]
            if i > 0 and self._finds_nothing_new(groups, screen, spans):
                continue
            spans |= {(m.start, m.end) for m in _ScreenedMatcher(window, region, self.leniency, screen)}
        matches = tuple(sorted(spans))
        self._cache[window] = matches
        if len(self._cache) > CACHE_ENTRIES:
            self._cache.popitem(last=False)
        return matches

    def _possible_regions(self, groups: list[_CandidateGroup] | None) -> list[str]:
        """The regions whose matcher may find something in the window, those in which one of
        its plain candidates can be valid first.

        Until its first match, a matcher in any region tries the same candidates (finding them
        does not depend on the region), so a region none of whose candidates passes its screen
        finds nothing. A candidate written with a plus sign ("+49 30 ...") parses the same in
        every region, so it passes every screen; whether a region after the first adds anything
        is decided by _finds_nothing_new."""
        if groups is None:
            return list(self.run_regions)  # a phonenumbers release without the hooks: no screening
        digit_runs: set[str] = set()
        international = False
        for group in groups:
            for _, candidate in group.tried:
                if _is_international(candidate):
                    international = True
                    continue
                digits = _plain_digits(candidate)
                if digits is None:  # an extension or letters: phonenumbers decides
                    return list(self.run_regions)
                digit_runs.add(digits)  # (candidates and their inner groups often share digits)
        possible = set()
        for digits in digit_runs:
            possible.update(self._regions_for(digits))
        regions = [region for region in self.run_regions if region in possible]
        if international:
            regions += [region for region in self.run_regions if region not in possible]
        return regions

    @staticmethod
    def _finds_nothing_new(groups: list[_CandidateGroup], screen: _RegionScreen, found: set) -> bool:
        """True when the matcher of the screen's region can only find spans in `found` (from the
        regions run before it), so running it is wasted.

        That holds when, for every candidate the search finds, the region either matches it whole
        (an international number already found: it parses the same everywhere) or can parse at
        most the outer candidate itself, which is already found or cannot be valid: the matcher
        then moves on after that candidate as when every parse fails, so it meets the recorded
        candidates and nothing else."""
        for group in groups:
            offset, outer = group.outer
            outer_span = (offset, offset + len(outer))
            if outer_span in found and group.tried[:1] == [group.outer] and _is_international(outer):
                continue
            for candidate in group.tried:
                if not screen.may_be_valid(candidate[1]):
                    continue
                if candidate != group.outer or outer_span not in found:
                    return False
        return True

    def _regions_for(self, digits: str) -> tuple[str, ...]:
        """The regions in which `digits` may parse to a valid number (cached: dates, times and
        amounts repeat across windows)."""
        regions = self._regions_by_digits.get(digits)
        if regions is None:
            regions = tuple(
                region
                for region, screen in self._screens.items()
                if (len(digits) in screen.lengths or screen.idd.match(digits))  # (its quick part)
                and screen.digits_may_be_valid(digits)
            )
            if len(self._regions_by_digits) >= CACHE_ENTRIES * 4:
                self._regions_by_digits.clear()
            self._regions_by_digits[digits] = regions
        return regions

    def _result(self, start: int, end: int) -> RecognizerResult:
        return RecognizerResult(
            entity_type=self.supported_entities[0],
            start=start,
            end=end,
            score=self.score,
            recognition_metadata={
                RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
            },
        )


# Some recognizers run only on the windows of the text that can hold a match, packed into a
# short text. A window is a maximal run of the characters a match can contain ("inside") around
# a place where something every match contains ("must") occurs; each keeps one neighbour on
# either side, so \b and look-arounds see what they see in the whole text, and the windows are
# joined by newlines, which no match contains. Same matches, a fraction of the text to scan
# (Presidio's URL and e-mail patterns backtrack at every position), and none at all when the
# text has no such place. Recognizers whose patterns are cheap to scan (cards, SSNs, dates...)
# run on the whole text: for them the windows cost more than they save. The "must" tests run
# without IGNORECASE (much faster), so their letter classes add the four characters that match
# ASCII letters case-insensitively in Presidio's engine (dotted and dotless I, LONG S, KELVIN
# SIGN); they start with a rarer character than the match does and look behind for the rest,
# which the engine scans for far faster.
_LETTER = "A-Za-z\u0130\u0131\u017f\u212a"
_HEX = "0-9A-Fa-f"
_WINDOWS = {
    # URL patterns: host [a-z0-9.-], scheme, and a path of anything but whitespace, ()<>, quotes;
    # every TLD in the pattern starts with a letter
    "UrlRecognizer": (r"[^\s()<>]", rf"\.[{_LETTER}]"),
    # local part, "@", domain
    "EmailRecognizer": (r"[\w!#$%&'*+\-/=?^`{|}~.@]", r"@"),
    # IPv4 digits and dots, IPv6 hex and colons, a /prefix and a %zone; an IPv6 address has "::"
    # or a colon between hex digits, an IPv4 one a dot between digits
    "IpRecognizer": (r"[\d0-9A-Za-z.:/%]", rf"[.:](?:(?<=\d\.)\d|(?<=:):|(?<=[{_HEX}]:)[{_HEX}])"),
    # \b-delimited letters and digits (and one alternative of literal "A-Z]]" then digits, a typo
    # in Presidio's pattern); every alphanumeric alternative has a letter (or that "]") next to a
    # digit; the digits-only pattern (0.01, only kept at a threshold that low) six digits
    "UsLicenseRecognizer": (
        r"[A-Za-z0-9\-\]]",
        {
            "Driver License - Alphanumeric (weak)": rf"[0-9](?:(?<=[{_LETTER}\]][0-9])|[{_LETTER}])",
            "Driver License - Digits (very weak)": r"[0-9]{6}",
        },
    ),
    # letters then seven digits (\d: any script's digits, as in the pattern)
    "MedicalLicenseRecognizer": (r"[A-Za-z\d]", r"\d{7}"),
    "UsItinRecognizer": (r"[\d\- ]", r"9\d{2}"),
    "UsBankRecognizer": (r"[0-9]", r"[0-9]{8}"),
    "UsPassportRecognizer": (r"[A-Za-z0-9]", r"[0-9]{8}"),
    "MacAddressRecognizer": (r"[0-9A-Fa-f:.\-]", rf"[:.-](?<=[{_HEX}]{{2}}[:.-])[{_HEX}]{{2}}"),
    # country code, check digits, then groups of letters and digits separated by "-" or " "
    "IbanRecognizer": (r"[A-Za-z0-9 \-]", rf"(?<=[{_LETTER}]{{2}})[0-9]{{2}}"),
}


class _Windows:
    def __init__(self, inside: str, must: str, flags: int) -> None:
        self.must = regex.compile(must)
        # the runs use Presidio's engine and flags, so they hold whatever its patterns match
        self.run_before = regex.compile(rf"{inside}*", flags | regex.REVERSE)
        self.run_after = regex.compile(rf"{inside}*", flags)

    def pack(self, text: str) -> tuple[str, list[int], list[int]]:
        """The windows joined by newlines, with where each starts in the packed and the whole text."""
        pieces: list[str] = []
        packed_starts: list[int] = []
        starts: list[int] = []
        length = 0
        hit = self.must.search(text)
        while hit is not None:
            start = max(self.run_before.match(text, 0, hit.start()).start() - 1, 0)
            end = self.run_after.match(text, hit.start()).end()
            piece = text[start : end + 1]
            packed_starts.append(length)
            starts.append(start)
            pieces.append(piece)
            length += len(piece) + 1
            # (a hit at a character no match contains has an empty run: move past it)
            hit = self.must.search(text, max(end, hit.start() + 1))
        return "\n".join(pieces), packed_starts, starts


# Recognizers that run on the whole text are skipped when a quick test shows their patterns
# cannot match (each test names what every match of the recognizer contains).
_QUICK_TESTS = {
    "CreditCardRecognizer": r"\d{4}[- ]?\d{3}",  # (4\d{3}|5[0-5]\d{2}|...)[- ]?(\d{3,4})...
    "UsSsnRecognizer": r"[0-9]{3}",  # every SSN pattern has three digits in a row
    "NhsRecognizer": r"[0-9]{3}[- ]?[0-9]{3}",
    "DateRecognizer": r"\d",
    "UuidRecognizer": r"[0-9A-Fa-f]{8}-",
    "CryptoRecognizer": rf"[{_LETTER}0-9]{{26}}",  # (bc1|[13])[a-zA-HJ-NP-Z0-9]{25,59}
}


def _quick_test(recognizer: EntityRecognizer) -> re.Pattern[str] | None:
    for cls in type(recognizer).__mro__:
        if cls.__name__ in _QUICK_TESTS:
            return re.compile(_QUICK_TESTS[cls.__name__])
    return None


def _windows(recognizer: EntityRecognizer) -> _Windows | None:
    for cls in type(recognizer).__mro__:
        spec = _WINDOWS.get(cls.__name__)
        if spec is not None:
            inside, must = spec
            if isinstance(must, dict):  # one per pattern: what the patterns kept need
                names = [p.name for p in recognizer.patterns]
                if not set(names) <= must.keys():
                    return None  # a pattern we do not know: run on the whole text
                must = "|".join(must[name] for name in names)
            flags = getattr(recognizer, "global_regex_flags", None) or (
                regex.DOTALL | regex.MULTILINE | regex.IGNORECASE
            )
            return _Windows(inside, must, flags)
    return None


# Patterns whose every match is a run of the given characters up to its last dot, at most 253 of
# them (then a TLD and an optional path): Presidio's non-schema URL. Where such a pattern fails at
# the first character of a run, it fails at every later one in the run too (the longer host it
# could start with covers every shorter one), so it is tried once per run instead of at every
# position (the greedy host backtracks over the whole run each time). A "www" prefix may hold
# non-ASCII digits, which break a run: texts with one are scanned the ordinary way.
_RUN_ANCHORED = {
    pattern.regex: r"[a-z0-9.\-]"
    for pattern in UrlRecognizer().patterns
    if pattern.regex.startswith("(?i)((www\\d{0,3}[.])?[a-z0-9.\\-]{1,253}[.](?:")
}
_LONGEST_RUN_ANCHORED = 254  # a run of host characters before the TLD's dot, plus that dot
_NON_ASCII_DIGIT = regex.compile(r"(?![0-9])\d")


def _finditer_at_run_starts(pattern, runs, text: str):
    """pattern.finditer(text) for a pattern of _RUN_ANCHORED: the same matches."""
    position = 0
    while (run := runs.search(text, position)) is not None:
        start, end = run.span()
        if end - start > _LONGEST_RUN_ANCHORED:  # a match may start later in a run this long
            match = pattern.search(text, start, timeout=_REGEX_TIMEOUT_SECONDS)
        else:
            match = pattern.match(text, start, timeout=_REGEX_TIMEOUT_SECONDS)
        if match is None:
            if end - start > _LONGEST_RUN_ANCHORED:
                return
            position = end
            continue
        yield match
        position = max(match.end(), match.start() + 1)


_TIMEOUT = {"timeout": _REGEX_TIMEOUT_SECONDS}
# Patterns that cannot take more than this many steps at one position of the text (dates, SSNs,
# card and licence numbers...) run without Presidio's per-call regex timeout, which costs the
# engine about a third of its speed on them: no input makes them slow (20,000 characters, the
# default max_chars, at most 2e8 steps). Every other pattern (URLs, e-mail and IP addresses,
# IBANs...) keeps the timeout.
_MAX_STEPS_PER_POSITION = 10_000


def _steps_per_position(pattern: str) -> float:
    """A bound on the steps a backtracking engine takes trying the pattern at one position: the
    number of paths through it (a repeat tries every count, a branch every alternative) times the
    longest match; infinite for an unbounded repeat or a pattern the parser does not know."""
    from re import _constants as c
    from re import _parser

    def paths(items) -> float:
        total = 1.0
        for op, value in items:
            if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
                low, high, body = value
                if high == c.MAXREPEAT:
                    return float("inf")
                each = max(1.0, paths(body))
                total *= sum(each**k for k in range(low, high + 1))
            elif op is c.SUBPATTERN:
                total *= paths(value[-1])
            elif op is c.BRANCH:
                total *= sum(paths(branch) for branch in value[1])
            elif op in (c.ASSERT, c.ASSERT_NOT):
                total *= paths(value[1])
            elif op is c.ATOMIC_GROUP:
                total *= paths(value)
            elif op is c.GROUPREF_EXISTS:
                total *= paths(value[1]) + (paths(value[2]) if value[2] else 1.0)
        return total

    try:
        parsed = _parser.parse(pattern)
    except Exception:
        return float("inf")
    return paths(parsed) * parsed.getwidth()[1]


def _pattern_analyzer(recognizer: EntityRecognizer):
    """`recognizer.analyze`, or for a plain PatternRecognizer the same loop as Presidio's
    (same patterns, flags, timeout, validation and scores) without what only its explanations
    need (an AnalysisExplanation and two clock reads per match or pattern), which costs about as
    much as the matching itself on short texts."""
    if type(recognizer).analyze is not PatternRecognizer.analyze:
        return recognizer.analyze
    entity = recognizer.supported_entities[0]
    flags = recognizer.global_regex_flags
    metadata = {
        RecognizerResult.RECOGNIZER_NAME_KEY: recognizer.name,
        RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: recognizer.id,
    }
    validate, invalidate = recognizer.validate_result, recognizer.invalidate_result

    run_starts = {
        pattern.name: regex.compile(rf"{_RUN_ANCHORED[pattern.regex]}+", flags)
        for pattern in recognizer.patterns
        if pattern.regex in _RUN_ANCHORED
    }
    timeouts = {
        pattern.name: {} if _steps_per_position(pattern.regex) <= _MAX_STEPS_PER_POSITION else _TIMEOUT
        for pattern in recognizer.patterns
    }

    def analyze(text: str, entities: list[str], nlp_artifacts=None) -> list[RecognizerResult]:
        results = []
        for pattern in recognizer.patterns:
            if not pattern.compiled_regex or pattern.compiled_with_flags != flags:
                pattern.compiled_with_flags = flags
                pattern.compiled_regex = regex.compile(pattern.regex, flags=flags)
            runs = run_starts.get(pattern.name)
            if runs is not None and not _NON_ASCII_DIGIT.search(text):
                matches = _finditer_at_run_starts(pattern.compiled_regex, runs, text)
            else:
                matches = pattern.compiled_regex.finditer(text, **timeouts.get(pattern.name, _TIMEOUT))
            try:
                for match in matches:
                    start, end = match.span()
                    if start == end:
                        continue
                    current = text[start:end]
                    score = pattern.score
                    valid = validate(current)
                    if valid is not None:
                        score = EntityRecognizer.MAX_SCORE if valid else EntityRecognizer.MIN_SCORE
                    if invalidate(current):
                        score = EntityRecognizer.MIN_SCORE
                    if score > EntityRecognizer.MIN_SCORE:
                        results.append(
                            RecognizerResult(entity, start, end, score, recognition_metadata=dict(metadata))
                        )
            except TimeoutError:
                pass  # Presidio logs and skips the pattern too
        return _deduplicated(results)

    return analyze


def _reachable_score(recognizer: PatternRecognizer, score: float, context: bool = True) -> float:
    """The highest score a pattern result can end with: validated results become 1.0, others can
    only gain the context boost (when a context word precedes them)."""
    if type(recognizer).validate_result is not PatternRecognizer.validate_result:
        return 1.0
    if context and recognizer.context:
        return min(1.0, max(score + _CONTEXT_BOOST, _CONTEXT_MIN_SCORE))
    return score


@dataclass
class _Runner:
    """How the redactor runs one recognizer over a batch."""

    recognizer: EntityRecognizer
    entities: list[str]
    windows: _Windows | None
    quick_test: re.Pattern[str] | None
    analyze: Callable[..., list[RecognizerResult]]
    # the recognizer's context words, lower case (a match they precede gains score)
    context: tuple[str, ...] = ()
    # Some patterns reach the score threshold only with a context word before the match (a
    # driver's licence number scores 0.3): where no context word occurs in the batch,
    # analyze_without_context (without those patterns; None when none is left) runs instead.
    gated: bool = False
    analyze_without_context: Callable[..., list[RecognizerResult]] | None = None


def _runner(recognizer: EntityRecognizer, entities: list[str], threshold: float) -> _Runner:
    runner = _Runner(
        recognizer,
        entities,
        _windows(recognizer),
        _quick_test(recognizer),
        _pattern_analyzer(recognizer),
        context=tuple(word.lower() for word in recognizer.context or ()),
    )
    if (
        isinstance(recognizer, PatternRecognizer)
        and type(recognizer).analyze is PatternRecognizer.analyze  # (its patterns are all it runs)
        and recognizer.context
    ):
        plain = [
            p
            for p in recognizer.patterns
            if _reachable_score(recognizer, p.score, context=False) >= threshold
        ]
        if len(plain) < len(recognizer.patterns):
            runner.gated = True
            if plain:
                runner.analyze_without_context = _pattern_analyzer(type(recognizer)(patterns=plain))
    return runner


def _presidio_recognizers(settings: RedactionSettings, regions: tuple[str, ...]) -> list[EntityRecognizer]:
    """Presidio's default English registry (what `AnalyzerEngine()` loads), with our offline e-mail
    and windowed phone recognizers, and the patterns that cannot reach the threshold dropped."""
    registry = RecognizerRegistryProvider(
        registry_configuration={"supported_languages": ["en"]}
    ).create_recognizer_registry()
    recognizers: list[EntityRecognizer] = []
    for recognizer in registry.recognizers:
        if isinstance(recognizer, PhoneRecognizer):
            if regions:
                recognizer = WindowedPhoneRecognizer(regions, leniency=recognizer.leniency)
            else:
                continue
        elif isinstance(recognizer, EmailRecognizer):
            recognizer = OfflineEmailRecognizer()
        elif isinstance(recognizer, PatternRecognizer) and not isinstance(recognizer, IbanRecognizer):
            patterns = [
                p
                for p in recognizer.patterns
                if _reachable_score(recognizer, p.score) >= settings.score_threshold
            ]
            if not patterns:
                continue
            if len(patterns) != len(recognizer.patterns):
                recognizer = type(recognizer)(patterns=patterns)
        recognizers.append(recognizer)
    return recognizers


# ---------------------------------------------------------------------------------------------
# The redactor
# ---------------------------------------------------------------------------------------------


class Redactor:
    """Builds the recognizers once; `redact()` is called by one worker thread (a lock makes
    concurrent calls safe, serialised)."""

    def __init__(self, settings: RedactionSettings) -> None:
        self.settings = settings
        self._validate(settings)
        regions = tuple("GB" if r.upper() == "UK" else r.upper() for r in settings.phone_regions)
        self._nlp_engine = None
        self._ner_recognizer: SpacyRecognizer | None = None
        self.ner_available = False
        self._load_ner(settings.spacy_model)
        self.notice: str | None = None if self.ner_available else NO_NER_NOTICE

        if regions and hasattr(phonenumbers, "enable_pattern_cache"):
            # phonenumbers compiles its metadata patterns through re's cache of 512, which eight
            # regions' metadata overflow: it then recompiles them on every number
            phonenumbers.enable_pattern_cache()
        recognizers: list[EntityRecognizer] = _presidio_recognizers(settings, regions)
        recognizers += [SecretRecognizer(spec) for spec in _SECRET_SPECS]
        supported = {e for r in recognizers for e in r.supported_entities}
        if self._ner_recognizer is not None:
            supported |= set(NER_ENTITIES)
        if settings.entities is not None:
            unknown = sorted(set(settings.entities) - supported)
            if unknown:
                raise ValueError(
                    f"redaction entities {unknown} are not supported; supported: {sorted(supported)}"
                )
            wanted = set(settings.entities)
        else:
            wanted = supported
        self.supported_entities = tuple(sorted(supported))
        self.entities = tuple(sorted(wanted))
        self._runners = [
            _runner(r, [e for e in r.supported_entities if e in wanted], settings.score_threshold)
            for r in recognizers
            if wanted.intersection(r.supported_entities)
        ]
        self._allow = frozenset(a for a in settings.allow_list if a)
        self._salt = settings.salt.encode() if settings.salt else b""
        self._cache: OrderedDict[bytes, tuple[str, tuple[tuple[str, int], ...], bool]] = OrderedDict()
        self._lock = threading.RLock()
        # Presidio compiles a recognizer's patterns on first use (the URL pattern alone takes
        # about 0.1 s): do it now, so the first captured call is not the slow one.
        self._analyze([_WARM_UP_TEXT])
        self.clear_caches()
        self.analyzed_texts = 0  # texts analysed (not served from the cache)
        self.cache_hits = 0

    @staticmethod
    def _validate(settings: RedactionSettings) -> None:
        if not 0.0 <= settings.score_threshold <= 1.0:
            raise ValueError(
                f"redaction score_threshold must be within [0, 1], got {settings.score_threshold!r}"
            )
        if settings.operator not in OPERATORS:
            raise ValueError(f"redaction operator must be one of {OPERATORS}, got {settings.operator!r}")
        if settings.operator == "hash" and not settings.salt:
            raise ValueError(
                "redaction operator 'hash' needs a salt (OTEL_LLM_REDACTION_SALT or a salt file); "
                "there is no default, so hashes cannot be reversed with a public salt"
            )
        if settings.salt is not None and len(settings.salt.encode()) < 16:
            raise ValueError("redaction salt must be at least 16 bytes")
        if settings.max_chars <= 0:
            raise ValueError(f"redaction max_chars must be positive, got {settings.max_chars!r}")
        for region in settings.phone_regions:
            code = "GB" if region.upper() == "UK" else region.upper()
            if code not in phonenumbers.SUPPORTED_REGIONS:
                raise ValueError(f"redaction phone region {region!r} is not a phonenumbers region code")

    def _load_ner(self, spacy_model: str | None) -> None:
        import spacy

        if spacy_model is None:
            spacy_model = next((m for m in STANDARD_SPACY_MODELS if spacy.util.is_package(m)), None)
            if spacy_model is None:
                return
        elif not (spacy.util.is_package(spacy_model) or Path(spacy_model).exists()):
            # SpacyNlpEngine would download a missing model: refuse instead.
            raise ValueError(
                f"redaction spacy_model {spacy_model!r} is neither an installed package nor a saved pipeline"
            )
        from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine

        ignore = {"DATE", "TIME", "DATE_TIME", "ORG", "ORGANIZATION", "CARDINAL", "EVENT", "LANGUAGE"}
        ignore |= {"LAW", "MONEY", "ORDINAL", "PERCENT", "PRODUCT", "QUANTITY", "WORK_OF_ART"}
        engine = SpacyNlpEngine(
            models=[{"lang_code": "en", "model_name": spacy_model}],
            ner_model_configuration=NerModelConfiguration(labels_to_ignore=sorted(ignore)),
        )
        engine.load()
        nlp = engine.get_nlp("en")
        labels = {label for name, pipe in nlp.pipeline if hasattr(pipe, "labels") for label in pipe.labels}
        mapping = engine.ner_model_configuration.model_to_presidio_entity_mapping
        if not {mapping.get(label) for label in labels} & set(NER_ENTITIES):
            return
        self._nlp_engine = engine
        self._ner_recognizer = SpacyRecognizer(supported_language="en", supported_entities=list(NER_ENTITIES))
        self.ner_available = True

    def clear_caches(self) -> None:
        """Forget cached results (benchmarks measure cold runs with this)."""
        with self._lock:
            self._cache.clear()
            for runner in self._runners:
                if isinstance(runner.recognizer, WindowedPhoneRecognizer):
                    runner.recognizer.clear_caches()

    def redact(self, texts: Sequence[str]) -> RedactionResult:
        with self._lock:
            return self._redact(texts)

    def _redact(self, texts: Sequence[str]) -> RedactionResult:
        keys = [hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest() for text in texts]
        entries = {}  # this batch's, kept here: a batch larger than the cache evicts its own
        pending: dict[bytes, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key in self._cache:
                self._cache.move_to_end(key)
                entries[key] = self._cache[key]
            elif key not in pending:
                pending[key] = text
        if pending:
            for key, entry in zip(pending, self._analyze_batch(list(pending.values())), strict=True):
                self._cache[key] = entries[key] = entry
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)
        self.cache_hits += len(texts) - len(pending)
        out, counts, truncated, text_entities = [], Counter(), [], []
        for key in keys:
            text, entity_counts, was_truncated = entries[key]
            out.append(text)
            text_entities.append(Counter(dict(entity_counts)))
            counts.update(text_entities[-1])
            truncated.append(was_truncated)
        return RedactionResult(texts=out, entities=counts, truncated=truncated, text_entities=text_entities)

    # -- analysis ----------------------------------------------------------------------------

    def _analyze_batch(self, texts: list[str]) -> list[tuple[str, tuple[tuple[str, int], ...], bool]]:
        self.analyzed_texts += len(texts)
        prepared = [self._truncate(text) for text in texts]
        bodies = [body for body, _ in prepared]
        findings = self._analyze(bodies)
        entries = []
        for (body, was_truncated), results in zip(prepared, findings, strict=True):
            redacted, counts = self._apply(body, results)
            entries.append((redacted, tuple(sorted(counts.items())), was_truncated))
        return entries

    def _truncate(self, text: str) -> tuple[str, bool]:
        limit = self.settings.max_chars
        if len(text) <= limit:
            return text, False
        cut = text[:limit]
        if not text[limit].isspace():
            # the cut split a token, which may be part of a secret the recognizers no longer see
            # whole: drop the partial token
            match = re.search(r"\S+\Z", cut)
            if match:
                cut = cut[: match.start()]
        return cut, True

    def analyze(self, texts: Sequence[str]) -> list[list[RecognizerResult]]:
        """Findings per text (score threshold and allow-list applied, before merging overlaps);
        no truncation, no cache."""
        with self._lock:
            return self._analyze(texts)

    def _analyze(self, texts: Sequence[str]) -> list[list[RecognizerResult]]:
        joined = _BATCH_SEPARATOR.join(texts)
        starts = []
        position = 0
        for text in texts:
            starts.append(position)
            position += len(text) + len(_BATCH_SEPARATOR)
        raw: list[tuple[tuple[str, ...], RecognizerResult]] = []  # (context words, result)
        lowered = None
        for runner in self._runners:
            analyze = runner.analyze
            if runner.gated:
                lowered = joined.lower() if lowered is None else lowered
                if not any(word in lowered for word in runner.context):
                    analyze = runner.analyze_without_context
                    if analyze is None:
                        continue
            context, windows = runner.context, runner.windows
            if windows is None:
                if runner.quick_test is None or runner.quick_test.search(joined):
                    raw += [(context, r) for r in analyze(joined, runner.entities, None) or ()]
                continue
            packed, packed_starts, window_starts = windows.pack(joined)
            for result in analyze(packed, runner.entities, None) if packed else ():
                i = bisect.bisect_right(packed_starts, result.start) - 1
                shift = window_starts[i] - packed_starts[i]
                result.start += shift
                result.end += shift
                raw.append((context, result))
        raw = [(context, r) for context, r in raw if r.entity_type in self.entities]
        per_text: list[list[RecognizerResult]] = [[] for _ in texts]
        for context, result in raw:
            for index in _texts_spanned(starts, texts, result.start, result.end):
                base = starts[index]
                start = max(result.start, base) - base
                end = min(result.end, base + len(texts[index])) - base
                if end > start:
                    piece = RecognizerResult(result.entity_type, start, end, result.score)
                    piece.score = self._with_context(texts[index], piece, context)
                    per_text[index].append(piece)
        if self._nlp_engine is not None and self._ner_recognizer is not None:
            ner_entities = [e for e in NER_ENTITIES if e in self.entities]
            if ner_entities:
                for index, (_, artifacts) in enumerate(self._nlp_engine.process_batch(list(texts), "en")):
                    per_text[index] += self._ner_recognizer.analyze(texts[index], ner_entities, artifacts)
        threshold = self.settings.score_threshold
        out = []
        for text, results in zip(texts, per_text, strict=True):
            allowed = self._allowed_spans(text)
            kept = [
                r
                for r in results
                if r.score >= threshold
                and r.score > 0
                and not any(start <= r.start and r.end <= end for start, end in allowed)
            ]
            out.append(_deduplicated(kept))
        return out

    def _allowed_spans(self, text: str) -> list[tuple[int, int]]:
        """Where allow-listed strings occur: nothing inside them is redacted (not the string
        itself, nor a part of it such as the domain of an allowed address)."""
        spans = []
        for allowed in self._allow:
            position = text.find(allowed)
            while position >= 0:
                spans.append((position, position + len(allowed)))
                position = text.find(allowed, position + 1)
        return spans

    @staticmethod
    def _with_context(text: str, result: RecognizerResult, context: tuple[str, ...]) -> float:
        """Presidio's context boost, on the words before the match (a blank spaCy pipeline has no
        lemmas, so Presidio's own enhancer never fires without a model): a context word (lower
        case) within one of the five words before it."""
        if not context:
            return result.score
        words = _WORD.findall(text[max(0, result.start - _CONTEXT_CHARS) : result.start].lower())
        recent = "\0".join(words[-_CONTEXT_WORDS:])  # (no context word holds a NUL)
        if any(word in recent for word in context):
            return min(1.0, max(result.score + _CONTEXT_BOOST, _CONTEXT_MIN_SCORE))
        return result.score

    # -- anonymization -------------------------------------------------------------------------

    def _apply(self, text: str, results: list[RecognizerResult]) -> tuple[str, Counter]:
        """Replace every finding; overlapping findings become one placeholder covering all of them,
        so no character of any finding survives."""
        spans = sorted(results, key=lambda r: (r.start, -r.end))
        merged: list[list] = []  # [start, end, label_key, entity]
        for r in spans:
            key = (_LABEL_RANK.get(r.entity_type, 0), r.score, r.end - r.start)
            if merged and r.start < merged[-1][1]:
                last = merged[-1]
                last[1] = max(last[1], r.end)
                if key > last[2]:
                    last[2], last[3] = key, r.entity_type
            else:
                merged.append([r.start, r.end, key, r.entity_type])
        counts: Counter = Counter()
        pieces = []
        position = 0
        for start, end, _, entity in merged:
            pieces.append(text[position:start])
            pieces.append(self._replacement(entity, text[start:end]))
            counts[entity] += 1
            position = end
        pieces.append(text[position:])
        return "".join(pieces), counts

    def _replacement(self, entity: str, value: str) -> str:
        if self.settings.operator == "mask":
            return "*" * len(value)
        if self.settings.operator == "hash":
            digest = hmac.new(self._salt, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
            return f"<{entity}:{digest[:8]}>"
        return f"<{entity}>"


def _deduplicated(results: list[RecognizerResult]) -> list[RecognizerResult]:
    """EntityRecognizer.remove_duplicates (zero scores and results contained in another of the
    same entity dropped), without its sorting when there is nothing to compare."""
    if len(results) <= 1:
        return [r for r in results if r.score != 0]
    return EntityRecognizer.remove_duplicates(results)


def _texts_spanned(starts: list[int], texts: Sequence[str], start: int, end: int) -> range:
    """Indexes of the texts a joined-text span [start, end) touches."""
    first = max(bisect.bisect_right(starts, start) - 1, 0)
    last = max(bisect.bisect_right(starts, max(end - 1, start)) - 1, first)
    return range(first, last + 1)

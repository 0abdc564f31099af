"""The telemetry reference names every attribute and metric we emit, with its Prometheus name."""

from __future__ import annotations

from pathlib import Path

from otel_llm import semconv

DOCS = Path(__file__).resolve().parent.parent / "docs"

METRICS = {
    semconv.METRIC_TOKEN_USAGE: ("{token}", "histogram"),
    semconv.METRIC_OPERATION_DURATION: ("s", "histogram"),
    semconv.METRIC_TIME_TO_FIRST_CHUNK: ("s", "histogram"),
    semconv.METRIC_TIME_PER_OUTPUT_CHUNK: ("s", "histogram"),
    semconv.METRIC_COST: ("USD", "counter"),
    semconv.METRIC_COST_SAVED: ("USD", "counter"),
    semconv.METRIC_UNPRICED_CALLS: ("{call}", "counter"),
    semconv.METRIC_RETRY_ATTEMPTS: ("{attempt}", "counter"),
    semconv.METRIC_SELF_ERRORS: ("{error}", "counter"),
    semconv.METRIC_CONTENT_RECORDS: ("{record}", "counter"),
    semconv.METRIC_CONTENT_REDACTED: ("{entity}", "counter"),
    semconv.METRIC_CONTENT_DROPPED: ("{record}", "counter"),
    semconv.METRIC_REDACTION_DURATION: ("s", "histogram"),
    semconv.METRIC_VALIDATION_RESULTS: ("{result}", "counter"),
    semconv.METRIC_GUARD_DECISIONS: ("{decision}", "counter"),
    semconv.METRIC_BUDGET_LIMIT: ("USD", "gauge"),
    semconv.METRIC_BUDGET_SPENT: ("USD", "gauge"),
    semconv.METRIC_FEEDBACK_RECEIVED: ("{feedback}", "counter"),
    semconv.METRIC_FEEDBACK_SCORE: ("{score}", "histogram"),
    semconv.METRIC_FEEDBACK_EDIT_TIME: ("s", "histogram"),
    semconv.METRIC_ISSUE_REPORTS: ("{report}", "counter"),
}


def test_every_name_in_semconv_is_documented():
    text = (DOCS / "telemetry.md").read_text()
    names = [
        value
        for key, value in vars(semconv).items()
        if key.isupper() and isinstance(value, str) and "." in value and not key.startswith("OPERATION_")
    ]
    missing = [name for name in names if f"`{name}`" not in text]
    assert not missing, f"docs/telemetry.md lacks {missing}"


def test_every_metric_has_its_prometheus_name_documented():
    text = (DOCS / "telemetry.md").read_text()
    assert set(METRICS) == {v for k, v in vars(semconv).items() if k.startswith("METRIC_")}
    for metric, (unit, kind) in METRICS.items():
        series = semconv.prometheus_name(metric, unit, kind)
        assert series in text, f"{metric}: {series} missing from docs/telemetry.md"


def test_every_setting_is_documented():
    from otel_llm import config

    text = (DOCS / "configuration.md").read_text()
    for variable in (
        config.OTEL_LLM_CONFIG,
        config.OTEL_LLM_PROVIDERS,
        config.OTEL_SDK_DISABLED,
        config.OTEL_LLM_CAPTURE_CONTENT,
        config.OTEL_GENAI_CAPTURE,
        config.OTEL_LLM_SAMPLE_RATE,
        config.OTEL_LLM_GUARD_STORE,
        config.OTEL_LLM_GUARD_FAIL,
        *config.CONTENT_VARIABLES.values(),
    ):
        assert variable in text, variable
    for key in (
        *config.FILE_KEYS,
        *config.PRICE_FIELDS,
        *config.CONTENT_FILE_KEYS,
        *config.REDACTION_KEYS,
        *config.GUARD_FILE_KEYS,
        *config.KEYWORDS,
    ):
        assert key in text, key


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    import re

    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_relative_links_in_the_docs_resolve():
    import re

    root = DOCS.parent
    pages = [root / "README.md", *DOCS.rglob("*.md"), *root.glob("*/README.md")]
    broken = []
    for page in pages:
        text = page.read_text()
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                broken.append(f"{page.relative_to(root)}: {target}")
                continue
            if anchor and linked.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", linked.read_text(), flags=re.M)
                if anchor not in {_slug(h) for h in headings}:
                    broken.append(f"{page.relative_to(root)}: {target} (no such heading)")
    assert not broken, broken

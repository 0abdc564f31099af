"""Every attribute, event and metric name otel-llm emits, in one place.

GenAI names follow the OpenTelemetry GenAI semantic conventions (v1.41). Anything the spec does
not cover lives under `otel_llm.*`. docs/telemetry.md lists each name with its Prometheus form.
"""

from __future__ import annotations

# --- span attributes: GenAI semantic conventions -------------------------------------------------
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P = "gen_ai.request.top_p"
GEN_AI_REQUEST_TOP_K = "gen_ai.request.top_k"
GEN_AI_REQUEST_STOP_SEQUENCES = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_SEED = "gen_ai.request.seed"
GEN_AI_REQUEST_FREQUENCY_PENALTY = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_CHOICE_COUNT = "gen_ai.request.choice.count"
GEN_AI_REQUEST_ENCODING_FORMATS = "gen_ai.request.encoding_formats"
GEN_AI_REQUEST_STREAM = "gen_ai.request.stream"
GEN_AI_OUTPUT_TYPE = "gen_ai.output.type"
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_EMBEDDINGS_DIMENSION_COUNT = "gen_ai.embeddings.dimension.count"
GEN_AI_TOKEN_TYPE = "gen_ai.token.type"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ERROR_TYPE = "error.type"

# --- span attributes: otel-llm -------------------------------------------------------------------
COST = "otel_llm.cost"
COST_SAVED = "otel_llm.cost.saved"
USAGE_MISSING = "otel_llm.usage.missing"
RETRY_ATTEMPTS = "otel_llm.retry.attempts"
RETRY_STATUSES = "otel_llm.retry.statuses"
STREAM_CHUNKS = "otel_llm.stream.chunks"
STREAM_END = "otel_llm.stream.end"
PRICE_SOURCE = "otel_llm.cost.source"

# Content (captured only when configured, always redacted first).
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
GEN_AI_TOOL_DEFINITIONS = "gen_ai.tool.definitions"
# Why a call's content was captured: all, sample (the review sample), error or validation.
CONTENT_REASON = "otel_llm.content.reason"
# True when some content was longer than the redaction limit and was cut before analysis.
CONTENT_TRUNCATED = "otel_llm.content.truncated"

# --- attribute values -----------------------------------------------------------------------------
TOKEN_TYPE_INPUT = "input"
TOKEN_TYPE_OUTPUT = "output"
OPERATION_CHAT = "chat"
OPERATION_TEXT_COMPLETION = "text_completion"
OPERATION_EMBEDDINGS = "embeddings"

# --- metrics --------------------------------------------------------------------------------------
# The app's attributes (otel_llm.attributes): feature and prompt version also on metrics.
FEATURE = "otel_llm.feature"
PROMPT_VERSION = "otel_llm.prompt.version"
USER_ID = "user.id"
TENANT = "otel_llm.tenant"

METRIC_TOKEN_USAGE = "gen_ai.client.token.usage"
METRIC_OPERATION_DURATION = "gen_ai.client.operation.duration"
METRIC_TIME_TO_FIRST_CHUNK = "gen_ai.client.operation.time_to_first_chunk"
METRIC_TIME_PER_OUTPUT_CHUNK = "gen_ai.client.operation.time_per_output_chunk"
METRIC_COST = "otel_llm.cost"
METRIC_COST_SAVED = "otel_llm.cost.saved"
METRIC_UNPRICED_CALLS = "otel_llm.cost.unpriced"
METRIC_RETRY_ATTEMPTS = "otel_llm.retry.attempts"
METRIC_SELF_ERRORS = "otel_llm.instrumentation.errors"
METRIC_CONTENT_RECORDS = "otel_llm.content.records"
METRIC_CONTENT_REDACTED = "otel_llm.content.redacted"
METRIC_CONTENT_DROPPED = "otel_llm.content.dropped"
METRIC_REDACTION_DURATION = "otel_llm.content.redaction.duration"
METRIC_VALIDATION_RESULTS = "otel_llm.validation.results"
METRIC_GUARD_DECISIONS = "otel_llm.guard.decisions"
METRIC_BUDGET_LIMIT = "otel_llm.budget.limit"
METRIC_BUDGET_SPENT = "otel_llm.budget.spent"
# Guard attributes: which guard (budget, rate_limit, loop), its decision (allow, warn, block,
# wait, reject) and the configured guard's name; on the span, every decision as "guard:decision".
GUARD = "otel_llm.guard"
GUARD_DECISION = "otel_llm.guard.decision"
GUARD_NAME = "otel_llm.guard.name"
GUARD_DECISIONS = "otel_llm.guard.decisions"
BUDGET_WINDOW = "otel_llm.budget.window"
BUDGET_SCOPE = "otel_llm.budget.scope"

# The conventions' evaluation event (on the call's span) and its attributes.
EVENT_EVALUATION_RESULT = "gen_ai.evaluation.result"
GEN_AI_EVALUATION_NAME = "gen_ai.evaluation.name"
GEN_AI_EVALUATION_SCORE_VALUE = "gen_ai.evaluation.score.value"
GEN_AI_EVALUATION_SCORE_LABEL = "gen_ai.evaluation.score.label"
GEN_AI_EVALUATION_EXPLANATION = "gen_ai.evaluation.explanation"
# Validation metric attributes: the validator's name and "pass" / "fail".
VALIDATOR = "otel_llm.validator"
VALIDATION_RESULT = "otel_llm.validation.result"

# The review sample: an event per sampled call (deterministic by trace id) with its redacted input
# and output, validation results and versions, for people to review (`otel-llm review export`).
EVENT_REVIEW_SAMPLE = "otel_llm.review.sample"
# On review sample events: the share of calls sampled (so reviewers can extrapolate).
REVIEW_SAMPLE_RATE = "otel_llm.review.sample_rate"
# Body key of review sample events: the call's validation results.
REVIEW_VALIDATION = "otel_llm.validation"

# User feedback and issue reports (otel_llm.record_feedback / report_issue): events linked to the
# call, and metrics by feature, model and prompt version ("unknown" when not known).
EVENT_FEEDBACK = "otel_llm.feedback"
EVENT_ISSUE_REPORT = "otel_llm.issue.report"
FEEDBACK_SCORE = "otel_llm.feedback.score"
FEEDBACK_LABEL = "otel_llm.feedback.label"
FEEDBACK_EDIT_SECONDS = "otel_llm.feedback.edit_seconds"
# Body keys (content: exported only with capture on, redacted first).
FEEDBACK_COMMENT = "otel_llm.feedback.comment"
ISSUE_DESCRIPTION = "otel_llm.issue.description"
ISSUE_CATEGORY = "otel_llm.issue.category"
METRIC_FEEDBACK_SCORE = "otel_llm.feedback.score"
METRIC_FEEDBACK_EDIT_TIME = "otel_llm.feedback.edit_time"
METRIC_FEEDBACK_RECEIVED = "otel_llm.feedback.received"
METRIC_ISSUE_REPORTS = "otel_llm.issue.reports"
UNKNOWN = "unknown"

# Metric attribute on redaction counts: the entity type (EMAIL_ADDRESS, API_KEY, ...).
ENTITY_TYPE = "otel_llm.entity.type"
# Metric attribute on dropped content: queue_full, redaction_error or timeout.
DROP_REASON = "otel_llm.drop.reason"

# Metric attribute only (not a span attribute): why a call had no price.
UNPRICED_REASON = "otel_llm.unpriced.reason"
# Metric attribute on retry attempts: the HTTP status or exception class of the retried attempt.
ATTEMPT_OUTCOME = "otel_llm.attempt.outcome"
# Metric attribute on self errors: which internal step failed.
SELF_ERROR_STEP = "otel_llm.step"

# Feedback scores are the app's own scale: these cover 0..1 (thumbs, ratios) and 1..5 or 1..10 stars.
FEEDBACK_SCORE_BUCKETS = (0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
# Editing time, seconds: from a quick fix to a rewrite.
EDIT_TIME_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600)

# Explicit bucket advice from the GenAI semantic conventions.
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
# The spec advises the duration boundaries for time_per_output_chunk too.
TIME_PER_CHUNK_BUCKETS = DURATION_BUCKETS


def prometheus_name(metric: str, unit: str, kind: str) -> str:
    """The series name the collector's Prometheus translation gives `metric`.

    `kind` is "histogram" (returns the base name, `_bucket`/`_sum`/`_count` follow), "counter"
    (`_total` suffix) or "gauge". Units map as the collector does: s -> seconds, {token} -> dropped,
    USD stays as `_USD`.
    """
    name = metric.replace(".", "_")
    # The collector drops annotation units ({token}, {call}, ...) and spells out the known ones.
    unit_suffix = "" if "{" in unit else {"s": "seconds", "1": "", "By": "bytes"}.get(unit, unit)
    if unit_suffix and not name.endswith(unit_suffix):
        name = f"{name}_{unit_suffix}"
    if kind == "counter":
        name = f"{name}_total"
    return name

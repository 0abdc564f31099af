"""A deterministic workload that produces every metric the Grafana dashboards query, for
tests/test_dashboards.py (and for trying the dashboards by hand against `docker compose up`).

    python -m otel_llm.testing.dashboard_workload --rounds 10 --summary out.json

It exports with the standard `OTEL_*` variables (service name, endpoint, resource attributes) and
runs its own mock provider on 127.0.0.1. Two processes of the same service take part, told apart
by `service.instance.id`; each runs one warm-up round, exports it, then runs the same round
`--rounds` times, one every `--round-seconds`, exporting its metrics every second. Prometheus'
`increase()` never counts what a series held at its first sample: that is the warm-up round, so
what the dashboards can show is what happened from `measured_from` on.

* `primary`: OpenAI and Anthropic calls and streams with known token usage, cached input, an
  unpriced model, 500s, 429s the SDK retries (once successfully, once until it gives up), a budget
  that warns on every priced call, one by model, and one that blocks a tenant, `expect()`
  validations that pass and fail, feedback with scores and editing time, an issue report, and
  content capture `sampled` at rate 1 with e-mail addresses and an API key in the prompts,
  comments and descriptions, so redactions are counted.
* `replica`, a misconfigured copy: its guard store (Redis) is unreachable, so every guarded call
  counts an instrumentation self-error and its rate limit fails open, and its spaCy model path does
  not exist, so the redactor cannot load and every captured call's content is dropped (reason
  `redaction_error`: content capture fails closed).

The summary (JSON, the replica's under "replica") holds what the app itself saw: calls and errors
by kind, tokens as the responses reported them, feedback, issue and validation counts, what was
planted for redaction, the budgets, and when the measured rounds began. Latencies are steered with
the mock's `slow:` fault so that each kind of call lands well inside one histogram bucket.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROUNDS = 10
ROUND_SECONDS = 2.0
# The workload exports its metrics itself: once right after the warm-up round (so that every
# series' first sample holds exactly the warm-up round), then every EXPORT_SECONDS.
EXPORT_SECONDS = 1.0
# Exports of the warm-up values before the measured rounds start.
SETTLE_SECONDS = 3.0
# After the last round the final values keep being exported for a while: Prometheus'
# extrapolation (up to half a sample interval at each end of a series, in proportion to the
# series' length) then stays small, and a lost remote-write request cannot lose the final value.
TAIL_SECONDS = 10.0

# The mock answers with dated model names, as providers do behind an alias.
RESPONSE_MODELS = {
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4o": "gpt-4o-2024-08-06",
    "claude-haiku-4-5": "claude-haiku-4-5-20251001",
}
UNPRICED_MODEL = "acme-llm-1"

FAST = {"x-mock-fault": "slow:0.05"}  # duration bucket (0.04, 0.08]
STREAM = {"x-mock-fault": "slow:0.2"}  # time to first chunk and duration bucket (0.16, 0.32]
RETRY_AFTER = "429:0.3"  # the SDK waits 0.3 s: duration bucket (0.32, 0.64]

# What the prompts, comments and descriptions carry for the redactor to find, per occurrence.
PII_PROMPT = (
    "Summarise the ticket from jane.doe@example.com, who pasted her key "
    "sk-proj-Xy7Qm2Lp9Rt4Vw8Zb3Nc6Hd1Fg5Jk0Ms into the chat."
)
PII_PROMPT_ENTITIES = {"EMAIL_ADDRESS": 1, "API_KEY": 1}
FEEDBACK_COMMENT = "Wrong format, please ask ops@example.org to fix it."
ISSUE_DESCRIPTION = "Reported by sam.lee@example.net: the answer was not JSON."
TEXT_ENTITIES = {"EMAIL_ADDRESS": 1}

PRIMARY, REPLICA = "primary", "replica"


class Recorder:
    """What the app saw, to compare with what reached the backends."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.tokens: Counter[str] = Counter()
        self.feedback: Counter[str] = Counter()
        self.issues: Counter[str] = Counter()
        self.validation: Counter[str] = Counter()
        self.planted: Counter[str] = Counter()
        self.unexpected: list[str] = []

    def call(
        self, kind: str, make: Callable[[], Any], expected_error: type[BaseException] | None = None
    ) -> Any:
        """Runs one call; an expected error is counted by its class, anything else is a failure."""
        self.calls[kind] += 1
        try:
            result = make()
        except Exception as exc:
            if expected_error is not None and isinstance(exc, expected_error):
                self.errors[type(exc).__name__] += 1
                return None
            self.unexpected.append(f"{kind}: {type(exc).__name__}: {exc}")
            return None
        if expected_error is not None:
            self.unexpected.append(f"{kind}: expected {expected_error.__name__}, the call succeeded")
        return result

    def usage(self, input_tokens: int, output_tokens: int) -> None:
        self.tokens["input"] += input_tokens
        self.tokens["output"] += output_tokens

    def summary(self) -> dict[str, Any]:
        return {
            "calls": dict(self.calls),
            "errors": dict(self.errors),
            "tokens": dict(self.tokens),
            "feedback": dict(self.feedback),
            "issues": dict(self.issues),
            "validation": dict(self.validation),
            "planted": dict(self.planted),
            "unexpected_exceptions": self.unexpected,
        }


def _chat(client: Any, rec: Recorder, model: str, text: str, headers: dict[str, str], **kwargs: Any) -> Any:
    response = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": text}], extra_headers=headers, **kwargs
    )
    rec.usage(response.usage.prompt_tokens, response.usage.completion_tokens)
    return response


def _message(client: Any, rec: Recorder, text: str, headers: dict[str, str]) -> Any:
    message = client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=100,
        messages=[{"role": "user", "content": text}],
        extra_headers=headers,
    )
    usage = message.usage
    cached = (usage.cache_read_input_tokens or 0) + (usage.cache_creation_input_tokens or 0)
    rec.usage(usage.input_tokens + cached, usage.output_tokens)
    return message


def _openai_stream(client: Any, rec: Recorder) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Find the order status"}],
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=STREAM,
    )
    for chunk in stream:
        if chunk.usage:
            rec.usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)


def _anthropic_stream(client: Any, rec: Recorder) -> None:
    stream = client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=100,
        messages=[{"role": "user", "content": "Find the invoice"}],
        stream=True,
        extra_headers=STREAM,
    )
    input_tokens = output_tokens = 0
    for event in stream:
        if event.type == "message_start":
            input_tokens = event.message.usage.input_tokens
        elif event.type == "message_delta":
            output_tokens = event.usage.output_tokens
    rec.usage(input_tokens, output_tokens)


def primary_round(clients: dict[str, Any], mock: Any, rec: Recorder) -> None:
    """One round of the primary's calls (see the module docstring)."""
    import anthropic
    import openai

    import otel_llm
    from otel_llm import validators

    oai, ant = clients["openai"], clients["anthropic"]
    checks = (validators.json(), validators.max_length(200))

    with otel_llm.attributes(feature="support-reply", prompt_version="v1"), otel_llm.expect(*checks):
        good = rec.call(
            "valid_json",
            lambda: _chat(
                oai, rec, "gpt-4o-mini", "Answer as JSON", {**FAST, "x-mock-output": '{"answer": "yes"}'}
            ),
        )
    rec.validation["json:pass"] += 1
    rec.validation["max_length:pass"] += 1
    if good is not None:
        otel_llm.record_feedback(good, score=5, label="thumbs_up")
        rec.feedback["count"] += 1
        rec.feedback["score_sum"] += 5

    with otel_llm.attributes(feature="support-reply", prompt_version="v2"), otel_llm.expect(*checks):
        bad = rec.call(
            "invalid_json",
            lambda: _chat(
                oai, rec, "gpt-4o-mini", "Answer as JSON", {**FAST, "x-mock-output": "Sure, here it is"}
            ),
        )
    rec.validation["json:fail"] += 1
    rec.validation["max_length:pass"] += 1
    if bad is not None:
        otel_llm.record_feedback(bad, score=2, label="thumbs_down", edit_seconds=45, comment=FEEDBACK_COMMENT)
        otel_llm.report_issue(bad, category="wrong_format", description=ISSUE_DESCRIPTION)
        rec.feedback["count"] += 1
        rec.feedback["score_sum"] += 2
        rec.feedback["edit_seconds_sum"] += 45
        rec.issues["wrong_format"] += 1
        rec.planted.update({entity: 2 * n for entity, n in TEXT_ENTITIES.items()})

    with otel_llm.attributes(feature="summarise", prompt_version="v1"):
        summary = rec.call("anthropic_pii", lambda: _message(ant, rec, PII_PROMPT, FAST))
    rec.planted.update(PII_PROMPT_ENTITIES)
    if summary is not None:
        otel_llm.record_feedback(summary, score=4, edit_seconds=20)
        rec.feedback["count"] += 1
        rec.feedback["score_sum"] += 4
        rec.feedback["edit_seconds_sum"] += 20

    with otel_llm.attributes(feature="search"):
        cached = {**FAST, "x-mock-cached-tokens": "1024"}
        rec.call("openai_cached", lambda: _chat(oai, rec, "gpt-4o-mini", "Search the catalogue", cached))
        rec.call("openai_stream", lambda: _openai_stream(oai, rec))
        rec.call("anthropic_stream", lambda: _anthropic_stream(ant, rec))
        failing = {"x-mock-fault": "slow:0.05,500"}
        rec.call(
            "openai_500",
            lambda: _chat(oai, rec, "gpt-4o-mini", "Search again", failing),
            expected_error=openai.InternalServerError,
        )
        rec.call(
            "anthropic_500",
            lambda: _message(ant, rec, "Search again", failing),
            expected_error=anthropic.InternalServerError,
        )
        # The first attempt gets a 429 with retry-after 0.3 s, the SDK's retry succeeds.
        mock.fail_next(RETRY_AFTER)
        rec.call(
            "openai_retried", lambda: _chat(clients["openai_retrying"], rec, "gpt-4o-mini", "Retry me", FAST)
        )
        # Every attempt gets a 429: the SDK retries once, then raises.
        rec.call(
            "anthropic_rate_limited",
            lambda: _message(
                clients["anthropic_retrying"], rec, "Retry me", {"x-mock-fault": f"slow:0.05,{RETRY_AFTER}"}
            ),
            expected_error=anthropic.RateLimitError,
        )
        rec.call("unpriced", lambda: _chat(oai, rec, UNPRICED_MODEL, "Classify this", FAST))

    with otel_llm.attributes(feature="tenant-api"):
        with otel_llm.guard_key("tenant-a"):
            rec.call("tenant_allowed", lambda: _chat(oai, rec, "gpt-4o-mini", "Hello", FAST, max_tokens=50))
        with otel_llm.guard_key("tenant-bulk"):
            rec.call(
                "tenant_blocked",
                lambda: _chat(oai, rec, "gpt-4o", "Export everything", FAST, max_tokens=100_000),
                expected_error=otel_llm.BudgetExceededError,
            )


def replica_round(clients: dict[str, Any], mock: Any, rec: Recorder) -> None:
    """The misconfigured replica: two calls whose content is dropped and whose guard store is down."""
    rec.call("replica_openai", lambda: _chat(clients["openai"], rec, "gpt-4o-mini", PII_PROMPT, FAST))
    rec.call("replica_anthropic", lambda: _message(clients["anthropic"], rec, PII_PROMPT, FAST))


def budgets() -> list[Any]:
    import otel_llm

    return [
        # Below any call's worst case: every priced call warns (and still goes through).
        otel_llm.Budget(limit_usd=0.000001, window="month", action="warn", name="monthly-soft"),
        # Per request model, reached only by the blocked call's worst case (1 USD).
        otel_llm.Budget(limit_usd=1.0, window="day", scope="model", action="warn", name="daily-per-model"),
        # Per tenant key: a call that may spend up to 1 USD is blocked before it is sent.
        otel_llm.Budget(limit_usd=0.05, window="day", scope="key", action="block", name="per-tenant"),
    ]


def _instrument(role: str) -> None:
    import otel_llm

    if role == PRIMARY:
        otel_llm.instrument(capture_content="sampled", sample_rate=1.0, budgets=budgets())
    else:
        otel_llm.instrument(
            capture_content="sampled",
            sample_rate=1.0,
            rate_limits=[otel_llm.RateLimit(requests_per_minute=10_000, name="replica-rpm")],
        )


def _with_instance(role: str) -> None:
    """Sets service.instance.id (the `instance` label) before OpenTelemetry reads the resource."""
    current = os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    os.environ["OTEL_RESOURCE_ATTRIBUTES"] = ",".join(
        part for part in (current, f"service.instance.id={role}") if part
    )


def _start_replica(args: argparse.Namespace, summary: Path) -> subprocess.Popen[bytes]:
    from otel_llm.testing.stack import free_port

    env = {
        **os.environ,
        # Nothing listens there: every guard store operation fails at once.
        "OTEL_LLM_GUARD_STORE": f"redis://127.0.0.1:{free_port()}/0",
        "OTEL_LLM_SPACY_MODEL": str(Path(__file__).parent / "no-such-spacy-pipeline"),
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "otel_llm.testing.dashboard_workload",
            f"--role={REPLICA}",
            f"--rounds={args.rounds}",
            f"--round-seconds={args.round_seconds}",
            f"--summary={summary}",
        ],
        env=env,
    )


@contextmanager
def exporting_every(seconds: float) -> Iterator[None]:
    """Exports all telemetry every `seconds` from a background thread while the block runs."""
    import otel_llm

    stop = threading.Event()

    def export() -> None:
        while not stop.wait(seconds):
            otel_llm.flush(5 * seconds)

    thread = threading.Thread(target=export, name="dashboard-workload-export", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def run(role: str, rounds: int, round_seconds: float) -> dict[str, Any]:
    import anthropic
    import openai

    import otel_llm
    from otel_llm.testing import MockProvider

    _with_instance(role)
    # No periodic exports: exporting_every() decides when the metrics are exported.
    os.environ["OTEL_METRIC_EXPORT_INTERVAL"] = str(24 * 3600 * 1000)
    _instrument(role)
    rec = Recorder()
    with MockProvider() as mock:
        mock.response_model_overrides.update(RESPONSE_MODELS)
        clients = {
            "openai": openai.OpenAI(base_url=mock.openai_base_url, api_key="workload", max_retries=0),
            "anthropic": anthropic.Anthropic(
                base_url=mock.anthropic_base_url, api_key="workload", max_retries=0
            ),
            "openai_retrying": openai.OpenAI(
                base_url=mock.openai_base_url, api_key="workload", max_retries=1
            ),
            "anthropic_retrying": anthropic.Anthropic(
                base_url=mock.anthropic_base_url, api_key="workload", max_retries=1
            ),
        }
        # Waits for the redactor to load, so content is exported as the calls happen.
        otel_llm.flush(120)
        one_round = primary_round if role == PRIMARY else replica_round
        started = time.time()
        # Prometheus' increase() never counts what a series held at its first sample: a warm-up
        # round creates every series, exported at once, and only what follows is measured.
        one_round(clients, mock, rec)
        otel_llm.flush(60)
        with exporting_every(EXPORT_SECONDS):
            time.sleep(SETTLE_SECONDS)
            measured_from = time.time()
            for index in range(rounds):
                due = measured_from + index * round_seconds
                if due > time.time():
                    time.sleep(due - time.time())
                one_round(clients, mock, rec)
            measured_to = time.time()
            time.sleep(TAIL_SECONDS)
        flushed = otel_llm.flush(60)
    return {
        "role": role,
        "rounds": rounds,
        "warmup_rounds": 1,
        "started_at": started,
        "measured_from": measured_from,
        "measured_to": measured_to,
        "finished_at": time.time(),
        "flushed": flushed,
        "budgets": [
            {"name": b.label, "window": b.window, "scope": b.scope, "limit_usd": b.limit_usd}
            for b in (budgets() if role == PRIMARY else [])
        ],
        **rec.summary(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--round-seconds", type=float, default=ROUND_SECONDS)
    parser.add_argument("--role", choices=(PRIMARY, REPLICA), default=PRIMARY)
    parser.add_argument("--summary", type=Path, required=True, help="write the JSON summary here")
    args = parser.parse_args(argv)
    if args.role == REPLICA:
        args.summary.write_text(json.dumps(run(REPLICA, args.rounds, args.round_seconds)))
        return 0
    replica_summary = args.summary.with_name(args.summary.stem + "-replica.json")
    replica = _start_replica(args, replica_summary)
    summary = run(PRIMARY, args.rounds, args.round_seconds)
    code = replica.wait(timeout=args.rounds * args.round_seconds + 180)
    summary["replica"] = json.loads(replica_summary.read_text()) if code == 0 else {"exit_code": code}
    args.summary.write_text(json.dumps(summary, indent=2))
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

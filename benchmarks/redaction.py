"""Redaction throughput: Presidio's default configuration against otel_llm.redaction, on the frozen
PII corpus (tests/data/pii_corpus.json). Numbers are printed, never asserted.

    python benchmarks/redaction.py              # about a minute on 2 cores
    python benchmarks/redaction.py --repeat 3   # fewer repetitions

"Default" is Presidio as a user sets it up offline: AnalyzerEngine with its default recognizer
registry and a blank English spaCy pipeline saved to disk, analyze() with its defaults, then the
default AnonymizerEngine, one text at a time. "Ours" is Redactor(RedactionSettings()) with its
defaults. Times are CPU time of this process (min over repetitions), so other load on the machine
disturbs them less. KB is 1024 bytes of UTF-8.

Workloads:
- cold, per call: every corpus text once, in calls of 4 texts (what the content worker hands over
  for one LLM call), caches cleared before each repetition;
- cold, one batch: every corpus text once in a single redact() (a worker draining a full queue);
- chat replay: 8 conversations of 6 turns built from the corpus; every call sends the system
  prompt and the whole history again, as chat APIs do, and the answer comes back. Default
  redacts everything it is sent; ours keeps its cache (system prompts and history repeat);
- the cold rows by kind of text, one text per call.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

from otel_llm.redaction import SECRET_ENTITIES, RedactionSettings, Redactor  # sets the tldextract env first

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "pii_corpus.json"
CALL_SIZE = 4
CONVERSATIONS, TURNS = 8, 6


def kib(texts: list[str]) -> float:
    return sum(len(t.encode()) for t in texts) / 1024


def best_cpu_seconds(
    run: Callable[[], object], repeat: int, before: Callable[[], object] = lambda: None
) -> float:
    run()  # warm up: regular expressions compile on first use
    times = []
    for _ in range(repeat):
        before()
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return min(times)


def interleaved(entries: list[dict]) -> list[str]:
    """Corpus texts in round-robin order of their kind, so each call mixes kinds as a real one does."""
    by_kind: dict[str, list[str]] = {}
    for entry in entries:
        by_kind.setdefault(entry["kind"], []).append(entry["text"])
    queues = list(by_kind.values())
    out: list[str] = []
    while any(queues):
        for queue in queues:
            if queue:
                out.append(queue.pop(0))
    return out


def chat_calls(entries: list[dict]) -> list[list[str]]:
    """Texts redacted per call in a chat replay: inputs (system prompt + history + new message)
    and the output of each call."""
    kinds: dict[str, list[str]] = {}
    for entry in entries:
        kinds.setdefault(entry["kind"], []).append(entry["text"])
    users = kinds["user_message"] + kinds["tool_arguments"]
    answers = kinds["model_output"] + kinds["provider_error"]
    calls = []
    for c in range(CONVERSATIONS):
        history: list[str] = []
        system = kinds["system_prompt"][c % len(kinds["system_prompt"])]
        for t in range(TURNS):
            user = users[(c * TURNS + t) % len(users)]
            answer = answers[(c * TURNS + t) % len(answers)]
            calls.append([system, *history, user])
            calls.append([answer])
            history += [user, answer]
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=7, help="timed repetitions per row (min is reported)")
    args = parser.parse_args()

    import spacy
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
    from presidio_anonymizer import AnonymizerEngine

    entries = json.loads(CORPUS.read_text(encoding="utf-8"))["texts"]
    texts = interleaved(entries)
    planted = sum(len(e["planted"]) for e in entries)
    print(
        f"corpus: {len(texts)} texts, {kib(texts):.1f} KB, {planted} planted values; presidio-analyzer "
        f"{version('presidio-analyzer')}, spacy {version('spacy')}, phonenumbers {version('phonenumbers')}"
    )

    with tempfile.TemporaryDirectory() as tmp:
        spacy.blank("en").to_disk(Path(tmp) / "blank_en")
        analyzer = AnalyzerEngine(
            nlp_engine=SpacyNlpEngine(models=[{"lang_code": "en", "model_name": str(Path(tmp) / "blank_en")}])
        )
    anonymizer = AnonymizerEngine()
    ours = Redactor(RedactionSettings())

    def default(batch: list[str]) -> list[str]:
        return [anonymizer.anonymize(t, analyzer.analyze(t, language="en")).text for t in batch]

    # the same findings, first: every planted value gone, and at threshold 0 (all findings)
    # exactly Presidio's spans for its entities
    redacted = ours.redact([e["text"] for e in entries]).texts
    left = sum(p["value"] in r for e, r in zip(entries, redacted, strict=True) for p in e["planted"])
    all_findings = Redactor(RedactionSettings(score_threshold=0.0)).analyze([e["text"] for e in entries])
    ours_spans = {
        (i, r.start, r.end, r.entity_type)
        for i, rs in enumerate(all_findings)
        for r in rs
        if r.entity_type not in SECRET_ENTITIES
    }
    default_spans = {
        (i, r.start, r.end, r.entity_type)
        for i, e in enumerate(entries)
        for r in analyzer.analyze(e["text"], language="en")
    }
    print(
        f"planted values left: ours {left}; findings at threshold 0: default {len(default_spans)}, "
        f"ours {len(ours_spans)} (+secrets), identical: {ours_spans == default_spans}"
    )

    calls = [texts[i : i + CALL_SIZE] for i in range(0, len(texts), CALL_SIZE)]
    replay = chat_calls(entries)
    replay_kib = sum(kib(call) for call in replay)
    rows = [
        (
            "cold, per call of 4 texts",
            kib(texts),
            lambda: [default(c) for c in calls],
            lambda: [ours.redact(c) for c in calls],
            ours.clear_caches,
        ),
        (
            "cold, one batch",
            kib(texts),
            lambda: default(texts),
            lambda: ours.redact(texts),
            ours.clear_caches,
        ),
        (
            f"chat replay ({len(replay)} calls)",
            replay_kib,
            lambda: [default(c) for c in replay],
            lambda: [ours.redact(c) for c in replay],
            ours.clear_caches,
        ),
    ]
    for kind in ("system_prompt", "user_message", "tool_arguments", "model_output", "provider_error"):
        of_kind = [e["text"] for e in entries if e["kind"] == kind]
        rows.append(
            (
                f"  cold, {kind}, one per call",
                kib(of_kind),
                lambda of_kind=of_kind: default(of_kind),
                lambda of_kind=of_kind: [ours.redact([t]) for t in of_kind],
                ours.clear_caches,
            )
        )
    print(f"\n{'workload':40s} {'KB':>6s} {'default KB/s':>13s} {'ours KB/s':>10s} {'ratio':>6s}")
    for name, size, run_default, run_ours, clear in rows:
        d = best_cpu_seconds(run_default, max(2, args.repeat // 2))
        o = best_cpu_seconds(run_ours, args.repeat, before=clear)
        print(f"{name:40s} {size:6.1f} {size / d:13.0f} {size / o:10.0f} {d / o:5.1f}x")
    fresh = Redactor(RedactionSettings())
    for call in replay:
        fresh.redact(call)
    sent = sum(map(len, replay))
    print(
        f"\nchat replay: ours analysed {fresh.analyzed_texts} of the {sent} texts sent, {fresh.cache_hits} from its cache"
    )


if __name__ == "__main__":
    main()

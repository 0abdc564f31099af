"""Redaction throughput: Presidio's default configuration against otel_llm.redaction, on the frozen
PII corpus (tests/data/pii_corpus.json). Numbers are printed, never asserted.

    python benchmarks/redaction.py              # about a minute on 2 cores
    python benchmarks/redaction.py --repeat 3   # fewer repetitions

"Default" is Presidio as a user sets it up offline: AnalyzerEngine with its default recognizer
registry and a blank English spaCy pipeline saved to disk, analyze() with its defaults, then the
default AnonymizerEngine, one text at a time. "Ours" is Redactor(RedactionSettings()) with its
defaults. Times are CPU time of this process, the minimum over repetitions in which the two
alternate, so other load on the machine and changes in its speed disturb the ratio less. KB is 1024
bytes of UTF-8.

Workloads:
- cold, per call: every corpus text once, in calls of 4 texts (what the content worker hands over
  for one LLM call when it keeps up), caches cleared before each repetition;
- cold, queued calls: every corpus text once in a single redact() (what the worker does under
  load: the calls queued while it was busy, up to 32, go through in one pass);
- chat replay: 8 conversations of 6 turns built from the corpus; every call sends the system
  prompt and the whole history again, as chat APIs do, and the answer comes back. Default
  redacts everything it is sent; ours keeps its cache (system prompts and history repeat);
- the cold rows by kind of text, one text per call.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import phonenumbers

from otel_llm.redaction import SECRET_ENTITIES, RedactionSettings, Redactor  # sets the tldextract env first

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "pii_corpus.json"
CALL_SIZE = 4
CONVERSATIONS, TURNS = 8, 6


def kib(texts: list[str]) -> float:
    return sum(len(t.encode()) for t in texts) / 1024


def cpu_seconds(run: Callable[[], object]) -> float:
    start = time.process_time()
    run()
    return time.process_time() - start


@contextlib.contextmanager
def presidio_default_phonenumbers():
    """phonenumbers as Presidio's default configuration has it: without the process-wide pattern
    cache our Redactor turns on (phonenumbers then recompiles metadata patterns that fell out of
    re's cache of 512)."""
    saved = getattr(phonenumbers.re_util, "_COMPILED_PATTERNS", None)
    phonenumbers.re_util._COMPILED_PATTERNS = None
    try:
        yield
    finally:
        phonenumbers.re_util._COMPILED_PATTERNS = saved


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
    parser.add_argument("--repeat", type=int, default=5, help="timed repetitions per row (min is reported)")
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

    def default(batch: list[str]) -> list[str]:
        return [anonymizer.anonymize(t, analyzer.analyze(t, language="en")).text for t in batch]

    calls = [texts[i : i + CALL_SIZE] for i in range(0, len(texts), CALL_SIZE)]
    replay = chat_calls(entries)
    replay_kib = sum(kib(call) for call in replay)
    # (name, KB, default's batches, ours: one redact() per batch)
    rows = [
        ("cold, per call of 4 texts", kib(texts), calls),
        ("cold, queued calls in one pass", kib(texts), [texts]),
        (f"chat replay ({len(replay)} calls)", replay_kib, replay),
    ]
    for kind in ("system_prompt", "user_message", "tool_arguments", "model_output", "provider_error"):
        of_kind = [e["text"] for e in entries if e["kind"] == kind]
        rows.append((f"  cold, {kind}, one per call", kib(of_kind), [[t] for t in of_kind]))

    ours = Redactor(RedactionSettings())
    # the same findings: every planted value gone, and at threshold 0 (all findings) exactly
    # Presidio's spans for its entities
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

    print(f"\n{'workload':40s} {'KB':>6s} {'default KB/s':>13s} {'ours KB/s':>10s} {'ratio':>6s}")
    for name, size, batches in rows:
        # alternate the two, so a change in the machine's speed meets both
        d = o = float("inf")
        for _ in range(args.repeat):
            with presidio_default_phonenumbers():
                d = min(d, cpu_seconds(lambda batches=batches: [default(b) for b in batches]))
            ours.clear_caches()
            o = min(o, cpu_seconds(lambda batches=batches: [ours.redact(b) for b in batches]))
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

"""The `otel-llm` command (also `python -m otel_llm.cli`).

    otel-llm doctor [--json] [--model [PROVIDER:]MODEL ...] [--prometheus URL] [--ignore CHECK ...]
    otel-llm prices MODEL [--provider P] [--json]
    otel-llm demo
    otel-llm mock-provider [--host H] [--port P]
    otel-llm review export ...

Exit codes: 0 fine, 1 a problem found (doctor) or no price (prices), 2 a usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

from . import doctor
from .config import ConfigError, load_settings
from .cost import _PRICE_PROVIDER, PriceBook
from .version import __version__

_MARKERS = {
    doctor.OK: "ok     ",
    doctor.INFO: "info   ",
    doctor.WARN: "warn   ",
    doctor.PROBLEM: "PROBLEM",
    doctor.IGNORED: "ignored",
}
_INDENT = " " * 10
EXAMPLE_TOKENS = 1_000


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (value > 0 and math.isfinite(value)):  # NaN fails `> 0`
        raise argparse.ArgumentTypeError("give a finite number of seconds above 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otel-llm", description="OpenTelemetry observability for LLM apps: checks and tools."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser(
        "doctor",
        help="check settings, exporters, provider SDKs, redaction, prices and the guard store",
        description=doctor.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("--json", action="store_true", help="print one JSON object and nothing else")
    check.add_argument(
        "--model",
        action="extend",
        nargs="+",
        default=[],
        metavar="[PROVIDER:]MODEL",
        help="a model the app calls, checked for a price (repeatable)",
    )
    check.add_argument(
        "--prometheus", metavar="URL", help="check the prices of every model this Prometheus saw in 7 days"
    )
    check.add_argument(
        "--ignore",
        action="extend",
        nargs="+",
        default=[],
        choices=doctor.CHECK_IDS,
        metavar="CHECK_ID",
        help=f"report this check's problem as ignored, not in the exit code ({', '.join(doctor.CHECK_IDS)})",
    )
    check.add_argument(
        "--timeout",
        type=positive_seconds,
        default=3.0,
        metavar="SECONDS",
        help="for each network probe (default: %(default)s)",
    )
    check.set_defaults(handler=_doctor)

    prices = commands.add_parser("prices", help="a model's price per million tokens, and where it comes from")
    prices.add_argument("model", metavar="MODEL", help="a model name, or PROVIDER:MODEL")
    prices.add_argument(
        "--provider",
        choices=sorted(_PRICE_PROVIDER),
        metavar="PROVIDER",
        help="gen_ai.provider.name (openai, anthropic, ...); default: from the model name",
    )
    prices.add_argument("--json", action="store_true", help="print one JSON object")
    prices.set_defaults(handler=_prices)

    demo = commands.add_parser("demo", help="the whole pipeline on this machine (needs a source checkout)")
    demo.set_defaults(handler=_demo)

    # Its options belong to otel_llm.testing's own parser: everything after the name goes there.
    mock = commands.add_parser(
        "mock-provider", help="run the mock OpenAI/Anthropic server ([--host H] [--port P])", add_help=False
    )
    mock.set_defaults(handler=_mock_provider, passes_arguments_on=True)

    review = commands.add_parser("review", help="review samples")
    review_commands = review.add_subparsers(dest="review_command", required=True, metavar="COMMAND")
    export = review_commands.add_parser("export", help="export review samples", add_help=False)
    export.set_defaults(handler=_review_export, passes_arguments_on=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and not getattr(args, "passes_arguments_on", False):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return args.handler(args, rest)


# -- doctor ----------------------------------------------------------------------------------------


def _doctor(args: argparse.Namespace, rest: list[str]) -> int:
    def progress(message: str) -> None:
        if not args.json:
            print(message, file=sys.stderr, flush=True)

    options = doctor.DoctorOptions(
        models=args.model,
        prometheus_url=args.prometheus,
        timeout=args.timeout,
        ignore=args.ignore,
        progress=progress,
    )
    if args.json:
        # Whatever a loaded library prints must not break the one JSON object on stdout.
        with contextlib.redirect_stdout(sys.stderr):
            results = doctor.run_checks(options)
        checks = [result.as_dict() for result in results]
        print(json.dumps({"ok": not doctor.has_problems(results), "checks": checks}, indent=2))
    else:
        results = doctor.run_checks(options)
        print(format_report(results))
    return 1 if doctor.has_problems(results) else 0


def format_report(results: Sequence[doctor.CheckResult]) -> str:
    lines = []
    for result in results:
        lines.append(f"{_MARKERS[result.status]} {result.id}: {result.summary}")
        lines += [f"{_INDENT}{detail}" for detail in result.details]
        if result.advice:
            first, *more = result.advice.splitlines()
            lines.append(f"{_INDENT}fix: {first}")
            lines += [f"{_INDENT}     {line}" for line in more]
    counts = {status: sum(r.status == status for r in results) for status in _MARKERS}
    final = f"{counts[doctor.PROBLEM]} problem(s), {counts[doctor.WARN]} warning(s)"
    if counts[doctor.IGNORED]:
        final += f", {counts[doctor.IGNORED]} ignored"
    return "\n".join([*lines, final])


# -- prices ----------------------------------------------------------------------------------------


def _prices(args: argparse.Namespace, rest: list[str]) -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"otel-llm: invalid setting: {exc}", file=sys.stderr)
        return 1
    provider, model = doctor.split_model(args.model)
    if args.provider and not args.model.startswith(f"{provider}:"):
        provider = args.provider
    library_version = importlib.metadata.version("genai-prices")
    book = PriceBook(settings.price_overrides)
    rates = book.rates(provider, model)
    if rates is None:
        advice = doctor.price_snippet([model], settings.config_file)
        message = f"{provider}:{model} has no price in genai-prices {library_version} and no override"
        if args.json:
            print(
                json.dumps(
                    {"provider": provider, "model": model, "priced": False, "advice": advice}, indent=2
                )
            )
        else:
            print(f"{message}.\nTo price it, {advice}")
        return 1

    cost = book.cost(provider, model, EXAMPLE_TOKENS, EXAMPLE_TOKENS)
    example_usd = cost.usd if cost is not None else 0.0
    per_mtok = {
        "input": doctor.per_mtok(rates.input),
        "output": doctor.per_mtok(rates.output),
        "cache_read": doctor.per_mtok(rates.cache_read),
        "cache_write": doctor.per_mtok(rates.cache_write),
    }
    source = (
        f"override in {settings.config_file}"
        if rates.source == "override"
        else f"genai-prices {library_version}"
    )
    if args.json:
        report: dict[str, Any] = {
            "provider": provider,
            "model": model,
            "priced": True,
            "source": rates.source,
            "genai_prices_version": library_version,
            "config_file": settings.config_file,
            "usd_per_mtok": per_mtok,
            "tiered": doctor.is_tiered(rates),
            "example": {"input_tokens": EXAMPLE_TOKENS, "output_tokens": EXAMPLE_TOKENS, "usd": example_usd},
        }
        print(json.dumps(report, indent=2))
        return 0
    print(f"{provider}:{model} (source: {source})")
    print("  USD per 1M tokens")
    for label, key in (
        ("input", "input"),
        ("output", "output"),
        ("cache read", "cache_read"),
        ("cache write", "cache_write"),
    ):
        value = per_mtok[key]
        print(
            f"    {label:<12} {value:g}"
            if value is not None
            else f"    {label:<12} not listed (billed as input)"
        )
    if doctor.is_tiered(rates):
        print("  tiered: rates rise above an input-token threshold; the base rates are shown")
    print(f"  example: {EXAMPLE_TOKENS:,} input + {EXAMPLE_TOKENS:,} output tokens cost ${example_usd:.6f}")
    return 0


# -- commands that live elsewhere ------------------------------------------------------------------


def _demo(args: argparse.Namespace, rest: list[str]) -> int:
    from .demo import main as demo_main

    return demo_main()


def _mock_provider(args: argparse.Namespace, rest: list[str]) -> int:
    from .testing.__main__ import main as mock_provider_main

    return mock_provider_main(rest, prog="otel-llm mock-provider")


def _review_export(args: argparse.Namespace, rest: list[str]) -> int:
    # Imported only here, so every other command works even when this module cannot be imported.
    from . import review_export

    parser = argparse.ArgumentParser(prog="otel-llm review export", description="Export review samples.")
    review_export.configure_parser(parser)
    return review_export.run(parser.parse_args(rest))


if __name__ == "__main__":
    raise SystemExit(main())

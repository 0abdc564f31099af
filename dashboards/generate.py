"""Writes otel-llm's Grafana dashboards to dashboards/json/ (`make dashboards`).

    .venv/bin/python dashboards/generate.py [--out DIR]

The dashboards are code (dashboards/otel_llm_dashboards/); the JSON is generated, committed, and
checked by tests/test_dashboards.py, which also runs every query against a real Prometheus.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from otel_llm_dashboards import DASHBOARDS, render  # noqa: E402


def generate(out: Path) -> list[Path]:
    """Writes one `<uid>.json` per dashboard into `out`, removing JSON files of dashboards that no
    longer exist; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for uid, build in DASHBOARDS.items():
        path = out / f"{uid}.json"
        path.write_text(render(build()), encoding="utf-8")
        written.append(path)
    for stale in set(out.glob("*.json")) - set(written):
        stale.unlink()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=HERE / "json", help="output directory (default: dashboards/json)"
    )
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

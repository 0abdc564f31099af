"""``python -m otel_llm.testing``: run the mock LLM provider in the foreground until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Sequence

from ._server import MockProvider


def main(argv: Sequence[str] | None = None, prog: str = "python -m otel_llm.testing") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Mock LLM provider speaking the OpenAI, Azure OpenAI and Anthropic (Vertex, Bedrock) APIs.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=8000, help="port, 0 for a free one (default: %(default)s)"
    )
    args = parser.parse_args(argv)

    stop = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    mock = MockProvider(host=args.host, port=args.port).start()
    try:
        print(f"mock provider listening on {mock.url}", flush=True)
        while not stop.wait(0.2):  # a timed wait keeps signal delivery prompt on every platform
            pass
    finally:
        mock.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

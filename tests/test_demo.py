"""`make demo` runs the main job end to end: it must show metrics, a trace and an alert, then stop
everything it started."""

from __future__ import annotations

import os
import subprocess
import sys

from otel_llm.testing.stack import REPO


def test_demo_shows_metrics_a_trace_and_an_alert_then_stops_everything():
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["DEMO_SECONDS"] = "12"
    result = subprocess.run(
        [sys.executable, "-m", "otel_llm.demo"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    out = result.stdout
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Metrics in Prometheus" in out
    assert "gpt-4o-mini" in out and "InternalServerError" in out
    assert "gen_ai.usage.input_tokens" in out  # the trace from the collector's output
    assert "mean score for feature support-reply (prompt v3): 0.50" in out  # feedback scores 0,1,0,1
    assert "issue reports (wrong_answer):" in out
    assert "Review samples: " in out and "otel-llm review export " in out
    assert "ALERT FIRING: HighErrorRate" in out
    # Content capture `sampled`: the failed calls at least, with the planted e-mail redacted.
    assert "Content records" in out and "jane.doe@example.com" not in out
    assert "runbook:" in out
    assert "Everything the demo started has been stopped." in out
    workdir = out.split("working directory ", 1)[1].split(")", 1)[0]
    assert _processes_mentioning(workdir) == []


def _processes_mentioning(text: str) -> list[str]:
    """Command lines of running processes that contain `text` (the demo's services name its directory)."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                    command = handle.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in command:
                found.append(command)
    return found

"""`import otel_llm.auto` instruments every installed provider SDK with settings from the environment."""

from . import instrument

instrument()

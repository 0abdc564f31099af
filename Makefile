# Developer interface: `make demo`, `make test`, `make bench`, `make lint`.
# Each target does its own set-up (virtual environment and pip installs), reusing what exists.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Provider tests also run against the oldest supported SDKs and wrapt 1.x.
COMPAT := .cache/venv-compat
COMPAT_PINS := "openai==3.0.0" "anthropic==2.0.0" "wrapt>=1.14,<2"
PROVIDER_TESTS := tests/test_openai.py tests/test_anthropic.py tests/test_streams.py tests/test_errors.py

.PHONY: demo test test-main test-compat bench lint

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

$(COMPAT)/.installed: pyproject.toml
	$(PYTHON) -m venv $(COMPAT)
	$(COMPAT)/bin/python -m pip install -q --upgrade pip
	$(COMPAT)/bin/python -m pip install -q -e '.[dev]' $(COMPAT_PINS)
	touch $@

demo: $(VENV)/.installed
	$(PY) -m otel_llm.demo

test: test-main test-compat

test-main: $(VENV)/.installed
	$(PY) -m pytest -q

test-compat: $(COMPAT)/.installed
	$(COMPAT)/bin/python -m pytest -q $(PROVIDER_TESTS)

bench: $(VENV)/.installed
	$(PY) benchmarks/overhead.py

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check otel_llm tests benchmarks examples

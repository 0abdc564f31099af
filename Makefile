# Developer interface: `make demo`, `make test`, `make bench`, `make lint`, `make collector`,
# `make dashboards`, `make alerts`.
# Each target does its own set-up (virtual environment, pip and apt installs, the collector
# build), reusing what exists.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Provider tests also run against the oldest supported SDKs and wrapt 1.x.
COMPAT := .cache/venv-compat
COMPAT_PINS := "openai==3.0.0" "anthropic==2.0.0" "wrapt>=1.14,<2"
PROVIDER_TESTS := tests/test_openai.py tests/test_anthropic.py tests/test_streams.py tests/test_errors.py

.PHONY: demo test test-main test-compat bench lint collector system-packages dashboards alerts
# Debian packages for the real stack: Prometheus 2.42 + promtool, Alertmanager 0.25 + amtool,
# docker-compose 1.29 (to validate docker-compose.yml without an engine), redis-server 7.0 (the
# guard store's tests start their own on a free loopback port).
SYSTEM_COMMANDS := prometheus promtool prometheus-alertmanager amtool docker-compose openssl redis-server
SYSTEM_PACKAGES := prometheus prometheus-alertmanager docker-compose openssl redis-server
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

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

system-packages:
	@missing=""; for c in $(SYSTEM_COMMANDS); do command -v $$c >/dev/null || missing=1; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing $(SYSTEM_PACKAGES) with apt"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES) >/dev/null; \
	fi

# Built once per builder manifest into a cache outside the checkout, linked to .cache/bin/otelcol-llm.
collector:
	@bash collector/build.sh

demo: $(VENV)/.installed system-packages collector
	$(PY) -m otel_llm.demo

test: test-main test-compat

test-main: $(VENV)/.installed system-packages collector
	$(PY) -m pytest -q

test-compat: $(COMPAT)/.installed
	$(COMPAT)/bin/python -m pytest -q $(PROVIDER_TESTS)

bench: $(VENV)/.installed system-packages collector
	$(PY) benchmarks/overhead.py
	$(PY) benchmarks/outage.py
	$(PY) benchmarks/redaction.py
	$(PY) benchmarks/capture.py
	$(PY) benchmarks/guards.py

# Regenerate the committed Grafana JSON (dashboards/json/) and alert rules (alerts/rules/) from
# their code; tests fail when the committed files are stale.
dashboards: $(VENV)/.installed
	$(PY) dashboards/generate.py

alerts: $(VENV)/.installed
	$(PY) alerts/generate.py

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check otel_llm tests benchmarks examples dashboards alerts

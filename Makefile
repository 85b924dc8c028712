# banwatch: `make demo` runs the main job, `make test` the whole test suite.
# Both set up what they need (.venv, system packages) themselves.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
POLICY := inventory/example/policy

.PHONY: setup demo test unit integration lint bench clean

setup: $(STAMP)

$(STAMP): agent/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e 'agent[dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/python tests/demo_local.py

test: setup lint
	$(BIN)/pytest tests

unit: setup
	$(BIN)/pytest tests/unit

lint: setup
	$(BIN)/ruff check agent tests bench
	$(BIN)/banwatch policy check $(POLICY) > /dev/null

bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache

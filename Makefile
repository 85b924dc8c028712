# banwatch: `make demo` runs the main job, `make test` the whole test suite.
# Both set up what they need (the .venv, system packages) themselves.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
POLICY := inventory/example/policy
# Debian packages the lab and the tests need; installed when missing (root, or sudo).
SYSTEM_PACKAGES := openssh-server
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: setup system demo test unit integration lint bench clean

setup: system $(STAMP)

system:
	@missing=""; for pkg in $(SYSTEM_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q "ok installed" || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing system packages:$$missing"; \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(STAMP): agent/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e 'agent[dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/banwatch policy check $(POLICY)
	@echo
	@echo "== scan of this machine against $(POLICY)"
	@$(BIN)/banwatch scan --policy $(POLICY); status=$$?; [ $$status -le 1 ]

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

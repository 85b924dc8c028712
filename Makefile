# banwatch: `make demo` runs the main job, `make test` the whole test suite.
# Both set up what they need (the .venv, system packages) themselves.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The agent's dependency wheels (and pip), downloaded once: devices install offline from them.
WHEELS := .cache/wheels
WHEELS_STAMP := $(WHEELS)/.complete
POLICY := inventory/example/policy
# Debian packages the lab and the tests need; installed when missing (root, or sudo).
SYSTEM_PACKAGES := openssh-server python3-apt
# The fleet report's test renders it in headless Chromium.
SYSTEM_PACKAGES += chromium
# newuidmap and newgidmap: the lab's isolated endpoints for a user without root; python3-venv:
# the virtualenv of the system's Python those tests make where this one is root's alone.
SYSTEM_PACKAGES += uidmap python3-venv
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: setup system demo test unit agent-tests integration lint role-docs collection bench clean

setup: system $(STAMP) $(WHEELS_STAMP)

system:
	@missing=""; for pkg in $(SYSTEM_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q "ok installed" || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing system packages:$$missing"; \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(STAMP): agent/pyproject.toml tests/lab/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e 'agent[control,dev]' -e tests/lab
	touch $(STAMP)

$(WHEELS_STAMP): agent/pyproject.toml $(STAMP)
	mkdir -p $(WHEELS)
	$(BIN)/pip download --quiet --only-binary=:all: --dest $(WHEELS) pip \
	    $$($(BIN)/python -c "import tomllib; print(' '.join(tomllib.load(open('agent/pyproject.toml', 'rb'))['project']['dependencies']))")
	touch $(WHEELS_STAMP)

LAB_DIR := .lab
LAB_INVENTORY := inventory/lab/hosts.yml
# The example inventory's managed devices (phones, Windows laptops, Macs) and where make demo exports for them.
EXAMPLE_INVENTORY := inventory/example/hosts.yml
MANAGED_OUT := $(LAB_DIR)/managed
# The managers' API stand-ins the demo pushes to (banwatch-lab standins), and the push's variables they write.
STANDINS := $(LAB_DIR)/standins
LAB := $(BIN)/banwatch-lab
# The lab writes its fleet configuration, so `banwatch fleet` finds its store, inventory and drop box.
FLEET_CONFIG := $(CURDIR)/$(LAB_DIR)/fleet.yml
# The Ansible collection banwatch.deploy (roles/ and playbooks/ link into it; roles/README.md).
# Its playbooks run by their full names (banwatch.deploy.site) through ansible.cfg's collections_path.
COLLECTION := ansible_collections/banwatch/deploy
COLLECTION_OUT := build/collection

# Whether this user can have the lab's isolated endpoints (root, or user namespaces and
# subordinate ids); stdlib only, so it runs before the setup.
LAB_PREFLIGHT := $(PYTHON) -I -S tests/lab/banwatch_lab/preflight.py

# The operator's job end to end on the fleet lab: a fresh lab, banned apps planted on some
# endpoints, the agent, collector and policies deployed through Ansible, every agent reporting
# through the collector, and the fleet view of the result. Where the lab cannot isolate its
# endpoints, it says what it needs before anything is set up or started.
demo:
	@$(LAB_PREFLIGHT)
	@$(MAKE) --no-print-directory setup
	@$(LAB) down --dir $(LAB_DIR) >/dev/null
	@# The stand-ins start again from the inventory as it is now (their state outlives a lab's down).
	@rm -rf $(STANDINS)
	$(LAB) up --dir $(LAB_DIR) --inventory $(LAB_INVENTORY)
	@echo
	@echo "== planting banned apps: TikTok on lab-ep-01 (general), lab-ep-05 (press_office, exempted"
	@echo "   by EX-2026-014) and lab-ep-06 (classified, never exemptable); the tiktok-desktop package on lab-ep-03"
	@$(LAB) run lab-ep-01 --dir $(LAB_DIR) --as TikTok -- sleep infinity >/dev/null
	@$(LAB) run lab-ep-05 --dir $(LAB_DIR) --as TikTok -- sleep infinity >/dev/null
	@$(LAB) run lab-ep-06 --dir $(LAB_DIR) --as "TikTok LIVE Studio" -- sleep infinity >/dev/null
	@$(LAB) install-package lab-ep-03 tiktok-desktop 2.1.0 --dir $(LAB_DIR)
	@rm -rf $(LAB_DIR)/fleet.db* $(LAB_DIR)/fleet-ingested $(LAB_DIR)/fleet-refused
	@echo
	@echo "== deploying: the agent on every endpoint, the collector's drop box, each endpoint's signed policy"
	$(BIN)/ansible-playbook -i $(LAB_INVENTORY) banwatch.deploy.site
	@echo "== every agent scans now, signs its report and ships it to the collector"
	$(BIN)/ansible-playbook -i $(LAB_INVENTORY) banwatch.deploy.report_now
	@echo "== the fleet view: reports ingested from the collector's drop box into the fleet store"
	@# As the lab's root, who may read the reports (the drop box user's) in a lab started without root.
	@BANWATCH_FLEET_CONFIG=$(FLEET_CONFIG) $(LAB) as-root --dir $(LAB_DIR) -- $(BIN)/banwatch fleet ingest; [ $$? -le 1 ]
	@echo
	@BANWATCH_FLEET_CONFIG=$(FLEET_CONFIG) $(BIN)/banwatch fleet status; [ $$? -le 1 ]
	@echo
	@BANWATCH_FLEET_CONFIG=$(FLEET_CONFIG) $(BIN)/banwatch fleet exemptions; [ $$? -le 1 ]
	@BANWATCH_FLEET_CONFIG=$(FLEET_CONFIG) $(BIN)/banwatch fleet report --html $(LAB_DIR)/fleet.html
	@echo
	@echo "== the managed phones, Windows laptops and Macs: each manager's documents, from the same ban list and register"
	$(BIN)/banwatch export --source $(POLICY) --inventory $(EXAMPLE_INVENTORY) --out $(MANAGED_OUT) --reuse-unchanged \
	    > $(LAB_DIR)/managed-table.txt
	@echo "== pushing them to the managers' APIs: here the lab's HTTPS stand-ins, which check every body"
	@echo "   against the vendor's published schema (Apple MDM and Santa documents stay files to hand over)"
	$(LAB) standins up --dir $(LAB_DIR)
	$(BIN)/ansible-playbook -i $(EXAMPLE_INVENTORY) banwatch.deploy.push_managed \
	    -e banwatch_push_export_dir=$(CURDIR)/$(MANAGED_OUT) -e @$(STANDINS)/push.yml \
	    --vault-password-file $(STANDINS)/vault-password
	@cat $(LAB_DIR)/managed-table.txt
	@echo
	@echo "Next: the lab stays up for you to explore. First point banwatch fleet at it:"
	@echo "  export BANWATCH_FLEET_CONFIG=$(FLEET_CONFIG)"
	@echo "  $(LAB) status                                   # endpoints, and whether each answers over SSH"
	@echo "  $(BIN)/ansible -i $(LAB_INVENTORY) endpoints -m ansible.builtin.ping"
	@echo "  $(LAB) run lab-ep-02 --as TikTok -- sleep infinity  # plant another; then report_now.yml and fleet ingest"
	@echo "  $(LAB) as-root -- $(BIN)/banwatch fleet ingest  # ingest as the lab's root, who may read the drop box"
	@echo "  $(BIN)/banwatch fleet exemptions                # every exemption, and whether it reached its hosts"
	@echo "  ls $(MANAGED_OUT)                         # the managers' documents and manifests (docs/managed.md)"
	@echo "  cat $(STANDINS)/android.json $(STANDINS)/graph.json  # what the Android and Graph stand-ins now hold"
	@echo "  $(LAB) down                                     # stop everything the lab started"

test: setup lint
	$(BIN)/pytest tests

unit: setup
	$(BIN)/pytest tests/unit

agent-tests: setup
	$(BIN)/pytest tests/agent

integration: setup
	$(BIN)/pytest -m lab tests/integration

lint: setup
	$(BIN)/ruff check agent tests bench $(COLLECTION)
	$(BIN)/lint-imports --no-cache
	$(BIN)/banwatch policy check $(POLICY) > /dev/null
	$(BIN)/python $(COLLECTION)/tools/role_docs.py --check
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/ansible-lint --offline -q $(COLLECTION)

# Each role's README variables section, from its meta/argument_specs.yml.
role-docs: setup
	$(BIN)/python $(COLLECTION)/tools/role_docs.py

# The collection's tarball: $(COLLECTION_OUT)/banwatch-deploy-<version>.tar.gz, for
# `ansible-galaxy collection install` in any project.
collection: setup
	$(BIN)/ansible-galaxy collection build $(COLLECTION) --output-path $(COLLECTION_OUT) --force

bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .cache

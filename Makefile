# Everything a fresh Debian machine needs, from the project's own files.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := libvirt0 libvirt-dev pkg-config gcc qemu-utils skopeo docker-registry curl jq file xz-utils gzip ca-certificates shellcheck git genisoimage
STAMP_APT := $(VENV)/.apt-done
STAMP_PIP := $(VENV)/.pip-done
COLLECTION_ROOT := $(VENV)/collections/ansible_collections/deckhouse/virtualization

.PHONY: setup test demo bench lint sanity unit integration clean

setup: $(STAMP_PIP) $(COLLECTION_ROOT)

$(STAMP_APT):
	@mkdir -p $(VENV)
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "apt: installing $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@touch $@

$(STAMP_PIP): requirements.txt simulator/pyproject.toml $(STAMP_APT)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q -e simulator
	@touch $@

# The collection is linked into an ansible_collections tree so ansible-playbook and ansible-test find it.
$(COLLECTION_ROOT):
	@mkdir -p $(dir $@)
	@ln -sfn $(CURDIR) $@
	@# the simulator shares the collection's pure rules (CPU map, quantities): make it importable in the venv
	@echo "$(CURDIR)/$(VENV)/collections" > $$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/deckhouse-virtualization.pth

test: setup
	$(BIN)/ruff check .
	bash tests/sanity/run.sh
	$(BIN)/python -m pytest -q tests

unit: setup
	$(BIN)/python -m pytest -q tests/unit tests/conformance

lint: setup
	$(BIN)/ruff check .

sanity: setup
	bash tests/sanity/run.sh

demo: setup
	bash playbooks/demo.sh

bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV)

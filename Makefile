# Everything a fresh Debian machine needs, from the project's own files.
# requirements.txt is the collection's run-time needs (ranges, what an execution environment installs);
# requirements-dev.txt pins the development, test and simulator environment that `make setup` builds in .venv.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := libvirt0 libvirt-dev pkg-config gcc qemu-utils skopeo docker-registry curl jq file xz-utils gzip ca-certificates shellcheck git genisoimage
STAMP_APT := $(VENV)/.apt-done
STAMP_PIP := $(VENV)/.pip-done
COLLECTIONS := $(CURDIR)/$(VENV)/collections
COLLECTION_ROOT := $(VENV)/collections/ansible_collections/deckhouse/virtualization
# ansible-lint and antsibull-changelog find the collection (and kubernetes.core from the `ansible` package) here
ANSIBLE_ENV := ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS)

.PHONY: setup test demo bench lint ruff ansible-lint changelog-lint sanity unit integration docs clean

setup: $(STAMP_PIP) $(COLLECTION_ROOT)

$(STAMP_APT):
	@mkdir -p $(VENV)
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "apt: installing $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@touch $@

$(STAMP_PIP): requirements.txt requirements-dev.txt simulator/pyproject.toml $(STAMP_APT)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	$(BIN)/pip install -q -e simulator
	@touch $@

# The collection is linked into an ansible_collections tree so ansible-playbook and ansible-test find it.
$(COLLECTION_ROOT):
	@mkdir -p $(dir $@)
	@ln -sfn $(CURDIR) $@
	@# the simulator shares the collection's pure rules (CPU map, quantities): make it importable in the venv
	@echo "$(COLLECTIONS)" > $$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/deckhouse-virtualization.pth

# Every check. The tarball (tests/integration/test_packaging.py) and the Molecule scenarios are pytest files.
# pytest runs the files on TEST_WORKERS processes (pytest-xdist), each file's tests in one of them, in order, beside its
# module fixtures; each process has its own session fixtures (simulators). Most of an integration test is waiting
# (simulated time, ansible-playbook, kubectl), so two workers on two cores took the suite from 27 to 14 minutes.
# TEST_WORKERS=0 runs it in this process, serially.
TEST_WORKERS ?= 2
test: setup
	$(BIN)/ruff check .
	bash tests/sanity/run.sh
	$(ANSIBLE_ENV) $(BIN)/ansible-lint
	$(MAKE) --no-print-directory changelog-lint
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=20 tests

unit: setup
	$(BIN)/python -m pytest -q tests/unit tests/conformance

lint: setup ruff ansible-lint changelog-lint

ruff: setup
	$(BIN)/ruff check .

# .ansible-lint: profile production over the collection, roles, playbooks and extensions/
ansible-lint: setup
	$(ANSIBLE_ENV) $(BIN)/ansible-lint

# The fragments and changelogs/changelog.yaml are valid, and CHANGELOG.rst is what they generate.
# A release: add fragments to changelogs/fragments/, bump galaxy.yml's version, then
#   PATH=$PWD/.venv/bin:$PATH ANSIBLE_COLLECTIONS_PATH=$PWD/.venv/collections antsibull-changelog release
# (fragments are kept; after editing one of a released version: antsibull-changelog generate --refresh-fragments)
changelog-lint: setup
	$(BIN)/antsibull-changelog lint
	$(BIN)/antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml
	@out=$$(mktemp) && trap 'rm -f $$out' EXIT && \
	$(ANSIBLE_ENV) $(BIN)/antsibull-changelog generate --output $$out --output-format rst && \
	diff -u CHANGELOG.rst $$out || { echo "CHANGELOG.rst is out of date: run antsibull-changelog generate" >&2; exit 1; }

sanity: setup
	bash tests/sanity/run.sh

docs: setup
	$(BIN)/python docs/generate.py

demo: setup
	bash scripts/demo.sh

bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV)

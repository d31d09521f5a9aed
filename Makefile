# Developer entry points. The README's two commands are `make run` and `make test`.
# The local Kafka broker (deploy/local_kafka.py) needs only python3 >= 3.11, Java 17 and,
# the first time, Maven; MASH_KAFKA_PORT / MASH_KAFKA_HOME move it.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LOCAL_KAFKA := $(PYTHON) deploy/local_kafka.py
# The local broker's super user (administration only); every other party has its own
# client config, written by `make access` (python -m mash_common.access).
ADMIN_CONFIG := $(or $(MASH_KAFKA_HOME),var/kafka)/clients/admin.properties

.PHONY: help setup lock wheels kafka-start kafka-stop kafka-status kafka-logs kafka-reset topics access test lint run clean

help:
	@echo "make run          start Kafka and the demo"
	@echo "make test         set up, start Kafka, run the test suite"
	@echo "make setup        create .venv: the locked dependencies, then mash-sdk and mash-hub (editable)"
	@echo "make lock         update packaging/requirements*.lock (pip-compile, hashes; UPGRADE=1: newest)"
	@echo "make wheels       build the mash-sdk and mash-hub wheels into dist/"
	@echo "make lint         ruff check + mypy"
	@echo "make topics       create the project's topics on the local broker"
	@echo "make access       create the hub's principals and ACLs (client configs in var/kafka/clients)"
	@echo "make kafka-start | kafka-stop | kafka-status | kafka-logs | kafka-reset"
	@echo "make clean        remove caches and build output (keeps .venv and var/)"

setup: $(STAMP)

LOCK_DEV := packaging/requirements-dev.lock
SDK_PROJECT := packaging/mash-sdk

# Everything third-party comes from the lock (exact versions, hashes checked); the two
# distributions of this repository are then installed editable on top, without deps, and
# `pip check` proves the lock satisfies their metadata. pip's full output goes to
# .venv/pip.log; the terminal gets one line per package.
$(STAMP): pyproject.toml $(SDK_PROJECT)/pyproject.toml $(LOCK_DEV)
	@test -x $(VPY) || { echo "Creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "Installing $(LOCK_DEV), then mash-sdk and mash-hub into $(VENV) (full log: $(VENV)/pip.log)"
	@$(VPY) -m pip install --disable-pip-version-check --progress-bar off --require-hashes \
		-r $(LOCK_DEV) 2>&1 \
		| tee $(VENV)/pip.log \
		| awk '/^(Collecting|Successfully installed|ERROR)/ { print "  " $$0; fflush() }'
	@$(VPY) -m pip install --disable-pip-version-check --progress-bar off --no-deps \
		--no-build-isolation -e ./$(SDK_PROJECT) -e . 2>&1 \
		| tee -a $(VENV)/pip.log \
		| awk '/^(Successfully installed|ERROR)/ { print "  " $$0; fflush() }'
	@$(VPY) -m pip check --disable-pip-version-check
	@touch $@

# The SDK wheel is built first so pip-compile can resolve mash-hub's mash-sdk==<version>
# from it instead of looking for a package of that name on an index. Versions already in a
# lock are kept (a new dependency is added at its newest); `make lock UPGRADE=1` re-resolves
# everything at the newest versions the ranges allow.
PIP_COMPILE := $(VENV)/bin/pip-compile --quiet --generate-hashes --strip-extras \
	--no-build-isolation --find-links build/lock-wheels --no-emit-find-links \
	--unsafe-package mash-sdk
lock: setup
	rm -rf build/lock-wheels
	$(VPY) -m pip wheel --disable-pip-version-check --no-deps --no-build-isolation -q \
		-w build/lock-wheels ./$(SDK_PROJECT)
	$(PIP_COMPILE) $(if $(UPGRADE),--upgrade) --extra dev -o $(LOCK_DEV) pyproject.toml
	$(PIP_COMPILE) $(if $(UPGRADE),--upgrade) -o packaging/requirements.lock pyproject.toml
	$(PIP_COMPILE) $(if $(UPGRADE),--upgrade) --extra all -o packaging/requirements-sdk.lock $(SDK_PROJECT)/pyproject.toml

wheels: setup
	rm -rf dist
	$(VPY) -m pip wheel --disable-pip-version-check --no-deps --no-build-isolation -q \
		-w dist ./$(SDK_PROJECT) .
	@ls -l dist

kafka-start:
	@$(LOCAL_KAFKA) start

kafka-stop:
	@$(LOCAL_KAFKA) stop

kafka-status:
	@$(LOCAL_KAFKA) status

kafka-logs:
	@$(LOCAL_KAFKA) logs

kafka-reset:
	@$(LOCAL_KAFKA) reset

topics: setup kafka-start
	$(VPY) -m mash_common.provision --client-config $(ADMIN_CONFIG)

access: setup kafka-start
	$(VPY) -m mash_common.access --client-config $(ADMIN_CONFIG)

test: setup kafka-start
	$(VPY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(PYTHON) packaging/rename_imports.py --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# The demo starts the local broker itself when none answers, and stops what it started.
run: setup
	$(VPY) -m mash_hub.demo $(ARGS)

clean:
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache
	find . -path ./$(VENV) -prune -o \( -name __pycache__ -o -name '*.egg-info' \) -type d -print \
		| xargs rm -rf

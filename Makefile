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

.PHONY: help setup kafka-start kafka-stop kafka-status kafka-logs kafka-reset topics access test lint run clean

help:
	@echo "make run          start Kafka and the demo"
	@echo "make test         set up, start Kafka, run the test suite"
	@echo "make setup        create .venv and install the project (.[dev])"
	@echo "make lint         ruff check + mypy"
	@echo "make topics       create the project's topics on the local broker"
	@echo "make access       create the hub's principals and ACLs (client configs in var/kafka/clients)"
	@echo "make kafka-start | kafka-stop | kafka-status | kafka-logs | kafka-reset"
	@echo "make clean        remove caches and build output (keeps .venv and var/)"

setup: $(STAMP)

# Reinstall only when pyproject.toml is newer than the stamp. pip's full output goes to
# .venv/pip.log; the terminal gets one line per package.
$(STAMP): pyproject.toml
	@test -x $(VPY) || { echo "Creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "Installing mash-hub and dev tools into $(VENV) (full log: $(VENV)/pip.log)"
	@$(VPY) -m pip install --disable-pip-version-check --progress-bar off -e '.[dev]' 2>&1 \
		| tee $(VENV)/pip.log \
		| awk '/^(Collecting|Successfully installed|ERROR)/ { print "  " $$0; fflush() }'
	@touch $@

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
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# The demo starts the local broker itself when none answers, and stops what it started.
run: setup
	$(VPY) -m mash_demo $(ARGS)

clean:
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache
	find . -path ./$(VENV) -prune -o \( -name __pycache__ -o -name '*.egg-info' \) -type d -print \
		| xargs rm -rf

# The project's commands. `make demo` runs the whole pipeline under load; `make test` runs every check.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/.local/bin:$(PATH)

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml requirements.lock
	@scripts/install-python.sh
	@touch $@

install: $(VENV)/.installed ## Python environment and the project's tools
	@scripts/install-tools.sh

proto: install ## regenerate src/votemon/rpc from proto/
	scripts/gen-proto.sh

stack: install ## install (first time) and start Kafka, Redis and FerretDB
	stack/stack.sh up

up: stack ## start the whole pipeline locally, without load
	stack/services.sh up

down: ## stop the pipeline and the stack
	-stack/services.sh down
	stack/stack.sh down

demo: up ## run the pipeline under the 1000-vote Locust load and print the results
	scripts/demo.sh

lint: install ## ruff and mypy --strict
	$(VENV)/bin/ruff check src tests loadtest scripts
	$(VENV)/bin/ruff format --check src tests loadtest scripts
	$(VENV)/bin/mypy src

test: stack lint ## every test, against the real Kafka, Redis and FerretDB
	$(PY) -m pytest -ra $(PYTEST_ARGS)

BENCH_SIZES ?= 0,1000000,10000000
bench: stack ## the side-by-side performance benchmark, then the results endpoints at BENCH_SIZES stored votes
	$(PY) -m bench
	$(PY) -m bench.results_scale --sizes $(BENCH_SIZES) $(BENCH_SCALE_ARGS)

.PHONY: help install proto stack up down demo lint test bench

# The project's commands. `make demo` runs the whole pipeline under load; `make validate` is the fast
# loop (no services); `make test` runs every check against the local stack.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python
# Every Python tree the linters and mypy --strict check.
PY_TREES := src tests bench loadtest
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
	$(PY) -m votemon.dev up

down: ## stop what make up and make cluster started: the pipeline, the stack, the local cluster
	-$(PY) -m votemon.dev down
	stack/stack.sh down
	cluster/down.sh

status: ## each service of the pipeline, the stack and the local cluster: running or not
	-@$(PY) -m votemon.dev status
	@stack/stack.sh status
	@cluster/up.sh status

reset: install ## empty the local data (Redis, FerretDB, Kafka topics); stops the pipeline first
	$(PY) -m votemon.dev reset

doctor: ## check this machine's prerequisites (tools, versions, free ports, disk), fast
	@scripts/doctor.sh

demo: up ## run the pipeline under the 1000-vote Locust load and print the results
	scripts/demo.sh

# The load command of the loadtest workflow, here against `make up`'s pipeline; another target, e.g.
# the local cluster's front: make loadtest LOADTEST_ARGS="--host http://... --results http://... -u 50"
LOADTEST_ARGS ?=
loadtest: install ## Locust with the demo's votes, counted = accepted, report and history in .local/loadtest (docs/loadtest.md)
	$(PY) -m loadtest $(LOADTEST_ARGS)

lint: install ## ruff (check and format) and mypy --strict on every Python tree
	$(VENV)/bin/ruff check $(PY_TREES)
	$(VENV)/bin/ruff format --check $(PY_TREES)
	$(VENV)/bin/mypy $(PY_TREES)

validate: lint ## the fast loop, no services: lint, unit tests, offline GitOps, Cloud Run and delivery checks
	$(PY) -m pytest -ra -m "not stack and not cluster" $(PYTEST_ARGS)

# The linters and the stack's start at once (mypy's CPU beside Kafka's JVM start, ~10 s of a warm run's
# 15 minutes). What compiles comes first (cold, the cluster's Go builds would starve the stack's tests of CPU): the
# binaries and the image at once, as two lanes; then the stack's half runs while the cluster starts and
# runs its half, which mostly waits on rollouts. Each lane's lines come as they are written, marked with
# its name.
lane = set -o pipefail; { $(2); } 2>&1 | sed -u 's/^/[$(1)] /'
PYTEST := PYTHONUNBUFFERED=1 $(PY) -m pytest -ra --durations=15
test: install ## every test, against the real Kafka, Redis, FerretDB, control plane and Argo CD
	$(MAKE) --jobs=2 lint stack
	$(MAKE) cluster-build
	$(MAKE) --jobs=2 pytest-stack pytest-cluster

test-stack: lint stack ## make test's first half: lint, unit tests and the tests against the local stack
	$(MAKE) pytest-stack

test-cluster: ## make test's second half: the local cluster, then the tests against it and its real node
	$(MAKE) pytest-cluster

pytest-stack:
	@$(call lane,stack,$(PYTEST) -m "not cluster" $(PYTEST_ARGS))

pytest-cluster: cluster
	@$(call lane,cluster,$(PYTEST) -m cluster $(PYTEST_ARGS))

cluster-build: install ## build (once) what the local cluster runs: control plane, Argo CD, the node, the image
	$(MAKE) --jobs=2 build-binaries build-image

build-binaries:
	@$(call lane,build,cluster/build.sh && cluster/build.sh node)

build-image:
	@$(call lane,image,cluster/image.sh)

cluster: install ## the GitOps loop, locally: a real control plane and Argo CD syncing this checkout (first time: ~11 min of builds)
	cluster/up.sh
	. cluster/env.sh && scripts/argocd-bootstrap.sh dev --without-operators
	cluster/node.sh secrets
	@echo ">> . cluster/env.sh  # then: kubectl get pods -n so1-p2; argocd app list"

demo-cluster: cluster ## the same demo load through the local cluster's pods on its real node (Argo CD deploys them)
	scripts/demo-cluster.sh

image: install ## build the votemon image from the Dockerfile without Docker (buildah), as the real node runs it
	cluster/image.sh

cluster-down: ## stop the local control plane and Argo CD (state kept in .local/cluster)
	cluster/down.sh

diff: install ## rendered diff per Argo CD Application and environment, BASE (default main) against the working tree
	scripts/gitops diff --base $(or $(BASE),main)

# 10M stored votes (README) take ~17 min more to seed: make bench BENCH_SIZES=0,1000000,10000000
BENCH_SIZES ?= 0,1000000
bench: stack ## the performance benchmark (wrk, vegeta), the page's latency, the results endpoints at BENCH_SIZES stored votes
	@scripts/install-tools.sh --bench
	$(PY) -m bench $(BENCH_ARGS)
	$(PY) -m bench.page
	$(PY) -m bench.results_scale --sizes $(BENCH_SIZES) $(BENCH_SCALE_ARGS)

.PHONY: help install proto stack up down status reset doctor demo loadtest lint validate test test-stack test-cluster pytest-stack pytest-cluster build-binaries build-image diff bench cluster cluster-build cluster-down demo-cluster image

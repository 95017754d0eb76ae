#!/usr/bin/env bash
# `make demo`, after `make up`: the Locust load and the summary (loadtest/demo.py on python -m loadtest).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m loadtest.demo

#!/usr/bin/env bash
# `make demo`, after `make up`: the Locust load and the summary (loadtest/demo.py).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python loadtest/demo.py

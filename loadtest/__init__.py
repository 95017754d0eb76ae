"""The load test (`python -m loadtest`, `make loadtest`, `make demo`, the loadtest workflow): Locust
with the demo's votes, the end-to-end count check, the report and the runs' history."""

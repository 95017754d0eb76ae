"""`make loadtest` on the local pipeline: two short runs in a row, each finding counted = accepted per
band, per album and in total through the results API, freshness from the consumer's histogram, the
report (terminal table, HTML with the trend chart, Locust's own), and the second run compared with the
first in the history. Counts are deltas of the demo's bands: whatever else the session counted stays."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from votemon.dev.pipeline import Pipeline
from votemon.dev.processes import ROOT

RUN_SECONDS = 4


def make_loadtest(pipeline: Pipeline, out: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    consumers = [pipeline.services["consumer"], *pipeline.extra]
    metrics = [f"--metrics {c.base_url}/metrics" for c in consumers if c.process is not None]
    args = [
        f"--host {pipeline.front} --results {pipeline.results}", *metrics,
        f"-u 5 -r 5 -t {RUN_SECONDS}s --out {out} --history {out / 'history.jsonl'}",
        "--max-p95-ms off --max-failure-ratio off",  # this test is about the count: the machine is shared
    ]  # fmt: skip
    proc = subprocess.run(
        ["make", "-s", "loadtest", f"LOADTEST_ARGS={' '.join(args)}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    records = sorted((out / "runs").glob("*/record.json"))
    assert records, proc.stdout + proc.stderr
    return proc, json.loads(records[-1].read_text())


def test_make_loadtest_counts_every_accepted_vote_and_compares_with_the_last_run(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    first_out, second_out = tmp_path / "a", tmp_path / "b"
    first, record = make_loadtest(pipeline, first_out)
    assert first.returncode == 0, first.stdout + first.stderr
    figures = record["figures"]
    assert figures["accepted"] > 0
    assert figures["counted"] == figures["accepted"] == figures["logged"]
    assert record["verdicts"]["counted_equals_accepted"] and record["counts"]["drained"]
    assert record["counts"]["counted"] == record["counts"]["accepted"]
    assert set(record["counts"]["accepted"]) >= {"total", "Bohemia Suburbana", "Alux Nahual"}
    assert figures["freshness_p50_s"] is not None and figures["freshness_p99_s"] is not None
    assert "counted (results API)" in first.stdout and "PASS" in first.stdout
    # the front's /healthz version when it reports one (sha-<commit>), else "unknown": never empty
    assert record["image"] and re.search(rf"deployed image +{re.escape(record['image'])}", first.stdout)
    run_dir = next((first_out / "runs").iterdir())
    assert (run_dir / "locust.html").stat().st_size > 0
    assert "<svg" in (run_dir / "report.html").read_text()

    (second_out / "history.jsonl").parent.mkdir()
    (second_out / "history.jsonl").write_text((first_out / "history.jsonl").read_text())
    second, again = make_loadtest(pipeline, second_out)
    assert second.returncode == 0, second.stdout + second.stderr
    assert again["figures"]["counted"] == again["figures"]["accepted"] > 0
    assert again["baseline"]["p95_ms"]["runs"] == 1, "compared with the first run"
    assert "median" in second.stdout
    assert len((second_out / "history.jsonl").read_text().splitlines()) == 2
    assert not (ROOT / "reports").exists() and not (ROOT / "loadtest" / "reports").exists()

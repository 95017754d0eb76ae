"""The loadtest workflow's target (review finding 12, issue 26): its votes are real-looking votes, so
a run whose host is production's fails before Locust starts, unless dispatched by hand with
`against_production`. The guard is the workflow's own shell, run here with each case's variables."""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from tests.delivery.delivery_helpers import REPO

PRODUCTION = "https://votes.so1-p2.example.org"


def target_checks() -> str:
    """The run script of the workflow's load step, up to where it starts building Locust's command."""
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "loadtest.yml").read_text())
    [step] = [s for s in workflow["jobs"]["locust"]["steps"] if s.get("id") == "load"]
    script: str = step["run"]
    return script[: script.index("metrics=(--no-metrics)")]


@pytest.mark.parametrize(
    ("host", "against_production", "refused"),
    [
        (PRODUCTION + "/", "false", True),
        (PRODUCTION, "false", True),
        (PRODUCTION, "true", False),
        ("https://votes.staging.so1-p2.example.org", "false", False),
        ("", "false", True),
    ],
    ids=["production-slash", "production", "production-meant", "staging", "no-target"],
)
def test_a_run_against_production_fails_unless_meant(
    host: str, against_production: str, refused: bool
) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOST": host,
        "RESULTS": "https://results.example.org",
        "PRODUCTION_HOST": PRODUCTION,
        "AGAINST_PRODUCTION": against_production,
    }
    proc = subprocess.run(
        ["bash", "-c", target_checks()], env=env, capture_output=True, text=True, check=False
    )
    assert (proc.returncode != 0) == refused, proc.stdout + proc.stderr
    assert proc.stdout.startswith("::error::") == refused, proc.stdout

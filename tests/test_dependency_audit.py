"""The Python dependencies (requirements.lock: the tools and tests; requirements-runtime.lock: the
image) against PyPI's advisory data, with the pinned pip-audit (docs/security.md).

pip-audit asks PyPI's per-release JSON API (https://pypi.org/pypi/<name>/<version>/json). Where that
API cannot be reached (this team's machine: its PyPI mirror serves the index and project pages but
answers 404 for every release page), nothing can be audited: the test says so in its skip reason,
which `make validate` lists (-ra), and it fails instead in GitHub Actions, where the audit must run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.error
import urllib.request
from typing import Any

import pytest

from votemon.dev.processes import ROOT

LOCKS = ("requirements.lock", "requirements-runtime.lock")
PIP_AUDIT = ROOT / ".venv" / "bin" / "pip-audit"


def pinned(name: str) -> str:
    match = re.search(rf"^{re.escape(name)}==(\S+)", (ROOT / "requirements.lock").read_text(), re.MULTILINE)
    assert match, f"{name} is not pinned in requirements.lock"
    return match[1]


def advisory_api_error() -> str | None:
    """Why PyPI's per-release JSON API is unreachable, or None when it answers."""
    url = f"https://pypi.org/pypi/pip-audit/{pinned('pip-audit')}/json"
    try:
        with urllib.request.urlopen(url, timeout=15) as response:
            json.load(response)
    except (urllib.error.URLError, TimeoutError, ValueError) as err:
        return f"{url}: {err}"
    return None


def findings(report: dict[str, Any]) -> list[str]:
    """Each known vulnerability, and each dependency that could not be audited, in pip-audit's JSON."""
    found = []
    for dep in report["dependencies"]:
        where = f"{dep['name']}=={dep.get('version', '?')}"
        if "skip_reason" in dep:
            found.append(f"{where}: not audited: {dep['skip_reason']}")
        for vuln in dep.get("vulns", []):
            fixed = ", ".join(vuln.get("fix_versions", [])) or "no fix yet"
            found.append(f"{where}: {vuln['id']} (fixed in {fixed})")
    return found


def test_findings_name_each_vulnerability_and_each_unaudited_dependency() -> None:
    report = {
        "dependencies": [
            {"name": "ok", "version": "1", "vulns": []},
            {"name": "bad", "version": "2", "vulns": [{"id": "PYSEC-1", "fix_versions": ["3"]}]},
            {"name": "gone", "skip_reason": "Dependency not found on PyPI"},
        ]
    }
    assert findings(report) == [
        "bad==2: PYSEC-1 (fixed in 3)",
        "gone==?: not audited: Dependency not found on PyPI",
    ]


def test_no_dependency_has_a_known_vulnerability() -> None:
    error = advisory_api_error()
    if error is not None:
        message = f"NOT AUDITED: PyPI's per-release JSON API is unreachable from here ({error})"
        if os.environ.get("GITHUB_ACTIONS") == "true":
            pytest.fail(message)
        pytest.skip(message + "; the audit runs in GitHub Actions")
    args = [a for lock in LOCKS for a in ("--requirement", str(ROOT / lock))]
    proc = subprocess.run(
        [
            str(PIP_AUDIT),
            *args,
            "--disable-pip",
            "--require-hashes",
            "--progress-spinner",
            "off",
            "-f",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert proc.stdout, proc.stderr
    problems = findings(json.loads(proc.stdout))
    assert not problems, "\n".join(problems)

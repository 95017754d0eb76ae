"""No credential in the repository: detect-secrets over every tracked file, against the reviewed
baseline (.secrets.baseline: its only entries are Secret Manager key names, marked not secret)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from votemon.dev.processes import ROOT

HOOK = ROOT / ".venv" / "bin" / "detect-secrets-hook"
SKIPPED = ("requirements.lock", "requirements-runtime.lock", ".secrets.baseline")
# Upstream CRDs, as fetched by scripts/refresh-crds.sh: schemas whose descriptions name secret fields
# (false positives), and megabytes that would make the scan take over a minute.
SKIPPED_TREES = ("schemas/crds/",)


def scan(files: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HOOK), "--baseline", str(ROOT / ".secrets.baseline"), *files],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def test_no_tracked_file_holds_a_secret() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    files = [
        f
        for f in tracked.stdout.splitlines()
        if not f.endswith(SKIPPED) and not f.startswith(SKIPPED_TREES) and (ROOT / f).is_file()
    ]
    assert len(files) > 50
    result = scan(files, ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_scan_catches_a_committed_password(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    leaked = tmp_path / "values.yaml"
    password = "Tr0ub4dor&3-horse-battery"  # pragma: allowlist secret
    key = "AKIAIOSFODNN7EXAMPLE"  # pragma: allowlist secret
    leaked.write_text(f'redis:\n  password: "{password}"\naws_key: {key}\n')
    result = scan([leaked.name], tmp_path)
    assert result.returncode != 0
    assert "Secret Keyword" in result.stdout

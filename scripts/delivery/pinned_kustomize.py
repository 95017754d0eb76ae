"""The project's pinned kustomize (cluster/versions.env: the version Argo CD's repo-server renders
with, or the nearest that builds), run from one place by every script and test that renders or edits
a kustomization. scripts/install-kustomize.sh puts it there, for `make install` and for the
workflows alike. Standard library only, so that a bare CI runner can import it."""

from __future__ import annotations

import subprocess
from pathlib import Path

BINARY = Path(__file__).resolve().parents[2] / ".local" / "bin" / "kustomize"


def kustomize(*args: str | Path, cwd: Path | None = None) -> str:
    """Run the pinned kustomize with `args`; its output. A failure raises RuntimeError with what it said."""
    if not BINARY.is_file():
        raise FileNotFoundError(f"{BINARY} is missing: run `make install` (scripts/install-kustomize.sh)")
    proc = subprocess.run(  # noqa: S603 - fixed binary, argv without a shell
        [BINARY, *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"kustomize {' '.join(map(str, args))} failed:\n{proc.stderr}")
    return proc.stdout

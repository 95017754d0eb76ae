"""The checked-in gRPC code is what proto/ generates: a stale copy fails here."""

from __future__ import annotations

import filecmp
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_generated_code_matches_proto(tmp_path: Path) -> None:
    subprocess.run([str(ROOT / "scripts" / "gen-proto.sh"), str(tmp_path)], check=True, cwd=ROOT)
    fresh = tmp_path / "votemon" / "rpc" / "votes"
    checked_in = ROOT / "src" / "votemon" / "rpc" / "votes"
    fresh_files = sorted(p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file())
    checked_files = sorted(
        p.relative_to(checked_in)
        for p in checked_in.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )
    assert fresh_files == checked_files
    _, mismatch, errors = filecmp.cmpfiles(fresh, checked_in, [str(p) for p in fresh_files], shallow=False)
    assert (mismatch, errors) == ([], []), "run `make proto` and commit the result"

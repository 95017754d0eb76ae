"""The standard editors of the delivery scripts: the pinned kustomize CLI for a ``kustomization.yaml``
(``kustomize edit set ...``), ruamel.yaml's round trip for every other manifest (comments, quotes
and layout stay). Each edit reports whether the file changed, so that a second run is a no-op."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]


def kustomize() -> str:
    """The pinned kustomize (cluster/versions.env): `make install` links it into .local/bin; the
    workflows put the same version on PATH."""
    local = REPO / ".local" / "bin" / "kustomize"
    found = str(local) if local.is_file() else shutil.which("kustomize")
    if found is None:
        raise SystemExit("kustomize is missing: run `make install`")
    return found


def kustomize_edit(overlay: Path, *args: str) -> bool:
    """``kustomize edit set ARGS`` in ``overlay``; whether its kustomization.yaml changed."""
    path = overlay / "kustomization.yaml"
    before = path.read_bytes()
    proc = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [kustomize(), "edit", "set", *args], cwd=overlay, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"kustomize edit set {' '.join(args)} in {overlay}: {proc.stderr.strip()}")
    return path.read_bytes() != before


class Manifests:
    """The YAML documents of one file, edited in place and written back only if they changed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.text = path.read_text(encoding="utf-8")
        self.yaml = YAML()
        self.yaml.preserve_quotes = True
        self.yaml.width = 4096
        self.yaml.indent(mapping=2, sequence=4, offset=2)
        self.yaml.explicit_start = self.text.startswith("---")
        self.docs: list[Any] = [doc for doc in self.yaml.load_all(self.text) if doc is not None]

    def save(self) -> bool:
        out = io.StringIO()
        self.yaml.dump_all(self.docs, out)
        if out.getvalue() == self.text:
            return False
        self.path.write_text(out.getvalue(), encoding="utf-8")
        return True


def yaml_files(directory: Path) -> list[Path]:
    return sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]) if directory.is_dir() else []

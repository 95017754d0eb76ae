"""The standard editors of the delivery scripts: the pinned kustomize CLI for a ``kustomization.yaml``
(``kustomize edit set ...``), ruamel.yaml's round trip for every other manifest (comments, quotes
and layout stay). Each edit reports whether the file changed, so that a second run is a no-op."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from votemon.gitops.kustomize import kustomize


def kustomize_edit(overlay: Path, *args: str) -> bool:
    """``kustomize edit set ARGS`` in ``overlay``; whether its kustomization.yaml changed."""
    path = overlay / "kustomization.yaml"
    before = path.read_bytes()
    try:
        kustomize("edit", "set", *args, cwd=overlay)
    except RuntimeError as failed:
        raise SystemExit(f"{overlay}: {failed}") from failed
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

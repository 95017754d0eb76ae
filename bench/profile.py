"""Summarise py-spy raw profiles (collapsed stacks): where each service's samples go.

    py-spy record --format raw --rate 200 --duration 10 --pid PID --output docs/bench/profile/NAME.txt
    python -m bench.profile docs/bench/profile/*.txt      # prints the summary

(py-spy is no dependency: `pip install --target DIR py-spy`; run it on a service while `make bench` loads it.)

Each line of a raw profile is `frame;frame;...;leaf count`, a frame being `function (file:line)`.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_LINE = re.compile(r":\d+\)$")


def frame_name(frame: str) -> str:
    """`Foo.bar (pkg/mod.py:12)` -> `Foo.bar (pkg/mod.py)`: lines of one function are one function."""
    return _LINE.sub(")", frame.strip())


def parse_collapsed(text: str) -> list[tuple[list[str], int]]:
    stacks = []
    for line in text.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if stack and count.isdigit():
            stacks.append(([frame_name(f) for f in stack.split(";")], int(count)))
    return stacks


def summarize(stacks: list[tuple[list[str], int]], top: int = 15) -> dict[str, list[tuple[str, int]]]:
    """Self samples by leaf function, inclusive samples by function, and samples by package."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    for frames, count in stacks:
        own[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
        packages[package_of(frames[-1])] += count
    return {
        "self": own.most_common(top),
        "inclusive": inclusive.most_common(top),
        "packages": packages.most_common(top),
    }


def package_of(frame: str) -> str:
    """The top-level package of a frame's file: `(grpc/aio/_call.py)` -> `grpc`."""
    start = frame.rfind("(")
    path = frame[start + 1 : -1] if start >= 0 else frame
    return path.split("/", 1)[0].removesuffix(".py") or path


def report(path: Path, top: int = 15) -> str:
    stacks = parse_collapsed(path.read_text())
    total = sum(count for _, count in stacks)
    summary = summarize(stacks, top)
    lines = [f"## {path.stem}: {total} samples"]
    for kind, items in summary.items():
        lines.append(f"### {kind}")
        lines += [f"{count / total:6.1%}  {name}" for name, count in items]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("profiles", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    print("\n\n".join(report(path, args.top) for path in args.profiles))


if __name__ == "__main__":
    main()

"""The rendered diff of a change, per Argo CD Application and environment: what Argo CD would apply
at BASE against what it would apply at HEAD, both rendered with the pinned `kustomize build`.

    scripts/gitops diff --base main                  # BASE against the working tree (make diff)
    scripts/gitops diff --base origin/main --head HEAD --output "$GITHUB_STEP_SUMMARY"

Per environment (apps/<env>): the root app-of-apps itself (apps/<env>), then every child
Application with a git path; Cloud Run's `cloudrun/*.yaml` are one more entry. A git REF is
checked out with `git worktree add --detach` in a temporary directory and removed afterwards.
Prints Markdown: one ```diff block per entry that changed, or a line saying nothing did. The
environments and their Applications' paths come from each tree's own apps/ (votemon.gitops.tree).
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import yaml

from votemon.gitops import REPO, tree
from votemon.gitops.kustomize import kustomize


def documents(text: str) -> list[str]:
    """The YAML documents of a stream, each ending in a newline, sorted by (kind, name) so that
    a reordering is no change."""
    docs = [doc.strip("\n") + "\n" for doc in re.split(r"^---\n", text, flags=re.MULTILINE) if doc.strip()]

    def key(doc: str) -> tuple[str, str]:
        obj = yaml.load(doc, Loader=tree.LOADER) or {}  # noqa: S506 - LOADER is a safe loader
        return (str(obj.get("kind", "")), str(obj.get("metadata", {}).get("name", "")))

    return sorted(docs, key=key)


def rendered(root: Path) -> dict[str, list[str]]:
    """'<env>/<application>' (and 'cloudrun') -> the documents Argo CD (or gcloud) applies."""
    out: dict[str, list[str]] = {}
    for env in tree.environments(root):
        out[f"{env}/(root: apps/{env})"] = documents(kustomize("build", root / "apps" / env))
        for app in tree.applications(env, root):
            path = root / app["spec"]["source"]["path"]
            out[f"{env}/{app['metadata']['name']}"] = documents(kustomize("build", path))
    cloudrun = sorted((root / "cloudrun").glob("*.yaml"))
    if cloudrun:
        out["cloudrun"] = documents("\n---\n".join(p.read_text() for p in cloudrun))
    return out


@contextlib.contextmanager
def checkout(repo: Path, ref: str | None) -> Iterator[Path]:
    """The tree at `ref` (a temporary git worktree), or the working tree itself for None."""
    if ref is None:
        yield repo
        return
    with tempfile.TemporaryDirectory(prefix="diff-rendered-") as tmp:
        worktree = Path(tmp) / "tree"
        git = ["git", "-C", str(repo)]
        subprocess.run([*git, "worktree", "add", "--quiet", "--detach", str(worktree), ref], check=True)  # noqa: S603
        try:
            yield worktree
        finally:
            subprocess.run([*git, "worktree", "remove", "--force", str(worktree)], check=True)  # noqa: S603


def diff(base: dict[str, list[str]], head: dict[str, list[str]]) -> dict[str, list[str]]:
    """Entry -> its unified diff lines, for the entries whose rendering changed."""
    changes = {}
    for entry in sorted(base.keys() | head.keys()):
        old, new = "".join(base.get(entry, [])), "".join(head.get(entry, []))
        if old != new:
            lines = difflib.unified_diff(
                old.splitlines(), new.splitlines(), f"base/{entry}", f"head/{entry}", lineterm=""
            )
            changes[entry] = list(lines)
    return changes


def markdown(changes: dict[str, list[str]], base: str, head: str) -> str:
    title = f"## Rendered diff per Argo CD Application ({base} → {head})\n\n"
    if not changes:
        return title + "No rendered change: Argo CD would apply the same objects.\n"
    body = [f"### {entry}\n\n```diff\n" + "\n".join(lines) + "\n```\n" for entry, lines in changes.items()]
    return title + "\n".join(body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="main", help="git ref of the base (default main)")
    parser.add_argument("--head", default=None, help="git ref of the head (default: the working tree)")
    parser.add_argument("--repo", type=Path, default=REPO)
    parser.add_argument("--output", type=Path, default=None, help="append the Markdown here")
    args = parser.parse_args(argv)
    with checkout(args.repo, args.base) as worktree:
        base = rendered(worktree)
    with checkout(args.repo, args.head) as worktree:
        head = rendered(worktree)
    report = markdown(diff(base, head), args.base, args.head or "working tree")
    if args.output:
        with args.output.open("a", encoding="utf-8") as out:
            out.write(report)
    else:
        sys.stdout.write(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())

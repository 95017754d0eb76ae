"""Shared by the gitops tests: votemon.gitops (renders are cached per process, so
each base and overlay is rendered once per session) and helpers to find and mutate objects."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from votemon.gitops import tree, trust_root

REPO = Path(__file__).resolve().parents[2]

Obj = dict[str, Any]


def env_copy(env: str) -> list[Obj]:
    """A private deep copy of an environment's objects, safe to mutate."""
    return copy.deepcopy(tree.env_objects(env))


def argo_copy(env: str) -> list[Obj]:
    """A private deep copy of what Argo CD holds for an environment: the Applications its root syncs
    (apps/<env>) and the projects the bootstrap applies (apps/projects)."""
    return copy.deepcopy([*tree.render(REPO / "apps" / env), *trust_root.projects()])


def find(objs: list[Obj], kind: str, name: str) -> Obj:
    matches = [o for o in objs if o["kind"] == kind and tree.base_name(o) == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} rendered"
    return matches[0]


def container(objs: list[Obj], kind: str, name: str) -> Obj:
    first: Obj = find(objs, kind, name)["spec"]["template"]["spec"]["containers"][0]
    return first


def by_key(objs: list[Obj] | tuple[Obj, ...]) -> dict[tuple[str, str], Obj]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objs}

"""One model of the GitOps tree: where the checkout is, which environments `apps/` defines, what a
kustomization renders and which paths an environment's Argo CD Applications sync. Every renderer
(validator, bootstrap, rendered diff, tests) asks this module, so each of these is derived once."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from votemon.gitops import REPO
from votemon.gitops.kustomize import kustomize
from votemon.settings import SERVICES as SERVICE_SPECS

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

NAMESPACE = "so1-p2"
ARGOCD_NAMESPACE = "argocd"
TREES = ("base", "overlays", "apps")
# The votemon services, from the one registry (votemon.settings.SERVICES).
SERVICES = tuple(sorted(spec.name for spec in SERVICE_SPECS))
# kustomize's name suffix for generated ConfigMaps and Secrets (a 10-character hash).
GENERATED_SUFFIX = re.compile(r"-[bcdfghkmt2-9]{10}$")

Obj = dict[str, Any]
Check = Callable[[list[Obj]], list[str]]


def name_of(obj: Obj) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def base_name(obj: Obj) -> str:
    """An object's name without the hash suffix a kustomize generator adds."""
    return GENERATED_SUFFIX.sub("", obj["metadata"]["name"])


def local_config(path: Path) -> dict[str, str]:
    """The data of a kustomize local-config ConfigMap (read by the build, never applied)."""
    data: dict[str, str] = yaml.safe_load(path.read_text(encoding="utf-8"))["data"]
    return data


def environments(root: Path = REPO) -> tuple[str, ...]:
    """The environments: each apps/<env>/environment.yaml names one."""
    return tuple(local_config(path)["name"] for path in sorted((root / "apps").glob("*/environment.yaml")))


ENVS = environments()


@dataclass(frozen=True)
class Repository:
    """Where Argo CD reads this repository (apps/base/repository.yaml, the one place it is written)."""

    url: str
    revision: str


def repository(root: Path = REPO) -> Repository:
    data = local_config(root / "apps" / "base" / "repository.yaml")
    return Repository(url=data["url"], revision=data["revision"])


def kustomization_dirs(root: Path = REPO) -> list[Path]:
    """Every directory under base/, overlays/ and apps/ that `kustomize build` can build."""
    dirs = []
    for tree in TREES:
        for file in sorted((root / tree).rglob("kustomization.yaml")):
            if yaml.safe_load(file.read_text()).get("kind", "Kustomization") == "Kustomization":
                dirs.append(file.parent)
    return dirs


def parse(text: str) -> list[Obj]:
    """The objects of a YAML stream (empty documents dropped)."""
    return [doc for doc in yaml.load_all(text, Loader=LOADER) if doc]


def render_uncached(path: Path) -> list[Obj]:
    return parse(kustomize("build", path))


@functools.cache
def render(path: Path) -> tuple[Obj, ...]:
    """Rendered objects of one kustomization, once per process (callers must not mutate them)."""
    return tuple(render_uncached(path.resolve()))


def applications(env: str, root: Path = REPO) -> list[Obj]:
    """The child Applications of environment `env` that sync a path of this repository."""
    return [
        app
        for app in render(root / "apps" / env)
        if app["kind"] == "Application" and app["spec"]["source"].get("path")
    ]


def app_paths(env: str, root: Path = REPO) -> list[Path]:
    """The git paths the Argo CD Applications of apps/<env> sync (Helm chart sources excluded)."""
    return [root / app["spec"]["source"]["path"] for app in applications(env, root)]


def env_objects(env: str, root: Path = REPO) -> list[Obj]:
    """Everything Argo CD applies from git in one environment: the union of its Applications' paths."""
    return [obj for path in app_paths(env, root) for obj in render(path)]

"""Print the root app-of-apps for an environment, pointed at the repository Argo CD should sync.

    scripts/gitops root-app dev --repo git://127.0.0.1:19418/votemon.git [--without-operators]

The root comes from git (apps/root/app-of-apps.yaml, one for every environment: this command puts the
environment's name in, as apps/<env>/environment.yaml does for the children, and the repository and
revision of apps/base/repository.yaml, as its replacements do for the children). Everything else is
derived from the same source, through the root's own Kustomize patches, so no file is edited and
nothing is copied by hand:
- with --repo other than the one in git (a fork, the local git server): the root and every child
  Application that syncs this repository point at it (`trust-root --repo` lets the projects allow
  it);
- with --without-operators (a cluster that cannot reach the operators' Helm charts, such as the
  local one): the child Applications that install a chart are left out of the root.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import yaml

from votemon.gitops import REPO
from votemon.gitops.tree import ENVS, render, repository

# Where apps/root/app-of-apps.yaml names the environment (in the root's name and the path it syncs).
ENVIRONMENT = "<env>"


def name_regex(names: list[str]) -> str:
    return "^(" + "|".join(sorted(names)) + ")$"


def root_app(environment: str, repo: str | None, without_operators: bool) -> dict[str, Any]:
    root: dict[str, Any] = yaml.safe_load((REPO / "apps" / "root" / "app-of-apps.yaml").read_text())
    source = root["spec"]["source"]
    for fields, key in ((root["metadata"], "name"), (source, "path")):
        fields[key] = fields[key].replace(ENVIRONMENT, environment)
    upstream = repository().url
    source["repoURL"], source["targetRevision"] = upstream, repository().revision
    children = render(REPO / source["path"])
    patches: list[dict[str, Any]] = []
    if repo is not None and repo != upstream:
        source["repoURL"] = repo
        ours = [
            c["metadata"]["name"]
            for c in children
            if c["kind"] == "Application" and c["spec"]["source"].get("repoURL") == upstream
        ]
        if ours:
            patches.append(json_patch("Application", ours, "replace", "/spec/source/repoURL", repo))
    if without_operators:
        charts = [c for c in children if c["kind"] == "Application" and "chart" in c["spec"]["source"]]
        patches.extend({"patch": yaml.safe_dump(deletion(chart))} for chart in charts)
    if patches:
        source.setdefault("kustomize", {})["patches"] = patches
    return root


def deletion(obj: dict[str, Any]) -> dict[str, Any]:
    """A strategic-merge patch that removes `obj` from the render."""
    metadata = {"name": obj["metadata"]["name"], "namespace": obj["metadata"]["namespace"]}
    return {"$patch": "delete", "apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": metadata}


def json_patch(kind: str, names: list[str], op: str, path: str, value: str) -> dict[str, Any]:
    return {
        "target": {"group": "argoproj.io", "kind": kind, "name": name_regex(names)},
        "patch": json.dumps([{"op": op, "path": path, "value": value}]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("environment", choices=ENVS)
    parser.add_argument("--repo", help="the repository URL Argo CD syncs (default: the one in git)")
    parser.add_argument("--without-operators", action="store_true", help="leave the chart Applications out")
    args = parser.parse_args()
    yaml.safe_dump(root_app(args.environment, args.repo, args.without_operators), sys.stdout, sort_keys=False)


if __name__ == "__main__":
    main()

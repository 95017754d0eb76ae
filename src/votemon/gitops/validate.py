"""Offline validation of the GitOps tree (base/, overlays/, apps/): renders every kustomization with
the pinned kustomize, then runs every check (votemon.gitops.checks) on each rendered directory, on
each environment (the union of what its Argo CD Applications sync) and on the Argo CD tree itself.

    .venv/bin/python -m votemon.gitops.validate     # prints a summary, exit 1 on any error
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

from votemon.gitops import REPO, checks, tree, trust_root


def problems() -> Iterator[str]:
    """Every error, prefixed with where it was found; a summary line per environment is printed."""
    for path in tree.kustomization_dirs():
        objs = list(tree.render(path))
        for label, check in checks.DIR_CHECKS.items():
            yield from (f"{path.relative_to(REPO)}: {label}: {error}" for error in check(objs))
    projects = trust_root.projects()
    yield from (f"apps/projects: {error}" for error in checks.check_projects(projects))
    access = [*trust_root.rbac(), trust_root.sso("https://argocd.example.org", "client-id")]
    yield from (f"apps/argocd: {error}" for error in checks.check_argocd_access(access))
    for env in tree.ENVS:
        objs = tree.env_objects(env)
        for label, check in checks.env_checks(env).items():
            yield from (f"env {env}: {label}: {error}" for error in check(objs))
        apps = list(tree.render(REPO / "apps" / env))
        yield from (f"apps/{env}: {error}" for error in checks.check_not_synced(apps))
        yield from (f"apps/{env}: {error}" for error in checks.check_argo_apps(apps + projects))
        yield from (f"apps/{env}: {error}" for error in checks.check_application_waves(env))
        print(f"env {env}: {len(objs)} objects from {len(tree.app_paths(env))} Application paths")
    yield from checks.check_argo_sources()


def main() -> int:
    failures = 0
    for problem in problems():
        failures += 1
        print(problem)
    dirs = tree.kustomization_dirs()
    objects = sum(len(tree.render(path)) for path in dirs)
    print(f"{len(dirs)} kustomizations, {objects} rendered objects, {failures} problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

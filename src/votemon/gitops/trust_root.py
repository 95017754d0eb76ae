"""Print Argo CD's trust root, which scripts/argocd-bootstrap.sh applies and git never syncs: the
AppProjects (apps/projects), each project without sourceRepos of its own allowing this repository,
and Argo CD's RBAC (apps/argocd). A commit under apps/ therefore cannot add or widen a project.

    scripts/gitops trust-root [--repo git://127.0.0.1:19418/votemon.git]   # projects and RBAC
    scripts/gitops trust-root --sync-windows   # and the scheduled load test's sync window (real GKE)
    scripts/gitops trust-root --sso-url https://argocd.example.org --sso-client-id ID
                                             # GKE's last bootstrap step: Google SSO, admin disabled
"""

from __future__ import annotations

import argparse
import sys

import yaml

from votemon.gitops import REPO
from votemon.gitops.tree import Obj, render, repository

PROJECTS = REPO / "apps" / "projects"
# Production's own project settings: the scheduled load test's sync window. Not on the local cluster,
# which the tests bootstrap as gke too and which must sync at any hour.
GKE_SYNC_WINDOWS = PROJECTS / "real-gke" / "sync-window.yaml"
ARGOCD_CONFIG = REPO / "apps" / "argocd"
SSO = ARGOCD_CONFIG / "sso.yaml"
# Where apps/argocd/sso.yaml leaves the installation's own values.
SSO_PLACEHOLDERS = ("<argocd-url>", "<oidc-client-id>")


def projects(repo: str | None = None, *, sync_windows: bool = False) -> list[Obj]:
    """The AppProjects; those that name no sourceRepos sync this repository (and `repo`, a fork or
    the local git server, when given); with the sync windows of a real GKE cluster when asked."""
    upstream = repository().url
    allowed = [upstream] + ([repo] if repo and repo != upstream else [])
    windows: Obj = yaml.safe_load(GKE_SYNC_WINDOWS.read_text(encoding="utf-8"))
    rendered = [dict(p, spec=dict(p["spec"])) for p in render(PROJECTS)]
    for project in rendered:
        project["spec"].setdefault("sourceRepos", allowed)
        if sync_windows and project["metadata"]["name"] == windows["metadata"]["name"]:
            project["spec"]["syncWindows"] = windows["spec"]["syncWindows"]
    return rendered


def rbac() -> list[Obj]:
    return list(render(ARGOCD_CONFIG))


def sso(url: str, client_id: str) -> Obj:
    """argocd-cm's SSO settings (apps/argocd/sso.yaml) with the installation's URL and client id."""
    text = SSO.read_text(encoding="utf-8")
    for placeholder, value in zip(SSO_PLACEHOLDERS, (url, client_id), strict=True):
        text = text.replace(placeholder, value)
    config: Obj = yaml.safe_load(text)
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", help="a repository the projects allow besides the one in git")
    parser.add_argument(
        "--sync-windows",
        action="store_true",
        help="with the sync windows of a real GKE cluster (apps/projects/real-gke)",
    )
    parser.add_argument("--sso-url", help="Argo CD's external URL: print the SSO settings instead")
    parser.add_argument("--sso-client-id", help="the OAuth client id of Argo CD's Google sign-in")
    args = parser.parse_args()
    if bool(args.sso_url) != bool(args.sso_client_id):
        parser.error("--sso-url and --sso-client-id go together")
    if args.sso_url:
        yaml.safe_dump(sso(args.sso_url, args.sso_client_id), sys.stdout, sort_keys=False)
    else:
        yaml.safe_dump_all(
            [*projects(args.repo, sync_windows=args.sync_windows), *rbac()], sys.stdout, sort_keys=False
        )


if __name__ == "__main__":
    main()

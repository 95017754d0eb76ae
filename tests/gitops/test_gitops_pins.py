"""One kustomize and one set of CRD versions: what renders and validates here is what Argo CD installs.

- The manifests render with the kustomize pinned in cluster/versions.env (the one Argo CD's
  repo-server bundles, or the nearest that builds), never another one found on PATH.
- The CRD schemas in schemas/crds are those of the chart versions apps/ installs and of the pinned
  Argo CD (scripts/refresh-crds.sh writes them and their README).
- The StatefulSets' volumeClaimTemplates are immutable: they render in one form, without the
  kustomization labels (kustomize 5.8 `includeTemplates` leaves them out; 5.5 added them)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.gitops.gitops_support import REPO
from votemon.gitops import tree
from votemon.gitops.kustomize import kustomize

VERSIONS = REPO / "cluster" / "versions.env"
CRDS_README = REPO / "schemas" / "crds" / "README.md"


def pinned(name: str) -> str:
    match = re.search(rf"^{name}=(\S+)$", VERSIONS.read_text(), re.MULTILINE)
    assert match, f"{name} is not in {VERSIONS}"
    return match.group(1)


def chart_versions(env: str) -> dict[str, str]:
    return {
        app["spec"]["source"]["chart"]: str(app["spec"]["source"]["targetRevision"])
        for app in tree.render(REPO / "apps" / env)
        if app["kind"] == "Application" and app["spec"]["source"].get("chart")
    }


def crd_versions() -> dict[str, set[str]]:
    """file name prefix -> the versions its rows in schemas/crds/README.md record."""
    found: dict[str, set[str]] = {}
    for row in CRDS_README.read_text().splitlines():
        cells = [c.strip() for c in row.strip("|").split("|")]
        if len(cells) == 4 and cells[0].endswith(".yaml"):
            prefix = cells[0].split("-")[0].split("_")[0].split(".")[0]
            found.setdefault(prefix, set()).add(cells[2])
    return found


def test_the_pinned_kustomize_renders() -> None:
    assert kustomize("version").strip() == pinned("KUSTOMIZE_VERSION")


def test_the_crd_schemas_are_those_of_the_installed_versions() -> None:
    recorded = crd_versions()
    for env in tree.ENVS:
        charts = chart_versions(env)
        assert recorded["strimzi"] == {charts["strimzi-kafka-operator"]}, env
        assert recorded["external"] == {f"v{charts['external-secrets']}"}, env
        assert recorded["generators"] == {f"v{charts['external-secrets']}"}, env
        if "keda" in charts:
            assert recorded["keda"] == {f"v{charts['keda']}"}, env
    assert recorded["argocd"] == {pinned("ARGOCD_VERSION")}


def test_every_crd_file_is_recorded() -> None:
    listed = {row.split("|")[1].strip() for row in CRDS_README.read_text().splitlines() if ".yaml |" in row}
    assert listed == {path.name for path in Path(CRDS_README.parent).glob("*.yaml")}


def test_volume_claim_templates_render_in_one_form() -> None:
    for env in tree.ENVS:
        for obj in tree.env_objects(env):
            if obj["kind"] == "StatefulSet":
                for template in obj["spec"].get("volumeClaimTemplates", []):
                    assert set(template["metadata"]) == {"name"}, (
                        env,
                        tree.name_of(obj),
                        template["metadata"],
                    )

"""Renovate's configuration (.github/renovate.json) reaches every kind of pin: the Python locks, the
manifests' images, the add-ons' charts, the workflows' actions, and each Go tool or control-plane
version (a `# renovate:` line that its regex manager must parse)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.delivery.delivery_helpers import REPO

CONFIG: dict[str, Any] = json.loads((REPO / ".github" / "renovate.json").read_text())


def patterns(manager: dict[str, Any]) -> list[re.Pattern[str]]:
    """Renovate's /regex/ file patterns, as Python regular expressions."""
    return [re.compile(p.strip("/")) for p in manager["managerFilePatterns"]]


def matched(manager: dict[str, Any], path: str) -> bool:
    return any(p.search(path) for p in patterns(manager))


def test_the_python_locks_and_the_manifests_images_and_charts_are_covered() -> None:
    for lock in ("requirements.lock", "requirements-runtime.lock"):
        assert matched(CONFIG["pip-compile"], lock), lock
        assert "uv pip compile" in (REPO / lock).read_text().splitlines()[1], (
            "Renovate reruns uv's header command"
        )
    images = [
        str(p.relative_to(REPO))
        for tree in ("base", "overlays")
        for p in (REPO / tree).rglob("*.yaml")
        if re.search(r"^\s+image: (?!votemon$)", p.read_text(), re.MULTILINE)
    ]
    assert images and all(matched(CONFIG["kubernetes"], path) for path in images), images
    charts = [str(p.relative_to(REPO)) for p in (REPO / "apps").rglob("*.yaml") if "chart:" in p.read_text()]
    assert charts and all(matched(CONFIG["argocd"], path) for path in charts), charts
    assert "docker:pinDigests" in CONFIG["extends"]


def test_every_go_tool_and_control_plane_version_is_annotated_and_parsed() -> None:
    (manager,) = CONFIG["customManagers"]
    regex = re.compile(manager["matchStrings"][0].replace("(?<", "(?P<"))
    files = [REPO / "cluster" / "versions.env", REPO / "scripts" / "install-tools.sh"]
    found: dict[str, str] = {}
    for path in files:
        assert matched(manager, str(path.relative_to(REPO))), path
        text = path.read_text()
        found |= {m["depName"]: m["currentValue"] for m in regex.finditer(text)}
        assert text.count("# renovate:") == len(list(regex.finditer(text))), (
            f"{path}: an annotation does not parse"
        )
    assert found["sigs.k8s.io/kustomize/kustomize/v5"] == versions()["KUSTOMIZE_VERSION"]
    assert found["go"] == versions()["GO_VERSION"]
    assert {"github.com/rhysd/actionlint", "github.com/tsenart/vegeta/v12"} <= set(found)
    go_installs = re.findall(
        r"go install \"([\w./-]+?)(?:/cmd/\w+)?@", (REPO / "scripts/install-tools.sh").read_text()
    )
    assert set(go_installs) <= set(found), set(go_installs) - set(found)


def versions() -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in (REPO / "cluster/versions.env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    return dict(pair for pair in pairs if len(pair) == 2)


def test_renovate_config_is_the_only_one() -> None:
    others = [
        p
        for p in ("renovate.json", ".renovaterc", ".github/renovate.json5", ".github/dependabot.yml")
        if (REPO / p).exists()
    ]
    assert others == [], others
    assert Path(REPO / ".github" / "renovate.json").is_file()

"""Delivery linters in `make test`: actionlint (with shellcheck), zizmor, hadolint, shellcheck, and
the checks that workflows pin their actions, scope their permissions and call only what exists.
Every tool is taken from its project path and a missing tool fails the test (it never skips)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.delivery.delivery_helpers import REPO, WORKFLOWS, run, tool

WORKFLOW_FILES = sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])
EXPECTED_WORKFLOWS = {"ci", "images", "loadtest", "replicas", "cloudrun"}


def load(path: Path) -> dict[Any, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict), path
    return doc


def strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in strings(v)]
    return []


def test_the_five_workflows_exist() -> None:
    assert {p.stem for p in WORKFLOW_FILES} >= EXPECTED_WORKFLOWS


def test_actionlint_with_shellcheck() -> None:
    actionlint, shellcheck = tool(".local/bin/actionlint"), tool(".venv/bin/shellcheck")
    env = {**os.environ, "PATH": f"{shellcheck.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    run(actionlint, "-shellcheck", shellcheck, *WORKFLOW_FILES, env=env)


def test_zizmor_offline_has_no_findings() -> None:
    """Reviewed ignores, if any, live in .github/zizmor.yml with their reason."""
    run(
        tool(".venv/bin/zizmor"),
        "--offline",
        "--no-progress",
        "--config",
        REPO / ".github/zizmor.yml",
        WORKFLOWS,
    )


def test_hadolint_dockerfile() -> None:
    run(tool(".venv/bin/hadolint"), "--failure-threshold", "info", REPO / "Dockerfile")


def test_shellcheck_scripts() -> None:
    scripts = sorted(
        {
            *REPO.glob("scripts/*.sh"),
            *REPO.glob("scripts/delivery/*.sh"),
            *REPO.glob("stack/*.sh"),
            REPO / "cluster/image.sh",
            REPO / "cluster/node.sh",
        }
    )
    assert scripts
    run(tool(".venv/bin/shellcheck"), "--external-sources", *scripts)


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_actions_are_pinned_by_commit_sha(path: Path) -> None:
    for n, line in enumerate(path.read_text().splitlines(), 1):
        match = re.match(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", line)
        if not match or match[1].startswith("./"):
            continue
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", match[1]), f"{path.name}:{n} not pinned: {line}"
        assert re.search(r"#\s*v\d+\.\d+\.\d+", match[2]), f"{path.name}:{n} lacks its # vX.Y.Z comment"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_least_privilege_permissions(path: Path) -> None:
    doc = load(path)
    assert doc.get("permissions") == {}, f"{path.name}: workflow-level permissions must be {{}}"
    assert "concurrency" in doc, f"{path.name}: no concurrency group"
    for name, job in doc["jobs"].items():
        assert "permissions" in job, f"{path.name}: job {name} has no permissions block"
        assert "write-all" not in str(job["permissions"]) and job["permissions"] != "write-all"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_checkouts_do_not_persist_credentials(path: Path) -> None:
    for job in load(path)["jobs"].values():
        for step in job.get("steps", []):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") is False, path.name


def make_targets() -> set[str]:
    text = (REPO / "Makefile").read_text()
    return set(re.findall(r"^([a-zA-Z][\w-]*)\s*:(?!=)", text, flags=re.M))


PATH_REF = re.compile(
    r"(?<![\w/.$-])(?:\./)?((?:scripts|stack|loadtest|tests|overlays|cloudrun|base)/[\w./*-]*[\w*])"
)


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_workflows_call_only_what_exists(path: Path) -> None:
    doc = load(path)
    targets = make_targets()
    missing = []
    for job in doc["jobs"].values():
        uses = job.get("uses", "")
        if uses.startswith("./") and not (REPO / uses).is_file():
            missing.append(uses)
        for step in job.get("steps", []):
            text = "\n".join(strings(step))
            for target in re.findall(r"(?<![\w-])make\s+([a-z][\w-]*)", step.get("run", "")):
                if target not in targets:
                    missing.append(f"make {target}")
            for ref in PATH_REF.findall(text):
                if "*" in ref:
                    continue  # a path filter or glob: may legitimately match nothing yet
                if ref.startswith("reports/"):
                    continue
                if not (REPO / ref).exists():
                    missing.append(ref)
    on = doc.get("on", doc.get(True, {}))
    for trigger in on.values() if isinstance(on, dict) else []:
        for pattern in (trigger or {}).get("paths", []) if isinstance(trigger, dict) else []:
            if not any(ch in pattern for ch in "*?["):
                assert (REPO / pattern).exists(), f"{path.name}: path filter {pattern} names nothing"
    assert not missing, f"{path.name} calls what does not exist: {missing}"


def test_workflow_scripts_are_executable() -> None:
    for path in WORKFLOW_FILES:
        for ref in PATH_REF.findall(path.read_text()):
            target = REPO / ref
            if target.suffix in {".sh", ".py"} and target.parent.name in {"scripts", "delivery", "stack"}:
                assert os.access(target, os.X_OK) or target.suffix == ".py", f"{ref} is not executable"


# -- the image ------------------------------------------------------------------------------------


def test_dockerfile_follows_the_contract() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert re.search(r"python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", text), "base not pinned"
    assert text.count("FROM ") >= 2, "multi-stage"
    assert "--require-hashes" in text and "requirements-runtime.lock" in text
    assert (
        "pip wheel --no-deps --no-build-isolation" in text and "uv pip install --no-deps /tmp/wheel/" in text
    )
    assert not text.startswith("# syntax="), (
        "BuildKit would fetch a frontend image from Docker Hub for nothing"
    )
    final = text[text.rindex("FROM ") :]
    assert "USER 10001:10001" in final and 'ENTRYPOINT ["votemon"]' in final
    assert not re.search(r"apt-get|gcc|build-essential", final), "no compilers in the final stage"


def test_the_build_backend_is_hash_locked_at_pyprojects_pin() -> None:
    """The project's wheel is built by hatchling installed with --require-hashes, never fetched unchecked
    by an isolated build; its pin is pyproject.toml's [build-system] pin."""
    locked = pins(REPO / "scripts/delivery/build-backend-requirements.txt")
    required = re.search(r'requires = \["hatchling==([^"]+)"\]', (REPO / "pyproject.toml").read_text())
    assert required and locked.get("hatchling") == required[1], (locked, required)
    entries = re.split(r"\n(?=\S)", (REPO / "scripts/delivery/build-backend-requirements.txt").read_text())
    assert all("--hash=sha256:" in e for e in entries if not e.startswith("#")), "every pin has hashes"
    assert "-r /tmp/build-backend-requirements.txt" in (REPO / "Dockerfile").read_text()


def test_ci_and_the_local_cluster_build_the_one_dockerfile() -> None:
    """CI's images workflow and cluster/image.sh build the same Dockerfile from the same context; both
    name the build (VOTEMON_VERSION), the local build also changes PYTHON_IMAGE (Docker Hub is out of
    reach here), and CI's build is triggered by a change to anything the Dockerfile copies."""
    workflow = load(WORKFLOWS / "images.yml")
    (step,) = [
        s for s in workflow["jobs"]["build"]["steps"] if "docker/build-push-action" in s.get("uses", "")
    ]
    assert step["with"]["context"] == "." and not {"file", "target"} & set(step["with"]), step
    assert step["with"]["build-args"] == "VOTEMON_VERSION=sha-${{ github.sha }}", step
    script = (REPO / "cluster/image.sh").read_text()
    (build,) = re.findall(r"buildah build .*?(?<!\\)\n", script, flags=re.S)
    assert re.findall(r"--build-arg \"(\w+)=", build) == ["PYTHON_IMAGE", "VOTEMON_VERSION"], build
    assert '--file "$root/Dockerfile" "$root"' in build, build
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.findall(r"^ARG (\w+)", dockerfile, flags=re.M) == ["PYTHON_IMAGE", "VOTEMON_VERSION"]
    triggers = set(workflow[True]["push"]["paths"])
    for sources in re.findall(r"^COPY\s+(?!--from)(.+)\s+\S+$", dockerfile, flags=re.M):
        for source in sources.split():
            assert source in triggers or f"{source}/**" in triggers, (
                f"images.yml does not rebuild on {source}"
            )


def test_dockerignore_lets_in_what_the_dockerfile_copies() -> None:
    allowed = {
        line[1:].rstrip("/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    for sources in re.findall(
        r"^COPY\s+(?!--from)(.+)\s+\S+$", (REPO / "Dockerfile").read_text(), flags=re.M
    ):
        for source in sources.split():
            assert source.rstrip("/") in allowed, f".dockerignore keeps {source} out of the build context"
            assert (REPO / source).exists(), source


def pins(path: Path) -> dict[str, str]:
    return {
        m[1].lower(): m[2]
        for m in re.finditer(r"^([A-Za-z0-9._-]+)==([^\s\\;]+)", path.read_text(), flags=re.M)
    }


def test_runtime_lock_is_the_tests_locked_set() -> None:
    """The image installs requirements-runtime.lock: every pin there is the one the tests run with."""
    runtime, full = pins(REPO / "requirements-runtime.lock"), pins(REPO / "requirements.lock")
    assert runtime
    different = {name: (v, full.get(name)) for name, v in runtime.items() if full.get(name) != v}
    assert not different, f"requirements-runtime.lock differs from requirements.lock: {different}"
    deps = re.findall(
        r'^\s+"([A-Za-z0-9._-]+)==',
        (REPO / "pyproject.toml").read_text().split("[project.optional")[0],
        flags=re.M,
    )
    assert {d.lower() for d in deps} <= set(runtime), "a runtime dependency is missing from the runtime lock"


def test_every_workflow_installs_kustomize_with_the_project_script() -> None:
    """The pinned kustomize is installed in one way (scripts/install-kustomize.sh, through
    `make install` or the tools action), never inline in a workflow."""
    inline = [
        f"{path.name}: {name}"
        for path in sorted(WORKFLOWS.glob("*.yml"))
        for name, job in load(path)["jobs"].items()
        for step in job.get("steps", [])
        if "kustomize" in step.get("run", "") and "go install" in step.get("run", "")
    ]
    assert inline == []


def test_replica_pull_requests_get_a_ci_run() -> None:
    """A pull request opened with GITHUB_TOKEN starts no workflow; only workflow_dispatch does. The
    replicas workflow therefore dispatches ci for its branch, after opening the pull request."""
    ci = load(WORKFLOWS / "ci.yml")
    assert "workflow_dispatch" in ci[True], "ci cannot be dispatched"
    job = load(WORKFLOWS / "replicas.yml")["jobs"]["pull-request"]
    assert job["permissions"].get("actions") == "write"
    script = "\n".join(step.get("run", "") for step in job["steps"])
    assert 'gh workflow run ci.yml --ref "$branch"' in script
    assert script.index("gh pr create") < script.index("gh workflow run ci.yml")


def test_pull_requests_get_the_rendered_diff_in_their_summary() -> None:
    """ci's rendered-diff job runs for pull requests and for the replicas workflow's dispatch, with
    the pinned kustomize installed the delivery jobs' way, and writes to the job summary."""
    job = load(WORKFLOWS / "ci.yml")["jobs"]["rendered-diff"]
    assert "pull_request" in job["if"] and "workflow_dispatch" in job["if"]
    script = "\n".join(step.get("run", "") for step in job["steps"])
    assert 'scripts/gitops diff --base "origin/$BASE" --head HEAD' in script
    assert '--output "$GITHUB_STEP_SUMMARY"' in script
    checkout = next(step for step in job["steps"] if step.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0, "the base branch must be fetched"


def test_every_job_sets_up_its_tools_with_the_one_action() -> None:
    """Python, Go and the pinned tools come from .github/actions/tools in every job (one setup, Go
    from cluster/versions.env), never from a job's own setup-python or setup-go."""
    own = [
        f"{path.name}: {name}"
        for path in sorted(WORKFLOWS.glob("*.yml"))
        for name, job in load(path)["jobs"].items()
        for step in job.get("steps", [])
        if step.get("uses", "").startswith(("actions/setup-python@", "actions/setup-go@"))
    ]
    assert own == []
    action = load(REPO / ".github" / "actions" / "tools" / "action.yml")
    steps = action["runs"]["steps"]
    go = next(step for step in steps if step.get("uses", "").startswith("actions/setup-go@"))
    assert go["with"]["go-version"] == "${{ steps.versions.outputs.go }}"
    assert "source cluster/versions.env" in steps[0]["run"]
    assert "GO_VERSION=" in (REPO / "cluster" / "versions.env").read_text()

"""CI's cloud identity and the way to main (docs/security.md): Workload Identity trusts each deploying
workflow only on main (the deploy only in its reviewed environment), each workflow's account holds
the narrowest role on the one resource it touches, deploys wait for the `production` environment's
reviewers, the bump reaches main through a pull request, and images ship signed, attested and
scanned. The bootstrap scripts' commands are checked from their dry runs."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.delivery.delivery_helpers import REPO, WORKFLOWS
from tests.delivery.test_delivery_lint import WORKFLOW_FILES, load

GITHUB_REPO = "acme/votemon"
ENVIRONMENT = "production"


def dry_run(script: str, *args: str, **env: str) -> list[str]:
    proc = subprocess.run(
        [str(REPO / "scripts" / script), *args],
        env={**os.environ, "DRY_RUN": "1", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.splitlines()


def unquote(line: str) -> str:
    """The dry run prints each argument shell-quoted (printf %q)."""
    return re.sub(r"\\(.)", r"\1", line)


def ci_commands() -> list[str]:
    return [unquote(line).strip() for line in dry_run("gcp-bootstrap.sh", "ci", GITHUB_REPO=GITHUB_REPO)]


def jobs_with(permission: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (path.name, name): job
        for path in WORKFLOW_FILES
        for name, job in load(path)["jobs"].items()
        if permission in (job.get("permissions") or {}) and (job["permissions"][permission] == "write")
    }


def workflow_ref(file: str) -> str:
    return f"{GITHUB_REPO}/.github/workflows/{file}@refs/heads/main"


def test_the_provider_trusts_only_main_and_the_workflows_that_need_a_cloud_token() -> None:
    provider = next(c for c in ci_commands() if "providers create-oidc" in c)
    condition = provider.split("--attribute-condition=", 1)[1]
    assert f"assertion.repository == '{GITHUB_REPO}'" in condition
    assert "assertion.ref == 'refs/heads/main'" in condition
    cloud_jobs = {k: j for k, j in jobs_with("id-token").items() if k[0] != "ci.yml"}
    assert cloud_jobs, "no job asks for a cloud token"
    for (file, name), job in cloud_jobs.items():
        ref = f"assertion.job_workflow_ref == '{workflow_ref(file)}'"
        assert ref in condition, (file, name)
        if "environment" in job:
            clause = condition[condition.index(ref) :]
            assert f"assertion.sub == 'repo:{GITHUB_REPO}:environment:{job['environment']}'" in clause
    assert condition.count("job_workflow_ref ==") == len({file for file, _ in cloud_jobs})


def test_each_workflow_impersonates_only_its_own_account_with_the_narrowest_roles() -> None:
    commands = ci_commands()
    bindings = [c for c in commands if "roles/iam.workloadIdentityUser" in c]
    members = {c.split()[4]: c.split("--member=")[1].strip() for c in bindings}
    assert sorted(a.split("@")[0] for a in members) == ["so1-p2-ci-deploy", "so1-p2-ci-images"]
    for account, member in members.items():
        file = "images.yml" if "ci-images" in account else "cloudrun.yml"
        assert member.endswith(f"/attribute.job_workflow_ref/{workflow_ref(file)}"), member
    roles = {
        c.split("--role=")[1].split()[0]: c
        for c in commands
        if "--role=" in c and "workloadIdentity" not in c
    }
    assert set(roles) == {
        "roles/artifactregistry.writer",
        "roles/run.developer",
        "roles/iam.serviceAccountUser",
    }
    assert roles["roles/artifactregistry.writer"].startswith(
        "gcloud artifacts repositories add-iam-policy-binding "
    )
    assert roles["roles/run.developer"].startswith(
        "gcloud run services add-iam-policy-binding votemon-results "
    )
    assert roles["roles/iam.serviceAccountUser"].startswith(
        "gcloud iam service-accounts add-iam-policy-binding so1-p2-results@"
    )
    everything = commands + [
        unquote(c) for c in dry_run("gcp-bootstrap.sh", "gcp", ADMIN_CIDRS="203.0.113.0/24")
    ]
    project_wide = [c for c in everything if "projects add-iam-policy-binding" in c]
    assert [c for c in project_wide if "so1-p2-nodes@" not in c] == [], "no project-wide grant but the nodes'"
    scripts = "\n".join(p.read_text() for p in (REPO / "scripts").rglob("*.sh"))
    assert "run.admin" not in scripts + "\n".join(p.read_text() for p in WORKFLOW_FILES)


def test_every_deploy_waits_for_the_reviewed_environment() -> None:
    deploys = {
        (path.name, name): job
        for path in WORKFLOW_FILES
        for name, job in load(path)["jobs"].items()
        if any(
            s in str(job.get("steps", ""))
            for s in ("deploy_cloudrun.sh", "bump_pull_request.sh", "BUMP_APP_PRIVATE_KEY")
        )
    }
    assert {k[0] for k in deploys} == {"images.yml", "cloudrun.yml"}
    for key, job in deploys.items():
        assert job.get("environment") == ENVIRONMENT, key
    environment = json.loads((REPO / ".github" / "environments" / f"{ENVIRONMENT}.json").read_text())
    assert environment["reviewers"] and environment["prevent_self_review"] is True
    assert environment["deployment_branch_policy"] == {
        "protected_branches": False,
        "custom_branch_policies": True,
    }
    calls = dry_run("github-settings.sh", GITHUB_REPO=GITHUB_REPO, BUMP_APP_ID="7", REVIEWERS_TEAM="platform")
    policy = calls.index(
        f"gh api --method POST repos/{GITHUB_REPO}/environments/{ENVIRONMENT}/deployment-branch-policies"
    )
    assert json.loads(calls[policy + 1]) == {"name": "main", "type": "branch"}


def test_no_workflow_writes_to_main() -> None:
    writers = set(jobs_with("contents"))
    assert writers == {("replicas.yml", "pull-request"), ("loadtest.yml", "history")}, (
        "only the replicas workflow (its pull request's branch) and the load test's history (branch"
        " loadtest-history) push"
    )
    for path in WORKFLOW_FILES:
        assert not re.search(r"git push\b.*\bmain\b", path.read_text()), path.name
    images = load(WORKFLOWS / "images.yml")
    assert "workflow_call" not in str(load(WORKFLOWS / "cloudrun.yml")[True]), (
        "cloudrun runs on main's pushes"
    )
    assert "cloudrun" not in images["jobs"], "the merge of the bump starts cloudrun, not images"


def test_main_rulesets_admit_no_bypass_but_the_bump_apps_pull_requests() -> None:
    rulesets = [json.loads(p.read_text()) for p in sorted((REPO / ".github" / "rulesets").glob("*.json"))]
    rules = {rule["type"]: rule for ruleset in rulesets for rule in ruleset["rules"]}
    assert {"deletion", "non_fast_forward", "pull_request", "required_status_checks"} <= set(rules)
    assert rules["pull_request"]["parameters"]["require_code_owner_review"] is True
    assert rules["pull_request"]["parameters"]["required_approving_review_count"] >= 1
    for ruleset in rulesets:
        assert ruleset["enforcement"] == "active"
        assert ruleset["conditions"]["ref_name"]["include"] == ["~DEFAULT_BRANCH"]
        for actor in ruleset["bypass_actors"]:
            assert (actor["actor_type"], actor["bypass_mode"]) == ("Integration", "pull_request"), actor
            assert "pull_request" in {r["type"] for r in ruleset["rules"]}
            assert {r["type"] for r in ruleset["rules"]} == {"pull_request"}, "the bypass skips no check"
    checks = {c["context"] for c in rules["required_status_checks"]["parameters"]["required_status_checks"]}
    ci_jobs = {job.get("name", name) for name, job in load(WORKFLOWS / "ci.yml")["jobs"].items()}
    assert checks <= ci_jobs, checks - ci_jobs
    calls = dry_run("github-settings.sh", GITHUB_REPO=GITHUB_REPO, BUMP_APP_ID="7", REVIEWERS_TEAM="platform")
    bodies = [json.loads(line) for line in calls if line.startswith("{") and "bypass_actors" in line]
    assert len(bodies) == len(rulesets)
    assert [a["actor_id"] for b in bodies for a in b["bypass_actors"]] == [7]


@pytest.mark.parametrize(
    "path", ["/apps/", "/apps/projects/", "/apps/argocd/", "/.github/", "/scripts/argocd-bootstrap.sh"]
)
def test_code_owners_guard_the_trust_root(path: str) -> None:
    owners = {
        line.split()[0]: line.split()[1:]
        for line in (REPO / ".github" / "CODEOWNERS").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert owners.get(path), path


def step(job: dict[str, Any], uses: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [s for s in job["steps"] if str(s.get("uses", "")).startswith(uses + "@")]
    assert len(found) == 1, uses
    return found[0]


def test_images_are_scanned_signed_by_digest_and_attested() -> None:
    build = load(WORKFLOWS / "images.yml")["jobs"]["build"]
    assert build["permissions"]["attestations"] == "write" and build["permissions"]["id-token"] == "write"
    push = step(build, "docker/build-push-action")["with"]
    assert push["sbom"] is True and push["provenance"] == "mode=max"
    scan = step(build, "aquasecurity/trivy-action")["with"]
    assert scan["severity"] == "CRITICAL" and str(scan["exit-code"]) == "1"
    assert scan["image-ref"].endswith("@${{ steps.push.outputs.digest }}")
    step(build, "sigstore/cosign-installer")
    sign = next(s for s in build["steps"] if "cosign sign" in s.get("run", ""))
    assert re.search(r'cosign sign --yes "\S+@\$DIGEST"', sign["run"]), "signs the digest, never a tag"
    attest = step(build, "actions/attest-build-provenance")["with"]
    assert (
        attest["subject-digest"] == "${{ steps.push.outputs.digest }}" and attest["push-to-registry"] is True
    )
    names = [s.get("name", s.get("uses", "")) for s in build["steps"]]
    assert names.index("Fail on a critical vulnerability (Trivy, the action's pinned release)") < names.index(
        "Sign by digest (keyless, this workflow's identity)"
    ), "only a scanned image is signed"


def test_the_gcp_variables_the_workflows_read_are_the_ones_the_bootstrap_prints() -> None:
    printed = "\n".join(ci_commands())
    used = set(
        re.findall(r"vars\.(GCP_\w+_SERVICE_ACCOUNT)", "\n".join(p.read_text() for p in WORKFLOW_FILES))
    )
    assert used == {"GCP_IMAGES_SERVICE_ACCOUNT", "GCP_DEPLOY_SERVICE_ACCOUNT"}
    for var in used:
        assert f"{var}=" in printed, var


def test_bootstrap_help_lists_ci() -> None:
    assert "gcp-bootstrap.sh ci" in Path(REPO / "scripts" / "gcp-bootstrap.sh").read_text()

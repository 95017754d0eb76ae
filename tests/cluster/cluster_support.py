"""The local control plane and Argo CD as the cluster tests see them: kubectl, the argocd CLI and
the git server Argo CD syncs from (cluster/up.sh starts them; cluster/env.sh says where they are)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from votemon.dev.eventually import eventually as dev_eventually
from votemon.gitops import tree
from votemon.gitops.kustomize import kustomize

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = tree.NAMESPACE
ENVIRONMENTS = tree.ENVS
# What each environment's root app-of-apps syncs locally (its chart Applications left out) and the
# path each of those children renders.
CHILD_PATHS = {
    env: {app["metadata"]["name"]: app["spec"]["source"]["path"] for app in tree.applications(env)}
    for env in ENVIRONMENTS
}
CHILDREN = tuple(CHILD_PATHS["dev"])
SERVICES = tree.SERVICES
Obj = dict[str, Any]
T = TypeVar("T")


def cluster_environment() -> dict[str, str]:
    """The process environment with cluster/env.sh applied (KUBECONFIG, ARGOCD_OPTS, PATH, ...)."""
    dumped = subprocess.run(
        ["bash", "-c", f". {ROOT}/cluster/env.sh && env -0"], check=True, capture_output=True
    ).stdout.decode()
    return dict(line.split("=", 1) for line in dumped.split("\0") if "=" in line)


def cluster_setting(name: str) -> str:
    """A value from cluster/env.sh (cluster.env's ports and names, versions.env's versions), where
    each is written once."""
    return subprocess.run(
        ["bash", "-c", f'. {ROOT}/cluster/env.sh && printf %s "${name}"'],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def eventually(check: Callable[[], T], *, timeout: float = 90, every: float = 0.5) -> T:
    """votemon.dev.eventually for the cluster tests' checks, which assert (and may return None): run
    `check` until it stops raising AssertionError or a failed command, then return its value; fails
    with the last assertion's message."""
    passed: list[T] = []

    def passes() -> bool:
        passed.append(check())
        return True

    ignoring = (AssertionError, subprocess.CalledProcessError)
    dev_eventually(passes, f"{check.__name__} held", within=timeout, interval=every, ignoring=ignoring)
    return passed[-1]


class CommandFailed(subprocess.CalledProcessError):
    """A failed command that shows what it said."""

    def __str__(self) -> str:
        return f"{super().__str__()}\n{self.stderr}{self.stdout[-2000:]}"


def available(deployment: Obj) -> bool:
    status = deployment.get("status", {})
    want = deployment["spec"].get("replicas", 1)
    conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
    return (
        conditions.get("Available") == "True"
        and status.get("updatedReplicas") == want
        and status.get("availableReplicas") == want
        and status.get("replicas") == want
        and status.get("observedGeneration") == deployment["metadata"]["generation"]
    )


def unhealthy(status: Obj) -> list[tuple[str, str, Obj]]:
    """The resources an Application's status lists that are not Healthy (kind, name, health); those
    without a health (a Secret, a ConfigMap) are not counted."""
    return [
        (r["kind"], r["name"], r["health"])
        for r in status.get("resources", [])
        if r.get("health", {}).get("status") not in (None, "Healthy")
    ]


def in_namespace(rendered: str, namespace: str) -> str:
    """The same objects, the namespaced ones moved from so1-p2 to `namespace`."""
    objects = [o for o in yaml.safe_load_all(rendered) if o]
    for obj in objects:
        if obj["metadata"].get("namespace") == NAMESPACE:
            obj["metadata"]["namespace"] = namespace
    return yaml.safe_dump_all(objects)


@dataclass(frozen=True)
class Cluster:
    env: dict[str, str]

    def run(self, *args: str | Path, stdin: str | None = None, check: bool = True, cwd: Path = ROOT) -> str:
        proc = subprocess.run(
            [str(a) for a in args],
            check=False,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            cwd=cwd,
        )
        if check and proc.returncode != 0:
            raise CommandFailed(proc.returncode, proc.args, proc.stdout, proc.stderr)
        return proc.stdout

    def kubectl(self, *args: str | Path, stdin: str | None = None) -> str:
        return self.run("kubectl", *args, stdin=stdin)

    def argocd(self, *args: str) -> str:
        return self.run("argocd", *args)

    def render(self, path: str) -> str:
        """What the project's pinned kustomize renders for a path (the same binary Argo CD runs)."""
        return kustomize("build", ROOT / path)

    def get(self, kind: str, name: str, namespace: str = NAMESPACE) -> Obj:
        found: Obj = json.loads(self.kubectl("get", kind, name, "-n", namespace, "-o", "json"))
        return found

    def items(self, kind: str, namespace: str = NAMESPACE, selector: str | None = None) -> list[Obj]:
        args = ["get", kind, "-n", namespace, "-o", "json"] + (["-l", selector] if selector else [])
        found: list[Obj] = json.loads(self.kubectl(*args))["items"]
        return found

    def application(self, name: str) -> Obj:
        return self.get("applications.argoproj.io", name, namespace="argocd")

    def refresh(self, app: str) -> None:
        """Make Argo CD look at git now, as a webhook would (its own poll is every 3 minutes)."""
        self.argocd("app", "get", app, "--refresh", "-o", "json")

    def rolled_out(self, name: str, timeout: float = 90) -> Obj:
        """Deployment `name` once every replica is updated and available."""

        def check() -> Obj:
            deployment = self.get("deployment", name)
            assert available(deployment), deployment.get("status")
            return deployment

        return eventually(check, timeout=timeout)

    def served_revision(self) -> str:
        return self.run("git", "ls-remote", self.env["VOTEMON_REPO_URL"], "refs/heads/main").split()[0]

    def synced_at(self, app: str, revision: str, applied: bool = False) -> Obj:
        """Wait for `app` to be Synced at `revision` with its last sync operation succeeded; with
        `applied`, that operation must have applied `revision` (a commit that changes the app's
        manifests; for any other commit Argo CD only compares, and finds it Synced)."""

        def synced() -> Obj:
            status: Obj = self.application(app).get("status", {})
            assert status.get("sync", {}).get("status") == "Synced", status.get("sync")
            assert status["sync"].get("revision") == revision, (status["sync"].get("revision"), revision)
            operation = status.get("operationState", {})
            assert operation.get("phase") == "Succeeded", operation.get("message")
            if applied:
                assert operation.get("syncResult", {}).get("revision") == revision
            return status

        self.refresh(app)
        return eventually(synced, timeout=120)


@dataclass(frozen=True)
class GitCheckout:
    """A clone of what Argo CD syncs: change files with the project's own scripts, commit, push."""

    cluster: Cluster
    path: Path

    @classmethod
    def clone(cls, cluster: Cluster, into: Path) -> GitCheckout:
        cluster.run("git", "clone", "-q", cluster.env["VOTEMON_REPO_URL"], into)
        for key, value in (("user.name", "cluster tests"), ("user.email", "tests@votemon.local")):
            cluster.run("git", "-C", into, "config", key, value)
        return cls(cluster, into)

    def git(self, *args: str) -> str:
        return self.cluster.run("git", "-C", self.path, *args)

    def run(self, *args: str | Path, within: str = ".") -> str:
        """Run a command in the checkout (or in one of its directories)."""
        return self.cluster.run(*args, cwd=self.path / within)

    def deliver(self, command: str, *args: str) -> None:
        """Change dev's overlay with one of the delivery workflows' own commands, as they do."""
        self.run(
            ROOT / "scripts" / "gitops",
            command,
            *args,
            "--root",
            self.path,
            "--overlay",
            "overlays/dev",
        )

    def commit_and_push(self, message: str) -> str:
        """Commit every change and push it as main; returns the new revision."""
        self.git("commit", "-qam", message)
        self.git("push", "-q", "origin", "HEAD:main")
        return self.git("rev-parse", "HEAD").strip()

    def reset_to(self, revision: str, message: str) -> str:
        """A new commit whose tree is `revision`'s, pushed as main: undo a test's change in git."""
        self.git("checkout", "-q", revision, "--", ".")
        if not self.git("status", "--porcelain").strip():
            return self.git("rev-parse", "HEAD").strip()
        return self.commit_and_push(message)

"""Argo CD's web UI as the operator uses it: built from source into argocd-server (cluster/argocd-ui.sh),
in a real headless Chromium (Debian `chromium`): log in, see the root and every child Application
with its sync and health, open `pipeline`'s resource tree, and see a pushed change arrive Synced.
Screenshots go to .local/test-output/argocd-ui/ (docs/operator-*.png are copies of them)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.cluster.cluster_support import CHILDREN, ROOT, Cluster, GitCheckout, cluster_setting, eventually

pytestmark = pytest.mark.cluster

OUTPUT = ROOT / ".local" / "test-output" / "argocd-ui"
# How long the UI may take to show what the API already says: a bound for "it never came".
SHOWS_WITHIN_MS = 60_000
SERVICES_IN_THE_TREE = ("front", "grpc-server", "consumer", "results")


def ui_url(cluster: Cluster) -> str:
    return f"http://127.0.0.1:{cluster_setting('ARGOCD_SERVER_PORT')}"


def admin_password(cluster: Cluster) -> str:
    encoded = cluster.kubectl(
        "-n", "argocd", "get", "secret", "argocd-initial-admin-secret", "-o", "jsonpath={.data.password}"
    )
    return base64.b64decode(encoded).decode()


@pytest.fixture
def operator(dev: Cluster, browser: Browser) -> Iterator[Page]:
    """A browser tab logged in to Argo CD as admin, the way the operator logs in."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{ui_url(dev)}/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", admin_password(dev))
    page.click("button[type=submit]")
    page.wait_for_url("**/applications", timeout=SHOWS_WITHIN_MS)
    yield page
    context.close()
    assert errors == [], "the UI's scripts failed"


def screenshot(page: Page, name: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / name), full_page=True)


def tile_status(page: Page, app: str) -> str:
    """The Status field of an Application's tile in the list (its health and sync, as words)."""
    tile = page.locator(f".qe-applications-list-argocd_{app}")
    tile.wait_for(timeout=SHOWS_WITHIN_MS)
    return tile.locator("[qe-id=applications-tiles-health-status]").inner_text()


def test_the_ui_is_served_from_the_binary(dev: Cluster) -> None:
    """argocd-server answers a browser with the built UI, not the module zip's placeholder."""
    page = dev.run("curl", "-fsS", "-H", "Accept: text/html", f"{ui_url(dev)}/applications")
    assert "<title>Argo CD</title>" in page
    assert re.search(r'src="main\.[0-9a-f]+\.js"', page), "the webpack bundle is referenced"


def test_the_operator_sees_every_application_with_its_sync_and_health(dev: Cluster, operator: Page) -> None:
    for app in ("so1-p2-dev", *CHILDREN):

        def shows_what_argo_cd_says(app: str = app) -> None:
            status = dev.application(app)["status"]
            said = (status["sync"]["status"], status["health"]["status"])
            shown = tile_status(operator, app)
            assert all(word in shown for word in said), (app, said, shown)

        eventually(shows_what_argo_cd_says, timeout=SHOWS_WITHIN_MS / 1000)
    screenshot(operator, "operator-applications.png")


def test_pipeline_shows_its_resource_tree(dev: Cluster, operator: Page) -> None:
    operator.goto(f"{ui_url(dev)}/applications/argocd/pipeline?view=tree")
    titles = operator.locator(".application-resource-tree__node-title")
    titles.first.wait_for(timeout=SHOWS_WITHIN_MS)
    for name in SERVICES_IN_THE_TREE:
        operator.locator(".application-resource-tree__node-title", has_text=name).first.wait_for(
            timeout=SHOWS_WITHIN_MS
        )
    kinds = set(operator.locator(".application-resource-tree__node-kind").all_inner_texts())
    assert {"deploy", "svc"} <= {k.strip().lower() for k in kinds}, kinds
    screenshot(operator, "operator-pipeline-tree.png")


def test_a_pushed_change_shows_synced_at_its_revision(
    dev: Cluster, operator: Page, checkout: GitCheckout
) -> None:
    checkout.deliver("set-replicas", "grpc-server", "4")
    revision = checkout.commit_and_push("grpc-server: 4 replicas")
    dev.synced_at("pipeline", revision, applied=True)
    operator.goto(f"{ui_url(dev)}/applications/argocd/pipeline")
    operator.wait_for_function(
        """(short) => [...document.querySelectorAll('.application-status-panel__item-value__revision-sha')]
             .some((e) => e.textContent.includes(short))""",
        arg=revision[:7],
        timeout=SHOWS_WITHIN_MS,
    )
    panel = operator.locator(".application-status-panel").first.inner_text()
    assert "Synced" in panel, panel

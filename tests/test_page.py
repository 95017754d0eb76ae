"""The live results page in a real headless Chromium (Debian `chromium`) against the running pipeline.

Screenshots go to .local/test-output/page/ (docs/page.png is one of them, copied by hand).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import LargeStore, Pipeline, count, unique_band, vote
from tests.services import ROOT, Service, free_port

pytestmark = pytest.mark.stack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
OUTPUT = ROOT / ".local" / "test-output" / "page"
LIVE_WITHIN_S = 2.0

# The page's DOM, read the way a viewer sees it.
VOTES_OF = """(chart, label) => {
  const bar = [...document.querySelectorAll(`#${chart} g.bar`)].find((g) => g.dataset.label === label);
  return bar ? Number(bar.dataset.votes) : null;
}"""
BAR_VOTES = f"([chart, label]) => ({VOTES_OF})(chart, label)"
SHOWS_VOTES = f"""([loud, quiet, ids]) => {{
  const shown = [...document.querySelectorAll('#log li')].map((li) => li.dataset.id);
  const votes = (label) => ({VOTES_OF})('band-bars', label);
  return votes(loud) === 40 && votes(quiet) === 20 && JSON.stringify(shown) === JSON.stringify(ids);
}}"""
SHOWS_LOG = """(ids) => JSON.stringify([...document.querySelectorAll('#log li')].map((li) => li.dataset.id))
  === JSON.stringify(ids)"""
LOG_ROWS = """() => [...document.querySelectorAll('#log li')].map((li) => ({
  id: li.dataset.id,
  cells: [...li.children].map((span) => span.textContent),
}))"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Viewer:
    """One browser tab on the page, recording what a viewer would not see: console errors (a CSP
    violation shows there) and every URL the page requested (all must be the results service)."""

    def __init__(self, browser: Browser, base_url: str) -> None:
        self.base_url = base_url
        self.context = browser.new_context(viewport={"width": 1280, "height": 1500})
        self.page: Page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(f"{base_url}/")

    def wait_state(self, state: str, timeout_s: float) -> None:
        self.page.wait_for_selector(f"body[data-state={state}]", timeout=timeout_s * 1000)

    def bar_votes(self, chart: str, label: str) -> int | None:
        value: int | None = self.page.evaluate(BAR_VOTES, [chart, label])
        return value

    def log_rows(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.page.evaluate(LOG_ROWS)
        return rows

    def screenshot(self, name: str) -> Path:
        OUTPUT.mkdir(parents=True, exist_ok=True)
        path = OUTPUT / name
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def foreign_requests(self) -> list[str]:
        return [url for url in self.requests if not url.startswith(f"{self.base_url}/")]

    def close(self) -> None:
        self.context.close()


@contextlib.contextmanager
def viewer(browser: Browser, base_url: str) -> Iterator[Viewer]:
    tab = Viewer(browser, base_url)
    try:
        yield tab
    finally:
        tab.close()


def test_page_shows_new_votes_within_two_seconds(pipeline: Pipeline, browser: Browser) -> None:
    # Accented, non-Latin and HTML-looking names must come out as the same text, never as markup.
    loud = unique_band("Café Tacvba <b>Ñandú</b> & 東京事変")
    quiet = unique_band("Мумий Тролль ĀĒĪ")
    with viewer(browser, pipeline.results) as tab:
        tab.wait_state("live", 10)
        started = time.monotonic()
        batch = [vote(loud, "Épica — ¿Sí?")] * 25 + [vote(loud, "Ω")] * 15
        assert pipeline.post(batch).status_code == 202
        ids = []
        for i in range(20):
            reply = pipeline.post(vote(quiet, f"Альбом {i}", year="2001", rank="7.25"))
            assert reply.status_code == 202
            ids.append(reply.json()["ids"][0])
        cast = time.monotonic()

        newest_first = ids[::-1]
        tab.page.wait_for_function(
            SHOWS_VOTES,
            arg=[loud, quiet, newest_first],
            timeout=LIVE_WITHIN_S * 1000,
            polling=50,
        )
        seen = time.monotonic()
        latency = {"after_last_vote_s": round(seen - cast, 3), "after_first_vote_s": round(seen - started, 3)}
        OUTPUT.mkdir(parents=True, exist_ok=True)
        (OUTPUT / "latency.json").write_text(json.dumps(latency))
        print(f"\nvotes on the page: {latency}")
        assert seen - cast < LIVE_WITHIN_S

        rows = tab.log_rows()
        assert len(rows) == 20
        assert [row["id"] for row in rows] == newest_first
        assert [row["cells"][1:] for row in rows] == [
            [quiet, f"Альбом {i}", "2001", "7.25"] for i in reversed(range(20))
        ]
        assert all(len(row["cells"][0]) == 12 for row in rows), "time as HH:MM:SS.mmm"
        assert tab.bar_votes("album-bars", f"{loud} — Épica — ¿Sí?") == 25
        assert tab.bar_votes("album-bars", f"{loud} — Ω") == 15
        assert tab.page.locator("#band-bars text", has_text=loud).count() == 1
        assert tab.page.locator("b").count() == 0, "a name was rendered as HTML"

        total = int(pipeline.redis.get("votes:total") or 0)
        tab.page.wait_for_function(
            "(total) => document.getElementById('total').dataset.value === String(total)",
            arg=total,
            timeout=LIVE_WITHIN_S * 1000,
        )
        assert int(tab.page.inner_text("#rate-minute").replace(",", "")) >= 60
        assert tab.page.locator("#band-pie path, #band-pie circle").count() >= 1
        assert tab.page.is_hidden("#banner")
        assert tab.foreign_requests() == [], "the page must load nothing from elsewhere"
        assert tab.errors == [], "console errors (CSP violations show here)"
        tab.screenshot("page-live.png")


def test_page_on_a_large_store_shows_the_newest_votes(large_store: LargeStore, browser: Browser) -> None:
    """200,000 votes counted (and MongoDB unreachable): the page is live, and votes counted after
    it opened come first in its log within 2 seconds."""
    results = Service("results", large_store.settings).start().wait_ready()
    try:
        with viewer(browser, results.base_url) as tab:
            tab.wait_state("live", 10)
            assert [row["id"] for row in tab.log_rows()] == large_store.newest_ids(20)
            fresh = f"fresh-{large_store.prefix}"
            assert (
                count(large_store.settings, large_store.votes, large_store.votes + 20, fresh, partition=1)
                == 20
            )
            counted = time.monotonic()
            newest = [f"{fresh}-{i:010d}" for i in reversed(range(large_store.votes, large_store.votes + 20))]
            tab.page.wait_for_function(
                SHOWS_LOG,
                arg=newest,
                timeout=LIVE_WITHIN_S * 1000,
                polling=50,
            )
            assert time.monotonic() - counted < LIVE_WITHIN_S
            tab.page.wait_for_function(
                "(total) => document.getElementById('total').dataset.value === String(total)",
                arg=large_store.votes + 20,
                timeout=LIVE_WITHIN_S * 1000,
            )
            assert tab.page.is_hidden("#banner")
            assert tab.errors == []
            tab.screenshot("page-large-store.png")
    finally:
        assert results.stop() == 0


class Gate:
    """A TCP forwarder to a real server that is closed until opened: a data source going away and
    coming back, without touching the shared stack."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self._target = target_port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server: asyncio.Server | None = None

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    def open(self) -> None:
        async def start() -> asyncio.Server:
            return await asyncio.start_server(self._handle, "127.0.0.1", self.port)

        self._server = asyncio.run_coroutine_threadsafe(start(), self._loop).result(10)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)


def wait_healthy(service: Service, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{service.base_url}/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"results not healthy; log: {service.log_path}")


def test_banner_while_the_data_source_is_unreachable_then_recovery(
    pipeline: Pipeline, browser: Browser
) -> None:
    redis_url = httpx.URL(pipeline.settings.redis_url)
    mongo_url = httpx.URL(pipeline.settings.mongo_uri)
    redis_gate, mongo_gate = Gate(redis_url.port or 6379), Gate(mongo_url.port or 27017)
    settings = pipeline.settings.model_copy(
        update={
            "redis_url": f"redis://127.0.0.1:{redis_gate.port}{redis_url.path}",
            "mongo_uri": f"mongodb://127.0.0.1:{mongo_gate.port}/",
            "results_bind": f"127.0.0.1:{free_port()}",
        }
    )
    results = Service("results", settings).start()
    try:
        wait_healthy(results)
        with viewer(browser, results.base_url) as tab:
            tab.wait_state("down", 10)
            assert tab.page.is_visible("#banner")
            text = tab.page.inner_text("#banner")
            assert "Data source unreachable" in text
            assert "the counters cannot be read right now (redis_unavailable)" in text
            tab.screenshot("page-unreachable.png")

            redis_gate.open()
            mongo_gate.open()
            opened = time.monotonic()
            tab.wait_state("live", 20)
            print(f"\nrecovered {time.monotonic() - opened:.1f} s after the data sources came back")
            assert tab.page.is_hidden("#banner")
            total = int(pipeline.redis.get("votes:total") or 0)
            assert int(tab.page.get_attribute("#total", "data-value") or -1) == total
            assert len(tab.log_rows()) == 20

            # The results service itself gone (as a browser sees it), then back.
            tab.page.route("**/api/**", lambda route: route.abort())
            tab.wait_state("down", 5)
            assert "the results service is unreachable" in tab.page.inner_text("#banner")
            tab.page.unroute("**/api/**")
            tab.wait_state("live", 5)
            tab.screenshot("page-recovered.png")
    finally:
        assert results.stop() == 0
        redis_gate.close()
        mongo_gate.close()


def test_page_assets_are_cached_by_version_and_locked_down(pipeline: Pipeline) -> None:
    page = pipeline.http.get(f"{pipeline.results}/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "no-cache"
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe" not in csp
    assert "http" not in page.text.replace('href="/', ""), "no absolute URL: nothing from a CDN"
    assert (
        pipeline.http.get(f"{pipeline.results}/", headers={"If-None-Match": page.headers["etag"]}).status_code
        == 304
    )
    for name in ("app.js", "app.css", "favicon.svg"):
        link = next(part.split('"')[0] for part in page.text.split(f"/static/{name}?v=")[1:])
        pinned = pipeline.http.get(f"{pipeline.results}/static/{name}", params={"v": link})
        assert pinned.status_code == 200
        assert pinned.headers["cache-control"] == "public, max-age=31536000, immutable"
        stale = pipeline.http.get(f"{pipeline.results}/static/{name}", params={"v": "old"})
        assert stale.headers["cache-control"] == "no-cache"
    assert pipeline.http.get(f"{pipeline.results}/static/../results.py").status_code == 404
    api = pipeline.http.get(f"{pipeline.results}/api/totals")
    assert api.headers["cache-control"] == "no-store"
    assert api.headers["x-content-type-options"] == "nosniff"

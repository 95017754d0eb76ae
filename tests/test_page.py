"""The live results page in a real headless Chromium (Debian `chromium`) against the running pipeline:
new votes appear, as text, with nothing loaded from elsewhere; a banner while a data source is away;
it streams (/api/stream), says how fresh its data is, turns stale when the stream stops, polls where
streaming fails, and recovers after the results process restarts (which an open page never delays).
How soon they appear is a timing target, measured by `make bench` (bench/page.py), not asserted here.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import threading
import time

import httpx
import pytest
from playwright.sync_api import Browser

from tests.support import LargeStore, count
from votemon.dev.browser import cast_known_votes, viewer
from votemon.dev.eventually import eventually
from votemon.dev.pipeline import Pipeline
from votemon.dev.processes import Service, free_port

pytestmark = pytest.mark.stack

# How long a test waits for the page to show what it must: a bound for "it never came", well above the
# page's 2 s target (which bench/page.py measures).
APPEARS_WITHIN_S = 30.0
AS_OF = re.compile(r"as of \d\d:\d\d:\d\d UTC \(\d+ s ago\)")  # the newest vote, aged on Redis' clock
SHOWS_LOG = """(ids) => JSON.stringify([...document.querySelectorAll('#log li')].map((li) => li.dataset.id))
  === JSON.stringify(ids)"""


def test_page_shows_new_votes(pipeline: Pipeline, browser: Browser) -> None:
    with viewer(browser, pipeline.results) as tab:
        tab.wait_state("live", timeout_s=10)
        cast = cast_known_votes(pipeline)
        loud, quiet, newest_first = cast.loud, cast.quiet, cast.newest_first
        tab.wait_for_votes(cast, timeout_s=APPEARS_WITHIN_S)

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
            timeout=APPEARS_WITHIN_S * 1000,
        )
        assert int(tab.page.inner_text("#rate-minute").replace(",", "")) >= 60
        assert tab.page.locator("#band-pie path, #band-pie circle").count() >= 1
        assert tab.page.is_hidden("#banner")
        assert tab.page.get_attribute("body", "data-mode") == "stream"
        assert AS_OF.fullmatch(tab.page.inner_text("#as-of"))
        assert tab.foreign_requests() == [], "the page must load nothing from elsewhere"
        assert tab.errors == [], "console errors (CSP violations show here)"
        tab.screenshot("page-live.png")


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


def test_page_on_a_large_store_shows_the_newest_votes(large_store: LargeStore, browser: Browser) -> None:
    """200,000 votes counted (and MongoDB unreachable): the page is live, and votes counted after
    it opened come first in its log."""
    results = Service("results", large_store.settings).start().wait_ready()
    try:
        with viewer(browser, results.base_url) as tab:
            tab.wait_state("live", timeout_s=10)
            # "live" comes with the totals; the log's rows follow its own request: wait for them.
            newest_stored = large_store.newest_ids(20)
            tab.page.wait_for_function(
                SHOWS_LOG, arg=newest_stored, timeout=APPEARS_WITHIN_S * 1000, polling=50
            )
            assert [row["id"] for row in tab.log_rows()] == newest_stored
            fresh = f"fresh-{large_store.prefix}"
            votes = large_store.votes
            assert count(large_store.settings, votes, votes + 20, fresh, partition=1) == 20
            newest = [f"{fresh}-{i:010d}" for i in reversed(range(votes, votes + 20))]
            tab.page.wait_for_function(SHOWS_LOG, arg=newest, timeout=APPEARS_WITHIN_S * 1000, polling=50)
            tab.page.wait_for_function(
                "(total) => document.getElementById('total').dataset.value === String(total)",
                arg=votes + 20,
                timeout=APPEARS_WITHIN_S * 1000,
            )
            assert tab.page.is_hidden("#banner")
            assert tab.errors == []
            tab.screenshot("page-large-store.png")
    finally:
        assert results.stop() == 0


def wait_healthy(service: Service, *, timeout: float = 30) -> None:
    eventually(
        lambda: httpx.get(f"{service.base_url}/healthz", timeout=1).status_code == 200,
        f"results did not answer /healthz (log: {service.log_path})",
        within=timeout,
        interval=0.2,
        ignoring=(httpx.HTTPError,),
    )


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
            tab.wait_state("down", timeout_s=10)
            assert tab.page.is_visible("#banner")
            text = tab.page.inner_text("#banner")
            assert "Data source unreachable" in text
            assert "the counters cannot be read right now (redis_unavailable)" in text
            tab.screenshot("page-unreachable.png")

            redis_gate.open()
            mongo_gate.open()
            opened = time.monotonic()
            tab.wait_state("live", timeout_s=20)
            print(f"\nrecovered {time.monotonic() - opened:.1f} s after the data sources came back")
            assert tab.page.is_hidden("#banner")
            total = int(pipeline.redis.get("votes:total") or 0)
            assert int(tab.page.get_attribute("#total", "data-value") or -1) == total
            assert len(tab.log_rows()) == 20

            # The results service itself gone, then back.
            assert results.stop() == 0
            tab.wait_state("down", timeout_s=10)
            assert "the results service is unreachable" in tab.page.inner_text("#banner")
            results.restart()
            tab.wait_state("live", timeout_s=20)
            tab.screenshot("page-recovered.png")
    finally:
        assert results.stop() == 0
        redis_gate.close()
        mongo_gate.close()


def own_results(pipeline: Pipeline) -> Service:
    """A results process of the test's own over the pipeline's data, on a port of its own."""
    settings = pipeline.settings.model_copy(update={"results_bind": f"127.0.0.1:{free_port()}"})
    return Service("results", settings).start().wait_ready()


def test_page_goes_stale_when_the_stream_stops_and_recovers_after_a_restart(
    pipeline: Pipeline, browser: Browser
) -> None:
    results = own_results(pipeline)
    try:
        with viewer(browser, results.base_url) as tab:
            tab.wait_state("live", timeout_s=10)
            assert tab.page.get_attribute("body", "data-mode") == "stream"
            cast = cast_known_votes(pipeline)
            tab.wait_for_votes(cast, timeout_s=APPEARS_WITHIN_S)

            # The stream stops without closing (the process frozen): stale, then live again.
            assert results.process is not None
            results.process.send_signal(signal.SIGSTOP)
            try:
                tab.wait_state("stale", timeout_s=20)
                assert tab.page.get_attribute("#status-dot", "class") == "dot stale"
                tab.screenshot("page-stale.png")
            finally:
                results.process.send_signal(signal.SIGCONT)
            tab.wait_state("live", timeout_s=20)

            # Restarted with the page open (which must not delay its exit), votes counted meanwhile.
            stopping = time.monotonic()
            assert results.stop() == 0
            assert time.monotonic() - stopping < 10, "an open page held the results process"
            tab.wait_state("down", timeout_s=10)
            meanwhile = cast_known_votes(pipeline)
            results.restart()
            tab.wait_for_votes(meanwhile, timeout_s=APPEARS_WITHIN_S)
            tab.wait_state("live", timeout_s=10)
            assert tab.page.is_hidden("#banner")
    finally:
        assert results.stop() == 0


def test_page_polls_where_streaming_fails_and_streams_again_later(
    pipeline: Pipeline, browser: Browser
) -> None:
    with viewer(browser, pipeline.results) as tab:
        tab.page.route("**/api/stream", lambda route: route.fulfill(status=404, body="no stream here"))
        tab.page.reload()
        tab.page.wait_for_selector("body[data-mode=poll][data-state=live]", timeout=20_000)
        cast = cast_known_votes(pipeline)
        tab.wait_for_votes(cast, timeout_s=APPEARS_WITHIN_S)
        assert AS_OF.fullmatch(tab.page.inner_text("#as-of"))
        tab.page.unroute("**/api/stream")
        # the page tries the stream again every 10 s
        tab.page.wait_for_selector("body[data-mode=stream][data-state=live]", timeout=30_000)


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

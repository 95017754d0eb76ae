"""The live results page in a real headless Chromium (Debian `chromium`, driven by Playwright): the
page's test (tests/test_page.py) and its latency benchmark (bench/page.py) both read it as a viewer
would. Screenshots go to .local/test-output/page/ (docs/page.png is one of them, copied by hand)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, sync_playwright

from votemon.dev.pipeline import Pipeline, unique_band, vote
from votemon.dev.processes import ROOT

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
LOG_ROWS = """() => [...document.querySelectorAll('#log li')].map((li) => ({
  id: li.dataset.id,
  cells: [...li.children].map((span) => span.textContent),
}))"""


@dataclass(frozen=True)
class KnownVotes:
    loud: str  # 40 votes: 25 of one album, 15 of another, in one batch
    quiet: str  # 20 votes, one request each
    newest_first: list[str]  # the quiet band's vote ids, as the log lists them


def cast_known_votes(pipeline: Pipeline) -> KnownVotes:
    """Send the votes the page must show: accented, non-Latin and HTML-looking names, which must come
    out as the same text, never as markup."""
    loud = unique_band("Café Tacvba <b>Ñandú</b> & 東京事変")
    quiet = unique_band("Мумий Тролль ĀĒĪ")
    batch = [vote(loud, "Épica — ¿Sí?")] * 25 + [vote(loud, "Ω")] * 15
    assert pipeline.post(batch).status_code == 202
    ids = []
    for i in range(20):
        reply = pipeline.post(vote(quiet, f"Альбом {i}", year="2001", rank="7.25"))
        assert reply.status_code == 202
        ids.append(reply.json()["ids"][0])
    return KnownVotes(loud, quiet, ids[::-1])


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(f"{CHROMIUM} is missing: `make install` installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
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

    def wait_state(self, state: str, *, timeout_s: float) -> None:
        self.page.wait_for_selector(f"body[data-state={state}]", timeout=timeout_s * 1000)

    def wait_for_votes(self, cast: KnownVotes, *, timeout_s: float) -> None:
        """Wait until the bars and the log show exactly the votes `cast_known_votes` sent."""
        self.page.wait_for_function(
            SHOWS_VOTES, arg=[cast.loud, cast.quiet, cast.newest_first], timeout=timeout_s * 1000, polling=50
        )

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

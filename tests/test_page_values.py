"""No services: the page's sizes (20 newest votes, 60 s of rate) are written once, in votemon.results,
and reach the page through index.html's data attributes; app.js restates none of them."""

from __future__ import annotations

from importlib.resources import files

from votemon.results import PAGE_LOGS, PAGE_RATE_SECONDS, load_assets


def test_the_page_gets_its_sizes_from_the_service() -> None:
    index, assets = load_assets()
    html = index.decode()
    assert "{{" not in html, "every placeholder filled"
    assert f'data-logs="{PAGE_LOGS}" data-rate-seconds="{PAGE_RATE_SECONDS}"' in html
    assert f"Latest {PAGE_LOGS} votes" in html
    script = assets["app.js"].body.decode()
    assert "document.body.dataset.logs" in script
    restated = (f"limit={PAGE_LOGS}", f"seconds={PAGE_RATE_SECONDS}", f"LOG_ROWS = {PAGE_LOGS}")
    for literal in restated:
        assert literal not in script, f"app.js restates {literal!r}"
    source = files("votemon.page").joinpath("index.html").read_text()
    assert str(PAGE_LOGS) not in source.replace("{{PAGE_LOGS}}", "")

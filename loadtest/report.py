"""The run's report from its record (see `loadtest.run.build_record`): the summary table for the
terminal and for $GITHUB_STEP_SUMMARY (Markdown), and a self-contained HTML page with the table, the
counts per band and album, a trend chart (inline SVG) of the last runs at the same settings, and
Locust's own report beside it. Pure functions of records: the unit tests feed them recorded runs."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

from loadtest.counts import ordered
from loadtest.history import MEASURES, Measure, figure

TREND_RUNS = 20  # runs a trend chart shows, this one included
HEADER = ("measure", "value", "budget / baseline", "verdict")


def number(value: float | None, digits: int = 1) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:,.{digits}f}"


def baseline_text(record: dict[str, Any], name: str) -> str:
    found = record.get("baseline", {}).get(name)
    if not found or found.get("median") is None:
        return "no earlier run at these settings"
    change = found.get("change")
    change_text = "" if change is None else f", {change:+.0%}"
    return f"median {found['median']:,.4g} of {found['runs']} run(s){change_text}"


def regression_verdict(record: dict[str, Any], name: str) -> str:
    if name in record.get("regressed", []):
        return "REGRESSION"
    found = record.get("baseline", {}).get(name)
    return "ok" if found and found.get("median") is not None else ""


def budget_verdict(record: dict[str, Any], budget: str, problem_prefix: str) -> str:
    """PASS or FAIL as Locust judged the budget (its exit code), empty when none was given."""
    if record["budgets"].get(budget) is None:
        return ""
    problems = record["verdicts"].get("budget_problems") or []
    return "FAIL" if any(p.startswith((problem_prefix, "no request")) for p in problems) else "PASS"


def summary_rows(record: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The table a person reads: figures, the budgets and the baseline, and their verdicts."""
    f, budgets = record["figures"], record["budgets"]
    max_ratio, max_p95 = budgets.get("max_failure_ratio"), budgets.get("max_p95_ms")
    counted_verdict = "PASS" if record["verdicts"]["counted_equals_accepted"] else "FAIL"
    logged = f.get("logged")
    rows = [
        # what was measured (older records name no image); `sha` is the load code's commit
        ("deployed image", str(record.get("image", "unknown")), f"load code {record['sha'][:12]}", ""),
        (
            "requests/s",
            number(f["requests_per_second"]),
            baseline_text(record, "requests_per_second"),
            regression_verdict(record, "requests_per_second"),
        ),
        ("latency p50", f"{number(f['p50_ms'], 0)} ms", "", ""),
        (
            "latency p95",
            f"{number(f['p95_ms'], 0)} ms",
            "; ".join(
                t
                for t in (f"≤ {max_p95:g} ms" if max_p95 is not None else "", baseline_text(record, "p95_ms"))
                if t
            ),
            " ".join(
                v
                for v in (budget_verdict(record, "max_p95_ms", "p95"), regression_verdict(record, "p95_ms"))
                if v
            ),
        ),
        ("latency p99", f"{number(f['p99_ms'], 0)} ms", "", ""),
        (
            "failures",
            f"{f['failed']:,} of {f['sent']:,} ({f['failure_ratio']:.2%})",
            f"≤ {max_ratio:.2%}" if max_ratio is not None else "",
            budget_verdict(record, "max_failure_ratio", "failure ratio"),
        ),
        ("accepted (202)", f"{f['accepted']:,}", "", ""),
        ("counted (results API)", f"{f['counted']:,}", "= accepted, per band and album", counted_verdict),
        (
            "logged (MongoDB)",
            "n/a" if logged is None else f"{logged:,}",
            "" if logged is None else "= accepted",
            "" if logged is None else ("PASS" if logged == f["accepted"] else "FAIL"),
        ),
        (
            "freshness p50 / p99",
            f"{number(f.get('freshness_p50_s'), 3)} / {number(f.get('freshness_p99_s'), 3)} s",
            baseline_text(record, "freshness_p99_s") if f.get("freshness_p99_s") is not None else "",
            regression_verdict(record, "freshness_p99_s"),
        ),
    ]
    return rows


def text_table(rows: Sequence[tuple[str, ...]], header: tuple[str, ...] = HEADER) -> str:
    cells = [header, *rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def markdown_table(rows: Sequence[tuple[str, ...]], header: tuple[str, ...] = HEADER) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), line(["---"] * len(header)), *(line(row) for row in rows)])


def count_rows(record: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Accepted against counted, per band and album and in total (the load's bands only)."""
    accepted, counted = record["counts"]["accepted"], record["counts"]["counted"]
    return [
        (key, str(accepted.get(key, 0)), str(counted.get(key, 0)))
        for key in ordered(set(accepted) | set(counted))
    ]


def verdict(record: dict[str, Any]) -> str:
    """PASS, or FAIL naming what failed; a regression is added, it does not fail the run."""
    v = record["verdicts"]
    failed = [
        name
        for name, ok in (
            ("budget", v["budget"] != "fail"),
            ("counted = accepted", v["counted_equals_accepted"]),
        )
        if not ok
    ]
    text = "FAIL (" + ", ".join(failed) + ")" if failed else "PASS"
    return text + (" with REGRESSION" if record.get("regressions") else "")


def headline(record: dict[str, Any]) -> str:
    """One line: the run's verdict, its settings, what regressed."""
    regression = f"; REGRESSION: {'; '.join(record['regressions'])}" if record.get("regressions") else ""
    settings = ", ".join(f"{k} {v}" for k, v in record["settings"].items())
    return f"load test {verdict(record)} at {settings}{regression}"


def terminal(record: dict[str, Any]) -> str:
    lines = [headline(record), "", text_table(summary_rows(record)), ""]
    lines.append(text_table(count_rows(record), ("band / album", "accepted", "counted")))
    return "\n".join(lines)


def markdown(record: dict[str, Any]) -> str:
    return "\n\n".join(
        [
            f"### {html.escape(headline(record))}",
            f"load code `{record['sha'][:12]}` at {record['time']}",
            markdown_table(summary_rows(record)),
            "<details><summary>accepted and counted per band and album</summary>\n\n"
            + markdown_table(count_rows(record), ("band / album", "accepted", "counted"))
            + "\n\n</details>",
        ]
    )


def trend_svg(runs: Sequence[dict[str, Any]], measure: Measure, width: int = 560, height: int = 160) -> str:
    """A line chart of `measure` over `runs` (oldest first); regressed runs are red dots."""
    left, right, top, bottom = 60, 10, 20, 30
    points = [
        (i, figure(r, measure.name), measure.name in r.get("regressed", [])) for i, r in enumerate(runs)
    ]
    values = [v for _, v, _ in points if not math.isnan(v)]
    title = f"{measure.label} ({measure.unit}), last {len(runs)} run(s) at these settings"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{html.escape(title)}">',
        f'<text x="{left}" y="14" font-size="12">{html.escape(title)}</text>',
    ]
    if not values:
        parts.append(f'<text x="{left}" y="{height // 2}" font-size="12">no figure yet</text></svg>')
        return "".join(parts)
    low, high = min(values), max(values)
    span = (high - low) or (abs(high) or 1.0)
    low, high = (max(low - span * 0.1, 0.0) if low >= 0 else low - span * 0.1), high + span * 0.1
    step = (width - left - right) / max(len(runs) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return left + i * step, top + (high - v) / (high - low) * (height - top - bottom)

    plotted = [(xy(i, v), bad, runs[i]) for i, v, bad in points if not math.isnan(v)]
    parts.append(
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" '
        f'y2="{height - bottom}" stroke="#999"/>'
    )
    for value, edge in ((high, top), (low, height - bottom)):
        parts.append(
            f'<text x="{left - 4}" y="{edge + 4}" font-size="10" text-anchor="end">{value:.4g}</text>'
        )
    path = " ".join(f"{x:.1f},{y:.1f}" for (x, y), _, _ in plotted)
    parts.append(f'<polyline points="{path}" fill="none" stroke="#36c" stroke-width="2"/>')
    for (x, y), bad, run in plotted:
        label = html.escape(f"{run['time']} {run['sha'][:8]}: {figure(run, measure.name):.4g} {measure.unit}")
        color = "#d22" if bad else "#36c"
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{5 if bad else 3}" fill="{color}">'
            f"<title>{label}</title></circle>"
        )
    ends = [(plotted[0], "start"), (plotted[-1], "end")] if len(plotted) > 1 else [(plotted[0], "start")]
    for ((x, _), _, run), anchor in ends:
        stamp = html.escape(str(run["time"])[:16])
        parts.append(
            f'<text x="{x:.1f}" y="{height - 10}" font-size="10" text-anchor="{anchor}">{stamp}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def html_table(rows: Sequence[tuple[str, ...]], header: tuple[str, ...]) -> str:
    def row(cells: Sequence[str], tag: str) -> str:
        return "<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells) + "</tr>"

    return "<table>" + row(header, "th") + "".join(row(r, "td") for r in rows) + "</table>"


STYLE = """body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3}iframe{width:100%;height:900px;border:1px solid #ccc}"""


def html_page(record: dict[str, Any], same_settings: Sequence[dict[str, Any]], locust_html: str) -> str:
    """The whole report: `same_settings` is the history at this run's settings, this run last;
    `locust_html` the path of Locust's own report relative to this page."""
    recent = list(same_settings)[-TREND_RUNS:]
    charts = "".join(f"<div>{trend_svg(recent, m)}</div>" for m in MEASURES)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(headline(record))}</title>
<style>{STYLE}</style></head><body>
<h1>Load test {html.escape(verdict(record))}</h1>
<p>{html.escape(headline(record))}</p>
<p>load code <code>{html.escape(record["sha"])}</code> at {html.escape(record["time"])}; target
<code>{html.escape(str(record["settings"].get("target", "")))}</code></p>
{html_table(summary_rows(record), HEADER)}
<h2>Accepted and counted, per band and album</h2>
{html_table(count_rows(record), ("band / album", "accepted", "counted"))}
<h2>Trend</h2>
<p>Red: a run that regressed against the median of the runs before it at the same settings.</p>
{charts}
<h2>Locust's report</h2>
<p><a href="{html.escape(locust_html)}">{html.escape(locust_html)}</a></p>
<iframe src="{html.escape(locust_html)}" title="Locust report"></iframe>
</body></html>
"""

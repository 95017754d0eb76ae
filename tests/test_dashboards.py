"""Grafana's dashboards (base/grafana/dashboards/*.json), proven on real data.

Grafana cannot run here, but its queries can: every Redis panel's query is run the way the
redis-datasource plugin runs it (same command, key and frame shape: `get` -> one "Value" field,
`hgetall` -> "Field" and "Value" columns of strings), its transformations are applied, and the
values are compared with a known load and with an independent count of the MongoDB vote log.
Every Prometheus panel's metric names must be exported by the running services' /metrics.
"""

from __future__ import annotations

import collections
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import yaml
from prometheus_client.parser import text_string_to_metric_families

from votemon.dev.eventually import eventually
from votemon.dev.pipeline import Pipeline, unique_band, vote
from votemon.dev.processes import ROOT
from votemon.store.tally import redis_login

DASHBOARDS = sorted((ROOT / "base" / "grafana" / "dashboards").glob("*.json"))
Frame = dict[str, list[Any]]

# Series Prometheus adds itself to every scrape target (not exported by the services).
SCRAPE_SERIES = {
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
}
SERIES_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
PROMQL_WORDS |= {"and", "or", "unless", "inf", "nan"}


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    found = []
    for panel in dashboard.get("panels", []):
        found.append(panel)
        found.extend(panel.get("panels", []))
    return [panel for panel in found if panel.get("type") != "row"]


def datasource_type(panel: dict[str, Any], target: dict[str, Any]) -> str:
    return str((target.get("datasource") or panel.get("datasource") or {}).get("type", ""))


def all_targets(kind: str) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    found = []
    for path in DASHBOARDS:
        for panel in panels(json.loads(path.read_text(encoding="utf-8"))):
            for target in panel.get("targets", []):
                if datasource_type(panel, target) == kind:
                    found.append((f"{path.name}: {panel['title']}", panel, target))
    return found


# --- the redis-datasource plugin, as far as the dashboards use it ------------------------------------


def grafana_number(value: str) -> float | str:
    try:
        return float(value)
    except ValueError:
        return value


def redis_frame(redis: Any, target: dict[str, Any]) -> Frame:
    """The data frame the plugin returns for a `command` query (pkg/redis-*.go)."""
    assert target.get("type", "command") == "command", "only command queries are emulated"
    command, key = target["command"].lower(), target["keyName"]
    if command == "get":
        value = redis.get(key)
        return {} if value is None else {"Value": [grafana_number(value)]}
    if command == "hget":
        value = redis.hget(key, target["field"])
        return {} if value is None else {"Value": [grafana_number(value)]}
    if command == "hgetall":
        pairs = redis.hgetall(key)
        return {"Field": list(pairs), "Value": list(pairs.values())} if pairs else {}
    raise AssertionError(f"command {command!r} is not emulated here: extend redis_frame")


def transform(frame: Frame, transformations: list[dict[str, Any]]) -> Frame:
    """Grafana's transformations that the dashboards use, on a frame of columns."""
    frame = {name: list(values) for name, values in frame.items()}
    for step in transformations:
        options = step.get("options", {})
        if step["id"] == "convertFieldType":
            for conversion in options["conversions"]:
                name = conversion["targetField"]
                assert name in frame, f"convertFieldType: no field {name!r} in {list(frame)}"
                kind = conversion["destinationType"]
                if kind == "number":
                    frame[name] = [float(value) for value in frame[name]]
                elif kind == "time":
                    assert conversion.get("dateFormat") == "X", "only unix-second times are emulated"
                    frame[name] = [int(value) * 1000 for value in frame[name]]
                else:
                    raise AssertionError(f"conversion to {kind} is not emulated")
        elif step["id"] == "sortBy":
            (sort,) = options["sort"]
            order = sorted(range(len(frame[sort["field"]])), key=lambda i: frame[sort["field"]][i])
            if sort.get("desc"):
                order.reverse()
            frame = {name: [values[i] for i in order] for name, values in frame.items()}
        else:
            raise AssertionError(f"transformation {step['id']!r} is not emulated: extend transform")
    return frame


def panel_frame(redis: Any, panel: dict[str, Any], target: dict[str, Any]) -> Frame:
    raw = redis_frame(redis, target)
    assert raw and all(raw.values()), f"the query {target['command']} {target['keyName']} returns nothing"
    frame = transform(raw, panel.get("transformations", []))
    # What the panel displays must exist as a numeric field of the frame.
    pattern = panel.get("options", {}).get("reduceOptions", {}).get("fields", "")
    numeric = [name for name, values in frame.items() if all(isinstance(v, float) for v in values)]
    if pattern.startswith("/") and pattern.endswith("/"):
        numeric = [name for name in numeric if re.search(pattern[1:-1], name)]
    assert numeric, f"no numeric field {pattern or ''} to show in {list(frame)}"
    display = json.dumps(panel.get("fieldConfig", {}))
    assert "__field.labels" not in display, "redis-datasource frames have no labels"
    return frame


# --- the known load and the expected values ---------------------------------------------------------


def settled_log_counts(pipeline: Pipeline, *, timeout: float = 20) -> dict[str, collections.Counter[Any]]:
    """Counts from the MongoDB log (independent of Redis), once Redis and the log agree on the total."""

    def settled() -> list[dict[str, Any]] | None:
        documents = list(pipeline.logs.find({}, {"name": 1, "album": 1, "accepted_at": 1}))
        return documents if int(pipeline.redis.get("votes:total") or 0) == len(documents) else None

    documents = eventually(
        settled, "Redis and the vote log did not agree on the total", within=timeout, interval=0.2
    )
    return {
        "votes:total": collections.Counter({"total": len(documents)}),
        "votes:by-band": collections.Counter(d["name"] for d in documents),
        "votes:by-album": collections.Counter(f"{d['name']} / {d['album']}" for d in documents),
        "votes:per-second": collections.Counter(int(d["accepted_at"].timestamp()) * 1000 for d in documents),
    }


@pytest.fixture(scope="module")
def known_load(pipeline: Pipeline) -> dict[str, dict[str, int]]:
    """A known set of votes with unique bands; returns the counts each key must show for them."""
    first, second = unique_band("Dashboard Ñu"), unique_band("ダッシュボード")
    votes = [vote(first, "Álbum")] * 7 + [vote(first, "B-sides")] * 3 + [vote(second, "Один")] * 5
    assert pipeline.post(votes).status_code == 202
    assert pipeline.wait_band_count(first) == 10
    assert pipeline.wait_band_count(second) == 5
    return {
        "votes:by-band": {first: 10, second: 5},
        "votes:by-album": {f"{first} / Álbum": 7, f"{first} / B-sides": 3, f"{second} / Один": 5},
    }


def test_there_are_dashboards_with_redis_and_prometheus_panels() -> None:
    assert {path.name for path in DASHBOARDS} >= {"votes.json", "pipeline.json"}
    redis_panels = {title for title, _, _ in all_targets("redis-datasource")}
    assert len(redis_panels) >= 3
    assert all_targets("prometheus")


@pytest.fixture(scope="module")
def as_grafana(pipeline: Pipeline) -> Iterator[redis.Redis]:
    """Redis as the user Grafana's datasource logs in as: its read-only user of base/redis/users.acl."""
    provisioned = yaml.safe_load((ROOT / "base/grafana/provisioning/datasources.yaml").read_text())
    (datasource,) = [d for d in provisioned["datasources"] if d["type"] == "redis-datasource"]
    assert datasource["jsonData"]["acl"] is True
    username, password = redis_login(pipeline.settings, datasource["jsonData"]["user"])
    client = redis.Redis.from_url(
        pipeline.settings.redis_url, username=username, password=password, decode_responses=True
    )
    yield client
    client.close()


@pytest.mark.parametrize(
    ("title", "panel", "target"),
    all_targets("redis-datasource"),
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_redis_panel_shows_the_known_totals(
    pipeline: Pipeline,
    as_grafana: redis.Redis,
    known_load: dict[str, dict[str, int]],
    title: str,
    panel: dict[str, Any],
    target: dict[str, Any],
) -> None:
    frame = panel_frame(as_grafana, panel, target)
    key = target["keyName"]
    expected = settled_log_counts(pipeline)
    assert key in expected, f"{title}: {key} is not one of the counters' keys"
    if "Field" in frame:
        shown = dict(zip(frame["Field"], frame["Value"], strict=True))
        for name, votes in known_load.get(key, {}).items():
            assert shown.get(name) == votes, f"{title}: {name!r} shows {shown.get(name)}, sent {votes}"
        assert shown == {name: float(votes) for name, votes in expected[key].items()}, title
        sort = next((t for t in panel.get("transformations", []) if t["id"] == "sortBy"), None)
        if sort:
            column = frame[sort["options"]["sort"][0]["field"]]
            assert column == sorted(column, reverse=bool(sort["options"]["sort"][0].get("desc")))
    else:
        assert frame["Value"] == [float(expected[key]["total"])], title
        assert frame["Value"][0] >= sum(known_load["votes:by-band"].values())


# --- Prometheus panels ---------------------------------------------------------------------------------


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*(?![A-Za-z0-9_:]*\s*\()", expr))
    return {name for name in names if name.lower() not in PROMQL_WORDS}


def test_metric_names_are_parsed_from_promql() -> None:
    expr = 'histogram_quantile(0.95, sum by (le) (rate(a_seconds_bucket{job="x",le!="1"}[1m]))) or up'
    assert metric_names(expr) == {"a_seconds_bucket", "up"}
    assert metric_names('sum(max by (partition) (lag{job="v"})) > bool 0') == {"lag"}


def test_prometheus_panels_use_exported_metrics(pipeline: Pipeline) -> None:
    settings = pipeline.settings
    endpoints = [
        pipeline.front,
        f"http://{settings.grpc_metrics_bind}",
        f"http://{settings.consumer_metrics_bind}",
        pipeline.results,
    ]
    exported = set(SCRAPE_SERIES)
    for base in endpoints:
        reply = pipeline.http.get(f"{base}/metrics")
        assert reply.status_code == 200, base
        for family in text_string_to_metric_families(reply.text):
            # A labelled family has no samples until first used: its series names follow its type.
            exported.add(family.name)
            exported.update(f"{family.name}{suffix}" for suffix in SERIES_SUFFIXES.get(family.type, ()))
            exported.update(sample.name for sample in family.samples)
    missing = {}
    for title, _, target in all_targets("prometheus"):
        unknown = metric_names(target["expr"]) - exported
        if unknown:
            missing[f"{title} [{target['refId']}]"] = sorted(unknown)
    assert not missing, f"metrics no service exports: {missing}"


def test_dashboards_are_valid_provisioning_json() -> None:
    uids = set()
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        assert dashboard["uid"] not in uids and dashboard.get("title"), path.name
        uids.add(dashboard["uid"])
        ids = [panel["id"] for panel in panels(dashboard)]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
        for panel in panels(dashboard):
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, f"{path.name}: {panel['title']} is wider than the grid"
            assert panel.get("targets"), f"{path.name}: {panel['title']} has no query"

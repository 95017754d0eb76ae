"""The deployment the run measured, and the run's window on the dashboards.

`deployed_image` asks the front's /healthz for its `version` (the image it runs), so a record names
what was measured even when the load code's commit (`sha`) is not the deployed one. `annotate` marks
the run's window with one Grafana annotation region, so a person reading a dashboard sees which
minutes were a load test. Both are best effort: an unreachable front or Grafana is a warning, never
a failed run (the run's own verdicts are what fail it)."""

from __future__ import annotations

import os
from typing import Any

import httpx

from loadtest import report

TOKEN_ENV = "LOADTEST_GRAFANA_TOKEN"
TAGS = ["loadtest"]
UNKNOWN = "unknown"


def deployed_image(host: str, given: str = "", *, timeout: float = 5) -> str:
    """The front's /healthz `version` if it reports one, else `given` (--image), else "unknown"."""
    try:
        reply = httpx.get(f"{host.rstrip('/')}/healthz", timeout=timeout)
        version = reply.json().get("version") if reply.is_success else None
    except (httpx.HTTPError, ValueError, AttributeError):
        version = None
    return str(version) if version else (given or UNKNOWN)


def annotation(record: dict[str, Any], *, start_ms: int, end_ms: int) -> dict[str, Any]:
    """The body of POST /api/annotations: one region over the run, tagged, its text naming the run."""
    settings, figures = record["settings"], record["figures"]
    text = (
        f"load test {record['id']}: {settings['users']} users (spawn {settings['spawn_rate']:g}/s, "
        f"{settings['duration']}), {figures['requests_per_second']:.1f} req/s; accepted "
        f"{figures['accepted']}, counted {figures['counted']}; {report.verdict(record)}; "
        f"image {record.get('image', UNKNOWN)}"
    )
    return {"time": start_ms, "timeEnd": max(end_ms, start_ms), "tags": TAGS, "text": text}


def annotate(url: str, body: dict[str, Any], *, token: str | None = None, timeout: float = 10) -> str | None:
    """POST the annotation to Grafana at `url` (token: $LOADTEST_GRAFANA_TOKEN); None when Grafana
    took it, else the warning to print (what failed, naming the Grafana)."""
    token = os.environ.get(TOKEN_ENV, "") if token is None else token
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    target = f"{url.rstrip('/')}/api/annotations"
    try:
        reply = httpx.post(target, json=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as error:
        return f"Grafana at {url} is unreachable ({error!r}): the run's window is not annotated"
    if not reply.is_success:
        return (
            f"Grafana at {url} refused the annotation (HTTP {reply.status_code}: {reply.text[:200]}): "
            f"the run's window is not annotated (is ${TOKEN_ENV} an editor's token?)"
        )
    return None

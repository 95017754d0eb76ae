"""The results page and its API, read from Redis only: totals, the rate and the latest votes.

GET / serves the live page (src/votemon/page/: plain HTML, CSS and JS, no CDN); it follows
/api/stream (votemon.stream: one Redis read per tick whatever the number of viewers) and falls back
to polling /api/totals, /api/logs and /api/rate every second where streaming fails.

No read here grows with the number of votes: the latest votes are the capped sorted set
`votes:latest` that the consumer keeps in the same atomic script as the counts (MongoDB stays the
log of record, written by the consumer and never scanned here), and readiness is a ping.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from dataclasses import dataclass
from importlib.resources import files

from quart import Quart, Response, request
from redis.exceptions import RedisError

from votemon.http import error_response, json_response
from votemon.runtime import add_probes, configure_process, freeze_startup_objects, serve_app, stop_event
from votemon.settings import Settings
from votemon.store.tally import LATEST_SIZE, Tally, redis_client
from votemon.stream import REDIS_UNAVAILABLE, Broadcaster, stream_response

MAX_LOGS = LATEST_SIZE
MAX_RATE_SECONDS = 3600
# What the page shows, written only here: index.html gets them as data attributes (and in its text),
# app.js reads them from there, and they are the API's defaults and what the stream sends.
PAGE_LOGS = 20
PAGE_RATE_SECONDS = 60
PAGE_VALUES = {"{{PAGE_LOGS}}": PAGE_LOGS, "{{PAGE_RATE_SECONDS}}": PAGE_RATE_SECONDS}

# The page loads nothing from elsewhere; charts are SVG built with DOM calls (no inline script/style).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
ASSET_TYPES = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    version: str


def load_assets() -> tuple[bytes, dict[str, Asset]]:
    """The page's static files, each with a content hash; index.html links them as ?v=<hash>, so
    they can be cached for good while the page itself is revalidated on every load."""
    page = files("votemon.page")
    assets = {}
    for name, content_type in ASSET_TYPES.items():
        body = page.joinpath(name).read_bytes()
        assets[name] = Asset(body, content_type, hashlib.sha256(body).hexdigest()[:16])
    index = page.joinpath("index.html").read_text(encoding="utf-8")
    for placeholder, value in PAGE_VALUES.items():
        index = index.replace(placeholder, str(value))
    for name, asset in assets.items():
        index = index.replace(f"/static/{name}", f"/static/{name}?v={asset.version}")
    return index.encode(), assets


class InvalidParameterError(ValueError):
    """A query parameter out of its bounds: answered 400 naming it."""

    def __init__(self, name: str, low: int, high: int) -> None:
        super().__init__(f"{name} must be an integer from {low} to {high}")
        self.name = name


def bounded_int(name: str, default: int, low: int, high: int) -> int:
    """A query parameter as an int in [low, high]; raises InvalidParameterError otherwise."""
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise InvalidParameterError(name, low, high)
    return int(raw)


def broadcaster_for(tally: Tally, settings: Settings) -> Broadcaster:
    """The process' one broadcaster: what the page shows, read once per tick."""
    return Broadcaster(
        lambda: tally.snapshot(PAGE_LOGS, PAGE_RATE_SECONDS),
        tick_seconds=settings.stream_tick_seconds,
        max_seconds=settings.stream_max_seconds,
    )


def create_app(tally: Tally, broadcaster: Broadcaster, version: str) -> Quart:
    app = Quart("votemon.results")

    async def ready() -> bool:
        """Redis answers: a ping, never a read of the data."""
        try:
            return await tally.ping()
        except RedisError:
            return False

    add_probes(app, ready, version)
    add_page(app)

    @app.errorhandler(RedisError)
    async def redis_down(error: RedisError) -> Response:
        return error_response(503, *REDIS_UNAVAILABLE)

    @app.errorhandler(InvalidParameterError)
    async def invalid_parameter(error: InvalidParameterError) -> Response:
        return error_response(400, "invalid_parameter", str(error), field=error.name)

    @app.get("/api/totals")
    async def totals() -> Response:
        return json_response(await tally.totals(), 200)

    @app.get("/api/logs")
    async def logs() -> Response:
        limit = bounded_int("limit", PAGE_LOGS, 1, MAX_LOGS)
        return json_response({"logs": await tally.latest(limit)}, 200)

    @app.get("/api/rate")
    async def rate() -> Response:
        seconds = bounded_int("seconds", PAGE_RATE_SECONDS, 1, MAX_RATE_SECONDS)
        return json_response({"rate": await tally.rate(seconds)}, 200)

    @app.get("/api/stream")
    async def stream() -> Response:
        # Last-Event-ID needs nothing: every new stream starts with the whole current state.
        return stream_response(broadcaster)

    return app


def add_page(app: Quart) -> None:
    """GET / and its static files, security headers on every response, no caching of the API."""
    index, assets = load_assets()
    index_etag = hashlib.sha256(index).hexdigest()[:16]

    @app.after_request
    async def headers(response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        if request.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/")
    async def page() -> Response:
        response = Response(index, content_type="text/html; charset=utf-8")
        response.headers["Cache-Control"] = "no-cache"
        response.set_etag(index_etag)
        return await response.make_conditional(request)

    @app.get("/static/<name>")
    async def static_file(name: str) -> Response:
        asset = assets.get(name)
        if asset is None:
            return error_response(404, "not_found", f"no static file {name!r}")
        response = Response(asset.body, content_type=asset.content_type)
        pinned = request.args.get("v") == asset.version
        response.headers["Cache-Control"] = IMMUTABLE if pinned else "no-cache"
        response.set_etag(asset.version)
        return await response.make_conditional(request)


async def run(settings: Settings) -> None:
    log = configure_process(settings, "results")
    stopping = stop_event()
    redis = redis_client(settings, "results")
    tally = Tally(redis, settings)
    broadcaster = broadcaster_for(tally, settings)
    app = create_app(tally, broadcaster, settings.votemon_version)

    async def end_streams() -> None:
        """Streams never end by themselves within Hypercorn's grace: end them on the stop signal."""
        await stopping.wait()
        await broadcaster.close()

    ender = asyncio.create_task(end_streams())
    freeze_startup_objects()
    log.info("serving", bind=settings.results_bind)
    try:
        await serve_app(app, settings.results_bind, stopping, settings)
    finally:
        ender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ender
        await broadcaster.close()
        await redis.aclose()
    log.info("stopped")

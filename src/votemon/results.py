"""The results API (and, later, its page): totals from Redis, the latest vote logs from MongoDB."""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo.errors import PyMongoError
from quart import Quart, Response, request
from redis.exceptions import RedisError

from votemon.front import error_response, json_response
from votemon.runtime import add_probes, configure_logging, serve_app, stop_event
from votemon.settings import Settings
from votemon.store.tally import Tally, redis_client
from votemon.store.vote_log import VoteLog, mongo_client

MAX_LOGS = 100
MAX_RATE_SECONDS = 3600


def bounded_int(name: str, default: int, low: int, high: int) -> int | Response:
    """A query parameter as an int in [low, high], or a 400 response naming it."""
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        return error_response(
            400, "invalid_parameter", f"{name} must be an integer from {low} to {high}", field=name
        )
    return int(raw)


def log_entry(document: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": document["_id"],
        "name": document["name"],
        "album": document["album"],
        "year": document["year"],
        "rank": document["rank"],
        "accepted_at": document["accepted_at"].isoformat(),
    }


def create_app(tally: Tally, vote_log: VoteLog) -> Quart:
    app = Quart("votemon.results")

    async def ready() -> bool:
        try:
            await asyncio.gather(tally.totals(), vote_log.count())
        except (RedisError, PyMongoError):
            return False
        return True

    add_probes(app, ready)

    @app.errorhandler(RedisError)
    async def redis_down(error: RedisError) -> Response:
        return error_response(503, "redis_unavailable", "the counters cannot be read right now")

    @app.errorhandler(PyMongoError)
    async def mongo_down(error: PyMongoError) -> Response:
        return error_response(503, "mongo_unavailable", "the vote log cannot be read right now")

    @app.get("/api/totals")
    async def totals() -> Response:
        return json_response(await tally.totals(), 200)

    @app.get("/api/logs")
    async def logs() -> Response:
        limit = bounded_int("limit", 20, 1, MAX_LOGS)
        if isinstance(limit, Response):
            return limit
        return json_response({"logs": [log_entry(d) for d in await vote_log.latest(limit)]}, 200)

    @app.get("/api/rate")
    async def rate() -> Response:
        seconds = bounded_int("seconds", 60, 1, MAX_RATE_SECONDS)
        if isinstance(seconds, Response):
            return seconds
        return json_response({"rate": await tally.rate(seconds)}, 200)

    return app


async def run(settings: Settings) -> None:
    log = configure_logging(settings, "results")
    stopping = stop_event()
    redis = redis_client(settings)
    mongo = mongo_client(settings)
    app = create_app(Tally(redis, settings), VoteLog(mongo, settings))
    log.info("serving", bind=settings.results_bind)
    try:
        await serve_app(app, settings.results_bind, stopping, settings)
    finally:
        await redis.aclose()
        await mongo.close()
    log.info("stopped")

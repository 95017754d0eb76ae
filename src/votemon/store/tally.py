"""The live counters in Redis. Their keys (README, "Redis keys", and the constants below) are a
public contract: Grafana's dashboards read them.

Counting a batch and storing its partition's next offset happen in one Lua script, so the
counters and the position they correspond to can never disagree. When Redis loses its last
second of writes, the script finds its stored offset behind the batch and refuses it; the
consumer seeks back to the stored offset and counts those records again.

Nothing here grows with the number of votes: the dedupe sets hold the ids counted in the last
dedup_window_seconds (plus one bucket) and expire whole, `votes:latest` is trimmed to LATEST_SIZE
in the same script, and `votes:per-second` is trimmed to the rate window. Every read the results
API makes is O(bands + albums), O(limit) or O(seconds), whatever the size of the log.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

import orjson
from redis.asyncio import Redis

from votemon.settings import Settings
from votemon.store import PartitionBatch
from votemon.votes import AcceptedVote

TOTAL = "votes:total"
BY_BAND = "votes:by-band"
BY_ALBUM = "votes:by-album"
PER_SECOND = "votes:per-second"
LATEST = "votes:latest"
SEEN_PREFIX = "votes:dedupe:"  # not votes:seen:, the old per-id keys (a numeric id could clash)
OFFSETS = "votes:offsets"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_SIZE = 100  # the most /api/logs may ask for
DEDUP_BUCKETS = 5  # sets per window: each vote is looked up in 6, memory is at most 1.2 windows


@dataclass(frozen=True)
class Counted:
    """What counting a batch did: votes counted for the first time, or, when Redis is behind the
    batch (it lost its last writes), the stored offset to seek back to; nothing was counted then."""

    votes: int
    rewind_to: int | None


def redis_client(settings: Settings) -> Redis:
    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    return Redis.from_url(
        settings.redis_url,
        password=password,
        decode_responses=True,
        socket_timeout=5,
        socket_connect_timeout=5,
    )


def partition_field(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


def dedup_bucket_seconds(window: int) -> int:
    """Width of one dedupe set: a fifth of the window (rounded up, at least 1 s)."""
    return max(1, -(-window // DEDUP_BUCKETS))


def latest_score(vote: AcceptedVote) -> int:
    """Acceptance time in microseconds since the epoch: exact in a double until the year 2255."""
    delta = vote.accepted_at - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def latest_entry(vote: AcceptedVote) -> str:
    """The member of `votes:latest`: a JSON array that starts with the id, so that votes accepted
    in the same microsecond come newest-id-first, as MongoDB's sort (accepted_at, _id) does."""
    # milliseconds, as the log in MongoDB keeps it (BSON dates) and /api/logs always answered
    at = vote.accepted_at.replace(microsecond=vote.accepted_at.microsecond // 1000 * 1000)
    return orjson.dumps([vote.id, vote.name, vote.album, vote.year, vote.rank, at.isoformat()]).decode()


def parse_latest_entry(member: str) -> dict[str, Any]:
    vote_id, name, album, year, rank, accepted_at = orjson.loads(member)
    return {
        "id": vote_id,
        "name": name,
        "album": album,
        "year": year,
        "rank": rank,
        "accepted_at": accepted_at,
    }


class Tally:
    """Writes counts (the consumer) and reads them (the results API)."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self._redis = redis
        self._settings = settings
        self._count = redis.register_script(files("votemon.store").joinpath("tally.lua").read_text())

    async def count(self, batch: PartitionBatch) -> Counted:
        """Count the batch's votes and move its partition's stored offset to `batch.end`."""
        args: list[Any] = [
            partition_field(batch.tp.topic, batch.tp.partition),
            batch.start,
            batch.end,
            SEEN_PREFIX,
            self._settings.dedup_window_seconds,
            dedup_bucket_seconds(self._settings.dedup_window_seconds),
            LATEST_SIZE,
            orjson.dumps(
                [
                    (
                        offset,
                        vote.id,
                        vote.name,
                        vote.album_key,
                        int(vote.accepted_at.timestamp()),
                        latest_score(vote),
                        latest_entry(vote),
                    )
                    for offset, vote in batch.votes
                ]
            ),
        ]
        counted, behind = await self._count(
            keys=[OFFSETS, TOTAL, BY_BAND, BY_ALBUM, PER_SECOND, LATEST], args=args
        )
        return Counted(int(counted), None if int(behind) < 0 else int(behind))

    async def stored_offsets(self, topic: str, partitions: list[int]) -> dict[int, int]:
        """The next offset to count of each partition that has one."""
        if not partitions:
            return {}
        values = await self._redis.hmget(OFFSETS, [partition_field(topic, p) for p in partitions])
        return {p: int(v) for p, v in zip(partitions, values, strict=True) if v is not None}

    async def skip_to(self, topic: str, partition: int, offset: int) -> None:
        """Move a partition's stored offset forward past records that Kafka no longer has."""
        await self._redis.hset(OFFSETS, partition_field(topic, partition), offset)

    async def trim_rate(self) -> int:
        """Drop per-second buckets older than the rate window, so the hash stays small."""
        cutoff = int(time.time()) - self._settings.rate_window_seconds
        old = [second for second in await self._redis.hkeys(PER_SECOND) if int(second) < cutoff]
        return int(await self._redis.hdel(PER_SECOND, *old)) if old else 0

    async def totals(self) -> dict[str, Any]:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(TOTAL)
            pipe.hgetall(BY_BAND)
            pipe.hgetall(BY_ALBUM)
            total, bands, albums = await pipe.execute()
        by_album = []
        for key, votes in albums.items():
            band, _, album = key.partition(" / ")
            by_album.append({"band": band, "album": album, "votes": int(votes)})
        return {
            "total": int(total or 0),
            "bands": sorted(
                ({"band": b, "votes": int(v)} for b, v in bands.items()), key=lambda r: -r["votes"]
            ),
            "albums": sorted(by_album, key=lambda r: -r["votes"]),
        }

    async def latest(self, limit: int) -> list[dict[str, Any]]:
        """The newest `limit` (at most LATEST_SIZE) votes counted, newest first: O(limit)."""
        members = await self._redis.zrevrange(LATEST, 0, min(limit, LATEST_SIZE) - 1)
        return [parse_latest_entry(str(member)) for member in members]

    async def memory(self) -> tuple[int, int]:
        """(used_memory, maxmemory) in bytes, from INFO memory; maxmemory 0 means no limit."""
        info = await self._redis.info("memory")
        return int(info["used_memory"]), int(info.get("maxmemory", 0))

    async def ping(self) -> bool:
        return bool(await self._redis.ping())

    async def rate(self, seconds: int) -> list[dict[str, int]]:
        """Votes per second over the last `seconds`, oldest first, zeros included."""
        now = int(time.time())
        wanted = [str(second) for second in range(now - seconds + 1, now + 1)]
        values = await self._redis.hmget(PER_SECOND, wanted)
        return [{"second": int(s), "votes": int(v or 0)} for s, v in zip(wanted, values, strict=True)]

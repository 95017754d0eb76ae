"""The live counters in Redis. Their keys (README, "Redis keys", and the constants below) are a
public contract: Grafana's dashboards read them.

Counting a batch and storing its partition's next offset happen in one Lua script, so the
counters and the position they correspond to can never disagree. When Redis loses its last
second of writes, the script finds its stored offset behind the batch and refuses it; the
consumer seeks back to the stored offset and counts those records again.

Nothing here grows with the number of votes: the dedupe sets hold the ids counted in the last
dedup_window_seconds (plus one bucket) and expire whole, `votes:latest` is trimmed to LATEST_SIZE
in the same script, and `votes:per-second` is trimmed to the rate window. Every read the results
API makes is O(top N), O(limit) or O(seconds), whatever the size of the log and however many names
were ever counted: the same script keeps each count also in a sorted set (`votes:rank:*`), so that
/api/totals reads the top N and sums the rest into "other" (issue 26), never the whole hash.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from votemon.settings import Settings
from votemon.store import PartitionBatch
from votemon.votes import NAME_MAX_LENGTH, AcceptedVote

TOTAL = "votes:total"
BY_BAND = "votes:by-band"
BY_ALBUM = "votes:by-album"
BAND_RANKING = "votes:rank:band"
ALBUM_RANKING = "votes:rank:album"
PER_SECOND = "votes:per-second"
LATEST = "votes:latest"
SEEN_PREFIX = "votes:dedupe:"  # not votes:seen:, the old per-id keys (a numeric id could clash)
OFFSETS = "votes:offsets"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_SIZE = 100  # the most /api/logs may ask for
DEDUP_BUCKETS = 5  # sets per window: each vote is looked up in 6, memory is at most 1.2 windows
# A name is at most NAME_MAX_LENGTH characters, printable (no control characters): in JSON at most
# 4 bytes each (UTF-8; '"' and '\\' escape to 2). An album row names its band and album.
_ROW_BYTES = {"band": 4 * NAME_MAX_LENGTH + 40, "album": 8 * NAME_MAX_LENGTH + 60}
_BACKFILL = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local counts = redis.call('HGETALL', KEYS[1])
for i = 1, #counts, 2 do redis.call('ZADD', KEYS[2], counts[i + 1], counts[i]) end
return #counts / 2
"""
# One atomic read of all the page shows, on Redis' own clock (TIME): the stream's one read per tick.
# no-writes: it also runs on a store at its memory limit.
_SNAPSHOT = """#!lua flags=no-writes
local now = redis.call('TIME')
local second = tonumber(now[1])
local seconds = {}
for s = second - tonumber(ARGV[3]) + 1, second do seconds[#seconds + 1] = tostring(s) end
return {
  now[1], now[2], redis.call('GET', KEYS[1]) or '0',
  redis.call('ZREVRANGE', KEYS[2], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES'),
  redis.call('ZREVRANGE', KEYS[3], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES'),
  redis.call('ZREVRANGE', KEYS[4], 0, tonumber(ARGV[2]) - 1),
  redis.call('HMGET', KEYS[5], unpack(seconds)),
  second - tonumber(ARGV[3]) + 1,
}
"""


def max_totals_bytes(top: int) -> int:
    """The most /api/totals can weigh with `top` bands and albums, whatever Redis holds."""
    return top * (_ROW_BYTES["band"] + _ROW_BYTES["album"]) + 200


@dataclass(frozen=True)
class Counted:
    """What counting a batch did: votes counted for the first time, or, when Redis is behind the
    batch (it lost its last writes), the stored offset to seek back to; nothing was counted then."""

    votes: int
    rewind_to: int | None


def redis_login(settings: Settings, user: str | None = None) -> tuple[str | None, str | None]:
    """(username, password) of Redis user `user` (base/redis/users.acl), the password read from the
    file of that name in settings.redis_users_dir; without a user or that directory, the default
    user's (redis_password)."""
    if user is not None and settings.redis_users_dir is not None:
        return user, (settings.redis_users_dir / user).read_text().strip()
    return None, settings.redis_password.get_secret_value() if settings.redis_password else None


def redis_client(settings: Settings, user: str | None = None) -> Redis:
    """A client of Redis as `user` (redis_login)."""
    username, password = redis_login(settings, user)
    return Redis.from_url(
        settings.redis_url,
        username=username,
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


@dataclass(frozen=True)
class Snapshot:
    """What the page shows, read at once: `now_ms` is Redis' clock when it was read."""

    now_ms: int
    totals: dict[str, Any]
    logs: list[dict[str, Any]]
    rate: list[dict[str, int]]


Ranked = list[tuple[str, float]]


def _pairs(flat: list[str]) -> Ranked:
    """ZREVRANGE WITHSCORES as a script returns it (member, score, ...) as redis-py's pairs."""
    return [(flat[i], float(flat[i + 1])) for i in range(0, len(flat), 2)]


def _shape_totals(total: int, bands: Ranked, albums: Ranked) -> dict[str, Any]:
    by_album: list[dict[str, Any]] = []
    for key, votes in albums:
        band, _, album = key.partition(" / ")
        by_album.append({"band": band, "album": album, "votes": int(votes)})
    by_band: list[dict[str, Any]] = [{"band": band, "votes": int(votes)} for band, votes in bands]
    return {
        "total": total,
        "bands": by_band,
        "albums": by_album,
        "other": {
            "bands": total - sum(row["votes"] for row in by_band),
            "albums": total - sum(row["votes"] for row in by_album),
        },
    }


class Tally:
    """Writes counts (the consumer) and reads them (the results API)."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self._redis = redis
        self._settings = settings
        self._count = redis.register_script(files("votemon.store").joinpath("tally.lua").read_text())
        self._snapshot = redis.register_script(_SNAPSHOT)

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
            keys=[OFFSETS, TOTAL, BY_BAND, BY_ALBUM, PER_SECOND, LATEST, BAND_RANKING, ALBUM_RANKING],
            args=args,
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

    async def backfill_rankings(self) -> int:
        """Build the rankings from the counters where they do not exist yet (Redis counted by a
        version before them); returns how many names were ranked. Atomic, and a no-op once done."""
        ranked = 0
        for counts, ranking in ((BY_BAND, BAND_RANKING), (BY_ALBUM, ALBUM_RANKING)):
            ranked += int(await self._redis.eval(_BACKFILL, 2, counts, ranking))
        return ranked

    async def totals(self) -> dict[str, Any]:
        """The total, the top `totals_top` bands and albums, most votes first, and what the others
        got together ("other"): at most max_totals_bytes, however many names Redis holds."""
        top = self._settings.totals_top
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(TOTAL)
            pipe.zrevrange(BAND_RANKING, 0, top - 1, withscores=True)
            pipe.zrevrange(ALBUM_RANKING, 0, top - 1, withscores=True)
            total_text, bands, albums = await pipe.execute()
        return _shape_totals(int(total_text or 0), bands, albums)

    async def snapshot(self, logs: int, seconds: int) -> Snapshot:
        """The totals, the newest `logs` votes and the last `seconds` of rate, in one script (one
        command, atomic), the window ending at Redis' current second."""
        keys = (TOTAL, BAND_RANKING, ALBUM_RANKING, LATEST, PER_SECOND)
        keys_and_args = (*keys, self._settings.totals_top, logs, seconds)
        # EVALSHA_RO: the results user may read only (base/redis/users.acl), and EVALSHA declares
        # its keys written. A Redis that does not hold the script yet (a restart) gets it once.
        try:
            reply = await self._redis.evalsha_ro(self._snapshot.sha, len(keys), *keys_and_args)
        except NoScriptError:
            await self._redis.script_load(_SNAPSHOT)
            reply = await self._redis.evalsha_ro(self._snapshot.sha, len(keys), *keys_and_args)
        now_s, now_us, total, bands, albums, latest, counts, first = reply
        return Snapshot(
            now_ms=int(now_s) * 1000 + int(now_us) // 1000,
            totals=_shape_totals(int(total), _pairs(bands), _pairs(albums)),
            logs=[parse_latest_entry(str(member)) for member in latest],
            rate=[{"second": int(first) + i, "votes": int(v or 0)} for i, v in enumerate(counts)],
        )

    async def latest(self, limit: int) -> list[dict[str, Any]]:
        """The newest `limit` (at most LATEST_SIZE) votes counted, newest first: O(limit)."""
        members = await self._redis.zrevrange(LATEST, 0, min(limit, LATEST_SIZE) - 1)
        return [parse_latest_entry(str(member)) for member in members]

    async def memory(self) -> tuple[int, int]:
        """(used_memory, maxmemory) in bytes, from INFO memory; maxmemory 0 means no limit."""
        info = await self._redis.info("memory")
        return int(info["used_memory"]), int(info.get("maxmemory", 0))

    async def distinct_names(self) -> tuple[int, int]:
        """How many bands and albums have counts (the rankings' sizes): O(1)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zcard(BAND_RANKING)
            pipe.zcard(ALBUM_RANKING)
            bands, albums = await pipe.execute()
        return int(bands), int(albums)

    async def ping(self) -> bool:
        return bool(await self._redis.ping())

    async def rate(self, seconds: int) -> list[dict[str, int]]:
        """Votes per second over the last `seconds`, oldest first, zeros included: the window ends at
        Redis' current second (TIME), as the stream's snapshot does, whichever process asks."""
        now, _ = await self._redis.time()
        wanted = [str(second) for second in range(now - seconds + 1, now + 1)]
        values = await self._redis.hmget(PER_SECOND, wanted)
        return [{"second": int(s), "votes": int(v or 0)} for s, v in zip(wanted, values, strict=True)]

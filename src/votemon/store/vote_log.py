"""The vote log in MongoDB: one document per vote, `_id` = vote id, so a replayed insert is a no-op.

Document shape (collection `logs`):
    {_id: "<vote id>", name, album, year: int, rank: "9.5", accepted_at: datetime (UTC),
     counted_at: datetime (UTC), partition: int, offset: int}
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import DESCENDING, AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from votemon.settings import Settings
from votemon.store import PartitionBatch
from votemon.votes import AcceptedVote

DUPLICATE_KEY = 11000
LOGS = "logs"


def mongo_client(settings: Settings) -> AsyncMongoClient[dict[str, Any]]:
    username = password = None
    if settings.mongo_credentials_dir is not None:
        username, password = (
            (settings.mongo_credentials_dir / f).read_text().strip() for f in ("username", "password")
        )
    return AsyncMongoClient(
        settings.mongo_uri,
        username=username,
        password=password,
        serverSelectionTimeoutMS=5000,
        tz_aware=True,
    )


def log_document(vote: AcceptedVote, partition: int, offset: int, counted_at: datetime) -> dict[str, Any]:
    """The log document of one vote (the shape above)."""
    return {
        "_id": vote.id,
        "name": vote.name,
        "album": vote.album,
        "year": vote.year,
        "rank": vote.rank,
        "accepted_at": vote.accepted_at,
        "counted_at": counted_at,
        "partition": partition,
        "offset": offset,
    }


class VoteLog:
    """Inserts log documents (the consumer). Nothing in the pipeline reads the log back: the
    results API reads the latest votes from Redis (`votes:latest`). On FerretDB's SQLite backend
    every query scans the collection (no pushdown, even of `_id` equality: a lookup of a recent id
    took over 10 s at 10M documents), so a read here would grow with the votes."""

    def __init__(self, client: AsyncMongoClient[dict[str, Any]], settings: Settings) -> None:
        self._logs: AsyncCollection[dict[str, Any]] = client[settings.mongo_database][LOGS]

    async def ensure_indexes(self) -> None:
        await self._logs.create_index([("accepted_at", DESCENDING)], name="accepted_at_desc")

    async def insert(self, batches: Sequence[PartitionBatch], counted_at: datetime) -> int:
        """Insert one document per vote of every batch, in one call (FerretDB's cost is mostly per
        call); documents already there (a replay) are left alone.

        Returns how many were new. Any error other than a duplicate key is raised.
        """
        documents = [
            log_document(vote, batch.tp.partition, offset, counted_at)
            for batch in batches
            for offset, vote in batch.votes
        ]
        if not documents:
            return 0
        try:
            result = await self._logs.insert_many(documents, ordered=False)
        except BulkWriteError as error:
            others = [e for e in error.details.get("writeErrors", []) if e.get("code") != DUPLICATE_KEY]
            if others or error.details.get("writeConcernErrors"):
                raise
            return int(error.details.get("nInserted", 0))
        return len(result.inserted_ids)

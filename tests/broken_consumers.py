"""Consumers with one rule of the commit protocol broken, that the fault tests must catch:
`python -m tests.broken_consumers no-dedupe|commit-before-write` runs `votemon consumer` with
that checkpoint (tests/faults.py starts it when BROKEN_CONSUMER names one)."""

from __future__ import annotations

import sys
from dataclasses import replace

import uvloop

from votemon import consumer
from votemon.consumer import Checkpoint
from votemon.settings import Settings
from votemon.store import PartitionBatch
from votemon.votes import new_vote_id

ANY_OFFSET = 2**53  # above every stored offset: the script's replay check skips nothing


class NoDedupe(Checkpoint):
    """Counts every vote it is given again: replayed offsets and retried ids alike."""

    async def count(self, batch: PartitionBatch) -> bool:
        fresh = [(ANY_OFFSET, vote.model_copy(update={"id": new_vote_id()})) for _, vote in batch.votes]
        return await super().count(replace(batch, votes=fresh))


class CommitBeforeWrite(Checkpoint):
    """Stores each partition's offset (with the counts) before its log is written."""

    async def log(self, batches: list[PartitionBatch]) -> None:
        """Written after each count instead."""

    async def count(self, batch: PartitionBatch) -> bool:
        counted = await super().count(batch)
        await super().log([batch])
        return counted


BROKEN = {"no-dedupe": NoDedupe, "commit-before-write": CommitBeforeWrite}

if __name__ == "__main__":
    uvloop.run(consumer.run(Settings(), BROKEN[sys.argv[1]]))

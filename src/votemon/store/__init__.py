"""Where votes end up: live counters in Redis (tally) and one log document per vote in MongoDB (vote_log)."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka.structs import TopicPartition

from votemon.votes import AcceptedVote


@dataclass(frozen=True)
class PartitionBatch:
    """What both stores take: the votes, with their offsets, among one partition's records [start, end)."""

    tp: TopicPartition
    start: int
    end: int
    votes: list[tuple[int, AcceptedVote]]

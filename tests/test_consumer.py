"""The consumer: poison records go to the dead-letter topic; counting goes on; offsets live in Redis."""

from __future__ import annotations

import asyncio
import uuid

import orjson

from votemon.dev.pipeline import Pipeline, unique_band, vote
from votemon.dev.topic_ends import TopicEnds
from votemon.kafka import create_topics
from votemon.votes import AcceptedVote, VoteIn, utc_now


def accepted(band: str) -> AcceptedVote:
    return AcceptedVote.accept(VoteIn.model_validate(vote(band)), utc_now())


def test_poison_records_go_to_the_dead_letter_topic_and_counting_goes_on(pipeline: Pipeline) -> None:
    band = unique_band("Poison")
    good = [accepted(band) for _ in range(3)]
    poison: list[tuple[bytes | None, bytes | None]] = [
        (band.encode(), b"{not json"),
        (band.encode(), orjson.dumps({"name": band, "album": "A"})),  # fields missing
        (band.encode(), None),
        (band.encode(), orjson.dumps({**good[0].model_dump(mode="json"), "year": 1200})),
    ]
    records = [(v.kafka_key(), v.kafka_value()) for v in good]
    pipeline.kafka.produce(
        pipeline.settings.votes_topic, [records[0], *poison[:2], records[1], *poison[2:], records[2]]
    )

    assert pipeline.wait_band_count(band) == 3
    topic = pipeline.settings.dead_letter_topic  # other tests' dead letters may be there too: read all
    dead = pipeline.kafka.read(topic, count=sum(pipeline.kafka.end_offsets(topic).values()))
    ours = [r for r in dead if r.key == band.encode()]
    assert sorted(r.value or b"" for r in ours) == sorted(v or b"" for _, v in poison)
    for record in ours:
        headers = dict(record.headers)
        assert headers["reason"]
        assert headers["source"].decode().startswith(f"{pipeline.settings.votes_topic}:")
    assert pipeline.logs.count_documents({"name": band}) == 3


def test_each_partition_next_offset_is_stored_with_the_counts(pipeline: Pipeline) -> None:
    band = unique_band("Offsets")
    assert pipeline.post([vote(band)] * 5).status_code == 202
    assert pipeline.wait_band_count(band) == 5
    stored = pipeline.redis.hgetall("votes:offsets")
    ours = {k: int(v) for k, v in stored.items() if str(k).startswith(pipeline.settings.votes_topic + ":")}
    ends = pipeline.kafka.end_offsets(pipeline.settings.votes_topic)
    assert ours == {f"{pipeline.settings.votes_topic}:{p}": end for p, end in ends.items() if end > 0}


def test_topic_ends_see_a_topic_made_after_start_and_none_for_an_absent_one(pipeline: Pipeline) -> None:
    """The one end-offset reader (votemon.dev.topic_ends): the probe's clients, started with the
    pipeline, see a topic created later; a TopicEnds started on a loop of its own reads the same."""
    run = uuid.uuid4().hex[:8]
    later = pipeline.settings.model_copy(
        update={"votes_topic": f"topic-ends-{run}", "dead_letter_topic": f"topic-ends-dead-{run}"}
    )
    assert pipeline.kafka.end_offsets(later.votes_topic) == {}, "absent: nothing was produced to it"
    asyncio.run(create_topics(later))
    pipeline.kafka.produce(later.votes_topic, [(f"key-{i}".encode(), b"{}") for i in range(7)])
    ends = pipeline.kafka.end_offsets(later.votes_topic)
    assert sorted(ends) == list(range(later.topic_partitions)) and sum(ends.values()) == 7

    async def on_a_new_loop() -> dict[int, int]:
        reader = TopicEnds(later)
        await reader.start()
        try:
            return await reader.read(later.votes_topic)
        finally:
            await reader.stop()

    assert asyncio.run(on_a_new_loop()) == ends

"""The stage histograms (votemon.stages) on the real pipeline: a single vote, a batch and a record that
is no vote go through, and every stage of the front, the grpc-server and the consumer observes them."""

from __future__ import annotations

import httpx

from votemon.dev.eventually import eventually
from votemon.dev.pipeline import Pipeline, unique_band, vote
from votemon.dev.prometheus_text import parse_histograms

STAGES = {
    "front": ("read_parse", "admission", "coalescer_wait", "grpc_call", "reply"),
    "grpc": ("checks", "enqueue", "linger_ack"),
    "consumer": ("poll_wait", "decode", "dead_letters", "log_insert", "count", "commit"),
}


def stage_counts(pipeline: Pipeline) -> dict[str, float]:
    """Each stage's count of observations, named "<service> <stage>", from the services' /metrics."""
    settings = pipeline.settings
    pages = {
        "front": pipeline.front,
        "grpc": f"http://{settings.grpc_metrics_bind}",
        "consumer": f"http://{settings.consumer_metrics_bind}",
    }
    counts = {}
    for service, base in pages.items():
        text = httpx.get(f"{base}/metrics", timeout=5).text
        for stage, observed in parse_histograms(text, f"votemon_{service}_stage_seconds", "stage").items():
            counts[f"{service} {stage}"] = observed.count
    return counts


def test_every_stage_observes_the_votes_going_through(pipeline: Pipeline) -> None:
    before = stage_counts(pipeline)
    band = unique_band("Stages")
    assert pipeline.post(vote(band)).status_code == 202
    assert pipeline.post([vote(band) for _ in range(3)]).status_code == 202
    pipeline.kafka.produce(pipeline.settings.votes_topic, [(band.encode(), b"{not a vote")])
    assert pipeline.wait_band_count(band) == 4
    expected = [f"{service} {stage}" for service, stages in STAGES.items() for stage in stages]

    def all_grew() -> bool:
        counts = stage_counts(pipeline)
        flat = [name for name in expected if counts.get(name, 0.0) <= before.get(name, 0.0)]
        assert not flat, f"no new observations in {flat}"
        return True

    # the consumer's Kafka commit is observed after the count that wait_band_count saw
    eventually(all_grew, "every stage observed the votes", within=10, ignoring=(AssertionError,))

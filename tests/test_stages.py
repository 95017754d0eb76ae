"""The stage histograms (votemon.stages) on the real pipeline: a single vote, a batch and a record that
is no vote go through, and every stage of the front, the grpc-server and the consumer observes them;
every service times its collector's pauses (votemon.runtime)."""

from __future__ import annotations

import httpx

from votemon.dev.eventually import eventually
from votemon.dev.pipeline import Pipeline, unique_band, vote
from votemon.dev.prometheus_text import parse_histograms
from votemon.runtime import GC_PAUSES_METRIC

STAGES = {
    "front": ("read_parse", "admission", "coalescer_wait", "grpc_call", "reply"),
    "grpc": ("checks", "enqueue", "linger_ack"),
    "consumer": ("poll_wait", "decode", "dead_letters", "log_insert", "count", "commit"),
}


def metrics_pages(pipeline: Pipeline) -> dict[str, str]:
    """Each service's /metrics, by the name its stage histogram carries."""
    settings = pipeline.settings
    bases = {
        "front": pipeline.front,
        "grpc": f"http://{settings.grpc_metrics_bind}",
        "consumer": f"http://{settings.consumer_metrics_bind}",
        "results": pipeline.results,
    }
    return {service: httpx.get(f"{base}/metrics", timeout=5).text for service, base in bases.items()}


def stage_counts(pipeline: Pipeline) -> dict[str, float]:
    """Each stage's count of observations, named "<service> <stage>", from the services' /metrics."""
    counts = {}
    for service, text in metrics_pages(pipeline).items():
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


def test_every_service_times_its_young_collections(pipeline: Pipeline) -> None:
    """Generation 0 runs every few hundred allocations: a serving process has had some."""
    assert pipeline.post(vote(unique_band("Collections"))).status_code == 202
    young = {
        service: parse_histograms(text, GC_PAUSES_METRIC, "generation")["0"].count
        for service, text in metrics_pages(pipeline).items()
    }
    assert all(count > 0 for count in young.values()), young

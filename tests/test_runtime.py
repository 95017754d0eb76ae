"""What every service does at start (votemon.runtime): its collector's pauses timed by generation, and
what start-up made moved out of the collector's reach once set up."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from votemon.runtime import GC_PAUSES_METRIC, GcPauseTimer, freeze_startup_objects, watch_gc_pauses


@pytest.fixture
def watched() -> Iterator[None]:
    """The timer installed, and gc.callbacks as it was afterwards."""
    callbacks = list(gc.callbacks)
    watch_gc_pauses()
    yield
    gc.callbacks[:] = callbacks


def full_collections() -> float:
    return REGISTRY.get_sample_value(f"{GC_PAUSES_METRIC}_count", {"generation": "2"}) or 0.0


@pytest.mark.usefixtures("watched")
def test_a_full_collection_is_timed_once_under_its_generation() -> None:
    before = full_collections()
    gc.collect()
    assert full_collections() == before + 1


@pytest.mark.usefixtures("watched")
def test_watching_twice_times_each_collection_once() -> None:
    watch_gc_pauses()
    assert sum(isinstance(callback, GcPauseTimer) for callback in gc.callbacks) == 1


def test_what_start_up_made_is_left_out_of_every_later_collection() -> None:
    made_at_start = [["a client's state"]]
    try:
        freeze_startup_objects()
        assert not any(tracked is made_at_start for tracked in gc.get_objects()), "still collected"
    finally:
        gc.unfreeze()  # back into the oldest generation, for the tests after this one
    assert any(tracked is made_at_start for tracked in gc.get_objects())

"""Unit tests of the in-flight limit the front and the gRPC server share (pure logic)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge

from votemon.admission import Admission


def admission(limit: int) -> tuple[Admission, Gauge]:
    gauge = Gauge("in_flight", "test", registry=CollectorRegistry())
    return Admission(limit, gauge), gauge


def test_votes_over_the_limit_are_refused_and_admitted_again_once_released() -> None:
    limit, gauge = admission(10)
    assert limit.try_admit(6)
    assert not limit.try_admit(5)
    assert limit.try_admit(4)
    assert limit.full()
    assert not limit.try_admit(1)
    assert gauge._value.get() == 10
    limit.release(6)
    assert not limit.full()
    assert limit.try_admit(5)
    assert gauge._value.get() == 9


def test_a_lone_batch_larger_than_the_limit_is_admitted() -> None:
    limit, _ = admission(10)
    assert limit.try_admit(1000)
    assert not limit.try_admit(1)
    limit.release(1000)
    assert limit.try_admit(1)

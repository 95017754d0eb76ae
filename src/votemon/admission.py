"""A bounded count of votes in flight, shared by the front and the gRPC server: what is over the
limit is refused at once (503, RESOURCE_EXHAUSTED), never queued."""

from __future__ import annotations

from prometheus_client import Gauge


class Admission:
    """Counted in votes, not requests, since a batch of 1,000 costs the vote service and the broker
    1,000 times what a single vote does. A batch arriving when nothing is in flight is admitted
    whatever its size, so that a limit below the largest batch cannot refuse it forever.
    Single-threaded (one event loop): no lock.
    """

    def __init__(self, limit: int, gauge: Gauge) -> None:
        self._limit = limit
        self._gauge = gauge
        self._in_flight = 0

    def full(self) -> bool:
        """No vote can be admitted now: the front checks it before reading a body, so that shedding
        costs none of the parsing and validation the admitted votes need."""
        return self._in_flight >= self._limit

    def try_admit(self, votes: int) -> bool:
        if self._in_flight and self._in_flight + votes > self._limit:
            return False
        self._in_flight += votes
        self._gauge.set(self._in_flight)
        return True

    def release(self, votes: int) -> None:
        self._in_flight -= votes
        self._gauge.set(self._in_flight)

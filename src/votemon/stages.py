"""Where a vote's time goes: one histogram per service, `votemon_<service>_stage_seconds{stage=...}`,
observed at the boundaries of its stages (docs/performance.md, "Where the time goes"). Each service
makes its own in its module, so a process exports its own stages only; the bench reads them."""

from __future__ import annotations

import time
from collections.abc import Sequence

from prometheus_client import Histogram

# from a tenth of a millisecond (a check, a reply) to seconds (a broker away); a quantile inside the
# lowest bucket is interpolated from 0, so it says "under 0.1 ms" and no more
BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Stages:
    """A service's stage histogram, its children made once: timing a stage costs a perf_counter
    call and an observe, nothing allocated."""

    def __init__(self, service: str, description: str, stages: Sequence[str]) -> None:
        histogram = Histogram(f"votemon_{service}_stage_seconds", description, ["stage"], buckets=BUCKETS)
        self._children = {stage: histogram.labels(stage=stage) for stage in stages}

    def observe(self, stage: str, seconds: float) -> None:
        self._children[stage].observe(seconds)

    def since(self, stage: str, started: float) -> float:
        """Observe `stage` as lasting from `started` (time.perf_counter) until now; return now,
        where the next stage starts."""
        now = time.perf_counter()
        self._children[stage].observe(now - started)
        return now

"""CPU seconds per process, read from /proc (through psutil), for the CPU each service spends per vote."""

from __future__ import annotations

from pathlib import Path

import psutil

# stack/stack.sh's pidfile name -> the process it names
STACK_PROCESSES = {"kafka": "kafka (JVM)", "redis": "redis-server", "ferretdb": "ferretdb"}


def stack_pids(state: Path) -> dict[str, int]:
    """The local stack's processes, from the pidfiles stack/stack.sh keeps under `state`/run
    (`PID START_TIME`; the start time is stack/lib.sh's guard against a reused PID)."""
    pids = {}
    for pidfile, name in STACK_PROCESSES.items():
        path = state / "run" / f"{pidfile}.pid"
        if path.exists():
            pids[name] = int(path.read_text().split()[0])
    return pids


class CpuMeter:
    """user + system CPU seconds of named processes, all threads, since each started."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._processes = {name: psutil.Process(pid) for name, pid in pids.items()}

    def read(self) -> dict[str, float]:
        seconds = {}
        for name, process in self._processes.items():
            times = process.cpu_times()
            seconds[name] = times.user + times.system
        return seconds

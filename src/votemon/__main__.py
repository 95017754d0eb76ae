"""`votemon <command>`: the one command each container and each local process runs."""

from __future__ import annotations

import argparse
import importlib

import uvloop

from votemon.settings import SERVICES, Settings

# command -> the module whose `run(settings)` it runs. Imported on demand, so that each process
# registers (and exports on /metrics) only its own service's metrics.
COMMANDS = {spec.name: spec.module for spec in SERVICES} | {"create-topics": "votemon.kafka"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="votemon", description=__doc__)
    parser.add_argument("command", choices=sorted(COMMANDS), help="the service to run, or a one-off command")
    args = parser.parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command])
    uvloop.run(module.run(Settings()))


if __name__ == "__main__":
    main()

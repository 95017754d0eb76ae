"""Which part of the local pipeline answers: the services' /readyz and the stack's ports. Commands
that need the pipeline name the part that is down instead of showing a connection traceback."""

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pymongo.errors
import redis.exceptions

from votemon.settings import READY_PATH, SERVICES, Settings

# What a client raises when the service or stack part it talks to is not there.
UNREACHABLE = (httpx.TransportError, redis.exceptions.ConnectionError, pymongo.errors.ConnectionFailure)


def service_answers(settings: Settings) -> dict[str, str]:
    """Each service's answer to GET /readyz: "200", another status, or the error's name."""
    answers = {}
    for spec in SERVICES:
        try:
            answers[spec.name] = str(
                httpx.get(f"{spec.base_url(settings)}{READY_PATH}", timeout=2).status_code
            )
        except httpx.HTTPError as error:
            answers[spec.name] = type(error).__name__
    return answers


def stack_addresses(settings: Settings) -> dict[str, str]:
    """host:port of Kafka, Redis and MongoDB (FerretDB), from the settings."""
    mongo = urlsplit(settings.mongo_uri)
    redis_url = urlsplit(settings.redis_url)
    return {
        "kafka": settings.kafka_bootstrap_servers.split(",")[0],
        "redis": f"{redis_url.hostname}:{redis_url.port}",
        "ferretdb": f"{mongo.hostname}:{mongo.port}",
    }


def listening(address: str) -> bool:
    host, _, port = address.rpartition(":")
    with contextlib.suppress(OSError), socket.create_connection((host, int(port)), timeout=1):
        return True
    return False


def what_is_down(settings: Settings) -> list[str]:
    """The stack parts and services that do not answer, each with its address."""
    down = [
        f"{name} ({address})" for name, address in stack_addresses(settings).items() if not listening(address)
    ]
    down += [
        f"{spec.name} ({spec.base_url(settings)}: {answer})"
        for spec, answer in zip(SERVICES, service_answers(settings).values(), strict=True)
        if answer != "200"
    ]
    return down


@contextlib.contextmanager
def naming_what_is_down(settings: Settings, doing: str) -> Iterator[None]:
    """Exit with a message naming the parts that are down when a client cannot reach its server."""
    try:
        yield
    except UNREACHABLE as error:
        down = what_is_down(settings) or [f"none now; the error was {type(error).__name__}: {error}"]
        sys.exit(
            f"{doing} failed: a part of the pipeline did not answer. Down: {', '.join(down)}.\n"
            "`make status` shows each part, `make up` starts what is missing; logs: .local/log/<service>.log"
        )

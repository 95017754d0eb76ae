"""A bounded count of votes in flight, shared by the front and the gRPC server: what is over the
limit is refused at once (503, RESOURCE_EXHAUSTED), never queued. The front also shares it out per
client (429 to the client over its share), tells clients apart behind the load balancer, and knows
the integrators allowed to send big batches."""

from __future__ import annotations

import hmac

from prometheus_client import Gauge
from pydantic import SecretStr


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


class ClientAdmission:
    """The front's admission: a limit per client inside the front's own. A client over its share
    is refused (the front: 429) while the others are still admitted; only when the front as a whole
    is full is everyone refused (503). A client's first request is admitted whatever its size, like
    a lone batch. The per-client table holds only clients with votes in flight, so its size is
    bounded by the requests in flight, never by how many clients ever came."""

    def __init__(self, total: Admission, per_client: int) -> None:
        self.total = total
        self._per_client = per_client
        self._held: dict[str, int] = {}

    def client_over_share(self, client: str, votes: int) -> bool:
        held = self._held.get(client, 0)
        return held > 0 and held + votes > self._per_client

    def try_admit(self, client: str, votes: int) -> bool:
        """False when the front as a whole is full; the caller checks `client_over_share` first."""
        if not self.total.try_admit(votes):
            return False
        self._held[client] = self._held.get(client, 0) + votes
        return True

    def release(self, client: str, votes: int) -> None:
        self.total.release(votes)
        held = self._held.pop(client) - votes
        if held:
            self._held[client] = held


def client_address(peer: str, forwarded_for: list[str], trusted_hops: int) -> str:
    """Who sent a request: with `trusted_hops` proxies in front, each appending to X-Forwarded-For,
    the entry that many from the right (what the outermost trusted proxy saw). Entries further left
    come from the client and are ignored, so a made-up X-Forwarded-For never buys a new budget.
    With no trusted proxy, or fewer entries than trusted proxies (the request came around them),
    the TCP peer."""
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
    if trusted_hops == 0 or len(hops) < trusted_hops:
        return peer
    return hops[-trusted_hops]


class IntegratorTokens:
    """The bearer tokens of integrators, allowed batches larger than an anonymous request's.
    Compared in constant time (hmac.compare_digest), each against every token, so the time taken
    tells nothing of how much of a token was right, nor which."""

    def __init__(self, tokens: SecretStr | None) -> None:
        text = tokens.get_secret_value() if tokens else ""
        self._tokens = [token.strip().encode() for token in text.split(",") if token.strip()]

    def valid(self, token: str) -> bool:
        given = token.encode()
        matches = [hmac.compare_digest(given, known) for known in self._tokens]
        return any(matches)

"""Unit tests of the in-flight limits (the front's and the gRPC server's, and per client), of how the
front tells clients apart and of the integrator tokens (pure logic)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Gauge
from pydantic import SecretStr

from votemon.admission import Admission, ClientAdmission, IntegratorTokens, client_address


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


def test_a_client_over_its_share_is_refused_while_others_are_admitted() -> None:
    total, _ = admission(20)
    fair = ClientAdmission(total, per_client=10)
    assert not fair.client_over_share("abuser", 1000)  # a client's first request: any size
    assert fair.try_admit("abuser", 1000)
    assert fair.client_over_share("abuser", 1)
    assert not fair.client_over_share("other", 5)
    assert not fair.try_admit("other", 5)  # the front as a whole is full: everyone waits (503)
    fair.release("abuser", 1000)
    assert fair.try_admit("other", 5)
    assert not fair.client_over_share("other", 5)
    assert fair.client_over_share("other", 6)
    fair.release("other", 5)
    assert not fair.client_over_share("other", 1000)  # nothing held: the table forgot it


@pytest.mark.parametrize(
    ("forwarded", "hops", "client"),
    [
        ([], 0, "10.0.0.1"),
        (["203.0.113.9"], 0, "10.0.0.1"),  # no trusted proxy: the header is the client's own words
        (["203.0.113.9"], 1, "203.0.113.9"),
        (["1.2.3.4, 203.0.113.9"], 1, "203.0.113.9"),  # a spoofed entry on the left changes nothing
        (["1.2.3.4", "203.0.113.9, 130.211.0.1"], 2, "203.0.113.9"),  # Google's ALB: client, LB
        (["203.0.113.9"], 2, "10.0.0.1"),  # fewer entries than proxies: it came around them
    ],
)
def test_the_client_is_the_first_trusted_forwarded_hop(forwarded: list[str], hops: int, client: str) -> None:
    assert client_address("10.0.0.1", forwarded, hops) == client


def test_integrator_tokens_are_matched_whole() -> None:
    tokens = IntegratorTokens(SecretStr("first-token, second-token"))  # pragma: allowlist secret
    assert tokens.valid("second-token")
    assert not tokens.valid("second-toke")
    assert not tokens.valid("")
    assert not IntegratorTokens(None).valid("")

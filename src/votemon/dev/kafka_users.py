"""`python -m votemon.dev.kafka_users users|acls`: base/kafka/users.yaml (Strimzi KafkaUsers) for the
local stack, which has no User Operator: the users to create with SCRAM credentials, and each ACL as
the arguments of Kafka's own kafka-acls (org.apache.kafka.tools.AclCommand), one line per call."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from votemon.dev.processes import ROOT

USERS = ROOT / "base" / "kafka" / "users.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]+$")]  # a word of kafka-acls' command line


class Resource(_Strict):
    type: Literal["topic", "group"]
    name: Name
    patternType: Literal["literal", "prefix"] = "literal"  # noqa: N815 - Strimzi's field name


class Acl(_Strict):
    resource: Resource
    operations: list[Literal["Read", "Write", "Describe"]]

    def acl_command(self, user: str) -> list[str]:
        """kafka-acls --add's arguments that allow `user` this rule."""
        pattern = {"literal": "literal", "prefix": "prefixed"}[self.resource.patternType]
        arguments = ["--allow-principal", f"User:{user}", "--resource-pattern-type", pattern]
        arguments += [f"--{self.resource.type}", self.resource.name]
        for operation in self.operations:
            arguments += ["--operation", operation]
        return arguments


class Authorization(_Strict):
    type: Literal["simple"]
    acls: list[Acl]


class Authentication(_Strict):
    type: Literal["scram-sha-512"]


class UserSpec(_Strict):
    authentication: Authentication
    authorization: Authorization


class Metadata(BaseModel):
    name: Name


class KafkaUser(BaseModel):
    """The part of a Strimzi KafkaUser the local stack applies; anything else in its spec is refused,
    so that a rule the stack would not apply cannot pass unnoticed."""

    kind: Literal["KafkaUser"]
    metadata: Metadata
    spec: UserSpec


def kafka_users(path: Path = USERS) -> list[KafkaUser]:
    return [KafkaUser.model_validate(document) for document in yaml.safe_load_all(path.read_text())]


def acl_commands(users: list[KafkaUser]) -> Iterator[list[str]]:
    for user in users:
        for acl in user.spec.authorization.acls:
            yield acl.acl_command(user.metadata.name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m votemon.dev.kafka_users", description=__doc__)
    parser.add_argument("what", choices=["users", "acls"])
    users = kafka_users()
    if parser.parse_args(argv).what == "users":
        print("\n".join(user.metadata.name for user in users))
    else:
        print("\n".join(" ".join(arguments) for arguments in acl_commands(users)))


if __name__ == "__main__":
    main()

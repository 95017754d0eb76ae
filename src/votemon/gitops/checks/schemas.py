"""Schemas: every rendered object is valid for its kind, strictly (Kubernetes kinds with
kubernetes-validate, custom resources with the CRD schemas of crd_dirs(): the upstream CRDs in
$CRDS_DIR, default schemas/crds, and the hand-written stand-ins of schemas/stand-in-crds); a kind with
no schema is an error."""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from votemon.gitops import REPO
from votemon.gitops.tree import (
    LOADER,
    Obj,
    name_of,
)

# GKE's regular release channel runs 1.35 in late 2026; kubernetes-validate 1.37.0 ships it.
K8S_VERSION = "1.35.0"


# GKE's own kinds, whose CRDs no registry here publishes (schemas/stand-in-crds/README.md).
STAND_IN_CRDS = REPO / "schemas" / "stand-in-crds"


def crds_dir() -> Path:
    return Path(os.environ.get("CRDS_DIR", REPO / "schemas" / "crds"))


def crd_dirs() -> list[Path]:
    """Every directory of CRDs, the one list that the validator reads and the local cluster installs
    (`scripts/gitops crd-dirs`), so that both know the same kinds."""
    return [crds_dir(), STAND_IN_CRDS]


def _close_nested(schema: Any) -> None:
    """Reject unknown fields wherever the structural schema lists the fields (as the API server's
    strict field validation does), except where it preserves unknown fields on purpose."""
    if not isinstance(schema, dict):
        return
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        schema["additionalProperties"] = False
    for child in schema.get("properties", {}).values():
        _close_nested(child)
    for key in ("items", "additionalProperties"):
        _close_nested(schema.get(key))
    for key in ("allOf", "anyOf", "oneOf"):
        for child in schema.get(key, []):
            _close_nested(child)


def _closed(schema: Obj) -> Obj:
    schema = copy.deepcopy(schema)
    _close_nested(schema)
    props = schema.setdefault("properties", {})
    props.setdefault("apiVersion", {"type": "string"})
    props.setdefault("kind", {"type": "string"})
    props.setdefault("metadata", {"type": "object"})
    schema.setdefault("additionalProperties", False)
    return schema


@functools.cache
def crd_schemas(directory: Path | None = None) -> dict[tuple[str, str], jsonschema.protocols.Validator]:
    """(apiVersion, kind) -> validator for every served version of every CRD in the directory (by
    default in every directory of crd_dirs())."""
    directories = [directory] if directory else crd_dirs()
    missing = [str(d) for d in directories if not d.is_dir()]
    if missing:
        raise FileNotFoundError(f"CRD schemas not found in {', '.join(missing)} (set CRDS_DIR)")
    validators: dict[tuple[str, str], jsonschema.protocols.Validator] = {}
    for file in sorted(f for d in directories for f in d.glob("*.yaml")):
        for crd in yaml.load_all(file.read_text(), Loader=LOADER):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            for version in spec["versions"]:
                if not version.get("served", True):
                    continue
                schema = _closed(version["schema"]["openAPIV3Schema"])
                key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                validators[key] = jsonschema.Draft7Validator(schema)
    return validators


def _is_core_group(api_version: str) -> bool:
    group = api_version.rpartition("/")[0]
    return "." not in group or group.endswith(".k8s.io")


def schema_errors(obj: Obj, schemas: dict[tuple[str, str], Any] | None = None) -> list[str]:
    """Strict schema errors of one object; an object whose kind has no schema is an error."""
    schemas = crd_schemas() if schemas is None else schemas
    key = (str(obj.get("apiVersion")), str(obj.get("kind")))
    where = name_of(obj)
    if key in schemas:
        return [
            f"{where}: {'/'.join(map(str, err.absolute_path)) or '<root>'}: {err.message}"
            for err in schemas[key].iter_errors(obj)
        ]
    if not _is_core_group(key[0]):
        return [f"{where}: no schema for {key[0]} {key[1]} (add its CRD to {crds_dir()} or {STAND_IN_CRDS})"]
    try:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return [f"{where}: no schema for {key[0]} {key[1]} in Kubernetes {K8S_VERSION}"]
    except kubernetes_validate.ValidationError as err:
        path = "/".join(map(str, err.absolute_path)) or "<root>"
        return [f"{where}: {path}: {err.message}"]
    return []


def check_schemas(objs: list[Obj]) -> list[str]:
    return [error for obj in objs for error in schema_errors(obj)]

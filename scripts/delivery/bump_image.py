#!/usr/bin/env python3
"""Point the overlays (gke and dev) and the Cloud Run service files at a new votemon image.

    scripts/delivery/bump_image.py --new-name REGISTRY/votemon --digest sha256:...   (what CI does)
    scripts/delivery/bump_image.py --new-name ghcr.io/me/votemon --tag 0.1.0        (by hand)

In each overlay's ``kustomization.yaml`` it sets the ``images:`` entry ``name: votemon`` (``newName``
and ``digest``, or ``newTag``; the other one is removed): the same edit as ``kustomize edit set
image votemon=NEW@DIGEST``, done line by line so comments stay. In every ``cloudrun/*.yaml`` it
rewrites the ``image:`` lines whose image is votemon. Nothing else is touched; running it twice
changes nothing the second time. Prints the files it changed.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from yamledit import Document, YamlEditError

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
TAG = re.compile(r"^[\w][\w.-]{0,127}$")
IMAGE_LINE = re.compile(r"^(?P<head>\s*(?:-\s+)?image:\s*)(?P<quote>['\"]?)(?P<ref>[^'\"\s#]+)(?P=quote)")


def repository_of(ref: str) -> str:
    """``registry/path/name`` of an image reference, without tag or digest."""
    ref = ref.split("@", 1)[0]
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    return ref[:colon] if colon > slash else ref


def yaml_string(value: str) -> str:
    """``value`` as a YAML scalar that stays a string (``1.0`` or ``true`` would not)."""
    plain = re.fullmatch(r"[A-Za-z_][\w.-]*", value) and value.lower() not in {
        "true",
        "false",
        "null",
        "yes",
        "no",
        "on",
        "off",
        "y",
        "n",
    }
    return value if plain else f'"{value}"'


def bump_kustomization(path: Path, name: str, new_name: str, digest: str | None, tag: str | None) -> bool:
    doc = Document.load(path)
    item = doc.ensure_item("images", name)
    changed = doc.set(item, "newName", new_name)
    if digest:
        changed |= doc.set(item, "digest", digest)
        changed |= doc.delete(item, "newTag")
    else:
        assert tag is not None
        changed |= doc.set(item, "newTag", yaml_string(tag))
        changed |= doc.delete(item, "digest")
    if changed:
        path.write_text(doc.text(), encoding="utf-8")
    return changed


def bump_service_file(path: Path, name: str, reference: str) -> bool:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    changed = False
    for i, line in enumerate(lines):
        match = IMAGE_LINE.match(line)
        if not match or repository_of(match["ref"]).rsplit("/", 1)[-1] != name:
            continue
        new = f"{match['head']}{match['quote']}{reference}{match['quote']}{line[match.end() :]}"
        if new != line:
            lines[i] = new
            changed = True
    if changed:
        path.write_text("".join(lines), encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2], help="repository")
    parser.add_argument("--name", default="votemon", help="kustomize image name (default votemon)")
    parser.add_argument("--new-name", required=True, help="image repository, e.g. ghcr.io/OWNER/votemon")
    ref = parser.add_mutually_exclusive_group(required=True)
    ref.add_argument("--digest", help="sha256:<64 hex> (preferred: immutable)")
    ref.add_argument("--tag", help="image tag")
    parser.add_argument(
        "--overlay",
        nargs="+",
        default=["overlays/gke", "overlays/dev"],
        help="overlay directories (default: both environments, so that each runs an image CI built)",
    )
    parser.add_argument("--cloudrun-dir", default="cloudrun", help="Cloud Run service files (if present)")
    args = parser.parse_args(argv)

    if args.digest and not DIGEST.match(args.digest):
        parser.error(f"--digest must look like sha256:<64 hex>, got {args.digest!r}")
    if args.tag and not TAG.match(args.tag):
        parser.error(f"--tag is not a valid image tag: {args.tag!r}")
    if not re.match(r"^[a-z0-9][a-z0-9._/:-]*$", args.new_name) or "@" in args.new_name:
        parser.error(f"--new-name is not an image repository: {args.new_name!r}")

    root: Path = args.root
    kustomizations = [root / overlay / "kustomization.yaml" for overlay in args.overlay]
    for kustomization in kustomizations:
        if not kustomization.is_file():
            print(f"bump_image: {kustomization} not found", file=sys.stderr)
            return 2
    reference = f"{args.new_name}@{args.digest}" if args.digest else f"{args.new_name}:{args.tag}"
    changed: list[Path] = []
    for kustomization in kustomizations:
        try:
            if bump_kustomization(kustomization, args.name, args.new_name, args.digest, args.tag):
                changed.append(kustomization)
        except YamlEditError as err:
            print(f"bump_image: {kustomization}: {err}", file=sys.stderr)
            return 2
    cloudrun = root / args.cloudrun_dir
    for path in sorted([*cloudrun.glob("*.yaml"), *cloudrun.glob("*.yml")]) if cloudrun.is_dir() else []:
        if bump_service_file(path, args.name, reference):
            changed.append(path)
    for path in changed:
        print(path.relative_to(root))
    if not changed:
        print(f"bump_image: already at {reference}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

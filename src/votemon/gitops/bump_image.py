"""Point the overlays (gke and dev) and the Cloud Run service files at a new votemon image.

    scripts/gitops bump-image --new-name REGISTRY/votemon --digest sha256:...   (what CI does)
    scripts/gitops bump-image --new-name ghcr.io/me/votemon --tag 0.1.0        (by hand)

In each overlay it runs ``kustomize edit set image votemon=NEW@DIGEST`` (or ``NEW:TAG``). In every
``cloudrun/*.yaml`` it sets the ``image`` of the containers whose image is votemon (ruamel.yaml's
round trip: comments stay). Nothing else is touched; running it twice changes nothing the second
time. Prints the files it changed.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from votemon.gitops import REPO
from votemon.gitops.edit import Manifests, kustomize_edit, yaml_files
from votemon.gitops.tree import ENVS

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
TAG = re.compile(r"^[\w][\w.-]{0,127}$")


def repository_of(ref: str) -> str:
    """``registry/path/name`` of an image reference, without tag or digest."""
    ref = ref.split("@", 1)[0]
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    return ref[:colon] if colon > slash else ref


def containers_of(service: Any, name: str) -> list[Any]:
    """The containers of a Cloud Run service whose image is ``name`` (any registry, tag or digest)."""
    spec = service.get("spec", {}).get("template", {}).get("spec", {})
    return [
        c
        for c in spec.get("containers", [])
        if repository_of(str(c.get("image", ""))).rsplit("/", 1)[-1] == name
    ]


def bump_service_file(path: Path, name: str, reference: str) -> bool:
    manifests = Manifests(path)
    for service in manifests.docs:
        for container in containers_of(service, name):
            container["image"] = reference
    return manifests.save()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=REPO, help="repository")
    parser.add_argument("--name", default="votemon", help="kustomize image name (default votemon)")
    parser.add_argument("--new-name", required=True, help="image repository, e.g. ghcr.io/OWNER/votemon")
    ref = parser.add_mutually_exclusive_group(required=True)
    ref.add_argument("--digest", help="sha256:<64 hex> (preferred: immutable)")
    ref.add_argument("--tag", help="image tag")
    parser.add_argument(
        "--overlay",
        nargs="+",
        default=[f"overlays/{env}" for env in ENVS],
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
    overlays = [root / overlay for overlay in args.overlay]
    for overlay in overlays:
        if not (overlay / "kustomization.yaml").is_file():
            print(f"bump_image: {overlay}/kustomization.yaml not found", file=sys.stderr)
            return 2
    reference = f"{args.new_name}@{args.digest}" if args.digest else f"{args.new_name}:{args.tag}"
    changed = [
        overlay / "kustomization.yaml"
        for overlay in overlays
        if kustomize_edit(overlay, "image", f"{args.name}={reference}")
    ]
    changed += [p for p in yaml_files(root / args.cloudrun_dir) if bump_service_file(p, args.name, reference)]
    for path in changed:
        print(path.relative_to(root))
    if not changed:
        print(f"bump_image: already at {reference}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

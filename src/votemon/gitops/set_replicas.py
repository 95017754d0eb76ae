"""Change how many pods a votemon component runs in an overlay (default overlays/gke).

    scripts/gitops set-replicas front 3
    scripts/gitops set-replicas consumer 2 --max 12     (autoscaled: sets the bounds)

A Deployment (front, grpc-server, results) gets ``kustomize edit set replicas NAME=COUNT`` in the
overlay. An autoscaled component (the consumer: a KEDA ``ScaledObject`` in gke, a
``HorizontalPodAutoscaler`` in dev) gets its autoscaler's lower bound (``minReplicaCount`` /
``minReplicas``) set to COUNT, and its upper bound to ``--max`` (kept when not given, raised to COUNT
if it was lower). The autoscaler is looked for in the overlay's own YAML files and edited with
ruamel.yaml's round trip: only the numbers change, comments and layout stay.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from votemon.gitops import REPO
from votemon.gitops.edit import Manifests, kustomize_edit, yaml_files
from votemon.gitops.tree import SERVICES

AUTOSCALED = frozenset({"consumer"})
BOUNDS = {
    "ScaledObject": ("minReplicaCount", "maxReplicaCount"),
    "HorizontalPodAutoscaler": ("minReplicas", "maxReplicas"),
}


def find_autoscalers(overlay: Path, name: str) -> list[tuple[Manifests, Any]]:
    """(file, document) of every autoscaler of ``name`` in the overlay's own YAML files."""
    found = []
    for path in yaml_files(overlay):
        if not any(kind in path.read_text(encoding="utf-8") for kind in BOUNDS):
            continue
        manifests = Manifests(path)
        found += [
            (manifests, doc)
            for doc in manifests.docs
            if doc.get("kind") in BOUNDS and doc.get("metadata", {}).get("name") == name
        ]
    return found


def set_bounds(manifests: Manifests, scaler: Any, low: int, high: int | None) -> bool:
    low_key, high_key = BOUNDS[scaler["kind"]]
    spec = scaler["spec"]
    if high is None and high_key in spec:
        high = max(low, int(spec[high_key]))
    if high is not None and high < low:
        raise SystemExit(f"set_replicas: max {high} is below min {low}")
    if scaler["kind"] == "HorizontalPodAutoscaler" and low < 1:
        raise SystemExit("set_replicas: a HorizontalPodAutoscaler needs minReplicas >= 1")
    spec[low_key] = low
    if high is not None:
        spec[high_key] = high
    return manifests.save()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("component", choices=SERVICES)
    parser.add_argument("count", type=int, help="replicas (autoscaled: the minimum)")
    parser.add_argument("--max", type=int, dest="high", help="autoscaled only: the maximum")
    parser.add_argument("--root", type=Path, default=REPO, help="repository")
    parser.add_argument("--overlay", default="overlays/gke", help="overlay directory (default overlays/gke)")
    args = parser.parse_args(argv)
    if args.count < 0 or (args.high is not None and args.high < 1):
        parser.error("counts must be >= 0 (and --max >= 1)")
    overlay: Path = args.root / args.overlay
    if not (overlay / "kustomization.yaml").is_file():
        print(f"set_replicas: {overlay}/kustomization.yaml not found", file=sys.stderr)
        return 2
    scalers = find_autoscalers(overlay, args.component)
    if len(scalers) > 1:
        where = ", ".join(str(m.path.relative_to(args.root)) for m, _ in scalers)
        print(f"set_replicas: {args.component} has several autoscalers: {where}", file=sys.stderr)
        return 2
    if scalers:
        manifests, scaler = scalers[0]
        changed, path = set_bounds(manifests, scaler, args.count, args.high), manifests.path
    elif args.component in AUTOSCALED:
        print(f"set_replicas: no autoscaler for {args.component} in {overlay}", file=sys.stderr)
        return 2
    else:
        if args.high is not None:
            parser.error(f"--max is for autoscaled components; {args.component} is not")
        path = overlay / "kustomization.yaml"
        changed = kustomize_edit(overlay, "replicas", f"{args.component}={args.count}")
    if changed:
        print(path.relative_to(args.root))
    else:
        print(f"set_replicas: {args.component} already at {args.count}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

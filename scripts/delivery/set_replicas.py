#!/usr/bin/env python3
"""Change how many pods a votemon component runs in an overlay (default overlays/gke).

    scripts/delivery/set_replicas.py front 3
    scripts/delivery/set_replicas.py consumer 2 --max 12     (autoscaled: sets the bounds)

A Deployment (front, grpc-server, results) gets its ``replicas:`` entry in the overlay's
``kustomization.yaml`` (created if missing). An autoscaled component (the consumer: a KEDA
``ScaledObject`` in gke, a ``HorizontalPodAutoscaler`` in dev) gets its autoscaler's lower bound
(``minReplicaCount`` / ``minReplicas``) set to COUNT, and its upper bound to ``--max`` (kept when
not given, raised to COUNT if it was lower). The autoscaler is looked for in the overlay's own
YAML files. Only the lines holding those numbers change: comments and layout stay.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from yamledit import Block, Document, YamlEditError, split_documents

COMPONENTS = ("front", "grpc-server", "consumer", "results")
AUTOSCALED = frozenset({"consumer"})
BOUNDS = {
    "ScaledObject": ("minReplicaCount", "maxReplicaCount"),
    "HorizontalPodAutoscaler": ("minReplicas", "maxReplicas"),
}


class Autoscaler:
    def __init__(self, path: Path, doc: Document, kind: str, spec: Block) -> None:
        self.path, self.doc, self.kind, self.spec = path, doc, kind, spec

    def bound(self, which: int) -> int | None:
        value = self.doc.get(self.spec, BOUNDS[self.kind][which])
        return None if value is None else int(value)


def find_autoscalers(overlay: Path, name: str) -> list[Autoscaler]:
    found = []
    for path in sorted([*overlay.glob("*.yaml"), *overlay.glob("*.yml")]):
        text = path.read_text(encoding="utf-8")
        if not any(kind in text for kind in BOUNDS):
            continue
        doc = Document(text)
        for lo, hi in split_documents(text):
            kind_line = doc.top_key_value("kind", lo, hi)
            if kind_line not in BOUNDS:
                continue
            meta = doc.top_key("metadata", lo, hi)
            spec = doc.top_key("spec", lo, hi)
            if meta is None or spec is None or doc.get(doc.child_block(meta), "name") != name:
                continue
            found.append(Autoscaler(path, doc, kind_line, doc.child_block(spec)))
    return found


def set_deployment(overlay: Path, name: str, count: int) -> bool:
    path = overlay / "kustomization.yaml"
    doc = Document.load(path)
    item = doc.ensure_item("replicas", name)
    changed = doc.set(item, "count", str(count))
    if changed:
        path.write_text(doc.text(), encoding="utf-8")
    return changed


def set_bounds(scaler: Autoscaler, low: int, high: int | None) -> bool:
    current_high = scaler.bound(1)
    if high is None:
        high = max(low, current_high) if current_high is not None else None
    if high is not None and high < low:
        raise SystemExit(f"set_replicas: max {high} is below min {low}")
    if scaler.kind == "HorizontalPodAutoscaler" and low < 1:
        raise SystemExit("set_replicas: a HorizontalPodAutoscaler needs minReplicas >= 1")
    low_key, high_key = BOUNDS[scaler.kind]
    changed = scaler.doc.set(scaler.spec, low_key, str(low))
    if high is not None:
        changed |= scaler.doc.set(scaler.spec, high_key, str(high))
    if changed:
        scaler.path.write_text(scaler.doc.text(), encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("component", choices=COMPONENTS)
    parser.add_argument("count", type=int, help="replicas (autoscaled: the minimum)")
    parser.add_argument("--max", type=int, dest="high", help="autoscaled only: the maximum")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2], help="repository")
    parser.add_argument("--overlay", default="overlays/gke", help="overlay directory (default overlays/gke)")
    args = parser.parse_args(argv)
    if args.count < 0 or (args.high is not None and args.high < 1):
        parser.error("counts must be >= 0 (and --max >= 1)")
    overlay: Path = args.root / args.overlay
    if not (overlay / "kustomization.yaml").is_file():
        print(f"set_replicas: {overlay}/kustomization.yaml not found", file=sys.stderr)
        return 2
    try:
        scalers = find_autoscalers(overlay, args.component)
        if len(scalers) > 1:
            where = ", ".join(str(s.path.relative_to(args.root)) for s in scalers)
            print(f"set_replicas: {args.component} has several autoscalers: {where}", file=sys.stderr)
            return 2
        if scalers:
            changed = set_bounds(scalers[0], args.count, args.high)
            path = scalers[0].path
        elif args.component in AUTOSCALED:
            print(f"set_replicas: no autoscaler for {args.component} in {overlay}", file=sys.stderr)
            return 2
        else:
            if args.high is not None:
                parser.error(f"--max is for autoscaled components; {args.component} is not")
            changed = set_deployment(overlay, args.component, args.count)
            path = overlay / "kustomization.yaml"
    except YamlEditError as err:
        print(f"set_replicas: {err}", file=sys.stderr)
        return 2
    if changed:
        print(path.relative_to(args.root))
    else:
        print(f"set_replicas: {args.component} already at {args.count}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

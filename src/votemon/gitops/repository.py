"""Point Argo CD at another repository or revision (a fork, a release branch): edits
apps/base/repository.yaml, the one place both are written, with ruamel.yaml's round trip.

    scripts/gitops repository --url https://github.com/acme/votemon.git [--revision main]

Prints the file when it changed; a second run changes nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from votemon.gitops import REPO
from votemon.gitops.edit import Manifests

FILE = Path("apps") / "base" / "repository.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=REPO, help="repository checkout to edit")
    parser.add_argument("--url", help="the git URL Argo CD syncs")
    parser.add_argument("--revision", help="the branch, tag or commit Argo CD syncs")
    args = parser.parse_args(argv)
    if args.url is None and args.revision is None:
        parser.error("give --url, --revision or both")
    manifests = Manifests(args.root / FILE)
    data = manifests.docs[0]["data"]
    for key, value in (("url", args.url), ("revision", args.revision)):
        if value is not None:
            data[key] = value
    if manifests.save():
        print(FILE)
    return 0


if __name__ == "__main__":
    sys.exit(main())

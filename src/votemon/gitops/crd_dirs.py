"""Prints the directories of CRDs, one a line: the one list the offline validator reads and the local
cluster installs (cluster/operators.sh, scripts/argocd-bootstrap.sh --without-operators, the dry-run
test), so that a kind the validator knows is never unknown to the API server.

    scripts/gitops crd-dirs
"""

from __future__ import annotations

import sys

from votemon.gitops.checks.schemas import crd_dirs


def main() -> int:
    for directory in crd_dirs():
        print(directory)
    return 0


if __name__ == "__main__":
    sys.exit(main())

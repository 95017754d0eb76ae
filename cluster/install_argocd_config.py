"""Print the part of Argo CD's release install.yaml that local processes need: CRDs, ConfigMaps, Secrets.

Its Deployments and StatefulSets are left out: here Argo CD's components run as processes
(cluster/up.sh) against the local API server.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

KEPT = frozenset({"CustomResourceDefinition", "ConfigMap", "Secret"})


def main(install_yaml: Path) -> None:
    documents = [d for d in yaml.safe_load_all(install_yaml.read_text(encoding="utf-8")) if d]
    yaml.safe_dump_all([d for d in documents if d["kind"] in KEPT], sys.stdout)


if __name__ == "__main__":
    main(Path(sys.argv[1]))

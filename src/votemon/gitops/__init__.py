"""The GitOps tooling: one model of the tree (base/, overlays/, apps/) that the validator, the Argo CD
bootstrap, the rendered diff, the delivery scripts and the tests share.

- `tree`: the checkout, its environments (apps/*/environment.yaml), `render(path)`, `app_paths(env)`;
- `kustomize`: the pinned kustomize binary (cluster/versions.env);
- `checks`: the validator's checks, one module per kind; `python -m votemon.gitops.validate` runs them;
- `root_app`, `trust_root`, `diff`, `set_replicas`, `bump_image`: the commands built on the model.
"""

from pathlib import Path

# The checkout this package is installed from (make install: an editable install of src/).
REPO = Path(__file__).resolve().parents[3]

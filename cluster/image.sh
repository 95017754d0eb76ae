#!/usr/bin/env bash
# The images the real node runs, built here without Docker or a registry (buildah, Debian packages, PyPI):
#  - votemon: the repository's Dockerfile, unchanged, with one build argument: PYTHON_IMAGE, production's
#    digest-pinned python:3.11-slim, is replaced by a Debian bookworm python3.11 base made here with
#    debootstrap (Docker Hub is unreachable); named as overlays/dev names it, so no pod pulls;
#  - pause: every pod's sandbox, Debian's static catatonit (registry.k8s.io is unreachable).
#   cluster/image.sh              build what is missing or changed; write the images as archives for
#                                 containerd (cluster/node.sh imports them)
#   cluster/image.sh version V    the Dockerfile again with VOTEMON_VERSION=V, as CI builds a new commit,
#                                 tagged <the dev image's name>:V; prints that name (a rollout's new image)
#   cluster/image.sh exits V      image V with a command that exits at once, tagged <name>:V-exits; prints
#                                 that name (a rollout's broken image)
# Images live in a buildah store under ~/.cache/votemon/images, shared by clones: the base is built once
# per recipe (about 75 s), the Dockerfile in 10-20 s when its inputs changed, else its cached layers.
set -euo pipefail
# shellcheck source=cluster/lib.sh
source "$(dirname "$0")/lib.sh"
image_cache=${VOTEMON_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/votemon/images}
archives=$state/images
mkdir -p "$image_cache" "$archives"
debian_suite=bookworm
base_packages=python3.11,python3-pip,ca-certificates,passwd
pause_image=localhost/pause:catatonit

buildah() { command buildah --root "$image_cache/storage" --runroot "$image_cache/run" "$@"; }

debian_mirror() { # the mirror apt uses here (deb822 or one-line sources)
  cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
    sed -n -e 's#^URIs: *\(http[^ ]*\).*#\1#p' -e 's#^deb \(http[^ ]*\) .*#\1#p' | grep -v security | head -n 1
}

make_base() { # image: python3.11 from Debian in place of python:3.11-slim, the paths the Dockerfile expects
  local rootfs
  rootfs=$(mktemp -d)
  say "making the python3.11 base from Debian $debian_suite with debootstrap (once per recipe, about 75 s)"
  debootstrap --variant=minbase --include="$base_packages" "$debian_suite" "$rootfs" "$(debian_mirror)" \
    >"$logs/debootstrap.log" 2>&1 || die "debootstrap failed; see $logs/debootstrap.log"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  # The Dockerfile runs /usr/local/bin/python3.11 (python:3.11-slim's path) and pip outside a venv,
  # which bookworm marks as externally managed (PEP 668).
  local name
  for name in python3.11 python3 python; do ln -sf /usr/bin/python3.11 "$rootfs/usr/local/bin/$name"; done
  printf '[global]\nbreak-system-packages = true\n' >"$rootfs/etc/pip.conf"
  local container
  container=$(buildah from scratch)
  tar -C "$rootfs" -c . | tar -C "$(buildah mount "$container")" -x
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env LANG=C.UTF-8 \
    --cmd python3 "$container"
  buildah commit -q --rm "$container" "$1" >/dev/null
  rm -rf "$rootfs"
}

make_pause() {
  local container
  container=$(buildah from scratch)
  buildah copy -q "$container" /usr/bin/catatonit /catatonit >/dev/null
  buildah config --entrypoint '["/catatonit", "-P"]' --user 65535:65535 "$container"
  buildah commit -q --rm "$container" "$pause_image" >/dev/null
}

dev_image() { # the votemon image's name as overlays/dev deploys it (its images: entry)
  "$root/.venv/bin/python" - "$root/overlays/dev/kustomization.yaml" <<'PY'
import sys, yaml
image = next(i for i in yaml.safe_load(open(sys.argv[1]))["images"] if i["name"] == "votemon")
print(f'{image["newName"]}:{image["newTag"]}')
PY
}

build_votemon() { # base image [version]: the Dockerfile, as CI builds it, on the local base
  local tls
  tls=$(mktemp -d)
  # PyPI is reached through this machine's TLS proxy: the host's CA bundle, and uv told to use it, are
  # mounted for the build only; neither ends up in the image.
  printf 'system-certs = true\n' >"$tls/uv.toml"
  say "building $2 from the Dockerfile (buildah, base $1)"
  local started=$SECONDS
  buildah build --quiet --isolation chroot --layers --build-arg "PYTHON_IMAGE=$1" \
    --build-arg "VOTEMON_VERSION=${3:-dev}" \
    --volume /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
    --volume "$tls/uv.toml:/etc/uv/uv.toml:ro" \
    --tag "$2" --file "$root/Dockerfile" "$root" >"$logs/image-build.log" 2>&1 ||
    die "the image build failed; see $logs/image-build.log"
  rm -rf "$tls"
  say "$2 built in $((SECONDS - started)) s"
}

export_image() { # image: a docker-archive for `ctr images import`, rewritten only when the image changed
  local name=${1//[\/:]/_} id
  id=$(buildah inspect --type image --format '{{.FromImageID}}' "$1")
  [[ -f $archives/$name.tar && $(cat "$archives/$name.id" 2>/dev/null) == "$id" ]] && return
  rm -f "$archives/$name.tar"
  buildah push -q "$1" "docker-archive:$archives/$name.tar:$1" >/dev/null
  echo "$id" >"$archives/$name.id"
}

make_exits() { # image new: the image with a command that exits at once, as a broken build's would
  local container
  container=$(buildah from -q "$1")
  buildah config --entrypoint '["votemon", "no-such-service"]' --cmd '[]' "$container"
  buildah commit -q --rm "$container" "$2" >/dev/null
}

debian_install buildah debootstrap catatonit
recipe=$(declare -f make_base; echo "$debian_suite $base_packages")
base_image=localhost/votemon-python-base:$(sha256sum <<<"$recipe" | cut -c1-16)
buildah inspect --type image "$base_image" >/dev/null 2>&1 || make_base "$base_image"
votemon_image=$(dev_image)
repository=${votemon_image%:*} # the dev image's name without its tag: `version` and `exits` tag their builds there
case ${1:-} in
  "")
    buildah inspect --type image "$pause_image" >/dev/null 2>&1 || make_pause
    build_votemon "$base_image" "$votemon_image"
    export_image "$pause_image"
    export_image "$votemon_image"
    echo "$votemon_image" >"$archives/votemon.name"
    ;;
  version)
    build_votemon "$base_image" "$repository:$2" "$2" >&2
    export_image "$repository:$2"
    echo "$repository:$2"
    ;;
  exits)
    make_exits "$repository:$2" "$repository:$2-exits"
    export_image "$repository:$2-exits"
    echo "$repository:$2-exits"
    ;;
  *) echo "usage: $0 [version V | exits V]" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Regenerates the Python gRPC code in src/votemon/rpc from proto/ (or into $1, for the staleness test).
# The --proto_path mapping puts the generated modules under votemon.rpc, so their imports resolve
# inside the one package while the proto package stays votes.v1.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-src}
venv=${VENV:-.venv}
rm -rf "$out/votemon/rpc/votes"
"$venv/bin/python" -m grpc_tools.protoc \
  --proto_path=votemon/rpc=proto \
  --plugin=protoc-gen-mypy="$venv/bin/protoc-gen-mypy" \
  --plugin=protoc-gen-mypy_grpc="$venv/bin/protoc-gen-mypy_grpc" \
  --python_out="$out" --grpc_python_out="$out" --mypy_out=quiet:"$out" --mypy_grpc_out=quiet:"$out" \
  proto/votes/v1/votes.proto
for dir in "$out/votemon/rpc/votes" "$out/votemon/rpc/votes/v1"; do
  : > "$dir/__init__.py"
done

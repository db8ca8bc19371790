#!/usr/bin/env bash
# Regenerate the committed gRPC/protobuf code of edgevla.serve from its .proto with grpcio-tools.
#   bash tools/gen_proto.sh
# The generated modules import each other as `edgevla.serve.proto.*` because protoc runs with
# `src` as the include root. Commit the regenerated files together with the .proto change.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
PROTO=src/edgevla/serve/proto/policy_service.proto
"$PY" -m grpc_tools.protoc -I src --python_out=src --grpc_python_out=src "$PROTO"
echo "gen_proto: regenerated from $PROTO with grpcio-tools $("$PY" -c 'import grpc_tools, importlib.metadata as m; print(m.version("grpcio-tools"))')"

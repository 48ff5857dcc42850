#!/usr/bin/env bash
# Builds kwok (fake nodes: pods become Ready, Job pods complete) into the toolchain cache, and copies the
# stage files it needs from its module (kustomize/stage) beside it.
set -euo pipefail
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
TOOLCHAIN_DIR="${SYNERGYFLOW_TOOLCHAIN:-$HOME/.cache/synergyflow-db-toolchain}"
mkdir -p "$TOOLCHAIN_DIR/bin" "$TOOLCHAIN_DIR/kwok-stages"
start=$(date +%s)
GOBIN="$TOOLCHAIN_DIR/bin" go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
dir="$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')"
rm -rf "$TOOLCHAIN_DIR/kwok-stages" && cp -r "$dir/kustomize/stage" "$TOOLCHAIN_DIR/kwok-stages" && chmod -R u+w "$TOOLCHAIN_DIR/kwok-stages"
echo "built kwok $KWOK_VERSION in $(( $(date +%s) - start ))s"

#!/usr/bin/env bash
# Builds the pulumi-kubernetes provider plugin from the Go module proxy into the toolchain cache.
# The provider module is untagged on the proxy: the pseudo-version below is its v4.25.0 release commit.
# Its go.mod replaces the sdk with a local path, and main.go embeds schema-embed.json and
# terraform-mapping-embed.json, which the module zip lacks: we copy the module, regenerate them with the
# module's own generate.go from the committed schema.json, and point the replace at the published sdk.
set -euo pipefail
PROVIDER_PSEUDO="${PROVIDER_PSEUDO:-v4.0.0-20260115033456-f47bc2d6f199}"
PROVIDER_VERSION="${PROVIDER_VERSION:-4.25.0}"
SDK_VERSION="${SDK_VERSION:-v4.24.0}"
TOOLCHAIN_DIR="${SYNERGYFLOW_TOOLCHAIN:-$HOME/.cache/synergyflow-db-toolchain}"
mod="github.com/pulumi/pulumi-kubernetes/provider/v4"
start=$(date +%s)
dir="$(go mod download -json "$mod@$PROVIDER_PSEUDO" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')"
src="$TOOLCHAIN_DIR/src/pulumi-kubernetes-$PROVIDER_VERSION"
rm -rf "$src" && mkdir -p "$src" "$TOOLCHAIN_DIR/bin"
cp -r "$dir/." "$src/" && chmod -R u+w "$src"
cd "$src"
go mod edit -dropreplace github.com/pulumi/pulumi-kubernetes/sdk/v4 \
  -require "github.com/pulumi/pulumi-kubernetes/sdk/v4@$SDK_VERSION"
go mod tidy
(cd cmd/pulumi-resource-kubernetes && VERSION="$PROVIDER_VERSION" go run generate.go)
go build -trimpath \
  -ldflags "-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$PROVIDER_VERSION" \
  -o "$TOOLCHAIN_DIR/bin/pulumi-resource-kubernetes" ./cmd/pulumi-resource-kubernetes
echo "built pulumi-resource-kubernetes $PROVIDER_VERSION in $(( $(date +%s) - start ))s"

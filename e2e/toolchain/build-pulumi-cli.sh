#!/usr/bin/env bash
# Builds the Pulumi CLI from the Go module proxy into the toolchain cache (never into the repo).
# pkg/v3's go.mod replaces sdk/v3 with a local path, so `go install mod@version` refuses it: a small
# wrapper module requires both at the same version and repeats the non-local replace.
set -euo pipefail
PULUMI_VERSION="${PULUMI_VERSION:-v3.274.1}"
TOOLCHAIN_DIR="${SYNERGYFLOW_TOOLCHAIN:-$HOME/.cache/synergyflow-db-toolchain}"
src="$TOOLCHAIN_DIR/src/pulumi-cli"
mkdir -p "$src" "$TOOLCHAIN_DIR/bin"
cd "$src"
cat > go.mod <<MOD
module synergyflow.local/pulumi-cli

go 1.26

require (
	github.com/pulumi/pulumi/pkg/v3 $PULUMI_VERSION
	github.com/pulumi/pulumi/sdk/v3 $PULUMI_VERSION
)

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e
MOD
cat > tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
GO
start=$(date +%s)
go mod tidy
go build -trimpath \
  -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=${PULUMI_VERSION}" \
  -o "$TOOLCHAIN_DIR/bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
echo "built pulumi ${PULUMI_VERSION} in $(( $(date +%s) - start ))s -> $TOOLCHAIN_DIR/bin/pulumi"

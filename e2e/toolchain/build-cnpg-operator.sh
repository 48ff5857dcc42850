#!/usr/bin/env bash
# Builds the CloudNativePG operator (cmd/manager) at one exact version into the toolchain cache, with the
# module's config/ (CRDs, webhook configurations) beside it. The proxy serves exact versions but no version
# list, so `go install ...@vX` is refused: a wrapper module requires the exact version and imports cmd/manager.
# Usage: build-cnpg-operator.sh v1.27.4
set -euo pipefail
CNPG_VERSION="${1:-${CNPG_VERSION:-v1.27.4}}"
TOOLCHAIN_DIR="${SYNERGYFLOW_TOOLCHAIN:-$HOME/.cache/synergyflow-db-toolchain}"
mod="github.com/cloudnative-pg/cloudnative-pg"
src="$TOOLCHAIN_DIR/src/cnpg-$CNPG_VERSION"
out="$TOOLCHAIN_DIR/cnpg-$CNPG_VERSION"
mkdir -p "$src" "$out/operator"
cd "$src"
start=$(date +%s)
info="$(go mod download -json "$mod@$CNPG_VERSION")"
gomod="$(sed -n 's/^\s*"GoMod": "\(.*\)",$/\1/p' <<<"$info")"
dir="$(sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p' <<<"$info")"
{
  echo "module synergyflow.local/cnpg"
  echo
  echo "go $(sed -n 's/^go \([0-9.]*\)$/\1/p' "$gomod")"
  echo
  echo "require $mod $CNPG_VERSION"
  # The operator's own replace directives apply only in its module: repeat the non-local ones.
  sed -n 's#^replace \(.*\) => \([^.].*\)#replace \1 => \2#p' "$gomod"
} > go.mod
cat > tools.go <<GO
//go:build tools

package tools

import _ "$mod/cmd/manager"
GO
go mod tidy
go build -trimpath -ldflags "-X $mod/pkg/versions.buildVersion=${CNPG_VERSION#v}" -o "$out/manager" "$mod/cmd/manager"
# Outside a cluster the operator looks for a copy of its own binary at operator/manager_amd64.
cp "$out/manager" "$out/operator/manager_amd64"
rm -rf "$out/config" && cp -r "$dir/config" "$out/config" && chmod -R u+w "$out/config"
echo "built cnpg operator $CNPG_VERSION in $(( $(date +%s) - start ))s -> $out/manager"

#!/usr/bin/env bash
# Builds the External Secrets Operator controller (v0.16.2, serves external-secrets.io/v1) into the toolchain
# cache, with only the Vault provider and generator registered: the whole module pulls every cloud SDK. Go
# refuses overlays of module-cache files, so it builds from a writable copy of the module whose two
# registration lists are rewritten; the module's one replace directive (sprig) is kept. Its CRDs
# (config/crds/bases) are copied beside the binary.
set -euo pipefail
ESO_VERSION="${ESO_VERSION:-v0.16.2}"
TOOLCHAIN_DIR="${SYNERGYFLOW_TOOLCHAIN:-$HOME/.cache/synergyflow-db-toolchain}"
mod="github.com/external-secrets/external-secrets"
start=$(date +%s)
dir="$(go mod download -json "$mod@$ESO_VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')"
src="$TOOLCHAIN_DIR/src/external-secrets-$ESO_VERSION"
out="$TOOLCHAIN_DIR/external-secrets-$ESO_VERSION"
rm -rf "$src" && mkdir -p "$src" "$out"
cp -r "$dir/." "$src/" && chmod -R u+w "$src"
cd "$src"
for kind in provider generator; do
  cat > "pkg/$kind/register/register.go" <<GO
// Rewritten by synergyflow-db's e2e toolchain: only the Vault $kind is registered.
package register

import _ "$mod/pkg/$kind/vault"
GO
done
go build -mod=mod -trimpath -o "$out/external-secrets" .
rm -rf "$out/crds" && cp -r config/crds/bases "$out/crds"
echo "built external-secrets $ESO_VERSION in $(( $(date +%s) - start ))s -> $out/external-secrets"

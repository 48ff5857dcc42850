#!/usr/bin/env bash
# Builds CoreDNS v1.12.4 (a Go module) into the toolchain cache, for the e2e node's cluster DNS, so that
# `<cluster>-rw.<ns>.svc` and the Pooler's Service resolve in pods. The node answers only cluster names (there
# is no upstream here), so the binary carries only the plugins its Corefile uses: a main of our own imports
# those instead of core/plugin (all ~60 plugins with the cloud SDKs), which keeps the build to a few minutes.
# The plugin order stays CoreDNS's own (core/dnsserver's directive list); unimported plugins are absent.
# products: bin/coredns
set -euo pipefail
COREDNS_VERSION="${COREDNS_VERSION:-v1.12.4}"
TOOLCHAIN_DIR="${SYNERGYFLOW_TOOLCHAIN:-$HOME/.cache/synergyflow-db-toolchain}"
mod="github.com/coredns/coredns"
src="$TOOLCHAIN_DIR/src/coredns-$COREDNS_VERSION"
mkdir -p "$src" "$TOOLCHAIN_DIR/bin"
cd "$src"
start=$(date +%s)
gomod="$(go mod download -json "$mod@$COREDNS_VERSION" | sed -n 's/^\s*"GoMod": "\(.*\)",$/\1/p')"
{
  echo "module synergyflow.local/coredns"
  echo
  echo "go $(sed -n 's/^go \([0-9.]*\)$/\1/p' "$gomod")"
  echo
  echo "require $mod $COREDNS_VERSION"
} > go.mod
cat > main.go <<'GO'
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() { coremain.Run() }
GO
go mod tidy
go build -trimpath -ldflags "-X $mod/coremain.GitCommit=$COREDNS_VERSION" -o "$TOOLCHAIN_DIR/bin/coredns" .
"$TOOLCHAIN_DIR/bin/coredns" -plugins | grep -q kubernetes || { echo "coredns built without its kubernetes plugin" >&2; exit 1; }
echo "built coredns $COREDNS_VERSION in $(( $(date +%s) - start ))s -> $TOOLCHAIN_DIR/bin/coredns"

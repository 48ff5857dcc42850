#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler and, for the e2e's real nodes, kubelet and
# kube-proxy from k8s.io/kubernetes into the toolchain cache.
# k8s.io/kubernetes replaces every k8s.io/* staging module with a local path, which the module zip cannot
# satisfy: a wrapper module requires it and maps each staging module to its published v0.<minor>.<patch>.
set -euo pipefail
K8S_VERSION="${K8S_VERSION:-v1.34.3}"
STAGING_VERSION="v0.${K8S_VERSION#v1.}"
TOOLCHAIN_DIR="${SYNERGYFLOW_TOOLCHAIN:-$HOME/.cache/synergyflow-db-toolchain}"
src="$TOOLCHAIN_DIR/src/kubernetes-$K8S_VERSION"
mkdir -p "$src" "$TOOLCHAIN_DIR/bin"
cd "$src"
start=$(date +%s)
gomod="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^\s*"GoMod": "\(.*\)",$/\1/p')"
{
  echo "module synergyflow.local/kubernetes"
  echo
  echo "go $(sed -n 's/^go \([0-9.]*\)$/\1/p' "$gomod")"
  echo
  echo "require k8s.io/kubernetes $K8S_VERSION"
  echo
  sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#replace \1 => \1 '"$STAGING_VERSION"'#p' "$gomod"
} > go.mod
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
)
GO
go mod tidy
ldflags="-X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2) -X k8s.io/component-base/version.gitTreeState=clean"
for cmd in ${K8S_COMMANDS:-kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy}; do
  [ -x "$TOOLCHAIN_DIR/bin/$cmd" ] && [ -z "${REBUILD:-}" ] && { echo "cached $cmd"; continue; }
  go build -trimpath -ldflags "$ldflags" -o "$TOOLCHAIN_DIR/bin/$cmd" "k8s.io/kubernetes/cmd/$cmd"
  echo "built $cmd $K8S_VERSION after $(( $(date +%s) - start ))s"
done

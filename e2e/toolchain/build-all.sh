#!/usr/bin/env bash
# Builds the whole e2e toolchain into the cache (~/.cache/synergyflow-db-toolchain or $SYNERGYFLOW_TOOLCHAIN),
# skipping every piece that is already there: one command for a newcomer, safe to re-run. REBUILD=1 rebuilds.
# Prints each step's time; a failed step stops the build and names itself.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
TOOLCHAIN_DIR="${SYNERGYFLOW_TOOLCHAIN:-$HOME/.cache/synergyflow-db-toolchain}"
export SYNERGYFLOW_TOOLCHAIN="$TOOLCHAIN_DIR"
mkdir -p "$TOOLCHAIN_DIR/bin"
total=$(date +%s)

# step NAME PRODUCT... -- COMMAND...: runs COMMAND unless every PRODUCT (a path in the cache) exists; a step
# with no product always runs (its command decides).
step() {
  local name="$1"; shift
  local missing="" products=0
  while [ "$1" != "--" ]; do products=1; [ -e "$TOOLCHAIN_DIR/$1" ] || missing="$missing $1"; shift; done
  shift
  if [ "$products" = 1 ] && [ -z "$missing" ] && [ -z "${REBUILD:-}" ]; then echo "== $name: cached"; return; fi
  echo "== $name: building (missing:$missing)"
  local start; start=$(date +%s)
  "$@" || { echo "== $name: FAILED after $(( $(date +%s) - start ))s" >&2; exit 1; }
  echo "== $name: done in $(( $(date +%s) - start ))s"
}

if ! command -v etcd >/dev/null; then
  step "etcd (Debian)" -- bash -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends etcd-server'
fi
step "OpenBao" bin/bao -- bash "$here/install-openbao.sh"
step "Pulumi CLI" bin/pulumi -- bash "$here/build-pulumi-cli.sh"
step "pulumi-kubernetes provider" bin/pulumi-resource-kubernetes -- bash "$here/build-kubernetes-provider.sh"
step "Kubernetes control plane and node binaries" bin/kube-apiserver bin/kube-controller-manager bin/kube-scheduler bin/kubelet bin/kube-proxy -- bash "$here/build-kube-apiserver.sh"
step "CloudNativePG v1.27.4" cnpg-v1.27.4/manager -- bash "$here/build-cnpg-operator.sh" v1.27.4
step "CloudNativePG v1.30.0" cnpg-v1.30.0/manager -- bash "$here/build-cnpg-operator.sh" v1.30.0
step "External Secrets" external-secrets-v0.16.2/external-secrets -- bash "$here/build-eso.sh"
step "kwok" bin/kwok -- bash "$here/build-kwok.sh"
step "promtool" bin/promtool -- bash "$here/build-promtool.sh"
# The real node's pieces, the Debian packages first (the image builds need mmdebstrap from them).
for extra in "$here"/build-node-packages.sh "$here"/build-node-coredns.sh "$here"/build-node-images.sh; do
  # Each node script declares its products on a "# products:" line.
  products=$(sed -n 's/^# products: //p' "$extra")
  # shellcheck disable=SC2086
  step "$(basename "$extra" .sh)" $products -- bash "$extra"
done
echo "toolchain ready in $(( $(date +%s) - total ))s: $TOOLCHAIN_DIR"

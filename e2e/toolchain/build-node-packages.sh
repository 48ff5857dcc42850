#!/usr/bin/env bash
# Installs, from Debian, what the e2e's real node runs on the host: containerd (1.6 on bookworm), runc (crun
# fails here: "cgroups in hybrid mode not supported"), the CNI plugins (bridge, host-local, loopback, portmap),
# mmdebstrap (images from Debian packages), nftables, conntrack, iptables, and socat (forwards the node's
# address to the API server on loopback), Maven and a JDK (the backend image's jar, e2e/backend). kube-proxy runs in iptables or
# nftables mode; iptables must stay on its nf_tables backend: a legacy table cannot be removed on this kernel
# (no modules), so nothing here selects iptables-legacy.
# Writes a marker in the toolchain dir once every command is there, for build-all.sh's skip.
# products: node/packages-3.ok
set -euo pipefail
TOOLCHAIN_DIR="${SYNERGYFLOW_TOOLCHAIN:-$HOME/.cache/synergyflow-db-toolchain}"
mkdir -p "$TOOLCHAIN_DIR/node"
# command -> Debian package that ships it
declare -A want=(
  [containerd]=containerd [ctr]=containerd [runc]=runc
  [/usr/lib/cni/bridge]=containernetworking-plugins [/usr/lib/cni/host-local]=containernetworking-plugins
  [/usr/lib/cni/loopback]=containernetworking-plugins [/usr/lib/cni/portmap]=containernetworking-plugins
  [mmdebstrap]=mmdebstrap [nft]=nftables [conntrack]=conntrack [iptables]=iptables [ipset]=ipset [socat]=socat [jq]=jq
  [mvn]=maven [javac]=default-jdk-headless
)
have() { case "$1" in /*) [ -x "$1" ] ;; *) command -v "$1" >/dev/null ;; esac; }
missing=()
for cmd in "${!want[@]}"; do have "$cmd" || missing+=("${want[$cmd]}"); done
if [ "${#missing[@]}" -gt 0 ]; then
  pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
  echo "installing from Debian: $pkgs"
  apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs
  # Debian's containerd package starts a host containerd; the e2e runs its own, with its own config and dirs.
  if command -v systemctl >/dev/null && systemctl is-active -q containerd 2>/dev/null; then
    systemctl disable --now containerd || true
  fi
fi
for cmd in "${!want[@]}"; do have "$cmd" || { echo "still missing after apt-get: $cmd (${want[$cmd]})" >&2; exit 1; }; done
# iptables must resolve to the nf_tables backend (Debian's default alternative).
if ! iptables --version | grep -q nf_tables; then
  echo "iptables is not the nf_tables backend ($(iptables --version)); run: update-alternatives --set iptables /usr/sbin/iptables-nft" >&2
  exit 1
fi
{ containerd --version; runc --version | head -1; iptables --version; mmdebstrap --version; } > "$TOOLCHAIN_DIR/node/packages-3.ok"
cat "$TOOLCHAIN_DIR/node/packages-3.ok"

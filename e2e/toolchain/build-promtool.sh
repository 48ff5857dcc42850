#!/usr/bin/env bash
# Builds promtool (Prometheus v0.316.0 module = Prometheus 3.x) into the toolchain cache, for
# `promtool check rules` and `promtool test rules` on the PrometheusRule the program emits.
set -euo pipefail
PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-v0.316.0}"
TOOLCHAIN_DIR="${SYNERGYFLOW_TOOLCHAIN:-$HOME/.cache/synergyflow-db-toolchain}"
mkdir -p "$TOOLCHAIN_DIR/bin"
start=$(date +%s)
GOBIN="$TOOLCHAIN_DIR/bin" go install "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION"
echo "built promtool $PROMETHEUS_VERSION in $(( $(date +%s) - start ))s"

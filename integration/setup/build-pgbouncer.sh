#!/usr/bin/env bash
# Builds PgBouncer 1.24.1 (the platform's version) once per machine from Debian's own trixie source package,
# against Debian's libevent, OpenSSL and c-ares, into a cache outside the repo. Prints the binary's path.
set -euo pipefail
VERSION=1.24.1
CACHE="${SYNERGYFLOW_CACHE:-$HOME/.cache/synergyflow-db}"
prefix="$CACHE/pgbouncer-$VERSION"
if [ -x "$prefix/bin/pgbouncer" ]; then echo "$prefix/bin/pgbouncer"; exit 0; fi
export DEBIAN_FRONTEND=noninteractive
# Source packages only: no binary package of trixie is installed on this bookworm system.
if [ ! -f /etc/apt/sources.list.d/synergyflow-trixie-src.sources ]; then
  cat > /etc/apt/sources.list.d/synergyflow-trixie-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  apt-get update -qq >&2
fi
apt-get install -y -qq --no-install-recommends dpkg-dev build-essential pkg-config libevent-dev libssl-dev libc-ares-dev >&2
work="$CACHE/src"
rm -rf "$work" && mkdir -p "$work" && cd "$work"
apt-get source --download-only "pgbouncer=$VERSION-*" >&2 || apt-get source --download-only pgbouncer >&2
dpkg-source --no-check -x pgbouncer_"$VERSION"-*.dsc pgbouncer >&2
cd pgbouncer
./configure --prefix="$prefix" --with-openssl --with-cares --without-systemd --without-pam --without-ldap >&2
make -j"$(nproc)" >&2
make install >&2
"$prefix/bin/pgbouncer" --version >&2
echo "$prefix/bin/pgbouncer"

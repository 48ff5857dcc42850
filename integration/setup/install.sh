#!/usr/bin/env bash
# Installs what the integration tier and the benchmark need on a fresh machine: PostgreSQL 15 (server, client,
# pgbench) and OpenSSL from Debian, Java 17 and Maven if missing, and PgBouncer 1.24.1 built from Debian's
# trixie source package (cached). Needs root for apt-get.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
need=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql-15)
command -v psql >/dev/null || need+=(postgresql-client-15)
command -v openssl >/dev/null || need+=(openssl)
command -v java >/dev/null || need+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || need+=(maven)
if ((${#need[@]})); then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
# Debian's package starts a cluster on localhost:5432; the tests use 127.0.0.2/127.0.0.3 and do not need it.
bash "$(dirname "$0")/build-pgbouncer.sh" >/dev/null
# PostgreSQL 16 (server and client tools) for the migration tier: see install-pg16.sh.
pg16="$(bash "$(dirname "$0")/install-pg16.sh")"
echo "integration prerequisites: $(/usr/lib/postgresql/15/bin/postgres --version), $("$pg16/bin/postgres" --version) with $("$pg16/bin/pg_dump" --version), $("$(bash "$(dirname "$0")/build-pgbouncer.sh")" --version | head -1), $(java -version 2>&1 | head -1)"

#!/usr/bin/env bash
# The backend stand-in checked without a cluster: a throwaway PostgreSQL on loopback (TLS, SCRAM, an owner role,
# two login roles whose sessions are the owner, as the bootstrap sets them), then
#   serve: configured from a datasource-ConfigMap-like environment, a Spring config tree and a CA file named by the
#          URL's sslrootcert; readiness, /healthz, /work and /stats (session_user = the login role, current_user =
#          the owner); with a wrong password: readiness 503, /work 500, connection failures counted; SIGTERM stops it.
#   load:  four threads with the credentials re-read from a directory laid out as the kubelet lays out a Secret
#          volume (..data -> ..<timestamp>/), three rotations under load (the idle role's password changed, then
#          the volume swapped atomically, connections soft-evicted every second): 0 failed transactions, logins and
#          borrows, both roles used; stop by file, by SIGTERM; a swap to a wrong password is counted.
# Usage: bash e2e/backend/check.sh [JAR]   (default: builds e2e/backend with Maven into a temporary directory,
#        the Maven repository in the toolchain cache), on the host's java;
#        BACKEND_IMAGE=~/.cache/synergyflow-db-toolchain/node/images/backend.oci.tar bash e2e/backend/check.sh: the image's
#        JRE and jar as uid 10001 with a read-only root (root needed for the mount namespace).
#        PostgreSQL from SYNERGYFLOW_PG_BIN (default Debian's 15).
# Leaves nothing behind: the servers are stopped by pid and the temporary directory removed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
TOOLCHAIN_DIR="${SYNERGYFLOW_TOOLCHAIN:-$HOME/.cache/synergyflow-db-toolchain}"
PG_BIN="${SYNERGYFLOW_PG_BIN:-/usr/lib/postgresql/15/bin}"
for tool in java jq curl openssl python3 "$PG_BIN/initdb" "$PG_BIN/postgres" "$PG_BIN/psql"; do
  command -v "$tool" >/dev/null || [ -x "$tool" ] || { echo "missing $tool" >&2; exit 1; }
done
tmp="$(mktemp -d /tmp/backend-check.XXXXXX)"
chmod 755 "$tmp"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

JAVA=(java)
jar="${1:-}"
if [ -n "${BACKEND_IMAGE:-}" ]; then
  # The image itself: its layer unpacked, the JRE and /app/backend.jar run as uid 10001 in a private mount
  # namespace with the root read-only and only /tmp (the check's, holding every file it mounts) and /dev writable,
  # as a pod with readOnlyRootFilesystem and a /tmp emptyDir. Needs root (unshare -m); nothing leaks to the host.
  [ "$(id -u)" = 0 ] || fail "BACKEND_IMAGE needs root (a mount namespace)"
  mkdir -p "$tmp/oci" "$tmp/image-root"
  tar -xf "$BACKEND_IMAGE" -C "$tmp/oci"
  manifest="$(jq -r '.manifests[0].digest | sub("sha256:"; "")' "$tmp/oci/index.json")"
  layer="$(jq -r '.layers[0].digest | sub("sha256:"; "")' "$tmp/oci/blobs/sha256/$manifest")"
  config="$(jq -r '.config.digest | sub("sha256:"; "")' "$tmp/oci/blobs/sha256/$manifest")"
  tar --numeric-owner -xf "$tmp/oci/blobs/sha256/$layer" -C "$tmp/image-root"
  rm -rf "$tmp/oci/blobs/sha256/$layer"
  java_options="$(jq -r '.config.Env[] | select(startswith("JAVA_TOOL_OPTIONS="))' "$tmp/oci/blobs/sha256/$config")"
  jq -e '.config.User == "10001:10001" and .config.Entrypoint == ["java", "-jar", "/app/backend.jar"]' "$tmp/oci/blobs/sha256/$config" >/dev/null \
    || fail "image config: $(jq -c .config "$tmp/oci/blobs/sha256/$config")"
  # shellcheck disable=SC2016
  JAVA=(unshare -m sh -c 'r="$1"; shift; mount --bind "$r" "$r" && mount --rbind /dev "$r/dev" && mount -t proc proc "$r/proc" &&
    mount --bind /tmp "$r/tmp" && mount -o remount,bind,ro "$r" && exec chroot --userspec=10001:10001 "$r" /usr/bin/env "$JAVA_OPTS_LINE" java "$@"' sh "$tmp/image-root")
  export JAVA_OPTS_LINE="$java_options"
  jar=/app/backend.jar
  echo "checking the image $BACKEND_IMAGE ($(jq -r '.config.Labels["io.synergyflow.jre"]' "$tmp/oci/blobs/sha256/$config"))"
elif [ -z "$jar" ]; then
  start=$(date +%s)
  mvn -B -q -f "$here/pom.xml" -Dmaven.repo.local="$TOOLCHAIN_DIR/maven-repo" -Dbackend.build.dir="$tmp/target" package
  jar="$tmp/target/backend.jar"
  echo "built $jar in $(( $(date +%s) - start ))s"
fi
"${JAVA[@]}" -jar "$jar" --help | grep -q '^usage:' || fail "--help"
"${JAVA[@]}" -jar "$jar" selfcheck

# --- PostgreSQL (as the postgres user when root: initdb refuses root) -----------------------------------------
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
port="$(free_port)"
mkdir -p "$tmp/pg" "$tmp/ca" "$tmp/run"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=backend-check CA" -keyout "$tmp/ca/ca.key" -out "$tmp/ca/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$tmp/pg/server.key" -out "$tmp/pg/server.csr" 2>/dev/null
openssl x509 -req -in "$tmp/pg/server.csr" -CA "$tmp/ca/ca.crt" -CAkey "$tmp/ca/ca.key" -CAcreateserial -days 2 -out "$tmp/pg/server.crt" 2>/dev/null
[ "$(id -u)" = 0 ] && chown -R postgres: "$tmp/pg" "$tmp/run"
chmod 600 "$tmp/pg/server.key"
as_pg "$PG_BIN/initdb" -D "$tmp/pg/data" -U postgres --auth-local=trust --auth-host=reject >/dev/null
cat > "$tmp/pg/data/pg_hba.conf" <<EOF
local all postgres trust
hostssl all all 127.0.0.1/32 scram-sha-256
EOF
as_pg "$PG_BIN/postgres" -D "$tmp/pg/data" -c listen_addresses=127.0.0.1 -c port="$port" -c unix_socket_directories="$tmp/run" \
  -c ssl=on -c ssl_cert_file="$tmp/pg/server.crt" -c ssl_key_file="$tmp/pg/server.key" -c max_connections=60 \
  -c fsync=off -c logging_collector=off > "$tmp/pg/log" 2>&1 &
pids+=($!)
psql_su() { as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$tmp/run" -p "$port" -U postgres "$@"; }
for _ in $(seq 100); do psql_su -d postgres -c 'select 1' >/dev/null 2>&1 && break; sleep 0.2; done
psql_su -d postgres -c 'select 1' >/dev/null || { cat "$tmp/pg/log"; fail "PostgreSQL did not start"; }
# The bootstrap's shape: an owner that cannot log in, login roles whose sessions are the owner with the tenant's
# search_path (ALTER ROLE ... IN DATABASE ... SET role / search_path), the module schema owned by the owner.
psql_su -d postgres <<'SQL'
CREATE ROLE app_owner NOLOGIN;
CREATE ROLE app_blue LOGIN PASSWORD 'blue-1' IN ROLE app_owner;
CREATE ROLE app_green LOGIN PASSWORD 'green-1' IN ROLE app_owner;
CREATE DATABASE app OWNER app_owner;
ALTER ROLE app_blue IN DATABASE app SET role = app_owner;
ALTER ROLE app_green IN DATABASE app SET role = app_owner;
ALTER ROLE app_blue IN DATABASE app SET search_path = synergyflow_tasks, public;
ALTER ROLE app_green IN DATABASE app SET search_path = synergyflow_tasks, public;
SQL
psql_su -d app -c 'CREATE SCHEMA synergyflow_tasks AUTHORIZATION app_owner; REVOKE CREATE ON SCHEMA public FROM PUBLIC;'

url="jdbc:postgresql://127.0.0.1:$port/app?sslmode=verify-ca&sslrootcert=$tmp/ca/ca.crt&prepareThreshold=5&ApplicationName=backend-check&tcpKeepAlive=true"
# The datasource ConfigMap's keys, as components/model/datasource.ts emits them.
export SPRING_DATASOURCE_URL="$url"
export SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE=4 SPRING_DATASOURCE_HIKARI_MINIMUM_IDLE=2 SPRING_DATASOURCE_HIKARI_CONNECTION_TIMEOUT=5000
export SPRING_DATASOURCE_HIKARI_IDLE_TIMEOUT=300000 SPRING_DATASOURCE_HIKARI_MAX_LIFETIME=1500000 SPRING_DATASOURCE_HIKARI_KEEPALIVE_TIME=120000
export SPRING_FLYWAY_POSTGRESQL_TRANSACTIONALLOCK=true

# --- serve ---------------------------------------------------------------------------------------------------
# spring-credentials as the Deployment mounts it: the Secret's items as files named like the properties.
mkdir -p "$tmp/spring-credentials"
printf 'app_blue' > "$tmp/spring-credentials/spring.datasource.username"
printf 'blue-1\n' > "$tmp/spring-credentials/spring.datasource.password"
serve() { # PORT LOG [extra env...]
  local p="$1" logf="$2"; shift 2
  env SPRING_CONFIG_IMPORT="configtree:$tmp/spring-credentials/" SERVER_PORT="$p" HOSTNAME=backend-check "$@" "${JAVA[@]}" -jar "$jar" serve > "$logf" 2>&1 &
  pids+=($!)
  serve_pid=$!
}
get() { curl -s -o "$tmp/body" -w '%{http_code}' "$@"; }
http="$(free_port)"
start_ms=$(date +%s%3N)
serve "$http" "$tmp/serve.log"
for _ in $(seq 150); do [ "$(get "http://127.0.0.1:$http/actuator/health/readiness" || true)" = 200 ] && break; sleep 0.2; done
[ "$(get "http://127.0.0.1:$http/actuator/health/readiness")" = 200 ] || { cat "$tmp/serve.log"; fail "serve: not ready"; }
ok "serve ready $(( $(date +%s%3N) - start_ms )) ms after start"
grep -q 'login role app_blue' "$tmp/serve.log" || fail "serve: start log does not name the login role"
[ "$(get "http://127.0.0.1:$http/actuator/health/liveness")" = 200 ] || fail "liveness"
[ "$(get "http://127.0.0.1:$http/healthz")" = 200 ] || fail "healthz"
for i in $(seq 20); do
  code="$(get -X POST "http://127.0.0.1:$http/work")"
  [ "$code" = 200 ] || fail "POST /work: $code $(cat "$tmp/body")"
done
[ "$(get "http://127.0.0.1:$http/work")" = 200 ] || fail "GET /work"
jq -e '.loginRole == "app_blue" and .currentUser == "app_owner"' "$tmp/body" >/dev/null || fail "/work answered $(cat "$tmp/body")"
[ "$(get "http://127.0.0.1:$http/stats")" = 200 ] || fail "/stats"
jq -e '.requestsOk == 21 and .requestsFailed == 0 and .connectionFailures == 0 and .currentUser == "app_owner" and .sessionUser == "app_blue" and (.searchPath | startswith("synergyflow_tasks"))' "$tmp/body" >/dev/null \
  || fail "/stats: $(cat "$tmp/body")"
ok "serve: /healthz, 21 x /work, /stats $(jq -c '{requestsOk, currentUser, sessionUser, searchPath, connectionsByRole}' "$tmp/body")"
owner="$(psql_su -d app -tAc "select tableowner from pg_tables where schemaname = 'synergyflow_tasks' and tablename = 'backend_work'")"
[ "$owner" = app_owner ] || fail "backend_work owned by '$owner', not app_owner"
stop_ms=$(date +%s%3N)
kill -TERM "$serve_pid"; wait "$serve_pid" || true
stop_ms=$(( $(date +%s%3N) - stop_ms ))
[ "$stop_ms" -lt 5000 ] || fail "serve took $stop_ms ms to stop when idle"
ok "serve: SIGTERM -> exit in $stop_ms ms"

# A wrong password: the process serves, readiness and /work fail, the failures are counted.
printf 'wrong' > "$tmp/spring-credentials/spring.datasource.password"
http="$(free_port)"
serve "$http" "$tmp/serve-wrong.log"
for _ in $(seq 100); do [ "$(get "http://127.0.0.1:$http/actuator/health/liveness" || true)" = 200 ] && break; sleep 0.2; done
[ "$(get "http://127.0.0.1:$http/actuator/health/readiness")" = 503 ] || fail "readiness with a wrong password: $(cat "$tmp/body")"
[ "$(get "http://127.0.0.1:$http/work")" = 500 ] || fail "/work with a wrong password: $(cat "$tmp/body")"
grep -q 'password authentication failed' "$tmp/body" || fail "/work error: $(cat "$tmp/body")"
get "http://127.0.0.1:$http/stats" >/dev/null
jq -e '.requestsFailed == 1 and .connectionFailures > 0 and .currentUser == null' "$tmp/body" >/dev/null || fail "/stats with a wrong password: $(cat "$tmp/body")"
ok "serve with a wrong password: readiness 503, /work 500, $(jq -c '{requestsFailed, connectionFailures, borrowFailures}' "$tmp/body")"
kill -TERM "$serve_pid"; wait "$serve_pid" || true
# Not optional: a missing config tree stops the start, as in Spring Boot.
if env SPRING_CONFIG_IMPORT="configtree:$tmp/nowhere/" "${JAVA[@]}" -jar "$jar" serve > "$tmp/serve-missing.log" 2>&1; then fail "serve started without its config tree"; fi
grep -q 'does not exist' "$tmp/serve-missing.log" || fail "missing config tree: $(cat "$tmp/serve-missing.log")"
ok "serve without its config tree: exit 2"

# --- load, with rotations of a Secret volume laid out as the kubelet does ----------------------------------------
creds="$tmp/db-credentials"
mkdir -p "$creds"
generation=0
# swap USER PASSWORD: a new timestamped directory, then ..data replaced by rename (atomic), as the atomic writer does.
swap() {
  generation=$((generation + 1))
  local dir="..2026_01_01_00_00_0${generation}.000"
  mkdir "$creds/$dir"
  printf '%s' "$1" > "$creds/$dir/DB_USERNAME"
  printf '%s' "$2" > "$creds/$dir/DB_PASSWORD"
  ln -s "$dir" "$creds/..data_tmp"
  local old; old="$(readlink "$creds/..data" 2>/dev/null || true)"
  mv -T "$creds/..data_tmp" "$creds/..data"
  [ -e "$creds/DB_USERNAME" ] || ln -s ..data/DB_USERNAME "$creds/DB_USERNAME"
  [ -e "$creds/DB_PASSWORD" ] || ln -s ..data/DB_PASSWORD "$creds/DB_PASSWORD"
  [ -n "$old" ] && rm -rf "${creds:?}/$old"
  return 0
}
swap app_blue blue-1
: > "$tmp/termination-log"
chmod 666 "$tmp/termination-log"   # the kubelet makes it writable for the container's uid
load() { # LOG [extra env...]
  local logf="$1"; shift
  env -u SPRING_CONFIG_IMPORT LOAD_CREDENTIALS_DIR="$creds" LOAD_THREADS=4 LOAD_PAUSE_MS=2 LOAD_EVICT_SECONDS=1 LOAD_STOP_FILE="$tmp/stop" \
    LOAD_TERMINATION_LOG="$tmp/termination-log" "$@" "${JAVA[@]}" -jar "$jar" load > "$logf" 2> "$logf.err" &
  pids+=($!)
  load_pid=$!
}
load "$tmp/load.json" LOAD_SECONDS=120
sleep 4
# Three rotations: the idle role gets a new password first, then the Secret names it; the role in use keeps its own.
active=blue
for round in 1 2 3; do
  if [ "$active" = blue ]; then next=app_green; active=green; else next=app_blue; active=blue; fi
  password="$next-r$round"
  psql_su -d postgres -c "ALTER ROLE $next PASSWORD '$password'"
  swap "$next" "$password"
  sleep 3
done
touch "$tmp/stop"
wait "$load_pid" || fail "load exited $?: $(cat "$tmp/load.json.err")"
line="$(tail -n1 "$tmp/load.json")"
echo "load: $line"
jq -e '.stoppedBy == "file" and .transactions > 100 and .failedTransactions == 0 and .failedConnections == 0 and .failedBorrows == 0
  and (.transactionsByRole | keys) == ["app_blue", "app_green"] and (.connectionsByRole | keys) == ["app_blue", "app_green"]' <<<"$line" >/dev/null \
  || { cat "$tmp/load.json.err"; fail "load through three rotations: $line"; }
[ "$(cat "$tmp/termination-log")" = "$line" ] || fail "termination log differs from stdout: $(cat "$tmp/termination-log")"
ok "load: three rotations, 0 failed transactions/logins/borrows, the termination log holds the report"
rm -f "$tmp/stop"

# SIGTERM ends a run with its report; a swap to a password PostgreSQL does not have is counted as failed logins.
load "$tmp/load-signal.json" LOAD_SECONDS=0
sleep 4
swap app_blue not-the-password
sleep 3
kill -TERM "$load_pid"
wait "$load_pid" || true
line="$(tail -n1 "$tmp/load-signal.json")"
echo "load (wrong password, SIGTERM): $line"
jq -e '.stoppedBy == "signal" and .transactions > 0 and .failedConnections > 0 and (.firstError | test("password authentication failed"))' <<<"$line" >/dev/null \
  || { cat "$tmp/load-signal.json.err"; fail "load with a wrong password: $line"; }
ok "load: SIGTERM reports; failed logins counted"
echo "backend check passed"

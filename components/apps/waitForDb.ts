// The wait-for-db init container's script. pg_isready against PgBouncer says "accepting connections" even when
// PostgreSQL behind it is down (it never logs in), so this logs in as the tenant role and runs a query.
// The password comes from PGPASSWORD (a Secret reference), never from the command line.

export function waitForDbScript(attempts: number): string {
    return [
        "set -u",
        `attempts=${attempts}`,
        "delay=1",
        "i=1",
        'while [ "$i" -le "$attempts" ]; do',
        '  if out=$(psql --no-psqlrc --quiet --tuples-only --no-align --command "SELECT current_user || \'@\' || current_database()" 2>&1); then',
        '    echo "wait-for-db: attempt $i/$attempts: ok, logged in as $out through $PGHOST:$PGPORT"',
        "    exit 0",
        "  fi",
        '  echo "wait-for-db: attempt $i/$attempts: $PGHOST:$PGPORT/$PGDATABASE not usable yet: $(echo "$out" | tr "\\n" " ")- retrying in ${delay}s"',
        '  sleep "$delay"',
        "  delay=$((delay * 2)); [ \"$delay\" -gt 30 ] && delay=30",
        "  i=$((i + 1))",
        "done",
        'echo "wait-for-db: giving up after $attempts attempts"',
        "exit 1",
    ].join("\n");
}

// The wait-for-db init container's script. pg_isready against PgBouncer says "accepting connections" even when
// PostgreSQL behind it is down (it never logs in), so this logs in as the login role and runs a query. Logging
// in is not enough: a session started before the bootstrap set the login roles' `role` and `search_path` would
// create the application's objects as the login role, in `public`; so it waits until the session is the owner
// with the tenant's search_path, and fails saying what it found. The password comes from PGPASSWORD (a Secret
// reference), never from the command line; the expected values from WAIT_FOR_DB_OWNER and
// WAIT_FOR_DB_SEARCH_PATH (waitForDbEnv); left empty (a migration rollback on the dedicated cluster, whose
// roles the program does not set), a login and a query are enough.

/** The expected session, as environment variables of the init container. */
export function waitForDbEnv(expected: { owner: string; searchPath: string } | undefined): { name: string; value: string }[] {
    return [
        { name: "WAIT_FOR_DB_OWNER", value: expected?.owner ?? "" },
        { name: "WAIT_FOR_DB_SEARCH_PATH", value: expected?.searchPath ?? "" },
    ];
}

export function waitForDbScript(attempts: number): string {
    return [
        "set -u",
        `attempts=${attempts}`,
        'expected="$WAIT_FOR_DB_OWNER|$WAIT_FOR_DB_SEARCH_PATH"',
        "delay=1",
        "i=1",
        'while [ "$i" -le "$attempts" ]; do',
        "  if out=$(psql --no-psqlrc --quiet --tuples-only --no-align --command \"SELECT current_user || '|' || current_setting('search_path')\" 2>&1); then",
        '    if [ -z "$WAIT_FOR_DB_OWNER" ] || [ "$out" = "$expected" ]; then',
        '      echo "wait-for-db: attempt $i/$attempts: ok, the session is \\"$out\\" (user|search_path) through $PGHOST:$PGPORT/$PGDATABASE"',
        "      exit 0",
        "    fi",
        '    echo "wait-for-db: attempt $i/$attempts: logged in, but the session is \\"$out\\" (user|search_path), not \\"$expected\\": the bootstrap has not set the login role yet - retrying in ${delay}s"',
        "  else",
        '    echo "wait-for-db: attempt $i/$attempts: $PGHOST:$PGPORT/$PGDATABASE not usable yet: $(echo "$out" | tr "\\n" " ")- retrying in ${delay}s"',
        "  fi",
        '  sleep "$delay"',
        "  delay=$((delay * 2)); [ \"$delay\" -gt 30 ] && delay=30",
        "  i=$((i + 1))",
        "done",
        'echo "wait-for-db: giving up after $attempts attempts; last: ${out:-nothing}"',
        "exit 1",
    ].join("\n");
}

// The migration Jobs' scripts, rendered by pure functions: what runs against the dedicated cluster (the source)
// and the tenant database (the target, through the pooler as a login role). The integration tier runs exactly
// this text against real PostgreSQL and PgBouncer.
//
// Why the restore may go through the transaction pooler: the dump (custom format, large objects included) is
// turned into one script by `pg_restore --single-transaction` and piped into psql, so its session-level SETs and
// every statement run inside one transaction, on one server connection; PgBouncer's server_reset_query
// (RESET ALL, always) clears the SETs before the connection serves anyone else. Not plain `pg_dump` output into
// `psql --single-transaction`: plain output wraps the large objects in its own BEGIN/COMMIT, whose COMMIT would
// end the transaction half-way and leave the rest to run statement by statement on any server connection.
// Large objects are SQL calls (lo_create, lowrite on descriptor 0 inside the transaction), not the fastpath
// protocol. Every object is created by the login role acting as the owner role (its role setting), so it belongs
// to the owner; --no-owner/--no-privileges drop the source's owners and grants.

export interface MigrationScriptArgs {
    /** The tenant's module schemas: what is copied and verified. */
    schemas: string[];
    /** Replace a target that already holds tables in those schemas (otherwise refuse). */
    replaceTarget: boolean;
}

const sqlList = (names: string[]) => names.map((n) => `'${n.replace(/'/g, "''")}'`).join(", ");
const quoted = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * One line per table, sequence and object count, identical on source and target when the copy is complete:
 * `table <schema.table> <rows> <md5 of the sorted row md5s>`, `sequence <name> <last_value>`,
 * `largeobjects <count> <md5 of oid:md5 pairs>` (database-wide: the tenant database is the tenant's),
 * `objects <schema> <kind> <count>`. Rows are compared by their text form under TimeZone UTC.
 */
export function fingerprintSql(schemas: string[]): string {
    const list = sqlList(schemas);
    // A query that writes the per-table queries, run with \gexec: one UNION per table would not scale to many.
    return `SET TimeZone = 'UTC';
SELECT format('SELECT %L, count(*), coalesce(md5(string_agg(md5(x::text), '''' ORDER BY md5(x::text))), ''-'') FROM %I.%I AS x', 'table ' || schemaname || '.' || tablename, schemaname, tablename)
  FROM pg_catalog.pg_tables WHERE schemaname IN (${list}) ORDER BY schemaname, tablename
\\gexec
SELECT 'sequence ' || schemaname || '.' || sequencename, coalesce(last_value::text, 'null')
  FROM pg_catalog.pg_sequences WHERE schemaname IN (${list}) ORDER BY 1;
SELECT 'objects ' || n.nspname || ' ' || c.relkind::text, count(*)
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN (${list}) GROUP BY n.nspname, c.relkind ORDER BY 1;
SELECT 'largeobjects', count(*), coalesce(md5(string_agg(oid::text || ':' || md5(pg_catalog.lo_get(oid)), ',' ORDER BY oid)), '-')
  FROM pg_catalog.pg_largeobject_metadata;
SELECT 'objects ' || n.nspname || ' function', count(*)
  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname IN (${list}) GROUP BY n.nspname ORDER BY 1;
`;
}

/** Shell functions both scripts share: psql to the source (SOURCE_*) and to the target (the PG* of the pod). */
const PREAMBLE = `set -euo pipefail
export PGTZ=UTC
src() { PGHOST="$SOURCE_HOST" PGPORT="$SOURCE_PORT" PGDATABASE="$SOURCE_DATABASE" PGUSER="$SOURCE_USER" PGPASSWORD="$SOURCE_PASSWORD" PGSSLMODE="$SOURCE_SSLMODE" PGSSLROOTCERT="\${SOURCE_SSLROOTCERT:-}" "$@"; }
result() { printf '%s' "$1" > "\${RESULT_FILE:-/dev/termination-log}"; echo "$1"; }
fingerprints() { psql -X -q -v ON_ERROR_STOP=1 -At -F ' ' -f "\${MIGRATION_DIR:-/migration}/fingerprint.sql"; }
`;

/**
 * The copy: stop the writers (read-only for new sessions, every other session ended, no write transaction
 * left), refuse a non-empty target unless told to replace it, dump and restore in one transaction, verify.
 * On any failure the source is made writable again. Its result is one JSON line (the termination message).
 */
export function copyScript(args: MigrationScriptArgs): string {
    const list = sqlList(args.schemas);
    // Large objects are not in a schema: a replaced target's are unlinked too (the dump re-creates them by OID).
    const drops = [...args.schemas.map((s) => `DROP SCHEMA IF EXISTS ${quoted(s)} CASCADE;`), "SELECT count(pg_catalog.lo_unlink(oid)) FROM pg_catalog.pg_largeobject_metadata;"].join(" ");
    const schemaFlags = args.schemas.map((s) => `--schema=${quoted(s)}`).join(" ");
    return `${PREAMBLE}start=$(date +%s)
writable_again() {
  src psql -X -q -c "SET default_transaction_read_only = off" -c "ALTER DATABASE \\"$SOURCE_DATABASE\\" RESET default_transaction_read_only" \\
    && echo "copy failed: the source database $SOURCE_DATABASE is writable again; the target was left as the failed transaction found it" >&2 \\
    || echo "copy failed, and the source database $SOURCE_DATABASE could not be made writable again: run SET default_transaction_read_only = off; ALTER DATABASE \\"$SOURCE_DATABASE\\" RESET default_transaction_read_only; on it" >&2
}
trap 'status=$?; [ $status -eq 0 ] || writable_again; exit $status' EXIT

# 1. The writers: read-only for every new session, then end every other session, then prove no write is open.
# (A re-run finds the source read-only already: the session turns that off for itself.)
src psql -X -q -v ON_ERROR_STOP=1 -c "SET default_transaction_read_only = off" -c "ALTER DATABASE \\"$SOURCE_DATABASE\\" SET default_transaction_read_only = on"
src psql -X -q -v ON_ERROR_STOP=1 -At -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()" > /dev/null
open=$(src psql -X -v ON_ERROR_STOP=1 -At -c "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL")
if [ "$open" != 0 ]; then echo "copy refused: $open write transactions still open on the source after ending its sessions" >&2; exit 1; fi

# 2. The target: empty, unless migration.replaceTarget says to replace it.
existing=$(psql -X -v ON_ERROR_STOP=1 -At -F ' ' -c "SELECT (SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname IN (${list})), (SELECT count(*) FROM pg_catalog.pg_largeobject_metadata)")
if [ "$existing" != "0 0" ] && [ "$REPLACE_TARGET" != true ]; then
  echo "copy refused: the target database holds \${existing% *} tables in the module schemas and \${existing#* } large objects; set synergyflow-db:migration.replaceTarget true to replace them" >&2
  exit 1
fi

# 3. Dump and restore in one transaction (the module schemas are re-created by the login role, as the owner).
# The drops open the transaction; pg_restore's own BEGIN inside it is only a warning (silenced), its COMMIT ends it.
{ printf 'BEGIN;\\nSET LOCAL client_min_messages = error;\\n%s\\n' '${drops}'
  src pg_dump --format=custom --no-owner --no-privileges --blobs ${schemaFlags} | pg_restore --single-transaction --no-owner --no-privileges -f -; } \\
  | psql -X -q -v ON_ERROR_STOP=1 -f - > /dev/null

# 4. Verify: every table's rows and checksum, every sequence, every object count.
src fingerprints > /tmp/source.txt
fingerprints > /tmp/target.txt
tables=$(grep -c '^table ' /tmp/source.txt || true)
rows=$(awk '/^table /{n+=$3} END{print n+0}' /tmp/source.txt)
bytes=$(psql -X -v ON_ERROR_STOP=1 -At -c "SELECT coalesce(sum(pg_total_relation_size(format('%I.%I', schemaname, tablename))), 0) FROM pg_catalog.pg_tables WHERE schemaname IN (${list})")
if ! diff /tmp/source.txt /tmp/target.txt > /tmp/differences.txt; then
  result "{\\"checksumsEqual\\":false,\\"tables\\":$tables,\\"rows\\":$rows,\\"differences\\":$(head -c 600 /tmp/differences.txt | awk 'BEGIN{printf "\\""} {gsub(/["\\\\]/, ""); printf "%s; ", $0} END{printf "\\""}')}"
  echo "copy verification failed: source and target differ (above)" >&2
  exit 1
fi
result "{\\"checksumsEqual\\":true,\\"tables\\":$tables,\\"rows\\":$rows,\\"bytes\\":$bytes,\\"seconds\\":$(( $(date +%s) - start ))}"
`;
}

/**
 * The rollback: report what the shared database holds that the source does not (per table, rows on each
 * side), then make the source writable again. Nothing is copied back: the report says what to carry over.
 */
export function rollbackScript(): string {
    return `${PREAMBLE}src fingerprints > /tmp/source.txt
fingerprints > /tmp/target.txt
changed=$(join -j 2 -o 1.2,1.3,2.3 <(grep '^table ' /tmp/source.txt | sort -k2,2) <(grep '^table ' /tmp/target.txt | sort -k2,2) 2>/dev/null | awk '$2 != $3 {printf "%s\\"%s\\":{\\"source\\":%s,\\"shared\\":%s}", sep, $1, $2, $3; sep=","}' || true)
checksums=$(diff <(grep '^table ' /tmp/source.txt) <(grep '^table ' /tmp/target.txt) | grep -c '^>' || true)
largeobjects=$(join -j 1 -o 1.2,2.2 <(grep '^largeobjects ' /tmp/source.txt) <(grep '^largeobjects ' /tmp/target.txt) | awk '{printf "{\\"source\\":%s,\\"shared\\":%s}", $1, $2}')
# A new session on the source is read-only by the database's default: this one turns it off for itself.
src psql -X -q -v ON_ERROR_STOP=1 -c "SET default_transaction_read_only = off" -c "ALTER DATABASE \\"$SOURCE_DATABASE\\" RESET default_transaction_read_only"
result "{\\"sourceWritable\\":true,\\"tablesChangedOnShared\\":$checksums,\\"rowCounts\\":{$changed},\\"largeObjects\\":$largeobjects}"
`;
}

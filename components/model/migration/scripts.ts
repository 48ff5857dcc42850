// The migration Jobs' scripts, rendered by pure functions: what runs against the dedicated cluster (the source)
// and the tenant database (the target, through the pooler as a login role). The integration tier runs exactly
// this text against real PostgreSQL 16 and PgBouncer.
//
// Why the restore may go through the transaction pooler: the dump (custom format, large objects included) is
// turned into one script by `pg_restore --single-transaction` and piped into psql, so its session-level SETs and
// every statement run inside one transaction, on one server connection; PgBouncer's server_reset_query
// (RESET ALL; RESET ROLE, always) clears the SETs before the connection serves anyone else. Not plain `pg_dump` output into
// `psql --single-transaction`: plain output wraps the large objects in its own BEGIN/COMMIT, whose COMMIT would
// end the transaction half-way and leave the rest to run statement by statement on any server connection.
// Large objects are SQL calls (lo_create, lowrite on descriptor 0 inside the transaction), not the fastpath
// protocol. Every object is created by the login role acting as the owner role (its role setting), so it belongs
// to the owner; --no-owner/--no-privileges drop the source's owners and grants.
import { type ExtensionPlan, DEFAULT_CHUNK_ROWS, DEFAULT_LARGE_OBJECT_CHUNK_BYTES, SESSIONS_GONE_SECONDS } from "./extensions";

export interface MigrationScriptArgs {
    /** The tenant's module schemas: what is copied and verified. */
    schemas: string[];
    /** Replace a target that already holds tables in those schemas (otherwise refuse). */
    replaceTarget: boolean;
    /** The source's extensions as the stack declares them (migration.extensions): who creates each on the target. */
    extensions?: ExtensionPlan;
    /** Rows per checksum chunk (fingerprintSql). */
    chunkRows?: number;
    /** How long the copy waits for the sessions it ended to go. */
    sessionsGoneSeconds?: number;
}

const sqlLiteral = (value: string) => `'${value.replace(/'/g, "''")}'`;
const sqlList = (names: string[]) => (names.length ? names.map(sqlLiteral).join(", ") : "NULL");
const sqlArray = (names: string[]) => `ARRAY[${names.map(sqlLiteral).join(", ")}]::text[]`;
const quoted = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * One line per object definition and per table's data, identical on source and target when the copy is complete
 * (sorted, compared with diff): columns (type, default, not null, identity, generated, collation), constraints,
 * indexes, triggers, functions, views, types (enum labels, domains), partitioning, sequences (parameters, owning
 * column, last value), comments, extensions (name, version, schema), each table's rows and checksum, and the large
 * objects. Definitions are rendered by PostgreSQL itself (pg_get_*def, format_type) with an empty search_path, so
 * every name is schema-qualified; owners and grants are not compared (the copy re-owns everything).
 *
 * A table's checksum is computed in chunks: rows are bucketed by the first k hex digits of their row md5, with k
 * the smallest that makes the expected bucket at most `chunkRows` rows; each bucket is one string_agg of
 * 32-byte md5s (chunkRows x 32 bytes: 32 MB at the default, far below PostgreSQL's 1 GB limit on a text value,
 * which one string_agg over the table reaches at ~33.5 M rows), and the table's checksum is the md5 of the
 * buckets' md5s in bucket order. Buckets depend only on the rows, so both sides bucket alike. (OFFSET 0 keeps both
 * subqueries from being pulled up: flattened, the planner computed each row's md5 twice and numeric log(16, n) once
 * per row in the sort key, 5.5x slower at 2 M rows; the result is the same.)
 *
 * A large object is hashed in chunks too: lo_get(oid, offset, largeObjectChunkBytes) until a chunk comes back short,
 * and the object's hash is the md5 of its chunks' md5s in order. lo_get(oid) of the whole object, as before, fails
 * past 1 GB ("large object read request is too large": a function returns at most 1 GB), and a large object may
 * hold 4 TB.
 */
export function fingerprintSql(schemas: string[], chunkRows: number = DEFAULT_CHUNK_ROWS, largeObjectChunkBytes: number = DEFAULT_LARGE_OBJECT_CHUNK_BYTES): string {
    if (!Number.isInteger(chunkRows) || chunkRows < 1) throw new Error(`chunkRows must be a positive integer, not ${chunkRows}`);
    // lo_get's length is an int4, and what it returns one value (at most 1 GB).
    if (!Number.isInteger(largeObjectChunkBytes) || largeObjectChunkBytes < 1 || largeObjectChunkBytes > 512 * 1024 * 1024) throw new Error(`largeObjectChunkBytes must be an integer from 1 to 512 MiB, not ${largeObjectChunkBytes}`);
    const lo = largeObjectChunkBytes;
    const list = sqlList(schemas);
    const inSchemas = (nsp: string) => `${nsp} IN (${list})`;
    // Objects that belong to an extension are compared through the extension's name and version.
    const notExtensionMember = (classid: string, objid: string) => `NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e WHERE e.classid = ${classid} AND e.objid = ${objid} AND e.deptype = 'e')`;
    // One read-only transaction: one snapshot for every line, and its settings stay on one server connection
    // behind the transaction pooler (a session SET would be lost between statements there: RESET ALL, and
    // PostgreSQL 16 does not report search_path to PgBouncer).
    return `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
SET LOCAL TimeZone = 'UTC';
SET LOCAL search_path = '';
-- Data: per table (rows of that table only: a partitioned parent holds none itself), chunked checksums.
SELECT format($q$SELECT %L, c.n, coalesce(md5(string_agg(chunks.b || ':' || chunks.h, ',' ORDER BY chunks.b)), '-')
  FROM (SELECT count(*) AS n FROM ONLY %I.%I) c
  LEFT JOIN LATERAL (SELECT substr(r.m, 1, k.k) AS b, md5(string_agg(r.m, '' ORDER BY r.m)) AS h
      FROM (SELECT md5(x::text) AS m FROM ONLY %I.%I AS x OFFSET 0) r,
           (SELECT CASE WHEN c.n <= %s THEN 0 ELSE ceil(log(16, c.n::numeric / %s))::int END AS k OFFSET 0) k
     GROUP BY 1) chunks ON true
 GROUP BY c.n$q$, 'table ' || schemaname || '.' || tablename, schemaname, tablename, schemaname, tablename, ${chunkRows}, ${chunkRows})
  FROM pg_catalog.pg_tables WHERE ${inSchemas("schemaname")} ORDER BY schemaname, tablename
\\gexec
SELECT 'relation ' || c.oid::regclass::text, c.relkind, c.relpersistence, coalesce(array_to_string(c.reloptions, ','), '-'),
       coalesce(pg_catalog.pg_get_partkeydef(c.oid), '-'), coalesce(pg_catalog.pg_get_expr(c.relpartbound, c.oid), '-')
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE ${inSchemas("n.nspname")} AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c', 'S') AND ${notExtensionMember("'pg_catalog.pg_class'::regclass", "c.oid")} ORDER BY 1;
SELECT 'column ' || c.oid::regclass::text || '.' || quote_ident(a.attname), pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
       coalesce(pg_catalog.pg_get_expr(d.adbin, d.adrelid), '-'), 'identity=' || a.attidentity::text, 'generated=' || a.attgenerated::text, coalesce(co.collname, '-')
  FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 100
 WHERE ${inSchemas("n.nspname")} AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c') AND ${notExtensionMember("'pg_catalog.pg_class'::regclass", "c.oid")} ORDER BY 1;
SELECT 'constraint ' || CASE WHEN co.conrelid <> 0 THEN co.conrelid::regclass::text ELSE co.contypid::regtype::text END || ' ' || quote_ident(co.conname), co.contype, pg_catalog.pg_get_constraintdef(co.oid)
  FROM pg_catalog.pg_constraint co JOIN pg_catalog.pg_namespace n ON n.oid = co.connamespace
 WHERE ${inSchemas("n.nspname")} ORDER BY 1;
SELECT 'index ' || i.indexrelid::regclass::text, pg_catalog.pg_get_indexdef(i.indexrelid)
  FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE ${inSchemas("n.nspname")} ORDER BY 1;
SELECT 'trigger ' || t.tgrelid::regclass::text || ' ' || quote_ident(t.tgname), t.tgenabled, pg_catalog.pg_get_triggerdef(t.oid)
  FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE ${inSchemas("n.nspname")} AND NOT t.tgisinternal ORDER BY 1;
SELECT 'function ' || p.oid::regprocedure::text, p.prokind, md5(CASE WHEN p.prokind IN ('f', 'p') THEN pg_catalog.pg_get_functiondef(p.oid) ELSE pg_catalog.pg_get_function_result(p.oid) END)
  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
 WHERE ${inSchemas("n.nspname")} AND ${notExtensionMember("'pg_catalog.pg_proc'::regclass", "p.oid")} ORDER BY 1;
SELECT 'view ' || c.oid::regclass::text, md5(pg_catalog.pg_get_viewdef(c.oid))
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE ${inSchemas("n.nspname")} AND c.relkind IN ('v', 'm') ORDER BY 1;
SELECT 'type ' || t.oid::regtype::text, t.typtype, coalesce((SELECT string_agg(quote_literal(e.enumlabel), ',' ORDER BY e.enumsortorder) FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid), '-'),
       CASE WHEN t.typtype = 'd' THEN pg_catalog.format_type(t.typbasetype, t.typtypmod) || ' notnull=' || t.typnotnull || ' default=' || coalesce(t.typdefault, '-') ELSE '-' END
  FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
 WHERE ${inSchemas("n.nspname")} AND t.typtype IN ('e', 'd', 'r', 'm') AND ${notExtensionMember("'pg_catalog.pg_type'::regclass", "t.oid")} ORDER BY 1;
SELECT 'sequence ' || s.schemaname || '.' || s.sequencename, s.data_type::text, s.start_value, s.min_value, s.max_value, s.increment_by, s.cycle, s.cache_size, coalesce(s.last_value::text, 'null'),
       coalesce((SELECT pg_catalog.pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid) || ' ' || d.deptype::text FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = format('%I.%I', s.schemaname, s.sequencename)::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype IN ('a', 'i')), 'owned by none')
  FROM pg_catalog.pg_sequences s WHERE ${inSchemas("s.schemaname")} ORDER BY 1;
SELECT 'comment ' || pg_catalog.pg_describe_object(d.classoid, d.objoid, d.objsubid), md5(d.description)
  FROM pg_catalog.pg_description d, LATERAL pg_catalog.pg_identify_object(d.classoid, d.objoid, d.objsubid) o
 WHERE (${inSchemas("o.schema")} OR (d.classoid = 'pg_catalog.pg_namespace'::regclass AND d.objoid IN (SELECT oid FROM pg_catalog.pg_namespace WHERE ${inSchemas("nspname")})))
   AND ${notExtensionMember("d.classoid", "d.objoid")} ORDER BY 1;
SELECT 'extension ' || e.extname, e.extversion, n.nspname
  FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname <> 'plpgsql' ORDER BY 1;
SELECT 'largeobjects', count(*), coalesce(md5(string_agg(m.oid::text || ':' || h.h, ',' ORDER BY m.oid)), '-')
  FROM pg_catalog.pg_largeobject_metadata m,
  LATERAL (WITH RECURSIVE c(off, n, h) AS (
      SELECT 0::bigint, length(x.b), md5(x.b) FROM (SELECT pg_catalog.lo_get(m.oid, 0, ${lo}) AS b) x
      UNION ALL
      SELECT c.off + ${lo}, length(x.b), md5(x.b) FROM c, LATERAL (SELECT pg_catalog.lo_get(m.oid, c.off + ${lo}, ${lo}) AS b) x WHERE c.n = ${lo})
    SELECT md5(string_agg(c.h, '' ORDER BY c.off)) AS h FROM c) h;
COMMIT;
`;
}

/** Shell functions both scripts share: psql to the source (SOURCE_*) and to the target (the PG* of the pod). */
const PREAMBLE = `set -euo pipefail
export PGTZ=UTC
src() { PGHOST="$SOURCE_HOST" PGPORT="$SOURCE_PORT" PGDATABASE="$SOURCE_DATABASE" PGUSER="$SOURCE_USER" PGPASSWORD="$SOURCE_PASSWORD" PGSSLMODE="$SOURCE_SSLMODE" PGSSLROOTCERT="\${SOURCE_SSLROOTCERT:-}" "$@"; }
result() { printf '%s' "$1" > "\${RESULT_FILE:-/dev/termination-log}"; echo "$1"; }
fingerprints() { psql -X -q -v ON_ERROR_STOP=1 -At -F ' ' -f "\${MIGRATION_DIR:-/migration}/fingerprint.sql" | LC_ALL=C sort; }
`;

/**
 * Sessions the copy ends and waits for: client backends of roles whose privileges the source's owner has (what the
 * application holds), never a superuser's (a CNPG instance always has its instance manager's and its exporter's,
 * and PostgreSQL refuses to let a non-superuser end them).
 */
const APPLICATION_SESSIONS = `FROM pg_catalog.pg_stat_activity a JOIN pg_catalog.pg_roles r ON r.oid = a.usesysid
 WHERE a.datname = current_database() AND a.pid <> pg_catalog.pg_backend_pid() AND a.backend_type = 'client backend' AND NOT r.rolsuper AND pg_catalog.pg_has_role(a.usesysid, 'USAGE')`;

/**
 * The copy: check the extensions, stop the writers (read-only for new sessions; the application's sessions ended
 * and waited for; no write transaction of a non-superuser role left), refuse a non-empty target unless told to
 * replace it, dump and restore in one transaction, verify every definition and every table's data. On any failure,
 * a SIGTERM included (a Job's deadline, an eviction, a deleted Job), the source is made writable again. Its result
 * is one JSON line (the termination message).
 */
export function copyScript(args: MigrationScriptArgs): string {
    const list = sqlList(args.schemas);
    const extensions = args.extensions ?? {};
    const declared = Object.keys(extensions).sort();
    const byCopy = declared.filter((name) => extensions[name] === "copy");
    const byPlatform = declared.filter((name) => extensions[name] === "platform");
    const sessionsGone = args.sessionsGoneSeconds ?? SESSIONS_GONE_SECONDS;
    // Large objects are not in a schema: a replaced target's are unlinked too (the dump re-creates them by OID).
    const drops = [...args.schemas.map((s) => `DROP SCHEMA IF EXISTS ${quoted(s)} CASCADE;`), "SELECT count(pg_catalog.lo_unlink(oid)) FROM pg_catalog.pg_largeobject_metadata;"].join(" ");
    const schemaFlags = args.schemas.map((s) => `--schema=${quoted(s)}`).join(" ");
    const q = (sql: string) => sql.replace(/"/g, '\\"');
    return `${PREAMBLE}start=$(date +%s)
readonly_set=false
readonly_since=
restore_pid=
# A session keeps the read-only default it logged in with: the application's sessions opened since the change
# (its reconnecting writers) are ended too, so that they reconnect writable. Sessions of roles the owner cannot end
# are counted (the owner does not see when they started).
writable_again() {
  if src psql -X -q -v ON_ERROR_STOP=1 -c "SET default_transaction_read_only = off" -c "ALTER DATABASE \\"$SOURCE_DATABASE\\" RESET default_transaction_read_only"; then
    reopened=$(src psql -X -q -v ON_ERROR_STOP=1 -At -F ' ' -c "${q(`WITH s AS MATERIALIZED (SELECT a.pid ${APPLICATION_SESSIONS} AND a.backend_start >= `)}'\${readonly_since:--infinity}'::timestamptz) SELECT (SELECT count(*) FROM s WHERE pg_catalog.pg_terminate_backend(pid)), ${q(`(SELECT count(*) FROM pg_catalog.pg_stat_activity a JOIN pg_catalog.pg_roles r ON r.oid = a.usesysid WHERE a.datname = current_database() AND coalesce(a.backend_type, 'client backend') = 'client backend' AND NOT r.rolsuper AND NOT pg_catalog.pg_has_role(a.usesysid, 'USAGE'))`)}") || reopened="unknown unknown"
    echo "copy failed: the source database $SOURCE_DATABASE is writable again (\${reopened% *} application sessions opened while it was read-only were ended, to reconnect writable; \${reopened#* } sessions of roles the owner cannot end may stay read-only until they reconnect); the target was left as the failed transaction found it" >&2
  else
    echo "copy failed, and the source database $SOURCE_DATABASE could not be made writable again: run SET default_transaction_read_only = off; ALTER DATABASE \\"$SOURCE_DATABASE\\" RESET default_transaction_read_only; on it (or set migration.phase to rollback)" >&2
  fi
}
# Every exit but success makes the source writable again. A signal is turned into a failing exit: bash runs its
# EXIT trap with the status of the last command, which is 0 when a kill arrives between commands. The restore runs
# in the background and is waited for, so a SIGTERM is handled at once (bash defers traps while a foreground
# command runs, and Kubernetes' grace period would end with SIGKILL), and its psql is ended: the target's
# transaction rolls back.
on_exit() {
  status=$?
  trap - EXIT TERM INT HUP
  # The restore's last element is psql ($restore_pid: ending it rolls the target back), jobs -p names its first (pg_dump).
  if [ -n "$restore_pid" ]; then kill "$restore_pid" $(jobs -p) 2>/dev/null || true; fi
  if [ "$status" -ne 0 ] && [ "$readonly_set" = true ]; then writable_again; fi
  exit "$status"
}
trap on_exit EXIT
trap 'echo "copy stopped by SIGTERM" >&2; exit 143' TERM
trap 'echo "copy stopped by SIGINT" >&2; exit 130' INT
trap 'echo "copy stopped by SIGHUP" >&2; exit 129' HUP

# 0. Extensions, before anything changes: the source's must be the ones migration.extensions declares; those the
# copy creates must be trusted on the target (the owner may create them), the platform's already there.
source_extensions=$(src psql -X -v ON_ERROR_STOP=1 -At -c "SELECT coalesce(string_agg(e.extname || ':' || n.nspname, ' ' ORDER BY e.extname), '') FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname <> 'plpgsql'")
undeclared=""; extension_flags=""
for entry in $source_extensions; do
  name="\${entry%%:*}"; schema="\${entry#*:}"
  case " ${declared.join(" ")} " in *" $name "*) ;; *) undeclared="$undeclared $name (in schema $schema)";; esac
  case " ${[...args.schemas, "public"].join(" ")} " in *" $schema "*) ;; *) echo "copy refused: extension $name lives in schema $schema on the source, which the copy does not carry (only the module schemas and public): move it (ALTER EXTENSION $name SET SCHEMA public) on the source first" >&2; exit 1;; esac
  case " ${byCopy.join(" ")} " in *" $name "*) extension_flags="$extension_flags --extension=$name";; esac
done
if [ -n "$undeclared" ]; then echo "copy refused: the source database has extensions that synergyflow-db:migration.extensions does not declare:$undeclared; declare each (\\"copy\\" if trusted, else \\"platform\\" once the platform team created it on the shared cluster); the preview then checks them" >&2; exit 1; fi
target_problems=$(psql -X -v ON_ERROR_STOP=1 -At -c "${q(`SELECT coalesce(string_agg(problem, '; '), '') FROM (
  SELECT format('%s (declared %scopy%s) is %s', w.name, chr(34), chr(34), CASE WHEN x.name IS NULL THEN 'not available on the shared cluster' ELSE 'not trusted there: the owner cannot create it' END) AS problem
    FROM unnest(${sqlArray(byCopy)}) w(name) LEFT JOIN pg_catalog.pg_available_extensions x ON x.name = w.name
    LEFT JOIN pg_catalog.pg_available_extension_versions v ON v.name = w.name AND v.version = x.default_version AND v.trusted
   WHERE v.name IS NULL AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension e WHERE e.extname = w.name)
  UNION ALL
  SELECT format('%s (declared %splatform%s) is not installed in the tenant database', w.name, chr(34), chr(34))
    FROM unnest(${sqlArray(byPlatform)}) w(name) WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension e WHERE e.extname = w.name)) p`)}")
if [ -n "$target_problems" ]; then echo "copy refused: $target_problems; have the platform team create it in the tenant database (CNPG Database spec.extensions), then declare it \\"platform\\" in synergyflow-db:migration.extensions" >&2; exit 1; fi
# An extension the target already has (a replaced target's, or the platform's) is not created again.
for name in $(psql -X -v ON_ERROR_STOP=1 -At -c "SELECT e.extname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE n.nspname NOT IN (${list})"); do
  extension_flags="\${extension_flags/ --extension=$name / }"; extension_flags="\${extension_flags% --extension=$name}"
done
# What the module schemas use outside them and outside their extensions is not copied: refuse naming it.
outside=$(src psql -X -v ON_ERROR_STOP=1 -At -c "${q(`SELECT coalesce(string_agg(DISTINCT pg_catalog.pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid), '; '), '')
  FROM pg_catalog.pg_depend d, LATERAL pg_catalog.pg_identify_object(d.classid, d.objid, d.objsubid) o, LATERAL pg_catalog.pg_identify_object(d.refclassid, d.refobjid, 0) r
 WHERE d.deptype IN ('n', 'a') AND o.schema IN (${list}) AND r.schema IS NOT NULL AND r.schema NOT IN (${list}) AND r.schema NOT IN ('pg_catalog', 'information_schema')
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e WHERE e.classid = d.refclassid AND e.objid = d.refobjid AND e.deptype = 'e')
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend i JOIN pg_catalog.pg_depend e ON e.classid = i.refclassid AND e.objid = i.refobjid AND e.deptype = 'e' WHERE i.classid = d.refclassid AND i.objid = d.refobjid AND i.deptype = 'i')`)}")
if [ -n "$outside" ]; then echo "copy refused: the module schemas use objects outside them that the copy does not carry: $outside; move them into a module schema on the source" >&2; exit 1; fi

# 1. The writers: read-only for every new session, then end the application's sessions, wait for them to go
# (termination is asynchronous), and prove no write transaction of a non-superuser role is open.
# (A re-run finds the source read-only already: the session turns that off for itself.)
# Set first: a SIGTERM during the change is handled once it committed (bash defers the trap), and the reset is
# harmless if it did not. The time is taken before the change, less authentication_timeout: a session reads the
# database's settings when its authentication ends, but its backend_start is when it connected. (One that connected
# earlier and is ended on a failure only reconnects.)
readonly_set=true
readonly_since=$(src psql -X -q -v ON_ERROR_STOP=1 -At -c "SELECT pg_catalog.now() - pg_catalog.current_setting('authentication_timeout')::interval" -c "SET default_transaction_read_only = off" -c "ALTER DATABASE \\"$SOURCE_DATABASE\\" SET default_transaction_read_only = on")
# (Materialized first: in one WHERE the planner may call pg_terminate_backend before the filter, on this session too.)
ended=$(src psql -X -v ON_ERROR_STOP=1 -At -c "${q(`WITH s AS MATERIALIZED (SELECT a.pid ${APPLICATION_SESSIONS}) SELECT coalesce(string_agg(pid::text, ','), '') FROM s WHERE pg_catalog.pg_terminate_backend(pid)`)}")
deadline=$(( $(date +%s) + ${sessionsGone} ))
while [ -n "$ended" ]; do
  left=$(src psql -X -v ON_ERROR_STOP=1 -At -c "SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE pid IN ($ended)")
  [ "$left" = 0 ] && break
  if [ "$(date +%s)" -ge "$deadline" ]; then echo "copy refused: $left of the sessions it ended are still there after ${sessionsGone} s (pids $ended)" >&2; exit 1; fi
  sleep 0.2
done
writers=$(src psql -X -v ON_ERROR_STOP=1 -At -c "${q(`SELECT coalesce(string_agg(format('%s (pid %s, %s, since %s)', a.usename, a.pid, coalesce(nullif(a.application_name, ''), 'no application_name'), a.xact_start), '; '), '')
  FROM pg_catalog.pg_stat_activity a JOIN pg_catalog.pg_roles r ON r.oid = a.usesysid WHERE a.datname = current_database() AND a.pid <> pg_catalog.pg_backend_pid() AND a.backend_xid IS NOT NULL AND NOT r.rolsuper`)}")
if [ -n "$writers" ]; then echo "copy refused: write transactions of non-superuser roles the owner cannot end are still open on the source: $writers" >&2; exit 1; fi
# (Another role's session shows no backend_type, state or xid to the owner: it is listed, never ended.)
sessions_left=$(src psql -X -v ON_ERROR_STOP=1 -At -c "${q(`SELECT coalesce(json_agg(json_build_object('user', a.usename, 'superuser', r.rolsuper, 'application', a.application_name, 'state', a.state) ORDER BY a.usename, a.application_name), '[]')
  FROM pg_catalog.pg_stat_activity a JOIN pg_catalog.pg_roles r ON r.oid = a.usesysid WHERE a.datname = current_database() AND a.pid <> pg_catalog.pg_backend_pid() AND coalesce(a.backend_type, 'client backend') = 'client backend'`)}")

# 2. The target: empty, unless migration.replaceTarget says to replace it.
existing=$(psql -X -v ON_ERROR_STOP=1 -At -F ' ' -c "SELECT (SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname IN (${list})), (SELECT count(*) FROM pg_catalog.pg_largeobject_metadata)")
if [ "$existing" != "0 0" ] && [ "$REPLACE_TARGET" != true ]; then
  echo "copy refused: the target database holds \${existing% *} tables in the module schemas and \${existing#* } large objects; set synergyflow-db:migration.replaceTarget true to replace them" >&2
  exit 1
fi

# 3. Dump and restore in one transaction (the module schemas and their extensions re-created by the login role,
# as the owner). The transaction opens only when pg_restore's first line arrives, i.e. once pg_dump has read the
# whole catalog and sent its table of contents: a long pre-data phase then never holds the target's transaction
# idle (PgBouncer's idle_transaction_timeout), and from there statements and COPY data stream. pg_restore's own
# BEGIN inside it is only a warning (silenced), its COMMIT ends it.
src pg_dump --format=custom --compress=0 --no-owner --no-privileges --blobs ${schemaFlags}$extension_flags \\
  | pg_restore --single-transaction --no-owner --no-privileges -f - \\
  | { IFS= read -r first || exit 1; printf 'BEGIN;\\nSET LOCAL client_min_messages = error;\\n%s\\n%s\\n' '${drops}' "$first"; cat; } \\
  | psql -X -q -v ON_ERROR_STOP=1 -f - > /dev/null &
restore_pid=$!
wait "$restore_pid"
restore_pid=

# 4. Verify: every definition, every table's rows and checksum, every sequence, the large objects.
src fingerprints > /tmp/source.txt
fingerprints > /tmp/target.txt
tables=$(grep -c '^table ' /tmp/source.txt || true)
rows=$(awk '/^table /{n+=$3} END{print n+0}' /tmp/source.txt)
definitions=$(grep -vc -e '^table ' -e '^largeobjects ' /tmp/source.txt || true)
bytes=$(psql -X -v ON_ERROR_STOP=1 -At -c "SELECT coalesce(sum(pg_total_relation_size(format('%I.%I', schemaname, tablename))), 0) FROM pg_catalog.pg_tables WHERE schemaname IN (${list})")
if ! diff /tmp/source.txt /tmp/target.txt > /tmp/differences.txt; then
  result "{\\"checksumsEqual\\":false,\\"definitionsEqual\\":false,\\"tables\\":$tables,\\"rows\\":$rows,\\"differences\\":$(head -c 600 /tmp/differences.txt | awk 'BEGIN{printf "\\""} {gsub(/["\\\\]/, ""); printf "%s; ", $0} END{printf "\\""}')}"
  echo "copy verification failed: source and target differ (above)" >&2
  exit 1
fi
result "{\\"checksumsEqual\\":true,\\"definitionsEqual\\":true,\\"tables\\":$tables,\\"rows\\":$rows,\\"definitions\\":$definitions,\\"bytes\\":$bytes,\\"seconds\\":$(( $(date +%s) - start )),\\"sessionsLeft\\":$sessions_left}"
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

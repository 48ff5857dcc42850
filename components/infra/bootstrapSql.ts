// The SQL the bootstrap Job runs, rendered by a pure function. Idempotent: the Job re-runs whenever this text
// changes, and running it twice changes nothing. In `operator` pooler auth it runs as the tenant role, which
// owns its database and needs no superuser; in `vault` auth it runs as the cluster's superuser (DESIGN §5).
import type { StackConfig } from "../config";

/** The login role CNPG creates for a Pooler with operator-managed authentication. */
export const CNPG_POOLER_ROLE = "cnpg_pooler_pgbouncer";

export interface BootstrapSqlArgs {
    databaseName: string;
    tenantRole: string;
    /** Schemas the role's search_path lists (then public), set on the role so no session SET is needed. */
    schemas: string[];
    /** vault auth mode: the dedicated role PgBouncer's auth_user logs in as, and where its function lives. */
    poolerAuth?: { authRole: string; functionSchema: string };
}

export function bootstrapSqlArgs(config: StackConfig): BootstrapSqlArgs {
    const { tenant, pooler } = config;
    return {
        databaseName: tenant.databaseName,
        tenantRole: tenant.roleName,
        schemas: tenant.schemas,
        poolerAuth: pooler.authMode === "vault" ? { authRole: pooler.authRoleName, functionSchema: pooler.authFunctionSchema } : undefined,
    };
}

/** A quoted SQL identifier / string literal. */
export const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;
export const literal = (value: string) => `'${value.replace(/'/g, "''")}'`;

/** The auth_query PgBouncer runs (as the auth role) to fetch a connecting user's password hash. */
export function authQuery(functionSchema: string): string {
    return `SELECT usename, passwd FROM ${ident(functionSchema)}.user_search($1)`;
}

/**
 * A SECURITY DEFINER lookup that returns a hash only for this tenant's login roles, never any other role's:
 * the first design's user_search($1) handed every tenant's hash to whoever could call it.
 */
function lookupFunction(args: Required<BootstrapSqlArgs>["poolerAuth"], tenantRole: string): string {
    const schema = ident(args.functionSchema);
    const fn = `${schema}.user_search(text)`;
    return `CREATE SCHEMA IF NOT EXISTS ${schema};
REVOKE ALL ON SCHEMA ${schema} FROM PUBLIC;
GRANT USAGE ON SCHEMA ${schema} TO ${ident(args.authRole)};
CREATE OR REPLACE FUNCTION ${schema}.user_search(uname text)
  RETURNS TABLE (usename name, passwd text)
  LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $fn$
  SELECT a.rolname, a.rolpassword
    FROM pg_catalog.pg_authid AS a
   WHERE a.rolname = uname
     AND a.rolname = ANY (ARRAY[${literal(tenantRole)}]::name[])
     AND a.rolcanlogin
     AND NOT a.rolsuper
$fn$;
REVOKE ALL ON FUNCTION ${fn} FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ${fn} TO ${ident(args.authRole)};
`;
}

/**
 * The role's own settings, in its database: behind transaction pooling a session-level SET is lost or leaks to
 * another client (PostgreSQL 16 does not report search_path to PgBouncer), a role setting applies to every
 * server connection PgBouncer opens for it. A role may set its own defaults, so no superuser is needed.
 */
function roleSettings(args: BootstrapSqlArgs): string {
    const searchPath = [...args.schemas, "public"].map(ident).join(", ");
    return `ALTER ROLE ${ident(args.tenantRole)} IN DATABASE ${ident(args.databaseName)} SET search_path = ${searchPath};`;
}

/** The whole script, for psql (it uses \connect to reach the two databases in vault auth mode). */
export function renderBootstrapSql(args: BootstrapSqlArgs): string {
    const db = ident(args.databaseName);
    const role = ident(args.tenantRole);
    const tenantDatabase = [
        // The Database CR has no grants: without this every role on the shared cluster may connect.
        `REVOKE CONNECT, TEMPORARY ON DATABASE ${db} FROM PUBLIC;`,
        `GRANT CONNECT, TEMPORARY ON DATABASE ${db} TO ${role};`,
        `REVOKE CREATE ON SCHEMA public FROM PUBLIC;`,
        roleSettings(args),
    ];
    if (!args.poolerAuth) {
        return [
            "\\set ON_ERROR_STOP on",
            "-- synergyflow-db bootstrap: idempotent, run as the tenant role (the owner of its database)",
            ...tenantDatabase,
            // CNPG 1.27 grants CONNECT to its pooler role only on the database it processed first; with CONNECT
            // revoked from PUBLIC the pooler could log nobody in. Fails (and the Job retries) until CNPG has
            // created the role for our Pooler.
            `GRANT CONNECT ON DATABASE ${db} TO ${ident(CNPG_POOLER_ROLE)};`,
        ].join("\n") + "\n";
    }
    // CNPG >= 1.28 runs auth_query in the postgres database (auth_dbname = postgres); older versions in the
    // target database. The function exists in both, so a CNPG upgrade does not break logins.
    return [
        "\\set ON_ERROR_STOP on",
        "-- synergyflow-db bootstrap: idempotent, run as the cluster superuser",
        "\\connect postgres",
        `GRANT CONNECT ON DATABASE postgres TO ${ident(args.poolerAuth.authRole)};`,
        lookupFunction(args.poolerAuth, args.tenantRole),
        `\\connect ${args.databaseName}`,
        ...tenantDatabase,
        `GRANT CONNECT ON DATABASE ${db} TO ${ident(args.poolerAuth.authRole)};`,
        lookupFunction(args.poolerAuth, args.tenantRole),
    ].join("\n") + "\n";
}

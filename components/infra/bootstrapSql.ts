// The SQL the bootstrap Job runs as the cluster's superuser, rendered by a pure function. Idempotent: the Job
// re-runs whenever this text changes, and running it twice changes nothing.

export interface BootstrapSqlArgs {
    databaseName: string;
    tenantRole: string;
    /** vault auth mode: the dedicated role PgBouncer's auth_user logs in as, and where its function lives. */
    poolerAuth?: { authRole: string; functionSchema: string };
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

/** The whole script, for psql (it uses \connect to reach the two databases). */
export function renderBootstrapSql(args: BootstrapSqlArgs): string {
    const db = ident(args.databaseName);
    const role = ident(args.tenantRole);
    const parts: string[] = ["\\set ON_ERROR_STOP on", "-- synergyflow-db bootstrap: idempotent, run as the cluster superuser"];
    if (args.poolerAuth) {
        // CNPG >= 1.28 runs auth_query in the postgres database (auth_dbname = postgres); older versions in the
        // target database. The function exists in both, so a CNPG upgrade does not break logins.
        parts.push(
            "\\connect postgres",
            `GRANT CONNECT ON DATABASE postgres TO ${ident(args.poolerAuth.authRole)};`,
            lookupFunction(args.poolerAuth, args.tenantRole),
        );
    }
    parts.push(
        `\\connect ${args.databaseName}`,
        // The Database CR has no grants: without this every role on the shared cluster may connect.
        `REVOKE CONNECT, TEMPORARY ON DATABASE ${db} FROM PUBLIC;`,
        `GRANT CONNECT, TEMPORARY ON DATABASE ${db} TO ${role};`,
        `REVOKE CREATE ON SCHEMA public FROM PUBLIC;`,
    );
    if (args.poolerAuth) {
        parts.push(`GRANT CONNECT ON DATABASE ${db} TO ${ident(args.poolerAuth.authRole)};`, lookupFunction(args.poolerAuth, args.tenantRole));
    }
    return parts.join("\n") + "\n";
}

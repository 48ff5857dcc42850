// The SQL the bootstrap Job runs, rendered by a pure function. Idempotent: the Job re-runs whenever this text
// changes, and running it twice changes nothing. In `operator` pooler auth it runs as a login role acting as the
// owner of its database and needs no superuser; in `vault` auth it runs as the cluster's superuser (DESIGN §5).
import type { StackConfig } from "./config";
import { CREDENTIAL_SLOTS, loginCredentials } from "./rotation";

/** The login role CNPG creates for a Pooler with operator-managed authentication. */
export const CNPG_POOLER_ROLE = "cnpg_pooler_pgbouncer";

export interface BootstrapSqlArgs {
    databaseName: string;
    /** The NOLOGIN role that owns the database and the schemas. */
    ownerRole: string;
    /** The login roles that take turns (members of the owner role). */
    loginRoles: string[];
    /** Schemas the login roles' search_path lists (then public), set on the roles so no session SET is needed. */
    schemas: string[];
    /** vault auth mode: the dedicated role PgBouncer's auth_user logs in as, and where its function lives. */
    poolerAuth?: { authRole: string; functionSchema: string };
}

export function bootstrapSqlArgs(config: StackConfig): BootstrapSqlArgs {
    const { tenant, pooler } = config;
    const logins = loginCredentials(tenant);
    return {
        databaseName: tenant.databaseName,
        ownerRole: tenant.roleName,
        loginRoles: CREDENTIAL_SLOTS.map((slot) => logins[slot].roleName),
        schemas: tenant.schemas,
        poolerAuth: pooler.authMode === "vault" ? { authRole: pooler.authRoleName, functionSchema: pooler.authFunctionSchema } : undefined,
    };
}

/** A quoted SQL identifier / string literal. */
export const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;
export const literal = (value: string) => `'${value.replace(/'/g, "''")}'`;

/** The login roles' search_path: the module schemas, then public. */
export const loginSearchPath = (schemas: string[]) => [...schemas, "public"];

/** A search_path as PostgreSQL reports it (current_setting): its list, identifiers quoted only where needed. */
export const reportedSearchPath = (schemas: string[]) => loginSearchPath(schemas).map((name) => (/^[a-z_][a-z0-9_$]*$/.test(name) ? name : ident(name))).join(", ");

/** The auth_query PgBouncer runs (as the auth role) to fetch a connecting user's password hash. */
export function authQuery(functionSchema: string): string {
    return `SELECT usename, passwd FROM ${ident(functionSchema)}.user_search($1)`;
}

/**
 * A SECURITY DEFINER lookup that returns a hash only for this tenant's login roles, never any other role's:
 * the first design's user_search($1) handed every tenant's hash to whoever could call it.
 */
function lookupFunction(auth: Required<BootstrapSqlArgs>["poolerAuth"], loginRoles: string[]): string {
    const schema = ident(auth.functionSchema);
    const fn = `${schema}.user_search(text)`;
    return `CREATE SCHEMA IF NOT EXISTS ${schema};
REVOKE ALL ON SCHEMA ${schema} FROM PUBLIC;
GRANT USAGE ON SCHEMA ${schema} TO ${ident(auth.authRole)};
CREATE OR REPLACE FUNCTION ${schema}.user_search(uname text)
  RETURNS TABLE (usename name, passwd text)
  LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $fn$
  SELECT a.rolname, a.rolpassword
    FROM pg_catalog.pg_authid AS a
   WHERE a.rolname = uname
     AND a.rolname = ANY (ARRAY[${loginRoles.map(literal).join(", ")}]::name[])
     AND a.rolcanlogin
     AND NOT a.rolsuper
$fn$;
REVOKE ALL ON FUNCTION ${fn} FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ${fn} TO ${ident(auth.authRole)};
`;
}

/**
 * A login role's own settings in the tenant database. `role`: every session acts as the owner role, so what
 * Flyway creates belongs to the owner and either login role can be dropped or rotated away. `search_path`:
 * behind transaction pooling a session-level SET is lost or leaks to another client (PostgreSQL 16 does not
 * report search_path to PgBouncer); a role setting applies to every server connection PgBouncer opens. RESET
 * ALL (server_reset_query) returns to these values.
 */
function loginRoleSettings(args: BootstrapSqlArgs, role: string): string[] {
    const searchPath = loginSearchPath(args.schemas).map(ident).join(", ");
    return [`ALTER ROLE ${role} IN DATABASE ${ident(args.databaseName)} SET role = ${literal(args.ownerRole)};`, `ALTER ROLE ${role} IN DATABASE ${ident(args.databaseName)} SET search_path = ${searchPath};`];
}

/** The bootstrap's SQL files for psql: `main`, and in operator auth `perLoginRole`, which each login role runs itself. */
export interface BootstrapScripts {
    main: string;
    perLoginRole?: string;
}

/** All of the bootstrap's SQL in one text: what names the Job (a new text is a new Job). */
export const bootstrapSqlText = (scripts: BootstrapScripts) => [scripts.main, scripts.perLoginRole ?? ""].join("\n");

export function renderBootstrapSql(args: BootstrapSqlArgs): BootstrapScripts {
    const db = ident(args.databaseName);
    const tenantDatabase = [
        // The Database CR has no grants: without this every role on the shared cluster may connect. The login
        // roles connect through their membership of the owner.
        `REVOKE CONNECT, TEMPORARY ON DATABASE ${db} FROM PUBLIC;`,
        `GRANT CONNECT, TEMPORARY ON DATABASE ${db} TO ${ident(args.ownerRole)};`,
        `REVOKE CREATE ON SCHEMA public FROM PUBLIC;`,
    ];
    if (!args.poolerAuth) {
        return {
            main: [
                "\\set ON_ERROR_STOP on",
                "-- synergyflow-db bootstrap: idempotent, run as a login role acting as the owner of the database",
                ...tenantDatabase,
                // CNPG 1.27 grants CONNECT to its pooler role only on the database it processed first; with CONNECT
                // revoked from PUBLIC the pooler could log nobody in. Fails (and the Job retries) until CNPG has
                // created the role for our Pooler.
                `GRANT CONNECT ON DATABASE ${db} TO ${ident(CNPG_POOLER_ROLE)};`,
            ].join("\n") + "\n",
            // A role may set its own defaults without a superuser: each login role runs this for itself.
            perLoginRole: [
                "\\set ON_ERROR_STOP on",
                "-- synergyflow-db bootstrap: run by each login role for itself (SET ROLE NONE: act as the login role, not the owner)",
                "SET ROLE NONE;",
                ...loginRoleSettings(args, "SESSION_USER"),
            ].join("\n") + "\n",
        };
    }
    // CNPG >= 1.28 runs auth_query in the postgres database (auth_dbname = postgres); older versions in the
    // target database. The function exists in both, so a CNPG upgrade does not break logins.
    return {
        main: [
            "\\set ON_ERROR_STOP on",
            "-- synergyflow-db bootstrap: idempotent, run as the cluster superuser",
            "\\connect postgres",
            `GRANT CONNECT ON DATABASE postgres TO ${ident(args.poolerAuth.authRole)};`,
            lookupFunction(args.poolerAuth, args.loginRoles),
            `\\connect ${args.databaseName}`,
            ...tenantDatabase,
            ...args.loginRoles.flatMap((role) => loginRoleSettings(args, ident(role))),
            `GRANT CONNECT ON DATABASE ${db} TO ${ident(args.poolerAuth.authRole)};`,
            lookupFunction(args.poolerAuth, args.loginRoles),
        ].join("\n") + "\n",
    };
}

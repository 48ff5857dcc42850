// How CNPG turns a Pooler spec into PgBouncer's configuration, reproduced for the integration tier so the
// real PgBouncer runs with exactly the parameters, auth settings and pg_hba the program emits. Pure.
//
// Reproduced from CNPG (pkg/management/pgbouncer/config): `[databases] * = host=<cluster>-<type>` (here the
// loopback PostgreSQL), pool_mode from spec, auth_user (the auth Secret's username, or cnpg_pooler_pgbouncer in
// operator auth), auth_query (the spec's, or CNPG's default on public.user_search), auth_dbname = postgres from
// CNPG 1.28 on (1.27 sets none: the query runs in the client's database), CNPG's defaults (auth_type = hba, log_stats = 0, client_tls_sslmode = prefer,
// ignore_startup_parameters = extra_float_digits,options appended to the user's), the user's parameters,
// the forced listen/admin/hba settings, the userlist with the auth user's password, and the HBA file:
// `local pgbouncer pgbouncer peer`, the spec's pg_hba rules, then `host all all 0.0.0.0/0 md5` and `::/0`.
// Not reproduced: server TLS (CNPG verifies the cluster's CA; the local PostgreSQL runs without TLS) and the
// TLS client-certificate login of cnpg_pooler_pgbouncer in operator auth (here it logs in with a password from
// the userlist; what it may then read is the same).

export interface PoolerSpecForConfig {
    pgbouncer: { poolMode: string; parameters: Record<string, string>; pg_hba: string[]; authQuery?: string };
}

export interface PgBouncerRuntime {
    listenHost: string;
    listenPort: number;
    postgresHost: string;
    postgresPort: number;
    authUser: string;
    authPassword: string;
    /** CNPG >= 1.28 writes auth_dbname = postgres; 1.27 writes none. */
    authDbname?: string;
    dir: string;
    tlsCertFile: string;
    tlsKeyFile: string;
    /** TLS to PostgreSQL verified with this CA (CNPG: server_tls_sslmode verify-ca with the cluster's CA). */
    serverTlsCaFile?: string;
}

const CNPG_DEFAULTS: Record<string, string> = { log_stats: "0", auth_type: "hba", client_tls_sslmode: "prefer" };
/** DefaultPgBouncerPoolerAuthQuery in CNPG's api/v1: the lookup CNPG creates in operator auth. */
export const CNPG_DEFAULT_AUTH_QUERY = "SELECT usename, passwd FROM public.user_search($1)";

export function pgbouncerFiles(spec: PoolerSpecForConfig, runtime: PgBouncerRuntime): { ini: string; hba: string; userlist: string } {
    const user = spec.pgbouncer.parameters;
    const ignore = ["extra_float_digits", "options", ...(user["ignore_startup_parameters"] ?? "").split(",").filter(Boolean)];
    const parameters: Record<string, string> = {
        ...CNPG_DEFAULTS,
        ...user,
        ignore_startup_parameters: [...new Set(ignore)].join(","),
        listen_addr: runtime.listenHost,
        listen_port: String(runtime.listenPort),
        unix_socket_dir: runtime.dir,
        admin_users: "pgbouncer",
        auth_hba_file: `${runtime.dir}/pg_hba.conf`,
        auth_file: `${runtime.dir}/userlist.txt`,
        client_tls_cert_file: runtime.tlsCertFile,
        client_tls_key_file: runtime.tlsKeyFile,
        ...(runtime.serverTlsCaFile ? { server_tls_sslmode: "verify-ca", server_tls_ca_file: runtime.serverTlsCaFile } : {}),
        logfile: `${runtime.dir}/pgbouncer.log`,
        pidfile: `${runtime.dir}/pgbouncer.pid`,
    };
    const ini = [
        "[databases]",
        `* = host=${runtime.postgresHost} port=${runtime.postgresPort}`,
        "",
        "[pgbouncer]",
        `pool_mode = ${spec.pgbouncer.poolMode}`,
        `auth_user = ${runtime.authUser}`,
        `auth_query = ${spec.pgbouncer.authQuery ?? CNPG_DEFAULT_AUTH_QUERY}`,
        ...(runtime.authDbname ? [`auth_dbname = ${runtime.authDbname}`] : []),
        ...Object.keys(parameters)
            .sort()
            .map((k) => `${k} = ${parameters[k]}`),
        "",
    ].join("\n");
    const hba = ["local pgbouncer pgbouncer peer", ...spec.pgbouncer.pg_hba, "host all all 0.0.0.0/0 md5", "host all all ::/0 md5", ""].join("\n");
    const userlist = `"${runtime.authUser}" "${runtime.authPassword.replace(/"/g, '""')}"\n`;
    return { ini, hba, userlist };
}

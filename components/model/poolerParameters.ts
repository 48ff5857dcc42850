// PgBouncer parameters for the CNPG Pooler: CNPG's rules (its pooler webhook, per operator version) and
// rendering to strings.

/**
 * The names CNPG's pooler webhook accepts in spec.pgbouncer.parameters
 * (AllowedPgbouncerGenericConfigurationParameters in internal/webhook/v1/pooler_webhook.go): 54 in every
 * supported version, plus three TLS cipher names that v1.27.4, v1.29.0 and v1.30.0 accept and v1.28.0 does not.
 */
const ALLOWED_IN_EVERY_VERSION = [
    "application_name_add_host", "auth_type", "autodb_idle_timeout", "cancel_wait_timeout", "client_idle_timeout",
    "client_login_timeout", "client_tls_sslmode", "default_pool_size", "disable_pqexec", "dns_max_ttl",
    "dns_nxdomain_ttl", "idle_transaction_timeout", "ignore_startup_parameters", "listen_backlog", "log_connections",
    "log_disconnections", "log_pooler_errors", "log_stats", "max_client_conn", "max_db_connections", "max_packet_size",
    "max_prepared_statements", "max_user_connections", "min_pool_size", "pkt_buf", "query_timeout",
    "query_wait_timeout", "reserve_pool_size", "reserve_pool_timeout", "sbuf_loopcnt", "server_check_delay",
    "server_check_query", "server_connect_timeout", "server_fast_close", "server_idle_timeout", "server_lifetime",
    "server_login_retry", "server_reset_query", "server_reset_query_always", "server_round_robin", "server_tls_ciphers",
    "server_tls_protocols", "server_tls_sslmode", "stats_period", "suspend_timeout", "tcp_defer_accept",
    "tcp_socket_buffer", "tcp_keepalive", "tcp_keepcnt", "tcp_keepidle", "tcp_keepintvl", "tcp_user_timeout",
    "track_extra_parameters", "verbose",
];
const TLS_CIPHER_PARAMETERS = ["client_tls_ciphers", "client_tls13_ciphers", "server_tls13_ciphers"];

/** The CNPG operator minors this program supports, and the release whose webhook source each list was read from. */
export const CNPG_OPERATOR_VERSIONS = {
    "1.27": { source: "v1.27.4", allowed: new Set([...ALLOWED_IN_EVERY_VERSION, ...TLS_CIPHER_PARAMETERS]) },
    "1.28": { source: "v1.28.0", allowed: new Set(ALLOWED_IN_EVERY_VERSION) },
    "1.29": { source: "v1.29.0", allowed: new Set([...ALLOWED_IN_EVERY_VERSION, ...TLS_CIPHER_PARAMETERS]) },
    "1.30": { source: "v1.30.0", allowed: new Set([...ALLOWED_IN_EVERY_VERSION, ...TLS_CIPHER_PARAMETERS]) },
} as const satisfies Record<string, { source: string; allowed: ReadonlySet<string> }>;
export type CnpgOperatorVersion = keyof typeof CNPG_OPERATOR_VERSIONS;
export const SUPPORTED_OPERATOR_VERSIONS = Object.keys(CNPG_OPERATOR_VERSIONS) as CnpgOperatorVersion[];

/**
 * Parameters CNPG writes itself: its forced list (forcedPgBouncerParameters in
 * pkg/management/pgbouncer/config/config.go, the same in every supported version) and the lines of its
 * pgbouncer.ini template (pool mode, auth). Never ours to set.
 */
export const CNPG_MANAGED_PARAMETERS: ReadonlySet<string> = new Set([
    "unix_socket_dir", "listen_port", "listen_addr", "admin_users", "auth_hba_file", "server_tls_ca_file",
    "client_tls_cert_file", "client_tls_key_file", "client_tls_ca_file",
    "pool_mode", "auth_user", "auth_query", "auth_dbname", "auth_file",
]);

/** Parameters whose value must be a non-negative integer (counts and seconds). */
const INTEGER_PARAMETERS = new Set([
    "max_client_conn", "default_pool_size", "min_pool_size", "reserve_pool_size", "reserve_pool_timeout",
    "max_db_connections", "max_user_connections", "server_idle_timeout", "server_lifetime", "server_connect_timeout",
    "query_timeout", "query_wait_timeout", "client_idle_timeout", "client_login_timeout", "idle_transaction_timeout",
    "max_prepared_statements", "stats_period", "tcp_keepidle", "tcp_keepintvl", "tcp_keepcnt", "autodb_idle_timeout",
]);
const BOOLEAN_PARAMETERS = new Set([
    "log_connections", "log_disconnections", "log_pooler_errors", "log_stats", "tcp_keepalive", "server_round_robin",
    "server_fast_close", "application_name_add_host", "disable_pqexec", "server_reset_query_always",
]);

export type PoolerParameterValue = number | string | boolean;
export type PoolerParameters = Record<string, PoolerParameterValue>;

/**
 * The default PgBouncer settings. max_prepared_statements is explicit: PgJDBC switches to named server-side
 * prepared statements after prepareThreshold (5) executions, and in transaction mode PgBouncer >= 1.21 must
 * track them or the next transaction may land on a server connection that never saw the PREPARE.
 */
export const DEFAULT_POOLER_PARAMETERS: PoolerParameters = {
    max_client_conn: 200,
    default_pool_size: 10,
    min_pool_size: 2,
    reserve_pool_size: 2,
    reserve_pool_timeout: 3,
    max_db_connections: 12,
    max_user_connections: 12,
    max_prepared_statements: 200,
    server_idle_timeout: 600,
    server_lifetime: 3600,
    server_connect_timeout: 5,
    query_wait_timeout: 60,
    client_idle_timeout: 0,
    idle_transaction_timeout: 300,
    // Behind transaction pooling a session-level SET (search_path, statement_timeout, role...) would stay on the
    // server connection and reach the next client; reset it whenever a server connection goes back to the pool,
    // to what a fresh login of the role has (its ALTER ROLE ... SET values). RESET ALL skips `role` (PostgreSQL
    // marks it so), hence RESET ROLE: back to the owner the login role acts as. Runs after the client has its
    // answer; prepared statements are untouched.
    server_reset_query: "RESET ALL; RESET ROLE",
    server_reset_query_always: true,
    log_connections: false,
    log_disconnections: false,
    log_pooler_errors: true,
    tcp_keepalive: true,
};

/**
 * The warning for a transaction-mode Pooler without the reset after every transaction (PgBouncer's default is off):
 * a session SET then reaches another client's transactions. A warning, not a problem: a database whose clients
 * never issue a session SET may take the throughput (docs/benchmarks.md gives the price of each choice).
 */
export function resetWarning(poolMode: "transaction" | "session", parameters: PoolerParameters): string | undefined {
    const resetAlways = parameters["server_reset_query_always"];
    if (poolMode !== "transaction" || resetAlways === true) return undefined;
    return `synergyflow-db:pooler.parameters.server_reset_query_always is ${resetAlways === undefined ? "not set (PgBouncer's default: off)" : JSON.stringify(resetAlways)}: behind transaction pooling a session SET (search_path, statement_timeout, role) stays on the server connection and reaches another client's transactions; set it true with server_reset_query "${DEFAULT_POOLER_PARAMETERS["server_reset_query"]}" unless no client of this database ever issues a session SET (docs/benchmarks.md gives the price of each choice)`;
}

export interface ParameterProblem {
    parameter: string;
    message: string;
}

/** What the pooler webhook of the given CNPG version rejects in spec.pgbouncer.parameters: names off its allow-list. */
export function cnpgParameterNameProblems(names: string[], operatorVersion: CnpgOperatorVersion): ParameterProblem[] {
    const { allowed, source } = CNPG_OPERATOR_VERSIONS[operatorVersion];
    return names.flatMap((name) =>
        CNPG_MANAGED_PARAMETERS.has(name)
            ? [{ parameter: name, message: `is set by CloudNativePG itself and rejected in spec.pgbouncer.parameters (pool mode: pooler.poolMode; auth: pooler.authMode)` }]
            : allowed.has(name)
              ? []
              : [{ parameter: name, message: `is not on the PgBouncer allow-list of CloudNativePG ${operatorVersion} (read from ${source}; sharedCluster.operatorVersion): e.g. max_client_conn, default_pool_size, max_db_connections, max_prepared_statements, server_lifetime` }],
    );
}

/** Every problem with a set of PgBouncer parameters, against the operator's allow-list and the value types. */
export function checkPoolerParameters(parameters: PoolerParameters, operatorVersion: CnpgOperatorVersion): ParameterProblem[] {
    const problems = cnpgParameterNameProblems(Object.keys(parameters), operatorVersion);
    for (const [name, value] of Object.entries(parameters)) {
        if (problems.some((p) => p.parameter === name)) {
            continue;
        } else if (INTEGER_PARAMETERS.has(name) && !(typeof value === "number" && Number.isInteger(value) && value >= 0)) {
            problems.push({ parameter: name, message: `must be a non-negative integer` });
        } else if (BOOLEAN_PARAMETERS.has(name) && typeof value !== "boolean") {
            problems.push({ parameter: name, message: `must be true or false` });
        }
    }
    if (parameters["max_prepared_statements"] === undefined) {
        problems.push({ parameter: "max_prepared_statements", message: `must be set explicitly: the JDBC settings rely on PgBouncer tracking prepared statements (0 disables it)` });
    }
    return problems;
}

/** The parameters as CNPG wants them: a map of strings (booleans as 1/0, PgBouncer's own spelling). */
export function renderPoolerParameters(parameters: PoolerParameters): Record<string, string> {
    const rendered: Record<string, string> = {};
    for (const name of Object.keys(parameters).sort()) {
        const value = parameters[name];
        rendered[name] = typeof value === "boolean" ? (value ? "1" : "0") : String(value);
    }
    return rendered;
}

/** An integer parameter's value, or undefined when unset (PgBouncer's default applies). */
export function integerParameter(parameters: PoolerParameters, name: string): number | undefined {
    const value = parameters[name];
    return typeof value === "number" ? value : undefined;
}

/**
 * spec.pgbouncer.pg_hba: CNPG places these rules after its `local pgbouncer pgbouncer peer` line and before its
 * catch-all `host all all ... md5` lines, and PgBouncer takes the first match: admit only the tenant's login roles
 * to the tenant database, over TLS, and reject everything else before the catch-all is reached.
 */
export function renderPoolerHba(databaseName: string, loginRoles: string[]): string[] {
    return [
        ...loginRoles.flatMap((role) => [`hostssl ${databaseName} ${role} 0.0.0.0/0 scram-sha-256`, `hostssl ${databaseName} ${role} ::/0 scram-sha-256`]),
        `host all all 0.0.0.0/0 reject`,
        `host all all ::/0 reject`,
    ];
}

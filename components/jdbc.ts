// The backend's JDBC URL, from the pooler's address. Pure, shared by the infra outputs and the apps ConfigMap.

/**
 * PgJDBC's default, set explicitly: after 5 executions a statement becomes a named server-side prepared
 * statement, which PgBouncer (>= 1.21) carries across transaction-pooled server connections because the
 * Pooler sets max_prepared_statements. Keeping server-side prepares saves a parse per execution.
 */
export const JDBC_PREPARE_THRESHOLD = 5;

export interface JdbcUrlArgs {
    host: string;
    port: number;
    database: string;
    applicationName: string;
}

export function jdbcUrl(args: JdbcUrlArgs): string {
    const params = new URLSearchParams({
        // The CNPG pooler serves TLS with the cluster's certificate.
        sslmode: "require",
        prepareThreshold: String(JDBC_PREPARE_THRESHOLD),
        ApplicationName: args.applicationName,
        tcpKeepAlive: "true",
    });
    const host = args.host.includes(":") ? `[${args.host}]` : args.host;
    return `jdbc:postgresql://${host}:${args.port}/${args.database}?${params.toString()}`;
}

// The backend's JDBC URL and TLS settings, from the pooler's address. Pure, shared by the infra outputs and
// the apps ConfigMap.
import { isIpAddress } from "./parsers";

/**
 * PgJDBC's default, set explicitly: after 5 executions a statement becomes a named server-side prepared
 * statement, which PgBouncer (>= 1.21) carries across transaction-pooled server connections because the
 * Pooler sets max_prepared_statements. Keeping server-side prepares saves a parse per execution.
 */
export const JDBC_PREPARE_THRESHOLD = 5;

/** Where the backend and wait-for-db find the shared cluster's CA certificate (mounted from a ConfigMap). */
export const SERVER_CA_DIR = "/etc/synergyflow-db/server-ca";
export const SERVER_CA_FILE = `${SERVER_CA_DIR}/ca.crt`;

export type SslMode = "verify-ca" | "verify-full";

/**
 * How the client verifies the pooler. The pooler presents the cluster's server certificate, issued for the
 * cluster's Services and spec.certificates.serverAltDNSNames: verify-full only for a host name listed there,
 * verify-ca (the chain, not the name) for an address or any other name. Never `require`, which verifies nothing.
 */
export function serverSslMode(host: string, serverAltDnsNames: string[]): SslMode {
    return !isIpAddress(host) && serverAltDnsNames.map((n) => n.toLowerCase()).includes(host.toLowerCase()) ? "verify-full" : "verify-ca";
}

export interface JdbcUrlArgs {
    host: string;
    port: number;
    database: string;
    applicationName: string;
    sslMode: SslMode;
}

export function jdbcUrl(args: JdbcUrlArgs): string {
    const params = new URLSearchParams({
        sslmode: args.sslMode,
        sslrootcert: SERVER_CA_FILE,
        prepareThreshold: String(JDBC_PREPARE_THRESHOLD),
        ApplicationName: args.applicationName,
        tcpKeepAlive: "true",
    });
    const host = args.host.includes(":") ? `[${args.host}]` : args.host;
    return `jdbc:postgresql://${host}:${args.port}/${args.database}?${params.toString()}`;
}

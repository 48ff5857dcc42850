// The backend's datasource settings as environment variables (Spring Boot relaxed binding): no credential here.
import type { BackendConfig } from "./config";
import { jdbcUrl, SERVER_CA_FILE, type SslMode } from "./jdbc";

export interface DatasourceTarget {
    host: string;
    port: number;
    database: string;
    sslMode: SslMode;
}

export function datasourceEnv(backend: BackendConfig, target: DatasourceTarget, applicationName: string): Record<string, string> {
    const { hikari } = backend;
    return {
        SPRING_DATASOURCE_URL: jdbcUrl({ ...target, applicationName }),
        SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE: String(hikari.maximumPoolSize),
        SPRING_DATASOURCE_HIKARI_MINIMUM_IDLE: String(hikari.minimumIdle),
        SPRING_DATASOURCE_HIKARI_CONNECTION_TIMEOUT: String(hikari.connectionTimeoutMs),
        SPRING_DATASOURCE_HIKARI_IDLE_TIMEOUT: String(hikari.idleTimeoutMs),
        SPRING_DATASOURCE_HIKARI_MAX_LIFETIME: String(hikari.maxLifetimeMs),
        SPRING_DATASOURCE_HIKARI_KEEPALIVE_TIME: String(hikari.keepaliveTimeMs),
        // Behind transaction pooling a session advisory lock is not exclusive; Flyway's transaction-level
        // lock is (spring.flyway.postgresql.transactional-lock, set explicitly).
        SPRING_FLYWAY_POSTGRESQL_TRANSACTIONALLOCK: "true",
        // libpq settings for the wait-for-db init container (same pooler, same database).
        PGHOST: target.host,
        PGPORT: String(target.port),
        PGDATABASE: target.database,
        PGSSLMODE: target.sslMode,
        PGSSLROOTCERT: SERVER_CA_FILE,
        PGCONNECT_TIMEOUT: "5",
        PGAPPNAME: `${applicationName}-wait-for-db`,
    };
}

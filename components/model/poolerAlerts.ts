// The PrometheusRule for the tenant's pooler, as a pure function of the stack's numbers: every threshold comes
// from the config (role limit, instances, Hikari's connection timeout), never a constant. Metric names are
// those CNPG's pooler exporter serves (pkg/management/pgbouncer/metricsserver: namespace cnpg, subsystem
// pgbouncer_pools with labels database and user, and cnpg_pgbouncer_last_collection_error); the PodMonitor's scrape
// adds the namespace and pod labels. Not cnpg_pgbouncer_up: CNPG 1.27.4 sets that gauge but neither describes nor
// collects it, so it never reaches a scrape (the e2e's live scrape of a real Pooler showed it missing).
import type { StackConfig } from "./config";
import { CREDENTIAL_SLOTS, loginCredentials } from "./rotation";

export interface AlertRule {
    alert: string;
    expr: string;
    for: string;
    labels: Record<string, string>;
    annotations: { summary: string; description: string; runbook_url?: string };
}

export interface PrometheusRuleSpec {
    groups: { name: string; rules: AlertRule[] }[];
}

/** Share of the role's connection limit at which the server-connection alert fires. */
export const SERVER_CONNECTIONS_ALERT_RATIO = 0.9;

/** Where the alerts' runbook is: the README section that has an entry per alert name. */
export const RUNBOOK_URL = "README.md#runbook-pooler-alerts";

export function poolerAlertRules(config: StackConfig): PrometheusRuleSpec {
    const { pooler, tenant, sharedCluster, backend } = config;
    const pods = `namespace="${sharedCluster.namespace}", pod=~"${pooler.name}-.*"`;
    // Both login roles (rotation.ts): summed, the alert also holds while a rotation runs on both.
    const logins = loginCredentials(tenant);
    const loginRoles = CREDENTIAL_SLOTS.map((slot) => logins[slot].roleName);
    const pool = `${pods}, database="${tenant.databaseName}", user=~"${loginRoles.join("|")}"`;
    const roles = loginRoles.join(" and ");
    const serverThreshold = Math.floor(tenant.connectionLimit * SERVER_CONNECTIONS_ALERT_RATIO);
    const waitSeconds = backend.hikari.connectionTimeoutMs / 1000;
    const labels = (severity: string) => ({ severity, app: tenant.appName, pooler: pooler.name });
    const serverStates = ["sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login"];
    const rules: AlertRule[] = [
        {
            alert: "SynergyflowPoolerServerConnectionsNearRoleLimit",
            expr: `sum(${serverStates.map((s) => `cnpg_pgbouncer_pools_${s}{${pool}}`).join(" + ")}) >= ${serverThreshold}`,
            for: "5m",
            labels: labels("warning"),
            annotations: {
                summary: `${pooler.name} holds ${Math.round(SERVER_CONNECTIONS_ALERT_RATIO * 100)}% of the connection limit of ${roles}`,
                description: `The ${pooler.instances} pods of ${pooler.name} hold {{ $value }} server connections for ${roles}; each has connectionLimit ${tenant.connectionLimit} (alert at ${serverThreshold}). At the limit new server connections fail with "too many connections for role".`,
                runbook_url: RUNBOOK_URL,
            },
        },
        {
            alert: "SynergyflowPoolerClientsWaiting",
            expr: `sum(cnpg_pgbouncer_pools_cl_waiting{${pool}}) > 0`,
            for: "5m",
            labels: labels("warning"),
            annotations: {
                summary: `Clients of ${pooler.name} have waited for a server connection for 5 minutes`,
                description: `{{ $value }} client connections of ${roles} wait for a server connection in ${pooler.name} (pool ${pooler.parameters["default_pool_size"] ?? 20} + reserve ${pooler.parameters["reserve_pool_size"] ?? 0} per pod, max_db_connections ${pooler.parameters["max_db_connections"] ?? "unset"}).`,
                runbook_url: RUNBOOK_URL,
            },
        },
        {
            alert: "SynergyflowPoolerWaitAboveHikariTimeout",
            expr: `max(cnpg_pgbouncer_pools_maxwait{${pool}} + cnpg_pgbouncer_pools_maxwait_us{${pool}} / 1e6) > ${waitSeconds}`,
            for: "1m",
            labels: labels("critical"),
            annotations: {
                summary: `The oldest waiting client of ${pooler.name} has waited longer than Hikari's connectionTimeout`,
                description: `A client of ${roles} has waited {{ $value }} s for a server connection; the backend's Hikari connectionTimeout is ${waitSeconds} s, so its requests are failing with "Connection is not available".`,
                runbook_url: RUNBOOK_URL,
            },
        },
        {
            alert: "SynergyflowPoolerPodsUnavailable",
            // 0 once SHOW LISTS/POOLS/STATS answered on PgBouncer's admin socket, 1 when they fail; absent when the
            // pod (or its exporter) is not scraped.
            expr: `(count(cnpg_pgbouncer_last_collection_error{${pods}} == 0) or vector(0)) < ${pooler.instances}`,
            for: "10m",
            labels: labels("warning"),
            annotations: {
                summary: `Fewer than ${pooler.instances} pods of ${pooler.name} are up`,
                description: `{{ $value }} of ${pooler.instances} pods of ${pooler.name} answer with PgBouncer's SHOW commands succeeding; the others' clients reconnect to the rest, whose max_client_conn must hold them.`,
                runbook_url: RUNBOOK_URL,
            },
        },
        {
            // CNPG's exporter has no counter of failed client logins (PgBouncer's SHOW commands keep none); server
            // connections stuck logging in are what a wrong or rotated role password looks like from the pooler.
            alert: "SynergyflowPoolerServerLoginsFailing",
            expr: `sum(cnpg_pgbouncer_pools_sv_login{${pool}}) > 0`,
            for: "5m",
            labels: labels("critical"),
            annotations: {
                summary: `${pooler.name} cannot log in to PostgreSQL as ${roles}`,
                description: `{{ $value }} server connections of ${pooler.name} have been logging in as ${roles} for 5 minutes: the role's password or its CONNECT grant is the usual cause.`,
                runbook_url: RUNBOOK_URL,
            },
        },
    ];
    return { groups: [{ name: `${tenant.appName}-pooler`, rules }] };
}

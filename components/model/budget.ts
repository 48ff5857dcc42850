// Connection-budget arithmetic for the shared cluster, the pooler and the backend. Pure functions: each
// problem carries the arithmetic in its message so a platform engineer sees at a glance what does not fit.
import type { Problem } from "./problem";
import type { StackConfig } from "./config";
import { integerParameter } from "./poolerParameters";
import { desiredRoles } from "./roles";

/** What the live shared Cluster says about its connection slots (read by the preflight, see preflight/). */
export interface SharedClusterSlots {
    maxConnections: number;
    /** Slots only superusers may use (CNPG's instance manager and exporter connect as the superuser). */
    superuserReservedConnections: number;
    /** PostgreSQL 16's reserved_connections: slots only members of pg_use_reserved_connections may use. */
    reservedConnections: number;
    /** Every role on the cluster that is not ours, as declared: connectionLimit (-1 = unlimited), login, superuser. */
    otherRoles: { name: string; connectionLimit: number; login: boolean; superuser: boolean; declaredIn: string }[];
    /**
     * CNPG's own pooler role (cnpg_pooler_pgbouncer, no limit) with operator auth: each PgBouncer pod holds an
     * auth_query connection while clients log in; counted as one per pod of each such Pooler, ours included.
     */
    poolerAuthPods: { pooler: string; pods: number }[];
}

export interface ConnectionBudget {
    /** max_connections minus superuser_reserved_connections minus reserved_connections. */
    usableSlots: number;
    /** The other login roles' limits added up (unlimited ones are refused by the preflight, not counted). */
    otherTenantsTotal: number;
    otherRoleLimits: Record<string, number>;
    /** Other roles that cannot connect (NOLOGIN) or use the superuser slots: listed, not counted. */
    notCounted: string[];
    /** Role connection limits this program adds to the shared cluster (its login roles; the owner never logs in). */
    ourRoleLimits: Record<string, number>;
    /** cnpg_pooler_pgbouncer's connections: one per pod of each Pooler with operator auth. */
    poolerAuthConnections: number;
    /** Everything that can connect, added up: it must fit usableSlots. */
    total: number;
    /** Server connections all pooler pods may open together (pods x max_db_connections). */
    poolerServerConnections: number;
    /** Client connections the backend may hold during a rollout (pods x Hikari maximum pool). */
    backendClientConnections: number;
    /** Client connections the pooler accepts with one pod unavailable. */
    poolerClientCapacity: number;
}

/** The roles this program adds to the shared cluster that can log in, with their connection limits. */
export function ourRoleLimits(config: StackConfig): Record<string, number> {
    // Both login roles count in full: either one carries the whole load while it is the backend's.
    return Object.fromEntries(desiredRoles(config).filter((role) => role.login).map((role) => [role.name, role.connectionLimit]));
}

/** A role that takes tenant slots: it can log in and is not a superuser (those use the reserved slots). */
const takesTenantSlots = (role: SharedClusterSlots["otherRoles"][number]) => role.login && !role.superuser;

export function computeBudget(config: StackConfig, slots: SharedClusterSlots): ConnectionBudget {
    const { pooler, backend } = config;
    const maxDb = integerParameter(pooler.parameters, "max_db_connections") ?? 0;
    // Unset parameters take PgBouncer's defaults (max_client_conn 100, default_pool_size 20).
    const maxClient = integerParameter(pooler.parameters, "max_client_conn") ?? 100;
    const counted = slots.otherRoles.filter(takesTenantSlots);
    const otherTenantsTotal = counted.filter((r) => r.connectionLimit >= 0).reduce((a, r) => a + r.connectionLimit, 0);
    const ours = ourRoleLimits(config);
    const poolerAuthConnections = slots.poolerAuthPods.reduce((a, p) => a + p.pods, 0);
    return {
        usableSlots: slots.maxConnections - slots.superuserReservedConnections - slots.reservedConnections,
        otherTenantsTotal,
        otherRoleLimits: Object.fromEntries(counted.map((r) => [r.name, r.connectionLimit])),
        notCounted: slots.otherRoles.filter((r) => !takesTenantSlots(r)).map((r) => `${r.name} (${r.login ? "superuser" : "cannot log in"})`),
        ourRoleLimits: ours,
        poolerAuthConnections,
        total: otherTenantsTotal + Object.values(ours).reduce((a, n) => a + n, 0) + poolerAuthConnections,
        poolerServerConnections: pooler.instances * maxDb,
        backendClientConnections: (backend.replicas + backend.maxSurge) * backend.hikari.maximumPoolSize,
        poolerClientCapacity: maxClient * Math.max(pooler.instances - 1, 1),
    };
}

/** The budget's arithmetic in one line, as the preview shows it and as a refusal quotes it. */
export function describeSharedClusterBudget(config: StackConfig, slots: SharedClusterSlots): string {
    const budget = computeBudget(config, slots);
    const cluster = `${config.sharedCluster.namespace}/${config.sharedCluster.name}`;
    const list = (entries: [string, number][]) => entries.map(([name, n]) => `${name} ${n < 0 ? "unlimited" : n}`).join(", ");
    const ours = Object.entries(budget.ourRoleLimits);
    const oursTotal = ours.reduce((a, [, n]) => a + n, 0);
    return (
        `connection slots on Cluster ${cluster}: other login roles ${budget.otherTenantsTotal} (${list(Object.entries(budget.otherRoleLimits)) || "none"})` +
        ` + ours ${oursTotal} (${list(ours)})` +
        ` + cnpg_pooler_pgbouncer ${budget.poolerAuthConnections} (${slots.poolerAuthPods.map((p) => `${p.pooler} ${p.pods} pods`).join(", ") || "no Pooler with operator auth"})` +
        ` = ${budget.total} of ${budget.usableSlots} usable (max_connections ${slots.maxConnections} - superuser_reserved_connections ${slots.superuserReservedConnections} - reserved_connections ${slots.reservedConnections})` +
        `${budget.notCounted.length ? `; not counted: ${budget.notCounted.join(", ")}` : ""}`
    );
}

/**
 * Whether everything that can connect fits the live cluster's usable slots: the other login roles' limits, ours,
 * and CNPG's own pooler role. A login role without a limit (-1) makes any sum meaningless: it is refused, naming
 * the role, rather than counted. Roles that cannot log in take no slot, whatever their limit says.
 */
export function checkSharedClusterBudget(config: StackConfig, slots: SharedClusterSlots): Problem[] {
    const { sharedCluster, tenant } = config;
    const budget = computeBudget(config, slots);
    const problems: Problem[] = [];
    const cluster = `${sharedCluster.namespace}/${sharedCluster.name}`;
    for (const role of slots.otherRoles.filter((r) => takesTenantSlots(r) && r.connectionLimit < 0)) {
        problems.push({
            key: "tenant.connectionLimit",
            message: `login role ${role.name} on Cluster ${cluster} (${role.declaredIn}) has connectionLimit -1 (unlimited): no budget for the shared cluster can hold; its owner must give it a limit`,
        });
    }
    if (budget.total > budget.usableSlots) {
        const loginRoles = Object.keys(budget.ourRoleLimits).filter((name) => budget.ourRoleLimits[name] === tenant.connectionLimit).length;
        const othersOfOurs = Object.values(budget.ourRoleLimits).reduce((a, n) => a + n, 0) - loginRoles * tenant.connectionLimit;
        const fit = Math.max(Math.floor((budget.usableSlots - budget.otherTenantsTotal - budget.poolerAuthConnections - othersOfOurs) / Math.max(loginRoles, 1)), 0);
        problems.push({
            key: "tenant.connectionLimit",
            message: `${describeSharedClusterBudget(config, slots)}: ${budget.total - budget.usableSlots} over; at most ${fit} fit for tenant.connectionLimit (each of the ${loginRoles} login roles has it)`,
        });
    }
    return problems;
}

/** Whether the pooler's and the backend's numbers fit each other and the role's limit (config only). */
export function checkPoolerSizing(config: StackConfig): Problem[] {
    const { tenant, pooler, backend } = config;
    const problems: Problem[] = [];
    const p = pooler.parameters;
    const maxDb = integerParameter(p, "max_db_connections");
    const defaultPool = integerParameter(p, "default_pool_size") ?? 20;
    const minPool = integerParameter(p, "min_pool_size") ?? 0;
    const reservePool = integerParameter(p, "reserve_pool_size") ?? 0;
    const maxUser = integerParameter(p, "max_user_connections");
    const serverConnections = pooler.instances * (maxDb ?? 0);
    const maxClient = integerParameter(p, "max_client_conn") ?? 100;
    const backendClients = (backend.replicas + backend.maxSurge) * backend.hikari.maximumPoolSize;
    const poolerCapacity = maxClient * Math.max(pooler.instances - 1, 1);

    if (maxDb === undefined || maxDb === 0) {
        problems.push({
            key: "pooler.parameters.max_db_connections",
            message: `is unset or 0 (unlimited): each of the ${pooler.instances} pooler pods could open any number of server connections; set it so that ${pooler.instances} x max_db_connections <= tenant.connectionLimit ${tenant.connectionLimit}`,
        });
    } else if (serverConnections > tenant.connectionLimit) {
        problems.push({
            key: "pooler.parameters.max_db_connections",
            message: `${pooler.instances} pooler pods x max_db_connections ${maxDb} = ${serverConnections} server connections > tenant.connectionLimit ${tenant.connectionLimit} (limits apply per PgBouncer pod); use max_db_connections <= ${Math.floor(tenant.connectionLimit / pooler.instances)} or fewer pods`,
        });
    }

    if (backendClients > poolerCapacity) {
        problems.push({
            key: "pooler.parameters.max_client_conn",
            message: `backend (${backend.replicas} replicas + ${backend.maxSurge} surge) x Hikari maximumPoolSize ${backend.hikari.maximumPoolSize} = ${backendClients} client connections > pooler capacity ${poolerCapacity} (max_client_conn x ${Math.max(pooler.instances - 1, 1)} pod(s), one pooler pod unavailable)`,
        });
    }

    if (minPool > defaultPool) {
        problems.push({ key: "pooler.parameters.min_pool_size", message: `${minPool} > default_pool_size ${defaultPool}` });
    }
    if (maxDb !== undefined && maxDb > 0) {
        if (defaultPool > maxDb) {
            problems.push({ key: "pooler.parameters.default_pool_size", message: `${defaultPool} > max_db_connections ${maxDb}: the pool can never reach its size` });
        }
        const headroom = Math.max(maxDb - defaultPool, 0);
        if (reservePool > headroom) {
            problems.push({
                key: "pooler.parameters.reserve_pool_size",
                message: `${reservePool} > headroom ${headroom} (max_db_connections ${maxDb} - default_pool_size ${defaultPool}): the reserve above the headroom can never be used`,
            });
        }
        if (maxUser !== undefined && maxUser > maxDb) {
            problems.push({ key: "pooler.parameters.max_user_connections", message: `${maxUser} > max_db_connections ${maxDb}` });
        }
    }
    return problems;
}

/** Hikari's lifetimes must end before anything in the path closes the connection under it. */
export function checkTimeouts(config: StackConfig): Problem[] {
    const { hikari } = config.backend;
    const p = config.pooler.parameters;
    const limits: [string, number | undefined][] = [
        ["pooler.parameters.server_lifetime", integerParameter(p, "server_lifetime")],
        ["pooler.parameters.client_idle_timeout", integerParameter(p, "client_idle_timeout")],
        ["pooler.exposure.pathIdleTimeoutSeconds", config.pooler.exposure.pathIdleTimeoutSeconds],
    ];
    const problems: Problem[] = [];
    for (const [key, seconds] of limits) {
        if (!seconds) continue;
        if (hikari.maxLifetimeMs >= seconds * 1000) {
            problems.push({ key: "backend.hikari.maxLifetimeMs", message: `${hikari.maxLifetimeMs} ms must be below ${key} (${seconds} s = ${seconds * 1000} ms)` });
        }
        if (hikari.idleTimeoutMs >= seconds * 1000) {
            problems.push({ key: "backend.hikari.idleTimeoutMs", message: `${hikari.idleTimeoutMs} ms must be below ${key} (${seconds} s = ${seconds * 1000} ms)` });
        }
    }
    if (hikari.keepaliveTimeMs > 0 && hikari.keepaliveTimeMs >= hikari.maxLifetimeMs) {
        problems.push({ key: "backend.hikari.keepaliveTimeMs", message: `${hikari.keepaliveTimeMs} ms must be below backend.hikari.maxLifetimeMs ${hikari.maxLifetimeMs} ms` });
    }
    return problems;
}

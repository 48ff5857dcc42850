// The stack configuration of synergyflow-db: one typed model, validated in one place.
// Every problem is reported at once, naming the full config key, the bad value and what is allowed,
// before the program registers any resource.
import { z } from "zod";
import { checkPoolerParameters, DEFAULT_POOLER_PARAMETERS, SUPPORTED_OPERATOR_VERSIONS } from "./poolerParameters";
import { cidrProblem, ipProblem, isIpAddress, parseGoDuration, parseQuantity } from "./parsers";

export { PROJECT } from "./names";

const k8sName = z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "must be a lowercase RFC 1123 name (a-z, 0-9, '-')")
    .max(63, "must be at most 63 characters");
const pgIdentifier = z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/, "must be a lowercase PostgreSQL identifier (a-z, 0-9, '_', not starting with a digit)")
    .max(63, "must be at most 63 characters");
export const RESERVED_ROLE_NAMES = ["postgres", "streaming_replica"];
export const RESERVED_ROLE_PREFIXES = ["pg_", "cnpg_"];
const roleName = pgIdentifier.refine(
    (name) => !RESERVED_ROLE_NAMES.includes(name) && !RESERVED_ROLE_PREFIXES.some((p) => name.startsWith(p)),
    "is reserved by CloudNativePG (postgres, streaming_replica, pg_*, cnpg_*)",
);
const positiveInt = z.number().int("must be an integer").positive("must be > 0");
const nonNegativeInt = z.number().int("must be an integer").nonnegative("must be >= 0");
/** A string the named parser accepts; its reason otherwise. */
const parsed = (problem: (text: string) => string | undefined) =>
    z.string().superRefine((text, ctx) => {
        const reason = problem(text);
        if (reason) ctx.addIssue({ code: "custom", message: reason, input: text });
    });
const cidr = parsed(cidrProblem);
const ipAddress = parsed(ipProblem);
// What ESO accepts for refreshInterval: a Go duration ("1h30m", "90s").
const duration = parsed((text) => (parseGoDuration(text) === undefined ? "must be a Go duration such as 30s, 15m, 1h or 1h30m" : undefined));
const quantity = parsed((text) =>
    parseQuantity(text) === undefined ? "must be a Kubernetes quantity such as 100m, 0.5, 256Mi or 1G" : (parseQuantity(text) as number) < 0 ? "must not be negative" : undefined,
);

// A host the backend connects to: an address, or a DNS name (RFC 1123: what a certificate can carry).
const dnsName = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const host = parsed((text) => (isIpAddress(text) || dnsName.test(text) ? undefined : "must be an IP address or a lowercase DNS name such as synergyflow-db.platform.internal"));
// Label selector entries as the API server validates them (apimachinery's qualified names and label values).
const labelKey = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const labelValue = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
const labelSelector = z
    .record(z.string().regex(labelKey, "must be a Kubernetes label key such as kubernetes.io/metadata.name"), z.string().regex(labelValue, "must be a Kubernetes label value (at most 63 characters of A-Z a-z 0-9 - _ .)"))
    .refine((labels) => Object.keys(labels).length > 0, "must name at least one label: an empty selector would admit every namespace");

// A container image: name[:tag], pinned with @sha256:<64 hex> (a digest is immutable: the node runs exactly what
// was reviewed). A malformed digest would only fail at pull time, on the node; refuse it here.
const IMAGE_NAME = /^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$/;
export function imageProblem(text: string): string | undefined {
    const at = text.indexOf("@");
    const name = at < 0 ? text : text.slice(0, at);
    if (!IMAGE_NAME.test(name)) return "must be an image reference such as registry.example.internal/team/app:1.0 (lowercase repository, optional :tag)";
    if (at >= 0 && !/^sha256:[0-9a-f]{64}$/.test(text.slice(at + 1))) return "has a malformed digest: pin as <name>[:tag]@sha256:<64 lowercase hex digits>";
    return undefined;
}
export const isDigestPinned = (image: string) => image.includes("@sha256:");
const image = (defaultRef: string) => parsed(imageProblem).default(defaultRef);
// The uid a pod runs as. Non-root is enforced (runAsNonRoot); 10000 and above stays clear of the node's own users
// (what scanners ask, CKV_K8S_40); lower values are accepted for images that need theirs.
const uid = z.number().int("must be an integer").min(1, "must be >= 1: the pods run as non-root").max(2147483647, "must be at most 2147483647");
export const DEFAULT_POD_UID = 10001;
const port = z.number().int("must be an integer").min(1, "must be a port from 1 to 65535").max(65535, "must be a port from 1 to 65535");

const clusterAccess = (defaultContext: string) =>
    z.strictObject({
        context: z.string().min(1, "must not be empty").default(defaultContext),
        // A path to a kubeconfig file, or its contents; omitted = the ambient kubeconfig (the context is still explicit).
        kubeconfig: z.string().min(1).optional(),
        // Stable across kubeconfig/context renames, so the provider is not replaced (which would replace every object).
        clusterIdentifier: z.string().min(1).default(defaultContext),
    });

const resources = z.strictObject({
    requests: z.strictObject({ cpu: quantity, memory: quantity }),
    limits: z.strictObject({ cpu: quantity.optional(), memory: quantity }),
});

export const MODULE_SCHEMAS = [
    "synergyflow_users",
    "synergyflow_incidents",
    "synergyflow_changes",
    "synergyflow_knowledge",
    "synergyflow_tasks",
    "synergyflow_audit",
    "synergyflow_workflows",
];

export const configSchema = z.strictObject({
    infraCluster: clusterAccess("infra").prefault({}),
    appsCluster: clusterAccess("apps").prefault({}),
    sharedCluster: z
        .strictObject({
            name: k8sName.default("shared-postgres"),
            namespace: k8sName.default("cnpg-system"),
            // The CNPG operator's minor version: DatabaseRole needs >= 1.30; auth_dbname=postgres since 1.28.
            // The CNPG operator's minor: DatabaseRole needs >= 1.30; the PgBouncer allow-list follows it.
            operatorVersion: z.enum(SUPPORTED_OPERATOR_VERSIONS).default("1.27"),
            // external: the Cluster's owner declares the roles (the preview prints the entries);
            // clusterPatch: only for a Cluster no other manager applies; databaseRole: CNPG >= 1.30.
            roleStrategy: z.enum(["databaseRole", "clusterPatch", "external"]).default("external"),
        })
        .prefault({}),
    tenant: z
        .strictObject({
            appName: k8sName.default("synergyflow"),
            roleName: roleName.default("synergyflow_app"),
            databaseName: pgIdentifier.default("synergyflow"),
            schemas: z.array(pgIdentifier).min(1, "must list at least one schema").default(MODULE_SCHEMAS),
            connectionLimit: positiveInt.default(40),
            passwordSecretName: k8sName.default("synergyflow-app-role-password"),
            databaseReclaimPolicy: z.enum(["retain", "delete"]).default("retain"),
            roleReclaimPolicy: z.enum(["retain", "delete"]).default("retain"),
            // Change this value to generate a new password (Vault version bumps, the backend rolls out).
            // Any scalar: `pulumi config set --path ...passwordRotation 2` stores a number.
            passwordRotation: z.union([z.string(), z.number(), z.boolean()]).transform(String).default("1"),
        })
        .prefault({}),
    pooler: z
        .strictObject({
            name: k8sName.default("synergyflow-pooler"),
            podDisruptionBudgetName: k8sName.default("synergyflow-pooler"),
            instances: positiveInt.default(2),
            poolMode: z.enum(["transaction", "session"]).default("transaction"),
            // PgBouncer parameters by their PgBouncer names; rendered as strings for the Pooler.
            // Checked against the allow-list of sharedCluster.operatorVersion (a cross-key check).
            parameters: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])).default(DEFAULT_POOLER_PARAMETERS),
            resources: resources.default({ requests: { cpu: "100m", memory: "64Mi" }, limits: { memory: "128Mi" } }),
            // operator: CNPG's own auth user and lookup (no superuser needed); vault: our own auth role and
            // lookup function, which needs the shared Cluster's superuser access.
            authMode: z.enum(["vault", "operator"]).default("operator"),
            authRoleName: roleName.default("synergyflow_pooler_auth"),
            authRoleConnectionLimit: positiveInt.default(4),
            authSecretName: k8sName.default("synergyflow-pooler-auth"),
            authFunctionSchema: pgIdentifier.default("synergyflow_pooler_auth"),
            bootstrapJobName: k8sName.default("synergyflow-db-bootstrap"),
            bootstrapImage: image("ghcr.io/cloudnative-pg/postgresql:16.8"),
            // psql runs as any uid once PGUSER is set: the image's postgres user (26) is not needed.
            bootstrapRunAsUser: uid.default(DEFAULT_POD_UID),
            exposure: z
                .strictObject({
                    mode: z.enum(["loadBalancer", "clusterMesh", "external"]).default("loadBalancer"),
                    // loadBalancer: fixed IP requested from the Cilium LB IPAM pool; external: the DNS name.
                    loadBalancerIP: ipAddress.optional(),
                    host: host.optional(),
                    // What reaches the pooler from the apps cluster: its node addresses when it masquerades pod
                    // egress (Cilium's default), its pod addresses when the platform exempts this range.
                    appsMasquerade: z.boolean().default(true),
                    appsNodeCidrs: z.array(cidr).default([]),
                    appsPodCidrs: z.array(cidr).default([]),
                    networkPolicyName: k8sName.default("synergyflow-pooler-from-apps"),
                    // Idle timeout of anything between the backend and the pooler (LB, NAT); 0 = none known.
                    pathIdleTimeoutSeconds: nonNegativeInt.default(0),
                })
                .prefault({}),
            podMonitor: z.boolean().default(false),
            // The namespace Prometheus scrapes from, admitted to the pooler's metrics port when podMonitor is on.
            monitoringNamespaceSelector: labelSelector.default({ "kubernetes.io/metadata.name": "monitoring" }),
        })
        .prefault({}),
    vault: z
        .strictObject({
            address: z.string().regex(/^https?:\/\/\S+$/, "must be an http(s) URL").default("https://vault.example.internal:8200"),
            kvMount: z
                .string()
                .regex(/^[A-Za-z0-9_-]+$/, "must be the KV v2 mount name alone (no '/', never ending in /data)")
                .default("secret"),
            keyPrefix: z
                .string()
                .regex(/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/, "must be a path without leading or trailing '/'")
                .default("kubernetes/infra/cloudnative-pg"),
        })
        .prefault({}),
    externalSecrets: z
        .strictObject({
            infraStore: k8sName.default("vault-backend"),
            appsStore: k8sName.default("vault-backend"),
            refreshInterval: duration.default("1h"),
        })
        .prefault({}),
    backend: z
        .strictObject({
            namespace: k8sName.default("synergyflow"),
            // create: the program owns the namespace; patch: it exists already, the program only sets its labels.
            namespaceMode: z.enum(["create", "patch"]).default("patch"),
            podSecurityLevel: z.enum(["baseline", "restricted"]).default("baseline"),
            deploymentName: k8sName.default("synergyflow-backend"),
            image: image("registry.example.internal/synergyflow/backend:1.0.0"),
            // The backend pod's uid (wait-for-db included): the image must run as it (a JVM needs no passwd entry).
            runAsUser: uid.default(DEFAULT_POD_UID),
            replicas: positiveInt.default(3),
            maxSurge: nonNegativeInt.default(1),
            maxUnavailable: nonNegativeInt.default(0),
            hikari: z
                .strictObject({
                    maximumPoolSize: positiveInt.default(20),
                    minimumIdle: nonNegativeInt.default(5),
                    connectionTimeoutMs: positiveInt.default(30000),
                    idleTimeoutMs: positiveInt.default(300000),
                    maxLifetimeMs: positiveInt.default(1500000),
                    keepaliveTimeMs: nonNegativeInt.default(120000),
                })
                .prefault({}),
            resources: resources.default({ requests: { cpu: "250m", memory: "768Mi" }, limits: { memory: "1536Mi" } }),
            credentialsSecretName: k8sName.default("synergyflow-db-credentials"),
            usernameEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, "must be an environment variable name").default("DB_USERNAME"),
            passwordEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, "must be an environment variable name").default("DB_PASSWORD"),
            waitForDbImage: image("postgres:16.8-alpine"),
            waitForDbAttempts: positiveInt.default(30),
        })
        .prefault({}),
    // The pods' NetworkPolicies: the Jobs' egress (bootstrap, migration) and the backend's ingress.
    networkPolicies: z
        .strictObject({
            // Each Job's pods may reach only their database(s) and DNS, and accept nothing.
            jobs: z.boolean().default(true),
            // ingress: a policy that selects the backend and limits what reaches it, with no egress rule, so its
            // other egress (Kafka, OPA, ...) is untouched; none: no policy.
            backend: z
                .strictObject({
                    mode: z.enum(["ingress", "none"]).default("ingress"),
                    name: k8sName.default("synergyflow-backend"),
                    // Namespaces admitted to the backend's http port; [] = any source (only the port is limited).
                    ingressFrom: z.array(labelSelector).default([]),
                    // Other ports of the backend pod that must stay reachable (a sidecar's, JMX, ...).
                    extraPorts: z.array(port).default([]),
                })
                .prefault({}),
            // Where the cluster DNS runs (both clusters): the Jobs resolve the -rw Services' names through it.
            dnsNamespaceSelector: labelSelector.default({ "kubernetes.io/metadata.name": "kube-system" }),
            dnsPodSelector: labelSelector.default({ "k8s-app": "kube-dns" }),
        })
        .prefault({}),
    // false on test clusters without CNPG/ESO controllers or kubelets: do not wait for Ready/Complete.
    waitForControllers: z.boolean().default(true),
    evidenceTimeoutSeconds: positiveInt.default(300),
    // Moving an existing deployment off its dedicated CNPG Cluster (components/migration/): off when absent.
    migration: z
        .strictObject({
            // Moved forward one `up` at a time: copy -> cutover -> done, or cutover -> rollback (phases.ts).
            phase: z.enum(["copy", "cutover", "rollback", "done"]),
            source: z.strictObject({
                // The dedicated Cluster in backend.namespace of the apps cluster (its <name>-rw Service and
                // <name>-ca Secret)...
                clusterName: k8sName.optional(),
                // ...or a host with the Secret of the CA that signed its certificate (ca.crt).
                host: host.optional(),
                caSecretName: k8sName.optional(),
                port: positiveInt.default(5432),
                database: pgIdentifier.default("synergyflow"),
                // basic-auth Secret in backend.namespace: the database owner's credentials (CNPG's <cluster>-app),
                // which read everything, may make the database read-only and end its sessions. Rollback points the
                // backend back at them.
                secretName: k8sName,
            }),
            // Replace a target that already holds tables in the module schemas (a copy refuses otherwise).
            replaceTarget: z.boolean().default(false),
            // The source database's extensions (\dx) and who creates each on the target: "copy" (trusted ones),
            // or "platform" (created there beforehand); checked at preview and by the copy (migration/extensions.ts).
            extensions: z.record(z.string().regex(/^[a-z0-9_-]+$/, "must be an extension name (a-z, 0-9, '_', '-')").max(63), z.enum(["copy", "platform"])).default({}),
            // pg_dump and psql: at least the source's major version (16.6).
            image: image("ghcr.io/cloudnative-pg/postgresql:16.8"),
            runAsUser: uid.default(DEFAULT_POD_UID),
            // A CPU limit keeps the copy from starving the node's other pods; the backend is stopped meanwhile, so
            // a low one lengthens the outage: size it to the node.
            resources: resources.default({ requests: { cpu: "250m", memory: "256Mi" }, limits: { cpu: "2", memory: "1Gi" } }),
            // Where the Job's NetworkPolicy lets it connect when the pooler's or the source's address is a DNS
            // name (a policy holds addresses, not names): the CIDRs those names resolve to.
            egressCidrs: z.array(cidr).default([]),
            timeoutSeconds: positiveInt.default(3600),
        })
        .optional(),
    // Split mode: the infra side is run by another stack (org/project/stack); this one creates the apps side only.
    // "" = single-stack mode.
    infraStack: z
        .string()
        .regex(/^$|^[^/\s]+\/[^/\s]+\/[^/\s]+$/, "must be a fully qualified stack name org/project/stack (or empty)")
        .default(""),
});

export type StackConfig = z.infer<typeof configSchema>;
export type PoolerConfig = StackConfig["pooler"];
export type BackendConfig = StackConfig["backend"];
export type SharedClusterConfig = StackConfig["sharedCluster"];
export type NetworkPoliciesConfig = StackConfig["networkPolicies"];

export const CONFIG_KEYS = Object.keys(configSchema.shape) as (keyof StackConfig)[];

import { ConfigError, type Problem } from "./problem";

/** The pooler's address as the apps cluster reaches it, when it is an IP address (a NetworkPolicy can name it). */
export function knownPoolerAddress(pooler: PoolerConfig): string | undefined {
    const { exposure } = pooler;
    if (exposure.mode === "loadBalancer" && exposure.loadBalancerIP) return exposure.loadBalancerIP;
    if (exposure.mode !== "clusterMesh" && exposure.host !== undefined && isIpAddress(exposure.host)) return exposure.host;
    return undefined;
}
export { ConfigError };

function valueAt(root: unknown, path: PropertyKey[]): unknown {
    let current: unknown = root;
    for (const segment of path) {
        if (current === null || typeof current !== "object") return undefined;
        current = (current as Record<PropertyKey, unknown>)[segment];
    }
    return current;
}

function fullKey(path: PropertyKey[]): string {
    const [top, ...rest] = path;
    return String(top) + rest.map((s) => (typeof s === "number" ? `[${s}]` : `.${String(s)}`)).join("");
}

function describeIssue(issue: z.core.$ZodIssue, raw: unknown): Problem[] {
    const value = valueAt(raw, issue.path);
    const shown = value === undefined ? "(missing)" : JSON.stringify(value);
    switch (issue.code) {
        case "unrecognized_keys":
            return issue.keys.map((k) => ({
                key: fullKey([...issue.path, k]),
                message: `unknown key (a typo?); allowed here: ${allowedKeysAt(issue.path).join(", ")}`,
            }));
        case "invalid_value":
            return [
                {
                    key: fullKey(issue.path),
                    message: `${shown} is not allowed; allowed values: ${issue.values.map((v) => JSON.stringify(v)).join(" | ")}`,
                },
            ];
        case "invalid_type":
            return [{ key: fullKey(issue.path), message: `${shown} is not a ${issue.expected}` }];
        case "invalid_key":
            // A record's key (migration.extensions): the path ends at the key; say what the key must be.
            return [{ key: fullKey(issue.path.slice(0, -1)), message: `key ${JSON.stringify(issue.path[issue.path.length - 1])} ${issue.issues.map((inner) => inner.message).join("; ")}` }];
        default:
            return [{ key: fullKey(issue.path), message: `${shown} ${issue.message}` }];
    }
}

function allowedKeysAt(path: PropertyKey[]): string[] {
    let schema: z.ZodType = configSchema;
    for (const segment of path) {
        schema = unwrap(schema);
        if (schema instanceof z.ZodObject) schema = schema.shape[segment as string];
        else return [];
    }
    schema = unwrap(schema);
    return schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
}

function unwrap(schema: z.ZodType): z.ZodType {
    let current = schema;
    while (current instanceof z.ZodDefault || current instanceof z.ZodPrefault || current instanceof z.ZodOptional) {
        current = current.def.innerType as z.ZodType;
    }
    return current;
}

/** Keys earlier versions read from the stack file, and why they are gone. */
export const REMOVED_KEYS: Record<string, string> = {
    "sharedCluster.maxConnections": "is read from the live Cluster (spec.postgresql.parameters.max_connections); remove it",
    "sharedCluster.superuserReservedConnections": "is read from the live Cluster (spec.postgresql.parameters.superuser_reserved_connections); remove it",
    "sharedCluster.otherTenantRoleLimits": "is read from the live Cluster (spec.managed.roles) and its DatabaseRoles; remove it",
    "sharedCluster.superuserSecretName": "is read from the live Cluster (spec.superuserSecret, default <cluster>-superuser); remove it",
    vaultToken: "is no longer read: a token in the config is stored in the state and changes the Vault provider on every new token; export VAULT_TOKEN instead and remove the key (`pulumi config rm synergyflow-db:vaultToken`)",
};

/** Reports and strips removed keys, so the rest of the config is still checked in the same run. */
function removedKeyProblems(raw: Record<string, unknown>): { rest: Record<string, unknown>; problems: Problem[] } {
    const rest = structuredClone(raw);
    const problems: Problem[] = [];
    for (const [dotted, message] of Object.entries(REMOVED_KEYS)) {
        const path = dotted.split(".");
        const parent = valueAt(rest, path.slice(0, -1)) as Record<string, unknown> | undefined;
        const last = path[path.length - 1] as string;
        if (parent !== null && typeof parent === "object" && last in parent) {
            problems.push({ key: fullKey(path), message });
            delete parent[last];
        }
    }
    return { rest, problems };
}

/**
 * Parses the raw config (keys without the project prefix) into the typed model, then runs the checks that
 * span several keys (PgBouncer parameters, role names, exposure, pooler sizing). Throws ConfigError with
 * every problem found. What only the live platform can tell (budget, names, superuser), and the sizing of the
 * pooler against the backend and the role limit, are the plan's (model/preflight/rules.ts planTenant).
 */
export function parseStackConfig(raw: Record<string, unknown>): StackConfig {
    const { rest, problems } = removedKeyProblems(raw);
    const parsed = configSchema.safeParse(rest);
    if (!parsed.success) {
        throw new ConfigError([...problems, ...parsed.error.issues.flatMap((issue) => describeIssue(issue, rest))]);
    }
    problems.push(...crossKeyProblems(parsed.data));
    if (problems.length > 0) throw new ConfigError(problems);
    return parsed.data;
}

function crossKeyProblems(config: StackConfig): Problem[] {
    const { tenant, pooler, sharedCluster, backend } = config;
    const problems: Problem[] = [];

    for (const problem of checkPoolerParameters(pooler.parameters, sharedCluster.operatorVersion)) {
        problems.push({ key: `pooler.parameters.${problem.parameter}`, message: `${JSON.stringify(pooler.parameters[problem.parameter]) ?? "(missing)"} ${problem.message}` });
    }
    if (pooler.authMode === "vault" && pooler.authRoleName === tenant.roleName) {
        problems.push({
            key: `pooler.authRoleName`,
            message: `${JSON.stringify(pooler.authRoleName)} equals tenant.roleName: the pooler's auth role must never be the application's role`,
        });
    }
    if (pooler.authMode === "vault" && tenant.roleReclaimPolicy === "delete") {
        problems.push({
            key: `tenant.roleReclaimPolicy`,
            message: `"delete" with pooler.authMode "vault" cannot be destroyed cleanly: the auth role holds CONNECT on the postgres database and the lookup function there, so CNPG's plain DROP ROLE fails; use "retain", or pooler.authMode "operator" (nothing granted outside the tenant database)`,
        });
    }
    if (pooler.poolMode === "transaction" && pooler.parameters["max_prepared_statements"] === 0) {
        problems.push({
            key: `pooler.parameters.max_prepared_statements`,
            message: `0 with pooler.poolMode "transaction" breaks PgJDBC, which prepares statements server-side after 5 executions ("prepared statement S_1 does not exist"); use a value > 0 (default 200)`,
        });
    }
    const dupSchemas = tenant.schemas.filter((s, i) => tenant.schemas.indexOf(s) !== i);
    if (dupSchemas.length > 0) {
        problems.push({ key: `tenant.schemas`, message: `duplicate schema names: ${[...new Set(dupSchemas)].join(", ")}` });
    }
    const [major, minor] = sharedCluster.operatorVersion.split(".").map(Number);
    if (sharedCluster.roleStrategy === "databaseRole" && (major ?? 0) === 1 && (minor ?? 0) < 30) {
        problems.push({
            key: `sharedCluster.roleStrategy`,
            message: `"databaseRole" needs CNPG >= 1.30 but sharedCluster.operatorVersion is ${sharedCluster.operatorVersion}; allowed with this operator: "clusterPatch" | "external"`,
        });
    }
    if (pooler.name === sharedCluster.name) {
        problems.push({ key: `pooler.name`, message: `${JSON.stringify(pooler.name)} equals the Cluster's name; CNPG rejects a Pooler named like its Cluster` });
    }

    const exposure = pooler.exposure;
    if (exposure.mode === "external" && !exposure.host) {
        problems.push({ key: `pooler.exposure.host`, message: `(missing) is required when pooler.exposure.mode is "external": the DNS name managed elsewhere` });
    }
    if (exposure.mode !== "external") {
        // cnpg-system denies traffic from other namespaces: the policy must admit what actually arrives.
        const [key, other] = exposure.appsMasquerade ? ["appsNodeCidrs", "node"] : ["appsPodCidrs", "pod"];
        if (exposure[key as "appsNodeCidrs" | "appsPodCidrs"].length === 0) {
            problems.push({
                key: `pooler.exposure.${key}`,
                message: `[] admits nothing: with pooler.exposure.appsMasquerade ${exposure.appsMasquerade} the pooler sees the apps cluster's ${other} addresses, so list that cluster's ${other} CIDRs (or set appsMasquerade to ${!exposure.appsMasquerade} if the platform ${exposure.appsMasquerade ? "exempts this range from masquerading" : "masquerades pod egress"})`,
            });
        }
    }
    if (exposure.mode === "loadBalancer" && exposure.loadBalancerIP === undefined && exposure.host === undefined) {
        problems.push({
            key: `pooler.exposure.loadBalancerIP`,
            message: `(missing) is required in "loadBalancer" mode (or pooler.exposure.host): an address assigned later cannot be read in the run that creates its Service; reserve one in the infra cluster's LB IPAM pool`,
        });
    }
    if (exposure.mode !== "loadBalancer") {
        for (const field of ["loadBalancerIP"] as const) {
            if (exposure[field] !== undefined) {
                problems.push({ key: `pooler.exposure.${field}`, message: `is only used when pooler.exposure.mode is "loadBalancer" (it is ${JSON.stringify(exposure.mode)})` });
            }
        }
    }
    if (exposure.mode === "clusterMesh" && exposure.host !== undefined) {
        problems.push({ key: `pooler.exposure.host`, message: `is derived from the global Service name when pooler.exposure.mode is "clusterMesh"; remove it` });
    }
    if (backend.maxSurge === 0 && backend.maxUnavailable === 0) {
        problems.push({ key: `backend.maxSurge`, message: `0 together with backend.maxUnavailable 0 would make every rollout stall; set one of them >= 1` });
    }
    if (backend.hikari.minimumIdle > backend.hikari.maximumPoolSize) {
        problems.push({
            key: `backend.hikari.minimumIdle`,
            message: `${backend.hikari.minimumIdle} exceeds backend.hikari.maximumPoolSize ${backend.hikari.maximumPoolSize}`,
        });
    }

    // Names the program derives: they must stay within PostgreSQL's 63 bytes (longer ones are truncated, and the
    // two login roles would become one) and Kubernetes' 63 characters.
    const derived: [string, string, number, string][] = [
        ["tenant.roleName", tenant.roleName, 61, `the login roles are ${tenant.roleName}_a and _b`],
        ["tenant.passwordSecretName", tenant.passwordSecretName, 61, `the login roles' Secrets are ${tenant.passwordSecretName}-a and -b`],
        ...(config.migration ? [["tenant.appName", tenant.appName, 42, `the migration's Jobs are named ${tenant.appName}-db-rollback-<8 hex>`] as [string, string, number, string]] : []),
    ];
    for (const [key, value, max, why] of derived) {
        if (value.length > max) problems.push({ key: `${key}`, message: `${JSON.stringify(value)} is ${value.length} characters; at most ${max}: ${why}, and names stop at 63` });
    }
    if (config.migration && !config.waitForControllers) {
        problems.push({ key: `migration`, message: `needs waitForControllers true: the copy's verified result is read from its finished Job, and cutover refuses a copy without one` });
    }
    if (config.migration && config.infraStack) {
        problems.push({ key: `migration`, message: `runs from the stack that has the infra side too (infraStack is ${JSON.stringify(config.infraStack)}): its preflight reads both clusters` });
    }
    const source = config.migration?.source;
    if (source && (source.clusterName === undefined) === (source.host === undefined)) {
        problems.push({ key: `migration.source`, message: `must name either clusterName (the dedicated Cluster in ${backend.namespace}) or host, not ${source.clusterName ? "both" : "neither"}` });
    }
    if (config.migration && config.networkPolicies.jobs && config.migration.egressCidrs.length === 0) {
        const names = [
            ...(knownPoolerAddress(pooler) === undefined ? [`the pooler's (${pooler.exposure.host ?? `${pooler.name}.${sharedCluster.namespace}.svc.cluster.local`})`] : []),
            ...(source?.host !== undefined && !isIpAddress(source.host) ? [`the source's (${source.host})`] : []),
        ];
        if (names.length > 0) {
            problems.push({
                key: `migration.egressCidrs`,
                message: `[] leaves the migration Job's NetworkPolicy nowhere to send ${names.join(" and ")} traffic: a NetworkPolicy holds addresses, not DNS names; list the CIDRs they resolve to, or set networkPolicies.jobs false`,
            });
        }
    }
    if (source?.host !== undefined && source.caSecretName === undefined) {
        problems.push({ key: `migration.source.caSecretName`, message: `(missing) is required with migration.source.host: the copy verifies the source's certificate (verify-full)` });
    }

    return problems;
}

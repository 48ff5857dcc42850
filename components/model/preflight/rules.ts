// The preflight's decisions: pure functions from the config and the live platform to every problem `up` would
// run into, each naming the config key to change, the live object in the way (and who owns it), and the way
// out. The program registers nothing while any problem stands (preflight.ts).
import { checkPoolerSizing, checkSharedClusterBudget, checkTimeouts, computeBudget, type ConnectionBudget, describeSharedClusterBudget, type SharedClusterSlots } from "../budget";
import { PROJECT, type StackConfig } from "../config";
import { STACK_LABEL } from "../labels";
import { type ClusterSide, describeRef, type KubeObject } from "../kubeObject";
import { desiredRoles, externalRoleProblems } from "../roles";
import { foreignRoleOwners, type LiveCluster, ROLE_PATCH_FIELD_MANAGER, readRoleEntries } from "../rolePatch";
import YAML from "yaml";
import type { LivePlatform } from "./livePlatform";
import { caSecretName, superuserSecretName } from "./livePlatform";
import { ourRoleNames } from "./plannedObjects";
import { type MigrationRecord, PHASE_DOES, appsSideDuring, phaseProblem, readMigrationRecord, sourceCaSecretName } from "../migration/phases";
import { extensionProblems } from "../migration/extensions";
import { resetWarning } from "../poolerParameters";
import { type Problem, PreflightError } from "../problem";
import { CREDENTIAL_SLOTS, type RotationPlan, liveCredentials, loginCredentials, planRotation } from "../rotation";

const describe = (object: KubeObject) => describeRef({ kind: object.kind, namespace: object.metadata.namespace, name: object.metadata.name });

/** Who owns a live object, from its labels (Flux, Helm), its controller and its field managers. */
export function describeOwner(object: KubeObject): string {
    const labels = object.metadata.labels ?? {};
    const owners: string[] = [];
    const flux = labels["kustomize.toolkit.fluxcd.io/name"];
    if (flux) owners.push(`Flux Kustomization ${labels["kustomize.toolkit.fluxcd.io/namespace"] ?? "?"}/${flux}`);
    const helm = labels["helm.toolkit.fluxcd.io/name"];
    if (helm) owners.push(`Flux HelmRelease ${labels["helm.toolkit.fluxcd.io/namespace"] ?? "?"}/${helm}`);
    if (labels[STACK_LABEL]) owners.push(`synergyflow-db stack ${labels[STACK_LABEL]}`);
    const controller = object.metadata.ownerReferences?.find((r) => r.controller);
    if (controller) owners.push(`controlled by ${controller.kind} ${controller.name}`);
    const managers = [...new Set((object.metadata.managedFields ?? []).filter((f) => f.subresource !== "status" && f.manager).map((f) => `${f.manager}${f.operation === "Apply" ? " (server-side apply)" : ""}`))];
    if (managers.length > 0) owners.push(`field managers: ${managers.join(", ")}`);
    return `${describe(object)}${owners.length ? ` (${owners.join("; ")})` : ""}`;
}

const isOurs = (object: KubeObject | undefined, stack: string) => object?.metadata.labels?.[STACK_LABEL] === stack;

/** Objects the stack will create that exist already and are not this stack's (nor made by a controller for it). */
export function nameConflicts(live: LivePlatform): Problem[] {
    return live.planned.flatMap(({ object, live: existing, maker }) => {
        if (!existing || isOurs(existing, live.stack)) return [];
        const controller = existing.metadata.ownerReferences?.find((r) => r.controller);
        if (object.madeBy && maker && isOurs(maker, live.stack) && controller?.kind === object.madeBy.kind && controller.name === object.madeBy.name) return [];
        return [
            {
                key: object.key,
                message: `the stack would create ${describeRef(object.ref)} on the ${object.ref.cluster} cluster, but one exists that is not this stack's`,
                live: describeOwner(existing),
                remedy: `choose another name with ${PROJECT}:${object.key}, or have its owner remove it; the program never takes over an object it did not create`,
            },
        ];
    });
}

/** The live Cluster's connection slots, every role on it that is not ours, and the Poolers CNPG authenticates. */
export function sharedClusterSlots(config: StackConfig, live: LivePlatform): SharedClusterSlots {
    const cluster = live.cluster as KubeObject;
    const parameters = ((cluster.spec?.["postgresql"] as { parameters?: Record<string, string> } | undefined)?.parameters ?? {}) as Record<string, string>;
    const ours = new Set(ourRoleNames(config));
    const inline = ((cluster.spec?.["managed"] as { roles?: Record<string, unknown>[] } | undefined)?.roles ?? []).filter((r) => r["ensure"] !== "absent");
    const inlineNames = new Set(inline.map((r) => String(r["name"])));
    const where = `${cluster.metadata.namespace}/${cluster.metadata.name}`;
    // CNPG's defaults for a role entry: login false, connectionLimit -1.
    const role = (fields: Record<string, unknown>, declaredIn: string) => ({
        name: String(fields["name"]),
        connectionLimit: Number(fields["connectionLimit"] ?? -1),
        login: fields["login"] === true,
        superuser: fields["superuser"] === true,
        declaredIn,
    });
    const otherRoles = [
        ...inline.map((r) => role(r, `Cluster ${where} spec.managed.roles`)),
        ...(live.databaseRoles ?? [])
            // CNPG applies the inline entry when both declare a role.
            .filter((d) => (d.spec?.["cluster"] as { name?: string } | undefined)?.name === config.sharedCluster.name && !inlineNames.has(String(d.spec?.["name"])))
            .map((d) => role(d.spec ?? {}, describe(d))),
    ].filter((r) => !ours.has(r.name));
    // Poolers of this Cluster whose auth CNPG manages (no authQuerySecret), ours as this run leaves it.
    const operatorAuth = (spec: Record<string, unknown> | undefined) => !(spec?.["pgbouncer"] as { authQuerySecret?: unknown } | undefined)?.authQuerySecret;
    const poolerAuthPods = (live.poolers ?? [])
        .filter((p) => p.metadata.name !== config.pooler.name && (p.spec?.["cluster"] as { name?: string } | undefined)?.name === config.sharedCluster.name && operatorAuth(p.spec))
        .map((p) => ({ pooler: `Pooler ${p.metadata.name}`, pods: Number(p.spec?.["instances"] ?? 1) }));
    if (config.pooler.authMode === "operator") poolerAuthPods.push({ pooler: `Pooler ${config.pooler.name} (ours)`, pods: config.pooler.instances });
    return {
        // PostgreSQL's defaults when the Cluster does not set them.
        maxConnections: Number(parameters["max_connections"] ?? 100),
        superuserReservedConnections: Number(parameters["superuser_reserved_connections"] ?? 3),
        reservedConnections: Number(parameters["reserved_connections"] ?? 0),
        otherRoles,
        poolerAuthPods,
    };
}

function clusterProblems(config: StackConfig, live: LivePlatform, slots: SharedClusterSlots | undefined): Problem[] {
    const { sharedCluster, pooler } = config;
    const where = `${sharedCluster.namespace}/${sharedCluster.name}`;
    const cluster = live.cluster;
    if (!cluster) {
        return [{ key: "sharedCluster.name", message: `the shared Cluster ${where} does not exist on the infra cluster (context ${config.infraCluster.context})`, remedy: `set ${PROJECT}:sharedCluster.name and .namespace to the platform's Cluster, or ${PROJECT}:infraCluster.context to the cluster that runs it` }];
    }
    const problems: Problem[] = [];
    if (pooler.authMode === "vault") {
        const secretName = superuserSecretName(cluster, sharedCluster.name);
        if (cluster.spec?.["enableSuperuserAccess"] !== true) {
            problems.push({
                key: "pooler.authMode",
                message: `"vault" needs superuser SQL (its own auth role's lookup function), but the Cluster does not set spec.enableSuperuserAccess (CNPG defaults it to false and then keeps no ${secretName} Secret)`,
                live: describeOwner(cluster),
                remedy: `set ${PROJECT}:pooler.authMode to "operator" (CNPG's own auth user and lookup; no superuser needed), or have the Cluster's owner set spec.enableSuperuserAccess: true`,
            });
        } else if (!live.superuserSecret) {
            problems.push({ key: "pooler.authMode", message: `the Cluster enables superuser access but its Secret ${sharedCluster.namespace}/${secretName} does not exist (yet)`, live: describeOwner(cluster), remedy: `wait for CNPG to create it, or set ${PROJECT}:pooler.authMode to "operator"` });
        }
    }
    const ca = caSecretName(cluster, sharedCluster.name);
    if (!live.caSecret?.data?.["ca.crt"]) {
        problems.push({
            key: "sharedCluster.name",
            message: `the Cluster's CA Secret ${sharedCluster.namespace}/${ca} (key ca.crt) ${live.caSecret ? "has no ca.crt" : "does not exist"}: the backend could not verify the pooler's certificate`,
            live: describeOwner(cluster),
            remedy: `check that CNPG has reconciled the Cluster (it creates ${ca}), or that spec.certificates.serverCASecret names an existing Secret`,
        });
    }
    problems.push(...roleStrategyProblems(config, live, cluster));
    if (slots) problems.push(...checkSharedClusterBudget(config, slots).map((p) => ({ key: p.key, message: p.message, live: describe(cluster), remedy: `lower ${PROJECT}:tenant.connectionLimit (and the pooler's max_db_connections with it), or have the platform raise max_connections or another role's limit` })));
    return problems;
}

function roleStrategyProblems(config: StackConfig, live: LivePlatform, cluster: KubeObject): Problem[] {
    const { sharedCluster } = config;
    const desired = desiredRoles(config);
    const liveCluster = cluster as unknown as LiveCluster;
    switch (sharedCluster.roleStrategy) {
        case "clusterPatch": {
            const owners = foreignRoleOwners(liveCluster, ROLE_PATCH_FIELD_MANAGER);
            if (owners.length === 0) return [];
            return [
                {
                    key: "sharedCluster.roleStrategy",
                    message: `"clusterPatch" would be reverted: spec.managed.roles is applied by ${owners.join(", ")}, whose next apply removes our entries (and CNPG stops applying their passwords until the next \`pulumi up\`)`,
                    live: describeOwner(cluster),
                    remedy: `set ${PROJECT}:sharedCluster.roleStrategy to "external" and have the Cluster's owner add these entries to its manifest:\n${indent(YAML.stringify(desired))}or use "databaseRole" with CNPG >= 1.30`,
                },
            ];
        }
        case "external": {
            const problems = externalRoleProblems(liveCluster, desired);
            if (problems.length === 0) return [];
            return [
                {
                    key: "sharedCluster.roleStrategy",
                    message: `"external": the Cluster does not declare the roles as expected: ${problems.join("; ")}`,
                    live: describeOwner(cluster),
                    remedy: `have the Cluster's owner put exactly these entries in spec.managed.roles of its manifest, then preview again:\n${indent(YAML.stringify(desired))}`,
                },
            ];
        }
        case "databaseRole": {
            const problems: Problem[] = [];
            if (live.databaseRoles === undefined) {
                problems.push({ key: "sharedCluster.roleStrategy", message: `"databaseRole" needs the DatabaseRole kind (CNPG >= 1.30), which the infra cluster does not serve`, remedy: `upgrade the operator, or use "external"` });
            }
            const shadowed = readRoleEntries(liveCluster, ourRoleNames(config)).map((r) => String(r["name"]));
            if (shadowed.length > 0) {
                problems.push({
                    key: "sharedCluster.roleStrategy",
                    message: `the Cluster also lists ${shadowed.join(", ")} in spec.managed.roles; CNPG applies that inline entry, not our DatabaseRole`,
                    live: describeOwner(cluster),
                    remedy: `have the Cluster's owner remove the inline entries, or use "external"`,
                });
            }
            return problems;
        }
    }
}

function storeProblems(config: StackConfig, live: LivePlatform): Problem[] {
    const problems: Problem[] = [];
    for (const side of ["infra", "apps"] as const) {
        if (side === "infra" && config.infraStack) continue;
        const key = side === "infra" ? "externalSecrets.infraStore" : "externalSecrets.appsStore";
        const name = config.externalSecrets[side === "infra" ? "infraStore" : "appsStore"];
        const store = live.stores[side];
        if (!store) {
            problems.push({ key, message: `ClusterSecretStore ${name} does not exist on the ${side} cluster: the ExternalSecrets would never sync`, remedy: `set ${PROJECT}:${key} to the platform's store` });
            continue;
        }
        const vault = (store.spec?.["provider"] as { vault?: { path?: string; version?: string; server?: string } } | undefined)?.vault;
        if (!vault) {
            problems.push({ key, message: `ClusterSecretStore ${name} on the ${side} cluster does not read Vault (no spec.provider.vault)`, live: describeOwner(store), remedy: `set ${PROJECT}:${key} to a store that reads the Vault the program writes` });
            continue;
        }
        if (vault.path !== config.vault.kvMount) {
            problems.push({ key: "vault.kvMount", message: `ClusterSecretStore ${name} on the ${side} cluster reads the KV mount ${JSON.stringify(vault.path ?? "(unset)")}, the program writes ${JSON.stringify(config.vault.kvMount)}: remoteRef.key would resolve elsewhere`, live: describeOwner(store), remedy: `set ${PROJECT}:vault.kvMount to ${JSON.stringify(vault.path ?? "")}, or ${PROJECT}:${key} to a store on ${JSON.stringify(config.vault.kvMount)}` });
        }
        // ESO's default is v2.
        if ((vault.version ?? "v2") !== "v2") {
            problems.push({ key, message: `ClusterSecretStore ${name} on the ${side} cluster reads KV ${vault.version}; the program writes KV v2`, live: describeOwner(store), remedy: `use a store with spec.provider.vault.version: v2` });
        }
        if (vault.server && vault.server.replace(/\/+$/, "") !== config.vault.address.replace(/\/+$/, "")) {
            problems.push({ key: "vault.address", message: `ClusterSecretStore ${name} on the ${side} cluster reads ${vault.server}, the program writes to ${config.vault.address}`, live: describeOwner(store), remedy: `set ${PROJECT}:vault.address to ${vault.server}, or use a store that reads ${config.vault.address}` });
        }
    }
    return problems;
}

function namespaceProblems(config: StackConfig, live: LivePlatform): Problem[] {
    const { backend } = config;
    if (backend.namespaceMode === "patch" && !live.appsNamespace) {
        return [{ key: "backend.namespaceMode", message: `"patch" expects the namespace ${backend.namespace} to exist on the apps cluster, and it does not`, remedy: `set ${PROJECT}:backend.namespaceMode to "create" (the program then owns and deletes it), or create it with the platform` }];
    }
    if (backend.namespaceMode === "create" && live.appsNamespace && !isOurs(live.appsNamespace, live.stack)) {
        return [{ key: "backend.namespaceMode", message: `"create" would create the namespace ${backend.namespace}, which exists on the apps cluster and is not this stack's`, live: describeOwner(live.appsNamespace), remedy: `set ${PROJECT}:backend.namespaceMode to "patch" (labels only, never deleted)` }];
    }
    return [];
}

/** The live object found where the stack plans one of its own (read by livePlatform), if any. */
function plannedLive(live: LivePlatform, cluster: ClusterSide, kind: string, name: string): KubeObject | undefined {
    return live.planned.find(({ object }) => object.ref.cluster === cluster && object.ref.kind === kind && object.ref.name === name)?.live;
}

/** This run's rotation from the live evidence of the last one (rotation.ts), or why it cannot start. */
export function credentialRotation(config: StackConfig, live: LivePlatform): RotationPlan | Problem {
    const find = (cluster: ClusterSide, kind: string, name: string) => plannedLive(live, cluster, kind, name);
    const logins = loginCredentials(config.tenant);
    return planRotation(
        config,
        liveCredentials({
            backendSecret: find("apps", "ExternalSecret", config.backend.credentialsSecretName),
            loginSecrets: Object.fromEntries(CREDENTIAL_SLOTS.map((slot) => [slot, find("infra", "ExternalSecret", logins[slot].passwordSecretName)])),
            deployment: find("apps", "Deployment", config.backend.deploymentName),
            pods: live.appsPods,
        }),
    );
}

/** Login roles' password Secrets a `retain` destroy kept (no ExternalSecret of ours makes them any more). */
export function keptLoginSecrets(config: StackConfig, live: LivePlatform): string[] {
    const logins = loginCredentials(config.tenant);
    const find = (kind: string, name: string) => plannedLive(live, "infra", kind, name);
    return CREDENTIAL_SLOTS.map((slot) => logins[slot].passwordSecretName).filter((name) => isOurs(find("Secret", name), live.stack) && !find("ExternalSecret", name));
}

/** The migration's phase move, and what its Jobs need on the apps cluster (the source's CA and credentials). */
export function migrationProblems(config: StackConfig, live: LivePlatform, record: MigrationRecord | undefined): Problem[] {
    const problems: Problem[] = [];
    const phase = phaseProblem(config, record);
    if (phase) problems.push({ ...phase, ...(live.migration.record ? { live: describeOwner(live.migration.record) } : {}) });
    const migration = config.migration;
    if (migration?.phase === "copy") problems.push(...extensionProblems(migration.extensions, config.tenant.databaseName));
    if (migration && migration.phase !== "done") {
        const ns = config.backend.namespace;
        if (!live.migration.sourceCa?.data?.["ca.crt"]) {
            problems.push({
                key: migration.source.caSecretName ? "migration.source.caSecretName" : "migration.source.clusterName",
                message: `the copy verifies the source's certificate with Secret ${ns}/${sourceCaSecretName(migration.source)} (key ca.crt), which ${live.migration.sourceCa ? "has no ca.crt" : "does not exist"} on the apps cluster`,
                remedy: migration.source.clusterName ? `name the dedicated Cluster that runs in ${ns} (CNPG keeps its CA in <cluster>-ca)` : `set migration.source.caSecretName to the Secret holding the source's CA`,
            });
        }
        const secret = live.migration.sourceSecret;
        if (!secret || !secret.data?.["username"] || !secret.data?.["password"]) {
            problems.push({
                key: "migration.source.secretName",
                message: `Secret ${ns}/${migration.source.secretName} ${secret ? "lacks username or password" : "does not exist"} on the apps cluster`,
                remedy: `name the basic-auth Secret of the source database's owner (CNPG's <cluster>-app)`,
            });
        }
    }
    return problems;
}

function rotationProblems(config: StackConfig, live: LivePlatform, rotation: RotationPlan | Problem): Problem[] {
    if (!("message" in rotation)) return [];
    const backendSecret = plannedLive(live, "apps", "ExternalSecret", config.backend.credentialsSecretName);
    return [{ ...rotation, ...(backendSecret ? { live: describeOwner(backendSecret) } : {}) }];
}

/** What this run does, decided once from the config and the live platform (the infra side; absent in split mode). */
export interface TenantPlan {
    cluster: LiveCluster;
    /** The live slots and the budget over them (with its arithmetic, which the preview prints). */
    slots: SharedClusterSlots;
    budget: ConnectionBudget;
    budgetArithmetic: string;
    superuserSecretName: string;
    caSecretName: string;
    /** The PEM certificate of the cluster's CA: public, delivered to the apps cluster for verify-ca/full. */
    serverCaCertificate: string;
    /** spec.certificates.serverAltDNSNames: names the server certificate carries besides the Services'. */
    serverAltDnsNames: string[];
    /** Which login role the backend uses after this run, and which passwords it regenerates (rotation.ts). */
    rotation: RotationPlan;
    /** Login role password Secrets an earlier `retain` destroy kept: this run adopts them with new passwords. */
    keptLoginSecrets: string[];
    /** The migration's last record and the source's CA certificate (model/migration/). */
    migration: { record?: MigrationRecord; sourceCaCertificate: string };
}

const fromBase64 = (value: string | undefined) => Buffer.from(value ?? "", "base64").toString("utf8");

/**
 * The preflight's one decision: every problem `up` would run into (the pooler's sizing, the Cluster and its
 * budget, the rotation, the migration, the names, the stores, the namespace, in that order), and the plan the
 * components emit when there is none. Each decision is computed once and used for both.
 */
export function planTenant(config: StackConfig, live: LivePlatform): { plan?: TenantPlan; problems: Problem[] } {
    const sizing = [...checkPoolerSizing(config), ...checkTimeouts(config)];
    const cluster = config.infraStack ? undefined : live.cluster;
    const slots = cluster ? sharedClusterSlots(config, live) : undefined;
    const rotation = cluster ? credentialRotation(config, live) : undefined;
    const record = readMigrationRecord(live.migration.record?.data);
    const problems = [
        ...sizing,
        ...(config.infraStack ? [] : [...clusterProblems(config, live, slots), ...(rotation ? rotationProblems(config, live, rotation) : []), ...migrationProblems(config, live, record)]),
        ...nameConflicts(live),
        ...storeProblems(config, live),
        ...namespaceProblems(config, live),
    ];
    if (problems.length > 0 || !cluster || !slots || !rotation || "message" in rotation) return { problems };
    const { name } = config.sharedCluster;
    const certificates = cluster.spec?.["certificates"] as { serverAltDNSNames?: string[] } | undefined;
    return {
        problems,
        plan: {
            cluster: cluster as unknown as LiveCluster,
            slots,
            budget: computeBudget(config, slots),
            budgetArithmetic: describeSharedClusterBudget(config, slots),
            superuserSecretName: superuserSecretName(cluster, name),
            caSecretName: caSecretName(cluster, name),
            serverCaCertificate: fromBase64(live.caSecret?.data?.["ca.crt"]),
            serverAltDnsNames: certificates?.serverAltDNSNames ?? [],
            rotation,
            keptLoginSecrets: keptLoginSecrets(config, live),
            migration: { ...(record ? { record } : {}), sourceCaCertificate: fromBase64(live.migration.sourceCa?.data?.["ca.crt"]) },
        },
    };
}

/** What the preview says about this run besides its changes: warnings, and what a migration phase does. */
export function planNotices(config: StackConfig, plan: TenantPlan | undefined): { warnings: string[]; infos: string[] } {
    const warnings: string[] = [];
    const infos: string[] = [];
    if (plan) {
        const logins = loginCredentials(config.tenant);
        for (const kept of plan.keptLoginSecrets) {
            warnings.push(
                `adopting Secret ${config.sharedCluster.namespace}/${kept}, kept by an earlier destroy (roleReclaimPolicy retain): its login role gets a new password from this run (the earlier one's random state went with the destroy); nothing uses the old one, the backend starts only once PostgreSQL has the new`,
            );
        }
        if (plan.rotation.rotating && !config.waitForControllers) {
            warnings.push(`rotating to ${logins[plan.rotation.active].roleName}: waitForControllers is false, so no step waits for External Secrets or CNPG; the backend may roll before PostgreSQL has the new password`);
        }
        infos.push(plan.budgetArithmetic);
    }
    const reset = resetWarning(config.pooler.poolMode, config.pooler.parameters);
    if (reset) warnings.push(reset);
    const phase = config.migration?.phase;
    if (phase && plan?.migration.record?.phase !== phase) {
        const job = appsSideDuring(config, plan?.migration.record).job;
        infos.push(`migration phase ${JSON.stringify(phase)}${job ? ` (${job} Job)` : ""}: ${PHASE_DOES[phase]}`);
    }
    return { warnings, infos };
}

/** Every problem (planTenant's), for tests and tools that only want the refusals. */
export const preflightProblems = (config: StackConfig, live: LivePlatform): Problem[] => planTenant(config, live).problems;

const indent = (text: string) => text.split("\n").map((line) => (line ? `        ${line}` : line)).join("\n");

export { PreflightError };

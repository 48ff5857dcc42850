// What the infra tenant emits, decided pure from the stack's config and this run's plan (model/preflight/rules.ts
// planTenant): every credential with its Vault key and Secret, the roles, the database, the pooler, the bootstrap
// Job, the rotation's evidence, and the wiring values known before the run. infra/tenant.ts receives this and
// only registers: each object through its own builder, in the order of the plan.
import type { Input } from "@pulumi/pulumi";
import { authQuery, bootstrapSqlArgs, renderBootstrapSql } from "../model/bootstrapSql";
import type { NetworkPoliciesConfig, SharedClusterConfig, StackConfig } from "../model/config";
import type { CnpgRoleFields } from "../model/crds";
import type { EvidenceWait } from "../model/evidence";
import type { ClusterSide, KubeAccess } from "../model/kubeObject";
import { platformLabels } from "../model/labels";
import { poolerAlertRules } from "../model/poolerAlerts";
import type { PrometheusRuleSpec } from "../model/poolerAlerts";
import type { TenantPlan } from "../model/preflight/rules";
import { desiredRoles } from "../model/roles";
import { CREDENTIAL_SLOTS, type CredentialSlot, ROTATION_ANNOTATIONS, credentialsVersion, loginCredentials } from "../model/rotation";
import type { BootstrapInputs } from "./bootstrapJob";
import type { DatabaseInputs } from "./cnpg";
import { vaultExternalSecretManifest } from "./externalSecret";
import type { PoolerInputs } from "./pooler";

/** Seconds a clusterPatch removal waits for CNPG to drop a role marked absent. */
const ROLE_DROP_TIMEOUT_SECONDS = 300;

/** A generated credential: its role, its key in Vault, and the basic-auth Secret CNPG reads it from. */
export interface TenantCredential {
    /** Its resources' name, after the tenant's: `login-a`, `login-b`, `pooler-auth`. */
    name: string;
    username: string;
    /** `<vault.keyPrefix>/<name>` under the KV v2 mount. */
    vaultKey: string;
    secretName: string;
    /** The tenant.passwordRotation its password is generated for (the random keeper). */
    generation: string;
    labels: Record<string, string>;
}

/** The tenant's roles on the shared cluster, by the stack's role strategy (infra/role.ts). */
export interface TenantRolesInputs {
    sharedCluster: SharedClusterConfig;
    roles: CnpgRoleFields[];
    reclaimPolicy: "retain" | "delete";
    labels: Record<string, string>;
    /** For the clusterPatch strategy, which talks to the infra cluster itself. */
    access: Pick<KubeAccess, "context" | "kubeconfig">;
    /** 0 when no CNPG operator runs (test clusters): removal does not wait for the role to be dropped. */
    dropTimeoutSeconds: number;
}

export interface InfraTenantInputs {
    namespace: string;
    /** Both login roles (rotation.ts), then, in vault auth mode, the pooler's auth role. */
    logins: Record<CredentialSlot, TenantCredential>;
    poolerAuth?: TenantCredential;
    /** The login role the backend uses after this run. */
    active: CredentialSlot;
    /** What every credential's ExternalSecret shares. */
    secrets: { storeName: string; refreshInterval: string; waitForReady: boolean };
    /** tenant.roleReclaimPolicy retain: the roles stay on destroy, and so do their Vault secrets and Secrets. */
    retain: boolean;
    roles: TenantRolesInputs;
    /** With waitForControllers: where the rotation's evidence is read, and for how long. */
    evidence?: { clusters: Record<ClusterSide, KubeAccess>; timeoutSeconds: number };
    database: DatabaseInputs;
    pooler: PoolerInputs & { alertRules: PrometheusRuleSpec };
    bootstrap: BootstrapInputs & { networkPolicies: NetworkPoliciesConfig };
    /** vault auth: PgBouncer's auth_query needs the function the Job creates, so the Job comes first; operator auth: the Job grants CONNECT to the role CNPG creates for the Pooler, so the Pooler does. */
    bootstrapBeforePooler: boolean;
    /** The wiring values known before the run. */
    wiring: { databaseName: string; roleName: string; passwordRotation: string; vaultMount: string; appName: string; serverCaCertificate: string; serverAltDnsNames: string[] };
}

export function infraTenantInputs(config: StackConfig, plan: TenantPlan, stack: string): InfraTenantInputs {
    const { tenant, pooler, sharedCluster, externalSecrets } = config;
    const namespace = sharedCluster.namespace;
    const labels = platformLabels(tenant.appName, "database", stack);
    const poolerLabels = platformLabels(tenant.appName, "pooler", stack);
    const vaultAuth = pooler.authMode === "vault";
    const logins = loginCredentials(tenant);
    const vaultKey = (name: string) => `${config.vault.keyPrefix}/${name}`;
    const login = (slot: CredentialSlot): TenantCredential => ({
        name: `login-${slot}`,
        username: logins[slot].roleName,
        vaultKey: vaultKey(logins[slot].vaultName),
        secretName: logins[slot].passwordSecretName,
        generation: plan.rotation.generations[slot],
        labels,
    });
    return {
        namespace,
        logins: { a: login("a"), b: login("b") },
        // A dedicated role for PgBouncer's auth_user: never an application role. A single credential cannot rotate
        // without failed logins, so tenant.passwordRotation does not regenerate it.
        ...(vaultAuth
            ? { poolerAuth: { name: "pooler-auth", username: pooler.authRoleName, vaultKey: vaultKey(`${tenant.appName}-pooler-auth`), secretName: pooler.authSecretName, generation: "1", labels: poolerLabels } }
            : {}),
        active: plan.rotation.active,
        secrets: { storeName: externalSecrets.infraStore, refreshInterval: externalSecrets.refreshInterval, waitForReady: config.waitForControllers },
        retain: tenant.roleReclaimPolicy === "retain",
        roles: {
            sharedCluster,
            roles: desiredRoles(config),
            reclaimPolicy: tenant.roleReclaimPolicy,
            labels,
            access: { context: config.infraCluster.context, kubeconfig: config.infraCluster.kubeconfig },
            dropTimeoutSeconds: config.waitForControllers ? ROLE_DROP_TIMEOUT_SECONDS : 0,
        },
        ...(config.waitForControllers ? { evidence: { clusters: { infra: config.infraCluster, apps: config.appsCluster }, timeoutSeconds: config.evidenceTimeoutSeconds } } : {}),
        database: {
            clusterName: sharedCluster.name,
            namespace,
            databaseName: tenant.databaseName,
            owner: tenant.roleName,
            schemas: tenant.schemas,
            reclaimPolicy: tenant.databaseReclaimPolicy,
            labels,
        },
        pooler: {
            config: pooler,
            clusterName: sharedCluster.name,
            namespace,
            databaseName: tenant.databaseName,
            loginRoles: CREDENTIAL_SLOTS.map((slot) => logins[slot].roleName),
            labels: poolerLabels,
            auth: vaultAuth ? { secretName: pooler.authSecretName, query: authQuery(pooler.authFunctionSchema) } : undefined,
            alertRules: poolerAlertRules(config),
        },
        bootstrap: {
            jobName: pooler.bootstrapJobName,
            namespace,
            clusterName: sharedCluster.name,
            // vault auth needs the superuser (the preflight checked it is enabled); operator auth runs as a login
            // role acting as the owner of its database (always login role a: the Job need not re-run on a rotation).
            runAs: vaultAuth ? { secretName: plan.superuserSecretName, database: "postgres" } : { secretName: logins.a.passwordSecretName, database: tenant.databaseName },
            loginRoleSecrets: CREDENTIAL_SLOTS.map((slot) => logins[slot].passwordSecretName),
            caSecretName: plan.caSecretName,
            image: pooler.bootstrapImage,
            runAsUser: pooler.bootstrapRunAsUser,
            networkPolicies: config.networkPolicies,
            sql: renderBootstrapSql(bootstrapSqlArgs(config)),
            labels,
            waitForCompletion: config.waitForControllers,
        },
        bootstrapBeforePooler: vaultAuth,
        wiring: {
            databaseName: tenant.databaseName,
            roleName: tenant.roleName,
            passwordRotation: tenant.passwordRotation,
            vaultMount: config.vault.kvMount,
            appName: tenant.appName,
            serverCaCertificate: plan.serverCaCertificate,
            serverAltDnsNames: plan.serverAltDnsNames,
        },
    };
}

/** A credential's ExternalSecret: the basic-auth Secret CNPG reads (a role's password, or the pooler's auth). */
export function credentialExternalSecret(inputs: InfraTenantInputs, credential: TenantCredential, stored: { vaultKey: Input<string>; vaultVersion: Input<string>; credentials: Input<string> }) {
    return vaultExternalSecretManifest({
        namespace: inputs.namespace,
        storeName: inputs.secrets.storeName,
        refreshInterval: inputs.secrets.refreshInterval,
        targetName: credential.secretName,
        // CNPG reads a password Secret (and a pooler auth Secret) of type basic-auth.
        secretType: "kubernetes.io/basic-auth",
        // Password changes apply at once in PostgreSQL thanks to the reload label.
        secretLabels: { ...credential.labels, "cnpg.io/reload": "true" },
        vaultKey: stored.vaultKey,
        vaultVersion: stored.vaultVersion,
        credentials: stored.credentials,
        annotations: { [ROTATION_ANNOTATIONS.generation]: credential.generation },
        properties: { username: "username", password: "password" },
        labels: credential.labels,
        waitForReady: inputs.secrets.waitForReady,
        // A retained role keeps the Secret CNPG reads its password from.
        retainSecret: inputs.retain,
    });
}

/**
 * Steps "infraSecret" and "postgres" of ROTATION_ORDER: both login roles' Secrets hold their Vault versions and CNPG
 * has applied them in PostgreSQL, before anything logs in with them.
 */
export function passwordsAppliedWaits(inputs: InfraTenantInputs, versions: Record<CredentialSlot, string>): EvidenceWait[] {
    const { sharedCluster } = inputs.roles;
    return CREDENTIAL_SLOTS.flatMap((slot): EvidenceWait[] => {
        const login = inputs.logins[slot];
        return [
            { kind: "secretSynced", cluster: "infra", namespace: inputs.namespace, secretName: login.secretName, credentials: credentialsVersion(login.username, versions[slot]) },
            {
                kind: "passwordApplied",
                namespace: inputs.namespace,
                clusterName: sharedCluster.name,
                roleName: login.username,
                secretName: login.secretName,
                declaredBy: sharedCluster.roleStrategy === "databaseRole" ? "databaseRole" : "cluster",
            },
        ];
    });
}

// What the apps side emits, decided pure from the stack's config and the migration's live facts: the namespace,
// the backend's credentials and where its database is (the pooler, or during a rollback the dedicated cluster it
// came from), its Deployment's settings, the rotation's evidence, the migration's Job and record. apps/appsSide.ts
// receives this and the infra wiring, and only registers.
import type { Input } from "@pulumi/pulumi";
import { reportedSearchPath } from "../model/bootstrapSql";
import type { BackendConfig, NetworkPoliciesConfig, StackConfig } from "../model/config";
import type { DatasourceTarget } from "../model/datasource";
import type { EvidenceWait } from "../model/evidence";
import type { ClusterSide, KubeAccess } from "../model/kubeObject";
import { platformLabels } from "../model/labels";
import { type AppsSideDuring, type MigrationPhase, PHASE_DOES, appsSideDuring, migrationRecordName, sourceHost } from "../model/migration/phases";
import type { TenantPlan } from "../model/preflight/rules";
import { ROTATION_ANNOTATIONS } from "../model/rotation";
import { vaultExternalSecretManifest } from "./externalSecret";
import type { MigrationJobConfig } from "./migrationJob";
import type { NamespaceInputs } from "./namespace";

export interface AppsSideInputs {
    appName: string;
    namespace: NamespaceInputs;
    /** The backend's objects' labels. */
    labels: Record<string, string>;
    backend: BackendConfig;
    networkPolicies: NetworkPoliciesConfig;
    /** clusterMesh: the global Service of the pooler's name in the apps cluster, with these labels. */
    globalPoolerService?: { labels: Record<string, string> };
    /** The backend's ExternalSecret's store. */
    secrets: { storeName: string; refreshInterval: string };
    /** waitForControllers: the ExternalSecret and the Deployment are awaited (needs running controllers). */
    waitForReady: boolean;
    /** With waitForControllers: where the rotation's evidence is read, and for how long. */
    evidence?: { clusters: Record<ClusterSide, KubeAccess>; timeoutSeconds: number };
    /** The backend's replicas and the migration's Job in this phase (model/migration/phases.ts). */
    during: AppsSideDuring;
    /** A rollback's second run: the backend on the dedicated cluster, with its own credentials and CA. */
    /** The backend back on the dedicated cluster: its database, its CA, and CNPG's basic-auth app Secret. */
    onSource?: { target: DatasourceTarget; caCertificate: string; credentials: { secretName: string; keys: { username: string; password: string }; version: string } };
    /** What wait-for-db expects of a session on the pooler: the owner and the search_path the bootstrap sets (none on the source). */
    expectedSession?: { owner: string; searchPath: string };
    migration?: {
        phase: MigrationPhase;
        does: string;
        /** The record's fixed name, which the next run's preflight reads. */
        recordName: string;
        config: MigrationJobConfig;
        /** The CA certificate of the dedicated cluster (read live by the preflight). */
        sourceCaCertificate: string;
        /** What the Job's result reader needs: the stack a printed command names, and the clusters it reads. */
        stack: string;
        result?: { clusters: Record<ClusterSide, KubeAccess> };
    };
}

export function appsSideInputs(config: StackConfig, stack: string, migration: TenantPlan["migration"] | undefined): AppsSideInputs {
    const { backend, tenant, externalSecrets } = config;
    const during = appsSideDuring(config, migration?.record);
    const source = config.migration?.source;
    const clusters = { infra: config.infraCluster, apps: config.appsCluster };
    const sourceCaCertificate = migration?.sourceCaCertificate ?? "";
    return {
        appName: tenant.appName,
        namespace: { name: backend.namespace, mode: backend.namespaceMode, podSecurityLevel: backend.podSecurityLevel, labels: platformLabels(tenant.appName, "namespace", stack) },
        labels: platformLabels(tenant.appName, "backend", stack),
        backend,
        networkPolicies: config.networkPolicies,
        ...(config.pooler.exposure.mode === "clusterMesh" ? { globalPoolerService: { labels: platformLabels(tenant.appName, "pooler", stack) } } : {}),
        secrets: { storeName: externalSecrets.appsStore, refreshInterval: externalSecrets.refreshInterval },
        waitForReady: config.waitForControllers,
        ...(config.waitForControllers ? { evidence: { clusters, timeoutSeconds: config.evidenceTimeoutSeconds } } : {}),
        during,
        ...(during.onSource && source
            ? { onSource: { target: { host: sourceHost(source), port: source.port, database: source.database, sslMode: "verify-full" }, caCertificate: sourceCaCertificate, credentials: { secretName: source.secretName, keys: { username: "username", password: "password" }, version: `migration-rollback:${source.secretName}` } } }
            : {}),
        ...(during.onSource ? {} : { expectedSession: { owner: tenant.roleName, searchPath: reportedSearchPath(tenant.schemas) } }),
        ...(config.migration
            ? {
                  migration: {
                      phase: config.migration.phase,
                      does: PHASE_DOES[config.migration.phase],
                      recordName: migrationRecordName(config),
                      // Only the blocks the migration's builders read (MigrationJobConfig), not the whole config.
                      config: { migration: config.migration, tenant, backend, pooler: config.pooler, networkPolicies: config.networkPolicies },
                      sourceCaCertificate,
                      stack,
                      ...(config.waitForControllers ? { result: { clusters } } : {}),
                  },
              }
            : {}),
    };
}

/** The login role's credentials in Vault, as the infra side (or the infra stack) published them. */
interface BackendCredentialsSource {
    vaultKey: Input<string>;
    vaultVersion: Input<string>;
    /** credentialsVersion(login role, vaultVersion). */
    credentials: Input<string>;
    loginRoleName: Input<string>;
    passwordRotation: Input<string>;
}

/** The backend's ExternalSecret: an Opaque Secret with the backend's key names, and the rotation's record. */
export function backendCredentialsExternalSecret(inputs: AppsSideInputs, source: BackendCredentialsSource) {
    const { backend } = inputs;
    return vaultExternalSecretManifest({
        namespace: backend.namespace,
        storeName: inputs.secrets.storeName,
        refreshInterval: inputs.secrets.refreshInterval,
        targetName: backend.credentialsSecretName,
        secretType: "Opaque",
        vaultKey: source.vaultKey,
        vaultVersion: source.vaultVersion,
        credentials: source.credentials,
        // The rotation's record: the next run reads which login role the backend follows (rotation.ts).
        annotations: { [ROTATION_ANNOTATIONS.loginRole]: source.loginRoleName, [ROTATION_ANNOTATIONS.rotation]: source.passwordRotation },
        properties: { [backend.usernameEnv]: "username", [backend.passwordEnv]: "password" },
        labels: inputs.labels,
        waitForReady: inputs.waitForReady,
    });
}

/** Step "appsSecret" of ROTATION_ORDER: the backend's Secret holds the login role's version. */
export function backendSecretWaits(inputs: AppsSideInputs, credentials: string): EvidenceWait[] {
    return [{ kind: "secretSynced", cluster: "apps", namespace: inputs.backend.namespace, secretName: inputs.backend.credentialsSecretName, credentials }];
}

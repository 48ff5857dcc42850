// The application side in the apps cluster, fed only by the infra wiring (component outputs or a
// StackReference): namespace, credentials Secret, datasource ConfigMap, backend Deployment.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../model/config";
import { datasourceConfigMap, serverCaConfigMap } from "../build/datasource";
import { vaultExternalSecretManifest } from "../build/externalSecret";
import { migrationRecordConfigMap } from "../build/migrationRecord";
import { poolerGlobalService } from "../build/pooler";
import { platformLabels } from "../model/labels";
import type { InfraWiring } from "../wiring";
import { BackendDeployment } from "./backend";
import type { SslMode } from "../model/jdbc";
import { datasourceEnv } from "../model/datasource";
import { AppsNamespace } from "./namespace";
import { ControllerEvidence } from "../resources/controllerEvidence";
import type { EvidenceWait } from "../model/evidence";
import { ROTATION_ANNOTATIONS, credentialsVersion } from "../model/rotation";
import { PHASE_DOES, appsSideDuring, migrationRecordName, sourceHost } from "../model/migration/phases";
import type { TenantPlan } from "../model/preflight/rules";
import { MigrationJob } from "./migrationJob";
import { reportedSearchPath } from "../model/bootstrapSql";

export interface AppsSideArgs {
    config: StackConfig;
    /** The stack's name: its ownership label on every object, and the stack a printed command names. */
    stack: string;
    wiring: InfraWiring;
    /** The migration's live facts (single-stack mode; the preflight read them). */
    migration?: TenantPlan["migration"];
    provider: k8s.Provider;
}

export class AppsSide extends pulumi.ComponentResource {
    public readonly namespace: pulumi.Output<string>;
    /** Auto-named: a new name on every datasource change, which rolls the Deployment out. */
    public readonly datasourceConfigMapName: pulumi.Output<string>;
    /** With a migration block: its phase, what it does, and its Job's result (the stack output `migration`). */
    public readonly migration?: pulumi.Output<unknown>;

    constructor(name: string, args: AppsSideArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synergyflow-db:apps:AppsSide", name, {}, opts);
        const { config, wiring, provider } = args;
        const { backend, tenant, externalSecrets } = config;
        const childOpts = { parent: this, provider };
        const labels = platformLabels(tenant.appName, "backend", args.stack);

        const namespace = new AppsNamespace(
            `${name}-namespace`,
            { name: backend.namespace, mode: backend.namespaceMode, podSecurityLevel: backend.podSecurityLevel, labels: platformLabels(tenant.appName, "namespace", args.stack), provider },
            { parent: this },
        );
        this.namespace = namespace.name;

        if (config.pooler.exposure.mode === "clusterMesh") {
            new k8s.core.v1.Service(
                `${name}-global-pooler-service`,
                poolerGlobalService({ name: wiring.poolerServiceName, namespace: wiring.infraNamespace, labels: platformLabels(tenant.appName, "pooler", args.stack) }),
                childOpts,
            );
        }

        const credentials = new k8s.apiextensions.CustomResource(
            `${name}-credentials`,
            vaultExternalSecretManifest({
                namespace: backend.namespace,
                storeName: externalSecrets.appsStore,
                refreshInterval: externalSecrets.refreshInterval,
                targetName: backend.credentialsSecretName,
                secretType: "Opaque",
                vaultKey: wiring.vaultKey,
                vaultVersion: wiring.vaultSecretVersion,
                credentials: pulumi.all([wiring.loginRoleName, wiring.vaultSecretVersion]).apply(([role, version]) => credentialsVersion(role, version)),
                // The rotation's record: the next run reads which login role the backend follows (rotation.ts).
                annotations: { [ROTATION_ANNOTATIONS.loginRole]: wiring.loginRoleName, [ROTATION_ANNOTATIONS.rotation]: wiring.passwordRotation },
                properties: { [backend.usernameEnv]: "username", [backend.passwordEnv]: "password" },
                labels,
                waitForReady: config.waitForControllers,
            }),
            { ...childOpts, dependsOn: [namespace] },
        );
        // Step "appsSecret" of ROTATION_ORDER: the backend's Secret holds the login role's version before any pod
        // is rolled onto it.
        const credentialsSynced = config.waitForControllers
            ? new ControllerEvidence(
                  `${name}-credentials-synced`,
                  {
                      clusters: { infra: config.infraCluster, apps: config.appsCluster },
                      cluster: "apps",
                      step: "backend credentials synced",
                      timeoutSeconds: config.evidenceTimeoutSeconds,
                      waits: pulumi
                          .all([wiring.loginRoleName, wiring.vaultSecretVersion])
                          .apply(([role, version]): EvidenceWait[] => [{ kind: "secretSynced", cluster: "apps", namespace: backend.namespace, secretName: backend.credentialsSecretName, credentials: credentialsVersion(role, version) }]),
                  },
                  { parent: this, dependsOn: [credentials] },
              )
            : undefined;

        // Where the backend's database is: the pooler, or (migration rollback) the dedicated cluster it came from.
        const during = appsSideDuring(config, args.migration?.record);
        const source = config.migration?.source;
        const poolerTarget = pulumi
            .all([wiring.poolerHost, wiring.poolerPort, wiring.databaseName, wiring.sslMode])
            .apply(([host, port, database, sslMode]) => ({ host, port: Number(port), database, sslMode: sslMode as SslMode }));
        const target = during.onSource && source ? pulumi.output({ host: sourceHost(source), port: source.port, database: source.database, sslMode: "verify-full" as SslMode }) : poolerTarget;
        const env = target.apply((t) => datasourceEnv(backend, t, tenant.appName));
        const datasource = new k8s.core.v1.ConfigMap(`${name}-datasource`, datasourceConfigMap({ namespace: backend.namespace, labels, env }), { ...childOpts, dependsOn: [namespace] });
        this.datasourceConfigMapName = datasource.metadata.name;
        // The shared cluster's CA certificate (public), so the backend verifies the pooler. Auto-named like the
        // datasource: a rotated CA is a new ConfigMap, and the backend rolls onto it.
        const serverCa = new k8s.core.v1.ConfigMap(
            `${name}-server-ca`,
            serverCaConfigMap({ namespace: backend.namespace, labels, caCertificate: during.onSource ? (args.migration?.sourceCaCertificate ?? "") : wiring.serverCaCertificate }),
            { ...childOpts, dependsOn: [namespace] },
        );

        const backendDeployment = new BackendDeployment(
            `${name}-backend`,
            {
                config: backend,
                networkPolicies: config.networkPolicies,
                namespace: backend.namespace,
                datasourceConfigMapName: this.datasourceConfigMapName,
                serverCaConfigMapName: serverCa.metadata.name,
                ...(during.onSource && source
                    ? { credentialsSecretName: source.secretName, credentialKeys: { username: "username", password: "password" }, credentialsVersion: `migration-rollback:${source.secretName}` }
                    : {
                          credentialsSecretName: backend.credentialsSecretName,
                          credentialKeys: { username: backend.usernameEnv, password: backend.passwordEnv },
                          credentialsVersion: pulumi.all([wiring.loginRoleName, wiring.vaultSecretVersion]).apply(([role, version]) => credentialsVersion(role, version)),
                      }),
                ...(during.onSource ? {} : { expectedSession: { owner: tenant.roleName, searchPath: reportedSearchPath(tenant.schemas) } }),
                replicas: during.replicas,
                labels,
                waitForReady: config.waitForControllers,
                provider,
                dependsOn: [namespace, credentials, ...(credentialsSynced ? [credentialsSynced] : [])],
            },
            { parent: this },
        );

        if (config.migration) {
            const phase = config.migration.phase;
            // The Job runs once the backend is at 0 replicas: no writer is left when the source goes read-only.
            const job = during.job
                ? new MigrationJob(
                      `${name}-migration-${during.job}`,
                      { config, stack: args.stack, job: during.job, target: poolerTarget, sourceCaCertificate: args.migration?.sourceCaCertificate ?? "", serverCaConfigMapName: serverCa.metadata.name, labels, provider, dependsOn: [backendDeployment.deployment, credentials] },
                      { parent: this },
                  )
                : undefined;
            const copyResult = during.job === "copy" ? job?.result : undefined;
            // The record the next run's preflight reads: the phase, and the copy's verification.
            new k8s.core.v1.ConfigMap(
                `${name}-migration-record`,
                migrationRecordConfigMap({ name: migrationRecordName(config), namespace: backend.namespace, labels, phase, ...(copyResult ? { copyResult: copyResult.apply((r) => JSON.stringify(r)) } : {}) }),
                { ...childOpts, dependsOn: job ? [job] : [] },
            );
            const summary: Record<string, pulumi.Input<unknown>> = { phase, does: PHASE_DOES[phase], ...(job?.result ? { result: job.result } : {}) };
            this.migration = pulumi.output(summary);
        }
        this.registerOutputs({ namespace: this.namespace, datasourceConfigMapName: this.datasourceConfigMapName });
    }
}

// The application side in the apps cluster, registered: what build/appsSide.ts decided, fed only by the infra
// wiring (component outputs or a StackReference): namespace, credentials Secret, datasource ConfigMap, backend
// Deployment, and the migration's Job and record.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { type AppsSideInputs, backendCredentialsExternalSecret, backendSecretWaits } from "../build/appsSide";
import { datasourceConfigMap, serverCaConfigMap } from "../build/datasource";
import { migrationRecordConfigMap } from "../build/migrationRecord";
import { poolerGlobalService } from "../build/pooler";
import type { InfraWiring } from "../wiring";
import { BackendDeployment } from "./backend";
import type { SslMode } from "../model/jdbc";
import { datasourceEnv } from "../model/datasource";
import { AppsNamespace } from "./namespace";
import { ControllerEvidence } from "../resources/controllerEvidence";
import { credentialsVersion } from "../model/rotation";
import { MigrationJob } from "./migrationJob";

export interface AppsSideArgs {
    /** What to emit (build/appsSide.ts appsSideInputs). */
    apps: AppsSideInputs;
    wiring: InfraWiring;
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
        const { apps, wiring, provider } = args;
        const { backend, labels, during } = apps;
        const childOpts = { parent: this, provider };

        const namespace = new AppsNamespace(`${name}-namespace`, { ...apps.namespace, provider }, { parent: this });
        this.namespace = namespace.name;

        if (apps.globalPoolerService) {
            new k8s.core.v1.Service(`${name}-global-pooler-service`, poolerGlobalService({ name: wiring.poolerServiceName, namespace: wiring.infraNamespace, labels: apps.globalPoolerService.labels }), childOpts);
        }

        const loginCredentials = pulumi.all([wiring.loginRoleName, wiring.vaultSecretVersion]).apply(([role, version]) => credentialsVersion(role, version));
        const credentials = new k8s.apiextensions.CustomResource(
            `${name}-credentials`,
            backendCredentialsExternalSecret(apps, { vaultKey: wiring.vaultKey, vaultVersion: wiring.vaultSecretVersion, credentials: loginCredentials, loginRoleName: wiring.loginRoleName, passwordRotation: wiring.passwordRotation }),
            { ...childOpts, dependsOn: [namespace] },
        );
        // Step "appsSecret" of ROTATION_ORDER: the backend's Secret holds the login role's version before any pod
        // is rolled onto it.
        const credentialsSynced = apps.evidence
            ? new ControllerEvidence(
                  `${name}-credentials-synced`,
                  {
                      clusters: apps.evidence.clusters,
                      cluster: "apps",
                      step: "backend credentials synced",
                      timeoutSeconds: apps.evidence.timeoutSeconds,
                      waits: loginCredentials.apply((pair) => backendSecretWaits(apps, pair)),
                  },
                  { parent: this, dependsOn: [credentials] },
              )
            : undefined;

        // Where the backend's database is: the pooler, or (migration rollback) the dedicated cluster it came from.
        const poolerTarget = pulumi
            .all([wiring.poolerHost, wiring.poolerPort, wiring.databaseName, wiring.sslMode])
            .apply(([host, port, database, sslMode]) => ({ host, port: Number(port), database, sslMode: sslMode as SslMode }));
        const target = apps.onSource ? pulumi.output(apps.onSource.target) : poolerTarget;
        const env = target.apply((t) => datasourceEnv(backend, t, apps.appName));
        const datasource = new k8s.core.v1.ConfigMap(`${name}-datasource`, datasourceConfigMap({ namespace: backend.namespace, labels, env }), { ...childOpts, dependsOn: [namespace] });
        this.datasourceConfigMapName = datasource.metadata.name;
        // The shared cluster's CA certificate (public), so the backend verifies the pooler. Auto-named like the
        // datasource: a rotated CA is a new ConfigMap, and the backend rolls onto it.
        const serverCa = new k8s.core.v1.ConfigMap(
            `${name}-server-ca`,
            serverCaConfigMap({ namespace: backend.namespace, labels, caCertificate: apps.onSource ? apps.onSource.caCertificate : wiring.serverCaCertificate }),
            { ...childOpts, dependsOn: [namespace] },
        );

        const backendDeployment = new BackendDeployment(
            `${name}-backend`,
            {
                config: backend,
                networkPolicies: apps.networkPolicies,
                namespace: backend.namespace,
                datasourceConfigMapName: this.datasourceConfigMapName,
                serverCaConfigMapName: serverCa.metadata.name,
                ...(apps.onSource
                    ? { credentialsSecretName: apps.onSource.credentials.secretName, credentialKeys: apps.onSource.credentials.keys, credentialsVersion: apps.onSource.credentials.version }
                    : { credentialsSecretName: backend.credentialsSecretName, credentialKeys: { username: backend.usernameEnv, password: backend.passwordEnv }, credentialsVersion: loginCredentials }),
                ...(apps.expectedSession ? { expectedSession: apps.expectedSession } : {}),
                replicas: during.replicas,
                labels,
                waitForReady: apps.waitForReady,
                provider,
                dependsOn: [namespace, credentials, ...(credentialsSynced ? [credentialsSynced] : [])],
            },
            { parent: this },
        );

        if (apps.migration) {
            const { phase } = apps.migration;
            // The Job runs once the backend is at 0 replicas: no writer is left when the source goes read-only.
            const job = during.job
                ? new MigrationJob(
                      `${name}-migration-${during.job}`,
                      {
                          config: apps.migration.config,
                          stack: apps.migration.stack,
                          job: during.job,
                          target: poolerTarget,
                          sourceCaCertificate: apps.migration.sourceCaCertificate,
                          serverCaConfigMapName: serverCa.metadata.name,
                          labels,
                          ...(apps.migration.result ? { result: apps.migration.result } : {}),
                          provider,
                          dependsOn: [backendDeployment.deployment, credentials],
                      },
                      { parent: this },
                  )
                : undefined;
            const copyResult = during.job === "copy" ? job?.result : undefined;
            // The record the next run's preflight reads: the phase, and the copy's verification.
            new k8s.core.v1.ConfigMap(
                `${name}-migration-record`,
                migrationRecordConfigMap({ name: apps.migration.recordName, namespace: backend.namespace, labels, phase, ...(copyResult ? { copyResult: copyResult.apply((r) => JSON.stringify(r)) } : {}) }),
                { ...childOpts, dependsOn: job ? [job] : [] },
            );
            const summary: Record<string, pulumi.Input<unknown>> = { phase, does: apps.migration.does, ...(job?.result ? { result: job.result } : {}) };
            this.migration = pulumi.output(summary);
        }
        this.registerOutputs({ namespace: this.namespace, datasourceConfigMapName: this.datasourceConfigMapName });
    }
}

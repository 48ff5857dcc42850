// The migration's Job on the apps cluster, registered (build/migrationJob.ts), and the reader of its result.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { ClusterSide, KubeAccess } from "../model/kubeObject";
import { JobResult } from "../resources/jobResult";
import { type MigrationJobConfig, type MigrationJobKind, type MigrationTarget, migrationJobName, migrationJobSpec, migrationNetworkPolicy, migrationScripts, migrationScriptsConfigMap, sourceCaConfigMap } from "../build/migrationJob";

export interface MigrationJobArgs {
    config: MigrationJobConfig;
    /** The stack the printed `pulumi up --replace` command names. */
    stack: string;
    job: MigrationJobKind;
    /** The tenant database as the backend reaches it (the pooler). */
    target: pulumi.Input<MigrationTarget>;
    /** The CA certificate of the dedicated cluster (ca.crt of its CA Secret, read live by the preflight). */
    sourceCaCertificate: string;
    serverCaConfigMapName: pulumi.Input<string>;
    labels: Record<string, string>;
    /** With waitForControllers: read the Job's result from these clusters. */
    result?: { clusters: Record<ClusterSide, KubeAccess> };
    provider: k8s.Provider;
    dependsOn: pulumi.Resource[];
}

export class MigrationJob extends pulumi.ComponentResource {
    /** The Job's result as it reported it; undefined when no controller runs to finish it (waitForControllers). */
    public readonly result?: pulumi.Output<Record<string, unknown>>;

    constructor(name: string, args: MigrationJobArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synergyflow-db:apps:MigrationJob", name, {}, opts);
        const { config } = args;
        const migration = config.migration!;
        const { backend } = config;
        const namespace = backend.namespace;
        const childOpts = { parent: this, provider: args.provider };
        const scripts = migrationScripts(config, args.job);
        const jobName = migrationJobName(config, args.job, scripts);
        const scriptMap = new k8s.core.v1.ConfigMap(`${name}-scripts`, migrationScriptsConfigMap(config, jobName, scripts, args.labels), childOpts);
        const sourceCa = new k8s.core.v1.ConfigMap(`${name}-source-ca`, sourceCaConfigMap(config, args.sourceCaCertificate, args.labels), childOpts);
        // Before the Job: its pod starts under the policy.
        const manifest = pulumi.output(args.target).apply((target) => migrationNetworkPolicy(config, target, args.labels));
        const policy = config.networkPolicies.jobs
            ? [new k8s.networking.v1.NetworkPolicy(`${name}-network-policy`, { metadata: manifest.apply((m) => m.metadata as k8s.types.input.meta.v1.ObjectMeta), spec: manifest.apply((m) => m.spec as k8s.types.input.networking.v1.NetworkPolicySpec) }, childOpts)]
            : [];
        const job = new k8s.batch.v1.Job(
            `${name}-job`,
            {
                // The JobResult below is the wait: it reports the script's own message when the Job fails. Deleted in
                // the background: with Pulumi's default (foreground) and no await, the replacement's apply could land
                // on the old Job while it waits for its pods to go, and vanish with it (the e2e saw 2 runs in 5).
                metadata: { name: jobName, namespace, labels: args.labels, annotations: { "pulumi.com/skipAwait": "true", "pulumi.com/deletionPropagationPolicy": "background" } },
                spec: pulumi.output(args.target).apply((target) =>
                    migrationJobSpec({ config, job: args.job, name: jobName, target, scriptsConfigMapName: scriptMap.metadata.name, serverCaConfigMapName: args.serverCaConfigMapName, sourceCaConfigMapName: sourceCa.metadata.name, labels: args.labels }),
                ),
            },
            // Its name is fixed: a replacement (a new script, `--replace` after a failure) deletes the old one first.
            { ...childOpts, dependsOn: [...args.dependsOn, ...policy], deleteBeforeReplace: true },
        );
        this.result = args.result
            ? new JobResult(
                  `${name}-result`,
                  // A minute past the Job's deadline: the Job's own failure (DeadlineExceeded) is what gets reported.
                  { clusters: args.result.clusters, cluster: "apps", namespace, jobName: job.metadata.name, timeoutSeconds: migration.timeoutSeconds + 60, rerun: pulumi.interpolate`pulumi up --stack ${args.stack} --replace '${job.urn}'` },
                  { parent: this, dependsOn: [job] },
              ).result
            : undefined;
        this.registerOutputs({ result: this.result });
    }
}

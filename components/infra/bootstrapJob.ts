// Runs the tenant's bootstrap SQL: a Job under restricted Pod Security that logs in with a basic-auth Secret
// (a login role's in `operator` pooler auth, the cluster superuser's in `vault` auth), verifies the server
// against the cluster's CA, and re-runs whenever the SQL changes (its name carries a hash of the SQL, so a new
// SQL text is a new Job).
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { type BootstrapInputs, bootstrapJob, bootstrapNetworkPolicy, bootstrapSqlConfigMap } from "../build/bootstrapJob";
import type { NetworkPoliciesConfig } from "../model/config";
import { bootstrapSqlText } from "../model/bootstrapSql";
import { bootstrapObjectNames } from "../model/names";

export interface BootstrapJobArgs extends BootstrapInputs {
    networkPolicies: NetworkPoliciesConfig;
    provider: k8s.Provider;
    dependsOn: pulumi.Resource[];
}

export class BootstrapJob extends pulumi.ComponentResource {
    public readonly job: k8s.batch.v1.Job;

    constructor(name: string, args: BootstrapJobArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synergyflow-db:infra:BootstrapJob", name, {}, opts);
        const childOpts = { parent: this, provider: args.provider };
        const names = bootstrapObjectNames(args.jobName, args.image, bootstrapSqlText(args.sql));
        const script = new k8s.core.v1.ConfigMap(`${name}-sql`, bootstrapSqlConfigMap(args, names.configMap), childOpts);
        // Before the Job: its pods start under the policy. Named after the Job's base name: it selects every run.
        const policy = args.networkPolicies.jobs ? [new k8s.networking.v1.NetworkPolicy(`${name}-network-policy`, bootstrapNetworkPolicy(args, args.networkPolicies), childOpts)] : [];
        // The name follows the SQL and the image only; a new pod shape under the same name (a program upgrade) is a
        // replacement, which must delete the finished Job first (a create would meet the old name). The SQL is
        // idempotent: running it again is harmless.
        this.job = new k8s.batch.v1.Job(`${name}-job`, bootstrapJob(args, names.job, script.metadata.name), { ...childOpts, dependsOn: [...args.dependsOn, ...policy], deleteBeforeReplace: true });
        this.registerOutputs({ jobName: this.job.metadata.name });
    }
}

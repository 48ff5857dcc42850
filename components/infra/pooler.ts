// The tenant's PgBouncer, registered: the objects of build/pooler.ts on the infra cluster.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { type PoolerInputs, POOLER_PORT, poolerDisruptionBudget, poolerHost, poolerManifest, poolerNetworkPolicy, poolerPodMonitor, poolerPrometheusRule } from "../build/pooler";
import type { PrometheusRuleSpec } from "../model/poolerAlerts";

export interface TenantPoolerArgs extends PoolerInputs {
    /** With podMonitor: the alerts on this pooler's metrics (poolerAlerts.ts). */
    alertRules?: PrometheusRuleSpec;
    provider: k8s.Provider;
    dependsOn: pulumi.Resource[];
}

export class TenantPooler extends pulumi.ComponentResource {
    public readonly pooler: k8s.apiextensions.CustomResource;
    /** The Service CNPG creates: named exactly like the Pooler (there is no "-rw" suffix). */
    public readonly serviceName: pulumi.Output<string>;
    /** The address the apps cluster connects to. */
    public readonly host: pulumi.Output<string>;
    public readonly port: pulumi.Output<number>;

    constructor(name: string, args: TenantPoolerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synergyflow-db:infra:TenantPooler", name, {}, opts);
        const { config } = args;
        const childOpts = { parent: this, provider: args.provider };

        this.pooler = new k8s.apiextensions.CustomResource(`${name}-pooler`, poolerManifest(args), { ...childOpts, dependsOn: args.dependsOn });
        this.serviceName = this.pooler.metadata.name;
        this.port = pulumi.output(POOLER_PORT);
        new k8s.policy.v1.PodDisruptionBudget(`${name}-pdb`, poolerDisruptionBudget(args), childOpts);
        if (config.podMonitor) new k8s.apiextensions.CustomResource(`${name}-podmonitor`, poolerPodMonitor(args), childOpts);
        if (config.podMonitor && args.alertRules) new k8s.apiextensions.CustomResource(`${name}-alerts`, poolerPrometheusRule(args, args.alertRules), childOpts);
        const networkPolicy = poolerNetworkPolicy(args);
        if (networkPolicy) new k8s.networking.v1.NetworkPolicy(`${name}-from-apps`, networkPolicy, childOpts);

        this.host = pulumi.output(poolerHost(config, args.namespace));
        this.registerOutputs({ serviceName: this.serviceName, host: this.host, port: this.port });
    }
}

// The tenant's PgBouncer: the CNPG Pooler, its disruption budget, its metrics, and its exposure to the apps
// cluster (whose pods cannot resolve or reach a ClusterIP Service of the infra cluster).
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { PoolerConfig } from "../config";
import { type PodMonitorSpec, type PoolerSpec, customResource } from "../crds";
import { renderPoolerHba, renderPoolerParameters } from "./poolerParameters";

export const POOLER_PORT = 5432;
export const POOLER_METRICS_PORT_NAME = "metrics";

export interface TenantPoolerArgs {
    config: PoolerConfig;
    clusterName: string;
    namespace: string;
    databaseName: string;
    roleName: string;
    labels: Record<string, string>;
    /** vault auth mode: the basic-auth Secret and the query PgBouncer's auth_user runs. */
    auth?: { secretName: string; query: string };
    provider: k8s.Provider;
    dependsOn: pulumi.Resource[];
}

/** Annotations CNPG copies onto the Service it makes for the Pooler, by exposure mode. */
export function poolerServiceTemplate(config: PoolerConfig): PoolerSpec["serviceTemplate"] {
    const { exposure } = config;
    switch (exposure.mode) {
        case "loadBalancer":
            return {
                // Cilium LB IPAM hands out the address from the infra cluster's BGP-advertised pool.
                metadata: exposure.loadBalancerIP ? { annotations: { "lbipam.cilium.io/ips": exposure.loadBalancerIP } } : {},
                spec: { type: "LoadBalancer" },
            };
        case "clusterMesh":
            return { metadata: { annotations: { "service.cilium.io/global": "true" } }, spec: { type: "ClusterIP" } };
        case "external":
            return undefined;
    }
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
        const poolerSelector = { "cnpg.io/poolerName": config.name };

        this.pooler = customResource<PoolerSpec>(
            `${name}-pooler`,
            {
                apiVersion: "postgresql.cnpg.io/v1",
                kind: "Pooler",
                metadata: { name: config.name, namespace: args.namespace, labels: args.labels },
                spec: {
                    cluster: { name: args.clusterName },
                    instances: config.instances,
                    type: "rw",
                    pgbouncer: {
                        poolMode: config.poolMode,
                        parameters: renderPoolerParameters(config.parameters),
                        pg_hba: renderPoolerHba(args.databaseName, args.roleName),
                        ...(args.auth ? { authQuerySecret: { name: args.auth.secretName }, authQuery: args.auth.query } : {}),
                    },
                    template: {
                        metadata: { labels: args.labels },
                        spec: {
                            // Required by the CRD; CNPG merges this entry into its pgbouncer container. Its
                            // securityContext is overwritten by the operator's hardened default, so none is set.
                            containers: [{ name: "pgbouncer", resources: config.resources }],
                            affinity: {
                                podAntiAffinity: {
                                    preferredDuringSchedulingIgnoredDuringExecution: [
                                        {
                                            weight: 100,
                                            podAffinityTerm: { topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: poolerSelector } },
                                        },
                                    ],
                                },
                            },
                        },
                    },
                    // No surge: an extra pod would open max_db_connections more server connections than budgeted.
                    deploymentStrategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } },
                    serviceTemplate: poolerServiceTemplate(config),
                },
            },
            { ...childOpts, dependsOn: args.dependsOn },
        );
        this.serviceName = this.pooler.metadata.name;
        this.port = pulumi.output(POOLER_PORT);

        new k8s.policy.v1.PodDisruptionBudget(
            `${name}-pdb`,
            {
                metadata: { name: config.podDisruptionBudgetName, namespace: args.namespace, labels: args.labels },
                spec: { maxUnavailable: 1, selector: { matchLabels: poolerSelector } },
            },
            childOpts,
        );

        if (config.podMonitor) {
            customResource<PodMonitorSpec>(
                `${name}-podmonitor`,
                {
                    apiVersion: "monitoring.coreos.com/v1",
                    kind: "PodMonitor",
                    metadata: { name: config.name, namespace: args.namespace, labels: args.labels },
                    spec: { selector: { matchLabels: poolerSelector }, podMetricsEndpoints: [{ port: POOLER_METRICS_PORT_NAME }] },
                },
                childOpts,
            );
        }

        const { exposure } = config;
        if (exposure.appsPodCidrs.length > 0) {
            // cnpg-system denies traffic from outside the namespace by default.
            new k8s.networking.v1.NetworkPolicy(
                `${name}-from-apps`,
                {
                    metadata: { name: exposure.networkPolicyName, namespace: args.namespace, labels: args.labels },
                    spec: {
                        podSelector: { matchLabels: poolerSelector },
                        policyTypes: ["Ingress"],
                        ingress: [
                            {
                                from: exposure.appsPodCidrs.map((cidr) => ({ ipBlock: { cidr } })),
                                ports: [{ protocol: "TCP", port: POOLER_PORT }],
                            },
                        ],
                    },
                },
                childOpts,
            );
        }

        this.host = this.resolveHost(name, args);
        this.registerOutputs({ serviceName: this.serviceName, host: this.host, port: this.port });
    }

    private resolveHost(name: string, args: TenantPoolerArgs): pulumi.Output<string> {
        const { exposure } = args.config;
        switch (exposure.mode) {
            case "external":
                return pulumi.output(exposure.host as string);
            case "clusterMesh":
                // A global Service of the same name and namespace exists in the apps cluster.
                return pulumi.interpolate`${this.serviceName}.${args.namespace}.svc.cluster.local`;
            case "loadBalancer": {
                const configured = exposure.loadBalancerIP ?? exposure.host;
                if (configured) return pulumi.output(configured);
                // Read back the address LB IPAM assigned to the Service CNPG made for the Pooler.
                const service = k8s.core.v1.Service.get(`${name}-service`, pulumi.interpolate`${args.namespace}/${this.serviceName}`, {
                    parent: this,
                    provider: args.provider,
                    dependsOn: [this.pooler],
                });
                return service.status.apply((status) => {
                    const ingress = status?.loadBalancer?.ingress?.[0];
                    const address = ingress?.ip ?? ingress?.hostname;
                    if (!address) {
                        throw new Error(
                            `the pooler Service ${args.namespace}/${args.config.name} has no LoadBalancer address yet; set synergyflow-db:pooler.exposure.loadBalancerIP (or .host) or re-run once LB IPAM has assigned one`,
                        );
                    }
                    return address;
                });
            }
        }
    }
}

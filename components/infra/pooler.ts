// The tenant's PgBouncer: the CNPG Pooler, its disruption budget, its metrics, and its exposure to the apps
// cluster (whose pods cannot resolve or reach a ClusterIP Service of the infra cluster).
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { PoolerConfig } from "../config";
import { type PodMonitorSpec, type PoolerSpec, customResource } from "../crds";
import type { PrometheusRuleSpec } from "./poolerAlerts";
import { renderPoolerHba, renderPoolerParameters } from "./poolerParameters";

export const POOLER_PORT = 5432;
export const POOLER_METRICS_PORT_NAME = "metrics";
/** The pgbouncer exporter's port on the pooler pods (CNPG). */
export const POOLER_METRICS_PORT = 9127;

export interface TenantPoolerArgs {
    config: PoolerConfig;
    clusterName: string;
    namespace: string;
    databaseName: string;
    /** The tenant's login roles: the only roles pg_hba admits. */
    loginRoles: string[];
    labels: Record<string, string>;
    /** vault auth mode: the basic-auth Secret and the query PgBouncer's auth_user runs. */
    auth?: { secretName: string; query: string };
    /** With podMonitor: the alerts on this pooler's metrics (poolerAlerts.ts). */
    alertRules?: PrometheusRuleSpec;
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
                // Local keeps the client's source address (Cluster may forward from another node, rewritten to
                // that node's), and BGP announces the address only from nodes that run a pooler pod.
                spec: { type: "LoadBalancer", externalTrafficPolicy: "Local" },
            };
        case "clusterMesh":
            return { metadata: { annotations: { "service.cilium.io/global": "true" } }, spec: { type: "ClusterIP" } };
        case "external":
            return undefined;
    }
}

/**
 * What the pooler's NetworkPolicy admits: the apps cluster's node or pod addresses (whichever arrives: the
 * stack states whether that cluster masquerades pod egress) on the PgBouncer port, and the monitoring
 * namespace on the metrics port only.
 */
export function poolerIngressRules(config: PoolerConfig): k8s.types.input.networking.v1.NetworkPolicyIngressRule[] {
    const { exposure } = config;
    const rules: k8s.types.input.networking.v1.NetworkPolicyIngressRule[] = [];
    if (exposure.mode !== "external") {
        const sources = exposure.appsMasquerade ? exposure.appsNodeCidrs : exposure.appsPodCidrs;
        rules.push({ from: sources.map((cidr) => ({ ipBlock: { cidr } })), ports: [{ protocol: "TCP", port: POOLER_PORT }] });
    }
    if (config.podMonitor) {
        rules.push({ from: [{ namespaceSelector: { matchLabels: config.monitoringNamespaceSelector } }], ports: [{ protocol: "TCP", port: POOLER_METRICS_PORT }] });
    }
    return rules;
}

/** The address the apps cluster connects to: always known before the run (never read back from a Service). */
export function poolerHost(config: PoolerConfig, namespace: string): string {
    const { exposure } = config;
    switch (exposure.mode) {
        case "external":
        case "loadBalancer":
            // The config check requires one of them in these modes.
            // A DNS name the certificate carries allows verify-full; else the reserved address.
            return (exposure.host ?? exposure.loadBalancerIP) as string;
        case "clusterMesh":
            // A global Service of the same name and namespace exists in the apps cluster.
            return `${config.name}.${namespace}.svc.cluster.local`;
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
                metadata: {
                    name: config.name,
                    namespace: args.namespace,
                    labels: args.labels,
                    // Deleted in the foreground (Pulumi's default), the Pooler waits for its Deployment while CNPG
                    // re-creates that Deployment for the Pooler it still sees: destroy never ends (seen with CNPG
                    // 1.27.4). In the background the Pooler goes at once and the garbage collector removes the rest.
                    annotations: { "pulumi.com/deletionPropagationPolicy": "background" },
                },
                spec: {
                    cluster: { name: args.clusterName },
                    instances: config.instances,
                    type: "rw",
                    pgbouncer: {
                        poolMode: config.poolMode,
                        parameters: renderPoolerParameters(config.parameters),
                        pg_hba: renderPoolerHba(args.databaseName, args.loginRoles),
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
        if (config.podMonitor && args.alertRules) {
            customResource<PrometheusRuleSpec>(
                `${name}-alerts`,
                { apiVersion: "monitoring.coreos.com/v1", kind: "PrometheusRule", metadata: { name: config.name, namespace: args.namespace, labels: args.labels }, spec: args.alertRules },
                childOpts,
            );
        }

        const ingress = poolerIngressRules(config);
        if (ingress.length > 0) {
            // cnpg-system denies traffic from outside the namespace by default.
            new k8s.networking.v1.NetworkPolicy(
                `${name}-from-apps`,
                {
                    metadata: { name: config.exposure.networkPolicyName, namespace: args.namespace, labels: args.labels },
                    spec: { podSelector: { matchLabels: poolerSelector }, policyTypes: ["Ingress"], ingress },
                },
                childOpts,
            );
        }

        this.host = pulumi.output(poolerHost(config, args.namespace));
        this.registerOutputs({ serviceName: this.serviceName, host: this.host, port: this.port });
    }
}

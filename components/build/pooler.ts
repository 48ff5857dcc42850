// The tenant's PgBouncer as CNPG objects, one pure builder each: the Pooler, its disruption budget, its
// NetworkPolicy, (with pooler.podMonitor) its PodMonitor and PrometheusRule, and (clusterMesh) the global Service
// on the apps cluster. The components (infra/pooler.ts, apps/appsSide.ts) only register what these return. The
// host the apps cluster connects to is decided here too: always known before the run, never read back from a
// Service.
import type * as k8s from "@pulumi/kubernetes";
import type { Input } from "@pulumi/pulumi";
import type { PoolerConfig } from "../model/config";
import type { PodMonitorSpec, PoolerSpec } from "../model/crds";
import type { PrometheusRuleSpec } from "../model/poolerAlerts";
import { renderPoolerHba, renderPoolerParameters } from "../model/poolerParameters";

export const POOLER_PORT = 5432;
export const POOLER_METRICS_PORT_NAME = "metrics";
/** The pgbouncer exporter's port on the pooler pods (CNPG). */
export const POOLER_METRICS_PORT = 9127;

/** What the pooler's objects are built from: the stack's pooler block and where it serves. */
export interface PoolerInputs {
    config: PoolerConfig;
    clusterName: string;
    namespace: string;
    databaseName: string;
    /** The tenant's login roles: the only roles pg_hba admits. */
    loginRoles: string[];
    labels: Record<string, string>;
    /** vault auth mode: the basic-auth Secret and the query PgBouncer's auth_user runs. */
    auth?: { secretName: string; query: string };
}

/** The pods CNPG runs for the Pooler carry its name in this label. */
export const poolerSelector = (config: PoolerConfig) => ({ "cnpg.io/poolerName": config.name });

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

export function poolerManifest(inputs: PoolerInputs) {
    const { config } = inputs;
    return {
        apiVersion: "postgresql.cnpg.io/v1",
        kind: "Pooler",
        metadata: {
            name: config.name,
            namespace: inputs.namespace,
            labels: inputs.labels,
            // Deleted in the foreground (Pulumi's default), the Pooler waits for its Deployment while CNPG
            // re-creates that Deployment for the Pooler it still sees: destroy never ends (seen with CNPG
            // 1.27.4). In the background the Pooler goes at once and the garbage collector removes the rest.
            annotations: { "pulumi.com/deletionPropagationPolicy": "background" },
        },
        spec: {
            cluster: { name: inputs.clusterName },
            instances: config.instances,
            type: "rw",
            pgbouncer: {
                poolMode: config.poolMode,
                parameters: renderPoolerParameters(config.parameters),
                pg_hba: renderPoolerHba(inputs.databaseName, inputs.loginRoles),
                ...(inputs.auth ? { authQuerySecret: { name: inputs.auth.secretName }, authQuery: inputs.auth.query } : {}),
            },
            template: {
                metadata: { labels: inputs.labels },
                spec: {
                    // Required by the CRD; CNPG merges this entry into its pgbouncer container. Its
                    // securityContext is overwritten by the operator's hardened default, so none is set.
                    containers: [{ name: "pgbouncer", resources: config.resources }],
                    affinity: {
                        podAntiAffinity: {
                            preferredDuringSchedulingIgnoredDuringExecution: [
                                {
                                    weight: 100,
                                    podAffinityTerm: { topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: poolerSelector(config) } },
                                },
                            ],
                        },
                    },
                },
            },
            // No surge: an extra pod would open max_db_connections more server connections than budgeted.
            deploymentStrategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } },
            serviceTemplate: poolerServiceTemplate(config),
        } satisfies PoolerSpec,
    };
}

export function poolerDisruptionBudget(inputs: PoolerInputs): k8s.types.input.policy.v1.PodDisruptionBudget {
    return {
        metadata: { name: inputs.config.podDisruptionBudgetName, namespace: inputs.namespace, labels: inputs.labels },
        spec: { maxUnavailable: 1, selector: { matchLabels: poolerSelector(inputs.config) } },
    };
}

/** cnpg-system denies traffic from outside the namespace by default; undefined when nothing must come in. */
export function poolerNetworkPolicy(inputs: PoolerInputs): k8s.types.input.networking.v1.NetworkPolicy | undefined {
    const ingress = poolerIngressRules(inputs.config);
    if (ingress.length === 0) return undefined;
    return {
        metadata: { name: inputs.config.exposure.networkPolicyName, namespace: inputs.namespace, labels: inputs.labels },
        spec: { podSelector: { matchLabels: poolerSelector(inputs.config) }, policyTypes: ["Ingress"], ingress },
    };
}

export function poolerPodMonitor(inputs: PoolerInputs) {
    return {
        apiVersion: "monitoring.coreos.com/v1",
        kind: "PodMonitor",
        metadata: { name: inputs.config.name, namespace: inputs.namespace, labels: inputs.labels },
        spec: { selector: { matchLabels: poolerSelector(inputs.config) }, podMetricsEndpoints: [{ port: POOLER_METRICS_PORT_NAME }] } satisfies PodMonitorSpec,
    };
}

export function poolerPrometheusRule(inputs: PoolerInputs, rules: PrometheusRuleSpec) {
    return { apiVersion: "monitoring.coreos.com/v1", kind: "PrometheusRule", metadata: { name: inputs.config.name, namespace: inputs.namespace, labels: inputs.labels }, spec: rules };
}

/**
 * clusterMesh: the global Service of the pooler's name and namespace in the apps cluster. Cilium merges the
 * endpoints of global Services with the same name and namespace in both clusters; this one has none of its own.
 */
export function poolerGlobalService(inputs: { name: Input<string>; namespace: Input<string>; labels: Record<string, string> }): k8s.types.input.core.v1.Service {
    return {
        metadata: {
            name: inputs.name,
            namespace: inputs.namespace,
            labels: inputs.labels,
            annotations: { "service.cilium.io/global": "true", "service.cilium.io/shared": "false" },
        },
        spec: { type: "ClusterIP", ports: [{ name: "pgbouncer", port: POOLER_PORT, targetPort: POOLER_PORT, protocol: "TCP" }] },
    };
}

// NetworkPolicies of the pods this program runs (the pooler's own is in pooler.ts): each Job's pods may reach only
// their database(s) and the cluster DNS and accept nothing; the backend gets an ingress-only policy, because a pod
// selected by a policy of type Egress loses every egress the policy does not list, and the backend's other peers
// (Kafka, OPA, ...) are not this program's to list.
import type * as k8s from "@pulumi/kubernetes";
import type { NetworkPoliciesConfig } from "../model/config";

type Peer = k8s.types.input.networking.v1.NetworkPolicyPeer;
type EgressRule = k8s.types.input.networking.v1.NetworkPolicyEgressRule;
type NetworkPolicy = k8s.types.input.networking.v1.NetworkPolicy;

/** Peers by address: a /32 (or /128) for a single address. */
export const addressPeer = (address: string): Peer => ({ ipBlock: { cidr: address.includes("/") ? address : `${address}/${address.includes(":") ? 128 : 32}` } });

/** The cluster DNS on 53 (UDP and TCP: large answers fall back to TCP). */
export function dnsEgress(config: NetworkPoliciesConfig): EgressRule {
    return {
        to: [{ namespaceSelector: { matchLabels: config.dnsNamespaceSelector }, podSelector: { matchLabels: config.dnsPodSelector } }],
        ports: [
            { protocol: "UDP", port: 53 },
            { protocol: "TCP", port: 53 },
        ],
    };
}

export interface JobPolicyInputs {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    /** The Job pods' labels that select them (and nothing else). */
    podSelector: Record<string, string>;
    /** Where the pods may connect, besides DNS. */
    egress: EgressRule[];
    config: NetworkPoliciesConfig;
}

/** A Job's pods: no ingress at all, egress only to `egress` and DNS. */
export function jobNetworkPolicy(inputs: JobPolicyInputs): NetworkPolicy {
    return {
        metadata: { name: inputs.name, namespace: inputs.namespace, labels: inputs.labels },
        spec: {
            podSelector: { matchLabels: inputs.podSelector },
            policyTypes: ["Ingress", "Egress"],
            ingress: [],
            egress: [...inputs.egress, dnsEgress(inputs.config)],
        },
    };
}

export interface BackendPolicyInputs {
    namespace: string;
    labels: Record<string, string>;
    podSelector: Record<string, string>;
    /** The backend container's http port. */
    httpPort: number;
    config: NetworkPoliciesConfig;
}

/**
 * The backend: only its http port (and the configured extra ports) are reachable, from the configured namespaces
 * or from anywhere; no policy type Egress, so what it connects to is left to the platform's policies.
 */
export function backendNetworkPolicy(inputs: BackendPolicyInputs): NetworkPolicy | undefined {
    const { backend } = inputs.config;
    if (backend.mode === "none") return undefined;
    const ports = [inputs.httpPort, ...backend.extraPorts.filter((p) => p !== inputs.httpPort)].map((port) => ({ protocol: "TCP", port }));
    const from = backend.ingressFrom.map((selector) => ({ namespaceSelector: { matchLabels: selector } }));
    return {
        metadata: { name: backend.name, namespace: inputs.namespace, labels: inputs.labels },
        spec: {
            podSelector: { matchLabels: inputs.podSelector },
            policyTypes: ["Ingress"],
            ingress: [{ ...(from.length > 0 ? { from } : {}), ports }],
        },
    };
}

// Where the e2e's two real nodes sit on the network: every address in 198.18.0.0/15 (the benchmarking range), the
// only range a node may use. Imports nothing, so the control plane (its advertise address) and the node share it.
//
//   host ──198.18.0.0/30── infra node ──198.18.8.0/30── apps node
//                          pods 198.18.64.0/18           pods 198.18.128.0/18 (masqueraded to 198.18.8.2)
//                          LoadBalancer 198.18.200.0/24
//
// The apps node reaches the infra node over a link of its own (a routed link between the two nodes' network
// namespaces, as two machines on one network), never through the host: the host forwards nothing.

export type NodeSiteId = "infra" | "apps";

export interface NodeSite {
    id: NodeSiteId;
    /** The host's end of the node's link, where the API server forwarder listens (the API server advertises it). */
    hostIp: string;
    /** The node's end of that link. */
    linkIp: string;
    linkPrefix: number;
    /** The node's InternalIP (kubelet, kube-proxy's NodePorts, CoreDNS): linkIp, or its address on peerLink. */
    nodeIp: string;
    podCidr: string;
    podGateway: string;
    /** Where its API server's Service ClusterIPs come from (each node has its own netns, so both may use one). */
    serviceCidr: string;
    clusterDomain: string;
    /** What the host routes through the node's link (removed with it). */
    hostRoutes: string[];
    /** A routed link to another node: its address there is nodeIp; `routes` go through it. The pods' egress
     * through it is masqueraded to nodeIp, as the platform's apps cluster does for traffic leaving it. */
    peerLink?: { peer: NodeSiteId; peerIp: string; prefix: number; routes: string[] };
}

/** The LoadBalancer addresses the infra cluster hands out (the test plays Cilium's LB IPAM within it). */
export const LOAD_BALANCER_CIDR = "198.18.200.0/24";

export const NODE_SITES: Record<NodeSiteId, NodeSite> = {
    infra: {
        id: "infra",
        hostIp: "198.18.0.1",
        linkIp: "198.18.0.2",
        linkPrefix: 30,
        nodeIp: "198.18.0.2",
        podCidr: "198.18.64.0/18",
        podGateway: "198.18.64.1",
        serviceCidr: "198.19.0.0/16",
        clusterDomain: "cluster.local",
        // ClusterIPs and LoadBalancer addresses from the host too: kube-proxy's rules in the node's netns catch them.
        hostRoutes: ["198.18.64.0/18", "198.19.0.0/16", LOAD_BALANCER_CIDR],
    },
    apps: {
        id: "apps",
        hostIp: "198.18.0.5",
        linkIp: "198.18.0.6",
        linkPrefix: 30,
        // In the stacks' pooler.exposure.appsNodeCidrs (Pulumi.local.yaml: 198.18.8.0/24).
        nodeIp: "198.18.8.2",
        podCidr: "198.18.128.0/18",
        podGateway: "198.18.128.1",
        serviceCidr: "198.19.0.0/16",
        clusterDomain: "cluster.local",
        hostRoutes: ["198.18.128.0/18", "198.18.8.2/32"],
        peerLink: { peer: "infra", peerIp: "198.18.8.1", prefix: 30, routes: [LOAD_BALANCER_CIDR] },
    },
};

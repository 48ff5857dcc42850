// The one kube client of the program (the preflight's reads, the dynamic resources' reads and the role patch):
// @kubernetes/client-node, loaded only when used, with one rule for finding the cluster.
import type { KubeAccess } from "../model/kubeObject";

type ClientNode = typeof import("@kubernetes/client-node");

/** The package (ESM-only: Node >= 22 loads it through require()). */
export function kubeClientNode(): ClientNode {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require("@kubernetes/client-node") as ClientNode;
}

/** The stack's kubeconfig (a file path, or its contents; omitted = the ambient one) at the stack's context. */
export function loadKubeConfig(access: KubeAccess): import("@kubernetes/client-node").KubeConfig {
    const kubeConfig = new (kubeClientNode().KubeConfig)();
    const { kubeconfig, context } = access;
    if (kubeconfig === undefined) kubeConfig.loadFromDefault();
    else if (kubeconfig.includes("\n") || kubeconfig.trimStart().startsWith("apiVersion")) kubeConfig.loadFromString(kubeconfig);
    else kubeConfig.loadFromFile(kubeconfig);
    kubeConfig.setCurrentContext(context);
    return kubeConfig;
}

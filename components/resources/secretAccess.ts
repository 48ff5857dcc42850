// A cluster's access as the input of a dynamic resource that reads or writes it: the context, and the kubeconfig
// as a secret (its contents may hold credentials, and a dynamic resource's inputs are stored in the state).
import * as pulumi from "@pulumi/pulumi";
import type { ClusterSide, KubeAccess } from "../model/kubeObject";

export function withSecretKubeconfig<T extends { kubeconfig?: string }>(access: T): Omit<T, "kubeconfig"> & { kubeconfig?: pulumi.Output<string> } {
    return { ...access, kubeconfig: access.kubeconfig === undefined ? undefined : pulumi.secret(access.kubeconfig) };
}

/** Both clusters' access (context and kubeconfig only). */
export const secretClusters = (clusters: Record<ClusterSide, KubeAccess>) => ({
    infra: withSecretKubeconfig({ context: clusters.infra.context, kubeconfig: clusters.infra.kubeconfig }),
    apps: withSecretKubeconfig({ context: clusters.apps.context, kubeconfig: clusters.apps.kubeconfig }),
});

// The few calls the role patch makes against the infra cluster, behind an interface so the dynamic provider's
// logic is tested without a cluster. The real client is @kubernetes/client-node, loaded only when used.
import type { JsonPatchOp, LiveCluster } from "../model/rolePatch";
import { kubeClientNode, loadKubeConfig } from "./kubeClient";

export interface ClusterAccessSpec {
    context: string;
    /** A kubeconfig file path or its contents; omitted = the ambient kubeconfig. */
    kubeconfig?: string;
    namespace: string;
    clusterName: string;
    fieldManager: string;
}

export interface SharedClusterApi {
    get(): Promise<LiveCluster>;
    /** Applies an RFC 6902 patch; the API server rejects the whole patch if any `test` op fails. */
    jsonPatch(ops: JsonPatchOp[]): Promise<LiveCluster>;
}

export async function kubeSharedClusterApi(access: ClusterAccessSpec): Promise<SharedClusterApi> {
    const client = kubeClientNode();
    const api = loadKubeConfig(access).makeApiClient(client.CustomObjectsApi);
    const ref = { group: "postgresql.cnpg.io", version: "v1", namespace: access.namespace, plural: "clusters", name: access.clusterName };
    return {
        get: async () => (await api.getNamespacedCustomObject(ref)) as LiveCluster,
        jsonPatch: async (ops) =>
            (await api.patchNamespacedCustomObject(
                { ...ref, body: ops, fieldManager: access.fieldManager },
                client.setHeaderOptions("Content-Type", client.PatchStrategy.JsonPatch),
            )) as LiveCluster,
    };
}

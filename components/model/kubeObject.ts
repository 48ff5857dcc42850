// A live Kubernetes object as the program reads it, how it is named in messages, and what reads it: types and
// pure helpers only (live/kubeObjects.ts reads them from the API servers or from dumps).
export type ClusterSide = "infra" | "apps";

export interface ManagedFieldsEntry {
    manager?: string;
    operation?: string;
    subresource?: string;
    fieldsV1?: Record<string, unknown>;
}

export interface KubeObject {
    apiVersion: string;
    kind: string;
    metadata: {
        name: string;
        namespace?: string;
        labels?: Record<string, string>;
        annotations?: Record<string, string>;
        managedFields?: ManagedFieldsEntry[];
        ownerReferences?: { apiVersion: string; kind: string; name: string; controller?: boolean }[];
        resourceVersion?: string;
        generation?: number;
        /** Set once the object is being deleted (a pod then still runs until it stops). */
        deletionTimestamp?: string;
    };
    spec?: Record<string, unknown>;
    status?: Record<string, unknown>;
    data?: Record<string, string>;
    type?: string;
}

export interface ObjectRef {
    cluster: ClusterSide;
    apiVersion: string;
    kind: string;
    /** Omitted for cluster-scoped objects. */
    namespace?: string;
    name: string;
}

/** "Kind namespace/name" (or "Kind name"), as messages name an object. */
export const describeRef = (ref: Pick<ObjectRef, "kind" | "namespace" | "name">) => `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ""}${ref.name}`;

/** Reads live objects; the only way the program learns what the platform holds. */
export interface LiveReader {
    /** The object, or undefined when it does not exist. */
    get(ref: ObjectRef): Promise<KubeObject | undefined>;
    /** Every object of a kind in a namespace, or undefined when the cluster does not serve that kind. */
    list(cluster: ClusterSide, apiVersion: string, kind: string, namespace: string): Promise<KubeObject[] | undefined>;
}

export interface KubeAccess {
    context: string;
    /** A kubeconfig file path or its contents; omitted = the ambient kubeconfig. */
    kubeconfig?: string;
}

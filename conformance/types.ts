// What a conformance check reports about one emitted object.
export type CheckName = "openapi" | "cel" | "core-schema" | "cnpg-webhook" | "wiring";

export interface KubeObject {
    apiVersion: string;
    kind: string;
    metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
    [field: string]: unknown;
}

export interface Problem {
    object: string;
    check: CheckName;
    message: string;
}

export const describeObject = (o: KubeObject) => `${o.kind}/${o.metadata?.namespace ? `${o.metadata.namespace}/` : ""}${o.metadata?.name ?? "(unnamed)"}`;

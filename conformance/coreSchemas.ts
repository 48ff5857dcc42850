// Core Kubernetes objects checked against the schemas of the `kubernetes-models` package (generated from the
// Kubernetes OpenAPI; v5.1.0 has 1.34's fields such as PodSpec.hostnameOverride).
import * as path from "node:path";
import { type KubeObject, type Problem, describeObject } from "./types";

const SCHEMAS: Record<string, string> = {
    "v1/Namespace": "IoK8sApiCoreV1Namespace",
    "v1/ConfigMap": "IoK8sApiCoreV1ConfigMap",
    "v1/Service": "IoK8sApiCoreV1Service",
    "v1/Secret": "IoK8sApiCoreV1Secret",
    "apps/v1/Deployment": "IoK8sApiAppsV1Deployment",
    "batch/v1/Job": "IoK8sApiBatchV1Job",
    "networking.k8s.io/v1/NetworkPolicy": "IoK8sApiNetworkingV1NetworkPolicy",
    "policy/v1/PodDisruptionBudget": "IoK8sApiPolicyV1PodDisruptionBudget",
};

type Validate = ((data: unknown) => boolean) & { errors?: { instancePath: string; message?: string; params?: Record<string, unknown> }[] | null };

export function coreKinds(): string[] {
    return Object.keys(SCHEMAS);
}

export function handlesCore(object: KubeObject): boolean {
    return `${object.apiVersion}/${object.kind}` in SCHEMAS;
}

export function validateCore(object: KubeObject): Problem[] {
    const name = SCHEMAS[`${object.apiVersion}/${object.kind}`];
    if (!name) return [];
    // ESM-only, exported for `import` only: load the generated validator by its file path (Node >= 22 require()).
    const file = path.join(path.dirname(require.resolve("ajv/package.json")), "..", "kubernetes-models", "_schemas", `${name}.js`);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { validate } = require(file) as { validate: Validate };
    if (validate(object)) return [];
    return (validate.errors ?? []).map((e) => ({
        object: describeObject(object),
        check: "core-schema" as const,
        message: `${e.instancePath || "/"} ${e.message ?? "invalid"}${e.params?.["additionalProperty"] ? ` (unknown field "${e.params["additionalProperty"]}")` : ""}`,
    }));
}

// What a CNPG Cluster and Pooler need to really run on the e2e's node (node.ts), for e2e/run.ts and cnpgSmoke.ts:
// the operator's image settings, a local volume per instance, the Cluster fields that point it at the local images
// and the node, waits that say what the pods are doing when they time out, and psql pods for checks from inside.
import { type ApiServer, kubeRequest } from "../controlPlane";
import { REAL_NODE_LABEL, type RunningNode } from "./node";
import { until } from "../checks";

/** The StorageClass of the node's local volumes (no provisioner: localVolume makes them). */
export const LOCAL_STORAGE_CLASS = "e2e-local";

/**
 * The operator's environment for the local images: CNPG copies its manager into every instance and pooler pod
 * from OPERATOR_IMAGE_NAME and runs PgBouncer from PGBOUNCER_IMAGE_NAME (internal/configuration in its source).
 * startCnpgOperator hands its own process's environment on, so: Object.assign(process.env, cnpgImageEnv(node)).
 */
export function cnpgImageEnv(node: RunningNode): { OPERATOR_IMAGE_NAME: string; PGBOUNCER_IMAGE_NAME: string } {
    const operator = node.images["cnpg-operator"];
    const pgbouncer = node.images["pgbouncer"];
    if (!operator || !pgbouncer) throw new Error(`the node has no cnpg-operator or pgbouncer image (e2e/toolchain/build-node-images.sh); it has ${Object.keys(node.images).join(", ")}`);
    return { OPERATOR_IMAGE_NAME: operator, PGBOUNCER_IMAGE_NAME: pgbouncer };
}

/** The StorageClass (once) and one local PersistentVolume per instance of `cluster` (CNPG names them <cluster>-<n>). */
export async function createInstanceVolumes(server: ApiServer, node: RunningNode, cluster: string, instances = 1, size = "2Gi"): Promise<void> {
    await kubeRequest(server, "POST", "/apis/storage.k8s.io/v1/storageclasses", {
        apiVersion: "storage.k8s.io/v1",
        kind: "StorageClass",
        metadata: { name: LOCAL_STORAGE_CLASS },
        provisioner: "kubernetes.io/no-provisioner",
        volumeBindingMode: "WaitForFirstConsumer",
    }).catch((e: Error) => {
        if (!/HTTP 409/.test(e.message)) throw e;
    });
    for (let i = 1; i <= instances; i++) await kubeRequest(server, "POST", "/api/v1/persistentvolumes", node.localVolume(`${cluster}-${i}`, { size, storageClassName: LOCAL_STORAGE_CLASS, uid: 26, gid: 26 }));
}

/**
 * Cluster spec fields that make an instance run on the node: the local PostgreSQL image (never pulled), storage on
 * the local volumes (size at most createInstanceVolumes' size), and the node's label (kwok's fake nodes may share the
 * API server). Merge them over a Cluster such as fixtures/live/prod's shared-postgres (its 100Gi and ghcr image are
 * the platform's, not this machine's).
 */
export function realInstanceFields(node: RunningNode, size = "1Gi"): Record<string, unknown> {
    const image = node.images["postgresql"];
    if (!image) throw new Error("the node has no postgresql image (e2e/toolchain/build-node-images.sh postgresql)");
    return {
        imageName: image,
        imagePullPolicy: "Never",
        storage: { size, storageClass: LOCAL_STORAGE_CLASS },
        affinity: { nodeSelector: { [REAL_NODE_LABEL]: "true" } },
    };
}

/** For a Pooler's spec.template: its pods on the real node (not on kwok's). */
export function realPoolerTemplate(): Record<string, unknown> {
    return { spec: { nodeSelector: { [REAL_NODE_LABEL]: "true" }, containers: [] } };
}

/** One line per pod in the namespace: phase, node, container states (what a timeout should say). */
export async function podsSummary(server: ApiServer, namespace: string): Promise<string> {
    const pods = (await kubeRequest(server, "GET", `/api/v1/namespaces/${namespace}/pods`)).items as any[];
    return pods
        .map((p) => {
            const states = [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])].map(
                (c: any) => `${c.name}=${Object.keys(c.state ?? {})[0]}${c.state?.waiting?.reason ? `(${c.state.waiting.reason}: ${c.state.waiting.message ?? ""})` : ""}${c.state?.terminated ? `(exit ${c.state.terminated.exitCode})` : ""}`,
            );
            return `${p.metadata.name} ${p.status?.phase} on ${p.spec.nodeName ?? "-"} [${states.join(", ")}]`;
        })
        .join("; ");
}

/** Waits until the Cluster reports `instances` ready instances and a healthy phase. */
export async function waitForClusterHealthy(server: ApiServer, namespace: string, name: string, instances = 1, timeoutMs = 420000): Promise<any> {
    const url = `/apis/postgresql.cnpg.io/v1/namespaces/${namespace}/clusters/${name}`;
    return until(`Cluster ${namespace}/${name} healthy`, async () => {
        const c = await kubeRequest(server, "GET", url);
        return c.status?.readyInstances === instances && c.status?.phase === "Cluster in healthy state" ? c : undefined;
    }, timeoutMs, async () => `phase ${(await kubeRequest(server, "GET", url)).status?.phase}; pods: ${await podsSummary(server, namespace)}`);
}

/** Waits until the Pooler's Deployment (same name) has `instances` ready pods. */
export async function waitForPoolerReady(server: ApiServer, namespace: string, name: string, instances = 1, timeoutMs = 240000): Promise<void> {
    await until(`Pooler ${namespace}/${name} ready`, async () => {
        const d = await kubeRequest(server, "GET", `/apis/apps/v1/namespaces/${namespace}/deployments/${name}`);
        return d.status?.readyReplicas === instances ? true : undefined;
    }, timeoutMs, () => podsSummary(server, namespace));
}

export interface PsqlPod {
    namespace: string;
    name: string;
    /** Shell script (sh -ec) run in the psql image; libpq reads PG* variables. */
    script: string;
    env?: { name: string; value?: string; valueFrom?: unknown }[];
    /** Secrets mounted read-only at /secrets/<name>, only `keys` when given (a CA secret also holds its key). */
    secrets?: { name: string; keys?: string[] }[];
    timeoutMs?: number;
    /** Another of the node's images than psql (e.g. the PostgreSQL one, which has pgbench). */
    image?: string;
}

/** Runs a psql pod on the node to completion; its phase and log (read on the node's disk). The pod is left. */
export async function runPsqlPod(server: ApiServer, node: RunningNode, pod: PsqlPod): Promise<{ phase: string; log: string }> {
    const secrets = pod.secrets ?? [];
    await kubeRequest(server, "POST", `/api/v1/namespaces/${pod.namespace}/pods`, {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: pod.name, namespace: pod.namespace },
        spec: {
            restartPolicy: "Never",
            nodeSelector: { [REAL_NODE_LABEL]: "true" },
            securityContext: { runAsUser: 65534, runAsGroup: 65534, runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
            containers: [{
                name: "psql",
                image: pod.image ?? node.images["psql"],
                imagePullPolicy: "Never",
                command: ["sh", "-ec", pod.script],
                env: [{ name: "PGCONNECT_TIMEOUT", value: "10" }, ...(pod.env ?? [])],
                securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
                volumeMounts: secrets.map((s) => ({ name: `secret-${s.name}`, mountPath: `/secrets/${s.name}`, readOnly: true })),
            }],
            volumes: secrets.map((s) => ({ name: `secret-${s.name}`, secret: { secretName: s.name, ...(s.keys ? { items: s.keys.map((k) => ({ key: k, path: k })) } : {}) } })),
        },
    });
    const done = await until(`psql pod ${pod.namespace}/${pod.name} finished`, async () => {
        const p = await kubeRequest(server, "GET", `/api/v1/namespaces/${pod.namespace}/pods/${pod.name}`);
        return ["Succeeded", "Failed"].includes(p.status?.phase) ? p : undefined;
    }, pod.timeoutMs ?? 120000, () => podsSummary(server, pod.namespace));
    return { phase: done.status.phase, log: node.podLogs(pod.namespace, pod.name) };
}

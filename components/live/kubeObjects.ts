// The live objects the preflight reads, and the two places they come from: the clusters' API servers, or a
// folder of `kubectl get -o yaml` dumps (synth, and a platform engineer's offline check).
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";

import { type ClusterSide, type KubeAccess, type KubeObject, type LiveReader, describeRef } from "../model/kubeObject";
import { kubeClientNode, loadKubeConfig } from "./kubeClient";

/** Reads through the API servers of both clusters with the stack's kube contexts. */
export function kubeLiveReader(access: Record<ClusterSide, KubeAccess>): LiveReader {
    const apis = new Map<ClusterSide, import("@kubernetes/client-node").KubernetesObjectApi>();
    const api = (cluster: ClusterSide) => {
        let existing = apis.get(cluster);
        if (!existing) {
            existing = kubeClientNode().KubernetesObjectApi.makeApiClient(loadKubeConfig(access[cluster]));
            apis.set(cluster, existing);
        }
        return existing;
    };
    const notServed = (error: unknown) => error instanceof Error && error.message.startsWith("Unrecognized API version and kind");
    const notFound = (error: unknown) => (error as { code?: number }).code === 404;
    return {
        async get(ref) {
            try {
                const metadata = ref.namespace ? { name: ref.name, namespace: ref.namespace } : { name: ref.name };
                return (await api(ref.cluster).read({ apiVersion: ref.apiVersion, kind: ref.kind, metadata })) as unknown as KubeObject;
            } catch (error) {
                if (notFound(error) || notServed(error)) return undefined;
                throw new Error(`reading ${describeRef(ref)} on the ${ref.cluster} cluster: ${(error as Error).message}`);
            }
        },
        async list(cluster, apiVersion, kind, namespace) {
            try {
                const list = await api(cluster).list(apiVersion, kind, namespace);
                return list.items.map((item) => ({ apiVersion, kind, ...item }) as unknown as KubeObject);
            } catch (error) {
                if (notServed(error) || notFound(error)) return undefined;
                throw new Error(`listing ${kind} in ${namespace} on the ${cluster} cluster: ${(error as Error).message}`);
            }
        },
    };
}

/** In a dump folder: a List of {apiVersion, kind} the cluster serves though no object of them was dumped. */
const SERVED_KINDS = "served-kinds.yaml";

/** The objects of one folder of dumps (`*.yaml`, each one object, a List or several documents), Lists flattened. */
export function readDumpFolder(dir: string, file: (name: string) => boolean = (name) => name !== SERVED_KINDS): KubeObject[] {
    if (!fs.existsSync(dir)) return [];
    return fs
        .readdirSync(dir)
        .filter((name) => /\.ya?ml$/.test(name) && file(name))
        .sort()
        .flatMap((name) =>
            YAML.parseAllDocuments(fs.readFileSync(path.join(dir, name), "utf8")).map((doc) => {
                if (doc.errors.length > 0) throw new Error(`${path.join(dir, name)}: ${doc.errors[0]?.message}`);
                return doc.toJS() as (KubeObject & { items?: KubeObject[] }) | null;
            }),
        )
        .flatMap((value) => (!value ? [] : value.kind === "List" || value.kind?.endsWith("List") ? (value.items ?? []) : [value]));
}

/**
 * Reads a folder of dumps: DIR/infra/*.yaml and DIR/apps/*.yaml, each what `kubectl get ... -o yaml` prints (a
 * single object, a List, or several documents). A kind is served when any file holds one of its objects or a
 * `served-kinds.yaml` List of {apiVersion, kind} names it (for a kind served but with no object).
 */
export function fixtureLiveReader(dir: string, overrides: KubeObject[] = []): LiveReader {
    // A mistyped folder would otherwise read as an empty platform and refuse for reasons that are not there.
    if (!fs.existsSync(path.join(dir, "infra")) && !fs.existsSync(path.join(dir, "apps"))) {
        throw new Error(`${dir} holds no infra/ or apps/ folder of dumps (what \`kubectl get -o yaml\` prints, one folder per cluster)`);
    }
    const objects: Record<ClusterSide, KubeObject[]> = { infra: [], apps: [] };
    const served: Record<ClusterSide, Set<string>> = { infra: new Set(), apps: new Set() };
    for (const side of ["infra", "apps"] as const) {
        objects[side] = readDumpFolder(path.join(dir, side));
        for (const kind of [...readDumpFolder(path.join(dir, side), (name) => name === SERVED_KINDS), ...objects[side]]) served[side].add(`${kind.apiVersion}/${kind.kind}`);
    }
    for (const override of overrides) {
        objects.infra = objects.infra.filter((o) => !(o.kind === override.kind && o.metadata.name === override.metadata.name && o.metadata.namespace === override.metadata.namespace));
        objects.infra.push(override);
    }
    const matches = (o: KubeObject, apiVersion: string, kind: string) => o.kind === kind && o.apiVersion === apiVersion;
    const copy = (o: KubeObject) => structuredClone(o);
    return {
        get: async (ref) => {
            const found = objects[ref.cluster].find((o) => matches(o, ref.apiVersion, ref.kind) && o.metadata.name === ref.name && (o.metadata.namespace ?? undefined) === ref.namespace);
            return found && copy(found);
        },
        list: async (cluster, apiVersion, kind, namespace) =>
            served[cluster].has(`${apiVersion}/${kind}`) ? objects[cluster].filter((o) => matches(o, apiVersion, kind) && o.metadata.namespace === namespace).map(copy) : undefined,
    };
}

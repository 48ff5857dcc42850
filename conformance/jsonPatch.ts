// A minimal RFC 6902 applier (add, replace, remove, test): applies the role patch to the live Cluster fixture.
import type { JsonPatchOp } from "../components/model/rolePatch";

function parent(doc: any, pointer: string): [any, string] {
    const parts = pointer.split("/").slice(1).map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
    const last = parts.pop() as string;
    let node = doc;
    for (const part of parts) {
        if (node[part] === undefined) throw new Error(`path ${pointer} does not exist`);
        node = node[part];
    }
    return [node, last];
}

export function applyJsonPatch<T>(document: T, ops: JsonPatchOp[]): T {
    const doc = structuredClone(document) as any;
    for (const op of ops) {
        const [node, key] = parent(doc, op.path);
        const index = Array.isArray(node) ? (key === "-" ? node.length : Number(key)) : key;
        switch (op.op) {
            case "test":
                if (JSON.stringify(node[index]) !== JSON.stringify(op.value)) throw new Error(`test failed at ${op.path}`);
                break;
            case "add":
                if (Array.isArray(node)) node.splice(index as number, 0, structuredClone(op.value));
                else node[index] = structuredClone(op.value);
                break;
            case "replace":
                if (node[index] === undefined) throw new Error(`replace of missing ${op.path}`);
                node[index] = structuredClone(op.value);
                break;
            case "remove":
                if (node[index] === undefined) throw new Error(`remove of missing ${op.path}`);
                if (Array.isArray(node)) node.splice(index as number, 1);
                else delete node[index];
                break;
        }
    }
    return doc;
}

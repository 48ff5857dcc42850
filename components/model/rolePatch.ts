// The "role patch" of the clusterPatch strategy, as pure functions: live Cluster in, RFC 6902 operations out.
// spec.managed.roles is an atomic list (no list-type markers), so a server-side apply or merge patch would
// replace every other tenant's role. A JSON Patch touches exactly our entries, guarded by `test` ops.
import type { CnpgRoleFields } from "./crds";

export type JsonPatchOp =
    | { op: "add"; path: string; value: unknown }
    | { op: "replace"; path: string; value: unknown }
    | { op: "remove"; path: string }
    | { op: "test"; path: string; value: unknown };

/** The parts of a live postgresql.cnpg.io/v1 Cluster this logic reads. */
export interface LiveCluster {
    metadata: {
        name: string;
        namespace?: string;
        resourceVersion?: string;
        managedFields?: { manager?: string; operation?: string; fieldsV1?: Record<string, unknown> }[];
    };
    spec: { managed?: { roles?: Record<string, unknown>[] } };
    status?: {
        managedRolesStatus?: {
            byStatus?: Record<string, string[] | undefined>;
            cannotReconcile?: Record<string, string[] | undefined>;
        };
    };
}

const ROLES_PATH = "/spec/managed/roles";

function liveRoles(cluster: LiveCluster): Record<string, unknown>[] {
    return cluster.spec.managed?.roles ?? [];
}

/** Compares an entry with the desired one, ignoring key order. */
export function sameRole(live: Record<string, unknown> | undefined, desired: CnpgRoleFields): boolean {
    return live !== undefined && canonical(live) === canonical(desired as unknown as Record<string, unknown>);
}

function canonical(value: unknown): string {
    if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
    if (value !== null && typeof value === "object") {
        const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
        return `{${entries.sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
    }
    return JSON.stringify(value);
}

/**
 * Operations that make the live list hold each desired role exactly as given: append the missing ones, replace
 * (by index, guarded by a test on the name) the ones that differ. Empty when the list already matches.
 */
export function computeRolePatch(cluster: LiveCluster, desired: CnpgRoleFields[]): JsonPatchOp[] {
    const roles = liveRoles(cluster);
    const ops: JsonPatchOp[] = [];
    if (cluster.spec.managed === undefined) ops.push({ op: "add", path: "/spec/managed", value: {} });
    if (cluster.spec.managed?.roles === undefined) ops.push({ op: "add", path: ROLES_PATH, value: [] });
    for (const role of desired) {
        const index = roles.findIndex((r) => r["name"] === role.name);
        if (index < 0) {
            ops.push({ op: "add", path: `${ROLES_PATH}/-`, value: role });
        } else if (!sameRole(roles[index], role)) {
            ops.push({ op: "test", path: `${ROLES_PATH}/${index}/name`, value: role.name });
            ops.push({ op: "replace", path: `${ROLES_PATH}/${index}`, value: role });
        }
    }
    // Only the container adds and nothing else: the list is already right.
    return ops.some((op) => op.path.startsWith(`${ROLES_PATH}/`)) ? ops : [];
}

/** First removal step: mark our entries `ensure: absent` so CNPG drops the roles before we drop the entries. */
export function computeRoleAbsentPatch(cluster: LiveCluster, names: string[]): JsonPatchOp[] {
    const roles = liveRoles(cluster);
    const ops: JsonPatchOp[] = [];
    roles.forEach((role, index) => {
        if (names.includes(role["name"] as string) && role["ensure"] !== "absent") {
            ops.push({ op: "test", path: `${ROLES_PATH}/${index}/name`, value: role["name"] });
            ops.push({ op: "replace", path: `${ROLES_PATH}/${index}/ensure`, value: "absent" });
        }
    });
    return ops;
}

/** Last removal step: remove our entries, highest index first so earlier indexes stay valid. */
export function computeRoleRemovalPatch(cluster: LiveCluster, names: string[]): JsonPatchOp[] {
    const roles = liveRoles(cluster);
    const ops: JsonPatchOp[] = [];
    for (let index = roles.length - 1; index >= 0; index--) {
        const name = roles[index]?.["name"];
        if (typeof name === "string" && names.includes(name)) {
            ops.push({ op: "test", path: `${ROLES_PATH}/${index}/name`, value: name });
            ops.push({ op: "remove", path: `${ROLES_PATH}/${index}` });
        }
    }
    return ops;
}

/** Our entries as they are live (what refresh reports); a missing entry is absent from the result. */
export function readRoleEntries(cluster: LiveCluster, names: string[]): Record<string, unknown>[] {
    return liveRoles(cluster).filter((r) => names.includes(r["name"] as string));
}

/**
 * Field managers other than ours whose next apply can revert our patch: those that own spec.managed.roles, and
 * those that server-side apply the Cluster's spec at all (our patch takes the atomic list over from them, and
 * their next forced apply of a manifest that lists roles takes it back).
 */
export function foreignRoleOwners(cluster: LiveCluster, ourManager: string): string[] {
    const owners = new Set<string>();
    for (const entry of cluster.metadata.managedFields ?? []) {
        if (!entry.manager || entry.manager === ourManager) continue;
        const spec = entry.fieldsV1?.["f:spec"] as Record<string, unknown> | undefined;
        const managed = spec?.["f:managed"] as Record<string, unknown> | undefined;
        if ((managed && "f:roles" in managed) || (spec && entry.operation === "Apply")) owners.add(entry.manager);
    }
    return [...owners].sort();
}

/**
 * Whether CNPG has dropped a role whose entry says `ensure: absent`, by what CNPG reports: it lists such a role
 * as `reconciled` once it is gone from the database (`pending-reconciliation` while it still exists,
 * `cannotReconcile` when DROP ROLE fails). Right after our absent patch the status may still be the one from
 * before it (where the present role was `reconciled` too), so then it counts only once the Cluster changed
 * after that patch (`absentPatchVersion`); an entry already marked absent by an earlier run has no such
 * patch, and the status is taken as it is.
 */
export function roleDropped(cluster: LiveCluster, name: string, absentPatchVersion?: string): boolean {
    const status = cluster.status?.managedRolesStatus;
    if (!status) return false;
    if (absentPatchVersion !== undefined && cluster.metadata.resourceVersion === absentPatchVersion) return false;
    const reconciled = status.byStatus?.["reconciled"] ?? [];
    const pending = status.byStatus?.["pending-reconciliation"] ?? [];
    const failing = (status.cannotReconcile?.[name] ?? []).length > 0;
    return reconciled.includes(name) && !pending.includes(name) && !failing;
}

/** The field manager of the clusterPatch role patch: the preflight tells its entries from another manager's. */
export const ROLE_PATCH_FIELD_MANAGER = "synergyflow-db-role-patch";

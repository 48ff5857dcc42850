import { applicationRoleFields } from "../components/model/roles";
import {
    computeRoleAbsentPatch,
    computeRolePatch,
    computeRoleRemovalPatch,
    foreignRoleOwners,
    readRoleEntries,
    roleDropped,
} from "../components/model/rolePatch";
import { applyJsonPatch } from "../conformance/jsonPatch";
import { sharedClusterFixture } from "./support/fixtures";

const ours = [
    applicationRoleFields("synergyflow_app", 40, "synergyflow-app-role-password", "app"),
    applicationRoleFields("synergyflow_pooler_auth", 4, "synergyflow-pooler-auth", "auth"),
];
const OTHERS = ["gitlab_app", "harbor_app", "mattermost_app", "keycloak_app", "readonly_user"];
const otherEntries = (cluster: any) => JSON.stringify(cluster.spec.managed.roles.filter((r: any) => OTHERS.includes(r.name)));

describe("role patch", () => {
    test("adds exactly our entries and leaves the five other roles byte-identical", () => {
        const live = sharedClusterFixture();
        const ops = computeRolePatch(live, ours);
        expect(ops.map((o) => `${o.op} ${o.path}`)).toEqual(["add /spec/managed/roles/-", "add /spec/managed/roles/-"]);
        const patched = applyJsonPatch(live, ops);
        expect(patched.spec.managed!.roles).toHaveLength(7);
        expect(otherEntries(patched)).toBe(otherEntries(live));
        expect(readRoleEntries(patched, ["synergyflow_app", "synergyflow_pooler_auth"])).toEqual(ours);
    });

    test("a second run is a no-op", () => {
        const once = applyJsonPatch(sharedClusterFixture(), computeRolePatch(sharedClusterFixture(), ours));
        expect(computeRolePatch(once, ours)).toEqual([]);
    });

    test("an update replaces our entry by index, guarded by a test on its name", () => {
        const once = applyJsonPatch(sharedClusterFixture(), computeRolePatch(sharedClusterFixture(), ours));
        const changed = [{ ...ours[0]!, connectionLimit: 30 }, ours[1]!];
        const ops = computeRolePatch(once, changed);
        expect(ops).toEqual([
            { op: "test", path: "/spec/managed/roles/5/name", value: "synergyflow_app" },
            { op: "replace", path: "/spec/managed/roles/5", value: changed[0] },
        ]);
        const updated = applyJsonPatch(once, ops);
        expect(otherEntries(updated)).toBe(otherEntries(once));
        // If the list changed underneath (someone inserted a role before ours), the guard fails the whole patch.
        const shifted = structuredClone(once);
        shifted.spec.managed!.roles!.splice(0, 0, { name: "new_tenant", login: true });
        expect(() => applyJsonPatch(shifted, ops)).toThrow("test failed at /spec/managed/roles/5/name");
    });

    test("drift (the owner re-applied its manifest without our entries) is repaired by the next patch", () => {
        const reverted = sharedClusterFixture();
        expect(readRoleEntries(reverted, ["synergyflow_app"])).toEqual([]);
        expect(computeRolePatch(reverted, ours)).toHaveLength(2);
    });

    test("removal marks our entries absent, then removes only them, highest index first", () => {
        const once = applyJsonPatch(sharedClusterFixture(), computeRolePatch(sharedClusterFixture(), ours));
        const names = ["synergyflow_app", "synergyflow_pooler_auth"];
        const absent = applyJsonPatch(once, computeRoleAbsentPatch(once, names));
        expect(readRoleEntries(absent, names).map((r) => r["ensure"])).toEqual(["absent", "absent"]);
        expect(otherEntries(absent)).toBe(otherEntries(once));
        expect(computeRoleAbsentPatch(absent, names)).toEqual([]);
        const removalOps = computeRoleRemovalPatch(absent, names);
        expect(removalOps.filter((o) => o.op === "remove").map((o) => o.path)).toEqual(["/spec/managed/roles/6", "/spec/managed/roles/5"]);
        const removed = applyJsonPatch(absent, removalOps);
        expect(JSON.stringify(removed.spec.managed!.roles)).toBe(JSON.stringify(sharedClusterFixture().spec.managed!.roles));
    });

    test("a Cluster without spec.managed gets the containers created first", () => {
        const bare = { metadata: { name: "c" }, spec: {} };
        const patched = applyJsonPatch(bare, computeRolePatch(bare, ours));
        expect(patched.spec).toEqual({ managed: { roles: ours } });
    });

    test("reports the foreign owner of spec.managed.roles plainly", () => {
        const live = sharedClusterFixture();
        const owners = foreignRoleOwners(live, "synergyflow-db-role-patch");
        expect(owners).toEqual(["kustomize-controller"]);
        // After our patch the list's ownership moves to us, but Flux still applies the spec: still reported.
        const patched = structuredClone(live);
        patched.metadata.managedFields = [
            { manager: "kustomize-controller", operation: "Apply", fieldsV1: { "f:spec": { "f:instances": {} } } },
            { manager: "synergyflow-db-role-patch", operation: "Update", fieldsV1: { "f:spec": { "f:managed": { "f:roles": {} } } } },
            { manager: "cloudnative-pg", operation: "Update", fieldsV1: { "f:status": {} } },
        ];
        expect(foreignRoleOwners(patched, "synergyflow-db-role-patch")).toEqual(["kustomize-controller"]);
    });

    test("a role counts as dropped only once CNPG wrote status after the absent patch", () => {
        const live = sharedClusterFixture();
        live.metadata.resourceVersion = "100";
        live.status = { managedRolesStatus: { byStatus: { reconciled: ["synergyflow_app"] } } };
        expect(roleDropped(live, "synergyflow_app", "100")).toBe(false);
        live.metadata.resourceVersion = "101";
        expect(roleDropped(live, "synergyflow_app", "100")).toBe(true);
        live.status.managedRolesStatus!.byStatus!["pending-reconciliation"] = ["synergyflow_app"];
        expect(roleDropped(live, "synergyflow_app", "100")).toBe(false);
        live.status.managedRolesStatus = { byStatus: {}, cannotReconcile: { synergyflow_app: ["role owns objects"] } };
        expect(roleDropped(live, "synergyflow_app", "100")).toBe(false);
        // Not reported at all is no evidence either.
        live.status.managedRolesStatus = { byStatus: { reconciled: ["gitlab_app"] } };
        expect(roleDropped(live, "synergyflow_app", "100")).toBe(false);
    });

    test("without an absent patch in this run (a re-run), CNPG's status is judged as it stands", () => {
        const live = sharedClusterFixture();
        live.metadata.resourceVersion = "100";
        live.status = { managedRolesStatus: { byStatus: { reconciled: ["synergyflow_app"] } } };
        expect(roleDropped(live, "synergyflow_app")).toBe(true);
        live.status.managedRolesStatus!.byStatus = { "pending-reconciliation": ["synergyflow_app"] };
        expect(roleDropped(live, "synergyflow_app")).toBe(false);
    });
});

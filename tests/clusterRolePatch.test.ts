import type { SharedClusterApi } from "../components/live/clusterApi";
import { type RolePatchState, rolePatchProvider } from "../components/resources/clusterRolePatch";
import { applicationRoleFields } from "../components/model/roles";
import type { JsonPatchOp, LiveCluster } from "../components/model/rolePatch";
import { sharedClusterFixture } from "./support/fixtures";
import { applyJsonPatch } from "../conformance/jsonPatch";

/** An in-memory shared Cluster: JSON patches applied atomically, resourceVersion bumped on every write. */
class FakeCluster implements SharedClusterApi {
    cluster: LiveCluster = sharedClusterFixture();
    patches: JsonPatchOp[][] = [];
    /** Simulates the CNPG operator: called on every read. */
    onGet?: (cluster: LiveCluster) => void;
    async get() {
        this.onGet?.(this.cluster);
        return structuredClone(this.cluster);
    }
    async jsonPatch(ops: JsonPatchOp[]) {
        this.cluster = applyJsonPatch(this.cluster, ops);
        this.cluster.metadata.resourceVersion = String(Number(this.cluster.metadata.resourceVersion) + 1);
        this.patches.push(ops);
        return structuredClone(this.cluster);
    }
}

const state = (overrides: Partial<RolePatchState> = {}): RolePatchState => ({
    context: "infra",
    namespace: "cnpg-system",
    clusterName: "shared-postgres",
    fieldManager: "synergyflow-db-role-patch",
    roles: [applicationRoleFields("synergyflow_app", 40, "synergyflow-app-role-password", "app")],
    dropTimeoutSeconds: 0,
    ...overrides,
});

describe("clusterPatch dynamic provider", () => {
    test("create adds our entry, records it and the foreign owner", async () => {
        const fake = new FakeCluster();
        const provider = rolePatchProvider(async () => fake);
        const { id, outs } = await provider.create!(state());
        expect(id).toBe("cnpg-system/shared-postgres/managed.roles/synergyflow_app");
        expect(outs.liveRoles).toEqual(state().roles);
        expect(outs.foreignOwners).toEqual(["kustomize-controller"]);
        expect(fake.cluster.spec.managed!.roles).toHaveLength(6);
    });

    test("refresh reads the live entry back, so the owner's revert shows as drift and update repairs it", async () => {
        const fake = new FakeCluster();
        const provider = rolePatchProvider(async () => fake);
        const { id, outs } = await provider.create!(state());
        expect((await provider.diff!(id, outs, state())).changes).toBe(false);
        fake.cluster = sharedClusterFixture(); // Flux re-applied the manifest without our entry
        const refreshed = await provider.read!(id, outs);
        expect(refreshed.props!.liveRoles).toEqual([]);
        expect((await provider.diff!(id, refreshed.props, state())).changes).toBe(true);
        await provider.update!(id, refreshed.props, state());
        expect(fake.cluster.spec.managed!.roles!.map((r) => r["name"])).toContain("synergyflow_app");
    });

    test("an update whose guard fails reports it clearly", async () => {
        const fake = new FakeCluster();
        const provider = rolePatchProvider(async () => fake);
        const { id, outs } = await provider.create!(state());
        const racing: SharedClusterApi = {
            get: () => fake.get(),
            jsonPatch: async () => {
                throw new Error("the server rejected the patch: test operation failed");
            },
        };
        const update = rolePatchProvider(async () => racing).update!(id, outs, state({ roles: [{ ...state().roles[0]!, connectionLimit: 20 }] }));
        await expect(update).rejects.toThrow(/did the list change underneath\? re-run `pulumi up`/);
    });

    test("delete marks absent, waits for CNPG to drop the role, then removes only our entry", async () => {
        const fake = new FakeCluster();
        const provider = rolePatchProvider(async () => fake, 10);
        const { outs } = await provider.create!(state());
        let reads = 0;
        fake.onGet = (cluster) => {
            // CNPG reconciles on the second read after the absent patch and writes its status.
            const entry = cluster.spec.managed!.roles!.find((r) => r["name"] === "synergyflow_app");
            if (entry?.["ensure"] === "absent" && ++reads === 2) {
                cluster.status = { managedRolesStatus: { byStatus: { reconciled: ["synergyflow_app"] } } };
                cluster.metadata.resourceVersion = String(Number(cluster.metadata.resourceVersion) + 1);
            }
        };
        await provider.delete!("id", { ...outs, dropTimeoutSeconds: 30 });
        expect(fake.patches.map((p) => p.map((o) => o.op).join(","))).toEqual(["add", "test,replace", "test,remove"]);
        expect(JSON.stringify(fake.cluster.spec.managed!.roles)).toBe(JSON.stringify(sharedClusterFixture().spec.managed!.roles));
    }, 20000);

    test("delete gives up after the timeout, leaving the entry marked absent", async () => {
        const fake = new FakeCluster();
        const provider = rolePatchProvider(async () => fake, 10);
        const { outs } = await provider.create!(state());
        await expect(provider.delete!("id", { ...outs, dropTimeoutSeconds: 1 })).rejects.toThrow(/has not dropped synergyflow_app within 1s/);
        expect(fake.cluster.spec.managed!.roles!.find((r) => r["name"] === "synergyflow_app")!["ensure"]).toBe("absent");
    }, 20000);

    test("a destroy that timed out succeeds when re-run once CNPG has dropped the role (no new write needed)", async () => {
        const fake = new FakeCluster();
        const provider = rolePatchProvider(async () => fake, 10);
        const { outs } = await provider.create!(state());
        await expect(provider.delete!("id", { ...outs, dropTimeoutSeconds: 1 })).rejects.toThrow(/within 1s/);
        // Meanwhile CNPG dropped it and reported so; nothing else changes the Cluster afterwards.
        fake.cluster.status = { managedRolesStatus: { byStatus: { reconciled: ["synergyflow_app"] } } };
        const writes = fake.patches.length;
        await provider.delete!("id", { ...outs, dropTimeoutSeconds: 1 });
        expect(fake.patches.slice(writes).map((p) => p.map((o) => o.op).join(","))).toEqual(["test,remove"]);
        expect(JSON.stringify(fake.cluster.spec.managed!.roles)).toBe(JSON.stringify(sharedClusterFixture().spec.managed!.roles));
    }, 20000);

    test("a changed drop timeout is an update (stored for the next destroy), and a removal by update waits as the new settings say", async () => {
        const fake = new FakeCluster();
        const provider = rolePatchProvider(async () => fake, 10);
        const { id, outs } = await provider.create!(state({ dropTimeoutSeconds: 300 }));
        expect((await provider.diff!(id, outs, state({ dropTimeoutSeconds: 600 }))).changes).toBe(true);
        const two = state({ roles: [...state().roles, applicationRoleFields("synergyflow_pooler_auth", 4, "synergyflow-pooler-auth", "auth")], dropTimeoutSeconds: 300 });
        const created = await provider.create!(two);
        const started = Date.now();
        await expect(provider.update!(id, created.outs, state({ dropTimeoutSeconds: 1 }))).rejects.toThrow(/synergyflow_pooler_auth within 1s/);
        expect(Date.now() - started).toBeLessThan(10000);
    }, 20000);
});

// The rotation's pure decisions (rotation.ts, evidence.ts), its evidence waits against fake clusters, and the
// order the program registers its steps in, as the engine sees it (each resource's dependencies).
import type { StackConfig } from "../components/model/config";
import { evidenceProvider } from "../components/resources/controllerEvidence";
import type { EvidenceWait } from "../components/model/evidence";
import type { KubeObject, LiveReader } from "../components/model/kubeObject";
import { loadStackConfig } from "../components/program";
import { type LiveCredentials, ROTATION_ORDER, type RotationStep, planRotation, rolloutPending } from "../components/model/rotation";
import type { RecordedResource } from "../tools/synth";
import { readStackFile } from "../tools/synth";
import { type HarnessResult, ROOT, SUPERUSER_PLATFORM, synth, variantConfig, vaultAuthConfig } from "./harness";
import { databaseRolePlatform, livePlatformCopy, platformAfter } from "./support/fixtures";

const prod: StackConfig = loadStackConfig(readStackFile(`${ROOT}/Pulumi.prod.yaml`).config);
const withRotation = (rotation: string): StackConfig => ({ ...prod, tenant: { ...prod.tenant, passwordRotation: rotation } });
/** The live record and generations; the pods on the record's login role unless told otherwise. */
const live = (backend: LiveCredentials["backend"], generations: LiveCredentials["generations"], rolloutPendingReason?: string, podsOn: string | undefined = backend?.loginRole): LiveCredentials => ({
    backend,
    ...(podsOn ? { pods: { loginRole: podsOn } } : {}),
    generations,
    rolloutPending: rolloutPendingReason,
});

describe("planRotation", () => {
    test("first run: the backend on login role a, both passwords generated for the current value", () => {
        expect(planRotation(withRotation("1"), live(undefined, {}))).toEqual({ active: "a", generations: { a: "1", b: "1" }, rotating: false });
    });
    test("a backend still on the single-credential role moves to a, nothing to retire", () => {
        expect(planRotation(withRotation("1"), live({ loginRole: "synergyflow_app", rotation: "1" }, {}))).toEqual({ active: "a", generations: { a: "1", b: "1" }, rotating: false });
    });
    test("a new value regenerates the idle login role only and moves the backend to it", () => {
        expect(planRotation(withRotation("2"), live({ loginRole: "synergyflow_app_a", rotation: "1" }, { a: "1", b: "1" }))).toEqual({ active: "b", generations: { a: "1", b: "2" }, rotating: true });
        expect(planRotation(withRotation("3"), live({ loginRole: "synergyflow_app_b", rotation: "2" }, { a: "1", b: "2" }))).toEqual({ active: "a", generations: { a: "3", b: "2" }, rotating: true });
    });
    test("the same value is no rotation, and a re-run after a half-done one finishes it without regenerating more", () => {
        expect(planRotation(withRotation("2"), live({ loginRole: "synergyflow_app_b", rotation: "2" }, { a: "1", b: "2" }))).toEqual({ active: "b", generations: { a: "1", b: "2" }, rotating: false });
        // Vault and the infra Secret were done, the backend not: the same plan again (b keeps generation "2").
        expect(planRotation(withRotation("2"), live({ loginRole: "synergyflow_app_a", rotation: "1" }, { a: "1", b: "2" }))).toEqual({ active: "b", generations: { a: "1", b: "2" }, rotating: true });
    });
    test("refused: a new rotation before the last rollout finished; an in-use password whose generation is unknown", () => {
        const pending = planRotation(withRotation("3"), live({ loginRole: "synergyflow_app_b", rotation: "2" }, { a: "1", b: "2" }, "1 of 3 pods updated"));
        expect(pending).toMatchObject({ key: "tenant.passwordRotation", message: expect.stringContaining("(1 of 3 pods updated)") });
        expect(pending).toMatchObject({ message: expect.stringContaining("synergyflow_app_a, whose password this rotation regenerates") });
        const unknown = planRotation(withRotation("3"), live({ loginRole: "synergyflow_app_b", rotation: "2" }, { a: "1" }));
        expect(unknown).toMatchObject({ key: "tenant.passwordRotation", remedy: expect.stringContaining(`tenant.passwordRotation "2"`) });
        // The record moved to b (step appsSecret) but the pods still run on a: rotation "2" finishes the move to b,
        // any other value is refused (it would regenerate a under the pods).
        expect(planRotation(withRotation("2"), live({ loginRole: "synergyflow_app_b", rotation: "2" }, { a: "1", b: "2" }, undefined, "synergyflow_app_a"))).toEqual({ active: "b", generations: { a: "1", b: "2" }, rotating: false });
        const behind = planRotation(withRotation("3"), live({ loginRole: "synergyflow_app_b", rotation: "2" }, { a: "1", b: "2" }, undefined, "synergyflow_app_a"));
        expect(behind).toMatchObject({ key: "tenant.passwordRotation", message: expect.stringContaining("still run on synergyflow_app_a"), remedy: expect.stringContaining(`back to "2"`) });
        // The pods are what counts, not the record: with no record left, the idle role is the one the pods do not use.
        expect(planRotation(withRotation("2"), live(undefined, { a: "1", b: "1" }, undefined, "synergyflow_app_b"))).toEqual({ active: "b", generations: { a: "1", b: "1" }, rotating: false });
        // The same value with a pending rollout is a re-run, not a rotation: allowed.
        expect(planRotation(withRotation("2"), live({ loginRole: "synergyflow_app_b", rotation: "2" }, { a: "1", b: "2" }, "1 of 3 pods updated"))).toMatchObject({ active: "b", rotating: false });
    });
});

describe("rolloutPending", () => {
    const deployment = (status: Record<string, number>, generation = 2): KubeObject => ({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "d", generation }, spec: { replicas: 3 }, status });
    test("complete only when the controller saw the spec and every pod is updated and available, with no older one left", () => {
        expect(rolloutPending(undefined)).toBeUndefined();
        expect(rolloutPending(deployment({ observedGeneration: 2, replicas: 3, updatedReplicas: 3, availableReplicas: 3 }))).toBeUndefined();
        expect(rolloutPending(deployment({ observedGeneration: 1, replicas: 3, updatedReplicas: 3, availableReplicas: 3 }))).toBe("generation 2 not yet observed by the controller");
        expect(rolloutPending(deployment({ observedGeneration: 2, replicas: 4, updatedReplicas: 2, availableReplicas: 3 }))).toBe("2 of 3 pods updated");
        expect(rolloutPending(deployment({ observedGeneration: 2, replicas: 4, updatedReplicas: 3, availableReplicas: 3 }))).toBe("1 older pods still running");
        expect(rolloutPending(deployment({ observedGeneration: 2, replicas: 3, updatedReplicas: 3, availableReplicas: 2 }))).toBe("2 of 3 pods available");
    });
    test("a pod still on an older credentials pair keeps it pending, also while it stops (the Deployment's status no longer counts it)", () => {
        const done = { observedGeneration: 2, replicas: 3, updatedReplicas: 3, availableReplicas: 3 };
        const onTemplate: KubeObject = { ...deployment(done), spec: { replicas: 3, template: { metadata: { annotations: { "synergyflow.io/db-credentials-version": "synergyflow_app_b@4" } } } } };
        const pod = (name: string, pair: string | undefined, stopping = false): KubeObject => ({ apiVersion: "v1", kind: "Pod", metadata: { name, ...(pair ? { annotations: { "synergyflow.io/db-credentials-version": pair } } : {}), ...(stopping ? { deletionTimestamp: "2026-12-03T08:00:00Z" } : {}) } });
        const current = [pod("backend-new-1", "synergyflow_app_b@4"), pod("backend-new-2", "synergyflow_app_b@4")];
        // Another workload in the namespace (no annotation) does not count.
        expect(rolloutPending(onTemplate, [...current, pod("kafka-client", undefined)])).toBeUndefined();
        expect(rolloutPending(onTemplate, [...current, pod("backend-old-1", "synergyflow_app_a@3", true)])).toBe("1 pods still on synergyflow_app_a@3 (1 of them stopping): backend-old-1");
        expect(rolloutPending(onTemplate, [pod("backend-old-2", "synergyflow_app_a@3")])).toBe("1 pods still on synergyflow_app_a@3: backend-old-2");
    });
});

describe("evidence waits", () => {
    const secret = (name: string, resourceVersion: string, vaultVersion?: string, role = "synergyflow_app_b"): KubeObject => ({
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name, namespace: "cnpg-system", resourceVersion, annotations: vaultVersion ? { "synergyflow-db/credentials": `${role}@${vaultVersion}` } : {} },
    });
    const cluster = (applied: Record<string, string>): KubeObject => ({
        apiVersion: "postgresql.cnpg.io/v1",
        kind: "Cluster",
        metadata: { name: "shared-postgres", namespace: "cnpg-system" },
        status: { managedRolesStatus: { passwordStatus: Object.fromEntries(Object.entries(applied).map(([role, rv]) => [role, { transactionID: 7, resourceVersion: rv }])) } },
    });
    const fakeReader = (objects: () => KubeObject[]): LiveReader => ({
        get: async (ref) => objects().find((o) => o.kind === ref.kind && o.metadata.name === ref.name),
        list: async () => [],
    });
    const waits: EvidenceWait[] = [
        { kind: "secretSynced", cluster: "infra", namespace: "cnpg-system", secretName: "synergyflow-app-role-password-b", credentials: "synergyflow_app_b@4" },
        { kind: "passwordApplied", namespace: "cnpg-system", clusterName: "shared-postgres", roleName: "synergyflow_app_b", secretName: "synergyflow-app-role-password-b", declaredBy: "cluster" },
    ];
    const state = { clusters: { infra: { context: "infra" }, apps: { context: "apps" } }, cluster: "infra" as const, waits, timeoutSeconds: 1, step: "login role passwords applied in PostgreSQL" };

    test("passes once ESO wrote the version and CNPG reports the Secret's resourceVersion applied", async () => {
        let objects = [secret("synergyflow-app-role-password-b", "100", "3"), cluster({ synergyflow_app_b: "100" })];
        // ESO syncs, then CNPG applies, while the step polls.
        setTimeout(() => (objects = [secret("synergyflow-app-role-password-b", "101", "4"), cluster({ synergyflow_app_b: "100" })]), 50);
        setTimeout(() => (objects = [secret("synergyflow-app-role-password-b", "101", "4"), cluster({ synergyflow_app_b: "101" })]), 150);
        const provider = evidenceProvider(() => fakeReader(() => objects), 20);
        await expect(provider.create!({ ...state, timeoutSeconds: 5 })).resolves.toMatchObject({ id: state.step });
    });

    test("fails after its timeout naming each missing piece of evidence, and tells what to do", async () => {
        const objects = [secret("synergyflow-app-role-password-b", "101", "3"), cluster({})];
        const provider = evidenceProvider(() => fakeReader(() => objects), 20);
        const error = await provider.create!(state).catch((e: Error) => e);
        expect(String(error)).toContain("login role passwords applied in PostgreSQL: no evidence within 1s");
        expect(String(error)).toContain("Secret cnpg-system/synergyflow-app-role-password-b on the infra cluster holds synergyflow_app_b@3, not synergyflow_app_b@4: External Secrets has not synced it yet");
        expect(String(error)).toContain("CNPG has not applied Secret cnpg-system/synergyflow-app-role-password-b (resourceVersion 101) to role synergyflow_app_b: Cluster cnpg-system/shared-postgres reports no password applied");
        expect(String(error)).toContain("run `pulumi up` again with the same tenant.passwordRotation");
    });

    test("the same Vault version of the other login role is no evidence: the pair is compared (a@2 after b@2)", async () => {
        // The backend's Secret holds b@2 from the last rotation; this one moves it to a, whose key is now at version 2 too.
        const appsWait: EvidenceWait = { kind: "secretSynced", cluster: "apps", namespace: "cnpg-system", secretName: "synergyflow-db-credentials", credentials: "synergyflow_app_a@2" };
        const objects = [secret("synergyflow-db-credentials", "7", "2", "synergyflow_app_b")];
        const provider = evidenceProvider(() => fakeReader(() => objects), 20);
        const error = await provider.create!({ ...state, waits: [appsWait] }).catch((e: Error) => e);
        expect(String(error)).toContain("holds synergyflow_app_b@2, not synergyflow_app_a@2: External Secrets has not synced it yet");
    });

    test("a timed-out password wait says why CNPG could not apply it (status.managedRolesStatus.cannotReconcile)", async () => {
        const refused: KubeObject = { ...cluster({}), status: { managedRolesStatus: { cannotReconcile: { synergyflow_app_b: ["role synergyflow_app_b: the username in Secret synergyflow-app-role-password-b does not match"] } } } };
        const provider = evidenceProvider(() => fakeReader(() => [secret("synergyflow-app-role-password-b", "101", "4"), refused]), 20);
        const error = await provider.create!(state).catch((e: Error) => e);
        expect(String(error)).toContain("reports no password applied; CNPG says: role synergyflow_app_b: the username in Secret synergyflow-app-role-password-b does not match");
    });

    test("DatabaseRoles: CNPG 1.30 reports the applied Secret on the DatabaseRole", async () => {
        const databaseRole: KubeObject = { apiVersion: "postgresql.cnpg.io/v1", kind: "DatabaseRole", metadata: { name: "synergyflow-app-b", namespace: "cnpg-system" }, status: { secretResourceVersion: "101" } };
        const onDatabaseRole: EvidenceWait[] = [{ ...(waits[1] as Extract<EvidenceWait, { kind: "passwordApplied" }>), declaredBy: "databaseRole" }];
        const provider = evidenceProvider(() => fakeReader(() => [secret("synergyflow-app-role-password-b", "101", "4"), databaseRole]), 20);
        await expect(provider.create!({ ...state, waits: onDatabaseRole })).resolves.toBeDefined();
    });

    test("only a changed wait is a change: no-change runs do not poll", async () => {
        const provider = evidenceProvider(() => fakeReader(() => []), 20);
        expect((await provider.diff!("id", state, state)).changes).toBe(false);
        expect((await provider.diff!("id", state, { ...state, timeoutSeconds: 6 })).changes).toBe(false);
        expect((await provider.diff!("id", state, { ...state, waits: [{ ...(waits[0] as EvidenceWait & { kind: "secretSynced" }), credentials: "synergyflow_app_b@5" }] })).changes).toBe(true);
    });
});

/** Whether `from` is registered after `to`, directly or through other resources. */
function waitsFor(result: HarnessResult, from: string, to: string): boolean {
    const byName = new Map<string, RecordedResource>(result.resources.map((r) => [r.name, r]));
    const seen = new Set<string>();
    const stack = [from];
    while (stack.length > 0) {
        const name = stack.pop() as string;
        for (const dep of byName.get(name)?.dependsOn ?? []) {
            if (dep === to) return true;
            if (!seen.has(dep)) {
                seen.add(dep);
                stack.push(dep);
            }
        }
    }
    return false;
}

describe("the order, as the engine sees it", () => {
    /** Each step of ROTATION_ORDER, by the resource that completes it (its evidence, where there is a wait). */
    const steps = (slot: "a" | "b"): Record<RotationStep, string> => ({
        vault: `synergyflow-login-${slot}-credential-vault`,
        infraSecret: `synergyflow-login-${slot}-secret`,
        postgres: "synergyflow-passwords-applied",
        appsSecret: "synergyflow-credentials-synced",
        backend: "synergyflow-backend-deployment",
    });
    /** For each step after the first in ROTATION_ORDER: is it registered after the step before it? */
    const chain = (result: HarnessResult, slot: "a" | "b") => {
        const s = steps(slot);
        return ROTATION_ORDER.slice(1).map((step, i) => waitsFor(result, s[step], s[ROTATION_ORDER[i] as RotationStep]));
    };

    test("external roles (the committed stacks): Vault -> infra Secret -> PostgreSQL applied -> apps Secret synced -> backend", async () => {
        const result = await synth("prod");
        expect(chain(result, "a")).toEqual([true, true, true, true]);
        expect(chain(result, "b")).toEqual([true, true, true, true]);
        // The apps Secret's ExternalSecret itself only changes after PostgreSQL has the password.
        expect(waitsFor(result, "synergyflow-credentials", "synergyflow-passwords-applied")).toBe(true);
        // The bootstrap Job logs in as the login roles only once PostgreSQL has their passwords.
        expect(waitsFor(result, "synergyflow-bootstrap-job", "synergyflow-passwords-applied")).toBe(true);
    });

    test("clusterPatch: the passwords are awaited after the role patch", async () => {
        const result = await synth("prod", vaultAuthConfig(), undefined, SUPERUSER_PLATFORM);
        expect(chain(result, "b")).toEqual([true, true, true, true]);
        expect(waitsFor(result, "synergyflow-passwords-applied", "synergyflow-roles-patch")).toBe(true);
    });

    test("databaseRole: the passwords are awaited after the DatabaseRoles", async () => {
        const platform = databaseRolePlatform();
        const result = await synth("prod", variantConfig("prod", {}, (c) => Object.assign(c["synergyflow-db:sharedCluster"], { operatorVersion: "1.30", roleStrategy: "databaseRole" })), undefined, platform);
        expect(chain(result, "a")).toEqual([true, true, true, true]);
        for (const role of ["synergyflow_app", "synergyflow_app_a", "synergyflow_app_b"]) expect(waitsFor(result, "synergyflow-passwords-applied", `synergyflow-roles-${role}`)).toBe(true);
    });

    test("without controllers (waitForControllers false) there is nothing to wait on, and a rotation says so", async () => {
        const result = await synth("prod", variantConfig("prod", { "synergyflow-db:waitForControllers": false }, (c) => (c["synergyflow-db:tenant"].passwordRotation = "2")), undefined, platformAfter({ loginRole: "synergyflow_app_a", rotation: "1", generations: { a: "1", b: "1" }, rollout: "complete" }));
        expect(result.resources.filter((r) => r.type.includes("ControllerEvidence"))).toEqual([]);
        expect(result.warnings.join("\n")).toContain("rotating to synergyflow_app_b: waitForControllers is false, so no step waits for External Secrets or CNPG");
    });

    test("after a retain destroy, a new up adopts the kept Secrets and says they get new passwords", async () => {
        const kept = livePlatformCopy("prod", (infra) => {
            for (const slot of ["a", "b"]) infra.push({ apiVersion: "v1", kind: "Secret", type: "kubernetes.io/basic-auth", metadata: { name: `synergyflow-app-role-password-${slot}`, namespace: "cnpg-system", labels: { "synergyflow-db/stack": "prod", "cnpg.io/reload": "true" } } });
        });
        const result = await synth("prod", undefined, undefined, kept);
        const warnings = result.warnings.join("\n");
        for (const slot of ["a", "b"]) expect(warnings).toContain(`adopting Secret cnpg-system/synergyflow-app-role-password-${slot}, kept by an earlier destroy (roleReclaimPolicy retain): its login role gets a new password from this run`);
        expect((await synth("prod")).warnings).toEqual([]);
    });
});

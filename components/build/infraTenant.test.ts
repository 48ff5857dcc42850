import { stackConfig } from "../../tests/support/stackConfigs";
import type { TenantPlan } from "../model/preflight/rules";
import { credentialExternalSecret, infraTenantInputs, passwordsAppliedWaits } from "./infraTenant";

// What infraTenantInputs reads of the plan: the rotation and the live Cluster's Secrets and certificate.
const plan = {
    rotation: { active: "b", generations: { a: "1", b: "2" }, rotating: true },
    superuserSecretName: "shared-postgres-superuser",
    caSecretName: "shared-postgres-ca",
    serverCaCertificate: "-----BEGIN CERTIFICATE-----",
    serverAltDnsNames: ["pooler.example"],
} as unknown as TenantPlan;

const prod = stackConfig("prod");
const vaultAuth = stackConfig("prod", (c) => (c.pooler.authMode = "vault"));

describe("what the infra tenant emits", () => {
    test("both login roles: each its own Vault key and Secret, generated for its rotation; the backend moves to the plan's active one", () => {
        const inputs = infraTenantInputs(prod, plan, "prod");
        expect(inputs.logins).toEqual({
            a: { name: "login-a", username: "synergyflow_app_a", vaultKey: "kubernetes/infra/cloudnative-pg/synergyflow-a", secretName: "synergyflow-app-role-password-a", generation: "1", labels: expect.objectContaining({ "app.kubernetes.io/component": "database", "synergyflow-db/stack": "prod" }) },
            b: { name: "login-b", username: "synergyflow_app_b", vaultKey: "kubernetes/infra/cloudnative-pg/synergyflow-b", secretName: "synergyflow-app-role-password-b", generation: "2", labels: expect.objectContaining({ "app.kubernetes.io/component": "database" }) },
        });
        expect(inputs.active).toBe("b");
        expect(inputs.wiring).toMatchObject({ databaseName: "synergyflow", roleName: "synergyflow_app", serverAltDnsNames: ["pooler.example"] });
    });

    test("operator auth: no auth credential; the Job runs as login role a in the tenant database, after the Pooler", () => {
        const inputs = infraTenantInputs(prod, plan, "prod");
        expect(inputs.poolerAuth).toBeUndefined();
        expect(inputs.pooler.auth).toBeUndefined();
        expect(inputs.bootstrap.runAs).toEqual({ secretName: "synergyflow-app-role-password-a", database: "synergyflow" });
        expect(inputs.bootstrapBeforePooler).toBe(false);
    });

    test("vault auth: a dedicated auth role that never rotates; the Job runs as the superuser in postgres, before the Pooler", () => {
        const inputs = infraTenantInputs(vaultAuth, plan, "prod");
        expect(inputs.poolerAuth).toMatchObject({ name: "pooler-auth", username: vaultAuth.pooler.authRoleName, vaultKey: "kubernetes/infra/cloudnative-pg/synergyflow-pooler-auth", secretName: vaultAuth.pooler.authSecretName, generation: "1" });
        expect(inputs.poolerAuth?.labels["app.kubernetes.io/component"]).toBe("pooler");
        expect(inputs.pooler.auth).toMatchObject({ secretName: vaultAuth.pooler.authSecretName });
        expect(inputs.bootstrap.runAs).toEqual({ secretName: "shared-postgres-superuser", database: "postgres" });
        expect(inputs.bootstrapBeforePooler).toBe(true);
    });

    test("waitForControllers: the evidence and the role drop wait; without it, neither", () => {
        const waiting = infraTenantInputs(prod, plan, "prod");
        expect(waiting.evidence).toEqual({ clusters: { infra: prod.infraCluster, apps: prod.appsCluster }, timeoutSeconds: prod.evidenceTimeoutSeconds });
        expect(waiting.roles.dropTimeoutSeconds).toBe(300);
        const idle = infraTenantInputs(stackConfig("prod", (c) => (c.waitForControllers = false)), plan, "prod");
        expect(idle.evidence).toBeUndefined();
        expect(idle.roles.dropTimeoutSeconds).toBe(0);
        expect(idle.bootstrap.waitForCompletion).toBe(false);
    });

    test("a credential's ExternalSecret: basic-auth with the reload label, its generation recorded, kept with a retained role", () => {
        const inputs = infraTenantInputs(prod, plan, "prod");
        const es = credentialExternalSecret(inputs, inputs.logins.b, { vaultKey: "k", vaultVersion: "4", credentials: "synergyflow_app_b@4" });
        expect(es.metadata.name).toBe("synergyflow-app-role-password-b");
        expect(es.metadata.annotations).toMatchObject({ "synergyflow-db/password-generation": "2" });
        expect(es.spec.target.template).toMatchObject({ type: "kubernetes.io/basic-auth", metadata: { labels: expect.objectContaining({ "cnpg.io/reload": "true" }) } });
        // prod retains its roles.
        expect(es.spec.target.creationPolicy).toBe("Orphan");
        const deleting = infraTenantInputs(stackConfig("prod", (c) => (c.tenant.roleReclaimPolicy = "delete")), plan, "prod");
        expect(credentialExternalSecret(deleting, deleting.logins.a, { vaultKey: "k", vaultVersion: "1", credentials: "c" }).spec.target.creationPolicy).toBe("Owner");
    });

    test("the passwords' evidence: each login role's Secret synced to its version, then applied where its role is declared", () => {
        const inputs = infraTenantInputs(prod, plan, "prod");
        const waits = passwordsAppliedWaits(inputs, { a: "3", b: "7" });
        expect(waits.map((w) => (w.kind === "secretSynced" ? `${w.kind} ${w.credentials}` : `${w.kind} ${w.roleName} ${w.declaredBy}`))).toEqual([
            "secretSynced synergyflow_app_a@3",
            "passwordApplied synergyflow_app_a cluster",
            "secretSynced synergyflow_app_b@7",
            "passwordApplied synergyflow_app_b cluster",
        ]);
        const databaseRole = infraTenantInputs(stackConfig("prod", (c) => (c.sharedCluster.roleStrategy = "databaseRole")), plan, "prod");
        expect(passwordsAppliedWaits(databaseRole, { a: "1", b: "1" }).filter((w) => w.kind === "passwordApplied").map((w) => (w as { declaredBy: string }).declaredBy)).toEqual(["databaseRole", "databaseRole"]);
    });
});

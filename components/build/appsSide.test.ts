import { stackConfig } from "../../tests/support/stackConfigs";
import { appsSideInputs, backendCredentialsExternalSecret, backendSecretWaits } from "./appsSide";

const prod = stackConfig("prod");
const SOURCE = { clusterName: "synergyflow-db", database: "synergyflow", secretName: "synergyflow-db-app", port: 5432 };
const inPhase = (phase: "copy" | "cutover" | "rollback" | "done") =>
    stackConfig("prod", (c) => (c.migration = { phase, source: SOURCE, replaceTarget: false, extensions: {}, image: "img", runAsUser: 10001, resources: { requests: { cpu: "250m", memory: "256Mi" }, limits: { cpu: "2", memory: "1Gi" } }, egressCidrs: [], timeoutSeconds: 60 }));
const sourceCa = { sourceCaCertificate: "-----BEGIN CERTIFICATE----- source" };

describe("what the apps side emits", () => {
    test("the backend on the pooler: its namespace, labels and store, the owner's session for wait-for-db, no migration", () => {
        const apps = appsSideInputs(prod, "prod", { sourceCaCertificate: "" });
        expect(apps.namespace).toEqual({ name: "synergyflow", mode: "patch", podSecurityLevel: "baseline", labels: expect.objectContaining({ "app.kubernetes.io/component": "namespace", "synergyflow-db/stack": "prod" }) });
        expect(apps.labels["app.kubernetes.io/component"]).toBe("backend");
        expect(apps.secrets).toEqual({ storeName: "vault-backend", refreshInterval: prod.externalSecrets.refreshInterval });
        expect(apps.during).toEqual({ replicas: 3, onSource: false });
        expect(apps.onSource).toBeUndefined();
        expect(apps.expectedSession).toEqual({ owner: "synergyflow_app", searchPath: expect.stringMatching(/^synergyflow_users, .*, public$/) });
        expect(apps.migration).toBeUndefined();
        expect(apps.globalPoolerService).toBeUndefined();
    });

    test("clusterMesh adds the global Service; waitForControllers the evidence (split mode too: no plan)", () => {
        const mesh = stackConfig("prod", (c) => (c.pooler.exposure = { ...c.pooler.exposure, mode: "clusterMesh" }));
        expect(appsSideInputs(mesh, "prod", undefined).globalPoolerService).toEqual({ labels: expect.objectContaining({ "app.kubernetes.io/component": "pooler" }) });
        expect(appsSideInputs(prod, "prod", undefined).evidence).toEqual({ clusters: { infra: prod.infraCluster, apps: prod.appsCluster }, timeoutSeconds: prod.evidenceTimeoutSeconds });
        expect(appsSideInputs(stackConfig("prod", (c) => (c.waitForControllers = false)), "prod", undefined).evidence).toBeUndefined();
    });

    test("copy: the backend at 0 and the copy Job, whose result is read; the record names the phase", () => {
        const apps = appsSideInputs(inPhase("copy"), "prod", sourceCa);
        expect(apps.during).toEqual({ replicas: 0, onSource: false, job: "copy" });
        expect(apps.migration).toMatchObject({ phase: "copy", recordName: "synergyflow-db-migration", sourceCaCertificate: sourceCa.sourceCaCertificate, stack: "prod", result: { clusters: { infra: prod.infraCluster, apps: prod.appsCluster } } });
        expect(apps.migration?.does).toContain("dumps it and restores it");
        // The migration's builders get the blocks they read, not the whole config.
        expect(Object.keys(apps.migration!.config).sort()).toEqual(["backend", "migration", "networkPolicies", "pooler", "tenant"]);
    });

    test("a rollback's second run: the backend on the dedicated cluster with its own Secret and CA, verify-full, no session expectation", () => {
        const apps = appsSideInputs(inPhase("rollback"), "prod", { record: { phase: "rollback" }, ...sourceCa });
        expect(apps.during).toEqual({ replicas: 3, onSource: true });
        expect(apps.onSource).toEqual({ target: { host: "synergyflow-db-rw", port: 5432, database: "synergyflow", sslMode: "verify-full" }, caCertificate: sourceCa.sourceCaCertificate, credentials: { secretName: "synergyflow-db-app", keys: { username: "username", password: "password" }, version: "migration-rollback:synergyflow-db-app" } });
        expect(apps.expectedSession).toBeUndefined();
    });

    test("the backend's ExternalSecret: Opaque, the backend's key names, the rotation's record; its evidence waits for the pair", () => {
        const apps = appsSideInputs(prod, "prod", undefined);
        const es = backendCredentialsExternalSecret(apps, { vaultKey: "k/synergyflow-b", vaultVersion: "7", credentials: "synergyflow_app_b@7", loginRoleName: "synergyflow_app_b", passwordRotation: "2" });
        expect(es.metadata).toMatchObject({ name: "synergyflow-db-credentials", namespace: "synergyflow" });
        expect(es.metadata.annotations).toEqual({ "synergyflow-db/login-role": "synergyflow_app_b", "synergyflow-db/password-rotation": "2", "synergyflow-db/credentials": "synergyflow_app_b@7", "pulumi.com/waitFor": "condition=Ready" });
        expect(es.spec.target.template.type).toBe("Opaque");
        expect(es.spec.data.map((d) => d.secretKey)).toEqual(["DB_USERNAME", "DB_PASSWORD"]);
        expect(backendSecretWaits(apps, "synergyflow_app_b@7")).toEqual([{ kind: "secretSynced", cluster: "apps", namespace: "synergyflow", secretName: "synergyflow-db-credentials", credentials: "synergyflow_app_b@7" }]);
    });
});

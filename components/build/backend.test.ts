import { stackConfig } from "../../tests/support/stackConfigs";
import { type BackendInputs, backendDeployment } from "./backend";

const prod = stackConfig("prod");
const inputs = (change: Partial<BackendInputs> = {}): BackendInputs => ({
    config: prod.backend,
    namespace: "synergyflow",
    datasourceConfigMapName: "datasource-1",
    serverCaConfigMapName: "server-ca-1",
    credentialsSecretName: "synergyflow-db-credentials",
    credentialKeys: { username: "DB_USERNAME", password: "DB_PASSWORD" },
    credentialsVersion: "synergyflow_app_b@4",
    expectedSession: { owner: "synergyflow_app", searchPath: "synergyflow_users, public" },
    replicas: 3,
    labels: { "app.kubernetes.io/name": "synergyflow", "app.kubernetes.io/component": "backend" },
    waitForReady: true,
    ...change,
});
const podOf = (deployment: ReturnType<typeof backendDeployment>) => (deployment.spec as any).template;

describe("the backend Deployment", () => {
    test("the pod template names the credentials pair it was started on, so a rotation rolls it", () => {
        expect(podOf(backendDeployment(inputs())).metadata.annotations).toEqual({ "synergyflow.io/db-credentials-version": "synergyflow_app_b@4" });
    });

    test("wait-for-db waits for the owner's session with the tenant's search_path; credentials only by Secret reference", () => {
        const init = podOf(backendDeployment(inputs())).spec.initContainers[0];
        expect(init.name).toBe("wait-for-db");
        expect(init.env.slice(0, 2)).toEqual([
            { name: "WAIT_FOR_DB_OWNER", value: "synergyflow_app" },
            { name: "WAIT_FOR_DB_SEARCH_PATH", value: "synergyflow_users, public" },
        ]);
        expect(init.env.find((e: any) => e.name === "PGPASSWORD")).toEqual({ name: "PGPASSWORD", valueFrom: { secretKeyRef: { name: "synergyflow-db-credentials", key: "DB_PASSWORD" } } });
        // On the migration's source (rollback) the program sets no role: a login and a query are enough.
        expect(podOf(backendDeployment(inputs({ expectedSession: undefined }))).spec.initContainers[0].env.slice(0, 2).map((e: any) => e.value)).toEqual(["", ""]);
    });

    test("the backend container reads the datasource ConfigMap and the CA, probes on the actuator, runs restricted", () => {
        const container = podOf(backendDeployment(inputs())).spec.containers[0];
        expect(container.envFrom).toEqual([{ configMapRef: { name: "datasource-1" } }]);
        expect(container.readinessProbe.httpGet).toEqual({ path: "/actuator/health/readiness", port: "http" });
        expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ["ALL"] } });
        for (const env of container.env) expect(env.value).toBeUndefined();
    });

    test("replicas as planned (0 while a copy runs); no await without controllers", () => {
        expect((backendDeployment(inputs({ replicas: 0 })).spec as any).replicas).toBe(0);
        expect((backendDeployment(inputs({ waitForReady: false })).metadata as any).annotations).toEqual({ "pulumi.com/skipAwait": "true" });
    });
});

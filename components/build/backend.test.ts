import { stackConfig } from "../../tests/support/stackConfigs";
import { type BackendInputs, backendDeployment } from "./backend";
import { backendNetworkPolicy } from "./networkPolicy";

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
    test("a stopping pod keeps serving while the endpoints drop it, then has time for Spring's graceful shutdown", () => {
        const pod = podOf(backendDeployment(inputs())).spec;
        expect(pod.containers[0].lifecycle).toEqual({ preStop: { sleep: { seconds: 5 } } });
        expect(pod.terminationGracePeriodSeconds).toBe(45);
    });

    test("the startup probe allows 300 s, checked every 2 s (a pod joins its rollout as soon as it serves)", () => {
        const probe = podOf(backendDeployment(inputs())).spec.containers[0].startupProbe;
        expect(probe.periodSeconds * probe.failureThreshold).toBe(300);
        expect(probe.periodSeconds).toBe(2);
    });

    test("the readiness probe checks every 3 s, no shorter than its timeout, and tolerates 30 s of failures (a started pod is ready within 3 s of Spring saying so)", () => {
        const probe = podOf(backendDeployment(inputs())).spec.containers[0].readinessProbe;
        expect(probe.periodSeconds).toBe(3);
        expect(probe.timeoutSeconds).toBeLessThanOrEqual(probe.periodSeconds);
        expect(probe.periodSeconds * probe.failureThreshold).toBe(30);
    });

    test("the pod template names the credentials pair it was started on, so a rotation rolls it", () => {
        expect(podOf(backendDeployment(inputs())).metadata.annotations).toEqual({ "synergyflow.io/db-credentials-version": "synergyflow_app_b@4" });
    });

    test("wait-for-db waits for the owner's session with the tenant's search_path; credentials as files it exports before psql", () => {
        const pod = podOf(backendDeployment(inputs())).spec;
        const init = pod.initContainers[0];
        expect(init.name).toBe("wait-for-db");
        expect(init.env).toEqual([
            { name: "WAIT_FOR_DB_OWNER", value: "synergyflow_app" },
            { name: "WAIT_FOR_DB_SEARCH_PATH", value: "synergyflow_users, public" },
        ]);
        expect(init.command.slice(0, 2)).toEqual(["sh", "-c"]);
        expect(init.command[2]).toContain('IFS= read -r PGPASSWORD < /etc/synergyflow-db/db-credentials/password || [ -n "$PGPASSWORD" ]');
        expect(init.command.slice(3, 6)).toEqual(["with-credentials", "sh", "-c"]);
        expect(init.volumeMounts).toContainEqual({ name: "db-credentials", mountPath: "/etc/synergyflow-db/db-credentials", readOnly: true });
        expect(pod.volumes.find((v: any) => v.name === "db-credentials").secret).toEqual({
            secretName: "synergyflow-db-credentials",
            items: [
                { key: "DB_USERNAME", path: "username" },
                { key: "DB_PASSWORD", path: "password" },
            ],
            defaultMode: 0o440,
        });
        expect(init.resources.limits).toEqual({ cpu: "100m", memory: "64Mi" });
        // The pod's uid (no override for the image's postgres user: psql runs as any uid once PGUSER is set).
        expect(init.securityContext.runAsUser).toBeUndefined();
        // On the migration's source (rollback) the program sets no role: a login and a query are enough.
        expect(podOf(backendDeployment(inputs({ expectedSession: undefined }))).spec.initContainers[0].env.slice(0, 2).map((e: any) => e.value)).toEqual(["", ""]);
    });

    test("the backend container reads the datasource ConfigMap and the CA, probes on the actuator, runs restricted", () => {
        const container = podOf(backendDeployment(inputs())).spec.containers[0];
        expect(container.envFrom).toEqual([{ configMapRef: { name: "datasource-1" } }]);
        expect(container.readinessProbe.httpGet).toEqual({ path: "/actuator/health/readiness", port: "http" });
        expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ["ALL"] } });
    });

    test("the backend reads its credentials as Spring Boot's config tree: no Secret in its env, the files named like the properties", () => {
        const pod = podOf(backendDeployment(inputs())).spec;
        const container = pod.containers[0];
        expect(container.env).toEqual([{ name: "SPRING_CONFIG_IMPORT", value: "configtree:/etc/synergyflow-db/spring-credentials/" }]);
        expect(container.volumeMounts).toContainEqual({ name: "spring-credentials", mountPath: "/etc/synergyflow-db/spring-credentials/", readOnly: true });
        expect(pod.volumes.find((v: any) => v.name === "spring-credentials").secret.items).toEqual([
            { key: "DB_USERNAME", path: "spring.datasource.username" },
            { key: "DB_PASSWORD", path: "spring.datasource.password" },
        ]);
        // On the migration's source (rollback) the same files come from CNPG's Secret keys.
        const rollback = podOf(backendDeployment(inputs({ credentialsSecretName: "synergyflow-db-app", credentialKeys: { username: "username", password: "password" } }))).spec;
        expect(rollback.volumes.find((v: any) => v.name === "spring-credentials").secret).toMatchObject({ secretName: "synergyflow-db-app", items: [{ key: "username" }, { key: "password" }] });
        for (const c of [...pod.initContainers, ...pod.containers]) expect(JSON.stringify(c.env ?? [])).not.toContain("secretKeyRef");
    });

    test("the pod runs as backend.runAsUser (10001 by default), group and fsGroup alike, so the credential files are readable", () => {
        expect(podOf(backendDeployment(inputs())).spec.securityContext).toMatchObject({ runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, runAsNonRoot: true });
        expect(podOf(backendDeployment(inputs({ config: { ...prod.backend, runAsUser: 20000 } }))).spec.securityContext).toMatchObject({ runAsUser: 20000, fsGroup: 20000 });
    });

    test("its NetworkPolicy selects the Deployment's pods and has no Egress type: ingress to the http port only, from anywhere or the named namespaces", () => {
        const deployment = backendDeployment(inputs());
        const config = prod.networkPolicies;
        const policy = backendNetworkPolicy({ namespace: "synergyflow", labels: {}, podSelector: (deployment.spec as any).selector.matchLabels, httpPort: 8080, config })!;
        expect(policy.metadata).toMatchObject({ name: "synergyflow-backend", namespace: "synergyflow" });
        expect(policy.spec).toEqual({ podSelector: { matchLabels: { "app.kubernetes.io/name": "synergyflow", "app.kubernetes.io/component": "backend" } }, policyTypes: ["Ingress"], ingress: [{ ports: [{ protocol: "TCP", port: 8080 }] }] });
        const narrowed = backendNetworkPolicy({ namespace: "synergyflow", labels: {}, podSelector: {}, httpPort: 8080, config: { ...config, backend: { ...config.backend, ingressFrom: [{ "kubernetes.io/metadata.name": "ingress" }], extraPorts: [8181, 8080] } } })!;
        expect((narrowed.spec as any).ingress).toEqual([{ from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "ingress" } } }], ports: [{ protocol: "TCP", port: 8080 }, { protocol: "TCP", port: 8181 }] }]);
        expect(backendNetworkPolicy({ namespace: "synergyflow", labels: {}, podSelector: {}, httpPort: 8080, config: { ...config, backend: { ...config.backend, mode: "none" } } })).toBeUndefined();
    });

    test("replicas as planned (0 while a copy runs); no await without controllers", () => {
        expect((backendDeployment(inputs({ replicas: 0 })).spec as any).replicas).toBe(0);
        expect((backendDeployment(inputs({ waitForReady: false })).metadata as any).annotations).toEqual({ "pulumi.com/skipAwait": "true" });
    });
});

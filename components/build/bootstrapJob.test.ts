import { stackConfig } from "../../tests/support/stackConfigs";
import { type BootstrapInputs, bootstrapJob, bootstrapNetworkPolicy, bootstrapSqlConfigMap } from "./bootstrapJob";

const inputs = (perLoginRole: boolean): BootstrapInputs => ({
    jobName: "synergyflow-db-bootstrap",
    namespace: "cnpg-system",
    clusterName: "shared-postgres",
    runAs: { secretName: perLoginRole ? "pw-a" : "shared-postgres-superuser", database: perLoginRole ? "synergyflow" : "postgres" },
    caSecretName: "shared-postgres-ca",
    image: "postgres:16",
    runAsUser: 10001,
    sql: { main: "SELECT 1;", ...(perLoginRole ? { perLoginRole: "SELECT 2;" } : {}) },
    loginRoleSecrets: ["pw-a", "pw-b"],
    labels: { "app.kubernetes.io/name": "synergyflow", "app.kubernetes.io/component": "database" },
    waitForCompletion: true,
});
/** Which Secret each container logs in with: the file its PGUSER is read from, and the volume mounted there. */
const loginSecret = (pod: any, container: any) => {
    const dir = /read -r PGUSER < (\S+)\/username/.exec(container.command[2])![1];
    const mount = container.volumeMounts.find((m: any) => m.mountPath === dir);
    return pod.volumes.find((v: any) => v.name === mount.name).secret.secretName;
};

describe("the bootstrap Job", () => {
    test("operator auth: each login role runs its own settings first, then the main SQL; verify-full against the CA's certificate only", () => {
        const pod = (bootstrapJob(inputs(true), "job-1", "sql-1").spec as any).template.spec;
        expect(pod.initContainers.map((c: any) => [c.name, loginSecret(pod, c)])).toEqual([
            ["login-role-1", "pw-a"],
            ["login-role-2", "pw-b"],
        ]);
        expect(loginSecret(pod, pod.containers[0])).toBe("pw-a");
        const env = Object.fromEntries(pod.containers[0].env.map((e: any) => [e.name, e.value]));
        expect(env).toMatchObject({ PGHOST: "shared-postgres-rw", PGSSLMODE: "verify-full", PGSSLROOTCERT: "/ca/ca.crt", PGDATABASE: "synergyflow" });
        expect(pod.volumes).toEqual([
            { name: "sql", configMap: { name: "sql-1" } },
            { name: "ca", secret: { secretName: "shared-postgres-ca", items: [{ key: "ca.crt", path: "ca.crt" }] } },
            // One volume per Secret: login role a's serves its own settings and the main SQL.
            { name: "credentials-1", secret: { secretName: "pw-a", items: [{ key: "username", path: "username" }, { key: "password", path: "password" }], defaultMode: 0o440 } },
            { name: "credentials-2", secret: { secretName: "pw-b", items: [{ key: "username", path: "username" }, { key: "password", path: "password" }], defaultMode: 0o440 } },
        ]);
        expect(pod).toMatchObject({ restartPolicy: "Never", automountServiceAccountToken: false, securityContext: { runAsNonRoot: true, runAsUser: 10001, fsGroup: 10001 } });
    });

    test("no credential in any container's env; psql is exec'd after the files are exported; a CPU limit on every container", () => {
        const pod = (bootstrapJob(inputs(true), "job-1", "sql-1").spec as any).template.spec;
        for (const c of [...pod.initContainers, ...pod.containers]) {
            expect(c.env.map((e: any) => e.name)).not.toEqual(expect.arrayContaining(["PGUSER"]));
            expect(c.env.every((e: any) => e.valueFrom === undefined)).toBe(true);
            expect(c.command[2].split("\n")).toEqual(["set -e", expect.stringMatching(/^IFS= read -r PGUSER < \/credentials\/\d\/username \|\| \[ -n "\$PGUSER" \]$/), expect.stringMatching(/^IFS= read -r PGPASSWORD < /), "export PGUSER PGPASSWORD", 'exec "$@"']);
            expect(c.command.slice(3, 5)).toEqual(["with-credentials", "psql"]);
            expect(c.resources.limits.cpu).toBe("200m");
        }
    });

    test("its pods carry their own component; the NetworkPolicy selects exactly them: egress to the Cluster's pods on 5432 and DNS, no ingress", () => {
        const job = bootstrapJob(inputs(true), "job-1", "sql-1");
        const podLabels = (job.spec as any).template.metadata.labels;
        expect(podLabels["app.kubernetes.io/component"]).toBe("bootstrap");
        expect((job.metadata as any).labels["app.kubernetes.io/component"]).toBe("database");
        const policy = bootstrapNetworkPolicy(inputs(true), stackConfig("prod").networkPolicies);
        expect(policy.metadata).toMatchObject({ name: "synergyflow-db-bootstrap", namespace: "cnpg-system" });
        expect(policy.spec).toEqual({
            podSelector: { matchLabels: podLabels },
            policyTypes: ["Ingress", "Egress"],
            ingress: [],
            egress: [
                { to: [{ podSelector: { matchLabels: { "cnpg.io/cluster": "shared-postgres" } } }], ports: [{ protocol: "TCP", port: 5432 }] },
                {
                    to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } }, podSelector: { matchLabels: { "k8s-app": "kube-dns" } } }],
                    ports: [
                        { protocol: "UDP", port: 53 },
                        { protocol: "TCP", port: 53 },
                    ],
                },
            ],
        });
    });

    test("vault auth: one container as the superuser, in postgres; the ConfigMap holds only what runs", () => {
        const pod = (bootstrapJob(inputs(false), "job-1", "sql-1").spec as any).template.spec;
        expect(pod.initContainers).toBeUndefined();
        expect(loginSecret(pod, pod.containers[0])).toBe("shared-postgres-superuser");
        expect(pod.volumes.filter((v: any) => v.name.startsWith("credentials-")).map((v: any) => v.secret.secretName)).toEqual(["shared-postgres-superuser"]);
        expect(bootstrapSqlConfigMap(inputs(false), "sql-1").data).toEqual({ "bootstrap.sql": "SELECT 1;" });
    });
});

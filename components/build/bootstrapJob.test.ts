import { type BootstrapInputs, bootstrapJob, bootstrapSqlConfigMap } from "./bootstrapJob";

const inputs = (perLoginRole: boolean): BootstrapInputs => ({
    jobName: "synergyflow-db-bootstrap",
    namespace: "cnpg-system",
    clusterName: "shared-postgres",
    runAs: { secretName: perLoginRole ? "pw-a" : "shared-postgres-superuser", database: perLoginRole ? "synergyflow" : "postgres" },
    caSecretName: "shared-postgres-ca",
    image: "postgres:16",
    sql: { main: "SELECT 1;", ...(perLoginRole ? { perLoginRole: "SELECT 2;" } : {}) },
    loginRoleSecrets: ["pw-a", "pw-b"],
    labels: {},
    waitForCompletion: true,
});

describe("the bootstrap Job", () => {
    test("operator auth: each login role runs its own settings first, then the main SQL; verify-full against the CA's certificate only", () => {
        const pod = (bootstrapJob(inputs(true), "job-1", "sql-1").spec as any).template.spec;
        expect(pod.initContainers.map((c: any) => [c.name, c.env.find((e: any) => e.name === "PGUSER").valueFrom.secretKeyRef.name])).toEqual([
            ["login-role-1", "pw-a"],
            ["login-role-2", "pw-b"],
        ]);
        const env = Object.fromEntries(pod.containers[0].env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
        expect(env).toMatchObject({ PGHOST: "shared-postgres-rw", PGSSLMODE: "verify-full", PGSSLROOTCERT: "/ca/ca.crt", PGDATABASE: "synergyflow", PGPASSWORD: { secretKeyRef: { name: "pw-a", key: "password" } } });
        expect(pod.volumes).toEqual([
            { name: "sql", configMap: { name: "sql-1" } },
            { name: "ca", secret: { secretName: "shared-postgres-ca", items: [{ key: "ca.crt", path: "ca.crt" }] } },
        ]);
        expect(pod).toMatchObject({ restartPolicy: "Never", automountServiceAccountToken: false, securityContext: { runAsNonRoot: true, runAsUser: 26 } });
    });

    test("vault auth: one container as the superuser, in postgres; the ConfigMap holds only what runs", () => {
        const pod = (bootstrapJob(inputs(false), "job-1", "sql-1").spec as any).template.spec;
        expect(pod.initContainers).toBeUndefined();
        expect(pod.containers[0].env.find((e: any) => e.name === "PGUSER").valueFrom.secretKeyRef.name).toBe("shared-postgres-superuser");
        expect(bootstrapSqlConfigMap(inputs(false), "sql-1").data).toEqual({ "bootstrap.sql": "SELECT 1;" });
    });
});

import { stackConfig } from "../../tests/support/stackConfigs";
import type { StackConfig } from "../model/config";
import { fingerprintSql } from "../model/migration/scripts";
import { migrationJobName, migrationJobSpec, migrationNetworkPolicy, migrationScripts } from "./migrationJob";

const withMigration = (change: Partial<NonNullable<StackConfig["migration"]>> = {}) =>
    stackConfig("prod", (c) => (c.migration = { phase: "copy", source: { clusterName: "synergyflow-db", database: "app", port: 5432, secretName: "synergyflow-db-app" }, replaceTarget: false, extensions: {}, image: "postgres:16", runAsUser: 10001, resources: { requests: { cpu: "250m", memory: "256Mi" }, limits: { cpu: "2", memory: "1Gi" } }, egressCidrs: [], timeoutSeconds: 3600, ...change }));
const target = { host: "10.80.12.40", port: 5432, database: "synergyflow", sslMode: "verify-ca" };

describe("the migration Job", () => {
    test("its name changes with every setting the Job carries, so a new result reader comes with it", () => {
        const name = (config: StackConfig) => migrationJobName(config, "copy", migrationScripts(config, "copy"));
        const base = name(withMigration());
        expect(base).toMatch(/^synergyflow-db-copy-[0-9a-f]{8}$/);
        expect(name(withMigration({ replaceTarget: true }))).not.toBe(base);
        expect(name(withMigration({ timeoutSeconds: 60 }))).not.toBe(base);
        expect(name(withMigration({ runAsUser: 20000 }))).not.toBe(base);
        expect(name(withMigration())).toBe(base);
    });

    test("restricted, never retried, bounded; both databases verified; every credential from a mounted Secret file; its result in the termination message", () => {
        const spec = migrationJobSpec({ config: withMigration(), job: "copy", name: "j", target, scriptsConfigMapName: "s", serverCaConfigMapName: "ca", sourceCaConfigMapName: "sca", labels: { "app.kubernetes.io/component": "backend" } });
        expect(spec).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 3600 });
        const pod = (spec.template as any).spec;
        const container = pod.containers[0];
        expect(container.terminationMessagePolicy).toBe("FallbackToLogsOnError");
        expect(container.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true });
        expect(pod.securityContext).toMatchObject({ runAsUser: 10001, fsGroup: 10001 });
        expect(container.resources.limits).toEqual({ cpu: "2", memory: "1Gi" });
        const env = Object.fromEntries(container.env.map((e: any) => [e.name, e.value]));
        expect(env).toMatchObject({ SOURCE_SSLMODE: "verify-full", PGHOST: "10.80.12.40", PGSSLMODE: "verify-ca" });
        for (const name of ["SOURCE_USER", "SOURCE_PASSWORD", "PGUSER", "PGPASSWORD"]) expect(env[name]).toBeUndefined();
        expect(JSON.stringify(container.env)).not.toContain("secretKeyRef");
        // The script reads them from the files the wrapper exports just before exec'ing bash.
        expect(container.command[2].split("\n")).toEqual([
            "set -e",
            'IFS= read -r SOURCE_USER < /credentials/source/username || [ -n "$SOURCE_USER" ]',
            'IFS= read -r SOURCE_PASSWORD < /credentials/source/password || [ -n "$SOURCE_PASSWORD" ]',
            'IFS= read -r PGUSER < /credentials/target/username || [ -n "$PGUSER" ]',
            'IFS= read -r PGPASSWORD < /credentials/target/password || [ -n "$PGPASSWORD" ]',
            "export SOURCE_USER SOURCE_PASSWORD PGUSER PGPASSWORD",
            'exec "$@"',
        ]);
        expect(container.command.slice(3)).toEqual(["with-credentials", "bash", "/migration/copy.sh"]);
        const secretOf = (volume: string) => pod.volumes.find((v: any) => v.name === volume).secret;
        expect(secretOf("source-credentials")).toMatchObject({ secretName: "synergyflow-db-app", items: [{ key: "username", path: "username" }, { key: "password", path: "password" }] });
        expect(secretOf("target-credentials")).toMatchObject({ secretName: "synergyflow-db-credentials", items: [{ key: "DB_USERNAME", path: "username" }, { key: "DB_PASSWORD", path: "password" }] });
        // Its own component: the backend's policy and Deployment selector do not take its pods.
        expect((spec.template as any).metadata.labels["app.kubernetes.io/component"]).toBe("migration");
    });

    test("its NetworkPolicy: egress to the pooler's address and the source Cluster's pods (or its address, or egressCidrs for names) and DNS, no ingress", () => {
        const policy = migrationNetworkPolicy(withMigration(), target, { "app.kubernetes.io/component": "backend" });
        expect(policy.metadata).toMatchObject({ name: "synergyflow-db-migration", namespace: "synergyflow" });
        const spec = policy.spec as any;
        expect(spec.podSelector).toEqual({ matchLabels: { "app.kubernetes.io/component": "migration" } });
        expect(spec.policyTypes).toEqual(["Ingress", "Egress"]);
        expect(spec.ingress).toEqual([]);
        expect(spec.egress.slice(0, 2)).toEqual([
            { to: [{ ipBlock: { cidr: "10.80.12.40/32" } }], ports: [{ protocol: "TCP", port: 5432 }] },
            { to: [{ podSelector: { matchLabels: { "cnpg.io/cluster": "synergyflow-db" } } }], ports: [{ protocol: "TCP", port: 5432 }] },
        ]);
        expect(spec.egress[2].ports).toEqual([
            { protocol: "UDP", port: 53 },
            { protocol: "TCP", port: 53 },
        ]);
        const byHost = migrationNetworkPolicy(withMigration({ source: { host: "10.1.2.3", caSecretName: "ca", database: "app", port: 6432, secretName: "s" } }), target, {}).spec as any;
        expect(byHost.egress[1]).toEqual({ to: [{ ipBlock: { cidr: "10.1.2.3/32" } }], ports: [{ protocol: "TCP", port: 6432 }] });
        const byName = migrationNetworkPolicy(withMigration({ source: { host: "db.example.internal", caSecretName: "ca", database: "app", port: 5432, secretName: "s" }, egressCidrs: ["10.9.0.0/24"] }), target, {}).spec as any;
        expect(byName.egress[1]).toEqual({ to: [{ ipBlock: { cidr: "10.9.0.0/24" } }], ports: [{ protocol: "TCP", port: 5432 }] });
    });

    test("its fingerprint hashes tables in buckets and large objects in 16 MiB chunks, never a whole large object (lo_get returns at most 1 GB)", () => {
        const sql = migrationScripts(withMigration(), "copy")["fingerprint.sql"]!;
        expect(sql).toContain("pg_catalog.lo_get(m.oid, 0, 16777216)");
        expect(sql).toContain("pg_catalog.lo_get(m.oid, c.off + 16777216, 16777216)");
        expect(sql).not.toMatch(/lo_get\((m\.)?oid\)/);
        expect(fingerprintSql(["s"], 1000, 1000)).toContain("pg_catalog.lo_get(m.oid, 0, 1000)");
        expect(() => fingerprintSql(["s"], 1000, 1024 * 1024 * 1024)).toThrow(/largeObjectChunkBytes must be an integer from 1 to 512 MiB/);
        expect(() => fingerprintSql(["s"], 0)).toThrow(/chunkRows must be a positive integer/);
    });
});

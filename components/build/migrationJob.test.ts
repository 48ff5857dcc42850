import { stackConfig } from "../../tests/support/stackConfigs";
import type { StackConfig } from "../model/config";
import { migrationJobName, migrationJobSpec, migrationScripts } from "./migrationJob";

const withMigration = (change: Partial<NonNullable<StackConfig["migration"]>> = {}) =>
    stackConfig("prod", (c) => (c.migration = { phase: "copy", source: { clusterName: "synergyflow-db", database: "app", port: 5432, secretName: "synergyflow-db-app" }, replaceTarget: false, extensions: {}, image: "postgres:16", timeoutSeconds: 3600, ...change }));

describe("the migration Job", () => {
    test("its name changes with every setting the Job carries, so a new result reader comes with it", () => {
        const name = (config: StackConfig) => migrationJobName(config, "copy", migrationScripts(config, "copy"));
        const base = name(withMigration());
        expect(base).toMatch(/^synergyflow-db-copy-[0-9a-f]{8}$/);
        expect(name(withMigration({ replaceTarget: true }))).not.toBe(base);
        expect(name(withMigration({ timeoutSeconds: 60 }))).not.toBe(base);
        expect(name(withMigration())).toBe(base);
    });

    test("restricted, never retried, bounded; both databases verified; every credential from a Secret; its result in the termination message", () => {
        const spec = migrationJobSpec({ config: withMigration(), job: "copy", name: "j", target: { host: "10.80.12.40", port: 5432, database: "synergyflow", sslMode: "verify-ca" }, scriptsConfigMapName: "s", serverCaConfigMapName: "ca", sourceCaConfigMapName: "sca", labels: {} });
        expect(spec).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 3600 });
        const container = (spec.template as any).spec.containers[0];
        expect(container.terminationMessagePolicy).toBe("FallbackToLogsOnError");
        expect(container.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true });
        const env = Object.fromEntries(container.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
        expect(env).toMatchObject({ SOURCE_SSLMODE: "verify-full", PGHOST: "10.80.12.40", PGSSLMODE: "verify-ca", SOURCE_PASSWORD: { secretKeyRef: { name: "synergyflow-db-app", key: "password" } }, PGPASSWORD: { secretKeyRef: { name: "synergyflow-db-credentials", key: "DB_PASSWORD" } } });
        for (const e of container.env) if (/PASSWORD|USER$/.test(e.name)) expect(e.value).toBeUndefined();
    });
});

// Conformance tier: every object synth emits, for both stacks and the alternative configs, checked against
// the real CRD schemas (OpenAPI + CEL), core Kubernetes schemas, CNPG's webhook rules and the wiring rules;
// and each check shown able to fail on known-bad objects. The checks run in plain Node (ESM-only schema
// packages): one child process for all the sets, so the schemas are compiled once.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";
import type { ObjectSet, SetReport } from "../conformance/check";
import { checkSets, renderedObjects } from "../conformance/check";
import type { KubeObject } from "../conformance/types";
import type { LiveCluster } from "../components/model/rolePatch";
import { type HarnessResult, ROOT, SUPERUSER_PLATFORM, byType, synth, variantConfig, vaultAuthConfig } from "./harness";
import { databaseRolePlatform, livePlatformCopy, sharedClusterFixture } from "./support/fixtures";

function runChecks(sets: ObjectSet[]): SetReport[] {
    const run = spawnSync(process.execPath, [require.resolve("ts-node/dist/bin.js"), "--transpile-only", "conformance/check.ts", "--stdin"], {
        cwd: ROOT,
        input: JSON.stringify({ sets }),
        encoding: "utf8",
        maxBuffer: 64 * 1024 * 1024,
    });
    if (run.status !== 0) throw new Error(`conformance checker failed: ${run.stderr}`);
    return JSON.parse(run.stdout) as SetReport[];
}

function setOf(name: string, result: HarnessResult, live: LiveCluster = sharedClusterFixture()): ObjectSet {
    const vaultUsernames: Record<string, string> = {};
    for (const r of byType(result, "vault:kv/secretV2:SecretV2")) {
        const inputs = r.inputs as any;
        vaultUsernames[inputs.name] = JSON.parse(inputs.dataJson.value).username;
    }
    return { name, objects: renderedObjects(result.dir, live), context: { vaultUsernames } };
}

// Known-bad objects: each check must reject them with its specific reason.
const ns = "cnpg-system";
const cluster = (roles: any[]): KubeObject => ({ apiVersion: "postgresql.cnpg.io/v1", kind: "Cluster", metadata: { name: "shared-postgres", namespace: ns }, spec: { instances: 3, storage: { size: "10Gi" }, managed: { roles } } });
const roleSecret = (name: string, type = "kubernetes.io/basic-auth", key = "kubernetes/infra/cloudnative-pg/synergyflow"): KubeObject => ({
    apiVersion: "external-secrets.io/v1",
    kind: "ExternalSecret",
    metadata: { name, namespace: ns },
    spec: {
        secretStoreRef: { kind: "ClusterSecretStore", name: "vault-backend" },
        target: { name, creationPolicy: "Owner", template: { type } },
        data: [
            { secretKey: "username", remoteRef: { key, property: "username" } },
            { secretKey: "password", remoteRef: { key, property: "password" } },
        ],
    },
});
// The first design's Pooler, as it was written.
const firstDesignPooler: KubeObject = {
    apiVersion: "postgresql.cnpg.io/v1",
    kind: "Pooler",
    metadata: { name: "synergyflow-pooler", namespace: ns },
    spec: {
        cluster: { name: "shared-postgres" },
        instances: 3,
        type: "rw",
        resources: { requests: { cpu: "100m" } },
        affinity: { podAntiAffinity: {} },
        template: { metadata: { labels: { app: "synergyflow-pooler" } }, spec: {} },
        pgbouncer: {
            poolMode: "transaction",
            parameters: { max_db_connections: "50", default_pool_size: "25", pool_mode: "transaction" },
            authQuerySecret: { name: "synergyflow-pooler-auth" },
            authQuery: "SELECT usename, passwd FROM user_search($1)",
            pg_hba: ["host synergyflow synergyflow 0.0.0.0/0 scram-sha-256"],
        },
    },
};
const firstDesignAuthSecret = roleSecret("synergyflow-pooler-auth", "Opaque");
const firstDesignRole = { name: "synergyflow", login: true, connectionLimit: 50, passwordSecret: { name: "synergyflow-role" } };
const firstDesignConfigMap: KubeObject = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "synergyflow-datasource", namespace: "synergyflow" },
    data: { SPRING_DATASOURCE_URL: "jdbc:postgresql://synergyflow-pooler-rw.cnpg-system.svc:5432/synergyflow?currentSchema=synergyflow_users" },
};

const KNOWN_BAD: ObjectSet[] = [
    { name: "first design", objects: [cluster([firstDesignRole]), firstDesignPooler, firstDesignAuthSecret, roleSecret("synergyflow-role"), firstDesignConfigMap] },
    {
        name: "roles",
        objects: [
            cluster([{ name: "gitlab_app", login: true }, { name: "gitlab_app", login: true }, { name: "synergyflow_app", login: true, passwordSecret: { name: "synergyflow-app-role-password" } }]),
            roleSecret("synergyflow-app-role-password", "Opaque"),
            { apiVersion: "postgresql.cnpg.io/v1", kind: "DatabaseRole", metadata: { name: "pg-monitor", namespace: ns }, spec: { cluster: { name: "shared-postgres" }, name: "pg_monitor", login: true, ensure: "absent" } },
        ],
        context: { vaultUsernames: { "kubernetes/infra/cloudnative-pg/synergyflow": "someone_else" } },
    },
    {
        name: "schemas",
        objects: [
            { apiVersion: "postgresql.cnpg.io/v1", kind: "Database", metadata: { name: "db", namespace: ns }, spec: { cluster: { name: "shared-postgres" }, name: "template1", owner: "synergyflow_app", databaseReclaimPolicy: "keep" } },
            { apiVersion: "external-secrets.io/v1", kind: "ExternalSecret", metadata: { name: "es", namespace: ns }, spec: { secretStoreRef: { kind: "ClusterSecretStore", name: "vault-backend" }, target: { name: "es", creationPolicy: "Adopt" }, dataFrom: "all" } },
            { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "d", namespace: "synergyflow" }, spec: { replicas: "three", selector: {}, template: {} } },
            { apiVersion: "policy/v1", kind: "PodDisruptionBudget", metadata: { name: "p", namespace: ns }, spec: { maxUnavailable: { count: 1 } } },
            { apiVersion: "postgresql.cnpg.io/v1", kind: "Pooler", metadata: { name: "p2", namespace: ns }, spec: { cluster: { name: "shared-postgres" }, template: { spec: { containers: [] } }, pgbouncer: { poolMode: "statement", authQuery: "SELECT 1", parameters: { max_db_connections: 5 } } } },
        ],
    },
];

/** Every synth variant as the set of objects it emits (with the live Cluster its role rules see). */
async function synthSets(): Promise<ObjectSet[]> {
    const liveCluster = (dir: string) => YAML.parse(fs.readFileSync(path.join(dir, "infra/shared-postgres.yaml"), "utf8")) as LiveCluster;
    // The committed stacks run against Clusters whose owner declared our role (roleStrategy external).
    const devCluster = liveCluster(path.join(ROOT, "fixtures/live/dev"));
    const prodCluster = liveCluster(path.join(ROOT, "fixtures/live/prod"));
    const superuserCluster = liveCluster(SUPERUSER_PLATFORM);
    const cnpg130 = databaseRolePlatform();
    const withoutNamespace = livePlatformCopy("dev", (_infra, apps) => apps.splice(apps.findIndex((o) => o.kind === "Namespace"), 1));
    const variants: [string, () => Promise<HarnessResult>, LiveCluster][] = [
        ["dev", () => synth("dev"), devCluster],
        ["prod", () => synth("prod"), prodCluster],
        ["databaseRole", () => synth("prod", variantConfig("prod", {}, (c) => Object.assign(c["synergyflow-db:sharedCluster"], { operatorVersion: "1.30", roleStrategy: "databaseRole" })), undefined, cnpg130), sharedClusterFixture()],
        ["vault auth, clusterPatch", () => synth("prod", vaultAuthConfig(), undefined, SUPERUSER_PLATFORM), superuserCluster],
        ["clusterMesh", () => synth("prod", variantConfig("prod", {}, (c) => (c["synergyflow-db:pooler"].exposure = { mode: "clusterMesh", appsNodeCidrs: ["10.80.20.0/24"] }))), prodCluster],
        ["external exposure", () => synth("dev", variantConfig("dev", {}, (c) => (c["synergyflow-db:pooler"].exposure = { mode: "external", host: "synergyflow-db.platform.internal" }))), devCluster],
        ["namespace created", () => synth("dev", variantConfig("dev", {}, (c) => (c["synergyflow-db:backend"].namespaceMode = "create")), undefined, withoutNamespace), devCluster],
        ["split mode", () => synth("prod", variantConfig("prod", { "synergyflow-db:infraStack": "platform/synergyflow-db/prod" })), prodCluster],
    ];
    const sets: ObjectSet[] = [];
    for (const [name, run, live] of variants) sets.push(setOf(name, await run(), live));
    return sets;
}

let checking: Promise<{ sets: ObjectSet[]; reports: SetReport[] }> | undefined;
/** The synth sets, then the known-bad ones, through one checker process (its schemas compiled once). */
function checked(): Promise<{ sets: ObjectSet[]; reports: SetReport[] }> {
    checking ??= synthSets().then((sets) => ({ sets, reports: runChecks([...sets, ...KNOWN_BAD]) }));
    return checking;
}

describe("conformance of everything synth emits", () => {
    let reports: SetReport[];
    let sets: ObjectSet[];

    beforeAll(async () => {
        ({ sets, reports } = await checked());
        reports = reports.slice(0, sets.length);
    }, 120000);

    test("the CRDs are read from the shared folder (a missing folder fails, it is never skipped)", () => {
        const saved = process.env["SYNERGYFLOW_CRDS"];
        process.env["SYNERGYFLOW_CRDS"] = "/nonexistent/crds";
        try {
            expect(() => checkSets([])).toThrow("CRD folder /nonexistent/crds does not exist");
        } finally {
            if (saved === undefined) delete process.env["SYNERGYFLOW_CRDS"];
            else process.env["SYNERGYFLOW_CRDS"] = saved;
        }
    });

    test.each([
        "dev",
        "prod",
        "databaseRole",
        "vault auth, clusterPatch",
        "clusterMesh",
        "external exposure",
        "namespace created",
        "split mode",
    ])("%s: every object passes every check", (name) => {
        const report = reports.find((r) => r.name === name)!;
        expect(report.problems).toEqual([]);
        expect(report.checked.length).toBeGreaterThanOrEqual(name === "split mode" ? 5 : 10);
        // Every kind has a schema here, the Prometheus Operator's included (../shared/crds/monitoring).
        expect(report.unchecked).toEqual([]);
    });

    test("each emitted kind went through the schema check it needs", () => {
        const checksByKind = new Map<string, Set<string>>();
        for (const report of reports) {
            for (const { object, checks } of report.checked) {
                const kind = object.split("/")[0]!;
                checksByKind.set(kind, new Set([...(checksByKind.get(kind) ?? []), ...checks]));
            }
        }
        for (const kind of ["Cluster", "Pooler", "Database", "DatabaseRole", "ExternalSecret", "PodMonitor", "PrometheusRule"]) expect([...checksByKind.get(kind)!].sort()).toEqual(["cel", "openapi"]);
        for (const kind of ["Namespace", "ConfigMap", "Deployment", "Job", "NetworkPolicy", "PodDisruptionBudget", "Service"]) expect([...checksByKind.get(kind)!]).toEqual(["core-schema"]);
    });

    test("the role patch keeps every tenant's role valid and unique on the shared Cluster", () => {
        const prodSet = sets.find((s) => s.name === "vault auth, clusterPatch")!;
        const cluster = prodSet.objects.find((o) => o.kind === "Cluster") as any;
        expect(cluster.spec.managed.roles.map((r: any) => r.name)).toEqual(["gitlab_app", "harbor_app", "mattermost_app", "keycloak_app", "readonly_user", "synergyflow_app", "synergyflow_app_a", "synergyflow_app_b", "synergyflow_pooler_auth"]);
        const external = sets.find((s) => s.name === "prod")!.objects.find((o) => o.kind === "Cluster") as any;
        expect(external.spec.managed.roles.map((r: any) => r.name)).toEqual(["gitlab_app", "harbor_app", "mattermost_app", "keycloak_app", "readonly_user", "synergyflow_app", "synergyflow_app_a", "synergyflow_app_b"]);
    });
});

describe("each check can fail: known-bad objects are rejected with the specific reason", () => {
    let report: SetReport;
    let others: SetReport[];
    beforeAll(async () => {
        const [first, ...rest] = (await checked()).reports.slice(-KNOWN_BAD.length);
        report = first!;
        others = rest;
    }, 120000);

    const messages = (r: SetReport, check: string) => r.problems.filter((p) => p.check === check).map((p) => `${p.object}: ${p.message}`);

    test("the first design's Pooler: top-level resources and affinity, no template.spec.containers (OpenAPI)", () => {
        const openapi = messages(report, "openapi");
        expect(openapi).toContain(`Pooler/cnpg-system/synergyflow-pooler: /spec must NOT have additional properties (unknown field "resources")`);
        expect(openapi).toContain(`Pooler/cnpg-system/synergyflow-pooler: /spec must NOT have additional properties (unknown field "affinity")`);
        expect(openapi).toContain(`Pooler/cnpg-system/synergyflow-pooler: /spec/template/spec must have required property 'containers'`);
    });

    test("the first design's Pooler: 3 x 50 server connections against a role limit of 50, an Opaque auth secret", () => {
        const all = report.problems.map((p) => p.message).join("\n");
        expect(all).toContain("3 pods x max_db_connections 50 = 150 server connections > connectionLimit 50 of role synergyflow");
        expect(all).toContain("auth secret synergyflow-pooler-auth is Opaque; CNPG accepts only kubernetes.io/basic-auth or kubernetes.io/tls");
        expect(all).toContain("parameter pool_mode is set by CloudNativePG itself");
        expect(all).toMatch(/pg_hba does not end with "host all all 0.0.0.0\/0 reject"/);
    });

    test("a JDBC URL pointing at synergyflow-pooler-rw", () => {
        const wiring = messages(report, "wiring").join("\n");
        expect(wiring).toContain(`JDBC URL host synergyflow-pooler-rw.cnpg-system.svc names a "-rw" Service: CNPG names the pooler's Service exactly like the Pooler (synergyflow-pooler)`);
        expect(wiring).toContain("JDBC URL sets currentSchema/options");
    });

    test("roles: duplicate, reserved (CEL and webhook), ensure: absent on a DatabaseRole, password Secret type and username", () => {
        const roles = others[0]!;
        const all = roles.problems.map((p) => `[${p.check}] ${p.message}`).join("\n");
        expect(all).toContain(`[cnpg-webhook] role "gitlab_app" is declared twice`);
        expect(all).toContain(`[cnpg-webhook] role name "pg_monitor" is reserved`);
        expect(all).toMatch(/\[cel\] \/spec: .*rule: !self.name.startsWith\('pg_'\)/);
        expect(all).toMatch(/\[cel\] \/spec: .*rule: !has\(self.ensure\) \|\| self.ensure != 'absent'/);
        expect(all).toContain("[cnpg-webhook] password Secret synergyflow-app-role-password of role synergyflow_app is Opaque, CNPG needs kubernetes.io/basic-auth");
        expect(all).toContain(`[cnpg-webhook] password Secret synergyflow-app-role-password would hold username "someone_else", not the role name "synergyflow_app"`);
    });

    test("schemas: enums, required fields, CEL on Database names, core types, authQuery without its secret", () => {
        const schemas = others[1]!;
        const all = schemas.problems.map((p) => `[${p.check}] ${p.object}: ${p.message}`).join("\n");
        expect(all).toMatch(/\[cel\] Database\/cnpg-system\/db: \/spec\/name: .*rule: self != 'template1'/);
        expect(all).toMatch(/\[openapi\] Database\/cnpg-system\/db: \/spec\/databaseReclaimPolicy must be equal to one of the allowed values/);
        expect(all).toMatch(/\[openapi\] ExternalSecret\/cnpg-system\/es: \/spec\/target\/creationPolicy must be equal to one of the allowed values/);
        expect(all).toMatch(/\[openapi\] ExternalSecret\/cnpg-system\/es: \/spec\/dataFrom must be array/);
        expect(all).toMatch(/\[core-schema\] Deployment\/synergyflow\/d: \/spec\/replicas/);
        expect(all).toMatch(/\[core-schema\] PodDisruptionBudget\/cnpg-system\/p: \/spec\/maxUnavailable/);
        expect(all).toMatch(/\[openapi\] Pooler\/cnpg-system\/p2: \/spec\/pgbouncer\/poolMode must be equal to one of the allowed values/);
        expect(all).toMatch(/\[openapi\] Pooler\/cnpg-system\/p2: \/spec\/pgbouncer\/parameters\/max_db_connections must be string/);
        expect(all).toContain("[cnpg-webhook] Pooler/cnpg-system/p2: authQuery is set without authQuerySecret (they go together)");
    });
});

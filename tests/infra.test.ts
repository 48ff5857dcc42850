// The infra side under mocks: which provider each resource goes to, what it sets, what is secret.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import YAML from "yaml";
import type { RecordedResource, SynthResult } from "../scripts/synth";
import { isSecretWrapper } from "../scripts/synth";
import { type HarnessResult, byType, generatedPasswords, synth, synthProcess, variantConfig } from "./harness";
import { sharedClusterFixture } from "./support/fixtures";

const providerOf = (r: RecordedResource) => r.provider?.split("::")[3];
const one = (result: SynthResult, type: string) => {
    const found = byType(result, type);
    expect(found).toHaveLength(1);
    return found[0]!.inputs as any;
};

let prod: HarnessResult;
let dev: HarnessResult;
beforeAll(async () => {
    prod = await synth("prod");
    dev = await synth("dev");
});

describe("infra tenant", () => {
    test("every infra-cluster object goes to the infra provider, Vault writes to the vault provider", () => {
        for (const r of prod.resources.filter((r) => r.type.startsWith("kubernetes:") && !r.type.startsWith("kubernetes:index"))) {
            const inputs = r.inputs as any;
            const namespace = inputs.metadata?.namespace;
            if (namespace === "cnpg-system" || r.read) expect([r.name, providerOf(r)]).toEqual([r.name, "infra"]);
        }
        for (const r of prod.resources.filter((r) => r.type.startsWith("vault:"))) expect(providerOf(r)).toBe("vault");
        for (const r of prod.resources.filter((r) => r.type.startsWith("random:") && !r.type.startsWith("random:index:"))) expect(providerOf(r)).toBe("random");
    });

    test("the credentials: explicitly named KV v2 secrets whose data is a Pulumi secret", () => {
        const secrets = byType(prod, "vault:kv/secretV2:SecretV2").map((r) => r.inputs as any);
        expect(secrets.map((s) => s.name).sort()).toEqual(["kubernetes/infra/cloudnative-pg/synergyflow", "kubernetes/infra/cloudnative-pg/synergyflow-pooler-auth"]);
        for (const secret of secrets) {
            expect(secret.mount).toBe("secret");
            expect(isSecretWrapper(secret.dataJson)).toBe(true);
            const data = JSON.parse(secret.dataJson.value);
            expect(Object.keys(data).sort()).toEqual(["password", "username"]);
        }
        const passwords = byType(prod, "random:index/randomPassword:RandomPassword").map((r) => r.inputs as any);
        for (const p of passwords) expect(p).toMatchObject({ length: 32, special: true, overrideSpecial: "-_." });
    });

    test("the role's password Secret is made by an ExternalSecret exactly as CNPG requires", () => {
        const externalSecrets = byType(prod, "kubernetes:external-secrets.io/v1:ExternalSecret").map((r) => r.inputs as any);
        const role = externalSecrets.find((e) => e.metadata.name === "synergyflow-app-role-password");
        expect(role).toMatchObject({
            apiVersion: "external-secrets.io/v1",
            metadata: { namespace: "cnpg-system", annotations: { "pulumi.com/waitFor": "condition=Ready" } },
            spec: {
                secretStoreRef: { kind: "ClusterSecretStore", name: "vault-backend" },
                target: { name: "synergyflow-app-role-password", creationPolicy: "Owner", template: { type: "kubernetes.io/basic-auth", metadata: { labels: { "cnpg.io/reload": "true" } } } },
            },
        });
        // The same key string vault.kv.SecretV2 was given, relative to the store's mount.
        expect(role.spec.data).toEqual([
            { secretKey: "username", remoteRef: { key: "kubernetes/infra/cloudnative-pg/synergyflow", property: "username" } },
            { secretKey: "password", remoteRef: { key: "kubernetes/infra/cloudnative-pg/synergyflow", property: "password" } },
        ]);
    });

    test("no Kubernetes object, Job spec or patch carries a generated password", () => {
        for (const result of [dev, prod]) {
            const passwords = generatedPasswords(result);
            const kube = JSON.stringify(result.resources.filter((r) => !r.type.startsWith("vault:") && !r.type.startsWith("random:")).map((r) => r.inputs));
            for (const p of passwords) expect(kube).not.toContain(p);
        }
    });

    test("clusterPatch: one dynamic resource holding both roles with explicit login and no privileges", () => {
        const patch = one(prod, "pulumi-nodejs:dynamic/synergyflow-db:ClusterRolePatch");
        expect(patch).toMatchObject({ namespace: "cnpg-system", clusterName: "shared-postgres", context: "infra", dropTimeoutSeconds: 300 });
        expect(patch.roles.map((r: any) => [r.name, r.connectionLimit, r.passwordSecret.name])).toEqual([
            ["synergyflow_app", 40, "synergyflow-app-role-password"],
            ["synergyflow_pooler_auth", 4, "synergyflow-pooler-auth"],
        ]);
        expect(prod.warnings.join("\n")).toMatch(/spec\.managed\.roles of Cluster cnpg-system\/shared-postgres is owned or applied by kustomize-controller/);
        expect(prod.outputs["roleStrategy"]).toBe("clusterPatch: synergyflow_app, synergyflow_pooler_auth patched into spec.managed.roles (also owned by kustomize-controller)");
        for (const role of patch.roles) {
            expect(role).toMatchObject({ login: true, inherit: true, superuser: false, createdb: false, createrole: false, replication: false, bypassrls: false });
        }
    });

    test("databaseRole: standalone DatabaseRoles, never the shared Cluster", async () => {
        const result = await synth("prod", variantConfig("prod", {}, (c) => (c["synergyflow-db:sharedCluster"].operatorVersion = "1.30") && (c["synergyflow-db:sharedCluster"].roleStrategy = "databaseRole")));
        const roles = byType(result, "kubernetes:postgresql.cnpg.io/v1:DatabaseRole").map((r) => r.inputs as any);
        expect(roles.map((r) => r.metadata.name)).toEqual(["synergyflow-app", "synergyflow-pooler-auth"]);
        expect(roles[0].spec).toMatchObject({ cluster: { name: "shared-postgres" }, name: "synergyflow_app", login: true, superuser: false, connectionLimit: 40, databaseRoleReclaimPolicy: "retain" });
        expect(roles[0].spec.ensure).toBeUndefined();
        expect(result.resources.some((r) => r.type.startsWith("pulumi-nodejs:dynamic"))).toBe(false);
        expect(result.outputs["roleStrategy"]).toBe("databaseRole: synergyflow_app, synergyflow_pooler_auth as DatabaseRole objects");
        expect(result.warnings).toEqual([]);
    });

    test("databaseRole: an inline entry of the same name in the live Cluster is reported (CNPG lets it win)", async () => {
        const live = sharedClusterFixture();
        live.spec.managed!.roles!.push({ name: "synergyflow_app", login: true });
        const liveFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "synergyflow-live-")), "cluster.yaml");
        fs.writeFileSync(liveFile, YAML.stringify(live));
        const config = variantConfig("prod", {}, (c) => Object.assign(c["synergyflow-db:sharedCluster"], { operatorVersion: "1.30", roleStrategy: "databaseRole" }));
        const result = await synth("prod", config, liveFile);
        expect(result.warnings.join("\n")).toContain("also lists synergyflow_app in spec.managed.roles; CNPG applies that inline entry, not the DatabaseRole");
    });

    test("external: reads the live Cluster and fails clearly when the role is not declared there", () => {
        // In its own process: like the engine, synth fails on an error raised inside the program's applies.
        const config = variantConfig("prod", {}, (c) => (c["synergyflow-db:sharedCluster"].roleStrategy = "external"));
        const run = synthProcess("prod", config);
        expect(run.status).toBe(1);
        expect(run.stderr).toMatch(/roleStrategy is "external", but the live Cluster does not declare the roles as expected:[\s\S]*has no entry for role "synergyflow_app"; add it to the Cluster manifest/);
    });

    test("the Database: owned by the role, seven schemas owned by the role, reclaim policy per stack", () => {
        const database = one(prod, "kubernetes:postgresql.cnpg.io/v1:Database");
        expect(database.spec).toMatchObject({ cluster: { name: "shared-postgres" }, name: "synergyflow", owner: "synergyflow_app", databaseReclaimPolicy: "retain" });
        expect(database.spec.schemas).toHaveLength(7);
        for (const schema of database.spec.schemas) expect(schema.owner).toBe("synergyflow_app");
        expect(one(dev, "kubernetes:postgresql.cnpg.io/v1:Database").spec.databaseReclaimPolicy).toBe("delete");
    });

    test("the Pooler: rw, instances, string parameters, pg_hba, vault auth, a template with containers and anti-affinity", () => {
        const pooler = one(prod, "kubernetes:postgresql.cnpg.io/v1:Pooler");
        expect(pooler.metadata).toMatchObject({ name: "synergyflow-pooler", namespace: "cnpg-system" });
        expect(pooler.spec).toMatchObject({ cluster: { name: "shared-postgres" }, instances: 3, type: "rw" });
        expect(pooler.spec.resources).toBeUndefined();
        expect(pooler.spec.affinity).toBeUndefined();
        expect(pooler.spec.template.spec.containers[0].name).toBe("pgbouncer");
        expect(pooler.spec.template.spec.affinity.podAntiAffinity).toBeDefined();
        for (const value of Object.values(pooler.spec.pgbouncer.parameters)) expect(typeof value).toBe("string");
        expect(pooler.spec.pgbouncer.parameters.max_prepared_statements).toBe("200");
        expect(pooler.spec.pgbouncer.pg_hba[0]).toBe("hostssl synergyflow synergyflow_app 0.0.0.0/0 scram-sha-256");
        expect(pooler.spec.pgbouncer).toMatchObject({ poolMode: "transaction", authQuerySecret: { name: "synergyflow-pooler-auth" }, authQuery: `SELECT usename, passwd FROM "synergyflow_pooler_auth".user_search($1)` });
        expect(pooler.spec.serviceTemplate).toEqual({ metadata: { annotations: { "lbipam.cilium.io/ips": "10.80.12.40" } }, spec: { type: "LoadBalancer" } });
        expect(pooler.spec.monitoring).toBeUndefined();
        const podMonitor = one(prod, "kubernetes:monitoring.coreos.com/v1:PodMonitor");
        expect(podMonitor.spec.podMetricsEndpoints).toEqual([{ port: "metrics" }]);
        expect(byType(dev, "kubernetes:monitoring.coreos.com/v1:PodMonitor")).toHaveLength(0);
    });

    test("the PDB and the NetworkPolicy admitting the apps cluster's pods on 5432", () => {
        expect(one(prod, "kubernetes:policy/v1:PodDisruptionBudget").spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: { "cnpg.io/poolerName": "synergyflow-pooler" } } });
        const policy = one(prod, "kubernetes:networking.k8s.io/v1:NetworkPolicy");
        expect(policy.spec).toEqual({
            podSelector: { matchLabels: { "cnpg.io/poolerName": "synergyflow-pooler" } },
            policyTypes: ["Ingress"],
            ingress: [{ from: [{ ipBlock: { cidr: "10.244.0.0/16" } }], ports: [{ protocol: "TCP", port: 5432 }] }],
        });
    });

    test("the bootstrap Job: restricted, the superuser password only by Secret reference, re-run when the SQL changes", async () => {
        const job = one(prod, "kubernetes:batch/v1:Job");
        const pod = job.spec.template.spec;
        expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
        const container = pod.containers[0];
        expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, runAsNonRoot: true });
        expect(container.command.join(" ")).not.toMatch(/password/i);
        expect(container.env.find((e: any) => e.name === "PGPASSWORD")).toEqual({ name: "PGPASSWORD", valueFrom: { secretKeyRef: { name: "shared-postgres-superuser", key: "password" } } });
        for (const env of container.env) expect(env.value === undefined || !/password/i.test(env.name)).toBe(true);
        const sql = byType(prod, "kubernetes:core/v1:ConfigMap").map((r) => (r.inputs as any).data["bootstrap.sql"]).find(Boolean);
        expect(sql).toContain("user_search");
        const operator = await synth("prod", variantConfig("prod", {}, (c) => (c["synergyflow-db:pooler"].authMode = "operator")));
        const operatorJob = one(operator, "kubernetes:batch/v1:Job");
        expect(operatorJob.metadata.name).not.toBe(job.metadata.name);
        expect(operatorJob.metadata.name).toMatch(/^synergyflow-db-bootstrap-[0-9a-f]{8}$/);
    });

    test("operator auth: no auth secret, no auth role, CNPG's integration", async () => {
        const result = await synth("prod", variantConfig("prod", {}, (c) => (c["synergyflow-db:pooler"].authMode = "operator")));
        const pooler = one(result, "kubernetes:postgresql.cnpg.io/v1:Pooler");
        expect(pooler.spec.pgbouncer.authQuery).toBeUndefined();
        expect(pooler.spec.pgbouncer.authQuerySecret).toBeUndefined();
        expect(byType(result, "vault:kv/secretV2:SecretV2")).toHaveLength(1);
        expect(byType(result, "kubernetes:external-secrets.io/v1:ExternalSecret").map((r) => (r.inputs as any).metadata.name).sort()).toEqual([
            "synergyflow-app-role-password",
            "synergyflow-db-credentials",
        ]);
        expect(one(result, "pulumi-nodejs:dynamic/synergyflow-db:ClusterRolePatch").roles.map((r: any) => r.name)).toEqual(["synergyflow_app"]);
    });

    test("exposure modes decide the host; the Service name comes from the Pooler", async () => {
        expect(prod.outputs["poolerHost"]).toBe("10.80.12.40");
        expect(dev.outputs["poolerHost"]).toBe("10.80.12.57"); // read back from the Service status (fixture)
        expect(prod.outputs["poolerServiceName"]).toBe("synergyflow-pooler");
        const mesh = await synth("prod", variantConfig("prod", {}, (c) => (c["synergyflow-db:pooler"].exposure = { mode: "clusterMesh", appsPodCidrs: ["10.244.0.0/16"] })));
        expect(mesh.outputs["poolerHost"]).toBe("synergyflow-pooler.cnpg-system.svc.cluster.local");
        expect(one(mesh, "kubernetes:postgresql.cnpg.io/v1:Pooler").spec.serviceTemplate.metadata.annotations).toEqual({ "service.cilium.io/global": "true" });
        const external = await synth("prod", variantConfig("prod", {}, (c) => (c["synergyflow-db:pooler"].exposure = { mode: "external", host: "synergyflow-db.platform.internal" })));
        expect(external.outputs["poolerHost"]).toBe("synergyflow-db.platform.internal");
        expect(byType(external, "kubernetes:networking.k8s.io/v1:NetworkPolicy")).toHaveLength(0);
        expect(one(external, "kubernetes:postgresql.cnpg.io/v1:Pooler").spec.serviceTemplate).toBeUndefined();
    });

    test("the tenant's outputs are the stack outputs", () => {
        expect(Object.keys(prod.outputs).sort()).toEqual(
            ["appsNamespace", "connectionBudget", "roleStrategy", "databaseName", "datasourceConfigMap", "infraNamespace", "jdbcUrl", "poolerHost", "poolerPort", "poolerServiceName", "roleName", "vaultKey", "vaultMount", "vaultSecretVersion"].sort(),
        );
        expect(prod.outputs).toMatchObject({ databaseName: "synergyflow", roleName: "synergyflow_app", vaultKey: "kubernetes/infra/cloudnative-pg/synergyflow", poolerPort: 5432 });
        expect(String(prod.outputs["jdbcUrl"])).toBe("jdbc:postgresql://10.80.12.40:5432/synergyflow?sslmode=require&prepareThreshold=5&ApplicationName=synergyflow&tcpKeepAlive=true");
    });
});

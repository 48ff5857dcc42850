import { containerSecretNames } from "../components/build/psqlContainer";
// The infra side under mocks: which provider each resource goes to, what it sets, what is secret.
import type { RecordedResource, SynthResult } from "../tools/synth";
import { isSecretWrapper } from "../tools/synth";
import { type HarnessResult, SUPERUSER_PLATFORM, byType, generatedPasswords, synth, variantConfig, vaultAuthConfig } from "./harness";
import { databaseRolePlatform, livePlatformCopy } from "./support/fixtures";

const providerOf = (r: RecordedResource) => r.provider?.split("::")[3];
const one = (result: SynthResult, type: string) => {
    const found = byType(result, type);
    expect(found).toHaveLength(1);
    return found[0]!.inputs as any;
};

let prod: HarnessResult;
let dev: HarnessResult;
/** prod on the superuser platform with vault pooler auth and clusterPatch. */
let vault: HarnessResult;
beforeAll(async () => {
    prod = await synth("prod");
    dev = await synth("dev");
    vault = await synth("prod", vaultAuthConfig(), undefined, SUPERUSER_PLATFORM);
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

    test("the credentials: explicitly named KV v2 secrets whose data is a Pulumi secret", async () => {
        const secrets = byType(vault, "vault:kv/secretV2:SecretV2").map((r) => r.inputs as any);
        expect(secrets.map((s) => s.name).sort()).toEqual(["kubernetes/infra/cloudnative-pg/synergyflow-a", "kubernetes/infra/cloudnative-pg/synergyflow-b", "kubernetes/infra/cloudnative-pg/synergyflow-pooler-auth"]);
        expect(byType(prod, "vault:kv/secretV2:SecretV2").map((r) => (r.inputs as any).name)).toEqual(["kubernetes/infra/cloudnative-pg/synergyflow-a", "kubernetes/infra/cloudnative-pg/synergyflow-b"]);
        for (const secret of secrets) {
            expect(secret.mount).toBe("secret");
            expect(isSecretWrapper(secret.dataJson)).toBe(true);
            const data = JSON.parse(secret.dataJson.value);
            expect(Object.keys(data).sort()).toEqual(["password", "username"]);
        }
        // One credential per login role, each with its own Vault key; the auth role's keeps its resource names.
        expect(byType(vault, "random:index/randomPassword:RandomPassword").map((r) => r.name).sort()).toEqual(["synergyflow-login-a-credential-password", "synergyflow-login-b-credential-password", "synergyflow-pooler-auth-credential-password"]);
        expect(byType(vault, "kubernetes:external-secrets.io/v1:ExternalSecret").map((r) => r.name).filter((n) => !n.includes("credentials")).sort()).toEqual(["synergyflow-login-a-secret", "synergyflow-login-b-secret", "synergyflow-pooler-auth-secret"]);
        // The keepers: each login role's password is generated for a rotation value; the auth role's never rotates.
        expect(byType(vault, "random:index/randomPassword:RandomPassword").map((r) => [r.name, (r.inputs as any).keepers.rotation]).sort()).toEqual([
            ["synergyflow-login-a-credential-password", "1"],
            ["synergyflow-login-b-credential-password", "1"],
            ["synergyflow-pooler-auth-credential-password", "1"],
        ]);
        const passwords = byType(prod, "random:index/randomPassword:RandomPassword").map((r) => r.inputs as any);
        for (const p of passwords) expect(p).toMatchObject({ length: 32, special: true, overrideSpecial: "-_." });
    });

    test("the role's password Secret is made by an ExternalSecret exactly as CNPG requires, kept on destroy when the role is", () => {
        const externalSecrets = byType(prod, "kubernetes:external-secrets.io/v1:ExternalSecret").map((r) => r.inputs as any);
        const role = externalSecrets.find((e) => e.metadata.name === "synergyflow-app-role-password-b");
        expect(role).toMatchObject({
            apiVersion: "external-secrets.io/v1",
            metadata: { namespace: "cnpg-system", annotations: { "pulumi.com/waitFor": "condition=Ready", "synergyflow-db/password-generation": "1" } },
            spec: {
                secretStoreRef: { kind: "ClusterSecretStore", name: "vault-backend" },
                // prod retains the role: the Secret it reads its password from must outlive the ExternalSecret.
                target: {
                    name: "synergyflow-app-role-password-b",
                    creationPolicy: "Orphan",
                    // The Secret carries the Vault version it holds: the evidence the rotation waits for.
                    template: {
                        type: "kubernetes.io/basic-auth",
                        metadata: { labels: { "cnpg.io/reload": "true", "synergyflow-db/stack": "prod" }, annotations: { "synergyflow-db/credentials": role.metadata.annotations["synergyflow-db/credentials"] } },
                    },
                },
            },
        });
        // The same key string vault.kv.SecretV2 was given, relative to the store's mount, read at the version written.
        expect(role.spec.data).toEqual([
            { secretKey: "username", remoteRef: { key: "kubernetes/infra/cloudnative-pg/synergyflow-b", property: "username", version: role.metadata.annotations["synergyflow-db/credentials"].split("@")[1] } },
            { secretKey: "password", remoteRef: { key: "kubernetes/infra/cloudnative-pg/synergyflow-b", property: "password", version: role.metadata.annotations["synergyflow-db/credentials"].split("@")[1] } },
        ]);
        const devRole = byType(dev, "kubernetes:external-secrets.io/v1:ExternalSecret").map((r) => r.inputs as any).find((e) => e.metadata.name === "synergyflow-app-role-password-a");
        expect(devRole.spec.target.creationPolicy).toBe("Owner");
    });

    test("no Kubernetes object, Job spec or patch carries a generated password", () => {
        for (const result of [dev, prod]) {
            const passwords = generatedPasswords(result);
            const kube = JSON.stringify(result.resources.filter((r) => !r.type.startsWith("vault:") && !r.type.startsWith("random:")).map((r) => r.inputs));
            for (const p of passwords) expect(kube).not.toContain(p);
        }
    });

    test("clusterPatch: one dynamic resource holding the owner, both login roles and the auth role, no privileges", async () => {
        const patch = one(vault, "pulumi-nodejs:dynamic/synergyflow-db:ClusterRolePatch");
        expect(patch).toMatchObject({ namespace: "cnpg-system", clusterName: "shared-postgres", context: "infra", dropTimeoutSeconds: 300 });
        expect(patch.roles.map((r: any) => [r.name, r.login, r.connectionLimit, r.passwordSecret?.name, r.inRoles])).toEqual([
            ["synergyflow_app", false, -1, undefined, undefined],
            ["synergyflow_app_a", true, 21, "synergyflow-app-role-password-a", ["synergyflow_app"]],
            ["synergyflow_app_b", true, 21, "synergyflow-app-role-password-b", ["synergyflow_app"]],
            ["synergyflow_pooler_auth", true, 4, "synergyflow-pooler-auth", undefined],
        ]);
        expect(vault.outputs["roleStrategy"]).toBe("clusterPatch: synergyflow_app, synergyflow_app_a, synergyflow_app_b, synergyflow_pooler_auth patched into spec.managed.roles");
        for (const role of patch.roles) {
            expect(role).toMatchObject({ inherit: true, superuser: false, createdb: false, createrole: false, replication: false, bypassrls: false });
        }
    });

    test("external (the committed stacks): nothing touches the shared Cluster; the preflight verified the entries", () => {
        expect(byType(prod, "pulumi-nodejs:dynamic/synergyflow-db:ClusterRolePatch")).toHaveLength(0);
        expect(byType(prod, "kubernetes:postgresql.cnpg.io/v1:DatabaseRole")).toHaveLength(0);
        expect(prod.outputs["roleStrategy"]).toBe("external: synergyflow_app, synergyflow_app_a, synergyflow_app_b declared by the Cluster's owner, verified live by the preflight");
    });

    test("databaseRole: standalone DatabaseRoles, never the shared Cluster", async () => {
        const result = await synth("prod", variantConfig("prod", {}, (c) => Object.assign(c["synergyflow-db:sharedCluster"], { operatorVersion: "1.30", roleStrategy: "databaseRole" })), undefined, databaseRolePlatform());
        const roles = byType(result, "kubernetes:postgresql.cnpg.io/v1:DatabaseRole").map((r) => r.inputs as any);
        expect(roles.map((r) => r.metadata.name)).toEqual(["synergyflow-app", "synergyflow-app-a", "synergyflow-app-b"]);
        expect(roles[0].spec).toMatchObject({ cluster: { name: "shared-postgres" }, name: "synergyflow_app", login: false, superuser: false, connectionLimit: -1, databaseRoleReclaimPolicy: "retain" });
        expect(roles[1].spec).toMatchObject({ name: "synergyflow_app_a", login: true, connectionLimit: 20, inRoles: ["synergyflow_app"], passwordSecret: { name: "synergyflow-app-role-password-a" } });
        for (const role of roles) expect(role.spec.ensure).toBeUndefined();
        expect(byType(result, "pulumi-nodejs:dynamic/synergyflow-db:ClusterRolePatch")).toHaveLength(0);
        // CNPG 1.30 reports the password it applied on the DatabaseRole: the rotation waits there.
        const applied = byType(result, "pulumi-nodejs:dynamic/synergyflow-db:ControllerEvidence").map((r) => r.inputs as any).find((w) => w.step.includes("PostgreSQL"));
        expect(applied.waits.filter((w: any) => w.kind === "passwordApplied").map((w: any) => [w.roleName, w.declaredBy])).toEqual([
            ["synergyflow_app_a", "databaseRole"],
            ["synergyflow_app_b", "databaseRole"],
        ]);
        expect(result.outputs["roleStrategy"]).toBe("databaseRole: synergyflow_app, synergyflow_app_a, synergyflow_app_b as DatabaseRole objects");
        expect(result.warnings).toEqual([]);
    });

    test("a stack without the per-transaction reset is warned, naming the key and what leaks", async () => {
        for (const value of [false, undefined]) {
            const result = await synth("prod", variantConfig("prod", {}, (c) => {
                const parameters = c["synergyflow-db:pooler"].parameters;
                if (value === undefined) delete parameters.server_reset_query_always;
                else parameters.server_reset_query_always = value;
            }));
            expect(result.warnings.join("\n")).toContain(`synergyflow-db:pooler.parameters.server_reset_query_always is ${value === undefined ? "not set (PgBouncer's default: off)" : "false"}: behind transaction pooling a session SET (search_path, statement_timeout, role) stays on the server connection`);
        }
    });

    test("the Database: owned by the role, seven schemas owned by the role, reclaim policy per stack", () => {
        const database = one(prod, "kubernetes:postgresql.cnpg.io/v1:Database");
        expect(database.spec).toMatchObject({ cluster: { name: "shared-postgres" }, name: "synergyflow", owner: "synergyflow_app", databaseReclaimPolicy: "retain" });
        expect(database.spec.schemas).toHaveLength(7);
        for (const schema of database.spec.schemas) expect(schema.owner).toBe("synergyflow_app");
        expect(one(dev, "kubernetes:postgresql.cnpg.io/v1:Database").spec.databaseReclaimPolicy).toBe("delete");
    });

    test("the Pooler: rw, instances, string parameters, pg_hba, operator auth, a template with containers and anti-affinity", async () => {
        const pooler = one(prod, "kubernetes:postgresql.cnpg.io/v1:Pooler");
        expect(pooler.metadata).toMatchObject({ name: "synergyflow-pgbouncer", namespace: "cnpg-system", annotations: { "pulumi.com/deletionPropagationPolicy": "background" } });
        expect(pooler.spec).toMatchObject({ cluster: { name: "shared-postgres" }, instances: 3, type: "rw" });
        expect(pooler.spec.resources).toBeUndefined();
        expect(pooler.spec.affinity).toBeUndefined();
        expect(pooler.spec.template.spec.containers[0].name).toBe("pgbouncer");
        expect(pooler.spec.template.spec.affinity.podAntiAffinity).toBeDefined();
        for (const value of Object.values(pooler.spec.pgbouncer.parameters)) expect(typeof value).toBe("string");
        expect(pooler.spec.pgbouncer.parameters.max_prepared_statements).toBe("200");
        expect(pooler.spec.pgbouncer.pg_hba.slice(0, 4)).toEqual([
            "hostssl synergyflow synergyflow_app_a 0.0.0.0/0 scram-sha-256",
            "hostssl synergyflow synergyflow_app_a ::/0 scram-sha-256",
            "hostssl synergyflow synergyflow_app_b 0.0.0.0/0 scram-sha-256",
            "hostssl synergyflow synergyflow_app_b ::/0 scram-sha-256",
        ]);
        // Operator auth: CNPG's own auth user and lookup, nothing of ours.
        expect(pooler.spec.pgbouncer.authQuery).toBeUndefined();
        expect(pooler.spec.pgbouncer.authQuerySecret).toBeUndefined();
        expect(pooler.spec.serviceTemplate).toEqual({ metadata: { annotations: { "lbipam.cilium.io/ips": "10.80.12.40" } }, spec: { type: "LoadBalancer", externalTrafficPolicy: "Local" } });
        expect(pooler.spec.monitoring).toBeUndefined();
        const podMonitor = one(prod, "kubernetes:monitoring.coreos.com/v1:PodMonitor");
        expect(podMonitor.spec.podMetricsEndpoints).toEqual([{ port: "metrics" }]);
        expect(byType(dev, "kubernetes:monitoring.coreos.com/v1:PodMonitor")).toHaveLength(0);
        expect(one(vault, "kubernetes:postgresql.cnpg.io/v1:Pooler").spec.pgbouncer).toMatchObject({ poolMode: "transaction", authQuerySecret: { name: "synergyflow-pooler-auth" }, authQuery: `SELECT usename, passwd FROM "synergyflow_pooler_auth".user_search($1)` });
    });

    test("the PDB, and the NetworkPolicy admitting what arrives from the apps cluster on 5432 and the monitoring namespace on 9127", async () => {
        expect(one(prod, "kubernetes:policy/v1:PodDisruptionBudget").spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: { "cnpg.io/poolerName": "synergyflow-pgbouncer" } } });
        const policy = byType(prod, "kubernetes:networking.k8s.io/v1:NetworkPolicy").map((r) => r.inputs as any).find((p) => p.metadata.name === "synergyflow-pooler-from-apps");
        expect(policy.spec).toEqual({
            podSelector: { matchLabels: { "cnpg.io/poolerName": "synergyflow-pgbouncer" } },
            policyTypes: ["Ingress"],
            ingress: [
                // prod's apps cluster masquerades pod egress: its node addresses arrive, not its pods'.
                { from: [{ ipBlock: { cidr: "10.80.20.0/24" } }], ports: [{ protocol: "TCP", port: 5432 }] },
                { from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }], ports: [{ protocol: "TCP", port: 9127 }] },
            ],
        });
        expect(byType(dev, "kubernetes:networking.k8s.io/v1:NetworkPolicy").map((r) => r.inputs as any).find((p) => p.metadata.name === "synergyflow-pooler-from-apps").spec.ingress).toEqual([{ from: [{ ipBlock: { cidr: "10.81.20.0/24" } }], ports: [{ protocol: "TCP", port: 5432 }] }]);
        // A cluster that does not masquerade: its pod addresses (components/build/pooler.test.ts).
    });

    test("the bootstrap Job: operator auth runs as the login roles, vault auth as the superuser; passwords only by Secret reference; CA verified", async () => {
        const job = one(prod, "kubernetes:batch/v1:Job");
        const pod = job.spec.template.spec;
        expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
        const container = pod.containers[0];
        expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, runAsNonRoot: true });
        // Only file paths on the command line, and no text the policy pack's secret check matches.
        expect(container.command.join(" ")).not.toMatch(/password=|--password/i);
        const env = (name: string) => container.env.find((e: any) => e.name === name);
        expect(env("PGPASSWORD")).toBeUndefined();
        // The CA Secret's ca.crt only (items), and login role a's credentials.
        expect(containerSecretNames(pod, container)).toEqual(["shared-postgres-ca", "synergyflow-app-role-password-a"]);
        // Each login role sets its own defaults (no superuser): one init container per login role.
        expect(pod.initContainers.map((c: any) => [c.command.slice(4).join(" "), containerSecretNames(pod, c)])).toEqual([
            ["psql --no-psqlrc --file=/sql/login-role.sql", ["shared-postgres-ca", "synergyflow-app-role-password-a"]],
            ["psql --no-psqlrc --file=/sql/login-role.sql", ["shared-postgres-ca", "synergyflow-app-role-password-b"]],
        ]);
        expect(env("PGDATABASE").value).toBe("synergyflow");
        expect([env("PGHOST").value, env("PGSSLMODE").value, env("PGSSLROOTCERT").value]).toEqual(["shared-postgres-rw", "verify-full", "/ca/ca.crt"]);
        expect(pod.volumes.find((v: any) => v.name === "ca").secret).toEqual({ secretName: "shared-postgres-ca", items: [{ key: "ca.crt", path: "ca.crt" }] });
        for (const e of container.env) expect(e.value === undefined || !/password/i.test(e.name)).toBe(true);
        const scripts = byType(prod, "kubernetes:core/v1:ConfigMap").map((r) => (r.inputs as any).data).find((d) => d["bootstrap.sql"]);
        expect(scripts["bootstrap.sql"]).not.toContain("user_search");
        expect(scripts["bootstrap.sql"]).toContain(`GRANT CONNECT ON DATABASE "synergyflow" TO "cnpg_pooler_pgbouncer";`);
        expect(scripts["login-role.sql"]).toContain(`ALTER ROLE SESSION_USER IN DATABASE "synergyflow" SET search_path = "synergyflow_users"`);
        expect(one(vault, "kubernetes:batch/v1:Job").spec.template.spec.initContainers).toBeUndefined();
        const vaultJob = one(vault, "kubernetes:batch/v1:Job");
        expect(vaultJob.metadata.name).not.toBe(job.metadata.name);
        expect(vaultJob.metadata.name).toMatch(/^synergyflow-db-bootstrap-[0-9a-f]{8}$/);
        expect(containerSecretNames(vaultJob.spec.template.spec, vaultJob.spec.template.spec.containers[0])).toEqual(["shared-postgres-ca", "shared-postgres-superuser"]);
    });

    test("exposure modes decide the host; never read back from a Service; the Service name comes from the Pooler", async () => {
        expect(prod.outputs["poolerHost"]).toBe("10.80.12.40");
        expect(dev.outputs["poolerHost"]).toBe("10.81.12.40");
        expect(prod.resources.some((r) => r.read)).toBe(false);
        expect(prod.outputs["poolerServiceName"]).toBe("synergyflow-pgbouncer");
        // clusterMesh and external exposure: components/build/pooler.test.ts (the builders these outputs come from).
    });

    test("TLS: verify-ca against an address, verify-full for a name the server certificate carries", async () => {
        expect(prod.outputs["sslMode"]).toBe("verify-ca");
        const config = variantConfig("prod", {}, (c) => (c["synergyflow-db:pooler"].exposure.host = "synergyflow-db.platform.internal"));
        const named = livePlatformCopy("prod", (infra) => (infra.find((o) => o.kind === "Cluster").spec.certificates = { serverAltDNSNames: ["synergyflow-db.platform.internal"] }));
        const result = await synth("prod", config, undefined, named);
        expect(result.outputs["sslMode"]).toBe("verify-full");
        expect(String(result.outputs["jdbcUrl"])).toMatch(/^jdbc:postgresql:\/\/synergyflow-db\.platform\.internal:5432\/synergyflow\?sslmode=verify-full&/);
        expect((await synth("prod", config)).outputs["sslMode"]).toBe("verify-ca");
    });

    test("the tenant's outputs are the stack outputs", () => {
        expect(Object.keys(prod.outputs).sort()).toEqual(
            [
                "appsNamespace",
                "connectionBudget",
                "roleStrategy",
                "databaseName",
                "datasourceConfigMap",
                "infraNamespace",
                "jdbcUrl",
                "loginRoleName",
                "passwordRotation",
                "poolerHost",
                "poolerPort",
                "poolerServiceName",
                "roleName",
                "serverCaCertificate",
                "sslMode",
                "vaultKey",
                "vaultMount",
                "vaultSecretVersion",
            ].sort(),
        );
        expect(prod.outputs).toMatchObject({
            databaseName: "synergyflow",
            roleName: "synergyflow_app",
            loginRoleName: "synergyflow_app_a",
            passwordRotation: "1",
            vaultKey: "kubernetes/infra/cloudnative-pg/synergyflow-a",
            poolerPort: 5432,
        });
        expect(String(prod.outputs["jdbcUrl"])).toBe(
            "jdbc:postgresql://10.80.12.40:5432/synergyflow?sslmode=verify-ca&sslrootcert=%2Fetc%2Fsynergyflow-db%2Fserver-ca%2Fca.crt&prepareThreshold=5&ApplicationName=synergyflow&tcpKeepAlive=true",
        );
        expect(String(prod.outputs["serverCaCertificate"])).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
        expect(prod.outputs["connectionBudget"]).toEqual(
            expect.objectContaining({ usableSlots: 197, otherTenantsTotal: 150, ourRoleLimits: { synergyflow_app_a: 20, synergyflow_app_b: 20 }, poolerAuthConnections: 6, total: 196, poolerServerConnections: 18 }),
        );
    });
});

// The preflight's rules against dumps of the live platform (fixtures/live), each refusal and each pass.
import { computeBudget } from "../components/model/budget";
import * as path from "node:path";
import { type StackConfig } from "../components/model/config";
import { fixtureLiveReader } from "../components/live/kubeObjects";
import { type LivePlatform, readLivePlatform } from "../components/model/preflight/livePlatform";
import { runPreflight } from "../components/preflight";
import { PreflightError, preflightProblems, sharedClusterSlots } from "../components/model/preflight/rules";
import { loadStackConfig } from "../components/program";
import { readStackFile } from "../tools/synth";
import { ROOT, SUPERUSER_PLATFORM, variantConfig, vaultAuthConfig } from "./harness";
import { livePlatformCopy } from "./support/fixtures";

const configOf = (file: string) => loadStackConfig(readStackFile(file).config);
const prodConfig = () => configOf(path.join(ROOT, "Pulumi.prod.yaml"));
const livePlatform = (config: StackConfig, dir: string) => readLivePlatform(config, fixtureLiveReader(dir), "prod");
const problemsOn = async (config: StackConfig, dir: string) => preflightProblems(config, await livePlatform(config, dir));
const cluster = (infra: any[]) => infra.find((o) => o.kind === "Cluster");

describe("preflight passes", () => {
    test.each(["dev", "prod"])("the committed %s stack against its platform as the fixtures show it", async (stack) => {
        const config = configOf(path.join(ROOT, `Pulumi.${stack}.yaml`));
        const facts = await runPreflight(config, fixtureLiveReader(path.join(ROOT, "fixtures/live", stack)), stack);
        expect(facts?.slots.otherRoles.map((r) => r.name)).toEqual(["gitlab_app", "harbor_app", "mattermost_app", "keycloak_app", "readonly_user"]);
        expect(facts?.caSecretName).toBe("shared-postgres-ca");
        expect(facts?.serverCaCertificate).toMatch(/^-----BEGIN CERTIFICATE-----/);
    });

    test("objects this stack created earlier are its own, not conflicts (a re-run after `up`)", async () => {
        const dir = livePlatformCopy("prod", (infra) => {
            const ours = { "synergyflow-db/stack": "prod" };
            infra.push({ apiVersion: "postgresql.cnpg.io/v1", kind: "Pooler", metadata: { name: "synergyflow-pgbouncer", namespace: "cnpg-system", labels: ours } });
            // CNPG's Service for our Pooler carries no label of ours, but our Pooler controls it.
            infra.push({ apiVersion: "v1", kind: "Service", metadata: { name: "synergyflow-pgbouncer", namespace: "cnpg-system", ownerReferences: [{ apiVersion: "postgresql.cnpg.io/v1", kind: "Pooler", name: "synergyflow-pgbouncer", controller: true }] } });
            infra.push({ apiVersion: "v1", kind: "Secret", metadata: { name: "synergyflow-app-role-password", namespace: "cnpg-system", labels: ours } });
        });
        expect(await problemsOn(prodConfig(), dir)).toEqual([]);
    });
});

describe("preflight refuses, naming the key, the live object and its owner, and the remedy", () => {
    test("a Pooler and a PDB Flux owns under the stack's names", async () => {
        const config = configOf(variantConfig("prod", {}, (c) => Object.assign(c["synergyflow-db:pooler"], { name: "synergyflow-pooler", podDisruptionBudgetName: "synergyflow-pooler" })));
        const problems = await problemsOn(config, path.join(ROOT, "fixtures/live/prod"));
        expect(problems.map((p) => [p.key, p.live])).toEqual([
            ["pooler.name", "Pooler cnpg-system/synergyflow-pooler (Flux Kustomization flux-system/infra-databases; field managers: kustomize-controller (server-side apply))"],
            ["pooler.podDisruptionBudgetName", "PodDisruptionBudget cnpg-system/synergyflow-pooler (Flux Kustomization flux-system/infra-databases; field managers: kustomize-controller (server-side apply))"],
        ]);
        expect(problems[0]!.remedy).toContain("choose another name with synergyflow-db:pooler.name");
    });

    test("a Service by the pooler's name that another Pooler (or nobody of ours) controls", async () => {
        const dir = livePlatformCopy("prod", (infra) => infra.push({ apiVersion: "v1", kind: "Service", metadata: { name: "synergyflow-pgbouncer", namespace: "cnpg-system", ownerReferences: [{ apiVersion: "postgresql.cnpg.io/v1", kind: "Pooler", name: "synergyflow-pgbouncer", controller: true }] } }));
        // Its Pooler is not ours (it does not exist), so the Service is someone else's.
        expect((await problemsOn(prodConfig(), dir)).map((p) => p.message)).toEqual(["the stack would create Service cnpg-system/synergyflow-pgbouncer on the infra cluster, but one exists that is not this stack's"]);
    });

    test("vault auth on the platform's Cluster as written (superuser access off)", async () => {
        const problems = await problemsOn(configOf(vaultAuthConfig()), path.join(ROOT, "fixtures/live/prod"));
        const superuser = problems.find((p) => p.key === "pooler.authMode")!;
        expect(superuser.message).toContain("does not set spec.enableSuperuserAccess (CNPG defaults it to false and then keeps no shared-postgres-superuser Secret)");
        expect(superuser.remedy).toContain(`set synergyflow-db:pooler.authMode to "operator"`);
        expect(superuser.remedy).toContain("spec.enableSuperuserAccess: true");
        // The same stack passes where superuser access is on.
        expect(await problemsOn(configOf(vaultAuthConfig()), SUPERUSER_PLATFORM)).toEqual([]);
    });

    test("clusterPatch against a Cluster whose roles Flux applies: refused, with the entries for the manifest", async () => {
        const config = configOf(variantConfig("prod", {}, (c) => (c["synergyflow-db:sharedCluster"].roleStrategy = "clusterPatch")));
        const [problem, ...rest] = await problemsOn(config, path.join(ROOT, "fixtures/live/prod"));
        expect(rest).toEqual([]);
        expect(problem!.key).toBe("sharedCluster.roleStrategy");
        expect(problem!.message).toContain("spec.managed.roles is applied by kustomize-controller");
        expect(problem!.remedy).toContain(`set synergyflow-db:sharedCluster.roleStrategy to "external"`);
        expect(problem!.remedy).toContain("- name: synergyflow_app\n");
    });

    test("external: the entry missing or different in the live Cluster", async () => {
        const missing = livePlatformCopy("prod", (infra) => (cluster(infra).spec.managed.roles = cluster(infra).spec.managed.roles.filter((r: any) => r.name !== "synergyflow_app_b")));
        const [problem] = await problemsOn(prodConfig(), missing);
        expect(problem!.message).toContain(`has no entry for role "synergyflow_app_b"`);
        // The remedy prints all three entries: the owner, and the two login roles that are its members.
        expect(problem!.remedy).toMatch(/- name: synergyflow_app\n\s+ensure: present\n\s+comment: synergyflow owner role, no login \(synergyflow-db\)\n\s+login: false/);
        expect(problem!.remedy).toMatch(/- name: synergyflow_app_b\n\s+ensure: present\n\s+comment: synergyflow application login role b \(synergyflow-db\)\n\s+login: true\n[\s\S]*inRoles:\n\s+- synergyflow_app\n\s+passwordSecret:\n\s+name: synergyflow-app-role-password-b/);
        const different = livePlatformCopy("prod", (infra) => (cluster(infra).spec.managed.roles.find((r: any) => r.name === "synergyflow_app_a").connectionLimit = 50));
        expect((await problemsOn(prodConfig(), different))[0]!.message).toContain(`entry "synergyflow_app_a" differs in connectionLimit (live 50, expected 20)`);
    });

    test("databaseRole: the kind not served, and an inline entry that would shadow ours", async () => {
        const config = configOf(variantConfig("prod", {}, (c) => Object.assign(c["synergyflow-db:sharedCluster"], { operatorVersion: "1.30", roleStrategy: "databaseRole" })));
        const messages = (await problemsOn(config, path.join(ROOT, "fixtures/live/prod"))).map((p) => p.message);
        expect(messages).toEqual([
            `"databaseRole" needs the DatabaseRole kind (CNPG >= 1.30), which the infra cluster does not serve`,
            "the Cluster also lists synergyflow_app, synergyflow_app_a, synergyflow_app_b in spec.managed.roles; CNPG applies that inline entry, not our DatabaseRole",
        ]);
    });

    test("ClusterSecretStores: missing, another KV mount, KV v1, another Vault", async () => {
        const dir = livePlatformCopy("prod", (infra, apps) => {
            apps.splice(apps.findIndex((o) => o.kind === "ClusterSecretStore"), 1);
            const store = infra.find((o) => o.kind === "ClusterSecretStore");
            Object.assign(store.spec.provider.vault, { path: "kv", version: "v1", server: "https://vault.other.internal:8200" });
        });
        const problems = await problemsOn(prodConfig(), dir);
        expect(problems.map((p) => [p.key, p.message])).toEqual([
            ["vault.kvMount", `ClusterSecretStore vault-backend on the infra cluster reads the KV mount "kv", the program writes "secret": remoteRef.key would resolve elsewhere`],
            ["externalSecrets.infraStore", "ClusterSecretStore vault-backend on the infra cluster reads KV v1; the program writes KV v2"],
            ["vault.address", "ClusterSecretStore vault-backend on the infra cluster reads https://vault.other.internal:8200, the program writes to https://vault.platform.internal:8200"],
            ["externalSecrets.appsStore", "ClusterSecretStore vault-backend does not exist on the apps cluster: the ExternalSecrets would never sync"],
        ]);
    });

    test("the apps namespace against backend.namespaceMode", async () => {
        const noNamespace = livePlatformCopy("prod", (_infra, apps) => apps.splice(apps.findIndex((o) => o.kind === "Namespace"), 1));
        expect((await problemsOn(prodConfig(), noNamespace)).map((p) => p.message)).toEqual([`"patch" expects the namespace synergyflow to exist on the apps cluster, and it does not`]);
        const create = configOf(variantConfig("prod", {}, (c) => (c["synergyflow-db:backend"].namespaceMode = "create")));
        const [problem] = await problemsOn(create, path.join(ROOT, "fixtures/live/prod"));
        expect(problem!.message).toBe(`"create" would create the namespace synergyflow, which exists on the apps cluster and is not this stack's`);
        expect(problem!.live).toBe("Namespace synergyflow");
    });

    test("no Cluster, and no CA Secret", async () => {
        const noCa = livePlatformCopy("prod", (infra) => infra.splice(infra.findIndex((o) => o.kind === "Secret"), 1));
        expect((await problemsOn(prodConfig(), noCa)).map((p) => p.message)).toEqual([
            "the Cluster's CA Secret cnpg-system/shared-postgres-ca (key ca.crt) does not exist: the backend could not verify the pooler's certificate",
        ]);
        const noCluster = livePlatformCopy("prod", (infra) => infra.splice(infra.findIndex((o) => o.kind === "Cluster"), 1));
        expect((await problemsOn(prodConfig(), noCluster)).map((p) => p.key)).toEqual(["sharedCluster.name"]);
    });

    test("every problem at once, and nothing registered: runPreflight throws before the program runs", async () => {
        const config = configOf(
            variantConfig("prod", {}, (c) => {
                Object.assign(c["synergyflow-db:pooler"], { name: "synergyflow-pooler", podDisruptionBudgetName: "synergyflow-pooler", authMode: "vault" });
                c["synergyflow-db:vault"].kvMount = "kv";
                c["synergyflow-db:tenant"].connectionLimit = 22;
            }),
        );
        const error = await runPreflight(config, fixtureLiveReader(path.join(ROOT, "fixtures/live/prod")), "prod").catch((e: unknown) => e);
        expect(error).toBeInstanceOf(PreflightError);
        // vault auth adds its auth role's 4 connections (and our Pooler, under Flux's Pooler's name, counts no
        // cnpg_pooler_pgbouncer): 150 + 2 x 22 + 4 = 198 > 197.
        expect((error as PreflightError).problems.map((p) => p.key)).toEqual(["pooler.authMode", "sharedCluster.roleStrategy", "tenant.connectionLimit", "pooler.name", "pooler.podDisruptionBudgetName", "vault.kvMount", "vault.kvMount"]);
        expect((error as PreflightError).message).toMatch(/^synergyflow-db preflight against the live platform: 7 problems, nothing was created:\n  - synergyflow-db:pooler.authMode: /);
    });
});

describe("the live connection budget", () => {
    const platformWith = async (change: (infra: any[]) => void, servedKinds: { apiVersion: string; kind: string }[] = []) => {
        const config = prodConfig();
        const live: LivePlatform = await livePlatform(config, livePlatformCopy("prod", change, servedKinds));
        return { config, live, problems: preflightProblems(config, live) };
    };

    test("a sixth tenant the stack file never listed counts, and the message lists every live role", async () => {
        const { problems } = await platformWith((infra) => cluster(infra).spec.managed.roles.push({ name: "grafana_app", login: true, connectionLimit: 10 }));
        expect(problems.map((p) => p.key)).toEqual(["tenant.connectionLimit"]);
        expect(problems[0]!.message).toContain(
            "connection slots on Cluster cnpg-system/shared-postgres: other login roles 160 (gitlab_app 50, harbor_app 30, mattermost_app 40, keycloak_app 20, readonly_user 10, grafana_app 10) + ours 40 (synergyflow_app_a 20, synergyflow_app_b 20) + cnpg_pooler_pgbouncer 6 (Pooler synergyflow-pooler 3 pods, Pooler synergyflow-pgbouncer (ours) 3 pods) = 206 of 197 usable (max_connections 200 - superuser_reserved_connections 3 - reserved_connections 0): 9 over; at most 15 fit for tenant.connectionLimit (each of the 2 login roles has it)",
        );
    });

    test("a role without a limit (-1) is refused by name, not counted as -1", async () => {
        const { problems } = await platformWith((infra) => cluster(infra).spec.managed.roles.push({ name: "adhoc_admin", login: true }));
        expect(problems.map((p) => p.message)).toEqual([expect.stringMatching(/^login role adhoc_admin on Cluster cnpg-system\/shared-postgres \(Cluster cnpg-system\/shared-postgres spec.managed.roles\) has connectionLimit -1 \(unlimited\)/)]);
    });

    test("what really connects: roles that cannot log in and superusers take no tenant slot; PostgreSQL 16's reserved_connections comes off the usable slots", async () => {
        const { config, live, problems } = await platformWith((infra) => {
            const roles = cluster(infra).spec.managed.roles;
            // A NOLOGIN group role without a limit (CNPG's default login is false), and a superuser: neither counted, neither refused.
            roles.push({ name: "analytics_readers", connectionLimit: -1 }, { name: "dba", login: true, superuser: true });
            cluster(infra).spec.postgresql.parameters = { ...cluster(infra).spec.postgresql.parameters, reserved_connections: "2" };
        });
        const budget = computeBudget(config, sharedClusterSlots(config, live));
        expect(budget.usableSlots).toBe(195);
        expect(budget.notCounted).toEqual(["analytics_readers (cannot log in)", "dba (superuser)"]);
        // 150 + 2 x 20 + 6 = 196 > 195: the reserved slots make it one over.
        expect(problems.map((p) => p.message)).toEqual([expect.stringContaining("= 196 of 195 usable (max_connections 200 - superuser_reserved_connections 3 - reserved_connections 2); not counted: analytics_readers (cannot log in), dba (superuser): 1 over; at most 19 fit")]);
    });

    test("CNPG's own pooler role counts one connection per pod of each Pooler with operator auth, not of one with its own auth query", async () => {
        const { config, live } = await platformWith((infra) => {
            const pooler = (name: string, instances: number, pgbouncer: Record<string, unknown>) => ({ apiVersion: "postgresql.cnpg.io/v1", kind: "Pooler", metadata: { name, namespace: "cnpg-system" }, spec: { cluster: { name: "shared-postgres" }, instances, type: "rw", pgbouncer } });
            infra.push(pooler("gitlab-pooler", 2, { poolMode: "transaction" }), pooler("harbor-pooler", 4, { poolMode: "session", authQuerySecret: { name: "harbor-auth" }, authQuery: "SELECT 1" }));
        });
        const slots = sharedClusterSlots(config, live);
        expect(slots.poolerAuthPods).toEqual([
            { pooler: "Pooler synergyflow-pooler", pods: 3 },
            { pooler: "Pooler gitlab-pooler", pods: 2 },
            { pooler: "Pooler synergyflow-pgbouncer (ours)", pods: 3 },
        ]);
        expect(computeBudget(config, slots).poolerAuthConnections).toBe(8);
    });

    test("DatabaseRoles count (once, where an inline entry of the same name wins); live max_connections and reserved slots", async () => {
        const { config, live, problems } = await platformWith(
            (infra) => {
                cluster(infra).spec.postgresql.parameters = { max_connections: "220", superuser_reserved_connections: "5" };
                const role = (name: string, limit: number) => ({ apiVersion: "postgresql.cnpg.io/v1", kind: "DatabaseRole", metadata: { name: name.replace(/_/g, "-"), namespace: "cnpg-system" }, spec: { cluster: { name: "shared-postgres" }, name, login: true, connectionLimit: limit } });
                infra.push(role("metabase_app", 15), role("gitlab_app", 99));
            },
            [{ apiVersion: "postgresql.cnpg.io/v1", kind: "DatabaseRole" }],
        );
        const slots = sharedClusterSlots(config, live);
        expect(slots.maxConnections - slots.superuserReservedConnections).toBe(215);
        expect(slots.otherRoles.map((r) => `${r.name} ${r.connectionLimit}`)).toEqual(["gitlab_app 50", "harbor_app 30", "mattermost_app 40", "keycloak_app 20", "readonly_user 10", "metabase_app 15"]);
        expect(slots.otherRoles.at(-1)!.declaredIn).toBe("DatabaseRole cnpg-system/metabase-app");
        // 165 + 40 = 205 <= 215.
        expect(problems).toEqual([]);
    });
});

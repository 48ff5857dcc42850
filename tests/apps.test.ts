import { containerSecretNames } from "../components/build/psqlContainer";
// The apps side under mocks: provider, JDBC host, no credential outside Secrets, probes, security contexts,
// rollouts on datasource and password changes, and split mode.
import * as fs from "node:fs";
import * as path from "node:path";
import type { RecordedResource } from "../tools/synth";
import { type HarnessResult, ROOT, byType, generatedPasswords, preflightRefusal, synth, variantConfig } from "./harness";
import { livePlatformCopy, platformAfter } from "./support/fixtures";

const providerOf = (r: RecordedResource) => r.provider?.split("::")[3];
const deploymentOf = (result: HarnessResult) => byType(result, "kubernetes:apps/v1:Deployment")[0]!.inputs as any;
const datasourceOf = (result: HarnessResult) =>
    byType(result, "kubernetes:core/v1:ConfigMap").find((r) => (r.inputs as any).data?.SPRING_DATASOURCE_URL)!;

let prod: HarnessResult;
beforeAll(async () => {
    prod = await synth("prod");
});

describe("apps side", () => {
    test("every apps resource goes to the apps provider", () => {
        const apps = prod.resources.filter((r) => r.type.startsWith("kubernetes:") && !r.type.startsWith("kubernetes:index") && (r.inputs as any).metadata?.namespace !== "cnpg-system" && !r.read);
        expect(apps.map((r) => r.type).sort()).toEqual([
            "kubernetes:apps/v1:Deployment",
            "kubernetes:core/v1:ConfigMap",
            "kubernetes:core/v1:ConfigMap",
            "kubernetes:core/v1:NamespacePatch",
            "kubernetes:external-secrets.io/v1:ExternalSecret",
            "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        ]);
        for (const r of apps) expect(providerOf(r)).toBe("apps");
        // Besides creations, only the wait for the backend's Secret (it reads the apps cluster, writes nothing).
        expect(prod.plan.filter((e) => e.target === "apps" && e.operation !== "create").map((e) => [e.name, e.operation])).toEqual([["synergyflow-credentials-synced", "wait"]]);
    });

    test("the namespace carries the platform labels and Pod Security level", () => {
        const ns = byType(prod, "kubernetes:core/v1:NamespacePatch")[0]!.inputs as any;
        expect(ns.metadata.labels).toMatchObject({ "pod-security.kubernetes.io/enforce": "baseline", "app.kubernetes.io/part-of": "synergyflow" });
    });

    test("the credentials Secret comes from the same Vault key as the infra side, with the backend's key names", () => {
        const es = byType(prod, "kubernetes:external-secrets.io/v1:ExternalSecret").map((r) => r.inputs as any).find((e) => e.metadata.namespace === "synergyflow");
        // The Vault version in the metadata: a new version (a rotation) makes ESO sync at once, not at refreshInterval.
        // And the rotation's record: which login role the backend follows, for which tenant.passwordRotation.
        expect(es.metadata.annotations).toEqual({
            "pulumi.com/waitFor": "condition=Ready",
            "synergyflow-db/credentials": `synergyflow_app_a@${prod.outputs["vaultSecretVersion"]}`,
            "synergyflow-db/login-role": "synergyflow_app_a",
            "synergyflow-db/password-rotation": "1",
        });
        const infra = byType(prod, "kubernetes:external-secrets.io/v1:ExternalSecret").map((r) => r.inputs as any).find((e) => e.metadata.name === "synergyflow-app-role-password-a");
        expect(infra.metadata.annotations["synergyflow-db/credentials"]).toBe(`synergyflow_app_a@${prod.outputs["vaultSecretVersion"]}`);
        expect(infra.spec.data[0].remoteRef.key).toBe(prod.outputs["vaultKey"]);
        expect(es.spec.target.name).toBe("synergyflow-db-credentials");
        expect(es.spec.secretStoreRef).toEqual({ kind: "ClusterSecretStore", name: "vault-backend" });
        expect(es.spec.data).toEqual([
            { secretKey: "DB_USERNAME", remoteRef: { key: prod.outputs["vaultKey"], property: "username", version: prod.outputs["vaultSecretVersion"] } },
            { secretKey: "DB_PASSWORD", remoteRef: { key: prod.outputs["vaultKey"], property: "password", version: prod.outputs["vaultSecretVersion"] } },
        ]);
    });

    test("the JDBC host is the host the infra side emitted, never a -pooler-rw name", () => {
        const env = (datasourceOf(prod).inputs as any).data;
        const url = new URL(env.SPRING_DATASOURCE_URL.replace(/^jdbc:/, ""));
        expect(url.hostname).toBe(prod.outputs["poolerHost"]);
        expect(url.port).toBe("5432");
        expect(url.pathname).toBe("/synergyflow");
        expect(url.searchParams.get("prepareThreshold")).toBe("5");
        expect(env.SPRING_DATASOURCE_URL).not.toContain("-rw");
        expect(env.PGHOST).toBe(prod.outputs["poolerHost"]);
        // The apps side builds the same URL the infra side exports (one function, two consumers).
        expect(prod.outputs["jdbcUrl"]).toBe(env.SPRING_DATASOURCE_URL);
    });

    test("no ConfigMap, env literal or command line holds a password", () => {
        const passwords = generatedPasswords(prod);
        const deployment = deploymentOf(prod);
        const pod = deployment.spec.template.spec;
        const texts = [JSON.stringify(datasourceOf(prod).inputs), JSON.stringify(pod)];
        for (const text of texts) for (const p of passwords) expect(text).not.toContain(p);
        for (const container of [...pod.initContainers, ...pod.containers]) {
            // Credentials only as files of the backend's Secret: no Secret value or reference in any env.
            for (const env of container.env ?? []) expect(env.valueFrom).toBeUndefined();
            expect(containerSecretNames(pod, container)).toEqual(["synergyflow-db-credentials"]);
            expect(JSON.stringify(container.command ?? [])).not.toMatch(/PGPASSWORD=|--password/);
        }
        expect(Object.keys((datasourceOf(prod).inputs as any).data).filter((k) => /PASSWORD|USERNAME/.test(k))).toEqual([]);
    });

    test("probes, ports, replicas, surge and the wait-for-db init container", () => {
        const deployment = deploymentOf(prod);
        expect(deployment.metadata.name).toBe("synergyflow-backend");
        expect(deployment.spec.replicas).toBe(3);
        expect(deployment.spec.strategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
        const backend = deployment.spec.template.spec.containers[0];
        expect(backend.ports).toEqual([{ name: "http", containerPort: 8080 }]);
        expect(backend.livenessProbe.httpGet).toEqual({ path: "/actuator/health/liveness", port: "http" });
        expect(backend.readinessProbe.httpGet).toEqual({ path: "/actuator/health/readiness", port: "http" });
        const init = deployment.spec.template.spec.initContainers[0];
        expect(init.name).toBe("wait-for-db");
        expect(init.command.slice(3, 5)).toEqual(["with-credentials", "sh"]);
        expect(init.command[6]).toContain("SELECT current_user");
        expect(init.env.map((e: any) => e.name)).toEqual(["WAIT_FOR_DB_OWNER", "WAIT_FOR_DB_SEARCH_PATH"]);
        // It waits for the session the bootstrap sets up: the owner, with the module schemas then public.
        expect(init.env.slice(0, 2).map((e: any) => e.value)).toEqual(["synergyflow_app", "synergyflow_users, synergyflow_incidents, synergyflow_changes, synergyflow_knowledge, synergyflow_tasks, synergyflow_audit, synergyflow_workflows, public"]);
    });

    test("security contexts satisfy the namespace's Pod Security level (restricted-compatible)", () => {
        const pod = deploymentOf(prod).spec.template.spec;
        expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
        for (const c of [...pod.initContainers, ...pod.containers]) {
            expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, runAsNonRoot: true, capabilities: { drop: ["ALL"] } });
        }
    });

    test("a datasource change renames the auto-named ConfigMap, so the Deployment rolls out", async () => {
        const changed = await synth("prod", variantConfig("prod", {}, (c) => (c["synergyflow-db:backend"].hikari.maximumPoolSize = 15)));
        const before = deploymentOf(prod).spec.template.spec.containers[0].envFrom[0].configMapRef.name;
        const after = deploymentOf(changed).spec.template.spec.containers[0].envFrom[0].configMapRef.name;
        expect(after).not.toBe(before);
        expect(changed.outputs["datasourceConfigMap"]).toBe(after);
        // Same config, same name: no spurious rollout.
        const again = await synth("prod");
        expect(deploymentOf(again).spec.template.spec.containers[0].envFrom[0].configMapRef.name).toBe(before);
    });

    test("a rotation regenerates the idle login role only and moves the backend to it; the next one moves it back", async () => {
        const rotate = (rotation: string, live: string) => synth("prod", variantConfig("prod", {}, (c) => (c["synergyflow-db:tenant"].passwordRotation = rotation)), undefined, live);
        const keepers = (r: HarnessResult) => Object.fromEntries(byType(r, "random:index/randomPassword:RandomPassword").map((p) => [p.name.replace(/^synergyflow-login-(.)-credential-password$/, "$1"), (p.inputs as any).keepers.rotation]));
        const annotation = (r: HarnessResult) => deploymentOf(r).spec.template.metadata.annotations["synergyflow.io/db-credentials-version"];
        const backendSecret = (r: HarnessResult) => byType(r, "kubernetes:external-secrets.io/v1:ExternalSecret").map((e) => e.inputs as any).find((e) => e.metadata.namespace === "synergyflow");

        // After the first run (backend on a, rotation "1"), rotation "2": b is regenerated, the backend moves to b.
        const second = await rotate("2", platformAfter({ loginRole: "synergyflow_app_a", rotation: "1", generations: { a: "1", b: "1" }, rollout: "complete" }));
        expect(keepers(second)).toEqual({ a: "1", b: "2" });
        expect(second.outputs).toMatchObject({ loginRoleName: "synergyflow_app_b", vaultKey: "kubernetes/infra/cloudnative-pg/synergyflow-b", passwordRotation: "2" });
        expect(backendSecret(second).spec.data[0].remoteRef.key).toBe("kubernetes/infra/cloudnative-pg/synergyflow-b");
        expect(backendSecret(second).metadata.annotations).toMatchObject({ "synergyflow-db/login-role": "synergyflow_app_b", "synergyflow-db/password-rotation": "2" });
        expect(annotation(second)).toBe(`synergyflow_app_b@${second.outputs["vaultSecretVersion"]}`);
        expect(annotation(second)).not.toBe(annotation(prod));
        // Rotation "3": a (idle since "2") is regenerated, b keeps its password, the backend moves back to a.
        const third = await rotate("3", platformAfter({ loginRole: "synergyflow_app_b", rotation: "2", generations: { a: "1", b: "2" }, rollout: "complete" }));
        expect(keepers(third)).toEqual({ a: "3", b: "2" });
        expect(third.outputs["loginRoleName"]).toBe("synergyflow_app_a");
        // Re-running "3" after a failure half-way (the backend's record already moved) regenerates nothing more.
        const rerun = await rotate("3", platformAfter({ loginRole: "synergyflow_app_a", rotation: "3", generations: { a: "3", b: "2" }, rollout: "complete" }));
        expect(keepers(rerun)).toEqual({ a: "3", b: "2" });
        expect(rerun.outputs["loginRoleName"]).toBe("synergyflow_app_a");
        // The same value again is no rotation: nothing changes.
        const same = await rotate("1", platformAfter({ loginRole: "synergyflow_app_a", rotation: "1", generations: { a: "1", b: "1" }, rollout: "complete" }));
        expect(keepers(same)).toEqual({ a: "1", b: "1" });
        expect(same.outputs["loginRoleName"]).toBe("synergyflow_app_a");
    });

    test("a rotation is refused while the last one's rollout is unfinished, or when the in-use password cannot be told", async () => {
        const refusal = (live: string) => preflightRefusal(variantConfig("prod", {}, (c) => (c["synergyflow-db:tenant"].passwordRotation = "3")), live);
        const pending = await refusal(platformAfter({ loginRole: "synergyflow_app_b", rotation: "2", generations: { a: "1", b: "2" }, rollout: "pending" }));
        expect(pending).toContain("synergyflow-db:tenant.passwordRotation: \"3\" would start a new rotation while Deployment synergyflow/synergyflow-backend has not finished the last one (1 of 3 pods updated)");
        expect(pending).toContain("remedy: set tenant.passwordRotation back to \"2\"");
        const unknown = await refusal(platformAfter({ loginRole: "synergyflow_app_b", rotation: "2", generations: { a: "1" }, rollout: "complete" }));
        expect(unknown).toContain("the backend runs on synergyflow_app_b, but its infra ExternalSecret cnpg-system/synergyflow-app-role-password-b carries no synergyflow-db/password-generation");
        // The record moved to b by rotation "2" but the pods still run on a (a run stopped before the rollout): only
        // "2" may finish it; "3" would regenerate a, which the pods use.
        const behind = await refusal(platformAfter({ loginRole: "synergyflow_app_b", podsOn: "synergyflow_app_a", rotation: "2", generations: { a: "1", b: "2" }, rollout: "complete" }));
        expect(behind).toContain("was moved to synergyflow_app_b by rotation \"2\", but the pods of Deployment synergyflow/synergyflow-backend still run on synergyflow_app_a");
        expect(behind).toContain("remedy: set tenant.passwordRotation back to \"2\" and run `pulumi up` (it moves the pods to synergyflow_app_b), then rotate");
    });

    test("namespaceMode create owns the Namespace itself (on an apps cluster without it); patch never marks it ours", async () => {
        const withoutNamespace = livePlatformCopy("prod", (_infra, apps) => apps.splice(apps.findIndex((o) => o.kind === "Namespace"), 1));
        const created = await synth("prod", variantConfig("prod", {}, (c) => (c["synergyflow-db:backend"].namespaceMode = "create")), undefined, withoutNamespace);
        expect(byType(created, "kubernetes:core/v1:Namespace")).toHaveLength(1);
        expect((byType(created, "kubernetes:core/v1:Namespace")[0]!.inputs as any).metadata.labels["synergyflow-db/stack"]).toBe("prod");
        expect(byType(created, "kubernetes:core/v1:NamespacePatch")).toHaveLength(0);
        const patched = byType(prod, "kubernetes:core/v1:NamespacePatch")[0]!.inputs as any;
        expect(patched.metadata.labels["synergyflow-db/stack"]).toBeUndefined();
    });

    test("the shared cluster's CA reaches the backend and wait-for-db; the datasource verifies the pooler with it", () => {
        const ca = byType(prod, "kubernetes:core/v1:ConfigMap").find((r) => (r.inputs as any).data?.["ca.crt"])!.inputs as any;
        expect(ca.data["ca.crt"]).toBe(prod.outputs["serverCaCertificate"]);
        expect(ca.metadata.name).toBeUndefined(); // auto-named: a rotated CA rolls the backend
        const pod = deploymentOf(prod).spec.template.spec;
        expect(pod.volumes).toContainEqual({ name: "server-ca", configMap: { name: byType(prod, "kubernetes:core/v1:ConfigMap").find((r) => (r.inputs as any).data?.["ca.crt"])!.objectName } });
        for (const c of [...pod.initContainers, ...pod.containers]) expect(c.volumeMounts).toContainEqual({ name: "server-ca", mountPath: "/etc/synergyflow-db/server-ca", readOnly: true });
        const env = (datasourceOf(prod).inputs as any).data;
        expect([env.PGSSLMODE, env.PGSSLROOTCERT]).toEqual(["verify-ca", "/etc/synergyflow-db/server-ca/ca.crt"]);
        const url = new URL(env.SPRING_DATASOURCE_URL.replace(/^jdbc:/, ""));
        expect([url.searchParams.get("sslmode"), url.searchParams.get("sslrootcert")]).toEqual(["verify-ca", "/etc/synergyflow-db/server-ca/ca.crt"]);
    });

    test("clusterMesh adds the global Service of the same name and namespace in the apps cluster", async () => {
        const mesh = await synth("prod", variantConfig("prod", {}, (c) => (c["synergyflow-db:pooler"].exposure = { mode: "clusterMesh", appsNodeCidrs: ["10.80.20.0/24"] })));
        const services = byType(mesh, "kubernetes:core/v1:Service");
        expect(services).toHaveLength(1);
        expect(providerOf(services[0]!)).toBe("apps");
        expect((services[0]!.inputs as any).metadata).toMatchObject({ name: "synergyflow-pgbouncer", namespace: "cnpg-system", annotations: { "service.cilium.io/global": "true" } });
    });
});

describe("split mode", () => {
    test("with infraStack set, only the apps side is created, wired from the infra stack's outputs", async () => {
        const split = await synth("prod", variantConfig("prod", { "synergyflow-db:infraStack": "platform/synergyflow-db/prod-infra" }));
        const fixture = JSON.parse(fs.readFileSync(path.join(ROOT, "fixtures/infra-stack-outputs.json"), "utf8"));
        expect(split.resources.filter((r) => (r.inputs as any)?.metadata?.namespace === "cnpg-system")).toEqual([]);
        expect(split.resources.some((r) => r.type.startsWith("vault:") || r.type.startsWith("random:"))).toBe(false);
        // Only the apps side's own wait: its Secret holds the version the infra stack published.
        expect(split.resources.filter((r) => r.type.startsWith("pulumi-nodejs:")).map((r) => (r.inputs as any).waits)).toEqual([
            [{ kind: "secretSynced", cluster: "apps", namespace: "synergyflow", secretName: "synergyflow-db-credentials", credentials: `${fixture.loginRoleName}@${fixture.vaultSecretVersion}` }],
        ]);
        expect(split.plan.filter((e) => e.target === "infra" || e.target === "vault")).toEqual([]);
        const reference = split.resources.find((r) => r.type === "pulumi:pulumi:StackReference");
        expect((reference!.inputs as any).name).toBe("platform/synergyflow-db/prod-infra");
        const env = (datasourceOf(split).inputs as any).data;
        expect(env.PGHOST).toBe(fixture.poolerHost);
        expect(deploymentOf(split).spec.template.metadata.annotations["synergyflow.io/db-credentials-version"]).toBe(`${fixture.loginRoleName}@${fixture.vaultSecretVersion}`);
        expect(split.outputs["poolerHost"]).toBe(fixture.poolerHost);
        expect(split.outputs["connectionBudget"]).toBeUndefined();
    });
});

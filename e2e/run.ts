// `npm run test:e2e`: the real Pulumi engine (CLI built from Go modules, Automation API with the real program as
// an inline program) on the `local` stack (Pulumi.local.yaml) against two real kube-apiservers (infra, apps).
// The random and Vault provider plugins cannot be built here (the module proxy refuses their modules), so the
// credentials come from fixed Vault key names instead of generated ones; everything else is the program's own
// code path. Prints one line per check and a closing "N passed, M failed".
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { LocalWorkspace, PulumiCommand, type Stack } from "@pulumi/pulumi/automation";
import YAML from "yaml";
import type { CredentialFactory } from "../components/infra/vaultCredential";
import { loadStackConfig, synergyflowDb } from "../components/program";
import { crdDirectory } from "../conformance/crdSchemas";
import { type ApiServer, findToolchain, kubeRequest, startApiServer, writeKubeconfig } from "./controlPlane";

const ROOT = path.join(__dirname, "..");
const results: { name: string; ok: boolean; detail?: string }[] = [];

async function check(name: string, body: () => Promise<void> | void): Promise<void> {
    try {
        await body();
        results.push({ name, ok: true });
        console.log(`ok   ${name}`);
    } catch (error) {
        results.push({ name, ok: false, detail: String((error as Error).message ?? error) });
        console.log(`FAIL ${name}\n     ${String((error as Error).message ?? error).split("\n").join("\n     ")}`);
    }
}

function assert(condition: unknown, message: string): asserts condition {
    if (!condition) throw new Error(message);
}

/** Fixed Vault key names and version in place of random + vault.kv.SecretV2 (see the header). */
const fixedCredentials: CredentialFactory = (_name, args) => ({
    vaultKey: pulumi.output(args.vaultKey),
    vaultVersion: pulumi.output("1"),
});

async function main(): Promise<number> {
    const { toolchain, missing } = findToolchain();
    if (!toolchain) {
        console.log(`test:e2e skipped: the real-engine toolchain is not built on this machine (missing: ${missing.join(", ")}); build it with e2e/toolchain/*.sh (tens of minutes)`);
        return 0;
    }
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "synergyflow-e2e-"));
    const servers: ApiServer[] = [];
    try {
        servers.push(await startApiServer("infra", toolchain, work, 23790, 16443));
        servers.push(await startApiServer("apps", toolchain, work, 23890, 26443));
        const kubeconfig = path.join(work, "kubeconfig");
        writeKubeconfig(kubeconfig, servers);

        const [infraServer, appsServer] = servers as [ApiServer, ApiServer];
        const CLUSTER = "/apis/postgresql.cnpg.io/v1/namespaces/cnpg-system/clusters/shared-postgres";
        const POOLER = "/apis/postgresql.cnpg.io/v1/namespaces/cnpg-system/poolers/synergyflow-pooler";
        const JSON_PATCH = "application/json-patch+json";

        // CRDs: CNPG and ESO in infra, ESO in apps; the namespaces the platform already has.
        const crds = fs
            .readdirSync(crdDirectory(), { recursive: true, encoding: "utf8" })
            .filter((f) => f.endsWith(".yaml"))
            .map((f) => YAML.parse(fs.readFileSync(path.join(crdDirectory(), f), "utf8")));
        for (const crd of crds) {
            await kubeRequest(infraServer, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd);
            if (crd.spec.group === "external-secrets.io") await kubeRequest(appsServer, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd);
        }
        await new Promise((r) => setTimeout(r, 3000));
        await kubeRequest(infraServer, "POST", "/api/v1/namespaces", { metadata: { name: "cnpg-system" } });
        await kubeRequest(appsServer, "POST", "/api/v1/namespaces", { metadata: { name: "synergyflow" } });

        // The shared Cluster as Flux applies it: server-side apply, its own field manager, forced.
        const fixture = YAML.parse(fs.readFileSync(path.join(ROOT, "fixtures/shared-postgres.cluster.yaml"), "utf8"));
        const cluster = { apiVersion: fixture.apiVersion, kind: fixture.kind, metadata: { name: fixture.metadata.name, namespace: fixture.metadata.namespace }, spec: fixture.spec };
        const fluxApply = async () => {
            await kubeRequest(infraServer, "PATCH", `${CLUSTER}?fieldManager=kustomize-controller&force=true`, cluster, "application/apply-patch+yaml");
        };
        await fluxApply();
        const liveRoles = async () => (await kubeRequest(infraServer, "GET", CLUSTER)).spec.managed.roles as Record<string, unknown>[];
        const OTHERS = ["gitlab_app", "harbor_app", "mattermost_app", "keycloak_app", "readonly_user"];
        const othersOf = async () => JSON.stringify((await liveRoles()).filter((r) => OTHERS.includes(r["name"] as string)));
        const othersBefore = await othersOf();
        // The dynamic provider's plugin shim the CLI normally ships beside itself.
        const node = process.execPath;
        const shim = path.join(work, "bin", "pulumi-resource-pulumi-nodejs");
        fs.mkdirSync(path.dirname(shim), { recursive: true });
        fs.writeFileSync(shim, `#!/bin/sh\nexec "${node}" "${path.join(ROOT, "node_modules/@pulumi/pulumi/cmd/dynamic-provider/index.js")}" "$@"\n`, { mode: 0o755 });

        const envVars = {
            PULUMI_BACKEND_URL: `file://${path.join(work, "state")}`,
            PULUMI_CONFIG_PASSPHRASE: "synergyflow-e2e",
            PULUMI_SKIP_UPDATE_CHECK: "true",
            PULUMI_HOME: path.join(work, "pulumi-home"),
            KUBECONFIG: kubeconfig,
            // The program sets the provider option enablePatchForce (pulumi-kubernetes >= 4.26); the plugin built
            // here is 4.25, which only knows the equivalent environment variable.
            PULUMI_K8S_ENABLE_PATCH_FORCE: "true",
            PATH: [path.dirname(shim), toolchain.bin, path.dirname(node), process.env["PATH"]].join(":"),
        };
        fs.mkdirSync(path.join(work, "state"));
        // The inline program runs in this process (the CLI gets envVars): it reads the live Cluster itself.
        process.env["KUBECONFIG"] = kubeconfig;
        const pulumiCommand = await PulumiCommand.get({ root: path.dirname(toolchain.bin), skipVersionCheck: true });
        const output: string[] = [];
        const engineLog = path.join(work, "engine-output.log");
        const onOutput = (text: string) => {
            output.push(text);
            fs.appendFileSync(engineLog, text);
        };
        console.log(`engine output: ${engineLog}`);
        // A copy of the project and stack files: the test changes the stack's config, never the repo's file.
        const project = path.join(work, "project");
        fs.mkdirSync(project);
        for (const file of ["Pulumi.yaml", "Pulumi.local.yaml", "package.json"]) fs.copyFileSync(path.join(ROOT, file), path.join(project, file));
        // The dynamic provider resolves the modules its serialized code requires from the project folder.
        fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(project, "node_modules"));
        const stack: Stack = await LocalWorkspace.createOrSelectStack(
            { stackName: "local", projectName: "synergyflow-db", program: async () => synergyflowDb(loadStackConfig(), { credentials: fixedCredentials }) },
            { workDir: project, pulumiCommand, envVars },
        );

        await check("preview of the new stack succeeds", async () => {
            const preview = await stack.preview({ onOutput });
            assert((preview.changeSummary["create"] ?? 0) > 10, `expected creates, got ${JSON.stringify(preview.changeSummary)}`);
        });
        await check("up succeeds; the API servers accept every object", async () => {
            const up = await stack.up({ onOutput });
            assert(up.summary.result === "succeeded", `up: ${up.summary.result}`);
        });
        if (!results[results.length - 1]?.ok) throw new Error("stopping: up failed (see above)");
        await check("the five other roles are byte-identical after up; ours were added", async () => {
            assert((await othersOf()) === othersBefore, "another tenant's role entry changed");
            const names = (await liveRoles()).map((r) => r["name"]);
            assert(names.includes("synergyflow_app") && names.includes("synergyflow_pooler_auth"), `roles: ${names.join(", ")}`);
        });
        await check("a second up changes nothing (--expect-no-changes)", async () => {
            await stack.up({ expectNoChanges: true, onOutput });
        });
        await check("clusterPatch: the preview names the Cluster's other field manager plainly", async () => {
            const before = output.length;
            await stack.preview({ onOutput });
            assert(output.slice(before).join("").includes("is owned or applied by kustomize-controller"), "no warning about kustomize-controller in the preview");
        });

        const driftCase = async (name: string, edit: () => Promise<void>, verify: () => Promise<boolean>) =>
            check(`drift: ${name} is reported by refresh and repaired by up`, async () => {
                await edit();
                assert(!(await verify()), "the out-of-band edit did not take");
                const refresh = await stack.refresh({ onOutput });
                assert((refresh.summary.resourceChanges?.["update"] ?? 0) > 0, `refresh reported no drift: ${JSON.stringify(refresh.summary.resourceChanges)}`);
                const preview = await stack.preview({ onOutput });
                assert((preview.changeSummary["update"] ?? 0) + (preview.changeSummary["replace"] ?? 0) > 0, `preview after refresh shows no change: ${JSON.stringify(preview.changeSummary)}`);
                await stack.up({ onOutput });
                assert(await verify(), "up did not repair it");
            });
        const configMaps = async () => ((await kubeRequest(appsServer, "GET", "/api/v1/namespaces/synergyflow/configmaps")).items as any[]).filter((c) => c.data?.["SPRING_DATASOURCE_URL"]);
        await driftCase(
            "a changed datasource ConfigMap value",
            async () => {
                const cm = (await configMaps())[0]!;
                await kubeRequest(appsServer, "PATCH", `/api/v1/namespaces/synergyflow/configmaps/${cm.metadata.name}`, [{ op: "replace", path: "/data/SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE", value: "99" }], JSON_PATCH);
            },
            async () => (await configMaps())[0].data["SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE"] === "20",
        );
        const pooler = () => kubeRequest(infraServer, "GET", POOLER);
        await driftCase(
            "a changed Pooler parameter",
            async () => {
                await kubeRequest(infraServer, "PATCH", POOLER, [{ op: "replace", path: "/spec/pgbouncer/parameters/max_client_conn", value: "999" }], JSON_PATCH);
            },
            async () => (await pooler()).spec.pgbouncer.parameters.max_client_conn === "200",
        );
        await driftCase(
            "our role entries removed by the Cluster's owner (Flux re-applies its manifest)",
            fluxApply,
            async () => (await liveRoles()).some((r) => r["name"] === "synergyflow_app"),
        );
        await check("after the repairs the five other roles are still byte-identical", async () => {
            assert((await othersOf()) === othersBefore, "another tenant's role entry changed");
        });

        await check("no credential of this run (the API tokens) appears in the state backend or the engine output", async () => {
            const files = fs.readdirSync(path.join(work, "state"), { recursive: true, encoding: "utf8" }).map((f) => path.join(work, "state", f)).filter((f) => fs.statSync(f).isFile());
            const texts = [...files.map((f) => fs.readFileSync(f, "utf8")), output.join("")];
            for (const server of servers) assert(!texts.some((t) => t.includes(server.token)), `the ${server.name} API token leaked`);
        });

        await check("destroy removes our entries and leaves the other roles byte-identical", async () => {
            await stack.destroy({ onOutput });
            const names = (await liveRoles()).map((r) => r["name"]);
            assert(!names.includes("synergyflow_app") && !names.includes("synergyflow_pooler_auth"), `left behind: ${names.join(", ")}`);
            assert((await othersOf()) === othersBefore, "another tenant's role entry changed");
        });

        // The databaseRole strategy (CNPG >= 1.30): standalone DatabaseRoles, the shared Cluster never touched.
        await stack.setConfig("synergyflow-db:sharedCluster.roleStrategy", { value: "databaseRole" }, true);
        const DATABASE_ROLES = "/apis/postgresql.cnpg.io/v1/namespaces/cnpg-system/databaseroles";
        await check("databaseRole: up creates DatabaseRoles the API server accepts (CEL included); the Cluster is untouched", async () => {
            const clusterBefore = JSON.stringify((await kubeRequest(infraServer, "GET", CLUSTER)).spec);
            const up = await stack.up({ onOutput });
            assert(up.summary.result === "succeeded", `up: ${up.summary.result}`);
            const roles = ((await kubeRequest(infraServer, "GET", DATABASE_ROLES)).items as any[]).map((r) => `${r.spec.name}:${r.spec.login}:${r.spec.connectionLimit}`);
            assert(JSON.stringify(roles.sort()) === JSON.stringify(["synergyflow_app:true:40", "synergyflow_pooler_auth:true:4"]), `DatabaseRoles: ${roles.join(", ")}`);
            assert(JSON.stringify((await kubeRequest(infraServer, "GET", CLUSTER)).spec) === clusterBefore, "the shared Cluster changed");
            await stack.up({ expectNoChanges: true, onOutput });
        });
        await check("databaseRole: destroy deletes them; the other roles are byte-identical", async () => {
            await stack.destroy({ onOutput });
            assert(((await kubeRequest(infraServer, "GET", DATABASE_ROLES)).items as unknown[]).length === 0, "DatabaseRoles left behind");
            assert((await othersOf()) === othersBefore, "another tenant's role entry changed");
        });
    } finally {
        await Promise.all(servers.map((server) => server.stop()));
    }
    const failed = results.filter((r) => !r.ok).length;
    console.log(`\n${results.length - failed} passed, ${failed} failed`);
    return failed === 0 ? 0 : 1;
}

main().then(
    (code) => process.exit(code),
    (error) => {
        console.error(error);
        console.log("\n0 passed, 1 failed");
        process.exit(1);
    },
);

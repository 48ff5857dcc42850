// `npm run test:e2e`: the real Pulumi engine (CLI built from Go modules, Automation API with the real program as
// an inline program) on the `local` stack (Pulumi.local.yaml) against two real kube-apiservers (infra, apps)
// holding the prod platform as the fixtures show it (fixtures/live/prod, applied as Flux applies it), with
// OpenBao and External Secrets v0.16.2 when they are built (e2e/toolchain/). The random and Vault provider
// plugins cannot be built here, so the test's credential factory generates each password and writes it into
// OpenBao at the key the program names (HTTP API); OpenBao -> ESO -> Secret then runs for real, and everything
// else is the program's own code path. Prints one line per check and a closing "N passed, M failed".
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { LocalWorkspace, PulumiCommand, type Stack } from "@pulumi/pulumi/automation";
import YAML from "yaml";
import type { CredentialFactory } from "../components/infra/vaultCredential";
import { loadStackConfig, runSynergyflowDb, stackLiveReader } from "../components/program";
import { readDumpFolder } from "../components/live/kubeObjects";
import { crdDirectory } from "../conformance/crdSchemas";
import { type CnpgOperator, cnpgCrds, cnpgOperatorDir, playPasswordStatus, startCnpgOperator } from "./cnpgOperator";
import { CREDENTIALS_ANNOTATION, credentialsVersion, loginCredentials } from "../components/model/rotation";
import { ClusterRolePatch } from "../components/resources/clusterRolePatch";
import { applicationRoleFields } from "../components/model/roles";
import { migrationChecks } from "./migration";
import { rotationChecks } from "./rotation";
import { findControllers, type RunningController, startExternalSecrets, startWorkloads } from "./controllers";
import { type ApiServer, findToolchain, kubeRequest, startApiServer, writeKubeconfig } from "./controlPlane";
import { assert, check, failureOf, results, skip, skipped, until } from "./checks";
import { type OpenBao, startOpenBao } from "./openbao";

const ROOT = path.join(__dirname, "..");

/** The fixture's objects of one cluster side, Lists flattened, status and server fields dropped. */
function platformObjects(side: "infra" | "apps"): any[] {
    return (readDumpFolder(path.join(ROOT, "fixtures/live/prod", side)) as any[]).map((o) => ({ apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.metadata.name, ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}), ...(o.metadata.labels ? { labels: o.metadata.labels } : {}) }, ...(o.spec ? { spec: o.spec } : {}), ...(o.data ? { data: o.data, type: o.type } : {}) }));
}

const plural: Record<string, string> = { Cluster: "clusters", Pooler: "poolers", PodDisruptionBudget: "poddisruptionbudgets", Secret: "secrets", ClusterSecretStore: "clustersecretstores", Namespace: "namespaces" };
function objectPath(o: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }): string {
    const base = o.apiVersion.includes("/") ? `/apis/${o.apiVersion}` : `/api/${o.apiVersion}`;
    return `${base}${o.metadata.namespace ? `/namespaces/${o.metadata.namespace}` : ""}/${plural[o.kind]}/${o.metadata.name}`;
}

/** Which of these loopback ports something already listens on. */
async function portsInUse(ports: number[]): Promise<number[]> {
    const inUse = await Promise.all(
        ports.map(
            (port) =>
                new Promise<boolean>((resolve) => {
                    const socket = net.connect({ host: "127.0.0.1", port }, () => {
                        socket.end();
                        resolve(true);
                    });
                    socket.on("error", () => resolve(false));
                }),
        ),
    );
    return ports.filter((_, i) => inUse[i]);
}

async function main(): Promise<number> {
    const { toolchain, missing } = findToolchain();
    if (!toolchain) {
        console.log(`test:e2e skipped: the real-engine toolchain is not built on this machine (missing: ${missing.join(", ")}); build it with e2e/toolchain/*.sh (tens of minutes)`);
        return 0;
    }
    const { binaries, missing: missingControllers } = findControllers(path.dirname(toolchain.bin));
    for (const piece of missingControllers) console.log(`missing: ${piece}: the checks that need it are skipped by name`);
    const started = Date.now();
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "synergyflow-e2e-"));
    const servers: ApiServer[] = [];
    const controllers: RunningController[] = [];
    let bao: OpenBao | undefined;
    // Each stage settles whatever the others do: one controller that fails to stop must not keep the API servers alive.
    const stopEverything = async () => {
        await Promise.allSettled(controllers.map((c) => c.stop()));
        await Promise.allSettled([bao?.stop()]);
        await Promise.allSettled(servers.map((server) => server.stop()));
    };
    // A closed stdout (the parent gone) must not crash the cleanup below.
    process.stdout.on("error", () => undefined);
    // Stopped from outside (a CI timeout, ^C): nothing it started may keep listening for the next run (and
    // controlPlane.ts kills whatever is left when this process exits).
    // The signal often comes twice (to the process group, and forwarded by npm): a second one must not kill the
    // process before its cleanup has run.
    let stopping = false;
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
        process.on(signal, () => {
            if (stopping) return;
            stopping = true;
            console.log(`\n${signal}: stopping the servers and controllers`);
            void stopEverything().finally(() => process.exit(1));
        });
    }
    try {
        // A server left listening by an earlier, killed run would make this one fail obscurely: say which.
        const busy = await portsInUse([23790, 23791, 16443, 23890, 23891, 26443, 18200, 19443, 19444]);
        if (busy.length > 0) throw new Error(`127.0.0.1 port${busy.length > 1 ? "s" : ""} ${busy.join(", ")} already in use (a server left by an earlier run?): stop it (ss -ltnp shows the process) and re-run`);
        servers.push(await startApiServer("infra", toolchain, work, 23790, 16443));
        servers.push(await startApiServer("apps", toolchain, work, 23890, 26443));
        const kubeconfig = path.join(work, "kubeconfig");
        writeKubeconfig(kubeconfig, servers);
        const [infraServer, appsServer] = servers as [ApiServer, ApiServer];
        const CLUSTER = "/apis/postgresql.cnpg.io/v1/namespaces/cnpg-system/clusters/shared-postgres";
        const POOLER = "/apis/postgresql.cnpg.io/v1/namespaces/cnpg-system/poolers/synergyflow-pgbouncer";
        const JSON_PATCH = "application/json-patch+json";

        // CRDs: CNPG's (the running operator's own when it runs, else the shared folder's) in infra, ESO's in both
        // (ESO's own when it runs); DatabaseRole (CNPG >= 1.30) from the shared folder.
        const toolchainDir = path.dirname(toolchain.bin);
        const operatorDirs = { "v1.27.4": cnpgOperatorDir(toolchainDir, "v1.27.4"), "v1.30.0": cnpgOperatorDir(toolchainDir, "v1.30.0") };
        for (const [version, dir] of Object.entries(operatorDirs)) if (!dir) console.log(`missing: CloudNativePG operator ${version} (e2e/toolchain/build-cnpg-operator.sh ${version}): the checks that need it are skipped by name`);
        const sharedCrds = fs
            .readdirSync(crdDirectory(), { recursive: true, encoding: "utf8" })
            .filter((f) => f.endsWith(".yaml") && !f.startsWith("monitoring"))
            .map((f) => YAML.parse(fs.readFileSync(path.join(crdDirectory(), f), "utf8")));
        const cnpgDefinitions = operatorDirs["v1.27.4"] ? [...cnpgCrds(operatorDirs["v1.27.4"]), ...sharedCrds.filter((c) => c.spec.names.kind === "DatabaseRole")] : sharedCrds.filter((c) => c.spec.group === "postgresql.cnpg.io");
        const esoCrds = binaries.externalSecrets
            ? fs
                  .readdirSync(binaries.externalSecrets.crds)
                  .filter((f) => f.endsWith(".yaml"))
                  .map((f) => YAML.parse(fs.readFileSync(path.join(binaries.externalSecrets!.crds, f), "utf8")))
                  .filter((doc) => doc?.kind === "CustomResourceDefinition")
            : sharedCrds.filter((c) => c.spec.group === "external-secrets.io");
        const applyCrd = (server: ApiServer, crd: any) => kubeRequest(server, "PATCH", `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}?fieldManager=e2e&force=true`, crd, "application/apply-patch+yaml");
        for (const crd of cnpgDefinitions) await applyCrd(infraServer, crd);
        for (const crd of esoCrds) for (const server of servers) await applyCrd(server, crd);
        await new Promise((r) => setTimeout(r, 3000));
        await kubeRequest(infraServer, "POST", "/api/v1/namespaces", { metadata: { name: "cnpg-system" } });
        await kubeRequest(infraServer, "POST", "/api/v1/namespaces", { metadata: { name: "external-secrets" } });
        await kubeRequest(appsServer, "POST", "/api/v1/namespaces", { metadata: { name: "external-secrets" } });

        // OpenBao with a token limited to the stack's prefix for the stores.
        const config = loadStackConfig(Object.fromEntries(Object.entries(YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.local.yaml"), "utf8")).config).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)])));
        const { kvMount, keyPrefix } = config.vault;
        if (binaries.bao) bao = await startOpenBao(binaries.bao, work, Number(new URL(config.vault.address).port));
        const storeToken = bao ? await bao.limitedToken(kvMount, keyPrefix) : "no-openbao";

        // The platform's operator, with its webhooks: every CNPG object below goes through them.
        let operator: CnpgOperator | undefined;
        if (operatorDirs["v1.27.4"]) {
            operator = await startCnpgOperator(operatorDirs["v1.27.4"], "v1.27.4", infraServer, work, 19443, 18090);
            controllers.push(operator);
        }

        // The platform as Flux applies it (server-side apply, forced): the shared Cluster (first without our
        // entry), Flux's Pooler and PDB under the first design's names, the CA Secret (made by the operator when
        // it runs), the stores.
        const fixtureInfra = platformObjects("infra");
        const fixtureCluster = fixtureInfra.find((o) => o.kind === "Cluster");
        // Our three entries (the owner and the two login roles), as the platform team adds them from the preview.
        const ourEntries = fixtureCluster.spec.managed.roles.filter((r: any) => String(r.name).startsWith(config.tenant.roleName));
        const otherEntries = fixtureCluster.spec.managed.roles.filter((r: any) => !ourEntries.includes(r));
        const fluxApply = async (server: ApiServer, object: any) => kubeRequest(server, "PATCH", `${objectPath(object)}?fieldManager=kustomize-controller&force=true`, object, "application/apply-patch+yaml");
        const applyCluster = (withOurEntry: boolean) => fluxApply(infraServer, { ...fixtureCluster, spec: { ...fixtureCluster.spec, managed: { roles: withOurEntry ? [...otherEntries, ...ourEntries] : otherEntries } } });
        await applyCluster(false);
        for (const o of fixtureInfra.filter((o) => ["Pooler", "PodDisruptionBudget"].includes(o.kind) || (o.kind === "Secret" && !operator))) await fluxApply(infraServer, o);
        if (operator) await until("the CA Secret the operator makes for the Cluster", () => kubeRequest(infraServer, "GET", "/api/v1/namespaces/cnpg-system/secrets/shared-postgres-ca"), 90000);
        for (const server of servers) {
            await kubeRequest(server, "POST", "/api/v1/namespaces/external-secrets/secrets", { metadata: { name: "openbao-token" }, stringData: { token: storeToken } });
            await fluxApply(server, {
                apiVersion: "external-secrets.io/v1",
                kind: "ClusterSecretStore",
                metadata: { name: config.externalSecrets.infraStore },
                spec: { provider: { vault: { server: config.vault.address, path: kvMount, version: "v2", auth: { tokenSecretRef: { name: "openbao-token", namespace: "external-secrets", key: "token" } } } } },
            });
        }
        await fluxApply(appsServer, { apiVersion: "v1", kind: "Namespace", metadata: { name: "synergyflow" } });
        const OTHERS = otherEntries.map((r: any) => r.name as string);
        const liveRoles = async () => (await kubeRequest(infraServer, "GET", CLUSTER)).spec.managed.roles as Record<string, unknown>[];
        const othersOf = async () => JSON.stringify((await liveRoles()).filter((r) => OTHERS.includes(r["name"] as string)));
        const othersBefore = await othersOf();
        const fluxObjects = async () => JSON.stringify(await Promise.all(fixtureInfra.filter((o) => ["Pooler", "PodDisruptionBudget"].includes(o.kind)).map(async (o) => (await kubeRequest(infraServer, "GET", objectPath(o))).spec)));
        const fluxBefore = await fluxObjects();

        // Kept by name: the rotation checks hold each of them back in turn, the first up the infra cluster's kwok.
        let eso: { infra: RunningController; apps: RunningController } | undefined;
        let infraKwok: RunningController | undefined;
        let playedCnpg: RunningController | undefined;
        if (binaries.externalSecrets) {
            eso = { infra: startExternalSecrets(binaries.externalSecrets.binary, infraServer, work, 18081), apps: startExternalSecrets(binaries.externalSecrets.binary, appsServer, work, 18082) };
            controllers.push(eso.infra, eso.apps);
        }
        if (binaries.workloads) {
            const infraWorkloads = await startWorkloads(binaries.workloads, infraServer, work, 18259, 3);
            infraKwok = infraWorkloads.find((c) => c.name.startsWith("kwok"));
            controllers.push(...infraWorkloads);
            // The apps cluster's Job pods (the migration's) end as the test plays them (e2e/migration.ts).
            controllers.push(...(await startWorkloads(binaries.workloads, appsServer, work, 18260, 3, true)));
        }
        // Every wait the program has can be met when these run: ExternalSecrets Ready (ESO + OpenBao), the
        // bootstrap Job complete and the backend Deployment available (scheduler + kwok).
        const waitForControllers = Boolean(bao && binaries.externalSecrets && binaries.workloads);
        console.log(`waitForControllers: ${waitForControllers}`);
        const logins = loginCredentials(config.tenant);
        // PostgreSQL never runs here: the test applies the login roles' passwords as CNPG's instance manager would.
        if (waitForControllers) {
            playedCnpg = playPasswordStatus(infraServer, config.sharedCluster.namespace, config.sharedCluster.name, [logins.a.roleName, logins.b.roleName]);
            controllers.push(playedCnpg);
        }

        // The credential factory: a generated password written into OpenBao at the key the program names (the
        // migration checks add the source database's password: every credential the run must not leak).
        const generated: string[] = [];
        const credentials: CredentialFactory = (_name, args) => {
            const written = (async () => {
                if (!bao) return 1;
                const existing = await bao.readKv(kvMount, args.vaultKey);
                if (existing && existing.data["rotation"] === args.rotation) {
                    generated.push(existing.data["password"] as string);
                    return existing.version;
                }
                const password = randomBytes(24).toString("base64url");
                generated.push(password);
                return bao.writeKv(kvMount, args.vaultKey, { username: args.username, password, rotation: args.rotation });
            })();
            return { vaultKey: pulumi.output(args.vaultKey), vaultVersion: pulumi.output(written.then(String)) };
        };

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
        // The inline program runs in this process (the CLI gets envVars): its preflight reads both clusters.
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
            {
                stackName: "local",
                projectName: "synergyflow-db",
                program: async () => {
                    const stackConfig = loadStackConfig(pulumi.runtime.allConfig());
                    return runSynergyflowDb(stackConfig, stackLiveReader(stackConfig), pulumi.getStack(), { credentials });
                },
            },
            { workDir: project, pulumiCommand, envVars },
        );
        if (waitForControllers) await stack.setConfig("synergyflow-db:waitForControllers", { value: "true" });
        // Every object this stack made, by its ownership label, on both clusters.
        const ours = async () => {
            const selector = `?labelSelector=${encodeURIComponent("synergyflow-db/stack=local")}`;
            const lists: [ApiServer, string][] = [
                [infraServer, "/apis/external-secrets.io/v1/namespaces/cnpg-system/externalsecrets"],
                [infraServer, "/apis/postgresql.cnpg.io/v1/namespaces/cnpg-system/poolers"],
                [infraServer, "/apis/postgresql.cnpg.io/v1/namespaces/cnpg-system/databases"],
                [infraServer, "/apis/postgresql.cnpg.io/v1/namespaces/cnpg-system/databaseroles"],
                [infraServer, "/apis/batch/v1/namespaces/cnpg-system/jobs"],
                [infraServer, "/api/v1/namespaces/cnpg-system/configmaps"],
                [infraServer, "/apis/policy/v1/namespaces/cnpg-system/poddisruptionbudgets"],
                [infraServer, "/apis/networking.k8s.io/v1/namespaces/cnpg-system/networkpolicies"],
                [appsServer, "/apis/external-secrets.io/v1/namespaces/synergyflow/externalsecrets"],
                [appsServer, "/api/v1/namespaces/synergyflow/configmaps"],
                [appsServer, "/apis/apps/v1/namespaces/synergyflow/deployments"],
                [appsServer, "/apis/batch/v1/namespaces/synergyflow/jobs"],
            ];
            const found = await Promise.all(lists.map(async ([server, list]) => ((await kubeRequest(server, "GET", `${list}${selector}`)).items as any[]).map((o) => `${server.name}:${list.split("/").pop()}/${o.metadata.name}`)));
            return found.flat();
        };
        const bootstrapJob = async () =>
            ((await kubeRequest(infraServer, "GET", `/apis/batch/v1/namespaces/cnpg-system/jobs?labelSelector=${encodeURIComponent("synergyflow-db/stack=local")}`)).items as any[]).find((j) => j.metadata.name.startsWith(config.pooler.bootstrapJobName));
        /** The apps side's objects that connect to the database (the backend's Secret, Deployments, Jobs), with creation times. */
        async function appsConnectors(): Promise<string[]>;
        async function appsConnectors(withTimes: true): Promise<[string, number][]>;
        async function appsConnectors(withTimes = false): Promise<string[] | [string, number][]> {
            const lists = ["/apis/external-secrets.io/v1/namespaces/synergyflow/externalsecrets", "/apis/apps/v1/namespaces/synergyflow/deployments", "/apis/batch/v1/namespaces/synergyflow/jobs"];
            const named = (
                await Promise.all(lists.map(async (list) => (((await kubeRequest(appsServer, "GET", list)).items ?? []) as any[]).map((o): [string, number] => [`${list.split("/").pop()}/${o.metadata.name}`, Date.parse(o.metadata.creationTimestamp)])))
            ).flat();
            return withTimes ? named : named.map(([name]) => name);
        }
        const previewError = () => failureOf("the preview", () => stack.preview({ onOutput }));

        await check("preflight: the platform's Cluster without our entry refuses the preview, printing the entry; nothing is created", async () => {
            const message = await previewError();
            assert(message.includes(`synergyflow-db:sharedCluster.roleStrategy: "external": the Cluster does not declare the roles as expected`), `no external-role refusal in: ${message.slice(0, 2000)}`);
            for (const role of [config.tenant.roleName, logins.a.roleName, logins.b.roleName]) assert(message.includes(`- name: ${role}\n`), `the entry of ${role} for the Cluster manifest is not printed`);
            assert(message.includes(`connectionLimit: ${config.tenant.connectionLimit}`) && message.includes(`inRoles:`), "the login roles' entries are not printed in full");
            assert((await ours()).length === 0, `objects were created: ${(await ours()).join(", ")}`);
        });
        await check("preflight: the first design's names, vault auth without superuser access, a store on another mount: every problem at once, nothing created", async () => {
            // key, the value under test, the stack file's value (restored afterwards).
            const changes: [string, string, string][] = [
                ["synergyflow-db:pooler.name", "synergyflow-pooler", config.pooler.name],
                ["synergyflow-db:pooler.podDisruptionBudgetName", "synergyflow-pooler", config.pooler.podDisruptionBudgetName],
                ["synergyflow-db:pooler.authMode", "vault", config.pooler.authMode],
                ["synergyflow-db:tenant.roleReclaimPolicy", "retain", config.tenant.roleReclaimPolicy],
                ["synergyflow-db:vault.kvMount", "kv", config.vault.kvMount],
            ];
            for (const [key, value] of changes) await stack.setConfig(key, { value }, true);
            try {
                const message = await previewError();
                for (const expected of [
                    "synergyflow-db:pooler.name: the stack would create Pooler cnpg-system/synergyflow-pooler on the infra cluster, but one exists that is not this stack's",
                    "live: PodDisruptionBudget cnpg-system/synergyflow-pooler (Flux Kustomization flux-system/infra-databases; field managers: kustomize-controller (server-side apply))",
                    `synergyflow-db:pooler.authMode: "vault" needs superuser SQL`,
                    `synergyflow-db:vault.kvMount: ClusterSecretStore vault-backend on the infra cluster reads the KV mount "secret", the program writes "kv"`,
                    `synergyflow-db:sharedCluster.roleStrategy: "external"`,
                ]) assert(message.includes(expected), `missing in the preview's error: ${expected}`);
                assert((await ours()).length === 0, "objects were created");
            } finally {
                for (const [key, , original] of changes) await stack.setConfig(key, { value: original }, true);
            }
        });
        await applyCluster(true);
        await check("the platform team adds the printed entry: preview of the new stack succeeds", async () => {
            const preview = await stack.preview({ onOutput });
            assert((preview.changeSummary["create"] ?? 0) > 10, `expected creates, got ${JSON.stringify(preview.changeSummary)}`);
        });
        await check(`up succeeds; the API servers accept every object; the bootstrap Job starts after the Pooler exists${waitForControllers ? "; it waited for the ExternalSecrets, the bootstrap Job and the backend Deployment" : ""}`, async () => {
            const from = output.length;
            // The bootstrap made slow (the infra cluster's kwok held back, so its Job pod does not finish): nothing
            // on the apps side that connects (the backend's Secret, the Deployment, a Job) may appear before it completes.
            infraKwok?.pause();
            const running = stack.up({ onOutput });
            let heldFor = 0;
            if (waitForControllers && infraKwok) {
                try {
                    await until("the bootstrap Job", bootstrapJob, 240000);
                    const heldFrom = Date.now();
                    while (Date.now() - heldFrom < 8000) {
                        const appsSide = await appsConnectors();
                        assert(appsSide.length === 0, `created on the apps side before the bootstrap completed: ${appsSide.join(", ")}`);
                        await new Promise((r) => setTimeout(r, 500));
                    }
                    heldFor = Date.now() - heldFrom;
                } finally {
                    infraKwok.resume();
                }
            }
            const up = await running;
            assert(up.summary.result === "succeeded", `up: ${up.summary.result}`);
            if (heldFor > 0) {
                const completed = Date.parse((await bootstrapJob())!.status.completionTime);
                const early = (await appsConnectors(true)).filter(([, created]) => created < completed - 1000);
                assert(early.length === 0, `created before the bootstrap Job completed: ${early.map(([name]) => name).join(", ")}`);
                console.log(`     the bootstrap held ${(heldFor / 1000).toFixed(0)} s: nothing on the apps side that connects existed until it completed`);
            }
            // Operator auth: the Job grants CONNECT to the role CNPG creates for our Pooler, so the Pooler comes first.
            const events = output.slice(from).join("");
            const poolerCreated = events.search(/postgresql\.cnpg\.io\/v1:Pooler synergyflow-pooler-pooler created/);
            const jobStarted = events.search(/batch\/v1:Job synergyflow-bootstrap-job creating/);
            assert(poolerCreated >= 0 && jobStarted > poolerCreated, `the bootstrap Job was not started after the Pooler was created (engine output positions ${poolerCreated}, ${jobStarted})`);
            if (waitForControllers) {
                const jobs = (await kubeRequest(infraServer, "GET", `/apis/batch/v1/namespaces/cnpg-system/jobs?labelSelector=${encodeURIComponent("synergyflow-db/stack=local")}`)).items as any[];
                assert(jobs.length === 1 && jobs[0].status?.succeeded === 1, `bootstrap Job: ${JSON.stringify(jobs.map((j) => j.status))}`);
                const deployment = await kubeRequest(appsServer, "GET", "/apis/apps/v1/namespaces/synergyflow/deployments/synergyflow-backend");
                assert(deployment.status?.availableReplicas === deployment.spec.replicas, `backend: ${JSON.stringify(deployment.status)}`);
            }
        });
        if (!results[results.length - 1]?.ok) throw new Error("stopping: up failed (see above)");
        await check("the shared Cluster, the other roles and Flux's objects are byte-identical after up", async () => {
            assert((await othersOf()) === othersBefore, "another tenant's role entry changed");
            assert((await fluxObjects()) === fluxBefore, "Flux's Pooler or PDB changed");
        });
        await check("a second up changes nothing (--expect-no-changes)", async () => {
            await stack.up({ expectNoChanges: true, onOutput });
        });
        // The pack as an executable (policy/run-pack): the CLI built here has no nodejs language plugin to start
        // `--policy-pack policy` (its module is not served), and runs an executable pack directly.
        const policyPack = path.join(ROOT, "policy", "run-pack");
        await check("the policy pack runs through the real CLI: preview with it passes on the stack, every policy evaluated", async () => {
            const from = output.length;
            await stack.preview({ policyPacks: [policyPack], onOutput });
            const text = output.slice(from).join("");
            assert(/synergyflow-db-policies@v0\.1\.0/.test(text), `the pack did not run: ${text.slice(-1500)}`);
        });
        await check("the policy pack through the real CLI fails a preview of objects only it catches, naming each mandatory policy", async () => {
            // A program that breaks every rule of the pack, against the same clusters; nothing of it is created.
            const bad = await LocalWorkspace.createOrSelectStack(
                { stackName: "policy-bad", projectName: "synergyflow-db", program: async () => policyViolations() },
                { workDir: project, pulumiCommand, envVars },
            );
            const from = output.length;
            const message = await bad.preview({ policyPacks: [policyPack], onOutput }).then(
                () => "preview passed",
                (error: Error) => error.message,
            );
            const text = message + output.slice(from).join("");
            for (const policy of ["kubernetes-explicit-provider", "no-secret-material-in-configmaps-or-env", "restricted-security-context-in-cnpg-system", "pooler-pg-hba-restricted-to-tenant", "pooler-connection-budget"]) {
                assert(text.includes(policy), `the preview did not name ${policy}: ${text.slice(-2000)}`);
            }
            assert(message !== "preview passed", "the preview passed despite mandatory violations");
            await bad.workspace.removeStack("policy-bad");
        });
        if (operator) {
            await check("CNPG 1.27.4's webhook rejects the first design's Pooler with its own message", async () => {
                const firstDesign = { apiVersion: "postgresql.cnpg.io/v1", kind: "Pooler", metadata: { name: "first-design-pooler", namespace: "cnpg-system" }, spec: { cluster: { name: "shared-postgres" }, instances: 3, type: "rw", template: { spec: { containers: [] } }, pgbouncer: { poolMode: "transaction", parameters: { max_db_connections: "50", pool_mode: "transaction" } } } };
                const refusal = await kubeRequest(infraServer, "POST", "/apis/postgresql.cnpg.io/v1/namespaces/cnpg-system/poolers", firstDesign).then(() => "accepted", (e: Error) => e.message);
                assert(refusal.includes("Invalid or reserved parameter") && refusal.includes("pool_mode"), `not the webhook's refusal: ${refusal.slice(0, 400)}`);
            });
            await check("CNPG 1.27.4 reconciles our Pooler: its Service has the Pooler's name and our serviceTemplate; the address LB IPAM writes is the stack's", async () => {
                const service = await until("the pooler's Service", () => kubeRequest(infraServer, "GET", "/api/v1/namespaces/cnpg-system/services/synergyflow-pgbouncer"), 60000);
                assert(service.spec.type === "LoadBalancer" && service.spec.externalTrafficPolicy === "Local", `Service spec: ${JSON.stringify({ type: service.spec.type, policy: service.spec.externalTrafficPolicy })}`);
                assert(service.metadata.annotations?.["lbipam.cilium.io/ips"] === config.pooler.exposure.loadBalancerIP, `annotations: ${JSON.stringify(service.metadata.annotations)}`);
                // Play Cilium LB IPAM: assign the requested address.
                await kubeRequest(infraServer, "PATCH", "/api/v1/namespaces/cnpg-system/services/synergyflow-pgbouncer/status", { status: { loadBalancer: { ingress: [{ ip: config.pooler.exposure.loadBalancerIP }] } } }, "application/merge-patch+json");
                const outputs = await stack.outputs();
                assert(outputs["poolerHost"]?.value === config.pooler.exposure.loadBalancerIP && String(outputs["jdbcUrl"]?.value).includes(`//${config.pooler.exposure.loadBalancerIP}:5432/`), `poolerHost ${outputs["poolerHost"]?.value}`);
                const deployment = await until("the pooler's Deployment", () => kubeRequest(infraServer, "GET", "/apis/apps/v1/namespaces/cnpg-system/deployments/synergyflow-pgbouncer"), 60000);
                console.log(`     the operator deploys ${deployment.spec.template.spec.containers.map((c: any) => c.image).join(", ")} for the Pooler`);
            });
        } else {
            skip("CNPG 1.27.4's webhook rejects the first design's Pooler", "operator v1.27.4 not built");
            skip("CNPG 1.27.4 reconciles our Pooler", "operator v1.27.4 not built");
        }
        await check("the CA ConfigMap on the apps cluster holds the live CA Secret's certificate", async () => {
            const ca = Buffer.from((await kubeRequest(infraServer, "GET", "/api/v1/namespaces/cnpg-system/secrets/shared-postgres-ca")).data["ca.crt"], "base64").toString("utf8");
            const configMaps = (await kubeRequest(appsServer, "GET", "/api/v1/namespaces/synergyflow/configmaps")).items as any[];
            assert(configMaps.some((c) => c.data?.["ca.crt"] === ca), "no ConfigMap with the live ca.crt");
        });

        const esoSecret = async (server: ApiServer, namespace: string, name: string) => kubeRequest(server, "GET", `/api/v1/namespaces/${namespace}/secrets/${name}`);
        const decode = (secret: any, key: string) => Buffer.from(secret.data[key], "base64").toString("utf8");
        const vaultKeyOf = (slot: "a" | "b") => `${keyPrefix}/${logins[slot].vaultName}`;
        const roleSecret = (slot: "a" | "b") => esoSecret(infraServer, "cnpg-system", logins[slot].passwordSecretName);
        const appSecret = () => esoSecret(appsServer, "synergyflow", "synergyflow-db-credentials");
        const backendTemplate = async () => (await kubeRequest(appsServer, "GET", "/apis/apps/v1/namespaces/synergyflow/deployments/synergyflow-backend")).spec.template.metadata.annotations["synergyflow.io/db-credentials-version"];
        if (bao && binaries.externalSecrets) {
            await check("ESO syncs both clusters' Secrets from OpenBao: type, reload label, keys, values equal to Vault's", async () => {
                for (const slot of ["a", "b"] as const) {
                    const vault = (await bao!.readKv(kvMount, vaultKeyOf(slot)))!;
                    const role = await until(`login role ${slot}'s Secret`, () => roleSecret(slot));
                    assert(role.type === "kubernetes.io/basic-auth", `type ${role.type}`);
                    assert(role.metadata.labels?.["cnpg.io/reload"] === "true", "no cnpg.io/reload label");
                    const pair = credentialsVersion(logins[slot].roleName, String(vault.version));
                    assert(role.metadata.annotations?.[CREDENTIALS_ANNOTATION] === pair, `the Secret does not carry ${pair}`);
                    assert(decode(role, "username") === logins[slot].roleName && decode(role, "password") === vault.data["password"], `login role ${slot}'s Secret differs from Vault's`);
                }
                const app = await until("the app's Secret", appSecret);
                const vaultA = (await bao!.readKv(kvMount, vaultKeyOf("a")))!;
                assert(decode(app, "DB_USERNAME") === logins.a.roleName && decode(app, "DB_PASSWORD") === vaultA.data["password"], "the app Secret is not login role a's credential from Vault");
                for (const [server, ns, name] of [[infraServer, "cnpg-system", logins.a.passwordSecretName], [infraServer, "cnpg-system", logins.b.passwordSecretName], [appsServer, "synergyflow", "synergyflow-db-credentials"]] as const) {
                    const es = await kubeRequest(server, "GET", `/apis/external-secrets.io/v1/namespaces/${ns}/externalsecrets/${name}`);
                    assert(es.status?.conditions?.some((c: any) => c.type === "Ready" && c.status === "True"), `${ns}/${name} not Ready: ${JSON.stringify(es.status)}`);
                }
            });
            await check(`rotation: only the idle login role gets a new password; the backend's Secret holds it before the pod template changes${waitForControllers ? " (up waited for ESO and CNPG's evidence)" : ""}; the old credential is untouched`, async () => {
                const before = { a: (await bao!.readKv(kvMount, vaultKeyOf("a")))!, b: (await bao!.readKv(kvMount, vaultKeyOf("b")))! };
                const secretABefore = await roleSecret("a");
                const templateBefore = await backendTemplate();
                // Watch the apps cluster during up: when the backend's Secret and its pod template change.
                let secretAt: number | undefined;
                let templateAt: number | undefined;
                let sampling = true;
                const sampler = (async () => {
                    while (sampling) {
                        const [app, template] = await Promise.all([appSecret().catch(() => undefined), backendTemplate().catch(() => undefined)]);
                        if (secretAt === undefined && app && decode(app, "DB_USERNAME") === logins.b.roleName) secretAt = Date.now();
                        if (templateAt === undefined && template !== undefined && template !== templateBefore) templateAt = Date.now();
                        await new Promise((r) => setTimeout(r, 100));
                    }
                })();
                await stack.setConfig("synergyflow-db:tenant.passwordRotation", { value: "2" }, true);
                const started = Date.now();
                try {
                    const up = await stack.up({ onOutput });
                    assert(up.summary.result === "succeeded", `up: ${up.summary.result}`);
                    await until("the backend's Secret on login role b", async () => (decode(await appSecret(), "DB_USERNAME") === logins.b.roleName ? true : undefined), 30000);
                } finally {
                    sampling = false;
                    await sampler;
                }
                const after = { a: (await bao!.readKv(kvMount, vaultKeyOf("a")))!, b: (await bao!.readKv(kvMount, vaultKeyOf("b")))! };
                assert(after.b.version > before.b.version && after.b.data["password"] !== before.b.data["password"], "login role b got no new Vault version");
                assert(after.a.version === before.a.version && after.a.data["password"] === before.a.data["password"], "login role a's password changed: the pods still on it would fail");
                assert((await roleSecret("a")).metadata.resourceVersion === secretABefore.metadata.resourceVersion, "login role a's Secret changed");
                assert(decode(await roleSecret("b"), "password") === after.b.data["password"], "login role b's Secret does not hold Vault's new password");
                assert(decode(await appSecret(), "DB_PASSWORD") === after.b.data["password"], "the backend's Secret does not hold login role b's new password");
                const template = await backendTemplate();
                assert(template === `${logins.b.roleName}@${after.b.version}`, `the pod template's credentials version is ${template}`);
                assert(secretAt !== undefined && templateAt !== undefined && secretAt <= templateAt, `the pod template changed before the backend's Secret held the new credential (Secret at ${secretAt}, template at ${templateAt})`);
                if (waitForControllers) {
                    const status = (await kubeRequest(infraServer, "GET", CLUSTER)).status?.managedRolesStatus?.passwordStatus?.[logins.b.roleName];
                    assert(status?.resourceVersion === (await roleSecret("b")).metadata.resourceVersion, `CNPG's applied resourceVersion for login role b: ${JSON.stringify(status)}`);
                }
                console.log(`     rotation to ${logins.b.roleName}: up took ${Math.round((Date.now() - started) / 1000)} s; the backend's Secret held it ${secretAt! - started} ms and the pod template changed ${templateAt! - started} ms after up started`);
                const outputs = await stack.outputs();
                assert(outputs["loginRoleName"]?.value === logins.b.roleName && outputs["vaultKey"]?.value === vaultKeyOf("b"), `outputs: ${outputs["loginRoleName"]?.value}, ${outputs["vaultKey"]?.value}`);
                await stack.up({ expectNoChanges: true, onOutput });
            });
        } else skip("ESO syncs both clusters' Secrets from OpenBao, and a rotation reaches them at once", "OpenBao or External Secrets not built");
        if (waitForControllers && bao && eso && playedCnpg) await rotationChecks({ stack, infra: infraServer, apps: appsServer, bao, config, onOutput, esoInfra: eso.infra, esoApps: eso.apps, cnpg: playedCnpg });
        else skip("three rotations in a row, and one interrupted after each step", "OpenBao, External Secrets, kube-scheduler or kwok not built");

        if (waitForControllers) await migrationChecks({ stack, apps: appsServer, config, onOutput, output, previewError, credentials: generated });
        else skip("the migration's phases through the engine", "kube-scheduler and kwok, OpenBao or External Secrets not built: no Job can finish");

        const driftCase = async (name: string, edit: () => Promise<void>, verify: () => Promise<boolean>) =>
            check(`drift: ${name} is reported by refresh and repaired by up`, async () => {
                await edit();
                assert(!(await verify()), "the out-of-band edit did not take");
                const timed = async <T>(body: () => Promise<T>): Promise<[T, string]> => {
                    const started = Date.now();
                    const value = await body();
                    return [value, ((Date.now() - started) / 1000).toFixed(1)];
                };
                const [refresh, refreshSeconds] = await timed(() => stack.refresh({ onOutput }));
                assert((refresh.summary.resourceChanges?.["update"] ?? 0) > 0, `refresh reported no drift: ${JSON.stringify(refresh.summary.resourceChanges)}`);
                const [preview, previewSeconds] = await timed(() => stack.preview({ onOutput }));
                assert((preview.changeSummary["update"] ?? 0) + (preview.changeSummary["replace"] ?? 0) > 0, `preview after refresh shows no change: ${JSON.stringify(preview.changeSummary)}`);
                const [, upSeconds] = await timed(() => stack.up({ onOutput }));
                assert(await verify(), "up did not repair it");
                console.log(`     refresh ${refreshSeconds} s, preview ${previewSeconds} s, up ${upSeconds} s`);
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
        await driftCase(
            "a changed Pooler parameter",
            async () => {
                await kubeRequest(infraServer, "PATCH", POOLER, [{ op: "replace", path: "/spec/pgbouncer/parameters/max_client_conn", value: "999" }], JSON_PATCH);
            },
            async () => (await kubeRequest(infraServer, "GET", POOLER)).spec.pgbouncer.parameters.max_client_conn === "200",
        );

        await check("no credential of this run (API tokens, OpenBao tokens, generated passwords) appears in the state backend or the engine output", async () => {
            const files = fs.readdirSync(path.join(work, "state"), { recursive: true, encoding: "utf8" }).map((f) => path.join(work, "state", f)).filter((f) => fs.statSync(f).isFile());
            const texts = [...files.map((f) => fs.readFileSync(f, "utf8")), output.join("")];
            const secrets = [...servers.map((s) => s.token), ...(bao ? [bao.rootToken, storeToken] : []), ...generated];
            assert(generated.length > 0 || !bao, "no password was generated");
            for (const secret of secrets) assert(!texts.some((t) => t.includes(secret)), `a secret of this run leaked (${secret.slice(0, 4)}...)`);
        });

        await check("destroy (delete): our objects go, the shared Cluster, the other roles and Flux's objects stay byte-identical", async () => {
            await stack.destroy({ onOutput });
            assert((await ours()).length === 0, `left behind: ${(await ours()).join(", ")}`);
            assert((await othersOf()) === othersBefore, "another tenant's role entry changed");
            assert((await fluxObjects()) === fluxBefore, "Flux's Pooler or PDB changed");
            if (bao && binaries.externalSecrets) {
                // creationPolicy Owner: the Secrets go with their ExternalSecrets (the garbage collector).
                for (const slot of ["a", "b"] as const) await until(`login role ${slot}'s Secret's removal`, async () => ((await roleSecret(slot).catch(() => undefined)) ? undefined : true));
            }
        });

        if (bao && binaries.externalSecrets) {
            await check("destroy (retain): both login roles' Secrets stay with Vault's values; the next preview plans the stack again beside them and says it adopts them", async () => {
                await stack.setConfig("synergyflow-db:tenant.roleReclaimPolicy", { value: "retain" }, true);
                try {
                    await stack.up({ onOutput });
                    const vault = { a: (await bao!.readKv(kvMount, vaultKeyOf("a")))!, b: (await bao!.readKv(kvMount, vaultKeyOf("b")))! };
                    for (const slot of ["a", "b"] as const) await until(`login role ${slot}'s Secret`, () => roleSecret(slot));
                    await stack.destroy({ onOutput });
                    await new Promise((r) => setTimeout(r, 3000));
                    for (const slot of ["a", "b"] as const) assert(decode(await roleSecret(slot), "password") === vault[slot].data["password"], `login role ${slot}'s kept Secret differs from Vault's`);
                    const from = output.length;
                    const preview = await stack.preview({ onOutput });
                    assert((preview.changeSummary["create"] ?? 0) > 10, "the next preview does not plan the stack again over the kept Secrets");
                    assert(output.slice(from).join("").includes(`adopting Secret cnpg-system/${logins.a.passwordSecretName}, kept by an earlier destroy`), "the preview does not say it adopts the kept Secrets");
                } finally {
                    await stack.setConfig("synergyflow-db:tenant.roleReclaimPolicy", { value: "delete" }, true);
                }
            });
        } else skip("destroy (retain): both login roles' Secrets stay with Vault's values", "OpenBao or External Secrets not built");

        // The databaseRole strategy (CNPG >= 1.30): standalone DatabaseRoles, the shared Cluster never touched.
        // With v1.30.0 built, its operator (and its CRDs) replace v1.27.4's; it has no DatabaseRole webhook, so
        // only the CRD's schema checks them.
        if (operator) {
            await operator.stop();
            controllers.splice(controllers.indexOf(operator), 1);
            operator = undefined;
        }
        if (operatorDirs["v1.30.0"]) {
            for (const crd of cnpgCrds(operatorDirs["v1.30.0"])) await applyCrd(infraServer, crd);
            await new Promise((r) => setTimeout(r, 2000));
            operator = await startCnpgOperator(operatorDirs["v1.30.0"], "v1.30.0", infraServer, work, 19444, 18091);
            controllers.push(operator);
        } else skip("databaseRole under the CNPG 1.30.0 operator", "operator v1.30.0 not built (the part runs against the CRD's schema only)");
        await applyCluster(false);
        await stack.setConfig("synergyflow-db:sharedCluster.roleStrategy", { value: "databaseRole" }, true);
        await stack.setConfig("synergyflow-db:sharedCluster.operatorVersion", { value: "1.30" }, true);
        const DATABASE_ROLES = "/apis/postgresql.cnpg.io/v1/namespaces/cnpg-system/databaseroles";
        await check("databaseRole: up creates the three DatabaseRoles the API server accepts (CEL included); the Cluster is untouched", async () => {
            const clusterBefore = JSON.stringify((await kubeRequest(infraServer, "GET", CLUSTER)).spec);
            const up = await stack.up({ onOutput });
            assert(up.summary.result === "succeeded", `up: ${up.summary.result}`);
            const roles = ((await kubeRequest(infraServer, "GET", DATABASE_ROLES)).items as any[]).map((r) => `${r.spec.name}:${r.spec.login}:${r.spec.connectionLimit}`);
            const limit = config.tenant.connectionLimit;
            assert(JSON.stringify(roles.sort()) === JSON.stringify([`${config.tenant.roleName}:false:-1`, `${logins.a.roleName}:true:${limit}`, `${logins.b.roleName}:true:${limit}`]), `DatabaseRoles: ${roles.join(", ")}`);
            assert(JSON.stringify((await kubeRequest(infraServer, "GET", CLUSTER)).spec) === clusterBefore, "the shared Cluster changed");
            await stack.up({ expectNoChanges: true, onOutput });
        });
        await check("databaseRole: destroy deletes them; the other roles are byte-identical", async () => {
            await stack.destroy({ onOutput });
            assert(((await kubeRequest(infraServer, "GET", DATABASE_ROLES)).items as unknown[]).length === 0, "DatabaseRoles left behind");
            assert((await othersOf()) === othersBefore, "another tenant's role entry changed");
        });
    } finally {
        await stopEverything();
    }
    const failed = results.filter((r) => !r.ok).length;
    console.log(`\ne2e took ${Math.round((Date.now() - started) / 1000)} s; skipped by name: ${skipped.length ? skipped.join("; ") : "none"}`);
    console.log(`\n${results.length - failed} passed, ${failed} failed`);
    return failed === 0 ? 0 : 1;
}

/** Resources that each break one rule of the policy pack (previewed only, never created). */
function policyViolations(): void {
    const apps = new k8s.Provider("apps", { context: "apps" });
    const infra = new k8s.Provider("infra", { context: "infra" });
    // No provider: the default one, which would target the ambient kubeconfig.
    new k8s.core.v1.ConfigMap("defaulted", { metadata: { namespace: "synergyflow" }, data: { note: "default provider" } });
    new k8s.core.v1.ConfigMap("leaky", { metadata: { namespace: "synergyflow" }, data: { DB_PASSWORD: "not-in-a-configmap" } }, { provider: apps });
    new k8s.batch.v1.Job("unrestricted", { metadata: { namespace: "cnpg-system" }, spec: { template: { spec: { restartPolicy: "Never", containers: [{ name: "sql", image: "postgres:16" }] } } } }, { provider: infra });
    new ClusterRolePatch("roles", {
        access: { context: "infra", namespace: "cnpg-system", clusterName: "shared-postgres", fieldManager: "policy-check" },
        roles: [applicationRoleFields("synergyflow_app_a", 23, "synergyflow-app-role-password-a", "policy check")],
        dropTimeoutSeconds: 0,
    });
    new k8s.apiextensions.CustomResource(
        "open-pooler",
        {
            apiVersion: "postgresql.cnpg.io/v1",
            kind: "Pooler",
            metadata: { name: "policy-check-pooler", namespace: "cnpg-system" },
            // 3 x 50 server connections for a role limited to 23; pg_hba admitting everyone.
            spec: { cluster: { name: "shared-postgres" }, instances: 3, type: "rw", pgbouncer: { poolMode: "transaction", parameters: { max_db_connections: "50" }, pg_hba: ["host all synergyflow_app_a 0.0.0.0/0 scram-sha-256", "host all all 0.0.0.0/0 md5"] } },
        },
        { provider: infra },
    );
}

main().then(
    (code) => process.exit(code),
    (error) => {
        console.error(error);
        console.log("\n0 passed, 1 failed");
        process.exit(1);
    },
);

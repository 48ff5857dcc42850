// The e2e's environment: two kube-apiservers (infra, apps) holding the prod platform as the fixtures show it
// (fixtures/live/prod, applied as Flux applies it), the controllers that are built (CNPG 1.27.4 with its webhooks,
// OpenBao, External Secrets, kube-scheduler), and the real Pulumi engine on the `local` stack with the program as
// an inline program. The infra cluster's pods run on a real node (e2e/node: the shared Cluster's one instance,
// PostgreSQL under CNPG's instance manager, the Poolers' PgBouncer, the bootstrap Job's psql) when its toolchain
// is built; without it, kwok plays them and the test plays CNPG's password status. With the backend image built too,
// the apps cluster is a second machine (e2e/node/sites.ts: its own node, linked to the infra node and masquerading
// its pods' egress) running the backend's pods and their wait-for-db for real; the migration's Jobs and the dedicated
// source Cluster (e2e/dedicatedSource.ts) run there too. The scenarios (run.ts, rotation.ts, migration.ts) run
// against what this returns; whatever it starts is registered in `started` (e2e/harness.ts), which stops it, also on
// a signal.
import { AsyncLocalStorage } from "node:async_hooks";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { LocalWorkspace, PulumiCommand, type Stack } from "@pulumi/pulumi/automation";
import YAML from "yaml";
import type { CredentialFactory } from "../components/infra/vaultCredential";
import { loadStackConfig, runSynergyflowDb, stackLiveReader } from "../components/program";
import { readDumpFolder } from "../components/live/kubeObjects";
import { loginCredentials } from "../components/model/rotation";
import { crdDirectory } from "../conformance/crdSchemas";
import { type CnpgOperator, cnpgCrds, cnpgOperatorDir, playPasswordStatus, startCnpgOperator } from "./cnpgOperator";
import { failureOf, until } from "./checks";
import { type ControllerBinaries, type Holdable, type RunningController, playLoadBalancerIpam, startExternalSecrets, startWorkloads } from "./controllers";
import { type ApiServer, type Toolchain, kubeRequest, refuseWrites, startApiServer, writeKubeconfig } from "./controlPlane";
import { type DedicatedSource, startDedicatedSource } from "./dedicatedSource";
import type { Started } from "./harness";
import { type OpenBao, startOpenBao } from "./openbao";
import { cnpgImageEnv, createInstanceVolumes, realInstanceFields, waitForClusterHealthy } from "./node/cnpg";
import { findNodeBinaries, startNode } from "./node/node";
import { LOAD_BALANCER_CIDR, NODE_SITES } from "./node/sites";

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


/** The apps cluster's CNPG operator's webhooks (the infra cluster's 1.27.4 and 1.30.0 use 19443 and 19444). */
const APPS_CNPG_WEBHOOK_PORT = 19445;


/**
 * Holds CNPG's instance manager back from reporting: a ValidatingAdmissionPolicy refuses the instance's
 * ServiceAccount every write of the Cluster's status, so it may change a password in PostgreSQL but cannot record
 * it (the program's evidence), as an instance manager that cannot reach the API server.
 */
function instanceManagerHold(server: ApiServer, namespace: string, clusterName: string): Holdable {
    const serviceAccount = `system:serviceaccount:${namespace}:${clusterName}`;
    let held: { lift(): Promise<void> } | undefined;
    return {
        async pause() {
            held = await refuseWrites(server, "synergyflow-e2e-hold-instance-manager", {
                rules: [{ apiGroups: ["postgresql.cnpg.io"], resources: ["clusters/status"] }],
                expression: `request.userInfo.username != '${serviceAccount}'`,
                message: "held by the e2e: the instance manager cannot report",
                // The instance manager's own kind of write, dry-run.
                probe: () => kubeRequest(server, "PATCH", `/apis/postgresql.cnpg.io/v1/namespaces/${namespace}/clusters/${clusterName}/status?dryRun=All`, {}, "application/merge-patch+json", { "Impersonate-User": serviceAccount }),
            });
        },
        async resume() {
            await held?.lift();
            held = undefined;
        },
    };
}

/**
 * The stack whose up, refresh and destroy return without their result: after each the Automation API runs the CLI
 * three more times (`stack output` twice, `stack history` once; 0.9 s on this machine, some 40 operations a run) to
 * build a result the checks never read (an operation that fails throws; they read outputs with stack.outputs()).
 * Only calls made inside an operation skip it (AsyncLocalStorage): a check reading outputs meanwhile gets them.
 */
function withoutOperationResults(stack: Stack): Stack {
    const inOperation = new AsyncLocalStorage<true>();
    const outputs = stack.outputs.bind(stack);
    const info = stack.info.bind(stack);
    stack.outputs = () => (inOperation.getStore() ? Promise.resolve({}) : outputs());
    stack.info = (showSecrets?: boolean) => (inOperation.getStore() ? Promise.resolve(undefined) : info(showSecrets));
    for (const operation of ["up", "refresh", "destroy"] as const) {
        const run = stack[operation].bind(stack) as (options?: unknown) => Promise<unknown>;
        (stack as unknown as Record<string, unknown>)[operation] = (options?: unknown) => inOperation.run(true, () => run(options));
    }
    return stack;
}

/** dedicatedSource: start the migration's source Cluster on the apps node (test:e2e's migration checks; bench:nodes does without). */
export async function startEnvironment(toolchain: Toolchain, binaries: ControllerBinaries, work: string, started: Started, options: { dedicatedSource: boolean } = { dedicatedSource: true }) {
    const { servers, controllers, nodes } = started;
    let bao: OpenBao | undefined;
    // A server left listening by an earlier, killed run would make this one fail obscurely: say which.
    const busy = await portsInUse([23790, 23791, 16443, 23890, 23891, 26443, 18200, 19443, 19444, APPS_CNPG_WEBHOOK_PORT]);
    if (busy.length > 0) throw new Error(`127.0.0.1 port${busy.length > 1 ? "s" : ""} ${busy.join(", ")} already in use (a server left by an earlier run?): stop it (ss -ltnp shows the process) and re-run`);
    servers.push(await startApiServer("infra", toolchain, work, 23790, 16443));
    const toolchainDir = path.dirname(toolchain.bin);
    const operatorDirs = { "v1.27.4": cnpgOperatorDir(toolchainDir, "v1.27.4"), "v1.30.0": cnpgOperatorDir(toolchainDir, "v1.30.0") };
    // The real node needs the operator (its manager goes into every pod) and the scheduler; it starts (importing
    // its images) while the rest is set up.
    const nodeToolchain = findNodeBinaries(toolchainDir);
    const nodeMissing = nodeToolchain.missing;
    if (!operatorDirs["v1.27.4"]) nodeMissing.push("CloudNativePG v1.27.4");
    if (!binaries.workloads) nodeMissing.push("kube-scheduler");
    if (nodeMissing.length > 0) console.log(`no real node (missing: ${nodeMissing.join("; ")}): kwok plays the infra cluster's pods and the test CNPG's password status`);
    const nodeStarting =
        nodeMissing.length === 0
            ? startNode({ server: servers[0]!, logDir: path.join(work, "node") }).then((node) => {
                  nodes.push(node);
                  return node;
              })
            : undefined;
    // Settled here so a failure elsewhere before the await below cannot leave it unhandled.
    nodeStarting?.catch(() => undefined);
    servers.push(await startApiServer("apps", toolchain, work, 23890, 26443, NODE_SITES.apps));
    // Beside the infra node (its link to the infra node's netns waits for that one).
    const appsNodeStarting =
        nodeStarting && nodeToolchain.binaries?.images["backend"]
            ? startNode({ server: servers[1]!, site: "apps", logDir: path.join(work, "apps-node") }).then((appsNode) => {
                  nodes.push(appsNode);
                  return appsNode;
              })
            : undefined;
    appsNodeStarting?.catch(() => undefined);
    if (nodeStarting && !appsNodeStarting) console.log("no apps node (the backend image is not built: e2e/toolchain/build-node-images.sh backend): kwok plays the apps cluster's pods");
    const kubeconfig = path.join(work, "kubeconfig");
    writeKubeconfig(kubeconfig, servers);
    const [infraServer, appsServer] = servers as [ApiServer, ApiServer];
    const CLUSTER = "/apis/postgresql.cnpg.io/v1/namespaces/cnpg-system/clusters/shared-postgres";
    const POOLER = "/apis/postgresql.cnpg.io/v1/namespaces/cnpg-system/poolers/synergyflow-pgbouncer";
    const JSON_PATCH = "application/json-patch+json";

    // CRDs: CNPG's (the running operator's own when it runs, else the shared folder's) in infra, ESO's in both
    // (ESO's own when it runs); DatabaseRole (CNPG >= 1.30) from the shared folder.
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
    /** Applies CRDs (server-side, as Flux) and returns once the API server serves each (Established). */
    const applyCrds = async (server: ApiServer, crds: any[]) => {
        const crdPath = (crd: any) => `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`;
        for (const crd of crds) await kubeRequest(server, "PATCH", `${crdPath(crd)}?fieldManager=e2e&force=true`, crd, "application/apply-patch+yaml");
        for (const crd of crds) {
            await until(`CRD ${crd.metadata.name} established on ${server.name}`, async () => ((await kubeRequest(server, "GET", crdPath(crd))).status?.conditions ?? []).some((c: any) => c.type === "Established" && c.status === "True") || undefined, 30000);
        }
    };
    await Promise.all([applyCrds(infraServer, [...cnpgDefinitions, ...esoCrds]), applyCrds(appsServer, esoCrds)]);
    await kubeRequest(infraServer, "POST", "/api/v1/namespaces", { metadata: { name: "cnpg-system" } });
    await kubeRequest(infraServer, "POST", "/api/v1/namespaces", { metadata: { name: "external-secrets" } });
    await kubeRequest(appsServer, "POST", "/api/v1/namespaces", { metadata: { name: "external-secrets" } });

    // OpenBao with a token limited to the stack's prefix for the stores.
    const config = loadStackConfig(Object.fromEntries(Object.entries(YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.local.yaml"), "utf8")).config).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)])));
    const { kvMount, keyPrefix } = config.vault;
    if (binaries.bao) {
        bao = await startOpenBao(binaries.bao, work, Number(new URL(config.vault.address).port));
        started.bao = bao;
    }
    const storeToken = bao ? await bao.limitedToken(kvMount, keyPrefix) : "no-openbao";

    const node = await nodeStarting;
    if (node) console.log(`real node ${node.name} started in ${((node.timings["total"] ?? 0) / 1000).toFixed(1)} s (phases, ms: ${JSON.stringify(node.timings)})`);
    // The platform's operator, with its webhooks: every CNPG object below goes through them (with the node: its
    // manager and PgBouncer from the node's images).
    if (node) Object.assign(process.env, cnpgImageEnv(node));
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
    // The other tenants' passwords (on the node their roles log in for real; readonly_user reads the catalog).
    const tenantPasswords: Record<string, string> = {};
    if (node) {
        // One instance on a local volume, from the node's image: the platform's three 100Gi instances do not fit here.
        fixtureCluster.spec = { ...fixtureCluster.spec, instances: 1, ...realInstanceFields(node) };
        await createInstanceVolumes(infraServer, node, fixtureCluster.metadata.name, 1);
    }
    // Our three entries (the owner and the two login roles), as the platform team adds them from the preview.
    const ourEntries = fixtureCluster.spec.managed.roles.filter((r: any) => String(r.name).startsWith(config.tenant.roleName));
    const otherEntries = fixtureCluster.spec.managed.roles.filter((r: any) => !ourEntries.includes(r));
    const fluxApply = async (server: ApiServer, object: any) => kubeRequest(server, "PATCH", `${objectPath(object)}?fieldManager=kustomize-controller&force=true`, object, "application/apply-patch+yaml");
    const applyCluster = (withOurEntry: boolean) => fluxApply(infraServer, { ...fixtureCluster, spec: { ...fixtureCluster.spec, managed: { roles: withOurEntry ? [...otherEntries, ...ourEntries] : otherEntries } } });
    if (node) {
        for (const entry of otherEntries.filter((r: any) => r.passwordSecret)) {
            tenantPasswords[entry.name] = randomBytes(18).toString("base64url");
            await kubeRequest(infraServer, "POST", "/api/v1/namespaces/cnpg-system/secrets", { metadata: { name: entry.passwordSecret.name }, type: "kubernetes.io/basic-auth", stringData: { username: entry.name, password: tenantPasswords[entry.name] } });
        }
    }
    await applyCluster(false);
    for (const o of fixtureInfra.filter((o) => ["Pooler", "PodDisruptionBudget"].includes(o.kind) || (o.kind === "Secret" && !operator))) await fluxApply(infraServer, o);
    // The infra cluster's scheduler at once: the shared Cluster's instance starts (initdb) while the rest is set up.
    let infraPodsHold: RunningController | undefined;
    if (binaries.workloads) {
        const infraWorkloads = await startWorkloads(binaries.workloads, infraServer, work, 18259, node ? 0 : 3);
        infraPodsHold = infraWorkloads.find((c) => c.name.startsWith(node ? "kube-scheduler" : "kwok"));
        controllers.push(...infraWorkloads);
    }
    const schedulerStarted = Date.now();
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

    // Kept by name: the rotation checks hold each of them back in turn, the first up the infra cluster's pods.
    let eso: { infra: RunningController; apps: RunningController } | undefined;
    // What holds the infra cluster's pods back (kwok, or with the node the scheduler: infraPodsHold above), and CNPG's reporting.
    // What holds the apps cluster's new pods back from becoming Ready (kwok, or with the apps node the scheduler).
    let appsPodsHold: RunningController | undefined;
    let cnpgHold: Holdable | undefined;
    if (binaries.externalSecrets) {
        eso = { infra: startExternalSecrets(binaries.externalSecrets.binary, infraServer, work, 18081), apps: startExternalSecrets(binaries.externalSecrets.binary, appsServer, work, 18082) };
        controllers.push(eso.infra, eso.apps);
    }
    const appsNode = await appsNodeStarting;
    if (appsNode) console.log(`apps node ${appsNode.name} started in ${((appsNode.timings["total"] ?? 0) / 1000).toFixed(1)} s (phases, ms: ${JSON.stringify(appsNode.timings)})`);
    controllers.push(playLoadBalancerIpam(infraServer, LOAD_BALANCER_CIDR));
    if (binaries.workloads) {
        const appsWorkloads = await startWorkloads(binaries.workloads, appsServer, work, 18260, appsNode ? 0 : 3);
        appsPodsHold = appsWorkloads.find((c) => c.name.startsWith(appsNode ? "kube-scheduler" : "kwok"));
        controllers.push(...appsWorkloads);
    }
    // The dedicated source starts now and gets ready (healthy, seeded) while the checks before the migration's run.
    let source: DedicatedSource | undefined;
    if (options.dedicatedSource && appsNode && operatorDirs["v1.27.4"] && binaries.workloads) {
        source = await startDedicatedSource({ apps: appsServer, appsNode, operatorDir: operatorDirs["v1.27.4"], namespace: config.backend.namespace, schemas: config.tenant.schemas, work, webhookPort: APPS_CNPG_WEBHOOK_PORT, metricsPort: 18092, applyCrds });
        controllers.push(source.operator);
    }
    // Every wait the program has can be met when these run: ExternalSecrets Ready (ESO + OpenBao), the
    // bootstrap Job complete and the backend Deployment available (scheduler + kwok).
    const waitForControllers = Boolean(bao && binaries.externalSecrets && binaries.workloads);
    console.log(`waitForControllers: ${waitForControllers}`);
    const logins = loginCredentials(config.tenant);
    if (node) {
        // The instance runs once the scheduler places it: the platform as it is before our stack.
        await waitForClusterHealthy(infraServer, config.sharedCluster.namespace, config.sharedCluster.name);
        await until("the other tenants' roles reconciled in PostgreSQL", async () => {
            const reconciled = ((await kubeRequest(infraServer, "GET", CLUSTER)).status?.managedRolesStatus?.byStatus?.reconciled ?? []) as string[];
            return OTHERS.every((name: string) => reconciled.includes(name)) ? true : undefined;
        }, 120000);
        console.log(`the shared Cluster's instance is healthy and its roles reconciled ${((Date.now() - schedulerStarted) / 1000).toFixed(1)} s after the scheduler started`);
        cnpgHold = instanceManagerHold(infraServer, config.sharedCluster.namespace, config.sharedCluster.name);
    } else if (waitForControllers) {
        // PostgreSQL does not run: the test applies the login roles' passwords as CNPG's instance manager would.
        const played = playPasswordStatus(infraServer, config.sharedCluster.namespace, config.sharedCluster.name, [logins.a.roleName, logins.b.roleName]);
        controllers.push(played);
        cnpgHold = played;
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
    const nodeJs = process.execPath;
    const shim = path.join(work, "bin", "pulumi-resource-pulumi-nodejs");
    fs.mkdirSync(path.dirname(shim), { recursive: true });
    fs.writeFileSync(shim, `#!/bin/sh\nexec "${nodeJs}" "${path.join(ROOT, "node_modules/@pulumi/pulumi/cmd/dynamic-provider/index.js")}" "$@"\n`, { mode: 0o755 });
    const envVars = {
        PULUMI_BACKEND_URL: `file://${path.join(work, "state")}`,
        PULUMI_CONFIG_PASSPHRASE: "synergyflow-e2e",
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_HOME: path.join(work, "pulumi-home"),
        KUBECONFIG: kubeconfig,
        // The program sets the provider option enablePatchForce (pulumi-kubernetes >= 4.26); the plugin built
        // here is 4.25, which only knows the equivalent environment variable.
        PULUMI_K8S_ENABLE_PATCH_FORCE: "true",
        PATH: [path.dirname(shim), toolchain.bin, path.dirname(nodeJs), process.env["PATH"]].join(":"),
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
    const stack: Stack = withoutOperationResults(
        await LocalWorkspace.createOrSelectStack(
            {
                stackName: "local",
                projectName: "synergyflow-db",
                program: async () => {
                    const stackConfig = loadStackConfig(pulumi.runtime.allConfig());
                    return runSynergyflowDb(stackConfig, stackLiveReader(stackConfig), pulumi.getStack(), { credentials });
                },
            },
            { workDir: project, pulumiCommand, envVars },
        ),
    );
    if (waitForControllers) await stack.setConfig("synergyflow-db:waitForControllers", { value: "true" });
    // The bootstrap Job's psql: the node's local image (the stack file names the platform's); on the apps node the
    // backend's and wait-for-db's.
    if (node) await stack.setConfig("synergyflow-db:pooler.bootstrapImage", { value: node.images["psql"]! }, true);
    if (appsNode) {
        await stack.setConfig("synergyflow-db:backend.image", { value: appsNode.images["backend"]! }, true);
        await stack.setConfig("synergyflow-db:backend.waitForDbImage", { value: appsNode.images["psql"]! }, true);
    }
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
    return { bao, source, applyCrds, kubeconfig, infraServer, appsServer, CLUSTER, POOLER, JSON_PATCH, toolchainDir, operatorDirs, config, kvMount, keyPrefix, storeToken, operator, node, tenantPasswords, fixtureInfra, fixtureCluster, ourEntries, otherEntries, fluxApply, applyCluster, OTHERS, liveRoles, othersOf, othersBefore, fluxObjects, fluxBefore, eso, infraPodsHold, appsPodsHold, appsNode, cnpgHold, waitForControllers, logins, generated, credentials, envVars, pulumiCommand, output, engineLog, onOutput, project, stack, ours, bootstrapJob, appsConnectors, previewError };
}

export type E2eEnvironment = Awaited<ReturnType<typeof startEnvironment>>;

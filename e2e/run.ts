// `npm run test:e2e`: the real Pulumi engine (CLI built from Go modules, Automation API with the real program as
// an inline program) on the `local` stack (Pulumi.local.yaml) against two real kube-apiservers (infra, apps)
// holding the prod platform as the fixtures show it (fixtures/live/prod, applied as Flux applies it), with
// OpenBao and External Secrets v0.16.2 when they are built (e2e/toolchain/). The random and Vault provider
// plugins cannot be built here, so the test's credential factory generates each password and writes it into
// OpenBao at the key the program names (HTTP API); OpenBao -> ESO -> Secret then runs for real, and everything
// else is the program's own code path. Prints one line per check and a closing "N passed, M failed".
import * as fs from "node:fs";
import * as path from "node:path";
import * as k8s from "@pulumi/kubernetes";
import { cnpgCrds, playPasswordStatus, startCnpgOperator } from "./cnpgOperator";
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import { CREDENTIALS_ANNOTATION, credentialsVersion } from "../components/model/rotation";
import { ClusterRolePatch } from "../components/resources/clusterRolePatch";
import { applicationRoleFields } from "../components/model/roles";
import { startEnvironment } from "./environment";
import { migrationChecks } from "./migration";
import { rotationChecks } from "./rotation";
import { dataPlaneChecks } from "./dataPlane";
import { appsNodeChecks } from "./appsNode";
import { type ApiServer, kubeRequest } from "./controlPlane";
import { assert, check, results, skip, skipped, until } from "./checks";
import { stepTimer } from "./node/smokeRun";
import { withHarness } from "./harness";

const ROOT = path.join(__dirname, "..");

async function main(): Promise<number> {
    const startedAt = Date.now();
    const end = await withHarness("test:e2e", async ({ toolchain, binaries, work, started }) => {
        const { servers, controllers } = started;
        const env = await startEnvironment(toolchain, binaries, work, started);
        console.log(`environment ready ${((Date.now() - startedAt) / 1000).toFixed(1)} s after the start`);
        const bao = started.bao;
        const { infraServer, appsServer, CLUSTER, POOLER, JSON_PATCH, operatorDirs, config, kvMount, keyPrefix, storeToken, applyCluster, othersOf, othersBefore, fluxObjects, fluxBefore, eso, infraPodsHold, appsPodsHold, appsNode, cnpgHold, waitForControllers, logins, generated, envVars, pulumiCommand, output, onOutput, project, stack, ours, bootstrapJob, appsConnectors, previewError } = env;
        let operator = env.operator;
        // With the real node: what up, the rotations and destroy did inside PostgreSQL and PgBouncer.
        const promtool = path.join(toolchain.bin, "promtool");
        const dataPlane =
            env.node && bao
                ? dataPlaneChecks({ infra: infraServer, apps: appsServer, node: env.node, appsNode, stack, bao, config, ourEntries: env.ourEntries, otherEntries: env.otherEntries, tenantPasswords: env.tenantPasswords, applyClusterRoles: (roles) => env.fluxApply(infraServer, { ...env.fixtureCluster, spec: { ...env.fixtureCluster.spec, managed: { roles } } }), promtool: fs.existsSync(promtool) ? promtool : undefined })
                : undefined;
        if (dataPlane) await check("real instance: the other tenants' roles are in PostgreSQL before our stack (their state is compared after up, the rotations and destroy)", () => dataPlane.recordOthers());
        else skip("the checks inside PostgreSQL and PgBouncer on the real node", env.node ? "OpenBao not built" : "the node's toolchain is not built (e2e/toolchain/build-all.sh)");

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
            // The bootstrap made slow (the infra cluster's pods held back: kwok, or the scheduler before the real
            // node, so its Job pod does not finish): nothing on the apps side that connects (the backend's Secret,
            // the Deployment, a Job) may appear before it completes.
            infraPodsHold?.pause();
            const running = stack.up({ onOutput });
            let heldFor = 0;
            if (waitForControllers && infraPodsHold) {
                try {
                    await until("the bootstrap Job", bootstrapJob, 240000);
                    const heldFrom = Date.now();
                    while (Date.now() - heldFrom < 5000) {
                        const appsSide = await appsConnectors();
                        assert(appsSide.length === 0, `created on the apps side before the bootstrap completed: ${appsSide.join(", ")}`);
                        await new Promise((r) => setTimeout(r, 500));
                    }
                    heldFor = Date.now() - heldFrom;
                } finally {
                    infraPodsHold.resume();
                }
            }
            // A failed up throws.
            await running;
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
        const appsChecks = appsNode && env.node ? appsNodeChecks({ apps: appsServer, infra: infraServer, appsNode, infraNode: env.node, config }) : undefined;
        if (appsChecks) await appsChecks.afterUp();
        else skip("the backend and wait-for-db on the apps node", env.node ? "the backend image is not built (e2e/toolchain/build-node-images.sh backend)" : "no real node");
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
                // Cilium's LB IPAM (played by controllers.ts) assigned the requested address.
                assert(service.status?.loadBalancer?.ingress?.[0]?.ip === config.pooler.exposure.loadBalancerIP, `status: ${JSON.stringify(service.status)}`);
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
        await dataPlane?.afterUp();

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
                    await stack.up({ onOutput });
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
        if (waitForControllers && bao && eso && cnpgHold && appsPodsHold) {
            const load = dataPlane && appsNode ? dataPlane.load : undefined;
            if (dataPlane && !load) skip("the rotations under load from PgJDBC + HikariCP clients", "the backend image is not built (e2e/toolchain/build-node-images.sh backend)");
            await rotationChecks({ stack, output, infra: infraServer, apps: appsServer, bao, config, onOutput, esoInfra: eso.infra, esoApps: eso.apps, cnpg: cnpgHold, appsPodsHold, load, traffic: appsChecks });
            await dataPlane?.afterRotations();
        }
        else skip("three rotations in a row, and one interrupted after each step", "OpenBao, External Secrets, kube-scheduler or kwok not built");

        // The migration's Jobs run on the apps node against the dedicated source Cluster there.
        if (waitForControllers && env.source && appsNode && appsChecks && dataPlane) await migrationChecks({ stack, apps: appsServer, config, onOutput, output, previewError, credentials: generated, source: env.source, images: { backend: appsNode.images["backend"]!, psql: appsNode.images["psql"]! }, backend: appsChecks, shared: dataPlane.postgres });
        else skip("the migration's phases against the dedicated source Cluster", "the apps node, CNPG 1.27.4, OpenBao or External Secrets not built");

        // Both edits at once: one refresh must report each, one up repair each.
        const configMaps = async () => ((await kubeRequest(appsServer, "GET", "/api/v1/namespaces/synergyflow/configmaps")).items as any[]).filter((c) => c.data?.["SPRING_DATASOURCE_URL"]);
        await check("drift: a changed datasource ConfigMap value and a changed Pooler parameter are reported by refresh and repaired by up", async () => {
            const cm = (await configMaps())[0]!;
            await kubeRequest(appsServer, "PATCH", `/api/v1/namespaces/synergyflow/configmaps/${cm.metadata.name}`, [{ op: "replace", path: "/data/SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE", value: "99" }], JSON_PATCH);
            await kubeRequest(infraServer, "PATCH", POOLER, [{ op: "replace", path: "/spec/pgbouncer/parameters/max_client_conn", value: "999" }], JSON_PATCH);
            const repaired = async () => ({
                configMap: (await configMaps())[0].data["SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE"] === "20",
                pooler: (await kubeRequest(infraServer, "GET", POOLER)).spec.pgbouncer.parameters.max_client_conn === "200",
            });
            const edited = await repaired();
            assert(!edited.configMap && !edited.pooler, `the out-of-band edits did not take: ${JSON.stringify(edited)}`);
            const from = output.length;
            const { timed } = stepTimer("     ");
            await timed("refresh", () => stack.refresh({ onOutput }));
            const refreshed = output.slice(from).join("");
            for (const kind of ["ConfigMap", "Pooler"]) assert(new RegExp(`:${kind} \\S+ updated`).test(refreshed), `refresh did not report the ${kind}'s drift: ${refreshed.slice(-1500)}`);
            const preview = await timed("preview", () => stack.preview({ onOutput }));
            assert((preview.changeSummary["update"] ?? 0) + (preview.changeSummary["replace"] ?? 0) >= 2, `preview after refresh does not plan both repairs: ${JSON.stringify(preview.changeSummary)}`);
            await timed("up", () => stack.up({ onOutput }));
            const after = await repaired();
            assert(after.configMap && after.pooler, `up did not repair both: ${JSON.stringify(after)}`);
        });

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
        await dataPlane?.afterDestroy(false);

        if (bao && binaries.externalSecrets) {
            await check("destroy (retain): both login roles' Secrets stay with Vault's values; the next preview plans the stack again beside them and says it adopts them", async () => {
                await stack.setConfig("synergyflow-db:tenant.roleReclaimPolicy", { value: "retain" }, true);
                try {
                    const { timed } = stepTimer("     ");
                    await timed("up", () => stack.up({ onOutput }));
                    const vault = { a: (await bao!.readKv(kvMount, vaultKeyOf("a")))!, b: (await bao!.readKv(kvMount, vaultKeyOf("b")))! };
                    for (const slot of ["a", "b"] as const) await until(`login role ${slot}'s Secret`, () => roleSecret(slot));
                    await timed("destroy", () => stack.destroy({ onOutput }));
                    await new Promise((r) => setTimeout(r, 3000));
                    for (const slot of ["a", "b"] as const) assert(decode(await roleSecret(slot), "password") === vault[slot].data["password"], `login role ${slot}'s kept Secret differs from Vault's`);
                    const from = output.length;
                    const preview = await timed("preview", () => stack.preview({ onOutput }));
                    assert((preview.changeSummary["create"] ?? 0) > 10, "the next preview does not plan the stack again over the kept Secrets");
                    assert(output.slice(from).join("").includes(`adopting Secret cnpg-system/${logins.a.passwordSecretName}, kept by an earlier destroy`), "the preview does not say it adopts the kept Secrets");
                } finally {
                    await stack.setConfig("synergyflow-db:tenant.roleReclaimPolicy", { value: "delete" }, true);
                }
            });
            await dataPlane?.afterDestroy(true);
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
            await env.applyCrds(infraServer, cnpgCrds(operatorDirs["v1.30.0"]));
            // Updated CRDs stay Established while the API server swaps their schemas in.
            await new Promise((r) => setTimeout(r, 2000));
            operator = await startCnpgOperator(operatorDirs["v1.30.0"], "v1.30.0", infraServer, work, 19444, 18091);
            controllers.push(operator);
        } else skip("databaseRole under the CNPG 1.30.0 operator", "operator v1.30.0 not built (the part runs against the CRD's schema only)");
        await applyCluster(false);
        // The node's instance runs 1.27.4's instance manager, which knows no DatabaseRole: their status is played.
        if (env.node && waitForControllers) controllers.push(playPasswordStatus(infraServer, config.sharedCluster.namespace, config.sharedCluster.name, [logins.a.roleName, logins.b.roleName]));
        // Nor does it create them in PostgreSQL: the backend's wait-for-db on the apps node could never log in, so
        // this part does not wait on what connects (the Deployment, the bootstrap Job); it shows the objects.
        if (appsNode) await stack.setConfig("synergyflow-db:waitForControllers", { value: "false" });
        await stack.setConfig("synergyflow-db:sharedCluster.roleStrategy", { value: "databaseRole" }, true);
        await stack.setConfig("synergyflow-db:sharedCluster.operatorVersion", { value: "1.30" }, true);
        const DATABASE_ROLES = "/apis/postgresql.cnpg.io/v1/namespaces/cnpg-system/databaseroles";
        await check("databaseRole: up creates the three DatabaseRoles the API server accepts (CEL included); the Cluster is untouched; a refresh finds no drift", async () => {
            const clusterBefore = JSON.stringify((await kubeRequest(infraServer, "GET", CLUSTER)).spec);
            await stack.up({ onOutput });
            const roles = ((await kubeRequest(infraServer, "GET", DATABASE_ROLES)).items as any[]).map((r) => `${r.spec.name}:${r.spec.login}:${r.spec.connectionLimit}`);
            const limit = config.tenant.connectionLimit;
            assert(JSON.stringify(roles.sort()) === JSON.stringify([`${config.tenant.roleName}:false:-1`, `${logins.a.roleName}:true:${limit}`, `${logins.b.roleName}:true:${limit}`]), `DatabaseRoles: ${roles.join(", ")}`);
            assert(JSON.stringify((await kubeRequest(infraServer, "GET", CLUSTER)).spec) === clusterBefore, "the shared Cluster changed");
            // What CNPG's webhook defaults (a connectionLimit it drops and fills back as -1) reads back unchanged.
            await stack.up({ refresh: true, expectNoChanges: true, onOutput });
        });
        await check("databaseRole: destroy deletes them; the other roles are byte-identical", async () => {
            await stack.destroy({ onOutput });
            assert(((await kubeRequest(infraServer, "GET", DATABASE_ROLES)).items as unknown[]).length === 0, "DatabaseRoles left behind");
            assert((await othersOf()) === othersBefore, "another tenant's role entry changed");
        });
    });
    if (!end) return 0;
    if (end.error !== undefined) {
        console.error(end.error);
        results.push({ name: "the run", ok: false, detail: String(end.error) });
    }
    if (end.nodesRan) {
        await check("the host is as before the run: sysctls, links, network namespaces, mounts, cgroups, nftables (DESIGN §7)", () => {
            assert(end.nodeProblems.length === 0, `the node's stop left: ${end.nodeProblems.join("; ")}`);
            assert(end.hostDiff.length === 0, `the host changed:\n${end.hostDiff.join("\n")}`);
        });
    }
    const failed = results.filter((r) => !r.ok).length;
    console.log(`\ne2e took ${Math.round((Date.now() - startedAt) / 1000)} s; skipped by name: ${skipped.length ? skipped.join("; ") : "none"}`);
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

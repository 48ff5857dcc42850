// The checks only a real node can make (e2e/node): what our stack's `up`, rotations and `destroy` did inside
// PostgreSQL under CNPG's instance manager and inside the Pooler's PgBouncer. Run by run.ts when the node runs.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Stack } from "@pulumi/pulumi/automation";
import YAML from "yaml";
import { reportedSearchPath } from "../components/model/bootstrapSql";
import { SERVER_CA_DIR } from "../components/model/jdbc";
import type { StackConfig } from "../components/model/config";
import { poolerAlertRules } from "../components/model/poolerAlerts";
import { CREDENTIAL_SLOTS, type CredentialSlot, POD_CREDENTIALS_ANNOTATION, loginCredentials, loginRoleOf } from "../components/model/rotation";
import { assert, check } from "./checks";
import { type ApiServer, kubeRequest } from "./controlPlane";
import { podsSummary } from "./node/cnpg";
import { REAL_NODE_LABEL, type RunningNode } from "./node/node";
import type { RolloutLoad } from "./rotation";
import type { OpenBao } from "./openbao";
import { type ManagedRoleEntry, type PostgresOnNode, declaredRoleLine, postgresOnNode, scrapeSamples } from "./postgres";

export interface DataPlaneContext {
    infra: ApiServer;
    apps: ApiServer;
    node: RunningNode;
    /** The apps cluster's node: where the load clients run (from the apps side, as the backend's pods). */
    appsNode?: RunningNode;
    stack: Stack;
    bao: OpenBao;
    config: StackConfig;
    /** Our three entries and the other tenants' (the Cluster's spec.managed.roles). */
    ourEntries: ManagedRoleEntry[];
    otherEntries: ManagedRoleEntry[];
    /** The other tenants' passwords (readonly_user's reads the catalog). */
    tenantPasswords: Record<string, string>;
    /** Applies the shared Cluster as Flux does (its whole manifest) with these role entries. */
    applyClusterRoles(roles: ManagedRoleEntry[]): Promise<unknown>;
    promtool?: string;
}

/** The namespace the test creates on the apps cluster for its load clients (never one of the platform's). */
const CLIENTS_NAMESPACE = "e2e-load-clients";
/** Keeps a stopped load client's pod (and its termination message) until the test has read it. */
const RESULT_FINALIZER = "e2e.synergyflow-db/read-result";

/**
 * Clients of the backend's kind on the apps node (e2e/backend's `load`: PgJDBC + HikariCP), each configured as a
 * new pod of the backend's rollout would be: the datasource ConfigMap's variables (the emitted JDBC URL, through
 * the Pooler's load-balancer address, verify-ca), the CA ConfigMap at the path the URL names, the backend's
 * credentials Secret as it is when the client starts. Each runs until the next rollout stops it (SIGTERM: it
 * reports and exits; a finalizer keeps the pod until its report is read), and replaces its connections every 5 s,
 * so it keeps logging in through PgBouncer while the other login role's password changes.
 */
export function rolloutLoad(ctx: DataPlaneContext, threads = 8): RolloutLoad {
    const { apps, config } = ctx;
    const node = ctx.appsNode;
    const image = node?.images["backend"];
    const ns = config.backend.namespace;
    const clients: string[] = [];
    const reports: Record<string, any> = {};
    const path = (kind: string, name = "") => `/api/v1/namespaces/${CLIENTS_NAMESPACE}/${kind}${name ? `/${name}` : ""}`;
    /** Stops a client as a rollout stops a pod (SIGTERM), reads its report, lets the pod go. */
    const stop = async (name: string) => {
        await kubeRequest(apps, "DELETE", path("pods", name));
        const started = Date.now();
        for (;;) {
            const ended = (await kubeRequest(apps, "GET", path("pods", name))).status?.containerStatuses?.[0]?.state?.terminated;
            if (ended) {
                reports[name] = { exitCode: ended.exitCode, ...JSON.parse(ended.message || "{}") };
                break;
            }
            assert(Date.now() - started < 60000, `load client ${name} has not ended: ${await podsSummary(apps, CLIENTS_NAMESPACE)}`);
            await new Promise((r) => setTimeout(r, 500));
        }
        await kubeRequest(apps, "PATCH", path("pods", name), { metadata: { finalizers: null } }, "application/merge-patch+json");
    };
    const ensureNamespace = async () => {
        if (clients.length > 0) return;
        await kubeRequest(apps, "POST", "/api/v1/namespaces", { metadata: { name: CLIENTS_NAMESPACE } });
        // A pod is refused until the namespace's default ServiceAccount exists.
        for (let i = 0; i < 100 && !(await kubeRequest(apps, "GET", `/api/v1/namespaces/${CLIENTS_NAMESPACE}/serviceaccounts/default`).catch(() => undefined)); i++) await new Promise((r) => setTimeout(r, 100));
    };
    return {
        async rollOut() {
            assert(node && image, "no apps node with the backend image (e2e/toolchain/build-node-images.sh backend)");
            await ensureNamespace();
            const backend = await kubeRequest(apps, "GET", `/apis/apps/v1/namespaces/${ns}/deployments/${config.backend.deploymentName}`);
            const podSpec = backend.spec.template.spec;
            const datasource = await kubeRequest(apps, "GET", `/api/v1/namespaces/${ns}/configmaps/${podSpec.containers[0].envFrom[0].configMapRef.name}`);
            const ca = await kubeRequest(apps, "GET", `/api/v1/namespaces/${ns}/configmaps/${(podSpec.volumes as any[]).find((v) => v.name === "server-ca").configMap.name}`);
            const secret = await kubeRequest(apps, "GET", `/api/v1/namespaces/${ns}/secrets/${config.backend.credentialsSecretName}`);
            const name = `load-${clients.length}`;
            await kubeRequest(apps, "POST", path("configmaps"), { metadata: { name }, data: { "ca.crt": ca.data["ca.crt"] } });
            await kubeRequest(apps, "POST", path("secrets"), { metadata: { name }, data: { DB_USERNAME: secret.data[config.backend.usernameEnv], DB_PASSWORD: secret.data[config.backend.passwordEnv] } });
            await kubeRequest(apps, "POST", path("pods"), {
                metadata: { name, finalizers: [RESULT_FINALIZER] },
                spec: {
                    restartPolicy: "Never",
                    nodeSelector: { [REAL_NODE_LABEL]: "true" },
                    automountServiceAccountToken: false,
                    securityContext: { runAsUser: 10001, runAsGroup: 10001, runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
                    containers: [
                        {
                            name: "load",
                            image,
                            imagePullPolicy: "Never",
                            args: ["load"],
                            env: [
                                ...Object.entries(datasource.data as Record<string, string>).map(([k, value]) => ({ name: k, value })),
                                ...["DB_USERNAME", "DB_PASSWORD"].map((k) => ({ name: k, valueFrom: { secretKeyRef: { name, key: k } } })),
                                // A bound, should the test never stop it.
                                { name: "LOAD_SECONDS", value: "600" },
                                { name: "LOAD_THREADS", value: String(threads) },
                                { name: "LOAD_EVICT_SECONDS", value: "5" },
                            ],
                            securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
                            volumeMounts: [{ name: "tmp", mountPath: "/tmp" }, { name: "server-ca", mountPath: SERVER_CA_DIR, readOnly: true }],
                        },
                    ],
                    volumes: [{ name: "tmp", emptyDir: {} }, { name: "server-ca", configMap: { name } }],
                },
            });
            // Ready: its pool has logged in (a JVM takes a few seconds to start).
            const started = Date.now();
            while (!((await kubeRequest(apps, "GET", path("pods", name))).status?.containerStatuses?.[0]?.state?.running && node!.podLogs(CLIENTS_NAMESPACE, name, "load").includes("threads,"))) {
                assert(Date.now() - started < 60000, `load client ${name} did not start: ${await podsSummary(apps, CLIENTS_NAMESPACE)}`);
                await new Promise((r) => setTimeout(r, 500));
            }
            clients.push(name);
            if (clients.length > 1) await stop(clients[clients.length - 2]!);
        },
        async finish() {
            await stop(clients[clients.length - 1]!);
            await kubeRequest(apps, "DELETE", `/api/v1/namespaces/${CLIENTS_NAMESPACE}`).catch(() => undefined);
            const lines = Object.entries(reports).map(([name, r]) => `${name}: ${r.transactions} transactions as ${Object.keys(r.transactionsByRole ?? {}).join("+") || "-"} in ${r.seconds} s, ${r.failedTransactions} failed, ${r.connectionAttempts} logins, ${r.failedConnections} failed (+${r.setupFailures} at setup), ${r.failedBorrows} failed borrows`);
            for (const [name, r] of Object.entries(reports)) {
                // Stopped by SIGTERM, the JVM exits 143 once its report is written.
                assert(r.stoppedBy === "signal" && r.transactions > 0, `${name} did not run until stopped (exit ${r.exitCode}): ${JSON.stringify(r).slice(0, 800)}`);
                assert(r.failedTransactions === 0 && r.failedConnections === 0 && r.setupFailures === 0 && r.failedBorrows === 0, `${name} saw failures: ${JSON.stringify(r).slice(0, 1200)}`);
            }
            return lines.join("; ");
        },
    };
}

export interface DataPlaneChecks {
    /** The shared Cluster's PostgreSQL, read from psql pods on the infra node. */
    postgres: PostgresOnNode;
    /** Before our stack: the other tenants' roles in PostgreSQL, verifiers included. */
    recordOthers(): Promise<void>;
    /** Load clients for the rotations (rotation.ts). */
    load: RolloutLoad;
    afterUp(): Promise<void>;
    afterRotations(): Promise<void>;
    afterDestroy(retained: boolean): Promise<void>;
}

export function dataPlaneChecks(ctx: DataPlaneContext): DataPlaneChecks {
    const { infra, apps, config, bao, stack } = ctx;
    const { namespace, name: clusterName } = config.sharedCluster;
    const pg: PostgresOnNode = postgresOnNode(infra, ctx.node, namespace, clusterName, { user: "readonly_user", password: ctx.tenantPasswords["readonly_user"] ?? "" });
    const logins = loginCredentials(config.tenant);
    const ourNames = ctx.ourEntries.map((e) => e.name);
    const otherNames = ctx.otherEntries.map((e) => e.name);
    const vaultPassword = async (slot: CredentialSlot) => (await bao.readKv(config.vault.kvMount, `${config.vault.keyPrefix}/${logins[slot].vaultName}`))!.data["password"] as string;
    let othersBefore: string[] = [];
    const othersUnchanged = async (when: string) => {
        const now = await pg.rolesInPostgres(otherNames, true);
        assert(JSON.stringify(now) === JSON.stringify(othersBefore), `another tenant's role changed in PostgreSQL ${when}:\nbefore ${othersBefore.join("\n       ")}\nnow    ${now.join("\n       ")}`);
    };
    /** Each login role's session in the database, with the password OpenBao holds: who it is and its search_path. */
    // Each psql is a pod of its own (a few seconds to start): the independent ones run side by side.
    const sessions = () =>
        Promise.all(
            CREDENTIAL_SLOTS.map(async (slot) => {
                const out = await pg.psql(logins[slot].roleName, await vaultPassword(slot), config.tenant.databaseName, "select 'session ' || current_user || ' ' || session_user || ' ' || current_setting('search_path')");
                const want = `session ${config.tenant.roleName} ${logins[slot].roleName} ${reportedSearchPath(config.tenant.schemas)}`;
                assert(out.includes(want), `login role ${slot}: expected "${want}", PostgreSQL says: ${out.trim()}`);
                return out.trim();
            }),
        );

    return {
        postgres: pg,
        load: rolloutLoad(ctx),
        async recordOthers() {
            othersBefore = await pg.rolesInPostgres(otherNames, true);
            assert(othersBefore.length === otherNames.length, `the other tenants' roles are not all in PostgreSQL: ${othersBefore.join("; ")}`);
        },

        async afterUp() {
            await check("real instance: PostgreSQL holds the owner and both login roles exactly as declared (attributes, limit, membership, a SCRAM verifier); the other tenants' roles are unchanged in PostgreSQL", async () => {
                const [roles] = await Promise.all([pg.rolesInPostgres(ourNames), othersUnchanged("after up")]);
                const expected = ctx.ourEntries.map(declaredRoleLine).sort();
                assert(JSON.stringify(roles) === JSON.stringify(expected), `pg_authid:\n  ${roles.join("\n  ")}\ndeclared:\n  ${expected.join("\n  ")}`);
                console.log(`     pg_authid: ${roles.join("; ")}`);
            });
            await check("real instance: the bootstrap Job ran psql for real; the database and its schemas belong to the owner; each login role logs in with OpenBao's password as the owner with the tenant's search_path", async () => {
                const jobs = ((await kubeRequest(infra, "GET", `/apis/batch/v1/namespaces/${namespace}/jobs`)).items as any[]).filter((j) => j.metadata.name.startsWith(config.pooler.bootstrapJobName));
                assert(jobs.length === 1 && jobs[0].status?.succeeded === 1, `bootstrap Jobs: ${JSON.stringify(jobs.map((j) => [j.metadata.name, j.status]))}`);
                const pods = ((await kubeRequest(infra, "GET", `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(`job-name=${jobs[0].metadata.name}`)}`)).items as any[]).filter((p) => p.status?.phase === "Succeeded");
                assert(pods.length === 1 && pods[0].spec.nodeName === ctx.node.name, `the bootstrap's succeeded pod: ${pods.map((p) => `${p.metadata.name} on ${p.spec.nodeName}`).join(", ") || "none"}`);
                const log = ctx.node.podLogs(namespace, pods[0].metadata.name, "bootstrap-sql");
                assert(/CREATE SCHEMA|GRANT|ALTER/.test(log), `psql's output has no command tags: ${log.slice(0, 600)}`);
                const schemaList = config.tenant.schemas.map((s) => `'${s}'`).join(",");
                const [owned, seen] = await Promise.all([
                    pg.psql(
                        logins.a.roleName,
                        await vaultPassword("a"),
                        config.tenant.databaseName,
                        `select 'database ' || datname || ' ' || pg_get_userbyid(datdba) from pg_database where datname = current_database() union all select * from (select 'schema ' || nspname || ' ' || pg_get_userbyid(nspowner) from pg_namespace where nspname in (${schemaList}) order by 1) s`,
                    ),
                    sessions(),
                ]);
                const expected = [`database ${config.tenant.databaseName} ${config.tenant.roleName}`, ...[...config.tenant.schemas].sort().map((s) => `schema ${s} ${config.tenant.roleName}`)];
                for (const line of expected) assert(owned.includes(line), `missing "${line}" in:\n${owned}`);
                console.log(`     bootstrap psql (${log.split("\n").filter(Boolean).length} lines of output, pod ${pods[0].metadata.name}); ${config.tenant.schemas.length} schemas owned by ${config.tenant.roleName}; ${seen.join("; ")}`);
            });
            const alerts = ctx.promtool ? "; the alert rules, evaluated by promtool on the live scrape, stay silent and count every pod" : "";
            await check(`real PgBouncer: through the Pooler at the stack's address with sslmode=verify-ca against the CA the program delivered, the login role in use runs the application's kind of transaction; the exporter's SHOW POOLS keeps each pod within max_db_connections${alerts}`, async () => {
                const host = (await stack.outputs())["poolerHost"]?.value as string;
                // The CA the backend's pods mount (the namespace's kube-root-ca.crt also has a ca.crt: the API server's).
                const backend = await kubeRequest(apps, "GET", `/apis/apps/v1/namespaces/${config.backend.namespace}/deployments/${config.backend.deploymentName}`);
                const caMapName = (backend.spec.template.spec.volumes as any[]).find((v) => v.name === "server-ca")?.configMap?.name;
                const caMap = await kubeRequest(apps, "GET", `/api/v1/namespaces/${config.backend.namespace}/configmaps/${caMapName}`);
                const podsRole = loginRoleOf(backend.spec.template.metadata.annotations?.[POD_CREDENTIALS_ANNOTATION]);
                const inUse = CREDENTIAL_SLOTS.find((slot) => logins[slot].roleName === podsRole);
                assert(inUse, `the backend's pods name no login role of ours: ${podsRole}`);
                const schema = config.tenant.schemas[0]!;
                const out = await pg.psqlThrough(
                    host,
                    caMap.data["ca.crt"],
                    logins[inUse].roleName,
                    await vaultPassword(inUse),
                    config.tenant.databaseName,
                    `begin; create table if not exists ${schema}.e2e_probe (id bigserial primary key, note text not null, at timestamptz not null default now()); insert into ${schema}.e2e_probe (note) values ('through the pooler'); select 'rows ' || count(*) || ' owner ' || coalesce((select tableowner from pg_tables where schemaname = '${schema}' and tablename = 'e2e_probe'), 'none') from ${schema}.e2e_probe; commit;`,
                );
                // sslmode=verify-ca: psql connected only over TLS with a certificate the delivered CA signed.
                assert(new RegExp(`rows [1-9]\\d* owner ${config.tenant.roleName}`).test(out), `the transaction through ${host}: ${out.trim()}`);
                const scrapes = await pg.poolerScrapes(config.pooler.name);
                assert(scrapes.length === config.pooler.instances, `${scrapes.length} of ${config.pooler.instances} Pooler pods answer on 9127`);
                const maxPerPod = Number(config.pooler.parameters["max_db_connections"]);
                const pool = `database="${config.tenant.databaseName}"`;
                const perPod = scrapes.map(({ pod, metrics }) => {
                    const samples = scrapeSamples(metrics, "cnpg_pgbouncer_pools_sv_", { namespace, pod }).filter((s) => s.series.includes(pool));
                    const collectionError = scrapeSamples(metrics, "cnpg_pgbouncer_last_collection_error", { namespace, pod })[0]?.value;
                    return { pod, collectionError, servers: samples.reduce((sum, s) => sum + s.value, 0) };
                });
                for (const p of perPod) {
                    assert(p.collectionError === 0, `${p.pod}: cnpg_pgbouncer_last_collection_error ${p.collectionError}`);
                    assert(p.servers <= maxPerPod, `${p.pod} holds ${p.servers} server connections to ${config.tenant.databaseName}, more than max_db_connections ${maxPerPod}`);
                }
                assert(perPod.some((p) => p.servers > 0), "no Pooler pod shows a server connection for the transaction just run");
                console.log(`     through ${host}: ${out.trim().split("\n").find((l) => l.startsWith("rows"))}; SHOW POOLS server connections per pod: ${perPod.map((p) => `${p.pod}=${p.servers}`).join(", ")} (max_db_connections ${maxPerPod})`);
                if (ctx.promtool) console.log(`     promtool on the live scrape: ${alertsOnLiveScrape(ctx.promtool, config, scrapes)}`);
            });
        },

        async afterRotations() {
            await check("real instance after the rotations: both login roles log in with OpenBao's current password (the instance manager applied each); the other tenants' roles are unchanged in PostgreSQL", async () => {
                const [seen] = await Promise.all([sessions(), othersUnchanged("after the rotations")]);
                console.log(`     ${seen.join("; ")}`);
            });
        },

        async afterDestroy(retained: boolean) {
            if (!retained) {
                await check("real instance after destroy (delete): the database is dropped in PostgreSQL; our roles, declared by the platform (roleStrategy external), stay until its owner marks them absent, then the instance manager drops all three; the other tenants' roles are unchanged", async () => {
                    const [exists, kept] = await Promise.all([pg.databaseExists(config.tenant.databaseName), pg.rolesInPostgres(ourNames)]);
                    assert(!exists, `database ${config.tenant.databaseName} still exists`);
                    assert(kept.length === 3, `the platform's declared roles: ${kept.join("; ")}`);
                    // The platform team's edit, as Flux applies it: our entries ensure: absent.
                    const roles = [...ctx.otherEntries, ...ctx.ourEntries];
                    await ctx.applyClusterRoles(roles.map((r) => (ourNames.includes(r.name) ? { ...r, ensure: "absent" } : r)));
                    const started = Date.now();
                    while ((await pg.rolesInPostgres(ourNames)).length > 0) {
                        assert(Date.now() - started < 90000, `our roles are still in PostgreSQL 90 s after ensure: absent: ${(await pg.rolesInPostgres(ourNames)).join("; ")}`);
                        await new Promise((r) => setTimeout(r, 500));
                    }
                    await othersUnchanged("after destroy");
                    // Declared present again for the next checks, as the platform team adds them back.
                    await ctx.applyClusterRoles(roles);
                    console.log(`     dropped in PostgreSQL ${((Date.now() - started) / 1000).toFixed(1)} s after ensure: absent`);
                });
            } else {
                await check("real instance after destroy (retain): each login role still logs in with OpenBao's password; the other tenants' roles are unchanged", async () => {
                    await Promise.all([
                        ...CREDENTIAL_SLOTS.map(async (slot) => {
                            const out = await pg.psql(logins[slot].roleName, await vaultPassword(slot), "postgres", "select 'session ' || session_user");
                            assert(out.includes(`session ${logins[slot].roleName}`), `login role ${slot}: ${out.trim()}`);
                        }),
                        othersUnchanged("after destroy (retain)"),
                    ]);
                });
            }
        },
    };
}

/**
 * The program's alert rules evaluated by promtool on the live scrape (the labels a PodMonitor adds, held constant
 * for 15 minutes): with the Pooler healthy and lightly used no alert may fire, and the pods-up count in the
 * unavailable-pods rule must see every pod (its selector matches the exporter's real series).
 */
function alertsOnLiveScrape(promtool: string, config: StackConfig, scrapes: { pod: string; metrics: string }[]): string {
    const spec = poolerAlertRules(config);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "synergyflow-live-alerts-"));
    try {
        fs.writeFileSync(path.join(dir, "rules.yaml"), YAML.stringify(spec));
        const series = scrapes.flatMap(({ pod, metrics }) => scrapeSamples(metrics, "cnpg_pgbouncer_", { namespace: config.sharedCluster.namespace, pod })).map((s) => ({ series: s.series, values: `${s.value}x15` }));
        const rules = spec.groups.flatMap((g) => g.rules);
        const unavailable = rules.find((r) => r.alert === "SynergyflowPoolerPodsUnavailable");
        assert(unavailable, "no SynergyflowPoolerPodsUnavailable rule");
        // Its expression without the comparison: the count of pods up, as the rule computes it.
        const upCount = unavailable!.expr.slice(0, unavailable!.expr.lastIndexOf(" < "));
        const test = {
            rule_files: ["rules.yaml"],
            evaluation_interval: "1m",
            tests: [
                {
                    interval: "1m",
                    input_series: series,
                    alert_rule_test: rules.map((r) => ({ eval_time: "12m", alertname: r.alert, exp_alerts: [] })),
                    promql_expr_test: [{ expr: upCount, eval_time: "12m", exp_samples: [{ labels: "{}", value: config.pooler.instances }] }],
                },
            ],
        };
        fs.writeFileSync(path.join(dir, "live.yaml"), YAML.stringify(test));
        execFileSync(promtool, ["test", "rules", "live.yaml"], { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
        return `${series.length} live series, ${rules.length} alerts silent, ${upCount} = ${config.pooler.instances}`;
    } catch (error) {
        const e = error as { stdout?: string; stderr?: string; message: string };
        throw new Error(`promtool on the live scrape: ${e.stdout ?? ""}${e.stderr ?? ""}${e.stdout || e.stderr ? "" : e.message}`);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

// CloudNativePG 1.27.4 on the real node, alone: an API server (e2e/controlPlane.ts), kube-scheduler, one node
// (e2e/node/node.ts), the operator started as e2e/cnpgOperator.ts does with the local images (OPERATOR_IMAGE_NAME,
// PGBOUNCER_IMAGE_NAME, the Cluster's imageName), a Cluster shaped like the platform's shared-postgres (one
// instance, superuser access off, five tenants' login roles with connection limits) on a local PersistentVolume,
// and a Pooler (operator auth: CNPG's cnpg_pooler_pgbouncer and its user_search function). Checked from pods:
// pg_authid holds the declared roles with their attributes, limits and membership (read as readonly_user, whose
// pg_read_all_data covers the catalog), and a tenant logs in through the Pooler's Service with sslmode=verify-ca
// against the Cluster's CA (another CA is refused). Then everything stops and the host must be as before.
//   ./npm24 exec ts-node -- --transpile-only e2e/node/cnpgSmoke.ts
// Prints each step's time; exits 1 on any failure, and always prints the host-state diff.
import { type ChildProcess, spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { type CnpgOperator, cnpgCrds, cnpgOperatorDir, startCnpgOperator } from "../cnpgOperator";
import { cnpgImageEnv, createInstanceVolumes, realInstanceFields, realPoolerTemplate, runPsqlPod, waitForClusterHealthy, waitForPoolerReady } from "./cnpg";
import { type ApiServer, boundToParent, findToolchain, kubeRequest, startApiServer, track, writeKubeconfig } from "../controlPlane";
import { hostSnapshot } from "./hostState";
import { until } from "../checks";
import { declaredRoleLine, postgresOnNode } from "../postgres";
import { finishSmoke, runSmoke, stepTimer } from "./smokeRun";
import { type RunningNode, cleanupStale, removeKilledRunDirs, startNode, toolchainDir } from "./node";

const VERSION = "v1.27.4";
const NS = "cnpg-system";
const CLUSTER = "shared-postgres";
const POOLER = "shared-postgres-pooler-rw";
const PORTS = { etcd: 25790, api: 25443, scheduler: 25259, webhook: 25444, metrics: 25090 };

/** The five tenants of fixtures/live/prod/infra/shared-postgres.yaml, with their limits. */
const TENANTS = [
    { name: "gitlab_app", connectionLimit: 50 },
    { name: "harbor_app", connectionLimit: 30 },
    { name: "mattermost_app", connectionLimit: 40 },
    { name: "keycloak_app", connectionLimit: 20 },
    { name: "readonly_user", connectionLimit: 10, inRoles: ["pg_read_all_data"] },
];
const secretName = (role: string) => `${role.replace(/_/g, "-")}-role-password`;
const CA_FILE = `/secrets/${CLUSTER}-ca/ca.crt`;

const { times, timed } = stepTimer();

/** A psql pod as `role` (its password from its Secret) with the Cluster's CA at CA_FILE. */
function runClient(server: ApiServer, node: RunningNode, name: string, role: string, script: string) {
    return runPsqlPod(server, node, {
        namespace: NS,
        name,
        script,
        env: [{ name: "PGUSER", value: role }, { name: "PGPASSWORD", valueFrom: { secretKeyRef: { name: secretName(role), key: "password" } } }],
        secrets: [{ name: `${CLUSTER}-ca`, keys: ["ca.crt"] }],
    });
}

const WORK_PREFIX = "synergyflow-cnpg-smoke-";

/**
 * The operator of a killed run (startProcess gives it no parent-death signal, unlike the servers): found by its
 * binary, orphaned (ppid 1) and on this script's webhook port, so nothing else is touched.
 */
function stopOrphanedOperator(manager: string): void {
    for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
        try {
            const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
            const ppid = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1];
            if (ppid !== "1" || fs.readlinkSync(`/proc/${pid}/exe`) !== manager) continue;
            if (!fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(`--webhook-port=${PORTS.webhook}`)) continue;
            console.log(`stopping a killed run's operator (pid ${pid})`);
            process.kill(Number(pid), "SIGKILL");
        } catch {
            /* gone, or not ours to read */
        }
    }
}

function startScheduler(binary: string, server: ApiServer, work: string): { stop(): Promise<void> } {
    const kubeconfig = path.join(work, "scheduler.kubeconfig");
    writeKubeconfig(kubeconfig, [server]);
    const log = fs.openSync(path.join(work, "kube-scheduler.log"), "a");
    const child: ChildProcess = track(spawn(...boundToParent(binary, [`--kubeconfig=${kubeconfig}`, "--leader-elect=false", "--bind-address=127.0.0.1", `--secure-port=${PORTS.scheduler}`]), { stdio: ["ignore", log, log] }));
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    return {
        async stop() {
            if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
            await exited;
        },
    };
}

async function main(): Promise<number> {
    const { toolchain, missing } = findToolchain(true);
    if (!toolchain) throw new Error(`toolchain incomplete: ${missing.join(", ")}`);
    const operatorDir = cnpgOperatorDir(toolchainDir(), VERSION);
    if (!operatorDir) throw new Error(`CNPG ${VERSION} is not built (e2e/toolchain/build-cnpg-operator.sh ${VERSION})`);
    const scheduler = path.join(toolchain.bin, "kube-scheduler");
    if (!fs.existsSync(scheduler)) throw new Error("kube-scheduler is not built (e2e/toolchain/build-kube-apiserver.sh)");
    const stale = cleanupStale();
    if (stale.cleaned) console.log(`removed a stale node${stale.problems.length ? `, leaving: ${stale.problems.join("; ")}` : ""}`);
    stopOrphanedOperator(path.join(operatorDir, "manager"));
    for (const dir of removeKilledRunDirs(WORK_PREFIX)) console.log(`removed ${dir} (a killed run's)`);
    const before = hostSnapshot();
    const work = fs.mkdtempSync(path.join(os.tmpdir(), WORK_PREFIX));
    fs.writeFileSync(path.join(work, "owner.pid"), `${process.pid}\n`);
    console.log(`work dir ${work}, pid ${process.pid}`);
    let server: ApiServer | undefined;
    let sched: { stop(): Promise<void> } | undefined;
    let node: RunningNode | undefined;
    let operator: CnpgOperator | undefined;
    let failure: unknown;
    try {
        const s = (server = await timed("api server", () => startApiServer("infra", toolchain, work, PORTS.etcd, PORTS.api)));
        sched = startScheduler(scheduler, s, work);
        const n = (node = await timed("node start", () => startNode({ server: s, logDir: path.join(work, "node-logs") })));
        console.log(`node phases (ms): ${JSON.stringify(n.timings)}`);
        times["image import"] = n.timings["images"] ?? 0;

        for (const crd of cnpgCrds(operatorDir)) await kubeRequest(s, "PATCH", `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}?fieldManager=e2e&force=true`, crd, "application/apply-patch+yaml");
        await until("CNPG CRDs established", async () => {
            const crd = await kubeRequest(s, "GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/poolers.postgresql.cnpg.io");
            return crd.status?.conditions?.some((c: any) => c.type === "Established" && c.status === "True") ? true : undefined;
        }, 30000);
        await kubeRequest(s, "POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
        await until("the default ServiceAccount", () => kubeRequest(s, "GET", `/api/v1/namespaces/${NS}/serviceaccounts/default`), 30000);

        Object.assign(process.env, cnpgImageEnv(n));
        operator = await timed("operator start", () => startCnpgOperator(operatorDir, VERSION, s, work, PORTS.webhook, PORTS.metrics));

        await createInstanceVolumes(s, n, CLUSTER, 1);

        const passwords: Record<string, string> = {};
        for (const t of TENANTS) {
            passwords[t.name] = crypto.randomBytes(18).toString("base64url");
            await kubeRequest(s, "POST", `/api/v1/namespaces/${NS}/secrets`, { apiVersion: "v1", kind: "Secret", type: "kubernetes.io/basic-auth", metadata: { name: secretName(t.name), namespace: NS }, stringData: { username: t.name, password: passwords[t.name] } });
        }
        const clusterCreated = Date.now();
        await kubeRequest(s, "POST", `/apis/postgresql.cnpg.io/v1/namespaces/${NS}/clusters`, {
            apiVersion: "postgresql.cnpg.io/v1",
            kind: "Cluster",
            metadata: { name: CLUSTER, namespace: NS },
            spec: {
                instances: 1,
                enableSuperuserAccess: false,
                postgresql: { parameters: { max_connections: "200", shared_buffers: "64MB" } },
                ...realInstanceFields(n),
                managed: {
                    roles: TENANTS.map((t) => ({ name: t.name, ensure: "present", login: true, connectionLimit: t.connectionLimit, ...(t.inRoles ? { inRoles: t.inRoles } : {}), passwordSecret: { name: secretName(t.name) } })),
                },
            },
        });
        const clusterPath = `/apis/postgresql.cnpg.io/v1/namespaces/${NS}/clusters/${CLUSTER}`;
        await timed("instance ready (Cluster created -> healthy, 1 ready instance)", () =>
waitForClusterHealthy(s, NS, CLUSTER));
        times["instance ready from Cluster creation"] = Date.now() - clusterCreated;
        const rolesReconciled = await until("the managed roles reconciled", async () => {
            const reconciled = ((await kubeRequest(s, "GET", clusterPath)).status?.managedRolesStatus?.byStatus?.reconciled ?? []) as string[];
            return TENANTS.every((t) => reconciled.includes(t.name)) ? reconciled : undefined;
        }, 120000);
        console.log(`managedRolesStatus.byStatus.reconciled: ${rolesReconciled.join(", ")}`);

        const poolerCreated = Date.now();
        await kubeRequest(s, "POST", `/apis/postgresql.cnpg.io/v1/namespaces/${NS}/poolers`, {
            apiVersion: "postgresql.cnpg.io/v1",
            kind: "Pooler",
            metadata: { name: POOLER, namespace: NS },
            spec: {
                cluster: { name: CLUSTER },
                instances: 1,
                type: "rw",
                pgbouncer: { poolMode: "transaction", parameters: { max_client_conn: "200", default_pool_size: "10" } },
                template: realPoolerTemplate(),
            },
        });
        await timed("pooler ready (Pooler created -> deployment 1 ready)", () =>
waitForPoolerReady(s, NS, POOLER));
        times["pooler ready from Pooler creation"] = Date.now() - poolerCreated;

        // pg_authid, read in PostgreSQL as readonly_user (the instance's -rw Service, verify-full against the Cluster's CA).
        const pg = postgresOnNode(s, n, NS, CLUSTER, { user: "readonly_user", password: passwords["readonly_user"]! });
        const authid = await timed("pg_authid read from a pod", () => pg.rolesInPostgres([...TENANTS.map((t) => t.name), "postgres", "cnpg_pooler_pgbouncer"]));
        console.log(authid.map((l) => `  pg_authid: ${l}`).join("\n"));
        for (const t of TENANTS) {
            const want = declaredRoleLine({ name: t.name, login: true, connectionLimit: t.connectionLimit, inRoles: t.inRoles, passwordSecret: { name: secretName(t.name) } });
            if (!authid.includes(want)) throw new Error(`pg_authid has no "${want}"`);
        }
        if (!authid.some((l) => /^postgres super=true .* password=none /.test(l))) throw new Error("postgres has a password although superuser access is off");

        // A tenant through the Pooler's Service (CoreDNS, kube-proxy, PgBouncer's TLS with the Cluster's server
        // certificate, its auth_query as cnpg_pooler_pgbouncer), then the same with another CA: refused.
        const pooled = await timed("login through the Pooler (verify-ca)", () =>
            runClient(s, n, "through-pooler", "gitlab_app", [
                `psql "host=${POOLER} port=5432 dbname=app sslmode=verify-ca sslrootcert=${CA_FILE}" -At -c '\\conninfo' -c "select 'session ' || current_user || ' ' || inet_server_addr() || ' ' || current_setting('server_version')"`,
                `if psql "host=${POOLER} port=5432 dbname=app sslmode=verify-ca sslrootcert=/var/run/secrets/kubernetes.io/serviceaccount/ca.crt" -Atc 'select 1' 2>/tmp/err; then echo 'other-ca accepted'; else echo "other-ca refused: $(head -c 200 /tmp/err)"; fi`,
            ].join("\n")),
        );
        console.log(pooled.log.trim().split("\n").map((l) => `  pooler: ${l}`).join("\n"));
        if (pooled.phase !== "Succeeded") throw new Error(`login through the Pooler failed:\n${pooled.log}`);
        if (!/SSL connection/.test(pooled.log) || !/session gitlab_app /.test(pooled.log)) throw new Error("no TLS session as gitlab_app through the Pooler");
        if (!/other-ca refused: .*certificate verify failed/.test(pooled.log)) throw new Error("a client trusting another CA was not refused");
        const poolerPod = ((await kubeRequest(s, "GET", `/api/v1/namespaces/${NS}/pods?labelSelector=cnpg.io/poolerName=${POOLER}`)).items as any[])[0];
        const pgbouncerLog = n.podLogs(NS, poolerPod.metadata.name, "pgbouncer");
        const loginLine = pgbouncerLog.split("\n").find((l) => /login attempt: db=app user=gitlab_app tls=TLSv1/.test(l));
        console.log(`  pgbouncer log: ${loginLine ?? "(no login line)"}`);
    } catch (e) {
        failure = e;
    }
    await timed("stop", async () => {
        const errors: string[] = [];
        await operator?.stop().catch((e) => errors.push(e.message));
        await node?.stop().catch((e) => errors.push(e.message));
        await sched?.stop().catch((e) => errors.push(e.message));
        await server?.stop().catch((e) => errors.push(e.message));
        if (errors.length) failure ??= new Error(errors.join("; "));
    });
    return finishSmoke(before, failure, times, work);
}

runSmoke(main);

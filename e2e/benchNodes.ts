// `npm run bench:nodes` (a benchmark, not a test): the data path on the e2e's two nodes (e2e/node), as the platform
// has it. The local stack is up (test:e2e's environment); the backend's pods on the apps node take requests from
// this process (POST /work: the backend's transaction, an insert and its read-back) and reach PostgreSQL on the
// infra node either pooled (the emitted path: apps node -> the Pooler's LoadBalancer address -> PgBouncer pods ->
// PostgreSQL, TLS on both hops) or direct (the same backend Deployment, cloned, on a LoadBalancer address of the
// instance itself, TLS). Rows: pooled, pooled without the per-transaction reset, direct; then 1,000 clients at
// once on each path. Writes its section of docs/benchmarks.md (integration/benchDoc.ts).
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { Client } from "pg";
import YAML from "yaml";
import { backendPodSelector } from "../components/build/backend";
import { writeBenchSection } from "../integration/benchDoc";
import { type LatencySample, latencySummary, median, percentile } from "../integration/benchStats";
import { until } from "./checks";
import { type ApiServer, kubeRequest } from "./controlPlane";
import { startEnvironment } from "./environment";
import { withHarness } from "./harness";
import type { RunningNode } from "./node/node";
import type { StackConfig } from "../components/model/config";
import { podsSummary, runPsqlPod } from "./node/cnpg";
import { podProcesses } from "./node/podProcesses";
import { scrapeSamples } from "./postgres";

const RUNS = Number(process.env["BENCH_RUNS"] ?? 3);
const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 15);
const WARMUP_SECONDS = 3;
/** Once per Deployment before the runs: the backend's JIT compiles the request path (without it the first pooled run
 * gave 298 requests/s, the next 548). */
const JIT_WARMUP_SECONDS = 20;
const STORM_CLIENTS = 1000;
const STORM_SECONDS = Number(process.env["BENCH_STORM_SECONDS"] ?? 20);
/** The instance's own LoadBalancer address (the direct path), beside the Pooler's in the pool. */
const DIRECT_ADDRESS = "198.18.200.30";
/** The direct path's role: the login role's privileges (a member of the owner), no connection limit. */
const DIRECT_ROLE = "bench_direct";
const DIRECT = "bench-direct";
const CLOCK_TICKS = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());

interface Sample extends LatencySample {
    /** Pooled: per transaction, ms waiting in PgBouncer for a server connection, and ms in a server transaction. */
    waitMs: number;
    serverXactMs: number;
    /** CPU seconds per 1,000 requests, by process kind. */
    cpuPer1000: Record<CpuKind, number>;
}

const CPU_KINDS = ["postgres", "pgbouncer", "backend", "load", "rest"] as const;
type CpuKind = (typeof CPU_KINDS)[number];

/** CPU seconds used so far by every process on the host, by kind (comm); this process is the load generator. */
function cpuByKind(): Record<CpuKind, number> {
    const totals: Record<CpuKind, number> = { postgres: 0, pgbouncer: 0, backend: 0, load: 0, rest: 0 };
    for (const pid of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
        if (Number(pid) === process.pid) continue;
        let stat: string;
        try {
            stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        } catch {
            continue;
        }
        const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        const seconds = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
        const kind: CpuKind = comm === "postgres" ? "postgres" : comm === "pgbouncer" ? "pgbouncer" : comm === "java" ? "backend" : "rest";
        totals[kind] += seconds;
    }
    const own = process.cpuUsage();
    totals.load = (own.user + own.system) / 1e6;
    return totals;
}


/** `clients` requests in flight at a time, round robin over the pods, for WARMUP_SECONDS then SECONDS measured. */
async function drive(pods: string[], clients: number, sessions: () => Promise<number>, seconds = SECONDS): Promise<LatencySample & { requests: number }> {
    const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
    const latencies: number[] = [];
    let failed = 0;
    let firstError = "";
    let measuring = false;
    let running = true;
    let peak = 0;
    const sampler = setInterval(() => void sessions().then((n) => (peak = measuring ? Math.max(peak, n) : peak), () => undefined), 500);
    const one = (ip: string) =>
        new Promise<void>((resolve) => {
            const start = process.hrtime.bigint();
            const req = http.request({ host: ip, port: 8080, path: "/work", method: "POST", agent, timeout: 10000 }, (res) => {
                res.resume();
                res.on("end", () => {
                    if (measuring) {
                        if (res.statusCode === 200) latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
                        else {
                            failed++;
                            firstError ||= `HTTP ${res.statusCode}`;
                        }
                    }
                    resolve();
                });
            });
            req.on("error", (error) => {
                if (measuring) {
                    failed++;
                    firstError ||= error.message;
                }
                resolve();
            });
            req.on("timeout", () => req.destroy(new Error("no answer in 10 s")));
            req.end();
        });
    const workers = Array.from({ length: clients }, async (_, i) => {
        let n = i;
        while (running) await one(pods[n++ % pods.length]!);
    });
    await new Promise((r) => setTimeout(r, WARMUP_SECONDS * 1000));
    measuring = true;
    const from = Date.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    measuring = false;
    const elapsed = (Date.now() - from) / 1000;
    running = false;
    await Promise.all(workers);
    clearInterval(sampler);
    agent.destroy();
    latencies.sort((a, b) => a - b);
    return { requests: latencies.length, requestsPerSecond: latencies.length / elapsed, p50Ms: percentile(latencies, 0.5), p95Ms: percentile(latencies, 0.95), p99Ms: percentile(latencies, 0.99), failed, firstError, serverConnections: peak };
}

async function main(): Promise<number> {
    const end = await withHarness("bench:nodes", async ({ toolchain, binaries, work, started }) => {
        const env = await startEnvironment(toolchain, binaries, work, started, { dedicatedSource: false });
        const { infraServer: infra, appsServer: apps, config, stack, onOutput, node, appsNode } = env;
        if (!node || !appsNode || !env.waitForControllers) throw new Error("bench:nodes needs both nodes and every controller (e2e/toolchain/build-all.sh)");
        const ns = config.backend.namespace;
        const infraNs = config.sharedCluster.namespace;
        await env.applyCluster(true);
        // The storm's 1,000 clients need the client capacity the prod stack gives each pod (the local stack's is smaller).
        const prodClientConn = (YAML.parse(fs.readFileSync(path.join(__dirname, "..", "Pulumi.prod.yaml"), "utf8")).config["synergyflow-db:pooler"].parameters.max_client_conn);
        await stack.setConfig("synergyflow-db:pooler.parameters.max_client_conn", { value: String(prodClientConn) }, true);
        const up = Date.now();
        await stack.up({ onOutput });
        console.log(`up in ${((Date.now() - up) / 1000).toFixed(1)} s`);

        // The direct path, as the platform team would grant it: a managed role with the login role's privileges
        // and no limit (inRoles: the owner), and the instance's own LoadBalancer Service (LB IPAM as for the Pooler).
        const directPassword = randomBytes(18).toString("base64url");
        await kubeRequest(infra, "POST", `/api/v1/namespaces/${infraNs}/secrets`, { metadata: { name: DIRECT }, type: "kubernetes.io/basic-auth", stringData: { username: DIRECT_ROLE, password: directPassword } });
        const roles = [...env.otherEntries, ...env.ourEntries, { name: DIRECT_ROLE, login: true, inRoles: [config.tenant.roleName], connectionLimit: -1, passwordSecret: { name: DIRECT } }];
        await env.fluxApply(infra, { ...env.fixtureCluster, spec: { ...env.fixtureCluster.spec, managed: { roles } } });
        await until(`${DIRECT_ROLE} reconciled`, async () => (((await kubeRequest(infra, "GET", env.CLUSTER)).status?.managedRolesStatus?.byStatus?.reconciled ?? []) as string[]).includes(DIRECT_ROLE) || undefined, 120000);
        await kubeRequest(infra, "POST", `/api/v1/namespaces/${infraNs}/services`, {
            metadata: { name: DIRECT, annotations: { "lbipam.cilium.io/ips": DIRECT_ADDRESS } },
            spec: { type: "LoadBalancer", externalTrafficPolicy: "Local", selector: { "cnpg.io/cluster": config.sharedCluster.name, "cnpg.io/instanceRole": "primary" }, ports: [{ name: "postgres", port: 5432, targetPort: 5432 }] },
        });

        // The direct backend: the program's Deployment and datasource, cloned onto the direct address and role
        // (without wait-for-db, which expects the login role's session).
        const deployment = await kubeRequest(apps, "GET", `/apis/apps/v1/namespaces/${ns}/deployments/${config.backend.deploymentName}`);
        const pod = deployment.spec.template.spec;
        const datasourceName = pod.containers[0].envFrom.find((e: any) => e.configMapRef).configMapRef.name as string;
        const datasource = (await kubeRequest(apps, "GET", `/api/v1/namespaces/${ns}/configmaps/${datasourceName}`)).data as Record<string, string>;
        const pooledAddress = config.pooler.exposure.loadBalancerIP;
        if (!pooledAddress) throw new Error("the local stack has no pooler.exposure.loadBalancerIP");
        await kubeRequest(apps, "POST", `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: DIRECT }, data: { ...datasource, SPRING_DATASOURCE_URL: datasource["SPRING_DATASOURCE_URL"]!.replace(`//${pooledAddress}:`, `//${DIRECT_ADDRESS}:`) } });
        await kubeRequest(apps, "POST", `/api/v1/namespaces/${ns}/secrets`, { metadata: { name: DIRECT }, stringData: { [config.backend.usernameEnv]: DIRECT_ROLE, [config.backend.passwordEnv]: directPassword } });
        const directLabels = { "app.kubernetes.io/name": DIRECT, "app.kubernetes.io/component": "backend" };
        const directPod = {
            ...pod,
            initContainers: [],
            containers: pod.containers.map((c: any) => ({ ...c, envFrom: [{ configMapRef: { name: DIRECT } }] })),
            volumes: (pod.volumes as any[]).map((v) => (v.secret?.secretName === config.backend.credentialsSecretName ? { ...v, secret: { ...v.secret, secretName: DIRECT } } : v)),
        };
        await kubeRequest(apps, "POST", `/apis/apps/v1/namespaces/${ns}/deployments`, { metadata: { name: DIRECT, labels: directLabels }, spec: { replicas: config.backend.replicas, selector: { matchLabels: directLabels }, template: { metadata: { labels: directLabels }, spec: directPod } } });

        const readyPods = async (labels: Record<string, string>) => {
            const selector = encodeURIComponent(Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(","));
            return ((await kubeRequest(apps, "GET", `/api/v1/namespaces/${ns}/pods?labelSelector=${selector}`)).items as any[]).filter((p) => !p.metadata.deletionTimestamp && p.status?.conditions?.some((c: any) => c.type === "Ready" && c.status === "True")).map((p) => p.status.podIP as string);
        };
        const pooledPods = await readyPods(backendPodSelector({ "app.kubernetes.io/name": config.tenant.appName }));
        const directPods = await until("the direct backend's pods ready", async () => {
            const ips = await readyPods(directLabels);
            return ips.length === config.backend.replicas ? ips : undefined;
        }, 180000, () => podsSummary(apps, ns));

        // Sessions in PostgreSQL, read from the host (it routes the infra pod range) as the platform's readonly_user.
        const instance = (await kubeRequest(infra, "GET", `/api/v1/namespaces/${infraNs}/pods/${config.sharedCluster.name}-1`)).status.podIP as string;
        const ca = Buffer.from((await kubeRequest(infra, "GET", `/api/v1/namespaces/${infraNs}/secrets/${config.sharedCluster.name}-ca`)).data["ca.crt"], "base64").toString();
        const observer = new Client({ host: instance, port: 5432, user: "readonly_user", password: env.tenantPasswords["readonly_user"], database: "postgres", ssl: { ca, checkServerIdentity: () => undefined } });
        // Its connection goes with the instance when the run stops: not an error of the run.
        observer.on("error", () => undefined);
        await observer.connect();
        const sessionsOf = (roles: string[]) => async () => Number((await observer.query(`SELECT count(*) AS n FROM pg_stat_activity WHERE usename = ANY($1)`, [roles])).rows[0].n);
        const loginRoles = [`${config.tenant.roleName}_a`, `${config.tenant.roleName}_b`];

        // The reset after every transaction, switched on the Pooler (CNPG rewrites PgBouncer's file and reloads it).
        const POOLER = `/apis/postgresql.cnpg.io/v1/namespaces/${infraNs}/poolers/${config.pooler.name}`;
        const resetAlways = String((await kubeRequest(infra, "GET", POOLER)).spec.pgbouncer.parameters["server_reset_query_always"]);
        const setReset = async (value: string) => {
            await kubeRequest(infra, "PATCH", POOLER, { spec: { pgbouncer: { parameters: { server_reset_query_always: value } } } }, "application/merge-patch+json");
            await until(`every PgBouncer of ${config.pooler.name} with server_reset_query_always = ${value}`, async () => {
                const pods = (await kubeRequest(infra, "GET", `/api/v1/namespaces/${infraNs}/pods?labelSelector=${encodeURIComponent(`cnpg.io/poolerName=${config.pooler.name}`)}`)).items as any[];
                const files = pgbouncerConfigs(pods.map((p) => p.metadata.uid as string));
                return files.length === config.pooler.instances && files.every((text) => new RegExp(`^server_reset_query_always\\s*=\\s*${value}\\s*$`, "m").test(text)) ? true : undefined;
            }, 60000);
        };

        /** Our Pooler's PgBouncer counters for the tenant database, summed over its pods (CNPG's exporter on 9127). */
        const poolerTotals = async () => {
            const pods = ((await kubeRequest(infra, "GET", `/api/v1/namespaces/${infraNs}/pods?labelSelector=${encodeURIComponent(`cnpg.io/poolerName=${config.pooler.name}`)}`)).items as any[]).filter((p) => p.status?.podIP);
            const totals = { wait: 0, xact: 0, xactTime: 0 };
            for (const p of pods) {
                const metrics = await (await fetch(`http://${p.status.podIP}:9127/metrics`, { signal: AbortSignal.timeout(10000) })).text();
                for (const { series, value } of scrapeSamples(metrics, "cnpg_pgbouncer_stats_total_", {})) {
                    if (!series.includes(`database="${config.tenant.databaseName}"`)) continue;
                    if (series.startsWith("cnpg_pgbouncer_stats_total_wait_time{")) totals.wait += value;
                    else if (series.startsWith("cnpg_pgbouncer_stats_total_xact_count{")) totals.xact += value;
                    else if (series.startsWith("cnpg_pgbouncer_stats_total_xact_time{")) totals.xactTime += value;
                }
            }
            return totals;
        };

        const clients = config.backend.replicas * config.backend.hikari.maximumPoolSize;
        const variants = [
            { label: "pooled", pods: pooledPods, roles: loginRoles, reset: resetAlways },
            { label: "pooled, server_reset_query_always 0", pods: pooledPods, roles: loginRoles, reset: "0" },
            { label: "direct", pods: directPods, roles: [DIRECT_ROLE], reset: undefined },
        ];
        // The JVMs compile the request path first: each Deployment driven once, unmeasured, before the runs.
        for (const pods of [pooledPods, directPods]) await drive(pods, clients, async () => 0, JIT_WARMUP_SECONDS);
        const samples: Record<string, Sample[]> = {};
        for (let run = 0; run < RUNS; run++) {
            for (const v of variants) {
                if (v.reset !== undefined) await setReset(v.reset);
                const before = cpuByKind();
                const statsBefore = v.reset !== undefined ? await poolerTotals() : undefined;
                const { requests, ...sample } = await drive(v.pods, clients, sessionsOf(v.roles));
                const after = cpuByKind();
                const statsAfter = statsBefore ? await poolerTotals() : undefined;
                const xacts = statsBefore && statsAfter ? statsAfter.xact - statsBefore.xact : 0;
                const perXact = (f: (t: Awaited<ReturnType<typeof poolerTotals>>) => number) => (xacts > 0 ? (f(statsAfter!) - f(statsBefore!)) / xacts / 1000 : NaN);
                const cpuPer1000 = Object.fromEntries(CPU_KINDS.map((k) => [k, ((after[k] - before[k]) / Math.max(requests, 1)) * 1000])) as Record<CpuKind, number>;
                const measured = { ...sample, waitMs: perXact((t) => t.wait), serverXactMs: perXact((t) => t.xactTime), cpuPer1000 };
                console.log(v.label, JSON.stringify(measured));
                (samples[v.label] ??= []).push(measured);
            }
        }
        await setReset(resetAlways);

        const stormPooled = await storm(apps, appsNode, ns, pooledAddress, config.backend.credentialsSecretName, config, sessionsOf(loginRoles));
        console.log("storm pooled", JSON.stringify(stormPooled));
        const stormDirect = await storm(apps, appsNode, ns, DIRECT_ADDRESS, DIRECT, config, sessionsOf([DIRECT_ROLE]));
        console.log("storm direct", JSON.stringify(stormDirect));
        await observer.end();

        const rows = variants.map((v) => ({ label: v.label, ...summary(samples[v.label]!) }));
        writeBenchSection("nodes", nodesSection(rows, { pooled: stormPooled, direct: stormDirect }, { clients, config, node: node.name, appsNode: appsNode.name, maxClientConn: Number(prodClientConn) }));
        console.log(fs.readFileSync(path.join(__dirname, "..", "docs", "benchmarks.md"), "utf8"));
    });
    if (!end) return 0;
    if (end.error !== undefined) console.error(end.error);
    if (end.nodesRan) console.log(end.hostDiff.length === 0 && end.nodeProblems.length === 0 ? "the host is as before the run" : `the host changed:\n${[...end.nodeProblems, ...end.hostDiff].join("\n")}`);
    return end.error === undefined && end.hostDiff.length === 0 && end.nodeProblems.length === 0 ? 0 : 1;
}

/** The configuration file each of these pods' PgBouncer runs with, as the host sees it through /proc/<pid>/root. */
function pgbouncerConfigs(podUids: string[]): string[] {
    return podUids.flatMap((uid) =>
        podProcesses(uid)
            .filter((p) => path.basename(p.argv[0] ?? "") === "pgbouncer")
            .map((p) => fs.readFileSync(`/proc/${p.pid}/root${p.argv.find((a) => a.endsWith(".ini"))}`, "utf8")),
    );
}

function summary(list: Sample[]) {
    return { ...latencySummary(list), waitMs: median(list.map((s) => s.waitMs)), serverXactMs: median(list.map((s) => s.serverXactMs)), cpuPer1000: Object.fromEntries(CPU_KINDS.map((k) => [k, median(list.map((s) => s.cpuPer1000[k]))])) as Record<CpuKind, number> };
}
type Row = ReturnType<typeof summary> & { label: string };

interface StormResult {
    completed: boolean;
    tps: number;
    failedTransactions: number;
    connectionErrors: number;
    firstError: string;
    peakSessions: number;
}

/** pgbench from a pod on the apps node: STORM_CLIENTS clients connecting at once over TLS (verify-ca), SELECT 1 each. */
async function storm(apps: ApiServer, appsNode: RunningNode, ns: string, host: string, credentials: string, config: StackConfig, sessions: () => Promise<number>): Promise<StormResult> {
    const name = `bench-storm-${host.split(".").pop()}`;
    const ca = ((await kubeRequest(apps, "GET", `/api/v1/namespaces/${ns}/configmaps`)).items as any[]).find((c) => c.data?.["ca.crt"] && c.metadata.labels?.["synergyflow-db/stack"])?.data["ca.crt"] as string;
    let peak = 0;
    const sampler = setInterval(() => void sessions().then((n) => (peak = Math.max(peak, n)), () => undefined), 500);
    const secret = (key: string) => ({ secretKeyRef: { name: credentials, key } });
    // pgbench is in the PostgreSQL image (the server package), not in psql's.
    const { phase, log } = await runPsqlPod(apps, appsNode, {
        namespace: ns,
        name,
        image: appsNode.images["postgresql"],
        script: `printf '%s' "$CA" > /tmp/ca.crt\nprintf 'SELECT 1;\\n' > /tmp/select.sql\nexec pgbench -n -c ${STORM_CLIENTS} -j 2 -T ${STORM_SECONDS} -f /tmp/select.sql`,
        env: [
            { name: "PGHOST", value: host },
            { name: "PGDATABASE", value: config.tenant.databaseName },
            { name: "PGSSLMODE", value: "verify-ca" },
            { name: "PGSSLROOTCERT", value: "/tmp/ca.crt" },
            { name: "CA", value: ca },
            { name: "PGUSER", valueFrom: secret(config.backend.usernameEnv) },
            { name: "PGPASSWORD", valueFrom: secret(config.backend.passwordEnv) },
        ],
        timeoutMs: (STORM_SECONDS + 120) * 1000,
    }).finally(() => clearInterval(sampler));
    await kubeRequest(apps, "DELETE", `/api/v1/namespaces/${ns}/pods/${name}`).catch(() => undefined);
    const errors = log.split("\n").filter((l) => /error|FATAL|abort/i.test(l));
    return {
        completed: phase === "Succeeded" && !/aborted/.test(log),
        tps: Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(log)?.[1] ?? NaN),
        failedTransactions: Number(/number of failed transactions: (\d+)/.exec(log)?.[1] ?? 0),
        connectionErrors: errors.filter((l) => /connection/i.test(l)).length,
        firstError: errors[0]?.trim().slice(0, 120) ?? "",
        peakSessions: peak,
    };
}

/** What each committed stack file sets for the reset ("unset" when it leaves PgBouncer's default). */
function committedResets(): string {
    return ["dev", "prod", "local"]
        .map((stack) => {
            const value = YAML.parse(fs.readFileSync(path.join(__dirname, "..", `Pulumi.${stack}.yaml`), "utf8")).config["synergyflow-db:pooler"]?.parameters?.["server_reset_query_always"];
            return `${stack} \`${value ?? "unset"}\``;
        })
        .join(", ");
}

function nodesSection(rows: Row[], storms: { pooled: StormResult; direct: StormResult }, about: { clients: number; config: StackConfig; node: string; appsNode: string; maxClientConn: number }): string {
    const f = (n: number, digits = 0) => (Number.isNaN(n) ? "-" : n.toFixed(digits));
    const byLabel = (label: string) => rows.find((r) => r.label === label)!;
    const pooled = byLabel("pooled");
    const noReset = byLabel("pooled, server_reset_query_always 0");
    const direct = byLabel("direct");
    const pct = (a: Row, b: Row) => Math.round((a.requestsPerSecond / b.requestsPerSecond) * 100);
    const met = pct(pooled, direct) >= 90 && pooled.p95Ms - direct.p95Ms <= 2;
    const cpuTotal = (r: Row) => CPU_KINDS.reduce((a, k) => a + r.cpuPer1000[k], 0);
    const { config } = about;
    const row = (r: Row) => `| ${r.label} | ${f(r.requestsPerSecond)} | ${f(r.p50Ms, 2)} | ${f(r.p95Ms, 2)} | ${f(r.p99Ms, 2)} | ${f(r.serverConnections)} | ${r.label.startsWith("pooled") ? f(r.cpuPer1000.pgbouncer, 2) : "-"} | ${f(r.waitMs, 2)} | ${f(r.serverXactMs, 2)} | ${r.failed}${r.firstError ? ` (${r.firstError.slice(0, 60)})` : ""} |`;
    const cpuRow = (r: Row) => `| ${r.label} | ${CPU_KINDS.map((k) => f(r.cpuPer1000[k], 2)).join(" | ")} | ${f(cpuTotal(r), 2)} |`;
    const stormRow = (label: string, s: StormResult) => `| ${label} | ${s.completed ? "yes" : "no"} | ${f(s.tps)} | ${s.failedTransactions} | ${s.connectionErrors}${s.firstError ? ` (${s.firstError.replace(/\|/g, "/")})` : ""} | ${s.peakSessions} |`;
    const biggest = (r: Row) => [...CPU_KINDS].sort((a, b) => r.cpuPer1000[b] - r.cpuPer1000[a])[0]!;
    return `## On the nodes (\`npm run bench:nodes\`)

Measured on ${new Date().toISOString().slice(0, 10)} on the e2e's two real nodes (docs/node.md): ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, shared by both
nodes, their control planes and the load generator (the ratios carry over, the absolute numbers do not). The local
stack up as \`test:e2e\` has it: the backend's ${config.backend.replicas} pods (HikariCP ${config.backend.hikari.maximumPoolSize} connections each) on the apps node
${about.appsNode}; the Pooler's ${config.pooler.instances} PgBouncer pods and PostgreSQL 17 under CNPG 1.27.4 on the infra node ${about.node}. The stack
sets no CPU limit on the backend or the Pooler (requests only), so every pod may use both cores.

- **pooled**: backend pod -> apps node (masqueraded to 198.18.8.2) -> routed link -> the Pooler's LoadBalancer
  address ${config.pooler.exposure.loadBalancerIP} (kube-proxy, \`externalTrafficPolicy: Local\`) -> PgBouncer pod -> PostgreSQL, TLS on both
  hops (\`verify-ca\` from the backend, CNPG's TLS from PgBouncer), as the login role.
- **direct**: the same Deployment and datasource, cloned, on a LoadBalancer address of the instance itself
  (${DIRECT_ADDRESS}), TLS \`verify-ca\`, as a role with the login role's privileges and no connection limit.

Load: ${about.clients} requests in flight (the pods' connections), from this machine to the pods' addresses, each \`POST /work\`
(the backend's transaction: an insert and its read-back, on a HikariCP connection); ${SECONDS} s measured after
${WARMUP_SECONDS} s of warm-up; medians of ${RUNS} runs, the rows alternating run by run. Latency is the request's, as the caller
sees it. "server conns": peak sessions of the path's role(s) in PostgreSQL; "PgBouncer CPU": its processes' CPU
seconds per 1,000 requests; "wait in PgBouncer" and "server tx": from the Pooler's exporter (PgBouncer's
\`total_wait_time\` and \`total_xact_time\` over \`total_xact_count\`, summed over its pods), per transaction: the time a
client waited for a server connection, and the time a server connection spent in the transaction. Each Deployment
was driven ${JIT_WARMUP_SECONDS} s, unmeasured, before the runs (the backend's JIT).

| path | requests/s | p50 ms | p95 ms | p99 ms | server conns | PgBouncer CPU s/1k | wait in PgBouncer ms/tx | server tx ms | failed |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${rows.map(row).join("\n")}

Where the CPU goes (seconds per 1,000 requests, every process on the machine by kind: PostgreSQL, PgBouncer, the
backend's JVMs, the load generator, and the rest: API servers, etcd, kubelets, containerd, kube-proxy, CNPG):

| path | PostgreSQL | PgBouncer | backend | load | rest | total |
|---|---:|---:|---:|---:|---:|---:|
${rows.map(cpuRow).join("\n")}

- Pooled / direct: **${pct(pooled, direct)}%** of the requests per second, p95 ${f(pooled.p95Ms - direct.p95Ms, 2)} ms apart, ${f(pooled.serverConnections)} server connections instead of ${f(direct.serverConnections)}.
- The goal (pooled at least 90% of direct, p95 within 2 ms) is ${met ? "met" : "not met"} here. ${met ? "" : `The pooled path costs ${f(cpuTotal(pooled) - cpuTotal(direct), 2)} CPU seconds more per 1,000 requests (${f(cpuTotal(pooled), 2)} against ${f(cpuTotal(direct), 2)}), of which PgBouncer's own ${f(pooled.cpuPer1000.pgbouncer, 2)}; on cores every process shares, that CPU is the throughput lost. The biggest consumer on both paths: ${biggest(pooled)} (pooled), ${biggest(direct)} (direct).`}
- Where a pooled request's time goes: ${about.clients} clients share ${f(pooled.serverConnections)} server connections, so a transaction waits ${f(pooled.waitMs, 1)} ms in PgBouncer for
  one and holds it ${f(pooled.serverXactMs, 1)} ms; the mean request takes ${f((about.clients / pooled.requestsPerSecond) * 1000, 1)} ms pooled and ${f((about.clients / direct.requestsPerSecond) * 1000, 1)} ms direct (Little's
  law: clients over throughput). The queue is the price of ${f(pooled.serverConnections)} connections instead of ${f(direct.serverConnections)}; its length is set by
  how fast the shared CPU turns the server connections over.
- The per-transaction reset (\`server_reset_query_always\` on, as the stacks have it) against none: ${f(pooled.requestsPerSecond)} against ${f(noReset.requestsPerSecond)} requests per second (${f(((noReset.requestsPerSecond - pooled.requestsPerSecond) / pooled.requestsPerSecond) * 100)}% more without it), PostgreSQL ${f(pooled.cpuPer1000.postgres, 2)} against ${f(noReset.cpuPer1000.postgres, 2)} CPU s/1k, p95 ${f(pooled.p95Ms, 2)} against ${f(noReset.p95Ms, 2)} ms.

### The per-transaction reset: the price of each choice

- **Keep it** (\`server_reset_query_always\` true with \`RESET ALL; RESET ROLE\`): ${f(pooled.requestsPerSecond)} requests per second against ${f(noReset.requestsPerSecond)} without it
  (${f(((noReset.requestsPerSecond - pooled.requestsPerSecond) / noReset.requestsPerSecond) * 100)}% of the pooled throughput), p95 ${f(pooled.p95Ms - noReset.p95Ms, 2)} ms higher, PostgreSQL ${f(pooled.cpuPer1000.postgres - noReset.cpuPer1000.postgres, 2)} CPU s/1k more.
- **Replace it** by a cheaper reset that still restores a fresh login's state (\`role\` included, which \`RESET ALL\` skips): any
  reset is one more statement per transaction on the server connection, and its round trip is the price whatever the
  statement (the host-process section's \`server_reset_query SELECT 1\` row).
- **Turn it off**: the row without it, and a session \`SET\` (search_path, statement_timeout, role) reaching another
  client's transactions on that server connection; the preview warns, naming
  \`synergyflow-db:pooler.parameters.server_reset_query_always\`.
- The committed stacks: ${committedResets()}.

### Storm: ${STORM_CLIENTS.toLocaleString("en-US")} clients connecting at once

pgbench 17 from one pod on the apps node, \`-c ${STORM_CLIENTS} -j 2\`, ${STORM_SECONDS} s, \`SELECT 1\`, TLS (\`verify-ca\`), one run each; pgbench
aborts the run when a client cannot connect. "peak sessions": of the path's role(s) in PostgreSQL. The Pooler runs with
the prod stack's \`max_client_conn\` (${about.maxClientConn} per pod; this benchmark sets it on the local stack, whose own is smaller).

| path | completed | TPS | failed tx | connection errors | peak sessions |
|---|---|---:|---:|---|---:|
${stormRow("pooled", storms.pooled)}
${stormRow("direct", storms.direct)}
`;
}

main().then(
    (code) => process.exit(code),
    (error) => {
        console.error(error);
        process.exit(1);
    },
);

// `npm run bench:pooler` (a benchmark, not a test): the data path on this machine, in one run, for the prod
// stack's tenant (PostgreSQL with TLS as CNPG runs it, PgBouncer 1.24.1 from the emitted Pooler, TLS to
// PostgreSQL verified as CNPG configures it), one PgBouncer process per Pooler pod sharing the address.
//   1. The application's shape: PgJDBC + HikariCP with the ConfigMap's settings, 3 pods x 20 connections, an OLTP
//      mix with prepared statements (integration/jdbc-client/JdbcBench.java), pooled vs direct, TLS on both; the
//      same with PgBouncer on a core of its own, without the reset, as one process, and without TLS.
//   2. A storm: 1,000 pgbench clients connecting at once over TLS, pooled vs direct.
//   3. Sizing: the application's shape pooled, for a sweep of max_db_connections per pod; docs/pool-sizing.svg.
// Medians of RUNS runs (the sweep: SWEEP_RUNS); writes the host-process section of docs/benchmarks.md (the nodes'
// is bench:nodes', e2e/benchNodes.ts). BENCH_ONLY=app: the first part only,
// printed, nothing written.
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { jdbcUrl } from "../components/model/jdbc";
import { writeBenchSection } from "./benchDoc";
import { type LatencySample, latencySummary, median } from "./benchStats";
import { POOLER_HOST, type TenantEnvironment, startTenantEnvironment } from "./environment";

const RUNS = Number(process.env["BENCH_RUNS"] ?? 3);
const SWEEP_RUNS = Number(process.env["BENCH_SWEEP_RUNS"] ?? 1);
const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 20);
const STORM_SECONDS = Number(process.env["BENCH_STORM_SECONDS"] ?? 30);
const TASK_ROWS = 100000;
const PGBENCH = "/usr/lib/postgresql/15/bin/pgbench";
const CLIENT_DIR = path.join(__dirname, "jdbc-client");
const DOCS = path.join(__dirname, "..", "docs");


interface Target {
    label: string;
    url: string;
    user: string;
    password: string;
}

interface AppSample extends LatencySample {
    pssMb: number;
    /** PgBouncer's CPU over the run, in cores (pooled only). */
    poolerCores: number;
}

/** Samples PostgreSQL while `body` runs: peak sessions of `user`, peak PSS of all its processes. */
async function sampled<T>(env: TenantEnvironment, user: string, body: () => Promise<T>): Promise<{ result: T; sessions: number; pssMb: number }> {
    let sessions = 0;
    let pssKb = 0;
    const sampler = setInterval(() => {
        pssKb = Math.max(pssKb, env.postgres.backends().pssKb);
        const out = env.psqlAsSuperuser(`\\pset tuples_only on\nSELECT count(*) FROM pg_stat_activity WHERE usename = '${user}';`);
        sessions = Math.max(sessions, Number(out.trim().split("\n").pop()));
    }, 500);
    try {
        return { result: await body(), sessions, pssMb: pssKb / 1024 };
    } finally {
        clearInterval(sampler);
    }
}

/** Every core of the machine, for taskset. */
const ALL_CORES = `0-${os.cpus().length - 1}`;
const pin = (cores: string, pids: number[]) => {
    for (const pid of pids) execFileSync("taskset", ["-a", "-p", "-c", cores, String(pid)], { stdio: "ignore" });
};

/**
 * One run of the application's shape against `target`. `separateCores`: PostgreSQL and the client share core 0
 * and PgBouncer gets core 1 (in the clusters the pooler's pods have CPU of their own); the direct path runs on
 * core 0 alike, so both paths give the database and the application the same CPU.
 */
async function appShape(env: TenantEnvironment, target: Target, separateCores = false): Promise<AppSample> {
    if (separateCores) {
        pin("0", env.postgres.pids());
        pin("1", env.pgbouncer.pids());
    }
    try {
        return await appShapeRun(env, target, separateCores);
    } finally {
        if (separateCores) {
            pin(ALL_CORES, env.postgres.pids());
            pin(ALL_CORES, env.pgbouncer.pids());
        }
    }
}

async function appShapeRun(env: TenantEnvironment, target: Target, onCoreZero: boolean): Promise<AppSample> {
    const cpuBefore = env.pgbouncer.cpuSeconds();
    const wallBefore = Date.now();
    const java = ["java", "-Xmx512m", "-cp", path.join(CLIENT_DIR, "target", "lib", "*"), path.join(CLIENT_DIR, "JdbcBench.java")];
    const [command, ...args] = onCoreZero ? ["taskset", "-c", "0", ...java] : java;
    const { result, sessions, pssMb } = await sampled(env, target.user, () =>
        new Promise<string>((resolve, reject) => {
            const child = spawn(command!, args, {
                env: { ...process.env, ...env.datasource, SPRING_DATASOURCE_URL: target.url, DB_USERNAME: target.user, DB_PASSWORD: target.password, PODS: String(env.config.backend.replicas), TASK_ROWS: String(TASK_ROWS), WARMUP_SECONDS: "3", SECONDS: String(SECONDS) },
            });
            let out = "";
            child.stdout.on("data", (d) => (out += d));
            child.stderr.on("data", (d) => (out += d));
            child.on("exit", (code) => (code === 0 ? resolve(out.trim().split("\n").pop() as string) : reject(new Error(`JdbcBench exited ${code}: ${out.slice(-2000)}`))));
        }),
    );
    const poolerCores = (env.pgbouncer.cpuSeconds() - cpuBefore) / ((Date.now() - wallBefore) / 1000);
    const parsed = JSON.parse(result) as AppSample;
    return { ...parsed, serverConnections: sessions, pssMb, poolerCores };
}

/** Medians of the samples (failures summed): one row of the tables. */
function summary(samples: AppSample[]) {
    const m = (f: (s: AppSample) => number) => median(samples.map(f));
    return { ...latencySummary(samples), pssMb: m((s) => s.pssMb), poolerCores: m((s) => s.poolerCores) };
}

type Summary = ReturnType<typeof summary>;

/**
 * The reading of the application-shape rows: why the pooled path falls short of the bar here and what the
 * configuration costs, each point with the rows' own figures.
 */
function whyTheGap(app: Record<"pooled" | "direct" | "ownCore" | "ownCoreDirect" | "noReset" | "ownCoreNoReset" | "resetRoundTrip" | "oneProcess" | "plainPooled" | "plainDirect", Summary>, clients: number): string {
    const pct = (a: Summary, b: Summary) => Math.round((a.requestsPerSecond / b.requestsPerSecond) * 100);
    const shared = pct(app.pooled, app.direct);
    const ownCore = pct(app.ownCore, app.ownCoreDirect);
    const noReset = pct(app.noReset, app.direct);
    const roundTrip = pct(app.resetRoundTrip, app.direct);
    const plain = pct(app.plainPooled, app.plainDirect);
    const one = pct(app.oneProcess, app.direct);
    /** Differences under this many points are within this machine's run-to-run noise. */
    const NOISE = 8;
    const met = shared >= 90 && app.pooled.p95Ms - app.direct.p95Ms <= 2;
    return `#### Why the pooled path ${met ? "meets" : "falls short of"} the bar here, and what the configuration costs

The bar (pooled at least 90% of direct with p95 within 2 ms) is ${met ? "" : "not "}met on this machine (${shared}%, p95 ${(app.pooled.p95Ms - app.direct.p95Ms).toFixed(1)} ms apart). Differences
under ${NOISE} points are within this machine's run-to-run noise. The rows show where the difference goes:

- **The pooler's CPU is taken from the database and the client.** The run is CPU-bound on cores that the client,
  PgBouncer and PostgreSQL share, and PgBouncer decrypts and re-encrypts every message twice (client TLS and
  server TLS): the "pooler CPU" column, ${app.pooled.poolerCores.toFixed(2)} cores. With PgBouncer on a core of its own, as the Pooler's pods are
  in the clusters, and the database and the client on the same single core on both paths, the pooled path
  delivers ${ownCore}% of direct instead of ${shared}%${ownCore - shared >= NOISE ? "" : " (no clear gain: one core for 60 client threads and the database is saturated either way)"}.
- **The reset after every transaction** (\`server_reset_query = RESET ALL\`, \`server_reset_query_always = 1\`) adds a
  statement per transaction on the server connection: without it the pooled path delivers ${noReset}% of direct, and
  ${pct(app.ownCoreNoReset, app.ownCoreDirect)}% with PgBouncer on its own core. With \`SELECT 1\` as the reset (its round trip without \`RESET ALL\`'s work) it
  delivers ${roundTrip}%: ${roundTrip - shared >= NOISE ? `part of the price is \`RESET ALL\`'s own work, part the extra round trip` : "the price is the extra statement per transaction, not what \`RESET ALL\` does"}. The reset is what keeps a
  session \`SET\` (Flyway's \`SET search_path\`, an application's \`SET statement_timeout\`) from reaching the next
  client of that server connection (README, "Session state behind transaction pooling"), so the stacks keep it;
  a stack whose clients never issue a session \`SET\` may set \`pooler.parameters.server_reset_query_always: false\`
  and take the figure without it.
- **TLS**: without TLS on either path the pooled path delivers ${plain}% of direct${plain <= shared + NOISE ? ": TLS is not what the pooled path loses to (the direct path gains more from dropping it)" : ": part of the gap is the pooler's second TLS hop"}.
- **Latency is queueing.** ${clients} clients share ${app.pooled.serverConnections.toFixed(0)} server connections and a saturated CPU, so the mean latency is the
  clients divided by the throughput (Little's law: ${((clients / app.pooled.requestsPerSecond) * 1000).toFixed(1)} ms pooled, ${((clients / app.direct.requestsPerSecond) * 1000).toFixed(1)} ms direct); a p95 within 2 ms of the
  direct path needs the throughput first.
- **One process per pod or one for all pods** (this benchmark's first shape): ${one}% against ${shared}%${Math.abs(one - shared) < NOISE ? ", no difference this machine can tell" : one > shared ? ": the single event loop did better here" : ": one process per pod, as deployed, does better"}.

Not measured here: a profile inside PgBouncer and the JVM (only per-process CPU time); machines with more cores.`;
}

async function appShapeMedian(env: TenantEnvironment, target: Target, runs: number) {
    const samples: AppSample[] = [];
    for (let i = 0; i < runs; i++) samples.push(await appShape(env, target));
    return summary(samples);
}

/** One row of the application-shape table: a path, and the PgBouncer deployment it runs through. */
interface Variant {
    label: string;
    target: Target;
    /** PgBouncer's deployment for this row (pooled rows; direct rows leave it as it is). */
    pooler?: { parameters: Record<string, string>; withoutTls?: boolean; processes?: number };
    separateCores?: boolean;
}

/** RUNS runs of every variant, alternating (the machine's noise falls on all of them); PgBouncer restarted as needed. */
async function runVariants(env: TenantEnvironment, variants: Variant[]): Promise<Record<string, ReturnType<typeof summary>>> {
    const samples: Record<string, AppSample[]> = {};
    let running = "";
    for (let i = 0; i < RUNS; i++) {
        for (const v of variants) {
            const wanted = JSON.stringify(v.pooler ?? null);
            if (v.pooler && wanted !== running) {
                await env.restartPgBouncer(v.pooler.parameters, v.pooler.withoutTls ?? false, v.pooler.processes ?? 1);
                running = wanted;
            }
            const sample = await appShape(env, v.target, v.separateCores);
            console.log(v.label, JSON.stringify(sample));
            (samples[v.label] ??= []).push(sample);
        }
    }
    return Object.fromEntries(Object.entries(samples).map(([label, list]) => [label, summary(list)]));
}

/** pgbench tpcb-like with `clients` connecting at once over TLS; a client that cannot connect aborts the run. */
async function storm(env: TenantEnvironment, host: string, user: string, password: string, clients: number) {
    const logDir = fs.mkdtempSync(path.join(os.tmpdir(), "synergyflow-bench-"));
    const args = ["-h", host, "-p", "5432", "-U", user, "-c", String(clients), "-j", "2", "-T", String(STORM_SECONDS), "-n", "-l", "--log-prefix", path.join(logDir, "tx"), env.config.tenant.databaseName];
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, env.postgres.backends().count)), 500);
    const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
        const child = spawn(PGBENCH, args, { env: { ...process.env, PGPASSWORD: password, PGSSLMODE: "verify-ca", PGSSLROOTCERT: env.tls.caFile } });
        let text = "";
        child.stdout.on("data", (d) => (text += d));
        child.stderr.on("data", (d) => (text += d));
        child.on("exit", (c) => resolve({ code: c, output: text }));
    });
    clearInterval(sampler);
    const latencies: number[] = [];
    for (const file of fs.readdirSync(logDir)) for (const line of fs.readFileSync(path.join(logDir, file), "utf8").split("\n")) if (line.split(" ").length >= 3) latencies.push(Number(line.split(" ")[2]) / 1000);
    fs.rmSync(logDir, { recursive: true, force: true });
    latencies.sort((a, b) => a - b);
    const refused = output.split("\n").filter((l) => /FATAL/.test(l));
    return {
        completed: code === 0,
        tps: Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(output)?.[1] ?? NaN),
        p99Ms: latencies[Math.floor(latencies.length * 0.99)] ?? NaN,
        failedTransactions: Number(/number of failed transactions: (\d+)/.exec(output)?.[1] ?? 0),
        connectionErrors: refused.length,
        firstError: refused[0]?.replace(/^.*FATAL:\s*/, "FATAL: ") ?? (code === 0 ? "" : output.trim().split("\n").pop() ?? ""),
        peakPgProcesses: peak,
    };
}

/** A line chart of the sweep: requests per second and p95 against server connections (plain SVG). */
function sizingSvg(points: { serverLimit: number; requestsPerSecond: number; p95Ms: number }[], budget: number, chosen: number): string {
    const W = 640, H = 320, L = 60, R = 60, T = 30, B = 45;
    const maxX = Math.max(...points.map((p) => p.serverLimit), budget) * 1.05;
    const maxY1 = Math.max(...points.map((p) => p.requestsPerSecond)) * 1.15;
    const maxY2 = Math.max(...points.map((p) => p.p95Ms)) * 1.15;
    const x = (v: number) => L + (v / maxX) * (W - L - R);
    const y1 = (v: number) => H - B - (v / maxY1) * (H - T - B);
    const y2 = (v: number) => H - B - (v / maxY2) * (H - T - B);
    const line = (f: (p: (typeof points)[number]) => [number, number]) => points.map((p) => f(p).map((n) => n.toFixed(1)).join(",")).join(" ");
    const dots = (f: (p: (typeof points)[number]) => [number, number], colour: string) => points.map((p) => `<circle cx="${f(p)[0].toFixed(1)}" cy="${f(p)[1].toFixed(1)}" r="3" fill="${colour}"/>`).join("");
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">
<rect width="${W}" height="${H}" fill="white"/>
<text x="${W / 2}" y="16" text-anchor="middle" font-size="13">Pooled application load (60 connections) vs server connections</text>
<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/><line x1="${W - R}" y1="${T}" x2="${W - R}" y2="${H - B}" stroke="black"/>
${points.map((p) => `<text x="${x(p.serverLimit).toFixed(1)}" y="${H - B + 14}" text-anchor="middle">${p.serverLimit}</text>`).join("")}
<text x="${W / 2}" y="${H - 8}" text-anchor="middle">server connections (pods x max_db_connections)</text>
<text x="14" y="${(H / 2).toFixed(0)}" transform="rotate(-90 14 ${(H / 2).toFixed(0)})" text-anchor="middle" fill="#1f5fa8">requests/s (max ${maxY1.toFixed(0)})</text>
<text x="${W - 12}" y="${(H / 2).toFixed(0)}" transform="rotate(90 ${W - 12} ${(H / 2).toFixed(0)})" text-anchor="middle" fill="#b5401f">p95 ms (max ${maxY2.toFixed(1)})</text>
<line x1="${x(budget).toFixed(1)}" y1="${T}" x2="${x(budget).toFixed(1)}" y2="${H - B}" stroke="#888" stroke-dasharray="4 3"/><text x="${(x(budget) + 4).toFixed(1)}" y="${T + 12}" fill="#555">role limit ${budget}</text>
<line x1="${x(chosen).toFixed(1)}" y1="${T + 20}" x2="${x(chosen).toFixed(1)}" y2="${H - B}" stroke="#2a8a2a" stroke-dasharray="2 2"/><text x="${(x(chosen) + 4).toFixed(1)}" y="${T + 32}" fill="#2a8a2a">prod ${chosen}</text>
<polyline fill="none" stroke="#1f5fa8" stroke-width="2" points="${line((p) => [x(p.serverLimit), y1(p.requestsPerSecond)])}"/>${dots((p) => [x(p.serverLimit), y1(p.requestsPerSecond)], "#1f5fa8")}
<polyline fill="none" stroke="#b5401f" stroke-width="2" points="${line((p) => [x(p.serverLimit), y2(p.p95Ms)])}"/>${dots((p) => [x(p.serverLimit), y2(p.p95Ms)], "#b5401f")}
</svg>
`;
}

async function main(): Promise<void> {
    const started = new Date();
    execFileSync("mvn", ["-q", "-B", "-f", path.join(CLIENT_DIR, "pom.xml"), "dependency:copy-dependencies", `-DoutputDirectory=${path.join(CLIENT_DIR, "target", "lib")}`], { stdio: "pipe" });
    const env = await startTenantEnvironment("operator");
    // Stopped from outside (^C, a timeout): the servers must not outlive the run and answer for the next one.
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(signal, () => void env.stop().finally(() => process.exit(1)));
    try {
        const { config } = env;
        const pooler = config.pooler.parameters;
        const instances = config.pooler.instances;
        const perPod = (key: string) => Number(pooler[key]);
        const login = env.tenantRole;
        const password = env.passwords[login]!;
        const db = config.tenant.databaseName;
        // The application's tables (created as the login role: owned by the owner role) and pgbench's.
        const asLogin = (args: string[]) => execFileSync(args[0]!, args.slice(1), { env: { ...process.env, PGPASSWORD: password, PGSSLMODE: "verify-ca", PGSSLROOTCERT: env.tls.caFile }, stdio: "pipe" });
        asLogin(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", env.postgres.host, "-U", login, "-d", db, "-c",
            `CREATE TABLE synergyflow_tasks.bench_tasks (id int PRIMARY KEY, title text, done boolean NOT NULL DEFAULT false, updated timestamptz);
             INSERT INTO synergyflow_tasks.bench_tasks SELECT g, 'task ' || g FROM generate_series(1, ${TASK_ROWS}) g;
             CREATE TABLE synergyflow_audit.bench_events (id bigserial PRIMARY KEY, task_id int, what text, at timestamptz DEFAULT now());`, "-c", "VACUUM ANALYZE synergyflow_tasks.bench_tasks"]);
        asLogin([PGBENCH, "-i", "-s", "10", "-q", "-h", env.postgres.host, "-U", login, db]);
        // The direct path with the login role's privileges but without its connection limit (60 and 1,000 clients).
        const benchPassword = `bench-${Math.random().toString(36).slice(2)}`;
        const searchPath = [...config.tenant.schemas, "public"].join(", ");
        env.psqlAsSuperuser(`CREATE ROLE bench_direct LOGIN PASSWORD '${benchPassword}' IN ROLE ${env.ownerRole};\nALTER ROLE bench_direct IN DATABASE ${db} SET role = '${env.ownerRole}';\nALTER ROLE bench_direct IN DATABASE ${db} SET search_path = ${searchPath};`);

        // A pod's server-side limits for a max_db_connections (the sweep); `times`: one process standing for that many pods.
        const podLimits = (maxDbPerPod: number, times = 1) => ({
            max_client_conn: String(perPod("max_client_conn") * times),
            default_pool_size: String(Math.max(maxDbPerPod - perPod("reserve_pool_size"), 1) * times),
            max_db_connections: String(maxDbPerPod * times),
            max_user_connections: String(maxDbPerPod * times),
            reserve_pool_size: String(perPod("reserve_pool_size") * times),
            min_pool_size: String(Math.min(perPod("min_pool_size"), maxDbPerPod) * times),
        });
        const pooled: Target = { label: "pooled", url: env.datasource["SPRING_DATASOURCE_URL"]!, user: login, password };
        const direct: Target = {
            label: "direct",
            url: jdbcUrl({ host: env.postgres.host, port: env.postgres.port, database: db, applicationName: config.tenant.appName, sslMode: "verify-ca" }).replace(encodeURIComponent("/etc/synergyflow-db/server-ca/ca.crt"), encodeURIComponent(env.tls.caFile)),
            user: "bench_direct",
            password: benchPassword,
        };
        const plain = (t: Target): Target => ({ ...t, url: t.url.replace(/sslmode=verify-ca&sslrootcert=[^&]*/, "sslmode=disable") });
        // The Pooler as deployed: one PgBouncer process per pod, each with the emitted per-pod settings, sharing
        // the address (so_reuseport) as the pods share the Service.
        const pods = { parameters: {}, processes: instances };
        const noReset = { server_reset_query_always: "0" };
        const rows = {
            pooled: { label: "pooled", target: pooled, pooler: pods },
            direct: { label: "direct", target: direct },
            ownCore: { label: "pooled, PgBouncer on its own core", target: pooled, pooler: pods, separateCores: true },
            ownCoreDirect: { label: "direct, on the same core as above", target: direct, separateCores: true },
            // What the session-state guard costs: no RESET ALL after every transaction.
            noReset: { label: "pooled, server_reset_query_always 0", target: pooled, pooler: { ...pods, parameters: noReset } },
            ownCoreNoReset: { label: "pooled, own core, server_reset_query_always 0", target: pooled, pooler: { ...pods, parameters: noReset }, separateCores: true },
            // The reset's round trip without RESET ALL's work: what any reset statement would cost.
            resetRoundTrip: { label: "pooled, server_reset_query SELECT 1", target: pooled, pooler: { ...pods, parameters: { server_reset_query: "SELECT 1" } } },
            // This benchmark's first shape: one process standing for the pods, with their limits added up.
            oneProcess: { label: `pooled, one process for the ${instances} pods`, target: pooled, pooler: { parameters: podLimits(perPod("max_db_connections"), instances) } },
            // Separately labelled: both paths without TLS (PgBouncer plain on both sides), to tell TLS's cost apart.
            plainPooled: { label: "pooled (no TLS)", target: plain(pooled), pooler: { ...pods, withoutTls: true } },
            plainDirect: { label: "direct (no TLS)", target: plain(direct) },
        } satisfies Record<string, Variant>;
        const measured = await runVariants(env, Object.values(rows));
        const app = Object.fromEntries(Object.entries(rows).map(([key, v]) => [key, measured[v.label]!])) as Record<keyof typeof rows, ReturnType<typeof summary>>;
        console.log("application shape", app);
        if (process.env["BENCH_ONLY"] === "app") return;
        await env.restartPgBouncer({}, false, instances);

        // The storm: 1,000 clients at once.
        const stormPooled = await storm(env, POOLER_HOST, login, password, 1000);
        console.log("storm pooled", stormPooled);
        const stormDirect = await storm(env, env.postgres.host, "bench_direct", benchPassword, 1000);
        console.log("storm direct", stormDirect);

        // Sizing: max_db_connections per pod.
        const sweep = [];
        for (const maxDb of [2, 3, 5, 7, 10, 14]) {
            await env.restartPgBouncer(podLimits(maxDb), false, instances);
            const s = await appShapeMedian(env, pooled, SWEEP_RUNS);
            console.log("sweep", maxDb, s);
            sweep.push({ maxDbPerPod: maxDb, serverLimit: maxDb * instances, ...s });
        }
        const budget = config.tenant.connectionLimit;
        fs.mkdirSync(DOCS, { recursive: true });
        fs.writeFileSync(path.join(DOCS, "pool-sizing.svg"), sizingSvg(sweep, budget, perPod("max_db_connections") * instances));

        const cpu = /model name\s*:\s*(.*)/.exec(fs.readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "unknown";
        const f = (n: number, digits = 0) => (Number.isNaN(n) ? "-" : n.toFixed(digits));
        const appRow = (s: ReturnType<typeof summary>, label: string) => `| ${label} | ${f(s.requestsPerSecond)} | ${f(s.p50Ms, 2)} | ${f(s.p95Ms, 2)} | ${f(s.p99Ms, 2)} | ${f(s.serverConnections)} | ${f(s.pssMb)} | ${label.startsWith("pooled") ? f(s.poolerCores, 2) : "-"} | ${s.failed} |`;
        const stormRow = (label: string, s: Awaited<ReturnType<typeof storm>>) => `| ${label} | ${s.completed ? "yes" : "no"} | ${f(s.tps)} | ${f(s.p99Ms, 1)} | ${s.failedTransactions} | ${s.connectionErrors}${s.firstError ? ` (${s.firstError.slice(0, 80)})` : ""} | ${s.peakPgProcesses} |`;
        /** "x% of direct, p95 y ms apart" for a pooled row against a direct row. */
        const versus = (a: ReturnType<typeof summary>, b: ReturnType<typeof summary>) => `**${f((a.requestsPerSecond / b.requestsPerSecond) * 100)}%** of the requests per second, p95 ${f(a.p95Ms - b.p95Ms, 2)} ms apart`;
        const doc = `## Host processes (\`npm run bench:pooler\`)

Measured by \`npm run bench:pooler\` on ${started.toISOString().slice(0, 10)}: ${os.cpus().length} cores (${cpu}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB;
PostgreSQL 15 (Debian, \`max_connections\` ${env.synth.platform!.slots.maxConnections}, \`fsync = off\`, TLS on) and PgBouncer 1.24.1 on
loopback, the clients on the same machine (this machine is shared and noisy: the ratios carry over, the absolute
numbers do not). **TLS on both paths**: clients verify the server's certificate (\`verify-ca\`) on the pooled and
the direct path, and PgBouncer reaches PostgreSQL over TLS (\`server_tls_sslmode = verify-ca\`, as CNPG configures it).
PgBouncer runs as the prod Pooler does: ${instances} processes (one per pod), each with the emitted per-pod settings
(\`max_db_connections\` ${perPod("max_db_connections")}, \`default_pool_size\` ${perPod("default_pool_size")}, \`max_client_conn\` ${perPod("max_client_conn")}), sharing the address with \`so_reuseport\` as
the pods share the Service: at most ${perPod("max_db_connections") * instances} server connections. The direct path uses a role with the login role's
privileges but no connection limit.

### The application's shape

PgJDBC + HikariCP (\`integration/jdbc-client/JdbcBench.java\`) with the datasource ConfigMap's settings (prepared
statements after 5 uses), ${config.backend.replicas} pools of ${config.backend.hikari.maximumPoolSize} connections (the backend's replicas), one thread per connection: 60%
read-only requests (a point read), 40% read-write (a point read, an update, an insert, one transaction) on
\`synergyflow_tasks\`/\`synergyflow_audit\`. ${SECONDS} s measured after 3 s of warm-up; medians of ${RUNS} runs, the rows
alternating run by run. "server conns" is the peak number of the role's sessions in PostgreSQL, "PSS" the peak
proportional memory of all PostgreSQL processes, "pooler CPU" PgBouncer's CPU time over the run in cores. "On its
own core": \`taskset\` puts PgBouncer on core 1 and PostgreSQL and the client on core 0; the direct row beside it
runs on core 0 alike, so both paths give the database and the application the same CPU (in the clusters the
pooler's pods have CPU of their own).

| path | requests/s | p50 ms | p95 ms | p99 ms | server conns | PSS MiB | pooler CPU | failed |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
${Object.values(rows).map((v) => appRow(measured[v.label]!, v.label)).join("\n")}

- Pooled / direct, TLS on both, all sharing ${os.cpus().length} cores: ${versus(app.pooled, app.direct)}, ${f(app.pooled.serverConnections)} server connections instead of ${f(app.direct.serverConnections)}.
- PgBouncer on its own core, the database and the application on the other for both paths: ${versus(app.ownCore, app.ownCoreDirect)}.
- Without the reset after every transaction (\`server_reset_query_always\` 0): ${versus(app.noReset, app.direct)}; on its own core: ${versus(app.ownCoreNoReset, app.ownCoreDirect)}.
- One process standing for the ${instances} pods (this benchmark's first shape): ${versus(app.oneProcess, app.direct)}.
- Without TLS on either path: ${versus(app.plainPooled, app.plainDirect)}.

${whyTheGap(app, config.backend.replicas * config.backend.hikari.maximumPoolSize)}

### Storm: 1,000 clients connecting at once

pgbench 15 \`tpcb-like\` (scale 10), \`-c 1000 -j 2\`, ${STORM_SECONDS} s, TLS (\`verify-ca\`), one run each. pgbench aborts the whole run
when a client cannot connect.

| path | completed | TPS | p99 ms | failed tx | connection errors | peak PG processes |
|---|---|---:|---:|---:|---|---:|
${stormRow("pooled", stormPooled)}
${stormRow("direct", stormDirect)}

### Sizing: server connections for the application's shape

The pooled application load above for \`max_db_connections\` per pod in ${sweep.map((s) => s.maxDbPerPod).join(", ")} (x ${instances} pods; \`default_pool_size\` =
\`max_db_connections\` - \`reserve_pool_size\`), ${SWEEP_RUNS} run(s) each. The role's limit is ${budget} per login role (the budget: 150 other
tenants + 2 x ${budget} of 197 usable slots), so at most ${Math.floor(budget / instances)} per pod fit.

![requests per second and p95 against server connections](pool-sizing.svg)

| max_db_connections per pod | server conns | requests/s | p95 ms | p99 ms | failed |
|---:|---:|---:|---:|---:|---:|
${sweep.map((s) => `| ${s.maxDbPerPod} | ${s.serverLimit} | ${f(s.requestsPerSecond)} | ${f(s.p95Ms, 2)} | ${f(s.p99Ms, 2)} | ${s.failed} |`).join("\n")}
`;
        writeBenchSection("host", doc);
        console.log(doc);
    } finally {
        await env.stop();
    }
}

main().catch((error) => {
    console.error(error);
    process.exit(1);
});

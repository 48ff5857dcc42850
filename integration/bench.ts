// `npm run bench:pooler` (not a test): pgbench on this machine, in one run, against the prod stack's tenant:
//   1. through PgBouncer (the emitted Pooler's parameters; max_client_conn raised to admit 1,000 clients) at 1,000 clients,
//   2. direct to PostgreSQL at the client count with the best TPS (a sweep finds it),
//   3. direct at as many clients as max_connections allows.
// Each point runs RUNS times; the table holds medians of TPS, p95 latency, PostgreSQL processes and their memory.
// Writes docs/benchmarks.md.
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { POOLER_HOST, type TenantEnvironment, startTenantEnvironment } from "./environment";

const RUNS = Number(process.env["BENCH_RUNS"] ?? 3);
// Long enough that 1,000 TLS + SCRAM logins through one PgBouncer process do not eat the run.
const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 30);
const SCALE = 10;
const PGBENCH = "/usr/lib/postgresql/15/bin/pgbench";

interface Sample {
    tps: number;
    p95Ms: number;
    backends: number;
    pssMb: number;
    failed: number;
}

const median = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

async function pgbench(env: TenantEnvironment, target: { host: string; port: number; user: string; password: string; ssl: boolean }, clients: number): Promise<Sample> {
    const logDir = fs.mkdtempSync(path.join(os.tmpdir(), "synergyflow-bench-"));
    const args = ["-h", target.host, "-p", String(target.port), "-U", target.user, "-c", String(clients), "-j", "2", "-T", String(SECONDS), "-n", "-l", "--log-prefix", path.join(logDir, "tx"), env.config.tenant.databaseName];
    let peak = { count: 0, pssKb: 0 };
    const sampler = setInterval(() => {
        const now = env.postgres.backends();
        if (now.pssKb > peak.pssKb) peak = now;
    }, 500);
    const output = await new Promise<string>((resolve, reject) => {
        const child = spawn(PGBENCH, args, { env: { ...process.env, PGPASSWORD: target.password, PGSSLMODE: target.ssl ? "require" : "disable" } });
        let text = "";
        child.stdout.on("data", (d) => (text += d));
        child.stderr.on("data", (d) => (text += d));
        child.on("exit", (code) => (code === 0 ? resolve(text) : reject(new Error(`pgbench exited ${code}: ${text.slice(-2000)}`))));
    });
    clearInterval(sampler);
    const latencies: number[] = [];
    for (const file of fs.readdirSync(logDir)) {
        for (const line of fs.readFileSync(path.join(logDir, file), "utf8").split("\n")) {
            const fields = line.split(" ");
            if (fields.length >= 3) latencies.push(Number(fields[2]) / 1000);
        }
    }
    fs.rmSync(logDir, { recursive: true, force: true });
    latencies.sort((a, b) => a - b);
    const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(output)?.[1] ?? NaN);
    if (Number.isNaN(tps)) throw new Error(`pgbench printed no TPS:\n${output.slice(-3000)}`);
    const failed = Number(/number of failed transactions: (\d+)/.exec(output)?.[1] ?? 0);
    return { tps, p95Ms: latencies[Math.floor(latencies.length * 0.95)] ?? NaN, backends: peak.count, pssMb: peak.pssKb / 1024, failed };
}

async function point(env: TenantEnvironment, target: Parameters<typeof pgbench>[1], clients: number, runs = RUNS) {
    const samples: Sample[] = [];
    for (let i = 0; i < runs; i++) samples.push(await pgbench(env, target, clients));
    return {
        clients,
        tps: median(samples.map((s) => s.tps)),
        p95Ms: median(samples.map((s) => s.p95Ms)),
        backends: median(samples.map((s) => s.backends)),
        pssMb: median(samples.map((s) => s.pssMb)),
        failed: samples.reduce((a, s) => a + s.failed, 0),
        runs: samples.length,
    };
}

async function main(): Promise<void> {
    const started = new Date();
    const env = await startTenantEnvironment("operator");
    try {
        const { config } = env;
        const tenant = { host: env.postgres.host, port: env.postgres.port, user: env.tenantRole, password: env.passwords[env.tenantRole]!, ssl: false };
        // pgbench's tables, owned by the tenant in its database.
        execFileSync(PGBENCH, ["-i", "-s", String(SCALE), "-q", "-h", tenant.host, "-p", String(tenant.port), "-U", tenant.user, config.tenant.databaseName], {
            env: { ...process.env, PGPASSWORD: tenant.password, PGSSLMODE: "disable" },
            stdio: "pipe",
        });
        // A role without the tenant's connection limit, so the direct runs can reach max_connections.
        const benchPassword = `bench-${Math.random().toString(36).slice(2)}`;
        env.psqlAsSuperuser(`CREATE ROLE bench_direct LOGIN PASSWORD '${benchPassword}' IN ROLE ${env.tenantRole};\nGRANT CONNECT ON DATABASE ${config.tenant.databaseName} TO bench_direct;`);
        const direct = { ...tenant, user: "bench_direct", password: benchPassword };

        await env.restartPgBouncer({ max_client_conn: "1100" });
        const pooled = await point(env, { host: POOLER_HOST, port: 5432, user: env.tenantRole, password: tenant.password, ssl: true }, 1000);
        console.log("pooled", pooled);

        // The direct runs get every slot: the pooler's server connections go away with it.
        await env.pgbouncer.stop();
        const sweep = [];
        for (const clients of [2, 4, 8, 16, 32, 64]) {
            const s = await point(env, direct, clients, 1);
            console.log("sweep", s);
            sweep.push(s);
        }
        const bestClients = sweep.reduce((a, b) => (b.tps > a.tps ? b : a)).clients;
        const best = await point(env, direct, bestClients);
        console.log("direct best", best);
        // Every slot a non-superuser can take.
        const allowed = env.synth.platform!.slots.maxConnections - env.synth.platform!.slots.superuserReservedConnections;
        const max = await point(env, direct, allowed);
        console.log("direct max", max);

        const cpu = /model name\s*:\s*(.*)/.exec(fs.readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "unknown";
        const row = (label: string, p: typeof pooled) =>
            `| ${label} | ${p.clients} | ${p.tps.toFixed(0)} | ${p.p95Ms.toFixed(1)} | ${p.backends} | ${p.pssMb.toFixed(0)} | ${p.failed} |`;
        const doc = `# Pooler benchmark

Measured by \`npm run bench:pooler\` on ${started.toISOString().slice(0, 10)}: ${os.cpus().length} cores (${cpu}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB,
PostgreSQL 15 (Debian, \`max_connections\` ${env.synth.platform!.slots.maxConnections}, \`fsync = off\`) and PgBouncer 1.24.1 on loopback,
pgbench 15 \`tpcb-like\` at scale ${SCALE}, ${SECONDS} s per run, pgbench and the servers on the same machine.
Medians of ${RUNS} runs (the sweep: 1 run per client count). PgBouncer runs the prod stack's Pooler parameters
(pool mode transaction, \`default_pool_size\` ${env.poolerSpec.pgbouncer.parameters["default_pool_size"]}, \`max_db_connections\` ${env.poolerSpec.pgbouncer.parameters["max_db_connections"]}, one pod of ${config.pooler.instances}) with
\`max_client_conn\` raised to 1100 so that 1,000 clients are admitted, clients over TLS as in production. "PG processes" is the
peak number of PostgreSQL processes (backends plus the postmaster and its helpers) sampled every 0.5 s, "PSS" their
proportional memory at that moment. The direct runs use a role without the tenant's connection limit.

| path | clients | TPS | p95 latency (ms) | PG processes | PSS (MiB) | failed tx |
|---|---:|---:|---:|---:|---:|---:|
${row("through PgBouncer", pooled)}
${row("direct, best client count", best)}
${row("direct, max_connections allows", max)}

Direct sweep (1 run each): ${sweep.map((s) => `${s.clients} clients ${s.tps.toFixed(0)} TPS`).join(", ")}.
`;
        fs.mkdirSync(path.join(__dirname, "..", "docs"), { recursive: true });
        fs.writeFileSync(path.join(__dirname, "..", "docs", "benchmarks.md"), doc);
        console.log(doc);
    } finally {
        await env.stop();
    }
}

main().catch((error) => {
    console.error(error);
    process.exit(1);
});

// The migration tier's servers and the way it runs the Jobs' scripts, shared by integration/migration.itest.ts and
// the one-off measurement integration/migration.large.ts: the shared cluster with its pooler (the tenant
// environment, as every integration test has it), a "dedicated" PostgreSQL as the source (TLS with its own CA, the
// app role owning the database, as CNPG bootstraps it), superuser sessions held open in both databases (as CNPG's
// instance manager and exporter hold them), and runJob, which runs a script as its Job would: bash, the source's
// Secret as SOURCE_*, the target through the pooler as login role a (verify-ca).
//
// Which PostgreSQL: SYNERGYFLOW_MIGRATION_PG selects the servers' major, 16 (default: the platform's, 16.8 from
// integration/setup/install-pg16.sh) or 15 (Debian's, which integration/setup/install.sh installs for the rest of
// the tier). The client tools are the Job's, PostgreSQL 16 (CNPG's postgresql:16.8 image), unless
// SYNERGYFLOW_MIGRATION_TOOLS=15 picks the server's own.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Client } from "pg";
import { MODULE_SCHEMAS } from "../components/model/config";
import { fingerprintSql } from "../components/model/migration/scripts";
import { POOLER_HOST, type TenantEnvironment, startTenantEnvironment } from "./environment";
import { type PostgresServer, makeTestCertificates, postgres15Bin, postgres16Bin, startPostgres } from "./servers";

export const SOURCE_HOST = "127.0.0.4";

export interface MigrationPostgres {
    /** The servers' major (source and shared cluster). */
    major: "15" | "16";
    serverBin: string;
    /** psql, pg_dump and pg_restore: what the Job runs. */
    toolsBin: string;
    /** The versions, as the binaries print them. */
    versions: string;
}

function migrationPostgres(): MigrationPostgres {
    const major = process.env["SYNERGYFLOW_MIGRATION_PG"] ?? "16";
    if (major !== "15" && major !== "16") throw new Error(`SYNERGYFLOW_MIGRATION_PG must be 15 or 16, not ${major}`);
    const tools = process.env["SYNERGYFLOW_MIGRATION_TOOLS"] ?? "16";
    if (tools !== "15" && tools !== "16") throw new Error(`SYNERGYFLOW_MIGRATION_TOOLS must be 15 or 16, not ${tools}`);
    const bin = (m: string) => (m === "15" ? postgres15Bin() : postgres16Bin());
    const serverBin = bin(major);
    const toolsBin = bin(tools);
    const version = (file: string) => execFileSync(file, ["--version"], { encoding: "utf8" }).trim();
    return { major, serverBin, toolsBin, versions: `server ${version(path.join(serverBin, "postgres"))}, tools ${version(path.join(toolsBin, "pg_dump"))}` };
}

export interface JobRun {
    status: number | null;
    signal: string | null;
    stderr: string;
    result: any;
    /** Wall time of the script, ms. */
    ms: number;
}

export interface MigrationRig {
    pg: MigrationPostgres;
    env: TenantEnvironment;
    source: PostgresServer;
    dir: string;
    sourcePassword: string;
    /** Superuser sessions held open in both databases during the copy (CNPG's instance manager and exporter). */
    superuserSessions: Client[];
    /** Runs body as the source's owner (app), connected to its database. */
    asApp<T>(body: (c: Client) => Promise<T>): Promise<T>;
    /** SQL as the source's superuser, through the Job's psql (one -c per element: each its own transaction). */
    sourceSuperuser(sql: string | string[], database?: string): string;
    /**
     * Runs a migration script as its Job would. Asynchronous, so a writer in this process keeps writing meanwhile.
     * `pathPrefix` is put in front of PATH (a test's stand-in for a tool).
     */
    runJob(script: string, options?: { replaceTarget?: boolean; sourceRootCert?: string; onStart?: (child: ChildProcess) => void; pathPrefix?: string }): Promise<JobRun>;
    /** Rows of SQL run on the target database as the superuser (unaligned, tuples only). */
    targetRows(sql: string): string[];
    /** Every line of the Jobs' fingerprint on one side (as the Job runs it: its psql, sorted). */
    fingerprintOf(side: "source" | "target", sql?: string): string[];
    stop(): Promise<void>;
}

/**
 * Starts the shared cluster (tenant environment) and the source, creates the app role owning database
 * synergyflow on the source with the module schemas, runs `seed` as app, and opens the superuser sessions.
 */
export async function startMigrationRig(seed: (asApp: MigrationRig["asApp"]) => Promise<void>, pg: MigrationPostgres = migrationPostgres()): Promise<MigrationRig> {
    const sourcePassword = `app-${Math.random().toString(36).slice(2)}`;
    const env = await startTenantEnvironment("operator", { postgresBin: pg.serverBin });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "synergyflow-migration-"));
    const superuserSessions: Client[] = [];
    let source: PostgresServer | undefined;
    const stop = async () => {
        await Promise.all(superuserSessions.map((c) => c.end().catch(() => undefined)));
        await env.stop();
        source?.stop();
        fs.rmSync(dir, { recursive: true, force: true });
    };
    try {
        const certificates = makeTestCertificates(dir, "synergyflow-db-ca", [SOURCE_HOST]);
        source = await startPostgres({ host: SOURCE_HOST, port: 5432, maxConnections: 50, superuserReservedConnections: 3, tls: certificates, bin: pg.serverBin });
        const sourceServer = source;
        fs.writeFileSync(path.join(dir, "fingerprint.sql"), fingerprintSql(MODULE_SCHEMAS));
        // The Jobs' client tools first on PATH (the test's own psql calls and the scripts').
        process.env["PATH"] = `${pg.toolsBin}:${process.env["PATH"]}`;
        const sourceSuperuser = (sql: string | string[], db = "postgres") =>
            execFileSync(path.join(pg.toolsBin, "psql"), ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-h", SOURCE_HOST, "-U", sourceServer.superuser, "-d", db, ...[sql].flat().flatMap((c) => ["-c", c])], { encoding: "utf8", env: { ...process.env, PGPASSWORD: sourceServer.superuserPassword }, stdio: "pipe" });
        const asApp = async <T>(body: (c: Client) => Promise<T>): Promise<T> => {
            const c = new Client({ host: SOURCE_HOST, port: 5432, user: "app", password: sourcePassword, database: "synergyflow" });
            await c.connect();
            try {
                return await body(c);
            } finally {
                await c.end().catch(() => undefined);
            }
        };
        // The dedicated cluster as CNPG bootstraps it: the app role owns the database and everything in it.
        sourceSuperuser(`CREATE ROLE app LOGIN PASSWORD '${sourcePassword}'`);
        sourceSuperuser("CREATE DATABASE synergyflow OWNER app");
        await asApp(async (c) => {
            for (const schema of MODULE_SCHEMAS) await c.query(`CREATE SCHEMA ${schema}`);
        });
        await seed(asApp);
        // The superuser sessions a CNPG instance always has in the database; the owner may not end them.
        for (const [host, password, database] of [
            [SOURCE_HOST, sourceServer.superuserPassword, "synergyflow"],
            [env.postgres.host, env.postgres.superuserPassword, env.config.tenant.databaseName],
        ] as const) {
            for (const application of ["cnpg-instance-manager", "cnpg-metrics-exporter"]) {
                const c = new Client({ host, port: 5432, user: "postgres", password, database, application_name: application });
                await c.connect();
                superuserSessions.push(c);
            }
        }
        const targetRows = (sql: string) => env.psqlAsSuperuser(`\\pset format unaligned\n\\pset tuples_only on\n${sql}`, "synergyflow").split("\n").filter((l) => l && !l.startsWith("Output format") && !l.startsWith("Tuples only"));
        const fingerprintOf = (side: "source" | "target", sql = fingerprintSql(MODULE_SCHEMAS)) => {
            const file = path.join(dir, `fingerprint-${side}.sql`);
            fs.writeFileSync(file, sql);
            const conn = side === "source" ? { PGHOST: SOURCE_HOST, PGUSER: "app", PGPASSWORD: sourcePassword, PGDATABASE: "synergyflow", PGSSLMODE: "verify-full", PGSSLROOTCERT: certificates.caFile } : { PGHOST: POOLER_HOST, PGUSER: env.tenantRole, PGPASSWORD: env.passwords[env.tenantRole] as string, PGDATABASE: env.config.tenant.databaseName, PGSSLMODE: "verify-ca", PGSSLROOTCERT: env.tls.caFile };
            const out = execFileSync(path.join(pg.toolsBin, "psql"), ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-F", " ", "-f", file], { encoding: "utf8", maxBuffer: 256 * 1024 * 1024, env: { ...process.env, PGPORT: "5432", PGTZ: "UTC", ...conn } });
            return out.split("\n").filter(Boolean).sort();
        };
        const runJob: MigrationRig["runJob"] = async (script, options = {}) => {
            const file = path.join(dir, "script.sh");
            const resultFile = path.join(dir, "result.json");
            fs.rmSync(resultFile, { force: true });
            fs.writeFileSync(file, script);
            const login = env.tenantRole;
            const started = Date.now();
            const child = spawn("bash", [file], {
                env: {
                    PATH: options.pathPrefix ? `${options.pathPrefix}:${process.env["PATH"]}` : process.env["PATH"],
                    MIGRATION_DIR: dir,
                    RESULT_FILE: resultFile,
                    SOURCE_HOST,
                    SOURCE_PORT: "5432",
                    SOURCE_DATABASE: "synergyflow",
                    SOURCE_USER: "app",
                    SOURCE_PASSWORD: sourcePassword,
                    SOURCE_SSLMODE: "verify-full",
                    SOURCE_SSLROOTCERT: options.sourceRootCert ?? certificates.caFile,
                    REPLACE_TARGET: String(options.replaceTarget ?? false),
                    // The target exactly as the backend reaches it: the pooler, verify-ca with the delivered CA.
                    PGHOST: POOLER_HOST,
                    PGPORT: "5432",
                    PGDATABASE: env.config.tenant.databaseName,
                    PGUSER: login,
                    PGPASSWORD: env.passwords[login],
                    PGSSLMODE: "verify-ca",
                    PGSSLROOTCERT: env.tls.caFile,
                },
                stdio: ["ignore", "ignore", "pipe"],
            });
            let stderr = "";
            child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
            const closed = new Promise<[number | null, string | null]>((resolve) => child.on("close", (code, signal) => resolve([code, signal])));
            options.onStart?.(child);
            const [status, signal] = await closed;
            return { status, signal, stderr, ms: Date.now() - started, result: fs.existsSync(resultFile) ? JSON.parse(fs.readFileSync(resultFile, "utf8")) : undefined };
        };
        return { pg, env, source: sourceServer, dir, sourcePassword, superuserSessions, asApp, sourceSuperuser, runJob, targetRows, fingerprintOf, stop };
    } catch (error) {
        await stop();
        throw error;
    }
}


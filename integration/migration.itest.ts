// The migration's copy, verification and rollback on real servers, running the exact scripts the Jobs run
// (components/migration/scripts.ts): a "dedicated" PostgreSQL with the seven schemas and data, the shared one
// with the other tenants, the restore through PgBouncer in transaction mode as login role a (TLS, verify-ca),
// the source reached with verify-full against its own CA, and a writer that keeps writing while the copy starts.
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Client } from "pg";
import { MODULE_SCHEMAS } from "../components/config";
import { copyScript, fingerprintSql, rollbackScript } from "../components/migration/scripts";
import { POOLER_HOST, type TenantEnvironment, errorOf, startTenantEnvironment } from "./environment";
import { type PostgresServer, makeTestCertificates, startPostgres } from "./servers";

const SOURCE_HOST = "127.0.0.4";
const SOURCE_PASSWORD = `app-${Math.random().toString(36).slice(2)}`;
const ROWS = 300000;
const LARGE_OBJECTS = 20;
const LARGE_OBJECT_BYTES = 65536;
/** Rows outside the writer's table: users, tasks, incidents, attachments. */
const FIXED_ROWS = ROWS + 50000 + 1000 + LARGE_OBJECTS;

let env: TenantEnvironment;
let source: PostgresServer;
let dir: string;
/** The dedicated cluster's CA: the Jobs reach the source with verify-full, as they do its -rw Service. */
let sourceCa: string;
beforeAll(async () => {
    env = await startTenantEnvironment("operator");
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "synergyflow-migration-"));
    const certificates = makeTestCertificates(dir, "synergyflow-db-ca", [SOURCE_HOST]);
    sourceCa = certificates.caFile;
    try {
        source = await startPostgres({ host: SOURCE_HOST, port: 5432, maxConnections: 50, superuserReservedConnections: 3, tls: certificates });
    } catch (error) {
        await env.stop();
        throw error;
    }
    fs.writeFileSync(path.join(dir, "fingerprint.sql"), fingerprintSql(MODULE_SCHEMAS));
    const su = (sql: string, db = "postgres") => execFileSync("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", SOURCE_HOST, "-U", source.superuser, "-d", db, "-c", sql], { env: { ...process.env, PGPASSWORD: source.superuserPassword }, stdio: "pipe" });
    // The dedicated cluster as CNPG bootstraps it: the app role owns the database and everything in it.
    su(`CREATE ROLE app LOGIN PASSWORD '${SOURCE_PASSWORD}'`);
    su("CREATE DATABASE synergyflow OWNER app");
    await asApp(async (c) => {
        for (const schema of MODULE_SCHEMAS) await c.query(`CREATE SCHEMA ${schema}`);
        await c.query(`CREATE TABLE synergyflow_users.users (id bigserial PRIMARY KEY, name text NOT NULL, created timestamptz NOT NULL, score numeric(10,3), avatar bytea)`);
        await c.query(`INSERT INTO synergyflow_users.users (name, created, score, avatar) SELECT 'user ' || g, timestamptz '2024-01-01 00:00+02' + g * interval '1 minute', g / 7.0, decode(md5(g::text), 'hex') FROM generate_series(1, ${ROWS}) g`);
        await c.query(`CREATE TABLE synergyflow_tasks.tasks (id serial PRIMARY KEY, owner bigint REFERENCES synergyflow_users.users, title text, done boolean DEFAULT false)`);
        await c.query(`INSERT INTO synergyflow_tasks.tasks (owner, title) SELECT (g % ${ROWS}) + 1, 'task ' || g FROM generate_series(1, 50000) g`);
        await c.query(`CREATE TABLE synergyflow_audit.events (id bigserial PRIMARY KEY, at timestamptz DEFAULT now(), what text)`);
        await c.query(`CREATE SEQUENCE synergyflow_changes.change_no START 1000`);
        await c.query(`SELECT setval('synergyflow_changes.change_no', 4242)`);
        await c.query(`CREATE VIEW synergyflow_knowledge.open_tasks AS SELECT id, title FROM synergyflow_tasks.tasks WHERE NOT done`);
        await c.query(`CREATE FUNCTION synergyflow_workflows.task_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM synergyflow_tasks.tasks'`);
        await c.query(`CREATE TABLE synergyflow_incidents.incidents (id int PRIMARY KEY, payload jsonb)`);
        await c.query(`INSERT INTO synergyflow_incidents.incidents SELECT g, jsonb_build_object('n', g, 'tags', jsonb_build_array('a', g)) FROM generate_series(1, 1000) g`);
        // Large objects (database-wide, referenced by OID from a table): 20 of 64 KiB.
        await c.query(`CREATE TABLE synergyflow_knowledge.attachments (id int PRIMARY KEY, content oid NOT NULL)`);
        await c.query(`INSERT INTO synergyflow_knowledge.attachments SELECT g, lo_from_bytea(0, decode(repeat(md5(g::text), ${LARGE_OBJECT_BYTES / 16}), 'hex')) FROM generate_series(1, ${LARGE_OBJECTS}) g`);
    });
}, 240000);
afterAll(async () => {
    await env?.stop();
    source?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function asApp<T>(body: (c: Client) => Promise<T>): Promise<T> {
    const c = new Client({ host: SOURCE_HOST, port: 5432, user: "app", password: SOURCE_PASSWORD, database: "synergyflow" });
    await c.connect();
    try {
        return await body(c);
    } finally {
        await c.end().catch(() => undefined);
    }
}

/**
 * Runs a migration script as its Job would: bash, the source's Secret as SOURCE_*, the target through the
 * pooler. Asynchronous, so a writer in this process keeps writing meanwhile.
 */
async function runJob(script: string, replaceTarget = false, sourceRootCert = sourceCa): Promise<{ status: number | null; stderr: string; result: any }> {
    const file = path.join(dir, "script.sh");
    const resultFile = path.join(dir, "result.json");
    fs.rmSync(resultFile, { force: true });
    fs.writeFileSync(file, script);
    const login = env.tenantRole;
    const child = spawn("bash", [file], {
        env: {
            PATH: process.env["PATH"],
            MIGRATION_DIR: dir,
            RESULT_FILE: resultFile,
            SOURCE_HOST,
            SOURCE_PORT: "5432",
            SOURCE_DATABASE: "synergyflow",
            SOURCE_USER: "app",
            SOURCE_PASSWORD,
            SOURCE_SSLMODE: "verify-full",
            SOURCE_SSLROOTCERT: sourceRootCert,
            REPLACE_TARGET: String(replaceTarget),
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
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const status = await new Promise<number | null>((resolve) => child.on("close", resolve));
    return { status, stderr, result: fs.existsSync(resultFile) ? JSON.parse(fs.readFileSync(resultFile, "utf8")) : undefined };
}

const targetRows = (sql: string) => env.psqlAsSuperuser(`\\pset format unaligned\n\\pset tuples_only on\n${sql}`, "synergyflow").split("\n").filter((l) => l && !l.startsWith("Output format") && !l.startsWith("Tuples only"));
const otherTenants = () => env.psqlAsSuperuser("SELECT datname, datacl FROM pg_database WHERE datname <> 'synergyflow' ORDER BY 1;\nSELECT rolname, rolconnlimit FROM pg_roles ORDER BY 1;");

describe("migration from the dedicated cluster", () => {
    const committed: number[] = [];
    let before: string;

    test("copy: a writer that keeps writing is stopped, every committed row arrives, every checksum is equal, the owner owns everything", async () => {
        before = otherTenants();
        // A writer in autocommit, as the old backend would be if it were not scaled to zero yet.
        const writer = new Client({ host: SOURCE_HOST, port: 5432, user: "app", password: SOURCE_PASSWORD, database: "synergyflow" });
        await writer.connect();
        // The termination may reach the client between two queries (an "error" event; the next query then fails
        // as "not queryable") or during one (that query fails with it): keep both.
        const writerEvents: string[] = [];
        writer.on("error", (error) => writerEvents.push(error.message));
        let writing = true;
        let writerError = "";
        const loop = (async () => {
            for (let i = 0; writing; i++) {
                try {
                    const r = await writer.query("INSERT INTO synergyflow_audit.events (what) VALUES ($1) RETURNING id", [`write ${i}`]);
                    committed.push(Number(r.rows[0].id));
                } catch (error) {
                    writerError = (error as Error).message;
                    return;
                }
            }
        })();
        await new Promise((r) => setTimeout(r, 500));
        const started = Date.now();
        const job = await runJob(copyScript({ schemas: MODULE_SCHEMAS, replaceTarget: false }));
        writing = false;
        await loop;
        console.log(`copy: ${JSON.stringify(job.result)} in ${Date.now() - started} ms; the writer committed ${committed.length} rows, then: ${writerError}`);
        expect(job.stderr).toBe("");
        expect(job.status).toBe(0);
        expect(job.result).toMatchObject({ checksumsEqual: true, tables: 5, rows: FIXED_ROWS + committed.length });
        expect(job.result.bytes).toBeGreaterThan(0);
        // The writer was ended; a new session of it is read-only.
        expect([writerError, ...writerEvents].join("; ")).toMatch(/terminating connection due to administrator command|Connection terminated/);
        expect(await errorOf(asApp((c) => c.query("INSERT INTO synergyflow_audit.events (what) VALUES ('late')")))).toMatch(/read-only transaction/);
        // Every row the writer saw committed is in the shared database.
        const copied = new Set(targetRows("SELECT id FROM synergyflow_audit.events;").map(Number));
        expect(committed.length).toBeGreaterThan(0);
        expect(committed.filter((id) => !copied.has(id))).toEqual([]);
        // Sequences, view and function came along; everything belongs to the owner role.
        expect(targetRows("SELECT last_value FROM synergyflow_changes.change_no;")).toEqual(["4242"]);
        expect(targetRows("SELECT synergyflow_workflows.task_count();")).toEqual(["50000"]);
        // The large objects came along under their OIDs, byte for byte (the fingerprint compared their md5s too).
        expect(targetRows("SELECT count(*), sum(length(lo_get(content))), bool_and(lo_get(content) = decode(repeat(md5(id::text), " + LARGE_OBJECT_BYTES / 16 + "), 'hex')) FROM synergyflow_knowledge.attachments;")).toEqual([`${LARGE_OBJECTS}|${LARGE_OBJECTS * LARGE_OBJECT_BYTES}|t`]);
        const owners = targetRows(`SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname LIKE 'synergyflow_%' UNION SELECT DISTINCT pg_get_userbyid(p.proowner) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname LIKE 'synergyflow_%' UNION SELECT DISTINCT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname LIKE 'synergyflow_%' UNION SELECT DISTINCT pg_get_userbyid(lomowner) FROM pg_largeobject_metadata;`);
        expect(owners).toEqual([env.ownerRole]);
        // The other tenants' databases and roles are untouched.
        expect(otherTenants()).toBe(before);
    }, 300000);

    test("re-running copy refuses the non-empty target (and leaves the source writable again) unless told to replace it", async () => {
        const again = await runJob(copyScript({ schemas: MODULE_SCHEMAS, replaceTarget: false }));
        expect(again.status).toBe(1);
        expect(again.stderr).toContain(`copy refused: the target database holds 5 tables in the module schemas and ${LARGE_OBJECTS} large objects; set synergyflow-db:migration.replaceTarget true to replace them`);
        expect(again.stderr).toContain("copy failed: the source database synergyflow is writable again");
        await asApp((c) => c.query("INSERT INTO synergyflow_audit.events (what) VALUES ('after a refused copy')"));
        const replaced = await runJob(copyScript({ schemas: MODULE_SCHEMAS, replaceTarget: true }), true);
        expect(replaced.status).toBe(0);
        // The replaced target's large objects were unlinked first: the dump re-creates them under the same OIDs.
        expect(replaced.stderr).toBe("");
        expect(replaced.result).toMatchObject({ checksumsEqual: true, tables: 5, rows: FIXED_ROWS + committed.length + 1 });
    }, 300000);

    test("the Jobs verify the source's certificate: with another CA they stop before reading anything", async () => {
        const refused = await runJob(rollbackScript(), false, env.tls.otherCaFile);
        expect(refused.status).not.toBe(0);
        expect(refused.stderr).toContain("certificate verify failed");
        expect(refused.result).toBeUndefined();
    }, 60000);

    test("rollback after a cutover with a few writes on the shared side reports them, and makes the source writable", async () => {
        // After cutover the backend writes to the shared database through the pooler.
        const backend = await env.connect({ user: env.loginRoles[1] as string }, "pooler");
        try {
            for (let i = 0; i < 5; i++) await backend.query("INSERT INTO synergyflow_audit.events (what) VALUES ($1)", [`after cutover ${i}`]);
        } finally {
            await backend.end();
        }
        const sourceRows = Number((await asApp((c) => c.query("SELECT count(*) AS n FROM synergyflow_audit.events"))).rows[0].n);
        const job = await runJob(rollbackScript());
        console.log(`rollback: ${JSON.stringify(job.result)}`);
        expect(job.status).toBe(0);
        expect(job.result).toEqual({ sourceWritable: true, tablesChangedOnShared: 1, rowCounts: { "synergyflow_audit.events": { source: sourceRows, shared: sourceRows + 5 } }, largeObjects: { source: LARGE_OBJECTS, shared: LARGE_OBJECTS } });
        await asApp((c) => c.query("INSERT INTO synergyflow_audit.events (what) VALUES ('writable again')"));
        expect(otherTenants()).toBe(before);
    }, 300000);
});

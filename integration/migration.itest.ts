// The migration's copy, verification and rollback on real servers, running the exact scripts the Jobs run
// (components/migration/scripts.ts), on PostgreSQL 16 (the platform's major; server 16.8 and client tools 16.2,
// integration/setup/install-pg16.sh): a "dedicated" PostgreSQL shaped like the application (extensions in public
// and in a module schema, Flowable-style upper-case tables, enum and domain types, identity, serial and generated
// columns, a partitioned table, a materialized view, triggers, comments, cross-schema foreign keys, large objects),
// the shared one with the other tenants, superuser sessions held open on both (as CNPG's instance manager and
// exporter hold them), the restore through PgBouncer in transaction mode as login role a (TLS, verify-ca), the
// source reached with verify-full against its own CA, and writers that keep writing (and reconnecting) while the
// copy starts.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Client } from "pg";
import { MODULE_SCHEMAS } from "../components/model/config";
import { TRUSTED_EXTENSIONS_PG16 } from "../components/model/migration/extensions";
import { copyScript, fingerprintSql, rollbackScript } from "../components/model/migration/scripts";
import { POOLER_HOST, type TenantEnvironment, errorOf, startTenantEnvironment } from "./environment";
import { type PostgresServer, makeTestCertificates, postgres16Bin, startPostgres } from "./servers";

const SOURCE_HOST = "127.0.0.4";
const SOURCE_PASSWORD = `app-${Math.random().toString(36).slice(2)}`;
const ROWS = 200000;
const LARGE_OBJECTS = 20;
const LARGE_OBJECT_BYTES = 65536;
const EXECUTIONS = 5000;
/** Rows outside the writers' table: users, tasks, incidents, attachments, Flowable's two tables, the 2024 audit partition. */
const FIXED_ROWS = ROWS + 50000 + 1000 + LARGE_OBJECTS + EXECUTIONS + EXECUTIONS + 100;
const TABLES = 9;
/** What the source has (\dx), as the stack declares it. */
const EXTENSIONS = { citext: "copy", pg_trgm: "copy" } as const;
const copy = (replaceTarget: boolean, extra: Partial<Parameters<typeof copyScript>[0]> = {}) => copyScript({ schemas: MODULE_SCHEMAS, replaceTarget, extensions: EXTENSIONS, ...extra });
const PG16 = postgres16Bin();

let env: TenantEnvironment;
let source: PostgresServer;
let dir: string;
/** The dedicated cluster's CA: the Jobs reach the source with verify-full, as they do its -rw Service. */
let sourceCa: string;
/** Superuser sessions held open in both databases during the copy, as CNPG's instance manager and exporter hold them. */
const superuserSessions: Client[] = [];
beforeAll(async () => {
    env = await startTenantEnvironment("operator", { postgresBin: PG16 });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "synergyflow-migration-"));
    const certificates = makeTestCertificates(dir, "synergyflow-db-ca", [SOURCE_HOST]);
    sourceCa = certificates.caFile;
    try {
        source = await startPostgres({ host: SOURCE_HOST, port: 5432, maxConnections: 50, superuserReservedConnections: 3, tls: certificates, bin: PG16 });
    } catch (error) {
        await env.stop();
        throw error;
    }
    fs.writeFileSync(path.join(dir, "fingerprint.sql"), fingerprintSql(MODULE_SCHEMAS));
    // The Jobs' client tools: PostgreSQL 16's psql, pg_dump and pg_restore.
    process.env["PATH"] = `${PG16}:${process.env["PATH"]}`;
    const su = (sql: string, db = "postgres") => execFileSync("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", SOURCE_HOST, "-U", source.superuser, "-d", db, "-c", sql], { env: { ...process.env, PGPASSWORD: source.superuserPassword }, stdio: "pipe" });
    // The dedicated cluster as CNPG bootstraps it: the app role owns the database and everything in it.
    su(`CREATE ROLE app LOGIN PASSWORD '${SOURCE_PASSWORD}'`);
    su("CREATE DATABASE synergyflow OWNER app");
    await asApp(async (c) => {
        for (const schema of MODULE_SCHEMAS) await c.query(`CREATE SCHEMA ${schema}`);
        // Trusted extensions the owner creates itself: one in public used by a column, one in a module schema used by an index.
        await c.query(`CREATE EXTENSION citext`);
        await c.query(`CREATE EXTENSION pg_trgm SCHEMA synergyflow_knowledge`);
        await c.query(`COMMENT ON SCHEMA synergyflow_users IS 'the users module'`);
        await c.query(`CREATE TYPE synergyflow_users.user_status AS ENUM ('invited', 'active', 'locked')`);
        await c.query(`CREATE DOMAIN synergyflow_incidents.priority AS smallint NOT NULL DEFAULT 3 CHECK (VALUE BETWEEN 1 AND 5)`);
        await c.query(`CREATE TABLE synergyflow_users.users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL, email public.citext NOT NULL UNIQUE, status synergyflow_users.user_status NOT NULL DEFAULT 'active', created timestamptz NOT NULL, score numeric(10,3), avatar bytea, display text GENERATED ALWAYS AS (upper(name) || ' <' || email || '>') STORED)`);
        await c.query(`COMMENT ON COLUMN synergyflow_users.users.email IS 'case-insensitive login'`);
        await c.query(`INSERT INTO synergyflow_users.users (name, email, created, score, avatar) SELECT 'user ' || g, 'User' || g || '@Example.org', timestamptz '2024-01-01 00:00+02' + g * interval '1 minute', g / 7.0, decode(md5(g::text), 'hex') FROM generate_series(1, ${ROWS}) g`);
        await c.query(`CREATE TABLE synergyflow_tasks.tasks (id serial PRIMARY KEY, owner bigint REFERENCES synergyflow_users.users, title text, done boolean DEFAULT false, updated timestamptz)`);
        await c.query(`CREATE FUNCTION synergyflow_tasks.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.updated := now(); RETURN NEW; END$$`);
        await c.query(`CREATE TRIGGER tasks_touch BEFORE UPDATE ON synergyflow_tasks.tasks FOR EACH ROW EXECUTE FUNCTION synergyflow_tasks.touch()`);
        await c.query(`COMMENT ON TRIGGER tasks_touch ON synergyflow_tasks.tasks IS 'keeps updated'`);
        await c.query(`INSERT INTO synergyflow_tasks.tasks (owner, title) SELECT (g % ${ROWS}) + 1, 'task ' || g FROM generate_series(1, 50000) g`);
        // The writers' table: partitioned by time, as an audit log is.
        await c.query(`CREATE TABLE synergyflow_audit.events (id bigserial, at timestamptz NOT NULL DEFAULT now(), what text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at)`);
        await c.query(`CREATE TABLE synergyflow_audit.events_2024 PARTITION OF synergyflow_audit.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')`);
        await c.query(`CREATE TABLE synergyflow_audit.events_later PARTITION OF synergyflow_audit.events DEFAULT`);
        await c.query(`INSERT INTO synergyflow_audit.events (at, what) SELECT timestamptz '2024-06-01' + g * interval '1 hour', 'seed ' || g FROM generate_series(1, 100) g`);
        await c.query(`COMMENT ON TABLE synergyflow_audit.events IS 'every change, by month'`);
        await c.query(`CREATE SEQUENCE synergyflow_changes.change_no START 1000`);
        await c.query(`SELECT setval('synergyflow_changes.change_no', 4242)`);
        await c.query(`CREATE VIEW synergyflow_knowledge.open_tasks AS SELECT id, title FROM synergyflow_tasks.tasks WHERE NOT done`);
        await c.query(`CREATE MATERIALIZED VIEW synergyflow_knowledge.task_stats AS SELECT done, count(*) AS n FROM synergyflow_tasks.tasks GROUP BY done`);
        await c.query(`CREATE INDEX task_titles_trgm ON synergyflow_tasks.tasks USING gin (title synergyflow_knowledge.gin_trgm_ops)`);
        await c.query(`CREATE FUNCTION synergyflow_workflows.task_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM synergyflow_tasks.tasks'`);
        await c.query(`CREATE TABLE synergyflow_incidents.incidents (id int PRIMARY KEY, priority synergyflow_incidents.priority, payload jsonb)`);
        await c.query(`INSERT INTO synergyflow_incidents.incidents SELECT g, 1 + g % 5, jsonb_build_object('n', g, 'tags', jsonb_build_array('a', g)) FROM generate_series(1, 1000) g`);
        // Flowable's shape: upper-case quoted names, varchar ids, byte arrays, a foreign key into another module.
        await c.query(`CREATE TABLE synergyflow_workflows."ACT_GE_BYTEARRAY" ("ID_" varchar(64) PRIMARY KEY, "REV_" integer, "NAME_" varchar(255), "BYTES_" bytea)`);
        await c.query(`CREATE TABLE synergyflow_workflows."ACT_RU_EXECUTION" ("ID_" varchar(64) PRIMARY KEY, "REV_" integer, "PROC_INST_ID_" varchar(64), "BUSINESS_KEY_" varchar(255), "TASK_ID_" integer REFERENCES synergyflow_tasks.tasks, "RESOURCE_ID_" varchar(64) CONSTRAINT "ACT_FK_EXE_RESOURCE" REFERENCES synergyflow_workflows."ACT_GE_BYTEARRAY")`);
        await c.query(`CREATE INDEX "ACT_IDX_EXEC_BUSKEY" ON synergyflow_workflows."ACT_RU_EXECUTION" ("BUSINESS_KEY_")`);
        await c.query(`INSERT INTO synergyflow_workflows."ACT_GE_BYTEARRAY" SELECT 'b' || g, 1, 'process ' || g || '.bpmn', convert_to(repeat('<bpmn/>', 20), 'UTF8') FROM generate_series(1, ${EXECUTIONS}) g`);
        await c.query(`INSERT INTO synergyflow_workflows."ACT_RU_EXECUTION" SELECT 'e' || g, 1, 'p' || g, 'key-' || g, 1 + g % 50000, 'b' || g FROM generate_series(1, ${EXECUTIONS}) g`);
        // Large objects (database-wide, referenced by OID from a table): 20 of 64 KiB.
        await c.query(`CREATE TABLE synergyflow_knowledge.attachments (id int PRIMARY KEY, content oid NOT NULL)`);
        await c.query(`INSERT INTO synergyflow_knowledge.attachments SELECT g, lo_from_bytea(0, decode(repeat(md5(g::text), ${LARGE_OBJECT_BYTES / 16}), 'hex')) FROM generate_series(1, ${LARGE_OBJECTS}) g`);
    });
    // The superuser sessions a CNPG instance always has in the database; the owner may not end them.
    for (const [host, password, database] of [
        [SOURCE_HOST, source.superuserPassword, "synergyflow"],
        [env.postgres.host, env.postgres.superuserPassword, env.config.tenant.databaseName],
    ] as const) {
        for (const application of ["cnpg-instance-manager", "cnpg-metrics-exporter"]) {
            const c = new Client({ host, port: 5432, user: "postgres", password, database, application_name: application });
            await c.connect();
            superuserSessions.push(c);
        }
    }
}, 240000);
afterAll(async () => {
    await Promise.all(superuserSessions.map((c) => c.end().catch(() => undefined)));
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
async function runJob(script: string, replaceTarget = false, sourceRootCert = sourceCa, onStart?: (child: ChildProcess) => void): Promise<{ status: number | null; signal: string | null; stderr: string; result: any }> {
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
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const closed = new Promise<[number | null, string | null]>((resolve) => child.on("close", (code, signal) => resolve([code, signal])));
    onStart?.(child);
    const [status, signal] = await closed;
    return { status, signal, stderr, result: fs.existsSync(resultFile) ? JSON.parse(fs.readFileSync(resultFile, "utf8")) : undefined };
}

const targetRows = (sql: string) => env.psqlAsSuperuser(`\\pset format unaligned\n\\pset tuples_only on\n${sql}`, "synergyflow").split("\n").filter((l) => l && !l.startsWith("Output format") && !l.startsWith("Tuples only"));
const otherTenants = () => env.psqlAsSuperuser("SELECT datname, datacl FROM pg_database WHERE datname <> 'synergyflow' ORDER BY 1;\nSELECT rolname, rolconnlimit FROM pg_roles ORDER BY 1;");

/** Every line of the Jobs' fingerprint on one side (as the Job runs it: psql 16, sorted). */
function fingerprintOf(side: "source" | "target", sql = fingerprintSql(MODULE_SCHEMAS)): string[] {
    const file = path.join(dir, `fingerprint-${side}.sql`);
    fs.writeFileSync(file, sql);
    const conn = side === "source" ? { PGHOST: SOURCE_HOST, PGUSER: "app", PGPASSWORD: SOURCE_PASSWORD, PGDATABASE: "synergyflow", PGSSLMODE: "verify-full", PGSSLROOTCERT: sourceCa } : { PGHOST: POOLER_HOST, PGUSER: env.tenantRole, PGPASSWORD: env.passwords[env.tenantRole] as string, PGDATABASE: env.config.tenant.databaseName, PGSSLMODE: "verify-ca", PGSSLROOTCERT: env.tls.caFile };
    const out = execFileSync(path.join(PG16, "psql"), ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-F", " ", "-f", file], { encoding: "utf8", env: { ...process.env, PGPORT: "5432", PGTZ: "UTC", ...conn } });
    return out.split("\n").filter(Boolean).sort();
}

/**
 * The old backend's writers: a pool that reconnects after its connection is ended (as HikariCP does), inserting in
 * autocommit. Returns the ids whose commit the client saw, and every error it met.
 */
function startWriters(count: number) {
    const committed: number[] = [];
    const errors: string[] = [];
    let writing = true;
    const one = async (n: number) => {
        for (let i = 0; writing; i++) {
            const c = new Client({ host: SOURCE_HOST, port: 5432, user: "app", password: SOURCE_PASSWORD, database: "synergyflow", application_name: `synergyflow-backend-${n}` });
            c.on("error", (error) => errors.push(error.message));
            try {
                await c.connect();
                for (; writing; i++) {
                    const r = await c.query("INSERT INTO synergyflow_audit.events (what) VALUES ($1) RETURNING id", [`writer ${n} write ${i}`]);
                    committed.push(Number(r.rows[0].id));
                }
            } catch (error) {
                errors.push((error as Error).message);
                await new Promise((r) => setTimeout(r, 50));
            } finally {
                await c.end().catch(() => undefined);
            }
        }
    };
    const loops = Array.from({ length: count }, (_, n) => one(n));
    return {
        committed,
        errors,
        async stop() {
            writing = false;
            await Promise.all(loops);
        },
    };
}

describe("migration from the dedicated cluster", () => {
    let committed: number[] = [];
    let before: string;

    test("PostgreSQL 16's trusted extensions are the ones the preview admits (read from the real build's control files)", () => {
        const extensionDir = path.join(PG16, "..", "share", "postgresql", "extension");
        const trusted = fs.readdirSync(extensionDir).filter((f) => f.endsWith(".control") && /^\s*trusted\s*=\s*true\s*$/m.test(fs.readFileSync(path.join(extensionDir, f), "utf8"))).map((f) => f.replace(/\.control$/, ""));
        // plpgsql is in every database already.
        expect(trusted.filter((n) => n !== "plpgsql").sort()).toEqual([...TRUSTED_EXTENSIONS_PG16].sort());
    });

    test("copy: superuser sessions are left alone, the writers are stopped (their reconnections are read-only), every committed row arrives, every definition and checksum is equal, the owner owns everything", async () => {
        before = otherTenants();
        const writers = startWriters(3);
        await new Promise((r) => setTimeout(r, 500));
        const started = Date.now();
        const job = await runJob(copy(false));
        // The writers keep trying (and reconnecting) through the whole copy: what they commit after it is refused.
        const afterCopy = writers.committed.length;
        await new Promise((r) => setTimeout(r, 300));
        await writers.stop();
        committed = writers.committed;
        const errors = [...new Set(writers.errors)];
        console.log(`copy (PostgreSQL 16): ${JSON.stringify(job.result)} in ${Date.now() - started} ms; the writers committed ${committed.length} rows, then met: ${errors.join(" | ")}`);
        expect(job.stderr).toBe("");
        expect(job.status).toBe(0);
        expect(job.result).toMatchObject({ checksumsEqual: true, definitionsEqual: true, tables: TABLES, rows: FIXED_ROWS + committed.length });
        expect(job.result.bytes).toBeGreaterThan(0);
        expect(job.result.definitions).toBeGreaterThan(60);
        // The superuser sessions were left alone and are reported; no non-superuser session survived but read-only ones.
        const left = job.result.sessionsLeft as { user: string; superuser: boolean; application: string }[];
        expect(left.filter((s) => s.superuser).map((s) => s.application)).toEqual(["cnpg-instance-manager", "cnpg-metrics-exporter"]);
        expect(superuserSessions.length).toBe(4);
        for (const c of superuserSessions) await c.query("SELECT 1");
        // No writer survived: the writers were ended, their reconnections are read-only, nothing committed after.
        expect(writers.committed.length).toBe(afterCopy);
        expect(errors.join("; ")).toMatch(/terminating connection due to administrator command|Connection terminated/);
        expect(errors.join("; ")).toMatch(/read-only transaction/);
        expect(await errorOf(asApp((c) => c.query("INSERT INTO synergyflow_audit.events (what) VALUES ('late')")))).toMatch(/read-only transaction/);
        // Every row the writers saw committed is in the shared database.
        const copied = new Set(targetRows("SELECT id FROM synergyflow_audit.events;").map(Number));
        expect(committed.length).toBeGreaterThan(0);
        expect(committed.filter((id) => !copied.has(id))).toEqual([]);
        // The definitions compare equal line by line (the Job's own comparison, repeated here to look at it).
        const sourceLines = fingerprintOf("source");
        expect(fingerprintOf("target")).toEqual(sourceLines);
        for (const kind of ["column", "constraint", "index", "trigger", "function", "view", "type", "sequence", "comment", "extension", "relation"]) expect(sourceLines.some((l) => l.startsWith(`${kind} `))).toBe(true);
        // Extensions: citext in public and pg_trgm in its module schema, created by the owner; the types and the index use them.
        expect(targetRows("SELECT e.extname || ' ' || n.nspname || ' ' || pg_get_userbyid(e.extowner) FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE extname <> 'plpgsql' ORDER BY 1;")).toEqual([`citext public ${env.ownerRole}`, `pg_trgm synergyflow_knowledge ${env.ownerRole}`]);
        expect(targetRows("SELECT count(*) FROM synergyflow_users.users WHERE email = 'USER42@example.ORG';")).toEqual(["1"]);
        expect(targetRows("SELECT display FROM synergyflow_users.users WHERE id = 42;")).toEqual(["USER 42 <User42@Example.org>"]);
        // Sequences, view, function, materialized view, Flowable's tables came along.
        expect(targetRows("SELECT last_value FROM synergyflow_changes.change_no;")).toEqual(["4242"]);
        expect(targetRows("SELECT synergyflow_workflows.task_count();")).toEqual(["50000"]);
        expect(targetRows("SELECT sum(n) FROM synergyflow_knowledge.task_stats;")).toEqual(["50000"]);
        expect(targetRows(`SELECT count(*) FROM synergyflow_workflows."ACT_RU_EXECUTION" x JOIN synergyflow_workflows."ACT_GE_BYTEARRAY" b ON b."ID_" = x."RESOURCE_ID_";`)).toEqual([String(EXECUTIONS)]);
        // The large objects came along under their OIDs, byte for byte (the fingerprint compared their md5s too).
        expect(targetRows("SELECT count(*), sum(length(lo_get(content))), bool_and(lo_get(content) = decode(repeat(md5(id::text), " + LARGE_OBJECT_BYTES / 16 + "), 'hex')) FROM synergyflow_knowledge.attachments;")).toEqual([`${LARGE_OBJECTS}|${LARGE_OBJECTS * LARGE_OBJECT_BYTES}|t`]);
        // (A trusted extension's member objects belong to the bootstrap superuser by PostgreSQL's design; the extension to the owner, above.)
        const notMember = (catalog: string, oid: string) => `NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '${catalog}'::regclass AND e.objid = ${oid} AND e.deptype = 'e')`;
        const owners = targetRows(`SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname LIKE 'synergyflow_%' UNION SELECT DISTINCT pg_get_userbyid(p.proowner) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname LIKE 'synergyflow_%' AND ${notMember("pg_proc", "p.oid")} UNION SELECT DISTINCT pg_get_userbyid(t.typowner) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname LIKE 'synergyflow_%' AND ${notMember("pg_type", "t.oid")} AND NOT EXISTS (SELECT 1 FROM pg_depend i JOIN pg_depend e ON e.objid = i.refobjid AND e.classid = 'pg_type'::regclass AND e.deptype = 'e' WHERE i.classid = 'pg_type'::regclass AND i.objid = t.oid AND i.deptype = 'i') UNION SELECT DISTINCT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname LIKE 'synergyflow_%' UNION SELECT DISTINCT pg_get_userbyid(lomowner) FROM pg_largeobject_metadata;`);
        expect(owners).toEqual([env.ownerRole]);
        // The other tenants' databases and roles are untouched.
        expect(otherTenants()).toBe(before);
    }, 400000);

    test("the verification compares definitions: a lost comment, trigger, default, index or constraint on the target is named", () => {
        const sourceLines = fingerprintOf("source");
        env.psqlAsSuperuser(
            [
                "COMMENT ON COLUMN synergyflow_users.users.email IS NULL;",
                "DROP TRIGGER tasks_touch ON synergyflow_tasks.tasks;",
                "ALTER TABLE synergyflow_tasks.tasks ALTER COLUMN done SET DEFAULT true;",
                `DROP INDEX synergyflow_workflows."ACT_IDX_EXEC_BUSKEY";`,
                "ALTER DOMAIN synergyflow_incidents.priority DROP CONSTRAINT priority_check;",
            ].join("\n"),
            "synergyflow",
        );
        const target = new Set(fingerprintOf("target"));
        const missing = sourceLines.filter((l) => !target.has(l)).map((l) => l.split(" ").slice(0, 2).join(" "));
        console.log(`definition lines only on the source after the damage: ${missing.join(" | ")}`);
        expect(missing).toEqual(expect.arrayContaining(["comment column", "trigger synergyflow_tasks.tasks", "column synergyflow_tasks.tasks.done", `index synergyflow_workflows."ACT_IDX_EXEC_BUSKEY"`, "constraint synergyflow_incidents.priority"]));
        // Row counts and data checksums alone would not have seen any of it.
        expect(sourceLines.filter((l) => l.startsWith("table ")).every((l) => target.has(l))).toBe(true);
    }, 60000);

    test("checksums in chunks: with 1,000-row chunks the 200,000-row table is 256 buckets, equal on both sides, and one changed row is seen", () => {
        const chunked = fingerprintSql(MODULE_SCHEMAS, 1000);
        const line = (lines: string[]) => lines.find((l) => l.startsWith("table synergyflow_users.users "));
        const sourceLine = line(fingerprintOf("source", chunked));
        expect(line(fingerprintOf("target", chunked))).toBe(sourceLine);
        // 200,000 rows / 1,000 per chunk: k = ceil(log16(200)) = 2 hex digits, 256 buckets of ~781 rows (25 KB of md5s each).
        const [buckets, largest] = targetRows("SELECT count(*), max(n) FROM (SELECT substr(md5(x::text), 1, 2), count(*) AS n FROM synergyflow_users.users x GROUP BY 1) b;")[0]!.split("|").map(Number);
        console.log(`chunked checksum: ${ROWS} rows in ${buckets} buckets, the largest ${largest} rows (${largest! * 32} bytes of md5s in its string_agg)`);
        expect(buckets).toBe(256);
        expect(largest).toBeLessThanOrEqual(1000);
        // The default chunk (1 M rows) hashes this table in one bucket: its line differs from the chunked one, both are equal across sides.
        expect(line(fingerprintOf("source"))).not.toBe(sourceLine);
        env.psqlAsSuperuser("UPDATE synergyflow_users.users SET score = score + 0.001 WHERE id = 4242;", "synergyflow");
        expect(line(fingerprintOf("target", chunked))).not.toBe(sourceLine);
    }, 120000);

    test("re-running copy refuses the non-empty target (and leaves the source writable again) unless told to replace it", async () => {
        const again = await runJob(copy(false));
        expect(again.status).toBe(1);
        expect(again.stderr).toContain(`copy refused: the target database holds ${TABLES} tables in the module schemas and ${LARGE_OBJECTS} large objects; set synergyflow-db:migration.replaceTarget true to replace them`);
        expect(again.stderr).toContain("copy failed: the source database synergyflow is writable again");
        await asApp((c) => c.query("INSERT INTO synergyflow_audit.events (what) VALUES ('after a refused copy')"));
        const replaced = await runJob(copy(true), true);
        expect(replaced.status).toBe(0);
        // The replaced target's large objects were unlinked first: the dump re-creates them under the same OIDs.
        expect(replaced.stderr).toBe("");
        expect(replaced.result).toMatchObject({ checksumsEqual: true, definitionsEqual: true, tables: TABLES, rows: FIXED_ROWS + committed.length + 1 });
    }, 300000);

    test("extensions: an undeclared one refuses the copy naming it, a declared one the owner cannot create is refused naming it and the remedy; the source is never made read-only", async () => {
        const undeclared = await runJob(copy(true, { extensions: { citext: "copy" } }), true);
        expect(undeclared.status).toBe(1);
        expect(undeclared.stderr).toContain("copy refused: the source database has extensions that synergyflow-db:migration.extensions does not declare: pg_trgm (in schema synergyflow_knowledge)");
        expect(undeclared.stderr).not.toContain("writable again");
        // pg_stat_statements is not trusted: only a superuser creates it (here on the source, as the platform would).
        execFileSync(path.join(PG16, "psql"), ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", SOURCE_HOST, "-U", "postgres", "-d", "synergyflow", "-c", "SET default_transaction_read_only = off", "-c", "CREATE EXTENSION pg_stat_statements"], { env: { ...process.env, PGPASSWORD: source.superuserPassword } });
        try {
            const untrusted = await runJob(copy(true, { extensions: { ...EXTENSIONS, pg_stat_statements: "copy" } }), true);
            expect(untrusted.status).toBe(1);
            expect(untrusted.stderr).toContain(`copy refused: pg_stat_statements (declared "copy") is not trusted there: the owner cannot create it; have the platform team create it in the tenant database (CNPG Database spec.extensions), then declare it "platform" in synergyflow-db:migration.extensions`);
            const missing = await runJob(copy(true, { extensions: { ...EXTENSIONS, pg_stat_statements: "platform" } }), true);
            expect(missing.stderr).toContain(`copy refused: pg_stat_statements (declared "platform") is not installed in the tenant database`);
        } finally {
            execFileSync(path.join(PG16, "psql"), ["-X", "-q", "-h", SOURCE_HOST, "-U", "postgres", "-d", "synergyflow", "-c", "SET default_transaction_read_only = off", "-c", "DROP EXTENSION pg_stat_statements"], { env: { ...process.env, PGPASSWORD: source.superuserPassword } });
        }
        // The last copy left the source read-only (as a verified copy does): this session turns that off for itself.
        await asApp(async (c) => {
            await c.query("SET default_transaction_read_only = off");
            await c.query("INSERT INTO synergyflow_audit.events (what) VALUES ('after the refused extension copies')");
        });
    }, 120000);

    test("a copy killed with SIGTERM mid-restore rolls the target back and leaves the source writable", async () => {
        const targetBefore = fingerprintOf("target");
        let killedAt = "";
        const job = await runJob(copy(true), true, sourceCa, (child) => {
            // Kill when the restore's transaction has written on the target (the drops give it a transaction id; the
            // copy's read-only checks before it never get one).
            const poll = setInterval(() => {
                const open = targetRows(`SELECT left(query, 60) FROM pg_stat_activity WHERE usename = '${env.tenantRole}' AND backend_xid IS NOT NULL LIMIT 1;`)[0];
                if (open && !killedAt) {
                    killedAt = open;
                    child.kill("SIGTERM");
                    clearInterval(poll);
                }
            }, 20);
            child.on("close", () => clearInterval(poll));
        });
        console.log(`killed mid-restore at: ${killedAt}; stderr: ${job.stderr.trim()}`);
        expect(killedAt).not.toBe("");
        expect(job.status).toBe(143);
        expect(job.stderr).toContain("copy stopped by SIGTERM");
        expect(job.stderr).toContain("copy failed: the source database synergyflow is writable again");
        await asApp((c) => c.query("INSERT INTO synergyflow_audit.events (what) VALUES ('after a killed copy')"));
        // The restore's transaction was rolled back: the target is as the last copy left it, and no psql is left on it.
        await new Promise((r) => setTimeout(r, 500));
        expect(targetRows(`SELECT count(*) FROM pg_stat_activity WHERE usename = '${env.tenantRole}' AND state <> 'idle';`)).toEqual(["0"]);
        expect(fingerprintOf("target")).toEqual(targetBefore);
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
        // The writes land in the default partition; the source got two more writes after the last copy (above).
        const sourceRows = Number((await asApp((c) => c.query("SELECT count(*) AS n FROM synergyflow_audit.events_later"))).rows[0].n);
        const sharedRows = Number(targetRows("SELECT count(*) FROM synergyflow_audit.events_later;")[0]);
        expect(sharedRows).toBe(sourceRows - 2 + 5);
        const job = await runJob(rollbackScript());
        console.log(`rollback: ${JSON.stringify(job.result)}`);
        expect(job.status).toBe(0);
        expect(job.result).toEqual({ sourceWritable: true, tablesChangedOnShared: 1, rowCounts: { "synergyflow_audit.events_later": { source: sourceRows, shared: sharedRows } }, largeObjects: { source: LARGE_OBJECTS, shared: LARGE_OBJECTS } });
        await asApp((c) => c.query("INSERT INTO synergyflow_audit.events (what) VALUES ('writable again')"));
        expect(otherTenants()).toBe(before);
    }, 300000);
});

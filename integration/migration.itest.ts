// The migration's copy, verification and rollback on real servers, running the exact scripts the Jobs run
// (components/model/migration/scripts.ts), on PostgreSQL 16 (the platform's major; server 16.8 and client tools 16.2,
// integration/setup/install-pg16.sh), or with SYNERGYFLOW_MIGRATION_PG=15 on PostgreSQL 15 servers (Debian's; the
// Job's 16 tools, integration/migrationRig.ts): a "dedicated" PostgreSQL shaped like the application (extensions in
// public and in a module schema, Flowable-style upper-case tables, enum and domain types, identity, serial and
// generated columns, a partitioned table, a materialized view, triggers, comments, cross-schema foreign keys, large
// objects), the shared one with the other tenants, superuser sessions held open on both (as CNPG's instance manager
// and exporter hold them), the restore through PgBouncer in transaction mode as login role a (TLS, verify-ca), the
// source reached with verify-full against its own CA, and writers that keep writing (and reconnecting) while the
// copy starts.
import type { ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { Client } from "pg";
import { MODULE_SCHEMAS } from "../components/model/config";
import { TRUSTED_EXTENSIONS_PG16 } from "../components/model/migration/extensions";
import { copyScript, fingerprintSql, rollbackScript } from "../components/model/migration/scripts";
import { APPLICATION_EXTENSIONS, APPLICATION_TABLES, applicationRows, seedApplicationData } from "./applicationData";
import { errorOf } from "./environment";
import { type MigrationRig, SOURCE_HOST, startMigrationRig } from "./migrationRig";

const ROWS = 200000;
const LARGE_OBJECTS = 20;
const LARGE_OBJECT_BYTES = 65536;
const EXECUTIONS = 5000;
const SIZE = { users: ROWS, tasks: 50000, executions: EXECUTIONS, largeObjects: LARGE_OBJECTS, largeObjectBytes: LARGE_OBJECT_BYTES };
/** Rows outside the writers' table: users, tasks, incidents, attachments, Flowable's two tables, the 2024 audit partition. */
const FIXED_ROWS = applicationRows(SIZE);
const TABLES = APPLICATION_TABLES;
const EXTENSIONS = APPLICATION_EXTENSIONS;
const copy = (replaceTarget: boolean, extra: Partial<Parameters<typeof copyScript>[0]> = {}) => copyScript({ schemas: MODULE_SCHEMAS, replaceTarget, extensions: EXTENSIONS, ...extra });

let rig: MigrationRig;
beforeAll(async () => {
    rig = await startMigrationRig(async (asApp) => {
        await asApp((c) => seedApplicationData(c, SIZE));
    });
    console.log(`migration tier on PostgreSQL ${rig.pg.major}: ${rig.pg.versions}`);
}, 240000);
afterAll(async () => {
    await rig?.stop();
});

const asApp = <T>(body: (c: Client) => Promise<T>) => rig.asApp(body);
const runJob = (script: string, replaceTarget = false, sourceRootCert?: string, onStart?: (child: ChildProcess) => void) => rig.runJob(script, { replaceTarget, ...(sourceRootCert ? { sourceRootCert } : {}), ...(onStart ? { onStart } : {}) });
const targetRows = (sql: string) => rig.targetRows(sql);
const fingerprintOf = (side: "source" | "target", sql?: string) => rig.fingerprintOf(side, sql);
const otherTenants = () => rig.env.psqlAsSuperuser("SELECT datname, datacl FROM pg_database WHERE datname <> 'synergyflow' ORDER BY 1;\nSELECT rolname, rolconnlimit FROM pg_roles ORDER BY 1;");

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
            const c = new Client({ host: SOURCE_HOST, port: 5432, user: "app", password: rig.sourcePassword, database: "synergyflow", application_name: `synergyflow-backend-${n}` });
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

    test("the server's trusted extensions are the ones the preview admits (the real build's control files, as the server reads them)", () => {
        // plpgsql is in every database already.
        const trusted = targetRows("SELECT DISTINCT name FROM pg_available_extension_versions WHERE trusted AND name <> 'plpgsql';").sort();
        if (rig.pg.major === "16") expect(trusted).toEqual([...TRUSTED_EXTENSIONS_PG16].sort());
        else {
            // Debian's 15 ships the procedural languages in packages of their own; what it has, it trusts as 16 does.
            console.log(`trusted on PostgreSQL ${rig.pg.major}: ${trusted.join(" ")}; of PostgreSQL 16's list not installed here: ${TRUSTED_EXTENSIONS_PG16.filter((n) => !trusted.includes(n)).join(" ")}`);
            expect(TRUSTED_EXTENSIONS_PG16).toEqual(expect.arrayContaining(trusted));
        }
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
        console.log(`copy (PostgreSQL ${rig.pg.major}): ${JSON.stringify(job.result)} in ${Date.now() - started} ms; the writers committed ${committed.length} rows, then met: ${errors.join(" | ")}`);
        expect(job.stderr).toBe("");
        expect(job.status).toBe(0);
        expect(job.result).toMatchObject({ checksumsEqual: true, definitionsEqual: true, tables: TABLES, rows: FIXED_ROWS + committed.length });
        expect(job.result.bytes).toBeGreaterThan(0);
        expect(job.result.definitions).toBeGreaterThan(60);
        // The superuser sessions were left alone and are reported; no non-superuser session survived but read-only ones.
        const left = job.result.sessionsLeft as { user: string; superuser: boolean; application: string }[];
        expect(left.filter((s) => s.superuser).map((s) => s.application)).toEqual(["cnpg-instance-manager", "cnpg-metrics-exporter"]);
        for (const c of rig.superuserSessions) await c.query("SELECT 1");
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
        expect(targetRows("SELECT e.extname || ' ' || n.nspname || ' ' || pg_get_userbyid(e.extowner) FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE extname <> 'plpgsql' ORDER BY 1;")).toEqual([`citext public ${rig.env.ownerRole}`, `pg_trgm synergyflow_knowledge ${rig.env.ownerRole}`]);
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
        expect(owners).toEqual([rig.env.ownerRole]);
        // The other tenants' databases and roles are untouched.
        expect(otherTenants()).toBe(before);
    }, 400000);

    test("the verification compares definitions: a lost comment, trigger, default, index or constraint on the target is named", () => {
        const sourceLines = fingerprintOf("source");
        rig.env.psqlAsSuperuser(
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

    test("checksums in chunks: with 1,000-row chunks the 200,000-row table's line is equal on both sides and differs from the one-chunk line; one changed row is seen", () => {
        const chunked = fingerprintSql(MODULE_SCHEMAS, 1000);
        const line = (lines: string[]) => lines.find((l) => l.startsWith("table synergyflow_users.users "));
        const sourceLine = line(fingerprintOf("source", chunked));
        expect(line(fingerprintOf("target", chunked))).toBe(sourceLine);
        // The default chunk (1 M rows) hashes this table in one bucket: its line differs from the chunked one, both are equal across sides.
        expect(line(fingerprintOf("source"))).not.toBe(sourceLine);
        rig.env.psqlAsSuperuser("UPDATE synergyflow_users.users SET score = score + 0.001 WHERE id = 4242;", "synergyflow");
        expect(line(fingerprintOf("target", chunked))).not.toBe(sourceLine);
    }, 120000);

    test("large objects are hashed in chunks (lo_get(oid, offset, length)): with 1,000-byte chunks (and with 4,096, a divisor of the size) the line is equal on both sides, and one changed byte is seen", () => {
        const chunked = fingerprintSql(MODULE_SCHEMAS, 1_000_000, 1000);
        const line = (lines: string[]) => lines.find((l) => l.startsWith("largeobjects "));
        const sourceLine = line(fingerprintOf("source", chunked));
        expect(sourceLine).toMatch(new RegExp(`^largeobjects ${LARGE_OBJECTS} [0-9a-f]{32}$`));
        expect(line(fingerprintOf("target", chunked))).toBe(sourceLine);
        // A size that is a multiple of the chunk ends in an empty chunk, on both sides alike: 65,536 = 16 x 4,096.
        const even = fingerprintSql(MODULE_SCHEMAS, 1_000_000, 4096);
        expect(line(fingerprintOf("target", even))).toBe(line(fingerprintOf("source", even)));
        // One byte in the middle of one object (chunk 33 of 66) changes the line; the default (16 MiB: one chunk) sees it too.
        rig.env.psqlAsSuperuser("SELECT lo_put(content, 32768, '\\xff') FROM synergyflow_knowledge.attachments WHERE id = 7;", "synergyflow");
        expect(line(fingerprintOf("target", chunked))).not.toBe(sourceLine);
        expect(line(fingerprintOf("target"))).not.toBe(line(fingerprintOf("source")));
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
        rig.sourceSuperuser(["SET default_transaction_read_only = off", "CREATE EXTENSION pg_stat_statements"], "synergyflow");
        try {
            const untrusted = await runJob(copy(true, { extensions: { ...EXTENSIONS, pg_stat_statements: "copy" } }), true);
            expect(untrusted.status).toBe(1);
            expect(untrusted.stderr).toContain(`copy refused: pg_stat_statements (declared "copy") is not trusted there: the owner cannot create it; have the platform team create it in the tenant database (CNPG Database spec.extensions), then declare it "platform" in synergyflow-db:migration.extensions`);
            const missing = await runJob(copy(true, { extensions: { ...EXTENSIONS, pg_stat_statements: "platform" } }), true);
            expect(missing.stderr).toContain(`copy refused: pg_stat_statements (declared "platform") is not installed in the tenant database`);
        } finally {
            rig.sourceSuperuser(["SET default_transaction_read_only = off", "DROP EXTENSION pg_stat_statements"], "synergyflow");
        }
        // The last copy left the source read-only (as a verified copy does): this session turns that off for itself.
        await asApp(async (c) => {
            await c.query("SET default_transaction_read_only = off");
            await c.query("INSERT INTO synergyflow_audit.events (what) VALUES ('after the refused extension copies')");
        });
    }, 120000);

    describe("the restore's transaction and PgBouncer's idle_transaction_timeout (here 2 s, prod 300 s)", () => {
        const TIMEOUT_S = 2;
        const STALL_S = 3 * TIMEOUT_S;
        beforeAll(async () => {
            // log_disconnections: PgBouncer then logs why it closed a connection.
            await rig.env.restartPgBouncer({ idle_transaction_timeout: String(TIMEOUT_S), log_disconnections: "1" });
        }, 60000);
        afterAll(async () => {
            await rig.env.restartPgBouncer();
        }, 60000);
        /**
         * A stand-in for pg_restore (first on the Job's PATH): the real one, its output paused once for STALL_S where
         * `where` says; the pause's start and end (ms) in the files stall.start and stall.end of the returned folder.
         */
        function stallingPgRestore(where: "before the first COPY" | "inside the first COPY"): string {
            const dir = fs.mkdtempSync(path.join(rig.dir, "stall-"));
            const stall = `fflush(); system("date +%s%3N > ${dir}/stall.start; sleep ${STALL_S}; date +%s%3N > ${dir}/stall.end"); done = 1`;
            const awk =
                where === "before the first COPY"
                    ? `!done && /^COPY / { ${stall} } { print }`
                    : `/^COPY / { incopy = 1; print; next } incopy && !done && $0 != "\\\\." { print; ${stall}; next } $0 == "\\\\." { incopy = 0 } { print }`;
            fs.writeFileSync(path.join(dir, "pg_restore"), `#!/bin/bash\nset -o pipefail\n${JSON.stringify(path.join(rig.pg.toolsBin, "pg_restore"))} "$@" | awk '${awk}'\n`, { mode: 0o755 });
            return dir;
        }
        const stallMs = (dir: string) => Number(fs.readFileSync(path.join(dir, "stall.end"), "utf8")) - Number(fs.readFileSync(path.join(dir, "stall.start"), "utf8"));
        /** Once the pause has lasted TIMEOUT_S + 1 s: the login role's sessions on the target (state and query). */
        const duringStall = (dir: string, seen: string[]) => () => {
            void (async () => {
                for (let i = 0; i < 1200 && !fs.existsSync(path.join(dir, "stall.start")); i++) await new Promise((r) => setTimeout(r, 50));
                await new Promise((r) => setTimeout(r, (TIMEOUT_S + 1) * 1000));
                seen.push(...targetRows(`SELECT state || ': ' || left(query, 50) FROM pg_stat_activity WHERE usename = '${rig.env.tenantRole}' AND xact_start IS NOT NULL;`));
                seen.push("(sampled)");
            })();
        };
        const tenantTransactions = () => Number(targetRows(`SELECT count(*) FROM pg_stat_activity WHERE usename = '${rig.env.tenantRole}' AND xact_start IS NOT NULL;`)[0]);

        test("a stall before pg_dump's first line (its catalog phase waiting 3x the timeout for a lock) cannot hit it: no transaction is open then, and the copy passes", async () => {
            const locker = new Client({ host: SOURCE_HOST, port: 5432, user: "postgres", password: rig.source.superuserPassword, database: "synergyflow", application_name: "a superuser holding a lock" });
            await locker.connect();
            try {
                await locker.query("SET default_transaction_read_only = off");
                await locker.query("BEGIN");
                await locker.query("LOCK TABLE synergyflow_tasks.tasks IN ACCESS EXCLUSIVE MODE");
                const watch = rig.superuserSessions[0]!;
                let waitedMs = 0;
                let openDuringStall = -1;
                const job = await runJob(copy(true), true, undefined, () => {
                    void (async () => {
                        // pg_dump takes its ACCESS SHARE locks while it reads the catalog, before it writes anything.
                        for (let i = 0; i < 600; i++) {
                            const waiting = await watch.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'pg_dump' AND wait_event_type = 'Lock'");
                            if (waiting.rows[0].n > 0) break;
                            await new Promise((r) => setTimeout(r, 100));
                        }
                        const since = Date.now();
                        await new Promise((r) => setTimeout(r, STALL_S * 1000));
                        openDuringStall = tenantTransactions();
                        waitedMs = Date.now() - since;
                        await locker.query("COMMIT");
                    })();
                });
                console.log(`stall before the first line: pg_dump waited ${waitedMs} ms for the lock; transactions of ${rig.env.tenantRole} open on the target meanwhile: ${openDuringStall}; copy: status ${job.status} in ${job.ms} ms, ${JSON.stringify({ checksumsEqual: job.result?.checksumsEqual, definitionsEqual: job.result?.definitionsEqual })}`);
                expect(waitedMs).toBeGreaterThanOrEqual(STALL_S * 1000);
                expect(openDuringStall).toBe(0);
                expect(job.stderr).toBe("");
                expect(job.status).toBe(0);
                expect(job.result).toMatchObject({ checksumsEqual: true, definitionsEqual: true });
                expect(rig.env.pgbouncer.log()).not.toContain("idle transaction timeout");
            } finally {
                await locker.end().catch(() => undefined);
            }
        }, 300000);

        test("a stall inside a COPY (3x the timeout) is not idle to PgBouncer (no ReadyForQuery until the COPY ends): the copy passes", async () => {
            const shim = stallingPgRestore("inside the first COPY");
            const seen: string[] = [];
            const stalled = await rig.runJob(copy(true), { replaceTarget: true, pathPrefix: shim, onStart: duringStall(shim, seen) });
            console.log(`stall inside a COPY: ${stallMs(shim)} ms; the login role's transaction ${TIMEOUT_S + 1} s into it: ${seen.join(" ")}; copy: status ${stalled.status} in ${stalled.ms} ms, ${JSON.stringify({ checksumsEqual: stalled.result?.checksumsEqual })}`);
            expect(stallMs(shim)).toBeGreaterThanOrEqual(STALL_S * 1000);
            expect(seen).toEqual([expect.stringMatching(/^active: COPY /), "(sampled)"]);
            expect(stalled.stderr).toBe("");
            expect(stalled.status).toBe(0);
            expect(stalled.result).toMatchObject({ checksumsEqual: true, definitionsEqual: true });
            expect(rig.env.pgbouncer.log()).not.toContain("idle transaction timeout");
        }, 300000);

        test("a stall after the transaction opened, between statements, longer than the timeout: PgBouncer ends it, the copy fails naming it, the target rolls back and the source is writable", async () => {
            const targetBefore = fingerprintOf("target");
            const shim = stallingPgRestore("before the first COPY");
            const seen: string[] = [];
            let openSeen = 0;
            const sample = duringStall(shim, seen);
            const job = await rig.runJob(copy(true), {
                replaceTarget: true,
                pathPrefix: shim,
                onStart: () => {
                    sample();
                    void (async () => {
                        // The drops run first in the transaction: it holds a transaction id from then on.
                        for (let i = 0; i < 1200 && !openSeen; i++) {
                            openSeen = Number(targetRows(`SELECT count(*) FROM pg_stat_activity WHERE usename = '${rig.env.tenantRole}' AND backend_xid IS NOT NULL;`)[0]);
                            if (!openSeen) await new Promise((r) => setTimeout(r, 50));
                        }
                    })();
                },
            });
            const closing = rig.env.pgbouncer.log().split("\n").filter((l) => l.includes("idle transaction timeout"));
            console.log(`stall between statements: ${stallMs(shim)} ms; the transaction seen open: ${openSeen}; the login role's transactions ${TIMEOUT_S + 1} s into the stall: ${seen.join(" ")}; copy: status ${job.status} in ${job.ms} ms; PgBouncer: ${closing.join(" | ")}; stderr: ${job.stderr.trim()}`);
            expect(stallMs(shim)).toBeGreaterThanOrEqual(STALL_S * 1000);
            expect(openSeen).toBe(1);
            // PgBouncer closed the server connection after TIMEOUT_S: nothing of the login role is left in a transaction.
            expect(seen).toEqual(["(sampled)"]);
            expect(closing.length).toBeGreaterThan(0);
            expect(job.status).not.toBe(0);
            expect(job.result).toBeUndefined();
            expect(job.stderr).toContain("idle transaction timeout");
            expect(job.stderr).toContain("copy failed: the source database synergyflow is writable again");
            await asApp((c) => c.query("INSERT INTO synergyflow_audit.events (what) VALUES ('after a copy the pooler cut')"));
            // PgBouncer closed the server connection: PostgreSQL rolled the drops back.
            expect(fingerprintOf("target")).toEqual(targetBefore);
        }, 300000);
    });

    test("a copy killed with SIGTERM mid-restore rolls the target back and leaves the source writable", async () => {
        const targetBefore = fingerprintOf("target");
        let killedAt = "";
        const job = await runJob(copy(true), true, undefined, (child) => {
            // Kill when the restore's transaction has written on the target (the drops give it a transaction id; the
            // copy's read-only checks before it never get one).
            const poll = setInterval(() => {
                const open = targetRows(`SELECT left(query, 60) FROM pg_stat_activity WHERE usename = '${rig.env.tenantRole}' AND backend_xid IS NOT NULL LIMIT 1;`)[0];
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
        expect(targetRows(`SELECT count(*) FROM pg_stat_activity WHERE usename = '${rig.env.tenantRole}' AND state <> 'idle';`)).toEqual(["0"]);
        expect(fingerprintOf("target")).toEqual(targetBefore);
    }, 300000);

    test("the Jobs verify the source's certificate: with another CA they stop before reading anything", async () => {
        const refused = await runJob(rollbackScript(), false, rig.env.tls.otherCaFile);
        expect(refused.status).not.toBe(0);
        expect(refused.stderr).toContain("certificate verify failed");
        expect(refused.result).toBeUndefined();
    }, 60000);

    test("rollback after a cutover with a few writes on the shared side reports them, and makes the source writable", async () => {
        // After cutover the backend writes to the shared database through the pooler.
        const backend = await rig.env.connect({ user: rig.env.loginRoles[1] as string }, "pooler");
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

// A one-off measurement, not part of the integration tier (too slow for CI): `./npm24 run test:migration-large`.
// The copy Job's exact script against a source too large for the hashing the verification used to do:
//   - a table of more than 33,554,431 rows (default 34,000,000; SYNERGYFLOW_LARGE_ROWS): one string_agg of the
//     rows' 32-character md5s over the whole table passes PostgreSQL's 1 GB limit on a value (MaxAllocSize,
//     2^30 - 1 bytes), which the verification reaches unless it hashes in buckets of at most 1 M rows;
//   - a large object of 1,120 MiB (SYNERGYFLOW_LARGE_LO_MIB): lo_get(oid) of the whole object passes the same limit,
//     so the verification reads it in 16 MiB chunks.
// It shows, on the source, that each of the whole-value hashes fails, then runs the copy (dump, restore through
// PgBouncer as the login role, chunked verification) and reports rows, bytes and seconds.
// Same servers as the migration tier (integration/migrationRig.ts; SYNERGYFLOW_MIGRATION_PG=15 for 15); the disk
// needs about 15 GB free under the temporary folder.
import { MODULE_SCHEMAS } from "../components/model/config";
import { DEFAULT_LARGE_OBJECT_CHUNK_BYTES } from "../components/model/migration/extensions";
import { copyScript, fingerprintSql } from "../components/model/migration/scripts";
import { errorOf } from "./environment";
import { type MigrationRig, startMigrationRig } from "./migrationRig";

const ROWS = Number(process.env["SYNERGYFLOW_LARGE_ROWS"] ?? 34_000_000);
const LO_MIB = Number(process.env["SYNERGYFLOW_LARGE_LO_MIB"] ?? 1120);
const LO_CHUNK = 16 * 1024 * 1024;
const LO_BYTES = LO_MIB * 1024 * 1024;
const HOURS = 3600 * 1000;
const seconds = (ms: number) => (ms / 1000).toFixed(1);

let rig: MigrationRig;
const timings: Record<string, number> = {};
async function timed<T>(name: string, body: () => Promise<T> | T): Promise<T> {
    const started = Date.now();
    try {
        return await body();
    } finally {
        timings[name] = Date.now() - started;
        console.log(`${name}: ${seconds(timings[name]!)} s`);
    }
}

beforeAll(async () => {
    if (LO_MIB % 16 !== 0) throw new Error("SYNERGYFLOW_LARGE_LO_MIB must be a multiple of 16");
    rig = await startMigrationRig(async (asApp) => {
        await asApp(async (c) => {
            await c.query("CREATE TABLE synergyflow_audit.big (id bigint NOT NULL)");
            await timed(`seed: ${ROWS} rows`, () => c.query(`INSERT INTO synergyflow_audit.big SELECT g FROM generate_series(1, ${ROWS}) g`));
            await c.query("ANALYZE synergyflow_audit.big");
            // Written 16 MiB at a time (lo_from_bytea takes one bytea, at most 1 GB): each chunk a different pattern.
            await timed(`seed: one large object of ${LO_BYTES} bytes`, () =>
                c.query(`DO $$DECLARE o oid := lo_create(0); BEGIN FOR i IN 0..${LO_MIB / 16 - 1} LOOP PERFORM lo_put(o, i::bigint * ${LO_CHUNK}, decode(repeat(md5(i::text), ${LO_CHUNK / 16}), 'hex')); END LOOP; END$$`),
            );
        });
    });
    console.log(`PostgreSQL ${rig.pg.major}: ${rig.pg.versions}`);
}, 4 * HOURS);
afterAll(async () => {
    await rig?.stop();
});

describe(`a copy of ${ROWS} rows in one table and a large object of ${LO_MIB} MiB`, () => {
    test("hashing the table in one string_agg fails past 1 GB on the source", async () => {
        const sizes = rig.sourceSuperuser("SELECT pg_total_relation_size('synergyflow_audit.big'), pg_relation_size('pg_largeobject'), pg_database_size('synergyflow')", "synergyflow").trim();
        console.log(`source: table synergyflow_audit.big, pg_largeobject, database bytes: ${sizes.replaceAll("|", ", ")}`);
        // chunkRows above the row count: one bucket per table, the single string_agg the verification used to run.
        const whole = await timed("one string_agg over the table (source)", () => errorOf(Promise.resolve().then(() => rig.fingerprintOf("source", fingerprintSql(MODULE_SCHEMAS, 1_000_000_000)))));
        console.log(`one string_agg over ${ROWS} rows: ${whole.split("\n").filter((l) => /ERROR|DETAIL|out of memory/.test(l)).join(" ") || whole}`);
        expect(whole).toMatch(/out of memory|Cannot enlarge string buffer|too long/);
    }, 4 * HOURS);

    test("lo_get of the whole large object fails past 1 GB on the source", async () => {
        const whole = await errorOf(rig.asApp((c) => c.query("SELECT md5(lo_get(oid)) FROM pg_largeobject_metadata")));
        console.log(`lo_get of the whole ${LO_BYTES}-byte object: ${whole}`);
        expect(whole).toMatch(/too large|out of memory|invalid memory alloc/);
    }, HOURS);

    test("the copy (the Job's script, chunked hashing) passes with checksums and definitions equal", async () => {
        const job = await timed("copy Job", () => rig.runJob(copyScript({ schemas: MODULE_SCHEMAS, replaceTarget: false, extensions: {} })));
        console.log(`copy: status ${job.status} in ${seconds(job.ms)} s; result ${JSON.stringify(job.result)}; stderr: ${job.stderr.trim() || "(none)"}`);
        expect(job.stderr).toBe("");
        expect(job.status).toBe(0);
        expect(job.result).toMatchObject({ checksumsEqual: true, definitionsEqual: true, tables: 1, rows: ROWS });
        const target = rig.env.psqlAsSuperuser("\\pset format unaligned\n\\pset tuples_only on\nSELECT pg_total_relation_size('synergyflow_audit.big'), pg_relation_size('pg_largeobject'), pg_database_size('synergyflow');", "synergyflow").split("\n").filter((l) => /^\d/.test(l));
        console.log(`target: table synergyflow_audit.big, pg_largeobject, database bytes: ${target.join(", ").replaceAll("|", ", ")}`);
        // A reading, not a check of the script: the buckets k = ceil(log16(rows / 1 M)) hex digits of the row md5 make
        // (the script's rule for the default 1 M-row chunk), and the chunks 16 MiB reads make; the script's own result
        // is checksumsEqual above.
        const k = Math.ceil(Math.log(ROWS / 1_000_000) / Math.log(16));
        const [buckets, largest] = await timed("bucket sizes (target)", () => rig.targetRows(`SELECT count(*), max(n) FROM (SELECT substr(md5(x::text), 1, ${k}) AS b, count(*) AS n FROM synergyflow_audit.big x GROUP BY 1) s;`)[0]!.split("|").map(Number));
        console.log(`chunked table hash: ${ROWS} rows in ${buckets} buckets (${k} hex digits), the largest ${largest} rows = ${largest! * 32} bytes in its string_agg`);
        expect(largest! * 32).toBeLessThan(1024 * 1024 * 1024 - 1);
        const lo = rig.targetRows(`SELECT count(*), sum(length(lo_get(m.oid, g * ${DEFAULT_LARGE_OBJECT_CHUNK_BYTES}::bigint, ${DEFAULT_LARGE_OBJECT_CHUNK_BYTES}))) FROM pg_largeobject_metadata m, generate_series(0, ${Math.floor(LO_BYTES / DEFAULT_LARGE_OBJECT_CHUNK_BYTES)}) g;`)[0];
        console.log(`chunked large-object hash: chunks read, bytes (target): ${lo}`);
        console.log(`timings (ms): ${JSON.stringify(timings)}`);
    }, 4 * HOURS);
});

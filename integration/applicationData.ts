// The dedicated database shaped like SynergyFlow's, for the migration tier (integration/migration.itest.ts) and the
// e2e's dedicated source Cluster (e2e/dedicatedSource.ts): extensions in public and in a module schema,
// Flowable-style upper-case tables, enum and domain types, identity, serial and generated columns, a partitioned
// table, a materialized view, triggers, comments, cross-schema foreign keys, large objects. Run as the database's
// owner, in a database whose module schemas exist.
import type { Client } from "pg";

export interface ApplicationDataSize {
    users: number;
    tasks: number;
    /** Flowable's executions, one byte array each. */
    executions: number;
    largeObjects: number;
    /** A multiple of 16 (each object repeats a 16-byte md5). */
    largeObjectBytes: number;
}

/** What the source has (\dx), as a stack declares it in migration.extensions. */
export const APPLICATION_EXTENSIONS = { citext: "copy", pg_trgm: "copy" } as const;
/** The tables the seed makes (pg_tables): users, tasks, the audit log and its two partitions, incidents, Flowable's two, attachments. */
export const APPLICATION_TABLES = 9;
/** Rows of the fixed-size tables: the audit log's 100, the incidents' 1,000. */
const AUDIT_ROWS = 100;
const INCIDENTS = 1000;

/** Every row the seed writes, over all its tables. */
export const applicationRows = (size: ApplicationDataSize) => size.users + size.tasks + INCIDENTS + size.largeObjects + 2 * size.executions + AUDIT_ROWS;

export async function seedApplicationData(c: Client, size: ApplicationDataSize): Promise<void> {
    const { users, tasks, executions, largeObjects, largeObjectBytes } = size;
    // Trusted extensions the owner creates itself: one in public used by a column, one in a module schema used by an index.
    await c.query(`CREATE EXTENSION citext`);
    await c.query(`CREATE EXTENSION pg_trgm SCHEMA synergyflow_knowledge`);
    await c.query(`COMMENT ON SCHEMA synergyflow_users IS 'the users module'`);
    await c.query(`CREATE TYPE synergyflow_users.user_status AS ENUM ('invited', 'active', 'locked')`);
    await c.query(`CREATE DOMAIN synergyflow_incidents.priority AS smallint NOT NULL DEFAULT 3 CHECK (VALUE BETWEEN 1 AND 5)`);
    await c.query(`CREATE TABLE synergyflow_users.users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL, email public.citext NOT NULL UNIQUE, status synergyflow_users.user_status NOT NULL DEFAULT 'active', created timestamptz NOT NULL, score numeric(10,3), avatar bytea, display text GENERATED ALWAYS AS (upper(name) || ' <' || email || '>') STORED)`);
    await c.query(`COMMENT ON COLUMN synergyflow_users.users.email IS 'case-insensitive login'`);
    await c.query(`INSERT INTO synergyflow_users.users (name, email, created, score, avatar) SELECT 'user ' || g, 'User' || g || '@Example.org', timestamptz '2024-01-01 00:00+02' + g * interval '1 minute', g / 7.0, decode(md5(g::text), 'hex') FROM generate_series(1, ${users}) g`);
    await c.query(`CREATE TABLE synergyflow_tasks.tasks (id serial PRIMARY KEY, owner bigint REFERENCES synergyflow_users.users, title text, done boolean DEFAULT false, updated timestamptz)`);
    await c.query(`CREATE FUNCTION synergyflow_tasks.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.updated := now(); RETURN NEW; END$$`);
    await c.query(`CREATE TRIGGER tasks_touch BEFORE UPDATE ON synergyflow_tasks.tasks FOR EACH ROW EXECUTE FUNCTION synergyflow_tasks.touch()`);
    await c.query(`COMMENT ON TRIGGER tasks_touch ON synergyflow_tasks.tasks IS 'keeps updated'`);
    await c.query(`INSERT INTO synergyflow_tasks.tasks (owner, title) SELECT (g % ${users}) + 1, 'task ' || g FROM generate_series(1, ${tasks}) g`);
    // The writers' table of the migration tier: partitioned by time, as an audit log is.
    await c.query(`CREATE TABLE synergyflow_audit.events (id bigserial, at timestamptz NOT NULL DEFAULT now(), what text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at)`);
    await c.query(`CREATE TABLE synergyflow_audit.events_2024 PARTITION OF synergyflow_audit.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')`);
    await c.query(`CREATE TABLE synergyflow_audit.events_later PARTITION OF synergyflow_audit.events DEFAULT`);
    await c.query(`INSERT INTO synergyflow_audit.events (at, what) SELECT timestamptz '2024-06-01' + g * interval '1 hour', 'seed ' || g FROM generate_series(1, ${AUDIT_ROWS}) g`);
    await c.query(`COMMENT ON TABLE synergyflow_audit.events IS 'every change, by month'`);
    await c.query(`CREATE SEQUENCE synergyflow_changes.change_no START 1000`);
    await c.query(`SELECT setval('synergyflow_changes.change_no', 4242)`);
    await c.query(`CREATE VIEW synergyflow_knowledge.open_tasks AS SELECT id, title FROM synergyflow_tasks.tasks WHERE NOT done`);
    await c.query(`CREATE MATERIALIZED VIEW synergyflow_knowledge.task_stats AS SELECT done, count(*) AS n FROM synergyflow_tasks.tasks GROUP BY done`);
    await c.query(`CREATE INDEX task_titles_trgm ON synergyflow_tasks.tasks USING gin (title synergyflow_knowledge.gin_trgm_ops)`);
    await c.query(`CREATE FUNCTION synergyflow_workflows.task_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM synergyflow_tasks.tasks'`);
    await c.query(`CREATE TABLE synergyflow_incidents.incidents (id int PRIMARY KEY, priority synergyflow_incidents.priority, payload jsonb)`);
    await c.query(`INSERT INTO synergyflow_incidents.incidents SELECT g, 1 + g % 5, jsonb_build_object('n', g, 'tags', jsonb_build_array('a', g)) FROM generate_series(1, ${INCIDENTS}) g`);
    // Flowable's shape: upper-case quoted names, varchar ids, byte arrays, a foreign key into another module.
    await c.query(`CREATE TABLE synergyflow_workflows."ACT_GE_BYTEARRAY" ("ID_" varchar(64) PRIMARY KEY, "REV_" integer, "NAME_" varchar(255), "BYTES_" bytea)`);
    await c.query(`CREATE TABLE synergyflow_workflows."ACT_RU_EXECUTION" ("ID_" varchar(64) PRIMARY KEY, "REV_" integer, "PROC_INST_ID_" varchar(64), "BUSINESS_KEY_" varchar(255), "TASK_ID_" integer REFERENCES synergyflow_tasks.tasks, "RESOURCE_ID_" varchar(64) CONSTRAINT "ACT_FK_EXE_RESOURCE" REFERENCES synergyflow_workflows."ACT_GE_BYTEARRAY")`);
    await c.query(`CREATE INDEX "ACT_IDX_EXEC_BUSKEY" ON synergyflow_workflows."ACT_RU_EXECUTION" ("BUSINESS_KEY_")`);
    await c.query(`INSERT INTO synergyflow_workflows."ACT_GE_BYTEARRAY" SELECT 'b' || g, 1, 'process ' || g || '.bpmn', convert_to(repeat('<bpmn/>', 20), 'UTF8') FROM generate_series(1, ${executions}) g`);
    await c.query(`INSERT INTO synergyflow_workflows."ACT_RU_EXECUTION" SELECT 'e' || g, 1, 'p' || g, 'key-' || g, 1 + g % ${tasks}, 'b' || g FROM generate_series(1, ${executions}) g`);
    // Large objects (database-wide, referenced by OID from a table).
    await c.query(`CREATE TABLE synergyflow_knowledge.attachments (id int PRIMARY KEY, content oid NOT NULL)`);
    await c.query(`INSERT INTO synergyflow_knowledge.attachments SELECT g, lo_from_bytea(0, decode(repeat(md5(g::text), ${largeObjectBytes / 16}), 'hex')) FROM generate_series(1, ${largeObjects}) g`);
}

// The tenant's SQL, isolation and pooler on real PostgreSQL 15 and PgBouncer 1.24.1.
import type { Client } from "pg";
import { MODULE_SCHEMAS } from "../components/config";
import { type TenantEnvironment, startTenantEnvironment } from "./environment";

let env: TenantEnvironment;
beforeAll(async () => {
    env = await startTenantEnvironment("prod");
}, 120000);
afterAll(async () => {
    await env?.stop();
});

const errorOf = async (promise: Promise<unknown>): Promise<string> => {
    try {
        await promise;
    } catch (error) {
        return (error as Error).message;
    }
    throw new Error("expected a failure");
};

/** PostgreSQL backends of a role right now (the pooler's server connections included). */
const connectionsOf = (role: string) =>
    Number(env.psqlAsSuperuser(`\\pset tuples_only on\nSELECT count(*) FROM pg_stat_activity WHERE usename = '${role}';`).trim().split("\n").pop());

async function withClient<T>(client: Promise<Client>, body: (c: Client) => Promise<T>): Promise<T> {
    const c = await client;
    try {
        return await body(c);
    } finally {
        await c.end();
    }
}

describe("tenant setup", () => {
    test("the bootstrap SQL (the Job's exact text) is idempotent: a second run succeeds and changes nothing", () => {
        const before = env.psqlAsSuperuser("SELECT datacl FROM pg_database WHERE datname = 'synergyflow';", "postgres");
        expect(() => env.psqlAsSuperuser(env.bootstrapSql)).not.toThrow();
        expect(env.psqlAsSuperuser("SELECT datacl FROM pg_database WHERE datname = 'synergyflow';", "postgres")).toBe(before);
    });

    test("the tenant role logs in through PgBouncer over TLS and creates and uses a table in each module schema", async () => {
        await withClient(env.connect({ user: env.tenantRole }, "pooler"), async (c) => {
            // The client side is TLS (hostssl rules); the pooler's server side is plain locally.
            expect((c as unknown as { connection: { stream: { encrypted?: boolean } } }).connection.stream.encrypted).toBe(true);
            for (const schema of MODULE_SCHEMAS) {
                await c.query(`CREATE TABLE IF NOT EXISTS ${schema}.probe (id int PRIMARY KEY, note text)`);
                await c.query(`INSERT INTO ${schema}.probe VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET note = EXCLUDED.note`, [schema]);
                const row = await c.query(`SELECT note FROM ${schema}.probe WHERE id = 1`);
                expect(row.rows[0].note).toBe(schema);
            }
        });
    });

    test("a connection without TLS is refused by the pooler's pg_hba (hostssl)", async () => {
        const message = await errorOf(env.connect({ user: env.tenantRole, ssl: false }, "pooler"));
        // PgBouncer's answer to a pg_hba `reject` (no hostssl rule matches a plain connection).
        expect(message).toBe("login rejected");
    });
});

describe("isolation on the shared cluster", () => {
    test("the other tenants' roles cannot log in through this pooler, even with their right password", async () => {
        for (const role of Object.keys(env.otherTenants)) {
            // The tenant-scoped lookup returns no hash for them (pg_hba would reject them next).
            const message = await errorOf(env.connect({ user: role, database: `${role}_db` }, "pooler"));
            expect(message).toBe("no such user");
        }
    });

    test("the tenant role cannot reach another tenant's database, through the pooler or directly", async () => {
        expect(await errorOf(env.connect({ user: env.tenantRole, database: "gitlab_app_db" }, "pooler"))).toBe("login rejected");
        expect(await errorOf(env.connect({ user: env.tenantRole, database: "gitlab_app_db" }, "direct"))).toMatch(/permission denied for database "gitlab_app_db"/);
        // And the other way round: our database is closed to PUBLIC by the bootstrap SQL.
        expect(await errorOf(env.connect({ user: "gitlab_app", database: "synergyflow" }, "direct"))).toMatch(/permission denied for database "synergyflow"/);
    });

    test("the auth role obtains the tenant's hash and no other role's, neither through the function nor directly", async () => {
        await withClient(env.connect({ user: env.authRole, database: "postgres" }, "direct"), async (c) => {
            const fn = `${env.config.pooler.authFunctionSchema}.user_search`;
            expect((await c.query(`SELECT usename, passwd FROM ${fn}($1)`, [env.tenantRole])).rows).toEqual([
                { usename: env.tenantRole, passwd: expect.stringMatching(/^SCRAM-SHA-256\$/) },
            ]);
            for (const role of [...Object.keys(env.otherTenants), "postgres", env.authRole]) {
                expect((await c.query(`SELECT * FROM ${fn}($1)`, [role])).rows).toEqual([]);
            }
            for (const sql of ["SELECT rolpassword FROM pg_authid", "SELECT passwd FROM pg_shadow"]) {
                expect(await errorOf(c.query(sql))).toMatch(/permission denied/);
            }
            // It cannot redefine the function either.
            expect(await errorOf(c.query(`CREATE OR REPLACE FUNCTION ${fn}(uname text) RETURNS TABLE (usename name, passwd text) LANGUAGE sql AS 'SELECT rolname, rolpassword FROM pg_authid'`))).toMatch(
                /permission denied|must be owner/,
            );
        });
    });

    test("nobody else may call the lookup function", async () => {
        await withClient(env.connect({ user: "gitlab_app", database: "postgres" }, "direct"), async (c) => {
            expect(await errorOf(c.query(`SELECT * FROM ${env.config.pooler.authFunctionSchema}.user_search('synergyflow_app')`))).toMatch(/permission denied/);
        });
    });

    test("the tenant role is no superuser and cannot create databases or roles", async () => {
        await withClient(env.connect({ user: env.tenantRole }, "direct"), async (c) => {
            const me = await c.query("SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolconnlimit FROM pg_roles WHERE rolname = current_user");
            expect(me.rows[0]).toEqual({ rolsuper: false, rolcreatedb: false, rolcreaterole: false, rolreplication: false, rolbypassrls: false, rolconnlimit: env.config.tenant.connectionLimit });
            expect(await errorOf(c.query("CREATE DATABASE sneaky"))).toMatch(/permission denied to create database/);
            expect(await errorOf(c.query("CREATE ROLE sneaky"))).toMatch(/permission denied to create role/);
        });
    });

    test("its connection limit holds (the pooler's server connections count against it too)", async () => {
        const limit = env.config.tenant.connectionLimit;
        const held = connectionsOf(env.tenantRole);
        const clients: Client[] = [];
        try {
            for (let i = held; i < limit; i++) clients.push(await env.connect({ user: env.tenantRole }, "direct"));
            expect(await errorOf(env.connect({ user: env.tenantRole }, "direct"))).toMatch(/too many connections for role "synergyflow_app"/);
        } finally {
            await Promise.all(clients.map((c) => c.end()));
        }
    });
});

describe("the pooler's budget and what transaction pooling breaks", () => {
    const serverConnections = () => connectionsOf(env.tenantRole);

    test("many clients share at most max_db_connections server connections", async () => {
        const maxDb = Number(env.poolerSpec.pgbouncer.parameters["max_db_connections"]);
        const clients = await Promise.all(Array.from({ length: 40 }, () => env.connect({ user: env.tenantRole }, "pooler")));
        try {
            let peak = 0;
            const sampler = setInterval(() => (peak = Math.max(peak, serverConnections())), 100);
            await Promise.all(clients.map((c) => c.query("SELECT pg_sleep(0.3)")));
            clearInterval(sampler);
            expect(peak).toBeGreaterThan(0);
            expect(peak).toBeLessThanOrEqual(maxDb);
        } finally {
            await Promise.all(clients.map((c) => c.end()));
        }
    });

    test("a session advisory lock through the pooler is not exclusive; a transaction-level lock is", async () => {
        const a = await env.connect({ user: env.tenantRole }, "pooler");
        const b = await env.connect({ user: env.tenantRole }, "pooler");
        try {
            // A takes a session lock in autocommit; its server connection goes back to the pool still holding it,
            // and B's next statement runs on that same server session, where the lock is re-entrant.
            await a.query("SELECT pg_advisory_lock(4242)");
            expect((await b.query("SELECT pg_try_advisory_lock(4242) AS got")).rows[0].got).toBe(true);
            await b.query("SELECT pg_advisory_unlock_all()");
            // The workaround the program sets for Flyway (SPRING_FLYWAY_POSTGRESQL_TRANSACTIONALLOCK=true):
            // a transaction-level lock pins A's server connection and excludes B.
            await a.query("BEGIN");
            await a.query("SELECT pg_advisory_xact_lock(4243)");
            expect((await b.query("SELECT pg_try_advisory_xact_lock(4243) AS got")).rows[0].got).toBe(false);
            await a.query("COMMIT");
        } finally {
            await a.end();
            await b.end();
        }
        expect(env.datasource["SPRING_FLYWAY_POSTGRESQL_TRANSACTIONALLOCK"]).toBe("true");
    });

    test("a session SET leaks to another client; SET LOCAL does not", async () => {
        const a = await env.connect({ user: env.tenantRole }, "pooler");
        const b = await env.connect({ user: env.tenantRole }, "pooler");
        try {
            await a.query("SET statement_timeout = '4321ms'");
            expect((await b.query("SHOW statement_timeout")).rows[0].statement_timeout).toBe("4321ms");
            await b.query("RESET statement_timeout");
            await a.query("BEGIN");
            await a.query("SET LOCAL statement_timeout = '1234ms'");
            await a.query("COMMIT");
            expect((await b.query("SHOW statement_timeout")).rows[0].statement_timeout).not.toBe("1234ms");
        } finally {
            await a.end();
            await b.end();
        }
    });
});

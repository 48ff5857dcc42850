// The tenant's SQL, isolation and pooler on real PostgreSQL 15 and PgBouncer 1.24.1, as the committed prod
// stack runs them: operator pooler auth set up the way CNPG 1.27.4 does, the bootstrap SQL run as the tenant
// role (no superuser), the pooler's certificate verified with the delivered CA.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import type { Client } from "pg";
import * as fs from "node:fs";
import { MODULE_SCHEMAS } from "../components/model/config";
import { reportedSearchPath } from "../components/model/bootstrapSql";
import { waitForDbScript } from "../components/model/waitForDb";
import { type TenantEnvironment, errorOf, startTenantEnvironment, withClient } from "./environment";

let env: TenantEnvironment;
beforeAll(async () => {
    env = await startTenantEnvironment("operator");
}, 120000);
afterAll(async () => {
    await env?.stop();
});


/** PostgreSQL backends of a role right now (the pooler's server connections included). */
const connectionsOf = (role: string) =>
    Number(env.psqlAsSuperuser(`\\pset tuples_only on\nSELECT count(*) FROM pg_stat_activity WHERE usename = '${role}';`).trim().split("\n").pop());


describe("tenant setup", () => {
    test("the bootstrap SQL (the Job's exact text) runs as the login roles and is idempotent: a second run succeeds and changes nothing", () => {
        const state = () => env.psqlAsSuperuser("SELECT datacl FROM pg_database WHERE datname = 'synergyflow';\nSELECT r.rolname, s.setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole ORDER BY 1;", "postgres");
        const before = state();
        // The second run: the login roles' sessions now act as the owner; SET ROLE NONE keeps each on itself.
        expect(() => env.runBootstrap()).not.toThrow();
        expect(state()).toBe(before);
        // Granted by the owner (the login role acting as it), and each login role's settings, none on the owner.
        expect(before).toContain("cnpg_pooler_pgbouncer=c/synergyflow_app");
        for (const role of env.loginRoles) expect(before).toMatch(new RegExp(`${role} \\| \\{role=synergyflow_app,"search_path=synergyflow_users`));
        expect(before).not.toMatch(/^ synergyflow_app \|/m);
    });

    test("both login roles act as the owner: what either creates belongs to the owner, and the other may alter and drop it", async () => {
        const [a, b] = env.loginRoles as [string, string];
        await withClient(env.connect({ user: a }, "pooler"), async (c) => {
            expect((await c.query("SELECT session_user AS s, current_user AS u")).rows[0]).toEqual({ s: a, u: env.ownerRole });
            await c.query("CREATE TABLE synergyflow_tasks.made_by_a (id int)");
            expect((await c.query("SELECT tableowner FROM pg_tables WHERE tablename = 'made_by_a'")).rows[0].tableowner).toBe(env.ownerRole);
        });
        await withClient(env.connect({ user: b }, "pooler"), async (c) => {
            // A RESET ALL (server_reset_query) between clients returns to the role's setting, not to the login role.
            await c.query("RESET ALL");
            expect((await c.query("SELECT current_user AS u")).rows[0].u).toBe(env.ownerRole);
            await c.query("ALTER TABLE synergyflow_tasks.made_by_a ADD COLUMN note text");
            await c.query("DROP TABLE synergyflow_tasks.made_by_a");
        });
    });

    test("the server reset leaves each server connection as a fresh login of its role: a client that changes role and settings, then the next client on the same server connection", async () => {
        const [a] = env.loginRoles as [string, string];
        const expectedPath = reportedSearchPath(env.config.tenant.schemas);
        // Transaction pooling: session-level SETs inside a transaction stay on the server connection after COMMIT.
        const dirtyPid = await withClient(env.connect({ user: a }, "pooler"), async (c) => {
            await c.query("BEGIN");
            await c.query("SET ROLE NONE");
            await c.query("SET search_path = public");
            await c.query("SET statement_timeout = 1234");
            const row = (await c.query("SELECT pg_backend_pid() AS pid, current_user AS u, current_setting('search_path') AS p")).rows[0];
            expect(row).toMatchObject({ u: a, p: "public" });
            await c.query("COMMIT");
            return row.pid as number;
        });
        await withClient(env.connect({ user: a }, "pooler"), async (c) => {
            const row = (await c.query("SELECT pg_backend_pid() AS pid, current_user AS u, current_setting('search_path') AS p, current_setting('statement_timeout') AS t")).rows[0];
            // PgBouncer hands out the server connection released last (server_round_robin off): the dirty one.
            expect(row.pid).toBe(dirtyPid);
            expect(row).toMatchObject({ u: env.ownerRole, p: expectedPath, t: "0" });
        });
        // Why RESET ROLE is in the reset: RESET ALL alone leaves the role (PostgreSQL excludes it from RESET ALL).
        await withClient(env.connect({ user: a }, "direct"), async (c) => {
            await c.query("SET ROLE NONE");
            await c.query("RESET ALL");
            expect((await c.query("SELECT current_user AS u")).rows[0].u).toBe(a);
        });
    });

    test("wait-for-db's own script through the pooler: passes on the owner's session with the tenant's search_path, and waits, then fails saying what it found, on any other", () => {
        const run = (owner: string, searchPath: string) => {
            const env_ = {
                ...process.env,
                PGHOST: "127.0.0.2",
                PGPORT: "5432",
                PGDATABASE: "synergyflow",
                PGSSLMODE: "verify-ca",
                PGSSLROOTCERT: env.tls.caFile,
                PGUSER: env.tenantRole,
                PGPASSWORD: env.passwords[env.tenantRole] as string,
                WAIT_FOR_DB_OWNER: owner,
                WAIT_FOR_DB_SEARCH_PATH: searchPath,
            };
            const result = spawnSync("sh", ["-c", waitForDbScript(2)], { env: env_, encoding: "utf8" });
            return { status: result.status, out: result.stdout };
        };
        const expected = reportedSearchPath(env.config.tenant.schemas);
        const ok = run(env.ownerRole, expected);
        expect(ok.status).toBe(0);
        expect(ok.out).toContain(`ok, the session is "${env.ownerRole}|${expected}"`);
        // A session the bootstrap has not set up (here: another expected owner) is not accepted.
        const wrong = run("someone_else", expected);
        expect(wrong.status).toBe(1);
        expect(wrong.out).toContain(`logged in, but the session is "${env.ownerRole}|${expected}" (user|search_path), not "someone_else|${expected}"`);
        expect(wrong.out).toContain("giving up after 2 attempts");
    });

    test("operator auth as CNPG 1.27.4 sets it up: the auth query runs in our database, which only the bootstrap's GRANT opens to CNPG's role", async () => {
        const login = () => withClient(env.connect({ user: env.tenantRole }, "pooler"), async (c) => (await c.query("SELECT session_user AS u")).rows[0].u);
        expect(await login()).toBe(env.tenantRole);
        // Without the grant (what CNPG 1.27 leaves for a database created after its role), nobody logs in.
        env.psqlAsJob(`REVOKE CONNECT ON DATABASE synergyflow FROM cnpg_pooler_pgbouncer;`);
        await env.restartPgBouncer();
        try {
            expect(await errorOf(login())).toMatch(/permission denied for database "synergyflow"|bouncer config error/);
        } finally {
            env.runBootstrap();
            await env.restartPgBouncer();
        }
        expect(await login()).toBe(env.tenantRole);
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

    test("TLS: the delivered CA verifies the pooler (verify-ca, pg and psql); another CA is refused; verify-full needs the name in the certificate", async () => {
        expect(await withClient(env.connect({ user: env.tenantRole }, "pooler"), async (c) => (await c.query("SELECT 1 AS one")).rows[0].one)).toBe(1);
        const other = fs.readFileSync(env.tls.otherCaFile, "utf8");
        expect(await errorOf(env.connect({ user: env.tenantRole, ssl: { ca: other, rejectUnauthorized: true, checkServerIdentity: () => undefined } }, "pooler"))).toMatch(/self.signed|unable to (get|verify)/);
        const psql = (sslmode: string, root: string, host = "host=127.0.0.2") =>
            execFileSync("psql", [`${host} port=5432 dbname=synergyflow user=${env.tenantRole} sslmode=${sslmode} sslrootcert=${root}`, "-tAc", "SELECT 'ok'"], {
                encoding: "utf8",
                env: { ...process.env, PGPASSWORD: env.passwords[env.tenantRole] },
                stdio: ["ignore", "pipe", "pipe"],
            }).trim();
        const psqlError = (...args: Parameters<typeof psql>) => {
            try {
                psql(...args);
            } catch (error) {
                return String((error as { stderr?: string }).stderr);
            }
            throw new Error("expected psql to fail");
        };
        expect(psql(env.datasource["PGSSLMODE"] as string, env.tls.caFile)).toBe("ok");
        expect(psqlError("verify-ca", env.tls.otherCaFile)).toMatch(/certificate verify failed/);
        expect(psqlError("verify-full", env.tls.caFile)).toMatch(/server certificate for "shared-postgres-rw" \(and \d+ other names\) does not match host name "127.0.0.2"/);
        // A name the certificate carries passes verify-full (hostaddr connects, host is what is verified).
        expect(psql("verify-full", env.tls.caFile, "host=shared-postgres-rw hostaddr=127.0.0.2")).toBe("ok");
    });

    test("the role's search_path is in effect in every transaction through the pooler, without any SET", async () => {
        await withClient(env.connect({ user: env.tenantRole }, "pooler"), async (c) => {
            for (let i = 0; i < 5; i++) expect((await c.query("SHOW search_path")).rows[0].search_path).toBe(`${MODULE_SCHEMAS.join(", ")}, public`);
            await c.query("CREATE TABLE IF NOT EXISTS synergyflow_users.unqualified_probe (id int)");
            expect((await c.query("SELECT count(*)::int AS n FROM unqualified_probe")).rows[0].n).toBe(0);
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
            // CNPG 1.27 runs the auth query in the client's database: where its role may connect (the database it
            // was first granted) the lookup finds their hash and the pooler's pg_hba rejects them; elsewhere
            // PostgreSQL refuses the lookup itself. Either way nobody but our role gets in.
            const message = await errorOf(env.connect({ user: role, database: `${role}_db` }, "pooler"));
            expect(message).toMatch(new RegExp(`^(login rejected|permission denied for database "${role}_db")$`));
        }
    });

    test("the tenant role cannot reach another tenant's database, through the pooler or directly", async () => {
        expect(await errorOf(env.connect({ user: env.tenantRole, database: "gitlab_app_db" }, "pooler"))).toBe("login rejected");
        expect(await errorOf(env.connect({ user: env.tenantRole, database: "gitlab_app_db" }, "direct"))).toMatch(/permission denied for database "gitlab_app_db"/);
        // And the other way round: our database is closed to PUBLIC by the bootstrap SQL.
        expect(await errorOf(env.connect({ user: "gitlab_app", database: "synergyflow" }, "direct"))).toMatch(/permission denied for database "synergyflow"/);
    });

    test("the login role is no superuser and cannot create databases or roles, and neither can the owner it acts as", async () => {
        await withClient(env.connect({ user: env.tenantRole }, "direct"), async (c) => {
            const attributes = "rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolconnlimit";
            const me = await c.query(`SELECT ${attributes} FROM pg_roles WHERE rolname = session_user`);
            expect(me.rows[0]).toEqual({ rolsuper: false, rolcreatedb: false, rolcreaterole: false, rolreplication: false, rolbypassrls: false, rolconnlimit: env.config.tenant.connectionLimit });
            // The owner it acts as (current_user) has no attribute either, and no logins at all.
            const owner = await c.query(`SELECT rolcanlogin, ${attributes} FROM pg_roles WHERE rolname = current_user`);
            // connectionLimit -1 is CNPG's default (a declared 0 comes back as -1); NOLOGIN keeps it out of every slot anyway.
            expect(owner.rows[0]).toEqual({ rolcanlogin: false, rolsuper: false, rolcreatedb: false, rolcreaterole: false, rolreplication: false, rolbypassrls: false, rolconnlimit: -1 });
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
            expect(await errorOf(env.connect({ user: env.tenantRole }, "direct"))).toMatch(new RegExp(`too many connections for role "${env.tenantRole}"`));
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
            // The server connection returns to the pool only after PgBouncer's reset has run on it (after A has its
            // answer): until then B would get another idle one.
            await new Promise((resolve) => setTimeout(resolve, 200));
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

    test("a session-level SET (search_path included) does not reach another client's transactions; the role's search_path holds", async () => {
        const rolePath = `${MODULE_SCHEMAS.join(", ")}, public`;
        try {
            // One server connection for both clients, so that without the reset B would run on A's session.
            await env.restartPgBouncer({ default_pool_size: "1", min_pool_size: "0", reserve_pool_size: "0" });
            const [c, d] = [await env.connect({ user: env.tenantRole }, "pooler"), await env.connect({ user: env.tenantRole }, "pooler")];
            try {
                await c.query("SET search_path = synergyflow_audit");
                await c.query("SET statement_timeout = '4321ms'");
                for (let i = 0; i < 3; i++) {
                    expect((await d.query("SHOW search_path")).rows[0].search_path).toBe(rolePath);
                    expect((await d.query("SHOW statement_timeout")).rows[0].statement_timeout).not.toBe("4321ms");
                }
                // SET LOCAL stays inside its transaction.
                await c.query("BEGIN");
                await c.query("SET LOCAL search_path = synergyflow_tasks");
                expect((await c.query("SHOW search_path")).rows[0].search_path).toBe("synergyflow_tasks");
                await c.query("COMMIT");
                expect((await d.query("SHOW search_path")).rows[0].search_path).toBe(rolePath);
            } finally {
                await c.end();
                await d.end();
            }
        } finally {
            await env.restartPgBouncer();
        }
        expect(env.poolerSpec.pgbouncer.parameters).toMatchObject({ server_reset_query: "RESET ALL; RESET ROLE", server_reset_query_always: "1" });
    });

    test("without the reset (the parameters reverted), the same session SET leaks to the other client", async () => {
        await env.restartPgBouncer({ default_pool_size: "1", min_pool_size: "0", reserve_pool_size: "0", server_reset_query_always: "0" });
        const [c, d] = [await env.connect({ user: env.tenantRole }, "pooler"), await env.connect({ user: env.tenantRole }, "pooler")];
        try {
            await c.query("SET search_path = synergyflow_audit");
            expect((await d.query("SHOW search_path")).rows[0].search_path).toBe("synergyflow_audit");
        } finally {
            await c.end();
            await d.end();
            await env.restartPgBouncer();
        }
    });
});

describe("pgbench -M prepared stalls behind the pooler: pgbench's client loop, not the configuration", () => {
    const PGBENCH = "/usr/lib/postgresql/15/bin/pgbench";
    const bench = (args: string[]) => ({ env: { ...process.env, PGPASSWORD: env.passwords[env.tenantRole], PGSSLMODE: "require" }, args: [...args, "-n", "-h", "127.0.0.2", "-p", "5432", "-U", env.tenantRole, "synergyflow"] });

    test("2 threads x 10 clients over 12 server connections: every server connection idle in transaction; one thread per client runs", async () => {
        execFileSync(PGBENCH, ["-i", "-s", "1", "-h", env.postgres.host, "-p", String(env.postgres.port), "-U", env.tenantRole, "synergyflow"], { env: { ...process.env, PGPASSWORD: env.passwords[env.tenantRole], PGSSLMODE: "disable" }, stdio: "pipe" });
        const maxDb = Number(env.poolerSpec.pgbouncer.parameters["max_db_connections"]);
        // A pgbench thread serves its clients in one event loop but prepares a statement synchronously
        // (PQprepare): when it waits there for a server connection, the transactions its other clients hold open
        // on every server connection wait for it.
        const stalled = bench(["-M", "prepared", "-c", "20", "-j", "2", "-T", "15"]);
        const child = spawn(PGBENCH, stalled.args, { env: stalled.env, stdio: "ignore" });
        const states = () => env.psqlAsSuperuser(`\\pset format unaligned\n\\pset tuples_only on\nSELECT state || ' ' || count(*) FROM pg_stat_activity WHERE usename = '${env.tenantRole}' GROUP BY state;`).split("\n").filter((l) => /^(idle|active)/.test(l));
        try {
            // The pool, then its reserve after reserve_pool_timeout: every server connection ends up held.
            const deadline = Date.now() + 10000;
            let seen = states();
            while (JSON.stringify(seen) !== JSON.stringify([`idle in transaction ${maxDb}`]) && Date.now() < deadline) {
                await new Promise((r) => setTimeout(r, 500));
                seen = states();
            }
            expect(seen).toEqual([`idle in transaction ${maxDb}`]);
            // And it stays so: nothing progresses.
            await new Promise((r) => setTimeout(r, 2000));
            expect(states()).toEqual([`idle in transaction ${maxDb}`]);
        } finally {
            child.kill("SIGKILL");
            await env.restartPgBouncer();
        }
        // The same load with a thread per client (as PgJDBC + HikariCP: each connection its own thread) runs.
        const free = bench(["-M", "prepared", "-c", "20", "-j", "20", "-T", "4"]);
        const out = execFileSync(PGBENCH, free.args, { env: free.env, encoding: "utf8", timeout: 60000, stdio: ["ignore", "pipe", "pipe"] });
        expect(out).toMatch(/number of failed transactions: 0 \(0\.000%\)/);
        expect(Number(/number of transactions actually processed: (\d+)/.exec(out)?.[1])).toBeGreaterThan(500);
    }, 90000);
});

// Last: it takes the tenant away. What CNPG issues when a `delete` stack is destroyed: the Database first (its
// dependency order in the program), then the role.
describe("destroy with reclaim policy delete", () => {
    test("DROP DATABASE then DROP ROLE exactly as CNPG issues them succeed for every role of ours: nothing the program granted outlives them; the other tenants are untouched", async () => {
        const rows = (sql: string) => env.psqlAsSuperuser(`\\pset format unaligned\n\\pset tuples_only on\n${sql}`).split("\n").filter((l) => l && !l.startsWith("Output format") && !l.startsWith("Tuples only"));
        const ours = [env.ownerRole, ...env.loginRoles];
        const list = ours.map((r) => `'${r}'`).join(", ");
        const others = () => rows(`SELECT rolname || ' ' || rolconnlimit FROM pg_roles WHERE rolname NOT IN (${list}) ORDER BY 1;\nSELECT datname || ' ' || coalesce(datacl::text, '') FROM pg_database WHERE datname <> 'synergyflow' ORDER BY 1;`);
        const before = others();
        // The pooler's server connections would block DROP DATABASE; the Pooler is deleted before the Database.
        await env.pgbouncer.stop();
        env.psqlAsSuperuser(`DROP DATABASE IF EXISTS "synergyflow"`);
        // CNPG drops each role on its own, in no order we control: the owner before its members too.
        for (const role of [env.ownerRole, ...env.loginRoles]) env.psqlAsSuperuser(`DROP ROLE "${role}"`);
        expect(rows(`SELECT count(*) FROM pg_roles WHERE rolname IN (${list});\nSELECT count(*) FROM pg_db_role_setting;`)).toEqual(["0", "0"]);
        expect(others()).toEqual(before);
        expect(before.length).toBeGreaterThan(8);
    });
});

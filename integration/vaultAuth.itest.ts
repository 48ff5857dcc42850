// The vault pooler auth mode on real PostgreSQL 15 and PgBouncer 1.24.1, on a shared Cluster with superuser
// access on: our own auth role and tenant-scoped SECURITY DEFINER lookup, created by the bootstrap SQL as the
// superuser.
import { type TenantEnvironment, errorOf, startTenantEnvironment, withClient } from "./environment";

let env: TenantEnvironment;
beforeAll(async () => {
    env = await startTenantEnvironment("vault");
}, 120000);
afterAll(async () => {
    await env?.stop();
});



describe("vault pooler auth", () => {
    test("both login roles log in through PgBouncer with our auth role's lookup, acting as the owner", async () => {
        for (const role of env.loginRoles) {
            expect(await withClient(env.connect({ user: role }, "pooler"), async (c) => (await c.query("SELECT session_user AS s, current_user AS u")).rows[0])).toEqual({ s: role, u: env.ownerRole });
        }
    });

    test("the other tenants' roles cannot log in through this pooler: the lookup has no hash for them", async () => {
        // In our database (where the auth role may run its query) the tenant-scoped lookup knows no other role.
        for (const role of Object.keys(env.otherTenants)) expect(await errorOf(env.connect({ user: role }, "pooler"))).toBe("no such user");
        // In theirs (CNPG 1.27 runs the query in the client's database) our auth role may not even connect.
        for (const role of Object.keys(env.otherTenants)) expect(await errorOf(env.connect({ user: role, database: `${role}_db` }, "pooler"))).toBe(`permission denied for database "${role}_db"`);
    });

    test("the auth role obtains the tenant's hash and no other role's, neither through the function nor directly", async () => {
        await withClient(env.connect({ user: env.authRole, database: "postgres" }, "direct"), async (c) => {
            const fn = `${env.config.pooler.authFunctionSchema}.user_search`;
            for (const role of env.loginRoles) expect((await c.query(`SELECT usename, passwd FROM ${fn}($1)`, [role])).rows).toEqual([{ usename: role, passwd: expect.stringMatching(/^SCRAM-SHA-256\$/) }]);
            for (const role of [...Object.keys(env.otherTenants), "postgres", env.authRole, env.ownerRole]) expect((await c.query(`SELECT * FROM ${fn}($1)`, [role])).rows).toEqual([]);
            for (const sql of ["SELECT rolpassword FROM pg_authid", "SELECT passwd FROM pg_shadow"]) expect(await errorOf(c.query(sql))).toMatch(/permission denied/);
            // It cannot redefine the function either.
            expect(await errorOf(c.query(`CREATE OR REPLACE FUNCTION ${fn}(uname text) RETURNS TABLE (usename name, passwd text) LANGUAGE sql AS 'SELECT rolname, rolpassword FROM pg_authid'`))).toMatch(/permission denied|must be owner/);
        });
    });

    test("nobody else may call the lookup function", async () => {
        await withClient(env.connect({ user: "gitlab_app", database: "postgres" }, "direct"), async (c) => {
            expect(await errorOf(c.query(`SELECT * FROM ${env.config.pooler.authFunctionSchema}.user_search('synergyflow_app')`))).toMatch(/permission denied/);
        });
    });

    test("the bootstrap SQL (as the superuser) is idempotent", () => {
        const before = env.psqlAsSuperuser("SELECT datacl FROM pg_database ORDER BY datname;");
        expect(() => env.runBootstrap()).not.toThrow();
        expect(env.psqlAsSuperuser("SELECT datacl FROM pg_database ORDER BY datname;")).toBe(before);
    });
});

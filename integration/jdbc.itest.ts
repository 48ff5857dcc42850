// A real client: PgJDBC 42.7 + HikariCP 6.3 with the exact JDBC URL and Hikari settings of the emitted
// datasource ConfigMap, through PgBouncer 1.24.1 in transaction mode. Then the same load with the
// prepared-statement setting reverted (max_prepared_statements = 0) fails: the failure the setting prevents.
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { type TenantEnvironment, startTenantEnvironment } from "./environment";

const CLIENT_DIR = path.join(__dirname, "jdbc-client");
const UNITS = 10000;

interface LoadResult {
    units: number;
    statements: number;
    errors: number;
    firstError: string;
    seconds: number;
    threads: number;
}

function runLoad(env: TenantEnvironment): LoadResult {
    const out = execFileSync("java", ["-cp", path.join(CLIENT_DIR, "target", "lib", "*"), path.join(CLIENT_DIR, "JdbcLoad.java")], {
        encoding: "utf8",
        env: { ...process.env, ...env.datasource, DB_USERNAME: env.tenantRole, DB_PASSWORD: env.passwords[env.tenantRole], LOAD_EXECUTIONS: String(UNITS) },
        timeout: 240000,
    });
    return JSON.parse(out.trim().split("\n").pop() as string) as LoadResult;
}

let env: TenantEnvironment;
beforeAll(async () => {
    execFileSync("mvn", ["-q", "-B", "-f", path.join(CLIENT_DIR, "pom.xml"), "dependency:copy-dependencies", `-DoutputDirectory=${path.join(CLIENT_DIR, "target", "lib")}`], { stdio: "pipe" });
    env = await startTenantEnvironment("operator");
}, 240000);
afterAll(async () => {
    await env?.stop();
});

describe("PgJDBC + HikariCP through PgBouncer in transaction mode", () => {
    test("the emitted settings: server-side prepared statements across the pool, no error", () => {
        expect(env.datasource["SPRING_DATASOURCE_URL"]).toBe(`jdbc:postgresql://127.0.0.2:5432/synergyflow?sslmode=verify-ca&sslrootcert=${encodeURIComponent(env.tls.caFile)}&prepareThreshold=5&ApplicationName=synergyflow&tcpKeepAlive=true`);
        expect(env.poolerSpec.pgbouncer.poolMode).toBe("transaction");
        expect(env.poolerSpec.pgbouncer.parameters["max_prepared_statements"]).toBe("200");
        const result = runLoad(env);
        console.log(`emitted settings: ${JSON.stringify(result)}`);
        expect(result.errors).toBe(0);
        expect(result.statements).toBeGreaterThanOrEqual(10000);
        expect(result.threads).toBe(Number(env.datasource["SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE"]));
        // A burst: more clients (one Hikari connection per thread) than the pod's server connections, so clients
        // queue in PgBouncer while preparing; unlike pgbench's shared event loop, nothing stalls.
        const serverConnections = Number(env.poolerSpec.pgbouncer.parameters["default_pool_size"]) + Number(env.poolerSpec.pgbouncer.parameters["reserve_pool_size"]);
        expect(result.threads).toBeGreaterThan(serverConnections);
    });

    test("reverted (max_prepared_statements = 0), the same load fails on prepared statements", async () => {
        await env.restartPgBouncer({ max_prepared_statements: "0" });
        const result = runLoad(env);
        console.log(`reverted setting: ${JSON.stringify(result)}`);
        expect(result.errors).toBeGreaterThan(0);
        expect(result.firstError).toMatch(/prepared statement "S_\d+" (does not exist|already exists)/);
    });
});

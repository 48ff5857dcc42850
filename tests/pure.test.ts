import { authQuery, renderBootstrapSql } from "../components/model/bootstrapSql";
import {
    CNPG_OPERATOR_VERSIONS,
    DEFAULT_POOLER_PARAMETERS,
    SUPPORTED_OPERATOR_VERSIONS,
    checkPoolerParameters,
    renderPoolerHba,
    renderPoolerParameters,
} from "../components/model/poolerParameters";
import { jdbcUrl, serverSslMode } from "../components/model/jdbc";
import { waitForDbScript } from "../components/model/waitForDb";
import { datasourceEnv } from "../components/model/datasource";
import { configSchema } from "../components/model/config";

describe("PgBouncer parameters", () => {
    test("render as strings, booleans as 1/0, sorted", () => {
        expect(renderPoolerParameters({ max_client_conn: 200, log_connections: false, tcp_keepalive: true, ignore_startup_parameters: "search_path" })).toEqual({
            ignore_startup_parameters: "search_path",
            log_connections: "0",
            max_client_conn: "200",
            tcp_keepalive: "1",
        });
    });
    test("the defaults pass CNPG's rules and set max_prepared_statements", () => {
        for (const version of SUPPORTED_OPERATOR_VERSIONS) {
            expect(checkPoolerParameters(DEFAULT_POOLER_PARAMETERS, version)).toEqual([]);
            for (const name of Object.keys(DEFAULT_POOLER_PARAMETERS)) expect(CNPG_OPERATOR_VERSIONS[version].allowed.has(name)).toBe(true);
        }
        expect(DEFAULT_POOLER_PARAMETERS["max_prepared_statements"]).toBe(200);
    });
    test("the allow-list follows the operator: 57 names in v1.27.4, v1.29.0 and v1.30.0, 54 in v1.28.0", () => {
        expect(Object.fromEntries(SUPPORTED_OPERATOR_VERSIONS.map((v) => [v, CNPG_OPERATOR_VERSIONS[v].allowed.size]))).toEqual({ "1.27": 57, "1.28": 54, "1.29": 57, "1.30": 57 });
        expect(checkPoolerParameters({ ...DEFAULT_POOLER_PARAMETERS, server_tls13_ciphers: "TLS_AES_256_GCM_SHA384" }, "1.27")).toEqual([]);
        expect(checkPoolerParameters({ ...DEFAULT_POOLER_PARAMETERS, server_tls13_ciphers: "TLS_AES_256_GCM_SHA384" }, "1.28").map((p) => p.parameter)).toEqual(["server_tls13_ciphers"]);
    });
    test("reject CNPG-managed, unknown and mistyped parameters, each by name", () => {
        const problems = checkPoolerParameters({ pool_mode: "session", auth_query: "x", listen_port: 6432, maxclientconn: 1, default_pool_size: -1, log_connections: 1 }, "1.27");
        expect(problems.map((p) => p.parameter).sort()).toEqual(["auth_query", "default_pool_size", "listen_port", "log_connections", "max_prepared_statements", "maxclientconn", "pool_mode"]);
    });
    test("pg_hba admits only the tenant's login roles to the tenant database, over TLS, and rejects the rest first", () => {
        expect(renderPoolerHba("synergyflow", ["synergyflow_app_a", "synergyflow_app_b"])).toEqual([
            "hostssl synergyflow synergyflow_app_a 0.0.0.0/0 scram-sha-256",
            "hostssl synergyflow synergyflow_app_a ::/0 scram-sha-256",
            "hostssl synergyflow synergyflow_app_b 0.0.0.0/0 scram-sha-256",
            "hostssl synergyflow synergyflow_app_b ::/0 scram-sha-256",
            "host all all 0.0.0.0/0 reject",
            "host all all ::/0 reject",
        ]);
    });
});

describe("bootstrap SQL", () => {
    const schemas = ["synergyflow_users", "synergyflow_audit"];
    const roles = { databaseName: "synergyflow", ownerRole: "synergyflow_app", loginRoles: ["synergyflow_app_a", "synergyflow_app_b"], schemas };
    const vaultSql = renderBootstrapSql({ ...roles, poolerAuth: { authRole: "synergyflow_pooler_auth", functionSchema: "synergyflow_pooler_auth" } }).main;
    const operator = renderBootstrapSql(roles);
    const operatorSql = operator.main;
    test("creates a tenant-scoped SECURITY DEFINER lookup in postgres and the tenant database", () => {
        expect(vaultSql.match(/CREATE OR REPLACE FUNCTION "synergyflow_pooler_auth"\.user_search/g)).toHaveLength(2);
        expect(vaultSql).toContain("SECURITY DEFINER");
        expect(vaultSql).toContain("SET search_path = pg_catalog, pg_temp");
        expect(vaultSql).toContain(`a.rolname = ANY (ARRAY['synergyflow_app_a', 'synergyflow_app_b']::name[])`);
        expect(vaultSql).toContain(`REVOKE ALL ON FUNCTION "synergyflow_pooler_auth".user_search(text) FROM PUBLIC;`);
        expect(vaultSql).toContain(`GRANT EXECUTE ON FUNCTION "synergyflow_pooler_auth".user_search(text) TO "synergyflow_pooler_auth";`);
        expect(vaultSql).toContain(`GRANT CONNECT ON DATABASE postgres TO "synergyflow_pooler_auth";`);
        expect(vaultSql.indexOf("\\connect postgres")).toBeLessThan(vaultSql.indexOf("\\connect synergyflow"));
    });
    test("revokes CONNECT on the tenant database from PUBLIC, grants it to the owner role, in both auth modes", () => {
        for (const sql of [vaultSql, operatorSql]) {
            expect(sql).toContain(`REVOKE CONNECT, TEMPORARY ON DATABASE "synergyflow" FROM PUBLIC;`);
            expect(sql).toContain(`GRANT CONNECT, TEMPORARY ON DATABASE "synergyflow" TO "synergyflow_app";`);
        }
    });
    test("each login role acts as the owner role and has the schemas' search_path: set by the superuser (vault) or by itself (operator)", () => {
        for (const role of ["synergyflow_app_a", "synergyflow_app_b"]) {
            expect(vaultSql).toContain(`ALTER ROLE "${role}" IN DATABASE "synergyflow" SET role = 'synergyflow_app';`);
            expect(vaultSql).toContain(`ALTER ROLE "${role}" IN DATABASE "synergyflow" SET search_path = "synergyflow_users", "synergyflow_audit", "public";`);
        }
        expect(operatorSql).not.toContain("ALTER ROLE");
        // Run by each login role for itself: SET ROLE NONE first, or a re-run would act as (and alter) the owner.
        expect(operator.perLoginRole).toContain("SET ROLE NONE;\nALTER ROLE SESSION_USER IN DATABASE \"synergyflow\" SET role = 'synergyflow_app';");
        expect(operator.perLoginRole).toContain(`ALTER ROLE SESSION_USER IN DATABASE "synergyflow" SET search_path = "synergyflow_users", "synergyflow_audit", "public";`);
        expect(renderBootstrapSql({ ...roles, poolerAuth: { authRole: "x", functionSchema: "x" } }).perLoginRole).toBeUndefined();
    });
    test("operator auth: nothing a superuser must run; CONNECT for CNPG's pooler role, which 1.27 does not grant on our database", () => {
        expect(operatorSql).not.toContain("user_search");
        expect(operatorSql).not.toContain("\\connect");
        expect(operatorSql).not.toMatch(/pg_authid|SECURITY DEFINER|CREATE ROLE|GRANT .* TO PUBLIC/);
        expect(operatorSql).toContain(`GRANT CONNECT ON DATABASE "synergyflow" TO "cnpg_pooler_pgbouncer";`);
    });
    test("is idempotent by construction (no bare CREATE that fails the second time)", () => {
        const creates = vaultSql.split("\n").filter((l) => /^CREATE /.test(l));
        for (const line of creates) expect(line).toMatch(/^CREATE (SCHEMA IF NOT EXISTS|OR REPLACE FUNCTION)/);
    });
    test("the auth query is schema-qualified", () => {
        expect(authQuery("synergyflow_pooler_auth")).toBe(`SELECT usename, passwd FROM "synergyflow_pooler_auth".user_search($1)`);
    });
});

describe("client settings", () => {
    test("JDBC URL: the pooler host, verified TLS with the delivered CA, the prepared-statement setting, no schema or options parameter", () => {
        const url = jdbcUrl({ host: "10.80.12.40", port: 5432, database: "synergyflow", applicationName: "synergyflow", sslMode: "verify-ca" });
        expect(url).toBe("jdbc:postgresql://10.80.12.40:5432/synergyflow?sslmode=verify-ca&sslrootcert=%2Fetc%2Fsynergyflow-db%2Fserver-ca%2Fca.crt&prepareThreshold=5&ApplicationName=synergyflow&tcpKeepAlive=true");
        expect(url).not.toMatch(/currentSchema|options=|sslmode=require/);
        expect(jdbcUrl({ host: "fd00::1", port: 5432, database: "d", applicationName: "a", sslMode: "verify-ca" })).toContain("//[fd00::1]:5432/d");
    });
    test("verify-full only for a host name the server certificate carries", () => {
        expect(serverSslMode("10.80.12.40", ["10.80.12.40"])).toBe("verify-ca");
        expect(serverSslMode("db.platform.internal", [])).toBe("verify-ca");
        expect(serverSslMode("DB.platform.internal", ["db.platform.internal"])).toBe("verify-full");
    });
    test("datasource env carries no credential", () => {
        const backend = configSchema.parse({}).backend;
        const env = datasourceEnv(backend, { host: "h", port: 5432, database: "synergyflow", sslMode: "verify-ca" }, "synergyflow");
        expect(Object.keys(env).filter((k) => /PASSWORD|USER/.test(k))).toEqual([]);
        expect(env["SPRING_DATASOURCE_HIKARI_MAX_LIFETIME"]).toBe("1500000");
    });
    test("wait-for-db logs in and queries, with bounded retries and backoff, without a password argument", () => {
        const script = waitForDbScript(30);
        expect(script).toContain("attempts=30");
        expect(script).toContain("SELECT current_user");
        expect(script).toMatch(/delay=\$\(\(delay \* 2\)\)/);
        expect(script).not.toMatch(/PGPASSWORD|password/i);
        expect(script).not.toContain("pg_isready");
    });
});

// The tenant on real servers: synth the prod stack (with the pooler exposed at a loopback address, so the
// emitted JDBC URL is used as is), start PostgreSQL configured like the live shared cluster (its
// max_connections and its other tenants, as the preflight read them from the fixtures), do what CNPG would do
// for our roles, our Database and (operator auth) our Pooler, run the bootstrap SQL as the role the Job runs
// it as, and start PgBouncer 1.24.1 from the emitted Pooler with a server certificate of a test CA for the
// cluster's Service names, as CNPG's pooler presents.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Client, type ClientConfig } from "pg";
import type { DatabaseSpec, PoolerSpec } from "../components/model/crds";
import type { StackConfig } from "../components/model/config";
import { CNPG_POOLER_ROLE } from "../components/model/bootstrapSql";
import { desiredRoles } from "../components/model/roles";
import { SERVER_CA_FILE } from "../components/model/jdbc";
import { loadStackConfig } from "../components/program";
import { type SynthResult, readStackFile, runSynth } from "../tools/synth";
import { SUPERUSER_PLATFORM, byType, variantConfig, vaultAuthConfig } from "../tests/harness";
import { databaseSql, passwordSql, poolerIntegrationSql, roleSql } from "./cnpgEmulation";
import { type BootstrapScripts } from "../components/model/bootstrapSql";
import { CREDENTIAL_SLOTS, loginCredentials } from "../components/model/rotation";
import { type PgBouncerServer, type PostgresServer, type TestCertificates, makeTestCertificates, startPgBouncer, startPostgres } from "./servers";

/** The pooler's address as the apps cluster would see it; PostgreSQL sits on another loopback address. */
export const POOLER_HOST = "127.0.0.2";
export const POSTGRES_HOST = "127.0.0.3";
export const POSTGRES_PORT = 5432;
/** The names CNPG's server certificate of the shared cluster carries (its Services). */
export const SERVER_CERTIFICATE_NAMES = ["shared-postgres-rw", "shared-postgres-rw.cnpg-system", "shared-postgres-rw.cnpg-system.svc", "shared-postgres-r", "shared-postgres-ro"];

/** operator: the committed prod stack (CNPG's auth, on the platform as written); vault: our own auth role and lookup. */
export type AuthModeUnderTest = "operator" | "vault";

export interface TenantEnvironment {
    authMode: AuthModeUnderTest;
    config: StackConfig;
    synth: SynthResult;
    postgres: PostgresServer;
    pgbouncer: PgBouncerServer;
    poolerSpec: PoolerSpec;
    /** The bootstrap SQL exactly as the Job's ConfigMap holds it (bootstrap.sql; login-role.sql in operator auth). */
    bootstrapSql: BootstrapScripts;
    /** The datasource ConfigMap's data, the CA path pointed at the test CA (the file the ConfigMap delivers). */
    datasource: Record<string, string>;
    /** The shared cluster's CA (what the apps cluster receives), and another CA that signed nothing here. */
    tls: TestCertificates & { otherCaFile: string };
    /** role -> password, ours from the Vault data the program writes, the other tenants' made up here. */
    passwords: Record<string, string>;
    /** The login role the backend uses after a first `up` (login role a). */
    tenantRole: string;
    /** The NOLOGIN owner of the database and the schemas, and the two login roles that take turns. */
    ownerRole: string;
    loginRoles: string[];
    /** The role PgBouncer's auth_query runs as: CNPG's cnpg_pooler_pgbouncer, or our auth role in vault mode. */
    authRole: string;
    otherTenants: Record<string, number>;
    /** Runs SQL as the superuser through psql (what CNPG does, and the Job in vault auth). */
    psqlAsSuperuser(sql: string, database?: string): string;
    /** Runs SQL through psql as the role the bootstrap Job's main container logs in as (login role a in operator auth). */
    psqlAsJob(sql: string): string;
    /** The whole Job: each login role runs login-role.sql itself (operator auth), then bootstrap.sql. */
    runBootstrap(): void;
    /** What CNPG does when a login role's password Secret changes: the role gets the new password. */
    applyPassword(role: string, password: string): void;
    connect(config: Partial<ClientConfig> & { user: string }, via: "pooler" | "direct"): Promise<Client>;
    /**
     * Restarts PgBouncer with some parameters changed; benchmarks only: `withoutTls` (plain on both sides),
     * `processes` sharing the address (one per Pooler pod).
     */
    restartPgBouncer(parameters?: Record<string, string>, withoutTls?: boolean, processes?: number): Promise<void>;
    stop(): Promise<void>;
}

function stackVariant(authMode: AuthModeUnderTest): { configFile: string; liveDir?: string } {
    const exposure = (c: Record<string, any>) => (c["synergyflow-db:pooler"].exposure = { mode: "external", host: POOLER_HOST });
    return authMode === "operator" ? { configFile: variantConfig("prod", {}, exposure) } : { configFile: vaultAuthConfig(exposure), liveDir: SUPERUSER_PLATFORM };
}

function psqlFile(sql: string, args: string[], env: Record<string, string>): string {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "synergyflow-sql-")), "script.sql");
    fs.writeFileSync(file, sql);
    try {
        return execFileSync("psql", ["--no-psqlrc", "-v", "ON_ERROR_STOP=1", ...args, "-f", file], { encoding: "utf8", env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    } finally {
        fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
}

export interface TenantEnvironmentOptions {
    /** The shared PostgreSQL's server binaries (default: Debian's 15; the migration tier runs 16, the platform's major). */
    postgresBin?: string;
}

export async function startTenantEnvironment(authMode: AuthModeUnderTest = "operator", options: TenantEnvironmentOptions = {}): Promise<TenantEnvironment> {
    const { configFile, liveDir } = stackVariant(authMode);
    const config = loadStackConfig(readStackFile(configFile).config);
    // One synth per process (each jest test file has its own module registry). The program's preview notes (the
    // budget's arithmetic) go to the mock runtime's console: not this tier's output.
    const print = console.log;
    console.log = () => undefined;
    let result: Awaited<ReturnType<typeof runSynth>>;
    try {
        result = await runSynth({ stack: "prod", configFile, liveDir, outDir: fs.mkdtempSync(path.join(os.tmpdir(), "synergyflow-synth-")) });
    } finally {
        console.log = print;
    }
    const platform = result.platform;
    if (!platform) throw new Error("the integration tier needs the infra side");
    const input = (type: string) => byType(result, type).map((r) => r.inputs as any);
    const poolerSpec = input("kubernetes:postgresql.cnpg.io/v1:Pooler")[0].spec as PoolerSpec;
    const database = input("kubernetes:postgresql.cnpg.io/v1:Database")[0].spec as DatabaseSpec;
    const configMaps = input("kubernetes:core/v1:ConfigMap");
    const scripts = configMaps.find((c) => c.data["bootstrap.sql"]).data as Record<string, string>;
    const bootstrapSql: BootstrapScripts = { main: scripts["bootstrap.sql"] as string, perLoginRole: scripts["login-role.sql"] };
    const passwords: Record<string, string> = {};
    for (const secret of input("vault:kv/secretV2:SecretV2")) {
        const data = JSON.parse(secret.dataJson.value) as { username: string; password: string };
        passwords[data.username] = data.password;
    }
    const certDir = fs.mkdtempSync(path.join(os.tmpdir(), "synergyflow-tls-"));
    const tls = { ...makeTestCertificates(certDir, "shared-postgres", SERVER_CERTIFICATE_NAMES), otherCaFile: makeTestCertificates(fs.mkdtempSync(path.join(os.tmpdir(), "synergyflow-tls-")), "another-ca", ["elsewhere"]).caFile };
    const datasourceData = configMaps.find((c) => c.data["SPRING_DATASOURCE_URL"]).data as Record<string, string>;
    const datasource = Object.fromEntries(Object.entries(datasourceData).map(([k, v]) => [k, v.replaceAll(SERVER_CA_FILE, tls.caFile).replaceAll(encodeURIComponent(SERVER_CA_FILE), encodeURIComponent(tls.caFile))]));

    // Everything started is stopped again if a later step fails: a half-started fixture must not hold the
    // loopback addresses for the next run.
    const started: (() => Promise<void> | void)[] = [() => fs.rmSync(certDir, { recursive: true, force: true })];
    const stopAll = async () => {
        for (const stop of started.reverse()) await Promise.resolve(stop()).catch(() => undefined);
        started.length = 0;
    };
    try {
        return await setUp();
    } catch (error) {
        await stopAll();
        throw error;
    }

    async function setUp(): Promise<TenantEnvironment> {
        const postgres = await startPostgres({
            host: POSTGRES_HOST,
            port: POSTGRES_PORT,
            maxConnections: platform!.slots.maxConnections,
            superuserReservedConnections: platform!.slots.superuserReservedConnections,
            // CNPG's instances serve TLS with the cluster's server certificate; the pooler verifies it.
            tls,
            ...(options.postgresBin ? { bin: options.postgresBin } : {}),
        });
        started.push(() => postgres.stop());
        const superuserEnv = { PGPASSWORD: postgres.superuserPassword, PGSSLMODE: "disable" };
        const psqlAsSuperuser = (sql: string, db = "postgres") => psqlFile(sql, ["-h", postgres.host, "-p", String(postgres.port), "-U", postgres.superuser, "-d", db], superuserEnv);

        // The platform's other tenants as the live Cluster lists them, each onboarded the same way: a role, its
        // database closed to PUBLIC.
        const otherTenants = Object.fromEntries(platform!.slots.otherRoles.map((r) => [r.name, r.connectionLimit]));
        for (const [role, limit] of Object.entries(otherTenants)) {
            passwords[role] = `pw-${role}-${Math.random().toString(36).slice(2)}`;
            psqlAsSuperuser(`CREATE ROLE ${role} LOGIN CONNECTION LIMIT ${limit} PASSWORD '${passwords[role]}';\nCREATE DATABASE ${role}_db OWNER ${role};\nREVOKE CONNECT ON DATABASE ${role}_db FROM PUBLIC;`);
        }
        psqlAsSuperuser("GRANT pg_read_all_data TO readonly_user;");
        const otherDatabases = Object.keys(otherTenants).map((r) => `${r}_db`);
        if (authMode === "operator") {
            // Another tenant's operator-auth Pooler came first: CNPG created its role then, granting CONNECT on the
            // database it processed first, and its lookup in every database.
            passwords[CNPG_POOLER_ROLE] = `pw-pooler-${Math.random().toString(36).slice(2)}`;
            [...otherDatabases, "postgres"].forEach((db, i) => psqlAsSuperuser(poolerIntegrationSql(i === 0, db, passwords[CNPG_POOLER_ROLE] as string), db));
        }

        // What CNPG does for our roles and Database.
        for (const role of desiredRoles(config)) psqlAsSuperuser(roleSql(role, role.passwordSecret ? (passwords[role.name] as string) : undefined));
        const dbSql = databaseSql(database);
        psqlAsSuperuser(dbSql.create);
        psqlAsSuperuser(dbSql.schemas, database.name);
        // Our Pooler with operator auth: CNPG adds its lookup to our database too (the role exists: no grant).
        if (authMode === "operator") psqlAsSuperuser(poolerIntegrationSql(false, database.name, ""), database.name);

        // The bootstrap SQL as the Job runs it: as the login roles (operator auth) or the superuser (vault auth).
        const logins = loginCredentials(config.tenant);
        const loginRoles = CREDENTIAL_SLOTS.map((slot) => logins[slot].roleName);
        const psqlAs = (role: string) => (sql: string) =>
            psqlFile(sql, ["-h", postgres.host, "-p", String(postgres.port), "-U", role, "-d", config.tenant.databaseName], { PGPASSWORD: passwords[role] as string, PGSSLMODE: "disable" });
        const psqlAsJob = authMode === "operator" ? psqlAs(logins.a.roleName) : (sql: string) => psqlAsSuperuser(sql);
        const runBootstrap = () => {
            // The Job's init containers, one per login role, then its main container.
            if (bootstrapSql.perLoginRole) for (const role of loginRoles) psqlAs(role)(bootstrapSql.perLoginRole);
            psqlAsJob(bootstrapSql.main);
        };
        runBootstrap();

        const authRole = authMode === "operator" ? CNPG_POOLER_ROLE : config.pooler.authRoleName;
        const startBouncer = (spec: PoolerSpec, serverTls = true, processes = 1) => startPgBouncer(spec, { host: POOLER_HOST, port: 5432, postgres, authUser: authRole, authPassword: passwords[authRole] as string, tls, serverTls, processes });
        let pgbouncer = await startBouncer(poolerSpec);
        started.push(() => pgbouncer.stop());

        return {
            authMode,
            config,
            synth: result,
            postgres,
            get pgbouncer() {
                return pgbouncer;
            },
            poolerSpec,
            bootstrapSql,
            datasource,
            tls,
            passwords,
            tenantRole: logins.a.roleName,
            ownerRole: config.tenant.roleName,
            loginRoles,
            authRole,
            otherTenants,
            psqlAsSuperuser,
            psqlAsJob,
            runBootstrap,
            applyPassword(role, password) {
                passwords[role] = password;
                psqlAsSuperuser(passwordSql(role, password));
            },
            async connect(clientConfig, via) {
                const client = new Client({
                    host: via === "pooler" ? POOLER_HOST : postgres.host,
                    port: via === "pooler" ? 5432 : postgres.port,
                    database: config.tenant.databaseName,
                    password: passwords[clientConfig.user],
                    // verify-ca with the delivered CA: the chain is checked, the name (an address here) is not.
                    ssl: via === "pooler" ? { ca: fs.readFileSync(tls.caFile, "utf8"), rejectUnauthorized: true, checkServerIdentity: () => undefined } : false,
                    ...clientConfig,
                });
                await client.connect();
                return client;
            },
            async restartPgBouncer(parameters = {}, withoutTls = false, processes = 1) {
                await pgbouncer.stop();
                // Without TLS the hostssl rules become host rules: the same roles and database, in plain text.
                const hba = withoutTls ? poolerSpec.pgbouncer.pg_hba.map((rule) => rule.replace(/^hostssl /, "host ")) : poolerSpec.pgbouncer.pg_hba;
                pgbouncer = await startBouncer({ ...poolerSpec, pgbouncer: { ...poolerSpec.pgbouncer, pg_hba: hba, parameters: { ...poolerSpec.pgbouncer.parameters, ...parameters } } }, !withoutTls, processes);
            },
            stop: stopAll,
        };
    }
}

/** The message of a promise's rejection; fails when it resolves. */
export async function errorOf(promise: Promise<unknown>): Promise<string> {
    try {
        await promise;
    } catch (error) {
        return (error as Error).message;
    }
    throw new Error("expected a failure");
}

/** Runs body with a connected client, and ends it. */
export async function withClient<T>(client: Promise<Client>, body: (c: Client) => Promise<T>): Promise<T> {
    const c = await client;
    try {
        return await body(c);
    } finally {
        await c.end();
    }
}

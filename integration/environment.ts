// The tenant on real servers: synth the prod stack (with the pooler exposed at a loopback address, so the
// emitted JDBC URL is used as is), start PostgreSQL configured like the shared cluster with the other tenants,
// do what CNPG would do for our roles and Database, run the bootstrap SQL the Job would run, and start
// PgBouncer 1.24.1 from the emitted Pooler.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Client, type ClientConfig } from "pg";
import type { CnpgRoleFields, DatabaseSpec, PoolerSpec } from "../components/crds";
import type { StackConfig } from "../components/config";
import { loadStackConfig } from "../components/program";
import { type SynthResult, readStackFile, runSynth } from "../scripts/synth";
import { byType, variantConfig } from "../tests/harness";
import { databaseSql, roleSql } from "./cnpgEmulation";
import { type PgBouncerServer, type PostgresServer, startPgBouncer, startPostgres } from "./servers";

/** The pooler's address as the apps cluster would see it; PostgreSQL sits on another loopback address. */
export const POOLER_HOST = "127.0.0.2";
export const POSTGRES_HOST = "127.0.0.3";
export const POSTGRES_PORT = 5432;

export interface TenantEnvironment {
    config: StackConfig;
    synth: SynthResult;
    postgres: PostgresServer;
    pgbouncer: PgBouncerServer;
    poolerSpec: PoolerSpec;
    /** The bootstrap SQL exactly as the Job's ConfigMap holds it. */
    bootstrapSql: string;
    /** The datasource ConfigMap's data (JDBC URL, Hikari settings). */
    datasource: Record<string, string>;
    /** role -> password, ours from the Vault data the program writes, the other tenants' made up here. */
    passwords: Record<string, string>;
    tenantRole: string;
    authRole: string;
    otherTenants: Record<string, number>;
    /** Runs SQL as the superuser through psql (the way the Job does). */
    psqlAsSuperuser(sql: string, database?: string): string;
    connect(config: Partial<ClientConfig> & { user: string }, via: "pooler" | "direct"): Promise<Client>;
    restartPgBouncer(parameters: Record<string, string>): Promise<void>;
    stop(): Promise<void>;
}

function stackVariant(stack: string): string {
    return variantConfig(stack, {}, (c) => {
        c["synergyflow-db:pooler"].exposure = { mode: "external", host: POOLER_HOST };
    });
}

export async function startTenantEnvironment(stack = "prod"): Promise<TenantEnvironment> {
    const configFile = stackVariant(stack);
    const config = loadStackConfig(readStackFile(configFile).config);
    // One synth per process (each jest test file has its own module registry).
    const result = await runSynth({ stack, configFile, outDir: fs.mkdtempSync(path.join(os.tmpdir(), "synergyflow-synth-")) });
    const input = (type: string) => byType(result, type).map((r) => r.inputs as any);
    const poolerSpec = input("kubernetes:postgresql.cnpg.io/v1:Pooler")[0].spec as PoolerSpec;
    const database = input("kubernetes:postgresql.cnpg.io/v1:Database")[0].spec as DatabaseSpec;
    const roles = input("pulumi-nodejs:dynamic/synergyflow-db:ClusterRolePatch")[0].roles as CnpgRoleFields[];
    const configMaps = input("kubernetes:core/v1:ConfigMap");
    const bootstrapSql = configMaps.find((c) => c.data["bootstrap.sql"]).data["bootstrap.sql"] as string;
    const datasource = configMaps.find((c) => c.data["SPRING_DATASOURCE_URL"]).data as Record<string, string>;
    const passwords: Record<string, string> = {};
    for (const secret of input("vault:kv/secretV2:SecretV2")) {
        const data = JSON.parse(secret.dataJson.value) as { username: string; password: string };
        passwords[data.username] = data.password;
    }

    const postgres = await startPostgres({
        host: POSTGRES_HOST,
        port: POSTGRES_PORT,
        maxConnections: config.sharedCluster.maxConnections,
        superuserReservedConnections: config.sharedCluster.superuserReservedConnections,
    });
    const psqlAsSuperuser = (sql: string, db = "postgres") => {
        const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "synergyflow-sql-")), "script.sql");
        fs.writeFileSync(file, sql);
        try {
            return execFileSync("psql", ["--no-psqlrc", "-v", "ON_ERROR_STOP=1", "-h", postgres.host, "-p", String(postgres.port), "-U", postgres.superuser, "-d", db, "-f", file], {
                encoding: "utf8",
                env: { ...process.env, PGPASSWORD: postgres.superuserPassword, PGSSLMODE: "disable" },
                stdio: ["ignore", "pipe", "pipe"],
            });
        } finally {
            fs.rmSync(path.dirname(file), { recursive: true, force: true });
        }
    };

    // The platform's other tenants, each onboarded the same way: a role, its database closed to PUBLIC.
    const otherTenants = config.sharedCluster.otherTenantRoleLimits;
    for (const [role, limit] of Object.entries(otherTenants)) {
        passwords[role] = `pw-${role}-${Math.random().toString(36).slice(2)}`;
        psqlAsSuperuser(`CREATE ROLE ${role} LOGIN CONNECTION LIMIT ${limit} PASSWORD '${passwords[role]}';\nCREATE DATABASE ${role}_db OWNER ${role};\nREVOKE CONNECT ON DATABASE ${role}_db FROM PUBLIC;`);
    }
    psqlAsSuperuser("GRANT pg_read_all_data TO readonly_user;");

    // What CNPG does for our roles and Database, then the program's bootstrap SQL.
    for (const role of roles) psqlAsSuperuser(roleSql(role, passwords[role.name] as string));
    const dbSql = databaseSql(database);
    psqlAsSuperuser(dbSql.create);
    psqlAsSuperuser(dbSql.schemas, database.name);
    psqlAsSuperuser(bootstrapSql);

    const authRole = config.pooler.authRoleName;
    const startBouncer = (spec: PoolerSpec) =>
        startPgBouncer(spec, { host: POOLER_HOST, port: 5432, postgres, authUser: authRole, authPassword: passwords[authRole] as string });
    let pgbouncer = await startBouncer(poolerSpec);

    const environment: TenantEnvironment = {
        config,
        synth: result,
        postgres,
        get pgbouncer() {
            return pgbouncer;
        },
        poolerSpec,
        bootstrapSql,
        datasource,
        passwords,
        tenantRole: config.tenant.roleName,
        authRole,
        otherTenants,
        psqlAsSuperuser,
        async connect(clientConfig, via) {
            const client = new Client({
                host: via === "pooler" ? POOLER_HOST : postgres.host,
                port: via === "pooler" ? 5432 : postgres.port,
                database: config.tenant.databaseName,
                password: passwords[clientConfig.user],
                ssl: via === "pooler" ? { rejectUnauthorized: false } : false,
                ...clientConfig,
            });
            await client.connect();
            return client;
        },
        async restartPgBouncer(parameters) {
            await pgbouncer.stop();
            pgbouncer = await startBouncer({ ...poolerSpec, pgbouncer: { ...poolerSpec.pgbouncer, parameters: { ...poolerSpec.pgbouncer.parameters, ...parameters } } });
        },
        async stop() {
            await pgbouncer.stop().catch(() => undefined); // already stopped is fine
            postgres.stop();
        },
    };
    return environment;
}

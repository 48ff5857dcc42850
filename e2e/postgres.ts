// What PostgreSQL itself holds on the real node (e2e/node), read from psql pods the test runs in the infra
// cluster: the catalog as the platform's readonly_user (pg_read_all_data covers pg_authid), a login role's session
// with the password OpenBao holds, and the Pooler's PgBouncer through its exporter (CNPG's, on 9127, which runs
// SHOW POOLS on PgBouncer's admin socket). Each psql pod is removed once read.
import { type ApiServer, kubeRequest } from "./controlPlane";
import { runPsqlPod } from "./node/cnpg";
import type { RunningNode } from "./node/node";

/** A role entry of the Cluster's spec.managed.roles (CNPG's RoleConfiguration), as far as pg_authid shows it. */
export interface ManagedRoleEntry {
    name: string;
    login?: boolean;
    superuser?: boolean;
    inherit?: boolean;
    createdb?: boolean;
    createrole?: boolean;
    replication?: boolean;
    bypassrls?: boolean;
    connectionLimit?: number;
    inRoles?: string[];
    passwordSecret?: { name: string };
}

/** The pg_authid line of `role` as rolesInPostgres prints it, from its declared entry (CNPG's defaults otherwise). */
export function declaredRoleLine(entry: ManagedRoleEntry): string {
    return [
        entry.name,
        `super=${entry.superuser ?? false}`,
        `login=${entry.login ?? false}`,
        `inherit=${entry.inherit ?? true}`,
        `createdb=${entry.createdb ?? false}`,
        `createrole=${entry.createrole ?? false}`,
        `replication=${entry.replication ?? false}`,
        `bypassrls=${entry.bypassrls ?? false}`,
        `connlimit=${entry.connectionLimit ?? -1}`,
        `password=${entry.passwordSecret ? "SCRAM-SHA-256" : "none"}`,
        `in=${[...(entry.inRoles ?? [])].sort().join(",")}`,
    ].join(" ");
}

export interface PostgresOnNode {
    /** psql as `user` with `password` in `database` (the -rw Service, verify-full against the Cluster's CA): its output. */
    psql(user: string, password: string, database: string, sql: string): Promise<string>;
    /** A psql script through `host` (sslmode=verify-ca against `caCertificate`): its output. */
    psqlThrough(host: string, caCertificate: string, user: string, password: string, database: string, sql: string): Promise<string>;
    /** One line per existing role of `names` (declaredRoleLine's form); with `verifiers`, a hash of its password verifier too. */
    rolesInPostgres(names: string[], verifiers?: boolean): Promise<string[]>;
    /** Whether a database of that name exists. */
    databaseExists(name: string): Promise<boolean>;
    /** Each running pod of the Pooler: its name and its exporter's scrape. */
    poolerScrapes(poolerName: string): Promise<{ pod: string; metrics: string }[]>;
}

export function postgresOnNode(server: ApiServer, node: RunningNode, namespace: string, clusterName: string, reader: { user: string; password: string }): PostgresOnNode {
    let pods = 0;
    const caDir = `/secrets/${clusterName}-ca`;
    /** Runs `script` (sh) in a psql pod with SQL in $SQL (no shell quoting of SQL) and the Cluster's CA mounted. */
    const run = async (what: string, script: string, env: Record<string, string>): Promise<string> => {
        const name = `e2e-psql-${++pods}`;
        const { phase, log } = await runPsqlPod(server, node, {
            namespace,
            name,
            script,
            env: Object.entries(env).map(([k, value]) => ({ name: k, value })),
            secrets: [{ name: `${clusterName}-ca`, keys: ["ca.crt"] }],
        });
        await kubeRequest(server, "DELETE", `/api/v1/namespaces/${namespace}/pods/${name}`).catch(() => undefined);
        if (phase !== "Succeeded") throw new Error(`${what} failed (pod ${phase}):\n${log.slice(-1500)}`);
        return log;
    };
    const psql = (user: string, password: string, database: string, sql: string) =>
        run(`psql as ${user} in ${database}`, `psql "host=${clusterName}-rw dbname=${database} sslmode=verify-full sslrootcert=${caDir}/ca.crt" -v ON_ERROR_STOP=1 -AtF ' ' -c "$SQL"`, { PGUSER: user, PGPASSWORD: password, SQL: sql });
    const readCatalog = (sql: string) => psql(reader.user, reader.password, "postgres", sql);
    return {
        psql,
        psqlThrough: (host, caCertificate, user, password, database, sql) =>
            run(`psql as ${user} through ${host}`, `printf '%s' "$CA" > /tmp/ca.crt\npsql "host=${host} port=5432 dbname=${database} sslmode=verify-ca sslrootcert=/tmp/ca.crt" -v ON_ERROR_STOP=1 -AtF ' ' -c "$SQL"`, { PGUSER: user, PGPASSWORD: password, SQL: sql, CA: caCertificate }),
        async rolesInPostgres(names, verifiers = false) {
            const list = names.map((n) => `'${n}'`).join(",");
            const out = await readCatalog(
                `select r.rolname, 'super=' || r.rolsuper, 'login=' || r.rolcanlogin, 'inherit=' || r.rolinherit, 'createdb=' || r.rolcreatedb, 'createrole=' || r.rolcreaterole, 'replication=' || r.rolreplication, 'bypassrls=' || r.rolbypassrls, 'connlimit=' || r.rolconnlimit, 'password=' || coalesce(split_part(r.rolpassword, '$', 1), 'none'), 'in=' || coalesce((select string_agg(g.rolname, ',' order by g.rolname) from pg_auth_members m join pg_roles g on g.oid = m.roleid where m.member = r.oid), '')${verifiers ? ", 'verifier=' || md5(coalesce(r.rolpassword, ''))" : ""} from pg_authid r where r.rolname in (${list}) order by 1`,
            );
            return out.trim().split("\n").filter(Boolean);
        },
        async databaseExists(name) {
            return (await readCatalog(`select count(*) from pg_database where datname = '${name}'`)).trim() === "1";
        },
        async poolerScrapes(poolerName) {
            const podList = (await kubeRequest(server, "GET", `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(`cnpg.io/poolerName=${poolerName}`)}`)).items as any[];
            const running = podList.filter((p) => p.status?.phase === "Running" && p.status?.podIP);
            // The host routes the node's pod range (docs/node.md): the exporter answers on the pod's address.
            return Promise.all(running.map(async (p) => ({ pod: p.metadata.name as string, metrics: await (await fetch(`http://${p.status.podIP}:9127/metrics`, { signal: AbortSignal.timeout(10000) })).text() })));
        },
    };
}

/**
 * The samples of one scrape whose metric starts with `prefix`, as PromQL series selectors with `labels` added (what
 * a PodMonitor's scrape adds: namespace, pod) and their value. The exposition format puts the value after the last
 * space of a sample line (no timestamps in the exporter's output).
 */
export function scrapeSamples(metrics: string, prefix: string, labels: Record<string, string>): { series: string; value: number }[] {
    const added = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(", ");
    return metrics
        .split("\n")
        .filter((line) => line.startsWith(prefix))
        .map((line) => {
            const cut = line.lastIndexOf(" ");
            const selector = line.slice(0, cut);
            const brace = selector.indexOf("{");
            const series = brace < 0 ? `${selector}{${added}}` : `${selector.slice(0, brace + 1)}${added}, ${selector.slice(brace + 1)}`;
            return { series, value: Number(line.slice(cut + 1)) };
        });
}

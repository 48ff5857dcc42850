import { pgbouncerFiles } from "../integration/pgbouncerConfig";

const runtime = { listenHost: "127.0.0.2", listenPort: 6543, postgresHost: "127.0.0.1", postgresPort: 5433, authUser: "synergyflow_pooler_auth", authPassword: 'p"w', dir: "/run/pgb", tlsCertFile: "/run/pgb/tls.crt", tlsKeyFile: "/run/pgb/tls.key" };
const spec = {
    pgbouncer: {
        poolMode: "transaction",
        parameters: { max_prepared_statements: "200", ignore_startup_parameters: "search_path", log_stats: "1" },
        pg_hba: ["hostssl synergyflow synergyflow_app 0.0.0.0/0 scram-sha-256", "host all all 0.0.0.0/0 reject"],
        authQuery: "SELECT usename, passwd FROM x.user_search($1)",
    },
};

describe("Pooler spec -> PgBouncer configuration (as CNPG writes it)", () => {
    const files = pgbouncerFiles(spec, runtime);
    test("databases, pool mode, auth user/query; auth_dbname only as CNPG >= 1.28 writes it", () => {
        expect(files.ini).toContain("[databases]\n* = host=127.0.0.1 port=5433\n");
        expect(files.ini).toContain("pool_mode = transaction\nauth_user = synergyflow_pooler_auth\nauth_query = SELECT usename, passwd FROM x.user_search($1)\n");
        expect(files.ini).not.toContain("auth_dbname");
        expect(pgbouncerFiles(spec, { ...runtime, authDbname: "postgres" }).ini).toContain("auth_query = SELECT usename, passwd FROM x.user_search($1)\nauth_dbname = postgres\n");
    });
    test("operator auth: CNPG's own auth user and its default query on public.user_search", () => {
        const operator = pgbouncerFiles({ pgbouncer: { ...spec.pgbouncer, authQuery: undefined } }, { ...runtime, authUser: "cnpg_pooler_pgbouncer" });
        expect(operator.ini).toContain("auth_user = cnpg_pooler_pgbouncer\nauth_query = SELECT usename, passwd FROM public.user_search($1)\n");
    });
    test("CNPG's defaults, overridable by the spec, and its forced settings", () => {
        expect(files.ini).toContain("auth_type = hba\n");
        expect(files.ini).toContain("log_stats = 1\n");
        expect(files.ini).toContain("client_tls_sslmode = prefer\n");
        expect(files.ini).toContain("ignore_startup_parameters = extra_float_digits,options,search_path\n");
        expect(files.ini).toContain("max_prepared_statements = 200\n");
        expect(files.ini).toContain("admin_users = pgbouncer\n");
        expect(files.ini).toContain("auth_hba_file = /run/pgb/pg_hba.conf\n");
        expect(files.ini).toContain("listen_addr = 127.0.0.2\nlisten_port = 6543\n");
    });
    test("HBA: CNPG's peer line, the spec's rules, then CNPG's catch-all", () => {
        expect(files.hba.split("\n")).toEqual([
            "local pgbouncer pgbouncer peer",
            "hostssl synergyflow synergyflow_app 0.0.0.0/0 scram-sha-256",
            "host all all 0.0.0.0/0 reject",
            "host all all 0.0.0.0/0 md5",
            "host all all ::/0 md5",
            "",
        ]);
    });
    test("userlist holds the auth user with quotes doubled", () => {
        expect(files.userlist).toBe('"synergyflow_pooler_auth" "p""w"\n');
    });
});

// Real servers on loopback for the integration tier: PostgreSQL from Debian, configured like the shared cluster,
// and PgBouncer 1.24.1 configured from the Pooler the program emits. Everything lives in a temporary folder
// and is stopped (and removed) by stop().
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { type PoolerSpecForConfig, pgbouncerFiles } from "./pgbouncerConfig";

const PG_BIN = process.env["SYNERGYFLOW_PG_BIN"] ?? "/usr/lib/postgresql/15/bin";
const RUN_AS = "postgres";
const asRoot = process.getuid?.() === 0;

/** Runs a server binary as the postgres user when we are root (initdb, postgres and pgbouncer refuse root). */
function serverCommand(file: string, args: string[]): [string, string[]] {
    return asRoot ? ["runuser", ["-u", RUN_AS, "--", file, ...args]] : [file, args];
}

function giveToServerUser(target: string): void {
    if (asRoot) execFileSync("chown", ["-R", `${RUN_AS}:${RUN_AS}`, target]);
}

export async function waitForPort(host: string, port: number, timeoutMs = 20000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const open = await new Promise<boolean>((resolve) => {
            const socket = net.connect({ host, port }, () => {
                socket.end();
                resolve(true);
            });
            socket.on("error", () => resolve(false));
        });
        if (open) return;
        if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 100));
    }
}

export interface PostgresServer {
    host: string;
    port: number;
    superuser: string;
    superuserPassword: string;
    dir: string;
    /** How many PostgreSQL processes run, and their proportional memory (PSS, kB: shared pages split). */
    backends(): { count: number; pssKb: number };
    stop(): void;
}

export interface PostgresOptions {
    host: string;
    port: number;
    maxConnections: number;
    superuserReservedConnections: number;
}

export async function startPostgres(options: PostgresOptions): Promise<PostgresServer> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "synergyflow-pg-"));
    const data = path.join(dir, "data");
    const superuserPassword = `su-${Math.random().toString(36).slice(2)}`;
    fs.writeFileSync(path.join(dir, "pwfile"), superuserPassword);
    giveToServerUser(dir);
    const [initdb, initArgs] = serverCommand(path.join(PG_BIN, "initdb"), ["-D", data, "-U", "postgres", "--auth=scram-sha-256", `--pwfile=${path.join(dir, "pwfile")}`, "--no-sync"]);
    execFileSync(initdb, initArgs, { stdio: "pipe" });
    fs.appendFileSync(
        path.join(data, "postgresql.conf"),
        [
            `listen_addresses = '${options.host}'`,
            `port = ${options.port}`,
            `unix_socket_directories = '${dir}'`,
            `max_connections = ${options.maxConnections}`,
            `superuser_reserved_connections = ${options.superuserReservedConnections}`,
            "password_encryption = 'scram-sha-256'",
            "fsync = off",
            "",
        ].join("\n"),
    );
    fs.writeFileSync(path.join(data, "pg_hba.conf"), "local all all scram-sha-256\nhost all all 127.0.0.0/8 scram-sha-256\n");
    giveToServerUser(dir);
    const [pgCtl, ctlArgs] = serverCommand(path.join(PG_BIN, "pg_ctl"), ["-D", data, "-l", path.join(dir, "postgres.log"), "-w", "start"]);
    execFileSync(pgCtl, ctlArgs, { stdio: "pipe" });
    await waitForPort(options.host, options.port);
    const pidFile = path.join(data, "postmaster.pid");
    return {
        host: options.host,
        port: options.port,
        superuser: "postgres",
        superuserPassword,
        dir,
        backends() {
            const postmaster = Number(fs.readFileSync(pidFile, "utf8").split("\n")[0]);
            const children = execFileSync("ps", ["-o", "pid=", "--ppid", String(postmaster)], { encoding: "utf8" }).trim().split("\n").filter(Boolean).map(Number);
            const pss = (pid: number) => {
                try {
                    return Number(/^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1] ?? 0);
                } catch {
                    return 0; // the process ended meanwhile
                }
            };
            return { count: children.length + 1, pssKb: [postmaster, ...children].reduce((sum, pid) => sum + pss(pid), 0) };
        },
        stop() {
            const [stopCmd, stopArgs] = serverCommand(path.join(PG_BIN, "pg_ctl"), ["-D", data, "-m", "immediate", "stop"]);
            try {
                execFileSync(stopCmd, stopArgs, { stdio: "pipe" });
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        },
    };
}

export interface PgBouncerServer {
    host: string;
    port: number;
    dir: string;
    log(): string;
    stop(): Promise<void>;
}

/** PgBouncer 1.24.1 built by integration/setup/build-pgbouncer.sh. */
export function pgbouncerBinary(): string {
    const bin = process.env["SYNERGYFLOW_PGBOUNCER"] ?? path.join(process.env["SYNERGYFLOW_CACHE"] ?? path.join(os.homedir(), ".cache", "synergyflow-db"), "pgbouncer-1.24.1", "bin", "pgbouncer");
    if (!fs.existsSync(bin)) throw new Error(`PgBouncer 1.24.1 not found at ${bin}: run integration/setup/build-pgbouncer.sh`);
    return bin;
}

export async function startPgBouncer(
    spec: PoolerSpecForConfig,
    options: { host: string; port: number; postgres: PostgresServer; authUser: string; authPassword: string },
): Promise<PgBouncerServer> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "synergyflow-pgbouncer-"));
    const tlsCertFile = path.join(dir, "tls.crt");
    const tlsKeyFile = path.join(dir, "tls.key");
    // CNPG serves client TLS with a certificate of the cluster's CA; a self-signed one stands in here.
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=synergyflow-pooler", "-days", "1", "-keyout", tlsKeyFile, "-out", tlsCertFile], { stdio: "pipe" });
    const files = pgbouncerFiles(spec, {
        listenHost: options.host,
        listenPort: options.port,
        postgresHost: options.postgres.host,
        postgresPort: options.postgres.port,
        authUser: options.authUser,
        authPassword: options.authPassword,
        dir,
        tlsCertFile,
        tlsKeyFile,
    });
    fs.writeFileSync(path.join(dir, "pgbouncer.ini"), files.ini);
    fs.writeFileSync(path.join(dir, "pg_hba.conf"), files.hba);
    fs.writeFileSync(path.join(dir, "userlist.txt"), files.userlist, { mode: 0o600 });
    // The build cache may sit under root's home, which the postgres user cannot enter: run a copy.
    const binary = path.join(dir, "pgbouncer");
    fs.copyFileSync(pgbouncerBinary(), binary);
    fs.chmodSync(binary, 0o755);
    giveToServerUser(dir);
    const [cmd, args] = serverCommand(binary, [path.join(dir, "pgbouncer.ini")]);
    const child: ChildProcess = spawn(cmd, args, { stdio: "ignore" });
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    await waitForPort(options.host, options.port);
    return {
        host: options.host,
        port: options.port,
        dir,
        log: () => fs.readFileSync(path.join(dir, "pgbouncer.log"), "utf8"),
        async stop() {
            const pid = Number(fs.readFileSync(path.join(dir, "pgbouncer.pid"), "utf8"));
            process.kill(pid, "SIGINT");
            await exited;
            fs.rmSync(dir, { recursive: true, force: true });
        },
    };
}

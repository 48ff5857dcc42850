// Real servers on loopback for the integration tier: PostgreSQL from Debian, configured like the shared cluster,
// and PgBouncer 1.24.1 configured from the Pooler the program emits. Everything lives in a temporary folder
// and is stopped (and removed) by stop().
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { type PoolerSpecForConfig, pgbouncerFiles } from "./pgbouncerConfig";

const DEFAULT_PG_BIN = process.env["SYNERGYFLOW_PG_BIN"] ?? "/usr/lib/postgresql/15/bin";
const RUN_AS = "postgres";
const asRoot = process.getuid?.() === 0;

/** Runs a server binary as the postgres user when we are root (initdb, postgres and pgbouncer refuse root). */
function serverCommand(file: string, args: string[]): [string, string[]] {
    return asRoot ? ["runuser", ["-u", RUN_AS, "--", file, ...args]] : [file, args];
}

function giveToServerUser(target: string): void {
    if (asRoot) execFileSync("chown", ["-R", `${RUN_AS}:${RUN_AS}`, target]);
}

/** Whether something accepts connections on host:port. */
function listening(host: string, port: number): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
        const socket = net.connect({ host, port }, () => {
            socket.end();
            resolve(true);
        });
        socket.on("error", () => resolve(false));
    });
}

/**
 * Refuses an address something already listens on: a server left by an earlier, killed run would otherwise
 * answer in place of the new one (or, with so_reuseport, beside it) with its old settings.
 */
export async function assertAddressFree(host: string, port: number): Promise<void> {
    if (await listening(host, port)) throw new Error(`${host}:${port} is already in use (a server left by an earlier run?): stop it (ss -ltnp shows the process) and re-run`);
}

export async function waitForPort(host: string, port: number, timeoutMs = 20000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        if (await listening(host, port)) return;
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
    /** The postmaster and its children (new backends are forked from the postmaster). */
    pids(): number[];
    stop(): void;
}

export interface PostgresOptions {
    host: string;
    port: number;
    maxConnections: number;
    superuserReservedConnections: number;
    /** Serve TLS with this certificate (as CNPG's instances do with the cluster's server certificate). */
    tls?: TestCertificates;
    /** The folder of initdb, pg_ctl and postgres (default: SYNERGYFLOW_PG_BIN, else Debian's 15). */
    bin?: string;
}

/**
 * PostgreSQL 16 (the platform's major), server and client tools, from integration/setup/install-pg16.sh: its bin/
 * folder, or an error saying how to install it.
 */
export function postgres16Bin(): string {
    const prefix = process.env["SYNERGYFLOW_PG16"] ?? path.join(process.env["SYNERGYFLOW_CACHE"] ?? (asRoot ? "/var/cache/synergyflow-db" : path.join(os.homedir(), ".cache", "synergyflow-db")), "postgresql-16");
    const bin = path.join(prefix, "bin");
    if (!fs.existsSync(path.join(bin, "pg_dump"))) throw new Error(`PostgreSQL 16 not found in ${bin}: run integration/setup/install-pg16.sh`);
    return bin;
}

/**
 * PostgreSQL 15, server and client tools: Debian's postgresql-15 (with its contrib extensions), which
 * integration/setup/install.sh installs for the rest of the tier (DEFAULT_PG_BIN, SYNERGYFLOW_PG_BIN).
 */
export function postgres15Bin(): string {
    const bin = DEFAULT_PG_BIN;
    if (!fs.existsSync(path.join(bin, "pg_dump")) || !fs.existsSync(path.join(bin, "postgres"))) throw new Error(`PostgreSQL 15 not found in ${bin}: run integration/setup/install.sh`);
    return bin;
}

export async function startPostgres(options: PostgresOptions): Promise<PostgresServer> {
    await assertAddressFree(options.host, options.port);
    const PG_BIN = options.bin ?? DEFAULT_PG_BIN;
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
            ...(options.tls ? ["ssl = on", "ssl_cert_file = 'server.crt'", "ssl_key_file = 'server.key'"] : []),
            "",
        ].join("\n"),
    );
    fs.writeFileSync(path.join(data, "pg_hba.conf"), "local all all scram-sha-256\nhost all all 127.0.0.0/8 scram-sha-256\n");
    if (options.tls) {
        fs.copyFileSync(options.tls.certFile, path.join(data, "server.crt"));
        fs.copyFileSync(options.tls.keyFile, path.join(data, "server.key"));
        fs.chmodSync(path.join(data, "server.key"), 0o600);
    }
    giveToServerUser(dir);
    const [pgCtl, ctlArgs] = serverCommand(path.join(PG_BIN, "pg_ctl"), ["-D", data, "-l", path.join(dir, "postgres.log"), "-w", "start"]);
    const stop = () => {
        const [stopCmd, stopArgs] = serverCommand(path.join(PG_BIN, "pg_ctl"), ["-D", data, "-m", "immediate", "stop"]);
        try {
            if (fs.existsSync(path.join(data, "postmaster.pid"))) execFileSync(stopCmd, stopArgs, { stdio: "pipe" });
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    };
    try {
        execFileSync(pgCtl, ctlArgs, { stdio: "pipe" });
        await waitForPort(options.host, options.port);
    } catch (error) {
        // A half-started server must not hold the address for the next run.
        stop();
        throw error;
    }
    const pidFile = path.join(data, "postmaster.pid");
    const pids = () => {
        const postmaster = Number(fs.readFileSync(pidFile, "utf8").split("\n")[0]);
        return [postmaster, ...execFileSync("ps", ["-o", "pid=", "--ppid", String(postmaster)], { encoding: "utf8" }).trim().split("\n").filter(Boolean).map(Number)];
    };
    return {
        host: options.host,
        port: options.port,
        superuser: "postgres",
        superuserPassword,
        dir,
        pids,
        backends() {
            const all = pids();
            const pss = (pid: number) => {
                try {
                    return Number(/^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1] ?? 0);
                } catch {
                    return 0; // the process ended meanwhile
                }
            };
            return { count: all.length, pssKb: all.reduce((sum, pid) => sum + pss(pid), 0) };
        },
        stop,
    };
}

export interface PgBouncerServer {
    host: string;
    port: number;
    dir: string;
    log(): string;
    /** CPU seconds the PgBouncer processes have used so far (user + system). */
    cpuSeconds(): number;
    pids(): number[];
    stop(): Promise<void>;
}

/** PgBouncer 1.24.1 built by integration/setup/build-pgbouncer.sh. */
export function pgbouncerBinary(): string {
    const bin = process.env["SYNERGYFLOW_PGBOUNCER"] ?? path.join(process.env["SYNERGYFLOW_CACHE"] ?? path.join(os.homedir(), ".cache", "synergyflow-db"), "pgbouncer-1.24.1", "bin", "pgbouncer");
    if (!fs.existsSync(bin)) throw new Error(`PgBouncer 1.24.1 not found at ${bin}: run integration/setup/build-pgbouncer.sh`);
    return bin;
}

/** A CA and a server certificate it signed, as files. */
export interface TestCertificates {
    caFile: string;
    certFile: string;
    keyFile: string;
}

/**
 * A test CA and a server certificate for the names CNPG puts in a cluster's server certificate (its Services,
 * short and qualified): what the pooler presents. `names[0]` is the subject's CN.
 */
export function makeTestCertificates(dir: string, caName: string, names: string[]): TestCertificates {
    const caKey = path.join(dir, "ca.key");
    const caFile = path.join(dir, "ca.crt");
    const keyFile = path.join(dir, "server.key");
    const csr = path.join(dir, "server.csr");
    const certFile = path.join(dir, "server.crt");
    const ext = path.join(dir, "server.ext");
    const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", `/CN=${caName}`, "-days", "2", "-keyout", caKey, "-out", caFile);
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", `/CN=${names[0]}`, "-keyout", keyFile, "-out", csr);
    // An address is an IP entry (what verify-full compares a host address with), a name a DNS entry.
    fs.writeFileSync(ext, `subjectAltName = ${names.map((n) => `${net.isIP(n) ? "IP" : "DNS"}:${n}`).join(",")}\nextendedKeyUsage = serverAuth\n`);
    openssl("x509", "-req", "-in", csr, "-CA", caFile, "-CAkey", caKey, "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", certFile);
    return { caFile, certFile, keyFile };
}

export interface PgBouncerOptions {
    host: string;
    port: number;
    postgres: PostgresServer;
    authUser: string;
    authPassword: string;
    authDbname?: string;
    tls: TestCertificates;
    serverTls: boolean;
    /** Processes sharing the address (so_reuseport: the kernel spreads connections, as a Service over pods). */
    processes?: number;
}

export async function startPgBouncer(spec: PoolerSpecForConfig, options: PgBouncerOptions): Promise<PgBouncerServer> {
    await assertAddressFree(options.host, options.port);
    const count = options.processes ?? 1;
    if (count === 1) return startPgBouncerProcess(spec, options);
    const shared = { ...spec, pgbouncer: { ...spec.pgbouncer, parameters: { ...spec.pgbouncer.parameters, so_reuseport: "1" } } };
    const processes: PgBouncerServer[] = [];
    try {
        for (let i = 0; i < count; i++) processes.push(await startPgBouncerProcess(shared, options));
    } catch (error) {
        await Promise.allSettled(processes.map((p) => p.stop()));
        throw error;
    }
    return {
        host: options.host,
        port: options.port,
        dir: processes[0]!.dir,
        log: () => processes.map((p) => p.log()).join("\n"),
        cpuSeconds: () => processes.reduce((sum, p) => sum + p.cpuSeconds(), 0),
        pids: () => processes.flatMap((p) => p.pids()),
        stop: async () => void (await Promise.all(processes.map((p) => p.stop()))),
    };
}

async function startPgBouncerProcess(spec: PoolerSpecForConfig, options: PgBouncerOptions): Promise<PgBouncerServer> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "synergyflow-pgbouncer-"));
    const tlsCertFile = path.join(dir, "tls.crt");
    const tlsKeyFile = path.join(dir, "tls.key");
    // CNPG serves client TLS with the cluster's server certificate, signed by the cluster's CA.
    fs.copyFileSync(options.tls.certFile, tlsCertFile);
    fs.copyFileSync(options.tls.keyFile, tlsKeyFile);
    // PgBouncer runs as the server user, which cannot read the test's temporary folders: its own copy.
    const serverCaFile = path.join(dir, "server-ca.crt");
    fs.copyFileSync(options.tls.caFile, serverCaFile);
    const files = pgbouncerFiles(spec, {
        listenHost: options.host,
        listenPort: options.port,
        postgresHost: options.postgres.host,
        postgresPort: options.postgres.port,
        authUser: options.authUser,
        authPassword: options.authPassword,
        authDbname: options.authDbname,
        dir,
        tlsCertFile,
        tlsKeyFile,
        // As CNPG configures its pooler: TLS to PostgreSQL, verifying the cluster's CA.
        ...(options.serverTls ? { serverTlsCaFile: serverCaFile } : {}),
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
    const logFile = path.join(dir, "pgbouncer.log");
    try {
        await waitForPort(options.host, options.port);
        // Another process may hold the address already (so_reuseport): wait for this one's own listener.
        for (const deadline = Date.now() + 20000; !(fs.existsSync(logFile) && fs.readFileSync(logFile, "utf8").includes("listening on")); ) {
            if (Date.now() > deadline || child.exitCode !== null) throw new Error(`PgBouncer in ${dir} did not start listening`);
            await new Promise((r) => setTimeout(r, 100));
        }
    } catch (error) {
        const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8") : "";
        child.kill("SIGKILL");
        await exited;
        fs.rmSync(dir, { recursive: true, force: true });
        throw new Error(`${(error as Error).message}; PgBouncer's log:\n${log}`);
    }
    return {
        host: options.host,
        port: options.port,
        dir,
        log: () => fs.readFileSync(path.join(dir, "pgbouncer.log"), "utf8"),
        pids: () => [Number(fs.readFileSync(path.join(dir, "pgbouncer.pid"), "utf8"))],
        cpuSeconds() {
            const pid = Number(fs.readFileSync(path.join(dir, "pgbouncer.pid"), "utf8"));
            // /proc/<pid>/stat: utime and stime are fields 14 and 15, in clock ticks (100 per second on Linux).
            const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
            return (Number(fields[11]) + Number(fields[12])) / 100;
        },
        async stop() {
            const pid = Number(fs.readFileSync(path.join(dir, "pgbouncer.pid"), "utf8"));
            process.kill(pid, "SIGINT");
            await exited;
            fs.rmSync(dir, { recursive: true, force: true });
        },
    };
}

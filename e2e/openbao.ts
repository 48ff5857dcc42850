// OpenBao (Vault API compatible) dev server for the e2e: KV v2 at `secret/`, a policy limited to the stack's key
// prefix and a token of that policy for the ClusterSecretStores (not the root token).
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { boundToParent, track } from "./controlPlane";

export interface OpenBao {
    address: string;
    rootToken: string;
    /** Calls the HTTP API with the root token. */
    request(method: string, apiPath: string, body?: unknown): Promise<any>;
    /** A token whose policy reads only `<mount>/data/<prefix>/*`. */
    limitedToken(mount: string, prefix: string): Promise<string>;
    /** Writes a KV v2 secret; returns its new version. */
    writeKv(mount: string, key: string, data: Record<string, string>): Promise<number>;
    readKv(mount: string, key: string): Promise<{ data: Record<string, string>; version: number } | undefined>;
    stop(): Promise<void>;
}

export async function startOpenBao(bao: string, workDir: string, port: number): Promise<OpenBao> {
    const rootToken = `e2e-root-${Math.random().toString(36).slice(2)}`;
    const address = `http://127.0.0.1:${port}`;
    const log = fs.openSync(path.join(workDir, "openbao.log"), "a");
    // Bound to this process (parent-death signal): a killed run must not leave it on the next run's port.
    const child: ChildProcess = track(spawn(...boundToParent(bao, ["server", "-dev", `-dev-root-token-id=${rootToken}`, `-dev-listen-address=127.0.0.1:${port}`]), { stdio: ["ignore", log, log] }));
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    const stop = async () => {
        if (child.exitCode === null && child.signalCode === null) {
            child.kill("SIGTERM");
            setTimeout(() => child.kill("SIGKILL"), 10000).unref();
        }
        await exited;
    };
    const request = async (method: string, apiPath: string, body?: unknown, token = rootToken) => {
        const response = await fetch(`${address}/v1/${apiPath}`, { method, headers: { "X-Vault-Token": token }, body: body === undefined ? undefined : JSON.stringify(body) });
        const text = await response.text();
        if (response.status === 404 && method === "GET") return undefined;
        if (!response.ok) throw new Error(`OpenBao ${method} ${apiPath}: HTTP ${response.status}: ${text}`);
        return text ? JSON.parse(text) : undefined;
    };
    const deadline = Date.now() + 30000;
    for (;;) {
        try {
            const health = await fetch(`${address}/v1/sys/health`);
            if (health.ok) break;
        } catch {
            // not listening yet
        }
        if (Date.now() > deadline || child.exitCode !== null) {
            await stop();
            throw new Error(`OpenBao did not start; see ${path.join(workDir, "openbao.log")}`);
        }
        await new Promise((r) => setTimeout(r, 200));
    }
    return {
        address,
        rootToken,
        request,
        async limitedToken(mount, prefix) {
            // ESO validates a store by looking its own token up (auth/token/lookup-self), which a token without the
            // default policy may not do unless its policy says so.
            const policy = `path "${mount}/data/${prefix}/*" { capabilities = ["read"] }\npath "${mount}/metadata/${prefix}/*" { capabilities = ["read"] }\npath "auth/token/lookup-self" { capabilities = ["read"] }\n`;
            await request("PUT", "sys/policies/acl/synergyflow-e2e-read", { policy });
            const created = await request("POST", "auth/token/create", { policies: ["synergyflow-e2e-read"], no_default_policy: true, ttl: "2h" });
            return created.auth.client_token as string;
        },
        async writeKv(mount, key, data) {
            const written = await request("POST", `${mount}/data/${key}`, { data });
            return written.data.version as number;
        },
        async readKv(mount, key) {
            const read = await request("GET", `${mount}/data/${key}`);
            return read ? { data: read.data.data, version: read.data.metadata.version } : undefined;
        },
        stop,
    };
}

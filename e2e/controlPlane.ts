// Two local Kubernetes control planes (etcd + kube-apiserver each) on loopback, for the real-engine test, with
// kube-controller-manager's garbage collector, namespace, deployment, replicaset and job controllers. No kubelet:
// pods run only where the test adds kube-scheduler and kwok's fake nodes (controllers.ts).
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as https from "node:https";
import * as path from "node:path";

export interface ApiServer {
    name: string;
    url: string;
    token: string;
    stop(): Promise<void>;
}

/** Every server and controller process the e2e started: killed when the test process exits, however it exits. */
const children = new Set<ChildProcess>();
export function track(child: ChildProcess): ChildProcess {
    children.add(child);
    child.once("exit", () => children.delete(child));
    return child;
}
process.on("exit", () => {
    for (const child of children) child.kill("SIGKILL");
});

async function stopAll(processes: ChildProcess[]): Promise<void> {
    await Promise.all(
        [...processes].reverse().map(
            (p) =>
                new Promise<void>((resolve) => {
                    if (p.exitCode !== null || p.signalCode !== null) return resolve();
                    p.once("exit", () => resolve());
                    p.kill("SIGTERM");
                    setTimeout(() => p.kill("SIGKILL"), 10000).unref();
                }),
        ),
    );
}

export interface Toolchain {
    bin: string;
    pulumi: string;
    kubeApiserver: string;
    kubeControllerManager: string;
    etcd: string;
    kubernetesProvider: string;
}

export function findToolchain(): { toolchain?: Toolchain; missing: string[] } {
    const bin = path.join(process.env["SYNERGYFLOW_TOOLCHAIN"] ?? path.join(process.env["HOME"] ?? "/root", ".cache", "synergyflow-db-toolchain"), "bin");
    const etcd = ["/usr/bin/etcd", path.join(bin, "etcd")].find((p) => fs.existsSync(p)) ?? "";
    const candidates = {
        pulumi: path.join(bin, "pulumi"),
        kubeApiserver: path.join(bin, "kube-apiserver"),
        kubeControllerManager: path.join(bin, "kube-controller-manager"),
        kubernetesProvider: path.join(bin, "pulumi-resource-kubernetes"),
        etcd,
    };
    const missing = Object.entries(candidates)
        .filter(([, file]) => !file || !fs.existsSync(file))
        .map(([name]) => name);
    return missing.length > 0 ? { missing } : { toolchain: { bin, ...candidates }, missing };
}

function get(url: string, token: string): Promise<number> {
    return new Promise((resolve) => {
        const request = https.get(url, { headers: { Authorization: `Bearer ${token}` }, rejectUnauthorized: false }, (response) => {
            response.resume();
            resolve(response.statusCode ?? 0);
        });
        request.on("error", () => resolve(0));
    });
}

export async function startApiServer(name: string, toolchain: Toolchain, workDir: string, etcdPort: number, apiPort: number): Promise<ApiServer> {
    const dir = path.join(workDir, name);
    fs.mkdirSync(path.join(dir, "certs"), { recursive: true });
    const token = `e2e-${name}-${Math.random().toString(36).slice(2)}`;
    fs.writeFileSync(path.join(dir, "tokens.csv"), `${token},e2e-admin,e2e-admin,"system:masters"\n`);
    execFileSync("openssl", ["genrsa", "-out", path.join(dir, "sa.key"), "2048"], { stdio: "pipe" });
    execFileSync("openssl", ["rsa", "-in", path.join(dir, "sa.key"), "-pubout", "-out", path.join(dir, "sa.pub")], { stdio: "pipe" });
    const log = fs.openSync(path.join(dir, "logs.txt"), "a");
    const processes: ChildProcess[] = [];
    processes.push(
        track(spawn(toolchain.etcd, [
            "--data-dir", path.join(dir, "etcd"),
            "--listen-client-urls", `http://127.0.0.1:${etcdPort}`,
            "--advertise-client-urls", `http://127.0.0.1:${etcdPort}`,
            "--listen-peer-urls", `http://127.0.0.1:${etcdPort + 1}`,
            "--initial-advertise-peer-urls", `http://127.0.0.1:${etcdPort + 1}`,
            "--initial-cluster", `default=http://127.0.0.1:${etcdPort + 1}`,
            "--name", "default",
        ], { stdio: ["ignore", log, log] })),
    );
    processes.push(
        track(spawn(toolchain.kubeApiserver, [
            `--etcd-servers=http://127.0.0.1:${etcdPort}`,
            "--bind-address=127.0.0.1",
            `--secure-port=${apiPort}`,
            `--cert-dir=${path.join(dir, "certs")}`,
            `--token-auth-file=${path.join(dir, "tokens.csv")}`,
            "--authorization-mode=AlwaysAllow",
            "--service-account-issuer=https://kubernetes.default.svc",
            `--service-account-key-file=${path.join(dir, "sa.pub")}`,
            `--service-account-signing-key-file=${path.join(dir, "sa.key")}`,
            "--service-cluster-ip-range=10.96.0.0/16",
            "--disable-admission-plugins=ServiceAccount",
            "--enable-priority-and-fairness=false",
            // Debian's etcd 3.4 cannot serve watch-progress requests, which streaming lists need: clients fall
            // back to list + watch.
            "--feature-gates=WatchList=false",
        ], { stdio: ["ignore", log, log] })),
    );
    const url = `https://127.0.0.1:${apiPort}`;
    const deadline = Date.now() + 120000;
    while ((await get(`${url}/readyz`, token)) !== 200) {
        if (Date.now() > deadline || processes.some((p) => p.exitCode !== null)) {
            await stopAll(processes);
            throw new Error(`${name} API server did not become ready; see ${path.join(dir, "logs.txt")}`);
        }
        await new Promise((r) => setTimeout(r, 500));
    }
    // The garbage collector (Pulumi deletes with foreground propagation, which waits for it to clear the
    // foregroundDeletion finalizer), the namespace controller, and what turns Deployments and Jobs into pods.
    const kubeconfig = path.join(dir, "kubeconfig");
    writeKubeconfig(kubeconfig, [{ name, url, token, stop: async () => undefined }]);
    processes.push(
        track(spawn(toolchain.kubeControllerManager, [
            `--kubeconfig=${kubeconfig}`,
            "--controllers=garbagecollector,namespace,deployment,replicaset,job",
            "--leader-elect=false",
            "--use-service-account-credentials=false",
            "--secure-port=0",
        ], { stdio: ["ignore", log, log] })),
    );
    return { name, url, token, stop: () => stopAll(processes) };
}

/** A kubeconfig with one context per API server, named like the platform's (infra, apps). */
export function writeKubeconfig(file: string, servers: ApiServer[]): void {
    const doc = {
        apiVersion: "v1",
        kind: "Config",
        clusters: servers.map((s) => ({ name: s.name, cluster: { server: s.url, "insecure-skip-tls-verify": true } })),
        users: servers.map((s) => ({ name: s.name, user: { token: s.token } })),
        contexts: servers.map((s) => ({ name: s.name, context: { cluster: s.name, user: s.name } })),
        "current-context": servers[0]?.name,
    };
    fs.writeFileSync(file, JSON.stringify(doc, null, 2), { mode: 0o600 });
}

/** A raw API request (JSON), so nothing is lost to a client library's typed models (x-kubernetes-* fields). */
export function kubeRequest(server: ApiServer, method: string, urlPath: string, body?: unknown, contentType = "application/json"): Promise<any> {
    return new Promise((resolve, reject) => {
        const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
        const request = https.request(
            `${server.url}${urlPath}`,
            { method, rejectUnauthorized: false, headers: { Authorization: `Bearer ${server.token}`, "Content-Type": contentType, Accept: "application/json" } },
            (response) => {
                let text = "";
                response.on("data", (d) => (text += d));
                response.on("end", () => {
                    const status = response.statusCode ?? 0;
                    if (status >= 400) reject(new Error(`${method} ${urlPath}: HTTP ${status}: ${text}`));
                    else resolve(text ? JSON.parse(text) : undefined);
                });
            },
        );
        request.on("error", reject);
        if (payload) request.write(payload);
        request.end();
    });
}

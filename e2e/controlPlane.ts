// Two local Kubernetes control planes (etcd + kube-apiserver each) on loopback, for the real-engine test, with
// kube-controller-manager's garbage collector, namespace, deployment, replicaset and job controllers, and what real
// pods need (ServiceAccounts and their tokens, the kube-root-ca.crt ConfigMap, EndpointSlices, PV binding). Pods
// run where the test adds kube-scheduler with kwok's fake nodes (controllers.ts) or a real node (node/node.ts).
// Addresses a node's pods could be sent to (Service ClusterIPs, the kubernetes Service's endpoint) are in
// 198.18.0.0/15 only.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as https from "node:https";
import * as path from "node:path";
import { NODE_SITES, type NodeSite } from "./node/sites";

export interface ApiServer {
    name: string;
    url: string;
    token: string;
    /** The serving certificate followed by its self-signed CA (kube-apiserver writes both into --cert-dir): a
     * bundle that verifies the server at 127.0.0.1, the advertise address and the kubernetes Service's address. */
    certFile?: string;
    /** The CA of --client-ca-file and its key: a node's components log in with certificates it signs. */
    clientCa?: { certFile: string; keyFile: string };
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

/**
 * [command, args] that the kernel kills when this process dies, however it dies (setpriv's parent-death signal,
 * kept across its exec): a SIGKILLed test leaves no etcd or API server holding its ports for the next run.
 */
export function boundToParent(command: string, args: string[]): [string, string[]] {
    return fs.existsSync("/usr/bin/setpriv") ? ["/usr/bin/setpriv", ["--pdeathsig", "KILL", "--", command, ...args]] : [command, args];
}

/** Stops the processes last-started first, each before the next: kube-apiserver's graceful shutdown still writes
 * to etcd (its lease and the kubernetes endpoint), and with etcd stopped beside it, it hung until the SIGKILL. */
async function stopAll(processes: ChildProcess[]): Promise<void> {
    for (const p of [...processes].reverse()) {
        await new Promise<void>((resolve) => {
            if (p.exitCode !== null || p.signalCode !== null) return resolve();
            p.once("exit", () => resolve());
            p.kill("SIGTERM");
            setTimeout(() => p.kill("SIGKILL"), 10000).unref();
        });
    }
}

export interface Toolchain {
    bin: string;
    pulumi: string;
    kubeApiserver: string;
    kubeControllerManager: string;
    etcd: string;
    kubernetesProvider: string;
}

/** What a cluster's control plane runs (the node smokes need no more). */
export type ControlPlaneBinaries = Pick<Toolchain, "bin" | "etcd" | "kubeApiserver" | "kubeControllerManager">;

/** The real-engine toolchain, or with `controlPlaneOnly` just the control plane's binaries. */
export function findToolchain(): { toolchain?: Toolchain; missing: string[] };
export function findToolchain(controlPlaneOnly: true): { toolchain?: ControlPlaneBinaries; missing: string[] };
export function findToolchain(controlPlaneOnly = false): { toolchain?: Toolchain; missing: string[] } {
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
        .filter(([name]) => !controlPlaneOnly || ["etcd", "kubeApiserver", "kubeControllerManager"].includes(name))
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

/**
 * Starts etcd and kube-apiserver for one cluster. Its Service ClusterIPs come from the site's serviceCidr (in the
 * benchmarking range, as every address a node's pods may reach), and the kubernetes Service's endpoint is the
 * host's end of the site's node link, where node/node.ts forwards to the server's loopback port (a server with no
 * node advertises it too: nothing then routes there).
 */
export async function startApiServer(name: string, toolchain: ControlPlaneBinaries, workDir: string, etcdPort: number, apiPort: number, site: NodeSite = NODE_SITES.infra): Promise<ApiServer> {
    const dir = path.join(workDir, name);
    fs.mkdirSync(path.join(dir, "certs"), { recursive: true });
    const token = `e2e-${name}-${Math.random().toString(36).slice(2)}`;
    fs.writeFileSync(path.join(dir, "tokens.csv"), `${token},e2e-admin,e2e-admin,"system:masters"\n`);
    execFileSync("openssl", ["genrsa", "-out", path.join(dir, "sa.key"), "2048"], { stdio: "pipe" });
    execFileSync("openssl", ["rsa", "-in", path.join(dir, "sa.key"), "-pubout", "-out", path.join(dir, "sa.pub")], { stdio: "pipe" });
    // Client certificates: the node's kubelet and kube-proxy log in as themselves, and the API server reaches the
    // kubelet's log and exec endpoints with a certificate the node's kubelet trusts through the same CA.
    const pki = path.join(dir, "client-pki");
    fs.mkdirSync(pki, { recursive: true });
    const clientCa = { certFile: path.join(pki, "ca.crt"), keyFile: path.join(pki, "ca.key") };
    const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", `/CN=e2e-${name}-client-ca`, "-days", "2", "-keyout", clientCa.keyFile, "-out", clientCa.certFile);
    const kubeletClient = { cert: path.join(pki, "kubelet-client.crt"), key: path.join(pki, "kubelet-client.key") };
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/O=system:masters/CN=kube-apiserver-kubelet-client", "-keyout", kubeletClient.key, "-out", path.join(pki, "kubelet-client.csr"));
    fs.writeFileSync(path.join(pki, "client.ext"), "extendedKeyUsage = clientAuth\nkeyUsage = critical, digitalSignature\n");
    openssl("x509", "-req", "-in", path.join(pki, "kubelet-client.csr"), "-CA", clientCa.certFile, "-CAkey", clientCa.keyFile, "-CAcreateserial", "-days", "2", "-extfile", path.join(pki, "client.ext"), "-out", kubeletClient.cert);
    const log = fs.openSync(path.join(dir, "logs.txt"), "a");
    const processes: ChildProcess[] = [];
    processes.push(
        track(spawn(...boundToParent(toolchain.etcd, [
            "--data-dir", path.join(dir, "etcd"),
            "--listen-client-urls", `http://127.0.0.1:${etcdPort}`,
            "--advertise-client-urls", `http://127.0.0.1:${etcdPort}`,
            "--listen-peer-urls", `http://127.0.0.1:${etcdPort + 1}`,
            "--initial-advertise-peer-urls", `http://127.0.0.1:${etcdPort + 1}`,
            "--initial-cluster", `default=http://127.0.0.1:${etcdPort + 1}`,
            "--name", "default",
        ]), { stdio: ["ignore", log, log] })),
    );
    processes.push(
        track(spawn(...boundToParent(toolchain.kubeApiserver, [
            `--etcd-servers=http://127.0.0.1:${etcdPort}`,
            "--bind-address=127.0.0.1",
            `--secure-port=${apiPort}`,
            `--cert-dir=${path.join(dir, "certs")}`,
            `--token-auth-file=${path.join(dir, "tokens.csv")}`,
            "--authorization-mode=AlwaysAllow",
            "--service-account-issuer=https://kubernetes.default.svc",
            `--service-account-key-file=${path.join(dir, "sa.pub")}`,
            `--service-account-signing-key-file=${path.join(dir, "sa.key")}`,
            `--service-cluster-ip-range=${site.serviceCidr}`,
            `--advertise-address=${site.hostIp}`,
            `--client-ca-file=${clientCa.certFile}`,
            `--kubelet-client-certificate=${kubeletClient.cert}`,
            `--kubelet-client-key=${kubeletClient.key}`,
            // A node's Hostname address does not resolve on the host; its InternalIP is routed (node/node.ts).
            "--kubelet-preferred-address-types=InternalIP",
            "--enable-priority-and-fairness=false",
            // Debian's etcd 3.4 cannot serve watch-progress requests, which streaming lists need: clients fall
            // back to list + watch.
            "--feature-gates=WatchList=false",
        ]), { stdio: ["ignore", log, log] })),
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
    // For real pods (ServiceAccount admission is on): each namespace's default ServiceAccount, the
    // kube-root-ca.crt ConfigMap their token volume carries (the server's own CA bundle), EndpointSlices that
    // CoreDNS and kube-proxy read, and PVC-to-PV binding (CNPG's instance volumes).
    const kubeconfig = path.join(dir, "kubeconfig");
    const certFile = path.join(dir, "certs", "apiserver.crt");
    writeKubeconfig(kubeconfig, [{ name, url, token, stop: async () => undefined }]);
    processes.push(
        track(spawn(...boundToParent(toolchain.kubeControllerManager, [
            `--kubeconfig=${kubeconfig}`,
            "--controllers=garbagecollector,namespace,deployment,replicaset,job,serviceaccount,serviceaccount-token,root-ca-cert-publisher,endpointslice,persistentvolume-binder",
            `--root-ca-file=${certFile}`,
            `--service-account-private-key-file=${path.join(dir, "sa.key")}`,
            "--leader-elect=false",
            "--use-service-account-credentials=false",
            "--secure-port=0",
        ]), { stdio: ["ignore", log, log] })),
    );
    return { name, url, token, certFile, clientCa, stop: () => stopAll(processes) };
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
export function kubeRequest(server: ApiServer, method: string, urlPath: string, body?: unknown, contentType = "application/json", headers: Record<string, string> = {}): Promise<any> {
    return new Promise((resolve, reject) => {
        const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
        const request = https.request(
            `${server.url}${urlPath}`,
            { method, rejectUnauthorized: false, headers: { Authorization: `Bearer ${server.token}`, "Content-Type": contentType, Accept: "application/json", ...headers } },
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

/** A ValidatingAdmissionPolicy (and its binding) the e2e sets to make a controller's or the engine's writes fail. */
export interface AdmissionRefusal {
    rules: { apiGroups: string[]; resources: string[] }[];
    /** CEL: the request is admitted when it holds. */
    expression: string;
    /** The refusal's message (the probe recognises it). */
    message: string;
    /** A dry-run request the policy must refuse (it runs through admission, and changes nothing). */
    probe: () => Promise<unknown>;
}

/**
 * Puts the refusal in place, returning once the API server applies it (its policy cache takes a moment: the probe
 * is refused), and `lift` returning once it is gone again (the probe admitted).
 */
export async function refuseWrites(server: ApiServer, name: string, refusal: AdmissionRefusal): Promise<{ lift(): Promise<void> }> {
    const refused = () => refusal.probe().then(() => false, (error: Error) => error.message.includes(refusal.message));
    const waitUntil = async (state: boolean, what: string) => {
        const deadline = Date.now() + 30000;
        while ((await refused()) !== state) {
            if (Date.now() > deadline) throw new Error(`admission policy ${name}: not ${what} after 30 s`);
            await new Promise((r) => setTimeout(r, 100));
        }
    };
    await kubeRequest(server, "POST", "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies", {
        metadata: { name },
        spec: {
            failurePolicy: "Fail",
            matchConstraints: { resourceRules: refusal.rules.map((r) => ({ ...r, apiVersions: ["*"], operations: ["UPDATE"] })) },
            validations: [{ expression: refusal.expression, message: refusal.message }],
        },
    });
    await kubeRequest(server, "POST", "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings", { metadata: { name }, spec: { policyName: name, validationActions: ["Deny"] } });
    await waitUntil(true, "in effect");
    return {
        async lift() {
            await kubeRequest(server, "DELETE", `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/${name}`);
            await kubeRequest(server, "DELETE", `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/${name}`);
            await waitUntil(false, "lifted");
        },
    };
}

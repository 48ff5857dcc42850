// The real node, end to end and alone: an API server from e2e/controlPlane.ts (with its controller-manager:
// ServiceAccounts, EndpointSlices), one node (e2e/node/node.ts), then pods from the local images: PostgreSQL
// passing a readiness probe, PgBouncer in front of it found through CoreDNS, a psql client pod that resolves the
// Services (and kubernetes.default into the Service range) and queries through PgBouncer by its name and by a
// ClusterIP (kube-proxy), its log read through the API server (the kubelet's client certificate), and the host
// reaching PgBouncer through a kube-proxy NodePort on the node's address. Then the apps cluster as a second
// machine (its own API server and node, sites.ts): a pod there reaches PostgreSQL through a LoadBalancer address on
// the infra node (externalTrafficPolicy Local, the status played as Cilium's LB IPAM would write it) over the
// nodes' routed link, and PostgreSQL sees the apps node's address, not the pod's (the apps node masquerades).
// Then everything stops and the host must be exactly as before.
//   ./npm24 exec ts-node -- --transpile-only e2e/node/smoke.ts
// Prints each step's time; exits 1 on any failure (with the error), and always prints the host-state diff.
import * as fs from "node:fs";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import { Client } from "pg";
import { type ApiServer, findToolchain, kubeRequest, startApiServer } from "../controlPlane";
import { hostSnapshot } from "./hostState";
import { until } from "../checks";
import { finishSmoke, runSmoke, stepTimer } from "./smokeRun";
import { type RunningNode, cleanupStale, removeKilledRunDirs, startNode } from "./node";
import { NODE_SITES } from "./sites";

const NS = "node-smoke";
const ETCD_PORT = Number(process.env["SMOKE_ETCD_PORT"] ?? 24790);
const API_PORT = Number(process.env["SMOKE_API_PORT"] ?? 24443);
const APPS_ETCD_PORT = ETCD_PORT + 100;
const APPS_API_PORT = API_PORT + 100;
/** In sites.ts's LOAD_BALANCER_CIDR; the e2e's stack uses .10. */
const LB_IP = "198.18.200.20";

const { times, timed } = stepTimer();

function podStatus(pod: any): string {
    const waiting = (pod?.status?.containerStatuses ?? []).map((c: any) => c.state?.waiting?.reason ?? c.state?.terminated?.reason).filter(Boolean);
    return `${pod?.status?.phase ?? "?"}${waiting.length ? ` (${waiting.join(", ")})` : ""}`;
}

async function podReady(server: ApiServer, name: string, timeoutMs: number): Promise<void> {
    let last: any;
    await until(`pod ${name} Ready`, async () => {
        last = await kubeRequest(server, "GET", `/api/v1/namespaces/${NS}/pods/${name}`);
        return last.status?.conditions?.some((c: any) => c.type === "Ready" && c.status === "True") ? true : undefined;
    }, timeoutMs).catch((e) => {
        throw new Error(`${e.message}; status ${podStatus(last)}`);
    });
}

function objects(node: RunningNode): any[] {
    const images = node.images;
    const nodeName = node.name;
    const pgbouncerIni = [
        "[databases]",
        // Resolved by PgBouncer through the pod's resolv.conf, so through CoreDNS.
        `postgres = host=pg.${NS}.svc.cluster.local port=5432 dbname=postgres`,
        "[pgbouncer]",
        "listen_addr = 0.0.0.0",
        "listen_port = 6432",
        "auth_type = trust",
        "auth_file = /config/userlist.txt",
        "unix_socket_dir =",
        "admin_users = postgres",
        "ignore_startup_parameters = extra_float_digits",
        "",
    ].join("\n");
    return [
        {
            apiVersion: "v1",
            kind: "Pod",
            metadata: { name: "pg", namespace: NS, labels: { app: "pg" } },
            spec: {
                nodeName,
                securityContext: { runAsUser: 26, runAsGroup: 26, fsGroup: 26, runAsNonRoot: true },
                containers: [{
                    name: "postgres",
                    image: images["postgresql"],
                    imagePullPolicy: "Never",
                    command: ["sh", "-ec", [
                        "initdb -D /var/lib/postgresql/data/pgdata -U postgres --auth=trust >/dev/null",
                        "echo 'host all all 198.18.0.0/15 trust' >> /var/lib/postgresql/data/pgdata/pg_hba.conf",
                        "exec postgres -D /var/lib/postgresql/data/pgdata -c listen_addresses=* -c unix_socket_directories=/tmp",
                    ].join("\n")],
                    ports: [{ containerPort: 5432, name: "postgres" }],
                    readinessProbe: { exec: { command: ["pg_isready", "-h", "127.0.0.1", "-U", "postgres"] }, periodSeconds: 1 },
                    resources: { limits: { memory: "256Mi" } },
                    volumeMounts: [{ name: "data", mountPath: "/var/lib/postgresql/data" }],
                }],
                volumes: [{ name: "data", emptyDir: {} }],
            },
        },
        { apiVersion: "v1", kind: "Service", metadata: { name: "pg", namespace: NS }, spec: { clusterIP: "None", selector: { app: "pg" }, ports: [{ port: 5432, name: "postgres" }] } },
        { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "pgbouncer", namespace: NS }, data: { "pgbouncer.ini": pgbouncerIni, "userlist.txt": '"postgres" ""\n' } },
        {
            apiVersion: "v1",
            kind: "Pod",
            metadata: { name: "pgbouncer", namespace: NS, labels: { app: "pgbouncer" } },
            spec: {
                nodeName,
                securityContext: { runAsUser: 998, runAsGroup: 996, runAsNonRoot: true },
                containers: [{
                    name: "pgbouncer",
                    image: images["pgbouncer"],
                    imagePullPolicy: "Never",
                    command: ["/usr/bin/pgbouncer", "/config/pgbouncer.ini"],
                    ports: [{ containerPort: 6432, name: "pgbouncer" }],
                    readinessProbe: { tcpSocket: { port: 6432 }, periodSeconds: 1 },
                    volumeMounts: [{ name: "config", mountPath: "/config" }],
                }],
                volumes: [{ name: "config", configMap: { name: "pgbouncer" } }],
            },
        },
        { apiVersion: "v1", kind: "Service", metadata: { name: "pgbouncer", namespace: NS }, spec: { clusterIP: "None", selector: { app: "pgbouncer" }, ports: [{ port: 6432, name: "pgbouncer" }] } },
        // kube-proxy's path, with traffic only to the node's own address (198.18.0.2).
        { apiVersion: "v1", kind: "Service", metadata: { name: "pgbouncer-nodeport", namespace: NS }, spec: { type: "NodePort", selector: { app: "pgbouncer" }, ports: [{ port: 6432, name: "pgbouncer" }] } },
    ];
}

/** A psql pod on `node` running `script` (sh lines) once; returns the finished pod and its log. */
async function runClient(server: ApiServer, node: RunningNode, name: string, script: string[]): Promise<{ pod: any; output: string }> {
    await kubeRequest(server, "POST", `/api/v1/namespaces/${NS}/pods`, {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name, namespace: NS },
        spec: {
            nodeName: node.name,
            restartPolicy: "Never",
            securityContext: { runAsUser: 65534, runAsGroup: 65534, runAsNonRoot: true },
            containers: [{ name: "psql", image: node.images["psql"], imagePullPolicy: "Never", command: ["sh", "-ec", script.join("\n")] }],
        },
    });
    const pod = await timed(`${name} pod completed`, () =>
        until(`${name} pod finished`, async () => {
            const current = await kubeRequest(server, "GET", `/api/v1/namespaces/${NS}/pods/${name}`);
            return ["Succeeded", "Failed"].includes(current.status?.phase) ? current : undefined;
        }, 120000),
    );
    const output = node.podLogs(NS, name);
    console.log(output.trim().split("\n").map((l) => `  ${name}: ${l}`).join("\n"));
    if (pod.status.phase !== "Succeeded") throw new Error(`${name} pod ${podStatus(pod)}`);
    return { pod, output };
}

const WORK_PREFIX = "synergyflow-node-smoke-";

async function main(): Promise<number> {
    const { toolchain, missing } = findToolchain(true);
    if (!toolchain) throw new Error(`toolchain incomplete: ${missing.join(", ")}`);
    // A killed earlier run first: its leftovers would otherwise show up in the "before" snapshot.
    const stale = cleanupStale();
    if (stale.cleaned) console.log(`removed a stale node${stale.problems.length ? `, leaving: ${stale.problems.join("; ")}` : ""}`);
    for (const dir of removeKilledRunDirs(WORK_PREFIX)) console.log(`removed ${dir} (a killed run's)`);
    const before = hostSnapshot();
    const work = fs.mkdtempSync(path.join(os.tmpdir(), WORK_PREFIX));
    fs.writeFileSync(path.join(work, "owner.pid"), `${process.pid}\n`);
    console.log(`work dir ${work}, pid ${process.pid}`);
    let server: ApiServer | undefined;
    let node: RunningNode | undefined;
    let appsServer: ApiServer | undefined;
    let appsNode: RunningNode | undefined;
    let failure: unknown;
    try {
        server = await timed("api server", () => startApiServer("infra", toolchain, work, ETCD_PORT, API_PORT));
        const s = server;
        node = await timed("node start", () => startNode({ server: s, logDir: path.join(work, "node-logs") }));
        console.log(`node phases (ms): ${JSON.stringify(node.timings)}`);
        const n = node;
        await kubeRequest(s, "POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
        // ServiceAccount admission refuses pods until the controller-manager has made the namespace's default one.
        await until("the default ServiceAccount", () => kubeRequest(s, "GET", `/api/v1/namespaces/${NS}/serviceaccounts/default`), 30000);
        for (const o of objects(n)) {
            const base = o.kind === "Namespace" ? "/api/v1/namespaces" : `/api/v1/namespaces/${NS}/${o.kind.toLowerCase()}s`;
            await kubeRequest(s, "POST", base, o);
        }
        await timed("postgresql pod ready", () => podReady(s, "pg", 120000));
        await timed("pgbouncer pod ready", () => podReady(s, "pgbouncer", 120000));
        const { output } = await runClient(s, n, "client", [
            `getent hosts pg.${NS}.svc.cluster.local | sed 's/^/pg-resolves-to /'`,
            `getent hosts pgbouncer.${NS}.svc.cluster.local | sed 's/^/pgbouncer-resolves-to /'`,
            // Short names through the search path kubelet writes into the pod's resolv.conf.
            "getent hosts kubernetes.default | sed 's/^/kubernetes-resolves-to /'",
            `psql "host=pgbouncer.${NS}.svc.cluster.local port=6432 user=postgres dbname=postgres" -Atc "select 'through-pgbouncer ' || current_setting('server_version')"`,
            // A ClusterIP: kube-proxy's DNAT in the node's netns.
            `psql "host=pgbouncer-nodeport port=6432 user=postgres dbname=postgres" -Atc "select 'through-clusterip ' || inet_client_addr()"`,
        ]);
        const pgIp = (await kubeRequest(s, "GET", `/api/v1/namespaces/${NS}/pods/pg`)).status.podIP;
        if (!output.includes(`pg-resolves-to ${pgIp}`)) throw new Error(`pg.${NS}.svc did not resolve to the pod's address ${pgIp}`);
        const kubernetesIp = (await kubeRequest(s, "GET", "/api/v1/namespaces/default/services/kubernetes")).spec.clusterIP as string;
        const serviceCidr = n.network.serviceCidr;
        if (!kubernetesIp.startsWith(serviceCidr.split(".").slice(0, 2).join(".") + ".") || !output.includes(`kubernetes-resolves-to ${kubernetesIp}`)) throw new Error(`kubernetes.default did not resolve to its ClusterIP ${kubernetesIp} (in ${serviceCidr})`);
        if (!/through-pgbouncer 17\./.test(output)) throw new Error("no answer from PostgreSQL through PgBouncer");
        if (!/through-clusterip /.test(output)) throw new Error("no answer through the ClusterIP");
        // The same log through the API server: it reaches the kubelet with its client certificate.
        const viaApi = await new Promise<string>((resolve, reject) => {
            const req = https.get(`${s.url}/api/v1/namespaces/${NS}/pods/client/log`, { headers: { Authorization: `Bearer ${s.token}` }, ca: fs.readFileSync(s.certFile!) }, (res) => {
                let text = "";
                res.on("data", (d) => (text += d));
                res.on("end", () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`pod log through the API server: HTTP ${res.statusCode}: ${text}`))));
            });
            req.on("error", reject);
        });
        if (viaApi.trim() !== output.trim()) throw new Error(`the pod log through the API server differs from the node's file:\n${viaApi}`);
        console.log("client log through the API server (kubelet client certificate): same as on the node's disk");

        const svc = await kubeRequest(s, "GET", `/api/v1/namespaces/${NS}/services/pgbouncer-nodeport`);
        const nodePort = svc.spec.ports[0].nodePort;
        const answer = await timed("host -> NodePort -> pgbouncer -> postgres", () =>
            until("a query through the NodePort", async () => {
                const c = new Client({ host: n.network.nodeIp, port: nodePort, user: "postgres", database: "postgres", connectionTimeoutMillis: 2000 });
                await c.connect();
                try {
                    return (await c.query("select 'via nodeport' as answer")).rows[0].answer as string;
                } finally {
                    await c.end();
                }
            }, 30000),
        );
        console.log(`host through ${n.network.nodeIp}:${nodePort}: ${answer}`);

        // The second machine.
        const apps = (appsServer = await timed("apps api server", () => startApiServer("apps", toolchain, work, APPS_ETCD_PORT, APPS_API_PORT, NODE_SITES.apps)));
        const a = (appsNode = await timed("apps node start", () => startNode({ server: apps, site: "apps", logDir: path.join(work, "apps-node-logs") })));
        console.log(`apps node phases (ms): ${JSON.stringify(a.timings)}`);
        await kubeRequest(s, "POST", `/api/v1/namespaces/${NS}/services`, { apiVersion: "v1", kind: "Service", metadata: { name: "pg-lb", namespace: NS }, spec: { type: "LoadBalancer", externalTrafficPolicy: "Local", selector: { app: "pg" }, ports: [{ port: 5432, name: "postgres" }] } });
        await kubeRequest(s, "PATCH", `/api/v1/namespaces/${NS}/services/pg-lb/status`, { status: { loadBalancer: { ingress: [{ ip: LB_IP }] } } }, "application/merge-patch+json");
        await kubeRequest(apps, "POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
        await until("the default ServiceAccount on apps", () => kubeRequest(apps, "GET", `/api/v1/namespaces/${NS}/serviceaccounts/default`), 30000);
        const { pod: appsClient, output: appsOutput } = await runClient(apps, a, "apps-client", [
            "getent hosts kubernetes.default | sed 's/^/apps-kubernetes-resolves-to /'",
            // kube-proxy on the infra node programs the address once the status names it: retried.
            `for i in $(seq 1 30); do psql "host=${LB_IP} port=5432 user=postgres dbname=postgres connect_timeout=2" -Atc "select 'seen-as ' || host(inet_client_addr())" && exit 0; sleep 1; done; exit 1`,
        ]);
        const podAddress = appsClient.status.podIP as string;
        if (!appsOutput.includes(`seen-as ${a.network.nodeIp}\n`)) throw new Error(`PostgreSQL on the infra node did not see the apps node's address ${a.network.nodeIp} (the pod is ${podAddress})`);
        if (!/apps-kubernetes-resolves-to 198\.19\./.test(appsOutput)) throw new Error("kubernetes.default did not resolve through the apps node's CoreDNS");
        console.log(`apps pod ${podAddress} -> ${LB_IP} (infra node, externalTrafficPolicy Local) -> PostgreSQL, seen as ${a.network.nodeIp}`);
    } catch (e) {
        failure = e;
    }
    await timed("stop", async () => {
        const errors: string[] = [];
        await timed("apps node stop", async () => appsNode?.stop().catch((e) => errors.push(e.message)));
        await timed("apps api server stop", async () => appsServer?.stop().catch((e) => errors.push(e.message)));
        await timed("node stop", async () => node?.stop().catch((e) => errors.push(e.message)));
        await timed("api server stop", async () => server?.stop().catch((e) => errors.push(e.message)));
        if (errors.length) failure ??= new Error(errors.join("; "));
    });
    return finishSmoke(before, failure, times, work);
}

runSmoke(main);
